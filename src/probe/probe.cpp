// The descriptor-limit probe, written once for every OS: reads the limits,
// and measures what this process can really hold: descriptors (fillers of
// the socket shim until the limit or a cap), each backend's readiness at
// that size, and loopback TCP connections (connections.cpp). Everything it
// opens is owned by a holder that closes it, so an early return leaks
// nothing. The OS's part is in socket_*.cpp and limits_*.cpp.
#include <cstdio>
#include <cstring>
#include <new>
#include <vector>

#include "core/registry.hpp"
#include "probe/limits.hpp"
#include "probe/probe.hpp"
#include "probe/socket.hpp"

namespace xpoll::detail::probe {

namespace {

// Copies the first `size` bytes of a full struct into the caller's, whose
// size field says how much of it the caller knows.
template <class T>
void copy_out(const T& full, T* out, uint32_t size) {
  std::memcpy(static_cast<void*>(out), &full, std::min<size_t>(size, sizeof full));
  out->size = size;
}

// Step 1: fillers until the limit or the cap; where a whole filler no longer
// fits, the last free slot may still count.
void open_descriptors(const xpoll_probe_options_t& o, xpoll_probe_result_t& r, SocketSet& d) {
  int64_t cap = o.max_descriptors > 0 ? o.max_descriptors : descriptor_cap();
  int64_t expect = std::min(cap, descriptors_expected(current_limits()));
  std::vector<Socket>& s = d.all();
  // Reserved up to a million; beyond (limits of 2^30 are seen in containers)
  // the vector grows as the descriptors really open.
  s.reserve(static_cast<size_t>(std::min<int64_t>(expect, 1 << 20)) + 2);
  Progress progress{o};
  int64_t mem0 = memory_now();
  auto t0 = Clock::now();
  int err = 0;
  while (static_cast<int64_t>(s.size() + kFillerSize) <= cap && (err = open_filler(s)) == 0) {
    if (s.size() % 2048 == 0) progress("descriptors", static_cast<int64_t>(s.size()), expect);
  }
  bool one_more = one_more_fits(s, err);
  r.descriptors_ns = ns_since(t0);
  r.descriptors = static_cast<int64_t>(s.size()) + (one_more ? 1 : 0);
  r.descriptor_bytes = per_item(mem0, memory_now(), r.descriptors);
  r.descriptors_error = err ? error_code(err) : 0;
  progress("descriptors", r.descriptors, r.descriptors);
}

// A poller of the backend `name`. It needs descriptors of its own (an
// emulated kqueue takes ten): whole fillers are given back until it can be
// made. 0, or the error.
int create_poller(const char* name, SocketSet& d, PollerHolder& q) {
  int rc = xpoll_create(&q.p, name, 0);
  for (int i = 0; i < 64 && (rc == XPOLL_EMFILE || rc == XPOLL_ENFILE) && d.size() >= kFillerSize; ++i) {
    d.close_from(d.size() - kFillerSize);
    rc = xpoll_create(&q.p, name, 0);
  }
  return rc;
}

// Registers every socket for reading, its position as its data; returns how
// many were.
size_t register_all(xpoll_t* p, const char* name, const xpoll_probe_options_t& o, const std::vector<Socket>& s,
                    xpoll_probe_backend_t& b) {
  Progress progress{o};
  auto t0 = Clock::now();
  size_t registered = 0;
  for (Socket fd : s) {
    int rc = xpoll_add(p, fd, XPOLL_IN, registered);
    if (rc != 0) {
      b.error = rc;
      break;
    }
    ++registered;
    b.highest_fd = std::max<int64_t>(b.highest_fd, static_cast<int64_t>(fd));
    if (registered % 2048 == 0) progress(name, static_cast<int64_t>(registered), static_cast<int64_t>(s.size()));
  }
  b.register_ns = ns_since(t0);
  b.registered = static_cast<int64_t>(registered);
  return registered;
}

// The end of a backend check: waits (bounded by the options' time-out) until
// every registration whose data indexes a set byte of `expected` has been
// reported, counts the others as wrong, and times one non-blocking wait at
// this size (the median of five).
void tally_ready(xpoll_t* p, const xpoll_probe_options_t& o, const std::vector<char>& expected,
                 xpoll_probe_backend_t& b) {
  std::vector<char> seen(expected.size(), 0);
  b.ready_expected = static_cast<int32_t>(std::count(expected.begin(), expected.end(), 1));
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
  auto deadline = Clock::now() + std::chrono::milliseconds(o.timeout_ms > 0 ? o.timeout_ms : 5000);
  while (b.ready_reported < b.ready_expected && Clock::now() < deadline) {
    int n = xpoll_wait(p, ev, 64, 50);
    if (n < 0 && n != XPOLL_EINTR) {
      if (!b.error) b.error = n;
      break;
    }
    if (n > 0) take(n);
  }
  int64_t times[5];
  for (int64_t& t : times) {
    auto w0 = Clock::now();
    int n = xpoll_wait(p, ev, 64, 0);
    t = ns_since(w0);
    if (n > 0) take(n);
  }
  std::sort(times, times + 5);
  b.wait_ns = times[2];
}

// Step 2, for one backend: register every descriptor, make the highest
// `ready` of them readable, and check that exactly those are reported.
void check_backend(const char* name, const xpoll_probe_options_t& o, SocketSet& d, xpoll_probe_backend_t& b) {
  std::snprintf(b.name, sizeof b.name, "%s", name);
  b.capabilities = static_cast<uint32_t>(xpoll_backend_capabilities(name));
  b.max_fd = xpoll_backend_max_fd(name);
  PollerHolder q;
  int rc = create_poller(name, d, q);
  if (rc != 0) {
    b.error = rc;
    return;
  }
  size_t registered = register_all(q.p, name, o, d.all(), b);
  std::vector<char> expected(registered, 0);
  make_ready(d.all(), registered, static_cast<size_t>(o.ready > 0 ? o.ready : 16), expected);
  tally_ready(q.p, o, expected, b);
  // select's registrations stop at FD_SETSIZE (ERANGE): those below it count.
  b.passed = (b.error == 0 || b.error == XPOLL_ERANGE) && b.ready_expected > 0 &&
             b.ready_reported == b.ready_expected && b.wrong_reported == 0;
  for (size_t i = 0; i < expected.size(); ++i)
    if (expected[i]) drain(d.all()[i]);
}

void check_backends(const xpoll_probe_options_t& o, xpoll_probe_result_t& r, SocketSet& d) {
  d.close_from(d.size() >= kRoomForPollers ? d.size() - kRoomForPollers : 0);
  size_t count;
  const BackendInfo* const* list = backend_list(count);
  for (size_t i = 0; i < count && r.backend_count < XPOLL_PROBE_MAX_BACKENDS; ++i) {
    if (o.backend && std::strcmp(o.backend, list[i]->name) != 0) continue;
    check_backend(list[i]->name, o, d, r.backends[r.backend_count++]);
  }
}

int probe_run(const xpoll_probe_options_t& o, xpoll_probe_result_t& r) {
  if (o.steps & (XPOLL_PROBE_DESCRIPTORS | XPOLL_PROBE_BACKENDS)) {
    SocketSet d;
    open_descriptors(o, r, d);
    r.steps |= XPOLL_PROBE_DESCRIPTORS;
    if (o.steps & XPOLL_PROBE_BACKENDS) {
      check_backends(o, r, d);
      r.steps |= XPOLL_PROBE_BACKENDS;
    }
  }
  if (o.steps & XPOLL_PROBE_CONNECTIONS) {
    probe_connections(o, r);
    r.steps |= XPOLL_PROBE_CONNECTIONS;
  }
  return 0;
}

bool valid_options(const xpoll_probe_options_t* opts, const xpoll_probe_result_t* out) {
  if (!opts || !out || opts->size < sizeof(xpoll_probe_options_t) || out->size < sizeof(xpoll_probe_result_t))
    return false;
  if (opts->steps & ~(XPOLL_PROBE_DESCRIPTORS | XPOLL_PROBE_BACKENDS | XPOLL_PROBE_CONNECTIONS)) return false;
  return opts->max_descriptors >= 0 && opts->connections >= 0 && opts->timeout_ms >= 0 && opts->ready >= 0;
}

}  // namespace

xpoll_limits_t current_limits() {
  const xpoll_limit_t none = {XPOLL_LIMIT_UNKNOWN, nullptr};
  xpoll_limits_t l{};
  l.size = sizeof l;
  for (xpoll_limit_t* f : {&l.nofile_soft, &l.nofile_hard, &l.nr_open, &l.file_max, &l.files_in_use, &l.maxfilesperproc,
                           &l.open_max, &l.fd_setsize, &l.stdio_max, &l.open_now, &l.ephemeral_ports})
    *f = none;
  read_limits(l);
  return l;
}

}  // namespace xpoll::detail::probe

using namespace xpoll::detail;

extern "C" {

XPOLL_API int xpoll_read_limits(xpoll_limits_t* out) {
  if (!out || out->size < offsetof(xpoll_limits_t, nofile_hard)) return XPOLL_EINVAL;
  probe::copy_out(probe::current_limits(), out, out->size);
  return 0;
}

XPOLL_API int xpoll_raise_nofile(int64_t* before, int64_t* after) { return raise_nofile(before, after); }

// The argument checks and the exception barrier; the steps measure into a
// zeroed result that is then copied out.
XPOLL_API int xpoll_probe(const xpoll_probe_options_t* opts, xpoll_probe_result_t* out) {
  if (!probe::valid_options(opts, out)) return XPOLL_EINVAL;
  if (opts->backend && !find_backend(opts->backend)) return XPOLL_ENOBACKEND;
  uint32_t size = out->size;
  try {
    xpoll_probe_result_t r{};
    int rc = probe::probe_run(*opts, r);
    probe::copy_out(r, out, size);
    return rc;
  } catch (const std::bad_alloc&) {
    return XPOLL_ENOMEM;
  } catch (...) {
    return XPOLL_EIO;
  }
}

}  // extern "C"
