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

#include "core/backend.hpp"
#include "platform/platform.hpp"
#include "core/registry.hpp"
#include "backends/pollset.hpp"

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

class WsaPollBackend final : public Backend {
 public:
  int open() {
    int rc = wake_.open();
    if (rc != 0) return rc;
    try {
      fds_.push_back(WSAPOLLFD{static_cast<SOCKET>(wake_.read_fd()), POLLRDNORM, 0});
    } catch (...) {
      return XPOLL_ENOMEM;
    }
    return 0;
  }


  // Checks the socket and makes room for it, so that apply() cannot fail.
  int admit(xpoll_fd_t fd) noexcept override {
    if (!descriptor_open(fd)) return XPOLL_EBADF;
    size_t i = fd_index(fd);
    try {
      if (slot_.size() <= i) slot_.resize(std::max(i + 1, slot_.size() * 2), 0);
      // Room for every socket number, so that apply() never allocates.
      if (fds_.capacity() < slot_.size() + 1) fds_.reserve(slot_.size() + 1);
    } catch (...) {
      return XPOLL_ENOMEM;
    }
    return 0;
  }

  int apply(xpoll_fd_t fd, const KernelState&, const KernelState& want, uint32_t, unsigned) noexcept override {
    size_t idx = fd_index(fd);
    size_t i = idx < slot_.size() ? slot_[idx] : 0;
    SHORT ev = to_poll(want.watched());
    if (ev == 0) {
      if (i != 0) {
        slot_[fd_index(static_cast<xpoll_fd_t>(fds_.back().fd))] = i;
        fds_[i] = fds_.back();
        fds_.pop_back();
        slot_[idx] = 0;
        dirty_ = true;
      }
      return 0;
    }
    if (i == 0) {
      i = fds_.size();
      fds_.push_back(WSAPOLLFD{static_cast<SOCKET>(fd), 0, 0});  // within the capacity admit() reserved
      slot_[idx] = i;
    }
    fds_[i].events = ev;
    dirty_ = true;
    return 0;
  }

  int prepare() noexcept override {
    if (!dirty_) return 0;
    try {
      work_ = fds_;
    } catch (...) {
      return XPOLL_ENOMEM;
    }
    dirty_ = false;
    return 0;
  }

  int wait(int, int timeout_ms) noexcept override {
    int n = WSAPoll(work_.data(), static_cast<ULONG>(work_.size()), timeout_ms);
    return n < 0 ? from_wsa(WSAGetLastError()) : 0;
  }

  void collect(EventSink& sink) noexcept override {
    read_poll_results(work_, cursor_, wake_, sink, [](const WSAPOLLFD& e) { return from_poll(e.revents, e.events); });
  }

  int signal() noexcept override { return wake_.signal(); }
  bool owns(xpoll_fd_t fd) const noexcept override { return wake_.owns(fd); }

 private:
  WakeChannel wake_;
  std::vector<WSAPOLLFD> fds_;   // [0] is the wake socket; changed under the core's lock
  std::vector<WSAPOLLFD> work_;  // the waiter's copy of fds_
  std::vector<size_t> slot_;     // fd_index -> index in fds_, 0 for none
  bool dirty_ = true;
  size_t cursor_ = 1;
};

constexpr uint32_t kWsaPollCaps = XPOLL_CAP_ONESHOT | XPOLL_CAP_UNBOUNDED;

}  // namespace

extern const BackendInfo poll_backend_info = {"poll", open_backend<WsaPollBackend>, kWsaPollCaps, -1};

}  // namespace xpoll::detail
