#!/usr/bin/env python3
"""Drives examples/preforker.c on loopback.

  preforker_test.py PREFORKER BACKEND [MODE]

MODE is one of exclusive, lock, reuseport, plain (the preforker's -m); without
it the preforker chooses, and it must choose exclusive on epoll and lock on
the other backends. A mode the preforker says is not available here (exit 3
before it listens) is a visible skip (77), except exclusive on epoll and
reuseport on Linux, which must be available.

Three workers with a budget of 40 requests each. Checks every reply of many
parallel clients, then of clients one after another (so that the budget makes
workers retire and be replaced: more than one worker must answer), reports how
connections held at once are spread over the workers, kills a worker with
SIGKILL and checks that it is replaced and that service goes on, and stops the
parent with SIGINT: it must exit 0 within a bounded time and leave no worker
behind, and every worker but the killed one must have said what it accepted
(its empty accepts, the herd seen from user space, are reported).
XPOLL_EXAMPLE_WRAPPER prefixes the command.
"""
import collections
import os
import re
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from support import SKIP, Child, Failure, main, wrapper  # noqa: E402

WORKERS, BUDGET = 3, 40
MODES = ("exclusive", "lock", "reuseport", "plain")
UNAVAILABLE = 3  # the preforker's exit status for a mode it cannot use here
EVENT = re.compile(r"^worker (\d+) (started|exited|stopped|killed)")
DONE = re.compile(r"^worker (\d+) done: (\d+) accepted, (\d+) empty accepts$")
REPLY = re.compile(r"^worker (\d+): (.*)$")
NL = b"\n"
CONNECTIONS = 30 + 30 + 3 * WORKERS + 10  # every connection the test makes


class Pool:
    """What the parent has said about its workers."""

    def __init__(self, parent):
        self.parent = parent
        self.started = []  # in order
        self.gone = {}  # pid -> the parent's line
        self.done = {}  # pid -> (accepted, empty accepts), as the worker said at its end

    def take(self, line):
        d = DONE.match(line)
        if d:
            self.done[int(d.group(1))] = (int(d.group(2)), int(d.group(3)))
            return None
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


def hold(port, count):
    """Opens `count` connections, one line on each, and holds them all until every
    one has its reply; the pid that answered each."""
    socks, pids = [], []
    try:
        for i in range(count):
            socks.append(socket.create_connection(("127.0.0.1", port), timeout=30))
        for i, s in enumerate(socks):
            s.sendall(f"held {i}\n".encode())
        for i, s in enumerate(socks):
            data = b""
            while not data.endswith(NL):
                chunk = s.recv(4096)
                if not chunk:
                    raise Failure(f"held connection {i}: closed before its reply")
                data += chunk
            m = REPLY.match(data.decode().rstrip("\n"))
            if not m or m.group(2) != f"held {i}":
                raise Failure(f"held connection {i}: reply {data!r}")
            pids.append(int(m.group(1)))
    finally:
        for s in socks:
            s.close()
    return pids


def expected_mode(backend, mode):
    if mode:
        return mode
    return "exclusive" if backend == "epoll" else "lock"


def run():
    binary, backend = sys.argv[1:3]
    mode = sys.argv[3] if len(sys.argv) > 3 else None
    if mode is not None and mode not in MODES:
        raise Failure(f"unknown mode {mode!r}")
    argv = [binary, "-w", str(WORKERS), "-n", str(BUDGET), "-b", backend, "-p", "0"] + (["-m", mode] if mode else [])
    parent = Child("preforker", wrapper() + argv)
    pool = Pool(parent)
    try:
        try:
            port = int(parent.expect(lambda l: re.match(r"^port (\d+)$", l), 60, "the port").group(1))
        except Failure:
            status = parent.wait(10)  # the output ended: so does the process
            if status != UNAVAILABLE or not mode:
                raise
            must = (mode == "exclusive" and backend == "epoll") or (mode == "reuseport" and sys.platform == "linux")
            if must:
                raise Failure(f"the preforker says -m {mode} is not available with {backend} here") from None
            print(f"SKIP: -m {mode} is not available with {backend} here (exit {status}, nothing listened)",
                  flush=True)
            return SKIP
        want = expected_mode(backend, mode)
        got = parent.expect(lambda l: re.match(r"^mode (\w+)$", l), 10, "the mode").group(1)
        if got != want:
            raise Failure(f"the preforker runs in mode {got}, expected {want}")
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

        def settle():
            """Until the parent is quiet with a full pool. Then no worker is
            retiring (a retired worker without clients exits at once).
            Replacements may be held back by the restart bound: wait for both."""
            deadline = time.monotonic() + 20
            while True:
                pool.until(lambda: len(pool.alive()) >= WORKERS, 10, f"{WORKERS} workers alive")
                parent.quiet(0.5, 10, pool.take)
                if len(pool.alive()) >= WORKERS:
                    return
                if time.monotonic() > deadline:
                    raise Failure(f"the pool never settled with {WORKERS} workers")

        # Connections held at once, with every worker listening: how the mode
        # spreads them is reported, not required (exclusive wake-up, for one,
        # tends to wake the same idle worker each time).
        settle()
        held = hold(port, 3 * WORKERS)
        spread = sorted(collections.Counter(held).values(), reverse=True)
        check_pids([(None, p, 1) for p in held], "held at once")
        print(f"{len(held)} connections held at once: answered by {len(spread)} worker(s), {spread}", flush=True)

        # Kill one worker: it must be replaced, and service go on. In a
        # settled pool the victim cannot exit on its own first.
        settle()
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
        silent = [p for p in pool.started if p != victim and p not in pool.done]
        if silent:
            raise Failure(f"workers {silent} ended without saying what they accepted")
        accepted = sum(a for a, _ in pool.done.values())
        empty = sum(e for _, e in pool.done.values())
        if accepted > CONNECTIONS:
            raise Failure(f"the workers say they accepted {accepted} connections, {CONNECTIONS} were made")
        print(f"mode {want}: the workers that said accepted {accepted} of {CONNECTIONS} connections, "
              f"{empty} empty accept(s): woken for a connection another worker took", flush=True)
        print(f"PASS: {backend}, mode {want}: {len(pool.started)} workers in all, parent stopped in "
              f"{time.monotonic() - t0:.2f} s with status 0, no worker left", flush=True)
        return 0
    finally:
        parent.stop()
        for pid in pool.started:  # only ours: each by its pid, if it still runs this program
            if proc_is(pid, binary):
                os.kill(pid, signal.SIGKILL)


if __name__ == "__main__":
    sys.exit(main(run))
