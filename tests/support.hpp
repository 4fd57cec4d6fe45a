// Helpers shared by the test programs: descriptors that close themselves,
// socket pairs, and waits that are bounded in count and time. On Windows a
// descriptor is a SOCKET and a pair is a loopback TCP connection.
#ifndef XPOLL_TESTS_SUPPORT_HPP
#define XPOLL_TESTS_SUPPORT_HPP

#if defined(_WIN32)
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#ifndef NOMINMAX
#define NOMINMAX
#endif
#include <winsock2.h>
// (winsock2.h first: kept apart so that formatting does not sort them)
#include <windows.h>
#else
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#endif

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "xpoll/xpoll.h"

namespace xpoll_test {

#if defined(_WIN32)
constexpr xpoll_fd_t kNoFd = INVALID_SOCKET;
inline void close_fd(xpoll_fd_t fd) { closesocket(static_cast<SOCKET>(fd)); }
// Winsock is started once for the whole test program.
struct WinsockInit {
  WinsockInit() {
    WSADATA wsa;
    WSAStartup(MAKEWORD(2, 2), &wsa);
  }
};
inline WinsockInit winsock_init;
#else
constexpr xpoll_fd_t kNoFd = -1;
inline void close_fd(xpoll_fd_t fd) { ::close(fd); }
#endif

// A descriptor closed on destruction.
class Fd {
 public:
  Fd() = default;
  explicit Fd(xpoll_fd_t fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, kNoFd)) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = std::exchange(o.fd_, kNoFd);
    }
    return *this;
  }
  ~Fd() { reset(); }
  xpoll_fd_t get() const { return fd_; }
  bool valid() const { return fd_ != kNoFd; }
  void reset() {
    if (fd_ != kNoFd) close_fd(fd_);
    fd_ = kNoFd;
  }

 private:
  xpoll_fd_t fd_ = kNoFd;
};

#if defined(_WIN32)
inline void set_nonblocking(xpoll_fd_t fd) {
  u_long on = 1;
  ioctlsocket(static_cast<SOCKET>(fd), FIONBIO, &on);
}
#else
// Non-blocking and close-on-exec (macOS has no SOCK_NONBLOCK or SOCK_CLOEXEC).
inline void set_nonblocking(int fd) {
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  fcntl(fd, F_SETFD, FD_CLOEXEC);
}
#endif

