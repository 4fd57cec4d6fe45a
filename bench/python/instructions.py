"""User-space instructions per select(0) and per renewal, XpollSelector against the standard library's selector.

The figure that does not move between runs on a shared machine: cachegrind counts the instructions of a run
with a short and a long loop of the operation, and the difference divided by the extra iterations is the
cost of one (start-up cancels out). Kernel time is not counted: both sides make the same system calls for
select(), and `strace -c` shows those of a renewal.

    python3 bench/python/instructions.py [--backends epoll,poll,select]     # needs valgrind
"""
import argparse
import os
import re
import selectors
import socket
import subprocess
import sys

STDLIB = {"epoll": getattr(selectors, "EpollSelector", None), "poll": getattr(selectors, "PollSelector", None),
          "select": selectors.SelectSelector}
SHORT, LONG = 100, 1100


def worker(impl, backend, op, active, count):
    from xpoll.selectors import XpollSelector
    pairs = [socket.socketpair() for _ in range(500 if backend == "select" else 1000)]
    sel = STDLIB[backend]() if impl == "stdlib" else XpollSelector(backend)
    rfd = [a.fileno() for a, _ in pairs]
    for fd in rfd:
        sel.register(fd, selectors.EVENT_READ)
    for _, b in pairs[:active]:
        b.send(b"x")
    if op == "select":
        for _ in range(count):
            sel.select(0)
    else:
        for i in range(count):
            fd = rfd[i % len(rfd)]
            sel.unregister(fd)
            sel.register(fd, selectors.EVENT_READ)


def instructions(*args):
    out = subprocess.run(["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
                          sys.executable, __file__, "--worker", *map(str, args)], capture_output=True, text=True,
                         check=True).stderr
    return int(re.search(r"I\s+refs:\s+([\d,]+)", out).group(1).replace(",", ""))


def per_op(impl, backend, op, active):
    return (instructions(impl, backend, op, active, LONG) - instructions(impl, backend, op, active, SHORT)) / \
        (LONG - SHORT)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        impl, backend, op, active, count = sys.argv[2:]
        return worker(impl, backend, op, int(active), int(count))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--backends", default="epoll,poll,select")
    args = ap.parse_args()
    print(f"# user-space instructions per operation (cachegrind), Python {sys.version.split()[0]}, "
          f"{os.uname().sysname} {os.uname().release}")
    print(f"{'backend':8} {'operation':18} {'stdlib':>8} {'xpoll':>8} {'ratio':>6}")
    for backend in args.backends.split(","):
        for op, active in (("select", 1), ("select", 100), ("renew", 0)):
            s, x = per_op("stdlib", backend, op, active), per_op("xpoll", backend, op, active)
            what = f"select(0), {active} ready" if op == "select" else "unregister+register"
            print(f"{backend:8} {what:18} {s:>8.0f} {x:>8.0f} {x / s:>6.2f}", flush=True)


if __name__ == "__main__":
    main()
