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

#include "core/backend.hpp"
#include "platform/platform.hpp"
#include "core/registry.hpp"

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

class WinsockSelectBackend final : public Backend {
 public:
  int open() {
    int rc = wake_.open();
    if (rc != 0) return rc;
    return grow(1);
  }


  // Checks the socket and makes room for it, so that apply() cannot fail.
  int admit(xpoll_fd_t fd) noexcept override {
    if (!descriptor_open(fd)) return XPOLL_EBADF;
    size_t i = fd_index(fd);
    try {
      if (slot_.size() <= i) slot_.resize(std::max(i + 1, slot_.size() * 2), 0);
    } catch (...) {
      return XPOLL_ENOMEM;
    }
    // Room for every socket number, so that apply() never allocates.
    return grow(slot_.size());
  }

  int apply(xpoll_fd_t fd, const KernelState&, const KernelState& want, uint32_t, unsigned) noexcept override {
    size_t idx = fd_index(fd);
    size_t i = idx < slot_.size() ? slot_[idx] : 0;  // 1-based position in list_
    uint32_t bits = want.watched() & (XPOLL_IN | XPOLL_OUT);
    dirty_ = true;
    if (bits == 0) {
      if (i != 0) {
        slot_[fd_index(static_cast<xpoll_fd_t>(list_.back().sock))] = i;
        list_[i - 1] = list_.back();
        list_.pop_back();
        slot_[idx] = 0;
      }
      return 0;
    }
    if (i == 0) {
      list_.push_back(Entry{static_cast<SOCKET>(fd), 0});  // within the room admit() made
      slot_[idx] = list_.size();
    }
    list_[slot_[idx] - 1].want = bits;
    return 0;
  }

  int prepare() noexcept override {
    if (!dirty_) return restore();
    try {
      work_ = list_;
    } catch (...) {
      return XPOLL_ENOMEM;
    }
    dirty_ = false;
    return restore();
  }

  int wait(int, int timeout_ms) noexcept override {
    timeval tv, *ptv = nullptr;
    if (timeout_ms >= 0) {
      tv.tv_sec = timeout_ms / 1000;
      tv.tv_usec = (timeout_ms % 1000) * 1000;
      ptv = &tv;
    }
    ready_ = select(0, rd_.raw(), wr_.empty() ? nullptr : wr_.raw(), ex_.empty() ? nullptr : ex_.raw(), ptv);
    if (ready_ >= 0) return 0;
    int e = WSAGetLastError();
    if (e != WSAENOTSOCK) return from_wsa(e);
    ready_ = -1;  // collect() finds the closed sockets
    return 0;
  }

  void collect(EventSink& sink) noexcept override {
    if (ready_ < 0) {
      for (const Entry& e : work_)
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
    size_t n = work_.size();
    size_t start = cursor_ < n ? cursor_ : 0;
    bool full = false;
    for (size_t k = 0; k < n; ++k) {
      size_t i = (start + k) % n;
      uint32_t ev = ready_bits_[i];
      if (!ev) continue;
      ready_bits_[i] = 0;
      if (full) continue;
      if (sink.emit(static_cast<xpoll_fd_t>(work_[i].sock), ev, kNoGeneration) == EventSink::kFull) {
        cursor_ = i + 1;
        full = true;
      }
    }
  }

  int signal() noexcept override { return wake_.signal(); }
  bool owns(xpoll_fd_t fd) const noexcept override { return wake_.owns(fd); }

 private:
  // Only the master list: the sets belong to the waiter, which may be
  // inside select() while another thread adds a socket.
  int grow(size_t n) noexcept {
    try {
      list_.reserve(n);
    } catch (...) {
      return XPOLL_ENOMEM;
    }
    return 0;
  }

  // Fills the sets from the waiter's list (select overwrites them).
  int restore() noexcept {
    try {
      rd_.reserve(work_.size() + 1);
      wr_.reserve(work_.size());
      ex_.reserve(work_.size());
      ready_bits_.resize(work_.size());
      if (pos_.size() < slot_.size()) pos_.resize(slot_.size());
    } catch (...) {
      return XPOLL_ENOMEM;
    }
    rd_.clear();
    wr_.clear();
    ex_.clear();
    rd_.push(static_cast<SOCKET>(wake_.read_fd()));
    for (size_t i = 0; i < work_.size(); ++i) {
      const Entry& e = work_[i];
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
      if (idx >= pos_.size() || pos_[idx] >= work_.size() || work_[pos_[idx]].sock != s) continue;
      ready_bits_[pos_[idx]] |= bits == kExcept ? except_events(s) : bits;
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
  std::vector<Entry> list_;           // registered sockets; changed under the core's lock
  std::vector<size_t> slot_;          // fd_index -> 1-based position in list_, 0 for none
  std::vector<Entry> work_;           // the waiter's copy of list_
  std::vector<size_t> pos_;           // fd_index -> position in work_
  std::vector<uint32_t> ready_bits_;  // per work_ entry, filled by collect()
  SocketSet rd_, wr_, ex_;
  bool dirty_ = true;
  bool woken_ = false;
  size_t cursor_ = 0;
  int ready_ = 0;
};

constexpr uint32_t kWinsockSelectCaps = XPOLL_CAP_ONESHOT | XPOLL_CAP_UNBOUNDED;

}  // namespace

extern const BackendInfo select_backend_info = {"select", open_backend<WinsockSelectBackend>, kWinsockSelectCaps, -1};

}  // namespace xpoll::detail
