"""Loads libxpoll and declares the C functions the package calls."""
import ctypes
import ctypes.util
import os
import sys

__all__ = ["lib", "Event", "Limit", "Limits", "ProbeOptions", "ProbeBackend", "ProbeResult", "PROBE_MAX_BACKENDS"]

if sys.platform == "win32":
    _fd_t = ctypes.c_size_t  # SOCKET
else:
    _fd_t = ctypes.c_int


class Event(ctypes.Structure):
    """xpoll_event_t."""
    _fields_ = [("data", ctypes.c_uint64), ("fd", _fd_t), ("events", ctypes.c_uint32)]


class Limit(ctypes.Structure):
    """xpoll_limit_t."""
    _fields_ = [("value", ctypes.c_int64), ("source", ctypes.c_char_p)]


LIMIT_FIELDS = ("nofile_soft", "nofile_hard", "nr_open", "file_max", "files_in_use", "maxfilesperproc", "open_max",
                "fd_setsize", "stdio_max", "open_now", "ephemeral_ports")


class Limits(ctypes.Structure):
    """xpoll_limits_t."""
    _fields_ = [("size", ctypes.c_uint32), ("reserved", ctypes.c_uint32)] + [(n, Limit) for n in LIMIT_FIELDS]


PROBE_MAX_BACKENDS = 8


class ProbeOptions(ctypes.Structure):
    """xpoll_probe_options_t."""
    _fields_ = [("size", ctypes.c_uint32), ("steps", ctypes.c_uint32), ("max_descriptors", ctypes.c_int64),
                ("connections", ctypes.c_int64), ("timeout_ms", ctypes.c_int32), ("ready", ctypes.c_int32),
                ("backend", ctypes.c_char_p), ("progress", ctypes.c_void_p), ("progress_arg", ctypes.c_void_p)]


class ProbeBackend(ctypes.Structure):
    """xpoll_probe_backend_t."""
    _fields_ = [("name", ctypes.c_char * 16), ("capabilities", ctypes.c_uint32), ("passed", ctypes.c_int32),
                ("max_fd", ctypes.c_int64), ("registered", ctypes.c_int64), ("highest_fd", ctypes.c_int64),
                ("ready_expected", ctypes.c_int32), ("ready_reported", ctypes.c_int32),
                ("wrong_reported", ctypes.c_int32), ("error", ctypes.c_int32), ("register_ns", ctypes.c_int64),
                ("wait_ns", ctypes.c_int64)]


class ProbeResult(ctypes.Structure):
    """xpoll_probe_result_t."""
    _fields_ = [("size", ctypes.c_uint32), ("steps", ctypes.c_uint32), ("descriptors", ctypes.c_int64),
                ("descriptors_ns", ctypes.c_int64), ("descriptor_bytes", ctypes.c_int64),
                ("descriptors_error", ctypes.c_int32), ("backend_count", ctypes.c_int32),
                ("backends", ProbeBackend * PROBE_MAX_BACKENDS), ("connections_tried", ctypes.c_int64),
                ("connections_held", ctypes.c_int64), ("connections_ns", ctypes.c_int64),
                ("connection_bytes", ctypes.c_int64), ("connections_error", ctypes.c_char * 24)]


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
for name, res, args in [
    ("xpoll_create", _c.c_int, [_c.POINTER(_P), _c.c_char_p, _c.c_uint32]),
    ("xpoll_destroy", None, [_P]),
    ("xpoll_add", _c.c_int, [_P, _fd_t, _c.c_uint32, _c.c_uint64]),
    ("xpoll_modify", _c.c_int, [_P, _fd_t, _c.c_uint32, _c.c_uint64]),
    ("xpoll_remove", _c.c_int, [_P, _fd_t]),
    ("xpoll_wait", _c.c_int, [_P, _c.c_void_p, _c.c_int, _c.c_int]),
    ("xpoll_wake", _c.c_int, [_P]),
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
]:
    f = getattr(lib, name)
    f.restype = res
    f.argtypes = args

if lib.xpoll_version() // 10000 != 1:
    raise ImportError(f"xpoll: this package needs libxpoll 1.x, found {lib.xpoll_version_string().decode()}")
