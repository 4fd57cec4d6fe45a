// epoll-specific behaviour: what the kernel refuses, and what registration
// churn costs in epoll_ctl calls. This program defines epoll_ctl itself and is
// linked to export it, so libxpoll's calls land here and are counted.
#include <arpa/inet.h>
#include <errno.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

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

namespace {
// When set, the next EPOLL_CTL_ADD with EPOLLEXCLUSIVE fails with ENOMEM.
std::atomic<int> g_fail_exclusive_add{0};
}  // namespace

extern "C" int epoll_ctl(int epfd, int op, int fd, struct epoll_event* ev) {
  ++g_ctl_calls;
  if (op == EPOLL_CTL_ADD && ev && (ev->events & EPOLLEXCLUSIVE) && g_fail_exclusive_add.exchange(0)) {
    errno = ENOMEM;
    return -1;
  }
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

TEST_F(Epoll, PollerFdSurvivesARebuild) {
  // The set is rebuilt (a registration lingers); the poller's descriptor is
  // the same, and still reports.
  int fd = xpoll_fd(p_);
  ASSERT_GE(fd, 0);
  Pair s = Pair::make();
  ASSERT_EQ(xpoll_add(p_, s.a.get(), XPOLL_IN, 1), 0);
  Fd dup_fd(fcntl(s.a.get(), F_DUPFD_CLOEXEC, 100));
  ASSERT_EQ(xpoll_remove(p_, s.a.get()), 0);
  s.a.reset();
  ASSERT_TRUE(send_byte(s.b.get()));
  int creates = g_creates.load();
  EXPECT_TRUE(wait_once(p_, 100).empty());
  ASSERT_EQ(g_creates.load(), creates + 1);  // rebuilt
  EXPECT_EQ(xpoll_fd(p_), fd);
  Pair t = Pair::make();
  ASSERT_EQ(xpoll_add(p_, t.a.get(), XPOLL_IN, 2), 0);
  ASSERT_TRUE(send_byte(t.b.get()));
  struct pollfd pfd = {fd, POLLIN, 0};
  EXPECT_EQ(poll(&pfd, 1, 2000), 1);
  auto ev = wait_once(p_, 0);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].data, 2u);
}

TEST_F(Epoll, ExclusiveOnAnEpollSetIsEinval) {
  // The kernel refuses EPOLLEXCLUSIVE for a target that is itself an epoll set.
  Fd other(epoll_create1(EPOLL_CLOEXEC));
  ASSERT_TRUE(other.valid());
  EXPECT_EQ(xpoll_add(p_, other.get(), XPOLL_IN | XPOLL_EXCLUSIVE, 0), XPOLL_EINVAL);
  EXPECT_EQ(xpoll_remove(p_, other.get()), XPOLL_ENOENT);
  EXPECT_EQ(xpoll_add(p_, other.get(), XPOLL_IN, 0), 0);
}

TEST_F(Epoll, ExclusiveModifyOfAnEpollSetIsEinvalAndChangesNothing) {
  // The kernel's refusal comes back from the modify itself; the plain
  // registration it would have replaced goes on reporting.
  Fd other(epoll_create1(EPOLL_CLOEXEC));
  Pair s = Pair::make();
  ASSERT_TRUE(send_byte(s.b.get()));
  struct epoll_event ev = {};
  ev.events = EPOLLIN;
  ASSERT_EQ(::epoll_ctl(other.get(), EPOLL_CTL_ADD, s.a.get(), &ev), 0);  // `other` is readable now
  ASSERT_EQ(xpoll_add(p_, other.get(), XPOLL_IN, 1), 0);
  ASSERT_EQ(wait_once(p_, 2000).size(), 1u);
  EXPECT_EQ(xpoll_modify(p_, other.get(), XPOLL_IN | XPOLL_EXCLUSIVE, 2), XPOLL_EINVAL);
  for (int i = 0; i < 2; ++i) {
    auto got = wait_once(p_, 2000);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].data, 1u);
  }
}

TEST_F(Epoll, ExclusiveModifyWithoutMemoryChangesNothing) {
  // The add after the removal fails (ENOMEM): the old registration is made
  // again, the modify says so, and a later one succeeds.
  Pair s = Pair::make();
  ASSERT_TRUE(send_byte(s.b.get()));
  ASSERT_EQ(xpoll_add(p_, s.a.get(), XPOLL_IN, 1), 0);
  g_fail_exclusive_add = 1;
  EXPECT_EQ(xpoll_modify(p_, s.a.get(), XPOLL_IN | XPOLL_EXCLUSIVE, 2), XPOLL_ENOMEM);
  auto got = wait_once(p_, 2000);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].data, 1u);
  ASSERT_EQ(xpoll_add(p_, s.b.get(), XPOLL_OUT | XPOLL_EXCLUSIVE, 7), 0);
  // Modifying an exclusive registration (removal and add) without memory:
  // the caller's modify succeeds and the change is retried at the next wait.
  g_fail_exclusive_add = 1;
  EXPECT_EQ(xpoll_modify(p_, s.b.get(), XPOLL_IN | XPOLL_OUT | XPOLL_EXCLUSIVE, 8), 0);
  bool seen8 = false;
  for (int i = 0; i < 5 && !seen8; ++i)
    for (const auto& e : wait_once(p_, 500))
      if (e.data == 8) seen8 = true;
  EXPECT_TRUE(seen8);
  EXPECT_EQ(g_fail_exclusive_add.load(), 0);  // the failure was met, and retried
  ASSERT_EQ(xpoll_modify(p_, s.a.get(), XPOLL_IN | XPOLL_EXCLUSIVE, 3), 0);
  bool seen3 = false;
  for (const auto& e : wait_once(p_, 2000))
    if (e.data == 3) seen3 = true;
  EXPECT_TRUE(seen3);
}

