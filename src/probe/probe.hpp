// What the probe's steps share (probe.cpp: the limits, the descriptors and
// each backend's check; connections.cpp: the connection step): timing, the
// memory figure, progress and a poller that destroys itself. The probe is a
// client of the public API and the registry; what differs between OSes is
// in the socket shim (socket.hpp) and the limits readers (limits.hpp).
#ifndef XPOLL_SRC_PROBE_PROBE_HPP
#define XPOLL_SRC_PROBE_PROBE_HPP

#include <algorithm>
#include <chrono>
#include <cstdint>

#include "xpoll/xpoll.h"

namespace xpoll::detail::probe {

using Clock = std::chrono::steady_clock;

inline int64_t ns_since(Clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count();
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

// The limits as they are now: every field this OS has, the others unknown
// and not applicable.
xpoll_limits_t current_limits();

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

// Step 3: loopback TCP connections held concurrently, one byte echoed on
// each, driven by one poller (connections.cpp).
void probe_connections(const xpoll_probe_options_t& o, xpoll_probe_result_t& r);

}  // namespace xpoll::detail::probe

#endif  // XPOLL_SRC_PROBE_PROBE_HPP
