// Helpers shared by the test programs: descriptors that close themselves,
// socket pairs, and waits that are bounded in count and time.
#ifndef XPOLL_TESTS_SUPPORT_HPP
#define XPOLL_TESTS_SUPPORT_HPP

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "xpoll/xpoll.h"

namespace xpoll_test {

// A descriptor closed on destruction.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  ~Fd() { reset(); }
  int get() const { return fd_; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

// Non-blocking and close-on-exec (macOS has no SOCK_NONBLOCK or SOCK_CLOEXEC).
inline void set_nonblocking(int fd) {
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  fcntl(fd, F_SETFD, FD_CLOEXEC);
}

// A connected pair of non-blocking stream sockets.
struct Pair {
  Fd a, b;
  static Pair make() {
    int sv[2] = {-1, -1};
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return {};
    set_nonblocking(sv[0]);
    set_nonblocking(sv[1]);
    return Pair{Fd(sv[0]), Fd(sv[1])};
  }
};

inline bool send_byte(int fd, char c = 'x') { return ::write(fd, &c, 1) == 1; }
inline void drain(int fd) {
  char buf[4096];
  for (int i = 0; i < 1024 && ::read(fd, buf, sizeof buf) > 0; ++i) {
  }
}

// Waits once and returns what was reported (an empty vector on error, with rc set).
inline std::vector<xpoll_event_t> wait_once(xpoll_t* p, int timeout_ms, int max = 64, int* rc = nullptr) {
  std::vector<xpoll_event_t> ev(static_cast<size_t>(max));
  int n = xpoll_wait(p, ev.data(), max, timeout_ms);
  if (rc) *rc = n;
  ev.resize(n > 0 ? static_cast<size_t>(n) : 0);
  return ev;
}

// Waits (bounded: at most `rounds` waits of `timeout_ms`) until fd is
// reported with every bit of `bits`. Returns the events seen for fd, or 0.
inline uint32_t wait_for(xpoll_t* p, int fd, uint32_t bits, int timeout_ms = 2000, int rounds = 20) {
  for (int r = 0; r < rounds; ++r) {
    for (const xpoll_event_t& e : wait_once(p, timeout_ms))
      if (e.fd == fd && (e.events & bits) == bits) return e.events;
  }
  return 0;
}

// True if fd is reported by a non-blocking wait.
inline bool reported_now(xpoll_t* p, int fd) {
  for (const xpoll_event_t& e : wait_once(p, 0))
    if (e.fd == fd) return true;
  return false;
}

inline std::vector<std::string> compiled_backends() {
  const char* names[16];
  int n = xpoll_backends(names, 16);
  return std::vector<std::string>(names, names + (n > 16 ? 16 : n));
}

// Raises the soft descriptor limit to at least `want` if the hard limit allows.
inline bool ensure_descriptors(rlim_t want) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return false;
  if (rl.rlim_cur >= want) return true;
  if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want) return false;
  rl.rlim_cur = want;
  return setrlimit(RLIMIT_NOFILE, &rl) == 0;
}

// CPU time (user + system) this process has used, in milliseconds.
inline double cpu_ms() {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

inline double elapsed_ms(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - since).count();
}

}  // namespace xpoll_test

#endif  // XPOLL_TESTS_SUPPORT_HPP
