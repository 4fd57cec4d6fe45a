// Fault injection. Allocation failure: this program replaces the global
// operator new (the library's allocations resolve to it too) with one that
// can fail the Nth allocation; for every N in a range, a scenario that makes
// every public call must see each call return 0 or XPOLL_ENOMEM, never crash
// or leak (LeakSanitizer watches in the asan lane), and leave the poller
// usable. The descriptor limit: a poller created when no descriptor is left.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <new>

#include "support.hpp"

namespace {
std::atomic<long> g_countdown{-1};  // fail when it reaches 0; -1: never
std::atomic<long> g_failed{0};
std::atomic<std::size_t> g_bytes{0};  // allocated since last reset, failed or not

void* allocate(std::size_t n) {
  g_bytes.fetch_add(n, std::memory_order_relaxed);
  long c = g_countdown.load(std::memory_order_relaxed);
  if (c >= 0 && g_countdown.fetch_sub(1) == 0) {
    ++g_failed;
    throw std::bad_alloc();
  }
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
}  // namespace

void* operator new(std::size_t n) { return allocate(n); }
void* operator new[](std::size_t n) { return allocate(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

using namespace xpoll_test;

namespace {

class Fault : public ::testing::TestWithParam<std::string> {};

bool ok_or_enomem(int rc) { return rc == 0 || rc == XPOLL_ENOMEM; }

TEST_P(Fault, EveryAllocationFailureIsEnomemAndRecoverable) {
  std::vector<Pair> pairs;
  for (int i = 0; i < 40; ++i) pairs.push_back(Pair::make());
  long injected = 0;
  std::vector<char> added(pairs.size());  // allocated here: only the library's allocations are counted
  for (long n = 0; n < 400; ++n) {
    xpoll_t* p = nullptr;
    std::fill(added.begin(), added.end(), 0);
    g_failed = 0;
    g_countdown = n;
    int rc = xpoll_create(&p, GetParam().c_str(), 0);
    ASSERT_TRUE(ok_or_enomem(rc)) << "create, allocation " << n << ": " << xpoll_errname(rc);
    if (rc != 0) {
      ASSERT_EQ(p, nullptr);
      injected += g_failed;
      continue;
    }
    for (size_t i = 0; i < pairs.size(); ++i) {
      rc = xpoll_add(p, pairs[i].a.get(), XPOLL_IN, i);
      ASSERT_TRUE(ok_or_enomem(rc)) << "add, allocation " << n << ": " << xpoll_errname(rc);
      added[i] = rc == 0;
    }
    for (size_t i = 0; i < pairs.size(); i += 3) {
      if (added[i]) {
        ASSERT_TRUE(ok_or_enomem(xpoll_modify(p, pairs[i].a.get(), XPOLL_IN | XPOLL_OUT, i)));
      }
    }
    xpoll_event_t ev[64];
    rc = xpoll_wait(p, ev, 64, 0);
    ASSERT_TRUE(rc >= 0 || rc == XPOLL_ENOMEM) << "wait, allocation " << n << ": " << xpoll_errname(rc);
    for (size_t i = 0; i < pairs.size(); i += 2) {
      if (added[i]) {
        ASSERT_EQ(xpoll_remove(p, pairs[i].a.get()), 0);  // removal never allocates
        added[i] = false;
      }
    }
    g_countdown = -1;
    injected += g_failed;
    // Recovered: what is registered works.
    size_t live = 0;
    for (size_t i = 0; i < pairs.size(); ++i)
      if (added[i]) {
        ++live;
        send_byte(pairs[i].b.get());
      }
    std::vector<char> seen(pairs.size(), 0);  // distinct descriptors reported readable
    size_t count = 0;
    for (int r = 0; r < 10 && count < live; ++r) {
      rc = xpoll_wait(p, ev, 64, 500);
      ASSERT_GE(rc, 0) << xpoll_errname(rc);
      for (int e = 0; e < rc; ++e)
        if ((ev[e].events & XPOLL_IN) && !seen[ev[e].data]++) ++count;
    }
    ASSERT_EQ(count, live) << "after allocation " << n << " failed";
    for (size_t i = 0; i < pairs.size(); ++i) drain(pairs[i].a.get());
    xpoll_destroy(p);
  }
  // Each of the scenario's allocations (some fifteen to thirty) failed once.
  EXPECT_GE(injected, 10) << "the hook failed too few allocations to mean anything";
  std::printf("[ fault    ] %s: %ld allocation failures injected, every one XPOLL_ENOMEM\n", GetParam().c_str(),
              injected);
}

TEST_P(Fault, AtTheDescriptorLimitCreateIsEmfileAndAddWorks) {
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // A poller and a socket made first; then the descriptor table is filled.
    // (Making a poller of this backend first, and waiting on it once, also
    // matters to UBSan: at a full table its vptr check cannot probe memory
    // for a type it has not seen called yet, and calls the object invalid.
    // So a first poller is also destroyed: its wait's slot is deleted.)
    xpoll_t* early = nullptr;
    xpoll_event_t seen[1];
    if (xpoll_create(&early, GetParam().c_str(), 0) != 0) _exit(10);
    if (xpoll_wait(early, seen, 1, 0) != 0) _exit(11);
    xpoll_destroy(early);
    if (xpoll_create(&early, GetParam().c_str(), 0) != 0) _exit(10);
    if (xpoll_wait(early, seen, 1, 0) != 0) _exit(11);
    Pair s = Pair::make();
    std::vector<int> fds;
    for (int i = 0; i < 100000; ++i) {
      int fd = dup(0);
      if (fd < 0) break;
      fds.push_back(fd);
    }
    xpoll_t* p = nullptr;
    int rc = xpoll_create(&p, GetParam().c_str(), 0);
    int code = (rc == XPOLL_EMFILE && p == nullptr) ? 0 : 1;
    // Adding needs no descriptor: at the limit it works, and so does waiting.
    xpoll_event_t ev[2];
    if (xpoll_add(early, s.a.get(), XPOLL_IN, 7) != 0 || !send_byte(s.b.get()) || xpoll_wait(early, ev, 2, 2000) != 1 ||
        ev[0].data != 7)
      code |= 4;
    xpoll_destroy(early);
    // With room again, it works, and nothing of the failure leaked.
    for (int i = 0; i < 16 && !fds.empty(); ++i) {
      close(fds.back());
      fds.pop_back();
    }
    if (xpoll_create(&p, GetParam().c_str(), 0) != 0) code |= 2;
    xpoll_destroy(p);
    _exit(code);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

// A destroyed poller gives back its descriptors at once: 2,000 create and
// destroy cycles under a limit of 256 never run out.
TEST_P(Fault, CreateDestroyCyclesKeepNoDescriptors) {
#if defined(__linux__)
  if (GetParam() == "kqueue")
    GTEST_SKIP() << "libkqueue (kqueue's emulation on Linux) closes a destroyed kqueue's descriptors later, from its "
                    "own thread, so quick cycles under a low limit run out (docs/backends.md)";
#endif
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) _exit(10);
    rl.rlim_cur = 256;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) _exit(11);
    for (int i = 0; i < 2000; ++i) {
      xpoll_t* p = nullptr;
      if (xpoll_create(&p, GetParam().c_str(), 0) != 0) _exit(1);
      xpoll_destroy(p);
    }
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

// A wait sizes what it allocates by what can be ready (the registrations),
// not by the capacity of the caller's array: a wait with XPOLL_WAIT_MAX took
// 12 MiB on epoll and some 160 MiB on kqueue for two registrations.
TEST_P(Fault, LargeArrayCostsNoMemoryOfItsSize) {
  xpoll_t* p = nullptr;
  ASSERT_EQ(xpoll_create(&p, GetParam().c_str(), 0), 0);
  Pair s = Pair::make();
  ASSERT_EQ(xpoll_add(p, s.a.get(), XPOLL_IN | XPOLL_OUT, 1), 0);
  ASSERT_EQ(xpoll_add(p, s.b.get(), XPOLL_IN, 2), 0);
  ASSERT_TRUE(send_byte(s.b.get()));
  std::vector<xpoll_event_t> ev(XPOLL_WAIT_MAX);  // the caller's, allocated before counting
  g_bytes = 0;
  int n = xpoll_wait(p, ev.data(), XPOLL_WAIT_MAX, 2000);
  std::size_t used = g_bytes.load();
  EXPECT_EQ(n, 1);
  EXPECT_LT(used, std::size_t{64} << 10) << GetParam() << ": " << used << " bytes allocated by one wait";
  xpoll_destroy(p);
}

std::string backend_name(const ::testing::TestParamInfo<std::string>& info) { return info.param; }
INSTANTIATE_TEST_SUITE_P(Backends, Fault, ::testing::ValuesIn(compiled_backends()), backend_name);

}  // namespace
