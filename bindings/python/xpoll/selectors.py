"""XpollSelector: a selectors.BaseSelector over any xpoll backend.

    import asyncio, selectors
    from xpoll.selectors import XpollSelector
    loop = asyncio.SelectorEventLoop(XpollSelector())          # or XpollSelector("poll")

It behaves as the standard library's selectors do: KeyError for a file object registered twice or
not registered, ValueError for an invalid file object or event mask, the same timeout rules, and
select() retries after a signal whose handler did not raise (PEP 475).
"""
import selectors as _selectors
from selectors import EVENT_READ, EVENT_WRITE
from selectors import SelectorKey as _SelectorKey

from . import IN as _IN, OUT as _OUT, WAIT_MAX as _WAIT_MAX, Poller as _Poller
from . import _EVENT_FMT, _EVENT_SIZE, _NO_DATA, _error, _iter_unpack, _timeout_ms, _xpoll_add, _xpoll_modify, \
    _xpoll_remove

assert _IN == EVENT_READ and _OUT == EVENT_WRITE << 1  # select() maps the bits by shifting

__all__ = ["XpollSelector", "EVENT_READ", "EVENT_WRITE"]


def _fileobj_to_fd(fileobj):
    """As the standard library does it: an int, or fileno(); ValueError otherwise."""
    if isinstance(fileobj, int):
        fd = fileobj
    else:
        try:
            fd = int(fileobj.fileno())
        except (AttributeError, TypeError, ValueError):
            raise ValueError(f"Invalid file object: {fileobj!r}") from None
    if fd < 0:
        raise ValueError(f"Invalid file descriptor: {fd}")
    return fd


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


class XpollSelector(_selectors.BaseSelector):
    """A selector over xpoll backend `backend` (None: the best compiled one)."""

    def __init__(self, backend=None):
        self._poller = _Poller(backend)
        self._fd_to_key = {}
        self._map = _Map(self)

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

    def fileno(self):
        raise NotImplementedError("an xpoll poller has no single descriptor to watch")

    def _fileobj_lookup(self, fileobj):
        try:
            return _fileobj_to_fd(fileobj)
        except ValueError:
            # A file object that was closed after registration: find it by identity.
            for key in self._fd_to_key.values():
                if key.fileobj is fileobj:
                    return key.fd
            raise

    @staticmethod
    def _mask(events):
        return (_IN if events & EVENT_READ else 0) | (_OUT if events & EVENT_WRITE else 0)

    def register(self, fileobj, events, data=None):
        if (not events) or (events & ~(EVENT_READ | EVENT_WRITE)):
            raise ValueError(f"Invalid events: {events!r}")
        fd = self._fileobj_lookup(fileobj)
        if fd in self._fd_to_key:
            raise KeyError(f"{fileobj!r} (FD {fd}) is already registered")
        if fd > 0x7fffffff:
            raise ValueError(f"Invalid file descriptor: {fd}")
        rc = _xpoll_add(self._poller._handle(), fd, self._mask(events), _NO_DATA)
        if rc < 0:
            raise _error(rc, fd)  # OSError (EBADF ...); nothing is kept
        key = _SelectorKey(fileobj, fd, events, data)
        self._fd_to_key[fd] = key
        return key

    def unregister(self, fileobj):
        try:
            key = self._fd_to_key.pop(self._fileobj_lookup(fileobj))
        except KeyError:
            raise KeyError(f"{fileobj!r} is not registered") from None
        # A descriptor closed before it was unregistered is let go all the same.
        _xpoll_remove(self._poller._handle(), key.fd)
        return key

    def modify(self, fileobj, events, data=None):
        try:
            key = self._fd_to_key[self._fileobj_lookup(fileobj)]
        except KeyError:
            raise KeyError(f"{fileobj!r} is not registered") from None
        if (not events) or (events & ~(EVENT_READ | EVENT_WRITE)):
            raise ValueError(f"Invalid events: {events!r}")
        if events != key.events:
            rc = _xpoll_modify(self._poller._handle(), key.fd, self._mask(events), _NO_DATA)
            if rc < 0:
                raise _error(rc, key.fd)
            key = key._replace(events=events, data=data)
            self._fd_to_key[key.fd] = key
        elif data != key.data:
            key = key._replace(data=data)
            self._fd_to_key[key.fd] = key
        return key

    def select(self, timeout=None):
        # The standard library's rule: None blocks, non-positive does not, else round up to milliseconds
        # (OverflowError beyond a C int of them, as EpollSelector and PollSelector).
        if timeout is None:
            ms = -1
        elif timeout <= 0:
            ms = 0
        else:
            ms = _timeout_ms(timeout)
        fd_to_key = self._fd_to_key
        poller = self._poller
        if poller._p is None:
            raise ValueError("I/O operation on a closed selector")
        n = poller._wait(min(len(fd_to_key), _WAIT_MAX) or 1, ms)
        if n == 0:
            return []
        ready = []
        # IN is EVENT_READ's bit; OUT (4) becomes EVENT_WRITE (2). Errors and hang-ups arrive with IN
        # or OUT set already, as the interest asked.
        for _, fd, ev in _iter_unpack(_EVENT_FMT, poller._view[:n * _EVENT_SIZE]):
            key = fd_to_key.get(fd)
            if key is not None:
                events = ((ev & _IN) | ((ev & _OUT) >> 1)) & key.events
                if events:
                    ready.append((key, events))
        return ready

    def wake(self):
        """Makes a select() blocked in another thread return."""
        self._poller.wake()

    def close(self):
        self._poller.close()
        self._fd_to_key.clear()
        self._map = None

    def get_map(self):
        return self._map
