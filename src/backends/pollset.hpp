// What the array backends share (poll on POSIX; WSAPoll and Winsock select on
// Windows): an array with one entry per watched descriptor, a slot map from
// descriptor to position, removal by moving the last entry into the hole, the
// waiter's copy of the array, and a scan of the results that starts where the
// last full one stopped, so that a caller with a small array starves nobody.
// The backends differ only in the entry's type, the system call and the mask
// translation.
#ifndef XPOLL_SRC_BACKENDS_POLLSET_HPP
#define XPOLL_SRC_BACKENDS_POLLSET_HPP

#include <algorithm>
#include <cstddef>
#include <type_traits>
#include <vector>

#include "core/backend.hpp"
#include "platform/platform.hpp"

namespace xpoll::detail {

// `Entry` is the OS's array element; `FdOf{}(entry)` reads its descriptor.
// Positions below `fixed` hold entries of the backend's own (the wake
// channel) that are never moved.
template <class Entry, class FdOf>
class PollSet {
 public:
  explicit PollSet(size_t fixed = 0) noexcept : fixed_(fixed) {}

  // Appends one of the backend's own entries, before any descriptor's.
  void push_fixed(const Entry& e) { entries_.push_back(e); }

  // At add time: checks the descriptor and makes room for it, so that
  // update() never allocates.
  int admit(xpoll_fd_t fd) noexcept {
    if (!descriptor_open(fd)) return XPOLL_EBADF;
    size_t i = fd_index(fd);
    try {
      if (slot_.size() <= i) slot_.resize(std::max(i + 1, slot_.size() * 2), 0);
      if (entries_.capacity() < slot_.size() + fixed_) entries_.reserve(slot_.size() + fixed_);
    } catch (...) {
      return XPOLL_ENOMEM;
    }
    return 0;
  }

  // fd's entry becomes `e` when it is to be watched; otherwise it goes.
  void update(xpoll_fd_t fd, bool watch, const Entry& e) noexcept {
    if (watch)
      put(fd, e) = e;
    else
      drop(fd);
  }

  // fd's entry, appended as `fresh` when it has none (within admit()'s room).
  Entry& put(xpoll_fd_t fd, const Entry& fresh) noexcept {
    size_t& s = slot_[fd_index(fd)];
    if (s == 0) {
      entries_.push_back(fresh);
      s = entries_.size();  // position + 1: 0 means none
    }
    dirty_ = true;
    return entries_[s - 1];
  }

  // Removes fd's entry, if it has one, by moving the last entry into its place.
  void drop(xpoll_fd_t fd) noexcept {
    size_t i = fd_index(fd);
    if (i >= slot_.size() || slot_[i] == 0) return;
    size_t pos = slot_[i] - 1;
    slot_[fd_index(FdOf{}(entries_.back()))] = pos + 1;
    entries_[pos] = entries_.back();
    entries_.pop_back();
    slot_[i] = 0;
    dirty_ = true;
  }

  // The waiter's copy, refreshed under the core's lock before a wait, so that
  // other threads may change the array while the waiter is in the kernel.
  int snapshot() noexcept {
    if (!dirty_) return 0;
    try {
      work_ = entries_;
    } catch (...) {
      return XPOLL_ENOMEM;
    }
    dirty_ = false;
    return 0;
  }
  std::vector<Entry>& work() noexcept { return work_; }
  // One past the largest descriptor index room was made for.
  size_t slots() const noexcept { return slot_.size(); }
  const std::vector<Entry>& work() const noexcept { return work_; }

  // Visits the waiter's entries from position `fixed` on, starting where the
  // last full scan stopped, until `visit(i)` has answered true `ready` times
  // (the count the system call returned) or every entry was seen. When the
  // caller's array fills (`visit` returns kFull through `full`), the next
  // scan starts just after that entry. Entries for which `quiet(entry)` is
  // true are passed over without a visit, in a loop of a few instructions:
  // most of a large set is quiet in most waits.
  template <class Quiet, class Visit>
  void scan(size_t ready, Quiet quiet, Visit visit) noexcept {
    size_t n = work_.size();
    if (n <= fixed_ || ready == 0) return;
    const Entry* w = work_.data();
    size_t start = cursor_ >= fixed_ && cursor_ < n ? cursor_ : fixed_;
    for (size_t pass = 0; pass < 2; ++pass) {
      size_t i = pass == 0 ? start : fixed_, to = pass == 0 ? n : start;
      for (;; ++i) {
        const Entry *e = w + i, *end = w + to;
        while (e != end && quiet(*e)) ++e;
        if (e == end) break;
        i = static_cast<size_t>(e - w);
        bool full = false;
        if (!visit(i, full)) continue;
        if (full) {
          cursor_ = i + 1;
          return;
        }
        if (--ready == 0) return;
      }
    }
  }
  template <class Visit>
  void scan(size_t ready, Visit visit) noexcept {
    scan(
        ready, [](const Entry&) { return false; }, visit);
  }

 private:
  const size_t fixed_;
  std::vector<Entry> entries_;  // changed under the core's lock
  std::vector<Entry> work_;     // the waiter's copy of entries_
  std::vector<size_t> slot_;    // fd_index -> position + 1, 0 for none
  bool dirty_ = true;
  size_t cursor_ = 0;
};

// Reads what poll() or WSAPoll() found in `set` (entry 0 is the wake
// channel), `ready` entries in all. `translate(entry)` gives the XPOLL_*
// events of an entry. A closed descriptor (POLLNVAL) is dropped, unless its
// number was closed, reused and added again meanwhile.
template <class Set, class Translate>
void read_poll_results(Set& set, size_t ready, WakeChannel& wake, EventSink& sink, Translate translate) noexcept {
  auto& work = set.work();
  if (ready > 0 && work[0].revents) {
    wake.drain();
    sink.woken();
    --ready;
  }
  using Entry = typename std::remove_reference_t<decltype(work)>::value_type;
  auto quiet = [](const Entry& e) { return e.revents == 0; };
  set.scan(ready, quiet, [&](size_t i, bool& full) {
    auto fd = static_cast<xpoll_fd_t>(work[i].fd);
    if (work[i].revents & POLLNVAL) {
      if (!descriptor_open(fd)) sink.dead(fd);
      return true;
    }
    full = sink.emit(fd, translate(work[i]), kNoGeneration) == EventSink::kFull;
    return true;
  });
}

}  // namespace xpoll::detail

#endif  // XPOLL_SRC_BACKENDS_POLLSET_HPP
