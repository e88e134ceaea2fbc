#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/real_clock.h"
#include "common/sim_clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gpusched {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

const absl::Time kStart = absl::FromUnixSeconds(1000);

// ---------------------------------------------------------------------------------------------
// SimClock.

TEST(SimClockTest, NowStaysFixedUntilAdvanced) {
  SimClock clock(kStart);
  EXPECT_EQ(clock.Now(), kStart);
  EXPECT_EQ(clock.Now(), kStart);
  clock.Advance(absl::Seconds(3));
  EXPECT_EQ(clock.Now(), kStart + absl::Seconds(3));
  clock.AdvanceTo(kStart + absl::Seconds(10));
  EXPECT_EQ(clock.Now(), kStart + absl::Seconds(10));
}

TEST(SimClockTest, DefaultStartIsUnixEpoch) {
  SimClock clock;
  EXPECT_EQ(clock.Now(), absl::UnixEpoch());
}

TEST(SimClockTest, TimersFireInDueTimeOrderNotSchedulingOrder) {
  SimClock clock(kStart);
  std::vector<std::string> fired;
  clock.ScheduleAfter(absl::Seconds(3), [&] { fired.push_back("t3"); });
  clock.ScheduleAfter(absl::Seconds(1), [&] { fired.push_back("t1"); });
  clock.ScheduleAfter(absl::Seconds(2), [&] { fired.push_back("t2"); });
  clock.Advance(absl::Seconds(5));
  EXPECT_THAT(fired, ElementsAre("t1", "t2", "t3"));
  EXPECT_EQ(clock.Now(), kStart + absl::Seconds(5));
}

TEST(SimClockTest, TimersDueAtTheSameInstantFireFirstScheduledFirst) {
  SimClock clock(kStart);
  std::vector<int> fired;
  for (int i = 0; i < 5; ++i) {
    clock.ScheduleAfter(absl::Seconds(2), [&fired, i] { fired.push_back(i); });
  }
  // An earlier timer scheduled last still goes first.
  clock.ScheduleAfter(absl::Seconds(1), [&fired] { fired.push_back(-1); });
  clock.Advance(absl::Seconds(2));
  EXPECT_THAT(fired, ElementsAre(-1, 0, 1, 2, 3, 4));
}

TEST(SimClockTest, NowInsideCallbackEqualsTheTimersDueTime) {
  SimClock clock(kStart);
  std::vector<absl::Time> seen;
  clock.ScheduleAfter(absl::Seconds(4), [&] { seen.push_back(clock.Now()); });
  clock.ScheduleAfter(absl::Seconds(1), [&] { seen.push_back(clock.Now()); });
  clock.ScheduleAfter(absl::Milliseconds(2500), [&] { seen.push_back(clock.Now()); });
  clock.AdvanceTo(kStart + absl::Seconds(10));
  EXPECT_THAT(seen, ElementsAre(kStart + absl::Seconds(1), kStart + absl::Milliseconds(2500),
                                kStart + absl::Seconds(4)));
  EXPECT_EQ(clock.Now(), kStart + absl::Seconds(10));
}

TEST(SimClockTest, AdvanceFiresOnlyTimersDueAtOrBeforeTheTarget) {
  SimClock clock(kStart);
  std::vector<std::string> fired;
  clock.ScheduleAfter(absl::Seconds(1), [&] { fired.push_back("t1"); });
  clock.ScheduleAfter(absl::Seconds(2), [&] { fired.push_back("t2"); });
  clock.ScheduleAfter(absl::Seconds(3), [&] { fired.push_back("t3"); });

  clock.Advance(absl::Milliseconds(999));
  EXPECT_THAT(fired, IsEmpty());
  clock.AdvanceTo(kStart + absl::Seconds(2));  // exactly at t2: inclusive
  EXPECT_THAT(fired, ElementsAre("t1", "t2"));
  EXPECT_EQ(clock.pending_timers(), 1u);
  clock.Advance(absl::Seconds(1));
  EXPECT_THAT(fired, ElementsAre("t1", "t2", "t3"));
  EXPECT_EQ(clock.pending_timers(), 0u);
}

TEST(SimClockTest, CancelBeforeFiringPreventsItAndReturnsTrue) {
  SimClock clock(kStart);
  int fired = 0;
  const Clock::TimerId id = clock.ScheduleAfter(absl::Seconds(1), [&] { ++fired; });
  EXPECT_TRUE(clock.Cancel(id));
  EXPECT_EQ(clock.pending_timers(), 0u);
  clock.Advance(absl::Seconds(5));
  EXPECT_EQ(fired, 0);
}

