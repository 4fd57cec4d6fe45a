"""CPython's own selector tests (Lib/test/test_selectors.py) against XpollSelector on every backend.

As CPython tests its selectors: BaseSelectorTestCase and ScalableSelectorMixIn, one short class per backend.
The interpreter's test package must be installed (Debian: libpython3.11-testsuite).
"""
import sys
import unittest

from test import test_selectors as cpython

import xpoll
from conftest import BACKENDS
from xpoll.selectors import XpollSelector


def on(backend):
    """The SELECTOR of a test case: a class (the tests read its __name__) making XpollSelector(backend)."""
    return type(f"XpollSelector_{backend}", (XpollSelector,), {"__init__": lambda self: XpollSelector.__init__(
        self, backend)})


def compiled(backend):
    return unittest.skipUnless(backend in BACKENDS, f"the {backend} backend is not compiled in or not tested")


class XpollChecks:
    """What CPython checks on one mechanism only, which every xpoll backend holds."""
    # A closed descriptor is OSError(EBADF), and nothing is kept (KqueueSelectorTestCase).
    test_register_bad_fd = cpython.KqueueSelectorTestCase.test_register_bad_fd
    # select(1) with nothing registered waits its second (KqueueSelectorTestCase).
    test_empty_select_timeout = cpython.KqueueSelectorTestCase.test_empty_select_timeout

    @unittest.skip("it patches _selector_cls, an attribute of the standard library's own selector classes "
                   "that XpollSelector has not; tests/test_selectors.py checks that a refused modify() changes nothing")
    def test_modify_unregister(self):
        pass


@compiled("epoll")
class EpollTest(XpollChecks, cpython.BaseSelectorTestCase, cpython.ScalableSelectorMixIn, unittest.TestCase):
    SELECTOR = on("epoll")
    test_register_file = cpython.EpollSelectorTestCase.test_register_file  # epoll refuses a regular file


@compiled("poll")
class PollTest(XpollChecks, cpython.BaseSelectorTestCase, cpython.ScalableSelectorMixIn, unittest.TestCase):
    SELECTOR = on("poll")


@compiled("select")
class SelectTest(XpollChecks, cpython.BaseSelectorTestCase, cpython.ScalableSelectorMixIn, unittest.TestCase):
    SELECTOR = on("select")


@compiled("kqueue")
class KqueueTest(XpollChecks, cpython.BaseSelectorTestCase, cpython.ScalableSelectorMixIn, unittest.TestCase):
    SELECTOR = on("kqueue")

    @unittest.skipIf(sys.platform == "linux", "libkqueue (kqueue emulated on Linux) returns at most 512 events "
                     "from one kevent() call, so 9,984 ready descriptors cannot come back from one select(); "
                     "a BSD's kqueue returns them all")
    def test_above_fd_setsize(self):
        super().test_above_fd_setsize()


class DefaultTest(XpollChecks, cpython.BaseSelectorTestCase, unittest.TestCase):
    SELECTOR = XpollSelector


class FilenoTest(unittest.TestCase):
    def test_fileno_only_with_the_fd_capability(self):
        # A backend with XPOLL_CAP_FD gives its descriptor, as EpollSelector does; on the others the selector
        # has no single descriptor, and the standard library's rule is then no such attribute at all.
        # (BaseSelectorTestCase.test_fileno, above, checks whichever each backend has.)
        for backend in BACKENDS:
            with XpollSelector(backend) as s:
                self.assertEqual(hasattr(s, "fileno"), "fd" in xpoll.backend_capabilities(backend), backend)
        self.assertFalse(hasattr(XpollSelector, "fileno"))
