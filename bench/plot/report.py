"""Turns the benchmark runs into tables, plots and the Markdown report (bench/run.sh calls it).

    python3 bench/plot/report.py --out DIR [--build DIR] [--publish docs/benchmarks.md]

Reads DIR/ring-runs.txt (one key=value line per ring run, as the ring programs print them, with
rep=K in front) and DIR/echo.tsv when present. Writes DIR/ring-summary.tsv, DIR/results.md and,
with gnuplot, DIR/ring-n<N>.svg, DIR/echo-rt.svg and DIR/echo-rss.svg; prints the tables. Every
figure is also shown as a ratio to raw epoll on the same run. With --publish, copies the SVGs into
docs/images/ and rewrites the part of the page between its results markers with results.md.
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
IMPL_ORDER = ["raw", "xpoll", "libevent", "libev", "libuv"]
TARGET_SIZES = (1000, 10000)
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"


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


def summarise(runs):
    """One row per (n, impl, backend): the median over repetitions of each run's medians."""
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
        cpu = [float(r["cpu_user_us"]) + float(r["cpu_sys_us"]) for r in ok if "cpu_user_us" in r]
        row["cpu_us"] = statistics.median(cpu) if cpu else None
        rows.append(row)
    rows.sort(key=lambda r: (r["n"], BACKEND_ORDER.index(r["backend"]) if r["backend"] in BACKEND_ORDER else 99,
                             IMPL_ORDER.index(r["impl"]) if r["impl"] in IMPL_ORDER else 99))
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
        name = f"{r['impl']} {r['backend']}"
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


