// iocp backend: Windows (Vista and later), sockets only.
//
// Strategy: readiness through an I/O completion port, as wepoll, mio and
// smol-rs/polling obtain it. Each registered socket has at most one AFD poll
// request (iocp_afd.hpp) in flight for the events of its interest; the
// request completes through the port once one of them holds. A request is
// one-shot by nature: a level-triggered registration is polled again before
// the next wait, a oneshot one only when the caller re-arms it (so oneshot is
// native). Requests are sent just before a wait (or at once under a blocked
// wait), so that they report what holds then. A change of interest cancels
// the request in flight and sends one for the new events. The kernel writes into a request until its
// completion (cancelled or not) has been dequeued, so a request lives on
// after its socket is removed, detached, and is freed only then.
// Registrations change under a blocked wait; wake posts a packet of its own.
//
// Sockets are grouped 32 to an AFD handle, as wepoll and mio do, so that no
// one handle carries thousands of polls; there is no fixed cap on sockets.
//
// Known limits: sockets only (no pipes, no files); no edge mode. A socket
// closed while registered completes its request with AFD_POLL_LOCAL_CLOSE and
// is dropped. Under Wine, a peer's shutdown while unread data remains may not
// raise the hang-up bit.
#include <algorithm>
#include <memory>
#include <new>
#include <unordered_map>
#include <vector>

#include "core/backend.hpp"
#include "platform/platform.hpp"
#include "core/registry.hpp"
#include "backends/windows/iocp/afd.hpp"

namespace xpoll::detail {

namespace {

constexpr ULONG_PTR kAfdKey = 1;
constexpr ULONG_PTR kWakeKey = 2;
constexpr int kGroupSize = 32;
constexpr ULONG kMaxEntries = 1024;  // completions dequeued per wait
constexpr int kSpareRequests = 64;

// Always asked for: errors and closing are reported whatever the interest.
constexpr ULONG kAfdAlways = afd::kAbort | afd::kConnectFail | afd::kLocalClose;

// Only what the caller asked for is polled: a level-triggered request for an
// event the core would filter out would complete at once, again and again.
ULONG to_afd(uint32_t want) {
  ULONG ev = kAfdAlways;
  if (want & XPOLL_IN) ev |= afd::kReceive | afd::kAccept | afd::kDisconnect;
  if (want & XPOLL_OUT) ev |= afd::kSend;
  if (want & XPOLL_RDHUP) ev |= afd::kDisconnect;
  return ev;
}

uint32_t from_afd(ULONG ev) {
  uint32_t out = 0;
  if (ev & (afd::kReceive | afd::kAccept)) out |= XPOLL_IN;
  // End of stream: a read returns 0 at once.
  if (ev & afd::kDisconnect) out |= XPOLL_IN | XPOLL_RDHUP;
  if (ev & afd::kSend) out |= XPOLL_OUT;
  if (ev & afd::kAbort) out |= XPOLL_HUP | XPOLL_ERR;
  if (ev & afd::kConnectFail) out |= XPOLL_ERR;
  return out;
}

struct Group {
  HANDLE helper = nullptr;
  int users = 0;
};

struct Sock;

struct Request : afd::Request {
  Sock* owner = nullptr;  // nullptr once detached (cancelled, socket gone)
  ULONG events = 0;
};

struct Sock {
  xpoll_fd_t fd;
  SOCKET base;
  Group* group;
  KernelState want;  // what the core asked for
  uint32_t generation = 0;
  Request* pending = nullptr;  // the request in flight, if any
  bool rearm = false;          // in the re-arm list
  bool listed = false;         // seen while the re-arm list is compacted
};

class IocpBackend final : public Backend {
 public:
  ~IocpBackend() override;

  int open() {
    int rc = afd::load();
    if (rc != 0) return rc;
    WSADATA wsa;
    if (WSAStartup(MAKEWORD(2, 2), &wsa) != 0) return XPOLL_ENOTSUP;
    wsa_ = true;
    port_ = CreateIoCompletionPort(INVALID_HANDLE_VALUE, nullptr, 0, 0);
    if (!port_) return from_win32(GetLastError());
    try {
      entries_.resize(64);
      spare_.reserve(kSpareRequests);
    } catch (...) {
      return XPOLL_ENOMEM;
    }
    return 0;
  }


