"""xpoll: a portable I/O readiness poller (epoll, kqueue, poll, select) behind one interface.

    import xpoll
    with xpoll.Poller() as p:                      # the best compiled backend
        p.register(sock, xpoll.IN, data="listener")
        for fd, events, data in p.poll(1.0):
            ...

xpoll.selectors.XpollSelector is a selectors.BaseSelector for selector-based code; xpoll.asyncio runs asyncio on
it; `python -m xpoll.probe` is the xpoll-probe tool. The package carries the libxpoll it was built with.
"""
import ctypes as _ctypes
import errno as _errno
import math as _math
import operator as _operator
import os as _os
import struct as _struct
import sys as _sys
import threading as _threading
import time as _time

from . import _header as _h
from . import _lib
from ._lib import lib as _clib

# The package's public names are its API: everything else, the modules it uses included, is imported or
# defined under a private name.
__all__ = ["Poller", "backends", "backend_capabilities", "limits", "raise_nofile", "probe", "version",
           "IN", "PRI", "OUT", "ERR", "HUP", "RDHUP", "ONESHOT", "EDGE", "EXCLUSIVE", "SHARED", "CAP_EXCLUSIVE",
           "CAP_NS_TIMEOUT", "CAP_PRI", "CAP_FD", "WAIT_MAX", "UNLIMITED"]

# Event and mode bits, capabilities, error codes: restated in _header, which the tests check against xpoll.h.
IN, PRI, OUT, ERR, HUP, RDHUP = _h.IN, _h.PRI, _h.OUT, _h.ERR, _h.HUP, _h.RDHUP
ONESHOT, EDGE, EXCLUSIVE = _h.ONESHOT, _h.EDGE, _h.EXCLUSIVE
SHARED, CAP_EXCLUSIVE = _h.SHARED, _h.CAP_EXCLUSIVE
CAP_NS_TIMEOUT, CAP_PRI, CAP_FD = _h.CAP_NS_TIMEOUT, _h.CAP_PRI, _h.CAP_FD
_MODES = {"level": 0, "oneshot": ONESHOT, "edge": EDGE}
_CAPS = _h.CAPABILITIES

# Error codes and what each becomes in Python.
_EINVAL, _ENOMEM, _ENOBACKEND, _EINTR, _EFORKED = _h.EINVAL, _h.ENOMEM, _h.ENOBACKEND, _h.EINTR, _h.EFORKED
_ERRNO = {_h.EBADF: _errno.EBADF, _h.EEXIST: _errno.EEXIST, _h.ENOENT: _errno.ENOENT, _h.ENOTSUP: _errno.ENOTSUP,
          _h.EBUSY: _errno.EBUSY, _h.ERANGE: _errno.ERANGE, _h.EMFILE: _errno.EMFILE, _h.ENFILE: _errno.ENFILE,
          _h.EPERM: _errno.EPERM, _h.EIO: _errno.EIO, _h.EINTR: _errno.EINTR}
WAIT_MAX = _h.WAIT_MAX
_INT_MIN, _INT_MAX = -0x80000000, 0x7fffffff
UNLIMITED = _math.inf
_EVENT_SIZE = _ctypes.sizeof(_lib.Event)
_EVENT_FMT = "=QiI" if _EVENT_SIZE == 16 else "=QQI4x"
_iter_unpack = _struct.iter_unpack
# The hot path calls xpoll_wait without declared argtypes: ctypes then passes the handle (a c_void_p),
# the buffer (a char array) and the two ints as they are, which halves the cost of the call. The
# ints are bounded to C int range before every call.
_xpoll_wait = _clib["xpoll_wait"]
_xpoll_wait.restype = _ctypes.c_int
# A positive time-out goes to xpoll_wait_ns in nanoseconds, so that fractions of a millisecond are not
# rounded away (a backend without XPOLL_CAP_NS_TIMEOUT rounds them up in the library). Its int64_t is
# given as a c_int64, which ctypes passes as such without argtypes; -1 and 0 take xpoll_wait, which
# means the same with them, and costs no c_int64.
_xpoll_wait_ns = _clib["xpoll_wait_ns"]
_xpoll_wait_ns.restype = _ctypes.c_int
_c_int64 = _ctypes.c_int64
# Likewise for registrations where a descriptor is a C int (not Windows, whose SOCKET is 64-bit). The
# C data is not used (events are mapped back to Python data by descriptor): a constant zero, typed.
if _sys.platform != "win32":
    _xpoll_add, _xpoll_modify, _xpoll_remove = _clib["xpoll_add"], _clib["xpoll_modify"], _clib["xpoll_remove"]
    for _f in (_xpoll_add, _xpoll_modify, _xpoll_remove):
        _f.restype = _ctypes.c_int