def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def echo_table(rows):
    base = next((r for r in rows if r["server"] == "raw-epoll"), None)

    def rel(r, k):
        a, b = num(r.get(k)), num(base.get(k)) if base else None
        return ratio(a / b) if a is not None and b else "-"

    out = ["| server | round trips/s | p50 µs | p99 µs | CPU µs per round trip | peak RSS KiB | RSS KiB per conn | "
           "rt/s ÷ raw epoll | CPU per rt ÷ raw epoll | RSS per conn ÷ raw epoll |",
           "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        if num(r.get("rt_per_s")) is None:
            out.append(f"| {r['server']} | FAIL | | | | | | | | |")
            continue
        out.append(f"| {r['server']} | {num(r['rt_per_s']):,.0f} | {r['p50_us']} | {r['p99_us']} | "
                   f"{r['cpu_us_per_rt']} | {r['peak_rss_kib']} | {r['rss_per_conn_kib']} | {rel(r, 'rt_per_s')} | "
                   f"{rel(r, 'cpu_us_per_rt')} | {rel(r, 'rss_per_conn_kib')} |")
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


def machine(build):
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
    return [f"CPU: {cpu}, {os.cpu_count()} logical CPUs", f"OS: {osname}, kernel {platform.release()}",
            f"compiler: {compiler[0] if compiler else '?'}, CMake Release (-O3)",
            f"libevent {sh(['pkg-config', '--modversion', 'libevent']) or '?'}, libev {libev}, "
            f"libuv {sh(['pkg-config', '--modversion', 'libuv']) or '?'}"]


def gnuplot(script, cwd):
    if not shutil.which("gnuplot"):
        return False
    p = subprocess.run(["gnuplot"], input=script, text=True, cwd=cwd, capture_output=True)
    if p.returncode != 0:
        print(f"gnuplot failed: {p.stderr.strip()}", file=sys.stderr)
    return p.returncode == 0


SVG_HEAD = """set terminal svg size 960,440 dynamic font 'sans,11' background rgb 'white'
set termoption noenhanced
set style fill solid 0.85 border -1
set boxwidth 0.7
set grid ytics
set key above horizontal
set xtics nomirror
set bmargin 4
"""


def plot_ring(rows, n, out):
    ok = [r for r in rows if r["n"] == n and r["status"] == "ok"]
    if not ok:
        return None
    with open(os.path.join(out, f"ring-n{n}.dat"), "w") as f:
        f.write("# implementation backend setup_us dispatch_us\n")
        for r in ok:
            f.write(f"{r['impl']} {r['backend']} {r['setup_us']:.1f} {r['dispatch_us']:.1f}\n")
    r0 = ok[0]
    svg = f"ring-n{n}.svg"
    script = SVG_HEAD + f"""set output '{svg}'
set title 'Pipe ring, N = {n}, A = {r0['active']}, W = {r0['writes']}, {r0['layout']} layout: median time per round'
set ylabel 'microseconds per round'
set yrange [0:*]
set style data histograms
set style histogram rowstacked
plot 'ring-n{n}.dat' using 3:xtic(sprintf("%s\\n%s", strcol(1), strcol(2))) title 'setup (renewal)' lc rgb '#e69f00', \\
     '' using 4 title 'dispatch' lc rgb '#0072b2'
"""
    return svg if gnuplot(script, out) else None


def plot_echo(rows, out):
    ok = [r for r in rows if num(r.get("rt_per_s")) is not None]
    if not ok:
        return []
    with open(os.path.join(out, "echo.dat"), "w") as f:
        f.write("# server (split at its first dash) rt_per_s rss_per_conn_kib\n")
        for r in ok:
            impl, _, backend = r["server"].partition("-")
            f.write(f"{impl} {backend or '.'} {r['rt_per_s']} {r['rss_per_conn_kib']}\n")
    c = ok[0]["conns"]
    made = []
    for svg, col, title, ylabel in (("echo-rt.svg", 3, f"Echo, {c} connections: round trips per second", "round trips/s"),
                                    ("echo-rss.svg", 4, f"Echo, {c} connections: server RSS per connection", "KiB")):
        script = SVG_HEAD + f"""set output '{svg}'
set title '{title}'
set ylabel '{ylabel}'
set yrange [0:*]
set style data boxes
set boxwidth 0.6
set xrange [-0.6:*]
set key off
plot 'echo.dat' using 0:{col}:xtic(strcol(2) eq "." ? strcol(1) : sprintf("%s\\n%s", strcol(1), strcol(2))) lc rgb '#0072b2'
"""
        if gnuplot(script, out):
            made.append(svg)
    return made


def build_report(rows, echo, out, build):
    md = ["## Results", "", "Measured on:", ""]
    md += [f"- {m}" for m in machine(build)]
    md.append("")
    sizes = sorted({r["n"] for r in rows})
    for n in sizes:
        here = [r for r in rows if r["n"] == n]
        r0 = next((r for r in here if r["status"] == "ok"), here[0])
        md += [f"### Pipe ring, N = {n:,}", "",
               f"A = {r0['active']} active, W = {r0['writes']} writes, {r0['reads']} reads per round, "
               f"{r0['rounds']} timed rounds per run, median of {max(r['reps'] for r in rows if r['n'] == n)} runs. "
               f"Layout: {r0['layout']} ({r0['descriptors']} descriptors, the highest {r0['maxfd']}). "
               "Setup, dispatch and total are wall-clock medians per round; CPU is the process's user and "
               "system time per round (its mean over the timed rounds), which other load on the machine "
               "disturbs less.", ""]
        md += ring_table(rows, n)
        md.append("")
        svg = plot_ring(rows, n, out)
        if svg:
            md += [f"![Pipe ring, N = {n:,}: median setup and dispatch time per round]({svg})", ""]
    if echo:
        md += ["### Echo", ""]
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


def publish(md, out, page):
    root = os.path.dirname(os.path.abspath(page))
    images = os.path.join(root, "images")
    os.makedirs(images, exist_ok=True)
    for name in os.listdir(out):
        if name.endswith(".svg"):
            shutil.copy(os.path.join(out, name), os.path.join(images, name))
    with open(page) as f:
        text = f.read()
    if BEGIN not in text or END not in text:
        sys.exit(f"{page}: markers {BEGIN} / {END} not found")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    with open(page, "w") as f:
        f.write(head + BEGIN + "\n" + "\n".join(md).rstrip() + "\n" + END + tail)
    print(f"published into {page} and {images}/")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--build", default="")
    ap.add_argument("--publish", default="")
    a = ap.parse_args()
    rows = summarise(read_ring(os.path.join(a.out, "ring-runs.txt")))
    echo = read_echo(os.path.join(a.out, "echo.tsv"))
    with open(os.path.join(a.out, "ring-summary.tsv"), "w") as f:
        keys = ["n", "impl", "backend", "status", "layout", "descriptors", "maxfd", "setup_us", "dispatch_us",
                "total_us", "cpu_us", "setup_ratio", "dispatch_ratio", "total_ratio", "cpu_ratio"]
        f.write("\t".join(keys) + "\n")
        for r in rows:
            f.write("\t".join("NA" if r[k] is None else (f"{r[k]:.3f}" if isinstance(r[k], float) else str(r[k]))
                              for k in keys) + "\n")
    md = build_report(rows, echo, a.out, a.build)
    with open(os.path.join(a.out, "results.md"), "w") as f:
        f.write("# Benchmark results\n\n" + "\n".join(md) + "\n")
    print("\n".join(md))
    if a.publish:
        publish(md, a.out, a.publish)


if __name__ == "__main__":
    main()
