// What the probe needs to know of the operating system: its descriptor
// limits and how much memory is in use. One implementation per OS family
// (limits_linux.cpp, limits_sysctl.cpp), chosen by CMake.
#ifndef XPOLL_SRC_LIMITS_HPP
#define XPOLL_SRC_LIMITS_HPP

#include <cstdint>

#include "xpoll/xpoll.h"

namespace xpoll::detail {

// Fills the system-wide fields of `l` that this OS has (nr_open, file_max,
// files_in_use, maxfilesperproc, open_max, open_now, ephemeral_ports); the
// caller has set every field to unknown with no source.
void read_os_limits(xpoll_limits_t& l) noexcept;

// The most the soft RLIMIT_NOFILE may be raised to besides the hard limit
// (fs.nr_open, kern.maxfilesperproc), or -1 when there is no such ceiling.
int64_t nofile_ceiling() noexcept;
// A smaller soft limit to try when the kernel refuses the ceiling (macOS's
// OPEN_MAX), or -1.
int64_t nofile_fallback() noexcept;

// Resident memory of this process and kernel memory of the whole system
// (slab) in bytes, or -1 when this OS does not say.
int64_t process_bytes() noexcept;
int64_t kernel_bytes() noexcept;

}  // namespace xpoll::detail

#endif  // XPOLL_SRC_LIMITS_HPP
