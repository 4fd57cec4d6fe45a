"""XpollSelector holds the selectors.BaseSelector contract as the standard library defines it."""
import decimal
import math
import os
import selectors
import signal
import socket
import time
from selectors import EVENT_READ, EVENT_WRITE

import pytest

from conftest import ensure_descriptors
from xpoll.selectors import XpollSelector


@pytest.fixture
def sel(backend):
    s = XpollSelector(backend)
    yield s
    s.close()


def pair():
    return socket.socketpair()


def test_is_a_base_selector(sel, backend):
    assert isinstance(sel, selectors.BaseSelector)
    assert sel.backend == backend


def test_register_returns_the_key(sel):
    a, b = pair()
    key = sel.register(a, EVENT_READ, "data")
    assert (key.fileobj, key.fd, key.events, key.data) == (a, a.fileno(), EVENT_READ, "data")
    assert sel.get_key(a) == key
    with pytest.raises(KeyError):
        sel.register(a, EVENT_READ)
    with pytest.raises(KeyError):
        sel.register(a.fileno(), EVENT_WRITE)          # the same descriptor through an int
    for bad in (0, 4, EVENT_READ | 8):
        with pytest.raises(ValueError):
            sel.register(b, bad)
    with pytest.raises(ValueError):
        sel.register(-1, EVENT_READ)
    with pytest.raises(ValueError):
        sel.register(object(), EVENT_READ)
    with pytest.raises(KeyError):
        sel.get_key(b)


def test_register_of_a_closed_descriptor_keeps_nothing(sel):
    a, b = pair()
    fd = os.dup(a.fileno())
    os.close(fd)
    with pytest.raises(OSError):
        sel.register(fd, EVENT_READ)
    assert len(sel.get_map()) == 0


def test_unregister(sel):
    a, b = pair()
    key = sel.register(a, EVENT_READ)
    assert sel.unregister(a) == key
    with pytest.raises(KeyError):
        sel.unregister(a)
    with pytest.raises(KeyError):
        sel.get_key(a)


def test_unregister_after_the_descriptor_was_closed(sel):
    a, b = pair()
    sel.register(a, EVENT_READ)
    a.close()                                        # fileno() is now -1: found by identity
    sel.unregister(a)
    assert len(sel.get_map()) == 0


def test_unregister_after_close_and_reuse(sel):
    a, b = pair()
    fd = a.fileno()
    sel.register(fd, EVENT_READ)
    a.close()
    b.close()
    c, d = pair()                                    # likely reuses fd
    sel.unregister(fd)
    sel.register(c, EVENT_READ)
    d.send(b"x")
    assert [k.fileobj for k, _ in sel.select(2)] == [c]


def test_modify(sel):
    a, b = pair()
    key = sel.register(a, EVENT_READ)
    key2 = sel.modify(a, EVENT_WRITE)
    assert key2.events == EVENT_WRITE and key2 != key
    assert sel.get_key(a) == key2
    key3 = sel.modify(a, EVENT_WRITE, "new data")    # data only
    assert key3.data == "new data" and key3.events == EVENT_WRITE
    assert sel.modify(a, EVENT_WRITE, "new data") == key3
    with pytest.raises(KeyError):
        sel.modify(b, EVENT_READ)
    for bad in (0, 4, EVENT_READ | 8):
        with pytest.raises(ValueError):
            sel.modify(a, bad, "other data")
        assert sel.get_key(a) is key3                # a refused modify() changes nothing
    with pytest.raises(TypeError):
        sel.modify(a, "1")
    assert sel.get_key(a) is key3
    assert sel.modify(fileobj=a, events=EVENT_READ, data="kw").data == "kw"   # by keyword, as selectors take them
    assert sel.modify(a, EVENT_WRITE, "new data") == key3
    key3 = sel.get_key(a)
    assert sel.select(2) == [(key3, EVENT_WRITE)]


def test_get_map(sel):
    a, b = pair()
    keys = sel.get_map()
    assert len(keys) == 0
    key = sel.register(a, EVENT_READ, "x")
    assert len(keys) == 1 and a in keys and keys[a] == key and keys.get(b) is None
    assert list(keys) == [a.fileno()]
    with pytest.raises(KeyError):
        keys[b]
    with pytest.raises(TypeError):
        keys[b] = key                                 # read-only
    sel.unregister(a)
    assert a not in keys


def test_close_and_context_manager(backend):
    s = XpollSelector(backend)
    a, b = pair()
    s.register(a, EVENT_READ)
    s.close()
    assert s.get_map() is None
    with pytest.raises(RuntimeError):
        s.get_key(a)
    with pytest.raises((ValueError, RuntimeError)):
        s.select(0)
    with XpollSelector(backend) as s2:
        s2.register(a, EVENT_READ)
    assert s2.get_map() is None


def test_select_read_and_write(sel):
    a, b = pair()
    sel.register(a, EVENT_READ | EVENT_WRITE, "a")
    sel.register(b, EVENT_READ, "b")
    ready = sel.select(0)
    assert ready == [(sel.get_key(a), EVENT_WRITE)]  # b has nothing to read yet
    a.send(b"x")
    ready = dict((k.data, ev) for k, ev in sel.select(2))
    assert ready == {"a": EVENT_WRITE, "b": EVENT_READ}


def test_select_timeout_rules(sel):
    a, b = pair()
    sel.register(a, EVENT_READ)
    for timeout in (0, -1):
        start = time.monotonic()
        assert sel.select(timeout) == []
        assert time.monotonic() - start < 0.5
    start = time.monotonic()
    assert sel.select(0.1) == []
    assert time.monotonic() - start >= 0.095
    b.send(b"x")
    assert len(sel.select(None)) == 1