else:
    _xpoll_add, _xpoll_modify, _xpoll_remove = _clib.xpoll_add, _clib.xpoll_modify, _clib.xpoll_remove
_NO_DATA = _ctypes.c_uint64(0)


def _strerror(rc):
    return _clib.xpoll_strerror(rc).decode()


def _error(rc, fd=None):
    """The Python exception for an XPOLL_E* code."""
    if rc == _EINVAL:
        return ValueError(f"xpoll: {_strerror(rc)}")
    if rc == _ENOMEM:
        return MemoryError(f"xpoll: {_strerror(rc)}")
    if rc == _EFORKED:
        return RuntimeError("xpoll: this poller was created before fork(); create a new one in the child")
    if rc == _ENOBACKEND:
        return ValueError(f"xpoll: {_strerror(rc)}")
    code = _ERRNO.get(rc, _errno.EIO)
    e = OSError(code, f"{_strerror(rc)} ({_clib.xpoll_errname(rc).decode()})")
    if fd is not None:
        e.filename = f"fd {fd}"
    return e


def _fileno(fileobj):
    """A descriptor from an int or an object with fileno(), as select.epoll takes them."""
    if isinstance(fileobj, bool):
        raise TypeError("a descriptor must be an int or have a fileno() method, not bool")
    if isinstance(fileobj, int):
        fd = int(fileobj)
    else:
        try:
            fileno = fileobj.fileno
        except AttributeError:
            raise TypeError(f"a descriptor must be an int or have a fileno() method, not {type(fileobj).__name__}") \
                from None
        fd = fileno()
        if not isinstance(fd, int):
            raise TypeError(f"fileno() returned a non-integer ({type(fd).__name__})")
        fd = int(fd)
    if fd < 0:
        raise ValueError(f"invalid file descriptor: {fd}")
    if fd > _INT_MAX:
        raise OverflowError(f"file descriptor too large: {fd}")
    return fd


def _flag(name, value):
    """A keyword flag (shared=, exclusive=): True or False, nothing else, so that a mistyped value is not
    taken as true."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, not {type(value).__name__}")
    return value


def _mask(events, mode, exclusive=False):
    """The C interest mask. Types and ranges are checked here, as ctypes would otherwise check them in its
    own way (ArgumentError) or not at all."""
    if not isinstance(events, int) or isinstance(events, bool):
        raise TypeError(f"events must be an int, not {type(events).__name__}")
    if _flag("exclusive", exclusive):
        events |= EXCLUSIVE
    if mode is not None:
        if not isinstance(mode, str):
            raise TypeError(f"mode must be a str or None, not {type(mode).__name__}")
        try:
            events |= _MODES[mode]
        except KeyError:
            raise ValueError(f"mode must be one of {', '.join(_MODES)}, not {mode!r}") from None
    if events < 0:
        raise ValueError(f"invalid event mask: {events:#x}")
    if events > 0xffffffff:
        raise OverflowError(f"event mask does not fit 32 bits: {events:#x}")
    return int(events)


def _timeout_ns(timeout):
    """select.epoll's rule, in nanoseconds: None or negative waits forever (-1); else seconds (an int or a
    float) rounded up to nanoseconds, never down. As select.epoll, the time-out must fit a C int of
    milliseconds (OverflowError beyond), TypeError for another type, ValueError for NaN."""
    if timeout is None:
        return -1
    if isinstance(timeout, float):
        if timeout != timeout:
            raise ValueError("timeout must be a number, not NaN")
    else:
        try:
            timeout = _operator.index(timeout)
        except TypeError:
            raise TypeError(f"timeout must be a number of seconds or None, not {type(timeout).__name__}") from None
    ms = _math.ceil(timeout * 1000)  # OverflowError for an infinity
    if ms < _INT_MIN or ms > _INT_MAX:
        raise OverflowError("timeout is too large")
    if timeout < 0:
        return -1
    # An int exactly; a float through its product with 10**9, rounded up.
    return timeout * 1_000_000_000 if isinstance(timeout, int) else _math.ceil(timeout * 1e9)


def _backend_name(name):
    """A backend name as the C library takes it: a str, encoded, without the NUL that would end it early."""
    if not isinstance(name, str):
        raise TypeError(f"backend must be a str or None, not {type(name).__name__}")
    if "\0" in name:
        raise ValueError(f"embedded null character in backend name {name!r}")
    return name.encode()


def version():
    """The C library's version, as "major.minor.patch"."""
    return _clib.xpoll_version_string().decode()


