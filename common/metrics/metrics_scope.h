#pragma once

// The small metrics interface every component records through (design G20). The framework and
// plugins get a MetricsScope from their Handle; the live programs back it with prometheus-cpp, the
// simulator and tests with InMemoryMetrics (in_memory_metrics.h).
//
//   Counter& binds = scope.GetCounter("gpusched_binds_total", "Pods bound.", {{"result", "ok"}});
//   binds.Increment();
//   Histogram& h = scope.GetHistogram("gpusched_cycle_duration_seconds", "...", {},
//                                     ExponentialBuckets(1e-5, 2, 16));
//   h.Observe(0.00042);
//
// Names follow Prometheus practice: prefix gpusched_, base units, _total for counters. Labels
// must have low cardinality (never a pod UID or gang name). Get* returns a reference that stays
// valid for the scope's lifetime, so callers look metrics up once and keep the reference.
// Implementations are thread-safe; Increment/Set/Observe may run concurrently.

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gpusched::metrics {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  virtual ~Counter() = default;
  virtual void Increment(double by = 1.0) = 0;  // by >= 0
};

class Gauge {
 public:
  virtual ~Gauge() = default;
  virtual void Set(double v) = 0;
  virtual void Add(double by) = 0;
};

class Histogram {
 public:
  virtual ~Histogram() = default;
  virtual void Observe(double v) = 0;
};

class MetricsScope {
 public:
  virtual ~MetricsScope() = default;
  virtual Counter& GetCounter(std::string_view name, std::string_view help,
                              const Labels& labels) = 0;
  virtual Gauge& GetGauge(std::string_view name, std::string_view help, const Labels& labels) = 0;
  // `bucket_bounds` are upper bounds, strictly increasing; +Inf is implicit.
  virtual Histogram& GetHistogram(std::string_view name, std::string_view help,
                                  const Labels& labels,
                                  const std::vector<double>& bucket_bounds) = 0;
};

// `count` bounds: start, start*factor, start*factor^2, ...
std::vector<double> ExponentialBuckets(double start, double factor, int count);

}  // namespace gpusched::metrics
