#!/usr/bin/env python3
"""Drives examples/echo_server.c with tests/echo_client.c on loopback.

  echo_test.py SERVER CLIENT BACKEND          hold XPOLL_EXAMPLE_CONNS (10000) connections at once
  echo_test.py --emfile SERVER CLIENT BACKEND the server at a 64-descriptor limit: it holds what it
                                              can and refuses the rest, and says so

The client checks every byte of every reply and holds all its connections;
this script checks that the server reports holding them, that they go when
the client closes them, and that SIGINT stops the server with status 0.
XPOLL_EXAMPLE_WRAPPER (e.g. "valgrind --error-exitcode=1") prefixes the server.
"""
import os
import re
import resource
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from support import SKIP, Child, Failure, main, wrapper  # noqa: E402
from support import echo_report as report, wait_echo_report as wait_report  # noqa: E402


def run():
    args = sys.argv[1:]
    emfile = args[:1] == ["--emfile"]
    if emfile:
        args = args[1:]
    server_bin, client_bin, backend = args
    conns = 100 if emfile else int(os.environ.get("XPOLL_EXAMPLE_CONNS", "10000"))
    limit = 64

    def low_limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

    procs = []
    try:
        server = Child("server", wrapper() + [server_bin, "-b", backend, "-p", "0"],
                       preexec_fn=low_limit if emfile else None)
        procs.append(server)
        port = int(server.expect(lambda l: re.match(r"^port (\d+)$", l), 60, "the port").group(1))
        hold = int(server.expect(lambda l: re.search(r"can hold about (-?\d+) connections", l), 10,
                                 "the capacity").group(1))
        if not emfile and hold < conns:
            print(f"SKIP: the server can hold only {hold} connections here, fewer than {conns}")
            return SKIP

        started = time.monotonic()
        client_argv = [client_bin, "-n", str(conns), "-t", "90", str(port)]
        if emfile:
            client_argv[1:1] = ["-r", "-w", "16"]
        else:
            client_argv[1:1] = ["-B", "4", "-s", str(16 << 20)]  # four peers that read slowly
        client = Child("client", client_argv, stdin=subprocess.PIPE)
        procs.append(client)
        m = client.expect(lambda l: re.match(r"^holding (\d+) refused (\d+)", l), 120, "'holding'")
        held, refused = int(m.group(1)), int(m.group(2))
        print(f"client: {held} connections echoed and held, {refused} refused, "
              f"in {time.monotonic() - started:.2f} s", flush=True)

        r = wait_report(server, held, 10)
        if emfile:
            if refused == 0 or held + refused != conns:
                raise Failure(f"expected some of {conns} refused at a limit of {limit}: held {held}, refused {refused}")
            if r["refused"] != refused:
                raise Failure(f"the server says it refused {r['refused']}, the client saw {refused}")
            if abs(held - hold) > 1:
                raise Failure(f"the server said it could hold about {hold}, it held {held}")
        elif held != conns or refused != 0:
            raise Failure(f"held {held} and refused {refused} of {conns}")
        if r["current"] != held or r["peak"] != held:
            raise Failure(f"the server reports {r} while the client holds {held}")
        print(f"server holds {r['current']} (peak {r['peak']}, short writes {r['short']})", flush=True)
        # The slow readers leave the server with replies it cannot write at
        # once. Under a wrapper (valgrind) the server may lag instead.
        if not emfile and not wrapper() and r["short"] == 0:
            raise Failure("no short write: the slow readers did not exercise the server's pending output")

        client.proc.stdin.write("close\n")
        client.proc.stdin.flush()
        client.expect(lambda l: l.startswith("closed "), 60, "'closed'")
        if client.wait(30) != 0:
            raise Failure(f"client exited with {client.proc.returncode}")
        r = wait_report(server, 0, 30)
        if r["current"] != 0:
            raise Failure(f"the server still holds {r['current']} after the client closed everything")

        server.signal(signal.SIGINT)
        final = report(server, "exit", 30)
        status = server.wait(60)
        if status != 0:
            raise Failure(f"server exited with {status} after SIGINT")
        if final["peak"] != held:
            raise Failure(f"the server's peak {final['peak']} is not the {held} held")
        print(f"PASS: {backend}: {held} held at once, all echoed exactly, {time.monotonic() - started:.2f} s")
        return 0
    finally:
        for p in procs:
            p.stop()


if __name__ == "__main__":
    sys.exit(main(run))