def backends():
    """The compiled backends, best first."""
    n = _clib.xpoll_backends(None, 0)
    names = (_ctypes.c_char_p * n)()
    _clib.xpoll_backends(names, n)
    return [x.decode() for x in names]


def _cap_names(bits):
    return frozenset(name for bit, name in _CAPS.items() if bits & bit)


def backend_capabilities(name):
    """The capabilities of a compiled backend, as a frozenset of names ("edge", "oneshot", ...)."""
    rc = _clib.xpoll_backend_capabilities(_backend_name(name))
    if rc < 0:
        raise _no_backend(name) if rc == _ENOBACKEND else _error(rc)
    return _cap_names(rc)


def _no_backend(name):
    return ValueError(f"xpoll: no backend {name!r} is compiled in (compiled: {', '.join(backends())})")


_KEEP = object()


class _Buffer:
    """Where one wait puts its events: a C array and a byte view of it, grown to the largest wait asked."""

    __slots__ = ("buf", "view", "cap")

    def __init__(self):
        self.buf = self.view = None
        self.cap = 0

    def reserve(self, n):
        """The array and its view, with room for n events. A wait keeps the pair it was given: a buffer
        replaced meanwhile (by another thread, refused with EBUSY) does not change what it reads."""
        if self.cap < n:
            self.cap = max(n, 64)
            self.buf = _ctypes.create_string_buffer(self.cap * _EVENT_SIZE)
            self.view = memoryview(self.buf).cast("B")
        return self.buf, self.view


