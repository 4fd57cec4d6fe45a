// epoll backend: Linux.
//
// Strategy: registrations live in the kernel, one epoll_ctl per applied
// change; the core defers removals and modifications to the next wait and
// folds those that cancel out. Each event carries the descriptor in its low
// 32 bits and the registration's generation in the high 32 bits, so that an
// event of a registration removed while another thread was inside
// epoll_wait() is recognised and dropped. Oneshot is EPOLLONESHOT and edge is
// EPOLLET, both native. The wake channel is an eventfd registered level-
// triggered under a reserved data value. Several threads may block in
// epoll_wait() at once, each with its own event buffer (a WaitSlot); the
// kernel hands each ready item to one of them, and a level-triggered one
// goes back on its ready list, to be handed to the next.
//
// Exclusive wake-up is EPOLLEXCLUSIVE (Linux 4.5). The kernel refuses
// EPOLL_CTL_MOD of such a registration, and a MOD that would add the bit:
// every change that involves it is made as EPOLL_CTL_DEL and EPOLL_CTL_ADD.
//
// A time-out with a part below a millisecond is waited with epoll_pwait2
// (Linux 5.11), which takes a timespec. On an older kernel the whole
// milliseconds are waited in epoll_wait(), and only what is left of the last
// one by ppoll() on the epoll descriptor itself, after which epoll_wait()
// takes what is ready without blocking: a waiter in ppoll() is woken as a
// poll waiter, which EPOLLEXCLUSIVE does not count as woken (every
// exclusive poller's would be), so it waits there as briefly as it can.
// Whole milliseconds (and for ever) are epoll_wait.
//
// The poller's descriptor (xpoll_fd) is a second epoll set, made on demand,
// that watches the first: the first is replaced when the set is rebuilt,
// and the second stays, so the caller's descriptor never changes.
//
// Known limits: epoll refuses regular files (EPERM). It keys a registration
// on the open file, not on the number: closing a descriptor whose file is
// still open elsewhere (a dup, a forked child) leaves the registration in the
// kernel, where no epoll_ctl can reach it: until the caller removes the
// descriptor its events go on being reported; once it is removed (or its
// number added again) the core sees them as stale and calls reset() to
// rebuild the set.
#include <errno.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <climits>

#include <memory>
#include <vector>

#include "core/backend.hpp"
#include "core/registry.hpp"
#include "platform/platform.hpp"

namespace xpoll::detail {

namespace {

constexpr uint64_t kWakeData = ~uint64_t{0};

// The readiness bits are epoll's own (Linux's values, the same on every
// architecture), so they translate by masking; the mode bits do not.
static_assert(XPOLL_IN == EPOLLIN && XPOLL_PRI == EPOLLPRI && XPOLL_OUT == EPOLLOUT && XPOLL_ERR == EPOLLERR &&
                  XPOLL_HUP == EPOLLHUP && XPOLL_RDHUP == EPOLLRDHUP,
              "xpoll's readiness bits are epoll's");
constexpr uint32_t kReadyBits = XPOLL_IN | XPOLL_PRI | XPOLL_OUT | XPOLL_ERR | XPOLL_HUP | XPOLL_RDHUP;

uint32_t to_epoll(const KernelState& want) {
  uint32_t ev = want.watched() & (XPOLL_IN | XPOLL_OUT | XPOLL_RDHUP | XPOLL_PRI);
  // A paused registration is re-added disarmed only after reset(); oneshot
  // keeps the errors and hang-ups it would report from repeating.
  if ((want.interest & XPOLL_ONESHOT) || want.paused) ev |= EPOLLONESHOT;
  if (want.interest & XPOLL_EDGE) ev |= EPOLLET;
  if (want.interest & XPOLL_EXCLUSIVE) ev |= EPOLLEXCLUSIVE;
  return ev;
}

uint32_t from_epoll(uint32_t ev) { return ev & kReadyBits; }

int ctl(int epfd, int op, int fd, uint32_t events, uint64_t data) {
  struct epoll_event ev = {};
  ev.events = events;
  ev.data.u64 = data;
  return epoll_ctl(epfd, op, fd, &ev) == 0 ? 0 : from_errno(errno);
}

// epoll_pwait2 without a signal mask: glibc's (2.35), or the system call
// where the C library lacks it and its timespec is the kernel's (64 bits).
// XPOLL_EPOLL_NO_PWAIT2 (a test option) takes the path of older kernels.
int pwait2(int epfd, epoll_event* ev, int max, const struct timespec* ts) {
#if defined(XPOLL_EPOLL_NO_PWAIT2)
  (void)epfd, (void)ev, (void)max, (void)ts;
  errno = ENOSYS;
  return -1;
#elif defined(XPOLL_HAVE_EPOLL_PWAIT2)
  return epoll_pwait2(epfd, ev, max, ts, nullptr);
#elif defined(SYS_epoll_pwait2)
  if (sizeof(ts->tv_sec) == 8 && sizeof(ts->tv_nsec) == 8)
    return static_cast<int>(syscall(SYS_epoll_pwait2, epfd, ev, max, ts, nullptr, 0));
  errno = ENOSYS;
  return -1;
#else
  (void)epfd, (void)ev, (void)max, (void)ts;
  errno = ENOSYS;
  return -1;
#endif
}

int open_epoll(int& epfd, const WakeChannel& wake) {
  int fd = epoll_create1(EPOLL_CLOEXEC);
  if (fd < 0) return from_errno(errno);
  int rc = ctl(fd, EPOLL_CTL_ADD, wake.read_fd(), EPOLLIN, kWakeData);
  if (rc != 0) {
    ::close(fd);
    return rc;
  }
  epfd = fd;
  return 0;
}

// One waiter's events.
struct EpollSlot final : WaitSlot {
  std::vector<epoll_event> events;
  int nready = 0;
};

class EpollBackend final : public Backend {
 public:
  ~EpollBackend() override {
    if (epfd_ >= 0) ::close(epfd_);
    if (front_ >= 0) ::close(front_);
  }

