#pragma once

// The live MetricsScope (design G20): every Get* creates or finds a series in a prometheus-cpp
// Registry, and Serialize() renders the registry in the Prometheus text exposition format for the
// /metrics endpoints of gpusched-extender and gpusched-agent.
//
//   PrometheusMetrics metrics;
//   metrics.GetCounter("gpusched_binds_total", "Pods bound.", {{"result", "ok"}}).Increment();
//   metrics.GetGauge("gpusched_nodes", "Nodes in the model.", {}).Set(12);
//   metrics.GetHistogram("gpusched_filter_duration_seconds", "Filter latency.", {},
//                        ExponentialBuckets(1e-4, 2, 12)).Observe(0.003);
//   std::string body = metrics.Serialize();   // "# HELP gpusched_binds_total Pods bound.\n..."
//
// Behaves like InMemoryMetrics (in_memory_metrics.h):
//   - one family per name: the same name with different labels adds a series to that family (its
//     help text is the one given first);
//   - the same name and labels (in any order) return the same object, and references stay valid
//     for the scope's lifetime (the adapters live in node-stable containers and are never removed).
//
// Conflicting or invalid registrations never throw and never crash; they return a usable object
// and record a message in errors():
//   - a name already registered as another type (e.g. GetGauge on a counter's name), an invalid
//     metric name, an invalid or reserved label name ("__x", "le" on a histogram, a duplicated
//     key), or unsorted/non-increasing histogram bounds: the object returned is *detached* (it
//     counts, but is not in the registry and never appears in Serialize());
//   - a histogram whose bounds differ from the bounds its family was first registered with: the
//     series is created (or found) with the family's first bounds, so every series of a family
//     shares one bucket layout, and the bounds asked for are ignored.
// Each distinct problem is recorded once (a conflicting call site in a loop does not grow the list).
//
// Thread safety: every method may be called from any thread, concurrently. Get* and errors()
// take mu_ (Get* looks up under a shared lock and takes the exclusive lock only to create);
// Increment/Set/Add/Observe on the returned objects take no lock of ours (prometheus-cpp metrics
// are atomic). Serialize() and registry()->Collect() take only prometheus-cpp's internal locks.

#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "common/metrics/metrics_scope.h"
#include "common/mutex.h"

namespace prometheus {
class Registry;
class Counter;
class Gauge;
class Histogram;
template <typename T>
class Family;
}  // namespace prometheus

namespace gpusched::metrics {

class PrometheusMetrics final : public MetricsScope {
 public:
  // A scope over a fresh registry.
  PrometheusMetrics();
  // A scope over `registry` (shared with an exposer or another collector). Families added to it
  // by others are unknown to this scope; registering one of their names here as a different type
  // is reported through errors() like any other conflict.
  explicit PrometheusMetrics(std::shared_ptr<prometheus::Registry> registry);
  ~PrometheusMetrics() override;
  PrometheusMetrics(const PrometheusMetrics&) = delete;
  PrometheusMetrics& operator=(const PrometheusMetrics&) = delete;

  Counter& GetCounter(std::string_view name, std::string_view help, const Labels& labels) override;
  Gauge& GetGauge(std::string_view name, std::string_view help, const Labels& labels) override;
  Histogram& GetHistogram(std::string_view name, std::string_view help, const Labels& labels,
                          const std::vector<double>& bucket_bounds) override;

  // The registry's content in the text exposition format (version 0.0.4), families sorted as
  // prometheus-cpp collects them: "# HELP", "# TYPE", then one line per sample.
  std::string Serialize() const;

  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }

  // Registration problems seen so far, oldest first, one per distinct problem; each names the
  // metric and what was wrong.
  std::vector<std::string> errors() const;

 private:
  enum class Type { kCounter, kGauge, kHistogram };
  class CounterAdapter;
  class GaugeAdapter;
  class HistogramAdapter;

  struct FamilyEntry {
    Type type;
    std::vector<double> bounds;  // histograms: the bounds of the first registration
    prometheus::Family<prometheus::Counter>* counters = nullptr;
    prometheus::Family<prometheus::Gauge>* gauges = nullptr;
    prometheus::Family<prometheus::Histogram>* histograms = nullptr;
  };
  using SeriesKey = std::pair<std::string, Labels>;  // labels sorted by key

  static SeriesKey MakeKey(std::string_view name, const Labels& labels);
  static const char* TypeName(Type t);
  // Empty when `name`/`labels` are acceptable for a family of type `t`; else the problem.
  static std::string CheckNames(std::string_view name, const Labels& labels, Type t);

  // Returns the family of `name`, creating it as type `t`; nullptr (and an error recorded) when
  // the name is invalid or already taken by another type.
  FamilyEntry* FindOrAddFamily(std::string_view name, std::string_view help, const Labels& labels,
                               Type t, const std::vector<double>* bounds)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RecordError(std::string message) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Constant after construction.
  const std::shared_ptr<prometheus::Registry> registry_;

  mutable Mutex mu_;
  // Guarded by mu_ (the maps; the adapters themselves are used without the lock).
  std::map<std::string, FamilyEntry, std::less<>> families_ ABSL_GUARDED_BY(mu_);
  std::map<SeriesKey, std::unique_ptr<CounterAdapter>> counters_ ABSL_GUARDED_BY(mu_);
  std::map<SeriesKey, std::unique_ptr<GaugeAdapter>> gauges_ ABSL_GUARDED_BY(mu_);
  std::map<SeriesKey, std::unique_ptr<HistogramAdapter>> histograms_ ABSL_GUARDED_BY(mu_);
  // Objects handed out for rejected registrations: counted, never exported.
  std::deque<std::unique_ptr<CounterAdapter>> detached_counters_ ABSL_GUARDED_BY(mu_);
  std::deque<std::unique_ptr<GaugeAdapter>> detached_gauges_ ABSL_GUARDED_BY(mu_);
  std::deque<std::unique_ptr<HistogramAdapter>> detached_histograms_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> errors_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> error_set_ ABSL_GUARDED_BY(mu_);
};

}  // namespace gpusched::metrics
