"""Counts what a pipe-ring round costs: user-space instructions and system calls (bench/run.sh calls it).

    python3 bench/count/count.py [--build DIR] [--quick] [--sizes 1000,10000] [--active 1,100] [--out DIR]
                                 [--jobs 1|2] [--publish] [--data DIR]

Runs every ring program of DIR/bench/ring (default build/bench) on every backend it lists, xpoll with both of
its renewals (remove and add, and the modify idiom), at each size N and each number of active slots A: once
under cachegrind (valgrind --tool=cachegrind --cache-sim=no), which counts the instructions the process runs in
user space, and once under strace -f -c, which counts its system calls. Each is run for a short and a long
number of rounds, and the figure per round is the difference divided by the difference of the rounds, so that
start-up (the dynamic loader, the ring's socket pairs, the first registrations) cancels out. Unlike wall-clock
time, these counts do not move with the load on the machine. Cachegrind runs one configuration at a time; with
--jobs 2 (the default) strace runs beside it.

Writes into --out (default DIR/results): count.tsv (one row per configuration), count-meta.txt (the tools, the
commit, the rounds), count.md (the table) and logs/count/ (every run's output); prints the table. --quick
counts N = 200 only (a smoke test of about a minute for CI). --publish copies count.tsv and count-meta.txt into
bench/results/ and rewrites the table in docs/benchmarks.md between its count-table markers. --data DIR draws
the table again from a stored count.tsv without running anything:

    python3 bench/count/count.py --data bench/results --publish

Exit status: 0 when every configuration was counted or is unsupported (a ring program's exit status 3, such
as raw select above FD_SETSIZE); 1 when a tool is missing, a run failed or its output had no count; 2 on bad
arguments.
"""
import argparse
import concurrent.futures
import os
import platform
import re
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BACKEND_ORDER = ["epoll", "poll", "select", "kqueue"]
# Rows in the order of the other benchmark tables: raw system calls, xpoll, libevent, libev, libuv.
IMPL_ORDER = ["raw", "xpoll", "libevent", "libev", "libuv"]
RENEW_ORDER = ["readd", "modify"]
# The peer the table compares every row with.
REFERENCE = "libev"
BEGIN, END = "<!-- count-table:begin -->", "<!-- count-table:end -->"
COLUMNS = ["impl", "backend", "renew", "n", "active", "instr_per_round", "syscalls_per_round", "status", "layout",
           "rounds_short", "rounds_long", "warmup"]
UNSUPPORTED = 3
# A ring round is bounded by the program's own alarm (--timeout, per round); this bounds a whole run, start-up
# included, so that a hung tool cannot hang the lane.
RUN_LIMIT_S = 3600


def rounds_for(n, active):
    """The (short, long, warm-up) rounds of a configuration; the same for every implementation at one size.

    A round makes N / A passes of the loop one after the other, and on poll and select every pass hands all
    N descriptors to the kernel, so a round costs about N * N / A there: some 10 s at N = 10,000 and A = 1,
    under either tool. Such rounds are counted over one round (runs of 1 and 2, the first round being in
    both); the cheaper ones over four, after a warm-up round."""
    if n * max(1, n // active) > 10_000_000:
        return 1, 2, 0
    return 2, 6, 1


def label(impl, backend, renew):
    if impl == "raw":
        return f"raw {backend}"
    if impl == "xpoll":
        return "xpoll, modify" if renew == "modify" else "xpoll, remove + add"
    return impl


class Config:
    def __init__(self, impl, backend, renew, n, active):
        self.impl, self.backend, self.renew, self.n, self.active = impl, backend, renew, n, active
        self.short, self.long, self.warmup = rounds_for(n, active)

    def name(self):
        return f"{self.impl}-{self.backend}-{self.renew}-n{self.n}-a{self.active}"

    def argv(self, ring, rounds):
        args = [os.path.join(ring, "ring_" + self.impl), "--backend", self.backend, "-n", str(self.n), "-a",
                str(self.active), "--rounds", str(rounds), "--warmup", str(self.warmup), "--timeout", "900"]
        if self.impl == "xpoll":
            args += ["--renew", self.renew]
        return args


def run(argv, log):
    """Runs argv with stdout and stderr in log (stdout first); returns (exit status, stdout, stderr)."""
    try:
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=RUN_LIMIT_S)
        rc, out, err = p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired as e:
        # subprocess.run has killed it; what it wrote may come back as bytes even in text mode.
        def text(b):
            return b.decode(errors="replace") if isinstance(b, bytes) else b or ""
        rc, out, err = -1, text(e.stdout), text(e.stderr) + f"\nFAIL: no exit within {RUN_LIMIT_S} s\n"
    with open(log, "w") as f:
        f.write("$ " + " ".join(argv) + "\n" + out + err)
    return rc, out, err