TEST(SimClockTest, CancelAfterFiringReturnsFalse) {
  SimClock clock(kStart);
  int fired = 0;
  const Clock::TimerId id = clock.ScheduleAfter(absl::Seconds(1), [&] { ++fired; });
  clock.Advance(absl::Seconds(1));
  ASSERT_EQ(fired, 1);
  EXPECT_FALSE(clock.Cancel(id));
}

TEST(SimClockTest, CancelTwiceReturnsFalseTheSecondTime) {
  SimClock clock(kStart);
  const Clock::TimerId id = clock.ScheduleAfter(absl::Seconds(1), [] {});
  EXPECT_TRUE(clock.Cancel(id));
  EXPECT_FALSE(clock.Cancel(id));
}

TEST(SimClockTest, CancelOfUnknownIdReturnsFalse) {
  SimClock clock(kStart);
  EXPECT_FALSE(clock.Cancel(0));
  EXPECT_FALSE(clock.Cancel(12345));
}

TEST(SimClockTest, CancelOneTimerLeavesOthersFiring) {
  SimClock clock(kStart);
  std::vector<int> fired;
  clock.ScheduleAfter(absl::Seconds(1), [&] { fired.push_back(1); });
  const Clock::TimerId id2 = clock.ScheduleAfter(absl::Seconds(1), [&] { fired.push_back(2); });
  clock.ScheduleAfter(absl::Seconds(1), [&] { fired.push_back(3); });
  EXPECT_TRUE(clock.Cancel(id2));
  clock.Advance(absl::Seconds(1));
  EXPECT_THAT(fired, ElementsAre(1, 3));
}

TEST(SimClockTest, TimerIdsAreNonZeroAndNeverReused) {
  SimClock clock(kStart);
  std::vector<Clock::TimerId> ids;
  for (int i = 0; i < 3; ++i) ids.push_back(clock.ScheduleAfter(absl::Seconds(1), [] {}));
  EXPECT_TRUE(clock.Cancel(ids[0]));
  clock.Advance(absl::Seconds(1));
  for (int i = 0; i < 3; ++i) ids.push_back(clock.ScheduleAfter(absl::Seconds(1), [] {}));
  for (size_t i = 0; i < ids.size(); ++i) {
    EXPECT_NE(ids[i], 0u);
    for (size_t j = 0; j < i; ++j) EXPECT_NE(ids[i], ids[j]) << i << " vs " << j;
  }
}

TEST(SimClockTest, CallbackSchedulingATimerDueBeforeTheTargetFiresInTheSameAdvance) {
  SimClock clock(kStart);
  std::vector<std::pair<std::string, absl::Time>> fired;
  clock.ScheduleAfter(absl::Seconds(1), [&] {
    fired.emplace_back("outer", clock.Now());
    clock.ScheduleAfter(absl::Seconds(2), [&] {
      fired.emplace_back("inner", clock.Now());
      clock.ScheduleAfter(absl::Seconds(0), [&] { fired.emplace_back("zero", clock.Now()); });
      // Due after the target: stays pending.
      clock.ScheduleAfter(absl::Seconds(10), [&] { fired.emplace_back("late", clock.Now()); });
    });
  });
  clock.ScheduleAfter(absl::Seconds(4), [&] { fired.emplace_back("t4", clock.Now()); });

  clock.AdvanceTo(kStart + absl::Seconds(5));
  EXPECT_THAT(fired, ElementsAre(std::make_pair(std::string("outer"), kStart + absl::Seconds(1)),
                                 std::make_pair(std::string("inner"), kStart + absl::Seconds(3)),
                                 std::make_pair(std::string("zero"), kStart + absl::Seconds(3)),
                                 std::make_pair(std::string("t4"), kStart + absl::Seconds(4))));
  EXPECT_EQ(clock.pending_timers(), 1u);
  EXPECT_EQ(clock.NextTimerAt(), kStart + absl::Seconds(13));
  EXPECT_EQ(clock.Now(), kStart + absl::Seconds(5));
}

