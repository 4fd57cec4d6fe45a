// The descriptor-limit probe on Windows. Windows has no per-process
// descriptor limit (handles are bounded by memory, about 16 million), so the
// limits reported are the ones that do bite: FD_SETSIZE as compiled, the C
// runtime's stdio streams, and the handles open now. The measurement opens
// UDP sockets (one handle each; those the check makes readable are bound to
// loopback and sent a datagram, the others take no port) up to the cap,
// 65,536 unless the caller sets one; checks each
// backend's readiness at that size; and holds loopback TCP connections
// echoing one byte each. Everything it opens is closed before it returns.
// winsock2.h before windows.h, and windows.h before psapi.h.
#include <winsock2.h>
// (kept apart so that formatting does not sort them)
#include <windows.h>
//
#include <psapi.h>
#include <stdio.h>  // _getmaxstdio

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <new>
#include <vector>

#include "platform/platform.hpp"
#include "probe/probe.hpp"
#include "core/registry.hpp"

namespace xpoll::detail {

namespace {

using namespace probe;
constexpr int64_t kDefaultCap = 65536;

void fill_limits(xpoll_limits_t& l) {
  clear_limits(l);
  l.nofile_soft = {XPOLL_LIMIT_INFINITE, "none on Windows (handles are bounded by memory)"};
  l.nofile_hard = l.nofile_soft;
  l.fd_setsize = {FD_SETSIZE, "FD_SETSIZE (winsock2.h; xpoll's select is not bound by it)"};
  l.stdio_max = {_getmaxstdio(), "_getmaxstdio()"};
  DWORD handles = 0;
  if (GetProcessHandleCount(GetCurrentProcess(), &handles))
    l.open_now = {static_cast<int64_t>(handles), "GetProcessHandleCount()"};
}

int64_t memory_now() {
  PROCESS_MEMORY_COUNTERS_EX pmc{};
  if (!GetProcessMemoryInfo(GetCurrentProcess(), reinterpret_cast<PROCESS_MEMORY_COUNTERS*>(&pmc), sizeof pmc))
    return -1;
  return static_cast<int64_t>(pmc.PrivateUsage);
}

const char* wsa_name(int e) {
  switch (e) {
    case WSAEMFILE: return "EMFILE";
    case WSAENOBUFS: return "ENOBUFS";
    case WSAEADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case WSAEADDRINUSE: return "EADDRINUSE";
    case WSAECONNREFUSED: return "ECONNREFUSED";
    case WSAECONNRESET: return "ECONNRESET";
    case WSAETIMEDOUT: return "ETIMEDOUT";
    default: return "EIO";
  }
}

void set_nonblocking(SOCKET s) {
  u_long on = 1;
  ioctlsocket(s, FIONBIO, &on);
}

sockaddr_in loopback() {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

// Sockets closed together on destruction; Winsock started for their life.
class Sockets {
 public:
  Sockets() {
    WSADATA wsa;
    started_ = WSAStartup(MAKEWORD(2, 2), &wsa) == 0;
  }
  Sockets(const Sockets&) = delete;
  Sockets& operator=(const Sockets&) = delete;
  ~Sockets() {
    close_from(0);
    if (started_) WSACleanup();
  }
  void close_from(size_t i) {
    while (s_.size() > i) {
      closesocket(s_.back());
      s_.pop_back();
    }
    ports_.resize(std::min(ports_.size(), i));
  }
  std::vector<SOCKET>& all() { return s_; }
  std::vector<u_short>& ports() { return ports_; }

 private:
  bool started_ = false;
  std::vector<SOCKET> s_;
  std::vector<u_short> ports_;  // of the UDP sockets, in the same order; 0 while unbound
};

// Step 1: UDP sockets bound to loopback until the cap or a failure.
void open_descriptors(const xpoll_probe_options_t& o, xpoll_probe_result_t& r, Sockets& d) {
  int64_t cap = o.max_descriptors > 0 ? o.max_descriptors : kDefaultCap;
  d.all().reserve(static_cast<size_t>(cap));
  d.ports().reserve(static_cast<size_t>(cap));
  Progress progress{o};
  int64_t mem0 = memory_now();
  auto t0 = Clock::now();
  int err = 0;
  while (static_cast<int64_t>(d.all().size()) < cap) {
    SOCKET s = socket(AF_INET, SOCK_DGRAM, IPPROTO_UDP);
    if (s == INVALID_SOCKET) {
      err = WSAGetLastError();
      break;
    }
    d.all().push_back(s);
    d.ports().push_back(0);  // bound only if the backend check makes it ready
    set_nonblocking(s);
    if (d.all().size() % 2048 == 0) progress("descriptors", static_cast<int64_t>(d.all().size()), cap);
  }
  r.descriptors_ns = ns_since(t0);
  r.descriptors = static_cast<int64_t>(d.all().size());
  r.descriptor_bytes = per_item(mem0, memory_now(), r.descriptors);
  r.descriptors_error = err ? from_wsa(err) : 0;
  progress("descriptors", r.descriptors, r.descriptors);
}

// Step 2, for one backend: register every socket, send a datagram to the
// `ready` highest-numbered ones, and check that exactly those are reported.
void check_backend(const char* name, const xpoll_probe_options_t& o, Sockets& d, xpoll_probe_backend_t& b) {
  std::snprintf(b.name, sizeof b.name, "%s", name);
  b.capabilities = static_cast<uint32_t>(xpoll_backend_capabilities(name));
  b.max_fd = xpoll_backend_max_fd(name);
  PollerHolder q;
  int rc = xpoll_create(&q.p, name, 0);
  if (rc != 0) {
    b.error = rc;
    return;
  }
  std::vector<SOCKET>& socks = d.all();
  Progress progress{o};
  auto t0 = Clock::now();
  size_t registered = 0;
  for (size_t i = 0; i < socks.size(); ++i) {
    rc = xpoll_add(q.p, socks[i], XPOLL_IN, i);
    if (rc != 0) {
      b.error = rc;
      break;
    }
    ++registered;
    b.highest_fd = std::max<int64_t>(b.highest_fd, static_cast<int64_t>(socks[i]));
    if (registered % 2048 == 0) progress(name, static_cast<int64_t>(registered), static_cast<int64_t>(socks.size()));
  }
  b.register_ns = ns_since(t0);
  b.registered = static_cast<int64_t>(registered);
  // The highest-numbered registered sockets are made ready.
  std::vector<size_t> order(registered);
  for (size_t i = 0; i < registered; ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t x, size_t y) { return socks[x] > socks[y]; });
  size_t want = std::min<size_t>(registered, static_cast<size_t>(o.ready > 0 ? o.ready : 16));
  std::vector<char> expected(registered, 0);
  SOCKET sender = socket(AF_INET, SOCK_DGRAM, IPPROTO_UDP);
  for (size_t k = 0; k < want && sender != INVALID_SOCKET; ++k) {
    size_t j = order[k];
    sockaddr_in to = loopback();
    int len = sizeof to;
    if (d.ports()[j] == 0 && bind(socks[j], reinterpret_cast<sockaddr*>(&to), sizeof to) == 0 &&
        getsockname(socks[j], reinterpret_cast<sockaddr*>(&to), &len) == 0)
      d.ports()[j] = to.sin_port;
    to.sin_port = d.ports()[j];
    if (to.sin_port && sendto(sender, "x", 1, 0, reinterpret_cast<sockaddr*>(&to), sizeof to) == 1) expected[j] = 1;
  }
  if (sender != INVALID_SOCKET) closesocket(sender);
  tally_ready(q.p, o, expected, b);  // the registrations' data are their indexes
  b.passed = b.error == 0 && b.ready_expected > 0 && b.ready_reported == b.ready_expected && b.wrong_reported == 0;
  char buf[8];
  for (size_t k = 0; k < expected.size(); ++k)
    if (expected[k]) recv(socks[k], buf, sizeof buf, 0);
}

// Step 3: loopback TCP connections held concurrently, one byte echoed on
// each, driven by one poller.
class ConnectionProbe : public ConnectionsBase {
 public:
  using ConnectionsBase::ConnectionsBase;