def cachegrind(cfg, ring, rounds, logs):
    """Instructions of one run: the "I refs" total that cachegrind writes into its own log."""
    base = os.path.join(logs, f"{cfg.name()}-r{rounds}-instr")
    argv = ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
            f"--log-file={base}.valgrind"] + cfg.argv(ring, rounds)
    rc, out, err = run(argv, base + ".log")
    count = None
    if os.path.exists(base + ".valgrind"):
        with open(base + ".valgrind") as f:
            m = re.search(r"I\s+refs:\s+([\d,]+)", f.read())
        if m:
            count = int(m.group(1).replace(",", ""))
    return rc, out, err, count


def strace_total(text):
    """The total of the calls column of a strace -c summary. Its numbers are right-aligned under their
    header, so the total is the field of the "total" row that ends where the header's "calls" ends; that
    holds whether or not the errors column is there (and whether or not the total row has an error count)."""
    lines = text.splitlines()
    header = next((ln for ln in lines if re.search(r"\bcalls\b", ln) and "syscall" in ln), None)
    total = next((ln for ln in lines if ln.split()[-1:] == ["total"]), None)
    if header is None or total is None:
        return None
    end = re.search(r"\bcalls\b", header).end()
    for m in re.finditer(r"\S+", total):
        if m.end() == end and m.group().isdigit():
            return int(m.group())
    return None


