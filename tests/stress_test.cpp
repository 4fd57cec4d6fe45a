// Stress, on every backend, bounded in count and time (and run under TSan in
// the tsan lane): threads changing registrations while one waits and another
// wakes it; a signal storm while descriptors become ready; 10,000
// descriptors renewed round after round. Each counts that nothing was lost.
#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <sys/time.h>

#include <atomic>
#include <random>
#include <set>
#include <thread>

#include "support.hpp"

using namespace xpoll_test;

namespace {

class Stress : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override { ASSERT_EQ(xpoll_create(&p_, GetParam().c_str(), 0), 0); }
  void TearDown() override { xpoll_destroy(p_); }
  xpoll_t* p_ = nullptr;
};

TEST_P(Stress, ChurnWaitAndWakeFromManyThreads) {
  // Two threads add, modify and remove their own 40 descriptors at random,
  // a third wakes; this one waits. Then every descriptor is registered and
  // made ready, and each must be reported: nothing lost, nothing stale.
  constexpr int kPerThread = 40, kMinOps = 4000, kMaxOps = 400000;
  std::vector<Pair> pairs;
  for (int i = 0; i < 2 * kPerThread; ++i) pairs.push_back(Pair::make());
  std::atomic<bool> stop{false};
  std::atomic<long> wakes{0};
  auto churn = [&](int first, unsigned seed) {
    std::mt19937 rng(seed);
    std::vector<bool> on(kPerThread, false);
    auto start = std::chrono::steady_clock::now();
    // At least 300 ms (and kMinOps changes) of churn, at most kMaxOps.
    for (int op = 0; op < kMaxOps && (op < kMinOps || elapsed_ms(start) < 300); ++op) {
      int k = static_cast<int>(rng() % kPerThread);
      int fd = pairs[first + k].a.get();
      uint32_t mask = (rng() & 1 ? XPOLL_IN : 0) | (rng() & 2 ? XPOLL_OUT : 0) | (rng() & 4 ? XPOLL_ONESHOT : 0);
      int rc;
      if (!on[k]) {
        rc = xpoll_add(p_, fd, mask, static_cast<uint64_t>(first + k));
        on[k] = rc == 0;
      } else if (rng() % 3 == 0) {
        rc = xpoll_remove(p_, fd);
        on[k] = false;
      } else {
        rc = xpoll_modify(p_, fd, mask, static_cast<uint64_t>(first + k));
      }
      if (rc != 0) ADD_FAILURE() << "churn call failed: " << xpoll_errname(rc);
    }
    for (int k = 0; k < kPerThread; ++k)
      if (on[k]) xpoll_remove(p_, pairs[first + k].a.get());
  };
  std::thread t1(churn, 0, 1u), t2(churn, kPerThread, 2u);
  std::thread waker([&] {
    while (!stop) {
      xpoll_wake(p_);
      ++wakes;
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  });
  long waits = 0, events = 0;
  auto t0 = std::chrono::steady_clock::now();
  std::thread joiner([&] {
    t1.join();
    t2.join();
    stop = true;
  });
  while (!stop && elapsed_ms(t0) < 20000) {
    int rc = 0;
    auto ev = wait_once(p_, 50, 16, &rc);
    ASSERT_GE(rc, 0) << xpoll_errname(rc);
    for (const auto& e : ev) ASSERT_LT(e.data, static_cast<uint64_t>(2 * kPerThread));
    ++waits;
    events += static_cast<long>(ev.size());
  }
  joiner.join();
  waker.join();
  // Every descriptor now registered level-triggered and readable: all are reported.
  for (int i = 0; i < 2 * kPerThread; ++i) {
    ASSERT_EQ(xpoll_add(p_, pairs[i].a.get(), XPOLL_IN, static_cast<uint64_t>(i)), 0);
    ASSERT_TRUE(send_byte(pairs[i].b.get()));
  }
  std::set<uint64_t> seen;
  for (int r = 0; r < 50 && seen.size() < pairs.size(); ++r)
    for (const auto& e : wait_once(p_, 200, 64)) seen.insert(e.data);
  EXPECT_EQ(seen.size(), pairs.size());
  std::printf("[ stress   ] %s: %ld waits, %ld events, %ld wakes during the churn\n", GetParam().c_str(), waits,
              events, wakes.load());
  EXPECT_GT(waits, 10) << "the churn ended before the waiter ran";
}

extern "C" void on_storm(int) {}

TEST_P(Stress, SignalStormLosesNoReadinessAndNoWake) {
  // An interval timer fires every 300 us while another thread makes one
  // descriptor ready at a time and waits for it to be seen, and now and then
  // wakes the waiter instead. Every readiness and every wake must arrive.
  constexpr int kRounds = 600;
  std::vector<Pair> pairs;
  for (int i = 0; i < 8; ++i) {
    pairs.push_back(Pair::make());
    ASSERT_EQ(xpoll_add(p_, pairs.back().a.get(), XPOLL_IN, static_cast<uint64_t>(i)), 0);
  }
  struct sigaction sa = {}, old = {};
  sa.sa_handler = on_storm;  // no SA_RESTART: waits see EINTR
  sigemptyset(&sa.sa_mask);
  ASSERT_EQ(sigaction(SIGALRM, &sa, &old), 0);
  std::atomic<int> seen_round{-1};
  std::atomic<bool> wake_round{false};
  std::atomic<bool> done{false};
  std::thread feeder([&] {
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGALRM);
    pthread_sigmask(SIG_BLOCK, &block, nullptr);  // the storm is for the waiter
    for (int r = 0; r < kRounds && !done; ++r) {
      // A pause first, so that the waiter blocks while the timer fires.
      std::this_thread::sleep_for(std::chrono::microseconds(400));
      if (r % 5 == 4) {
        wake_round = true;
        xpoll_wake(p_);
      } else {
        send_byte(pairs[r % pairs.size()].b.get());
      }
      for (int spin = 0; spin < 200000 && seen_round.load() < r && !done; ++spin) std::this_thread::yield();
    }
  });
  struct itimerval it = {{0, 300}, {0, 300}};
  setitimer(ITIMER_REAL, &it, nullptr);
  int interrupted = 0, readiness = 0, wakes = 0;
  auto t0 = std::chrono::steady_clock::now();
  for (int r = 0; r < kRounds && elapsed_ms(t0) < 30000;) {
    xpoll_event_t ev[8];
    int n = xpoll_wait(p_, ev, 8, 5000);
    if (n == XPOLL_EINTR) {
      ++interrupted;
      continue;
    }
    ASSERT_GE(n, 0) << xpoll_errname(n);
    if (n == 0 && wake_round.exchange(false)) {
      ++wakes;
      seen_round = r++;
      continue;
    }
    for (int i = 0; i < n; ++i) drain(pairs[ev[i].data].a.get());
    if (n > 0) {
      readiness += n;
      seen_round = r++;
    }
  }
  struct itimerval off = {};
  setitimer(ITIMER_REAL, &off, nullptr);
  done = true;
  feeder.join();
  sigaction(SIGALRM, &old, nullptr);
  EXPECT_EQ(readiness + wakes, kRounds);
  EXPECT_EQ(wakes, kRounds / 5);
  EXPECT_GT(interrupted, 0) << "the storm never interrupted a wait";
  std::printf("[ stress   ] %s: %d readiness, %d wakes, %d waits interrupted by the storm\n", GetParam().c_str(),
              readiness, wakes, interrupted);
}

