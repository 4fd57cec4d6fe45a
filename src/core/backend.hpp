// The internal interface every backend implements, and the sink through which
// a backend reports readiness to the core.
//
// The core (poller.cpp) owns the registration table, validation, oneshot
// bookkeeping, wake-up and fairness. A backend only makes system calls: it
// applies one registration change at a time and waits. Its name and
// capabilities are stated once, in its BackendInfo (registry.hpp).
#ifndef XPOLL_SRC_BACKEND_HPP
#define XPOLL_SRC_BACKEND_HPP

#include <climits>
#include <cstdint>
#include <ctime>
#include <memory>
#include <vector>

#include "core/table.hpp"
#include "xpoll/xpoll.h"

namespace xpoll::detail {

// Internal capability bits, kept above the public XPOLL_CAP_* bits.
// kCapNativeOneshot: the kernel disarms a oneshot registration by itself when
// it reports it, so the core records the pause without asking the backend.
constexpr uint32_t kCapNativeOneshot = 1u << 16;
// kCapKernelState: registrations live in the kernel and persist until
// removed, so apply() is a system call and errors at add time come from it.
constexpr uint32_t kCapKernelState = 1u << 17;
// kCapWaitSlots: the backend keeps what a wait fetched in a WaitSlot of the
// waiter's (epoll, kqueue, iocp); without it, in buffers of its own, and the
// core passes no slot.
// kCapConcurrentWait: several threads may block in wait() at once, each with
// its own slot. Without it the core lets one waiter at a time into the
// kernel (between prepare() and collect()).
constexpr uint32_t kCapWaitSlots = 1u << 18;
constexpr uint32_t kCapConcurrentWait = 1u << 19;
// kCapCarry: a slot may keep events a wait took and had no room for
// (has_carry(); kqueue). Without it the core never asks.
constexpr uint32_t kCapCarry = 1u << 20;
constexpr uint32_t kPublicCapMask = 0xffffu;

// A registration's generation names it in the events a backend reports, so
// that the core can tell an event of a registration since removed or replaced.
// kNoGeneration skips that check (backends that report by number).
constexpr uint64_t kNoGeneration = ~uint64_t{0};

// What Backend::apply() returns besides 0 (the kernel now holds the
// registration under the generation given) and a negative XPOLL_E* code.
// kKeptGeneration: asked to verify, the backend found the same open file still
// registered, under the generation it had before. kMayLinger: applied under the new
// generation, but a registration of an earlier file with this number may linger in
// the kernel where no call can reach it (epoll: a verify found a new file
// while the old one may still be open elsewhere).
// kRebuild: nothing was applied, because the change cannot be made safely in
// place (libkqueue frees a knote on EV_DELETE while its epoll set may still
// report it, when the descriptor was closed or replaced): the core starts the
// kernel set afresh from its table before the next wait, which applies it.
constexpr int kKeptGeneration = 1;
constexpr int kMayLinger = 2;
constexpr int kRebuild = 3;

// How Backend::apply() is to move a registration, besides to its new state.
// kVerify: the kernel may still hold a registration made for an earlier file
// with the same number: confirm it is the same open file, or register the
// new one. kRenew: an edge-triggered registration is made anew (a modify or
// an add), so the kernel must check the descriptor's readiness now and report
// it once more, even when the state it holds does not change.
enum ApplyHow : unsigned { kChange = 0, kVerify = 1u << 0, kRenew = 1u << 1 };

class Poller;
struct Waiter;

// A wait's time-out in nanoseconds (-1: for ever), as each system call takes
// it: rounded up, so that a wait never ends before its time.
constexpr int64_t kNsPerMs = 1000000;
inline int ceil_ms(int64_t timeout_ns) noexcept {
  if (timeout_ns < 0) return -1;
  int64_t ms = timeout_ns / kNsPerMs + (timeout_ns % kNsPerMs != 0);
  return ms > INT_MAX ? INT_MAX : static_cast<int>(ms);
}
inline bool whole_ms(int64_t timeout_ns) noexcept { return timeout_ns <= 0 || timeout_ns % kNsPerMs == 0; }
inline struct timespec to_timespec(int64_t timeout_ns) noexcept {
  struct timespec ts;
  ts.tv_sec = static_cast<decltype(ts.tv_sec)>(timeout_ns / 1000000000);
  ts.tv_nsec = static_cast<long>(timeout_ns % 1000000000);
  return ts;
}

// One waiter's part of a wait: the buffer the kernel fills between wait()
// and collect(), and anything else a wait keeps for the next one. A backend
// with kCapWaitSlots makes one per thread that waits at once and owns
// it (SlotStore); the core keeps pointers in a pool and hands each wait one.
// Not polymorphic: a backend derives its own and casts back, and nothing is
// deleted through this type.
struct WaitSlot {};

// The slots a backend has made: freed with the backend.
template <class T>
class SlotStore {
 public:
  // Throws std::bad_alloc, leaving the store as it was.
  WaitSlot* make() {
    auto slot = std::make_unique<T>();
    slots_.push_back(std::move(slot));  // if this throws, `slot` still owns it
    return slots_.back().get();
  }

