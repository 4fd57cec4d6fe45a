// kqueue backend: macOS, FreeBSD, NetBSD, OpenBSD, DragonFly; on Linux
// against libkqueue.
//
// Strategy: one EVFILT_READ and one EVFILT_WRITE knote per descriptor, as its
// interest asks; kevent() reports them separately and the backend merges the
// two into one event per descriptor. Level by default, EV_CLEAR for edge,
// EV_DISPATCH for oneshot. An add is applied at once with EV_RECEIPT, so the caller gets the
// kernel's verdict; the changes the core queues for the next wait are sent in
// one kevent() call. The knote's udata carries the descriptor and the
// registration's generation. The wake is an EVFILT_USER knote triggered with
// NOTE_TRIGGER, or a self-pipe where EVFILT_USER is missing.
//
// Known limits: a registration with no interest reports nothing (kqueue has
// no filter for errors alone), and RDHUP without IN is edge-triggered, so that
// pending data cannot make it spin. EV_EOF on the read filter is reported as
// RDHUP, on the write filter as HUP. A kqueue is not inherited by a forked
// child. Under libkqueue, kevent() takes locks, so xpoll_wake() is not
// async-signal-safe there.
// sys/event.h needs sys/types.h before it on the BSDs: its own block, so
// that sorting keeps it first.
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/event.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <vector>

#include "core/backend.hpp"
#include "platform/platform.hpp"
#include "core/registry.hpp"

namespace xpoll::detail {

namespace {

#if defined(XPOLL_KQUEUE_EMULATED)
constexpr bool kEmulated = true;
#else
constexpr bool kEmulated = false;
#endif

// XPOLL_KQUEUE_PIPE_WAKE (a test option) takes the self-pipe path where
// EVFILT_USER exists, so that the path of systems without it is tested.
#if defined(EVFILT_USER) && !defined(XPOLL_KQUEUE_PIPE_WAKE)
constexpr bool kUserFilter = true;
void set_user(struct kevent& k, unsigned short flags, unsigned fflags) {
  EV_SET(&k, 1, EVFILT_USER, flags, fflags, 0, 0);
}
#else
constexpr bool kUserFilter = false;
void set_user(struct kevent&, unsigned short, unsigned) {}
#endif

// udata is a void* on most systems and an intptr_t on NetBSD.
template <class U>
U to_udata(uint64_t v) {
  return (U)(uintptr_t)v;
}
template <class U>
uint64_t from_udata(U u) {
  return (uint64_t)(uintptr_t)u;
}

using Udata = decltype(((struct kevent*)nullptr)->udata);
// Where udata is 32 bits (32-bit systems) it carries the descriptor alone,
// and events are reported without the generation check (kNoGeneration).
constexpr bool kWideUdata = sizeof(Udata) >= sizeof(uint64_t);
constexpr uint64_t kWakeUdata = kWideUdata ? ~uint64_t{0} : 0xffffffffu;

void set(struct kevent& k, int fd, short filter, unsigned short flags, uint64_t udata) {
  EV_SET(&k, static_cast<uintptr_t>(fd), filter, flags, 0, 0, to_udata<Udata>(udata));
}

// Whether a state has a knote for the filter (a paused oneshot keeps it,
// disabled by EV_DISPATCH), and whether that knote is enabled.
bool exists(const KernelState& state, short filter) {
  return state.on && (state.interest & (filter == EVFILT_READ ? XPOLL_IN | XPOLL_RDHUP : XPOLL_OUT));
}
bool enabled(const KernelState& state, short filter) { return exists(state, filter) && !state.paused; }

unsigned short mode_flags(uint32_t want, short filter) {
  unsigned short f = 0;
  if (want & XPOLL_EDGE) f |= EV_CLEAR;
  // RDHUP alone: data must neither make a level read filter fire forever
  // nor, dispatched, disable it before the end of file it waits for. It is
  // edge-triggered; the core drops its reports while a oneshot is disarmed.
  if (filter == EVFILT_READ && !(want & XPOLL_IN))
    f |= EV_CLEAR;
  else if (want & XPOLL_ONESHOT)
    f |= EV_DISPATCH;
  return f;
}

class KqueueBackend final : public Backend {
 public:
  ~KqueueBackend() override {
    if (kq_ >= 0) ::close(kq_);
  }

