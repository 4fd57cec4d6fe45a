// select backend: every POSIX system.
//
// Strategy: the read and write sets are bit arrays sized for the highest
// registered descriptor rather than fd_set, whose FD_SETSIZE (1024) bit
// array would be overrun by any larger descriptor. Linux, macOS (with
// _DARWIN_UNLIMITED_SELECT) and FreeBSD read as many bits as nfds says; on
// other systems a descriptor at or above FD_SETSIZE is refused with
// XPOLL_ERANGE. Master sets, changed under the core's lock, are copied into
// the waiter's working sets before each wait; a thread adding a descriptor
// grows only the master sets, never those a blocked select() is reading.
// Changes are applied between waits; a change made while another thread
// waits wakes it to rebuild. Oneshot is emulated by the core. Results are
// scanned from where the last scan stopped, so no descriptor starves.
//
// Known limits: no edge mode, no RDHUP; errors and hang-ups show as
// readable or writable, never as XPOLL_ERR or XPOLL_HUP, and a registration
// with no interest reports nothing. select() fails with EBADF as a whole
// when one descriptor was closed; the backend then finds the closed ones,
// has the core drop them, and waits again.
#if defined(__APPLE__) && !defined(_DARWIN_UNLIMITED_SELECT)
#define _DARWIN_UNLIMITED_SELECT 1
#endif

#include <errno.h>
#include <fcntl.h>
#include <sys/select.h>
#include <sys/time.h>

#include <algorithm>
#include <climits>
#include <vector>

#include "core/backend.hpp"
#include "core/registry.hpp"
#include "platform/platform.hpp"

namespace xpoll::detail {

namespace {

#if defined(__linux__) || defined(__APPLE__) || defined(__FreeBSD__)
constexpr bool kUnbounded = true;
#else
constexpr bool kUnbounded = false;
#endif

// The kernels read the sets as arrays of longs, least significant bit first.
using Word = unsigned long;
constexpr int kBits = static_cast<int>(sizeof(Word) * CHAR_BIT);

class BitSet {
 public:
  void grow(size_t words) {
    if (w_.size() < words) w_.resize(std::max(words, w_.size() * 2), 0);
  }
  void set(int fd, bool on) {
    Word m = Word{1} << (fd % kBits);
    if (on)
      w_[fd / kBits] |= m;
    else
      w_[fd / kBits] &= ~m;
  }
  bool test(int fd) const { return (w_[fd / kBits] >> (fd % kBits)) & 1; }
  Word word(size_t i) const { return w_[i]; }
  fd_set* raw() { return reinterpret_cast<fd_set*>(w_.data()); }
  void copy_from(const BitSet& o, size_t words) { std::copy_n(o.w_.begin(), words, w_.begin()); }
  size_t size() const { return w_.size(); }

 private:
  std::vector<Word> w_;
};

class SelectBackend final : public Backend {
 public:
  int open() {
    int rc = wake_.open();
    if (rc != 0) return rc;
    if (!kUnbounded && wake_.read_fd() >= FD_SETSIZE) return XPOLL_ERANGE;
    rc = admit(wake_.read_fd());
    if (rc != 0) return rc;
    rd_.set(wake_.read_fd(), true);
    maxfd_ = wake_.read_fd();
    return 0;
  }

  // Checks the descriptor and grows the sets for it, so that apply() cannot fail.
  int admit(xpoll_fd_t fd) noexcept override {
    if (!descriptor_open(fd)) return XPOLL_EBADF;
    if (!kUnbounded && fd >= FD_SETSIZE) return XPOLL_ERANGE;
    try {
      size_t words = static_cast<size_t>(fd) / kBits + 1;
      rd_.grow(words);
      wr_.grow(words);
      ex_.grow(words);
    } catch (...) {
      return XPOLL_ENOMEM;
    }
    return 0;
  }

  int apply(xpoll_fd_t fd, const KernelState&, const KernelState& want, uint32_t, unsigned) noexcept override {
    rd_.set(fd, (want.watched() & XPOLL_IN) != 0);
    wr_.set(fd, (want.watched() & XPOLL_OUT) != 0);
    bool pri = (want.watched() & XPOLL_PRI) != 0;
    if (pri != ex_.test(fd)) pri_count_ += pri ? 1 : -1;
    ex_.set(fd, pri);
    if (fd > maxfd_) maxfd_ = fd;
    return 0;
  }