def strace_calls_only():
    """Whether this strace can print the calls column alone (-U, strace 5.18 and later)."""
    try:
        p = subprocess.run(["strace", "-c", "-U", "calls", "-o", os.devnull, "true"], capture_output=True,
                           timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return p.returncode == 0


def strace(cfg, ring, rounds, logs, calls_only):
    """System calls of one run, of every thread (-f): the total of strace's summary."""
    base = os.path.join(logs, f"{cfg.name()}-r{rounds}-syscalls")
    argv = ["strace", "-f", "-c", "-o", base + ".strace"] + (["-U", "calls"] if calls_only else [])
    rc, out, err = run(argv + cfg.argv(ring, rounds), base + ".log")
    count = None
    if os.path.exists(base + ".strace"):
        with open(base + ".strace") as f:
            count = strace_total(f.read())
    return rc, out, err, count


def field(line, key):
    m = re.search(rf"(?:^|\t){key}=([^\t\n]*)", line)
    return m.group(1) if m else ""


def judge(cfg, runs):
    """Turns the four runs of a configuration (instructions short and long, system calls short and long) into
    its TSV row and, for a failure, the reason."""
    row = {"impl": cfg.impl, "backend": cfg.backend, "renew": cfg.renew, "n": cfg.n, "active": cfg.active,
           "instr_per_round": "", "syscalls_per_round": "", "status": "ok", "layout": "",
           "rounds_short": cfg.short, "rounds_long": cfg.long, "warmup": cfg.warmup}
    codes = [r[0] for r in runs]
    if all(c == UNSUPPORTED for c in codes):
        row["status"] = "unsupported"
        reason = next((ln for ln in runs[0][2].splitlines() if ln.startswith("unsupported")), "unsupported")
        return row, None, reason
    for (rc, out, err, count), what in zip(runs, ("instructions", "instructions", "system calls", "system calls")):
        if rc != 0:
            row["status"] = "fail"
            tail = " | ".join(err.strip().splitlines()[-3:])
            return row, f"{what}: exit status {rc}: {tail}", None
        if count is None:
            row["status"] = "fail"
            return row, f"{what}: no count in the tool's output", None
    # Both tools must have seen the same ring: the layout follows the descriptor limit, which valgrind lowers.
    layouts = {field(r[1], "layout") for r in runs}
    if len(layouts) != 1 or "" in layouts:
        row["status"] = "fail"
        return row, f"the runs used different layouts: {sorted(layouts)}", None
    row["layout"] = layouts.pop()
    span = cfg.long - cfg.short
    row["instr_per_round"] = f"{(runs[1][3] - runs[0][3]) / span:.1f}"
    row["syscalls_per_round"] = f"{(runs[3][3] - runs[2][3]) / span:.1f}"
    return row, None, None


def configs(ring, sizes, actives):
    """Every configuration, in table order, and the programs that are not built."""
    found, missing = {}, []
    for impl in IMPL_ORDER:
        prog = os.path.join(ring, "ring_" + impl)
        if not os.access(prog, os.X_OK):
            missing.append(impl)
            continue
        p = subprocess.run([prog, "--list-backends"], capture_output=True, text=True)
        if p.returncode != 0 or not p.stdout.split():
            sys.exit(f"FAIL: {prog} --list-backends exited {p.returncode}: {p.stderr.strip()}")
        found[impl] = p.stdout.split()
    out = []
    for n in sizes:
        for a in actives:
            for impl, backends in found.items():
                for b in backends:
                    for renew in RENEW_ORDER if impl == "xpoll" else ["readd"]:
                        out.append(Config(impl, b, renew, n, min(a, n)))
    return out, missing


def count_all(cfgs, ring, logs, jobs):
    """Runs every configuration. Cachegrind runs one at a time (it is the heavy one, and the machine is
    shared); with jobs = 2 the strace runs go beside them, which the counts do not notice. Prints each
    configuration as it completes; returns the rows and whether every run passed."""
    calls_only = strace_calls_only()
    instr_pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    sys_pool = instr_pool if jobs == 1 else concurrent.futures.ThreadPoolExecutor(max_workers=1)
    pending = []
    for c in cfgs:
        pending.append((c, [instr_pool.submit(cachegrind, c, ring, c.short, logs),
                            instr_pool.submit(cachegrind, c, ring, c.long, logs),
                            sys_pool.submit(strace, c, ring, c.short, logs, calls_only),
                            sys_pool.submit(strace, c, ring, c.long, logs, calls_only)]))
    rows, ok = [], True
    for c, futures in pending:
        row, failure, unsupported = judge(c, [f.result() for f in futures])
        rows.append(row)
        head = f"   {c.impl:<9} {c.backend:<7} {c.renew:<6} N={c.n:<6} A={c.active:<4}"
        if failure:
            ok = False
            print(f"FAIL: {head.strip()}: {failure} (logs: {logs}/{c.name()}-*)", file=sys.stderr)
        elif unsupported:
            print(f"{head} {unsupported}")
        else:
            print(f"{head} {fmt_instr(float(row['instr_per_round'])):>9} instructions "
                  f"{fmt_calls(float(row['syscalls_per_round'])):>7} system calls per round")
        sys.stdout.flush()
    instr_pool.shutdown()
    sys_pool.shutdown()
    return rows, ok


def fmt_instr(v):
    """Instructions in thousands with one decimal ("323.0 k"), or in millions with three or four digits."""
    if abs(v) >= 1e8:
        return f"{v / 1e6:,.1f} M"
    if abs(v) >= 1e6:
        return f"{v / 1e6:.2f} M"
    return f"{v / 1e3:.1f} k"


def fmt_calls(v):
    return f"{v:,.0f}" if abs(v - round(v)) < 0.05 else f"{v:,.1f}"


def thousands(n):
    return f"{int(n):,}"


def tool_versions():
    def first_line(argv):
        try:
            p = subprocess.run(argv, capture_output=True, text=True, timeout=60)
            return (p.stdout or p.stderr).strip().splitlines()[0]
        except (OSError, subprocess.TimeoutExpired, IndexError):
            return "unknown"

    strace_v = first_line(["strace", "-V"]).replace(" -- version", "")
    return first_line(["valgrind", "--version"]), strace_v


def commit():
    try:
        p = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
        rev = p.stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--", "src", "include"],
                               capture_output=True, text=True).stdout.strip()
        return rev + (" (with uncommitted changes to src/ or include/)" if dirty else "") if rev else "unknown"
    except OSError:
        return "unknown"


def write_tsv(path, rows):
    with open(path, "w") as f:
        f.write("\t".join(COLUMNS) + "\n")
        for r in rows:
            f.write("\t".join(str(r[c]) for c in COLUMNS) + "\n")


