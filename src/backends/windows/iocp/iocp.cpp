// iocp backend: Windows (Vista and later), sockets only.
//
// Mechanism: readiness through an I/O completion port, as wepoll, mio and
// smol-rs/polling obtain it. Each registered socket has at most one AFD poll
// request (afd.hpp) in flight for the events of its interest; the request
// completes through the port once one of them holds.
//
// Strategy: each socket is a small state machine (socket.hpp): idle, queued,
// pending or closed. A request is one-shot by nature: a level-triggered
// socket is queued again when its request completes, a oneshot one only when
// the caller re-arms it (so oneshot is native). Queued sockets are polled
// just before a wait (or at once under a blocked wait), so that a poll
// reports what holds then. A change of interest cancels the request in
// flight and sends one for the new events at once; the cancelled request
// lives on in the request pool (requests.hpp) until its completion has been
// dequeued. Sockets share AFD handles 32 at a time (groups.hpp), with no
// fixed cap on sockets. Registrations change under a blocked wait; wake posts
// a packet of its own. Several threads may block on the port at once, each
// with its own completion array (a WaitSlot); each completion goes to one of
// them, and while others still wait, what the one that took it queues again
// is polled at once, so that a level-triggered socket is handed on. Destroying the backend cancels every request and
// waits up to 5 s for their completions.
//
// Known limits: sockets only (no pipes, no files); no edge mode. A socket
// closed while registered completes its request with AFD_POLL_LOCAL_CLOSE and
// is dropped. Under Wine, a peer's shutdown while unread data remains may not
// raise the hang-up bit.
#include <algorithm>
#include <memory>
#include <unordered_map>
#include <vector>

#include "backends/windows/iocp/afd.hpp"
#include "backends/windows/iocp/groups.hpp"
#include "backends/windows/iocp/requests.hpp"
#include "backends/windows/iocp/socket.hpp"
#include "core/backend.hpp"
#include "core/registry.hpp"
#include "platform/platform.hpp"

namespace xpoll::detail {

namespace {

using iocp::PollState;
using iocp::Socket;

constexpr ULONG_PTR kAfdKey = 1;
constexpr ULONG_PTR kWakeKey = 2;
constexpr ULONG kMaxEntries = 1024;  // completions dequeued per wait

// Always asked for: errors and closing are reported whatever the interest.
constexpr ULONG kAfdAlways = afd::kAbort | afd::kConnectFail | afd::kLocalClose;

// Only what the caller asked for is polled: a level-triggered request for an
// event the core would filter out would complete at once, again and again.
ULONG to_afd(uint32_t want) {
  ULONG ev = kAfdAlways;
  if (want & XPOLL_IN) ev |= afd::kReceive | afd::kAccept | afd::kDisconnect;
  if (want & XPOLL_OUT) ev |= afd::kSend;
  if (want & XPOLL_RDHUP) ev |= afd::kDisconnect;
  if (want & XPOLL_PRI) ev |= afd::kReceiveExpedited;
  return ev;
}

uint32_t from_afd(ULONG ev) {
  uint32_t out = 0;
  if (ev & (afd::kReceive | afd::kAccept)) out |= XPOLL_IN;
  // End of stream: a read returns 0 at once.
  if (ev & afd::kDisconnect) out |= XPOLL_IN | XPOLL_RDHUP;
  if (ev & afd::kSend) out |= XPOLL_OUT;
  if (ev & afd::kReceiveExpedited) out |= XPOLL_PRI;
  if (ev & afd::kAbort) out |= XPOLL_HUP | XPOLL_ERR;
  if (ev & afd::kConnectFail) out |= XPOLL_ERR;
  return out;
}

// One waiter's completions.
struct IocpSlot final : WaitSlot {
  IocpSlot() : entries(64) {}
  std::vector<OVERLAPPED_ENTRY> entries;
  ULONG got = 0;
  bool urgent = false;  // collect() has closed sockets to report: do not block
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
    return requests_.reserve();
  }

  // The base-handle ioctl alone is no proof that the socket is open (Wine
  // answers it for a closed one), so the socket is asked for its type. The
  // base handle itself is looked up once, by apply() (called at once on add).
  int admit(xpoll_fd_t fd) noexcept override { return descriptor_open(fd) ? 0 : XPOLL_EBADF; }

  int apply(xpoll_fd_t fd, const KernelState& have, const KernelState& want, uint32_t generation,
            unsigned how) noexcept override {
    auto it = socks_.find(fd);
    Socket* s = it == socks_.end() ? nullptr : it->second.get();
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
      stop(*s);
      return 0;
    }
    if (s->state == PollState::kPending && s->request->events == to_afd(want.interest)) return 0;
    stop(*s);
    int rc = arm(*s);
    // Refused (the socket was closed): the core now holds nothing for it,
    // and neither does the backend.
    if (rc != 0) drop(it);
    return rc;
  }

