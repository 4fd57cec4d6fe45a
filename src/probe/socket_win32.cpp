// The probe's socket shim on Windows. There is no socketpair, and a
// loopback TCP pair would cost a connection per two handles, so the
// descriptors are UDP sockets (one handle each): those a check makes
// readable are bound to loopback and sent a datagram, the others take no
// port. The connections are loopback TCP.
#include <winsock2.h>

#include <algorithm>

#include "core/errors.hpp"
#include "platform/platform.hpp"
#include "probe/socket.hpp"

namespace xpoll::detail::probe {

namespace {

SOCKET handle(Socket s) { return static_cast<SOCKET>(s); }

void set_nonblocking(SOCKET s) {
  u_long on = 1;
  ioctlsocket(s, FIONBIO, &on);
}

sockaddr_in loopback(u_short port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = port;
  return a;
}

// The loopback port of a UDP socket, bound on first use; 0 when it cannot be.
u_short bound_port(SOCKET s) {
  sockaddr_in a = loopback(0);
  int len = sizeof a;
  // An unbound socket has no name (WSAEINVAL): bind it first.
  if (getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) == 0 && a.sin_port) return a.sin_port;
  a = loopback(0);
  len = sizeof a;
  if (bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return 0;
  return getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) == 0 ? a.sin_port : 0;
}

}  // namespace

const size_t kFillerSize = 1;
const size_t kRoomForPollers = 0;  // no descriptor limit to make room under

int last_error() noexcept { return WSAGetLastError(); }
const char* error_name(int err) noexcept { return wsa_name(err); }
int error_code(int err) noexcept { return from_wsa(err); }
bool would_block(int err) noexcept { return err == WSAEWOULDBLOCK; }
void close_socket(Socket s) noexcept { closesocket(handle(s)); }

bool start_sockets() noexcept {
  WSADATA wsa;
  return WSAStartup(MAKEWORD(2, 2), &wsa) == 0;
}
void stop_sockets() noexcept { WSACleanup(); }

int open_filler(std::vector<Socket>& out) noexcept {
  SOCKET s = socket(AF_INET, SOCK_DGRAM, IPPROTO_UDP);
  if (s == INVALID_SOCKET) return WSAGetLastError();
  out.push_back(s);
  set_nonblocking(s);
  return 0;
}

bool one_more_fits(const std::vector<Socket>&, int) noexcept { return false; }

// Handle values are not handed out in order: the highest are chosen by value.
void make_ready(const std::vector<Socket>& s, size_t n, size_t want, std::vector<char>& expected) noexcept {
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t x, size_t y) { return s[x] > s[y]; });
  SOCKET sender = socket(AF_INET, SOCK_DGRAM, IPPROTO_UDP);
  for (size_t k = 0; k < std::min(n, want) && sender != INVALID_SOCKET; ++k) {
    size_t j = order[k];
    sockaddr_in to = loopback(bound_port(handle(s[j])));
    if (to.sin_port && sendto(sender, "x", 1, 0, reinterpret_cast<sockaddr*>(&to), sizeof to) == 1) expected[j] = 1;
  }
  if (sender != INVALID_SOCKET) closesocket(sender);
}

void drain(Socket s) noexcept {
  char buf[8];
  recv(handle(s), buf, sizeof buf, 0);
}

Socket open_stream() noexcept {
  SOCKET s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
  if (s != INVALID_SOCKET) set_nonblocking(s);
  return s;
}

int listen_loopback(Socket s, uint16_t& port) noexcept {
  sockaddr_in a = loopback(0);
  int len = sizeof a;
  if (bind(handle(s), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(handle(s), SOMAXCONN) != 0 ||
      getsockname(handle(s), reinterpret_cast<sockaddr*>(&a), &len) != 0)
    return WSAGetLastError();
  port = a.sin_port;
  return 0;
}

int connect_loopback(Socket s, uint16_t port) noexcept {
  sockaddr_in a = loopback(port);
  if (connect(handle(s), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) return 0;
  int err = WSAGetLastError();
  return err == WSAEWOULDBLOCK ? -1 : err;
}

Socket accept_one(Socket listener) noexcept {
  SOCKET a = accept(handle(listener), nullptr, nullptr);
  if (a != INVALID_SOCKET) set_nonblocking(a);
  return a;
}

// A failed connect is reported as an error; its code may already be gone
// from SO_ERROR (select takes it), so it is then taken as refused.
int connect_error(Socket s, uint32_t events) noexcept {
  if (!(events & XPOLL_ERR)) return events & XPOLL_OUT ? 0 : WSAECONNRESET;
  int err = 0;
  int len = sizeof err;
  getsockopt(handle(s), SOL_SOCKET, SO_ERROR, reinterpret_cast<char*>(&err), &len);
  return err ? err : WSAECONNREFUSED;
}

int send_byte(Socket s, char c) noexcept { return send(handle(s), &c, 1, 0); }
int read_byte(Socket s, char* c) noexcept { return recv(handle(s), c, 1, 0); }

Socket keep_back(Socket) noexcept { return kNoSocket; }

}  // namespace xpoll::detail::probe
