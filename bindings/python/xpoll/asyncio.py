"""asyncio on xpoll: what uvloop users know, with a standard SelectorEventLoop over XpollSelector.

    import xpoll.asyncio
    xpoll.asyncio.run(main())                      # the best backend; or run(main(), backend="poll")

    loop = xpoll.asyncio.new_event_loop("epoll")   # a loop of your own
    xpoll.asyncio.install()                        # asyncio.run(), get_event_loop() ... make xpoll loops from now on
    asyncio.set_event_loop_policy(xpoll.asyncio.EventLoopPolicy("poll"))   # the same, spelled out

The loop is asyncio's own SelectorEventLoop (on Unix the one with signals, subprocesses and Unix sockets):
only the selector under it is xpoll's, so that it behaves as the loops asyncio ships, which its test suite
checks on every backend. `backend` is a name ("epoll", "kqueue", "poll", "select"), or None for the best
compiled one ($XPOLL_BACKEND overrides that choice).
"""
import asyncio as _asyncio

from .selectors import XpollSelector as _XpollSelector

__all__ = ["new_event_loop", "EventLoopPolicy", "install", "run"]


def new_event_loop(backend=None):
    """A new asyncio.SelectorEventLoop on an XpollSelector over `backend`."""
    return _asyncio.SelectorEventLoop(_XpollSelector(backend))


class EventLoopPolicy(_asyncio.DefaultEventLoopPolicy):
    """asyncio's default policy (child watchers included), whose loops are xpoll loops over `backend`."""

    def __init__(self, backend=None):
        super().__init__()
        _XpollSelector(backend).close()  # an unknown backend fails here, not at the first loop
        self._backend = backend

    @property
    def backend(self):
        return self._backend

    def new_event_loop(self):
        return new_event_loop(self._backend)

    def __repr__(self):
        return f"<{type(self).__module__}.{type(self).__qualname__} backend={self._backend!r}>"


def install(backend=None):
    """Makes asyncio use xpoll loops by default: sets an EventLoopPolicy over `backend`, and returns it."""
    policy = EventLoopPolicy(backend)
    _asyncio.set_event_loop_policy(policy)
    return policy


def run(main, *, backend=None, debug=None):
    """asyncio.run(main) on an xpoll loop over `backend`, without changing the event loop policy."""
    _XpollSelector(backend).close()  # an unknown backend fails before the coroutine is taken
    runner_class = getattr(_asyncio, "Runner", None)
    if runner_class is not None:
        with runner_class(debug=debug, loop_factory=lambda: new_event_loop(backend)) as runner:
            return runner.run(main)
    # Python 3.8 to 3.10 have no Runner: asyncio.run under an xpoll policy for the time of the call.
    old = _asyncio.get_event_loop_policy()
    _asyncio.set_event_loop_policy(EventLoopPolicy(backend))
    try:
        return _asyncio.run(main, debug=bool(debug))
    finally:
        _asyncio.set_event_loop_policy(old)
