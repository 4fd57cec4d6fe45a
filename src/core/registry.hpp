// The compiled backends, in order of preference. CMake writes the list
// (backends.inc) at configure time; this file only names it.
#ifndef XPOLL_SRC_REGISTRY_HPP
#define XPOLL_SRC_REGISTRY_HPP

#include <cstddef>
#include <cstdint>

#include "core/backend.hpp"

namespace xpoll::detail {

struct BackendInfo {
  const char* name;
  BackendFactory make;
  uint32_t caps;    // public XPOLL_CAP_* and internal kCap* bits
  long fd_ceiling;  // largest descriptor number whatever the limit, or -1
};

// The compiled backends, best first (the configured default leads).
const BackendInfo* const* backend_list(size_t& count) noexcept;
// The backend of that name, or nullptr when it is not compiled.
const BackendInfo* find_backend(const char* name) noexcept;

}  // namespace xpoll::detail

#endif  // XPOLL_SRC_REGISTRY_HPP
