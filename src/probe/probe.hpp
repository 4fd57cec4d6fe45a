// What the probe does the same way on every OS (probe_posix.cpp,
// probe_win32.cpp): timing, copying results out to the caller's size,
// progress, the readiness tally of a backend check, the event loop of the
// connection step, and the checks and exception barrier of the C entry
// points. Each OS file supplies the limits, the descriptors and the sockets.
#ifndef XPOLL_SRC_PROBE_COMMON_HPP
#define XPOLL_SRC_PROBE_COMMON_HPP

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <new>
#include <vector>

#include "core/registry.hpp"
#include "xpoll/xpoll.h"

namespace xpoll::detail {

// Each OS's measurement, called by xpoll_probe() through probe_entry().
int probe_run(const xpoll_probe_options_t& o, xpoll_probe_result_t& r);

namespace probe {

using Clock = std::chrono::steady_clock;

inline int64_t ns_since(Clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count();
}

// Copies the first `size` bytes of a full struct into the caller's, whose
// size field says how much of it the caller knows.
template <class T>
void copy_out(const T& full, T* out, uint32_t size) {
  std::memcpy(static_cast<void*>(out), &full, std::min<size_t>(size, sizeof full));
  out->size = size;
}

// The fewest items a memory figure is given for. The readings are the
// process's resident pages and the whole host's slab, so a small sample is
// mostly noise: under a limit of 256, four runs read 1,289, 261, 734 and 261
// bytes per descriptor, where five runs of 1,024 read 1,880 to 2,212 and of
// 8,192 read 2,410 to 2,460. (xpoll-probe words its table with the same
// number, MEMORY_MIN_SAMPLE.)
constexpr int64_t kMinMemorySample = 1000;

// Memory per item from two readings, or unknown (also for too small a sample).
inline int64_t per_item(int64_t before, int64_t after, int64_t n) {
  if (before < 0 || after < 0 || n < kMinMemorySample) return XPOLL_LIMIT_UNKNOWN;
  return std::max<int64_t>(0, (after - before) / n);
}

// Every field unknown and not applicable, the size set.
inline void clear_limits(xpoll_limits_t& l) {
  const xpoll_limit_t none = {XPOLL_LIMIT_UNKNOWN, nullptr};
  l = xpoll_limits_t{};
  l.size = sizeof l;
  for (xpoll_limit_t* f : {&l.nofile_soft, &l.nofile_hard, &l.nr_open, &l.file_max, &l.files_in_use, &l.maxfilesperproc,
                           &l.open_max, &l.fd_setsize, &l.stdio_max, &l.open_now, &l.ephemeral_ports})
    *f = none;
}

// A poller destroyed on scope exit.
struct PollerHolder {
  xpoll_t* p = nullptr;
  PollerHolder() = default;
  PollerHolder(const PollerHolder&) = delete;
  PollerHolder& operator=(const PollerHolder&) = delete;
  ~PollerHolder() { xpoll_destroy(p); }
};

struct Progress {
  const xpoll_probe_options_t& o;
  void operator()(const char* step, int64_t done, int64_t total) const {
    if (o.progress) o.progress(o.progress_arg, step, done, total);
  }
};

// The end of a backend check: waits (bounded by the options' time-out) until
// every registration whose data indexes a set byte of `expected` has been
// reported, counts the others as wrong, and times one non-blocking wait at
// this size (the median of five).
inline void tally_ready(xpoll_t* p, const xpoll_probe_options_t& o, const std::vector<char>& expected,
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

// The counts and the first error of the connection step. An OS's connection
// probe derives from it and supplies setup(), open_one(), handle() and
// release_reserve() (a descriptor kept back until memory is read); run()
// drives them with one poller.
class ConnectionsBase {
 public:
  ConnectionsBase(const xpoll_probe_options_t& o, xpoll_probe_result_t& r) : o_(o), r_(r) {}

 protected:
  enum Kind : uint64_t { kListener = 0, kClient = 1, kServer = 2 };
  static uint64_t tag(Kind k, size_t i) { return (static_cast<uint64_t>(k) << 32) | i; }

  // Opens up to `n` connections, at most 128 in flight, until each has
  // echoed or failed, or nothing happened for the time-out.
  template <class Self>
  static void run(Self& self, int64_t n, int64_t (*memory_now)()) {
    ConnectionsBase& c = self;
    if (!self.setup()) return;
    int idle_limit = c.o_.timeout_ms > 0 ? c.o_.timeout_ms : 5000;
    int64_t mem0 = memory_now();
    auto t0 = Clock::now();
    auto last = t0;
    Progress progress{c.o_};
    xpoll_event_t ev[256];
    for (;;) {
      while (!c.stop_ && c.opened_ < n && c.opened_ - c.held_ - c.failed_ < 128) self.open_one();
      if ((c.stop_ || c.opened_ >= n) && c.held_ + c.failed_ >= c.opened_) break;
      int got = xpoll_wait(c.poller_.p, ev, 256, 100);
      if (got < 0 && got != XPOLL_EINTR) {
        c.note_error(xpoll_errname(got));
        break;
      }
      if (got <= 0) {
        // After the limit was met, pending connections may never finish.
        int64_t idle = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - last).count();
        if (idle > (c.stop_ ? 300 : idle_limit)) {
          c.note_error("ETIMEDOUT");
          break;
        }
        continue;
      }
      last = Clock::now();
      for (int i = 0; i < got; ++i) self.handle(ev[i]);
      if (c.held_ % 1024 == 0) progress("connections", c.held_, n);
    }
    c.r_.connections_ns = ns_since(t0);
    self.release_reserve();
    c.r_.connections_tried = c.attempts_;
    c.r_.connections_held = c.held_;
    c.r_.connection_bytes = per_item(mem0, memory_now(), c.held_);
    progress("connections", c.held_, n);
  }

  bool create_poller() {
    int rc = xpoll_create(&poller_.p, o_.backend, 0);
    if (rc != 0) note_error(xpoll_errname(rc));
    return rc == 0;
  }

  void note_error(const char* name) {
    if (!r_.connections_error[0]) std::snprintf(r_.connections_error, sizeof r_.connections_error, "%s", name);
  }

  // A failure that ends the step.
  bool stop_with(const char* name) {
    note_error(name);
    stop_ = true;
    return false;
  }

  // A connection that failed after it was opened.
  void lost(const char* name) {
    note_error(name);
    ++failed_;
  }

  const xpoll_probe_options_t& o_;
  xpoll_probe_result_t& r_;
  PollerHolder poller_;
  int64_t attempts_ = 0, opened_ = 0, held_ = 0, failed_ = 0;
  bool stop_ = false;
};

// xpoll_read_limits(): the argument checks; `fill` reads the limits.
inline int read_limits_entry(xpoll_limits_t* out, void (*fill)(xpoll_limits_t&)) {
  if (!out || out->size < offsetof(xpoll_limits_t, nofile_hard)) return XPOLL_EINVAL;
  xpoll_limits_t full;
  fill(full);
  copy_out(full, out, out->size);
  return 0;
}

// xpoll_probe(): the argument checks and the exception barrier; `run`
// measures into a zeroed result that is then copied out.
inline int probe_entry(const xpoll_probe_options_t* opts, xpoll_probe_result_t* out,
                       int (*run)(const xpoll_probe_options_t&, xpoll_probe_result_t&)) {
  if (!opts || !out || opts->size < sizeof(xpoll_probe_options_t) || out->size < sizeof(xpoll_probe_result_t))
    return XPOLL_EINVAL;
  if (opts->steps & ~(XPOLL_PROBE_DESCRIPTORS | XPOLL_PROBE_BACKENDS | XPOLL_PROBE_CONNECTIONS)) return XPOLL_EINVAL;
  if (opts->max_descriptors < 0 || opts->connections < 0 || opts->timeout_ms < 0 || opts->ready < 0)
    return XPOLL_EINVAL;
  if (opts->backend && !find_backend(opts->backend)) return XPOLL_ENOBACKEND;
  uint32_t size = out->size;
  try {
    xpoll_probe_result_t r{};
    int rc = run(*opts, r);
    copy_out(r, out, size);
    return rc;
  } catch (const std::bad_alloc&) {
    return XPOLL_ENOMEM;
  } catch (...) {
    return XPOLL_EIO;
  }
}

}  // namespace probe
}  // namespace xpoll::detail

#endif  // XPOLL_SRC_PROBE_COMMON_HPP
