// What the core needs from the operating system, implemented once per OS
// family (platform_posix.cpp; Windows gets its own file).
#ifndef XPOLL_SRC_PLATFORM_HPP
#define XPOLL_SRC_PLATFORM_HPP

#include <cstdint>

#include "xpoll/xpoll.h"

namespace xpoll::detail {

// True for a value that can never be a descriptor.
#if defined(_WIN32)
constexpr bool invalid_fd(xpoll_fd_t fd) noexcept { return fd == ~static_cast<xpoll_fd_t>(0); }  // INVALID_SOCKET
#else
constexpr bool invalid_fd(xpoll_fd_t fd) noexcept { return fd < 0; }
#endif

// Counts forks seen by this process (incremented in each child).
unsigned fork_generation() noexcept;
// Arranges for fork_generation() to count; safe to call repeatedly.
void watch_forks() noexcept;

// Maps an errno value onto an XPOLL_E* code.
int from_errno(int e) noexcept;

// The value of XPOLL_BACKEND, or nullptr when unset, empty, or when the
// process runs set-uid or set-gid.
const char* backend_from_env() noexcept;

// True when fd is an open descriptor of this process.
bool descriptor_open(xpoll_fd_t fd) noexcept;

// The soft descriptor limit of this process, or -1 when unknown.
long descriptor_limit() noexcept;

// A self-pipe (eventfd where there is one) that a wait can watch and any
// thread or signal handler can make readable.
class WakeChannel {
 public:
  WakeChannel() = default;
  WakeChannel(const WakeChannel&) = delete;
  WakeChannel& operator=(const WakeChannel&) = delete;
  ~WakeChannel();

  int open() noexcept;
  int read_fd() const noexcept { return rfd_; }
  bool owns(xpoll_fd_t fd) const noexcept { return fd == rfd_ || fd == wfd_; }
  int signal() noexcept;
  void drain() noexcept;

 private:
  int rfd_ = -1;
  int wfd_ = -1;
};

}  // namespace xpoll::detail

#endif  // XPOLL_SRC_PLATFORM_HPP
