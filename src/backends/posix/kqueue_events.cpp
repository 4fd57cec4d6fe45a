#include "backends/posix/kqueue_events.hpp"

#include <sys/stat.h>
#if defined(__linux__)
#include <sys/vfs.h>
#endif

#include <algorithm>

namespace xpoll::detail::kq {

namespace {

uint8_t knote_bit(const struct kevent& k) {
  if (!(k.flags & EV_DISPATCH)) return 0;
  return k.filter == EVFILT_READ ? 1 : 2;
}

// EV_EOF on the read filter is RDHUP, on the write filter HUP; fflags then
// holds the socket's error, if any.
uint32_t translate(const struct kevent& k) {
  uint32_t ev = 0;
  if (k.filter == EVFILT_READ) {
    ev |= XPOLL_IN;
    if (k.flags & EV_EOF) ev |= XPOLL_RDHUP | (k.fflags ? XPOLL_ERR : 0);
  } else {
    ev |= XPOLL_OUT;
    if (k.flags & EV_EOF) ev |= XPOLL_HUP | (k.fflags ? XPOLL_ERR : 0);
  }
  if (k.flags & EV_ERROR) ev |= XPOLL_ERR;
  return ev;
}

int fd_of(uint64_t udata) { return static_cast<int>(udata & 0xffffffffu); }

// Whether a file's device and inode name one open file: a socket's do, and an
// anonymous pipe's (its two ends aside). Eventfds and other anonymous-inode
// descriptors share one inode, and a named FIFO, a terminal or a regular file
// can be opened twice.
#if defined(__linux__)
constexpr long kPipefsMagic = 0x50495045;
bool names_one_file(int fd, const struct stat& st) {
  if (S_ISSOCK(st.st_mode)) return true;
  struct statfs fs;
  return S_ISFIFO(st.st_mode) && fstatfs(fd, &fs) == 0 && static_cast<long>(fs.f_type) == kPipefsMagic;
}
#else
bool names_one_file(int, const struct stat& st) { return S_ISSOCK(st.st_mode); }
#endif

}  // namespace

bool KnoteTable::note(xpoll_fd_t fd, uint64_t udata, bool file) noexcept {
  size_t i = static_cast<size_t>(fd);
  try {
    if (i >= entries_.size()) entries_.resize(std::max(i + 1, entries_.size() * 2), Entry{});
  } catch (...) {
    return false;
  }
  Entry& e = entries_[i];
  e.udata = udata;
  struct stat st;
  if (file && fstat(fd, &st) == 0) {
    e.dev = st.st_dev;
    e.ino = st.st_ino;
    e.unique = names_one_file(fd, st);
  } else {
    e.unique = false;  // unknown: never taken for the same file
  }
  return true;
}

void KnoteTable::forget(xpoll_fd_t fd) noexcept {
  size_t i = static_cast<size_t>(fd);
  if (i < entries_.size()) entries_[i].udata = 0;
}

void KnoteTable::forget_all() noexcept {
  for (Entry& e : entries_) e.udata = 0;
}

uint64_t KnoteTable::udata(xpoll_fd_t fd) const noexcept {
  size_t i = static_cast<size_t>(fd);
  return i < entries_.size() ? entries_[i].udata : 0;
}

bool KnoteTable::same_file(xpoll_fd_t fd) const noexcept {
  size_t i = static_cast<size_t>(fd);
  struct stat st;
  if (i >= entries_.size() || !entries_[i].unique || fstat(fd, &st) != 0) return false;
  return st.st_dev == entries_[i].dev && st.st_ino == entries_[i].ino && names_one_file(fd, st);
}

int EventMerger::reserve(Fetch& f, size_t fetch) noexcept {
  // A carry holds at most twice what one wait may take; merged_ holds a
  // carry and a full fetch; each carried event may re-enable two knotes.
  // The scratch only grows, so it also fits what other waiters' Fetches
  // were reserved for.
  if (f.events.size() >= fetch && f.carry.capacity() >= 2 * fetch && merged_.size() >= 2 * fetch &&
      pfd_.size() >= 2 * fetch && enable_.size() >= 4 * fetch)
    return 0;
  try {
    if (f.events.size() < fetch) f.events.resize(fetch);
    f.carry.reserve(2 * fetch);
    if (merged_.size() < 2 * fetch) merged_.resize(2 * fetch);
    if (pfd_.size() < 2 * fetch) pfd_.resize(2 * fetch);
    if (enable_.size() < 4 * fetch) enable_.resize(4 * fetch);
  } catch (...) {
    return XPOLL_ENOMEM;
  }
  return 0;
}

Pending EventMerger::pending_of(const struct kevent& k) noexcept {
  return Pending{from_udata(k.udata), translate(k), (k.flags & EV_CLEAR) != 0, knote_bit(k)};
}

// Folds one knote into the event of its descriptor, through a slot per
// descriptor number.
void EventMerger::merge(const struct kevent& k, int& merged) noexcept {
  size_t fd = static_cast<size_t>(k.ident);
  if (fd >= slot_.size()) {
    try {
      slot_.resize(std::max(fd + 1, slot_.size() * 2), -1);
    } catch (...) {
      merged_[merged++] = pending_of(k);  // unmerged, not lost
      return;
    }
  }
  int& s = slot_[fd];
  Pending p = pending_of(k);
  if (s >= 0 && merged_[s].udata == p.udata) {
    merged_[s].events |= p.events;
    merged_[s].edge |= p.edge;
    merged_[s].dispatched |= p.dispatched;
  } else {
    s = merged;
    merged_[merged++] = p;
  }
}

bool EventMerger::emit(Fetch& f, EventSink& sink, int fetched, int kq, const KnoteTable& knotes,
                       bool (*is_wake)(const struct kevent&), bool& woken) noexcept {
  int merged = 0;
  refresh_carry(f.carry, kq, knotes);
  for (const Pending& c : f.carry) {
    size_t fd = static_cast<size_t>(fd_of(c.udata));
    if (fd < slot_.size()) slot_[fd] = merged;
    merged_[merged++] = c;
  }
  f.carry.clear();
  for (int i = 0; i < fetched; ++i) {
    if (is_wake(f.events[i]))
      woken = true;
    else
      merge(f.events[i], merged);
  }
  bool full = false;
  for (int i = 0; i < merged; ++i) {
    const Pending& m = merged_[i];
    int fd = fd_of(m.udata);
    if (static_cast<size_t>(fd) < slot_.size()) slot_[fd] = -1;
    if (full)
      f.carry.push_back(m);  // within the capacity reserve() made
    else
      full = sink.emit(fd, m.events, kWideUdata ? m.udata >> 32 : kNoGeneration) == EventSink::kFull;
  }
  return full;
}

// A carried event was true when the kernel gave it, and may not be now:
// one poll() says what holds now. A closed descriptor is dropped (its close
// dropped its knotes too); a level or oneshot event becomes what is ready
// now, and a dispatched knote with nothing left is re-enabled, so that the
// kernel watches it again; an edge is kept as it is. An event of knotes
// replaced or deleted since is dropped (the core would drop it as stale). The
// re-enables go in a buffer of their own: the Fetch's events still hold what
// this wait fetched.
void EventMerger::refresh_carry(std::vector<Pending>& carry, int kq, const KnoteTable& knotes) noexcept {
  size_t n = carry.size();
  if (n == 0) return;
  for (size_t i = 0; i < n; ++i) pfd_[i] = pollfd{fd_of(carry[i].udata), POLLIN | POLLOUT, 0};
  if (::poll(pfd_.data(), static_cast<nfds_t>(n), 0) < 0) return;  // keep them: spurious at worst
  size_t kept = 0;
  int renable = 0;
  for (size_t i = 0; i < n; ++i) {
    Pending c = carry[i];
    short rev = pfd_[i].revents;
    if ((rev & POLLNVAL) || knotes.udata(pfd_[i].fd) != c.udata) continue;
    if (!c.edge) {
      bool readable = rev & (POLLIN | POLLHUP | POLLERR);
      bool writable = rev & (POLLOUT | POLLHUP | POLLERR);
      // The descriptor's readiness now, in both directions (the core keeps
      // what the interest asks): a carry may hold one knote of the two.
      c.events = (readable ? XPOLL_IN | (c.events & XPOLL_RDHUP) : 0) | (writable ? XPOLL_OUT : 0) |
                 (readable || writable ? c.events & (XPOLL_ERR | XPOLL_HUP) : 0);
      if ((c.dispatched & 1) && !readable)
        set(enable_[renable++], pfd_[i].fd, EVFILT_READ, EV_ENABLE | EV_RECEIPT, c.udata);
      if ((c.dispatched & 2) && !writable)
        set(enable_[renable++], pfd_[i].fd, EVFILT_WRITE, EV_ENABLE | EV_RECEIPT, c.udata);
      if (!(c.events & (XPOLL_IN | XPOLL_OUT))) continue;
    }
    carry[kept++] = c;
  }
  carry.resize(kept);
  if (renable > 0) {
    struct timespec zero = {0, 0};
    kevent(kq, enable_.data(), renable, enable_.data(), renable, &zero);
  }
}

}  // namespace xpoll::detail::kq
