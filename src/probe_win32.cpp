// The descriptor-limit probe on Windows. Windows has no per-process
// descriptor limit (handles are bounded by memory, about 16 million), so the
// limits reported are the ones that do bite: FD_SETSIZE as compiled, the C
// runtime's stdio streams, and the handles open now. The measurement opens
// UDP sockets (one handle each; those the check makes readable are bound to
// loopback and sent a datagram, the others take no port) up to the cap,
// 65,536 unless the caller sets one; checks each
// backend's readiness at that size; and holds loopback TCP connections
// echoing one byte each. Everything it opens is closed before it returns.
#include <psapi.h>
#include <stdio.h>  // _getmaxstdio
#include <windows.h>
#include <winsock2.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <new>
#include <vector>

#include "platform.hpp"
#include "registry.hpp"

namespace xpoll::detail {

namespace {

using Clock = std::chrono::steady_clock;
constexpr int64_t kDefaultCap = 65536;

int64_t ns_since(Clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count();
}

void fill_limits(xpoll_limits_t& l) {
  const xpoll_limit_t none = {XPOLL_LIMIT_UNKNOWN, nullptr};
  l = xpoll_limits_t{};
  l.size = sizeof l;
  for (xpoll_limit_t* f : {&l.nofile_soft, &l.nofile_hard, &l.nr_open, &l.file_max, &l.files_in_use, &l.maxfilesperproc,
                           &l.open_max, &l.fd_setsize, &l.stdio_max, &l.open_now, &l.ephemeral_ports})
    *f = none;
  l.nofile_soft = {XPOLL_LIMIT_INFINITE, "none on Windows (handles are bounded by memory)"};
  l.nofile_hard = l.nofile_soft;
  l.fd_setsize = {FD_SETSIZE, "FD_SETSIZE (winsock2.h; xpoll's select is not bound by it)"};
  l.stdio_max = {_getmaxstdio(), "_getmaxstdio()"};
  DWORD handles = 0;
  if (GetProcessHandleCount(GetCurrentProcess(), &handles))
    l.open_now = {static_cast<int64_t>(handles), "GetProcessHandleCount()"};
}

template <class T>
void copy_out(const T& full, T* out, uint32_t size) {
  std::memcpy(static_cast<void*>(out), &full, std::min<size_t>(size, sizeof full));
  out->size = size;
}

int64_t memory_now() {
  PROCESS_MEMORY_COUNTERS_EX pmc{};
  if (!GetProcessMemoryInfo(GetCurrentProcess(), reinterpret_cast<PROCESS_MEMORY_COUNTERS*>(&pmc), sizeof pmc))
    return -1;
  return static_cast<int64_t>(pmc.PrivateUsage);
}

int64_t per_item(int64_t before, int64_t after, int64_t n) {
  if (before < 0 || after < 0 || n <= 0) return XPOLL_LIMIT_UNKNOWN;
  return std::max<int64_t>(0, (after - before) / n);
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

struct PollerHolder {
  xpoll_t* p = nullptr;
  ~PollerHolder() { xpoll_destroy(p); }
};

struct Progress {
  const xpoll_probe_options_t& o;
  void operator()(const char* step, int64_t done, int64_t total) const {
    if (o.progress) o.progress(o.progress_arg, step, done, total);
  }
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
  std::vector<char> expected(registered, 0), seen(registered, 0);
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
  b.ready_expected = static_cast<int32_t>(std::count(expected.begin(), expected.end(), 1));
  int timeout = o.timeout_ms > 0 ? o.timeout_ms : 5000;
  xpoll_event_t ev[64];
  auto take = [&](int n) {
    for (int i = 0; i < n; ++i) {
      size_t k = static_cast<size_t>(ev[i].data);
      if (k < expected.size() && expected[k]) {
        if (!seen[k]) ++b.ready_reported;
        seen[k] = 1;
      } else {
        ++b.wrong_reported;
      }
    }
  };
  auto deadline = Clock::now() + std::chrono::milliseconds(timeout);
  while (b.ready_reported < b.ready_expected && Clock::now() < deadline) {
    int n = xpoll_wait(q.p, ev, 64, 50);
    if (n < 0) {
      if (!b.error) b.error = n;
      break;
    }
    take(n);
  }
  int64_t times[5];
  for (int64_t& t : times) {
    auto w0 = Clock::now();
    int n = xpoll_wait(q.p, ev, 64, 0);
    t = ns_since(w0);
    if (n > 0) take(n);
  }
  std::sort(times, times + 5);
  b.wait_ns = times[2];
  b.passed = b.error == 0 && b.ready_expected > 0 && b.ready_reported == b.ready_expected && b.wrong_reported == 0;
  char buf[8];
  for (size_t k = 0; k < expected.size(); ++k)
    if (expected[k]) recv(socks[k], buf, sizeof buf, 0);
}

// Step 3: loopback TCP connections held concurrently, one byte echoed on
// each, driven by one poller.
class ConnectionProbe {
 public:
  ConnectionProbe(const xpoll_probe_options_t& o, xpoll_probe_result_t& r) : o_(o), r_(r) {}

  void run() {
    int64_t n = o_.connections > 0 ? o_.connections : kDefaultCap / 2;
    if (!setup()) return;
    int idle_limit = o_.timeout_ms > 0 ? o_.timeout_ms : 5000;
    int64_t mem0 = memory_now();
    auto t0 = Clock::now();
    auto last = t0;
    Progress progress{o_};
    xpoll_event_t ev[256];
    for (;;) {
      while (!stop_ && opened_ < n && opened_ - held_ - failed_ < 128) open_one();
      if ((stop_ || opened_ >= n) && held_ + failed_ >= opened_) break;
      int got = xpoll_wait(poller_.p, ev, 256, 100);
      if (got < 0) {
        note_error(xpoll_errname(got));
        break;
      }
      if (got == 0) {
        int64_t idle = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - last).count();
        if (idle > (stop_ ? 300 : idle_limit)) {
          note_error("ETIMEDOUT");
          break;
        }
        continue;
      }
      last = Clock::now();
      for (int i = 0; i < got; ++i) handle(ev[i]);
      if (held_ % 1024 == 0) progress("connections", held_, n);
    }
    r_.connections_ns = ns_since(t0);
    r_.connections_tried = attempts_;
    r_.connections_held = held_;
    r_.connection_bytes = per_item(mem0, memory_now(), held_);
    progress("connections", held_, n);
  }

 private:
  enum Kind : uint64_t { kListener = 0, kClient = 1, kServer = 2 };
  static uint64_t tag(Kind k, size_t i) { return (static_cast<uint64_t>(k) << 32) | i; }

  bool setup() {
    int rc = xpoll_create(&poller_.p, o_.backend, 0);
    if (rc != 0) {
      note_error(xpoll_errname(rc));
      return false;
    }
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

  bool fail(int e) {
    note_error(wsa_name(e));
    stop_ = true;
    return false;
  }

  void note_error(const char* name) {
    if (!r_.connections_error[0]) std::snprintf(r_.connections_error, sizeof r_.connections_error, "%s", name);
  }

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
      if (rc != 0) {
        note_error(xpoll_errname(rc));
        stop_ = true;
      }
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
    if (rc != 0) {
      note_error(xpoll_errname(rc));
      ++failed_;
    } else if (send(s, "x", 1, 0) != 1) {
      lost(WSAGetLastError());
    }
  }

  void lost(int e) {
    note_error(wsa_name(e));
    ++failed_;
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

  const xpoll_probe_options_t& o_;
  xpoll_probe_result_t& r_;
  Sockets socks_;  // every socket of the step, closed last
  PollerHolder poller_;
  sockaddr_in addr_{};
  SOCKET listener_ = INVALID_SOCKET;
  int64_t attempts_ = 0, opened_ = 0, held_ = 0, failed_ = 0;
  bool stop_ = false;
};

int probe(const xpoll_probe_options_t& o, xpoll_probe_result_t& r) {
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

}  // namespace

}  // namespace xpoll::detail

using namespace xpoll::detail;

extern "C" {

XPOLL_API int xpoll_read_limits(xpoll_limits_t* out) {
  if (!out || out->size < offsetof(xpoll_limits_t, nofile_hard)) return XPOLL_EINVAL;
  xpoll_limits_t full;
  fill_limits(full);
  copy_out(full, out, out->size);
  return 0;
}

// Nothing to raise: there is no such limit. Reported as already there.
XPOLL_API int xpoll_raise_nofile(int64_t* before, int64_t* after) {
  if (before) *before = XPOLL_LIMIT_INFINITE;
  if (after) *after = XPOLL_LIMIT_INFINITE;
  return 0;
}

XPOLL_API int xpoll_probe(const xpoll_probe_options_t* opts, xpoll_probe_result_t* out) {
  if (!opts || !out || opts->size < sizeof(xpoll_probe_options_t) || out->size < sizeof(xpoll_probe_result_t))
    return XPOLL_EINVAL;
  if (opts->steps & ~(XPOLL_PROBE_DESCRIPTORS | XPOLL_PROBE_BACKENDS | XPOLL_PROBE_CONNECTIONS)) return XPOLL_EINVAL;
  if (opts->max_descriptors < 0 || opts->connections < 0 || opts->timeout_ms < 0 || opts->ready < 0)
    return XPOLL_EINVAL;
  if (opts->backend && !find_backend(opts->backend)) return XPOLL_ENOBACKEND;
  uint32_t size = out->size;
  try {
    xpoll_probe_result_t r{};
    int rc = probe(*opts, r);
    copy_out(r, out, size);
    return rc;
  } catch (const std::bad_alloc&) {
    return XPOLL_ENOMEM;
  } catch (...) {
    return XPOLL_EIO;
  }
}

}  // extern "C"