class Poller:
    """A poller over one xpoll backend.

    Poller(backend=None, *, shared=False) opens the named backend ("epoll", "kqueue", "poll", "select"), or
    the best one ($XPOLL_BACKEND overrides that choice). Descriptors are ints or objects with fileno(); the
    data given at registration comes back with each event. Errors are the usual exceptions: FileExistsError
    for a second registration, FileNotFoundError for an unknown descriptor, OSError(EBADF) for a closed one,
    ValueError and TypeError for bad arguments, OSError(ENOTSUP) for a mode the backend lacks.

    One thread at a time may be in poll(): a second one gets OSError(EBUSY). With shared=True (XPOLL_SHARED)
    any number of threads may poll at once, each with a buffer of its own: a oneshot registration is
    reported to exactly one of them per arming (handle it, then re-arm it with modify()), a level-triggered
    one possibly to several, and wake() makes every poll() in progress return. The GIL is released while a
    poll() blocks. Close the poller only when no poll() is in progress (wake them and join them first).
    """

    def __init__(self, backend=None, *, shared=False):
        name = None if backend is None else _backend_name(backend)
        flags = SHARED if _flag("shared", shared) else 0
        handle = _ctypes.c_void_p()
        rc = _clib.xpoll_create(_ctypes.byref(handle), name or None, flags)
        if rc == _ENOBACKEND:
            raise _no_backend(backend or _os.environ.get("XPOLL_BACKEND", ""))
        if rc < 0:
            raise _error(rc)
        self._p = handle
        self._backend = _clib.xpoll_backend(handle).decode()
        self._shared = shared
        self._data = {}
        # The C library gives each waiter of a shared poller its own kernel buffer; the binding gives each
        # waiting thread its own array to receive the events.
        self._buffer = _Buffer()
        self._buffers = _threading.local() if shared else None

    # -- lifecycle -------------------------------------------------------------------------------------

    def close(self):
        """Destroys the poller; further calls raise ValueError. Closing twice is harmless."""
        p, self._p = getattr(self, "_p", None), None
        if p:
            _clib.xpoll_destroy(p)
        self._data = {}

    @property
    def closed(self):
        return self._p is None

    def __enter__(self):
        self._handle()
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()

    def _handle(self):
        if self._p is None:
            raise ValueError("I/O operation on a closed poller")
        return self._p

    def __repr__(self):
        name = f"{type(self).__module__}.{type(self).__qualname__}"
        backend = getattr(self, "_backend", None)
        if getattr(self, "_p", None) is None:
            return f"<{name} backend={backend!r} closed>" if backend else f"<{name} closed>"
        shared = " shared" if getattr(self, "_shared", False) else ""
        return f"<{name} backend={backend!r}{shared} registered={len(self._data)}>"

    # -- identity --------------------------------------------------------------------------------------

    @property
    def backend(self):
        """The backend's name."""
        self._handle()
        return self._backend

    @property
    def capabilities(self):
        """What the backend can do: a frozenset of "oneshot", "edge", "rdhup", "nonsocket", "unbounded",
        "live_changes", "hangup", "exclusive", "ns_timeout" (poll() honours fractions of a millisecond),
        "pri" (PRI can be watched), "fd" (fileno() gives the poller's descriptor)."""
        return _cap_names(_clib.xpoll_capabilities(self._handle()))

    def fileno(self):
        """The poller's own descriptor (xpoll_fd), to nest it in another event loop: readable while a
        poll() would report something (an event or a wake), and sometimes spuriously, so watch it for
        reading and then poll(0). The same descriptor for the poller's life; close() closes it. Only
        backends with the "fd" capability have one (epoll, and a kernel's kqueue, not libkqueue's);
        the others raise OSError(ENOTSUP). Never read it, close it, or register it with this poller."""
        rc = _clib.xpoll_fd(self._handle())
        if rc < 0:
            raise _error(rc)
        return rc

    @property
    def shared(self):
        """Whether several threads may poll() at once (Poller(shared=True))."""
        return self._shared

    # -- registrations ---------------------------------------------------------------------------------

    def register(self, fileobj, events=IN, data=None, *, mode=None, exclusive=False):
        """Watches fileobj for events (IN, OUT, RDHUP, PRI; ERR and HUP always). mode is "level" (default),
        "oneshot" or "edge", or give ONESHOT or EDGE in events. PRI is priority data (TCP urgent data,
        sent with MSG_OOB): backends with the "pri" capability watch it (epoll, poll, select), the others
        raise OSError(ENOTSUP).

        exclusive=True (or EXCLUSIVE in events) asks for exclusive wake-up: of several pollers watching the
        same file with it (workers sharing a listening socket), one readiness change wakes one of them, not
        all. Only backends with the "exclusive" capability have it (epoll); the others raise
        OSError(ENOTSUP). With the oneshot mode or RDHUP it is a ValueError (the kernel refuses both)."""
        fd = _fileno(fileobj)
        mask = _mask(events, mode, exclusive)
        handle = self._handle()
        # The data is in place before the library may report the descriptor to a poll() in another thread.
        fresh = fd not in self._data
        if fresh:
            self._data[fd] = data
        rc = _xpoll_add(handle, fd, mask, _NO_DATA)
        if rc < 0:
            if fresh:
                self._data.pop(fd, None)
            raise _error(rc, fd)
        self._data[fd] = data

    def modify(self, fileobj, events, data=_KEEP, *, mode=None, exclusive=False):
        """Changes the interest (and the data, if given); re-arms a oneshot registration. The new interest is
        the whole of it: exclusive wake-up is kept only when asked again (exclusive=True or EXCLUSIVE in
        events). A modify that adds, drops or keeps exclusive is made as a removal and an add in the library,
        so what is ready then is reported once more."""
        fd = _fileno(fileobj)
        mask = _mask(events, mode, exclusive)
        handle = self._handle()
        # New data is in place before a re-armed registration may be reported to another thread, and put
        # back as it was if the library refuses the change.
        old = self._data.get(fd, _KEEP)
        if data is not _KEEP:
            self._data[fd] = data
        rc = _xpoll_modify(handle, fd, mask, _NO_DATA)
        if rc < 0:
            if data is not _KEEP:
                if old is _KEEP:
                    self._data.pop(fd, None)
                else:
                    self._data[fd] = old
            raise _error(rc, fd)

    def unregister(self, fileobj):
        """Stops watching fileobj; nothing of it is reported afterwards. Returns its data."""
        fd = _fileno(fileobj)
        rc = _xpoll_remove(self._handle(), fd)
        if rc < 0:
            raise _error(rc, fd)
        return self._data.pop(fd, None)

    def __len__(self):
        return len(self._data)

    def __contains__(self, fileobj):
        try:
            return _fileno(fileobj) in self._data
        except (TypeError, ValueError, OverflowError):
            return False

    # -- waiting ---------------------------------------------------------------------------------------

    def poll(self, timeout=None, maxevents=-1):
        """Waits up to timeout seconds (None: forever, 0: not at all) for events. Returns a list of
        (fd, events, data). The time-out is passed on in nanoseconds, rounded up, never down: backends
        with the "ns_timeout" capability wait fractions of a millisecond as given, the others round up
        to milliseconds. A signal that arrives runs its Python handler, and the wait goes on with the
        time left (PEP 475) unless the handler raised."""
        self._handle()
        ns = _timeout_ns(timeout)
        if maxevents is not None:
            maxevents = _operator.index(maxevents)  # TypeError for a float, as select.epoll
            if maxevents < _INT_MIN or maxevents > _INT_MAX:
                raise OverflowError("maxevents does not fit a C int")
        if maxevents is None or maxevents < 0:
            maxevents = max(len(self._data), 1)
        elif maxevents == 0 or maxevents > WAIT_MAX:
            raise ValueError(f"maxevents must be between 1 and {WAIT_MAX}, or negative for all")
        n, view = self._wait(min(maxevents, WAIT_MAX), ns)
        data = self._data
        return [(fd, ev, data.get(fd)) for _, fd, ev in _iter_unpack(_EVENT_FMT, view[:n * _EVENT_SIZE])]

    def _wait(self, maxevents, ns):
        """Waits; returns the count and a view of the buffer that holds the events. The hot path is one C
        call, made by ctypes with the GIL released."""
        if self._buffers is None:
            b = self._buffer
        else:
            b = getattr(self._buffers, "b", None)
            if b is None:
                b = self._buffers.b = _Buffer()
        buf, view = b.reserve(maxevents)
        # The deadline is fixed before the first wait, so that a signal does not start the time-out again.
        if ns > 0:
            deadline = _time.monotonic_ns() + ns
            n = _xpoll_wait_ns(self._p, buf, maxevents, _c_int64(ns))
        else:
            deadline = None
            n = _xpoll_wait(self._p, buf, maxevents, ns)
        if n >= 0:
            return n, view
        while n == _EINTR:
            # Back in Python: a pending signal handler has run by now (and an exception it raised
            # propagates from here). Wait again for what is left.
            if deadline is not None:
                n = _xpoll_wait_ns(self._handle(), buf, maxevents, _c_int64(max(0, deadline - _time.monotonic_ns())))
            else:
                n = _xpoll_wait(self._handle(), buf, maxevents, ns)
        if n < 0:
            raise _error(n)
        return n, view

    def wake(self):
        """Makes the current poll() in another thread return (with what is ready, or nothing), or the
        next one if none is waiting; on a shared poller, every poll() in progress. Wakes are coalesced."""
        rc = _clib.xpoll_wake(self._handle())
        if rc < 0:
            raise _error(rc)