  int prepare(WaitSlot*, int) noexcept override {
    // Shrink past descriptors no longer watched; the wake channel bounds it.
    while (maxfd_ > wake_.read_fd() && !rd_.test(maxfd_) && !wr_.test(maxfd_) && !ex_.test(maxfd_)) --maxfd_;
    size_t words = static_cast<size_t>(maxfd_) / kBits + 1;
    try {
      rd_out_.grow(words);
      wr_out_.grow(words);
      ex_out_.grow(words);
    } catch (...) {
      return XPOLL_ENOMEM;
    }
    rd_out_.copy_from(rd_, words);
    wr_out_.copy_from(wr_, words);
    // The exception set (priority data) only while someone asks for it.
    with_ex_ = pri_count_ > 0;
    if (with_ex_) ex_out_.copy_from(ex_, words);
    nfds_ = maxfd_ + 1;
    return 0;
  }

  int wait(WaitSlot*, int, int64_t timeout_ns) noexcept override {
    // select() takes microseconds: rounded up, never early.
    struct timeval tv, *ptv = nullptr;
    if (timeout_ns >= 0) {
      int64_t us = timeout_ns / 1000 + (timeout_ns % 1000 != 0);
      tv.tv_sec = static_cast<time_t>(us / 1000000);
      tv.tv_usec = static_cast<suseconds_t>(us % 1000000);
      ptv = &tv;
    }
    ready_ = select(nfds_, rd_out_.raw(), wr_out_.raw(), with_ex_ ? ex_out_.raw() : nullptr, ptv);
    if (ready_ >= 0) return 0;
    int e = errno;
    ready_ = e == EBADF ? -1 : 0;  // EBADF: collect() finds the closed descriptors
    return e == EBADF ? 0 : from_errno(e);
  }

  void collect(WaitSlot*, EventSink& sink) noexcept override {
    int wake = wake_.read_fd();
    if (ready_ < 0) {
      for (int fd = 0; fd <= maxfd_; ++fd)
        if (fd != wake && (rd_.test(fd) || wr_.test(fd) || ex_.test(fd)) && fcntl(fd, F_GETFD) == -1) sink.dead(fd);
      return;
    }
    if (ready_ == 0) return;
    if (rd_out_.test(wake)) {
      wake_.drain();
      sink.woken();
    }
    int start = cursor_ < nfds_ ? cursor_ : 0;
    if (scan(sink, start, nfds_)) return;
    scan(sink, 0, start);
  }

  int signal() noexcept override { return wake_.signal(); }
  bool owns(xpoll_fd_t fd) const noexcept override { return wake_.owns(fd); }

 private:
  // Reports ready descriptors in [from, to); true when the sink filled up.
  bool scan(EventSink& sink, int from, int to) noexcept {
    int wake = wake_.read_fd();
    for (int base = from - from % kBits; base < to; base += kBits) {
      size_t i = static_cast<size_t>(base) / kBits;
      Word any = rd_out_.word(i) | wr_out_.word(i) | (with_ex_ ? ex_out_.word(i) : 0);
      for (int b = 0; any != 0 && b < kBits; ++b, any >>= 1) {
        int fd = base + b;
        if (!(any & 1) || fd < from || fd >= to || fd == wake) continue;
        uint32_t ev = (rd_out_.test(fd) ? XPOLL_IN : 0) | (wr_out_.test(fd) ? XPOLL_OUT : 0) |
                      (with_ex_ && ex_out_.test(fd) ? XPOLL_PRI : 0);
        if (sink.emit(fd, ev, kNoGeneration) == EventSink::kFull) {
          cursor_ = fd + 1;
          return true;
        }
      }
    }
    return false;
  }

  WakeChannel wake_;
  BitSet rd_, wr_, ex_, rd_out_, wr_out_, ex_out_;  // ex: the exception set, priority data
  long pri_count_ = 0;                              // descriptors in ex_
  bool with_ex_ = false;                            // the waiter's copy has an exception set
  int maxfd_ = -1;  // highest descriptor in the master sets (bounded below by the wake channel)
  int nfds_ = 0;    // the waiter's copy of maxfd_ + 1
  int cursor_ = 0;
  int ready_ = 0;
};

constexpr uint32_t kSelectCaps = XPOLL_CAP_ONESHOT | XPOLL_CAP_NONSOCKET | XPOLL_CAP_NS_TIMEOUT | XPOLL_CAP_PRI |
                                 (kUnbounded ? XPOLL_CAP_UNBOUNDED : 0);

}  // namespace

extern const BackendInfo select_backend_info = {"select", open_backend<SelectBackend>, kSelectCaps,
                                                kUnbounded ? -1L : static_cast<long>(FD_SETSIZE - 1)};

}  // namespace xpoll::detail
