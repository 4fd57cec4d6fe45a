// Several waiters on one poller (XPOLL_SHARED), run once per compiled
// backend: Backends/Shared.<Name>/<backend>. What each backend does with
// level and edge readiness is in docs/semantics.md ("Several waiters").
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "support.hpp"

using namespace xpoll_test;

namespace {

using Clock = std::chrono::steady_clock;

class Shared : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    ASSERT_EQ(xpoll_create(&p_, GetParam().c_str(), XPOLL_SHARED), 0);
    caps_ = xpoll_capabilities(p_);
  }
  void TearDown() override { xpoll_destroy(p_); }

  // Starts n threads that each make one wait of timeout_ms and record what
  // it returned and how long it took; returns once all have started (and
  // a little more, so that they are inside their waits).
  struct OneWait {
    std::thread thread;
    int rc = -100;
    double ms = 0;
    std::vector<xpoll_event_t> events;
  };
  std::vector<std::unique_ptr<OneWait>> start_waiters(int n, int timeout_ms) {
    std::vector<std::unique_ptr<OneWait>> waiters;
    std::atomic<int> started{0};
    for (int i = 0; i < n; ++i) {
      waiters.push_back(std::make_unique<OneWait>());
      OneWait* w = waiters.back().get();
      w->thread = std::thread([this, w, timeout_ms, &started] {
        xpoll_event_t ev[8];
        ++started;
        auto t0 = Clock::now();
        w->rc = xpoll_wait(p_, ev, 8, timeout_ms);
        w->ms = elapsed_ms(t0);
        for (int k = 0; k < w->rc; ++k) w->events.push_back(ev[k]);
      });
    }
    for (int spin = 0; spin < 5000 && started.load() < n; ++spin) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    return waiters;
  }
  static void join_all(std::vector<std::unique_ptr<OneWait>>& waiters) {
    for (auto& w : waiters) w->thread.join();
  }

  xpoll_t* p_ = nullptr;
  uint32_t caps_ = 0;
};

TEST_P(Shared, UnknownCreateFlagsAreStillEinval) {
  xpoll_t* q = nullptr;
  EXPECT_EQ(xpoll_create(&q, GetParam().c_str(), XPOLL_SHARED | 0x100u), XPOLL_EINVAL);
  EXPECT_EQ(q, nullptr);
}

TEST_P(Shared, WakeReachesEveryWaiter) {
  // Twenty times over: four threads blocked without a time-out limit that
  // matters (10 s), one wake, and every one of them returns 0 at once.
  for (int round = 0; round < 20; ++round) {
    auto waiters = start_waiters(4, 10000);
    ASSERT_EQ(xpoll_wake(p_), 0);
    join_all(waiters);
    for (auto& w : waiters) {
      EXPECT_EQ(w->rc, 0) << "round " << round;
      EXPECT_LT(w->ms, 5000.0) << "round " << round << ": a waiter missed the wake";
    }
    if (HasFailure()) return;
  }
}

TEST_P(Shared, AWaitThatWaitedItsTurnKeepsItsDeadline) {
  // One waiter blocks for 300 ms; another starts 20 ms later for 400 ms. On
  // a backend that lets one waiter at a time into the kernel, the second
  // waits its turn, then waits what is left of its 400 ms, not 400 more.
  auto first = start_waiters(1, 300);
  auto t0 = Clock::now();
  int rc = -100;
  xpoll_event_t ev[4];
  rc = xpoll_wait(p_, ev, 4, 400);
  double took = elapsed_ms(t0);
  join_all(first);
  EXPECT_EQ(rc, 0);
  EXPECT_GE(took, 395.0);
  EXPECT_LT(took, 600.0);
}

TEST_P(Shared, WakeWithoutWaiterReturnsTheNextWaitOnly) {
  ASSERT_EQ(xpoll_wake(p_), 0);
  ASSERT_EQ(xpoll_wake(p_), 0);  // coalesced with the first
  auto t0 = Clock::now();
  EXPECT_TRUE(wait_once(p_, 5000).empty());
  EXPECT_LT(elapsed_ms(t0), 2500.0);
  // The wake was delivered: the next wait blocks for its time-out.
  t0 = Clock::now();
  EXPECT_TRUE(wait_once(p_, 300).empty());
  EXPECT_GE(elapsed_ms(t0), 250.0);
}