# -- the probe ---------------------------------------------------------------------------------------------

def _limit_value(v):
    if v == _h.LIMIT_UNKNOWN:
        return None
    if v == _h.LIMIT_INFINITE:
        return UNLIMITED
    return v


def limits():
    """The descriptor limits: {name: {"value": int, None (unknown) or UNLIMITED, "source": str or None}}.
    A None source means the limit does not apply on this OS."""
    l = _lib.Limits()
    l.size = _ctypes.sizeof(_lib.Limits)
    rc = _clib.xpoll_read_limits(_ctypes.byref(l))
    if rc < 0:
        raise _error(rc)
    out = {}
    for name in _h.LIMIT_FIELDS:
        f = getattr(l, name)
        out[name] = {"value": _limit_value(f.value) if f.source else None,
                     "source": f.source.decode() if f.source else None}
    return out


def raise_nofile():
    """Raises the soft descriptor limit as far as allowed. Returns (before, after)."""
    before, after = _ctypes.c_int64(), _ctypes.c_int64()
    rc = _clib.xpoll_raise_nofile(_ctypes.byref(before), _ctypes.byref(after))
    if rc < 0:
        raise _error(rc)
    return _limit_value(before.value), _limit_value(after.value)


_STEPS = {"descriptors": _h.PROBE_DESCRIPTORS, "backends": _h.PROBE_BACKENDS, "connections": _h.PROBE_CONNECTIONS}