  int open() {
    if (!kUserFilter) {
      int rc = wake_.open();
      if (rc != 0) return rc;
    }
    int kq = -1;
    int rc = open_kqueue(kq);
    kq_ = kq;
    return rc;
  }


  // A kernel kqueue refuses EV_ADD of a closed descriptor with EBADF; an
  // emulation in user space (libkqueue) cannot tell, so it is asked here.
  int admit(xpoll_fd_t fd) noexcept override { return kEmulated && !descriptor_open(fd) ? XPOLL_EBADF : 0; }

  int apply(xpoll_fd_t fd, const KernelState& have, const KernelState& want, uint32_t generation,
            unsigned how) noexcept override {
    bool verify = (how & kVerify) != 0;
    struct kevent ch[4];
    int n = 0;
    bool deleting = false;
    uint64_t data = (kWideUdata ? uint64_t{generation} << 32 : 0) | static_cast<uint32_t>(fd);
    for (short filter : {EVFILT_READ, EVFILT_WRITE}) {
      bool had = exists(have, filter);
      bool wanted = enabled(want, filter);
      unsigned short mode = mode_flags(want.interest, filter);
      // EV_ADD on an existing knote keeps the EV_CLEAR and EV_DISPATCH it
      // was made with, and under libkqueue its udata too; and re-enabling one
      // that a oneshot report left enabled (only one of the two fired) is
      // refused by libkqueue with EAGAIN. So a change of mode, of generation (a
      // verify), or a re-arm deletes the knote and adds it afresh, in the same
      // call. That also drops a knote libkqueue kept for a closed number.
      // An edge registration made anew (kRenew) is deleted and added too:
      // the new knote reports what is ready now.
      bool rearm = have.paused && wanted;
      bool fresh = rearm || (how & kRenew);
      bool renew = had ? (!wanted || verify || fresh || mode != mode_flags(have.interest, filter)) : (verify && !wanted);
      if (renew) {
        set(ch[n++], fd, filter, EV_DELETE | EV_RECEIPT, 0);
        deleting = true;
      }
      // A knote that exists, enabled, with the same mode and generation is left
      // alone: re-adding it changes nothing (and libkqueue answers EAGAIN).
      if (wanted && (!had || renew)) set(ch[n++], fd, filter, EV_ADD | EV_RECEIPT | mode, data);  // starts enabled
    }
    if (n == 0) return 0;
    // libkqueue keeps its knotes in an epoll set, where a file still open
    // elsewhere outlives its number and its deletion: after any delete the
    // old registration may linger, and the core must know. Worse, when the
    // number no longer names the file the knote was made for, EV_DELETE
    // frees the knote while the epoll set may go on reporting it (a read of
    // freed memory in its next kevent()): then nothing is sent and the core
    // rebuilds the set instead.
    if (kEmulated && deleting && have.on && !same_file(fd)) return kRebuild;
    bool lingers = kEmulated && deleting;
    if (batching_) {
      if (kEmulated && wanted_any(want) && !note_file(fd)) return XPOLL_ENOMEM;
      try {
        batch_.insert(batch_.end(), ch, ch + n);
      } catch (...) {
        return XPOLL_ENOMEM;
      }
      return lingers ? kMayLinger : 0;
    }
    if (kEmulated && wanted_any(want) && !note_file(fd)) return XPOLL_ENOMEM;
    struct kevent out[4];
    struct timespec zero = {0, 0};
    int got = kevent(kq_, ch, n, out, n, &zero);
    if (got < 0) return from_errno(errno);
    int rc = 0;
    for (int i = 0; i < got && rc == 0; ++i)
      if (refusal(out[i], ch[i].flags)) rc = from_errno(static_cast<int>(out[i].data));
    // libkqueue answers EBADF for an open file it cannot watch (a directory,
    // which its epoll set refuses): that is the kind of file, as epoll's EPERM says.
    if (kEmulated && rc == XPOLL_EBADF && descriptor_open(fd)) rc = XPOLL_EPERM;
    return rc == 0 && lingers ? kMayLinger : rc;
  }

