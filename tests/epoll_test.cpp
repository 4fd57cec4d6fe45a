// epoll-specific behaviour: what the kernel refuses, and what registration
// churn costs in epoll_ctl calls. This program defines epoll_ctl itself and is
// linked to export it, so libxpoll's calls land here and are counted.
#include <errno.h>
#include <gtest/gtest.h>
#include <sys/epoll.h>
#include <sys/syscall.h>

#include <atomic>
#include <cstdio>
#include <thread>
#include <vector>

#include "support.hpp"

namespace {
int g_ctl_calls = 0;
std::atomic<int> g_creates{0};
}  // namespace

// Counts how often an epoll set is made: a rebuild makes one.
extern "C" int epoll_create1(int flags) {
  ++g_creates;
  return static_cast<int>(syscall(SYS_epoll_create1, flags));
}

extern "C" int epoll_ctl(int epfd, int op, int fd, struct epoll_event* ev) {
  ++g_ctl_calls;
  long rc = syscall(SYS_epoll_ctl, epfd, op, fd, ev);
  return static_cast<int>(rc);
}

using namespace xpoll_test;

namespace {

class Epoll : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(xpoll_create(&p_, "epoll", 0), 0); }
  void TearDown() override { xpoll_destroy(p_); }
  xpoll_t* p_ = nullptr;
};

TEST_F(Epoll, RegularFileIsEperm) {
  FILE* f = tmpfile();
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(xpoll_add(p_, fileno(f), XPOLL_IN, 0), XPOLL_EPERM);
  EXPECT_EQ(xpoll_remove(p_, fileno(f)), XPOLL_ENOENT);
  fclose(f);
}

TEST_F(Epoll, InternalDescriptorsAreRefused) {
  // The poller's own epoll and eventfd descriptors are not the caller's to add.
  int refused = 0;
  for (int fd = 0; fd < 64; ++fd)
    if (fcntl(fd, F_GETFD) != -1 && xpoll_add(p_, fd, XPOLL_IN, 0) == XPOLL_EBADF) ++refused;
  EXPECT_GE(refused, 2);
}

TEST_F(Epoll, ModifyBackToKernelStateCostsNoCall) {
  Pair s = Pair::make();
  ASSERT_EQ(xpoll_add(p_, s.a.get(), XPOLL_IN, 1), 0);
  wait_once(p_, 0);
  g_ctl_calls = 0;
  for (int i = 0; i < 1000; ++i) {
    ASSERT_EQ(xpoll_modify(p_, s.a.get(), XPOLL_OUT, 2), 0);
    ASSERT_EQ(xpoll_modify(p_, s.a.get(), XPOLL_IN, 3), 0);
  }
  wait_once(p_, 0);
  EXPECT_EQ(g_ctl_calls, 0);
}

TEST_F(Epoll, RemoveAndAddCostsOneLookupNotTwoChanges) {
  // Raw epoll renews a registration with DEL and ADD. xpoll defers the DEL;
  // the ADD of the same file is answered EEXIST from the kernel's lookup,
  // which is what confirms the number was not closed and reused meanwhile.
  Pair s = Pair::make();
  ASSERT_EQ(xpoll_add(p_, s.a.get(), XPOLL_IN, 1), 0);
  wait_once(p_, 0);
  g_ctl_calls = 0;
  for (int i = 0; i < 1000; ++i) {
    ASSERT_EQ(xpoll_remove(p_, s.a.get()), 0);
    ASSERT_EQ(xpoll_add(p_, s.a.get(), XPOLL_IN, 1), 0);
  }
  wait_once(p_, 0);
  EXPECT_EQ(g_ctl_calls, 1000);
  // A removal that is not undone is applied at the next wait, once.
  g_ctl_calls = 0;
  ASSERT_EQ(xpoll_remove(p_, s.a.get()), 0);
  EXPECT_EQ(g_ctl_calls, 0);
  wait_once(p_, 0);
  EXPECT_EQ(g_ctl_calls, 1);
}

TEST_F(Epoll, RacingRemovalsDoNotRebuildTheSet) {
  // Removals and re-adds from another thread race the waits; the stale
  // events that causes are dropped, but the set is never rebuilt for them.
  std::vector<Pair> pairs;
  for (int i = 0; i < 100; ++i) {
    pairs.push_back(Pair::make());
    ASSERT_EQ(xpoll_add(p_, pairs.back().a.get(), XPOLL_IN, static_cast<uint64_t>(i)), 0);
    ASSERT_TRUE(send_byte(pairs.back().b.get()));
  }
  int creates = g_creates.load();
  std::atomic<bool> stop{false};
  std::thread churn([&] {
    for (int round = 0; round < 200 && !stop; ++round)
      for (auto& p : pairs) {
        xpoll_remove(p_, p.a.get());
        xpoll_add(p_, p.a.get(), XPOLL_IN, 7);
      }
  });
  for (int i = 0; i < 2000; ++i) wait_once(p_, 0, 16);
  stop = true;
  churn.join();
  EXPECT_EQ(g_creates.load(), creates);
}

TEST_F(Epoll, ALingeringRegistrationIsRebuiltAway) {
  Pair s = Pair::make();
  ASSERT_EQ(xpoll_add(p_, s.a.get(), XPOLL_IN, 1), 0);
  Fd dup_fd(fcntl(s.a.get(), F_DUPFD_CLOEXEC, 100));
  ASSERT_EQ(xpoll_remove(p_, s.a.get()), 0);
  s.a.reset();  // the removal, applied at the next wait, fails: the file lives on
  ASSERT_TRUE(send_byte(s.b.get()));
  int creates = g_creates.load();
  EXPECT_TRUE(wait_once(p_, 100).empty());
  EXPECT_EQ(g_creates.load(), creates + 1);
}

}  // namespace