def read_tsv(path):
    with open(path) as f:
        lines = f.read().splitlines()
    head = lines[0].split("\t")
    missing = [c for c in COLUMNS[:8] if c not in head]
    if missing:
        sys.exit(f"{path}: no column {', '.join(missing)}")
    rows = []
    for ln in lines[1:]:
        if ln.strip():
            r = dict(zip(head, ln.split("\t")))
            r["n"], r["active"] = int(r["n"]), int(r["active"])
            rows.append(r)
    return rows


def read_meta(path):
    meta = {}
    if os.path.exists(path):
        with open(path) as f:
            for ln in f:
                k, _, v = ln.rstrip("\n").partition("=")
                if v:
                    meta[k] = v
    return meta


def table(rows, meta):
    """The Markdown of the count table: a row per configuration grouped by backend, a column per (N, A), each
    cell "instructions / system calls" per round and the instructions as a multiple of libev's."""
    combos = sorted({(r["n"], r["active"]) for r in rows})
    layouts = {}
    for r in rows:
        if r.get("layout"):
            layouts.setdefault(r["n"], r["layout"])
    by_key = {(r["impl"], r["backend"], r["renew"], r["n"], r["active"]): r for r in rows}
    backends = sorted({r["backend"] for r in rows},
                      key=lambda b: (BACKEND_ORDER.index(b) if b in BACKEND_ORDER else len(BACKEND_ORDER), b))
    md = ["Per round: user-space instructions (cachegrind) / system calls (strace); in brackets, the instructions "
          f"as a multiple of {REFERENCE}'s on the same backend. N descriptors watched, A of them active.", ""]
    heads = [f"N = {thousands(n)}, A = {a}" for n, a in combos]
    md.append("| backend | implementation | " + " | ".join(heads) + " |")
    md.append("| --- | --- |" + " --- |" * len(combos))
    for b in backends:
        first = True
        for impl in IMPL_ORDER:
            for renew in RENEW_ORDER:
                cells, seen = [], False
                for n, a in combos:
                    r = by_key.get((impl, b, renew, n, a))
                    if r is None:
                        cells.append("")
                        continue
                    seen = True
                    if r["status"] != "ok":
                        cells.append(r["status"])
                        continue
                    instr, calls = float(r["instr_per_round"]), float(r["syscalls_per_round"])
                    cell = f"{fmt_instr(instr)} / {fmt_calls(calls)}"
                    ref = by_key.get((REFERENCE, b, "readd", n, a))
                    if ref and ref["status"] == "ok" and float(ref["instr_per_round"]) > 0:
                        cell += f" ({instr / float(ref['instr_per_round']):.2f}×)"
                    cells.append(cell)
                if seen:
                    md.append(f"| {b if first else ''} | {label(impl, b, renew)} | " + " | ".join(cells) + " |")
                    first = False
    md.append("")
    notes = []
    if layouts:
        notes.append("Layout: " + "; ".join(
            f"N = {thousands(n)} {lay} ({thousands(2 * n if lay == 'classic' else n)} descriptors)"
            for n, lay in sorted(layouts.items())) + ".")
    rounds = {}
    for r in rows:
        if r.get("rounds_short"):
            rounds.setdefault((r["rounds_short"], r["rounds_long"], r["warmup"]), set()).add((r["n"], r["active"]))
    if rounds:
        def runs(s, l, w):
            return f"runs of {s} and {l} rounds after {'no' if str(w) == '0' else w} warm-up"

        def where(combos):
            sizes = sorted({n for n, _ in combos})
            return " and ".join(f"N = {thousands(n)} (A = " + " and ".join(str(a) for m, a in sorted(combos) if m == n)
                                + ")" for n in sizes)

        notes.append("Rounds: " + "; ".join(
            runs(*k) + " at " + where(combos) for k, combos in sorted(rounds.items(), key=lambda kv: min(kv[1]))) + ".")
    if any(r["status"] == "unsupported" for r in rows):
        notes.append("`unsupported`: the ring's descriptors exceed `FD_SETSIZE`, which a plain `fd_set` (raw select, "
                     "libevent's select) cannot hold.")
    if meta:
        notes.append(f"Counted with {meta.get('valgrind', '?')} and {meta.get('strace', '?')} on xpoll commit "
                     f"{meta.get('commit', '?')}; {meta.get('machine', '')}.".replace("; .", "."))
    md += notes
    return md


