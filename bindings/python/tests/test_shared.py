"""Shared pollers (Poller(shared=True): XPOLL_SHARED) and exclusive wake-up (exclusive=True: XPOLL_EXCLUSIVE),
from Python threads, on every backend.

Threads that must be blocked in a wait before the test goes on are watched through /proc (their state is
"S" for a few looks in a row, taken while this thread sleeps and the GIL is free); every loop and every join
is bounded in time.
"""
import errno
import os
import socket
import threading
import time

import pytest

import xpoll
from conftest import has

WAITERS = 3
ARMINGS = 2000


def pair():
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    return a, b


def _state(tid):
    try:
        with open(f"/proc/self/task/{tid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "?"


def wait_until_blocked(waiters, timeout=10):
    """True once every waiter's thread has been asleep in the kernel for three looks in a row, 20 ms apart;
    False if one has returned. This thread sleeps between looks, so a thread that only waited for the GIL
    has had it."""
    if not os.path.isdir("/proc/self/task"):
        time.sleep(0.5)
        return all(w.returned_at is None for w in waiters)
    deadline = time.monotonic() + timeout
    streak = 0
    while time.monotonic() < deadline:
        if any(w.returned_at is not None for w in waiters):
            return False
        streak = streak + 1 if all(_state(w.tid) == "S" for w in waiters) else 0
        if streak >= 3:
            return True
        time.sleep(0.02)
    return False


class Waiter(threading.Thread):
    """One poll(timeout) in a thread of its own: what it returned (or raised), and when."""

    def __init__(self, poller, timeout):
        super().__init__(daemon=True)
        self.poller, self.timeout = poller, timeout
        self.started_waiting = threading.Event()
        self.result = self.error = self.tid = self.returned_at = None

    def run(self):
        self.tid = threading.get_native_id()
        self.started_waiting.set()
        try:
            self.result = self.poller.poll(self.timeout)
        except Exception as e:  # noqa: BLE001 (reported by the test)
            self.error = e
        self.returned_at = time.monotonic()


def start_waiters(pollers, timeout):
    waiters = [Waiter(p, timeout) for p in pollers]
    for w in waiters:
        w.start()
    blocked = all(w.started_waiting.wait(10) for w in waiters) and wait_until_blocked(waiters)
    if not blocked:
        # Every waiter is let go before the test fails: a poller must not be closed under a wait.
        for p in pollers:
            p.wake()
        join_all(waiters)
        pytest.fail("the waiters did not all block in their waits: " +
                    ", ".join(repr(w.error) if w.error else "returned" if w.returned_at else "waiting"
                              for w in waiters))
    return waiters


def join_all(waiters, timeout=10):
    deadline = time.monotonic() + timeout
    for w in waiters:
        w.join(max(0.0, deadline - time.monotonic()))
    assert not any(w.is_alive() for w in waiters), "a waiter is still in its wait"


def test_shared_is_a_keyword_flag(backend):
    with xpoll.Poller(backend, shared=True) as p:
        assert p.shared
        assert repr(p) == f"<xpoll.Poller backend={backend!r} shared registered=0>"
        assert p.poll(0) == []
    with xpoll.Poller(backend) as p:
        assert not p.shared
    for bad in (1, "yes", None):
        with pytest.raises(TypeError):
            xpoll.Poller(backend, shared=bad)
    with pytest.raises(TypeError):
        xpoll.Poller(backend, True)          # keyword only


def test_a_second_waiter_on_a_poller_not_shared_is_ebusy(poller):
    """The first waiter retries if this thread's poll(0) was inside the library when it arrived."""
    def first():
        for _ in range(100):
            try:
                return poller.poll(10)
            except OSError as e:
                if e.errno != errno.EBUSY:
                    raise
                time.sleep(0.01)
    waiter = threading.Thread(target=first, daemon=True)
    waiter.start()
    try:
        deadline = time.monotonic() + 5
        err = None
        while err is None and time.monotonic() < deadline:
            try:
                poller.poll(0)
                time.sleep(0.01)                     # the waiter may not be inside its wait yet
            except OSError as e:
                err = e
        assert err is not None and err.errno == errno.EBUSY and isinstance(err, OSError)
    finally:
        poller.wake()
        waiter.join(10)
    assert not waiter.is_alive()


def test_shared_waiters_wait_at_once_and_a_wake_returns_them_all(backend):
    """Several threads block in poll() on one shared poller at the same time (the GIL is released while
    they wait: this thread runs, and polls too, without EBUSY), and one wake() returns every one of them."""
    p = xpoll.Poller(backend, shared=True)
    a, b = pair()
    p.register(a, xpoll.IN)
    waiters = start_waiters([p] * WAITERS, 30)
    try:
        assert p.poll(0) == []                       # a fourth waiter, not refused
        woken_at = time.monotonic()
        p.wake()
    finally:
        join_all(waiters)
    for w in waiters:
        assert w.error is None and w.result == []
        assert w.returned_at - woken_at < 5, "a waiter went on to its time-out: the wake did not reach it"
    p.close()
    a.close()
    b.close()


def test_oneshot_goes_to_exactly_one_waiter_per_arming(backend):
    """ARMINGS armings of one oneshot registration, each reported to exactly one of WAITERS threads: the
    thread that gets it re-arms it. A second report of one arming would find it taken; so would the report
    of the next arming, if a stray report had taken that one's place. Each arming carries its number as
    the data, which the thread that gets its report must see (not the previous arming's)."""
    p = xpoll.Poller(backend, shared=True)
    a, b = pair()
    b.send(b"x")                                     # readable from now on: every arming is reported
    lock = threading.Lock()
    count = {"armings": 1, "reports": 0, "duplicates": 0, "stale_data": 0, "by_thread": {}}
    armed = [True]
    done, stop = threading.Event(), threading.Event()
    deadline = time.monotonic() + 60

    def handle(data):
        with lock:
            count["reports"] += 1
            if data != count["armings"]:
                count["stale_data"] += 1
            me = threading.get_ident()
            count["by_thread"][me] = count["by_thread"].get(me, 0) + 1
            if not armed[0]:
                count["duplicates"] += 1
                return
            armed[0] = False
            if count["armings"] >= ARMINGS:
                done.set()
                return
            armed[0] = True
            count["armings"] += 1
            p.modify(a, xpoll.IN | xpoll.ONESHOT, count["armings"])

    errors = []

    def serve():
        try:
            while not stop.is_set() and time.monotonic() < deadline:
                for fd, _, data in p.poll(0.2):
                    assert fd == a.fileno()
                    handle(data)
        except Exception as e:  # noqa: BLE001 (reported below)
            errors.append(e)

    threads = [threading.Thread(target=serve, daemon=True) for _ in range(WAITERS)]
    p.register(a, xpoll.IN, 1, mode="oneshot")
    for t in threads:
        t.start()
    try:
        assert done.wait(max(0.0, deadline - time.monotonic())), f"stopped at {count}"
        time.sleep(0.3)                              # room for a late second report of the last arming
    finally:
        stop.set()
        p.wake()
        for t in threads:
            t.join(10)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    assert count["duplicates"] == 0 and count["stale_data"] == 0, count
    assert count["reports"] == count["armings"] == ARMINGS
    p.close()
    a.close()
    b.close()


def test_exclusive_is_reported_or_enotsup(backend, poller):
    a, b = pair()
    c, d = pair()
    if not has(backend, "exclusive"):
        assert "exclusive" not in poller.capabilities
        assert not xpoll.backend_capabilities(backend) & {"exclusive"}
        for events, kw in ((xpoll.IN, {"exclusive": True}), (xpoll.IN | xpoll.EXCLUSIVE, {})):
            with pytest.raises(OSError) as e:
                poller.register(a, events, **kw)
            assert e.value.errno == errno.ENOTSUP
            assert a not in poller
        poller.register(a, xpoll.IN, "plain")
        with pytest.raises(OSError) as e:
            poller.modify(a, xpoll.IN, exclusive=True)
        assert e.value.errno == errno.ENOTSUP
        b.send(b"x")
        assert poller.poll(2) == [(a.fileno(), xpoll.IN, "plain")]   # the registration is unchanged
        return
    assert "exclusive" in poller.capabilities
    poller.register(a, xpoll.IN, "a", exclusive=True)
    poller.register(c, xpoll.IN | xpoll.EXCLUSIVE, "c")             # the bit, as in C
    assert poller.poll(0) == []
    b.send(b"x")
    assert poller.poll(2) == [(a.fileno(), xpoll.IN, "a")]
    assert poller.poll(2) == [(a.fileno(), xpoll.IN, "a")]           # level-triggered: still ready
    d.send(b"y")
    assert sorted(poller.poll(2)) == sorted([(a.fileno(), xpoll.IN, "a"), (c.fileno(), xpoll.IN, "c")])
    # A modify keeps, drops and takes exclusive again; each is a removal and an add in the library.
    poller.modify(a, xpoll.IN, exclusive=True)
    poller.modify(c, xpoll.OUT, "c out")
    assert sorted(poller.poll(2)) == sorted([(a.fileno(), xpoll.IN, "a"), (c.fileno(), xpoll.OUT, "c out")])
    poller.modify(c, xpoll.IN, "c in", exclusive=True)
    assert sorted(poller.poll(2)) == sorted([(a.fileno(), xpoll.IN, "a"), (c.fileno(), xpoll.IN, "c in")])
    if has(backend, "edge"):
        poller.modify(c, xpoll.IN, "c edge", mode="edge", exclusive=True)
        assert (c.fileno(), xpoll.IN, "c edge") in poller.poll(2)
        assert (c.fileno(), xpoll.IN, "c edge") not in poller.poll(0)
    for s in (a, b, c, d):
        s.close()


def test_exclusive_with_oneshot_or_rdhup_is_einval(backend, poller):
    """The kernel takes neither with EPOLLEXCLUSIVE: ValueError (XPOLL_EINVAL), nothing changes. A backend
    without exclusive wake-up says ENOTSUP first."""
    a, b = pair()
    poller.register(b, xpoll.IN, "b")
    refused = [lambda: poller.register(a, xpoll.IN, mode="oneshot", exclusive=True),
               lambda: poller.register(a, xpoll.IN | xpoll.ONESHOT | xpoll.EXCLUSIVE),
               lambda: poller.register(a, xpoll.IN | xpoll.RDHUP, exclusive=True),
               lambda: poller.modify(b, xpoll.IN, mode="oneshot", exclusive=True),
               lambda: poller.modify(b, xpoll.IN | xpoll.RDHUP, exclusive=True)]
    for call in refused:
        if has(backend, "exclusive"):
            with pytest.raises(ValueError):
                call()
        else:
            with pytest.raises(OSError) as e:
                call()
            assert e.value.errno == errno.ENOTSUP
    assert a not in poller and len(poller) == 1
    a.send(b"x")
    assert poller.poll(2) == [(b.fileno(), xpoll.IN, "b")]            # b unchanged: level, reported again
    assert poller.poll(2) == [(b.fileno(), xpoll.IN, "b")]
    with pytest.raises(TypeError):
        poller.register(a, xpoll.IN, exclusive=1)
    a.close()
    b.close()


@pytest.mark.parametrize("exclusive", [True, False], ids=["exclusive", "not-exclusive"])
def test_a_connection_wakes_one_of_the_workers_blocked_on_a_listener(backend, exclusive):
    """WAITERS threads, each blocked in its own poller on one listening socket. A connection wakes every
    one of them without exclusive wake-up (the thundering herd), and one of them (at least one, not all)
    with it."""
    if not has(backend, "exclusive"):
        pytest.skip(f"{backend} has no exclusive wake-up (test_exclusive_is_reported_or_enotsup: ENOTSUP)")
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    pollers = [xpoll.Poller(backend) for _ in range(WAITERS)]
    for p in pollers:
        p.register(listener, xpoll.IN, "listener", exclusive=exclusive)
    waiters = start_waiters(pollers, 3)
    client = None
    try:
        client = socket.create_connection(listener.getsockname(), timeout=5)
        time.sleep(1)                                # every wake-up has happened by now
        woken = sum(1 for w in waiters if w.returned_at is not None)
    finally:
        join_all(waiters)
        if client is not None:
            client.close()
    assert all(w.error is None for w in waiters)
    if exclusive:
        assert 1 <= woken < WAITERS, f"{woken} of {WAITERS} woken"
    else:
        assert woken == WAITERS, f"{woken} of {WAITERS} woken"
    for p in pollers:
        p.close()
    listener.close()
