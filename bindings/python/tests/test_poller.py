"""xpoll.Poller: the C contract, from Python, on every backend."""
import decimal
import errno
import math
import os
import select
import signal
import socket
import threading
import time

import pytest

import xpoll
from conftest import ensure_descriptors, has


def pair():
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    return a, b


def test_backends_and_identity(backend, poller):
    assert backend in xpoll.backends()
    assert poller.backend == backend
    assert "oneshot" in poller.capabilities
    assert poller.capabilities == xpoll.backend_capabilities(backend)
    assert xpoll.version().count(".") == 2


def test_readable_with_any_data_object(poller):
    a, b = pair()
    token = object()
    poller.register(a, xpoll.IN, token)
    assert poller.poll(0) == []
    b.send(b"x")
    assert poller.poll(2) == [(a.fileno(), xpoll.IN, token)]
    assert len(poller) == 1 and a in poller and a.fileno() in poller


def test_int_descriptors_and_modify(poller):
    a, b = pair()
    poller.register(a.fileno(), xpoll.IN, "r")
    poller.modify(a.fileno(), xpoll.OUT)           # data kept
    assert poller.poll(2) == [(a.fileno(), xpoll.OUT, "r")]
    poller.modify(a, xpoll.OUT, data="w")
    assert poller.poll(2)[0][2] == "w"
    assert poller.unregister(a) == "w"
    assert poller.poll(0) == []


def test_oneshot_reports_once_until_modified(poller):
    a, b = pair()
    poller.register(a, xpoll.IN, mode="oneshot")
    b.send(b"x")
    assert len(poller.poll(2)) == 1
    assert poller.poll(0) == []
    poller.modify(a, xpoll.IN | xpoll.ONESHOT)
    assert len(poller.poll(2)) == 1


def test_edge_mode_or_enotsup(backend, poller):
    a, b = pair()
    if not has(backend, "edge"):
        with pytest.raises(OSError) as e:
            poller.register(a, xpoll.IN, mode="edge")
        assert e.value.errno == errno.ENOTSUP
        assert a not in poller
        return
    poller.register(a, xpoll.IN, mode="edge")
    b.send(b"x")
    assert len(poller.poll(2)) == 1
    assert poller.poll(0) == []                      # still readable, no new edge
    b.send(b"y")
    assert len(poller.poll(2)) == 1


def test_peer_close_is_readable(poller):
    a, b = pair()
    poller.register(a, xpoll.IN)
    b.close()
    [(fd, ev, _)] = poller.poll(2)
    assert fd == a.fileno() and ev & xpoll.IN
    assert a.recv(1) == b""


def test_bad_input_raises_the_usual_exceptions(poller):
    a, b = pair()
    poller.register(a, xpoll.IN)
    with pytest.raises(FileExistsError):
        poller.register(a, xpoll.IN)
    with pytest.raises(FileNotFoundError):
        poller.modify(b, xpoll.IN)
    with pytest.raises(FileNotFoundError):
        poller.unregister(b)
    with pytest.raises(ValueError):
        poller.register(-1, xpoll.IN)
    with pytest.raises(TypeError):
        poller.register("not a descriptor", xpoll.IN)
    with pytest.raises(TypeError):
        poller.register(object(), xpoll.IN)
    with pytest.raises(ValueError):
        poller.register(b, 0x80000000)                # unknown flag bits
    with pytest.raises(ValueError):
        poller.register(b, xpoll.IN, mode="sideways")
    with pytest.raises(ValueError):
        poller.register(b, xpoll.IN | xpoll.ONESHOT | xpoll.EDGE)
    with pytest.raises(ValueError):
        poller.poll(0, maxevents=0)
    with pytest.raises(ValueError):
        poller.poll(0, maxevents=xpoll.WAIT_MAX + 1)
    fd = os.dup(b.fileno())
    os.close(fd)
    with pytest.raises(OSError) as e:
        poller.register(fd, xpoll.IN)
    assert e.value.errno == errno.EBADF
    with pytest.raises(ValueError):
        xpoll.Poller("no-such-backend")
    with pytest.raises(TypeError):
        xpoll.Poller(42)
    # Nothing above changed the registration that was there.
    b.send(b"x")
    assert [fd for fd, _, _ in poller.poll(2)] == [a.fileno()]