  void run() { ConnectionsBase::run(*this, o_.connections > 0 ? o_.connections : kDefaultCap / 2, memory_now); }

 private:
  friend class ConnectionsBase;

  bool setup() {
    if (!create_poller()) return false;
    SOCKET l = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    if (l == INVALID_SOCKET) return fail(WSAGetLastError());
    socks_.all().push_back(l);
    addr_ = loopback();
    int len = sizeof addr_;
    if (bind(l, reinterpret_cast<sockaddr*>(&addr_), sizeof addr_) != 0 || listen(l, SOMAXCONN) != 0 ||
        getsockname(l, reinterpret_cast<sockaddr*>(&addr_), &len) != 0)
      return fail(WSAGetLastError());
    set_nonblocking(l);
    listener_ = l;
    return xpoll_add(poller_.p, l, XPOLL_IN, tag(kListener, 0)) == 0;
  }

  bool fail(int e) { return stop_with(wsa_name(e)); }
  void lost(int e) { ConnectionsBase::lost(wsa_name(e)); }
  using ConnectionsBase::lost;
  void release_reserve() {}  // no descriptor limit to keep one back from

  void open_one() {
    ++attempts_;
    SOCKET s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    if (s == INVALID_SOCKET) {
      fail(WSAGetLastError());
      return;
    }
    set_nonblocking(s);
    size_t i = socks_.all().size();
    socks_.all().push_back(s);
    if (connect(s, reinterpret_cast<sockaddr*>(&addr_), sizeof addr_) == 0) {
      send_ping(s, i);
    } else if (WSAGetLastError() == WSAEWOULDBLOCK) {
      int rc = xpoll_add(poller_.p, s, XPOLL_OUT, tag(kClient, i));
      if (rc != 0) stop_with(xpoll_errname(rc));
    } else {
      fail(WSAGetLastError());
      socks_.close_from(i);
      return;
    }
    ++opened_;
  }

