// The AFD helper handles of the IOCP backend; see groups.hpp.
#include "backends/windows/iocp/groups.hpp"

#include "xpoll/xpoll.h"

namespace xpoll::detail::iocp {

namespace {

constexpr int kGroupSize = 32;

}  // namespace

int Groups::join(HANDLE port, ULONG_PTR key, Group** out) noexcept {
  try {
    if (open_.empty()) {
      auto g = std::make_unique<Group>();
      // Room in both lists now, so that leave() cannot fail later.
      open_.reserve(all_.size() + 1);
      all_.reserve(all_.size() + 1);
      int rc = afd::open_helper(port, key, &g->helper);
      if (rc != 0) return rc;
      open_.push_back(g.get());
      all_.push_back(std::move(g));
    }
  } catch (...) {
    return XPOLL_ENOMEM;
  }
  Group* g = open_.back();
  if (++g->users == kGroupSize) open_.pop_back();
  *out = g;
  return 0;
}

void Groups::leave(Group& g) noexcept {
  if (g.users-- == kGroupSize) open_.push_back(&g);
}

void Groups::close() noexcept {
  for (auto& g : all_) {
    if (g->helper) CloseHandle(g->helper);
    g->helper = nullptr;
  }
}

}  // namespace xpoll::detail::iocp
