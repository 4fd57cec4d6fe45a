// The core poller: the registration table, the change list and the
// semantics every backend shares (oneshot bookkeeping, fairness, wake-up,
// thread safety). The C ABI shell in api.cpp validates arguments and calls in.
#ifndef XPOLL_SRC_POLLER_HPP
#define XPOLL_SRC_POLLER_HPP

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "core/backend.hpp"
#include "core/linger.hpp"
#include "core/registry.hpp"
#include "platform/lock.hpp"
#include "platform/platform.hpp"

// The wait's rounds are a function of their own for reading, and one with
// the wait for the machine: a call less per wait.
#if defined(__GNUC__)
#define XPOLL_ALWAYS_INLINE [[gnu::always_inline]] inline
#else
#define XPOLL_ALWAYS_INLINE inline
#endif

namespace xpoll::detail {

using Clock = std::chrono::steady_clock;

// One thread in Poller::wait(), on the poller's list of waiters (under its
// lock; it lives on that thread's stack).
struct Waiter {
  uint32_t epoch = 0;       // the wake epoch its wait started under (see Poller::wake())
  size_t fetch = SIZE_MAX;  // what its kernel wait has room for (SIZE_MAX: the caller's whole array)
  bool in_kernel = false;   // between the backend's prepare() and collect()
  Waiter* prev = nullptr;
  Waiter* next = nullptr;
  Waiter* gate_next = nullptr;  // the next one waiting its turn after this one (see await_turn())
  int error = 0;                // why it left the gate without its turn, if it failed there
};

class Poller {
 public:
  Poller(std::unique_ptr<Backend> backend, const BackendInfo& info, bool shared);
  ~Poller();

  // add() and modify() check the interest first (check_interest()).
  int add(xpoll_fd_t fd, uint32_t events, uint64_t data) noexcept;
  int modify(xpoll_fd_t fd, uint32_t events, uint64_t data) noexcept;
  int remove(xpoll_fd_t fd) noexcept;
  int wait(xpoll_event_t* out, int max, int64_t timeout_ns) noexcept;
  int wake() noexcept;
  int poll_fd() noexcept;

  const char* name() const noexcept { return info_.name; }
  uint32_t caps() const noexcept { return caps_; }
  // A poller belongs to the process that made it: its kernel objects (the
  // epoll set, the wake channel) are shared with a forked child, where using
  // them would change or rob the parent's poller. Every call but destroy
  // then fails with XPOLL_EFORKED.
  bool forked() const noexcept { return fork_generation() != fork_gen_; }
  // Checks the interest bits against what the backend supports.
  int check_interest(uint32_t events) const noexcept {
    // The usual mask passes one test; an exclusive one, an unsupported bit
    // or a wrong combination takes the full rules (check_interest_slow()).
    if ((events & ~allowed_) == 0 && (events & kModeBits) != kModeBits) return 0;
    return check_interest_slow(events);
  }

 private:
  friend class EventSink;
  using Guard = std::unique_lock<Lock>;

