// The registration table: one entry per descriptor number, and the kernel
// state each entry asks its backend for. The core owns it; a backend's
// collect() reads it through the EventSink (backend.hpp), whose emit() is
// inline, so that an event costs one lookup and no call.
#ifndef XPOLL_SRC_CORE_TABLE_HPP
#define XPOLL_SRC_CORE_TABLE_HPP

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "platform/platform.hpp"
#include "xpoll/xpoll.h"

namespace xpoll::detail {

// The bits of an interest mask, by role.
constexpr uint32_t kInterestBits = XPOLL_IN | XPOLL_OUT | XPOLL_RDHUP | XPOLL_PRI;
constexpr uint32_t kModeBits = XPOLL_ONESHOT | XPOLL_EDGE;
constexpr uint32_t kFlagBits = XPOLL_EXCLUSIVE;
constexpr uint32_t kAlwaysBits = XPOLL_ERR | XPOLL_HUP;  // reported whether asked for or not

// The kernel side of one registration, as the core asks for it and as the
// backend last applied it.
struct KernelState {
  bool on = false;        // the backend holds a registration
  bool paused = false;    // a reported oneshot registration not yet re-armed: nothing is watched
  uint32_t interest = 0;  // XPOLL_IN, XPOLL_OUT, XPOLL_RDHUP and the mode bits

  // The interest in force: none while off or paused.
  uint32_t watched() const noexcept { return on && !paused ? interest : 0; }
  bool operator==(const KernelState& o) const noexcept {
    return on == o.on && paused == o.paused && interest == o.interest;
  }
  bool operator!=(const KernelState& o) const noexcept { return !(*this == o); }
};

// One registration. Kept in a table indexed by descriptor number.
struct Reg {
  uint64_t data = 0;
  uint32_t interest = 0;    // XPOLL_IN/OUT/RDHUP/PRI and mode bits; ERR and HUP are implied
  KernelState kernel;       // what the backend holds for it
  uint32_t generation = 0;  // names the kernel registration in reported events
  bool registered = false;
  bool armed = false;   // false once a oneshot registration has been reported
  bool dead = false;    // found closed while registered; watched no more
  bool queued = false;  // in the change list
  bool renew = false;   // an edge registration made anew: the kernel re-checks its readiness (kRenew)
};

// The kernel state a registration asks for.
inline KernelState wanted(const Reg& r) noexcept {
  if (!r.registered || r.dead) return KernelState{};
  return KernelState{true, !r.armed, r.interest};
}

// Whether the kernel holds what the registration asks for, with nothing
// to renew: wanted(r) == r.kernel && !r.renew, read off the fields.
inline bool settled(const Reg& r) noexcept {
  if (r.renew) return false;
  if (!r.registered || r.dead) return !r.kernel.on;
  return r.kernel.on && r.kernel.interest == r.interest && r.kernel.paused == !r.armed;
}

// Descriptor-indexed table (see fd_index). Descriptors are small dense
// numbers, so a vector indexed by number beats a hash map; it only grows.
class FdTable {
 public:
  FdTable() = default;
  // base_ points into regs_: a copy would point into the original's.
  FdTable(const FdTable&) = delete;
  FdTable& operator=(const FdTable&) = delete;

  Reg* find(xpoll_fd_t fd) noexcept {
    size_t i = fd_index(fd);
    return i < size_ ? base_ + i : nullptr;
  }
  // Grows the table to hold fd, which must have an index (descriptor_open()
  // said so); throws std::bad_alloc, leaving it unchanged.
  Reg& at(xpoll_fd_t fd) {
    size_t i = fd_index(fd);
    if (i >= size_) {
      regs_.resize(std::max(i + 1, size_ * 2));
      base_ = regs_.data();
      size_ = regs_.size();
    }
    return base_[i];
  }
  size_t size() const noexcept { return size_; }
  Reg* data() noexcept { return base_; }
  template <class F>
  void for_each(F&& f) {
    for (size_t i = 0; i < size_; ++i) f(fd_at_index(i), base_[i]);
  }

 private:
  std::vector<Reg> regs_;
  // The vector's own, kept apart so that a lookup is a compare and an add.
  Reg* base_ = nullptr;
  size_t size_ = 0;
};

}  // namespace xpoll::detail

#endif  // XPOLL_SRC_CORE_TABLE_HPP
