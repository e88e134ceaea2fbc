#include "kernels/interference.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/probe.h"

namespace gpusched::kernels {
namespace {

using ::testing::HasSubstr;

const absl::Time kT0 = absl::FromUnixSeconds(1700000000);

InterferenceEstimator MustCreate(InterferenceOptions options) {
  absl::StatusOr<InterferenceEstimator> est = InterferenceEstimator::Create(options);
  EXPECT_TRUE(est.ok()) << est.status();
  return est.ok() ? *est : InterferenceEstimator();
}

// Everything an observer can read, to check that a rejected sample changed nothing.
struct Observed {
  int64_t samples;
  double headroom;
  double raw;
  double latest;
  double baseline;
  absl::Time at;
  bool operator==(const Observed&) const = default;
};

Observed Observe(const InterferenceEstimator& e) {
  return {e.samples(),       e.headroom(),        e.raw_headroom(),
          e.latest_gflops(), e.baseline_gflops(), e.latest_time()};
}

TEST(InterferenceEstimatorTest, CreateRejectsBadOptionsNamingThem) {
  struct Case {
    std::string name;
    InterferenceOptions options;
    std::string field;
  };
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  const std::vector<Case> cases = {
      {"zero window", {.baseline_window = absl::ZeroDuration()}, "baseline_window"},
      {"negative window", {.baseline_window = absl::Seconds(-1)}, "baseline_window"},
      {"infinite window", {.baseline_window = absl::InfiniteDuration()}, "baseline_window"},
      {"alpha 0", {.alpha = 0}, "alpha"},
      {"alpha negative", {.alpha = -0.1}, "alpha"},
      {"alpha above 1", {.alpha = 1.1}, "alpha"},
      {"alpha NaN", {.alpha = nan}, "alpha"},
      {"reference negative", {.reference_gflops = -1}, "reference_gflops"},
      {"reference NaN", {.reference_gflops = nan}, "reference_gflops"},
      {"reference infinite", {.reference_gflops = inf}, "reference_gflops"},
  };
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.name);
    absl::StatusOr<InterferenceEstimator> est = InterferenceEstimator::Create(tc.options);
    EXPECT_EQ(est.status().code(), absl::StatusCode::kInvalidArgument) << est.status();
    EXPECT_THAT(est.status().message(), HasSubstr(tc.field));
  }
  EXPECT_TRUE(InterferenceEstimator::Create({.alpha = 1}).ok());
}

TEST(InterferenceEstimatorTest, DefaultsAndStateBeforeAnySample) {
  InterferenceEstimator est;
  EXPECT_EQ(est.options().baseline_window, absl::Minutes(30));
  EXPECT_EQ(est.options().alpha, 0.3);
  EXPECT_EQ(est.samples(), 0);
  EXPECT_EQ(est.headroom(), 1.0);
  EXPECT_EQ(est.interference(), 0.0);
  EXPECT_EQ(est.baseline_gflops(), 0.0);
  EXPECT_EQ(est.latest_gflops(), 0.0);
  EXPECT_EQ(est.latest_time(), absl::InfinitePast());
}

TEST(InterferenceEstimatorTest, FirstSampleIsItsOwnBaseline) {
  InterferenceEstimator est;
  ThroughputResult t;
  t.gflops = 50000;
  ASSERT_TRUE(est.Add(t, kT0).ok());
  EXPECT_EQ(est.samples(), 1);
  EXPECT_EQ(est.baseline_gflops(), 50000);
  EXPECT_EQ(est.latest_gflops(), 50000);
  EXPECT_EQ(est.latest_time(), kT0);
  EXPECT_EQ(est.raw_headroom(), 1.0);
  EXPECT_EQ(est.headroom(), 1.0);
  EXPECT_EQ(est.interference(), 0.0);
}