  void send_ping(SOCKET s, size_t i) {
    int rc = xpoll_modify(poller_.p, s, XPOLL_IN, tag(kClient, i));
    if (rc == XPOLL_ENOENT) rc = xpoll_add(poller_.p, s, XPOLL_IN, tag(kClient, i));
    if (rc != 0)
      lost(xpoll_errname(rc));
    else if (send(s, "x", 1, 0) != 1)
      lost(WSAGetLastError());
  }

  void handle(const xpoll_event_t& e) {
    Kind kind = static_cast<Kind>(e.data >> 32);
    size_t i = static_cast<size_t>(e.data & 0xffffffffu);
    SOCKET s = static_cast<SOCKET>(e.fd);
    char c;
    switch (kind) {
      case kListener:
        for (int k = 0; k < 256; ++k) {
          SOCKET a = accept(listener_, nullptr, nullptr);
          if (a == INVALID_SOCKET) {
            int err = WSAGetLastError();
            if (err != WSAEWOULDBLOCK) {
              fail(err);
              xpoll_remove(poller_.p, listener_);
            }
            break;
          }
          set_nonblocking(a);
          size_t j = socks_.all().size();
          socks_.all().push_back(a);
          xpoll_add(poller_.p, a, XPOLL_IN, tag(kServer, j));
        }
        break;
      case kClient:
        if (e.events & XPOLL_ERR) {
          int err = 0;
          int len = sizeof err;
          getsockopt(s, SOL_SOCKET, SO_ERROR, reinterpret_cast<char*>(&err), &len);
          xpoll_remove(poller_.p, s);
          lost(err ? err : WSAECONNREFUSED);
        } else if (e.events & XPOLL_OUT) {
          send_ping(s, i);
        } else {
          int n = recv(s, &c, 1, 0);
          if (n == 1 && c == 'x') {
            xpoll_remove(poller_.p, s);  // held: stays open until the end
            ++held_;
          } else if (n == 0 || (n < 0 && WSAGetLastError() != WSAEWOULDBLOCK)) {
            xpoll_remove(poller_.p, s);
            lost(n == 0 ? WSAECONNRESET : WSAGetLastError());
          }
        }
        break;
      case kServer:
        if (recv(s, &c, 1, 0) == 1) send(s, &c, 1, 0);
        xpoll_remove(poller_.p, s);
        break;
    }
  }

  Sockets socks_;  // every socket of the step, closed last
  sockaddr_in addr_{};
  SOCKET listener_ = INVALID_SOCKET;
};

}  // namespace

int probe_run(const xpoll_probe_options_t& o, xpoll_probe_result_t& r) {
  if (o.steps & (XPOLL_PROBE_DESCRIPTORS | XPOLL_PROBE_BACKENDS)) {
    Sockets d;
    open_descriptors(o, r, d);
    r.steps |= XPOLL_PROBE_DESCRIPTORS;
    if (o.steps & XPOLL_PROBE_BACKENDS) {
      size_t count;
      const BackendInfo* const* list = backend_list(count);
      for (size_t i = 0; i < count && r.backend_count < XPOLL_PROBE_MAX_BACKENDS; ++i) {
        if (o.backend && std::strcmp(o.backend, list[i]->name) != 0) continue;
        check_backend(list[i]->name, o, d, r.backends[r.backend_count++]);
      }
      r.steps |= XPOLL_PROBE_BACKENDS;
    }
  }
  if (o.steps & XPOLL_PROBE_CONNECTIONS) {
    ConnectionProbe(o, r).run();
    r.steps |= XPOLL_PROBE_CONNECTIONS;
  }
  return 0;
}

}  // namespace xpoll::detail

using namespace xpoll::detail;

extern "C" {

XPOLL_API int xpoll_read_limits(xpoll_limits_t* out) { return probe::read_limits_entry(out, fill_limits); }

// Nothing to raise: there is no such limit. Reported as already there.
XPOLL_API int xpoll_raise_nofile(int64_t* before, int64_t* after) {
  if (before) *before = XPOLL_LIMIT_INFINITE;
  if (after) *after = XPOLL_LIMIT_INFINITE;
  return 0;
}

XPOLL_API int xpoll_probe(const xpoll_probe_options_t* opts, xpoll_probe_result_t* out) {
  return probe::probe_entry(opts, out, xpoll::detail::probe_run);
}

}  // extern "C"
