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

#include "backends/pollset.hpp"
#include "core/backend.hpp"
#include "core/registry.hpp"
#include "platform/platform.hpp"

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
  if (want & XPOLL_PRI) ev |= POLLPRI;
  return ev;
}

uint32_t from_poll(short rev) {
  uint32_t out = 0;
  if (rev & POLLIN) out |= XPOLL_IN;
  if (rev & POLLPRI) out |= XPOLL_PRI;
  if (rev & POLLOUT) out |= XPOLL_OUT;
  if (rev & POLLERR) out |= XPOLL_ERR;
  if (rev & POLLHUP) out |= XPOLL_HUP;
  if (kPollRdhup && (rev & kPollRdhup)) out |= XPOLL_RDHUP;
  return out;
}

struct FdOfPollfd {
  xpoll_fd_t operator()(const pollfd& e) const noexcept { return e.fd; }
};

class PollBackend final : public Backend {
 public:
  int open() {
    int rc = wake_.open();
    if (rc != 0) return rc;
    set_.push_fixed(pollfd{wake_.read_fd(), POLLIN, 0});
    return 0;
  }

  // Checks the descriptor and makes room for it, so that apply() cannot fail.
  int admit(xpoll_fd_t fd) noexcept override { return set_.admit(fd); }

  int apply(xpoll_fd_t fd, const KernelState&, const KernelState& want, uint32_t, unsigned) noexcept override {
    // With no interest it stays in the set: poll() reports hang-ups and errors.
    set_.update(fd, want.on && !want.paused, pollfd{fd, to_poll(want.watched()), 0});
    return 0;
  }

  int prepare(WaitSlot*, int) noexcept override { return set_.snapshot(); }

  int wait(WaitSlot*, int, int64_t timeout_ns) noexcept override {
    auto& work = set_.work();
    int n;
#if defined(XPOLL_HAVE_PPOLL)
    if (!whole_ms(timeout_ns)) {
      struct timespec ts = to_timespec(timeout_ns);
      n = ppoll(work.data(), static_cast<nfds_t>(work.size()), &ts, nullptr);
    } else
#endif
      n = ::poll(work.data(), static_cast<nfds_t>(work.size()), ceil_ms(timeout_ns));
    if (n < 0) return from_errno(errno);
    ready_ = static_cast<size_t>(n);
    return 0;
  }

  void collect(WaitSlot*, EventSink& sink) noexcept override {
    read_poll_results(set_, ready_, wake_, sink, [](const pollfd& e) { return from_poll(e.revents); });
    ready_ = 0;
  }

  int signal() noexcept override { return wake_.signal(); }
  bool owns(xpoll_fd_t fd) const noexcept override { return wake_.owns(fd); }

 private:
  WakeChannel wake_;
  PollSet<pollfd, FdOfPollfd> set_{1};  // [0] is the wake channel
  size_t ready_ = 0;
};

#if defined(XPOLL_HAVE_PPOLL)
constexpr uint32_t kPollNs = XPOLL_CAP_NS_TIMEOUT;  // ppoll() takes a timespec
#else
constexpr uint32_t kPollNs = 0;  // poll() alone: whole milliseconds
#endif
constexpr uint32_t kPollCaps = XPOLL_CAP_ONESHOT | XPOLL_CAP_NONSOCKET | XPOLL_CAP_UNBOUNDED | XPOLL_CAP_HANGUP |
                               XPOLL_CAP_PRI | (kPollRdhup ? XPOLL_CAP_RDHUP : 0) | kPollNs;

}  // namespace

extern const BackendInfo poll_backend_info = {"poll", open_backend<PollBackend>, kPollCaps, -1};

}  // namespace xpoll::detail
