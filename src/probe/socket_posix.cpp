// The probe's socket shim on POSIX: socket pairs fill the descriptor table,
// loopback TCP for the connections. Every descriptor is close-on-exec and
// non-blocking.
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "core/errors.hpp"
#include "platform/platform.hpp"
#include "probe/socket.hpp"

namespace xpoll::detail::probe {

namespace {

void set_nonblocking(int fd) {
  fcntl(fd, F_SETFD, FD_CLOEXEC);
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

sockaddr_in loopback(uint16_t port) {
  sockaddr_in a;
  std::memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = port;
  return a;
}

}  // namespace

const size_t kFillerSize = 2;
// libkqueue opens ten descriptors for its first kqueue, and one that fails
// half-way with EMFILE leaves it unusable, so a retry is too late: eight
// pairs are given back before the checks.
const size_t kRoomForPollers = 16;

int last_error() noexcept { return errno; }
const char* error_name(int err) noexcept { return errno_name(err); }
int error_code(int err) noexcept { return from_errno(err); }
bool would_block(int err) noexcept { return err == EAGAIN || err == EWOULDBLOCK || err == EINTR; }
void close_socket(Socket s) noexcept {
  if (s >= 0) ::close(s);
}
bool start_sockets() noexcept { return false; }
void stop_sockets() noexcept {}

int open_filler(std::vector<Socket>& out) noexcept {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return errno;
  set_nonblocking(sv[0]);
  set_nonblocking(sv[1]);
  out.push_back(sv[0]);
  out.push_back(sv[1]);
  return 0;
}

bool one_more_fits(const std::vector<Socket>& s, int err) noexcept {
  if (err != EMFILE || s.empty()) return false;
  int extra = fcntl(s[0], F_DUPFD_CLOEXEC, 0);
  // Closed at once: only counted, and it lets /proc be read at the limit.
  if (extra >= 0) ::close(extra);
  return extra >= 0;
}

// Whole pairs only, the last ones (the highest descriptors): writing into
// each end makes the other readable.
void make_ready(const std::vector<Socket>& s, size_t n, size_t want, std::vector<char>& expected) noexcept {
  size_t pairs = n / 2;
  size_t k = std::min(pairs, (std::max<size_t>(2, want) + 1) / 2);
  for (size_t i = pairs - k; i < pairs; ++i) {
    for (size_t j = 0; j < 2; ++j)
      if (::write(s[2 * i + j], "x", 1) == 1) expected[2 * i + 1 - j] = 1;
  }
}

void drain(Socket s) noexcept {
  char buf[8];
  (void)!::read(s, buf, sizeof buf);
}

Socket open_stream() noexcept {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd >= 0) set_nonblocking(fd);
  return fd;
}

int listen_loopback(Socket s, uint16_t& port) noexcept {
  int one = 1;
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a = loopback(0);
  socklen_t len = sizeof a;
  if (bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(s, SOMAXCONN) != 0 ||
      getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) != 0)
    return errno;
  port = a.sin_port;
  return 0;
}

int connect_loopback(Socket s, uint16_t port) noexcept {
  sockaddr_in a = loopback(port);
  if (connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) return 0;
  return errno == EINPROGRESS ? -1 : errno;
}

Socket accept_one(Socket listener) noexcept {
  int s = accept(listener, nullptr, nullptr);
  if (s >= 0) set_nonblocking(s);
  return s;
}

// SO_ERROR says how the connect ended. A report that is not writable and
// carries no error (a hang-up) is a connection reset.
int connect_error(Socket s, uint32_t events) noexcept {
  int err = 0;
  socklen_t len = sizeof err;
  getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len);
  return err || (events & XPOLL_OUT) ? err : ECONNRESET;
}

int send_byte(Socket s, char c) noexcept { return static_cast<int>(::write(s, &c, 1)); }
int read_byte(Socket s, char* c) noexcept { return static_cast<int>(::read(s, c, 1)); }

Socket keep_back(Socket s) noexcept { return dup(s); }

}  // namespace xpoll::detail::probe