 private:
  std::vector<std::unique_ptr<T>> slots_;
};

// Receives what a backend's wait found, into the caller's array. emit() is
// inline: it is called once per event.
class EventSink {
 public:
  enum Result { kAccepted, kSkipped, kFull };

  EventSink(Poller& poller, Waiter& waiter, FdTable& table, uint32_t caps, xpoll_event_t* out, int max) noexcept
      : poller_(poller), waiter_(waiter), regs_(table.data()), size_(table.size()), caps_(caps), out_(out), max_(max) {}

  // Reports readiness of fd (XPOLL_IN/OUT/ERR/HUP/RDHUP/PRI bits). generation is
  // what the backend was given for this registration in apply(), or kNoGeneration.
  // kFull means the caller's array is full: the backend should stop and
  // remember where, so that the next wait starts there.
  Result emit(xpoll_fd_t fd, uint32_t events, uint64_t generation) noexcept {
    size_t i = fd_index(fd);
    Reg* r = i < size_ ? regs_ + i : nullptr;
    if (!r || !r->registered || r->dead || (generation != kNoGeneration && generation != r->generation))
      return stale(fd, generation);
    if (!r->armed) return kSkipped;
    // An error or hang-up means a read or write would not block: report it as
    // readiness for whichever of them was asked for, on every backend.
    if (events & kAlwaysBits) events |= r->interest & (XPOLL_IN | XPOLL_OUT);
    events &= (r->interest & kInterestBits) | kAlwaysBits;
    if (events == 0) return kSkipped;
    out_[count_++] = xpoll_event_t{r->data, fd, events};
    if (r->interest & XPOLL_ONESHOT) {
      r->armed = false;
      if (caps_ & kCapNativeOneshot)
        r->kernel = wanted(*r);  // the kernel disarmed it as it reported it
      else
        requeue(fd, *r);
    }
    return count_ >= max_ ? kFull : kAccepted;
  }
  // The descriptor was found closed (POLLNVAL, EBADF): stop watching it.
  void dead(xpoll_fd_t fd) noexcept;
  // The wake channel fired and the backend has drained it.
  void woken() noexcept;

  int count() const noexcept { return count_; }
  bool full() const noexcept { return count_ >= max_; }

 private:
  friend class Poller;
  // An event of a registration removed or replaced since (poller.cpp).
  Result stale(xpoll_fd_t fd, uint64_t generation) noexcept;
  // A oneshot registration the core disarms itself (poller.cpp).
  void requeue(xpoll_fd_t fd, Reg& r) noexcept;

  Poller& poller_;
  Waiter& waiter_;
  Reg* const regs_;  // the table's entries: it does not grow while a wait collects
  const size_t size_;
  const uint32_t caps_;
  xpoll_event_t* const out_;
  const int max_;
  int count_ = 0;
  int stale_ = 0;
  int linger_ = 0;  // of the stale events, those of a registration the kernel may still hold
  int dead_ = 0;
  bool woken_ = false;
};

class Backend {
 public:
  virtual ~Backend() = default;

