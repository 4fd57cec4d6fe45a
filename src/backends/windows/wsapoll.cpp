// poll backend on Windows (WSAPoll, Vista and later), sockets only.
//
// Strategy: as the POSIX poll backend: a WSAPOLLFD array kept in step with
// the table (a slot map, removal by swapping in the last entry), of which
// the waiter polls a copy refreshed only after a change. Changes are applied
// between waits; a change made while another thread waits wakes it, and the
// core applies the change before it waits again. Oneshot is emulated by the
// core. Results are scanned from where the last scan stopped.
//
// WSAPoll's known defects, handled here: it refuses (WSAEINVAL, for the whole
// call) any `events` bit besides POLLRDNORM, POLLRDBAND and POLLWRNORM, so
// only those are asked for; a registration with no interest is left out of
// the array instead of being passed with events 0. A socket closed while
// registered comes back as POLLNVAL and is dropped.
//
// Known limits: sockets only; no edge mode, no RDHUP; POLLHUP (which also
// comes for a mere shutdown by the peer) is readability to a registration
// that reads and XPOLL_HUP only to one that does not. Before Windows 10 2004
// WSAPoll does not report a failed connect() at all (the socket is neither
// writable nor in error): callers that connect should also time out, or use
// the iocp backend, which reports it.
#include <winsock2.h>

#include <algorithm>
#include <vector>

#include "backends/pollset.hpp"
#include "core/backend.hpp"
#include "core/registry.hpp"
#include "platform/platform.hpp"

namespace xpoll::detail {

namespace {

SHORT to_poll(uint32_t want) {
  SHORT ev = 0;
  if (want & XPOLL_IN) ev |= POLLRDNORM;
  if (want & XPOLL_OUT) ev |= POLLWRNORM;
  return ev;
}

// WSAPoll's POLLHUP means the peer shut down or reset the connection, not
// that both directions are closed: to a registration that reads it is shown
// as readable (a read returns 0 or the error). WSAPoll reports it whatever
// was asked, so to one that only writes it is XPOLL_HUP, lest a wait return
// at once with nothing to say, again and again.
uint32_t from_poll(SHORT rev, SHORT asked) {
  uint32_t out = 0;
  if (rev & (POLLRDNORM | POLLRDBAND)) out |= XPOLL_IN;
  if (rev & POLLHUP) out |= (asked & POLLRDNORM) ? XPOLL_IN : XPOLL_HUP;
  if (rev & POLLWRNORM) out |= XPOLL_OUT;
  if (rev & POLLERR) out |= XPOLL_ERR;
  return out;
}

struct FdOfWsaPollfd {
  xpoll_fd_t operator()(const WSAPOLLFD& e) const noexcept { return static_cast<xpoll_fd_t>(e.fd); }
};

class WsaPollBackend final : public Backend {
 public:
  int open() {
    int rc = wake_.open();
    if (rc != 0) return rc;
    try {
      set_.push_fixed(WSAPOLLFD{static_cast<SOCKET>(wake_.read_fd()), POLLRDNORM, 0});
    } catch (...) {
      return XPOLL_ENOMEM;
    }
    return 0;
  }

  // Checks the descriptor and makes room for it, so that apply() cannot fail.
  int admit(xpoll_fd_t fd) noexcept override { return set_.admit(fd); }

  int apply(xpoll_fd_t fd, const KernelState&, const KernelState& want, uint32_t, unsigned) noexcept override {
    // A registration with no interest is not polled at all (see from_poll).
    SHORT ev = to_poll(want.watched());
    set_.update(fd, ev != 0, WSAPOLLFD{static_cast<SOCKET>(fd), ev, 0});
    return 0;
  }

  int prepare(WaitSlot*, int) noexcept override { return set_.snapshot(); }

  int wait(WaitSlot*, int, int64_t timeout_ns) noexcept override {
    auto& work = set_.work();
    int n = WSAPoll(work.data(), static_cast<ULONG>(work.size()), ceil_ms(timeout_ns));
    if (n < 0) return from_wsa(WSAGetLastError());
    ready_ = static_cast<size_t>(n);
    return 0;
  }

  void collect(WaitSlot*, EventSink& sink) noexcept override {
    read_poll_results(set_, ready_, wake_, sink, [](const WSAPOLLFD& e) { return from_poll(e.revents, e.events); });
    ready_ = 0;
  }

  int signal() noexcept override { return wake_.signal(); }
  bool owns(xpoll_fd_t fd) const noexcept override { return wake_.owns(fd); }

 private:
  WakeChannel wake_;
  PollSet<WSAPOLLFD, FdOfWsaPollfd> set_{1};  // [0] is the wake socket
  size_t ready_ = 0;
};

constexpr uint32_t kWsaPollCaps = XPOLL_CAP_ONESHOT | XPOLL_CAP_UNBOUNDED;

}  // namespace

extern const BackendInfo poll_backend_info = {"poll", open_backend<WsaPollBackend>, kWsaPollCaps, -1};

}  // namespace xpoll::detail
