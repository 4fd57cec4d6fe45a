// The XPOLL_E* codes' names and texts, and the errno table, shared by every
// OS (the C runtime of Windows has errno too); the Windows codes (Winsock,
// Win32, NTSTATUS) have theirs in errors_win32.cpp.
#include "core/errors.hpp"

#include <errno.h>

#include "platform/platform.hpp"

namespace xpoll::detail {

namespace {

const ErrorText kErrors[] = {
    {0, "XPOLL_OK", "success"},
    {XPOLL_EINVAL, "XPOLL_EINVAL", "invalid argument"},
    {XPOLL_EBADF, "XPOLL_EBADF", "invalid or closed descriptor"},
    {XPOLL_EEXIST, "XPOLL_EEXIST", "descriptor already registered"},
    {XPOLL_ENOENT, "XPOLL_ENOENT", "descriptor not registered"},
    {XPOLL_ENOMEM, "XPOLL_ENOMEM", "out of memory"},
    {XPOLL_ENOTSUP, "XPOLL_ENOTSUP", "not supported by this backend"},
    {XPOLL_ENOBACKEND, "XPOLL_ENOBACKEND", "no such backend compiled in"},
    {XPOLL_EBUSY, "XPOLL_EBUSY", "another thread is already waiting"},
    {XPOLL_EINTR, "XPOLL_EINTR", "interrupted by a signal"},
    {XPOLL_ERANGE, "XPOLL_ERANGE", "descriptor number too large for this backend"},
    {XPOLL_EMFILE, "XPOLL_EMFILE", "process descriptor limit reached"},
    {XPOLL_ENFILE, "XPOLL_ENFILE", "system descriptor limit reached"},
    {XPOLL_EFORKED, "XPOLL_EFORKED", "poller was created before fork and cannot be used in the child"},
    {XPOLL_EPERM, "XPOLL_EPERM", "this backend cannot poll this kind of file"},
    {XPOLL_EIO, "XPOLL_EIO", "unexpected system error"},
};

}  // namespace

const ErrorText* find_error(int err) noexcept {
  for (const ErrorText& e : kErrors)
    if (e.code == err) return &e;
  return nullptr;
}

int from_errno(int e) noexcept {
  switch (e) {
    case 0: return 0;
    case EBADF: return XPOLL_EBADF;
    case EEXIST: return XPOLL_EEXIST;
    case ENOENT: return XPOLL_ENOENT;
    case ENOMEM:
    case ENOBUFS:
    case ENOSPC:  // epoll's max_user_watches
      return XPOLL_ENOMEM;
    case EINTR: return XPOLL_EINTR;
    case EMFILE: return XPOLL_EMFILE;
    case ENFILE: return XPOLL_ENFILE;
    case EPERM: return XPOLL_EPERM;
    case EINVAL:
    case ELOOP: return XPOLL_EINVAL;
    default: return XPOLL_EIO;
  }
}

// The names the probe gives the system errors it meets (errno_name: POSIX,
// wsa_name: Winsock in errors_win32.cpp), for its text results.
const char* errno_name(int e) noexcept {
  switch (e) {
    case EMFILE: return "EMFILE";
    case ENFILE: return "ENFILE";
    case ENOMEM: return "ENOMEM";
    case ENOBUFS: return "ENOBUFS";
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case EADDRINUSE: return "EADDRINUSE";
    case ECONNREFUSED: return "ECONNREFUSED";
    case ECONNRESET: return "ECONNRESET";
    case ETIMEDOUT: return "ETIMEDOUT";
    case EPIPE: return "EPIPE";
    case ENOSPC: return "ENOSPC";
    default: return "EIO";
  }
}

}  // namespace xpoll::detail