TEST_F(Epoll, ExclusiveModifyIsARemovalAndAnAdd) {
  Pair s = Pair::make();
  ASSERT_EQ(xpoll_add(p_, s.a.get(), XPOLL_IN | XPOLL_EXCLUSIVE, 1), 0);
  g_ctl_calls = 0;
  ASSERT_EQ(xpoll_modify(p_, s.a.get(), XPOLL_IN | XPOLL_OUT | XPOLL_EXCLUSIVE, 2), 0);
  auto ev = wait_once(p_, 2000);
  EXPECT_EQ(g_ctl_calls, 2);  // EPOLL_CTL_DEL and EPOLL_CTL_ADD; MOD would be EINVAL
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].data, 2u);
  // Back to the state the kernel holds: no call at all.
  g_ctl_calls = 0;
  ASSERT_EQ(xpoll_modify(p_, s.a.get(), XPOLL_IN, 3), 0);
  ASSERT_EQ(xpoll_modify(p_, s.a.get(), XPOLL_IN | XPOLL_OUT | XPOLL_EXCLUSIVE, 2), 0);
  wait_once(p_, 0);
  EXPECT_EQ(g_ctl_calls, 0);
}

// The herd: `workers` processes, each with its own poller, watch one
// listening socket; connections arrive one at a time (each accepted before
// the next is made, and a pause for the others to sleep again). Returns the
// workers' voluntary context switches per connection (their wake-ups), or
// -1 when a connection was not accepted.
double herd_switches(int workers, int connections, uint32_t interest) {
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (lfd < 0 || bind(lfd, reinterpret_cast<sockaddr*>(&addr), len) != 0 || listen(lfd, 128) != 0 ||
      getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    return -1;
  struct Board {
    std::atomic<int> accepted;
    std::atomic<int> ready;
    std::atomic<long> switches;
  };
  void* mem = mmap(nullptr, sizeof(Board), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return -1;
  Board* board = new (mem) Board{};
  int stop[2];
  if (pipe2(stop, O_CLOEXEC) != 0) return -1;
  std::vector<pid_t> pids;
  for (int w = 0; w < workers; ++w) {
    pid_t pid = fork();
    if (pid == 0) {
      close(stop[1]);
      xpoll_t* p = nullptr;
      if (xpoll_create(&p, "epoll", 0) != 0 || xpoll_add(p, lfd, interest, 1) != 0 ||
          xpoll_add(p, stop[0], XPOLL_IN, 2) != 0)
        _exit(3);
      struct rusage r0, r1;
      getrusage(RUSAGE_SELF, &r0);
      ++board->ready;
      bool done = false;
      for (int round = 0; round < 100000 && !done; ++round) {
        xpoll_event_t ev[2];
        int n = xpoll_wait(p, ev, 2, 20000);
        if (n <= 0) break;
        for (int i = 0; i < n; ++i) {
          if (ev[i].data == 2) done = true;
          if (ev[i].data != 1) continue;
          for (int c; (c = accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC)) >= 0;) {
            close(c);
            ++board->accepted;
          }
        }
      }
      getrusage(RUSAGE_SELF, &r1);
      board->switches += r1.ru_nvcsw - r0.ru_nvcsw;
      _exit(0);
    }
    if (pid > 0) pids.push_back(pid);
  }
  close(stop[0]);
  auto t0 = std::chrono::steady_clock::now();
  while (board->ready.load() < static_cast<int>(pids.size()) && elapsed_ms(t0) < 10000) usleep(1000);
  usleep(20000);  // all of them inside their waits
  int made = 0;
  for (int c = 0; c < connections && elapsed_ms(t0) < 60000; ++c) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      if (fd >= 0) close(fd);
      break;
    }
    close(fd);
    ++made;
    auto t1 = std::chrono::steady_clock::now();
    while (board->accepted.load() < made && elapsed_ms(t1) < 2000) usleep(50);
    usleep(300);  // the other workers go back to sleep
  }
  close(stop[1]);  // every worker wakes for this and exits
  for (pid_t pid : pids) {
    int status = 0;
    for (int i = 0; i < 2000 && waitpid(pid, &status, WNOHANG) == 0; ++i) usleep(5000);
    if (waitpid(pid, &status, WNOHANG) == 0) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
    }
  }
  close(lfd);
  int accepted = board->accepted.load();
  long switches = board->switches.load();
  munmap(mem, sizeof(Board));
  if (made != connections || accepted != connections) return -1;
  // The stop pipe's wake-up of each worker is not a connection's.
  return static_cast<double>(switches - static_cast<long>(pids.size())) / connections;
}

TEST(EpollHerd, ExclusiveWakesOneWorkerPerConnection) {
  // Eight workers with their own pollers on one listener, 1,000 connections.
  // Without XPOLL_EXCLUSIVE every sleeping worker wakes for each connection;
  // with it, about one does.
  double exclusive = herd_switches(8, 1000, XPOLL_IN | XPOLL_EXCLUSIVE);
  double plain = herd_switches(8, 1000, XPOLL_IN);
  std::printf("[ herd ] 8 workers, 1000 connections: %.2f wake-ups per connection exclusive, %.2f plain\n", exclusive,
              plain);
  ASSERT_GE(exclusive, 0) << "a connection was not accepted (exclusive)";
  ASSERT_GE(plain, 0) << "a connection was not accepted (plain)";
  EXPECT_LT(exclusive, 1.5);
  EXPECT_GT(plain, 3.0);
}

}  // namespace
