"""xpoll.Poller: the C contract, from Python, on every backend."""
import errno
import os
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
