// The descriptor-limit probe on POSIX systems: reads the limits, raises the
// soft limit, and measures what this process can really hold: descriptors
// (socket pairs until EMFILE), each backend's readiness at that size, and
// loopback TCP connections echoing one byte each. Everything it opens is
// owned by a holder that closes it, so an early return leaks nothing.
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <new>
#include <vector>

#include "probe/limits.hpp"
#include "platform/platform.hpp"
#include "probe/probe.hpp"
#include "core/registry.hpp"

namespace xpoll::detail {

namespace {

using namespace probe;

int64_t from_rlim(rlim_t v) { return v == RLIM_INFINITY ? XPOLL_LIMIT_INFINITE : static_cast<int64_t>(v); }

void fill_limits(xpoll_limits_t& l) {
  clear_limits(l);
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    l.nofile_soft = {from_rlim(rl.rlim_cur), "getrlimit(RLIMIT_NOFILE)"};
    l.nofile_hard = {from_rlim(rl.rlim_max), "getrlimit(RLIMIT_NOFILE)"};
  }
  l.fd_setsize = {FD_SETSIZE, "FD_SETSIZE (sys/select.h)"};
  read_os_limits(l);
}

const char* errno_name(int e) {
  switch (e) {
    case EMFILE: return "EMFILE";
    case ENFILE: return "ENFILE";
    case ENOMEM: return "ENOMEM";
    case ENOBUFS: return "ENOBUFS";
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case EADDRINUSE: return "EADDRINUSE";
    case ECONNREFUSED: return "ECONNREFUSED";
    case ECONNRESET: return "ECONNRESET";
    case ETIMEDOUT: return "ETIMEDOUT";
    case EPIPE: return "EPIPE";
    case ENOSPC: return "ENOSPC";
    default: return "EIO";
  }
}

void set_nonblocking(int fd) {
  fcntl(fd, F_SETFD, FD_CLOEXEC);
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

// Descriptors closed together on destruction.
class Descriptors {
 public:
  Descriptors() = default;
  Descriptors(const Descriptors&) = delete;
  Descriptors& operator=(const Descriptors&) = delete;
  ~Descriptors() { close_from(0); }
  void close_from(size_t i) {
    while (fds_.size() > i) {
      if (fds_.back() >= 0) ::close(fds_.back());
      fds_.pop_back();
    }
  }
  std::vector<int>& fds() { return fds_; }

 private:
  std::vector<int> fds_;
};

int64_t memory_now() {
  int64_t p = process_bytes(), k = kernel_bytes();
  return p < 0 ? -1 : p + (k < 0 ? 0 : k);
}

// Step 1: socket pairs until the limit (or the cap); the last free slot, when
// a pair no longer fits, is taken by a duplicate. Pairs are stored a, b.
void open_descriptors(const xpoll_probe_options_t& o, xpoll_probe_result_t& r, Descriptors& d) {
  struct rlimit rl;
  int64_t expect = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY ? rl.rlim_cur : 1 << 20;
  if (o.max_descriptors > 0) expect = std::min<int64_t>(expect, o.max_descriptors);
  std::vector<int>& fds = d.fds();
  // Reserved up to a million; beyond (limits of 2^30 are seen in containers)
  // the vector grows as the descriptors really open.
  fds.reserve(static_cast<size_t>(std::min<int64_t>(expect, 1 << 20)) + 2);
  Progress progress{o};
  int64_t mem0 = memory_now();
  auto t0 = Clock::now();
  int err = 0;
  while (o.max_descriptors <= 0 || static_cast<int64_t>(fds.size()) + 2 <= o.max_descriptors) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
      err = errno;
      break;
    }
    set_nonblocking(sv[0]);
    set_nonblocking(sv[1]);
    fds.push_back(sv[0]);
    fds.push_back(sv[1]);
    if (fds.size() % 2048 == 0) progress("descriptors", static_cast<int64_t>(fds.size()), expect);
  }
  int extra = -1;
  if (err == EMFILE && !fds.empty()) extra = fcntl(fds[0], F_DUPFD_CLOEXEC, 0);
  r.descriptors_ns = ns_since(t0);
  r.descriptors = static_cast<int64_t>(fds.size()) + (extra >= 0 ? 1 : 0);
  // The duplicate only counted; closing it also lets /proc be read at the limit.
  if (extra >= 0) ::close(extra);
  r.descriptor_bytes = per_item(mem0, memory_now(), r.descriptors);
  r.descriptors_error = err ? from_errno(err) : 0;
  progress("descriptors", r.descriptors, r.descriptors);
}

