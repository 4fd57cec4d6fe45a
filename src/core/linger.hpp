// Registrations the kernel may still hold though no table entry names them:
// a removal refused because the descriptor was closed first, or a re-add
// that found a new file while the old one is still open elsewhere (epoll
// keys its registrations on the open file, not on the number). Their events,
// and only theirs, call for the kernel set to be rebuilt; events merely
// stale from a race with another thread's change do not.
#ifndef XPOLL_SRC_CORE_LINGER_HPP
#define XPOLL_SRC_CORE_LINGER_HPP

#include <cstddef>
#include <cstdint>
#include <unordered_set>

#include "core/backend.hpp"
#include "platform/platform.hpp"

namespace xpoll::detail {

class LingerTracker {
 public:
  // Records the registration (fd, generation) as possibly lingering. Past
  // kMax records, or without memory, the record is dropped and every stale
  // event counts (a rebuild then starts afresh), so memory stays bounded.
  void note(xpoll_fd_t fd, uint32_t generation) noexcept {
    any_ = true;
    if (unknown_) return;
    if (keys_.size() >= kMax) {
      keys_.clear();
      unknown_ = true;
      return;
    }
    try {
      keys_.insert(key(fd, generation));
    } catch (...) {
      unknown_ = true;
    }
  }

  // Whether a stale event of fd under `generation` may come from a lingering
  // registration. Without a generation (poll, select) nothing tells one from
  // a race, so any stale event counts.
  bool explains(xpoll_fd_t fd, uint64_t generation) const noexcept {
    if (!any_) return false;
    return generation == kNoGeneration || unknown_ || keys_.count(key(fd, generation)) != 0;
  }

  bool any() const noexcept { return any_; }

  // The kernel set was rebuilt: nothing lingers any more.
  void clear() noexcept {
    any_ = false;
    unknown_ = false;
    keys_.clear();
  }

 private:
  // Most records belong to files long closed, which the kernel has dropped.
  static constexpr size_t kMax = 1024;

  static uint64_t key(xpoll_fd_t fd, uint64_t generation) noexcept {
    return (static_cast<uint64_t>(fd_index(fd)) << 32) | (generation & 0xffffffffu);
  }

  bool any_ = false;
  bool unknown_ = false;  // one could not be recorded: any stale event counts
  std::unordered_set<uint64_t> keys_;
};

}  // namespace xpoll::detail

#endif  // XPOLL_SRC_CORE_LINGER_HPP