def test_select_after_a_signal_that_does_not_raise(sel):
    a, b = pair()
    sel.register(a, EVENT_READ)
    old = signal.signal(signal.SIGALRM, lambda *_: None)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.05)
        start = time.monotonic()
        assert sel.select(0.3) == []
        took = time.monotonic() - start
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert 0.29 <= took < 2                           # retried with the time left


def test_select_after_a_signal_is_not_restarted(sel):
    """The time-out runs from the call, as the standard library's selectors keep it (restarted, 1.1 s)."""
    a, b = pair()
    sel.register(a, EVENT_READ)
    seen = []
    old = signal.signal(signal.SIGALRM, lambda *_: seen.append(time.monotonic()))
    try:
        start = time.monotonic()
        signal.setitimer(signal.ITIMER_REAL, 0.5)
        assert sel.select(0.6) == []
        took = time.monotonic() - start
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert len(seen) == 1 and seen[0] - start < 0.6
    assert 0.59 <= took < 0.6 + 0.25


def test_select_timeout_types_as_the_standard_library(sel):
    a, b = pair()
    sel.register(a, EVENT_READ)
    b.send(b"x")                                     # a wait that should have been refused returns at once
    for bad, exc in (("1", TypeError), (math.nan, ValueError), (math.inf, OverflowError), (1e7, OverflowError),
                     (decimal.Decimal("0.5"), TypeError)):
        with pytest.raises(exc):
            sel.select(bad)
    assert len(sel.select(-1e7)) == 1                # non-positive: a poll, whatever its size
    assert len(sel.select(True)) == 1


def test_repr_shows_backend_and_registrations(backend):
    s = XpollSelector(backend)
    assert repr(s) == f"<xpoll.selectors.XpollSelector backend={backend!r} registered=0>"
    a, b = pair()
    s.register(a, EVENT_READ)
    s.register(b, EVENT_WRITE)
    assert repr(s) == f"<xpoll.selectors.XpollSelector backend={backend!r} registered=2>"
    s.close()
    assert repr(s) == f"<xpoll.selectors.XpollSelector backend={backend!r} closed>"
    a.close()
    b.close()


def test_select_after_a_signal_that_raises(sel):
    def boom(*_):
        raise InterruptedError("from the handler")
    old = signal.signal(signal.SIGALRM, boom)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.05)
        with pytest.raises(InterruptedError):
            sel.select(5)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def test_above_fd_setsize(sel):
    if not ensure_descriptors(2600):
        pytest.skip("the hard descriptor limit is below 2,600")
    pairs = [pair() for _ in range(1200)]
    try:
        for a, b in pairs:
            sel.register(a, EVENT_READ)
        last_a, last_b = pairs[-1]
        assert last_a.fileno() > 1024
        last_b.send(b"x")
        assert [k.fileobj for k, _ in sel.select(2)] == [last_a]
    finally:
        for a, b in pairs:
            a.close()
            b.close()


def test_arguments_as_the_standard_library_takes_them(sel):
    a, b = pair()
    key = sel.register(fileobj=a, events=EVENT_READ, data="kw")
    assert isinstance(key, selectors.SelectorKey) and key._replace(data=1).data == 1
    assert key == selectors.SelectorKey(a, a.fileno(), EVENT_READ, "kw")
    with pytest.raises(TypeError):
        sel.register(b)                              # events missing
    with pytest.raises(TypeError):
        sel.register(b, EVENT_READ, None, None)      # one too many
    with pytest.raises(TypeError):
        sel.register(b, EVENT_READ, colour="red")
    with pytest.raises(TypeError):
        sel.register(b, "1")
    with pytest.raises(ValueError):
        sel.register(b, 1 << 70)

    class BadFileno:
        def __init__(self, value):
            self.value = value

        def fileno(self):
            return self.value

    for bad in (BadFileno("x"), BadFileno(None), BadFileno(-3)):
        with pytest.raises(ValueError):
            sel.register(bad, EVENT_READ)
    with pytest.raises(ValueError):
        sel.register(1 << 40, EVENT_READ)            # beyond any descriptor
    with pytest.raises(KeyError):
        sel.unregister(1 << 40)
    assert len(sel.get_map()) == 1
    b.send(b"x")
    a.send(b"y")
    assert sel.select(timeout=2) == [(key, EVENT_READ)]
    with pytest.raises(TypeError):
        sel.select(1, 2)


def test_a_second_select_while_one_waits_is_refused(sel):
    import errno
    import threading
    a, b = pair()
    sel.register(a, EVENT_READ)
    waiter = threading.Thread(target=sel.select, args=(5,))
    waiter.start()
    try:
        deadline = time.monotonic() + 5
        err = None
        while err is None and time.monotonic() < deadline:
            try:
                sel.select(0)
                time.sleep(0.01)                     # the waiter may not be inside its wait yet
            except OSError as e:
                err = e
        assert err is not None and err.errno == errno.EBUSY
    finally:
        sel.wake()
        waiter.join(10)
    assert not waiter.is_alive()


def test_a_selector_in_a_reference_cycle_is_collected(backend):
    import gc
    import weakref
    s = XpollSelector(backend)
    a, b = pair()
    s.register(a, EVENT_READ, s)                     # the key's data refers to the selector
    ref = weakref.ref(s)
    del s
    gc.collect()
    assert ref() is None
    a.close()
    b.close()
