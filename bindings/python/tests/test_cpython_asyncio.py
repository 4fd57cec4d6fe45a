"""CPython's own asyncio event-loop tests on xpoll.asyncio's loops, on every backend.

The conformance suites CPython runs on each selector event loop (Lib/test/test_asyncio): test_events (the
loop's whole surface: callbacks, timers, sockets, servers, datagrams, pipes, ptys, signals, subprocesses),
test_sock_lowlevel (the loop's sock_* methods) and test_sendfile; one short class per backend, as CPython
writes them. A test that fails only for a documented reason of the kqueue emulation is skipped with it.
The interpreter's test package must be installed (Debian: libpython3.11-testsuite).
"""
import sys
import unittest

from test.test_asyncio import test_events as events
from test.test_asyncio import test_sendfile as sendfile
from test.test_asyncio import test_sock_lowlevel as sock_lowlevel
from test.test_asyncio import utils as test_utils

import xpoll.asyncio
from conftest import BACKENDS

LIBKQUEUE = sys.platform == "linux"  # kqueue on Linux is libkqueue's emulation


def compiled(backend):
    return unittest.skipUnless(backend in BACKENDS, f"the {backend} backend is not compiled in or not tested")


class Loop:
    def create_event_loop(self):
        return xpoll.asyncio.new_event_loop(self.BACKEND)


# libkqueue reads a socket's SO_ERROR itself when it reports EOF, which clears the error of a refused
# non-blocking connect: asyncio then sees the connect succeed (FACTS: an emulation artifact; a BSD keeps it).
REFUSED = "libkqueue (kqueue emulated on Linux) clears a refused connect's SO_ERROR, so the connect looks successful"


class KqueueEmulationEvents:
    @unittest.skipIf(LIBKQUEUE, REFUSED)
    def test_create_connection_local_addr_skip_different_family(self):
        super().test_create_connection_local_addr_skip_different_family()


class KqueueEmulationSock:
    @unittest.skipIf(LIBKQUEUE, REFUSED)
    def test_sock_client_fail(self):
        super().test_sock_client_fail()

    @unittest.skipIf(LIBKQUEUE, REFUSED + " (the test's last step connects to a closed listener)")
    def test_cancel_sock_accept(self):
        super().test_cancel_sock_accept()


@compiled("epoll")
class EpollEventLoopTests(Loop, events.UnixEventLoopTestsMixin, events.SubprocessTestsMixin, test_utils.TestCase):
    BACKEND = "epoll"


@compiled("poll")
class PollEventLoopTests(Loop, events.UnixEventLoopTestsMixin, events.SubprocessTestsMixin, test_utils.TestCase):
    BACKEND = "poll"


@compiled("select")
class SelectEventLoopTests(Loop, events.UnixEventLoopTestsMixin, events.SubprocessTestsMixin, test_utils.TestCase):
    BACKEND = "select"


@compiled("kqueue")
class KqueueEventLoopTests(Loop, KqueueEmulationEvents, events.UnixEventLoopTestsMixin, events.SubprocessTestsMixin,
                           test_utils.TestCase):
    BACKEND = "kqueue"


@compiled("epoll")
class EpollSockTests(Loop, sock_lowlevel.BaseSockTestsMixin, test_utils.TestCase):
    BACKEND = "epoll"


@compiled("poll")
class PollSockTests(Loop, sock_lowlevel.BaseSockTestsMixin, test_utils.TestCase):
    BACKEND = "poll"


@compiled("select")
class SelectSockTests(Loop, sock_lowlevel.BaseSockTestsMixin, test_utils.TestCase):
    BACKEND = "select"


@compiled("kqueue")
class KqueueSockTests(Loop, KqueueEmulationSock, sock_lowlevel.BaseSockTestsMixin, test_utils.TestCase):
    BACKEND = "kqueue"


@compiled("epoll")
class EpollSendfileTests(Loop, sendfile.SendfileTestsBase, test_utils.TestCase):
    BACKEND = "epoll"


@compiled("poll")
class PollSendfileTests(Loop, sendfile.SendfileTestsBase, test_utils.TestCase):
    BACKEND = "poll"


@compiled("select")
class SelectSendfileTests(Loop, sendfile.SendfileTestsBase, test_utils.TestCase):
    BACKEND = "select"


@compiled("kqueue")
class KqueueSendfileTests(Loop, sendfile.SendfileTestsBase, test_utils.TestCase):
    BACKEND = "kqueue"
