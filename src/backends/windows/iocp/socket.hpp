// One registered socket of the IOCP backend and its poll state.
//
// A socket is in exactly one PollState, and the state alone says what the
// backend owes it:
//   kIdle     nothing in flight, nothing to send: a oneshot registration
//             paused or just reported, or a socket reported closed;
//   kQueued   to be polled just before the next wait (in the queued list);
//   kPending  exactly one request in flight for its interest (`request`);
//   kClosed   its poll was refused when sent: the next collect reports it
//             closed (in the closed list).
// A request a socket lets go is not the socket's any more: it is cancelled
// and belongs to the request pool until its completion is dequeued
// (requests.hpp), so the socket may send the next one at once.
#ifndef XPOLL_SRC_BACKENDS_IOCP_SOCKET_HPP
#define XPOLL_SRC_BACKENDS_IOCP_SOCKET_HPP

#include <winsock2.h>

#include <cstdint>

#include "core/backend.hpp"

namespace xpoll::detail::iocp {

struct Group;
struct Request;

enum class PollState { kIdle, kQueued, kPending, kClosed };

struct Socket {
  Socket(xpoll_fd_t f, SOCKET b) : fd(f), base(b) {}

  const xpoll_fd_t fd;
  const SOCKET base;  // the base provider's socket, which AFD polls
  Group* group = nullptr;
  KernelState want;  // what the core asked for
  uint32_t generation = 0;
  PollState state = PollState::kIdle;
  Request* request = nullptr;  // the request in flight, in kPending
  Socket* prev = nullptr;      // links in the list of its state
  Socket* next = nullptr;
};

// An intrusive list of sockets, in the order they joined it: joining and
// leaving cannot fail, and a socket removed from the backend leaves it at
// once.
class SocketList {
 public:
  bool empty() const noexcept { return head_ == nullptr; }
  Socket* front() const noexcept { return head_; }

  void push_back(Socket& s) noexcept {
    s.prev = tail_;
    s.next = nullptr;
    (tail_ ? tail_->next : head_) = &s;
    tail_ = &s;
  }

  void erase(Socket& s) noexcept {
    (s.prev ? s.prev->next : head_) = s.next;
    (s.next ? s.next->prev : tail_) = s.prev;
    s.prev = s.next = nullptr;
  }

 private:
  Socket* head_ = nullptr;
  Socket* tail_ = nullptr;
};

}  // namespace xpoll::detail::iocp

#endif  // XPOLL_SRC_BACKENDS_IOCP_SOCKET_HPP
