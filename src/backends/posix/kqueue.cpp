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
// NOTE_TRIGGER, or a self-pipe where EVFILT_USER is missing. Several threads
// may block in kevent() at once, each with its own buffer and carry (a
// WaitSlot); the kernel hands each active knote to one of them, and a level
// one that is still active goes back on its queue, to be handed to the next.
// Under libkqueue one waiter at a time enters kevent(): with several at once
// it handed one dispatched knote to two of them, and with a thousand oneshot
// registrations re-armed by two waiters, half of them were never reported
// again (raw libkqueue, whose caller handles every report, duplicates too,
// lost none); one at a time, none were lost. Changes made under a blocked
// wait are not sent there either, but by the waiter, woken for them: sent
// from other threads meanwhile, a multi-threaded echo server lost hang-ups
// more often.
//
// The poller's descriptor (xpoll_fd) is the kqueue itself, which a kernel
// makes readable while events are pending, and which is never replaced
// there (only libkqueue's sets are rebuilt). libkqueue's kqueue descriptor
// never becomes readable: under it there is none (XPOLL_ENOTSUP).
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
#include <memory>
#include <vector>

#include "backends/posix/kqueue_events.hpp"
#include "core/backend.hpp"
#include "core/registry.hpp"
#include "platform/platform.hpp"

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

using kq::kWakeUdata;
using kq::set;

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

// One waiter's knotes, and what its wait() left for collect().
struct KqueueSlot final : WaitSlot {
  kq::Fetch fetch;
  int nready = 0;
  int fetch_max = 0;
  bool fetch_skipped = false;  // wait() left the kernel's knotes for collect()
  bool carried = false;        // prepare() found a carry: wait() does not block
};

class KqueueBackend final : public Backend {
 public:
  ~KqueueBackend() override {
    // A kqueue is not inherited by a forked child (libkqueue closes it there
    // too): in the child its number may be another's, a new kqueue's even.
    if (kq_ >= 0 && fork_generation() == fork_generation_) ::close(kq_);
  }

  int open() {
    if (!kUserFilter) {
      int rc = wake_.open();
      if (rc != 0) return rc;
    }
    int kq = -1;
    int rc = open_kqueue(kq);
    kq_ = kq;
    fork_generation_ = fork_generation();
    return rc;
  }

  // A kernel kqueue refuses EV_ADD of a closed descriptor with EBADF; an
  // emulation in user space (libkqueue) cannot tell, so it is asked here.
  // libkqueue cannot watch a directory (its epoll set refuses it): that is
  // the kind of file, as epoll's EPERM says.
  int admit(xpoll_fd_t fd) noexcept override {
    if (!kEmulated) return 0;
    struct stat st;
    if (!descriptor_open(fd) || fstat(fd, &st) != 0) return XPOLL_EBADF;
    return S_ISDIR(st.st_mode) ? XPOLL_EPERM : 0;
  }

