#include "common/metrics/prometheus_metrics.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "prometheus/check_names.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "prometheus/text_serializer.h"

namespace gpusched::metrics {
namespace {

prometheus::Labels ToPromLabels(const Labels& labels) {
  return prometheus::Labels(labels.begin(), labels.end());
}

std::string FormatBounds(const std::vector<double>& bounds) {
  return absl::StrCat("[", absl::StrJoin(bounds, ", "), "]");
}

bool StrictlyIncreasingAndFinite(const std::vector<double>& bounds) {
  for (size_t i = 0; i < bounds.size(); ++i) {
    if (!std::isfinite(bounds[i])) return false;
    if (i > 0 && !(bounds[i - 1] < bounds[i])) return false;
  }
  return true;
}

// Finite, sorted, duplicates removed: always acceptable to prometheus::Histogram.
std::vector<double> Sanitize(std::vector<double> bounds) {
  bounds.erase(std::remove_if(bounds.begin(), bounds.end(),
                              [](double b) { return !std::isfinite(b); }),
               bounds.end());
  std::sort(bounds.begin(), bounds.end());
  bounds.erase(std::unique(bounds.begin(), bounds.end()), bounds.end());
  return bounds;
}

}  // namespace

// Each adapter forwards to a prometheus-cpp metric that either lives in a registry family (owned_
// empty) or belongs to the adapter (a detached object from a rejected registration).
class PrometheusMetrics::CounterAdapter final : public Counter {
 public:
  explicit CounterAdapter(prometheus::Counter& m) : metric_(&m) {}
  CounterAdapter() : owned_(std::make_unique<prometheus::Counter>()), metric_(owned_.get()) {}
  void Increment(double by) override {
    if (by > 0) metric_->Increment(by);  // counters never go down; NaN is dropped too
  }

 private:
  const std::unique_ptr<prometheus::Counter> owned_;
  prometheus::Counter* const metric_;
};

class PrometheusMetrics::GaugeAdapter final : public Gauge {
 public:
  explicit GaugeAdapter(prometheus::Gauge& m) : metric_(&m) {}
  GaugeAdapter() : owned_(std::make_unique<prometheus::Gauge>()), metric_(owned_.get()) {}
  void Set(double v) override { metric_->Set(v); }
  void Add(double by) override {
    if (by >= 0) {
      metric_->Increment(by);
    } else {
      metric_->Decrement(-by);
    }
  }

 private:
  const std::unique_ptr<prometheus::Gauge> owned_;
  prometheus::Gauge* const metric_;
};

class PrometheusMetrics::HistogramAdapter final : public Histogram {
 public:
  explicit HistogramAdapter(prometheus::Histogram& m) : metric_(&m) {}
  explicit HistogramAdapter(const std::vector<double>& bounds)
      : owned_(std::make_unique<prometheus::Histogram>(Sanitize(bounds))),
        metric_(owned_.get()) {}
  void Observe(double v) override { metric_->Observe(v); }