TEST_P(Shared, ReadinessReachesABlockedWaiter) {
  // Two waiters block; a descriptor becomes ready: at least one reports it.
  Pair s = Pair::make();
  ASSERT_EQ(xpoll_add(p_, s.a.get(), XPOLL_IN, 7), 0);
  auto waiters = start_waiters(2, 3000);
  ASSERT_TRUE(send_byte(s.b.get()));
  join_all(waiters);
  int reported = 0;
  for (auto& w : waiters) {
    EXPECT_GE(w->rc, 0);
    for (const auto& e : w->events) reported += e.data == 7 ? 1 : 0;
  }
  EXPECT_GE(reported, 1);
}

TEST_P(Shared, LevelReadinessIsReportedToEveryWaiterThatLooks) {
  // Level-triggered and still ready: each waiter that looks reports it, on
  // every backend, also when it became ready while they were blocked.
  Pair s = Pair::make();
  ASSERT_EQ(xpoll_add(p_, s.a.get(), XPOLL_IN, 7), 0);
  auto waiters = start_waiters(2, 3000);
  ASSERT_TRUE(send_byte(s.b.get()));
  join_all(waiters);
  for (auto& w : waiters) {
    ASSERT_EQ(w->rc, 1) << "after " << w->ms << " ms";
    EXPECT_EQ(w->events[0].data, 7u);
  }
}

TEST_P(Shared, EdgeChangeIsReportedToOneWaiter) {
  if (!(caps_ & XPOLL_CAP_EDGE)) GTEST_SKIP() << GetParam() << " has no edge mode";
  Pair s = Pair::make();
  ASSERT_EQ(xpoll_add(p_, s.a.get(), XPOLL_IN | XPOLL_EDGE, 7), 0);
  auto waiters = start_waiters(2, 1000);
  ASSERT_TRUE(send_byte(s.b.get()));
  join_all(waiters);
  int reported = 0;
  for (auto& w : waiters) {
    ASSERT_GE(w->rc, 0);
    reported += w->rc;
  }
  EXPECT_EQ(reported, 1);
}

