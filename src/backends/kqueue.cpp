// kqueue backend: macOS, FreeBSD, NetBSD, OpenBSD, DragonFly; on Linux
// against libkqueue.
//
// Strategy: one EVFILT_READ and one EVFILT_WRITE knote per descriptor, as its
// interest asks; kevent() reports them separately and the backend merges the
// two into one event per descriptor. Level by default, EV_CLEAR for edge,
// EV_DISPATCH for oneshot (the core disarms the other filter before the next
// wait). An add is applied at once with EV_RECEIPT, so the caller gets the
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
#include <errno.h>
#include <fcntl.h>
#include <sys/event.h>
#include <sys/time.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

#include "../backend.hpp"
#include "../platform.hpp"
#include "../registry.hpp"

namespace xpoll::detail {

namespace {

constexpr uint64_t kWakeTag = ~uint64_t{0};

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

void set(struct kevent& k, int fd, short filter, unsigned short flags, uint64_t tag) {
  EV_SET(&k, static_cast<uintptr_t>(fd), filter, flags, 0, 0, to_udata<Udata>(tag));
}

bool reads(uint32_t state) { return state && !(state & kPaused) && (state & (XPOLL_IN | XPOLL_RDHUP)); }
bool writes(uint32_t state) { return state && !(state & kPaused) && (state & XPOLL_OUT); }

unsigned short mode_flags(uint32_t want, short filter) {
  unsigned short f = 0;
  if (want & XPOLL_EDGE) f |= EV_CLEAR;
  if (want & XPOLL_ONESHOT) f |= EV_DISPATCH;
  // RDHUP alone: data must not make a level read filter fire forever.
  if (filter == EVFILT_READ && !(want & XPOLL_IN)) f |= EV_CLEAR;
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
    return open_kqueue(kq_);
  }

  const char* name() const noexcept override { return "kqueue"; }
  uint32_t caps() const noexcept override;

  // A kernel kqueue refuses EV_ADD of a closed descriptor with EBADF; an
  // emulation in user space (libkqueue) cannot tell, so it is asked here.
  int admit(xpoll_fd_t fd) noexcept override { return kEmulated && !descriptor_open(fd) ? XPOLL_EBADF : 0; }

  int apply(xpoll_fd_t fd, uint32_t have, uint32_t want, uint32_t tag, bool verify) noexcept override {
    struct kevent ch[4];
    int n = 0;
    bool deleting = false;
    uint64_t data = (uint64_t{tag} << 32) | static_cast<uint32_t>(fd);
    for (short filter : {EVFILT_READ, EVFILT_WRITE}) {
      bool had = filter == EVFILT_READ ? reads(have) : writes(have);
      bool wanted = filter == EVFILT_READ ? reads(want) : writes(want);
      unsigned short mode = mode_flags(want, filter);
      // EV_ADD on an existing knote re-enables it but keeps the EV_CLEAR and
      // EV_DISPATCH it was made with, and under libkqueue its udata too: a
      // change of mode or of tag (a verify) deletes it first, in the same
      // call. That also drops a knote libkqueue kept for a closed number.
      if ((had && (!wanted || verify || mode != mode_flags(have, filter))) || (verify && !wanted)) {
        set(ch[n++], fd, filter, EV_DELETE | EV_RECEIPT, 0);
        deleting = true;
      }
      if (wanted) set(ch[n++], fd, filter, EV_ADD | EV_ENABLE | EV_RECEIPT | mode, data);
    }
    if (n == 0) return 0;
    // libkqueue keeps its knotes in an epoll set, where a file still open
    // elsewhere outlives its number and its deletion: after any delete the
    // old registration may linger, and the core must know.
    bool lingers = kEmulated && deleting;
    if (batching_) {
      try {
        batch_.insert(batch_.end(), ch, ch + n);
      } catch (...) {
        return XPOLL_ENOMEM;
      }
      return lingers ? kMayLinger : 0;
    }
    struct kevent out[4];
    struct timespec zero = {0, 0};
    int got = kevent(kq_, ch, n, out, n, &zero);
    if (got < 0) return from_errno(errno);
    int rc = first_error(out, got);
    return rc == 0 && lingers ? kMayLinger : rc;
  }

  void begin_batch() noexcept override {
    batching_ = true;
    batch_.clear();
  }

  void end_batch(void (*refused)(void*, xpoll_fd_t), void* ctx) noexcept override {
    batching_ = false;
    if (batch_.empty()) return;
    try {
      receipts_.resize(batch_.size());
    } catch (...) {
      // Without room for receipts, send them one at a time.
      for (struct kevent& k : batch_) {
        struct timespec zero = {0, 0};
        struct kevent out;
        if (kevent(kq_, &k, 1, &out, 1, &zero) == 1 && refusal(out)) refused(ctx, static_cast<int>(out.ident));
      }
      return;
    }
    struct timespec zero = {0, 0};
    int got = kevent(kq_, batch_.data(), static_cast<int>(batch_.size()), receipts_.data(),
                     static_cast<int>(receipts_.size()), &zero);
    for (int i = 0; i < got; ++i)
      if (refusal(receipts_[i])) refused(ctx, static_cast<int>(receipts_[i].ident));
  }

