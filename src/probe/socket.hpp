// The probe's socket shim: the few socket operations the probe needs, one
// implementation per OS (socket_posix.cpp, socket_win32.cpp), so that the
// probe itself (probe.cpp, connections.cpp) is written once. A socket is an
// xpoll_fd_t, as the public API takes it; an OS error is the errno value or
// the Winsock code, named and mapped by core's error tables.
#ifndef XPOLL_SRC_PROBE_SOCKET_HPP
#define XPOLL_SRC_PROBE_SOCKET_HPP

#include <cstddef>
#include <cstdint>
#include <vector>

#include "xpoll/xpoll.h"

namespace xpoll::detail::probe {

using Socket = xpoll_fd_t;
// -1 on POSIX, INVALID_SOCKET (all bits set) on Windows.
constexpr Socket kNoSocket = static_cast<Socket>(-1);

// The error of the last failed socket call, and what it means.
int last_error() noexcept;
const char* error_name(int err) noexcept;  // "EMFILE" ...
int error_code(int err) noexcept;          // XPOLL_E*
bool would_block(int err) noexcept;        // try again later
void close_socket(Socket s) noexcept;

// Starts the socket library for the life of the process's sockets (Winsock;
// nothing on POSIX). Returns whether stop_sockets() is owed.
bool start_sockets() noexcept;
void stop_sockets() noexcept;

// Sockets closed together on destruction.
class SocketSet {
 public:
  SocketSet() : started_(start_sockets()) {}
  SocketSet(const SocketSet&) = delete;
  SocketSet& operator=(const SocketSet&) = delete;
  ~SocketSet() {
    close_from(0);
    if (started_) stop_sockets();
  }
  // Closes every socket from position i on.
  void close_from(size_t i) {
    while (all_.size() > i) {
      close_socket(all_.back());
      all_.pop_back();
    }
  }
  std::vector<Socket>& all() { return all_; }
  size_t size() const { return all_.size(); }

 private:
  bool started_;
  std::vector<Socket> all_;
};

// ---- Step 1: descriptors, and step 2: each backend's readiness ------------

// The descriptors one filler opens: a socket pair on POSIX, where writing
// into one end makes the other readable; one UDP socket on Windows, made
// readable by a datagram.
extern const size_t kFillerSize;
// Descriptors given back before the backend checks, for the pollers' own.
extern const size_t kRoomForPollers;

// Opens one filler onto the end of `out`; 0, or the OS error.
int open_filler(std::vector<Socket>& out) noexcept;
// Whether one more descriptor fits after open_filler() failed with `err`
// (the last slot under the limit, too small for a pair): taken and given
// back at once.
bool one_more_fits(const std::vector<Socket>& s, int err) noexcept;
// Makes up to about `want` of the first `n` sockets readable, the
// highest-numbered first, and sets expected[i] for each that it did.
void make_ready(const std::vector<Socket>& s, size_t n, size_t want, std::vector<char>& expected) noexcept;
// Reads what make_ready() sent.
void drain(Socket s) noexcept;

// ---- Step 3: loopback TCP connections --------------------------------------

// A non-blocking TCP socket, or kNoSocket (last_error() says why).
Socket open_stream() noexcept;
// Binds `s` to a free loopback port and listens: 0 and the port, or the OS error.
int listen_loopback(Socket s, uint16_t& port) noexcept;
// Starts connecting `s` to the loopback port: 0 when connected at once, -1
// while in progress, or the OS error.
int connect_loopback(Socket s, uint16_t port) noexcept;
// A connection accepted on `listener`, non-blocking, or kNoSocket.
Socket accept_one(Socket listener) noexcept;
// The error of a connect reported finished by `events`: 0 when connected.
int connect_error(Socket s, uint32_t events) noexcept;
// One byte: 1 sent or read, 0 at the end of the stream (read), -1 on error.
int send_byte(Socket s, char c) noexcept;
int read_byte(Socket s, char* c) noexcept;
// A descriptor kept back from the limit until memory is read (a duplicate
// of `s` on POSIX; nothing on Windows, which has no such limit).
Socket keep_back(Socket s) noexcept;

}  // namespace xpoll::detail::probe

#endif  // XPOLL_SRC_PROBE_SOCKET_HPP