// Step 2, for one backend: register every descriptor, make the highest
// `ready` of them readable, and check that exactly those are reported.
void check_backend(const char* name, const xpoll_probe_options_t& o, Descriptors& d, xpoll_probe_backend_t& b) {
  std::snprintf(b.name, sizeof b.name, "%s", name);
  b.capabilities = static_cast<uint32_t>(xpoll_backend_capabilities(name));
  b.max_fd = xpoll_backend_max_fd(name);
  // The poller needs descriptors of its own (an emulated kqueue takes ten):
  // give back whole pairs until it can be made.
  PollerHolder q;
  int rc = xpoll_create(&q.p, name, 0);
  for (int i = 0; i < 64 && (rc == XPOLL_EMFILE || rc == XPOLL_ENFILE) && d.fds().size() >= 2; ++i) {
    d.close_from(d.fds().size() - 2);
    rc = xpoll_create(&q.p, name, 0);
  }
  if (rc != 0) {
    b.error = rc;
    return;
  }
  const std::vector<int>& fds = d.fds();
  Progress progress{o};
  auto t0 = Clock::now();
  size_t registered = 0;
  for (int fd : fds) {
    rc = xpoll_add(q.p, fd, XPOLL_IN, static_cast<uint64_t>(fd));
    if (rc != 0) {
      b.error = rc;
      break;
    }
    ++registered;
    b.highest_fd = std::max<int64_t>(b.highest_fd, fd);
    if (registered % 2048 == 0) progress(name, static_cast<int64_t>(registered), static_cast<int64_t>(fds.size()));
  }
  b.register_ns = ns_since(t0);
  b.registered = static_cast<int64_t>(registered);
  // Whole pairs only: writing into one end makes the other readable.
  size_t pairs = registered / 2;
  size_t want = static_cast<size_t>(std::max(2, o.ready > 0 ? o.ready : 16));
  size_t k = std::min(pairs, (want + 1) / 2);
  std::vector<char> expected(static_cast<size_t>(b.highest_fd) + 1, 0);
  for (size_t i = pairs - k; i < pairs; ++i) {
    for (int j = 0; j < 2; ++j) {
      int fd = fds[2 * i + j];
      if (::write(fd, "x", 1) == 1) expected[static_cast<size_t>(fds[2 * i + 1 - j])] = 1;
    }
  }
  tally_ready(q.p, o, expected, b);  // the registrations' data are their descriptors
  b.passed = (b.error == 0 || b.error == XPOLL_ERANGE) && b.ready_expected > 0 &&
             b.ready_reported == b.ready_expected && b.wrong_reported == 0;
  char buf[8];
  for (size_t fd = 0; fd < expected.size(); ++fd)
    if (expected[fd]) (void)!::read(static_cast<int>(fd), buf, sizeof buf);
}

// Step 3: loopback TCP connections held concurrently, one byte echoed on
// each, driven by one poller.
class ConnectionProbe : public ConnectionsBase {
 public:
  using ConnectionsBase::ConnectionsBase;

  void run() {
    int64_t n = o_.connections;
    if (n <= 0) {
      xpoll_limits_t l;
      fill_limits(l);
      int64_t soft = l.nofile_soft.value == XPOLL_LIMIT_INFINITE ? 1 << 20 : l.nofile_soft.value;
      n = std::max<int64_t>(1, (soft - std::max<int64_t>(l.open_now.value, 3) - 32) / 2);
    }
    ConnectionsBase::run(*this, n, memory_now);
  }

 private:
  friend class ConnectionsBase;

