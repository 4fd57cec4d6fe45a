"""The additions of xpoll 1.1 on every backend: time-outs finer than a millisecond (xpoll_wait_ns), PRI (TCP
urgent data on loopback) and fileno() (the poller's descriptor, nested in another poller). A backend without the
capability refuses with ENOTSUP; nothing is skipped silently."""
import errno
import select
import selectors
import socket
import sys
import time

import pytest

import xpoll
from conftest import has
from xpoll.selectors import XpollSelector

SUB_MS = (0.0001, 0.00025, 0.0005, 0.0015)


def pair():
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    return a, b


def tcp_pair():
    """A connected loopback TCP pair: (accepted, client)."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname(), timeout=5)
        server, _ = listener.accept()
    return server, client


@pytest.fixture
def sel(backend):
    s = XpollSelector(backend)
    yield s
    s.close()


# -- time-outs ---------------------------------------------------------------------------------------------

def test_poll_never_returns_before_a_sub_millisecond_timeout(poller):
    a, b = pair()
    poller.register(a, xpoll.IN)
    for seconds in SUB_MS:
        start = time.monotonic_ns()
        assert poller.poll(seconds) == []
        # Only "not early" is asserted: how late is the kernel's timer slack and this machine's load.
        assert time.monotonic_ns() - start >= seconds * 1e9, seconds
    b.send(b"x")
    assert [fd for fd, _, _ in poller.poll(0.0005)] == [a.fileno()]


def test_select_never_returns_before_a_sub_millisecond_timeout(sel):
    a, b = pair()
    sel.register(a, selectors.EVENT_READ)
    for seconds in SUB_MS:
        start = time.monotonic_ns()
        assert sel.select(seconds) == []
        assert time.monotonic_ns() - start >= seconds * 1e9, seconds
    b.send(b"x")
    assert [k.fileobj for k, _ in sel.select(0.0005)] == [a]


def test_poll_passes_nanoseconds_not_milliseconds(poller, monkeypatch):
    """What reaches xpoll_wait_ns: the seconds in nanoseconds, rounded up, not whole milliseconds."""
    seen = []
    real = xpoll._xpoll_wait_ns

    def spy(p, buf, maxevents, ns):
        seen.append(ns.value)
        return real(p, buf, maxevents, ns)

    monkeypatch.setattr(xpoll, "_xpoll_wait_ns", spy)
    # Powers of two, so that seconds * 10**9 is exact in a double and the rounding up is plain to see.
    poller.poll(2**-12)                              # 244,140.625 ns
    poller.poll(2**-20)                              # 953.67... ns
    poller.poll(2**-10)                              # 976,562.5 ns: under a millisecond, not rounded to one
    poller.poll(0)                                   # 0 and forever need no nanoseconds
    assert seen == [244_141, 954, 976_563]
    # An int is exact; a float is never rounded down.
    assert xpoll._timeout_ns(3) == 3_000_000_000
    assert xpoll._timeout_ns(0.1) >= 100_000_000
    assert xpoll._timeout_ns(-0.5) == -1 and xpoll._timeout_ns(None) == -1


# -- PRI ---------------------------------------------------------------------------------------------------

def test_pri_reports_tcp_urgent_data_or_enotsup(backend, poller):
    server, client = tcp_pair()
    try:
        if not has(backend, "pri"):
            with pytest.raises(OSError) as e:
                poller.register(server, xpoll.PRI, "urgent")
            assert e.value.errno == errno.ENOTSUP
            assert server not in poller
            return
        poller.register(server, xpoll.PRI, "urgent")
        assert poller.poll(0) == []
        client.send(b"!", socket.MSG_OOB)
        got = []
        for _ in range(20):
            got = [(fd, ev) for fd, ev, data in poller.poll(0.25) if data == "urgent"]
            if got:
                break
        assert len(got) == 1 and got[0][0] == server.fileno()
        assert got[0][1] & xpoll.PRI, hex(got[0][1])
        assert server.recv(1, socket.MSG_OOB) == b"!"
    finally:
        server.close()
        client.close()


# -- fileno ------------------------------------------------------------------------------------------------

def test_fileno_nests_in_another_poller_or_is_enotsup(backend, poller):
    if not has(backend, "fd"):
        with pytest.raises(OSError) as e:
            poller.fileno()
        assert e.value.errno == errno.ENOTSUP
        return
    fd = poller.fileno()
    assert isinstance(fd, int) and fd >= 0 and poller.fileno() == fd
    a, b = pair()
    poller.register(a, xpoll.IN, "a")
    outer = select.poll()
    outer.register(fd, select.POLLIN)
    with selectors.DefaultSelector() as default:
        default.register(fd, selectors.EVENT_READ)
        b.send(b"x")
        assert [f for f, ev in outer.poll(2000) if ev & select.POLLIN] == [fd]
        assert [k.fd for k, _ in default.select(2)] == [fd]
    assert poller.poll(0) == [(a.fileno(), xpoll.IN, "a")]


def test_fileno_of_a_closed_poller(backend):
    p = xpoll.Poller(backend)
    p.close()
    with pytest.raises(ValueError):
        p.fileno()


def test_selector_fileno_only_where_the_backend_has_one(backend, sel):
    assert hasattr(sel, "fileno") == has(backend, "fd")
    assert not hasattr(XpollSelector, "fileno")
    if not has(backend, "fd"):
        return
    fd = sel.fileno()
    assert isinstance(fd, int) and fd >= 0
    a, b = pair()
    sel.register(a, selectors.EVENT_READ, "a")
    with selectors.DefaultSelector() as outer:
        outer.register(fd, selectors.EVENT_READ)
        b.send(b"x")
        assert [k.fd for k, _ in outer.select(2)] == [fd]
    assert [(k.data, ev) for k, ev in sel.select(0)] == [("a", selectors.EVENT_READ)]


# -- names -------------------------------------------------------------------------------------------------

def test_constants_and_capability_names(backend):
    assert (xpoll.PRI, xpoll.CAP_NS_TIMEOUT, xpoll.CAP_PRI, xpoll.CAP_FD) == (0x2, 0x100, 0x200, 0x400)
    if sys.platform != "linux":
        return
    # As the header documents them on Linux (kqueue is libkqueue's there).
    want = {"epoll": {"ns_timeout", "pri", "fd"}, "poll": {"ns_timeout", "pri"}, "select": {"ns_timeout", "pri"},
            "kqueue": {"ns_timeout"}}
    if backend in want:
        assert xpoll.backend_capabilities(backend) & {"ns_timeout", "pri", "fd"} == want[backend]

