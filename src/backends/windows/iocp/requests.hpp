// The AFD poll requests of the IOCP backend, and the rule that keeps their
// memory valid.
//
// The kernel writes a request's status block and poll info until its
// completion has been dequeued from the port, cancelled requests included.
// So a request its socket no longer wants (its interest changed, or the
// socket was removed) is cancelled and lives on, owned by the pool, until
// its completion comes back; only then is it freed. A few freed requests are
// kept for reuse.
//
// A request's life: kFree (in the pool) -> kPending (sent for its socket)
// -> kCancelled (its socket let it go) -> dequeued -> kFree again. A request
// dequeued while still kPending reports its events to its socket.
#ifndef XPOLL_SRC_BACKENDS_IOCP_REQUESTS_HPP
#define XPOLL_SRC_BACKENDS_IOCP_REQUESTS_HPP

#include <cstddef>
#include <vector>

#include "backends/windows/iocp/afd.hpp"

namespace xpoll::detail::iocp {

struct Socket;

enum class RequestState { kFree, kPending, kCancelled };

struct Request : afd::Request {
  RequestState state = RequestState::kFree;
  Socket* owner = nullptr;  // the socket it polls for, while kPending
  ULONG events = 0;         // the AFD_POLL_* events it polls for
};

// The request a completion packet names: its overlapped pointer is the
// address of the status block, which begins the request.
inline Request* request_of(OVERLAPPED* o) noexcept { return static_cast<Request*>(reinterpret_cast<afd::Request*>(o)); }

class Requests {
 public:
  Requests() = default;
  Requests(const Requests&) = delete;
  Requests& operator=(const Requests&) = delete;
  ~Requests();

  // Room for the spare requests. 0 or XPOLL_ENOMEM.
  int reserve() noexcept;

  // Sends a request for `owner` through `helper`, polling `base` for
  // `events`. 0 with *out pending, XPOLL_ENOMEM, or the code of the kernel's
  // refusal (no completion follows; the request is back in the pool).
  int send(Socket* owner, HANDLE helper, SOCKET base, ULONG events, Request** out) noexcept;

  // The socket lets its pending request go: it is cancelled, and freed when
  // its completion is dequeued.
  void cancel(Request& r) noexcept;

  // Takes back a request whose completion was dequeued and frees it. Returns
  // the socket it was pending for, with the events it reports in *events,
  // or nullptr for a cancelled request.
  Socket* finish(Request* r, ULONG* events) noexcept;

  // Waits (up to 5 s in all) for the completion of every request in flight,
  // dequeuing them from `port` and freeing them. The caller has cancelled
  // them all. What does not come back within the bound is leaked rather
  // than freed under the kernel's pen.
  void drain(HANDLE port, ULONG_PTR key) noexcept;

 private:
  Request* take() noexcept;
  void recycle(Request* r) noexcept;

  std::vector<Request*> spare_;
  size_t in_flight_ = 0;  // requests whose completion has not been dequeued
};

}  // namespace xpoll::detail::iocp

#endif  // XPOLL_SRC_BACKENDS_IOCP_REQUESTS_HPP
