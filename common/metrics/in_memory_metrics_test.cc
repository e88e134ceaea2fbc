#include "common/metrics/in_memory_metrics.h"

#include <algorithm>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gpusched::metrics {
namespace {

using ::testing::DoubleEq;
using ::testing::ElementsAre;
using ::testing::Optional;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

TEST(InMemoryMetricsTest, CounterAccumulatesIncrements) {
  InMemoryMetrics m;
  Counter& c = m.GetCounter("gpusched_binds_total", "Pods bound.", {{"result", "ok"}});
  EXPECT_THAT(m.CounterValue("gpusched_binds_total", {{"result", "ok"}}), Optional(0.0));
  c.Increment();
  c.Increment(2.5);
  EXPECT_THAT(m.CounterValue("gpusched_binds_total", {{"result", "ok"}}), Optional(3.5));
}

TEST(InMemoryMetricsTest, SeriesAreKeptApartByNameAndLabels) {
  InMemoryMetrics m;
  m.GetCounter("gpusched_a_total", "", {{"result", "ok"}}).Increment(1);
  m.GetCounter("gpusched_a_total", "", {{"result", "error"}}).Increment(2);
  m.GetCounter("gpusched_b_total", "", {{"result", "ok"}}).Increment(4);
  m.GetCounter("gpusched_a_total", "", {}).Increment(8);

  EXPECT_THAT(m.CounterValue("gpusched_a_total", {{"result", "ok"}}), Optional(1.0));
  EXPECT_THAT(m.CounterValue("gpusched_a_total", {{"result", "error"}}), Optional(2.0));
  EXPECT_THAT(m.CounterValue("gpusched_b_total", {{"result", "ok"}}), Optional(4.0));
  EXPECT_THAT(m.CounterValue("gpusched_a_total", {}), Optional(8.0));
}

TEST(InMemoryMetricsTest, LabelOrderDoesNotMatter) {
  InMemoryMetrics m;
  Counter& c1 = m.GetCounter("gpusched_x_total", "", {{"a", "1"}, {"b", "2"}});
  Counter& c2 = m.GetCounter("gpusched_x_total", "", {{"b", "2"}, {"a", "1"}});
  EXPECT_EQ(&c1, &c2);
  c1.Increment();
  c2.Increment();
  EXPECT_THAT(m.CounterValue("gpusched_x_total", {{"b", "2"}, {"a", "1"}}), Optional(2.0));
  EXPECT_THAT(m.CounterValue("gpusched_x_total", {{"a", "1"}, {"b", "2"}}), Optional(2.0));

  m.GetGauge("gpusched_g", "", {{"z", "1"}, {"y", "2"}}).Set(5);
  EXPECT_THAT(m.GaugeValue("gpusched_g", {{"y", "2"}, {"z", "1"}}), Optional(5.0));

  m.GetHistogram("gpusched_h", "", {{"z", "1"}, {"y", "2"}}, {1, 2}).Observe(1.5);
  EXPECT_THAT(m.HistogramCount("gpusched_h", {{"y", "2"}, {"z", "1"}}), Optional(1u));
}

TEST(InMemoryMetricsTest, SameSeriesReturnsSameReference) {
  InMemoryMetrics m;
  Counter& c1 = m.GetCounter("gpusched_c_total", "help 1", {{"k", "v"}});
  Counter& c2 = m.GetCounter("gpusched_c_total", "help 2", {{"k", "v"}});
  EXPECT_EQ(&c1, &c2);
  EXPECT_NE(&c1, &m.GetCounter("gpusched_c_total", "", {{"k", "w"}}));

  Gauge& g1 = m.GetGauge("gpusched_g", "", {{"k", "v"}});
  Gauge& g2 = m.GetGauge("gpusched_g", "", {{"k", "v"}});
  EXPECT_EQ(&g1, &g2);

  Histogram& h1 = m.GetHistogram("gpusched_h", "", {{"k", "v"}}, {1, 2, 3});
  Histogram& h2 = m.GetHistogram("gpusched_h", "", {{"k", "v"}}, {1, 2, 3});
  EXPECT_EQ(&h1, &h2);
}

TEST(InMemoryMetricsTest, ReferencesStayValidAsMoreSeriesAreCreated) {
  InMemoryMetrics m;
  Counter& first = m.GetCounter("gpusched_first_total", "", {});
  for (int i = 0; i < 100; ++i) {
    m.GetCounter("gpusched_other_total", "", {{"i", std::to_string(i)}}).Increment();
  }
  first.Increment(7);
  EXPECT_THAT(m.CounterValue("gpusched_first_total", {}), Optional(7.0));
}

TEST(InMemoryMetricsTest, GaugeSetAndAdd) {
  InMemoryMetrics m;
  Gauge& g = m.GetGauge("gpusched_queue_length", "", {{"queue", "active"}});
  g.Set(10);
  g.Add(-3);
  g.Add(0.5);
  EXPECT_THAT(m.GaugeValue("gpusched_queue_length", {{"queue", "active"}}), Optional(7.5));
  g.Set(2);
  EXPECT_THAT(m.GaugeValue("gpusched_queue_length", {{"queue", "active"}}), Optional(2.0));
}

TEST(InMemoryMetricsTest, HistogramCountsAndSumsObservations) {
  InMemoryMetrics m;
  Histogram& h = m.GetHistogram("gpusched_cycle_duration_seconds", "", {{"profile", "p"}},
                                ExponentialBuckets(0.001, 10, 4));
  EXPECT_THAT(m.HistogramCount("gpusched_cycle_duration_seconds", {{"profile", "p"}}),
              Optional(0u));
  EXPECT_THAT(m.HistogramSum("gpusched_cycle_duration_seconds", {{"profile", "p"}}),
              Optional(0.0));
  h.Observe(0.5);
  h.Observe(2.0);
  h.Observe(1e6);  // above every bound: the implicit +Inf bucket
  h.Observe(0.0);
  EXPECT_THAT(m.HistogramCount("gpusched_cycle_duration_seconds", {{"profile", "p"}}),
              Optional(4u));
  EXPECT_THAT(m.HistogramSum("gpusched_cycle_duration_seconds", {{"profile", "p"}}),
              Optional(DoubleEq(1000002.5)));
}

TEST(InMemoryMetricsTest, MissingSeriesReadsAsNullopt) {
  InMemoryMetrics m;
  m.GetCounter("gpusched_c_total", "", {{"k", "v"}});
  m.GetGauge("gpusched_g", "", {{"k", "v"}});
  m.GetHistogram("gpusched_h", "", {{"k", "v"}}, {1});

  // Absent name, absent labels, and a series of another kind under the same name.
  EXPECT_EQ(m.CounterValue("gpusched_nope_total", {}), std::nullopt);
  EXPECT_EQ(m.CounterValue("gpusched_c_total", {{"k", "w"}}), std::nullopt);
  EXPECT_EQ(m.CounterValue("gpusched_c_total", {}), std::nullopt);
  EXPECT_EQ(m.CounterValue("gpusched_c_total", {{"k", "v"}, {"x", "y"}}), std::nullopt);
  EXPECT_EQ(m.CounterValue("gpusched_g", {{"k", "v"}}), std::nullopt);
  EXPECT_EQ(m.GaugeValue("gpusched_c_total", {{"k", "v"}}), std::nullopt);
  EXPECT_EQ(m.GaugeValue("gpusched_g", {}), std::nullopt);
  EXPECT_EQ(m.HistogramCount("gpusched_h", {}), std::nullopt);
  EXPECT_EQ(m.HistogramSum("gpusched_h", {{"k", "w"}}), std::nullopt);
  EXPECT_EQ(m.HistogramCount("gpusched_c_total", {{"k", "v"}}), std::nullopt);
  // The existing ones do read back.
  EXPECT_NE(m.CounterValue("gpusched_c_total", {{"k", "v"}}), std::nullopt);
  EXPECT_NE(m.GaugeValue("gpusched_g", {{"k", "v"}}), std::nullopt);
  EXPECT_NE(m.HistogramCount("gpusched_h", {{"k", "v"}}), std::nullopt);
}

TEST(InMemoryMetricsTest, SeriesListsEveryLabelSetOfAName) {
  InMemoryMetrics m;
  m.GetCounter("gpusched_binds_total", "", {{"result", "ok"}}).Increment(3);
  m.GetCounter("gpusched_binds_total", "", {{"result", "error"}}).Increment(1);
  m.GetCounter("gpusched_other_total", "", {}).Increment(9);
  Histogram& h = m.GetHistogram("gpusched_latency_seconds", "", {{"b", "2"}, {"a", "1"}}, {1});
  h.Observe(0.5);
  h.Observe(5);

  EXPECT_THAT(m.Series("gpusched_binds_total"),
              UnorderedElementsAre(Pair(Labels{{"result", "ok"}}, 3.0),
                                   Pair(Labels{{"result", "error"}}, 1.0)));
  // Histograms report their observation count; labels come back sorted.
  EXPECT_THAT(m.Series("gpusched_latency_seconds"),
              ElementsAre(Pair(Labels{{"a", "1"}, {"b", "2"}}, 2.0)));
  EXPECT_THAT(m.Series("gpusched_absent"), ::testing::IsEmpty());
}

TEST(InMemoryMetricsTest, ConcurrentIncrementsFromFourThreadsSumExactly) {
  InMemoryMetrics m;
  constexpr int kThreads = 4;
  constexpr int kPerThread = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&m] {
      // Each thread looks the series up itself, so creation races too.
      Counter& c = m.GetCounter("gpusched_concurrent_total", "", {{"k", "v"}});
      Gauge& g = m.GetGauge("gpusched_concurrent_gauge", "", {});
      Histogram& h = m.GetHistogram("gpusched_concurrent_hist", "", {}, {1, 2});
      for (int i = 0; i < kPerThread; ++i) {
        c.Increment();
        g.Add(1);
        h.Observe(1);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  constexpr double kTotal = static_cast<double>(kThreads) * kPerThread;
  EXPECT_THAT(m.CounterValue("gpusched_concurrent_total", {{"k", "v"}}), Optional(kTotal));
  EXPECT_THAT(m.GaugeValue("gpusched_concurrent_gauge", {}), Optional(kTotal));
  EXPECT_THAT(m.HistogramCount("gpusched_concurrent_hist", {}),
              Optional(static_cast<uint64_t>(kThreads) * kPerThread));
  EXPECT_THAT(m.HistogramSum("gpusched_concurrent_hist", {}), Optional(kTotal));
}

TEST(InMemoryMetricsTest, UsableThroughTheMetricsScopeInterface) {
  InMemoryMetrics m;
  MetricsScope& scope = m;
  scope.GetCounter("gpusched_x_total", "help", {{"k", "v"}}).Increment();
  EXPECT_THAT(m.CounterValue("gpusched_x_total", {{"k", "v"}}), Optional(1.0));
}

TEST(MetricsExponentialBucketsTest, ProducesCountBoundsGrowingByFactor) {
  struct Case {
    std::string name;
    double start;
    double factor;
    int count;
    std::vector<double> want;
  };
  const std::vector<Case> cases = {
      {"powers of two", 1, 2, 5, {1, 2, 4, 8, 16}},
      {"decades", 0.001, 10, 4, {0.001, 0.01, 0.1, 1}},
      {"single bound", 3, 7, 1, {3}},
      {"no bounds", 1, 2, 0, {}},
      {"fractional factor start", 1e-5, 2, 3, {1e-5, 2e-5, 4e-5}},
  };
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.name);
    const std::vector<double> got = ExponentialBuckets(tc.start, tc.factor, tc.count);
    ASSERT_EQ(got.size(), tc.want.size());
    for (size_t i = 0; i < got.size(); ++i) EXPECT_DOUBLE_EQ(got[i], tc.want[i]) << "bound " << i;
  }
}

TEST(MetricsExponentialBucketsTest, BoundsAreStrictlyIncreasing) {
  const std::vector<double> b = ExponentialBuckets(1e-5, 2, 16);
  ASSERT_EQ(b.size(), 16u);
  EXPECT_TRUE(std::is_sorted(b.begin(), b.end()));
  EXPECT_EQ(std::adjacent_find(b.begin(), b.end()), b.end());
  EXPECT_DOUBLE_EQ(b.back(), 1e-5 * 32768);
}

}  // namespace
}  // namespace gpusched::metrics
