#pragma once

// A MetricsScope that keeps everything in memory (Envoy's IsolatedStoreImpl idea): the simulator
// records into it, tests read values back.
//
//   InMemoryMetrics m;
//   m.GetCounter("gpusched_x_total", "help", {{"k", "v"}}).Increment();
//   EXPECT_EQ(m.CounterValue("gpusched_x_total", {{"k", "v"}}), 1.0);
//
// Thread-safe.

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/metrics/metrics_scope.h"

namespace gpusched::metrics {

class InMemoryMetrics final : public MetricsScope {
 public:
  InMemoryMetrics();
  ~InMemoryMetrics() override;
  InMemoryMetrics(const InMemoryMetrics&) = delete;
  InMemoryMetrics& operator=(const InMemoryMetrics&) = delete;

  Counter& GetCounter(std::string_view name, std::string_view help, const Labels& labels) override;
  Gauge& GetGauge(std::string_view name, std::string_view help, const Labels& labels) override;
  Histogram& GetHistogram(std::string_view name, std::string_view help, const Labels& labels,
                          const std::vector<double>& bucket_bounds) override;

  // Read-back for tests and reports; nullopt when the series was never created. Label order does
  // not matter.
  std::optional<double> CounterValue(std::string_view name, const Labels& labels) const;
  std::optional<double> GaugeValue(std::string_view name, const Labels& labels) const;
  std::optional<uint64_t> HistogramCount(std::string_view name, const Labels& labels) const;
  std::optional<double> HistogramSum(std::string_view name, const Labels& labels) const;
  // Every series of `name` as (labels, count) for counters and histograms (count of observations).
  std::vector<std::pair<Labels, double>> Series(std::string_view name) const;

 private:
  class CounterImpl;
  class GaugeImpl;
  class HistogramImpl;
  using Key = std::pair<std::string, Labels>;  // labels sorted
  static Key MakeKey(std::string_view name, const Labels& labels);

  mutable std::mutex mu_;
  // Guarded by mu_ (the map structure; values are atomics used without the lock).
  std::map<Key, std::unique_ptr<CounterImpl>> counters_;
  std::map<Key, std::unique_ptr<GaugeImpl>> gauges_;
  std::map<Key, std::unique_ptr<HistogramImpl>> histograms_;
};

}  // namespace gpusched::metrics
