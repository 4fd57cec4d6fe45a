"""XpollSelector against the standard library's selector on the same mechanism: select() and the pipe ring.

Two measures, each run as interleaved passes in one process (xpoll and the standard library alternate, and
which goes first alternates too), reported as the median over passes of each pass's median:

- select(): N socket pairs registered for reading, K of them readable; the time of one select(0).
- the pipe ring of bench/ring (libevent's bench.c): N socket pairs, A bytes put in, each read passes one on to
  the next slot until W = N have been passed; every round first renews all N registrations (unregister and
  register) and then dispatches with select(0) until drained. Setup (the renewal), dispatch and their total.

The ratio is xpoll / stdlib: below 1.0, xpoll is faster. Only ratios from the same run mean anything on a
shared machine (wall-clock moves 20-30 % between runs).

    python3 bench/python/ring.py [--n 1000] [--active 1,100] [--passes 5] [--rounds 15] [--backends epoll,poll]
"""
import argparse
import os
import platform
import selectors
import socket
import statistics
import sys
import time

import xpoll
from xpoll.selectors import XpollSelector

STDLIB = {"epoll": getattr(selectors, "EpollSelector", None), "kqueue": getattr(selectors, "KqueueSelector", None),
          "poll": getattr(selectors, "PollSelector", None), "select": selectors.SelectSelector}
FD_SETSIZE = 1024


