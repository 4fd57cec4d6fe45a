#include "core/poller.hpp"

#include <chrono>

namespace xpoll::detail {

namespace {

constexpr uint32_t kInterestBits = XPOLL_IN | XPOLL_OUT | XPOLL_RDHUP;
constexpr uint32_t kModeBits = XPOLL_ONESHOT | XPOLL_EDGE;
constexpr uint32_t kAlwaysBits = XPOLL_ERR | XPOLL_HUP;

// A wait loops internally when everything it saw was stale; this bounds how
// often in a row, so that no pathology turns into a spin. Internal wakes (a
// change made by another thread) do not count: each one is real progress.
constexpr int kMaxStaleRounds = 100;

// The least a wait asks its backend room for (see wait()).
constexpr size_t kMinFetch = 64;

int remaining_ms(Clock::time_point deadline) noexcept {
  auto left = std::chrono::duration_cast<std::chrono::microseconds>(deadline - Clock::now()).count();
  if (left <= 0) return 0;
  // Round up so that a wait never ends before its deadline.
  auto ms = (left + 999) / 1000;
  return ms > 0x7fffffff ? 0x7fffffff : static_cast<int>(ms);
}

}  // namespace

EventSink::Result EventSink::emit(xpoll_fd_t fd, uint32_t events, uint64_t generation) {
  return poller_.on_event(*this, fd, events, generation);
}
void EventSink::dead(xpoll_fd_t fd) {
  ++dead_;
  poller_.on_dead(fd);
}
void EventSink::woken() { poller_.on_woken(*this); }

Poller::Poller(std::unique_ptr<Backend> backend, const BackendInfo& info) noexcept
    : backend_(std::move(backend)), info_(info), caps_(info.caps), fork_gen_(fork_generation()) {}

Poller::~Poller() = default;

int Poller::check_interest(uint32_t events) const noexcept {
  if (events & ~(kInterestBits | kModeBits | kAlwaysBits)) return XPOLL_EINVAL;
  if ((events & kModeBits) == kModeBits) return XPOLL_EINVAL;
  if ((events & XPOLL_EDGE) && !(caps_ & XPOLL_CAP_EDGE)) return XPOLL_ENOTSUP;
  if ((events & XPOLL_RDHUP) && !(caps_ & XPOLL_CAP_RDHUP)) return XPOLL_ENOTSUP;
  return 0;
}

KernelState Poller::want_of(const Reg& r) const noexcept {
  if (!r.registered || r.dead) return KernelState{};
  return KernelState{true, !r.armed, r.interest};
}

// Applies the registration's wanted state through the backend.
int Poller::apply(xpoll_fd_t fd, Reg& r, bool verify) noexcept {
  KernelState want = want_of(r);
  bool renew = r.renew && want.on;
  if (want == r.kernel && !verify && !renew) return 0;
  uint32_t generation = r.generation;
  // A registration that may be new gets a new generation, so that events of
  // an earlier one (in flight in another thread's wait, or left behind by a
  // file still open elsewhere) are recognised as stale.
  if (want.on && (!r.kernel.on || verify)) ++generation;
  unsigned how = (verify ? kVerify : kChange) | (renew ? kRenew : kChange);
  int rc = backend_->apply(fd, r.kernel, want, generation, how);
  if (rc < 0) {
    if (r.kernel.on) lingering_.note(fd, r.generation);
    return rc;
  }
  if (rc == kKeptGeneration) generation = r.generation;
  if (rc == kMayLinger) lingering_.note(fd, r.generation);
  if (rc == kRebuild) rebuild_ = true;
  r.kernel = want;
  r.generation = generation;
  r.renew = false;
  return 0;
}

void Poller::enqueue(xpoll_fd_t fd, Reg& r) noexcept {
  if (r.queued) return;
  r.queued = true;
  changes_.push_back(fd);  // cannot throw: capacity >= table size
}

// Records a change made by a caller. Without a waiter it waits in the change
// list for the next wait, so that churn that cancels out costs nothing. With
// a waiter, a backend that can change its kernel set under a blocked wait
// applies it now; the others wake the waiter to rebuild.
void Poller::changed(xpoll_fd_t fd, Reg& r) noexcept {
  if (waiting_ && (caps_ & XPOLL_CAP_LIVE_CHANGES)) {
    int rc = apply(fd, r, false);
    if (rc == XPOLL_ENOMEM) {
      // No memory now: the waiter retries it before it waits again.
      enqueue(fd, r);
      signal_internal();
    } else if (rc != 0) {
      refused(fd, r);
    } else if (rebuild_) {
      signal_internal();  // the waiter rebuilds the set
    }
    return;
  }
  enqueue(fd, r);
  if (waiting_) signal_internal();
}

// The kernel refuses a change only when the descriptor was closed or
// replaced behind our back; it then holds nothing we can name.
void Poller::refused(xpoll_fd_t fd, Reg& r) noexcept {
  if (r.kernel.on) lingering_.note(fd, r.generation);
  r.kernel = KernelState{};
  if (r.registered) r.dead = true;
}

void Poller::flush() noexcept {
  if (changes_.empty()) return;
  backend_->begin_batch(changes_.size());
  // A change the backend had no memory for stays queued for the next wait
  // (moved to the front of the list); any other failure is the kernel's.
  size_t retry = 0;
  for (xpoll_fd_t fd : changes_) {
    Reg* r = table_.find(fd);
    int rc = apply(fd, *r, false);
    if (rc == XPOLL_ENOMEM) {
      changes_[retry++] = fd;
      continue;
    }
    r->queued = false;
    if (rc != 0) refused(fd, *r);
  }
  changes_.resize(retry);
  backend_->end_batch(
      [](void* ctx, xpoll_fd_t fd) {
        auto* self = static_cast<Poller*>(ctx);
        if (Reg* r = self->table_.find(fd)) self->refused(fd, *r);
      },
      this);
}

// The kernel holds registrations we cannot name (epoll keeps watching a
// closed descriptor while a duplicate of it is open elsewhere, and its events
// would wake every wait): start the kernel set afresh from the table.
int Poller::reset_backend() noexcept {
  int rc = backend_->reset();
  if (rc != 0) return rc;
  rebuild_ = false;
  lingering_.clear();
  table_.for_each([this](xpoll_fd_t fd, Reg& r) {
    r.kernel = KernelState{};
    if (want_of(r).on) enqueue(fd, r);
  });
  return 0;
}

void Poller::signal_internal() noexcept {
  if (!signalled_.exchange(true)) backend_->signal();
}

int Poller::add(xpoll_fd_t fd, uint32_t events, uint64_t data) {
  std::lock_guard<std::mutex> lock(mu_);
  if (backend_->owns(fd)) return XPOLL_EBADF;
  Reg* existing = table_.find(fd);
  if (existing && existing->registered) return XPOLL_EEXIST;
  int rc = backend_->admit(fd);
  if (rc != 0) return rc;
  // Never grow the table for a number that is no descriptor (1 << 30, say).
  if (!existing && !descriptor_open(fd)) return XPOLL_EBADF;
  Reg& r = table_.at(fd);
  if (changes_.capacity() < table_.size()) changes_.reserve(table_.size());
  Reg saved = r;
  r.registered = true;
  r.dead = false;
  r.armed = true;
  r.interest = events & ~kAlwaysBits;
  r.data = data;
  // An add is a new registration: in edge mode, what is ready now is
  // reported once, also when the kernel still holds the removed one.
  r.renew = (events & XPOLL_EDGE) != 0;
  if (caps_ & kCapKernelState) {
    // Applied now, so that the kernel's verdict on the descriptor (closed,
    // not pollable) is the caller's. When the kernel still holds an earlier
    // registration (removed since the last wait), it only confirms the file.
    rc = apply(fd, r, r.kernel.on);
    if (rc != 0) {
      r = saved;
      return rc;
    }
    ++registered_;
    // A waiter blocked with room for fewer registrations than there are now,
    // or a set to rebuild (kRebuild: nothing was applied), goes round again.
    if (waiting_ && (rebuild_ || registered_ + 1 > wait_fetch_)) signal_internal();
    return 0;
  }
  changed(fd, r);
  ++registered_;
  if (waiting_ && registered_ + 1 > wait_fetch_) signal_internal();
  return 0;
}

int Poller::modify(xpoll_fd_t fd, uint32_t events, uint64_t data) {
  std::lock_guard<std::mutex> lock(mu_);
  Reg* r = table_.find(fd);
  if (!r || !r->registered) return XPOLL_ENOENT;
  r->interest = events & ~kAlwaysBits;
  r->data = data;
  r->armed = true;
  // A modify in edge mode makes the registration anew (as epoll_ctl's MOD
  // and kqueue's EV_ADD do): what is ready now is reported once more, also
  // when the interest is unchanged.
  r->renew = (events & XPOLL_EDGE) != 0;
  changed(fd, *r);
  return 0;
}

int Poller::remove(xpoll_fd_t fd) {
  std::lock_guard<std::mutex> lock(mu_);
  Reg* r = table_.find(fd);
  if (!r || !r->registered) return XPOLL_ENOENT;
  r->registered = false;
  r->dead = false;
  --registered_;
  changed(fd, *r);
  return 0;
}

int Poller::wake() noexcept {
  user_wake_.store(true);
  if (signalled_.exchange(true)) return 0;  // coalesced with a wake not yet seen
  return backend_->signal();
}

void Poller::on_woken(EventSink& sink) noexcept {
  // The backend has drained the channel. Clearing the flag after the drain
  // means a wake racing with us either is seen below or signals afresh.
  signalled_.store(false);
  if (user_wake_.exchange(false)) sink.user_wake_ = true;
  sink.woken_ = true;
}

void Poller::on_dead(xpoll_fd_t fd) noexcept {
  Reg* r = table_.find(fd);
  if (!r || !r->registered || r->dead) return;
  r->dead = true;
  enqueue(fd, *r);
}

EventSink::Result Poller::on_event(EventSink& sink, xpoll_fd_t fd, uint32_t events, uint64_t generation) noexcept {
  Reg* r = table_.find(fd);
  if (!r || !r->registered || r->dead || (generation != kNoGeneration && generation != r->generation)) {
    ++sink.stale_;
    if (lingering_.explains(fd, generation)) ++sink.linger_;
    return EventSink::kSkipped;
  }
  if (!r->armed) return EventSink::kSkipped;
  // An error or hang-up means a read or write would not block: report it as
  // readiness for whichever of them was asked for, on every backend.
  if (events & kAlwaysBits) events |= r->interest & (XPOLL_IN | XPOLL_OUT);
  events &= (r->interest & kInterestBits) | kAlwaysBits;
  if (events == 0) return EventSink::kSkipped;
  sink.out_[sink.count_++] = xpoll_event_t{r->data, fd, events};
  if (r->interest & XPOLL_ONESHOT) {
    r->armed = false;
    if (caps_ & kCapNativeOneshot)
      r->kernel = want_of(*r);  // the kernel disarmed it as it reported it
    else
      enqueue(fd, *r);
  }
  return sink.full() ? EventSink::kFull : EventSink::kAccepted;
}

// Whether the kernel set must be started afresh after a round: it reported
// events of a registration it may still hold though no entry names it, or a
// wait with such a registration ended early with nothing at all (an
// emulation whose own set holds it).
bool Poller::should_rebuild(const EventSink& sink, int timeout_ms, Clock::time_point deadline) const noexcept {
  if (!lingering_.any()) return false;
  if (sink.linger_ > 0) return true;
  bool ended_early = timeout_ms < 0 || (timeout_ms > 0 && remaining_ms(deadline) > 0);
  return sink.count_ == 0 && sink.stale_ == 0 && !sink.woken_ && ended_early;
}

// Whether a wait returns after a round: with events, for a caller's wake, or
// at its deadline. It goes on after an internal wake or when all it saw was
// stale. A round that found closed descriptors goes again, also without a
// time-out: the backend may not have looked at the others (select fails as
// a whole when one descriptor is closed).
bool Poller::should_return(const EventSink& sink, int timeout_ms, Clock::time_point deadline) const noexcept {
  if (sink.count_ > 0 || sink.user_wake_) return true;
  if (timeout_ms == 0) return sink.dead_ == 0;
  return timeout_ms > 0 && remaining_ms(deadline) == 0;
}

int Poller::wait(xpoll_event_t* out, int max, int timeout_ms) {
  std::unique_lock<std::mutex> lock(mu_);
  if (waiting_) return XPOLL_EBUSY;
  waiting_ = true;
  // The clock is read only for a finite, non-zero time-out.
  const auto deadline = timeout_ms > 0 ? Clock::now() + std::chrono::milliseconds(timeout_ms) : Clock::time_point();
  int result = 0;
  for (int round = 0, stale_rounds = 0; stale_rounds <= kMaxStaleRounds; ++round) {
    flush();
    if (rebuild_) {
      // A change waits for the rebuild (nothing of it was applied). Without
      // a descriptor for the fresh set (at the limit) it is tried again on
      // the next round: failing the wait would stop a server that is
      // closing connections to get below its limit.
      reset_backend();
      flush();
    }
    int rc = backend_->prepare();
    int wait_ms = timeout_ms < 0 ? -1 : (round == 0 ? timeout_ms : remaining_ms(deadline));
    // No more can be ready than there are registrations (and the wake): the
    // backend sizes its buffers for that, not for a large array's capacity;
    // at least for a few dozen, so that completions of cancelled requests
    // (iocp) or registrations added meanwhile take few rounds.
    size_t room = std::max(registered_ + 1, kMinFetch);
    int fetch = static_cast<int>(std::min(static_cast<size_t>(max), room));
    wait_fetch_ = fetch < max ? static_cast<size_t>(fetch) : SIZE_MAX;
    if (rc == 0) {
      lock.unlock();
      rc = backend_->wait(fetch, wait_ms);
      lock.lock();
    }
    if (rc != 0) {
      result = rc;
      break;
    }
    EventSink sink(*this);
    sink.out_ = out;
    sink.max_ = max;
    backend_->collect(sink);
    if (should_rebuild(sink, timeout_ms, deadline)) reset_backend();
    result = sink.count_;
    if (should_return(sink, timeout_ms, deadline)) break;
    stale_rounds = sink.woken_ ? 0 : stale_rounds + 1;
  }
  waiting_ = false;
  return result;
}

}  // namespace xpoll::detail