def publish(md, out):
    """Copies the TSV and its meta file into bench/results/ and rewrites the page's count table."""
    stored = os.path.join(ROOT, "bench", "results")
    os.makedirs(stored, exist_ok=True)
    for name in ("count.tsv", "count-meta.txt"):
        src, dst = os.path.join(out, name), os.path.join(stored, name)
        if os.path.exists(src) and os.path.abspath(src) != os.path.abspath(dst):
            shutil.copy(src, dst)
    page = os.path.join(ROOT, "docs", "benchmarks.md")
    with open(page) as f:
        text = f.read()
    if BEGIN not in text or END not in text:
        sys.exit(f"{page}: markers {BEGIN} / {END} not found")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    with open(page, "w") as f:
        f.write(head + BEGIN + "\n" + "\n".join(md).rstrip() + "\n" + END + tail)
    print(f"published into {page} and {stored}/")


def int_list(least):
    def parse(s):
        try:
            v = [int(x) for x in s.split(",") if x]
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a list of numbers: {s}")
        if not v or min(v) < least:
            raise argparse.ArgumentTypeError(f"not a list of numbers of {least} or more: {s}")
        return v
    return parse


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build", "bench"))
    ap.add_argument("--out", default="")
    ap.add_argument("--quick", action="store_true", help="N = 200 only")
    ap.add_argument("--sizes", type=int_list(2), default=None, help="sizes N (default 1000,10000)")
    ap.add_argument("--active", type=int_list(1), default=[1, 100], help="active slots A (default 1,100)")
    ap.add_argument("--jobs", type=int, choices=(1, 2), default=2,
                    help="2 (default): strace runs beside cachegrind; 1: one run at a time")
    ap.add_argument("--publish", action="store_true")
    ap.add_argument("--data", default="", help="draw the table from DIR/count.tsv without running")
    a = ap.parse_args()
    out = os.path.abspath(a.out or a.data or os.path.join(a.build, "results"))

    if a.data:
        rows = read_tsv(os.path.join(a.data, "count.tsv"))
        md = table(rows, read_meta(os.path.join(a.data, "count-meta.txt")))
        print("\n".join(md))
        if a.out:
            os.makedirs(out, exist_ok=True)
            with open(os.path.join(out, "count.md"), "w") as f:
                f.write("\n".join(md) + "\n")
        if a.publish:
            publish(md, os.path.abspath(a.data))
        return 0

    missing = [t for t in ("valgrind", "strace") if shutil.which(t) is None]
    if missing:
        print(f"FAIL: {' and '.join(missing)} not found: the counts need both "
              "(Debian: apt-get install valgrind strace; ci/deps.sh installs them)", file=sys.stderr)
        return 1
    ring = os.path.join(os.path.abspath(a.build), "bench", "ring")
    sizes = a.sizes or ([200] if a.quick else [1000, 10000])
    cfgs, not_built = configs(ring, sizes, a.active)
    if "xpoll" in not_built:
        print(f"FAIL: {ring}/ring_xpoll not found (build with -DXPOLL_BUILD_BENCH=ON)", file=sys.stderr)
        return 1
    for impl in not_built:
        print(f"   ring_{impl} not built (its library was not found): left out")
    logs = os.path.join(out, "logs", "count")
    os.makedirs(logs, exist_ok=True)
    for name in os.listdir(logs):
        os.remove(os.path.join(logs, name))
    valgrind_v, strace_v = tool_versions()
    meta = {"valgrind": valgrind_v, "strace": strace_v, "commit": commit(),
            "machine": f"{platform.system()} {platform.release()}, {os.cpu_count()} CPUs"}
    with open(os.path.join(out, "count-meta.txt"), "w") as f:
        f.write("".join(f"{k}={v}\n" for k, v in meta.items()))
    print(f"== counts: N={','.join(map(str, sizes))} A={','.join(map(str, a.active))}, "
          f"{len(cfgs)} configurations, {valgrind_v} and {strace_v}")
    t0 = time.monotonic()
    rows, ok = count_all(cfgs, ring, logs, a.jobs)
    write_tsv(os.path.join(out, "count.tsv"), rows)
    md = table(rows, meta)
    with open(os.path.join(out, "count.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    print("\n".join(md))
    print(f"== counted in {time.monotonic() - t0:.0f} s: {out}/count.tsv, {out}/count.md")
    if a.publish:
        if not ok:
            print("FAIL: not published, some runs failed", file=sys.stderr)
        else:
            publish(md, out)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