  void begin_batch(size_t count) noexcept override {
    // Room for every change (at most four knote changes each) and its
    // receipt, so that apply() and end_batch() never allocate; without it,
    // each change goes to the kernel on its own.
    batch_.clear();
    try {
      batch_.reserve(4 * count);
      receipts_.reserve(4 * count);
      batching_ = true;
    } catch (...) {
      batching_ = false;
    }
  }

  void end_batch(void (*refused)(void*, xpoll_fd_t), void* ctx) noexcept override {
    batching_ = false;
    if (batch_.empty()) return;
    receipts_.resize(batch_.size());  // within the capacity begin_batch() reserved
    struct timespec zero = {0, 0};
    int got = kevent(kq_, batch_.data(), static_cast<int>(batch_.size()), receipts_.data(),
                     static_cast<int>(receipts_.size()), &zero);
    // Receipts come in the order of the changes; FreeBSD overwrites their
    // flags with EV_ERROR, so the change's own flags are the ones to read.
    for (int i = 0; i < got; ++i)
      if (refusal(receipts_[i], batch_[i].flags)) refused(ctx, static_cast<int>(receipts_[i].ident));
  }

  int wait(int max, int timeout_ms) noexcept override {
    // A descriptor can bring two knotes, so up to twice the caller's array
    // is asked for: with fewer, its write knote could wait in the kernel for
    // the next call while its read knote is reported alone. What then does
    // not fit is carried to the next wait (which does not block), never
    // dropped: an edge or oneshot knote taken from the kernel exists nowhere else.
    size_t want = 2 * static_cast<size_t>(max);
    if (events_.size() < want || merged_.size() < 2 * want || pfd_.size() < 2 * want || carry_.capacity() < 2 * want ||
        enable_.size() < 4 * want) {
      try {
        events_.resize(want);
        merged_.resize(2 * want);
        carry_.reserve(2 * want);
        pfd_.resize(2 * want);
        enable_.resize(4 * want);
      } catch (...) {
        return XPOLL_ENOMEM;
      }
    }
    // The carry alone fills the caller's array: take nothing new. This keeps
    // the carry below twice the largest array seen, within merged_.
    fetch_max_ = static_cast<int>(want);
    if (carry_.size() >= static_cast<size_t>(max)) {
      nready_ = 0;
      fetch_skipped_ = true;
      return 0;
    }
    struct timespec ts, *pts = nullptr;
    if (timeout_ms >= 0 || !carry_.empty()) {
      int ms = carry_.empty() ? timeout_ms : 0;
      ts.tv_sec = ms / 1000;
      ts.tv_nsec = (ms % 1000) * 1000000L;
      pts = &ts;
    }
    int n = kevent(kq_, nullptr, 0, events_.data(), static_cast<int>(want), pts);
    if (n < 0) return from_errno(errno);
    nready_ = n;
    return 0;
  }

  void collect(EventSink& sink) noexcept override {
    bool full = merge_and_emit(sink);
    // The carry did not fill the array after all (its registrations were
    // removed or disarmed since): take what the kernel has, without waiting.
    if (!full && fetch_skipped_) {
      struct timespec zero = {0, 0};
      int n = kevent(kq_, nullptr, 0, events_.data(), fetch_max_, &zero);
      nready_ = n > 0 ? n : 0;
      merge_and_emit(sink);
    }
    fetch_skipped_ = false;
  }

