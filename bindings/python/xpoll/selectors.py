"""XpollSelector: a selectors.BaseSelector over any xpoll backend.

    import asyncio, selectors
    from xpoll.selectors import XpollSelector
    loop = asyncio.SelectorEventLoop(XpollSelector())          # or XpollSelector("poll")

It behaves as the standard library's selectors do: KeyError for a file object registered twice or
not registered, ValueError for an invalid file object or event mask, the same timeout rules, and
select() retries after a signal whose handler did not raise (PEP 475). register, unregister, modify,
select and get_key are C (xpoll/_speedups.c), over the same library as the rest of the package.
"""
import ctypes as _ctypes
import selectors as _selectors
from selectors import EVENT_READ, EVENT_WRITE

from . import Poller as _Poller
from . import _error, _lib, _timeout_ns
from . import _header as _h
from . import _speedups

__all__ = ["XpollSelector", "EVENT_READ", "EVENT_WRITE"]


def _select_timeout_ns(timeout):
    """select()'s time-out in nanoseconds, by the standard library's rule: None blocks, non-positive does not
    wait, else round up (OverflowError beyond a C int of milliseconds, as EpollSelector and PollSelector);
    not to milliseconds, as they do, but to nanoseconds, which xpoll_wait_ns takes. _speedups does ints and
    floats itself and calls this for anything else."""
    if timeout is None:
        return -1
    if timeout <= 0:
        return 0
    return _timeout_ns(timeout)


def _address(name):
    return _ctypes.cast(_lib.lib[name], _ctypes.c_void_p).value


assert _speedups.EVENT_SIZE == _ctypes.sizeof(_h.Event)
_speedups.bind(_address("xpoll_add"), _address("xpoll_modify"), _address("xpoll_remove"), _address("xpoll_wait_ns"),
               _error, _select_timeout_ns)


class _Map:
    """The read-only fileobj -> SelectorKey mapping that get_map() returns."""

    def __init__(self, selector):
        self._selector = selector

    def __len__(self):
        return len(self._selector._fd_to_key)

    def get(self, fileobj, default=None):
        fd = self._selector._fileobj_lookup(fileobj)
        return self._selector._fd_to_key.get(fd, default)

    def __getitem__(self, fileobj):
        fd = self._selector._fileobj_lookup(fileobj)
        key = self._selector._fd_to_key.get(fd)
        if key is None:
            raise KeyError(f"{fileobj!r} is not registered")
        return key

    def __iter__(self):
        return iter(self._selector._fd_to_key)

    def keys(self):
        return self._selector._fd_to_key.keys()

    def values(self):
        return self._selector._fd_to_key.values()

    def items(self):
        return self._selector._fd_to_key.items()

    def __contains__(self, fileobj):
        return self.get(fileobj) is not None


class XpollSelector(_speedups.SelectorBase, _selectors.BaseSelector):
    """A selector over xpoll backend `backend` (None: the best compiled one).

    register(), unregister(), modify(), select() and get_key() are the C base class's (xpoll._speedups): the
    standard library's rules, one C call each. select(timeout) waits fractions of a millisecond as given
    where the backend has the "ns_timeout" capability (the standard library's selectors round up to
    milliseconds).

    fileno() is there only where the backend has the "fd" capability (epoll, a kernel's kqueue): the
    poller's descriptor, as EpollSelector.fileno() gives the epoll set's. Elsewhere the selector has no
    such attribute, which is the standard library's rule for a selector with no single descriptor.
    """

    def __init__(self, backend=None):
        self._poller = _Poller(backend)
        self._attach(self._poller._p.value)
        self._map = _Map(self)
        if "fd" in self._poller.capabilities:
            self.fileno = self._poller.fileno

    @property
    def backend(self):
        return self._poller.backend

    def __repr__(self):
        name = f"{type(self).__module__}.{type(self).__qualname__}"
        poller = getattr(self, "_poller", None)
        if poller is None:
            return f"<{name} closed>"
        if poller.closed:
            return f"<{name} backend={poller._backend!r} closed>"
        return f"<{name} backend={poller._backend!r} registered={len(self._fd_to_key)}>"

    def wake(self):
        """Makes a select() blocked in another thread return."""
        self._poller.wake()

    def close(self):
        poller = getattr(self, "_poller", None)
        if poller is None:
            return
        self._detach()
        poller.close()
        self._fd_to_key.clear()
        self._map = None

    def get_map(self):
        return self._map
