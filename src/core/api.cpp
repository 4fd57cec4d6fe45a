// The C ABI shell: argument checks, and no C++ exception crosses it.
#include <algorithm>
#include <new>

#include "core/errors.hpp"
#include "core/poller.hpp"
#include "core/registry.hpp"
#include "xpoll/xpoll.h"

struct xpoll_poller {
  xpoll::detail::Poller poller;
  xpoll_poller(std::unique_ptr<xpoll::detail::Backend> b, const xpoll::detail::BackendInfo& info, bool shared)
      : poller(std::move(b), info, shared) {}
};

namespace {

using xpoll::detail::BackendInfo;

// Runs f, turning any exception into an error code.
template <class F>
int guarded(F&& f) noexcept {
  try {
    return f();
  } catch (const std::bad_alloc&) {
    return XPOLL_ENOMEM;
  } catch (...) {
    return XPOLL_EIO;
  }
}

// Checks the poller and the descriptor, then the fork state.
int check(const xpoll_t* p, xpoll_fd_t fd) noexcept {
  if (!p) return XPOLL_EINVAL;
  if (p->poller.forked()) return XPOLL_EFORKED;
  if (xpoll::detail::invalid_fd(fd)) return XPOLL_EBADF;
  return 0;
}

const BackendInfo* choose(const char* name) noexcept {
  if (!name) name = xpoll::detail::backend_from_env();
  if (!name) {
    size_t n;
    return xpoll::detail::backend_list(n)[0];
  }
  return xpoll::detail::find_backend(name);
}

}  // namespace

extern "C" {

XPOLL_API int xpoll_create(xpoll_t** out, const char* backend, uint32_t flags) {
  if (!out || (flags & ~XPOLL_SHARED) != 0) return XPOLL_EINVAL;
  const BackendInfo* info = choose(backend);
  if (!info) return XPOLL_ENOBACKEND;
  return guarded([&] {
    xpoll::detail::watch_forks();
    std::unique_ptr<xpoll::detail::Backend> b;
    int rc = info->make(b);
    if (rc != 0) return rc;
    *out = new xpoll_poller(std::move(b), *info, (flags & XPOLL_SHARED) != 0);
    return 0;
  });
}

XPOLL_API void xpoll_destroy(xpoll_t* p) { delete p; }

XPOLL_API int xpoll_add(xpoll_t* p, xpoll_fd_t fd, uint32_t events, uint64_t data) {
  int rc = check(p, fd);
  if (rc != 0) return rc;
  return p->poller.add(fd, events, data);  // noexcept; checks the interest
}

XPOLL_API int xpoll_modify(xpoll_t* p, xpoll_fd_t fd, uint32_t events, uint64_t data) {
  int rc = check(p, fd);
  if (rc != 0) return rc;
  return p->poller.modify(fd, events, data);  // noexcept; checks the interest
}

XPOLL_API int xpoll_remove(xpoll_t* p, xpoll_fd_t fd) {
  int rc = check(p, fd);
  if (rc != 0) return rc;
  return p->poller.remove(fd);  // noexcept
}

XPOLL_API int xpoll_wait(xpoll_t* p, xpoll_event_t* events, int max, int timeout_ms) {
  if (!p || !events || max <= 0 || max > XPOLL_WAIT_MAX || timeout_ms < -1) return XPOLL_EINVAL;
  if (p->poller.forked()) return XPOLL_EFORKED;
  int64_t timeout_ns = timeout_ms < 0 ? -1 : int64_t{timeout_ms} * 1000000;
  return p->poller.wait(events, max, timeout_ns);  // noexcept
}

XPOLL_API int xpoll_wait_ns(xpoll_t* p, xpoll_event_t* events, int max, int64_t timeout_ns) {
  if (!p || !events || max <= 0 || max > XPOLL_WAIT_MAX || timeout_ns < -1) return XPOLL_EINVAL;
  if (p->poller.forked()) return XPOLL_EFORKED;
  return p->poller.wait(events, max, timeout_ns);  // noexcept
}

XPOLL_API int xpoll_wake(xpoll_t* p) {
  if (!p) return XPOLL_EINVAL;
  if (p->poller.forked()) return XPOLL_EFORKED;
  return p->poller.wake();
}

XPOLL_API int xpoll_fd(const xpoll_t* p) {
  if (!p) return XPOLL_EINVAL;
  if (p->poller.forked()) return XPOLL_EFORKED;
  if (!(p->poller.caps() & XPOLL_CAP_FD)) return XPOLL_ENOTSUP;
  // The handle is the caller's, made by xpoll_create(): the descriptor is
  // made on the first call, under the poller's lock.
  return guarded([&] { return const_cast<xpoll_t*>(p)->poller.poll_fd(); });
}

XPOLL_API const char* xpoll_backend(const xpoll_t* p) { return p ? p->poller.name() : nullptr; }

XPOLL_API uint32_t xpoll_capabilities(const xpoll_t* p) {
  return p ? (p->poller.caps() & xpoll::detail::kPublicCapMask) : 0;
}

XPOLL_API int xpoll_backends(const char** names, int max) {
  if (max < 0 || (max > 0 && !names)) return XPOLL_EINVAL;
  size_t n;
  const BackendInfo* const* list = xpoll::detail::backend_list(n);
  for (size_t i = 0; i < n && static_cast<int>(i) < max; ++i) names[i] = list[i]->name;
  return static_cast<int>(n);
}

XPOLL_API int xpoll_backend_capabilities(const char* name) {
  if (!name) return XPOLL_EINVAL;
  const BackendInfo* info = xpoll::detail::find_backend(name);
  if (!info) return XPOLL_ENOBACKEND;
  return static_cast<int>(info->caps & xpoll::detail::kPublicCapMask);
}

XPOLL_API long xpoll_backend_max_fd(const char* name) {
  if (!name) return XPOLL_EINVAL;
  const BackendInfo* info = xpoll::detail::find_backend(name);
  if (!info) return XPOLL_ENOBACKEND;
  long limit = xpoll::detail::descriptor_limit();
  long most = limit < 0 ? 0x7fffffffL : limit - 1;
  return info->fd_ceiling < 0 ? most : std::min(most, info->fd_ceiling);
}

XPOLL_API int xpoll_version(void) { return XPOLL_VERSION; }

XPOLL_API const char* xpoll_version_string(void) {
#define XPOLL_STR2(x) #x
#define XPOLL_STR(x) XPOLL_STR2(x)
  return XPOLL_STR(XPOLL_VERSION_MAJOR) "." XPOLL_STR(XPOLL_VERSION_MINOR) "." XPOLL_STR(XPOLL_VERSION_PATCH);
}

XPOLL_API const char* xpoll_strerror(int err) {
  const xpoll::detail::ErrorText* e = xpoll::detail::find_error(err);
  return e ? e->text : "unknown error";
}

XPOLL_API const char* xpoll_errname(int err) {
  const xpoll::detail::ErrorText* e = xpoll::detail::find_error(err);
  return e ? e->name : "XPOLL_UNKNOWN";
}

}  // extern "C"
