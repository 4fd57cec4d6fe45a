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
            self.assertTrue(any(c.startswith("ulimit -Sn 1016 ") for c in soft[0]["commands"]))
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


def can_raise_hard(to):
    """Whether a process of this user may raise its hard limit again once
    lowered (root with CAP_SYS_RESOURCE): tried in a child."""
    code = ("import resource as r; r.setrlimit(r.RLIMIT_NOFILE, (256, 512)); "
            f"r.setrlimit(r.RLIMIT_NOFILE, (256, {to}))")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=30, check=False).returncode == 0


def lines_with(text, needle):
    return [l for l in text.splitlines() if needle in l]


class Verdict(unittest.TestCase):
    """The answer to --target: numbers, one block of advice, commands that work."""

    def test_json_verdict_has_the_numbers(self):
        p, doc = run_json(["--no-measure", "--target", "1000"], soft=2000)
        self.assertEqual(p.returncode, 0, p.stderr)
        v = doc["verdict"]
        self.assertEqual((v["reachable"], v["connections"], v["descriptors_needed"]), (True, 1000, 1016))
        self.assertEqual((v["limit"], v["limit_value"], v["headroom"]), ("nofile_soft", 2000, 984))
        self.assertEqual(v["backends_reachable"], [b["name"] for b in doc["backends"]])
        self.assertEqual(v["advice"], [])
        p, doc = run_json(["--no-measure", "--target", "1000"], soft=256)
        self.assertEqual(p.returncode, 3)
        v = doc["verdict"]
        self.assertEqual((v["reachable"], v["limit"], v["limit_value"], v["headroom"]), (False, "nofile_soft", 256, -760))
        self.assertEqual(v["backends_reachable"], [])
        self.assertIsNone(run_json(["--no-measure"])[1]["verdict"])

    def test_table_verdict_has_the_numbers(self):
        p = run(["--no-measure", "--target", "1000"], soft=2000)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("Target: 1000 connections in one server process: reachable\n", p.stdout)
        self.assertIn("needs 1016 descriptors", p.stdout)
        self.assertIn("against the soft limit (ulimit -n) of 2000: headroom 984\n", p.stdout)
        p = run(["--no-measure", "--target", "1000"], soft=256)
        self.assertIn("Target: 1000 connections in one server process: NOT reachable\n", p.stdout)
        self.assertIn("against the soft limit (ulimit -n) of 256: 760 short\n", p.stdout)

    def test_advice_is_given_once_for_all_backends(self):
        p = run(["--no-measure", "--target", "1000"], soft=256, hard=512)
        self.assertEqual(p.returncode, 3)
        backends = [b["name"] for b in run_json(["--no-measure"])[1]["backends"]]
        self.assertGreater(len(backends), 1)
        self.assertEqual(len(lines_with(p.stdout, "nofile_hard is 512, needs 1016")), 1, p.stdout)
        self.assertEqual(len(lines_with(p.stdout, "LimitNOFILE=1016")), 1, p.stdout)
        for name in backends:  # each backend still has its line, naming what stops it
            self.assertEqual(len([l for l in p.stdout.splitlines() if l.startswith(f"  {name} ")]), 1)
        _, doc = run_json(["--no-measure", "--target", "1000"], soft=256, hard=512)
        commands = [c for a in doc["verdict"]["advice"] for c in a["commands"]]
        self.assertEqual(len(commands), len(set(commands)))

    def test_the_hard_limit_is_raised_before_the_soft_one(self):
        _, doc = run_json(["--no-measure", "--target", "1000"], soft=256, hard=512)
        for b in doc["target"]["backends"]:
            for x in b["blocked_by"]:
                for c in x["commands"]:
                    if "ulimit -" in c:  # never a soft limit above the hard one
                        self.assertIn("ulimit -Hn 1016 && ulimit -Sn 1016", c)
                    self.assertNotIn("ulimit -n ", c)
        if can_raise_hard(1016):
            commands = [c for a in doc["verdict"]["advice"] for c in a["commands"]]
            self.assertTrue(any(c.startswith("ulimit -Hn 1016 && ulimit -Sn 1016") for c in commands), commands)
            self.assertTrue(any(c.startswith("prlimit --pid $$ --nofile=1016:1016") for c in commands), commands)
        # Only the soft limit in the way: raised alone, the hard one left as it is.
        _, doc = run_json(["--no-measure", "--target", "1000"], soft=256, hard=2000)
        commands = [c for a in doc["verdict"]["advice"] for c in a["commands"]]
        self.assertTrue(any(c.startswith("ulimit -Sn 1016 ") for c in commands), commands)
        self.assertFalse(any("-Hn" in c for c in commands), commands)

    @unittest.skipUnless(sys.platform.startswith("linux"), "the advice for Linux hosts")
    def test_a_hard_limit_this_process_cannot_raise_names_what_can(self):
        p = run(["--no-measure", "--target", "1000"], soft=256, hard=512)
        _, doc = run_json(["--no-measure", "--target", "1000"], soft=256, hard=512)
        v = doc["verdict"]
        if can_raise_hard(1016):
            self.assertTrue(v["hard_limit_raisable"])
            self.skipTest("this user may raise its hard limit (CAP_SYS_RESOURCE): the case cannot arise here")
        self.assertFalse(v["hard_limit_raisable"])
        text = "\n".join(c for a in v["advice"] for c in a["commands"])
        for want in ("docker run --ulimit nofile=1016:1016", "LimitNOFILE=1016",
                     "systemctl daemon-reload && systemctl restart", "'* soft nofile 1016' '* hard nofile 1016'",
                     "'root soft nofile 1016' 'root hard nofile 1016'", "/etc/security/limits.d/",
                     "'*' does not cover root"):
            self.assertIn(want, text)
            self.assertEqual(len(lines_with(p.stdout, want)), 1, want)
        self.assertNotIn("ulimit -Hn", text)  # it would fail here
        prose = " ".join(p.stdout.split())  # the reasons are wrapped; the commands are not
        if os.geteuid() == 0:
            self.assertIn("even root cannot raise it here (setrlimit: Operation not permitted)", prose)
            self.assertIn("no CAP_SYS_RESOURCE, as in a container", prose)
        else:
            self.assertIn("sudo prlimit --pid $$ --nofile=1016:1016", text)

    @unittest.skipUnless(os.path.exists("/proc/sys/net/ipv4/ip_local_port_range"), "Linux port range")
    def test_a_target_beyond_the_ephemeral_ports_gets_the_sysctl(self):
        with open("/proc/sys/net/ipv4/ip_local_port_range", encoding="ascii") as f:
            first, last = map(int, f.read().split())
        n = last - first + 2
        p, doc = run_json(["--no-measure", "--target", str(n)])
        advice = [a for a in doc["verdict"]["advice"] if a["limits"] == ["ephemeral_ports"]]
        self.assertEqual(len(advice), 1)
        self.assertIn(f"only {n - 1} connections", advice[0]["why"])
        self.assertTrue(any('sysctl -w net.ipv4.ip_local_port_range="1024 65535"' in c
                            for c in advice[0]["commands"]))
        p = run(["--no-measure", "--target", str(n)])
        self.assertEqual(len(lines_with(p.stdout, "net.ipv4.ip_local_port_range")), 1)

    def test_after_raise_the_server_still_has_to_raise_its_own(self):
        p = run(["--raise", "--no-measure"], soft=256, hard=2000)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("Raised the soft limit of this process: 256 -> 2000", p.stdout)
        self.assertIn("a server started later from this shell still gets 256 unless it raises its own", p.stdout)
        _, doc = run_json(["--raise", "--no-measure", "--target", "1000"], soft=256, hard=2000)
        v = doc["verdict"]
        self.assertTrue(v["reachable"])
        self.assertTrue(v["server_must_raise"])
        self.assertEqual((v["limit_value"], v["headroom"]), (2000, 984))
        commands = [c for a in v["advice"] for c in a["commands"]]
        self.assertTrue(any(c.startswith("ulimit -Sn 1016 ") for c in commands), commands)
        self.assertFalse(run_json(["--no-measure", "--target", "1000"], soft=2000)[1]["verdict"]["server_must_raise"])


