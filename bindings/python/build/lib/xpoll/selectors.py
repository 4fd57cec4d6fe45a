"""XpollSelector: a selectors.BaseSelector over any xpoll backend.

    import asyncio, selectors
    from xpoll.selectors import XpollSelector
    loop = asyncio.SelectorEventLoop(XpollSelector())          # or XpollSelector("poll")

It behaves as the standard library's selectors do: KeyError for a file object registered twice or
not registered, ValueError for an invalid file object or event mask, the same timeout rules, and
select() retries after a signal whose handler did not raise (PEP 475).
"""
import math
import selectors
from selectors import EVENT_READ, EVENT_WRITE, SelectorKey

from . import IN, OUT, Poller

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


class XpollSelector(selectors.BaseSelector):
    """A selector over xpoll backend `backend` (None: the best compiled one)."""

    def __init__(self, backend=None):
        self._poller = Poller(backend)
        self._fd_to_key = {}
        self._map = _Map(self)

    @property
    def backend(self):
        return self._poller.backend

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
        return (IN if events & EVENT_READ else 0) | (OUT if events & EVENT_WRITE else 0)

    def register(self, fileobj, events, data=None):
        if (not events) or (events & ~(EVENT_READ | EVENT_WRITE)):
            raise ValueError(f"Invalid events: {events!r}")
        key = SelectorKey(fileobj, self._fileobj_lookup(fileobj), events, data)
        if key.fd in self._fd_to_key:
            raise KeyError(f"{fileobj!r} (FD {key.fd}) is already registered")
        self._poller.register(key.fd, self._mask(events))  # OSError (EBADF ...) propagates, nothing kept
        self._fd_to_key[key.fd] = key
        return key

    def unregister(self, fileobj):
        try:
            key = self._fd_to_key.pop(self._fileobj_lookup(fileobj))
        except KeyError:
            raise KeyError(f"{fileobj!r} is not registered") from None
        try:
            self._poller.unregister(key.fd)
        except OSError:
            pass  # closed before it was unregistered: the poller has let it go
        return key

    def modify(self, fileobj, events, data=None):
        try:
            key = self._fd_to_key[self._fileobj_lookup(fileobj)]
        except KeyError:
            raise KeyError(f"{fileobj!r} is not registered") from None
        if (not events) or (events & ~(EVENT_READ | EVENT_WRITE)):
            raise ValueError(f"Invalid events: {events!r}")
        if events != key.events:
            self._poller.modify(key.fd, self._mask(events))
            key = key._replace(events=events, data=data)
            self._fd_to_key[key.fd] = key
        elif data != key.data:
            key = key._replace(data=data)
            self._fd_to_key[key.fd] = key
        return key

    def select(self, timeout=None):
        if timeout is not None:
            # The standard library's rule: non-positive means do not block; round up to milliseconds.
            timeout = 0 if timeout <= 0 else math.ceil(timeout * 1e3) * 1e-3
        ready = []
        fd_to_key = self._fd_to_key
        for fd, ev, _ in self._poller.poll(timeout, max(len(fd_to_key), 1)):
            key = fd_to_key.get(fd)
            if key is None:
                continue
            events = (EVENT_READ if ev & IN else 0) | (EVENT_WRITE if ev & OUT else 0)
            if events & key.events:
                ready.append((key, events & key.events))
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
