// Windows services for the core: the environment, the descriptor check and
// the wake channel. (The Winsock, Win32 and NTSTATUS error tables are in
// core/errors_win32.cpp.)
// There is no fork on Windows, so the fork generation never changes.
#include <winsock2.h>
// (winsock2.h first: kept apart so that formatting does not sort them)
#include <windows.h>

#include "platform/platform.hpp"

namespace xpoll::detail {

namespace {

constexpr SOCKET kNone = INVALID_SOCKET;

void set_nonblocking(SOCKET s) {
  u_long on = 1;
  ioctlsocket(s, FIONBIO, &on);
}

}  // namespace

std::atomic<unsigned> g_fork_generation{0};
void watch_forks() noexcept {}

const char* backend_from_env() noexcept {
  // Each thread gets its own copy, so that a concurrent xpoll_create cannot
  // change the name under another.
  thread_local char buf[64];
  DWORD n = GetEnvironmentVariableA("XPOLL_BACKEND", buf, sizeof buf);
  return (n > 0 && n < sizeof buf) ? buf : nullptr;
}

// Only sockets can be watched on Windows. A value whose low bits are set is
// never a handle (see fd_index), even where the kernel would ignore them.
bool descriptor_open(xpoll_fd_t fd) noexcept {
  if (invalid_fd(fd) || fd_index(fd) == kNoIndex) return false;
  int type = 0;
  int len = sizeof type;
  return getsockopt(static_cast<SOCKET>(fd), SOL_SOCKET, SO_TYPE, reinterpret_cast<char*>(&type), &len) == 0;
}

// Windows has no per-process descriptor limit; handles are bounded by
// memory (about 16 million per process).
long descriptor_limit() noexcept { return -1; }

WakeChannel::~WakeChannel() {
  if (rfd_ != kNone) {
    closesocket(static_cast<SOCKET>(rfd_));
    WSACleanup();
  }
}

// A UDP socket bound to loopback and connected to itself: one socket that
// select and WSAPoll can watch and any thread can make readable.
int WakeChannel::open() noexcept {
  WSADATA wsa;
  int rc = WSAStartup(MAKEWORD(2, 2), &wsa);
  if (rc != 0) return from_wsa(rc);
  SOCKET s = socket(AF_INET, SOCK_DGRAM, IPPROTO_UDP);
  if (s == kNone) {
    rc = from_wsa(WSAGetLastError());
    WSACleanup();
    return rc;
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int len = sizeof addr;
  if (bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      getsockname(s, reinterpret_cast<sockaddr*>(&addr), &len) != 0 ||
      connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    rc = from_wsa(WSAGetLastError());
    closesocket(s);
    WSACleanup();
    return rc;
  }
  set_nonblocking(s);
  SetHandleInformation(reinterpret_cast<HANDLE>(s), HANDLE_FLAG_INHERIT, 0);
  rfd_ = wfd_ = static_cast<xpoll_fd_t>(s);
  return 0;
}

int WakeChannel::signal() noexcept {
  char c = 1;
  if (send(static_cast<SOCKET>(wfd_), &c, 1, 0) == 1) return 0;
  // A full buffer means the socket is readable, which is all we need.
  int e = WSAGetLastError();
  return e == WSAEWOULDBLOCK ? 0 : from_wsa(e);
}

void WakeChannel::drain() noexcept {
  char buf[64];
  for (int i = 0; i < 64; ++i)
    if (recv(static_cast<SOCKET>(rfd_), buf, sizeof buf, 0) <= 0) break;
}

}  // namespace xpoll::detail
