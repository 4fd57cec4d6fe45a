"""Loads libxpoll and declares the C functions the package calls."""
import ctypes
import ctypes.util
import os
import sys

from ._header import VERSION_MAJOR as _MAJOR
from ._header import Event, Limit, Limits, ProbeBackend, ProbeOptions, ProbeResult, fd_t as _fd_t

__all__ = ["lib", "FUNCTIONS", "Event", "Limit", "Limits", "ProbeOptions", "ProbeBackend", "ProbeResult"]

_NAMES = {"linux": ["libxpoll.so.1", "libxpoll.so"], "darwin": ["libxpoll.1.dylib", "libxpoll.dylib"],
          "win32": ["xpoll.dll", "libxpoll.dll"]}


def _candidates():
    """Where to look, in order, as (description, path) pairs."""
    names = _NAMES.get(sys.platform, _NAMES["linux"])
    here = os.path.dirname(os.path.abspath(__file__))
    for n in names:
        yield f"beside the package ({os.path.join(here, n)})", os.path.join(here, n)
    found = ctypes.util.find_library("xpoll")
    if found:
        yield f"the system ({found}, from ctypes.util.find_library)", found
    for n in names:
        yield f"the loader's search path ({n}: LD_LIBRARY_PATH, ldconfig)", n


def _load():
    env = os.environ.get("XPOLL_LIBRARY")
    if env:
        try:
            return ctypes.CDLL(env)
        except OSError as e:
            raise ImportError(f"xpoll: XPOLL_LIBRARY={env!r} could not be loaded: {e}") from None
    tried = []
    for what, path in _candidates():
        if os.sep in path and not os.path.exists(path):
            tried.append(f"{what}: not there")
            continue
        try:
            return ctypes.CDLL(path)
        except OSError as e:
            tried.append(f"{what}: {e}")
    raise ImportError("xpoll: cannot find the xpoll C library (libxpoll.so.1). Looked at:\n  " + "\n  ".join(tried) +
                      "\nSet XPOLL_LIBRARY to its path, copy it beside the package, or install it.")


lib = _load()

_c = ctypes
_P = _c.c_void_p
# Every C function the package calls, with its result and argument types (tests/test_header.py checks the
# names and argument counts against the header).
FUNCTIONS = [
    ("xpoll_create", _c.c_int, [_c.POINTER(_P), _c.c_char_p, _c.c_uint32]),
    ("xpoll_destroy", None, [_P]),
    ("xpoll_add", _c.c_int, [_P, _fd_t, _c.c_uint32, _c.c_uint64]),
    ("xpoll_modify", _c.c_int, [_P, _fd_t, _c.c_uint32, _c.c_uint64]),
    ("xpoll_remove", _c.c_int, [_P, _fd_t]),
    ("xpoll_wait", _c.c_int, [_P, _c.c_void_p, _c.c_int, _c.c_int]),
    ("xpoll_wait_ns", _c.c_int, [_P, _c.c_void_p, _c.c_int, _c.c_int64]),
    ("xpoll_wake", _c.c_int, [_P]),
    ("xpoll_fd", _c.c_int, [_P]),
    ("xpoll_backend", _c.c_char_p, [_P]),
    ("xpoll_capabilities", _c.c_uint32, [_P]),
    ("xpoll_backends", _c.c_int, [_c.POINTER(_c.c_char_p), _c.c_int]),
    ("xpoll_backend_capabilities", _c.c_int, [_c.c_char_p]),
    ("xpoll_backend_max_fd", _c.c_long, [_c.c_char_p]),
    ("xpoll_version", _c.c_int, []),
    ("xpoll_version_string", _c.c_char_p, []),
    ("xpoll_strerror", _c.c_char_p, [_c.c_int]),
    ("xpoll_errname", _c.c_char_p, [_c.c_int]),
    ("xpoll_read_limits", _c.c_int, [_c.POINTER(Limits)]),
    ("xpoll_raise_nofile", _c.c_int, [_c.POINTER(_c.c_int64), _c.POINTER(_c.c_int64)]),
    ("xpoll_probe", _c.c_int, [_c.POINTER(ProbeOptions), _c.POINTER(ProbeResult)]),
]
for name, res, args in FUNCTIONS:
    f = getattr(lib, name)
    f.restype = res
    f.argtypes = args

if lib.xpoll_version() // 10000 != _MAJOR:
    raise ImportError(f"xpoll: this package needs libxpoll {_MAJOR}.x, found {lib.xpoll_version_string().decode()}")
