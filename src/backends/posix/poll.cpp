// poll backend: every POSIX system.
//
// Strategy: a pollfd array kept in step with the table (a descriptor-indexed
// slot map, removal by swapping in the last entry). The waiter polls a copy of
// it, refreshed only after a change, so that a thread adding a descriptor may
// grow the array while another is inside poll(). Changes are applied between
// waits; a change made while another thread waits wakes it, and the core
// applies the change before it waits again.
// Oneshot is emulated by the core (a reported oneshot registration leaves the
// array until re-armed). The results are scanned from where the last scan
// stopped, so a caller with a small array starves no descriptor.
//
// Known limits: no edge mode. POLLRDHUP exists on Linux only. A descriptor
// closed while registered comes back as POLLNVAL and is dropped.
#include <errno.h>
#include <fcntl.h>
#include <poll.h>

#include <algorithm>
#include <vector>

#include "core/backend.hpp"
#include "platform/platform.hpp"
#include "core/registry.hpp"
#include "backends/pollset.hpp"

namespace xpoll::detail {

namespace {

#if defined(POLLRDHUP)
constexpr short kPollRdhup = POLLRDHUP;
#else
constexpr short kPollRdhup = 0;
#endif

short to_poll(uint32_t want) {
  short ev = 0;
  if (want & XPOLL_IN) ev |= POLLIN;
  if (want & XPOLL_OUT) ev |= POLLOUT;
  if (want & XPOLL_RDHUP) ev |= kPollRdhup;
  return ev;
}

uint32_t from_poll(short rev) {
  uint32_t out = 0;
  if (rev & (POLLIN | POLLPRI)) out |= XPOLL_IN;
  if (rev & POLLOUT) out |= XPOLL_OUT;
  if (rev & POLLERR) out |= XPOLL_ERR;
  if (rev & POLLHUP) out |= XPOLL_HUP;
  if (kPollRdhup && (rev & kPollRdhup)) out |= XPOLL_RDHUP;
  return out;
}

class PollBackend final : public Backend {
 public:
  int open() {
    int rc = wake_.open();
    if (rc != 0) return rc;
    fds_.push_back(pollfd{wake_.read_fd(), POLLIN, 0});
    return 0;
  }


  // Checks the descriptor and makes room for it, so that apply() cannot fail.
  int admit(xpoll_fd_t fd) noexcept override {
    if (!descriptor_open(fd)) return XPOLL_EBADF;
    try {
      if (slot_.size() <= static_cast<size_t>(fd)) slot_.resize(std::max<size_t>(fd + 1, slot_.size() * 2), 0);
      if (fds_.capacity() < slot_.size() + 1) fds_.reserve(slot_.size() + 1);
    } catch (...) {
      return XPOLL_ENOMEM;
    }
    return 0;
  }

  int apply(xpoll_fd_t fd, const KernelState&, const KernelState& want, uint32_t, unsigned) noexcept override {
    size_t i = static_cast<size_t>(fd) < slot_.size() ? slot_[fd] : 0;
    // With no interest it stays in the set: poll() reports hang-ups and errors.
    if (!want.on || want.paused) {
      if (i != 0) {
        slot_[fds_.back().fd] = i;
        fds_[i] = fds_.back();
        fds_.pop_back();
        slot_[fd] = 0;
        dirty_ = true;
      }
      return 0;
    }
    if (i == 0) {
      i = fds_.size();
      fds_.push_back(pollfd{fd, 0, 0});  // within the capacity admit() reserved
      slot_[fd] = i;
    }
    fds_[i].events = to_poll(want.watched());
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
    int n = ::poll(work_.data(), static_cast<nfds_t>(work_.size()), timeout_ms);
    return n < 0 ? from_errno(errno) : 0;
  }

  void collect(EventSink& sink) noexcept override {
    read_poll_results(work_, cursor_, wake_, sink, [](const pollfd& e) { return from_poll(e.revents); });
  }

  int signal() noexcept override { return wake_.signal(); }
  bool owns(xpoll_fd_t fd) const noexcept override { return wake_.owns(fd); }

 private:
  WakeChannel wake_;
  std::vector<pollfd> fds_;   // [0] is the wake channel; changed under the core's lock
  std::vector<pollfd> work_;  // the waiter's copy of fds_
  std::vector<size_t> slot_;  // descriptor -> index in fds_, 0 for none
  bool dirty_ = true;
  size_t cursor_ = 1;
};

constexpr uint32_t kPollCaps = XPOLL_CAP_ONESHOT | XPOLL_CAP_NONSOCKET | XPOLL_CAP_UNBOUNDED | XPOLL_CAP_HANGUP |
                               (kPollRdhup ? XPOLL_CAP_RDHUP : 0);

}  // namespace

extern const BackendInfo poll_backend_info = {"poll", open_backend<PollBackend>, kPollCaps, -1};

}  // namespace xpoll::detail