  // The base-handle ioctl alone is no proof that the socket is open (Wine
  // answers it for a closed one), so the socket is asked for its type. The
  // base handle itself is looked up once, by apply() (called at once on add).
  int admit(xpoll_fd_t fd) noexcept override { return descriptor_open(fd) ? 0 : XPOLL_EBADF; }

  int apply(xpoll_fd_t fd, const KernelState& have, const KernelState& want, uint32_t generation,
            unsigned how) noexcept override {
    auto it = socks_.find(fd);
    Sock* s = it == socks_.end() ? nullptr : it->second.get();
    if (!want.on) {
      if (s) drop(it);
      return 0;
    }
    // A new registration, or a re-add whose file may differ from the one
    // polled: poll the socket the number names now.
    if (!s || !have.on || (how & kVerify)) return replace(fd, want, generation, it);
    s->want = want;
    s->generation = generation;
    if (want.paused) {
      detach(*s);
      return 0;
    }
    if (s->pending && s->pending->events == to_afd(want.interest)) return 0;
    detach(*s);
    int rc = arm(*s);
    // Refused (the socket was closed): the core now holds nothing for it,
    // and neither does the backend.
    if (rc != 0) drop(it);
    return rc;
  }

  int prepare() noexcept override {
    in_wait_ = true;
    // Poll again the level-triggered sockets reported (or passed over) by
    // the last wait. A socket closed since is reported dead by collect().
    for (xpoll_fd_t fd : rearm_) {
      auto it = socks_.find(fd);
      if (it == socks_.end()) continue;
      Sock& s = *it->second;
      s.rearm = false;
      if (s.pending || s.want.paused) continue;
      int rc = submit(s);
      if (rc == XPOLL_ENOMEM) return rc;
      if (rc != 0) dead_.push_back(Dead{fd, s.generation});  // room reserved for every socket
    }
    rearm_.clear();
    urgent_ = !dead_.empty();  // read by wait(), which runs without the lock
    return 0;
  }

  int wait(int max, int timeout_ms) noexcept override {
    ULONG want = static_cast<ULONG>(std::min<int>(max, static_cast<int>(entries_.size())));
    if (want == 0) want = 1;
    DWORD ms = urgent_ ? 0 : timeout_ms < 0 ? INFINITE : static_cast<DWORD>(timeout_ms);
    ULONG n = 0;
    if (!GetQueuedCompletionStatusEx(port_, entries_.data(), want, &n, ms, FALSE)) {
      DWORD e = GetLastError();
      got_ = 0;
      return e == WAIT_TIMEOUT ? 0 : from_win32(e);
    }
    got_ = n;
    return 0;
  }

  void collect(EventSink& sink) noexcept override {
    in_wait_ = false;
    // Reported only if the number still names the socket found closed: it
    // may have been removed, reused and added again since prepare().
    for (const Dead& d : dead_) {
      auto it = socks_.find(d.fd);
      if (it != socks_.end() && it->second->generation == d.generation) sink.dead(d.fd);
    }
    dead_.clear();
    for (ULONG i = 0; i < got_; ++i) {
      const OVERLAPPED_ENTRY& e = entries_[i];
      if (e.lpCompletionKey == kWakeKey) {
        sink.woken();
        continue;
      }
      auto* r = reinterpret_cast<Request*>(e.lpOverlapped);
      --in_flight_;
      Sock* s = r->owner;
      ULONG ev = afd::result(*r);
      recycle(r);
      if (!s) continue;  // detached: its socket was removed or re-polled
      s->pending = nullptr;
      if (ev & afd::kLocalClose) {
        sink.dead(s->fd);
        continue;
      }
      uint32_t events = from_afd(ev);
      EventSink::Result res = events && !sink.full() ? sink.emit(s->fd, events, s->generation) : EventSink::kSkipped;
      // A oneshot registration the core took is disarmed; anything else is
      // polled again, reported or not, so that nothing is lost.
      if (res != EventSink::kSkipped && (s->want.interest & XPOLL_ONESHOT)) continue;
      queue_rearm(*s);
    }
    // Grow the completion array when a wait filled it.
    if (got_ == entries_.size() && entries_.size() < kMaxEntries) try {
        entries_.resize(std::min<size_t>(entries_.size() * 2, kMaxEntries));
      } catch (...) {
      }
    got_ = 0;
  }

