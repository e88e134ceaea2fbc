#include "common/metrics/prometheus_metrics.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"

namespace gpusched::metrics {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;

TEST(PrometheusMetrics, CounterWithLabelsAppearsWithHelpTypeAndValue) {
  PrometheusMetrics m;
  m.GetCounter("gpusched_binds_total", "Pods bound.", {{"result", "ok"}}).Increment();
  m.GetCounter("gpusched_binds_total", "Pods bound.", {{"result", "ok"}}).Increment(2);
  m.GetCounter("gpusched_binds_total", "Pods bound.", {{"result", "error"}}).Increment();
  const std::string text = m.Serialize();
  EXPECT_THAT(text, HasSubstr("# HELP gpusched_binds_total Pods bound.\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE gpusched_binds_total counter\n"));
  EXPECT_THAT(text, HasSubstr("gpusched_binds_total{result=\"ok\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("gpusched_binds_total{result=\"error\"} 1\n"));
  // One family: HELP/TYPE appear once.
  EXPECT_EQ(text.find("# TYPE gpusched_binds_total"), text.rfind("# TYPE gpusched_binds_total"));
  EXPECT_THAT(m.errors(), IsEmpty());
}

TEST(PrometheusMetrics, SameNameAndLabelsInAnyOrderReturnTheSameObject) {
  PrometheusMetrics m;
  Counter& a = m.GetCounter("gpusched_x_total", "X.", {{"a", "1"}, {"b", "2"}});
  Counter& b = m.GetCounter("gpusched_x_total", "X.", {{"b", "2"}, {"a", "1"}});
  Counter& c = m.GetCounter("gpusched_x_total", "X.", {{"a", "1"}, {"b", "3"}});
  EXPECT_EQ(&a, &b);
  EXPECT_NE(&a, &c);
  Gauge& g1 = m.GetGauge("gpusched_g", "G.", {});
  Gauge& g2 = m.GetGauge("gpusched_g", "G.", {});
  EXPECT_EQ(&g1, &g2);
  Histogram& h1 = m.GetHistogram("gpusched_h_seconds", "H.", {{"k", "v"}}, {0.1, 1});
  Histogram& h2 = m.GetHistogram("gpusched_h_seconds", "H.", {{"k", "v"}}, {0.1, 1});
  EXPECT_EQ(&h1, &h2);
  EXPECT_THAT(m.errors(), IsEmpty());
}

TEST(PrometheusMetrics, CounterIgnoresNegativeIncrements) {
  PrometheusMetrics m;
  Counter& c = m.GetCounter("gpusched_y_total", "Y.", {});
  c.Increment(5);
  c.Increment(-2);
  EXPECT_THAT(m.Serialize(), HasSubstr("gpusched_y_total 5\n"));
}

TEST(PrometheusMetrics, GaugeSetAndAdd) {
  PrometheusMetrics m;
  Gauge& g = m.GetGauge("gpusched_nodes", "Nodes in the model.", {{"state", "ready"}});
  g.Set(10);
  g.Add(2.5);
  g.Add(-4);
  const std::string text = m.Serialize();
  EXPECT_THAT(text, HasSubstr("# HELP gpusched_nodes Nodes in the model.\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE gpusched_nodes gauge\n"));
  EXPECT_THAT(text, HasSubstr("gpusched_nodes{state=\"ready\"} 8.5\n"));
}

TEST(PrometheusMetrics, HistogramHasCumulativeBucketsCountAndSum) {
  PrometheusMetrics m;
  Histogram& h = m.GetHistogram("gpusched_filter_duration_seconds", "Filter latency.",
                                {{"verb", "filter"}}, {0.5, 1, 2});
  h.Observe(0.25);
  h.Observe(0.75);
  h.Observe(1.5);
  h.Observe(3);
  const std::string text = m.Serialize();
  EXPECT_THAT(text, HasSubstr("# TYPE gpusched_filter_duration_seconds histogram\n"));
  EXPECT_THAT(text, HasSubstr("gpusched_filter_duration_seconds_count{verb=\"filter\"} 4\n"));
  EXPECT_THAT(text, HasSubstr("gpusched_filter_duration_seconds_sum{verb=\"filter\"} 5.5\n"));
  EXPECT_THAT(text,
              HasSubstr("gpusched_filter_duration_seconds_bucket{verb=\"filter\",le=\"0.5\"} 1\n"));
  EXPECT_THAT(text,
              HasSubstr("gpusched_filter_duration_seconds_bucket{verb=\"filter\",le=\"1\"} 2\n"));
  EXPECT_THAT(text,
              HasSubstr("gpusched_filter_duration_seconds_bucket{verb=\"filter\",le=\"2\"} 3\n"));
  EXPECT_THAT(text,
              HasSubstr("gpusched_filter_duration_seconds_bucket{verb=\"filter\",le=\"+Inf\"} 4\n"));
}

TEST(PrometheusMetrics, LabelValuesAreEscaped) {
  PrometheusMetrics m;
  m.GetCounter("gpusched_z_total", "Z.", {{"reason", "a \"quoted\"\\path\nnext"}}).Increment();
  EXPECT_THAT(m.Serialize(),
              HasSubstr("gpusched_z_total{reason=\"a \\\"quoted\\\"\\\\path\\nnext\"} 1\n"));
}

TEST(PrometheusMetrics, SameNameAsAnotherTypeIsDetachedAndReported) {
  PrometheusMetrics m;
  m.GetCounter("gpusched_dup_total", "Counter.", {}).Increment(7);
  Gauge& g = m.GetGauge("gpusched_dup_total", "Gauge.", {});
  g.Set(99);  // usable, but not exported
  Histogram& h = m.GetHistogram("gpusched_dup_total", "Histogram.", {}, {1});
  h.Observe(1);
  const std::string text = m.Serialize();
  EXPECT_THAT(text, HasSubstr("# TYPE gpusched_dup_total counter\n"));
  EXPECT_THAT(text, HasSubstr("gpusched_dup_total 7\n"));
  EXPECT_THAT(text, Not(HasSubstr("99")));
  EXPECT_THAT(text, Not(HasSubstr("gauge")));
  const std::vector<std::string> errors = m.errors();
  ASSERT_THAT(errors, SizeIs(2));
  EXPECT_THAT(errors[0], AllOf(HasSubstr("gpusched_dup_total"), HasSubstr("registered as a counter"),
                               HasSubstr("requested as a gauge")));
  EXPECT_THAT(errors[1], HasSubstr("requested as a histogram"));
  // The same conflict again is not reported twice.
  m.GetGauge("gpusched_dup_total", "Gauge.", {}).Set(1);
  EXPECT_THAT(m.errors(), SizeIs(2));
}

TEST(PrometheusMetrics, HistogramWithOtherBoundsUsesTheFamilysBoundsAndReports) {
  PrometheusMetrics m;
  Histogram& a = m.GetHistogram("gpusched_lat_seconds", "Latency.", {{"k", "a"}}, {1, 2});
  Histogram& b = m.GetHistogram("gpusched_lat_seconds", "Latency.", {{"k", "b"}}, {5, 10, 20});
  Histogram& a2 = m.GetHistogram("gpusched_lat_seconds", "Latency.", {{"k", "a"}}, {7});
  EXPECT_EQ(&a, &a2);
  a.Observe(1.5);
  b.Observe(1.5);
  const std::string text = m.Serialize();
  EXPECT_THAT(text, HasSubstr("gpusched_lat_seconds_bucket{k=\"b\",le=\"2\"} 1\n"));
  EXPECT_THAT(text, Not(HasSubstr("le=\"5\"")));
  const std::vector<std::string> errors = m.errors();
  ASSERT_THAT(errors, SizeIs(2));
  EXPECT_THAT(errors[0], AllOf(HasSubstr("gpusched_lat_seconds"), HasSubstr("[5, 10, 20]"),
                               HasSubstr("[1, 2]")));
}

TEST(PrometheusMetrics, InvalidNamesAndBoundsAreDetachedAndReported) {
  PrometheusMetrics m;
  m.GetCounter("9bad name", "Bad.", {}).Increment();
  m.GetCounter("gpusched_ok_total", "Ok.", {{"__reserved", "x"}}).Increment();
  m.GetCounter("gpusched_ok_total", "Ok.", {{"a", "1"}, {"a", "2"}}).Increment();
  m.GetHistogram("gpusched_h_seconds", "H.", {{"le", "1"}}, {1}).Observe(1);
  m.GetHistogram("gpusched_h2_seconds", "H.", {}, {2, 1, 1}).Observe(1);
  EXPECT_THAT(m.errors(), SizeIs(5));
  EXPECT_THAT(m.Serialize(), IsEmpty());
}

TEST(PrometheusMetrics, SharesAnExternalRegistry) {
  auto registry = std::make_shared<prometheus::Registry>();
  PrometheusMetrics m(registry);
  EXPECT_EQ(m.registry(), registry);
  m.GetGauge("gpusched_shared", "Shared.", {}).Set(1);
  EXPECT_THAT(registry->Collect(), SizeIs(1));
}

TEST(PrometheusMetrics, ConcurrentGetAndIncrementFromManyThreads) {
  PrometheusMetrics m;
  constexpr int kThreads = 8;
  constexpr int kIterations = 2000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&m, t] {
      const Labels labels = {{"shard", std::to_string(t % 4)}};
      for (int i = 0; i < kIterations; ++i) {
        m.GetCounter("gpusched_ops_total", "Ops.", labels).Increment();
        m.GetGauge("gpusched_level", "Level.", {}).Add(1);
        m.GetHistogram("gpusched_op_seconds", "Op latency.", labels, {0.5, 1}).Observe(0.25);
        if (i % 500 == 0) (void)m.Serialize();  // scrapes race with updates
      }
    });
  }
  for (auto& th : threads) th.join();
  const std::string text = m.Serialize();
  for (int s = 0; s < 4; ++s) {
    const std::string shard = "{shard=\"" + std::to_string(s) + "\"}";
    EXPECT_THAT(text, HasSubstr("gpusched_ops_total" + shard + " " +
                                std::to_string(2 * kIterations) + "\n"));
    EXPECT_THAT(text, HasSubstr("gpusched_op_seconds_count" + shard + " " +
                                std::to_string(2 * kIterations) + "\n"));
  }
  EXPECT_THAT(text, HasSubstr("gpusched_level " + std::to_string(kThreads * kIterations) + "\n"));
  EXPECT_THAT(m.errors(), IsEmpty());
}

