#include "core/poller.hpp"

#include <chrono>

namespace xpoll::detail {

namespace {

// A wait loops internally when everything it saw was stale; this bounds how
// often in a row, so that no pathology turns into a spin. Internal wakes (a
// change made by another thread) do not count: each one is real progress.
constexpr int kMaxStaleRounds = 100;

// The least a wait asks its backend room for (see wait()).
constexpr size_t kMinFetch = 64;

// The time left before a deadline, in nanoseconds (0 once it has passed).
int64_t remaining_ns(Clock::time_point deadline) noexcept {
  auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(deadline - Clock::now()).count();
  return left > 0 ? static_cast<int64_t>(left) : 0;
}

// A time-out this long or longer is waited as this long (31 years), so that
// the deadline stays within the clock's range.
constexpr int64_t kLongestTimeout = int64_t{1000000000} * 3600 * 24 * 365 * 31;

}  // namespace

EventSink::Result EventSink::stale(xpoll_fd_t fd, uint64_t generation) noexcept {
  ++stale_;
  if (poller_.lingering_.explains(fd, generation)) ++linger_;
  return kSkipped;
}
void EventSink::requeue(xpoll_fd_t fd, Reg& r) noexcept { poller_.enqueue(fd, r); }
void EventSink::dead(xpoll_fd_t fd) noexcept {
  ++dead_;
  poller_.on_dead(fd);
}
void EventSink::woken() noexcept { poller_.on_woken(*this); }

Poller::Poller(std::unique_ptr<Backend> backend, const BackendInfo& info, bool shared)
    : backend_(std::move(backend)),
      info_(info),
      caps_(info.caps),
      fork_gen_(fork_generation()),
      shared_(shared),
      allowed_(allowed_bits(info.caps)) {}

Poller::~Poller() = default;

uint32_t Poller::allowed_bits(uint32_t caps) noexcept {
  uint32_t bits = kInterestBits | kModeBits | kAlwaysBits;
  if (!(caps & XPOLL_CAP_EDGE)) bits &= ~XPOLL_EDGE;
  if (!(caps & XPOLL_CAP_RDHUP)) bits &= ~XPOLL_RDHUP;
  if (!(caps & XPOLL_CAP_PRI)) bits &= ~XPOLL_PRI;
  return bits;
}

// The full rules: an unknown bit, oneshot with edge, or exclusive wake-up
// with oneshot, read hang-up or priority data is XPOLL_EINVAL; each optional
// bit the backend lacks is XPOLL_ENOTSUP.
int Poller::check_interest_slow(uint32_t events) const noexcept {
  if (events & ~(kInterestBits | kModeBits | kFlagBits | kAlwaysBits)) return XPOLL_EINVAL;
  if ((events & kModeBits) == kModeBits) return XPOLL_EINVAL;
  if ((events & XPOLL_EDGE) && !(caps_ & XPOLL_CAP_EDGE)) return XPOLL_ENOTSUP;
  if ((events & XPOLL_RDHUP) && !(caps_ & XPOLL_CAP_RDHUP)) return XPOLL_ENOTSUP;
  if ((events & XPOLL_PRI) && !(caps_ & XPOLL_CAP_PRI)) return XPOLL_ENOTSUP;
  if (events & XPOLL_EXCLUSIVE) {
    if (!(caps_ & XPOLL_CAP_EXCLUSIVE)) return XPOLL_ENOTSUP;
    if (events & (XPOLL_ONESHOT | XPOLL_RDHUP | XPOLL_PRI)) return XPOLL_EINVAL;
  }
  return 0;
}

// Applies the registration's wanted state through the backend.
int Poller::apply(xpoll_fd_t fd, Reg& r, bool verify) noexcept {
  KernelState want = wanted(r);
  bool renew = r.renew && want.on;
  if (want == r.kernel && !verify && !renew) return 0;
  uint32_t generation = r.generation;
  // A registration that may be new gets a new generation, so that events of
  // an earlier one (in flight in another thread's wait, or left behind by a
  // file still open elsewhere) are recognised as stale. So does a oneshot
  // one re-armed: no report of the arming before, however late another
  // waiter collects it, counts for the new one.
  if (want.on && (!r.kernel.on || verify || (r.kernel.paused && !want.paused))) ++generation;
  unsigned how = (verify ? kVerify : kChange) | (renew ? kRenew : kChange);
  return settle(fd, r, want, generation, backend_->apply(fd, r.kernel, want, generation, how));
}

// Records what the backend answered for a change to `want` under
// `generation` (see Backend::apply()).
int Poller::settle(xpoll_fd_t fd, Reg& r, const KernelState& want, uint32_t generation, int rc) noexcept {
  if (rc == kKeptGeneration) {
    generation = r.generation;
  } else if (rc != 0) {
    if (rc < 0) {
      if (r.kernel.on) lingering_.note(fd, r.generation);
      return rc;
    }
    if (rc == kMayLinger) lingering_.note(fd, r.generation);
    if (rc == kRebuild) rebuild_ = true;
  }
  r.kernel = want;
  r.generation = generation;
  r.renew = false;
  return 0;
}

// A change made by a caller while a wait is in progress. (Without a waiter
// it waits in the change list for the next wait, so that churn that cancels
// out costs nothing: see changed().) A backend that can change its kernel set
// under a blocked wait applies it now; the others wake the waiter to rebuild.
void Poller::changed_under_wait(xpoll_fd_t fd, Reg& r) noexcept {
  if (caps_ & XPOLL_CAP_LIVE_CHANGES) {
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
  signal_internal();
}

// The kernel refuses a change only when the descriptor was closed or
// replaced behind our back; it then holds nothing we can name.
void Poller::refused(xpoll_fd_t fd, Reg& r) noexcept {
  if (r.kernel.on) lingering_.note(fd, r.generation);
  r.kernel = KernelState{};
  if (r.registered) r.dead = true;
}

void Poller::flush_changes() noexcept {
  // Churn that cancelled out (a pause and a resume, a removal and an add of
  // the same interest) costs nothing: a first pass keeps only the entries
  // whose kernel state is to change.
  Reg* regs = table_.data();
  size_t pending = 0;
  for (xpoll_fd_t fd : changes_) {
    Reg& r = regs[fd_index(fd)];
    r.queued = false;
    if (!settled(r)) changes_[pending++] = fd;
  }
  changes_.resize(pending);
  if (pending == 0) return;
  backend_->begin_batch(pending);
  // A change the backend had no memory for stays queued for the next wait
  // (moved to the front of the list); any other failure is the kernel's.
  size_t retry = 0;
  for (xpoll_fd_t fd : changes_) {
    Reg& r = regs[fd_index(fd)];
    int rc = apply(fd, r, false);
    if (rc == XPOLL_ENOMEM) {
      r.queued = true;
      changes_[retry++] = fd;
    } else if (rc != 0) {
      refused(fd, r);
    }
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
    if (wanted(r).on) enqueue(fd, r);
  });
  return 0;
}

void Poller::signal_internal() noexcept {
  if (!signalled_.exchange(true)) backend_->signal();
}

int Poller::add(xpoll_fd_t fd, uint32_t events, uint64_t data) noexcept {
  if (int rc = check_interest(events)) return rc;
  std::lock_guard<Lock> lock(mu_);
  Reg* r = table_.find(fd);
  if (r && r->registered) return XPOLL_EEXIST;
  if (r && r->kernel.on && (caps_ & kCapKernelState) && r->kernel.interest == (events & ~kAlwaysBits) &&
      !r->kernel.paused && !(events & XPOLL_EDGE)) {
    // Removed since the last wait and added again as it was: the kernel
    // still holds it, so all there is to do is to confirm that the number
    // still names the same open file (kVerify; on epoll one system call).
    // The usual answer, the same file, changes nothing but the entry. (A
    // number the kernel holds a registration for is none of the backend's
    // own descriptors: those are made before the first registration, or
    // with their number's kernel state cleared: poll_fd(), reset_backend().)
    int rc = backend_->admit(fd);
    if (rc != 0) return rc;
    rc = backend_->confirm(fd, r->kernel, r->generation + 1);
    if (rc != kKeptGeneration) return add_now(fd, *r, events, data, rc);
    set(*r, events, data);
    ++registered_;
    if (waiting_) added_under_wait();
    return 0;
  }
  if (r && r->kernel.on && !(caps_ & kCapKernelState)) {
    // The same for a backend whose set lives in user space (poll, select):
    // it still holds the descriptor, so the room for it is made and its
    // number fits; all there is to check is that it is open.
    if (!descriptor_open(fd)) return XPOLL_EBADF;
    set(*r, events, data);
    ++registered_;
    changed(fd, *r);
    if (waiting_) added_under_wait();
    return 0;
  }
  if (!(r && r->kernel.on) && backend_->owns(fd)) return XPOLL_EBADF;
  int rc = backend_->admit(fd);
  if (rc != 0) return rc;
  if (!r) {
    r = grow(fd, rc);
    if (!r) return rc;
  }
  if (caps_ & kCapKernelState) return add_now(fd, *r, events, data, kNotConfirmed);
  set(*r, events, data);
  ++registered_;
  changed(fd, *r);
  if (waiting_) added_under_wait();
  return 0;
}

// add() where registrations live in the kernel: applied now, so that the
// kernel's verdict on the descriptor (closed, not pollable) is the caller's.
// The kernel may still hold a registration of this number (removed since
// the last wait, with other interest): then the file is verified too.
// `confirmed` is what the backend answered when add() confirmed one held as
// asked, other than "the same file" (a new file, now registered under the
// new generation; or an error), or kNotConfirmed. An error changes nothing.
int Poller::add_now(xpoll_fd_t fd, Reg& r, uint32_t events, uint64_t data, int confirmed) noexcept {
  const Reg saved = r;
  set(r, events, data);
  int rc =
      confirmed == kNotConfirmed ? apply(fd, r, r.kernel.on) : settle(fd, r, r.kernel, r.generation + 1, confirmed);
  if (rc != 0) {
    r = saved;
    return rc;
  }
  ++registered_;
  if (waiting_) added_under_wait();
  return 0;
}

// A waiter blocked with room for fewer registrations than there are now,
// or a set to rebuild (kRebuild: nothing was applied), goes round again.
void Poller::added_under_wait() noexcept {
  if (rebuild_ || registered_ + 1 > least_fetch()) signal_internal();
}

// The table's entry for a descriptor it has never held: grown to it (with
// the change list's room), after checking that fd is an open descriptor,
// so that a number that is none (1 << 30, say) never grows it. nullptr with
// the error in rc.
Reg* Poller::grow(xpoll_fd_t fd, int& rc) noexcept {
  if (!descriptor_open(fd)) {
    rc = XPOLL_EBADF;
    return nullptr;
  }
  try {
    // The change list's room first: enqueue() relies on a capacity of at
    // least the table's size, which a table grown alone would break.
    size_t index = fd_index(fd);
    size_t size = std::max(index + 1, table_.size() * 2);
    if (index >= table_.size() && changes_.capacity() < size) changes_.reserve(size);
    return &table_.at(fd);
  } catch (...) {
    rc = XPOLL_ENOMEM;
    return nullptr;
  }
}

int Poller::modify(xpoll_fd_t fd, uint32_t events, uint64_t data) noexcept {
  if (int rc = check_interest(events)) return rc;
  std::lock_guard<Lock> lock(mu_);
  Reg* r = table_.find(fd);
  if (!r || !r->registered) return XPOLL_ENOENT;
  // A registration that takes XPOLL_EXCLUSIVE is made at once, like an add:
  // the kernel may refuse it (EINVAL for an epoll set), and that verdict is
  // the caller's, with nothing changed.
  if ((events & XPOLL_EXCLUSIVE) && !(r->interest & XPOLL_EXCLUSIVE) && (caps_ & kCapKernelState) && r->kernel.on &&
      !r->dead)
    return modify_now(fd, *r, events, data);
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

int Poller::modify_now(xpoll_fd_t fd, Reg& r, uint32_t events, uint64_t data) noexcept {
  const Reg saved = r;
  r.interest = events & ~kAlwaysBits;
  r.data = data;
  r.armed = true;
  r.renew = (events & XPOLL_EDGE) != 0;
  int rc = apply(fd, r, false);
  if (rc != 0) r = saved;
  return rc;
}

int Poller::remove(xpoll_fd_t fd) noexcept {
  std::lock_guard<Lock> lock(mu_);
  Reg* r = table_.find(fd);
  if (!r || !r->registered) return XPOLL_ENOENT;
  r->registered = false;
  r->dead = false;
  --registered_;
  changed(fd, *r);
  return 0;
}

int Poller::poll_fd() noexcept {
  std::lock_guard<Lock> lock(mu_);
  int fd = backend_->poll_fd();
  // A new descriptor may have the number of one closed while the kernel
  // still held its registration: that registration is nothing the table
  // can name any more (add() relies on this; see there).
  Reg* r = fd >= 0 ? table_.find(fd) : nullptr;
  if (r && r->kernel.on) refused(fd, *r);
  return fd;
}

// Async-signal-safe: an atomic count and the backend's signal. Every wait
// that started before the count moved returns (see should_return()); the
// signal brings one of them out of the kernel, and leave_kernel() passes it
// on to the others.
int Poller::wake() noexcept {
  wake_epoch_.fetch_add(1);
  if (signalled_.exchange(true)) return 0;  // coalesced with a wake not yet seen
  return backend_->signal();
}

void Poller::on_woken(EventSink& sink) noexcept {
  // The backend has drained the channel. Clearing the flag after the drain
  // means a wake racing with us either moved the count before the waiter
  // reads it, or signals afresh.
  signalled_.store(false);
  sink.woken_ = true;
}

void Poller::on_dead(xpoll_fd_t fd) noexcept {
  Reg* r = table_.find(fd);
  if (!r || !r->registered || r->dead) return;
  r->dead = true;
  enqueue(fd, *r);
}

// Whether the kernel set must be started afresh after a round: it reported
// events of a registration it may still hold though no entry names it, or a
// wait with such a registration ended early with nothing at all (an
// emulation whose own set holds it).
bool Poller::should_rebuild_lingering(const EventSink& sink, int64_t timeout_ns,
                                      Clock::time_point deadline) const noexcept {
  if (sink.linger_ > 0) return true;
  bool ended_early = timeout_ns < 0 || (timeout_ns > 0 && remaining_ns(deadline) > 0);
  return sink.count_ == 0 && sink.stale_ == 0 && !sink.woken_ && ended_early;
}

// Whether a wait returns after a round: with events, for a caller's wake, or
// at its deadline. It goes on after an internal wake or when all it saw was
// stale. A round that found closed descriptors goes again, also without a
// time-out: the backend may not have looked at the others (select fails as
// a whole when one descriptor is closed).
bool Poller::should_return(const EventSink& sink, int64_t timeout_ns, Clock::time_point deadline) const noexcept {
  if (sink.count_ > 0 || woken_by_user(sink.waiter_)) return true;
  if (timeout_ns == 0) return sink.dead_ == 0;
  return timeout_ns > 0 && remaining_ns(deadline) == 0;
}

// Waits, without the lock, for the waiter's turn in the kernel, first come
// first served: a waiter that comes back from the kernel for another round
// queues behind those already waiting. False when the wait is to return
// instead: a wake came, or its time is up (a wait that does not block does
// not wait for its turn either).
bool Poller::await_turn_slow(Guard& lock, Waiter& w, int64_t timeout_ns, Clock::time_point deadline) noexcept {
  if (timeout_ns == 0 || woken_by_user(w)) return false;
  w.gate_next = nullptr;
  if (gate_tail_)
    gate_tail_->gate_next = &w;
  else
    gate_head_ = &w;
  gate_tail_ = &w;
  bool turn = true;
  try {
    while (!(gate_head_ == &w && may_enter_kernel())) {
      if (woken_by_user(w)) {
        turn = false;
        break;
      }
      if (timeout_ns < 0) {
        gate_.wait(lock);
      } else if (!gate_.wait_until(lock, deadline) && !(gate_head_ == &w && may_enter_kernel())) {
        turn = false;
        break;
      }
    }
  } catch (...) {
    // The condition variable could not wait (its own mutex failed, before
    // the lock was let go): the wait fails rather than spin.
    w.error = XPOLL_EIO;
    turn = false;
  }
  leave_gate(w);
  return turn;
}

// Takes the waiter out of the queue at the gate (from anywhere in it), and
// tells the others: the next may be first now.
void Poller::leave_gate(Waiter& w) noexcept {
  Waiter* before = nullptr;
  for (Waiter* q = gate_head_; q && q != &w; q = q->gate_next) before = q;
  if (before)
    before->gate_next = w.gate_next;
  else
    gate_head_ = w.gate_next;
  if (gate_tail_ == &w) gate_tail_ = before;
  w.gate_next = nullptr;
  if (gate_head_) gate_.notify_all();
}

// The waiter is out of the kernel. Others still blocked there are brought
// out (one signal each, passed on by each) when a wake is theirs too or the
// set is to be rebuilt; those waiting their turn are told.
void Poller::leave_kernel_shared() noexcept {
  if (in_kernel_ > 0) {
    uint32_t epoch = wake_epoch_.load();
    bool call = rebuild_;
    for (const Waiter* o = waiters_; o && !call; o = o->next) call = o->in_kernel && o->epoch != epoch;
    if (call) signal_internal();
  }
  if (gate_head_) gate_.notify_all();
}

// The least room a waiter in the kernel has (SIZE_MAX: none is short).
size_t Poller::least_fetch() const noexcept {
  size_t least = SIZE_MAX;
  for (const Waiter* w = waiters_; w; w = w->next)
    if (w->in_kernel) least = std::min(least, w->fetch);
  return least;
}

// A new slot for a wait (kCapWaitSlots): nullptr without memory, changing
// nothing.
WaitSlot* Poller::new_slot() noexcept {
  try {
    free_slots_.reserve(slots_made_ + 1);  // so that give_back() cannot fail
    WaitSlot* slot = backend_->make_slot();
    ++slots_made_;
    return slot;
  } catch (...) {
    return nullptr;
  }
}

// Returns a slot to the pool. The slots that carry events their wait had no
// room for are kept on top, where the next wait takes them (one buried under
// a slot without a carry would keep its events from every waiter: a
// dispatched or edge knote taken from the kernel exists nowhere else); if
// others are blocked in the kernel, one of them is brought out to report
// them. The pool holds a pointer per waiter that ever waited at once, so the
// insertion at the bottom is cheap.
void Poller::give_back_carry(WaitSlot* slot) noexcept {
  // Within the capacity new_slot() reserved: neither can fail.
  if (backend_->has_carry(slot))
    free_slots_.push_back(slot);
  else
    free_slots_.insert(free_slots_.begin(), slot);
  // Also when the slot given back carries nothing: the waiter the last
  // signal brought out may have returned with events of its own.
  if (in_kernel_ > 0 && backend_->has_carry(free_slots_.back())) signal_internal();
}

// (kCapCarry) The pool's top slot carries events and the waiter's does not: they swap.
void Poller::swap_for_carry_slow(WaitSlot*& slot) noexcept {
  if (free_slots_.empty() || backend_->has_carry(slot) || !backend_->has_carry(free_slots_.back())) return;
  WaitSlot* carried = free_slots_.back();
  free_slots_.pop_back();
  free_slots_.insert(free_slots_.begin(), slot);
  slot = carried;
}

int Poller::wait_rounds(Waiter& w, WaitSlot*& slot, xpoll_event_t* out, int max, int64_t timeout_ns,
                        Guard& lock) noexcept {
  // The clock is read only for a finite, non-zero time-out.
  const auto deadline = timeout_ns > 0 ? Clock::now() + std::chrono::nanoseconds(timeout_ns) : Clock::time_point();
  int result = 0;
  for (int stale_rounds = 0; stale_rounds <= kMaxStaleRounds;) {
    if (!await_turn(lock, w, timeout_ns, deadline)) {
      result = w.error;
      break;
    }
    flush();
    if (rebuild_ && in_kernel_ > 0) {
      // The flush asked for a rebuild while others block in the kernel set
      // it would close: they are brought out, and this waiter waits its turn.
      signal_internal();
      continue;
    }
    if (rebuild_) {
      // A change waits for the rebuild (nothing of it was applied). Without
      // a descriptor for the fresh set (at the limit) it is tried again on
      // the next round: failing the wait would stop a server that is
      // closing connections to get below its limit.
      reset_backend();
      flush();
    }
    if (slot) swap_for_carry(slot);
    // A finite time-out is what is left of it: also in the first round, which
    // may come after a wait at the gate.
    int64_t wait_ns = timeout_ns <= 0 ? timeout_ns : remaining_ns(deadline);
    // A wake made since this wait started returns it: whoever drained the
    // channel may have passed it by, so it must not block.
    if (woken_by_user(w)) wait_ns = 0;
    // No more can be ready than there are registrations (and the wake): the
    // backend sizes its buffers for that, not for a large array's capacity;
    // at least for a few dozen, so that completions of cancelled requests
    // (iocp) or registrations added meanwhile take few rounds.
    size_t room = std::max(registered_ + 1, kMinFetch);
    int fetch = static_cast<int>(std::min(static_cast<size_t>(max), room));
    w.fetch = fetch < max ? static_cast<size_t>(fetch) : SIZE_MAX;
    int rc = backend_->prepare(slot, fetch);
    if (rc != 0) {
      result = rc;
      break;
    }
    w.in_kernel = true;
    ++in_kernel_;
    lock.unlock();
    rc = backend_->wait(slot, fetch, wait_ns);
    lock.lock();
    // Collected also after a failed wait (which found nothing): a backend
    // may report events it carried, and prepare() is always matched.
    EventSink sink(*this, w, table_, caps_, out, max);
    backend_->collect(slot, sink);
    // A failed wait (a signal's EINTR) did not end early for want of events.
    if (rc == 0 && should_rebuild(sink, timeout_ns, deadline)) rebuild_ = true;
    leave_kernel(w);
    result = sink.count_;
    if (rc != 0) {
      if (result == 0) result = rc;
      break;
    }
    if (should_return(sink, timeout_ns, deadline)) break;
    stale_rounds = sink.woken_ ? 0 : stale_rounds + 1;
  }
  return result;
}

// Waits: one thread at a time, or several on an XPOLL_SHARED poller. Each
// waiter is on the list of waiters from start to end; between prepare() and
// collect() it is "in the kernel", and the lock is released only there and
// while it waits for its turn (await_turn()).
int Poller::wait(xpoll_event_t* out, int max, int64_t timeout_ns) noexcept {
  timeout_ns = std::min(timeout_ns, kLongestTimeout);
  Guard lock(mu_);
  if (waiting_ > 0 && !shared_) return XPOLL_EBUSY;
  WaitSlot* slot = nullptr;
  if (caps_ & kCapWaitSlots) {
    slot = take_slot();
    if (!slot) return XPOLL_ENOMEM;
  }
  Waiter w;
  w.epoch = delivered_epoch_;
  w.next = waiters_;
  if (waiters_) waiters_->prev = &w;
  waiters_ = &w;
  ++waiting_;
  int result = wait_rounds(w, slot, out, max, timeout_ns, lock);
  // The wake was delivered, unless the wait failed (a signal's EINTR): the
  // next wait returns for it then.
  uint32_t seen = wake_epoch_.load();
  if (result >= 0 && seen != w.epoch) delivered_epoch_ = seen;
  if (w.prev)
    w.prev->next = w.next;
  else
    waiters_ = w.next;
  if (w.next) w.next->prev = w.prev;
  --waiting_;
  if (slot) give_back(slot);
  return result;
}

}  // namespace xpoll::detail
