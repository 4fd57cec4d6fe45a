// The descriptor limits of a POSIX process (getrlimit), raising the soft
// one, and the memory in use; the system-wide limits come from
// limits_linux.cpp or limits_sysctl.cpp.
#include <errno.h>
#include <sys/resource.h>
#include <sys/select.h>

#include <algorithm>

#include "platform/platform.hpp"
#include "probe/limits.hpp"

namespace xpoll::detail {

namespace {

int64_t from_rlim(rlim_t v) { return v == RLIM_INFINITY ? XPOLL_LIMIT_INFINITE : static_cast<int64_t>(v); }

// The soft limit, or `unlimited` when it is not a number.
int64_t soft_or(const xpoll_limits_t& l, int64_t unlimited) {
  return l.nofile_soft.value == XPOLL_LIMIT_INFINITE ? unlimited : l.nofile_soft.value;
}

// A soft limit below the hard one that the kernel refused (macOS answers
// EINVAL above OPEN_MAX): the fallback, if it is higher than `rl`'s.
int try_fallback(struct rlimit rl, int rc) {
  int64_t fallback = nofile_fallback();
  if (rl.rlim_max != RLIM_INFINITY) fallback = std::min<int64_t>(fallback, static_cast<int64_t>(rl.rlim_max));
  if (fallback <= static_cast<int64_t>(rl.rlim_cur)) return rc;
  rl.rlim_cur = static_cast<rlim_t>(fallback);
  return setrlimit(RLIMIT_NOFILE, &rl) == 0 ? 0 : rc;
}

}  // namespace

void read_limits(xpoll_limits_t& l) noexcept {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    l.nofile_soft = {from_rlim(rl.rlim_cur), "getrlimit(RLIMIT_NOFILE)"};
    l.nofile_hard = {from_rlim(rl.rlim_max), "getrlimit(RLIMIT_NOFILE)"};
  }
  l.fd_setsize = {FD_SETSIZE, "FD_SETSIZE (sys/select.h)"};
  read_os_limits(l);
}

int raise_nofile(int64_t* before, int64_t* after) noexcept {
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
    if (setrlimit(RLIMIT_NOFILE, &want) != 0) rc = try_fallback(rl, from_errno(errno));
  }
  if (after) *after = getrlimit(RLIMIT_NOFILE, &rl) == 0 ? from_rlim(rl.rlim_cur) : XPOLL_LIMIT_UNKNOWN;
  return rc;
}

int64_t memory_now() noexcept {
  int64_t p = process_bytes(), k = kernel_bytes();
  return p < 0 ? -1 : p + (k < 0 ? 0 : k);
}

int64_t descriptor_cap() noexcept { return INT64_MAX; }

int64_t descriptors_expected(const xpoll_limits_t& l) noexcept {
  return l.nofile_soft.value < 0 ? 1 << 20 : soft_or(l, 1 << 20);
}

// Two descriptors each (both ends are in this process), less those open and
// some slack.
int64_t connections_default(const xpoll_limits_t& l) noexcept {
  return std::max<int64_t>(1, (soft_or(l, 1 << 20) - std::max<int64_t>(l.open_now.value, 3) - 32) / 2);
}

}  // namespace xpoll::detail