TEST(SimClockTest, CallbackCanCancelALaterTimer) {
  SimClock clock(kStart);
  std::vector<int> fired;
  Clock::TimerId later = 0;
  clock.ScheduleAfter(absl::Seconds(1), [&] {
    fired.push_back(1);
    EXPECT_TRUE(clock.Cancel(later));
  });
  later = clock.ScheduleAfter(absl::Seconds(2), [&] { fired.push_back(2); });
  clock.Advance(absl::Seconds(3));
  EXPECT_THAT(fired, ElementsAre(1));
}

TEST(SimClockTest, CancelOfTheRunningTimerFromItsOwnCallbackReturnsFalse) {
  SimClock clock(kStart);
  Clock::TimerId self = 0;
  bool cancel_result = true;
  self = clock.ScheduleAfter(absl::Seconds(1), [&] { cancel_result = clock.Cancel(self); });
  clock.Advance(absl::Seconds(1));
  EXPECT_FALSE(cancel_result);
}

TEST(SimClockTest, NegativeDelayCountsAsNow) {
  SimClock clock(kStart);
  std::vector<std::string> fired;
  clock.ScheduleAfter(absl::Seconds(0), [&] { fired.push_back("zero"); });
  clock.ScheduleAfter(absl::Seconds(-5), [&] { fired.push_back("negative"); });
  EXPECT_EQ(clock.NextTimerAt(), kStart);
  // Advancing by zero fires both, in scheduling order (same due time).
  clock.Advance(absl::ZeroDuration());
  EXPECT_THAT(fired, ElementsAre("zero", "negative"));
  EXPECT_EQ(clock.Now(), kStart);
}

TEST(SimClockTest, NextTimerAtAndPendingTimersTrackTheQueue) {
  SimClock clock(kStart);
  EXPECT_EQ(clock.NextTimerAt(), absl::InfiniteFuture());
  EXPECT_EQ(clock.pending_timers(), 0u);

  const Clock::TimerId a = clock.ScheduleAfter(absl::Seconds(5), [] {});
  EXPECT_EQ(clock.NextTimerAt(), kStart + absl::Seconds(5));
  EXPECT_EQ(clock.pending_timers(), 1u);

  clock.ScheduleAfter(absl::Seconds(7), [] {});
  const Clock::TimerId c = clock.ScheduleAfter(absl::Seconds(2), [] {});
  EXPECT_EQ(clock.NextTimerAt(), kStart + absl::Seconds(2));
  EXPECT_EQ(clock.pending_timers(), 3u);

  EXPECT_TRUE(clock.Cancel(c));
  EXPECT_EQ(clock.NextTimerAt(), kStart + absl::Seconds(5));
  EXPECT_EQ(clock.pending_timers(), 2u);

  EXPECT_TRUE(clock.Cancel(a));
  EXPECT_EQ(clock.NextTimerAt(), kStart + absl::Seconds(7));

  clock.Advance(absl::Seconds(7));
  EXPECT_EQ(clock.NextTimerAt(), absl::InfiniteFuture());
  EXPECT_EQ(clock.pending_timers(), 0u);
}

TEST(SimClockTest, AdvanceToThePastIsANoOp) {
  SimClock clock(kStart);
  int fired = 0;
  clock.Advance(absl::Seconds(10));
  clock.ScheduleAfter(absl::Seconds(1), [&] { ++fired; });

  clock.AdvanceTo(kStart);
  EXPECT_EQ(clock.Now(), kStart + absl::Seconds(10));
  clock.Advance(absl::Seconds(-3));
  EXPECT_EQ(clock.Now(), kStart + absl::Seconds(10));
  EXPECT_EQ(fired, 0);
  EXPECT_EQ(clock.pending_timers(), 1u);
}

TEST(SimClockTest, TimersAreRelativeToTheCurrentTime) {
  SimClock clock(kStart);
  clock.Advance(absl::Seconds(100));
  clock.ScheduleAfter(absl::Seconds(5), [] {});
  EXPECT_EQ(clock.NextTimerAt(), kStart + absl::Seconds(105));
}

TEST(SimClockTest, UsableThroughTheClockInterface) {
  SimClock sim(kStart);
  Clock& clock = sim;
  int fired = 0;
  clock.ScheduleAfter(absl::Seconds(1), [&] { ++fired; });
  EXPECT_EQ(clock.Now(), kStart);
  sim.Advance(absl::Seconds(1));
  EXPECT_EQ(fired, 1);
}

// ---------------------------------------------------------------------------------------------
// RealClock: the only tests that use real time (G22). Total real time stays well under 1s.

