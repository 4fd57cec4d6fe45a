"""Tests of the xpoll-probe command, run in children whose descriptor limit
was lowered. Environment: XPOLL_PROBE (the binary), XPOLL_PROBE_SCHEMA (the
JSON schema). Exits 77 (a visible skip in ctest) when jsonschema is missing."""
import json
import os
import resource
import subprocess
import sys
import unittest

try:
    import jsonschema
except ImportError:  # pragma: no cover
    print("jsonschema is not installed (Debian: python3-jsonschema): skipping")
    sys.exit(77)

PROBE = os.environ["XPOLL_PROBE"]
with open(os.environ["XPOLL_PROBE_SCHEMA"], encoding="utf-8") as f:
    SCHEMA = json.load(f)
HARD = resource.getrlimit(resource.RLIMIT_NOFILE)[1]


def nr_open():
    try:
        with open("/proc/sys/fs/nr_open", encoding="ascii") as f:
            return int(f.read())
    except OSError:
        return None


def run(args, soft=None, hard=None, timeout=120):
    """Runs the probe with RLIMIT_NOFILE set to (soft, hard) in the child."""
    def limit():
        if soft is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard if hard is not None else HARD))

    return subprocess.run([PROBE, *args], preexec_fn=limit, capture_output=True, text=True, timeout=timeout,
                          check=False)


def run_json(args, **kw):
    p = run(["--json", *args], **kw)
    doc = json.loads(p.stdout)
    jsonschema.validate(doc, SCHEMA)  # every JSON document the tests see is validated
    return p, doc


class LoweredLimit(unittest.TestCase):
    def test_reports_the_limit_and_measures_within_a_few(self):
        p, doc = run_json([], soft=256)
        self.assertEqual(p.returncode, 0, p.stderr)
        lim = doc["limits"]
        self.assertEqual(lim["nofile_soft"], {"value": 256, "source": "getrlimit(RLIMIT_NOFILE)"})
        self.assertEqual(lim["nofile_hard"]["value"], HARD if HARD != resource.RLIM_INFINITY else "unlimited")
        open_now = lim["open_now"]["value"]
        d = doc["descriptors"]
        self.assertEqual(d["stopped_by"], "XPOLL_EMFILE")
        # Everything the process did not already hold was opened, give or take a few.
        self.assertLessEqual(d["opened"], 256 - open_now)
        self.assertGreaterEqual(d["opened"], 256 - open_now - 4)

    def test_every_backend_passes_the_readiness_check_at_that_size(self):
        p, doc = run_json(["--ready", "20"], soft=300)
        self.assertEqual(p.returncode, 0, p.stderr)
        opened = doc["descriptors"]["opened"]
        self.assertGreater(len(doc["backends"]), 0)
        for b in doc["backends"]:
            c = b["check"]
            self.assertIsNotNone(c, b["name"])
            self.assertTrue(c["passed"], b)
            self.assertGreaterEqual(c["registered"], opened - 18, b["name"])
            self.assertEqual(c["ready_expected"], 20)
            self.assertEqual(c["ready_reported"], 20)
            self.assertEqual(c["wrong_reported"], 0)
            self.assertGreater(c["highest_fd"], 270, b["name"])  # near the top of the 300 limit

    def test_raise_goes_to_the_hard_limit(self):
        ceiling = nr_open()
        expect = HARD if ceiling is None else min(HARD, ceiling)
        p, doc = run_json(["--raise", "--no-measure"], soft=256)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(doc["raise"], {"before": 256, "after": expect, "error": None})
        self.assertEqual(doc["limits"]["nofile_soft"]["value"], expect)
        self.assertIsNone(doc["descriptors"])

    def test_raise_respects_a_lowered_hard_limit(self):
        p, doc = run_json(["--raise", "--max-fds", "400"], soft=256, hard=1000)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(doc["raise"]["after"], 1000)
        self.assertEqual(doc["limits"]["nofile_hard"]["value"], 1000)
        self.assertEqual(doc["descriptors"]["opened"], 400)  # the cap, not the limit, stopped it
        self.assertIsNone(doc["descriptors"]["stopped_by"])

    def test_target_names_what_stops_it_and_how_to_lift_it(self):
        p, doc = run_json(["--no-measure", "--target", "1000"], soft=256)
        self.assertEqual(p.returncode, 3)
        for b in doc["target"]["backends"]:
            self.assertFalse(b["reachable"])
            soft = [x for x in b["blocked_by"] if x["limit"] == "nofile_soft"]
            self.assertEqual(len(soft), 1)
            self.assertEqual(soft[0]["value"], 256)
            self.assertTrue(any(c.startswith("ulimit -n ") for c in soft[0]["commands"]))
        p, doc = run_json(["--no-measure", "--target", "100"], soft=256)
        self.assertEqual(p.returncode, 0)
        self.assertTrue(all(b["reachable"] and not b["blocked_by"] for b in doc["target"]["backends"]))

    def test_target_blocked_by_the_hard_limit_too(self):
        p, doc = run_json(["--no-measure", "--target", "1000"], soft=256, hard=512)
        self.assertEqual(p.returncode, 3)
        for b in doc["target"]["backends"]:
            limits = {x["limit"]: x for x in b["blocked_by"]}
            self.assertEqual(limits["nofile_hard"]["value"], 512)
            self.assertTrue(limits["nofile_hard"]["commands"])
        p = run(["--target", "99999999999999999"])
        self.assertEqual(p.returncode, 2)

    def test_connections_until_the_limit(self):
        p, doc = run_json(["--no-measure", "--connections=1000"], soft=256)
        self.assertEqual(p.returncode, 0, p.stderr)
        c = doc["connections"]
        self.assertEqual(c["first_error"], "EMFILE")
        self.assertLess(c["held"], 128)   # two descriptors per connection in one process
        self.assertGreater(c["held"], 100)