  WaitSlot* make_slot() override { return slots_.make(); }

  int prepare(WaitSlot* slot, int) noexcept override {
    // Poll the queued sockets: those reported (or passed over) by the last
    // wait and those changed since. One whose poll is refused was closed:
    // collect() reports it.
    int rc = send_queued();
    if (rc != 0) return rc;
    ++waiting_;
    static_cast<IocpSlot*>(slot)->urgent = !closed_.empty();  // read by wait(), which runs without the lock
    return 0;
  }

  int wait(WaitSlot* slot, int max, int64_t timeout_ns) noexcept override {
    int timeout_ms = ceil_ms(timeout_ns);
    auto* ws = static_cast<IocpSlot*>(slot);
    ULONG want = static_cast<ULONG>(std::min<int>(max, static_cast<int>(ws->entries.size())));
    if (want == 0) want = 1;
    DWORD ms = ws->urgent ? 0 : timeout_ms < 0 ? INFINITE : static_cast<DWORD>(timeout_ms);
    ULONG n = 0;
    if (!GetQueuedCompletionStatusEx(port_, ws->entries.data(), want, &n, ms, FALSE)) {
      DWORD e = GetLastError();
      ws->got = 0;
      return e == WAIT_TIMEOUT ? 0 : from_win32(e);
    }
    ws->got = n;
    return 0;
  }

  void collect(WaitSlot* slot, EventSink& sink) noexcept override {
    auto* ws = static_cast<IocpSlot*>(slot);
    --waiting_;
    while (!closed_.empty()) {
      Socket& s = *closed_.front();
      set_state(s, PollState::kIdle);
      sink.dead(s.fd);
    }
    for (ULONG i = 0; i < ws->got; ++i) {
      const OVERLAPPED_ENTRY& e = ws->entries[i];
      if (e.lpCompletionKey == kWakeKey)
        sink.woken();
      else
        complete(iocp::request_of(e.lpOverlapped), sink);
    }
    // Grow the completion array when a wait filled it.
    if (ws->got == ws->entries.size() && ws->entries.size() < kMaxEntries) try {
        ws->entries.resize(std::min<size_t>(ws->entries.size() * 2, kMaxEntries));
      } catch (...) {
      }
    ws->got = 0;
    // Other waiters are still blocked: what this one queued again (a level-
    // triggered socket it took) is polled now, for them; without memory for
    // it, it waits for the next prepare(). A socket found closed then is
    // reported by the next collect(): one of them is woken for it.
    if (waiting_ > 0) {
      send_queued();
      if (!closed_.empty()) signal();
    }
  }

  // Drops every socket (the core re-adds them all).
  int reset() noexcept override {
    for (auto& kv : socks_) forget(*kv.second);
    socks_.clear();
    return 0;
  }

  int signal() noexcept override {
    return PostQueuedCompletionStatus(port_, 0, kWakeKey, nullptr) ? 0 : from_win32(GetLastError());
  }

 private:
  using SockMap = std::unordered_map<xpoll_fd_t, std::unique_ptr<Socket>>;

  // The transitions of a socket's PollState (socket.hpp).

  // Moves s to `to`, and into the list of that state.
  void set_state(Socket& s, PollState to) noexcept {
    if (s.state == to) return;
    if (iocp::SocketList* from = list_of(s.state)) from->erase(s);
    s.state = to;
    if (iocp::SocketList* into = list_of(to)) into->push_back(s);
  }

  iocp::SocketList* list_of(PollState state) noexcept {
    if (state == PollState::kQueued) return &queued_;
    if (state == PollState::kClosed) return &closed_;
    return nullptr;
  }

  // kIdle, kQueued, kClosed -> kPending: sends a request for s's interest.
  // On failure s stays as it was.
  int send(Socket& s) noexcept {
    iocp::Request* r = nullptr;
    int rc = requests_.send(&s, s.group->helper, s.base, to_afd(s.want.interest), &r);
    if (rc != 0) return rc;
    s.request = r;
    set_state(s, PollState::kPending);
    return 0;
  }

  // Sends every queued socket's poll. One whose poll is refused was closed:
  // collect() reports it.
  int send_queued() noexcept {
    while (!queued_.empty()) {
      Socket& s = *queued_.front();
      int rc = send(s);
      if (rc == XPOLL_ENOMEM) return rc;
      if (rc != 0) set_state(s, PollState::kClosed);
    }
    return 0;
  }

