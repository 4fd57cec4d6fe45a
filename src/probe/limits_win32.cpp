// The limits of a Windows process. Windows has no per-process descriptor
// limit (handles are bounded by memory, about 16 million), so the limits
// reported are the ones that do bite: FD_SETSIZE as compiled, the C
// runtime's stdio streams, and the handles open now.
// winsock2.h before windows.h, and windows.h before psapi.h.
#include <winsock2.h>
// (kept apart so that formatting does not sort them)
#include <windows.h>
//
#include <psapi.h>
#include <stdio.h>  // _getmaxstdio

#include "probe/limits.hpp"

namespace xpoll::detail {

namespace {

// The descriptor step's cap when the caller sets none: there is no limit to
// stop at.
constexpr int64_t kDefaultCap = 65536;

}  // namespace

void read_limits(xpoll_limits_t& l) noexcept {
  l.nofile_soft = {XPOLL_LIMIT_INFINITE, "none on Windows (handles are bounded by memory)"};
  l.nofile_hard = l.nofile_soft;
  l.fd_setsize = {FD_SETSIZE, "FD_SETSIZE (winsock2.h; xpoll's select is not bound by it)"};
  l.stdio_max = {_getmaxstdio(), "_getmaxstdio()"};
  DWORD handles = 0;
  if (GetProcessHandleCount(GetCurrentProcess(), &handles))
    l.open_now = {static_cast<int64_t>(handles), "GetProcessHandleCount()"};
}

// Nothing to raise: there is no such limit. Reported as already there.
int raise_nofile(int64_t* before, int64_t* after) noexcept {
  if (before) *before = XPOLL_LIMIT_INFINITE;
  if (after) *after = XPOLL_LIMIT_INFINITE;
  return 0;
}

int64_t memory_now() noexcept {
  PROCESS_MEMORY_COUNTERS_EX pmc{};
  if (!GetProcessMemoryInfo(GetCurrentProcess(), reinterpret_cast<PROCESS_MEMORY_COUNTERS*>(&pmc), sizeof pmc))
    return -1;
  return static_cast<int64_t>(pmc.PrivateUsage);
}

int64_t descriptor_cap() noexcept { return kDefaultCap; }
int64_t descriptors_expected(const xpoll_limits_t&) noexcept { return INT64_MAX; }
int64_t connections_default(const xpoll_limits_t&) noexcept { return kDefaultCap / 2; }

}  // namespace xpoll::detail