class Measurements(unittest.TestCase):
    def test_connections_line_says_why_it_holds_half(self):
        p = run(["--no-measure", "--connections=300"])
        self.assertEqual(p.returncode, 0, p.stderr)
        line = lines_with(p.stdout, "Connections: 300 of 300 held")
        self.assertEqual(len(line), 1, p.stdout)
        self.assertIn("; 2 descriptors per connection, as both ends are in this process (a server needs 1)", line[0])
        _, doc = run_json(["--no-measure", "--connections=300"])
        self.assertEqual(doc["connections"]["descriptors_each"], 2)

    def test_no_memory_figure_from_a_small_sample(self):
        p, doc = run_json(["--max-fds", "300", "--backend", "poll", "--connections=200"])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIsNone(doc["descriptors"]["bytes_each"])
        self.assertIsNone(doc["connections"]["bytes_each"])
        p = run(["--max-fds", "300", "--backend", "poll", "--connections=200"])
        self.assertNotIn("bytes each", p.stdout)
        self.assertEqual(len(lines_with(p.stdout, "memory each: sample too small (under 1000)")), 2, p.stdout)

    @unittest.skipUnless(os.path.exists("/proc/self/statm"), "memory is read on Linux only")
    def test_a_memory_figure_from_a_large_enough_sample(self):
        p, doc = run_json(["--max-fds", "2000", "--backend", "poll"])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIsInstance(doc["descriptors"]["bytes_each"], int)
        self.assertIn("bytes each", run(["--max-fds", "2000", "--backend", "poll"]).stdout)


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