  // -> kQueued or kPending. Between waits a poll is only queued, to be sent
  // just before the next wait, so that what it reports is as fresh as a
  // select would be; under a blocked wait it is sent now.
  int arm(Socket& s) noexcept {
    if (waiting_ == 0) {
      set_state(s, PollState::kQueued);
      return 0;
    }
    return send(s);
  }

  // kPending, kQueued -> kIdle: the request in flight is cancelled (and
  // lives on in the pool until its completion is dequeued). A socket found
  // closed stays so, to be reported.
  void stop(Socket& s) noexcept {
    if (s.state == PollState::kPending) {
      requests_.cancel(*s.request);
      s.request = nullptr;
    }
    if (s.state != PollState::kClosed) set_state(s, PollState::kIdle);
  }

  // kPending -> kIdle or kQueued: the request's completion was dequeued.
  void complete(iocp::Request* r, EventSink& sink) noexcept {
    ULONG ev = 0;
    Socket* s = requests_.finish(r, &ev);
    if (!s) return;  // cancelled: its socket was removed or polled anew
    s->request = nullptr;
    set_state(*s, PollState::kIdle);
    if (ev & afd::kLocalClose) {
      sink.dead(s->fd);
      return;
    }
    uint32_t events = from_afd(ev);
    EventSink::Result res = events && !sink.full() ? sink.emit(s->fd, events, s->generation) : EventSink::kSkipped;
    // A oneshot registration the core took is disarmed; anything else is
    // polled again, reported or not, so that nothing is lost.
    if (res != EventSink::kSkipped && (s->want.interest & XPOLL_ONESHOT)) return;
    set_state(*s, PollState::kQueued);
  }

  // Any state -> gone: stops polling s and leaves its lists and its group.
  void forget(Socket& s) noexcept {
    stop(s);
    set_state(s, PollState::kIdle);
    groups_.leave(*s.group);
  }

  void drop(SockMap::iterator it) noexcept {
    forget(*it->second);
    socks_.erase(it);
  }

  // Polls the socket `fd` names now, in place of any earlier one. On
  // failure the earlier one is left as it was.
  int replace(xpoll_fd_t fd, const KernelState& want, uint32_t generation, SockMap::iterator it) noexcept {
    SOCKET base;
    int rc = afd::base_socket(static_cast<SOCKET>(fd), &base);
    if (rc != 0) return rc;
    std::unique_ptr<Socket> s;
    try {
      socks_.reserve(socks_.size() + 1);  // so that the emplace below cannot rehash
      s = std::make_unique<Socket>(fd, base);
    } catch (...) {
      return XPOLL_ENOMEM;
    }
    rc = groups_.join(port_, kAfdKey, &s->group);
    if (rc != 0) return rc;
    s->want = want;
    s->generation = generation;
    if (!want.paused) rc = arm(*s);
    if (rc != 0) {
      groups_.leave(*s->group);
      return rc;
    }
    if (it != socks_.end()) {
      forget(*it->second);
      it->second = std::move(s);
      return 0;
    }
    Socket* raw = s.get();
    try {
      socks_.emplace(fd, std::move(s));
    } catch (...) {
      // The node could not be allocated; the socket was not moved.
      forget(*raw);
      return XPOLL_ENOMEM;
    }
    return 0;
  }

  HANDLE port_ = nullptr;
  bool wsa_ = false;
  SockMap socks_;
  iocp::SocketList queued_;  // the sockets in kQueued
  iocp::SocketList closed_;  // the sockets in kClosed
  iocp::Groups groups_;
  iocp::Requests requests_;
  SlotStore<IocpSlot> slots_;
  int waiting_ = 0;  // waiters between prepare() and collect(): (about to be) blocked
};

IocpBackend::~IocpBackend() {
  for (auto& kv : socks_) stop(*kv.second);
  if (port_) requests_.drain(port_, kAfdKey);
  groups_.close();
  if (port_) CloseHandle(port_);
  if (wsa_) WSACleanup();
}

constexpr uint32_t kIocpCaps = XPOLL_CAP_ONESHOT | XPOLL_CAP_RDHUP | XPOLL_CAP_UNBOUNDED | XPOLL_CAP_LIVE_CHANGES |
                               XPOLL_CAP_HANGUP | XPOLL_CAP_PRI | kCapNativeOneshot | kCapKernelState | kCapWaitSlots | kCapConcurrentWait;

}  // namespace

extern const BackendInfo iocp_backend_info = {"iocp", open_backend<IocpBackend>, kIocpCaps, -1};

}  // namespace xpoll::detail