  int open() {
    int rc = wake_.open();
    return rc != 0 ? rc : open_epoll(epfd_, wake_);
  }

  int apply(xpoll_fd_t fd, const KernelState& have, const KernelState& want, uint32_t generation,
            unsigned how) noexcept override {
    if (!want.on) return ctl(epfd_, EPOLL_CTL_DEL, fd, 0, 0);
    uint64_t data = (uint64_t{generation} << 32) | static_cast<uint32_t>(fd);
    uint32_t ev = to_epoll(want);
    if (!have.on) return ctl(epfd_, EPOLL_CTL_ADD, fd, ev, data);
    bool exclusive = ((have.interest | want.interest) & XPOLL_EXCLUSIVE) != 0;
    // MOD also re-checks readiness, which is what a renewed edge registration needs.
    if (!(how & kVerify))
      return exclusive ? readd(fd, to_epoll(have), ev, data) : ctl(epfd_, EPOLL_CTL_MOD, fd, ev, data);
    // The kernel may hold a registration made for an earlier file with this
    // number. Unchanged interest: ADD answers EEXIST for the same open file
    // (at the cost of a lookup) and registers a new one. Changed interest:
    // MOD, and ADD if that file is not registered.
    if (have == want) {
      int rc = ctl(epfd_, EPOLL_CTL_ADD, fd, ev, data);
      if (rc == XPOLL_EEXIST && (how & kRenew))
        return exclusive ? readd(fd, ev, ev, data) : ctl(epfd_, EPOLL_CTL_MOD, fd, ev, data);
      return rc == XPOLL_EEXIST ? kKeptGeneration : rc == 0 ? kMayLinger : rc;
    }
    if (exclusive) {
      // DEL finds the same file or none (ENOENT: an earlier file may linger).
      int rc = ctl(epfd_, EPOLL_CTL_DEL, fd, 0, 0);
      if (rc != 0 && rc != XPOLL_ENOENT) return rc;
      int added = ctl(epfd_, EPOLL_CTL_ADD, fd, ev, data);
      return added != 0 ? added : rc == XPOLL_ENOENT ? kMayLinger : 0;
    }
    int rc = ctl(epfd_, EPOLL_CTL_MOD, fd, ev, data);
    if (rc != XPOLL_ENOENT) return rc;
    rc = ctl(epfd_, EPOLL_CTL_ADD, fd, ev, data);
    return rc == 0 ? kMayLinger : rc;
  }

  // One ADD: EEXIST says the same open file is registered.
  int confirm(xpoll_fd_t fd, const KernelState& state, uint32_t generation) noexcept override {
    struct epoll_event e = {};
    e.events = to_epoll(state);
    e.data.u64 = (uint64_t{generation} << 32) | static_cast<uint32_t>(fd);
    if (epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &e) == 0) return kMayLinger;
    int err = errno;
    return err == EEXIST ? kKeptGeneration : from_errno(err);
  }

  // Replaces an exclusive registration (or makes one of a plain one): the
  // kernel modifies neither in place. When the add is refused (EINVAL for an
  // epoll set, ENOMEM), the registration it replaced is made again, so that
  // a failure changes nothing, as apply() promises. A removal that finds
  // nothing (ENOENT: a restore that failed before, without memory) goes on
  // to the add, which the core then retries.
  int readd(int fd, uint32_t old_ev, uint32_t ev, uint64_t data) noexcept {
    int removed = ctl(epfd_, EPOLL_CTL_DEL, fd, 0, 0);
    if (removed != 0 && removed != XPOLL_ENOENT) return removed;
    int rc = ctl(epfd_, EPOLL_CTL_ADD, fd, ev, data);
    if (rc != 0 && removed == 0) ctl(epfd_, EPOLL_CTL_ADD, fd, old_ev, data);
    return rc;
  }

  WaitSlot* make_slot() override { return slots_.make(); }

