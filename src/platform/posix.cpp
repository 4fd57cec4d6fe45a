// POSIX services for the core: fork tracking, the
// environment, descriptor limits and the wake channel.
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <mutex>

#include "platform/platform.hpp"

#if defined(__linux__)
#include <sys/eventfd.h>
#define XPOLL_HAVE_EVENTFD 1
#endif

namespace xpoll::detail {

namespace {

void on_fork_child() { g_fork_generation.fetch_add(1, std::memory_order_relaxed); }

// Linux's O_PATH descriptors are open but allow no I/O: poll() answers
// POLLNVAL for them (at once, for ever) and epoll_ctl() EBADF.
#if defined(O_PATH)
constexpr int kPathOnly = O_PATH;
#else
constexpr int kPathOnly = 0;
#endif

// The status flags, or -1 with errno. descriptor_open() asks on every add to
// an array backend; glibc's fcntl() spends about 35 instructions on the
// locking commands and cancellation before the system call, none of which
// F_GETFL needs.
#if defined(__linux__)
int status_flags(int fd) { return static_cast<int>(syscall(SYS_fcntl, fd, F_GETFL)); }
#else
int status_flags(int fd) { return fcntl(fd, F_GETFL); }
#endif

void close_quietly(int fd) {
  if (fd >= 0) ::close(fd);
}

}  // namespace

std::atomic<unsigned> g_fork_generation{0};

void watch_forks() noexcept {
  static std::once_flag once;
  try {
    std::call_once(once, [] { pthread_atfork(nullptr, nullptr, on_fork_child); });
  } catch (...) {
  }
}

const char* backend_from_env() noexcept {
  // Like secure_getenv: an environment chosen by another user must not pick
  // the backend of a privileged program.
  if (getuid() != geteuid() || getgid() != getegid()) return nullptr;
  const char* v = getenv("XPOLL_BACKEND");
  return (v && *v) ? v : nullptr;
}

bool descriptor_open(xpoll_fd_t fd) noexcept {
  int flags = status_flags(fd);
  if (flags == -1) return errno != EBADF;
  return !(flags & kPathOnly);
}

long descriptor_limit() noexcept {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return -1;
  return static_cast<long>(rl.rlim_cur);
}

WakeChannel::~WakeChannel() {
  close_quietly(rfd_);
  if (wfd_ != rfd_) close_quietly(wfd_);
}

#if XPOLL_HAVE_EVENTFD
int WakeChannel::open() noexcept {
  int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd < 0) return from_errno(errno);
  rfd_ = wfd_ = fd;
  return 0;
}

int WakeChannel::signal() noexcept {
  uint64_t one = 1;
  // EAGAIN means the counter is saturated: it is readable, which is all we need.
  ssize_t n;
  do n = ::write(wfd_, &one, sizeof one);
  while (n < 0 && errno == EINTR);
  return (n < 0 && errno != EAGAIN) ? from_errno(errno) : 0;
}

void WakeChannel::drain() noexcept {
  uint64_t v;
  ssize_t n;
  do n = ::read(rfd_, &v, sizeof v);
  while (n < 0 && errno == EINTR);
}
#else
int WakeChannel::open() noexcept {
  int fds[2];
  if (::pipe(fds) != 0) return from_errno(errno);
  for (int fd : fds) {
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  }
  rfd_ = fds[0];
  wfd_ = fds[1];
  return 0;
}

int WakeChannel::signal() noexcept {
  char c = 1;
  ssize_t n;
  do n = ::write(wfd_, &c, 1);
  while (n < 0 && errno == EINTR);
  return (n < 0 && errno != EAGAIN) ? from_errno(errno) : 0;
}

void WakeChannel::drain() noexcept {
  char buf[64];
  for (int i = 0; i < 64; ++i) {
    ssize_t n = ::read(rfd_, buf, sizeof buf);
    if (n < static_cast<ssize_t>(sizeof buf) && !(n < 0 && errno == EINTR)) break;
  }
}
#endif

}  // namespace xpoll::detail
