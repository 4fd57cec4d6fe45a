// The AFD poll requests of the IOCP backend; see requests.hpp.
#include "backends/windows/iocp/requests.hpp"

#include <new>

#include "xpoll/xpoll.h"

namespace xpoll::detail::iocp {

namespace {

constexpr size_t kSpareRequests = 64;
constexpr ULONGLONG kDrainMs = 5000;
constexpr DWORD kDrainStepMs = 100;
constexpr ULONG kDrainBatch = 128;  // completions dequeued at a time by drain()

}  // namespace

Requests::~Requests() {
  for (Request* r : spare_) delete r;
}

int Requests::reserve() noexcept {
  try {
    spare_.reserve(kSpareRequests);
  } catch (...) {
    return XPOLL_ENOMEM;
  }
  return 0;
}

int Requests::send(Socket* owner, HANDLE helper, SOCKET base, ULONG events, Request** out) noexcept {
  Request* r = take();
  if (!r) return XPOLL_ENOMEM;
  r->helper = helper;
  r->events = events;
  int rc = afd::submit(*r, base, events);
  if (rc != 0) {
    recycle(r);
    return rc;
  }
  r->state = RequestState::kPending;
  r->owner = owner;
  ++in_flight_;
  *out = r;
  return 0;
}

void Requests::cancel(Request& r) noexcept {
  r.state = RequestState::kCancelled;
  r.owner = nullptr;
  afd::cancel(r);
}

Socket* Requests::finish(Request* r, ULONG* events) noexcept {
  --in_flight_;
  Socket* owner = r->state == RequestState::kPending ? r->owner : nullptr;
  *events = afd::result(*r);
  recycle(r);
  return owner;
}

void Requests::drain(HANDLE port, ULONG_PTR key) noexcept {
  OVERLAPPED_ENTRY batch[kDrainBatch];
  ULONGLONG deadline = GetTickCount64() + kDrainMs;
  while (in_flight_ > 0 && GetTickCount64() < deadline) {
    ULONG n = 0;
    if (!GetQueuedCompletionStatusEx(port, batch, kDrainBatch, &n, kDrainStepMs, FALSE)) continue;
    for (ULONG i = 0; i < n; ++i) {
      if (batch[i].lpCompletionKey != key) continue;  // a wake-up
      delete request_of(batch[i].lpOverlapped);
      --in_flight_;
    }
  }
}

Request* Requests::take() noexcept {
  if (spare_.empty()) return new (std::nothrow) Request();
  Request* r = spare_.back();
  spare_.pop_back();
  return r;
}

void Requests::recycle(Request* r) noexcept {
  r->state = RequestState::kFree;
  r->owner = nullptr;
  // Pushed only within the room reserved, so that it cannot throw.
  if (spare_.size() < kSpareRequests && spare_.capacity() >= kSpareRequests)
    spare_.push_back(r);
  else
    delete r;
}

}  // namespace xpoll::detail::iocp
