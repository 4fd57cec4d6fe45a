// The core poller: the registration table, the change list and the
// semantics every backend shares (oneshot bookkeeping, fairness, wake-up,
// thread safety). The C ABI shell in api.cpp validates arguments and calls in.
#ifndef XPOLL_SRC_POLLER_HPP
#define XPOLL_SRC_POLLER_HPP

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "core/backend.hpp"
#include "core/linger.hpp"
#include "core/registry.hpp"
#include "platform/platform.hpp"

namespace xpoll::detail {

using Clock = std::chrono::steady_clock;

// One registration. Kept in a table indexed by descriptor number.
struct Reg {
  uint64_t data = 0;
  uint32_t interest = 0;    // XPOLL_IN/OUT/RDHUP and mode bits; ERR and HUP are implied
  KernelState kernel;       // what the backend holds for it
  uint32_t generation = 0;  // names the kernel registration in reported events
  bool registered = false;
  bool armed = false;   // false once a oneshot registration has been reported
  bool dead = false;    // found closed while registered; watched no more
  bool queued = false;  // in the change list
  bool renew = false;   // an edge registration made anew: the kernel re-checks its readiness (kRenew)
};

// Descriptor-indexed table (see fd_index). Descriptors are small dense
// numbers, so a vector indexed by number beats a hash map; it only grows.
class FdTable {
 public:
  Reg* find(xpoll_fd_t fd) noexcept {
    size_t i = fd_index(fd);
    return i < regs_.size() ? &regs_[i] : nullptr;
  }
  // Grows the table to hold fd, which must have an index (descriptor_open()
  // said so); throws std::bad_alloc, leaving it unchanged.
  Reg& at(xpoll_fd_t fd) {
    size_t i = fd_index(fd);
    if (i >= regs_.size()) regs_.resize(std::max(i + 1, regs_.size() * 2));
    return regs_[i];
  }
  size_t size() const noexcept { return regs_.size(); }
  template <class F>
  void for_each(F&& f) {
    for (size_t i = 0; i < regs_.size(); ++i) f(fd_at_index(i), regs_[i]);
  }

 private:
  std::vector<Reg> regs_;
};

// One thread in Poller::wait(), on the poller's list of waiters (under its
// lock; it lives on that thread's stack).
struct Waiter {
  uint32_t epoch = 0;       // the wake epoch its wait started under (see Poller::wake())
  size_t fetch = SIZE_MAX;  // what its kernel wait has room for (SIZE_MAX: the caller's whole array)
  bool in_kernel = false;   // between the backend's prepare() and collect()
  Waiter* prev = nullptr;
  Waiter* next = nullptr;
  Waiter* gate_next = nullptr;  // the next one waiting its turn after this one (see await_turn())
};

class Poller {
 public:
  Poller(std::unique_ptr<Backend> backend, const BackendInfo& info, bool shared) noexcept;
  ~Poller();

  int add(xpoll_fd_t fd, uint32_t events, uint64_t data);
  int modify(xpoll_fd_t fd, uint32_t events, uint64_t data);
  int remove(xpoll_fd_t fd);
  int wait(xpoll_event_t* out, int max, int64_t timeout_ns);
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
  int check_interest(uint32_t events) const noexcept;

 private:
  friend class EventSink;

  KernelState want_of(const Reg& r) const noexcept;
  int apply(xpoll_fd_t fd, Reg& r, bool verify) noexcept;
  void enqueue(xpoll_fd_t fd, Reg& r) noexcept;
  void changed(xpoll_fd_t fd, Reg& r) noexcept;
  void flush() noexcept;
  void refused(xpoll_fd_t fd, Reg& r) noexcept;
  int reset_backend() noexcept;
  void signal_internal() noexcept;
  bool should_rebuild(const EventSink& sink, int64_t timeout_ns, Clock::time_point deadline) const noexcept;
  bool should_return(const EventSink& sink, int64_t timeout_ns, Clock::time_point deadline) const noexcept;
  bool woken_by_user(const Waiter& w) const noexcept { return wake_epoch_.load() != w.epoch; }
  bool may_enter_kernel() const noexcept;
  bool await_turn(std::unique_lock<std::mutex>& lock, Waiter& w, int64_t timeout_ns, Clock::time_point deadline);
  void leave_gate(Waiter& w) noexcept;
  void leave_kernel(Waiter& w) noexcept;
  size_t least_fetch() const noexcept;
  WaitSlot* take_slot();
  void give_back(WaitSlot* slot) noexcept;
  void swap_for_carry(WaitSlot*& slot) noexcept;
  int wait_rounds(Waiter& w, WaitSlot*& slot, xpoll_event_t* out, int max, int64_t timeout_ns,
                  std::unique_lock<std::mutex>& lock) noexcept;

  EventSink::Result on_event(EventSink& sink, xpoll_fd_t fd, uint32_t events, uint64_t generation) noexcept;
  void on_dead(xpoll_fd_t fd) noexcept;
  void on_woken(EventSink& sink) noexcept;

  std::unique_ptr<Backend> backend_;
  const BackendInfo& info_;
  const uint32_t caps_;
  const unsigned fork_gen_;
  const bool shared_;  // XPOLL_SHARED: several threads may wait at once

  std::mutex mu_;
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
  std::condition_variable gate_;
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
