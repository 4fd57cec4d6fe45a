// select backend on Windows (Winsock's select), sockets only.
//
// Strategy: Winsock's fd_set is not a bit array but a counted array of
// sockets, and FD_SETSIZE (64 unless redefined) only sizes the array in the
// struct; select() itself reads as many entries as the count says. The sets
// are therefore built in buffers sized for every registered socket, so that
// thousands of sockets work. The registered sockets are kept in a dense list
// (removal by swapping in the last); the waiter's sets are rebuilt from it
// before a wait that follows a change. Changes are applied between waits; a
// change made while another thread waits wakes it to rebuild, as on POSIX.
// Oneshot is emulated by the core. Results are scanned from where the last
// scan stopped, so a caller with a small array starves no socket.
//
// A failed connect shows in the except set, not the write set: a socket
// watched for writing is put in both, and the except set reports XPOLL_ERR
// (or, without a pending error, urgent data: XPOLL_IN).
// select() fails as a whole (WSAENOTSOCK) when one socket was closed; the
// backend then finds the closed ones, has the core drop them, and waits
// again. With no socket in any set select() fails at once, so the wake
// socket is always in the read set.
//
// Known limits: sockets only; no edge mode, no RDHUP; hang-ups show as
// readable (a read returns 0 or an error).
#include <winsock2.h>

#include <cstddef>
#include <vector>

#include "backends/pollset.hpp"
#include "core/backend.hpp"
#include "core/registry.hpp"
#include "platform/platform.hpp"

namespace xpoll::detail {

namespace {

// A counted set with room for any number of sockets: the count, then the
// array, laid out as fd_set is (the count is padded to a socket's size).
static_assert(offsetof(fd_set, fd_array) == sizeof(SOCKET), "fd_set layout");

class SocketSet {
 public:
  void reserve(size_t n) { buf_.reserve(n + 1); }
  void clear() {
    buf_.assign(1, 0);
    raw()->fd_count = 0;
  }
  void push(SOCKET s) {  // within the reserved room
    buf_.push_back(s);
    raw()->fd_count = static_cast<u_int>(buf_.size() - 1);
  }
  bool empty() const { return buf_.size() <= 1; }
  fd_set* raw() { return reinterpret_cast<fd_set*>(buf_.data()); }
  u_int count() const { return reinterpret_cast<const fd_set*>(buf_.data())->fd_count; }
  SOCKET at(u_int i) const { return buf_[i + 1]; }

 private:
  std::vector<SOCKET> buf_;
};

struct Entry {
  SOCKET sock;
  uint32_t want;  // XPOLL_IN / XPOLL_OUT
};
struct FdOfEntry {
  xpoll_fd_t operator()(const Entry& e) const noexcept { return static_cast<xpoll_fd_t>(e.sock); }
};

class WinsockSelectBackend final : public Backend {
 public:
  int open() { return wake_.open(); }

  // Checks the descriptor and makes room for it, so that apply() cannot fail.
  int admit(xpoll_fd_t fd) noexcept override { return set_.admit(fd); }

  int apply(xpoll_fd_t fd, const KernelState&, const KernelState& want, uint32_t, unsigned) noexcept override {
    uint32_t bits = want.watched() & (XPOLL_IN | XPOLL_OUT);
    set_.update(fd, bits != 0, Entry{static_cast<SOCKET>(fd), bits});
    return 0;
  }

  int prepare(WaitSlot*, int) noexcept override {
    int rc = set_.snapshot();
    return rc != 0 ? rc : restore();
  }

  int wait(WaitSlot*, int, int64_t timeout_ns) noexcept override {
    // Whole milliseconds, as the other Windows backends: Windows' own timer
    // rarely honours less.
    int timeout_ms = ceil_ms(timeout_ns);
    timeval tv, *ptv = nullptr;
    if (timeout_ms >= 0) {
      tv.tv_sec = timeout_ms / 1000;
      tv.tv_usec = (timeout_ms % 1000) * 1000;
      ptv = &tv;
    }
    ready_ = select(0, rd_.raw(), wr_.empty() ? nullptr : wr_.raw(), ex_.empty() ? nullptr : ex_.raw(), ptv);
    if (ready_ >= 0) return 0;
    int e = WSAGetLastError();
    ready_ = e == WSAENOTSOCK ? -1 : 0;  // WSAENOTSOCK: collect() finds the closed sockets
    if (e != WSAENOTSOCK) return from_wsa(e);
    return 0;
  }