// A one-shot flag a timer thread sets and a test waits on.
class Notification {
 public:
  void Notify() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
  }
  bool WaitFor(std::chrono::milliseconds d) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, d, [&] { return done_; });
  }
  bool HasBeenNotified() {
    std::lock_guard<std::mutex> lock(mu_);
    return done_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
};

TEST(RealClockTest, NowTracksTheWallClock) {
  RealClock clock;
  const absl::Time before = absl::Now();
  const absl::Time now = clock.Now();
  const absl::Time after = absl::Now();
  EXPECT_LE(before, now);
  EXPECT_LE(now, after);
}

TEST(RealClockTest, ScheduledTimerFiresAfterItsDelay) {
  RealClock clock;
  Notification fired;
  absl::Time fired_at;
  std::mutex mu;
  const absl::Time scheduled_at = clock.Now();
  const Clock::TimerId id = clock.ScheduleAfter(absl::Milliseconds(20), [&] {
    {
      std::lock_guard<std::mutex> lock(mu);
      fired_at = absl::Now();
    }
    fired.Notify();
  });
  EXPECT_NE(id, 0u);
  ASSERT_TRUE(fired.WaitFor(std::chrono::seconds(5)));
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_GE(fired_at - scheduled_at, absl::Milliseconds(20));
  // Already fired: cannot be cancelled.
  EXPECT_FALSE(clock.Cancel(id));
}

TEST(RealClockTest, CancelledTimerDoesNotFire) {
  RealClock clock;
  Notification fired;
  const Clock::TimerId id =
      clock.ScheduleAfter(absl::Milliseconds(200), [&] { fired.Notify(); });
  EXPECT_TRUE(clock.Cancel(id));
  EXPECT_FALSE(clock.Cancel(id));
  // A later timer still fires, so the loop is alive while the cancelled one would have been due.
  Notification sentinel;
  clock.ScheduleAfter(absl::Milliseconds(250), [&] { sentinel.Notify(); });
  ASSERT_TRUE(sentinel.WaitFor(std::chrono::seconds(5)));
  EXPECT_FALSE(fired.HasBeenNotified());
}

// A timer that is effectively "never" (an infinite or centuries-long delay) must leave the timer
// thread asleep. The wait is derived from due - now in nanoseconds; past ~292 years that
// overflows std::chrono::nanoseconds and the thread would spin (and, spinning on the mutex, can
// starve the destructor for minutes). The scenario therefore runs in a child process that
// reports through its exit code and leaves without destroying the clock, so a regression fails
// fast instead of hanging this binary.
TEST(RealClockTest, FarFutureTimerDoesNotBusyWait) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  struct Case {
    std::string name;
    absl::Duration delay;
  };
  const std::vector<Case> cases = {
      {"one hour", absl::Hours(1)},
      {"infinite", absl::InfiniteDuration()},
  };
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.name);
    EXPECT_EXIT(
        {
          auto* clock = new RealClock();  // deliberately never destroyed (see above)
          clock->ScheduleAfter(tc.delay, [] {});
          // std::clock() is CPU time of the whole process (every thread); this thread sleeps.
          const std::clock_t cpu_start = std::clock();
          std::this_thread::sleep_for(std::chrono::milliseconds(100));
          const double cpu_ms =
              1000.0 * static_cast<double>(std::clock() - cpu_start) / CLOCKS_PER_SEC;
          std::fprintf(stderr, "timer thread used %.1f ms of CPU in 100 ms\n", cpu_ms);
          std::_Exit(cpu_ms < 10.0 ? 0 : 1);
        },
        ::testing::ExitedWithCode(0), "");
  }
}

TEST(RealClockTest, DestructorDropsPendingTimersWithoutRunningThemAndReturns) {
  auto fired = std::make_shared<Notification>();
  const auto start = std::chrono::steady_clock::now();
  {
    RealClock clock;
    clock.ScheduleAfter(absl::Milliseconds(150), [fired] { fired->Notify(); });
    clock.ScheduleAfter(absl::Hours(1), [fired] { fired->Notify(); });
  }
  const auto elapsed = std::chrono::steady_clock::now() - start;
  // Generous bound: the point is that it does not wait for the one-hour timer.
  EXPECT_LT(elapsed, std::chrono::seconds(1));
  // Past the first timer's due time: nothing ran.
  EXPECT_FALSE(fired->WaitFor(std::chrono::milliseconds(200)));
}

}  // namespace
}  // namespace gpusched
