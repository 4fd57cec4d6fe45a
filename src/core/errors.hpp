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

}  // namespace xpoll::detail

#endif  // XPOLL_SRC_CORE_ERRORS_HPP
