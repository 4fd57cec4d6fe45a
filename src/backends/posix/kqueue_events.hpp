// kqueue's events turned into xpoll's, for the kqueue backend: what a knote
// carries (its udata), and the merger that makes one event per descriptor
// of the read and write knotes kevent() reports apart, carrying to the next
// wait what the caller's array cannot take.
#ifndef XPOLL_SRC_BACKENDS_POSIX_KQUEUE_EVENTS_HPP
#define XPOLL_SRC_BACKENDS_POSIX_KQUEUE_EVENTS_HPP

// sys/event.h needs sys/types.h before it on the BSDs.
#include <sys/types.h>

#include <poll.h>
#include <sys/event.h>

#include <cstdint>
#include <vector>

#include "core/backend.hpp"

namespace xpoll::detail::kq {

// udata is a void* on most systems and an intptr_t on NetBSD.
using Udata = decltype(((struct kevent*)nullptr)->udata);
// A knote's udata is its descriptor with the registration's generation above
// it. Where udata is 32 bits it carries the descriptor alone, and events are
// reported without the generation check (kNoGeneration).
constexpr bool kWideUdata = sizeof(Udata) >= sizeof(uint64_t);
constexpr uint64_t kWakeUdata = kWideUdata ? ~uint64_t{0} : 0xffffffffu;

inline uint64_t make_udata(xpoll_fd_t fd, uint32_t generation) {
  return (kWideUdata ? uint64_t{generation} << 32 : 0) | static_cast<uint32_t>(fd);
}
inline uint64_t from_udata(Udata u) { return (uint64_t)(uintptr_t)u; }

inline void set(struct kevent& k, int fd, short filter, unsigned short flags, uint64_t udata) {
  EV_SET(&k, static_cast<uintptr_t>(fd), filter, flags, 0, 0, (Udata)(uintptr_t)udata);
}

// What the backend knows of each descriptor number's knotes: the udata they
// carry now (a carried event under another one is stale, and must not
// re-enable them: on a BSD, EV_ENABLE also overwrites the udata), and under
// libkqueue the file they were made for, so that a number closed or reused
// since is known.
class KnoteTable {
 public:
  // Records fd's knotes as carrying `udata`, and with `file`, fd's file.
  // False when there was no memory for it.
  bool note(xpoll_fd_t fd, uint64_t udata, bool file) noexcept;
  // fd's knotes are gone (deleted, or the whole kqueue).
  void forget(xpoll_fd_t fd) noexcept;
  void forget_all() noexcept;
  // The udata fd's knotes carry now, or 0 for none.
  uint64_t udata(xpoll_fd_t fd) const noexcept;
  // Whether fd surely still names the file recorded for it (only where the
  // device and inode name one open file: a socket, an anonymous pipe).
  bool same_file(xpoll_fd_t fd) const noexcept;

 private:
  struct Entry {
    uint64_t udata;
    dev_t dev;
    ino_t ino;
    bool unique;  // the device and inode name one open file
  };
  std::vector<Entry> entries_;
};

// One descriptor's event, merged from its knotes.
struct Pending {
  uint64_t udata;  // the knote's: descriptor, and generation above it
  uint32_t events;
  bool edge;           // holds an EV_CLEAR knote's event: the kernel will not report it again
  uint8_t dispatched;  // EV_DISPATCH knotes taken (1 read, 2 write): disabled until re-enabled
};

// One waiter's knotes: what its kevent() fetched, and the merged events a
// wait had no room for, carried to the next wait given the same Fetch.
struct Fetch {
  std::vector<struct kevent> events;
  std::vector<Pending> carry;
};

// Merges, carries and reports what kevent() returned. Its own buffers are
// scratch for emit(), which runs under the core's lock.
class EventMerger {
 public:
  // Room in `f` for `fetch` knotes from one kevent(), and scratch for what
  // `f` may then hold. Returns 0 or XPOLL_ENOMEM.
  int reserve(Fetch& f, size_t fetch) noexcept;

  // Reports the carry and the first `fetched` knotes of f.events to `sink`,
  // and carries what does not fit. Wake knotes (`is_wake`) are only counted
  // in `woken`. Dispatched knotes found idle are re-enabled on `kq`.
  // Returns true when the caller's array filled up.
  bool emit(Fetch& f, EventSink& sink, int fetched, int kq, const KnoteTable& knotes,
            bool (*is_wake)(const struct kevent&), bool& woken) noexcept;

 private:
  static Pending pending_of(const struct kevent& k) noexcept;
  void merge(const struct kevent& k, int& merged) noexcept;
  void refresh_carry(std::vector<Pending>& carry, int kq, const KnoteTable& knotes) noexcept;

  std::vector<Pending> merged_;        // room for a carry and a full fetch
  std::vector<pollfd> pfd_;            // refresh_carry()'s poll set
  std::vector<struct kevent> enable_;  // refresh_carry()'s re-enables and their receipts
  std::vector<int> slot_;              // descriptor -> index in merged_, -1 between waits
};

}  // namespace xpoll::detail::kq

#endif  // XPOLL_SRC_BACKENDS_POSIX_KQUEUE_EVENTS_HPP
