"""Turns the benchmark runs into tables, plots and the Markdown report (bench/run.sh calls it).

    python3 bench/plot/report.py --out DIR [--data DIR] [--build DIR] [--publish docs/benchmarks.md]

Reads ring-runs.txt (one key=value line per ring run, as the ring programs print them, with rep=K in
front), echo.tsv (one row per echo server and run, the run in a rep column) and machine.txt when present,
and the accept benchmark's accept-runs.txt (accept_herd's lines, rep=K in front), echo-threads.tsv,
echo-threads-syscalls.tsv and accept-meta.txt, and the time-out benchmark's timeout-runs.txt and
timeout-meta.txt, from --data (default: --out). Writes DIR/ring-summary.tsv, DIR/accept-summary.tsv,
DIR/results.md, DIR/machine.txt and, with gnuplot, DIR/ring-n<N>.svg, DIR/echo-rt.svg, DIR/echo-rss.svg,
DIR/accept-herd.svg, DIR/echo-threads.svg and DIR/timeout-lateness.svg (with DIR/timeout-summary.tsv);
prints the tables. Every ring and echo figure is also shown as a ratio to raw epoll on the same run. With
--publish, copies the SVGs into docs/images/ and the raw results into bench/results/, and rewrites the parts
of the page between its results markers, its accept-results markers and its timeout-results markers; a part
whose runs are absent from --data is left as it is, so the accept and time-out benchmarks can be published
alone. The published runs can so be drawn again without running anything:

    python3 bench/plot/report.py --data bench/results --out /tmp/plots --publish docs/benchmarks.md
"""
import argparse
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys

BACKEND_ORDER = ["epoll", "poll", "select", "kqueue"]
IMPL_ORDER = ["raw", "xpoll", "libevent", "libev", "libuv", "threads"]
# The echo servers as (implementation, backend), so that every plot names and orders a configuration
# the same way: libevent and libuv take epoll by default here, libev is asked for it.
ECHO_SERVERS = {"raw-epoll": ("raw", "epoll"), "libevent": ("libevent", "epoll"), "libev": ("libev", "epoll"),
                "libuv": ("libuv", "epoll"), "threads": ("threads", "blocking")}
# One colour per implementation, the same in every plot (Okabe-Ito, readable by the colour-blind).
IMPL_COLOUR = {"raw": "#000000", "xpoll": "#0072b2", "libevent": "#e69f00", "libev": "#009e73", "libuv": "#cc79a7",
               "threads": "#d55e00"}
TARGET_SIZES = (1000, 10000)
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"
# The accept benchmark has a results part of its own, so that it can be measured and published alone.
ACCEPT_BEGIN, ACCEPT_END = "<!-- accept-results:begin -->", "<!-- accept-results:end -->"
# accept_herd's modes in table order, with their names in tables and plots.
ACCEPT_MODES = [("plain", "xpoll, level-triggered"), ("exclusive", "xpoll, XPOLL_EXCLUSIVE"),
                ("reuseport", "xpoll, SO_REUSEPORT"), ("lock", "xpoll, accept lock"),
                ("raw-plain", "raw epoll, level-triggered"), ("raw-exclusive", "raw epoll, EPOLLEXCLUSIVE")]
# The target: XPOLL_EXCLUSIVE wakes the workers at most this often per accepted connection.
EXCLUSIVE_TARGET = 1.1
# The threaded xpoll echo servers (bench/echo/echo_xpoll_threads.c) in table order.
THREAD_SERVERS = [("xpoll-1t", "1 thread"), ("xpoll-1t-oneshot", "1 thread, oneshot"),
                  ("xpoll-2t-split", "2 threads, a poller each"),
                  ("xpoll-2t-split-oneshot", "2 threads, a poller each, oneshot"),
                  ("xpoll-2t-shared", "2 threads, one XPOLL_SHARED poller (oneshot)")]
WORKER_COLOUR = ["#56b4e9", "#0072b2", "#009e73", "#e69f00"]
# The time-out benchmark (bench/timeout) has a results part of its own too.
TIMEOUT_BEGIN, TIMEOUT_END = "<!-- timeout-results:begin -->", "<!-- timeout-results:end -->"
# Its configurations in table order, with their names in tables and plots.
TIMEOUT_CONFIGS = [("xpoll", "epoll", "xpoll epoll"), ("xpoll", "epoll-nopwait2", "xpoll epoll, no epoll_pwait2"),
                   ("xpoll", "kqueue", "xpoll kqueue"), ("xpoll", "poll", "xpoll poll"),
                   ("xpoll", "select", "xpoll select"), ("raw", "epoll_pwait2", "raw epoll_pwait2"),
                   ("raw", "epoll_wait", "raw epoll_wait (ms)"), ("libev", "epoll", "libev epoll"),
                   ("libuv", "epoll", "libuv epoll (ms)")]
TIMEOUT_COLOUR = {"xpoll epoll": "#0072b2", "xpoll epoll, no epoll_pwait2": "#56b4e9", "xpoll kqueue": "#004466",
                  "xpoll poll": "#6a9fca", "xpoll select": "#9cc3e0", "raw epoll_pwait2": "#000000",
                  "raw epoll_wait (ms)": "#777777", "libev epoll": "#009e73", "libuv epoll (ms)": "#cc79a7"}
# The issue's target: on Linux, xpoll's median lateness at most this far above raw epoll_pwait2's, same run.
TIMEOUT_TARGET_US = 10.0


def read_ring(path):
    runs = []
    if not os.path.exists(path):
        return runs
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                runs.append(dict(kv.split("=", 1) for kv in line.split("\t") if "=" in kv))
    return runs


def order_key(impl, backend):
    """The one order of every table and plot: by backend, then by implementation."""
    b = BACKEND_ORDER.index(backend) if backend in BACKEND_ORDER else len(BACKEND_ORDER)
    i = IMPL_ORDER.index(impl) if impl in IMPL_ORDER else len(IMPL_ORDER)
    return (b, i, impl, backend)


def summarise(runs):
    """One row per (n, impl, backend): the median over repetitions of each run's medians, and their range."""
    groups = {}
    for r in runs:
        groups.setdefault((int(r["n"]), r["impl"], r["backend"]), []).append(r)
    rows = []
    for (n, impl, backend), rs in groups.items():
        ok = [r for r in rs if r.get("status") == "ok"]
        status = "ok" if len(ok) == len(rs) else ("unsupported" if all(r.get("status") == "unsupported" for r in rs)
                                                  else "FAIL")
        row = {"n": n, "impl": impl, "backend": backend, "status": status, "reps": len(ok),
               "layout": rs[0].get("layout", "?"), "descriptors": rs[0].get("descriptors", "?"),
               "maxfd": int(rs[0].get("maxfd", 0)), "active": rs[0].get("active"), "writes": rs[0].get("writes"),
               "rounds": rs[0].get("rounds"), "reads": rs[0].get("reads", "")}
        for k in ("setup_us", "dispatch_us", "total_us"):
            row[k] = statistics.median(float(r[k]) for r in ok) if ok else None
        row["total_min_us"] = min(float(r["total_us"]) for r in ok) if ok else None
        row["total_max_us"] = max(float(r["total_us"]) for r in ok) if ok else None
        cpu = [float(r["cpu_user_us"]) + float(r["cpu_sys_us"]) for r in ok if "cpu_user_us" in r]
        row["cpu_us"] = statistics.median(cpu) if cpu else None
        rows.append(row)
    rows.sort(key=lambda r: (r["n"],) + order_key(r["impl"], r["backend"]))
    for r in rows:
        base = find(rows, r["n"], "raw", "epoll")
        for k in ("setup_us", "dispatch_us", "total_us", "cpu_us"):
            ok = r[k] is not None and base and base[k]
            r[k.replace("_us", "_ratio")] = r[k] / base[k] if ok else None
    return rows