def test_closed_poller_refuses_politely(backend):
    p = xpoll.Poller(backend)
    p.close()
    p.close()
    assert p.closed
    with pytest.raises(ValueError):
        p.poll(0)
    with pytest.raises(ValueError):
        p.register(0, xpoll.IN)
    with xpoll.Poller(backend) as q:
        assert not q.closed
    assert q.closed


def test_wake_from_another_thread(poller):
    t = threading.Timer(0.05, poller.wake)
    t.start()
    start = time.monotonic()
    assert poller.poll(10) == []
    assert time.monotonic() - start < 5
    t.join()


def test_timeout_is_honoured(poller):
    start = time.monotonic()
    assert poller.poll(0.1) == []
    assert time.monotonic() - start >= 0.095


def test_signal_handler_runs_and_wait_goes_on(poller):
    """PEP 475: the handler runs during the wait, which then goes on with the time left."""
    seen = []
    old = signal.signal(signal.SIGALRM, lambda *_: seen.append(time.monotonic()))
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.05)
        start = time.monotonic()
        assert poller.poll(0.3) == []
        took = time.monotonic() - start
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert len(seen) == 1 and seen[0] - start < 0.25   # ran during the wait, not after it
    assert 0.29 <= took < 2


def test_a_signal_does_not_restart_the_timeout(poller):
    """The time-out runs from the call: a handler that returns late in the wait does not start it again
    (restarted, this wait would take 0.5 + 0.6 s)."""
    seen = []
    old = signal.signal(signal.SIGALRM, lambda *_: seen.append(time.monotonic()))
    try:
        start = time.monotonic()
        signal.setitimer(signal.ITIMER_REAL, 0.5)
        assert poller.poll(0.6) == []
        took = time.monotonic() - start
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert len(seen) == 1 and seen[0] - start < 0.6   # the signal came during the wait
    assert 0.59 <= took < 0.6 + 0.25


def test_signal_handler_exception_ends_the_wait(poller):
    def boom(*_):
        raise KeyboardInterrupt
    old = signal.signal(signal.SIGALRM, boom)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.05)
        start = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            poller.poll(5)
        assert time.monotonic() - start < 4
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def test_ten_thousand_registered_descriptors(poller):
    if not ensure_descriptors(10_300):
        pytest.skip("the hard descriptor limit is below 10,300")
    pairs = [socket.socketpair() for _ in range(5000)]
    try:
        for a, b in pairs:
            poller.register(a, xpoll.IN, a.fileno())
            poller.register(b, xpoll.IN, b.fileno())
        assert len(poller) == 10_000
        top = pairs[-3:]
        for a, b in top:
            a.send(b"x")
            b.send(b"x")
        want = {s.fileno() for p in top for s in p}
        got = set()
        for _ in range(10):
            got |= {fd for fd, _, data in poller.poll(1) if data == fd}
            if got >= want:
                break
        assert got == want
        assert max(got) > 10_000
    finally:
        for a, b in pairs:
            a.close()
            b.close()


def test_limits_and_probe():
    lim = xpoll.limits()
    assert lim["nofile_soft"]["source"] == "getrlimit(RLIMIT_NOFILE)"
    assert lim["nofile_soft"]["value"] > 0
    assert lim["fd_setsize"]["value"] >= 64
    r = xpoll.probe(max_descriptors=200)
    assert r["descriptors"]["opened"] == 200 and r["descriptors"]["stopped_by"] is None
    assert [b["name"] for b in r["backends"]] == xpoll.backends()
    assert all(b["passed"] and b["ready_reported"] == 16 for b in r["backends"])
    with pytest.raises(ValueError):
        xpoll.probe(steps=("nonsense",))
    with pytest.raises(ValueError):
        xpoll.probe(backend="no-such-backend")


class _FileLike:
    def __init__(self, fileno):
        self._fileno = fileno

    def fileno(self):
        return self._fileno


