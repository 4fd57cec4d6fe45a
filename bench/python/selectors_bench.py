"""XpollSelector against the standard library's selector on the same mechanism, on the same loop.

For each backend: N socket pairs registered for reading, K of them ready; the figure is the median
time of one select() (microseconds) over many calls after a warm-up, and the time to register and
unregister one descriptor. Prints a table with the ratio xpoll / stdlib (below 1.0: xpoll is faster).

    XPOLL_LIBRARY=build/default/libxpoll.so.1 python3 bench/python/selectors_bench.py [--n 1000] [--rounds 2000]
"""
import argparse
import selectors
import socket
import statistics
import sys
import time

import xpoll
from xpoll.selectors import XpollSelector

STDLIB = {"epoll": getattr(selectors, "EpollSelector", None), "kqueue": getattr(selectors, "KqueueSelector", None),
          "poll": getattr(selectors, "PollSelector", None), "select": selectors.SelectSelector}


def time_select(sel, rounds):
    for _ in range(rounds // 10):
        sel.select(0)
    samples = []
    for _ in range(rounds):
        t0 = time.perf_counter_ns()
        sel.select(0)
        samples.append(time.perf_counter_ns() - t0)
    return statistics.median(samples) / 1e3


def time_churn(sel, socks, rounds):
    samples = []
    for i in range(rounds):
        s = socks[i % len(socks)]
        t0 = time.perf_counter_ns()
        sel.unregister(s)
        sel.register(s, selectors.EVENT_READ)
        samples.append(time.perf_counter_ns() - t0)
    return statistics.median(samples) / 1e3


def measure(make, pairs, ready, rounds):
    sel = make()
    try:
        for a, _ in pairs:
            sel.register(a, selectors.EVENT_READ)
        for _, b in pairs[:ready]:
            b.send(b"x")
        got = len(sel.select(0))
        assert got == ready, f"{got} ready, expected {ready}"
        t = time_select(sel, rounds)
        churn = time_churn(sel, [a for a, _ in pairs], rounds)
        for a, _ in pairs[:ready]:
            a.recv(16)
        return t, churn
    finally:
        sel.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1000, help="registered descriptors (select: at most 1000)")
    ap.add_argument("--rounds", type=int, default=2000)
    args = ap.parse_args()
    pairs = [socket.socketpair() for _ in range(args.n)]
    print(f"python {sys.version.split()[0]}, xpoll {xpoll.version()}, N={args.n} registered, median of {args.rounds}")
    print(f"{'backend':8} {'N':>5} {'ready':>6} {'stdlib us':>10} {'xpoll us':>10} {'ratio':>6}   "
          f"{'stdlib churn us':>15} {'xpoll churn us':>14} {'ratio':>6}")
    for backend in xpoll.backends():
        std = STDLIB.get(backend)
        if std is None:
            print(f"{backend:8} (no standard library selector for it here)")
            continue
        # The standard library's select cannot watch descriptors at or above FD_SETSIZE (1024).
        use = [p for p in pairs if max(p[0].fileno(), p[1].fileno()) < 1000] if backend == "select" else pairs
        for ready in (1, len(use)):
            # Interleaved, best of three medians each: this machine's noise is larger than the effect.
            s_runs, x_runs = [], []
            for _ in range(3):
                s_runs.append(measure(std, use, ready, args.rounds))
                x_runs.append(measure(lambda: XpollSelector(backend), use, ready, args.rounds))
            s_t, s_c = min(r[0] for r in s_runs), min(r[1] for r in s_runs)
            x_t, x_c = min(r[0] for r in x_runs), min(r[1] for r in x_runs)
            print(f"{backend:8} {len(use):>5} {ready:>6} {s_t:>10.1f} {x_t:>10.1f} {x_t / s_t:>6.2f}   "
                  f"{s_c:>15.2f} {x_c:>14.2f} {x_c / s_c:>6.2f}")
    for a, b in pairs:
        a.close()
        b.close()


if __name__ == "__main__":
    main()
