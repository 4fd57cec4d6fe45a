// What the core needs from the operating system, implemented once per OS
// family (platform_posix.cpp; Windows gets its own file).
#ifndef XPOLL_SRC_PLATFORM_HPP
#define XPOLL_SRC_PLATFORM_HPP

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "xpoll/xpoll.h"

namespace xpoll::detail {

// True for a value that can never be a descriptor. On Windows that is
// INVALID_SOCKET and any value with either of the two low bits set: every
// SOCKET is a kernel handle, and handles are multiples of 4.
#if defined(_WIN32)
constexpr bool invalid_fd(xpoll_fd_t fd) noexcept { return fd == ~static_cast<xpoll_fd_t>(0) || (fd & 3) != 0; }
#else
constexpr bool invalid_fd(xpoll_fd_t fd) noexcept { return fd < 0; }
#endif

// Descriptor-indexed tables use these. POSIX descriptors are small dense
// integers. Windows socket handles are kernel handle values, multiples of 4
// (the two low bits are never part of a handle), so the index is the value
// divided by 4 and a value with either low bit set names no socket.
#if defined(_WIN32)
constexpr size_t kNoIndex = ~size_t{0};
constexpr size_t fd_index(xpoll_fd_t fd) noexcept { return (fd & 3) ? kNoIndex : static_cast<size_t>(fd >> 2); }
constexpr xpoll_fd_t fd_at_index(size_t i) noexcept { return static_cast<xpoll_fd_t>(i) << 2; }
#else
constexpr size_t fd_index(xpoll_fd_t fd) noexcept { return static_cast<size_t>(fd); }
constexpr xpoll_fd_t fd_at_index(size_t i) noexcept { return static_cast<xpoll_fd_t>(i); }
#endif

// Counts forks seen by this process (incremented in each child). Read on
// every call, so it is inline: one load.
extern std::atomic<unsigned> g_fork_generation;
inline unsigned fork_generation() noexcept { return g_fork_generation.load(std::memory_order_relaxed); }
// Arranges for fork_generation() to count; safe to call repeatedly.
void watch_forks() noexcept;

// Maps an errno value onto an XPOLL_E* code.
int from_errno(int e) noexcept;
#if defined(_WIN32)
// Map a Winsock error (WSAGetLastError), a Win32 error (GetLastError) and an
// NTSTATUS onto XPOLL_E* codes.
int from_wsa(int e) noexcept;
int from_win32(unsigned long e) noexcept;
int from_ntstatus(long status) noexcept;
#endif

// The value of XPOLL_BACKEND, or nullptr when unset, empty, or when the
// process runs set-uid or set-gid.
const char* backend_from_env() noexcept;

// True when fd is an open descriptor of this process that allows I/O (not
// an O_PATH one on Linux).
bool descriptor_open(xpoll_fd_t fd) noexcept;

// The soft descriptor limit of this process, or -1 when unknown or none.
long descriptor_limit() noexcept;

// A self-pipe (eventfd where there is one; on Windows a loopback UDP socket
// connected to itself, since select and WSAPoll watch only sockets) that a
// wait can watch and any thread or signal handler can make readable.
class WakeChannel {
 public:
  WakeChannel() = default;
  WakeChannel(const WakeChannel&) = delete;
  WakeChannel& operator=(const WakeChannel&) = delete;
  ~WakeChannel();

  int open() noexcept;
  xpoll_fd_t read_fd() const noexcept { return rfd_; }
  bool owns(xpoll_fd_t fd) const noexcept { return fd == rfd_ || fd == wfd_; }
  int signal() noexcept;
  void drain() noexcept;

 private:
#if defined(_WIN32)
  xpoll_fd_t rfd_ = ~static_cast<xpoll_fd_t>(0);
  xpoll_fd_t wfd_ = ~static_cast<xpoll_fd_t>(0);
#else
  int rfd_ = -1;
  int wfd_ = -1;
#endif
};

}  // namespace xpoll::detail

#endif  // XPOLL_SRC_PLATFORM_HPP