def time_select(make, rfd, feed, ready, calls):
    """Median time of one select(0), in microseconds, with `ready` of the descriptors readable."""
    sel = make()
    try:
        for fd in rfd:
            sel.register(fd, selectors.EVENT_READ)
        for fd in feed[:ready]:
            os.write(fd, b"x")
        got = len(sel.select(0))
        assert got == ready, f"{got} ready, expected {ready}"
        for _ in range(calls // 10):
            sel.select(0)
        samples = []
        for _ in range(calls):
            t0 = time.perf_counter_ns()
            sel.select(0)
            samples.append(time.perf_counter_ns() - t0)
        for fd in rfd[:ready]:
            os.read(fd, 16)
        return statistics.median(samples) / 1e3
    finally:
        sel.close()


class Ring:
    """The pipe ring over one selector."""

    def __init__(self, make, rfd, feed, active, writes):
        self.sel, self.rfd, self.feed = make(), rfd, feed
        self.n, self.active, self.writes = len(rfd), active, writes
        self.reads = self.writes_left = 0
        for k, fd in enumerate(rfd):
            self.sel.register(fd, selectors.EVENT_READ, k)

    def dispatch(self):
        rfd, feed, n = self.rfd, self.feed, self.n
        for key, _ in self.sel.select(0):
            k = key.data
            os.read(rfd[k], 1)
            self.reads += 1
            if self.writes_left > 0:
                os.write(feed[k + 1 if k + 1 < n else 0], b"e")
                self.writes_left -= 1

    def round(self):
        """One round: (setup, dispatch) in microseconds."""
        sel, rfd = self.sel, self.rfd
        expected = self.active + self.writes
        space = self.n // self.active
        self.reads = self.writes_left = 0
        t0 = time.perf_counter_ns()
        for k, fd in enumerate(rfd):
            sel.unregister(fd)
            sel.register(fd, selectors.EVENT_READ, k)
        self.dispatch()
        t1 = time.perf_counter_ns()
        assert self.reads == 0, "reads before any byte was written"
        self.writes_left = self.writes
        for i in range(self.active):
            os.write(self.feed[i * space], b"e")
        t2 = time.perf_counter_ns()
        while self.reads < expected:
            self.dispatch()
        t3 = time.perf_counter_ns()
        self.dispatch()
        assert self.reads == expected and self.writes_left == 0, (self.reads, expected, self.writes_left)
        return (t1 - t0) / 1e3, (t3 - t2) / 1e3

    def run(self, warmup, rounds):
        try:
            for _ in range(warmup):
                self.round()
            setup, dispatch = zip(*(self.round() for _ in range(rounds)))
            total = [s + d for s, d in zip(setup, dispatch)]
            return statistics.median(setup), statistics.median(dispatch), statistics.median(total)
        finally:
            self.sel.close()


def interleaved(passes, measure_std, measure_xp):
    """Runs both `passes` times, alternating which goes first; returns the per-pass results of each."""
    std, xp = [], []
    for p in range(passes):
        if p % 2:
            xp.append(measure_xp())
            std.append(measure_std())
        else:
            std.append(measure_std())
            xp.append(measure_xp())
    return std, xp


def med(values, i=None):
    return statistics.median(values if i is None else [v[i] for v in values])


def machine():
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (f"{platform.system()} {platform.release()}, {cpu}, {os.cpu_count()} CPUs; Python "
            f"{platform.python_version()} ({sys.executable}); xpoll {xpoll.version()}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1000, help="socket pairs (select: those below FD_SETSIZE)")
    ap.add_argument("--active", default="1,100", help="readable descriptors / bytes put in the ring")
    ap.add_argument("--passes", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=15, help="ring rounds per pass (after 3 warm-up rounds)")
    ap.add_argument("--calls", type=int, default=2000, help="select() calls per pass")
    ap.add_argument("--backends", default=",".join(b for b in xpoll.backends() if STDLIB.get(b)))
    args = ap.parse_args()
    actives = [int(a) for a in args.active.split(",")]
    pairs = [socket.socketpair() for _ in range(args.n)]
    for a, b in pairs:
        a.setblocking(False)
        b.setblocking(False)
    print(f"# {machine()}")
    print(f"# N={args.n} socket pairs, {args.passes} interleaved passes; select: median of {args.calls} calls per "
          f"pass; ring: W=N, median of {args.rounds} rounds per pass; figures are medians over passes (us)")
    print(f"{'backend':8} {'N':>5} {'A':>4} | {'select std':>10} {'xpoll':>8} {'ratio':>5} | {'renew std':>9} "
          f"{'xpoll':>8} {'ratio':>5} | {'dispatch std':>12} {'xpoll':>8} {'ratio':>5} | {'round std':>9} "
          f"{'xpoll':>8} {'ratio':>5}")
    for backend in args.backends.split(","):
        std = STDLIB.get(backend)
        if std is None:
            print(f"{backend:8} (no standard library selector for it here)")
            continue
        use = pairs
        if backend == "select":
            # The standard library's select cannot watch a descriptor at or above FD_SETSIZE.
            use = [p for p in pairs if max(p[0].fileno(), p[1].fileno()) < FD_SETSIZE]
        rfd = [a.fileno() for a, _ in use]
        feed = [b.fileno() for _, b in use]
        for active in actives:
            if active > len(rfd):
                continue
            s_sel, x_sel = interleaved(args.passes, lambda: time_select(std, rfd, feed, active, args.calls),
                                       lambda: time_select(lambda: XpollSelector(backend), rfd, feed, active,
                                                           args.calls))
            s_ring, x_ring = interleaved(args.passes,
                                         lambda: Ring(std, rfd, feed, active, len(rfd)).run(3, args.rounds),
                                         lambda: Ring(lambda: XpollSelector(backend), rfd, feed, active,
                                                      len(rfd)).run(3, args.rounds))
            row = [med(s_sel), med(x_sel)]
            for i in range(3):
                row += [med(s_ring, i), med(x_ring, i)]
            cells = []
            for j in range(0, 8, 2):
                width = (10, 9, 12, 9)[j // 2]
                cells.append(f"{row[j]:>{width}.1f} {row[j + 1]:>8.1f} {row[j + 1] / row[j]:>5.2f}")
            print(f"{backend:8} {len(rfd):>5} {active:>4} | " + " | ".join(cells), flush=True)
    for a, b in pairs:
        a.close()
        b.close()


if __name__ == "__main__":
    main()