// A connected pair of non-blocking stream sockets.
struct Pair {
  Fd a, b;
  static Pair make() {
#if defined(_WIN32)
    // No socketpair: a connection on loopback, through a listener kept for
    // the whole program (its backlog is the only limit on pairs in flight).
    static SOCKET listener = [] {
      SOCKET l = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      bind(l, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
      listen(l, SOMAXCONN);
      return l;
    }();
    sockaddr_in addr{};
    int len = sizeof addr;
    getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);
    Fd c(socket(AF_INET, SOCK_STREAM, IPPROTO_TCP));
    if (!c.valid() || connect(static_cast<SOCKET>(c.get()), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
      return {};
    Fd s(accept(listener, nullptr, nullptr));
    if (!s.valid()) return {};
    BOOL one = TRUE;
    setsockopt(static_cast<SOCKET>(c.get()), IPPROTO_TCP, TCP_NODELAY, reinterpret_cast<char*>(&one), sizeof one);
    setsockopt(static_cast<SOCKET>(s.get()), IPPROTO_TCP, TCP_NODELAY, reinterpret_cast<char*>(&one), sizeof one);
    set_nonblocking(c.get());
    set_nonblocking(s.get());
    return Pair{std::move(c), std::move(s)};
#else
    int sv[2] = {-1, -1};
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return {};
    set_nonblocking(sv[0]);
    set_nonblocking(sv[1]);
    return Pair{Fd(sv[0]), Fd(sv[1])};
#endif
  }
};

#if defined(_WIN32)
inline bool send_byte(xpoll_fd_t fd, char c = 'x') { return send(static_cast<SOCKET>(fd), &c, 1, 0) == 1; }
// recv()'s result: 1, 0 at end of stream, -1 on error.
inline int read_byte(xpoll_fd_t fd, char* c) { return recv(static_cast<SOCKET>(fd), c, 1, 0); }
inline bool shutdown_write(xpoll_fd_t fd) { return shutdown(static_cast<SOCKET>(fd), SD_SEND) == 0; }
inline void drain(xpoll_fd_t fd) {
  char buf[4096];
  for (int i = 0; i < 1024 && recv(static_cast<SOCKET>(fd), buf, sizeof buf, 0) > 0; ++i) {
  }
}
// Hangs up the connection of `fd` on its peer: on Windows the pair is TCP,
// where only a reset closes both directions of the peer, so the close is
// abortive (SO_LINGER with a zero time-out).
inline void hang_up(Fd& fd) {
  linger l{1, 0};
  setsockopt(static_cast<SOCKET>(fd.get()), SOL_SOCKET, SO_LINGER, reinterpret_cast<char*>(&l), sizeof l);
  fd.reset();
}
// A second handle on the same socket, or kNoFd.
inline xpoll_fd_t duplicate(xpoll_fd_t fd) {
  HANDLE h = nullptr;
  HANDLE self = GetCurrentProcess();
  if (!DuplicateHandle(self, reinterpret_cast<HANDLE>(fd), self, &h, 0, FALSE, DUPLICATE_SAME_ACCESS)) return kNoFd;
  return reinterpret_cast<xpoll_fd_t>(h);
}
#else
inline bool send_byte(int fd, char c = 'x') { return ::write(fd, &c, 1) == 1; }
inline int read_byte(int fd, char* c) { return static_cast<int>(::read(fd, c, 1)); }
inline bool shutdown_write(int fd) { return shutdown(fd, SHUT_WR) == 0; }
inline void drain(int fd) {
  char buf[4096];
  for (int i = 0; i < 1024 && ::read(fd, buf, sizeof buf) > 0; ++i) {
  }
}
// Hangs up the connection of `fd` on its peer (both directions: a closed
// AF_UNIX socket).
inline void hang_up(Fd& fd) { fd.reset(); }
// A second descriptor on the same file, numbered 100 or above, or kNoFd.
inline int duplicate(int fd) { return fcntl(fd, F_DUPFD_CLOEXEC, 100); }
#endif

// A connected pair of non-blocking TCP sockets on 127.0.0.1 (urgent data
// needs TCP; on Windows every pair is one).
inline Pair tcp_pair() {
#if defined(_WIN32)
  return Pair::make();
#else
  Fd l(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (!l.valid() || bind(l.get(), reinterpret_cast<sockaddr*>(&addr), len) != 0 || listen(l.get(), 4) != 0 ||
      getsockname(l.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    return {};
  Fd c(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!c.valid() || connect(c.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return {};
  Fd s(accept(l.get(), nullptr, nullptr));
  if (!s.valid()) return {};
  set_nonblocking(c.get());
  set_nonblocking(s.get());
  return Pair{std::move(s), std::move(c)};
#endif
}

// A new pair one of whose ends has the number `num` (just freed): POSIX
// gives the lowest free number at once; Windows reuses a freed handle value
// soon but not always first, so a few pairs may be made (bounded). `a` is
// the end with the number, or the pair is empty when none was found.
inline Pair pair_reusing(xpoll_fd_t num) {
  std::vector<Pair> spare;
  for (int i = 0; i < 64; ++i) {
    Pair p = Pair::make();
    if (!p.a.valid()) break;
    if (p.b.get() == num) std::swap(p.a, p.b);
    if (p.a.get() == num) return p;
    spare.push_back(std::move(p));
  }
  return {};
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
inline uint32_t wait_for(xpoll_t* p, xpoll_fd_t fd, uint32_t bits, int timeout_ms = 2000, int rounds = 20) {
  for (int r = 0; r < rounds; ++r) {
    for (const xpoll_event_t& e : wait_once(p, timeout_ms))
      if (e.fd == fd && (e.events & bits) == bits) return e.events;
  }
  return 0;
}

// True if fd is reported by a non-blocking wait.
inline bool reported_now(xpoll_t* p, xpoll_fd_t fd) {
  for (const xpoll_event_t& e : wait_once(p, 0))
    if (e.fd == fd) return true;
  return false;
}

inline std::vector<std::string> compiled_backends() {
  const char* names[16];
  int n = xpoll_backends(names, 16);
  return std::vector<std::string>(names, names + (n > 16 ? 16 : n));
}

#if defined(_WIN32)
// Windows has no descriptor limit to raise.
inline bool ensure_descriptors(long) { return true; }

// CPU time (user + system) this process has used, in milliseconds.
inline double cpu_ms() {
  FILETIME created, exited, kernel, user;
  if (!GetProcessTimes(GetCurrentProcess(), &created, &exited, &kernel, &user)) return 0;
  auto ticks = [](FILETIME f) { return (static_cast<double>(f.dwHighDateTime) * 4294967296.0 + f.dwLowDateTime); };
  return (ticks(kernel) + ticks(user)) / 1e4;  // 100 ns units
}
#else
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
#endif

inline double elapsed_ms(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - since).count();
}

}  // namespace xpoll_test

#endif  // XPOLL_TESTS_SUPPORT_HPP