class Command(unittest.TestCase):
    def test_connections_held_and_echoed(self):
        p, doc = run_json(["--no-measure", "--connections=300"])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(doc["connections"]["held"], 300)
        self.assertEqual(doc["connections"]["tried"], 300)
        self.assertIsNone(doc["connections"]["first_error"])

    def test_table_by_default_without_progress_when_not_a_terminal(self):
        p = run(["--max-fds", "200"], soft=512)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stderr, "")
        self.assertIn("open files, soft limit (ulimit -n)", p.stdout)
        self.assertIn("512", p.stdout)
        for name in json.loads(run(["--json", "--no-measure"]).stdout)["backends"]:
            line = [l for l in p.stdout.splitlines() if l.startswith(name["name"] + " ")]
            self.assertEqual(len(line), 1, name)
            self.assertIn(" ok ", line[0])

    def test_one_backend_only(self):
        p, doc = run_json(["--backend", "poll", "--max-fds", "100"])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual([b["name"] for b in doc["backends"]], ["poll"])

    def test_usage_errors(self):
        self.assertEqual(run(["--frobnicate"]).returncode, 2)
        self.assertEqual(run(["--target"]).returncode, 2)
        self.assertEqual(run(["--target", "-5"]).returncode, 2)
        self.assertEqual(run(["--backend", "no-such"]).returncode, 2)
        h = run(["--help"])
        self.assertEqual(h.returncode, 0)
        self.assertIn("--target N", h.stdout)

    def test_schema_rejects_what_it_should(self):
        _, doc = run_json(["--no-measure"])
        broken = dict(doc)
        del broken["limits"]
        with self.assertRaises(jsonschema.ValidationError):
            jsonschema.validate(broken, SCHEMA)
        broken = json.loads(json.dumps(doc))
        broken["limits"]["nofile_soft"]["value"] = -3
        with self.assertRaises(jsonschema.ValidationError):
            jsonschema.validate(broken, SCHEMA)


if __name__ == "__main__":
    unittest.main(verbosity=2)
