// The errno table, shared by every OS (the C runtime of Windows has errno
// too); the Windows codes (WSA, NTSTATUS) have their tables in
// platform_win32.cpp.
#include <errno.h>

#include "platform/platform.hpp"

namespace xpoll::detail {

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

}  // namespace xpoll::detail