  void collect(WaitSlot*, EventSink& sink) noexcept override {
    const std::vector<Entry>& work = set_.work();
    if (ready_ < 0) {
      for (const Entry& e : work)
        if (!descriptor_open(static_cast<xpoll_fd_t>(e.sock))) sink.dead(static_cast<xpoll_fd_t>(e.sock));
      return;
    }
    if (ready_ == 0) return;
    // Winsock keeps the order of the sets: the results are marked on the
    // waiter's list, then scanned from the cursor.
    mark(rd_, XPOLL_IN);
    mark(wr_, XPOLL_OUT);
    mark(ex_, kExcept);
    if (woken_) {
      woken_ = false;
      sink.woken();
    }
    set_.scan(marked_, [&](size_t i, bool& full) {
      uint32_t ev = ready_bits_[i];
      if (!ev) return false;
      full = sink.emit(static_cast<xpoll_fd_t>(work[i].sock), ev, kNoGeneration) == EventSink::kFull;
      return true;
    });
    std::fill(ready_bits_.begin(), ready_bits_.end(), 0u);
    marked_ = 0;
  }

  int signal() noexcept override { return wake_.signal(); }
  bool owns(xpoll_fd_t fd) const noexcept override { return wake_.owns(fd); }

 private:
  // Fills the sets from the waiter's list (select overwrites them).
  int restore() noexcept {
    const std::vector<Entry>& work = set_.work();
    try {
      rd_.reserve(work.size() + 1);
      wr_.reserve(work.size());
      ex_.reserve(work.size());
      ready_bits_.resize(work.size());
      if (pos_.size() < set_.slots()) pos_.resize(set_.slots());
    } catch (...) {
      return XPOLL_ENOMEM;
    }
    rd_.clear();
    wr_.clear();
    ex_.clear();
    rd_.push(static_cast<SOCKET>(wake_.read_fd()));
    for (size_t i = 0; i < work.size(); ++i) {
      const Entry& e = work[i];
      pos_[fd_index(static_cast<xpoll_fd_t>(e.sock))] = i;
      if (e.want & XPOLL_IN) rd_.push(e.sock);
      if (e.want & XPOLL_OUT) {
        wr_.push(e.sock);
        ex_.push(e.sock);
      }
    }
    return 0;
  }

  void mark(const SocketSet& set, uint32_t bits) noexcept {
    for (u_int i = 0; i < set.count(); ++i) {
      SOCKET s = set.at(i);
      if (s == static_cast<SOCKET>(wake_.read_fd())) {
        wake_.drain();
        woken_ = true;
        continue;
      }
      size_t idx = fd_index(static_cast<xpoll_fd_t>(s));
      const std::vector<Entry>& work = set_.work();
      if (idx >= pos_.size() || pos_[idx] >= work.size() || work[pos_[idx]].sock != s) continue;
      uint32_t& ready = ready_bits_[pos_[idx]];
      if (ready == 0) ++marked_;
      ready |= bits == kExcept ? except_events(s) : bits;
    }
  }

  // The except set holds a failed connect, and also urgent data when
  // SO_OOBINLINE is off; the socket's pending error tells them apart. Urgent
  // data is readable, as epoll reports EPOLLPRI.
  static constexpr uint32_t kExcept = 1u << 31;
  static uint32_t except_events(SOCKET s) noexcept {
    int err = 0;
    int len = sizeof err;
    getsockopt(s, SOL_SOCKET, SO_ERROR, reinterpret_cast<char*>(&err), &len);
    return err != 0 ? XPOLL_OUT | XPOLL_ERR : XPOLL_IN;
  }

  WakeChannel wake_;
  PollSet<Entry, FdOfEntry> set_;     // the registered sockets, and the waiter's copy
  std::vector<size_t> pos_;           // fd_index -> position in the waiter's copy
  std::vector<uint32_t> ready_bits_;  // per entry of the waiter's copy, filled by collect()
  SocketSet rd_, wr_, ex_;
  bool woken_ = false;
  size_t marked_ = 0;  // entries of ready_bits_ that are set
  int ready_ = 0;
};

constexpr uint32_t kWinsockSelectCaps = XPOLL_CAP_ONESHOT | XPOLL_CAP_UNBOUNDED;

}  // namespace

extern const BackendInfo select_backend_info = {"select", open_backend<WinsockSelectBackend>, kWinsockSelectCaps, -1};

}  // namespace xpoll::detail
