"""Every test that takes `backend` runs once per compiled backend (or those in $XPOLL_TEST_BACKENDS)."""
import os
import resource

import pytest

import xpoll

BACKENDS = [b for b in os.environ.get("XPOLL_TEST_BACKENDS", ",".join(xpoll.backends())).split(",") if b]


def pytest_generate_tests(metafunc):
    if "backend" in metafunc.fixturenames:
        metafunc.parametrize("backend", BACKENDS)


@pytest.fixture
def poller(backend):
    p = xpoll.Poller(backend)
    yield p
    p.close()


def has(backend, cap):
    return cap in xpoll.backend_capabilities(backend)


def ensure_descriptors(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= n:
        return True
    if hard != resource.RLIM_INFINITY and hard < n:
        return False
    resource.setrlimit(resource.RLIMIT_NOFILE, (n, hard))
    return True