  // Checks at add time what apply() will not check synchronously (that the
  // descriptor is open, that its number fits). Backends with kernel state
  // check through apply() itself and need not override this.
  virtual int admit(xpoll_fd_t /*fd*/) noexcept { return 0; }

  // Moves one registration from kernel state `have` to `want`, as `how`
  // (ApplyHow bits) says, under `generation`. Returns 0, kKeptGeneration,
  // kMayLinger, kRebuild or an XPOLL_E* code; on failure the kernel state is
  // unchanged.
  virtual int apply(xpoll_fd_t fd, const KernelState& have, const KernelState& want, uint32_t generation,
                    unsigned how) noexcept = 0;

  // apply(fd, state, state, generation, kVerify) for a registration the
  // kernel holds as `state`: that the number still names the file it was
  // made for (kKeptGeneration), or that a new file is now registered. A
  // backend may answer it more cheaply than the general apply().
  virtual int confirm(xpoll_fd_t fd, const KernelState& state, uint32_t generation) noexcept {
    return apply(fd, state, state, generation, kVerify);
  }

  // Brackets the `count` changes the core applies before a wait. Between the
  // two a backend may queue what apply() is asked and submit it all at once
  // in end_batch(), naming each descriptor whose change the kernel refused
  // to `refused` (apply() has then answered 0 for it).
  virtual void begin_batch(size_t /*count*/) noexcept {}
  virtual void end_batch(void (*refused)(void* ctx, xpoll_fd_t fd), void* ctx) noexcept {}

  // A slot for one more waiter (kCapWaitSlots only), owned by the
  // backend; throws std::bad_alloc.
  virtual WaitSlot* make_slot() { return nullptr; }
  // Whether the slot holds events a wait took from the kernel and had no
  // room to report: the next wait given the slot reports them first.
  virtual bool has_carry(const WaitSlot* /*slot*/) const noexcept { return false; }

  // Called with the core's lock held, just before wait(), for a caller's
  // array of `max`. `slot` is the waiter's (nullptr without
  // kCapWaitSlots).
  virtual int prepare(WaitSlot* /*slot*/, int /*max*/) noexcept { return 0; }
  // Blocks up to timeout_ns (-1: forever) without the core's lock, taking at
  // most `max` events (what the caller's array and the registrations allow).
  // A backend without XPOLL_CAP_NS_TIMEOUT rounds it up to what it has.
  // Returns 0 or an XPOLL_E* code (XPOLL_EINTR for a signal).
  virtual int wait(WaitSlot* slot, int max, int64_t timeout_ns) noexcept = 0;
  // Called with the core's lock held after wait(): reports what was found.
  virtual void collect(WaitSlot* slot, EventSink& sink) noexcept = 0;

  // Makes a blocked wait() return. Async-signal-safe.
  virtual int signal() noexcept = 0;

  // Drops all kernel registrations and starts afresh (used when the kernel
  // holds a registration the core can no longer name, as epoll does for a
  // descriptor closed while a duplicate of it lives on).
  virtual int reset() noexcept { return 0; }

  // True for descriptors the backend owns (its wake channel, its epoll fd).
  virtual bool owns(xpoll_fd_t /*fd*/) const noexcept { return false; }

  // A descriptor that is readable while a wait would report something
  // (XPOLL_CAP_FD), the same one for the poller's life: made on the first
  // call, with the core's lock held. XPOLL_ENOTSUP without one.
  virtual int poll_fd() noexcept { return XPOLL_ENOTSUP; }
};

using BackendFactory = int (*)(std::unique_ptr<Backend>& out);

// The factory of a backend class whose open() makes its kernel objects.
template <class T>
int open_backend(std::unique_ptr<Backend>& out) {
  auto b = std::make_unique<T>();
  int rc = b->open();
  if (rc == 0) out = std::move(b);
  return rc;
}

}  // namespace xpoll::detail

#endif  // XPOLL_SRC_BACKEND_HPP