bool OnPath(const std::string& program) {
  const char* path = std::getenv("PATH");
  if (path == nullptr) return false;
  std::string p(path);
  size_t start = 0;
  while (start <= p.size()) {
    size_t end = p.find(':', start);
    if (end == std::string::npos) end = p.size();
    const std::string dir = p.substr(start, end - start);
    if (!dir.empty() && ::access((dir + "/" + program).c_str(), X_OK) == 0) return true;
    start = end + 1;
  }
  return false;
}

TEST(PrometheusMetrics, OutputPassesPromtoolCheckMetrics) {
  if (!OnPath("promtool")) GTEST_SKIP() << "promtool is not on PATH (Debian package prometheus)";
  PrometheusMetrics m;
  m.GetCounter("gpusched_binds_total", "Pods bound by the extender.", {{"result", "ok"}})
      .Increment(3);
  m.GetCounter("gpusched_binds_total", "Pods bound by the extender.", {{"result", "conflict"}})
      .Increment();
  m.GetGauge("gpusched_model_nodes", "Nodes in the cluster model.", {}).Set(42);
  Histogram& h = m.GetHistogram("gpusched_extender_request_duration_seconds",
                                "Extender request latency.", {{"verb", "filter"}},
                                ExponentialBuckets(1e-4, 2, 12));
  for (double v : {1e-4, 3e-3, 0.2, 5.0}) h.Observe(v);
  m.GetHistogram("gpusched_extender_request_duration_seconds", "Extender request latency.",
                 {{"verb", "bind"}}, ExponentialBuckets(1e-4, 2, 12))
      .Observe(0.01);

  const std::filesystem::path dir = ::testing::TempDir();
  const std::filesystem::path in = dir / "prometheus_metrics_test.prom";
  const std::filesystem::path out = dir / "prometheus_metrics_test.promtool";
  {
    std::ofstream f(in);
    f << m.Serialize();
  }
  const std::string cmd =
      "promtool check metrics < '" + in.string() + "' > '" + out.string() + "' 2>&1";
  const int rc = std::system(cmd.c_str());
  std::ifstream f(out);
  const std::string complaints((std::istreambuf_iterator<char>(f)),
                               std::istreambuf_iterator<char>());
  EXPECT_EQ(rc, 0) << complaints;
  EXPECT_THAT(complaints, IsEmpty());
  std::filesystem::remove(in);
  std::filesystem::remove(out);
}

}  // namespace
}  // namespace gpusched::metrics