TEST(InterferenceEstimatorTest, SmoothsHeadroomWithAnEwma) {
  InterferenceEstimator est = MustCreate({.alpha = 0.25});
  ASSERT_TRUE(est.AddGflops(100, kT0).ok());
  ASSERT_TRUE(est.AddGflops(50, kT0 + absl::Seconds(10)).ok());
  EXPECT_DOUBLE_EQ(est.raw_headroom(), 0.5);
  EXPECT_DOUBLE_EQ(est.headroom(), 0.25 * 0.5 + 0.75 * 1.0);  // 0.875
  EXPECT_DOUBLE_EQ(est.interference(), 0.125);
  ASSERT_TRUE(est.AddGflops(20, kT0 + absl::Seconds(20)).ok());
  EXPECT_DOUBLE_EQ(est.raw_headroom(), 0.2);
  EXPECT_DOUBLE_EQ(est.headroom(), 0.25 * 0.2 + 0.75 * 0.875);
  // A steady load: the smoothed value converges on the raw one.
  for (int i = 3; i < 150; ++i) {  // 25 minutes: the 100 stays in the 30-minute window
    ASSERT_TRUE(est.AddGflops(60, kT0 + absl::Seconds(10 * i)).ok());
  }
  EXPECT_NEAR(est.headroom(), 0.6, 1e-9);
  EXPECT_NEAR(est.interference(), 0.4, 1e-9);
}

TEST(InterferenceEstimatorTest, AlphaOneFollowsTheLatestSample) {
  InterferenceEstimator est = MustCreate({.alpha = 1});
  ASSERT_TRUE(est.AddGflops(100, kT0).ok());
  ASSERT_TRUE(est.AddGflops(30, kT0 + absl::Seconds(1)).ok());
  EXPECT_DOUBLE_EQ(est.headroom(), 0.3);
  ASSERT_TRUE(est.AddGflops(90, kT0 + absl::Seconds(2)).ok());
  EXPECT_DOUBLE_EQ(est.headroom(), 0.9);
}

TEST(InterferenceEstimatorTest, NewMaximumRaisesTheBaselineAndHeadroomStaysAtMostOne) {
  InterferenceEstimator est = MustCreate({.alpha = 1});
  ASSERT_TRUE(est.AddGflops(100, kT0).ok());
  ASSERT_TRUE(est.AddGflops(150, kT0 + absl::Seconds(1)).ok());
  EXPECT_EQ(est.baseline_gflops(), 150);
  EXPECT_EQ(est.headroom(), 1.0);
  ASSERT_TRUE(est.AddGflops(100, kT0 + absl::Seconds(2)).ok());
  EXPECT_DOUBLE_EQ(est.headroom(), 100.0 / 150);
}

TEST(InterferenceEstimatorTest, RejectsBadGflopsLeavingTheStateUnchanged) {
  InterferenceEstimator est;
  ASSERT_TRUE(est.AddGflops(100, kT0).ok());
  ASSERT_TRUE(est.AddGflops(40, kT0 + absl::Seconds(1)).ok());
  const Observed before = Observe(est);
  for (double bad :
       {0.0, -5.0, std::numeric_limits<double>::quiet_NaN(),
        std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity()}) {
    SCOPED_TRACE(bad);
    absl::Status status = est.AddGflops(bad, kT0 + absl::Seconds(2));
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
    EXPECT_THAT(status.message(), HasSubstr("gflops must be finite and > 0"));
    EXPECT_TRUE(Observe(est) == before);
  }
  ThroughputResult zero;  // gflops 0, as a failed or empty probe would leave it
  EXPECT_EQ(est.Add(zero, kT0 + absl::Seconds(3)).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Observe(est) == before);
}

