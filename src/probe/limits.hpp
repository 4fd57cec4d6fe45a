// What the probe needs to know of the operating system: its descriptor
// limits, how to raise the soft one, and how much memory is in use.
// limits_posix.cpp (getrlimit) and limits_win32.cpp implement the first
// part; on POSIX, limits_linux.cpp (/proc) or limits_sysctl.cpp (macOS, BSD)
// the second, chosen by CMake.
#ifndef XPOLL_SRC_LIMITS_HPP
#define XPOLL_SRC_LIMITS_HPP

#include <cstdint>

#include "xpoll/xpoll.h"

namespace xpoll::detail {

// ---- Every OS (limits_posix.cpp, limits_win32.cpp) ---------------------------

// Fills the fields of `l` that this OS has; the caller has set every field
// to unknown with no source.
void read_limits(xpoll_limits_t& l) noexcept;
// xpoll_raise_nofile(): the soft limit raised as far as allowed.
int raise_nofile(int64_t* before, int64_t* after) noexcept;
// Memory in use by this process, with the kernel's (slab) where this OS
// says, in bytes, or -1.
int64_t memory_now() noexcept;
// The descriptors the descriptor step opens when the caller sets no cap
// (INT64_MAX: until the limit), and those it expects to open given the
// limits `l` (the soft limit, 2^20 when that is unlimited; INT64_MAX where
// there is none).
int64_t descriptor_cap() noexcept;
int64_t descriptors_expected(const xpoll_limits_t& l) noexcept;
// The connections the connection step tries when the caller does not say.
int64_t connections_default(const xpoll_limits_t& l) noexcept;

// ---- POSIX (limits_linux.cpp, limits_sysctl.cpp) -----------------------------

// Fills the system-wide fields of `l` that this OS has (nr_open, file_max,
// files_in_use, maxfilesperproc, open_max, open_now, ephemeral_ports).
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