  // Drops every socket (the core re-adds them all).
  int reset() noexcept override {
    for (auto& kv : socks_) {
      detach(*kv.second);
      leave_group(*kv.second);
    }
    socks_.clear();
    rearm_.clear();
    dead_.clear();
    return 0;
  }

  int signal() noexcept override {
    return PostQueuedCompletionStatus(port_, 0, kWakeKey, nullptr) ? 0 : from_win32(GetLastError());
  }

 private:
  using SockMap = std::unordered_map<xpoll_fd_t, std::unique_ptr<Sock>>;

  int replace(xpoll_fd_t fd, const KernelState& want, uint32_t generation, SockMap::iterator it) noexcept {
    SOCKET base;
    int rc = afd::base_socket(static_cast<SOCKET>(fd), &base);
    if (rc != 0) return rc;
    std::unique_ptr<Sock> s;
    try {
      // Reserved now, so that nothing below can fail for memory.
      socks_.reserve(socks_.size() + 1);
      rearm_.reserve(socks_.size() + 1);
      dead_.reserve(socks_.size() + 1);
      s.reset(new Sock{fd, base, nullptr, KernelState{}});
    } catch (...) {
      return XPOLL_ENOMEM;
    }
    rc = join_group(*s);
    if (rc != 0) return rc;
    s->want = want;
    s->generation = generation;
    if (!want.paused && in_wait_) rc = submit(*s);
    if (rc != 0) {
      leave_group(*s);
      return rc;
    }
    // The number may already be queued for its earlier socket.
    if (it != socks_.end()) s->rearm = it->second->rearm;
    if (!want.paused && !in_wait_) queue_rearm(*s);
    if (it != socks_.end()) {
      detach(*it->second);
      leave_group(*it->second);
      it->second = std::move(s);
      return 0;
    }
    Sock* raw = s.get();
    try {
      socks_.emplace(fd, std::move(s));  // no rehash: room was reserved
    } catch (...) {
      // The node could not be allocated; the socket was not moved.
      detach(*raw);
      leave_group(*raw);
      return XPOLL_ENOMEM;
    }
    return 0;
  }

  // Between waits a poll is only queued, to be sent just before the next
  // wait, so that what it reports is as fresh as a select would be; under a
  // blocked wait it is sent now. (A socket closed meanwhile is reported dead
  // by the next collect().)
  int arm(Sock& s) noexcept {
    if (s.want.paused) return 0;
    if (!in_wait_) {
      queue_rearm(s);
      return 0;
    }
    return submit(s);
  }

  void drop(SockMap::iterator it) noexcept {
    detach(*it->second);
    leave_group(*it->second);
    socks_.erase(it);
  }

  int submit(Sock& s) noexcept {
    Request* r = take_request();
    if (!r) return XPOLL_ENOMEM;
    r->helper = s.group->helper;
    r->owner = &s;
    r->events = to_afd(s.want.interest);
    int rc = afd::submit(*r, s.base, r->events);
    if (rc != 0) {
      r->owner = nullptr;
      recycle(r);
      return rc;
    }
    ++in_flight_;
    s.pending = r;
    return 0;
  }

  // The request lives on until its completion is dequeued.
  void detach(Sock& s) noexcept {
    if (!s.pending) return;
    cancel(s.pending);
    s.pending = nullptr;
  }

  static void cancel(Request* r) noexcept {
    r->owner = nullptr;
    afd::cancel(*r);
  }

  void queue_rearm(Sock& s) noexcept {
    if (s.rearm) return;
    if (rearm_.size() == rearm_.capacity()) compact_rearm();
    try {
      rearm_.push_back(s.fd);  // within the room reserved for every socket, once compacted
      s.rearm = true;
    } catch (...) {
    }
  }