TEST_P(Shared, OneshotIsReportedToOneWaiterPerArming) {
  // Always-ready oneshot registrations, re-armed by whichever thread got
  // each report: across 100,000 armings no report reaches two waiters, and
  // every arming is reported. Under Wine, where each arming is a round trip
  // to the wineserver (about 1 ms), 10,000.
  constexpr int kPairs = 4;
  constexpr int kThreads = 3;
#if defined(_WIN32)
  constexpr long kArmings = 10000;
#else
  constexpr long kArmings = 100000;
#endif
  std::vector<Pair> pairs;
  for (int i = 0; i < kPairs; ++i) {
    pairs.push_back(Pair::make());
    ASSERT_TRUE(send_byte(pairs.back().b.get()));  // never read: always ready
    ASSERT_EQ(xpoll_add(p_, pairs.back().a.get(), XPOLL_IN | XPOLL_ONESHOT, static_cast<uint64_t>(i)), 0);
  }
  std::atomic<long> armings{kPairs}, reports{0}, doubles{0}, errors{0};
  std::atomic<int> held[kPairs] = {};
  std::atomic<bool> give_up{false};
  auto t0 = Clock::now();
  auto worker = [&] {
    xpoll_event_t ev[kPairs];
    while (!give_up && reports.load() < kArmings) {
      int n = xpoll_wait(p_, ev, kPairs, 200);
      if (n < 0) {
        ++errors;
        break;
      }
      for (int k = 0; k < n; ++k) {
        int i = static_cast<int>(ev[k].data);
        if (held[i].exchange(1) != 0) ++doubles;
        ++reports;
        held[i].store(0);
        if (armings.fetch_add(1) < kArmings) {
          if (xpoll_modify(p_, pairs[i].a.get(), XPOLL_IN | XPOLL_ONESHOT, static_cast<uint64_t>(i)) != 0) ++errors;
        } else {
          armings.fetch_sub(1);
        }
      }
      if (elapsed_ms(t0) > 90000) give_up = true;
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) threads.emplace_back(worker);
  for (auto& t : threads) t.join();
  EXPECT_FALSE(give_up.load()) << "only " << reports.load() << " reports in 90 s";
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(doubles.load(), 0);
  EXPECT_EQ(armings.load(), kArmings);
  EXPECT_EQ(reports.load(), kArmings);
  // Nothing is armed now: nothing more is reported.
  EXPECT_TRUE(wait_once(p_, 100).empty());
}

TEST_P(Shared, ManyOneshotRegistrationsAreAllReported) {
  // Many oneshot registrations made ready at once, more than one wait can
  // take, handled and re-armed by three threads with small arrays: every
  // one is reported each round (under libkqueue, concurrent kevent() calls
  // lost about half of them for good).
#if defined(_WIN32)
  constexpr int kPairs = 200;
#else
  constexpr int kPairs = 1000;
  ASSERT_TRUE(ensure_descriptors(4 * kPairs));
#endif
  constexpr int kRounds = 3;
  std::vector<Pair> pairs;
  for (int i = 0; i < kPairs; ++i) {
    pairs.push_back(Pair::make());
    ASSERT_TRUE(pairs.back().a.valid());
    ASSERT_EQ(xpoll_add(p_, pairs.back().a.get(), XPOLL_IN | XPOLL_ONESHOT, static_cast<uint64_t>(i)), 0);
  }
  std::vector<std::atomic<int>> got(kPairs);
  for (auto& g : got) g.store(0);
  std::atomic<bool> done{false};
  std::atomic<long> errors{0};
  auto worker = [&] {
    xpoll_event_t ev[16];
    auto t0 = Clock::now();
    while (!done && elapsed_ms(t0) < 60000) {
      int n = xpoll_wait(p_, ev, 16, 100);
      if (n < 0) ++errors;
      for (int k = 0; k < n; ++k) {
        int i = static_cast<int>(ev[k].data);
        drain(pairs[i].a.get());
        ++got[i];
        if (xpoll_modify(p_, pairs[i].a.get(), XPOLL_IN | XPOLL_ONESHOT, static_cast<uint64_t>(i)) != 0) ++errors;
      }
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) threads.emplace_back(worker);
  int missing = 0;
  for (int round = 1; round <= kRounds && missing == 0; ++round) {
    for (auto& p : pairs) ASSERT_TRUE(send_byte(p.b.get()));
    auto t0 = Clock::now();
    do {
      missing = 0;
      for (auto& g : got) missing += g.load() < round ? 1 : 0;
      if (missing > 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    } while (missing > 0 && elapsed_ms(t0) < 10000);
    EXPECT_EQ(missing, 0) << "round " << round << ": " << missing << " of " << kPairs << " never reported";
  }
  done = true;
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
}

TEST_P(Shared, RemoveWhileOthersWaitIsFinal) {
  // Two threads wait in a loop on always-ready registrations while a third
  // removes one at a time and adds its descriptor again under new data. A
  // wait that began after a removal returned never reports that
  // registration (its data).
  constexpr int kPairs = 4;
  constexpr int kRemovals = 2000;
  std::vector<Pair> pairs;
  std::vector<int> data_of(kPairs);
  // removed_at[d]: the number of the removal that ended registration d.
  std::vector<std::atomic<int>> removed_at(kPairs + kRemovals);
  for (auto& r : removed_at) r.store(1 << 30);
  for (int i = 0; i < kPairs; ++i) {
    pairs.push_back(Pair::make());
    ASSERT_TRUE(send_byte(pairs.back().b.get()));
    data_of[i] = i;
    ASSERT_EQ(xpoll_add(p_, pairs.back().a.get(), XPOLL_IN, static_cast<uint64_t>(i)), 0);
  }
  std::atomic<int> removals{0};
  std::atomic<bool> done{false};
  std::atomic<long> violations{0}, reports{0}, errors{0};
  auto waiter = [&] {
    xpoll_event_t ev[kPairs];
    auto t0 = Clock::now();
    while (!done && elapsed_ms(t0) < 60000) {
      int before = removals.load();
      int n = xpoll_wait(p_, ev, kPairs, 100);
      if (n < 0) {
        ++errors;
        return;
      }
      for (int k = 0; k < n; ++k) {
        ++reports;
        if (removed_at[ev[k].data].load() < before) ++violations;
      }
    }
  };
  std::thread w1(waiter), w2(waiter);
  int next_data = kPairs;
  auto t0 = Clock::now();
  for (int r = 0; r < kRemovals && elapsed_ms(t0) < 60000; ++r) {
    int i = r % kPairs;
    if (xpoll_remove(p_, pairs[i].a.get()) != 0) ++errors;
    removed_at[data_of[i]].store(r);
    removals.store(r + 1);
    data_of[i] = next_data++;
    if (xpoll_add(p_, pairs[i].a.get(), XPOLL_IN, static_cast<uint64_t>(data_of[i])) != 0) ++errors;
    if (r % 64 == 0) std::this_thread::yield();
  }
  done = true;
  w1.join();
  w2.join();
  EXPECT_EQ(removals.load(), kRemovals);
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(violations.load(), 0) << "of " << reports.load() << " reports";
  EXPECT_GT(reports.load(), 0);
}

TEST_P(Shared, NonBlockingWaitReturnsWhileAnotherBlocks) {
  // One thread blocks with nothing to report; a wait that does not block
  // returns at once (with what is ready where the backend lets several
  // waiters into the kernel, else 0).
  Pair s = Pair::make();
  ASSERT_EQ(xpoll_add(p_, s.a.get(), XPOLL_IN, 3), 0);
  auto waiters = start_waiters(1, 10000);
  auto t0 = Clock::now();
  int rc = 0;
  auto ev = wait_once(p_, 0, 8, &rc);
  EXPECT_GE(rc, 0);
  EXPECT_LT(elapsed_ms(t0), 1000.0);
  ASSERT_EQ(xpoll_wake(p_), 0);
  join_all(waiters);
  EXPECT_EQ(waiters[0]->rc, 0);
  EXPECT_LT(waiters[0]->ms, 5000.0);
}

TEST_P(Shared, WaitersAndChurnLoseNoReadiness) {
  // Three threads wait; the main thread makes one descriptor at a time
  // ready, and each readiness is reported (by some waiter) before the next,
  // while registrations are added and removed in between.
  constexpr int kRounds = 500;
  std::vector<Pair> pairs;
  for (int i = 0; i < 8; ++i) {
    pairs.push_back(Pair::make());
    ASSERT_EQ(xpoll_add(p_, pairs.back().a.get(), XPOLL_IN | XPOLL_ONESHOT, static_cast<uint64_t>(i)), 0);
  }
  std::atomic<int> seen{0};
  std::atomic<bool> done{false};
  std::atomic<long> errors{0};
  auto waiter = [&] {
    xpoll_event_t ev[8];
    auto t0 = Clock::now();
    while (!done && elapsed_ms(t0) < 60000) {
      int n = xpoll_wait(p_, ev, 8, 200);
      if (n < 0) ++errors;
      for (int k = 0; k < n; ++k) {
        int i = static_cast<int>(ev[k].data);
        if (i == 99) continue;  // the spare, between its add and its removal
        drain(pairs[i].a.get());
        ++seen;
        if (xpoll_modify(p_, pairs[i].a.get(), XPOLL_IN | XPOLL_ONESHOT, static_cast<uint64_t>(i)) != 0) ++errors;
      }
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) threads.emplace_back(waiter);
  Pair spare = Pair::make();
  int lost = 0;
  for (int r = 0; r < kRounds; ++r) {
    int target = r + 1;
    ASSERT_TRUE(send_byte(pairs[r % pairs.size()].b.get()));
    if (r % 2 == 0) {
      xpoll_add(p_, spare.a.get(), XPOLL_OUT | XPOLL_ONESHOT, 99);
      xpoll_remove(p_, spare.a.get());
    }
    auto t0 = Clock::now();
    while (seen.load() < target && elapsed_ms(t0) < 5000) std::this_thread::yield();
    if (seen.load() < target) {
      ++lost;
      break;
    }
  }
  done = true;
  for (auto& t : threads) t.join();
  EXPECT_EQ(lost, 0) << "a readiness was not reported within 5 s";
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(seen.load(), kRounds);
}

std::string backend_name(const ::testing::TestParamInfo<std::string>& info) { return info.param; }

INSTANTIATE_TEST_SUITE_P(Backends, Shared, ::testing::ValuesIn(compiled_backends()), backend_name);

}  // namespace
