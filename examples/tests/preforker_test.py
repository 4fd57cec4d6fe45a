#!/usr/bin/env python3
"""Drives examples/preforker.c on loopback.

  preforker_test.py PREFORKER BACKEND

Three workers with a budget of 40 requests each. Checks every reply of many
parallel clients, then of clients one after another (so that the budget makes
workers retire and be replaced: more than one worker must answer), kills a
worker with SIGKILL and checks that it is replaced and that service goes on,
and stops the parent with SIGINT: it must exit 0 within a bounded time and
leave no worker behind. XPOLL_EXAMPLE_WRAPPER prefixes the command.
"""
import os
import re
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from support import Child, Failure, main, wrapper  # noqa: E402

WORKERS, BUDGET = 3, 40
EVENT = re.compile(r"^worker (\d+) (started|exited|stopped|killed)")
REPLY = re.compile(r"^worker (\d+): (.*)$")
NL = b"\n"


class Pool:
    """What the parent has said about its workers."""

    def __init__(self, parent):
        self.parent = parent
        self.started = []  # in order
        self.gone = {}  # pid -> the parent's line

    def take(self, line):
        m = EVENT.match(line)
        if m:
            pid = int(m.group(1))
            if m.group(2) == "started":
                self.started.append(pid)
            else:
                self.gone[pid] = line
        return m

    def until(self, condition, timeout, what):
        if condition():
            return
        self.parent.expect(lambda l: self.take(l) and condition(), timeout, what)

    def alive(self):
        return [p for p in self.started if p not in self.gone]


def client(port, name, lines, results, errors):
    """One connection: sends `lines` lines at once, checks each reply."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            sent = [f"hello {name} {i}" for i in range(lines)]
            s.sendall("".join(x + "\n" for x in sent).encode())
            data = b""
            while data.count(b"\n") < lines:
                chunk = s.recv(65536)
                if not chunk:
                    raise Failure(f"client {name}: closed after {data.count(NL)} of {lines} replies")
                data += chunk
            got = data.decode().split("\n")
            if got[-1] != "" or len(got) != lines + 1:
                raise Failure(f"client {name}: {len(got) - 1} replies (or extra bytes) for {lines} lines")
            pids = set()
            for want, line in zip(sent, got):
                m = REPLY.match(line)
                if not m or m.group(2) != want:
                    raise Failure(f"client {name}: reply {line!r} to {want!r}")
                pids.add(int(m.group(1)))
            if len(pids) != 1:
                raise Failure(f"client {name}: one connection answered by several workers {pids}")
            results.append((name, pids.pop(), lines))
    except (OSError, Failure) as e:
        errors.append(f"{name}: {e}")


def serve(port, prefix, clients, lines, parallel):
    """Runs the clients (all at once or one by one); the (name, pid, lines) they saw."""
    results, errors = [], []
    if parallel:
        threads = [threading.Thread(target=client, args=(port, f"{prefix}{c}", lines, results, errors))
                   for c in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        if any(t.is_alive() for t in threads):
            raise Failure(f"{prefix}: clients still running after 60 s")
    else:
        for c in range(clients):
            client(port, f"{prefix}{c}", lines, results, errors)
    if errors:
        raise Failure(f"{len(errors)} client(s) failed, first: {errors[0]}")
    if len(results) != clients:
        raise Failure(f"{prefix}: {len(results)} of {clients} clients finished")
    return results


def proc_is(pid, binary):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return os.path.basename(binary).encode() in f.read()
    except OSError:
        return False


def run():
    binary, backend = sys.argv[1:3]
    parent = Child("preforker", wrapper() + [binary, "-w", str(WORKERS), "-n", str(BUDGET), "-b", backend, "-p", "0"])
    pool = Pool(parent)
    try:
        port = int(parent.expect(lambda l: re.match(r"^port (\d+)$", l), 60, "the port").group(1))
        pool.until(lambda: len(pool.started) >= WORKERS, 30, f"{WORKERS} workers started")

        def check_pids(results, what):
            pids = {pid for _, pid, _ in results}
            pool.until(lambda: pids <= set(pool.started), 10, f"'started' for every pid that answered {what}")
            return pids

        # Many clients at once. Whether the kernel spreads them over the
        # workers is its choice: reported, not required.
        t0 = time.monotonic()
        pids = check_pids(serve(port, "p", 30, 20, True), "in parallel")
        print(f"30 parallel clients x 20 lines: all replies right, {len(pids)} worker(s) answered, "
              f"{time.monotonic() - t0:.2f} s", flush=True)

        # One client after another: a worker retires after BUDGET requests
        # (plus the rest of the connection it is serving), so more than one
        # must answer these 300, and retired workers must be replaced.
        t0 = time.monotonic()
        results = serve(port, "s", 30, 10, False)
        seq_pids = check_pids(results, "one by one")
        if len(seq_pids) < 2:
            raise Failure(f"one worker answered {30 * 10} requests despite a budget of {BUDGET}")
        pool.until(lambda: any("(status 0)" in l for l in pool.gone.values()), 10, "a retired worker")
        print(f"30 sequential clients x 10 lines: {len(seq_pids)} workers answered, "
              f"{len(pool.gone)} retired so far, {time.monotonic() - t0:.2f} s", flush=True)

        # Kill one worker: it must be replaced, and service go on. Once the
        # parent is quiet with a full pool, no worker is retiring (a retired
        # worker without clients exits at once), so the victim cannot exit
        # on its own first.
        # Replacements may be held back by the restart bound: wait for both.
        deadline = time.monotonic() + 20
        while True:
            pool.until(lambda: len(pool.alive()) >= WORKERS, 10, f"{WORKERS} workers alive")
            parent.quiet(0.5, 10, pool.take)
            if len(pool.alive()) >= WORKERS:
                break
            if time.monotonic() > deadline:
                raise Failure(f"the pool never settled with {WORKERS} workers")
        victim = pool.alive()[-1]
        count = len(pool.started)
        os.kill(victim, signal.SIGKILL)
        pool.until(lambda: victim in pool.gone and len(pool.started) > count, 10,
                   f"worker {victim} replaced after SIGKILL")
        if "(signal 9)" not in pool.gone[victim]:
            raise Failure(f"the parent reported {pool.gone[victim]!r} for the killed worker")
        check_pids(serve(port, "k", 10, 5, True), "after the kill")
        print(f"killed worker {victim}; replaced by {pool.started[count:]}; service goes on", flush=True)

        # SIGINT: exit 0 within the bound, every worker stopped.
        t0 = time.monotonic()
        parent.signal(signal.SIGINT)
        status = parent.wait(15)
        parent.expect(lambda l: (pool.take(l), l == "stopped")[1], 10, "'stopped'")  # the last line
        if status != 0:
            raise Failure(f"the parent exited with {status} after SIGINT")
        left = [p for p in pool.started if os.path.exists(f"/proc/{p}")]
        if left:
            raise Failure(f"workers {left} still exist after the parent stopped")
        unreported = [p for p in pool.started if p not in pool.gone]
        if unreported:
            raise Failure(f"the parent did not report the end of workers {unreported}")
        print(f"PASS: {backend}: {len(pool.started)} workers in all, parent stopped in "
              f"{time.monotonic() - t0:.2f} s with status 0, no worker left", flush=True)
        return 0
    finally:
        parent.stop()
        for pid in pool.started:  # only ours: each by its pid, if it still runs this program
            if proc_is(pid, binary):
                os.kill(pid, signal.SIGKILL)


if __name__ == "__main__":
    sys.exit(main(run))
