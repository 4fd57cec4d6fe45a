// The poller's lock. Every call takes it once, so its uncontended path is
// the hot path of every add, modify and remove: on Linux that path is one
// compare-and-swap to take it and one exchange to give it back, with the
// kernel's futex only when a thread must sleep (the three-state mutex of
// Drepper's "Futexes Are Tricky": 0 free, 1 held, 2 held and a thread may be
// asleep on it). glibc's pthread_mutex_lock and unlock, which std::mutex
// calls, cost about 55 instructions a pair in user space, most of them for
// mutex kinds and robust lists we never use. Elsewhere it is std::mutex.
//
// It is a BasicLockable, so std::unique_lock takes it; LockCondition below
// is its condition variable.
#ifndef XPOLL_SRC_PLATFORM_LOCK_HPP
#define XPOLL_SRC_PLATFORM_LOCK_HPP

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

namespace xpoll::detail {

#if defined(__linux__)

class Lock {
 public:
  Lock() = default;
  Lock(const Lock&) = delete;
  Lock& operator=(const Lock&) = delete;

  void lock() noexcept {
    uint32_t free = 0;
    if (!state_.compare_exchange_strong(free, 1, std::memory_order_acquire, std::memory_order_relaxed))
      lock_contended();
  }
  bool try_lock() noexcept {
    uint32_t free = 0;
    return state_.compare_exchange_strong(free, 1, std::memory_order_acquire, std::memory_order_relaxed);
  }
  void unlock() noexcept {
    if (state_.exchange(0, std::memory_order_release) == 2) wake_one();
  }

 private:
  void lock_contended() noexcept;  // platform/lock_linux.cpp
  void wake_one() noexcept;

  std::atomic<uint32_t> state_{0};
};

#else

class Lock {
 public:
  // std::mutex::lock() may throw (std::system_error) where try_lock() may
  // not: the calls that take this lock cannot fail for it, so it then
  // waits by trying.
  void lock() noexcept {
    try {
      mu_.lock();
    } catch (...) {
      while (!mu_.try_lock()) std::this_thread::yield();
    }
  }
  bool try_lock() noexcept { return mu_.try_lock(); }
  void unlock() noexcept { mu_.unlock(); }

 private:
  std::mutex mu_;
};

#endif

// A condition variable for Lock, which the gate of the several-waiters mode
// waits on (rarely: only when waiters contend). std::condition_variable_any
// would do, but it keeps its mutex in a shared_ptr: an allocation per poller
// and a virtual call on destruction, which UBSan's check of the object's
// type cannot make when the process has no descriptor left (it probes the
// memory through a pipe), as a server at its limit may well be. The inner
// mutex is taken after the Lock and never the other way round: a waiter
// takes it before letting the Lock go, and whoever notifies takes it too,
// so no notification falls between a waiter's check and its sleep.
class LockCondition {
 public:
  template <class Guard>
  void wait(Guard& lock) {
    std::unique_lock<std::mutex> inner(mu_);
    Relock<Guard> relock(lock, inner);
    cv_.wait(inner);
  }
  // False at the deadline.
  template <class Guard, class TimePoint>
  bool wait_until(Guard& lock, const TimePoint& deadline) {
    std::unique_lock<std::mutex> inner(mu_);
    Relock<Guard> relock(lock, inner);
    return cv_.wait_until(inner, deadline) == std::cv_status::no_timeout;
  }
  // Called with the Lock held.
  void notify_all() {
    std::lock_guard<std::mutex> inner(mu_);
    cv_.notify_all();
  }

 private:
  // Lets the Lock go for the wait and takes it back after it, also when the
  // wait throws: the inner mutex first, so that the order stays Lock, then
  // inner.
  template <class Guard>
  struct Relock {
    Guard& lock;
    std::unique_lock<std::mutex>& inner;
    Relock(Guard& l, std::unique_lock<std::mutex>& i) : lock(l), inner(i) { lock.unlock(); }
    ~Relock() {
      if (inner.owns_lock()) inner.unlock();
      lock.lock();
    }
    Relock(const Relock&) = delete;
    Relock& operator=(const Relock&) = delete;
  };

  std::mutex mu_;
  std::condition_variable cv_;
};

}  // namespace xpoll::detail

#endif  // XPOLL_SRC_PLATFORM_LOCK_HPP