TEST_P(Stress, TenThousandDescriptorsRenewedEveryRound) {
  // 5,000 pairs, both ends registered (10,000 descriptors); every round
  // removes and adds all of them again (the churn servers make), makes a
  // random hundred ready, and checks that exactly those are reported.
  constexpr int kPairs = 5000, kRounds = 20, kReady = 100;
  if (!ensure_descriptors(2 * kPairs + 200)) GTEST_SKIP() << "the hard descriptor limit is below 10,200";
  std::vector<Pair> pairs(kPairs);
  std::vector<int> fds;
  for (auto& p : pairs) {
    p = Pair::make();
    ASSERT_GE(p.a.get(), 0);
    fds.push_back(p.a.get());
    fds.push_back(p.b.get());
  }
  for (int fd : fds) ASSERT_EQ(xpoll_add(p_, fd, XPOLL_IN, static_cast<uint64_t>(fd)), 0);
  std::mt19937 rng(42);
  long reported = 0;
  for (int round = 0; round < kRounds; ++round) {
    for (int fd : fds) {
      ASSERT_EQ(xpoll_remove(p_, fd), 0);
      ASSERT_EQ(xpoll_add(p_, fd, XPOLL_IN, static_cast<uint64_t>(fd)), 0);
    }
    std::set<int> want;
    while (want.size() < kReady) {
      const Pair& p = pairs[rng() % kPairs];
      if (want.insert(p.a.get()).second) send_byte(p.b.get());
    }
    std::set<int> got;
    for (int r = 0; r < 20 && got.size() < want.size(); ++r)
      for (const auto& e : wait_once(p_, 500, 256)) {
        ASSERT_EQ(e.data, static_cast<uint64_t>(e.fd));
        got.insert(e.fd);
      }
    ASSERT_EQ(got, want) << "round " << round;
    reported += static_cast<long>(got.size());
    for (int fd : want) drain(fd);
  }
  std::printf("[ stress   ] %s: %d rounds of 10,000 renewals, %ld events, all accounted for\n", GetParam().c_str(),
              kRounds, reported);
}

std::string backend_name(const ::testing::TestParamInfo<std::string>& info) { return info.param; }
INSTANTIATE_TEST_SUITE_P(Backends, Stress, ::testing::ValuesIn(compiled_backends()), backend_name);

}  // namespace