  // Reports the carry and the knotes fetched; carries what does not fit.
  // Returns true when the caller's array filled up.
  bool merge_and_emit(EventSink& sink) noexcept {
    // kevent() reports the read and write knotes of a descriptor apart:
    // merge them into one event, through a slot per descriptor number,
    // starting from what the last wait carried over.
    int merged = 0;
    refresh_carry();
    for (const Pending& c : carry_) {
      size_t fd = static_cast<size_t>(c.udata & 0xffffffffu);
      if (fd < slot_.size()) slot_[fd] = merged;
      merged_[merged++] = c;
    }
    carry_.clear();
    for (int i = 0; i < nready_; ++i) {
      const struct kevent& k = events_[i];
      uint64_t udata = from_udata(k.udata);
      if (udata == kWakeUdata || (kUserFilter && k.filter != EVFILT_READ && k.filter != EVFILT_WRITE)) {
        if (!kUserFilter) wake_.drain();
        sink.woken();
        continue;
      }
      size_t fd = static_cast<size_t>(k.ident);
      if (fd >= slot_.size()) {
        try {
          slot_.resize(std::max(fd + 1, slot_.size() * 2), -1);
        } catch (...) {
          merged_[merged++] =
              Pending{udata, translate(k), (k.flags & EV_CLEAR) != 0, knote_bit(k)};  // unmerged, not lost
          continue;
        }
      }
      int& s = slot_[fd];
      if (s >= 0 && merged_[s].udata == udata) {
        merged_[s].events |= translate(k);
        merged_[s].edge |= (k.flags & EV_CLEAR) != 0;
        merged_[s].dispatched |= knote_bit(k);
      } else {
        s = merged;
        merged_[merged++] = Pending{udata, translate(k), (k.flags & EV_CLEAR) != 0, knote_bit(k)};
      }
    }
    bool full = false;
    for (int i = 0; i < merged; ++i) {
      const Pending& m = merged_[i];
      int fd = static_cast<int>(m.udata & 0xffffffffu);
      if (static_cast<size_t>(fd) < slot_.size()) slot_[fd] = -1;
      if (full)
        carry_.push_back(m);  // within the capacity wait() reserved
      else
        full = sink.emit(fd, m.events, kWideUdata ? m.udata >> 32 : kNoGeneration) == EventSink::kFull;
    }
    nready_ = 0;
    return full;
  }

  int signal() noexcept override {
    if (!kUserFilter) return wake_.signal();
    return trigger(kq_.load());
  }

  int reset() noexcept override {
    int fresh = -1;
    int rc = open_kqueue(fresh);
    if (rc != 0) return rc;
    int old = kq_.exchange(fresh);
    // A wake triggered on the old kqueue would be lost with it (the core
    // believes it pending and signals no more): trigger the new one. A wake
    // too many is harmless; one lost would leave a waiter asleep.
    if (kUserFilter) trigger(fresh);
    ::close(old);
    return 0;
  }

  bool owns(xpoll_fd_t fd) const noexcept override { return fd == kq_ || wake_.owns(fd); }

 private:
  struct Pending {
    uint64_t udata;      // the knote's: descriptor, and generation above it
    uint32_t events;
    bool edge;           // holds an EV_CLEAR knote's event: the kernel will not report it again
    uint8_t dispatched;  // EV_DISPATCH knotes taken (1 read, 2 write): disabled until re-enabled
  };

#if defined(NOTE_TRIGGER)
  static constexpr unsigned NOTE_TRIGGER_VALUE = NOTE_TRIGGER;
#else
  static constexpr unsigned NOTE_TRIGGER_VALUE = 0;
#endif

  static int trigger(int kq) noexcept {
    struct kevent k;
    set_user(k, 0, NOTE_TRIGGER_VALUE);
    return kevent(kq, &k, 1, nullptr, 0, nullptr) < 0 ? from_errno(errno) : 0;
  }

  int open_kqueue(int& out) noexcept {
    int kq = kqueue();
    if (kq < 0) return from_errno(errno);
    fcntl(kq, F_SETFD, FD_CLOEXEC);
    struct kevent k;
    if (kUserFilter)
      set_user(k, EV_ADD | EV_CLEAR, 0);
    else
      set(k, wake_.read_fd(), EVFILT_READ, EV_ADD, kWakeUdata);
    if (kevent(kq, &k, 1, nullptr, 0, nullptr) < 0) {
      int rc = from_errno(errno);
      ::close(kq);
      return rc;
    }
    out = kq;
    return 0;
  }

  // A receipt that reports a refused change (`change` is the flags sent).
  // Deleting a knote that is not there is not a refusal; deleting one whose
  // descriptor was closed is not either in a kernel (close dropped it), but
  // is under libkqueue (it may linger in its epoll set, and the core must know).
  static bool refusal(const struct kevent& k, unsigned short change) {
    if (!(k.flags & EV_ERROR) || k.data == 0 || k.data == ENOENT) return false;
    return !(k.data == EBADF && (change & EV_DELETE) && !kEmulated);
  }