  int wait(int max, int timeout_ms) noexcept override {
    if (events_.size() < static_cast<size_t>(max)) {
      try {
        events_.resize(max);
        merged_.resize(max);
      } catch (...) {
        return XPOLL_ENOMEM;
      }
    }
    struct timespec ts, *pts = nullptr;
    if (timeout_ms >= 0) {
      ts.tv_sec = timeout_ms / 1000;
      ts.tv_nsec = (timeout_ms % 1000) * 1000000L;
      pts = &ts;
    }
    // Never more than the caller can take: an edge event taken and not
    // reported would be lost.
    int n = kevent(kq_, nullptr, 0, events_.data(), max, pts);
    if (n < 0) return from_errno(errno);
    nready_ = n;
    return 0;
  }

  void collect(EventSink& sink) noexcept override {
    // kevent() reports the read and write knotes of a descriptor apart:
    // merge them into one event, through a slot per descriptor number.
    int merged = 0;
    for (int i = 0; i < nready_; ++i) {
      const struct kevent& k = events_[i];
      uint64_t tag = from_udata(k.udata);
      if (tag == kWakeTag || (kUserFilter && k.filter != EVFILT_READ && k.filter != EVFILT_WRITE)) {
        if (!kUserFilter) wake_.drain();
        sink.woken();
        continue;
      }
      size_t fd = static_cast<size_t>(k.ident);
      if (fd >= slot_.size()) {
        try {
          slot_.resize(std::max(fd + 1, slot_.size() * 2), -1);
        } catch (...) {
          merged_[merged++] = Pending{tag, translate(k)};  // unmerged rather than lost
          continue;
        }
      }
      int& s = slot_[fd];
      if (s >= 0 && merged_[s].tag == tag) {
        merged_[s].events |= translate(k);
      } else {
        s = merged;
        merged_[merged++] = Pending{tag, translate(k)};
      }
    }
    for (int i = 0; i < merged; ++i) {
      int fd = static_cast<int>(merged_[i].tag & 0xffffffffu);
      if (static_cast<size_t>(fd) < slot_.size()) slot_[fd] = -1;
      sink.emit(fd, merged_[i].events, merged_[i].tag >> 32);
    }
    nready_ = 0;
  }

  int signal() noexcept override {
    if (!kUserFilter) return wake_.signal();
    struct kevent k;
    set_user(k, 0, NOTE_TRIGGER_VALUE);
    return kevent(kq_, &k, 1, nullptr, 0, nullptr) < 0 ? from_errno(errno) : 0;
  }

  int reset() noexcept override {
    int fresh = -1;
    int rc = open_kqueue(fresh);
    if (rc != 0) return rc;
    ::close(kq_);
    kq_ = fresh;
    return 0;
  }

  bool owns(xpoll_fd_t fd) const noexcept override { return fd == kq_ || wake_.owns(fd); }

 private:
  struct Pending {
    uint64_t tag;
    uint32_t events;
  };

#if defined(NOTE_TRIGGER)
  static constexpr unsigned NOTE_TRIGGER_VALUE = NOTE_TRIGGER;
#else
  static constexpr unsigned NOTE_TRIGGER_VALUE = 0;
#endif

  int open_kqueue(int& out) noexcept {
    int kq = kqueue();
    if (kq < 0) return from_errno(errno);
    fcntl(kq, F_SETFD, FD_CLOEXEC);
    struct kevent k;
    if (kUserFilter)
      set_user(k, EV_ADD | EV_CLEAR, 0);
    else
      set(k, wake_.read_fd(), EVFILT_READ, EV_ADD, kWakeTag);
    if (kevent(kq, &k, 1, nullptr, 0, nullptr) < 0) {
      int rc = from_errno(errno);
      ::close(kq);
      return rc;
    }
    out = kq;
    return 0;
  }

  // A receipt that reports a refused change. Deleting a knote that is not
  // there is not a refusal; deleting one whose descriptor was closed is not
  // either in a kernel (close dropped it), but is under libkqueue (it may
  // linger in its epoll set, and the core must know).
  static bool refusal(const struct kevent& k) {
    if (!(k.flags & EV_ERROR) || k.data == 0 || k.data == ENOENT) return false;
    return !(k.data == EBADF && (k.flags & EV_DELETE) && !kEmulated);
  }

  static int first_error(const struct kevent* out, int n) {
    for (int i = 0; i < n; ++i)
      if (refusal(out[i])) return from_errno(static_cast<int>(out[i].data));
    return 0;
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

  int kq_ = -1;
  WakeChannel wake_;  // only where EVFILT_USER is missing
  std::vector<struct kevent> events_;
  std::vector<Pending> merged_;  // as large as events_
  std::vector<int> slot_;        // descriptor -> index in merged_, -1 between waits
  std::vector<struct kevent> batch_, receipts_;
  bool batching_ = false;
  int nready_ = 0;
};

constexpr uint32_t kKqueueCaps = XPOLL_CAP_ONESHOT | XPOLL_CAP_EDGE | XPOLL_CAP_RDHUP | XPOLL_CAP_NONSOCKET |
                                 XPOLL_CAP_UNBOUNDED | XPOLL_CAP_LIVE_CHANGES | kCapKernelState;

uint32_t KqueueBackend::caps() const noexcept { return kKqueueCaps; }

}  // namespace

extern const BackendInfo kqueue_backend_info = {"kqueue", open_backend<KqueueBackend>, kKqueueCaps, -1};

}  // namespace xpoll::detail
