"""Everything the package restates from include/xpoll/xpoll.h, in one place: constants, error codes and struct
layouts.

tests/test_header.py compiles a small C program against the header and checks every value and every struct
field offset here against it, and that each constant of the header is either here or named in NOT_RESTATED,
so that an addition to the header cannot leave the binding silently wrong. The C functions the package calls
are declared in _lib.py, whose table the same test checks against the header's XPOLL_API declarations.
"""
import ctypes
import sys

# Event and mode bits.
IN = 0x0001
PRI = 0x0002
OUT = 0x0004
ERR = 0x0008
HUP = 0x0010
RDHUP = 0x2000
ONESHOT = 0x10000
EDGE = 0x20000
EXCLUSIVE = 0x40000

# Creation flags.
SHARED = 0x1

# Backend capabilities, and the name each has in Python.
CAP_ONESHOT = 0x01
CAP_EDGE = 0x02
CAP_RDHUP = 0x04
CAP_NONSOCKET = 0x08
CAP_UNBOUNDED = 0x10
CAP_LIVE_CHANGES = 0x20
CAP_HANGUP = 0x40
CAP_EXCLUSIVE = 0x80
CAP_NS_TIMEOUT = 0x100
CAP_PRI = 0x200
CAP_FD = 0x400
CAPABILITIES = {CAP_ONESHOT: "oneshot", CAP_EDGE: "edge", CAP_RDHUP: "rdhup", CAP_NONSOCKET: "nonsocket",
                CAP_UNBOUNDED: "unbounded", CAP_LIVE_CHANGES: "live_changes", CAP_HANGUP: "hangup",
                CAP_EXCLUSIVE: "exclusive", CAP_NS_TIMEOUT: "ns_timeout", CAP_PRI: "pri", CAP_FD: "fd"}

# Error codes.
EINVAL = -1
EBADF = -2
EEXIST = -3
ENOENT = -4
ENOMEM = -5
ENOTSUP = -6
ENOBACKEND = -7
EBUSY = -8
EINTR = -9
ERANGE = -10
EMFILE = -11
ENFILE = -12
EFORKED = -13
EPERM = -14
EIO = -15

WAIT_MAX = 1048576
VERSION_MAJOR = 1

# The limits and the probe.
LIMIT_UNKNOWN = -1
LIMIT_INFINITE = 0x7fffffffffffffff
PROBE_DESCRIPTORS = 0x1
PROBE_BACKENDS = 0x2
PROBE_CONNECTIONS = 0x4
PROBE_MAX_BACKENDS = 8

_RESTATED = ("IN", "PRI", "OUT", "ERR", "HUP", "RDHUP", "ONESHOT", "EDGE", "EXCLUSIVE", "SHARED", "CAP_ONESHOT",
             "CAP_EDGE", "CAP_RDHUP", "CAP_NONSOCKET", "CAP_UNBOUNDED", "CAP_LIVE_CHANGES", "CAP_HANGUP",
             "CAP_EXCLUSIVE", "CAP_NS_TIMEOUT", "CAP_PRI", "CAP_FD", "EINVAL",
             "EBADF", "EEXIST", "ENOENT", "ENOMEM", "ENOTSUP", "ENOBACKEND", "EBUSY", "EINTR", "ERANGE", "EMFILE",
             "ENFILE", "EFORKED", "EPERM", "EIO", "WAIT_MAX", "VERSION_MAJOR", "LIMIT_UNKNOWN", "LIMIT_INFINITE",
             "PROBE_DESCRIPTORS", "PROBE_BACKENDS", "PROBE_CONNECTIONS", "PROBE_MAX_BACKENDS")
CONSTANTS = {"XPOLL_" + name: globals()[name] for name in _RESTATED}
ERROR_CODES = {name: value for name, value in CONSTANTS.items() if name[6:7] == "E" and value < 0}

# The header's macros that the package does not restate, and why.
NOT_RESTATED = {
    "XPOLL_XPOLL_H": "the include guard",
    "XPOLL_API": "the export macro",
    "XPOLL_VERSION_MINOR": "the package asks the library (xpoll_version) and needs major 1 only",
    "XPOLL_VERSION_PATCH": "the package asks the library (xpoll_version)",
    "XPOLL_VERSION": "the package asks the library (xpoll_version)",
}

# The structs. xpoll_fd_t is a SOCKET (uintptr_t) on Windows, an int elsewhere.
fd_t = ctypes.c_size_t if sys.platform == "win32" else ctypes.c_int


class Event(ctypes.Structure):
    """xpoll_event_t."""
    _fields_ = [("data", ctypes.c_uint64), ("fd", fd_t), ("events", ctypes.c_uint32)]


class Limit(ctypes.Structure):
    """xpoll_limit_t."""
    _fields_ = [("value", ctypes.c_int64), ("source", ctypes.c_char_p)]


LIMIT_FIELDS = ("nofile_soft", "nofile_hard", "nr_open", "file_max", "files_in_use", "maxfilesperproc", "open_max",
                "fd_setsize", "stdio_max", "open_now", "ephemeral_ports")


class Limits(ctypes.Structure):
    """xpoll_limits_t."""
    _fields_ = [("size", ctypes.c_uint32), ("reserved", ctypes.c_uint32)] + [(n, Limit) for n in LIMIT_FIELDS]


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


# The header's typedef name of each.
STRUCTS = {"xpoll_event_t": Event, "xpoll_limit_t": Limit, "xpoll_limits_t": Limits,
           "xpoll_probe_options_t": ProbeOptions, "xpoll_probe_backend_t": ProbeBackend,
           "xpoll_probe_result_t": ProbeResult}