  int check_interest_slow(uint32_t events) const noexcept;
  static uint32_t allowed_bits(uint32_t caps) noexcept;
  int apply(xpoll_fd_t fd, Reg& r, bool verify) noexcept;
  int settle(xpoll_fd_t fd, Reg& r, const KernelState& want, uint32_t generation, int rc) noexcept;
  // An entry as an add makes it: registered, armed, watching `events`.
  static void set(Reg& r, uint32_t events, uint64_t data) noexcept {
    r.registered = true;
    r.dead = false;
    r.armed = true;
    r.interest = events & ~kAlwaysBits;
    r.data = data;
    // An add is a new registration: in edge mode, what is ready now is
    // reported once, also when the kernel still holds the removed one.
    r.renew = (events & XPOLL_EDGE) != 0;
  }
  // Puts a registration on the change list that the next wait applies.
  void enqueue(xpoll_fd_t fd, Reg& r) noexcept {
    if (r.queued) return;
    r.queued = true;
    changes_.push_back(fd);  // cannot throw: capacity >= table size
  }
  int modify_now(xpoll_fd_t fd, Reg& r, uint32_t events, uint64_t data) noexcept;
  // Records a change made by a caller (see changed_under_wait()).
  void changed(xpoll_fd_t fd, Reg& r) noexcept {
    if (waiting_)
      changed_under_wait(fd, r);
    else
      enqueue(fd, r);
  }
  void changed_under_wait(xpoll_fd_t fd, Reg& r) noexcept;
  Reg* grow(xpoll_fd_t fd, int& rc) noexcept;
  void added_under_wait() noexcept;
  static constexpr int kNotConfirmed = INT_MIN;
  int add_now(xpoll_fd_t fd, Reg& r, uint32_t events, uint64_t data, int confirmed) noexcept;
  // Applies the change list (see flush_changes()).
  void flush() noexcept {
    if (!changes_.empty()) flush_changes();
  }
  void flush_changes() noexcept;
  void refused(xpoll_fd_t fd, Reg& r) noexcept;
  int reset_backend() noexcept;
  void signal_internal() noexcept;
  bool should_rebuild(const EventSink& sink, int64_t timeout_ns, Clock::time_point deadline) const noexcept {
    return lingering_.any() && should_rebuild_lingering(sink, timeout_ns, deadline);
  }
  bool should_rebuild_lingering(const EventSink& sink, int64_t timeout_ns, Clock::time_point deadline) const noexcept;
  bool should_return(const EventSink& sink, int64_t timeout_ns, Clock::time_point deadline) const noexcept;
  bool woken_by_user(const Waiter& w) const noexcept { return wake_epoch_.load() != w.epoch; }
  // Whether a waiter may enter the kernel now: into a backend without
  // kCapConcurrentWait one at a time, and into none while a rebuild of the
  // kernel set waits for the others to come out (it closes what they block on).
  bool may_enter_kernel() const noexcept {
    if (in_kernel_ == 0) return true;
    return (caps_ & kCapConcurrentWait) && !rebuild_;
  }
  // Waits, without the lock, for the waiter's turn in the kernel (see
  // await_turn_slow()); at once when nobody is in the way.
  bool await_turn(Guard& lock, Waiter& w, int64_t timeout_ns, Clock::time_point deadline) {
    if (!gate_head_ && may_enter_kernel()) return true;
    return await_turn_slow(lock, w, timeout_ns, deadline);
  }
  bool await_turn_slow(Guard& lock, Waiter& w, int64_t timeout_ns, Clock::time_point deadline) noexcept;
  void leave_gate(Waiter& w) noexcept;
  // The waiter is out of the kernel (see leave_kernel_shared()).
  void leave_kernel(Waiter& w) noexcept {
    w.in_kernel = false;
    --in_kernel_;
    if (in_kernel_ > 0 || gate_head_) leave_kernel_shared();
  }
  void leave_kernel_shared() noexcept;
  size_t least_fetch() const noexcept;
  // A wait's slot (kCapWaitSlots): one from the pool, or a new one.
  WaitSlot* take_slot() noexcept {
    if (free_slots_.empty()) return new_slot();
    WaitSlot* slot = free_slots_.back();
    free_slots_.pop_back();
    return slot;
  }
  WaitSlot* new_slot() noexcept;
  // Returns a slot to the pool; without carries (every backend but kqueue)
  // its order is free (see give_back_carry()).
  void give_back(WaitSlot* slot) noexcept {
    if (caps_ & kCapCarry)
      give_back_carry(slot);
    else
      free_slots_.push_back(slot);  // within the capacity new_slot() reserved
  }
  void give_back_carry(WaitSlot* slot) noexcept;
  // A waiter whose own slot carries nothing takes one from the pool that
  // does (kCapCarry only).
  void swap_for_carry(WaitSlot*& slot) noexcept {
    if (caps_ & kCapCarry) swap_for_carry_slow(slot);
  }
  void swap_for_carry_slow(WaitSlot*& slot) noexcept;
  XPOLL_ALWAYS_INLINE int wait_rounds(Waiter& w, WaitSlot*& slot, xpoll_event_t* out, int max, int64_t timeout_ns,
                                      Guard& lock) noexcept;

  void on_dead(xpoll_fd_t fd) noexcept;
  void on_woken(EventSink& sink) noexcept;

  std::unique_ptr<Backend> backend_;
  const BackendInfo& info_;
  const uint32_t caps_;
  const unsigned fork_gen_;
  const bool shared_;  // XPOLL_SHARED: several threads may wait at once
  // The interest bits a mask may have without a closer look: those of
  // check_interest() the backend supports, XPOLL_EXCLUSIVE aside.
  const uint32_t allowed_;

  Lock mu_;
  FdTable table_;
  std::vector<xpoll_fd_t> changes_;  // capacity kept >= table size
  LingerTracker lingering_;          // kernel registrations no entry names
  bool rebuild_ = false;             // a backend asked for a fresh kernel set (kRebuild)
  size_t registered_ = 0;            // registrations in the table: no wait can report more

  // The waits in progress (see wait()).
  Waiter* waiters_ = nullptr;    // the list of them
  int waiting_ = 0;              // how many
  int in_kernel_ = 0;            // of them, those between prepare() and collect()
  Waiter* gate_head_ = nullptr;  // of them, those waiting for their turn in the kernel, first come first
  Waiter* gate_tail_ = nullptr;  // served
  LockCondition gate_;
  std::vector<WaitSlot*> free_slots_;  // the backend's; capacity kept >= slots_made_
  size_t slots_made_ = 0;

  // xpoll_wake() counts in wake_epoch_; a wait that started under an earlier
  // count returns. delivered_epoch_ is the count the last wait to return saw:
  // a wait starts under it, so a wake made with no wait in progress makes the
  // next one return.
  std::atomic<uint32_t> wake_epoch_{0};
  uint32_t delivered_epoch_ = 0;
  std::atomic<bool> signalled_{false};  // the backend's wake channel is (being) signalled
};

}  // namespace xpoll::detail

#endif  // XPOLL_SRC_POLLER_HPP
