// The slow path of the poller's lock on Linux (see lock.hpp): a short spin,
// since the lock is held for a few hundred instructions at most, then the
// futex. Compiled on every POSIX system, it is empty but where lock.hpp
// chooses the futex lock (__linux__, whatever the system's name).
#if defined(__linux__)
#include <errno.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "platform/lock.hpp"

namespace xpoll::detail {

namespace {

// Spins before sleeping: about as long as a holder takes to finish a change.
constexpr int kSpins = 100;

uint32_t* word(std::atomic<uint32_t>& a) noexcept { return reinterpret_cast<uint32_t*>(&a); }

void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

}  // namespace

static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t) && std::atomic<uint32_t>::is_always_lock_free,
              "the futex word is the atomic's own");

void Lock::lock_contended() noexcept {
  // A failed futex wait (EAGAIN, EINTR) sets errno; the caller's is kept.
  int saved_errno = errno;
  for (int i = 0; i < kSpins; ++i) {
    cpu_relax();
    uint32_t free = 0;
    if (state_.load(std::memory_order_relaxed) == 0 &&
        state_.compare_exchange_weak(free, 1, std::memory_order_acquire, std::memory_order_relaxed)) {
      errno = saved_errno;
      return;
    }
  }
  // Marked "may be asleep" before each sleep, so that the holder's unlock
  // wakes one; whoever takes the lock this way keeps the mark, which costs
  // at most one needless wake.
  while (state_.exchange(2, std::memory_order_acquire) != 0)
    syscall(SYS_futex, word(state_), FUTEX_WAIT_PRIVATE, 2, nullptr, nullptr, 0);
  errno = saved_errno;
}

void Lock::wake_one() noexcept {
  int saved_errno = errno;
  syscall(SYS_futex, word(state_), FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
  errno = saved_errno;
}

}  // namespace xpoll::detail

#endif  // __linux__