def probe(steps=("descriptors", "backends"), *, max_descriptors=0, connections=0, timeout=0, ready=0, backend=None):
    """Measures what this process can hold (see xpoll-probe). steps: any of "descriptors", "backends",
    "connections". Returns a dict shaped like the descriptors, backends and connections of
    xpoll-probe --json."""
    mask = 0
    for s in steps:
        if s not in _STEPS:
            raise ValueError(f"unknown probe step {s!r}: use {', '.join(_STEPS)}")
        mask |= _STEPS[s]
    for name, v in (("max_descriptors", max_descriptors), ("connections", connections), ("ready", ready),
                    ("timeout", timeout)):
        if not isinstance(v, (int, float)):
            raise TypeError(f"{name} must be a number, not {type(v).__name__}")
        if not v >= 0:
            raise ValueError(f"{name} must be a non-negative number")
    o = _lib.ProbeOptions()
    o.size = _ctypes.sizeof(_lib.ProbeOptions)
    o.steps = mask
    if max_descriptors > 1 << 40 or connections > 1 << 40 or ready > 1 << 30:
        raise ValueError("max_descriptors, connections or ready out of range")
    o.max_descriptors = int(max_descriptors)
    o.connections = int(connections)
    if timeout > 600:
        raise ValueError("timeout must be at most 600 seconds")
    o.timeout_ms = _math.ceil(timeout * 1000)  # a positive timeout is at least 1 ms, not the default
    o.ready = int(ready)
    o.backend = None if backend is None else _backend_name(backend) or None
    r = _lib.ProbeResult()
    r.size = _ctypes.sizeof(_lib.ProbeResult)
    rc = _clib.xpoll_probe(_ctypes.byref(o), _ctypes.byref(r))
    if rc == _ENOBACKEND:
        raise _no_backend(backend)
    if rc < 0:
        raise _error(rc)
    err = lambda e: _clib.xpoll_errname(e).decode() if e else None  # noqa: E731
    out = {"descriptors": None, "backends": [], "connections": None}
    if r.steps & _h.PROBE_DESCRIPTORS:
        out["descriptors"] = {"opened": r.descriptors, "seconds": r.descriptors_ns / 1e9,
                              "bytes_each": None if r.descriptor_bytes < 0 else r.descriptor_bytes,
                              "stopped_by": err(r.descriptors_error)}
    for b in r.backends[:min(r.backend_count, _h.PROBE_MAX_BACKENDS)]:
        out["backends"].append({"name": b.name.decode(), "capabilities": _cap_names(b.capabilities),
                                "passed": bool(b.passed), "max_fd": b.max_fd, "registered": b.registered,
                                "highest_fd": b.highest_fd, "ready_expected": b.ready_expected,
                                "ready_reported": b.ready_reported, "wrong_reported": b.wrong_reported,
                                "register_seconds": b.register_ns / 1e9, "wait_seconds": b.wait_ns / 1e9,
                                "error": err(b.error)})
    if r.steps & _h.PROBE_CONNECTIONS:
        out["connections"] = {"tried": r.connections_tried, "held": r.connections_held,
                              "seconds": r.connections_ns / 1e9,
                              "bytes_each": None if r.connection_bytes < 0 else r.connection_bytes,
                              "first_error": r.connections_error.decode() or None}
    return out