  // Drops the entries of sockets removed or replaced since they were queued,
  // and duplicates, leaving one entry per socket that waits to be polled.
  void compact_rearm() noexcept {
    size_t k = 0;
    for (xpoll_fd_t fd : rearm_) {
      auto it = socks_.find(fd);
      if (it == socks_.end() || !it->second->rearm || it->second->listed) continue;
      it->second->listed = true;
      rearm_[k++] = fd;
    }
    rearm_.resize(k);
    for (xpoll_fd_t fd : rearm_) socks_.find(fd)->second->listed = false;
  }

  int join_group(Sock& s) noexcept {
    try {
      if (open_groups_.empty()) {
        auto g = std::make_unique<Group>();
        open_groups_.reserve(groups_.size() + 1);
        groups_.reserve(groups_.size() + 1);
        int rc = afd::open_helper(port_, kAfdKey, &g->helper);
        if (rc != 0) return rc;
        open_groups_.push_back(g.get());
        groups_.push_back(std::move(g));
      }
    } catch (...) {
      return XPOLL_ENOMEM;
    }
    Group* g = open_groups_.back();
    if (++g->users == kGroupSize) open_groups_.pop_back();
    s.group = g;
    return 0;
  }

  void leave_group(Sock& s) noexcept {
    // Capacity for every group was reserved when it was made.
    if (s.group->users-- == kGroupSize) open_groups_.push_back(s.group);
  }

  Request* take_request() noexcept {
    if (!spare_.empty()) {
      Request* r = spare_.back();
      spare_.pop_back();
      return r;
    }
    return new (std::nothrow) Request();
  }

  void recycle(Request* r) noexcept {
    if (spare_.size() < kSpareRequests && spare_.capacity() >= kSpareRequests)
      spare_.push_back(r);
    else
      delete r;
  }

  HANDLE port_ = nullptr;
  bool wsa_ = false;
  SockMap socks_;
  std::vector<std::unique_ptr<Group>> groups_;
  std::vector<Group*> open_groups_;  // groups with room
  std::vector<xpoll_fd_t> rearm_;    // level-triggered sockets to poll again
  struct Dead {
    xpoll_fd_t fd;
    uint32_t generation;
  };
  std::vector<Dead> dead_;  // sockets found closed by prepare()
  std::vector<Request*> spare_;
  std::vector<OVERLAPPED_ENTRY> entries_;
  ULONG got_ = 0;
  bool in_wait_ = false;  // between prepare() and collect(): a waiter is (about to be) blocked
  bool urgent_ = false;   // collect() has dead sockets to report: do not block
  size_t in_flight_ = 0;  // requests whose completion has not been dequeued
};

IocpBackend::~IocpBackend() {
  for (auto& kv : socks_) detach(*kv.second);
  // Every request in flight is cancelled; wait (up to 5 s in all) for the
  // packets before the memory the kernel writes into goes. What does not come back
  // within the bound is leaked rather than freed under the kernel's pen.
  try {
    entries_.resize(kMaxEntries);
  } catch (...) {
  }
  ULONGLONG deadline = GetTickCount64() + 5000;
  while (port_ && in_flight_ > 0 && GetTickCount64() < deadline) {
    ULONG n = 0;
    if (!GetQueuedCompletionStatusEx(port_, entries_.data(), static_cast<ULONG>(entries_.size()), &n, 100, FALSE))
      continue;
    for (ULONG i = 0; i < n; ++i) {
      if (entries_[i].lpCompletionKey != kAfdKey) continue;
      delete reinterpret_cast<Request*>(entries_[i].lpOverlapped);
      --in_flight_;
    }
  }
  for (Request* r : spare_) delete r;
  for (auto& g : groups_) CloseHandle(g->helper);
  if (port_) CloseHandle(port_);
  if (wsa_) WSACleanup();
}

constexpr uint32_t kIocpCaps = XPOLL_CAP_ONESHOT | XPOLL_CAP_RDHUP | XPOLL_CAP_UNBOUNDED | XPOLL_CAP_LIVE_CHANGES |
                               XPOLL_CAP_HANGUP | kCapNativeOneshot | kCapKernelState;

}  // namespace

extern const BackendInfo iocp_backend_info = {"iocp", open_backend<IocpBackend>, kIocpCaps, -1};

}  // namespace xpoll::detail