  bool setup() {
    if (!create_poller()) return false;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return fail(errno);
    fds_.fds().push_back(fd);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    std::memset(&addr_, 0, sizeof addr_);
    addr_.sin_family = AF_INET;
    addr_.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr_;
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr_), sizeof addr_) != 0 || listen(fd, SOMAXCONN) != 0 ||
        getsockname(fd, reinterpret_cast<sockaddr*>(&addr_), &len) != 0)
      return fail(errno);
    set_nonblocking(fd);
    listener_ = fd;
    // One descriptor kept back, so that memory can be read at the limit.
    reserve_ = dup(listener_);
    return xpoll_add(poller_.p, fd, XPOLL_IN, tag(kListener, 0)) == 0;
  }

  bool fail(int e) { return stop_with(errno_name(e)); }

  void open_one() {
    ++attempts_;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
      fail(errno);
      return;
    }
    set_nonblocking(fd);
    size_t i = fds_.fds().size();
    fds_.fds().push_back(fd);
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr_), sizeof addr_) == 0) {
      send_ping(fd, i);
    } else if (errno == EINPROGRESS) {
      int rc = xpoll_add(poller_.p, fd, XPOLL_OUT, tag(kClient, i));
      if (rc != 0) stop_with(xpoll_errname(rc));
    } else {
      fail(errno);
      fds_.close_from(i);  // a connection that never was
      return;
    }
    ++opened_;
  }

  void send_ping(int fd, size_t i) {
    int rc = xpoll_modify(poller_.p, fd, XPOLL_IN, tag(kClient, i));
    if (rc == XPOLL_ENOENT) rc = xpoll_add(poller_.p, fd, XPOLL_IN, tag(kClient, i));
    if (rc != 0)
      lost(xpoll_errname(rc));
    else if (::write(fd, "x", 1) != 1)
      lost(errno);
  }

  void lost(int e) { ConnectionsBase::lost(errno_name(e)); }
  using ConnectionsBase::lost;

  // Called by run() before it reads the memory in use.
  void release_reserve() {
    if (reserve_ >= 0) ::close(reserve_);
    reserve_ = -1;
  }

  void handle(const xpoll_event_t& e) {
    Kind kind = static_cast<Kind>(e.data >> 32);
    size_t i = static_cast<size_t>(e.data & 0xffffffffu);
    int fd = e.fd;
    char c;
    switch (kind) {
      case kListener:
        for (int k = 0; k < 256; ++k) {
          int s = accept(listener_, nullptr, nullptr);
          if (s < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
              // A full descriptor table leaves the connection queued and the
              // listener readable: stop watching it rather than spin.
              fail(errno);
              xpoll_remove(poller_.p, listener_);
            }
            break;
          }
          set_nonblocking(s);
          size_t j = fds_.fds().size();
          fds_.fds().push_back(s);
          xpoll_add(poller_.p, s, XPOLL_IN, tag(kServer, j));
        }
        break;
      case kClient:
        if (e.events & XPOLL_OUT) {
          int err = 0;
          socklen_t len = sizeof err;
          getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
          if (err != 0) {
            xpoll_remove(poller_.p, fd);
            lost(err);
          } else {
            send_ping(fd, i);
          }
        } else {
          ssize_t n = ::read(fd, &c, 1);
          if (n == 1 && c == 'x') {
            xpoll_remove(poller_.p, fd);  // held: stays open until the end
            ++held_;
          } else if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
            xpoll_remove(poller_.p, fd);
            lost(n == 0 ? ECONNRESET : errno);
          }
        }
        break;
      case kServer:
        if (::read(fd, &c, 1) == 1) (void)!::write(fd, &c, 1);
        xpoll_remove(poller_.p, fd);
        break;
    }
  }

  Descriptors fds_;  // every socket of the step, closed last
  sockaddr_in addr_{};
  int listener_ = -1;
  int reserve_ = -1;
};

}  // namespace

int probe_run(const xpoll_probe_options_t& o, xpoll_probe_result_t& r) {
  if (o.steps & (XPOLL_PROBE_DESCRIPTORS | XPOLL_PROBE_BACKENDS)) {
    Descriptors d;
    open_descriptors(o, r, d);
    r.steps |= XPOLL_PROBE_DESCRIPTORS;
    if (o.steps & XPOLL_PROBE_BACKENDS) {
      // Room for the pollers' own descriptors: give back the last eight
      // pairs. (libkqueue opens ten for its first kqueue, and one that fails
      // half-way with EMFILE leaves it unusable, so a retry is too late.)
      std::vector<int>& fds = d.fds();
      d.close_from(fds.size() >= 16 ? fds.size() - 16 : 0);
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

XPOLL_API int xpoll_raise_nofile(int64_t* before, int64_t* after) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return from_errno(errno);
  if (before) *before = from_rlim(rl.rlim_cur);
  rlim_t target = rl.rlim_max;
  int64_t ceiling = nofile_ceiling();
  if (ceiling > 0 && (target == RLIM_INFINITY || static_cast<int64_t>(target) > ceiling))
    target = static_cast<rlim_t>(ceiling);
  int rc = 0;
  if (target != rl.rlim_cur && (rl.rlim_cur == RLIM_INFINITY ? false : target > rl.rlim_cur)) {
    struct rlimit want = {target, rl.rlim_max};
    if (setrlimit(RLIMIT_NOFILE, &want) != 0) {
      rc = from_errno(errno);
      int64_t fallback = nofile_fallback();
      if (rl.rlim_max != RLIM_INFINITY) fallback = std::min<int64_t>(fallback, static_cast<int64_t>(rl.rlim_max));
      if (fallback > static_cast<int64_t>(rl.rlim_cur)) {
        want.rlim_cur = static_cast<rlim_t>(fallback);
        if (setrlimit(RLIMIT_NOFILE, &want) == 0) rc = 0;
      }
    }
  }
  if (after) *after = getrlimit(RLIMIT_NOFILE, &rl) == 0 ? from_rlim(rl.rlim_cur) : XPOLL_LIMIT_UNKNOWN;
  return rc;
}

XPOLL_API int xpoll_probe(const xpoll_probe_options_t* opts, xpoll_probe_result_t* out) {
  return probe::probe_entry(opts, out, xpoll::detail::probe_run);
}

}  // extern "C"