def find(rows, n, impl, backend):
    for r in rows:
        if r["n"] == n and r["impl"] == impl and r["backend"] == backend:
            return r
    return None


def us(v):
    return "-" if v is None else f"{v:,.0f}"


def ratio(v):
    return "-" if v is None else f"{v:.2f}"


def ring_table(rows, n):
    out = ["| implementation | setup µs | dispatch µs | total µs | CPU µs | setup ÷ raw epoll | dispatch ÷ raw epoll | "
           "total ÷ raw epoll | CPU ÷ raw epoll |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        if r["n"] != n:
            continue
        name = label(r["impl"], r["backend"])
        if r["status"] != "ok":
            out.append(f"| {name} | {r['status']} | | | | | | | |")
            continue
        out.append(f"| {name} | {us(r['setup_us'])} | {us(r['dispatch_us'])} | {us(r['total_us'])} | "
                   f"{us(r['cpu_us'])} | {ratio(r['setup_ratio'])} | {ratio(r['dispatch_ratio'])} | "
                   f"{ratio(r['total_ratio'])} | {ratio(r['cpu_ratio'])} |")
    return out


def read_echo(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        lines = [l.rstrip("\n").split("\t") for l in f if l.strip()]
    head = lines[0]
    return [dict(zip(head, l)) for l in lines[1:]]


def echo_config(server):
    """(implementation, backend) of an echo server's name: xpoll-epoll, raw-epoll, libev, threads."""
    if server in ECHO_SERVERS:
        return ECHO_SERVERS[server]
    impl, _, backend = server.partition("-")
    return impl, backend or "?"


def summarise_echo(runs):
    """One row per server: the median of each figure over its runs, the range of round trips/s and of
    RSS per connection, and the number of runs that passed; in the one order of every plot."""
    groups = {}
    for r in runs:
        groups.setdefault(r["server"], []).append(r)
    rows = []
    for server, rs in groups.items():
        ok = [r for r in rs if num(r.get("rt_per_s")) is not None]
        impl, backend = echo_config(server)
        row = {"server": server, "impl": impl, "backend": backend, "runs": len(rs), "reps": len(ok),
               "conns": rs[0].get("conns")}
        for k in ("rt_per_s", "p50_us", "p99_us", "cpu_us_per_rt", "peak_rss_kib", "rss_per_conn_kib"):
            v = [num(r.get(k)) for r in ok if num(r.get(k)) is not None]
            row[k] = statistics.median(v) if v else None
            if k in ("rt_per_s", "rss_per_conn_kib"):
                row[k + "_min"] = min(v) if v else None
                row[k + "_max"] = max(v) if v else None
        rows.append(row)
    rows.sort(key=lambda r: order_key(r["impl"], r["backend"]))
    return rows


def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def label(impl, backend):
    """A configuration's name in tables and plots: the implementation, then its backend."""
    return "thread per connection" if impl == "threads" else f"{impl} {backend}"


def echo_table(rows):
    base = next((r for r in rows if r["server"] == "raw-epoll"), None)

    def rel(r, k):
        a, b = r.get(k), base.get(k) if base else None
        return ratio(a / b) if a is not None and b else "-"

    out = ["| server | round trips/s | p50 µs | p99 µs | CPU µs per round trip | peak RSS KiB | RSS KiB per conn | "
           "rt/s ÷ raw epoll | CPU per rt ÷ raw epoll | RSS per conn ÷ raw epoll |",
           "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        name = label(r["impl"], r["backend"])
        if r["rt_per_s"] is None:
            out.append(f"| {name} | FAIL | | | | | | | | |")
            continue
        fail = f" ({r['runs'] - r['reps']} of {r['runs']} runs failed)" if r["reps"] < r["runs"] else ""
        out.append(f"| {name}{fail} | {r['rt_per_s']:,.0f} | {r['p50_us']:,.0f} | {r['p99_us']:,.0f} | "
                   f"{r['cpu_us_per_rt']:.2f} | {r['peak_rss_kib']:,.0f} | {r['rss_per_conn_kib']:.2f} | "
                   f"{rel(r, 'rt_per_s')} | {rel(r, 'cpu_us_per_rt')} | {rel(r, 'rss_per_conn_kib')} |")
    return out


def cpu_note(a, b):
    if a.get("cpu_us") and b.get("cpu_us"):
        return f"; CPU per round {a['cpu_us'] / b['cpu_us']:.2f}"
    return ""


def targets(rows):
    """The issue's targets, judged on these figures; each a (target, verdict, detail) triple."""
    out = []
    for n in sorted({r["n"] for r in rows}):
        def get(impl, backend):
            r = find(rows, n, impl, backend)
            return r if r and r["status"] == "ok" else None

        raw, xe, ve = get("raw", "epoll"), get("xpoll", "epoll"), get("libev", "epoll")
        if n not in TARGET_SIZES:  # the speed targets are set for these sizes only
            raw = xe = ve = None
        if raw and xe:
            q = xe["dispatch_us"] / raw["dispatch_us"]
            out.append((f"N={n}: xpoll epoll dispatch within 2% of raw epoll", "met" if q <= 1.02 else "not met",
                        f"ratio {q:.3f}"))
        if xe and ve:
            q = xe["total_us"] / ve["total_us"]
            out.append((f"N={n}: xpoll epoll total per round below libev epoll", "met" if q < 1 else "not met",
                        f"xpoll ÷ libev {q:.2f} (setup {us(xe['setup_us'])} vs {us(ve['setup_us'])} µs, "
                        f"dispatch {us(xe['dispatch_us'])} vs {us(ve['dispatch_us'])} µs){cpu_note(xe, ve)}"))
        for b in ("poll", "select"):
            x, v = get("xpoll", b), get("libev", b)
            if x and v and n in TARGET_SIZES:
                q = x["total_us"] / v["total_us"]
                out.append((f"N={n}: xpoll {b} no slower than libev {b} (total per round)",
                            "met" if q <= 1 else "not met",
                            f"xpoll ÷ libev {q:.2f} (dispatch {x['dispatch_us'] / v['dispatch_us']:.2f}, "
                            f"setup {x['setup_us'] / v['setup_us']:.2f}){cpu_note(x, v)}"))
        xs = find(rows, n, "xpoll", "select")
        if xs and xs["maxfd"] >= 1024:
            others = [r for r in (find(rows, n, "raw", "select"), find(rows, n, "libevent", "select")) if r]
            refused = ", ".join(f"{r['impl']} {r['status']}" for r in others)
            verdict = "met" if xs["status"] == "ok" else "not met"
            out.append((f"N={n}: select above FD_SETSIZE (highest descriptor {xs['maxfd']})", verdict,
                        f"xpoll select {xs['status']}; {refused}"))
    return out


def sh(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def machine(build, data):
    """The machine the runs were made on: from the stored machine.txt of the runs when there is one (a report
    drawn again later describes the machine of the runs, not its own), else from this machine, with the load
    average that bench/run.sh noted when the runs began."""
    stored = os.path.join(data, "machine.txt")
    if os.path.exists(stored):
        with open(stored) as f:
            return [l.strip() for l in f if l.strip()]
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    osname = platform.system()
    if os.path.exists("/etc/os-release"):
        with open("/etc/os-release") as f:
            m = re.search(r'^PRETTY_NAME="?([^"\n]*)', f.read(), re.M)
            osname = m.group(1) if m else osname
    cc = "cc"
    cache = os.path.join(build, "CMakeCache.txt") if build else ""
    if cache and os.path.exists(cache):
        with open(cache) as f:
            m = re.search(r"^CMAKE_C_COMPILER:\w+=(.*)$", f.read(), re.M)
            cc = m.group(1) if m else cc
    compiler = sh([cc, "--version"]).splitlines()[:1]
    libev = "?"
    if os.path.exists("/usr/include/ev.h"):
        with open("/usr/include/ev.h") as f:
            t = f.read()
            ma, mi = re.search(r"EV_VERSION_MAJOR (\d+)", t), re.search(r"EV_VERSION_MINOR (\d+)", t)
            libev = f"{ma.group(1)}.{mi.group(1)}" if ma and mi else "?"
    lines = [f"CPU: {cpu}, {os.cpu_count()} logical CPUs", f"OS: {osname}, kernel {platform.release()}",
             f"compiler: {compiler[0] if compiler else '?'}, CMake Release (-O3)",
             f"libevent {sh(['pkg-config', '--modversion', 'libevent']) or '?'}, libev {libev}, "
             f"libuv {sh(['pkg-config', '--modversion', 'libuv']) or '?'}"]
    src = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    commit = sh(["git", "-C", src, "rev-parse", "--short", "HEAD"])
    if commit:
        dirty = sh(["git", "-C", src, "status", "--porcelain", "--", "src", "include"])
        lines.append(f"xpoll: commit {commit}{' with local changes to src/ or include/' if dirty else ''}")
    load = os.path.join(data, "loadavg.txt")
    if os.path.exists(load):
        with open(load) as f:
            lines.append(f"load average when the runs began: {' '.join(f.read().split()[:3])}")
    return lines


def gnuplot(script, cwd):
    if not shutil.which("gnuplot"):
        return False
    p = subprocess.run(["gnuplot"], input=script, text=True, cwd=cwd, capture_output=True)
    if p.returncode != 0:
        print(f"gnuplot failed: {p.stderr.strip()}", file=sys.stderr)
    return p.returncode == 0


SVG_HEAD = """set terminal svg size 1000,480 dynamic font 'sans,11' background rgb 'white'
set termoption noenhanced
set style fill solid 0.9 border lc rgb '#333333'
set boxwidth 0.7
set grid ytics lc rgb '#dddddd'
set xtics nomirror scale 0
set ytics nomirror
set border 3
set bmargin 5
"""


def gp_str(s):
    """A gnuplot double-quoted string (where \\n is a line break)."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def tick_label(impl, backend):
    return "thread per\nconnection" if impl == "threads" else f"{impl}\n{backend}"


def slots(configs):
    """The x position of each configuration: one per slot, with a gap between backends."""
    xs, x, last = [], 0.0, None
    for impl, backend in configs:
        if last is not None:
            x += 1.0 if backend == last else 1.5
        xs.append(x)
        last = backend
    return xs


def xtics(configs):
    xs = slots(configs)
    return ("set xtics (" + ", ".join(f"{gp_str(tick_label(i, b))} {x}" for x, (i, b) in zip(xs, configs)) + ")\n"
            f"set xrange [{xs[0] - 0.6}:{xs[-1] + 0.6}]\n")


def plural(n, what):
    return f"{n} {what}{'' if n == 1 else 's'}"


def colour(impl):
    return int(IMPL_COLOUR.get(impl, "#777777")[1:], 16)


def short(v):
    return f"{v:,.0f}" if v >= 100 else (f"{v:.1f}" if v >= 10 else f"{v:.2f}")


def not_run(k, text, top="graph 1"):
    """Marks slot k of a bar chart as a configuration that could not run, with the reason."""
    return (f"set object rect from first {k - 0.4}, graph 0 to first {k + 0.4}, {top} fc rgb '#eeeeee' "
            f"fs solid 1.0 noborder behind\n"
            f"set label {gp_str(text)} at first {k}, graph 0.03 rotate by 90 left font 'sans,10' "
            f"textcolor rgb '#444444'\n")


def why_not(r):
    if r["status"] == "unsupported" and r["backend"] == "select":
        return "unsupported: fd ≥ FD_SETSIZE"
    return "failed" if r["status"] == "FAIL" else r["status"]


def layout_title(r0, n):
    pairs = int(r0["descriptors"]) // 2 if str(r0["descriptors"]).isdigit() else "?"
    if r0["layout"] == "bidir":
        return (f"Pipe ring, N = {n:,}: BIDIRECTIONAL layout, both ends of {pairs:,} socket pairs watched "
                f"({int(r0['descriptors']):,} descriptors, the highest {r0['maxfd']:,})")
    if r0["layout"] == "classic":
        return (f"Pipe ring, N = {n:,}: CLASSIC layout, one socket pair per slot "
                f"({int(r0['descriptors']):,} descriptors, the highest {r0['maxfd']:,})")
    return f"Pipe ring, N = {n:,}: {r0['layout']} layout"


def plot_ring(rows, n, out):
    """Bars in milliseconds per round: the median total, its hatched lower part the median setup, a
    whisker from the lowest to the highest run; a configuration that could not run keeps its slot."""
    here = [r for r in rows if r["n"] == n]
    ok = [r for r in here if r["status"] == "ok"]
    if not ok:
        return None
    r0 = ok[0]
    reps = max(r["reps"] for r in ok)
    data = ["# slot total_ms setup_ms lowest_ms highest_ms colour"]
    marks = ""
    top = max(r["total_max_us"] for r in ok) / 1000
    for k, r in zip(slots([(r["impl"], r["backend"]) for r in here]), here):
        if r["status"] != "ok":
            marks += not_run(k, why_not(r))
            continue
        data.append(f"{k} {r['total_us'] / 1000:.4f} {r['setup_us'] / 1000:.4f} {r['total_min_us'] / 1000:.4f} "
                    f"{r['total_max_us'] / 1000:.4f} {colour(r['impl'])}")
        marks += (f"set label {gp_str(short(r['total_us'] / 1000))} at first {k}, first "
                  f"{r['total_max_us'] / 1000 + top * 0.015} center offset 0,0.6 font 'sans,9'\n")
    svg = f"ring-n{n}.svg"
    spread = (f"median time per round of {reps} runs, whisker from the lowest run to the highest" if reps > 1
              else "median time per round of one run")
    subtitle = f"A = {r0['active']} active slots, W = {int(r0['writes']):,} writes: {spread}"
    script = SVG_HEAD + f"""set output '{svg}'
set title {gp_str(layout_title(r0, n) + chr(10) + subtitle)} font 'sans,14'
set ylabel 'milliseconds per round'
set yrange [0:{top * 1.1:.4f}]
set key top left Left reverse samplen 2 box opaque
{xtics([(r["impl"], r["backend"]) for r in here])}{marks}$d << EOD
{chr(10).join(data)}
EOD
plot $d using 1:2:6 with boxes lc rgb variable fs solid 0.9 notitle, \\
     $d using 1:3 with boxes lc rgb 'white' fs solid 1.0 notitle, \\
     $d using 1:3:6 with boxes lc rgb variable fs pattern 4 notitle, \\
     $d using 1:2:4:5 with yerrorbars lc rgb 'black' pt 7 ps 0.4 {"title 'lowest to highest run'" if reps > 1 else "notitle"}, \\
     NaN with boxes lc rgb '#777777' fs solid 0.9 title 'dispatch (solid)', \\
     NaN with boxes lc rgb '#777777' fs pattern 4 title 'setup: every registration renewed (hatched)'
"""
    return svg if gnuplot(script, out) else None


def echo_bars(rows, key, scale, fmt_scale):
    """The datablock and the value labels of one echo panel: the median of the runs, whiskers for their range."""
    data = ["# slot median lowest highest colour"]
    labels = ""
    top = max((r[key + "_max"] for r in rows if r[key] is not None), default=1) / scale
    for k, r in zip(slots([(r["impl"], r["backend"]) for r in rows]), rows):
        if r[key] is None:
            labels += not_run(k, "failed")
            continue
        data.append(f"{k} {r[key] / scale:.4f} {r[key + '_min'] / scale:.4f} {r[key + '_max'] / scale:.4f} "
                    f"{colour(r['impl'])}")
        labels += (f"set label {gp_str(fmt_scale(r[key] / scale))} at first {k}, first "
                   f"{r[key + '_max'] / scale + top * 0.015} center offset 0,0.6 font 'sans,9'\n")
    return "\n".join(data), labels, top


def plot_echo(rows, out):
    ok = [r for r in rows if r["rt_per_s"] is not None]
    if not ok:
        return []
    c = int(ok[0]["conns"])
    reps = max(r["reps"] for r in ok)
    spread = f"median of {reps} runs, whisker from the lowest run to the highest" if reps > 1 else "one run"
    made = []
    bars = ("plot $d using 1:2:5 with boxes lc rgb variable notitle, "
            "$d using 1:2:3:4 with yerrorbars lc rgb 'black' pt 7 ps 0.4 notitle\n")

    data, labels, top = echo_bars(rows, "rt_per_s", 1000, lambda v: f"{v:.1f}")
    script = SVG_HEAD + f"""set output 'echo-rt.svg'
set title {gp_str(f"Echo server, {c:,} connections: round trips per second" + chr(10) + spread)} font 'sans,14'
set ylabel 'thousand round trips per second'
set yrange [0:{top * 1.1:.4f}]
{xtics([(r["impl"], r["backend"]) for r in rows])}{labels}$d << EOD
{data}
EOD
""" + bars
    if gnuplot(script, out):
        made.append("echo-rt.svg")

    # A thread per connection needs two orders of magnitude more memory than any poller: it gets a panel
    # of its own, so that the libraries' bars stay readable.
    libs = [r for r in rows if r["impl"] != "threads"]
    threads = [r for r in rows if r["impl"] == "threads"]
    data, labels, top = echo_bars(libs, "rss_per_conn_kib", 1, lambda v: f"{v:.2f}")
    width = 0.8 if threads else 1.0
    script = SVG_HEAD + f"""set output 'echo-rss.svg'
set multiplot title {gp_str(f"Echo server, {c:,} connections: server memory (RSS) per connection" + chr(10) + spread)} font 'sans,14'
set origin 0,0
set size {width},0.9
set title 'raw epoll, xpoll and the event libraries' font 'sans,11'
set ylabel 'KiB per connection'
set yrange [0:{top * 1.15:.4f}]
{xtics([(r["impl"], r["backend"]) for r in libs])}{labels}$d << EOD
{data}
EOD
""" + bars
    if threads:
        data, labels, top = echo_bars(threads, "rss_per_conn_kib", 1, lambda v: f"{v:.1f}")
        script += f"""unset label
unset object
set origin {width},0
set size {1 - width},0.9
set title 'own scale' font 'sans,11'
set ylabel 'KiB per connection'
set yrange [0:{top * 1.15:.4f}]
{xtics([(r["impl"], r["backend"]) for r in threads])}set xrange [-0.8:0.8]
{labels}undefine $d
$d << EOD
{data}
EOD
""" + bars
    script += "unset multiplot\n"
    if gnuplot(script, out):
        made.append("echo-rss.svg")
    return made


def summarise_accept(runs):
    """One row per (workers, mode): the median of each figure over the runs that passed, the range of the
    wake-ups per connection, and the number of runs."""
    groups = {}
    for r in runs:
        groups.setdefault((int(r["workers"]), r["mode"]), []).append(r)
    rows = []
    order = [m for m, _ in ACCEPT_MODES]
    for (w, mode), rs in groups.items():
        ok = [r for r in rs if r.get("status") == "ok"]
        status = "ok" if len(ok) == len(rs) else ("unsupported" if all(r.get("status") == "unsupported" for r in rs)
                                                  else "FAIL")
        row = {"workers": w, "mode": mode, "status": status, "runs": len(rs), "reps": len(ok),
               "conns": int(rs[0]["conns"]), "burst": rs[0].get("burst"), "pause_us": rs[0].get("pause_us"),
               "accept_max": rs[0].get("accept_max")}
        for k in ("wakeups_per_conn", "waits_per_conn", "empty_waits_per_conn", "involuntary_per_conn",
                  "cpu_us_per_conn", "accepts_min", "accepts_max", "accepts_sd", "elapsed_ms"):
            v = [float(r[k]) for r in ok if k in r]
            row[k] = statistics.median(v) if v else None
        v = [float(r["wakeups_per_conn"]) for r in ok]
        row["wakeups_lo"], row["wakeups_hi"] = (min(v), max(v)) if v else (None, None)
        rows.append(row)
    rows.sort(key=lambda r: (r["workers"], order.index(r["mode"]) if r["mode"] in order else len(order)))
    return rows


def accept_name(mode):
    return dict(ACCEPT_MODES).get(mode, mode)


def accept_table(rows, w):
    out = ["| mode | wake-ups per conn | lowest-highest run | waits returned per conn | of which nothing accepted | "
           "preempted per conn | worker CPU µs per conn | accepts per worker min / max | std dev |",
           "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        if r["workers"] != w:
            continue
        if r["status"] != "ok" and r["reps"] == 0:
            out.append(f"| {accept_name(r['mode'])} | {r['status']} | | | | | | | |")
            continue
        fail = f" ({r['runs'] - r['reps']} of {r['runs']} runs failed)" if r["reps"] < r["runs"] else ""
        out.append(f"| {accept_name(r['mode'])}{fail} | {r['wakeups_per_conn']:.2f} | "
                   f"{r['wakeups_lo']:.2f}-{r['wakeups_hi']:.2f} | {r['waits_per_conn']:.2f} | "
                   f"{r['empty_waits_per_conn']:.3f} | {r['involuntary_per_conn']:.3f} | {r['cpu_us_per_conn']:.1f} | "
                   f"{r['accepts_min']:,.0f} / {r['accepts_max']:,.0f} | {r['accepts_sd']:,.0f} |")
    return out


def accept_targets(rows):
    out = []
    for r in rows:
        if r["mode"] != "exclusive":
            continue
        if r["reps"] == 0:
            out.append((f"W={r['workers']}: XPOLL_EXCLUSIVE at most {EXCLUSIVE_TARGET} wake-ups per connection",
                        "not measured", r["status"]))
            continue
        met = r["wakeups_per_conn"] <= EXCLUSIVE_TARGET
        every = "every run" if r["wakeups_hi"] <= EXCLUSIVE_TARGET else f"highest run {r['wakeups_hi']:.2f}"
        plain = next((p for p in rows if p["workers"] == r["workers"] and p["mode"] == "plain" and p["reps"]), None)
        vs = f"; level-triggered {plain['wakeups_per_conn']:.2f}" if plain else ""
        out.append((f"W={r['workers']}: XPOLL_EXCLUSIVE at most {EXCLUSIVE_TARGET} wake-ups per connection",
                    "met" if met else "not met", f"median {r['wakeups_per_conn']:.2f} ({every}){vs}"))
    return out


def thread_rows(echo):
    order = [s for s, _ in THREAD_SERVERS]
    rows = [r for r in echo if r["server"] in order]
    rows.sort(key=lambda r: order.index(r["server"]))
    return rows


def threads_table(rows, runs):
    base = next((r for r in rows if r["server"] == "xpoll-1t"), None)
    cpu = cpu_ranges(runs)
    out = ["| server | round trips/s | lowest-highest run | p50 µs | p99 µs | CPU µs per round trip | "
           "lowest-highest run | rt/s ÷ 1 thread | CPU per rt ÷ 1 thread |",
           "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        name = dict(THREAD_SERVERS)[r["server"]]
        if r["rt_per_s"] is None:
            out.append(f"| {name} | FAIL | | | | | | | |")
            continue
        fail = f" ({r['runs'] - r['reps']} of {r['runs']} runs failed)" if r["reps"] < r["runs"] else ""
        c = cpu.get(r["server"], [0])
        rel = (lambda k: ratio(r[k] / base[k]) if base and base.get(k) else "-")
        out.append(f"| {name}{fail} | {r['rt_per_s']:,.0f} | {r['rt_per_s_min']:,.0f}-{r['rt_per_s_max']:,.0f} | "
                   f"{r['p50_us']:,.0f} | {r['p99_us']:,.0f} | {r['cpu_us_per_rt']:.2f} | "
                   f"{min(c):.2f}-{max(c):.2f} | {rel('rt_per_s')} | {rel('cpu_us_per_rt')} |")
    return out


SYSCALL_COLUMNS = ["read", "write", "epoll_wait", "epoll_ctl", "futex"]


def syscalls_table(rows):
    """System calls per round trip of each threaded echo server, from its strace -c counts."""
    by = {}
    for r in rows:
        by.setdefault(r["server"], []).append(r)
    out = ["| server | " + " | ".join(SYSCALL_COLUMNS) + " | other | all | round trips counted |",
           "| --- |" + " ---: |" * (len(SYSCALL_COLUMNS) + 3)]
    for server, name in THREAD_SERVERS:
        rs = by.get(server)
        if not rs:
            continue
        rt = int(rs[0]["round_trips"])
        calls = {r["syscall"]: int(r["calls"]) for r in rs}
        other = sum(v for k, v in calls.items() if k not in SYSCALL_COLUMNS)
        cells = [f"{calls.get(k, 0) / rt:.3f}" for k in SYSCALL_COLUMNS]
        out.append(f"| {name} | " + " | ".join(cells) + f" | {other / rt:.3f} | {sum(calls.values()) / rt:.3f} | "
                   f"{rt:,} |")
    return out


def plot_accept(rows, out):
    """Bars of wake-ups per accepted connection: one group per mode, one bar per worker count, a whisker from
    the lowest run to the highest, and the target of XPOLL_EXCLUSIVE as a dashed line."""
    ok = [r for r in rows if r["reps"]]
    if not ok:
        return None
    counts = sorted({r["workers"] for r in rows})
    modes = [m for m, _ in ACCEPT_MODES if any(r["mode"] == m for r in rows)]
    width = 0.8 / len(counts)
    data, labels, tics = [], "", []
    top = max(r["wakeups_hi"] for r in ok)
    for i, m in enumerate(modes):
        x0 = i * 1.2
        tics.append(f"{gp_str(accept_name(m).replace(', ', chr(10)))} {x0}")
        for j, w in enumerate(counts):
            x = x0 + (j - (len(counts) - 1) / 2) * width
            r = next((r for r in ok if r["workers"] == w and r["mode"] == m), None)
            if not r:
                continue
            c = int(WORKER_COLOUR[j % len(WORKER_COLOUR)][1:], 16)
            data.append(f"{x:.3f} {r['wakeups_per_conn']:.4f} {r['wakeups_lo']:.4f} {r['wakeups_hi']:.4f} {c}")
            text = gp_str(f"{r['wakeups_per_conn']:.2f}")
            labels += (f"set label {text} at first {x:.3f}, first {r['wakeups_hi'] + top * 0.012:.4f} center "
                       f"offset 0,0.6 font 'sans,9'\n")
    c0 = ok[0]
    reps = max(r["reps"] for r in ok)
    spread = f"median of {reps} runs, whisker from the lowest run to the highest" if reps > 1 else "one run"
    title = (f"Pre-forked workers at one port: wake-ups per accepted connection\n{c0['conns']:,} loopback "
             f"connections in bursts of {c0['burst']}; wake-ups = the workers' voluntary context switches\n{spread}")
    keys = ", ".join(f"NaN with boxes lc rgb '{WORKER_COLOUR[j % len(WORKER_COLOUR)]}' fs solid 0.9 "
                     f"title '{w} workers'" for j, w in enumerate(counts))
    script = SVG_HEAD + f"""set output 'accept-herd.svg'
set title {gp_str(title)} font 'sans,13'
set ylabel 'wake-ups per accepted connection'
set yrange [0:{top * 1.12:.4f}]
set boxwidth {width * 0.95:.3f} absolute
set xtics ({", ".join(tics)})
set xrange [-0.7:{(len(modes) - 1) * 1.2 + 0.7:.2f}]
set key top center Left reverse samplen 2 box opaque
set arrow from graph 0, first {EXCLUSIVE_TARGET} to graph 1, first {EXCLUSIVE_TARGET} nohead dt 2 lc rgb '#cc0000'
{labels}$d << EOD
{chr(10).join(data)}
EOD
plot $d using 1:2:5 with boxes lc rgb variable notitle, \\
     $d using 1:2:3:4 with yerrorbars lc rgb 'black' pt 7 ps 0.4 notitle, \\
     {keys}, \\
     NaN with lines dt 2 lc rgb '#cc0000' title 'target of XPOLL_EXCLUSIVE: {EXCLUSIVE_TARGET}'
"""
    return "accept-herd.svg" if gnuplot(script, out) else None


def cpu_ranges(runs):
    """The CPU per round trip of each echo server's runs, by server."""
    cpu = {}
    for r in runs:
        v = num(r.get("cpu_us_per_rt"))
        if v is not None:
            cpu.setdefault(r["server"], []).append(v)
    return cpu


def plot_threads(rows, runs, out):
    """Two panels for the threaded echo servers: round trips per second and server CPU per round trip."""
    ok = [r for r in rows if r["rt_per_s"] is not None]
    cpu_runs = cpu_ranges(runs)
    if not ok:
        return None
    c = int(ok[0]["conns"])
    reps = max(r["reps"] for r in ok)
    spread = f"median of {reps} runs, whisker from the lowest run to the highest" if reps > 1 else "one run"
    names = dict(THREAD_SERVERS)
    tics = "set xtics (" + ", ".join(f"{gp_str(names[r['server']].replace(', ', chr(10)))} {k}"
                                     for k, r in enumerate(rows)) + ")\n" + f"set xrange [-0.6:{len(rows) - 0.4}]\n"
    colours = {"xpoll-1t": "#56b4e9", "xpoll-1t-oneshot": "#56b4e9", "xpoll-2t-split": "#009e73",
               "xpoll-2t-split-oneshot": "#009e73", "xpoll-2t-shared": "#0072b2"}
    rt, cpu, lab1, lab2 = [], [], "", ""
    top_rt = max(r["rt_per_s_max"] for r in ok) / 1000
    top_cpu = max(max(cpu_runs.get(r["server"], [r["cpu_us_per_rt"]])) for r in ok)
    for k, r in enumerate(rows):
        if r["rt_per_s"] is None:
            continue
        col = int(colours.get(r["server"], "#777777")[1:], 16)
        rt.append(f"{k} {r['rt_per_s'] / 1000:.4f} {r['rt_per_s_min'] / 1000:.4f} {r['rt_per_s_max'] / 1000:.4f} {col}")
        lo, hi = min(cpu_runs.get(r["server"], [0])), max(cpu_runs.get(r["server"], [0]))
        cpu.append(f"{k} {r['cpu_us_per_rt']:.4f} {lo:.4f} {hi:.4f} {col}")
        text_rt, text_cpu = gp_str(f"{r['rt_per_s'] / 1000:.1f}"), gp_str(f"{r['cpu_us_per_rt']:.2f}")
        lab1 += (f"set label {text_rt} at first {k}, first {r['rt_per_s_max'] / 1000 + top_rt * 0.012:.4f} "
                 f"center offset 0,0.6 font 'sans,9'\n")
        lab2 += (f"set label {text_cpu} at first {k}, first {hi + top_cpu * 0.012:.4f} "
                 f"center offset 0,0.6 font 'sans,9'\n")
    script = SVG_HEAD.replace("size 1000,480", "size 1000,760") + f"""set output 'echo-threads.svg'
set multiplot layout 2,1 title {gp_str(f"Echo on xpoll (epoll), {c:,} connections: threads and pollers" + chr(10) + spread)} font 'sans,13'
set title 'round trips per second' font 'sans,11'
set ylabel 'thousand round trips per second'
set yrange [0:{top_rt * 1.15:.4f}]
{tics}{lab1}$d << EOD
{chr(10).join(rt)}
EOD
plot $d using 1:2:5 with boxes lc rgb variable notitle, $d using 1:2:3:4 with yerrorbars lc rgb 'black' pt 7 ps 0.4 notitle
unset label
set title 'server CPU (user + system) per round trip' font 'sans,11'
set ylabel 'CPU µs per round trip'
set yrange [0:{top_cpu * 1.15:.4f}]
{lab2}$c << EOD
{chr(10).join(cpu)}
EOD
plot $c using 1:2:5 with boxes lc rgb variable notitle, $c using 1:2:3:4 with yerrorbars lc rgb 'black' pt 7 ps 0.4 notitle
unset multiplot
"""
    return "echo-threads.svg" if gnuplot(script, out) else None


def timeout_name(impl, backend):
    for i, b, name in TIMEOUT_CONFIGS:
        if (i, b) == (impl, backend):
            return name
    return f"{impl} {backend}"


def summarise_timeout(runs):
    """One row per configuration and requested time-out: the median over the runs of each run's median and
    99th percentile of lateness, the lowest and highest run's median, the early returns of all runs."""
    groups = {}
    for r in runs:
        groups.setdefault((r["impl"], r["backend"], float(r["requested_us"])), []).append(r)
    order = [(i, b) for i, b, _ in TIMEOUT_CONFIGS]
    rows = []
    for (impl, backend, req), rs in groups.items():
        med = [float(r["median_us"]) for r in rs]
        rows.append({"impl": impl, "backend": backend, "name": timeout_name(impl, backend), "requested_us": req,
                     "reps": len(rs), "samples": int(rs[0]["samples"]), "median_us": statistics.median(med),
                     "median_lo": min(med), "median_hi": max(med),
                     "p99_us": statistics.median(float(r["p99_us"]) for r in rs),
                     "early": sum(int(r["early"]) for r in rs),
                     "status": "ok" if all(r.get("status") == "ok" for r in rs) else "FAIL",
                     "by_rep": {r["rep"]: float(r["median_us"]) for r in rs}})
    rows.sort(key=lambda r: (order.index((r["impl"], r["backend"])) if (r["impl"], r["backend"]) in order
                             else len(order), r["impl"], r["backend"], r["requested_us"]))
    return rows


def req_label(us_value):
    return f"{us_value / 1000:g} ms" if us_value >= 1000 else f"{us_value:g} µs"


def timeout_table(rows):
    reqs = sorted({r["requested_us"] for r in rows})
    names = list(dict.fromkeys(r["name"] for r in rows))
    head = "| configuration | " + " | ".join(f"{req_label(q)}: median | p99" for q in reqs) + " | early returns |"
    out = [head, "| --- |" + " ---: | ---: |" * len(reqs) + " ---: |"]
    for name in names:
        cells, early = [], 0
        for q in reqs:
            r = next((x for x in rows if x["name"] == name and x["requested_us"] == q), None)
            cells += [f"{r['median_us']:,.0f}", f"{r['p99_us']:,.0f}"] if r else ["-", "-"]
            early += r["early"] if r else 0
        out.append(f"| {name} | " + " | ".join(cells) + f" | {early} |")
    return out


def timeout_targets(rows):
    """Each xpoll backend against raw epoll_pwait2 at each time-out: the difference of the medians taken in
    the same run, the median of those differences over the runs, and its range."""
    out = []
    ref = {r["requested_us"]: r for r in rows if (r["impl"], r["backend"]) == ("raw", "epoll_pwait2")}
    for r in rows:
        if r["impl"] != "xpoll" or r["requested_us"] not in ref:
            continue
        base = ref[r["requested_us"]]
        diffs = [v - base["by_rep"][k] for k, v in r["by_rep"].items() if k in base["by_rep"]]
        if not diffs:
            continue
        d = statistics.median(diffs)
        verdict = "met" if d <= TIMEOUT_TARGET_US and r["status"] == "ok" else "not met"
        span = f" (runs {min(diffs):+.1f} to {max(diffs):+.1f})" if len(diffs) > 1 else ""
        out.append((r["name"], req_label(r["requested_us"]), verdict,
                    f"{r['median_us']:.1f} against {base['median_us']:.1f} µs: {d:+.1f} µs{span}"))
    return out


def plot_timeout(rows, out):
    """Grouped bars, one group per requested time-out, a bar per configuration (median lateness, a whisker
    from the lowest run's median to the highest), on a logarithmic scale."""
    if not rows:
        return None
    reqs = sorted({r["requested_us"] for r in rows})
    names = list(dict.fromkeys(r["name"] for r in rows))
    width = 0.8 / len(names)
    data, keys, labels = [], [], ""
    for j, name in enumerate(names):
        c = int(TIMEOUT_COLOUR.get(name, "#777777")[1:], 16)
        keys.append(f"NaN with boxes lc rgb '{TIMEOUT_COLOUR.get(name, '#777777')}' fs solid 0.9 title {gp_str(name)}")
        for g, q in enumerate(reqs):
            r = next((x for x in rows if x["name"] == name and x["requested_us"] == q), None)
            if not r:
                continue
            x = g - 0.4 + width * (j + 0.5)
            data.append(f"{x:.4f} {r['median_us']:.2f} {r['median_lo']:.2f} {r['median_hi']:.2f} {c}")
            text = gp_str(f"{r['median_us']:.0f}")
            labels += (f"set label {text} at first {x:.4f}, first "
                       f"{r['median_hi'] * 1.12:.2f} left rotate by 90 font 'sans,8'\n")
    reps = max(r["reps"] for r in rows)
    spread = f"median of {reps} runs, whisker from the lowest run to the highest" if reps > 1 else "one run"
    tics = ", ".join(f"{gp_str('requested ' + req_label(q))} {g}" for g, q in enumerate(reqs))
    top = max(r["median_hi"] for r in rows)
    title = ("How late an idle wait returns: the wait's time less the requested time-out\n"
             f"{spread}; the default timer slack (50 µs)")
    script = SVG_HEAD.replace("size 1000,480", "size 1000,520") + f"""set output 'timeout-lateness.svg'
set title {gp_str(title)} font 'sans,13'
set ylabel 'median lateness, µs (log scale)'
set logscale y
set yrange [20:{top * 4:.1f}]
set boxwidth {width * 0.92:.4f} absolute
set xtics ({tics})
set xrange [-0.5:{len(reqs) - 0.5}]
set key outside right top Left reverse samplen 2 box
{labels}$d << EOD
{chr(10).join(data)}
EOD
plot $d using 1:2:5 with boxes lc rgb variable notitle, \\
     $d using 1:2:3:4 with yerrorbars lc rgb 'black' pt 7 ps 0.3 notitle, \\
     {", ".join(keys)}
"""
    return "timeout-lateness.svg" if gnuplot(script, out) else None


def build_timeout_report(rows, out, data):
    """The time-out benchmark's results part: the table, the plot and the target."""
    md = ["## Results: time-outs", ""]
    meta = os.path.join(data, "timeout-meta.txt")
    if os.path.exists(meta):
        with open(meta) as f:
            md += ["Measured on the machine described above, with:", ""] + [f"- {l.strip()}" for l in f if l.strip()]
            md.append("")
    reps = max(r["reps"] for r in rows)
    counts = ", ".join(f"{next(r['samples'] for r in rows if r['requested_us'] == q):,} at {req_label(q)}"
                       for q in sorted({r["requested_us"] for r in rows}))
    md += [f"Lateness in µs (the wait's time less the request): the median and the 99th percentile of each run "
           f"(samples per configuration: {counts}; all configurations interleaved), then the median of "
           f"{plural(reps, 'run')}. Early returns are summed over the runs.", ""]
    md += timeout_table(rows) + [""]
    svg = plot_timeout(rows, out)
    if svg:
        md += [f"![How late an idle wait returns, by requested time-out]({svg})", ""]
    t = timeout_targets(rows)
    if t:
        md += [f"The target, on these figures: xpoll's median lateness at most {TIMEOUT_TARGET_US:g} µs above raw "
               "epoll_pwait2's, the two taken in the same run (the median over the runs of that difference):", "",
               "| backend | requested | verdict | xpoll against raw epoll_pwait2 |", "| --- | --- | --- | --- |"]
        md += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in t]
        md.append("")
    return md


def build_accept_report(accept, threads, thread_runs, syscalls, out, data):
    """The accept benchmark's results part: the herd per worker count, the target, the threaded echo."""
    md = ["## Results: accept and threads", ""]
    meta = os.path.join(data, "accept-meta.txt")
    if os.path.exists(meta):
        with open(meta) as f:
            md += ["Measured on the machine described above, with:", ""] + [f"- {l.strip()}" for l in f if l.strip()]
            md.append("")
    if accept:
        a0 = next((r for r in accept if r["reps"]), accept[0])
        reps = max(r["reps"] for r in accept)
        md += ["### Pre-forked workers at one port", "",
               f"{a0['conns']:,} connections per run in bursts of {a0['burst']} ({a0['pause_us']} µs pause between "
               f"bursts), {a0['accept_max']} accept per report of the listening socket; every figure is the median "
               f"of {plural(reps, 'run')}, the runs of all modes and worker counts interleaved. Wake-ups are the "
               "workers' voluntary context switches; waits returned count the waits that reported something; "
               "preempted counts the involuntary context switches.", ""]
        for w in sorted({r["workers"] for r in accept}):
            md += [f"{w} workers:", ""] + accept_table(accept, w) + [""]
        svg = plot_accept(accept, out)
        if svg:
            md += [f"![Pre-forked workers: wake-ups per accepted connection]({svg})", ""]
        t = accept_targets(accept)
        if t:
            md += ["The target, on these figures:", "", "| target | verdict | detail |", "| --- | --- | --- |"]
            md += [f"| {a} | {b} | {c} |" for a, b, c in t]
            md.append("")
    if threads:
        reps = max(r["reps"] for r in threads)
        md += ["### Threads on one poller", "",
               f"Echo, {int(threads[0]['conns']):,} connections; every figure is the median of "
               f"{plural(reps, 'run')} of each server, the servers of one run one after the other.", ""]
        if syscalls:
            r0 = syscalls[0]
            md += [f"System calls per round trip, counted by `strace -c -f` attached to the server for the timed "
                   f"phase of one more run ({int(r0['conns']):,} connections, {r0['msgs']} messages each). The reads, "
                   "writes and registration changes are fixed by each server's design; the waits and the futex "
                   "calls depend on how many events each wait finds, so they move a little from run to run, "
                   "far less than the times:", ""]
            md += syscalls_table(syscalls) + ["", "Round trips per second and CPU:", ""]
        md += threads_table(threads, thread_runs) + [""]
        svg = plot_threads(threads, thread_runs, out)
        if svg:
            md += [f"![Echo on xpoll with threads: round trips per second and CPU per round trip]({svg})", ""]
    return md


def build_report(rows, echo, out, build, data):
    md = ["## Results", "", "Measured on:", ""]
    where = machine(build, data)
    with open(os.path.join(out, "machine.txt"), "w") as f:
        f.write("\n".join(where) + "\n")
    md += [f"- {m}" for m in where]
    md += ["", "In the plots, a bar is the median of the runs and its whisker goes from the lowest run to the "
           "highest; a grey slot is a configuration that cannot run, with the reason. Every plot names and orders "
           "the configurations the same way: by backend, then raw system calls, xpoll, libevent, libev, libuv.", ""]
    sizes = sorted({r["n"] for r in rows})
    for n in sizes:
        here = [r for r in rows if r["n"] == n]
        r0 = next((r for r in here if r["status"] == "ok"), here[0])
        md += [f"### Pipe ring, N = {n:,}", "",
               f"A = {r0['active']} active, W = {r0['writes']} writes, {r0['reads']} reads per round, "
               f"{r0['rounds']} timed rounds per run, median of {plural(max(r['reps'] for r in rows if r['n'] == n), 'run')}. "
               f"Layout: {r0['layout']} ({r0['descriptors']} descriptors, the highest {r0['maxfd']}). "
               "Setup, dispatch and total are wall-clock medians per round; CPU is the process's user and "
               "system time per round (its mean over the timed rounds), which other load on the machine "
               "disturbs less.", ""]
        md += ring_table(rows, n)
        md.append("")
        svg = plot_ring(rows, n, out)
        if svg:
            md += [f"![Pipe ring, N = {n:,}, {r0['layout']} layout: median time per round, setup hatched]({svg})",
                   ""]
    if echo:
        reps = max(r["reps"] for r in echo)
        md += ["### Echo", "", f"{int(echo[0]['conns']):,} connections; every figure is the median of "
               f"{plural(reps, 'run')} of each server (the latencies are the client's p50 and p99 of each "
               "run).", ""]
        md += echo_table(echo)
        md.append("")
        for svg in plot_echo(echo, out):
            what = "round trips per second" if "rt" in svg else "server memory per connection"
            md += [f"![Echo: {what}]({svg})", ""]
    else:
        md += ["### Echo", "", "Not run (bench/echo/run-echo.sh missing, or its results absent).", ""]
    t = targets(rows)
    if t:
        md += ["### The targets, on these figures", "", "| target | verdict | detail |", "| --- | --- | --- |"]
        md += [f"| {a} | {b} | {c} |" for a, b, c in t]
        md.append("")
    return md


def replace_part(text, begin, end, md, page):
    if begin not in text or end not in text:
        sys.exit(f"{page}: markers {begin} / {end} not found")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    return head + begin + "\n" + "\n".join(md).rstrip() + "\n" + end + tail


def publish(md, accept_md, out, data, page, timeout_md=None):
    """Copies the plots and the raw results beside the page and rewrites the page's results part (md) and
    its accept results part (accept_md); a part whose runs are absent (None) is left as it is."""
    root = os.path.dirname(os.path.abspath(page))
    images = os.path.join(root, "images")
    os.makedirs(images, exist_ok=True)
    for name in os.listdir(out):
        if name.endswith(".svg"):
            shutil.copy(os.path.join(out, name), os.path.join(images, name))
    # The raw results beside the code that draws them, so that the plots can be drawn again without a run.
    stored = os.path.join(os.path.dirname(root), "bench", "results")
    os.makedirs(stored, exist_ok=True)
    for name, src in (("ring-runs.txt", data), ("echo.tsv", data), ("machine.txt", out), ("accept-runs.txt", data),
                      ("echo-threads.tsv", data), ("echo-threads-syscalls.tsv", data), ("accept-meta.txt", data),
                      ("timeout-runs.txt", data), ("timeout-meta.txt", data)):
        path = os.path.join(src, name)
        if name == "machine.txt" and md is None:
            continue  # the machine of the stored ring and echo runs stays theirs
        if os.path.exists(path) and os.path.abspath(path) != os.path.abspath(os.path.join(stored, name)):
            shutil.copy(path, os.path.join(stored, name))
    with open(page) as f:
        text = f.read()
    if md is not None:
        text = replace_part(text, BEGIN, END, md, page)
    if accept_md is not None:
        text = replace_part(text, ACCEPT_BEGIN, ACCEPT_END, accept_md, page)
    if timeout_md is not None:
        text = replace_part(text, TIMEOUT_BEGIN, TIMEOUT_END, timeout_md, page)
    with open(page, "w") as f:
        f.write(text)
    print(f"published into {page}, {images}/ and {stored}/")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--data", default="", help="where the runs are (ring-runs.txt, echo.tsv); default --out")
    ap.add_argument("--build", default="")
    ap.add_argument("--publish", default="")
    a = ap.parse_args()
    data = a.data or a.out
    os.makedirs(a.out, exist_ok=True)
    rows = summarise(read_ring(os.path.join(data, "ring-runs.txt")))
    echo = summarise_echo(read_echo(os.path.join(data, "echo.tsv")))
    with open(os.path.join(a.out, "ring-summary.tsv"), "w") as f:
        keys = ["n", "impl", "backend", "status", "layout", "descriptors", "maxfd", "setup_us", "dispatch_us",
                "total_us", "total_min_us", "total_max_us", "cpu_us", "setup_ratio", "dispatch_ratio", "total_ratio", "cpu_ratio"]
        f.write("\t".join(keys) + "\n")
        for r in rows:
            f.write("\t".join("NA" if r[k] is None else (f"{r[k]:.3f}" if isinstance(r[k], float) else str(r[k]))
                              for k in keys) + "\n")
    md = build_report(rows, echo, a.out, a.build, data) if rows or echo else None
    accept = summarise_accept(read_ring(os.path.join(data, "accept-runs.txt")))
    thread_runs = read_echo(os.path.join(data, "echo-threads.tsv"))
    threads = thread_rows(summarise_echo(thread_runs))
    syscalls = read_echo(os.path.join(data, "echo-threads-syscalls.tsv"))
    accept_md = build_accept_report(accept, threads, thread_runs, syscalls, a.out, data) if accept or threads else None
    if accept:
        with open(os.path.join(a.out, "accept-summary.tsv"), "w") as f:
            keys = ["workers", "mode", "status", "reps", "conns", "wakeups_per_conn", "wakeups_lo", "wakeups_hi",
                    "waits_per_conn", "empty_waits_per_conn", "involuntary_per_conn", "cpu_us_per_conn",
                    "accepts_min", "accepts_max", "accepts_sd", "elapsed_ms"]
            f.write("\t".join(keys) + "\n")
            for r in accept:
                f.write("\t".join("NA" if r[k] is None else (f"{r[k]:.3f}" if isinstance(r[k], float) else str(r[k]))
                                  for k in keys) + "\n")
    timeout = summarise_timeout(read_ring(os.path.join(data, "timeout-runs.txt")))
    timeout_md = build_timeout_report(timeout, a.out, data) if timeout else None
    if timeout:
        with open(os.path.join(a.out, "timeout-summary.tsv"), "w") as f:
            keys = ["impl", "backend", "requested_us", "status", "reps", "samples", "median_us", "median_lo",
                    "median_hi", "p99_us", "early"]
            f.write("\t".join(keys) + "\n")
            for r in timeout:
                f.write("\t".join(f"{r[k]:.1f}" if isinstance(r[k], float) else str(r[k]) for k in keys) + "\n")
    text = [l for part in (md, accept_md, timeout_md) if part for l in part]
    if not text:
        text = ["No runs found in " + data + "."]
    with open(os.path.join(a.out, "results.md"), "w") as f:
        f.write("# Benchmark results\n\n" + "\n".join(text) + "\n")
    print("\n".join(text))
    if a.publish:
        publish(md, accept_md, a.out, data, a.publish, timeout_md)


if __name__ == "__main__":
    main()
