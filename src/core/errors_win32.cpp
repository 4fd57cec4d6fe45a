// The Windows error tables: Winsock (WSAGetLastError), Win32 (GetLastError)
// and NTSTATUS codes mapped onto XPOLL_E* codes.
#include <winsock2.h>
// (winsock2.h first: kept apart so that formatting does not sort them)
#include <windows.h>

#include "core/errors.hpp"
#include "platform/platform.hpp"

namespace xpoll::detail {

namespace {

// NTSTATUS values this library meets (ntstatus.h cannot be included next to
// windows.h without redefinitions, so the few needed are named here).
constexpr long kStatusInvalidHandle = static_cast<long>(0xC0000008L);
constexpr long kStatusInvalidParameter = static_cast<long>(0xC000000DL);
constexpr long kStatusNoMemory = static_cast<long>(0xC0000017L);
constexpr long kStatusAccessDenied = static_cast<long>(0xC0000022L);
constexpr long kStatusObjectTypeMismatch = static_cast<long>(0xC0000024L);
constexpr long kStatusInsufficientResources = static_cast<long>(0xC000009AL);
constexpr long kStatusNotSupported = static_cast<long>(0xC00000BBL);
constexpr long kStatusCancelled = static_cast<long>(0xC0000120L);
constexpr long kStatusTooManyOpenedFiles = static_cast<long>(0xC000011FL);
constexpr long kStatusNotFound = static_cast<long>(0xC0000225L);

}  // namespace

int from_wsa(int e) noexcept {
  switch (e) {
    case 0: return 0;
    case WSAENOTSOCK:
    case WSAEBADF: return XPOLL_EBADF;
    case WSAENOBUFS: return XPOLL_ENOMEM;
    case WSAEINTR: return XPOLL_EINTR;
    case WSAEMFILE: return XPOLL_EMFILE;
    case WSAEINVAL:
    case WSAEFAULT: return XPOLL_EINVAL;
    case WSAEACCES: return XPOLL_EPERM;
    case WSAEOPNOTSUPP:
    case WSAEAFNOSUPPORT: return XPOLL_ENOTSUP;
    default: return XPOLL_EIO;
  }
}

int from_win32(unsigned long e) noexcept {
  switch (e) {
    case ERROR_SUCCESS: return 0;
    case ERROR_INVALID_HANDLE: return XPOLL_EBADF;
    case ERROR_NOT_ENOUGH_MEMORY:
    case ERROR_OUTOFMEMORY:
    case ERROR_NO_SYSTEM_RESOURCES: return XPOLL_ENOMEM;
    case ERROR_TOO_MANY_OPEN_FILES: return XPOLL_EMFILE;
    case ERROR_INVALID_PARAMETER: return XPOLL_EINVAL;
    case ERROR_ACCESS_DENIED: return XPOLL_EPERM;
    case ERROR_NOT_SUPPORTED:
    case ERROR_CALL_NOT_IMPLEMENTED: return XPOLL_ENOTSUP;
    case ERROR_OPERATION_ABORTED: return XPOLL_EINTR;
    default: return XPOLL_EIO;
  }
}

int from_ntstatus(long status) noexcept {
  if (status >= 0) return 0;  // success, information and pending
  switch (status) {
    case kStatusInvalidHandle:
    case kStatusObjectTypeMismatch: return XPOLL_EBADF;
    case kStatusNoMemory:
    case kStatusInsufficientResources: return XPOLL_ENOMEM;
    case kStatusTooManyOpenedFiles: return XPOLL_EMFILE;
    case kStatusInvalidParameter: return XPOLL_EINVAL;
    case kStatusAccessDenied: return XPOLL_EPERM;
    case kStatusNotSupported: return XPOLL_ENOTSUP;
    case kStatusCancelled: return XPOLL_EINTR;
    case kStatusNotFound: return XPOLL_ENOENT;
    default: return XPOLL_EIO;
  }
}

const char* wsa_name(int e) noexcept {
  switch (e) {
    case WSAEMFILE: return "EMFILE";
    case WSAENOBUFS: return "ENOBUFS";
    case WSAEADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case WSAEADDRINUSE: return "EADDRINUSE";
    case WSAECONNREFUSED: return "ECONNREFUSED";
    case WSAECONNRESET: return "ECONNRESET";
    case WSAETIMEDOUT: return "ETIMEDOUT";
    default: return "EIO";
  }
}

}  // namespace xpoll::detail
