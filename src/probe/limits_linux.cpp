// Descriptor limits and memory use on Linux, from /proc.
#include <dirent.h>
#include <unistd.h>

#include <cstdio>
#include <string_view>

#include "probe/limits.hpp"

namespace xpoll::detail {

namespace {

// Reads up to `n` integers from a /proc file; returns how many were read.
int read_ints(const char* path, long long* v, int n) noexcept {
  FILE* f = std::fopen(path, "re");
  if (!f) return 0;
  int got = 0;
  while (got < n && std::fscanf(f, "%lld", &v[got]) == 1) ++got;
  std::fclose(f);
  return got;
}

void from_proc(xpoll_limit_t& l, const char* path) noexcept {
  long long v;
  if (read_ints(path, &v, 1) == 1) l = xpoll_limit_t{v, path};
}

// A value from /proc/meminfo in bytes ("Slab:  1234 kB"), or -1.
int64_t meminfo(const char* key) noexcept {
  FILE* f = std::fopen("/proc/meminfo", "re");
  if (!f) return -1;
  char name[64];
  long long kb;
  int64_t out = -1;
  while (std::fscanf(f, "%63s %lld kB", name, &kb) == 2) {
    if (std::string_view(name) == key) {
      out = kb * 1024;
      break;
    }
  }
  std::fclose(f);
  return out;
}

}  // namespace

void read_os_limits(xpoll_limits_t& l) noexcept {
  from_proc(l.nr_open, "/proc/sys/fs/nr_open");
  from_proc(l.file_max, "/proc/sys/fs/file-max");
  long long nr[3];
  // fs.file-nr: allocated handles, allocated but unused (always 0 since 2.6), maximum.
  if (read_ints("/proc/sys/fs/file-nr", nr, 3) >= 2) l.files_in_use = {nr[0] - nr[1], "/proc/sys/fs/file-nr"};
  long om = sysconf(_SC_OPEN_MAX);
  if (om > 0) l.open_max = {om, "sysconf(_SC_OPEN_MAX)"};
  if (DIR* d = opendir("/proc/self/fd")) {
    int64_t n = 0;
    while (readdir(d)) ++n;
    closedir(d);
    l.open_now = {n - 3, "/proc/self/fd"};  // less ".", ".." and the directory's own descriptor
  }
  long long range[2];
  if (read_ints("/proc/sys/net/ipv4/ip_local_port_range", range, 2) == 2 && range[1] >= range[0])
    l.ephemeral_ports = {range[1] - range[0] + 1, "/proc/sys/net/ipv4/ip_local_port_range"};
}

int64_t nofile_ceiling() noexcept {
  long long v;
  return read_ints("/proc/sys/fs/nr_open", &v, 1) == 1 ? v : -1;
}

int64_t nofile_fallback() noexcept { return -1; }

int64_t process_bytes() noexcept {
  long long pages[2];
  if (read_ints("/proc/self/statm", pages, 2) != 2) return -1;
  return pages[1] * sysconf(_SC_PAGESIZE);
}

int64_t kernel_bytes() noexcept { return meminfo("Slab:"); }

}  // namespace xpoll::detail
