#!/usr/bin/env python3
"""Drives examples/threaded_echo.c with tests/echo_client.c on loopback.

  threaded_echo_test.py SERVER CLIENT BACKEND

The server runs 4 threads on one XPOLL_SHARED poller (more waiters than this
machine's cores, so that the threads meet). The client opens 1,000
connections (XPOLL_EXAMPLE_CONNS lowers it; fewer where the server can hold
fewer), four of them slow readers with 16 MiB each, checks every byte of
every reply and holds them all. This script checks that the server reports
holding them and some short writes (the slow readers' replies wait, armed for
OUT), that they go when the client closes them, and that SIGINT stops the
server with status 0 within 10 s, every thread having ended and joined: each
thread says how many events it handled, and with thousands of oneshot
events at least two threads must have had some. A connection served by two
threads at once would show as wrong bytes at the client.
XPOLL_EXAMPLE_WRAPPER prefixes the server.
"""
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from support import SKIP, Child, Failure, main, wrapper  # noqa: E402
from support import ECHO_REPORT, echo_report as report, wait_echo_report as wait_report  # noqa: E402

THREADS = 4
THREAD = re.compile(r"^thread (\d+): (\d+) events$")


def run():
    server_bin, client_bin, backend = sys.argv[1:4]
    if backend == "kqueue" and sys.platform.startswith("linux"):
        # docs/backends.md, "kqueue on Linux": under libkqueue this server lost the hang-ups of some oneshot
        # registrations under churn (about one run in four under AddressSanitizer); not explained yet.
        print("SKIP: kqueue on Linux is libkqueue's emulation, where several threads on one poller with churning "
              "oneshot registrations lose hang-ups (docs/backends.md)")
        return SKIP
    conns = min(1000, int(os.environ.get("XPOLL_EXAMPLE_CONNS", "1000")))
    procs = []
    try:
        server = Child("server", wrapper() + [server_bin, "-t", str(THREADS), "-b", backend, "-p", "0"])
        procs.append(server)
        port = int(server.expect(lambda l: re.match(r"^port (\d+)$", l), 60, "the port").group(1))
        m = server.expect(lambda l: re.match(r"^threads (\d+), backend (\w+); can hold about (-?\d+) connections", l),
                          10, "the threads and the capacity")
        if int(m.group(1)) != THREADS or m.group(2) != backend:
            raise Failure(f"the server runs {m.group(1)} threads on {m.group(2)}, asked {THREADS} on {backend}")
        hold = int(m.group(3))
        if hold < 100:
            print(f"SKIP: the server can hold only {hold} connections here")
            return SKIP
        conns = min(conns, hold - 16)

        started = time.monotonic()
        client = Child("client", [client_bin, "-B", "4", "-s", str(16 << 20), "-n", str(conns), "-t", "60", str(port)],
                       stdin=subprocess.PIPE)
        procs.append(client)
        m = client.expect(lambda l: re.match(r"^holding (\d+) refused (\d+)", l), 90, "'holding'")
        held, refused = int(m.group(1)), int(m.group(2))
        if held != conns or refused != 0:
            raise Failure(f"held {held} and refused {refused} of {conns}")
        print(f"client: {held} connections echoed byte for byte and held, {time.monotonic() - started:.2f} s",
              flush=True)

        r = wait_report(server, held, 10)
        if r["current"] != held or r["peak"] != held or r["accepted"] != held:
            raise Failure(f"the server reports {r} while the client holds {held}")
        if not wrapper() and r["short"] == 0:
            raise Failure("no short write: the slow readers did not exercise the replies armed for OUT")
        print(f"server holds {r['current']} (short writes {r['short']})", flush=True)

        client.proc.stdin.write("close\n")
        client.proc.stdin.flush()
        client.expect(lambda l: l.startswith("closed "), 60, "'closed'")
        if client.wait(30) != 0:
            raise Failure(f"client exited with {client.proc.returncode}")
        r = wait_report(server, 0, 30)
        if r["current"] != 0:
            raise Failure(f"the server still holds {r['current']} after the client closed everything")

        t0 = time.monotonic()
        server.signal(signal.SIGINT)
        events = {}

        def take(line):
            t = THREAD.match(line)
            if t:
                events[int(t.group(1))] = int(t.group(2))
                return None
            return ECHO_REPORT.match(line) if line.startswith("exit") else None

        final = server.expect(take, 10, "'exit:' after every thread's count")
        status = server.wait(10)
        if status != 0:
            raise Failure(f"server exited with {status} after SIGINT")
        if sorted(events) != list(range(THREADS)):
            raise Failure(f"the server reported the events of threads {sorted(events)}, not of all {THREADS}")
        busy = [i for i, e in events.items() if e > 0]
        if len(busy) < 2:
            raise Failure(f"only threads {busy} handled events: {events}")
        if int(final.group(3)) != held:
            raise Failure(f"the server's peak {final.group(3)} is not the {held} held")
        print(f"PASS: {backend}: {held} connections over {THREADS} threads, events per thread "
              f"{[events[i] for i in range(THREADS)]}, stopped in {time.monotonic() - t0:.2f} s with status 0",
              flush=True)
        return 0
    finally:
        for p in procs:
            p.stop()


if __name__ == "__main__":
    sys.exit(main(run))