  // A wait of timeout_ns, not whole milliseconds (see the header comment).
  int wait_fine(epoll_event* events, int max, int64_t timeout_ns) noexcept {
    struct timespec ts = to_timespec(timeout_ns);
    if (!no_pwait2_.load(std::memory_order_relaxed)) {
      int n = pwait2(epfd_, events, max, &ts);
      if (n >= 0 || errno != ENOSYS) return n;
      no_pwait2_.store(true, std::memory_order_relaxed);
    }
    if (timeout_ns >= kNsPerMs) {
      struct timespec t0, t1;
      clock_gettime(CLOCK_MONOTONIC, &t0);
      int n = epoll_wait(epfd_, events, max, static_cast<int>(std::min<int64_t>(timeout_ns / kNsPerMs, INT_MAX)));
      if (n != 0) return n;
      clock_gettime(CLOCK_MONOTONIC, &t1);
      timeout_ns -= (t1.tv_sec - t0.tv_sec) * int64_t{1000000000} + (t1.tv_nsec - t0.tv_nsec);
      if (timeout_ns <= 0) return 0;
      ts = to_timespec(timeout_ns);
    }
    struct pollfd pfd = {epfd_, POLLIN, 0};
    int ready = ppoll(&pfd, 1, &ts, nullptr);
    return ready <= 0 ? ready : epoll_wait(epfd_, events, max, 0);
  }

  int prepare(WaitSlot* slot, int max) noexcept override {
    auto& events = static_cast<EpollSlot*>(slot)->events;
    if (events.size() >= static_cast<size_t>(max)) return 0;
    try {
      events.resize(max);
    } catch (...) {
      return XPOLL_ENOMEM;
    }
    return 0;
  }

  int wait(WaitSlot* slot, int max, int64_t timeout_ns) noexcept override {
    auto* s = static_cast<EpollSlot*>(slot);
    // Never ask for more than the caller can take: an edge or oneshot event
    // taken from the kernel and not reported would be lost.
    int n = whole_ms(timeout_ns) ? epoll_wait(epfd_, s->events.data(), max, ceil_ms(timeout_ns))
                                 : wait_fine(s->events.data(), max, timeout_ns);
    s->nready = n < 0 ? 0 : n;
    return n < 0 ? from_errno(errno) : 0;
  }

  void collect(WaitSlot* slot, EventSink& sink) noexcept override {
    auto* s = static_cast<EpollSlot*>(slot);
    const epoll_event* e = s->events.data();
    for (const epoll_event* end = e + s->nready; e != end; ++e) {
      uint64_t data = e->data.u64;
      if (data == kWakeData) {
        wake_.drain();
        sink.woken();
        continue;
      }
      sink.emit(static_cast<int>(data & 0xffffffffu), from_epoll(e->events), data >> 32);
    }
    s->nready = 0;
  }

  int signal() noexcept override { return wake_.signal(); }

  int reset() noexcept override {
    int fresh = -1;
    int rc = open_epoll(fresh, wake_);
    if (rc == 0 && front_ >= 0) rc = ctl(front_, EPOLL_CTL_ADD, fresh, EPOLLIN, 0);
    if (rc != 0) {
      if (fresh >= 0) ::close(fresh);
      return rc;
    }
    ::close(epfd_);  // which also leaves front_'s set
    epfd_ = fresh;
    return 0;
  }

  int poll_fd() noexcept override {
    if (front_ >= 0) return front_;
    int front = epoll_create1(EPOLL_CLOEXEC);
    if (front < 0) return from_errno(errno);
    int rc = ctl(front, EPOLL_CTL_ADD, epfd_, EPOLLIN, 0);
    if (rc != 0) {
      ::close(front);
      return rc;
    }
    front_ = front;
    return front_;
  }

  bool owns(xpoll_fd_t fd) const noexcept override {
    return fd == epfd_ || (front_ >= 0 && fd == front_) || wake_.owns(fd);
  }

 private:
  int epfd_ = -1;
  int front_ = -1;  // the poller's descriptor, once asked for: an epoll set holding epfd_
  WakeChannel wake_;
  SlotStore<EpollSlot> slots_;
  std::atomic<bool> no_pwait2_{false};  // the kernel has no epoll_pwait2 (before 5.11)
};

constexpr uint32_t kEpollCaps = XPOLL_CAP_ONESHOT | XPOLL_CAP_EDGE | XPOLL_CAP_RDHUP | XPOLL_CAP_NONSOCKET |
                                XPOLL_CAP_UNBOUNDED | XPOLL_CAP_LIVE_CHANGES | XPOLL_CAP_HANGUP | XPOLL_CAP_EXCLUSIVE |
                                XPOLL_CAP_NS_TIMEOUT | XPOLL_CAP_PRI | XPOLL_CAP_FD | kCapNativeOneshot |
                                kCapKernelState | kCapWaitSlots | kCapConcurrentWait;

}  // namespace

extern const BackendInfo epoll_backend_info = {"epoll", open_backend<EpollBackend>, kEpollCaps, -1};

}  // namespace xpoll::detail
