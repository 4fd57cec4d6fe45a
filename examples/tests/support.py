"""Helpers for the example tests: a child process whose output is read line by
line with a time limit, and that is always stopped by its own pid."""
import os
import re
import queue
import shlex
import signal
import subprocess
import threading
import time

SKIP = 77  # ctest's SKIP_RETURN_CODE for these tests


class Failure(Exception):
    pass


def wrapper():
    """The command prefix from XPOLL_EXAMPLE_WRAPPER (e.g. valgrind), as a list."""
    return shlex.split(os.environ.get("XPOLL_EXAMPLE_WRAPPER", ""))


class Child:
    """A process with its stdout read into a queue by a thread."""

    def __init__(self, name, argv, stdin=None, preexec_fn=None):
        self.name = name
        self.lines = queue.Queue()
        self.seen = []
        self.proc = subprocess.Popen(argv, stdin=stdin, stdout=subprocess.PIPE, text=True, bufsize=1,
                                     preexec_fn=preexec_fn)
        self.pid = self.proc.pid
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)  # end of output

    def expect(self, predicate, timeout, what):
        """The first line (not yet taken) for which predicate returns a true value; that value."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Failure(f"{self.name}: no line with {what} within {timeout} s")
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                self.lines.put(None)
                raise Failure(f"{self.name}: output ended before a line with {what} (exit {self.proc.poll()})")
            self.seen.append(line)
            print(f"  [{self.name}] {line}", flush=True)
            got = predicate(line)
            if got:
                return got

    def quiet(self, quiet, limit, take=lambda line: None):
        """Passes each line to take() until none comes for `quiet` seconds (at most `limit` seconds)."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=quiet)
            except queue.Empty:
                return
            if line is None:
                self.lines.put(None)
                return
            self.seen.append(line)
            print(f"  [{self.name}] {line}", flush=True)
            take(line)

    def signal(self, sig):
        if self.proc.poll() is None:
            os.kill(self.pid, sig)

    def wait(self, timeout):
        """The exit status, or a Failure after timeout seconds."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise Failure(f"{self.name} (pid {self.pid}) still running after {timeout} s") from None

    def stop(self):
        """Kills the process by its pid if it still runs, and reaps it."""
        if self.proc.poll() is None:
            os.kill(self.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        if self.proc.stdin:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
        # A process it left behind may hold the pipe: then the reader (a
        # daemon thread) is left blocked, and the pipe is not closed under it.
        self.reader.join(timeout=5)
        if not self.reader.is_alive():
            self.proc.stdout.close()



# The echo servers' reports (echo_server, threaded_echo): "connections: ..." on SIGUSR1, "exit: ..." at the end.
ECHO_REPORT = re.compile(
    r"^(connections|exit): current (\d+), peak (\d+), accepted (\d+), refused (\d+), short writes (\d+)$")


def echo_report(server, what="connections", timeout=20):
    m = server.expect(lambda l: ECHO_REPORT.match(l) if l.startswith(what) else None, timeout, f"a '{what}:' report")
    return dict(zip(("current", "peak", "accepted", "refused", "short"), map(int, m.groups()[1:])))


def wait_echo_report(server, want_current, timeout):
    """Asks for reports (SIGUSR1) until current == want_current, or the time is up."""
    deadline = time.monotonic() + timeout
    while True:
        server.signal(signal.SIGUSR1)
        r = echo_report(server)
        if r["current"] == want_current or time.monotonic() > deadline:
            return r
        time.sleep(0.2)

def main(run):
    """Runs run(); prints the failure and returns 1, or 77 for a skip."""
    try:
        return run()
    except Failure as e:
        print(f"FAIL: {e}", flush=True)
    except Exception as e:  # noqa: BLE001 -- any surprise is a failure, after the cleanup
        print(f"FAIL: {type(e).__name__}: {e}", flush=True)
    return 1
