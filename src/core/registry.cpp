#include "core/registry.hpp"

#include <cstring>

namespace xpoll::detail {

#define XPOLL_BACKEND_ENTRY(n) extern const BackendInfo n##_backend_info;
#include "backends.inc"
#undef XPOLL_BACKEND_ENTRY

namespace {

const BackendInfo* const kBackends[] = {
#define XPOLL_BACKEND_ENTRY(n) &n##_backend_info,
#include "backends.inc"
#undef XPOLL_BACKEND_ENTRY
};

}  // namespace

const BackendInfo* const* backend_list(size_t& count) noexcept {
  count = sizeof kBackends / sizeof kBackends[0];
  return kBackends;
}

const BackendInfo* find_backend(const char* name) noexcept {
  for (const BackendInfo* b : kBackends)
    if (std::strcmp(b->name, name) == 0) return b;
  return nullptr;
}

}  // namespace xpoll::detail
