"""The xpoll namespace holds its API and nothing else: no module it happens to use (issue 18)."""
import types

import xpoll
import xpoll.selectors

API = {"Poller", "backends", "backend_capabilities", "limits", "raise_nofile", "probe", "version",
       "IN", "OUT", "ERR", "HUP", "RDHUP", "ONESHOT", "EDGE", "WAIT_MAX", "UNLIMITED"}
SELECTORS_API = {"XpollSelector", "EVENT_READ", "EVENT_WRITE"}


def public(module):
    return {name for name in dir(module) if not name.startswith("_")}


def star_import(name):
    namespace = {}
    exec(f"from {name} import *", namespace)
    return set(namespace) - {"__builtins__"}


def test_the_package_exports_its_api_only():
    assert set(xpoll.__all__) == API and len(xpoll.__all__) == len(API)
    assert star_import("xpoll") == API
    # Beside the API, only the package's own public submodule.
    assert public(xpoll) == API | {"selectors"}
    for name in public(xpoll) - {"selectors"}:
        assert not isinstance(getattr(xpoll, name), types.ModuleType), name


def test_the_selectors_module_exports_its_api_only():
    assert set(xpoll.selectors.__all__) == SELECTORS_API
    assert star_import("xpoll.selectors") == SELECTORS_API
    assert public(xpoll.selectors) == SELECTORS_API
    for name in SELECTORS_API:
        assert not isinstance(getattr(xpoll.selectors, name), types.ModuleType), name
