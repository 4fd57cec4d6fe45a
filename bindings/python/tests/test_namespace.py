"""The xpoll namespace holds its API and nothing else: no module it happens to use (issue 18)."""
import importlib
import types

import xpoll
import xpoll.selectors

API = {"Poller", "backends", "backend_capabilities", "limits", "raise_nofile", "probe", "version",
       "IN", "PRI", "OUT", "ERR", "HUP", "RDHUP", "ONESHOT", "EDGE", "EXCLUSIVE", "SHARED", "CAP_EXCLUSIVE",
       "CAP_NS_TIMEOUT", "CAP_PRI", "CAP_FD", "WAIT_MAX", "UNLIMITED"}
SELECTORS_API = {"XpollSelector", "EVENT_READ", "EVENT_WRITE"}
ASYNCIO_API = {"new_event_loop", "EventLoopPolicy", "install", "run"}
SUBMODULES = {"selectors", "asyncio"}


def public(module):
    return {name for name in dir(module) if not name.startswith("_")}


def star_import(name):
    namespace = {}
    exec(f"from {name} import *", namespace)
    return set(namespace) - {"__builtins__"}


def test_the_package_exports_its_api_only():
    assert set(xpoll.__all__) == API and len(xpoll.__all__) == len(API)
    assert star_import("xpoll") == API
    # Beside the API, only the package's own public submodules (once imported).
    importlib.import_module("xpoll.asyncio")
    assert public(xpoll) == API | SUBMODULES
    for name in public(xpoll) - SUBMODULES:
        assert not isinstance(getattr(xpoll, name), types.ModuleType), name


def test_the_selectors_module_exports_its_api_only():
    assert set(xpoll.selectors.__all__) == SELECTORS_API
    assert star_import("xpoll.selectors") == SELECTORS_API
    assert public(xpoll.selectors) == SELECTORS_API
    for name in SELECTORS_API:
        assert not isinstance(getattr(xpoll.selectors, name), types.ModuleType), name


def test_the_asyncio_module_exports_its_api_only():
    import xpoll.asyncio
    assert set(xpoll.asyncio.__all__) == ASYNCIO_API
    assert star_import("xpoll.asyncio") == ASYNCIO_API
    assert public(xpoll.asyncio) == ASYNCIO_API


def test_importing_the_probe_command_keeps_the_probe_function():
    import xpoll.probe  # noqa: F401  (the module behind python -m xpoll.probe)
    assert callable(xpoll.probe) and not isinstance(xpoll.probe, types.ModuleType)