TEST(InterferenceEstimatorTest, RejectsBadTimesLeavingTheStateUnchanged) {
  InterferenceEstimator est;
  EXPECT_EQ(est.AddGflops(10, absl::InfinitePast()).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(est.AddGflops(10, absl::InfiniteFuture()).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(est.samples(), 0);
  ASSERT_TRUE(est.AddGflops(100, kT0).ok());
  ASSERT_TRUE(est.AddGflops(70, kT0 + absl::Seconds(5)).ok());
  const Observed before = Observe(est);
  absl::Status status = est.AddGflops(100, kT0 + absl::Seconds(4));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(status.message(), HasSubstr("before the previous sample"));
  EXPECT_TRUE(Observe(est) == before);
  // The same time as the previous sample is fine.
  EXPECT_TRUE(est.AddGflops(80, kT0 + absl::Seconds(5)).ok());
  EXPECT_EQ(est.samples(), 3);
}

TEST(InterferenceEstimatorTest, OldMaximaLeaveTheBaselineAfterTheWindow) {
  InterferenceEstimator est = MustCreate({.baseline_window = absl::Minutes(30), .alpha = 1});
  ASSERT_TRUE(est.AddGflops(100, kT0).ok());
  ASSERT_TRUE(est.AddGflops(80, kT0 + absl::Minutes(10)).ok());
  ASSERT_TRUE(est.AddGflops(50, kT0 + absl::Minutes(20)).ok());
  EXPECT_EQ(est.baseline_gflops(), 100);
  EXPECT_DOUBLE_EQ(est.headroom(), 0.5);
  // Exactly one window after the maximum it still counts...
  ASSERT_TRUE(est.AddGflops(50, kT0 + absl::Minutes(30)).ok());
  EXPECT_EQ(est.baseline_gflops(), 100);
  // ...a nanosecond later it has decayed to the next best in the window.
  ASSERT_TRUE(est.AddGflops(50, kT0 + absl::Minutes(30) + absl::Nanoseconds(1)).ok());
  EXPECT_EQ(est.baseline_gflops(), 80);
  EXPECT_DOUBLE_EQ(est.headroom(), 50.0 / 80);
  ASSERT_TRUE(est.AddGflops(50, kT0 + absl::Minutes(41)).ok());
  EXPECT_EQ(est.baseline_gflops(), 50);
  EXPECT_DOUBLE_EQ(est.headroom(), 1.0);
}

TEST(InterferenceEstimatorTest, BaselineMatchesABruteForceWindowedMaximum) {
  const absl::Duration window = absl::Seconds(100);
  InterferenceEstimator est = MustCreate({.baseline_window = window, .alpha = 0.5});
  std::mt19937_64 rng(7);
  std::vector<std::pair<absl::Time, double>> seen;
  absl::Time at = kT0;
  double smoothed = 1.0;
  for (int i = 0; i < 3000; ++i) {
    at += absl::Seconds(static_cast<int64_t>(rng() % 20));  // sometimes the same time
    const double gflops = 1.0 + static_cast<double>(rng() % 1000);
    ASSERT_TRUE(est.AddGflops(gflops, at).ok());
    seen.emplace_back(at, gflops);
    double best = 0;
    for (const auto& [t, g] : seen) {
      if (at - t <= window) best = std::max(best, g);
    }
    ASSERT_EQ(est.baseline_gflops(), best) << "sample " << i;
    const double raw = gflops / best;
    ASSERT_DOUBLE_EQ(est.raw_headroom(), raw);
    // No gap here exceeds the window, so the EWMA never restarts.
    smoothed = i == 0 ? raw : 0.5 * raw + 0.5 * smoothed;
    ASSERT_NEAR(est.headroom(), smoothed, 1e-12);
  }
}

TEST(InterferenceEstimatorTest, AGapLongerThanTheWindowRestartsTheSmoothing) {
  InterferenceEstimator est = MustCreate({.baseline_window = absl::Minutes(5), .alpha = 0.1});
  ASSERT_TRUE(est.AddGflops(100, kT0).ok());
  ASSERT_TRUE(est.AddGflops(10, kT0 + absl::Minutes(1)).ok());
  EXPECT_DOUBLE_EQ(est.headroom(), 0.1 * 0.1 + 0.9 * 1.0);
  // Six minutes of silence: the old baseline and the old smoothed value are both stale.
  ASSERT_TRUE(est.AddGflops(40, kT0 + absl::Minutes(7)).ok());
  EXPECT_EQ(est.baseline_gflops(), 40);
  EXPECT_EQ(est.headroom(), 1.0);
}

TEST(InterferenceEstimatorTest, ReferenceGflopsFloorsTheBaselineFromTheFirstSample) {
  InterferenceEstimator est = MustCreate({.alpha = 0.5, .reference_gflops = 200});
  EXPECT_EQ(est.baseline_gflops(), 200);
  ASSERT_TRUE(est.AddGflops(100, kT0).ok());
  EXPECT_DOUBLE_EQ(est.raw_headroom(), 0.5);
  EXPECT_DOUBLE_EQ(est.headroom(), 0.5);  // the first sample is not smoothed toward 1
  ASSERT_TRUE(est.AddGflops(300, kT0 + absl::Seconds(1)).ok());
  EXPECT_EQ(est.baseline_gflops(), 300);  // a measured maximum above the reference wins
  EXPECT_DOUBLE_EQ(est.headroom(), 0.5 * 1.0 + 0.5 * 0.5);
  ASSERT_TRUE(est.AddGflops(100, kT0 + absl::Hours(2)).ok());
  EXPECT_EQ(est.baseline_gflops(), 200);  // the 300 left the window; the reference stays
}

TEST(InterferenceEstimatorTest, ResetForgetsSamplesButKeepsOptions) {
  InterferenceEstimator est = MustCreate({.alpha = 0.5});
  ASSERT_TRUE(est.AddGflops(100, kT0).ok());
  ASSERT_TRUE(est.AddGflops(10, kT0 + absl::Seconds(1)).ok());
  est.Reset();
  EXPECT_EQ(est.samples(), 0);
  EXPECT_EQ(est.headroom(), 1.0);
  EXPECT_EQ(est.baseline_gflops(), 0);
  EXPECT_EQ(est.options().alpha, 0.5);
  // An earlier time than before the Reset is accepted: nothing to be ordered against.
  ASSERT_TRUE(est.AddGflops(20, kT0 - absl::Hours(1)).ok());
  EXPECT_EQ(est.baseline_gflops(), 20);
  EXPECT_EQ(est.headroom(), 1.0);
}

TEST(InterferenceEstimatorTest, WindowKeepsAtMostItsSampleCapDroppingTheOldest) {
  InterferenceEstimator est = MustCreate({.baseline_window = absl::Hours(10), .alpha = 1});
  const int n = static_cast<int>(InterferenceEstimator::kMaxWindowSamples) + 1;
  for (int i = 0; i < n; ++i) {
    ASSERT_TRUE(est.AddGflops(100000.0 - i, kT0 + absl::Seconds(i)).ok());  // strictly falling
  }
  // The first sample (100000) was dropped to stay within the cap; the next best remains.
  EXPECT_EQ(est.baseline_gflops(), 99999.0);
}

TEST(InterferenceEstimatorTest, FollowsAFakeGpuWhoseLoadRises) {
  InterferenceEstimator est = MustCreate({.alpha = 1});
  // What FakeBackend reports for an H100 (66900 GFLOP/s peak) at loads 0, 0.25 and 0.5.
  for (const auto& [minute, load] :
       std::vector<std::pair<int, double>>{{0, 0}, {1, 0.25}, {2, 0.5}}) {
    ThroughputResult t;
    t.gflops = 66900 * (1 - load);
    ASSERT_TRUE(est.Add(t, kT0 + absl::Minutes(minute)).ok());
    EXPECT_NEAR(est.interference(), load, 1e-12);
  }
}

}  // namespace
}  // namespace gpusched::kernels
