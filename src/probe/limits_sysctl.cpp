// Descriptor limits on macOS and the BSDs, from sysctl.
// sys/sysctl.h needs sys/types.h before it on the BSDs: its own block.
#include <sys/types.h>

#include <dirent.h>
#include <limits.h>
#include <sys/sysctl.h>
#include <unistd.h>

#include "probe/limits.hpp"

namespace xpoll::detail {

namespace {

// Reads an integer sysctl of either width.
bool sysctl_int(const char* name, int64_t& out) noexcept {
  union {
    int i;
    long l;
    long long ll;
  } v{};
  size_t len = sizeof v;
  if (sysctlbyname(name, &v, &len, nullptr, 0) != 0) return false;
  out = len == sizeof(int) ? v.i : len == sizeof(long) ? v.l : v.ll;
  return true;
}

void from_sysctl(xpoll_limit_t& l, const char* name, const char* source) noexcept {
  int64_t v;
  if (sysctl_int(name, v)) l = xpoll_limit_t{v, source};
}

}  // namespace

void read_os_limits(xpoll_limits_t& l) noexcept {
  from_sysctl(l.file_max, "kern.maxfiles", "sysctl kern.maxfiles");
  from_sysctl(l.maxfilesperproc, "kern.maxfilesperproc", "sysctl kern.maxfilesperproc");
  from_sysctl(l.files_in_use, "kern.openfiles", "sysctl kern.openfiles");
#if defined(OPEN_MAX)
  l.open_max = {OPEN_MAX, "OPEN_MAX (limits.h)"};
#else
  long om = sysconf(_SC_OPEN_MAX);
  if (om > 0) l.open_max = {om, "sysconf(_SC_OPEN_MAX)"};
#endif
  if (DIR* d = opendir("/dev/fd")) {
    int64_t n = 0;
    while (readdir(d)) ++n;
    closedir(d);
    l.open_now = {n - 3, "/dev/fd"};
  }
  int64_t first, last;
  if (sysctl_int("net.inet.ip.portrange.first", first) && sysctl_int("net.inet.ip.portrange.last", last) &&
      last >= first)
    l.ephemeral_ports = {last - first + 1, "sysctl net.inet.ip.portrange.first/last"};
}

int64_t nofile_ceiling() noexcept {
  int64_t v;
  return sysctl_int("kern.maxfilesperproc", v) ? v : -1;
}

int64_t nofile_fallback() noexcept {
#if defined(OPEN_MAX)
  return OPEN_MAX;  // macOS: setrlimit refuses RLIM_INFINITY, and on some releases anything above OPEN_MAX
#else
  return -1;
#endif
}

int64_t process_bytes() noexcept { return -1; }
int64_t kernel_bytes() noexcept { return -1; }

}  // namespace xpoll::detail
