#include "backends/posix/kqueue_events.hpp"

#include <sys/stat.h>

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

}  // namespace

bool KnoteFiles::file_of(xpoll_fd_t fd, FileId& id) noexcept {
  struct stat st;
  if (fstat(fd, &st) != 0) return false;
  id = FileId{st.st_dev, st.st_ino};
  return true;
}

bool KnoteFiles::note(xpoll_fd_t fd) noexcept {
  FileId id{};
  if (!file_of(fd, id)) return true;  // closed: the kernel's answer decides
  size_t i = static_cast<size_t>(fd);
  try {
    if (i >= files_.size()) files_.resize(std::max(i + 1, files_.size() * 2), FileId{});
  } catch (...) {
    return false;
  }
  files_[i] = id;
  return true;
}

bool KnoteFiles::same(xpoll_fd_t fd) const noexcept {
  FileId id{};
  size_t i = static_cast<size_t>(fd);
  return file_of(fd, id) && i < files_.size() && files_[i].dev == id.dev && files_[i].ino == id.ino;
}

int EventMerger::reserve(size_t fetch) noexcept {
  // A carry holds at most twice what one wait may take; merged_ holds a
  // carry and a full fetch; each carried event may re-enable two knotes.
  if (events_.size() >= fetch && merged_.size() >= 2 * fetch && carry_.capacity() >= 2 * fetch &&
      pfd_.size() >= 2 * fetch && enable_.size() >= 4 * fetch)
    return 0;
  try {
    events_.resize(fetch);
    merged_.resize(2 * fetch);
    carry_.reserve(2 * fetch);
    pfd_.resize(2 * fetch);
    enable_.resize(4 * fetch);
  } catch (...) {
    return XPOLL_ENOMEM;
  }
  return 0;
}

EventMerger::Pending EventMerger::pending_of(const struct kevent& k) noexcept {
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

bool EventMerger::emit(EventSink& sink, int fetched, int kq, bool (*is_wake)(const struct kevent&),
                       bool& woken) noexcept {
  int merged = 0;
  refresh_carry(kq);
  for (const Pending& c : carry_) {
    size_t fd = static_cast<size_t>(fd_of(c.udata));
    if (fd < slot_.size()) slot_[fd] = merged;
    merged_[merged++] = c;
  }
  carry_.clear();
  for (int i = 0; i < fetched; ++i) {
    if (is_wake(events_[i]))
      woken = true;
    else
      merge(events_[i], merged);
  }
  bool full = false;
  for (int i = 0; i < merged; ++i) {
    const Pending& m = merged_[i];
    int fd = fd_of(m.udata);
    if (static_cast<size_t>(fd) < slot_.size()) slot_[fd] = -1;
    if (full)
      carry_.push_back(m);  // within the capacity reserve() made
    else
      full = sink.emit(fd, m.events, kWideUdata ? m.udata >> 32 : kNoGeneration) == EventSink::kFull;
  }
  return full;
}

// A carried event was true when the kernel gave it, and may not be now:
// one poll() says what holds now. A closed descriptor is dropped (its close
// dropped its knotes too); a level or oneshot event becomes what is ready
// now, and a dispatched knote with nothing left is re-enabled, so that the
// kernel watches it again; an edge is kept as it is. The re-enables go in a
// buffer of their own: events_ still holds what this wait fetched.
void EventMerger::refresh_carry(int kq) noexcept {
  size_t n = carry_.size();
  if (n == 0) return;
  for (size_t i = 0; i < n; ++i) pfd_[i] = pollfd{fd_of(carry_[i].udata), POLLIN | POLLOUT, 0};
  if (::poll(pfd_.data(), static_cast<nfds_t>(n), 0) < 0) return;  // keep them: spurious at worst
  size_t kept = 0;
  int renable = 0;
  for (size_t i = 0; i < n; ++i) {
    Pending c = carry_[i];
    short rev = pfd_[i].revents;
    if (rev & POLLNVAL) continue;
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
    carry_[kept++] = c;
  }
  carry_.resize(kept);
  if (renable > 0) {
    struct timespec zero = {0, 0};
    kevent(kq, enable_.data(), renable, enable_.data(), renable, &zero);
  }
}

}  // namespace xpoll::detail::kq