 private:
  const std::unique_ptr<prometheus::Histogram> owned_;
  prometheus::Histogram* const metric_;
};

PrometheusMetrics::PrometheusMetrics()
    : PrometheusMetrics(std::make_shared<prometheus::Registry>()) {}

PrometheusMetrics::PrometheusMetrics(std::shared_ptr<prometheus::Registry> registry)
    : registry_(std::move(registry)) {}

PrometheusMetrics::~PrometheusMetrics() = default;

PrometheusMetrics::SeriesKey PrometheusMetrics::MakeKey(std::string_view name,
                                                        const Labels& labels) {
  Labels sorted = labels;
  std::sort(sorted.begin(), sorted.end());
  return {std::string(name), std::move(sorted)};
}

const char* PrometheusMetrics::TypeName(Type t) {
  switch (t) {
    case Type::kCounter:
      return "counter";
    case Type::kGauge:
      return "gauge";
    case Type::kHistogram:
      return "histogram";
  }
  return "?";
}

std::string PrometheusMetrics::CheckNames(std::string_view name, const Labels& labels, Type t) {
  if (!prometheus::CheckMetricName(std::string(name))) {
    return absl::StrCat("metric \"", std::string(name), "\": invalid metric name");
  }
  std::set<std::string_view> seen;
  for (const auto& [key, value] : labels) {
    if (!prometheus::CheckLabelName(key) || key.rfind("__", 0) == 0) {
      return absl::StrCat("metric \"", std::string(name), "\": invalid label name \"", key, "\"");
    }
    if (t == Type::kHistogram && key == "le") {
      return absl::StrCat("metric \"", std::string(name), "\": label \"le\" is reserved for histogram buckets");
    }
    if (!seen.insert(key).second) {
      return absl::StrCat("metric \"", std::string(name), "\": label \"", key, "\" given twice");
    }
  }
  return "";
}

void PrometheusMetrics::RecordError(std::string message) {
  if (error_set_.insert(message).second) errors_.push_back(std::move(message));
}

PrometheusMetrics::FamilyEntry* PrometheusMetrics::FindOrAddFamily(
    std::string_view name, std::string_view help, const Labels& labels, Type t,
    const std::vector<double>* bounds) {
  if (std::string problem = CheckNames(name, labels, t); !problem.empty()) {
    RecordError(absl::StrCat(problem, "; the ", TypeName(t), " is not exported"));
    return nullptr;
  }
  if (bounds != nullptr && !StrictlyIncreasingAndFinite(*bounds)) {
    RecordError(absl::StrCat("metric \"", std::string(name), "\": histogram bounds ", FormatBounds(*bounds),
                             " are not finite and strictly increasing; not exported"));
    return nullptr;
  }
  auto it = families_.find(name);
  if (it != families_.end()) {
    if (it->second.type != t) {
      RecordError(absl::StrCat("metric \"", std::string(name), "\": registered as a ",
                               TypeName(it->second.type), ", requested as a ", TypeName(t),
                               "; the ", TypeName(t), " is not exported"));
      return nullptr;
    }
    return &it->second;
  }
  FamilyEntry entry{t, bounds != nullptr ? *bounds : std::vector<double>{}};
  try {
    const std::string n(name);
    const std::string h(help);
    switch (t) {
      case Type::kCounter:
        entry.counters = &prometheus::BuildCounter().Name(n).Help(h).Register(*registry_);
        break;
      case Type::kGauge:
        entry.gauges = &prometheus::BuildGauge().Name(n).Help(h).Register(*registry_);
        break;
      case Type::kHistogram:
        entry.histograms = &prometheus::BuildHistogram().Name(n).Help(h).Register(*registry_);
        break;
    }
  } catch (const std::exception& e) {
    // E.g. a shared registry that already holds the name as another type.
    RecordError(absl::StrCat("metric \"", std::string(name), "\": prometheus-cpp refused the ", TypeName(t),
                             ": ", e.what(), "; not exported"));
    return nullptr;
  }
  return &families_.emplace(std::string(name), std::move(entry)).first->second;
}

Counter& PrometheusMetrics::GetCounter(std::string_view name, std::string_view help,
                                       const Labels& labels) {
  SeriesKey key = MakeKey(name, labels);
  {
    ReaderMutexLock lock(&mu_);
    if (auto it = counters_.find(key); it != counters_.end()) return *it->second;
  }
  MutexLock lock(&mu_);
  if (auto it = counters_.find(key); it != counters_.end()) return *it->second;
  FamilyEntry* family = FindOrAddFamily(name, help, labels, Type::kCounter, nullptr);
  if (family == nullptr) return *detached_counters_.emplace_back(std::make_unique<CounterAdapter>());
  try {
    auto& metric = family->counters->Add(ToPromLabels(key.second));
    return *counters_.emplace(std::move(key), std::make_unique<CounterAdapter>(metric))
                .first->second;
  } catch (const std::exception& e) {
    RecordError(absl::StrCat("metric \"", std::string(name), "\": ", e.what(), "; not exported"));
    return *detached_counters_.emplace_back(std::make_unique<CounterAdapter>());
  }
}

Gauge& PrometheusMetrics::GetGauge(std::string_view name, std::string_view help,
                                   const Labels& labels) {
  SeriesKey key = MakeKey(name, labels);
  {
    ReaderMutexLock lock(&mu_);
    if (auto it = gauges_.find(key); it != gauges_.end()) return *it->second;
  }
  MutexLock lock(&mu_);
  if (auto it = gauges_.find(key); it != gauges_.end()) return *it->second;
  FamilyEntry* family = FindOrAddFamily(name, help, labels, Type::kGauge, nullptr);
  if (family == nullptr) return *detached_gauges_.emplace_back(std::make_unique<GaugeAdapter>());
  try {
    auto& metric = family->gauges->Add(ToPromLabels(key.second));
    return *gauges_.emplace(std::move(key), std::make_unique<GaugeAdapter>(metric)).first->second;
  } catch (const std::exception& e) {
    RecordError(absl::StrCat("metric \"", std::string(name), "\": ", e.what(), "; not exported"));
    return *detached_gauges_.emplace_back(std::make_unique<GaugeAdapter>());
  }
}

Histogram& PrometheusMetrics::GetHistogram(std::string_view name, std::string_view help,
                                           const Labels& labels,
                                           const std::vector<double>& bucket_bounds) {
  SeriesKey key = MakeKey(name, labels);
  {
    ReaderMutexLock lock(&mu_);
    auto it = histograms_.find(key);
    if (it != histograms_.end() && families_.find(name)->second.bounds == bucket_bounds) {
      return *it->second;
    }
  }
  MutexLock lock(&mu_);
  FamilyEntry* family = FindOrAddFamily(name, help, labels, Type::kHistogram, &bucket_bounds);
  if (family == nullptr) {
    return *detached_histograms_.emplace_back(std::make_unique<HistogramAdapter>(bucket_bounds));
  }
  if (family->bounds != bucket_bounds) {
    RecordError(absl::StrCat("metric \"", std::string(name), "\": histogram bounds ",
                             FormatBounds(bucket_bounds), " differ from the family's ",
                             FormatBounds(family->bounds), "; the family's bounds are used"));
  }
  if (auto it = histograms_.find(key); it != histograms_.end()) return *it->second;
  try {
    auto& metric = family->histograms->Add(ToPromLabels(key.second),
                                           prometheus::Histogram::BucketBoundaries(family->bounds));
    return *histograms_.emplace(std::move(key), std::make_unique<HistogramAdapter>(metric))
                .first->second;
  } catch (const std::exception& e) {
    RecordError(absl::StrCat("metric \"", std::string(name), "\": ", e.what(), "; not exported"));
    return *detached_histograms_.emplace_back(std::make_unique<HistogramAdapter>(bucket_bounds));
  }
}

std::string PrometheusMetrics::Serialize() const {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, registry_->Collect());
  return out.str();
}

std::vector<std::string> PrometheusMetrics::errors() const {
  ReaderMutexLock lock(&mu_);
  return errors_;
}

}  // namespace gpusched::metrics