  // A carried event was true when the kernel gave it, and may not be now:
  // one poll() says what holds now. A closed descriptor is dropped (its
  // close dropped its knotes too); a level or oneshot event becomes what is
  // ready now, and a dispatched knote with nothing left is re-enabled,
  // so that the kernel watches it again; an edge is kept as it is.
  void refresh_carry() noexcept {
    if (carry_.empty()) return;
    size_t n = carry_.size();
    for (size_t i = 0; i < n; ++i) pfd_[i] = pollfd{static_cast<int>(carry_[i].udata & 0xffffffffu), POLLIN | POLLOUT, 0};
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
        for (short filter : {EVFILT_READ, EVFILT_WRITE}) {
          uint8_t bit = filter == EVFILT_READ ? 1 : 2;
          bool gone = filter == EVFILT_READ ? !readable : !writable;
          if ((c.dispatched & bit) && gone)
            set(enable_[renable++], pfd_[i].fd, filter, EV_ENABLE | EV_RECEIPT, c.udata);
        }
        if (!(c.events & (XPOLL_IN | XPOLL_OUT))) continue;
      }
      carry_[kept++] = c;
    }
    carry_.resize(kept);
    // In a buffer of their own: events_ still holds what this wait fetched.
    if (renable > 0) {
      struct timespec zero = {0, 0};
      kevent(kq_, enable_.data(), renable, enable_.data(), renable, &zero);
    }
  }

  static bool wanted_any(const KernelState& want) { return enabled(want, EVFILT_READ) || enabled(want, EVFILT_WRITE); }

  // Under libkqueue: the file (device and inode) each descriptor number's
  // knotes were made for, so that a number closed or reused since is known.
  struct FileId {
    dev_t dev;
    ino_t ino;
  };
  static bool file_of(xpoll_fd_t fd, FileId& id) {
    struct stat st;
    if (fstat(fd, &st) != 0) return false;
    id = FileId{st.st_dev, st.st_ino};
    return true;
  }
  bool note_file(xpoll_fd_t fd) noexcept {
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
  bool same_file(xpoll_fd_t fd) const noexcept {
    FileId id{};
    size_t i = static_cast<size_t>(fd);
    return file_of(fd, id) && i < files_.size() && files_[i].dev == id.dev && files_[i].ino == id.ino;
  }

  static uint8_t knote_bit(const struct kevent& k) {
    if (!(k.flags & EV_DISPATCH)) return 0;
    return k.filter == EVFILT_READ ? 1 : 2;
  }

  static uint32_t translate(const struct kevent& k) {
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

  std::atomic<int> kq_{-1};  // signal() reads it from any thread; reset() replaces it
  WakeChannel wake_;         // only where EVFILT_USER is missing
  std::vector<struct kevent> events_;
  std::vector<Pending> merged_;  // room for a carry and a full events_
  std::vector<Pending> carry_;   // merged events the last wait had no room for
  std::vector<pollfd> pfd_;      // refresh_carry()'s poll set
  std::vector<struct kevent> enable_;  // refresh_carry()'s re-enables and their receipts
  std::vector<FileId> files_;          // under libkqueue: descriptor -> file its knotes watch
  std::vector<int> slot_;        // descriptor -> index in merged_, -1 between waits
  std::vector<struct kevent> batch_, receipts_;
  bool batching_ = false;
  bool fetch_skipped_ = false;  // wait() left the kernel's knotes for collect()
  int fetch_max_ = 0;
  int nready_ = 0;
};

// Native oneshot: EV_DISPATCH disables a knote as it is reported, so the
// core records the pause itself, and a modify back to the same interest
// re-enables it. (The other knote of the descriptor may still fire once; the
// core drops that report, and EV_DISPATCH then disables it too.)
constexpr uint32_t kKqueueCaps = XPOLL_CAP_ONESHOT | XPOLL_CAP_EDGE | XPOLL_CAP_RDHUP | XPOLL_CAP_NONSOCKET |
                                 XPOLL_CAP_UNBOUNDED | XPOLL_CAP_LIVE_CHANGES | kCapNativeOneshot | kCapKernelState;

}  // namespace

extern const BackendInfo kqueue_backend_info = {"kqueue", open_backend<KqueueBackend>, kKqueueCaps, -1};

}  // namespace xpoll::detail
