// Every error table of the library: the XPOLL_E* codes' names and texts
// (errors.cpp), and the mapping of each OS's codes onto them: errno
// (errors.cpp, every OS), Winsock, Win32 and NTSTATUS (errors_win32.cpp).
#ifndef XPOLL_SRC_CORE_ERRORS_HPP
#define XPOLL_SRC_CORE_ERRORS_HPP

#include "xpoll/xpoll.h"

namespace xpoll::detail {

struct ErrorText {
  int code;
  const char* name;  // "XPOLL_EBADF"
  const char* text;  // what xpoll_strerror() says
};

// The entry of an XPOLL_E* code (0 included), or nullptr for an unknown one.
const ErrorText* find_error(int err) noexcept;

// The name of a system error as the probe reports it ("EMFILE",
// "EADDRNOTAVAIL" ...; "EIO" for one it does not name): of an errno value,
// and on Windows of a Winsock error.
const char* errno_name(int e) noexcept;
#if defined(_WIN32)
const char* wsa_name(int e) noexcept;
#endif

}  // namespace xpoll::detail

#endif  // XPOLL_SRC_CORE_ERRORS_HPP