  int apply(xpoll_fd_t fd, const KernelState& have, const KernelState& want, uint32_t generation,
            unsigned how) noexcept override {
    bool verify = (how & kVerify) != 0;
    struct kevent ch[4];
    int n = 0;
    bool deleting = false;
    uint64_t data = kq::make_udata(fd, generation);
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
      bool renew =
          had ? (!wanted || verify || fresh || mode != mode_flags(have.interest, filter)) : (verify && !wanted);
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
    if (kEmulated && deleting && have.on && !knotes_.same_file(fd)) return kRebuild;
    bool lingers = kEmulated && deleting;
    if (batching_) {
      if (!note(fd, want, data)) return XPOLL_ENOMEM;
      try {
        batch_.insert(batch_.end(), ch, ch + n);
      } catch (...) {
        return XPOLL_ENOMEM;
      }
      return lingers ? kMayLinger : 0;
    }
    if (!note(fd, want, data)) return XPOLL_ENOMEM;
    struct kevent out[4];
    struct timespec zero = {0, 0};
    int got = kevent(kq_, ch, n, out, n, &zero);
    if (got < 0) return from_errno(errno);
    int rc = 0;
    for (int i = 0; i < got && rc == 0; ++i)
      if (refusal(out[i], ch[i].flags)) rc = from_errno(static_cast<int>(out[i].data));
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

  WaitSlot* make_slot() override { return slots_.make(); }

  bool has_carry(const WaitSlot* slot) const noexcept override {
    return !static_cast<const KqueueSlot*>(slot)->fetch.carry.empty();
  }

  int prepare(WaitSlot* slot, int max) noexcept override {
    auto* s = static_cast<KqueueSlot*>(slot);
    // A descriptor can bring two knotes, so up to twice the caller's array
    // is asked for, and one more for the wake: with fewer, its write knote
    // could wait in the kernel for the next call while its read knote is
    // reported alone (libkqueue even drops it). What then does not fit is
    // carried to the next wait (which does not block), never dropped: an
    // edge or oneshot knote taken from the kernel exists nowhere else.
    s->fetch_max = 2 * max + 1;
    if (merger_.reserve(s->fetch, static_cast<size_t>(s->fetch_max)) != 0) return XPOLL_ENOMEM;
    // The carry alone fills the caller's array: take nothing new. This keeps
    // the carry below twice the largest array seen.
    size_t carried = s->fetch.carry.size();
    s->fetch_skipped = carried >= static_cast<size_t>(max);
    s->carried = carried > 0;
    s->nready = 0;
    return 0;
  }

  int wait(WaitSlot* slot, int, int64_t timeout_ns) noexcept override {
    auto* s = static_cast<KqueueSlot*>(slot);
    if (s->fetch_skipped) return 0;
    struct timespec ts, *pts = nullptr;
    if (timeout_ns >= 0 || s->carried) {
      ts = to_timespec(s->carried ? 0 : timeout_ns);
      pts = &ts;
    }
    int n = kevent(kq_, nullptr, 0, s->fetch.events.data(), s->fetch_max, pts);
    if (n < 0) return from_errno(errno);
    s->nready = n;
    return 0;
  }

  void collect(WaitSlot* slot, EventSink& sink) noexcept override {
    auto* s = static_cast<KqueueSlot*>(slot);
    bool woken = false;
    bool full = merger_.emit(s->fetch, sink, s->nready, kq_, knotes_, is_wake, woken);
    // The carry did not fill the array after all (its registrations were
    // removed or disarmed since): take what the kernel has, without waiting.
    if (!full && s->fetch_skipped) {
      struct timespec zero = {0, 0};
      int n = kevent(kq_, nullptr, 0, s->fetch.events.data(), s->fetch_max, &zero);
      merger_.emit(s->fetch, sink, n > 0 ? n : 0, kq_, knotes_, is_wake, woken);
    }
    s->fetch_skipped = false;
    s->nready = 0;
    if (woken) {
      if (!kUserFilter) wake_.drain();
      sink.woken();
    }
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
    knotes_.forget_all();
    // A wake triggered on the old kqueue would be lost with it (the core
    // believes it pending and signals no more): trigger the new one. A wake
    // too many is harmless; one lost would leave a waiter asleep.
    if (kUserFilter) trigger(fresh);
    ::close(old);
    return 0;
  }

  int poll_fd() noexcept override { return kEmulated ? XPOLL_ENOTSUP : kq_.load(); }

  bool owns(xpoll_fd_t fd) const noexcept override { return fd == kq_ || wake_.owns(fd); }

 private:
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

  // The wake: EVFILT_USER's knote, or the self-pipe's read knote.
  static bool is_wake(const struct kevent& k) {
    return kq::from_udata(k.udata) == kWakeUdata ||
           (kUserFilter && k.filter != EVFILT_READ && k.filter != EVFILT_WRITE);
  }

  // Records what fd's knotes carry now (and under libkqueue, their file).
  bool note(xpoll_fd_t fd, const KernelState& want, uint64_t udata) noexcept {
    if (!wanted_any(want)) {
      knotes_.forget(fd);
      return true;
    }
    return knotes_.note(fd, udata, kEmulated);
  }

  static bool wanted_any(const KernelState& want) { return enabled(want, EVFILT_READ) || enabled(want, EVFILT_WRITE); }

  std::atomic<int> kq_{-1};  // signal() reads it from any thread; reset() replaces it
  WakeChannel wake_;         // only where EVFILT_USER is missing
  kq::EventMerger merger_;
  SlotStore<KqueueSlot> slots_;
  kq::KnoteTable knotes_;  // what each descriptor's knotes carry, and under libkqueue their file
  std::vector<struct kevent> batch_, receipts_;
  bool batching_ = false;
  unsigned fork_generation_ = 0;  // the process's at open(): the kqueue is that process's
};

// Native oneshot: EV_DISPATCH disables a knote as it is reported, so the
// core records the pause itself, and a modify back to the same interest
// re-enables it. (The other knote of the descriptor may still fire once; the
// core drops that report, and EV_DISPATCH then disables it too.)
// Several waiters block in kevent() at once on a kernel's kqueue; under
// libkqueue one at a time (see the header comment).
constexpr uint32_t kKqueueCaps = XPOLL_CAP_ONESHOT | XPOLL_CAP_EDGE | XPOLL_CAP_RDHUP | XPOLL_CAP_NONSOCKET |
                                 XPOLL_CAP_UNBOUNDED | (kEmulated ? 0 : XPOLL_CAP_LIVE_CHANGES) | XPOLL_CAP_NS_TIMEOUT |
                                 (kEmulated ? 0 : XPOLL_CAP_FD) | kCapNativeOneshot | kCapKernelState | kCapWaitSlots |
                                 kCapCarry | (kEmulated ? 0 : kCapConcurrentWait);

}  // namespace

extern const BackendInfo kqueue_backend_info = {"kqueue", open_backend<KqueueBackend>, kKqueueCaps, -1};

}  // namespace xpoll::detail