def _bad_calls(fd):
    """Calls select.epoll refuses before any system call, and what it raises, as seen with CPython 3.11."""
    return [
        ("poll(0, 1.5)", lambda p: p.poll(0, 1.5), TypeError),
        ("poll(0, '1')", lambda p: p.poll(0, "1"), TypeError),
        ("poll(0, 2**31)", lambda p: p.poll(0, 2**31), OverflowError),
        ("poll('1')", lambda p: p.poll("1"), TypeError),
        ("poll(b'1')", lambda p: p.poll(b"1"), TypeError),
        ("poll(Decimal)", lambda p: p.poll(decimal.Decimal("0.5")), TypeError),
        ("poll(nan)", lambda p: p.poll(math.nan), ValueError),
        ("poll(inf)", lambda p: p.poll(math.inf), OverflowError),
        ("poll(1e7)", lambda p: p.poll(1e7), OverflowError),       # 10^10 ms: beyond a C int
        ("poll(-1e7)", lambda p: p.poll(-1e7), OverflowError),
        ("register(1.5)", lambda p: p.register(1.5), TypeError),
        ("register('3')", lambda p: p.register("3"), TypeError),
        ("register(None)", lambda p: p.register(None), TypeError),
        ("register(-1)", lambda p: p.register(-1), ValueError),
        ("register(2**31)", lambda p: p.register(2**31), OverflowError),
        ("register(fileno() 1.5)", lambda p: p.register(_FileLike(1.5)), TypeError),
        ("register(fileno() '3')", lambda p: p.register(_FileLike(str(fd))), TypeError),
        ("register(fileno() 2**40)", lambda p: p.register(_FileLike(2**40)), OverflowError),
        ("register(fd, 1.5)", lambda p: p.register(fd, 1.5), TypeError),
        ("register(fd, '1')", lambda p: p.register(fd, "1"), TypeError),
        ("modify(1.5, IN)", lambda p: p.modify(1.5, 1), TypeError),
        ("modify(fd, 1.5)", lambda p: p.modify(fd, 1.5), TypeError),
        ("unregister(1.5)", lambda p: p.unregister(1.5), TypeError),
        ("unregister('x')", lambda p: p.unregister("x"), TypeError),
    ]


def test_bad_arguments_raise_what_select_epoll_raises(poller):
    """Types and ranges are checked in Python, as select.epoll checks them: never ctypes.ArgumentError,
    and never a value that ctypes would pass on truncated."""
    a, b = pair()
    poller.register(a, xpoll.IN, "a")
    b.send(b"x")                         # a wait that should have been refused returns at once
    for what, call, exc in _bad_calls(b.fileno()):
        with pytest.raises(exc) as e:
            call(poller)
        assert type(e.value) is exc, (what, e.value)
        if hasattr(select, "epoll"):
            with select.epoll() as ep:
                with pytest.raises(exc):
                    call(ep)
    # Values in range are taken as select.epoll takes them: any int, a float for the time-out, True as 1.
    assert poller.poll(0, True) == [(a.fileno(), xpoll.IN, "a")]
    assert poller.poll(True) == [(a.fileno(), xpoll.IN, "a")]
    assert poller.poll(-0.5, 1) == [(a.fileno(), xpoll.IN, "a")]
    # Nothing refused above was registered or changed.
    assert len(poller) == 1 and b not in poller
    with pytest.raises(FileNotFoundError):
        poller.unregister(b)
    # Arguments of the Poller's own.
    with pytest.raises(TypeError):
        poller.register(b, xpoll.IN, mode=1)
    with pytest.raises(OverflowError):
        poller.register(b, 1 << 32)
    with pytest.raises(ValueError):
        poller.register(b, -1)
    assert len(poller) == 1
    a.close()
    b.close()


def test_backend_names_with_a_nul_are_refused(backend):
    """A NUL would end the name early in C: "epoll\\0x" must not open epoll."""
    for bad in (backend + "\0", backend + "\0x", "\0" + backend):
        with pytest.raises(ValueError, match="null"):
            xpoll.Poller(bad)
        with pytest.raises(ValueError, match="null"):
            xpoll.backend_capabilities(bad)
        with pytest.raises(ValueError, match="null"):
            xpoll.probe(steps=("backends",), backend=bad)
    with pytest.raises(TypeError):
        xpoll.backend_capabilities(backend.encode())
    with pytest.raises(TypeError):
        xpoll.probe(steps=("backends",), backend=1)
    with pytest.raises(TypeError):
        xpoll.probe(steps=("descriptors",), max_descriptors="10")


def test_repr_shows_backend_and_registrations(backend):
    p = xpoll.Poller(backend)
    assert repr(p) == f"<xpoll.Poller backend={backend!r} registered=0>"
    a, b = pair()
    p.register(a, xpoll.IN)
    p.register(b, xpoll.OUT)
    assert repr(p) == f"<xpoll.Poller backend={backend!r} registered=2>"
    p.unregister(b)
    assert repr(p) == f"<xpoll.Poller backend={backend!r} registered=1>"
    p.close()
    assert repr(p) == f"<xpoll.Poller backend={backend!r} closed>"
    a.close()
    b.close()
