#include "common/metrics/in_memory_metrics.h"

#include <algorithm>
#include <cmath>

namespace gpusched::metrics {

std::vector<double> ExponentialBuckets(double start, double factor, int count) {
  std::vector<double> out;
  out.reserve(count);
  double v = start;
  for (int i = 0; i < count; ++i, v *= factor) out.push_back(v);
  return out;
}

class InMemoryMetrics::CounterImpl final : public Counter {
 public:
  void Increment(double by) override { value.fetch_add(by, std::memory_order_relaxed); }
  std::atomic<double> value{0};
};

class InMemoryMetrics::GaugeImpl final : public Gauge {
 public:
  void Set(double v) override { value.store(v, std::memory_order_relaxed); }
  void Add(double by) override { value.fetch_add(by, std::memory_order_relaxed); }
  std::atomic<double> value{0};
};

class InMemoryMetrics::HistogramImpl final : public Histogram {
 public:
  explicit HistogramImpl(std::vector<double> bounds)
      : bounds(std::move(bounds)), buckets(this->bounds.size() + 1) {}
  void Observe(double v) override {
    const size_t i = std::lower_bound(bounds.begin(), bounds.end(), v) - bounds.begin();
    buckets[i].fetch_add(1, std::memory_order_relaxed);
    count.fetch_add(1, std::memory_order_relaxed);
    sum.fetch_add(v, std::memory_order_relaxed);
  }
  const std::vector<double> bounds;
  std::vector<std::atomic<uint64_t>> buckets;
  std::atomic<uint64_t> count{0};
  std::atomic<double> sum{0};
};

InMemoryMetrics::InMemoryMetrics() = default;
InMemoryMetrics::~InMemoryMetrics() = default;

InMemoryMetrics::Key InMemoryMetrics::MakeKey(std::string_view name, const Labels& labels) {
  Labels sorted = labels;
  std::sort(sorted.begin(), sorted.end());
  return {std::string(name), std::move(sorted)};
}

Counter& InMemoryMetrics::GetCounter(std::string_view name, std::string_view, const Labels& l) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& slot = counters_[MakeKey(name, l)];
  if (!slot) slot = std::make_unique<CounterImpl>();
  return *slot;
}

Gauge& InMemoryMetrics::GetGauge(std::string_view name, std::string_view, const Labels& l) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& slot = gauges_[MakeKey(name, l)];
  if (!slot) slot = std::make_unique<GaugeImpl>();
  return *slot;
}

Histogram& InMemoryMetrics::GetHistogram(std::string_view name, std::string_view, const Labels& l,
                                         const std::vector<double>& bounds) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& slot = histograms_[MakeKey(name, l)];
  if (!slot) slot = std::make_unique<HistogramImpl>(bounds);
  return *slot;
}

std::optional<double> InMemoryMetrics::CounterValue(std::string_view name, const Labels& l) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = counters_.find(MakeKey(name, l));
  if (it == counters_.end()) return std::nullopt;
  return it->second->value.load();
}

std::optional<double> InMemoryMetrics::GaugeValue(std::string_view name, const Labels& l) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = gauges_.find(MakeKey(name, l));
  if (it == gauges_.end()) return std::nullopt;
  return it->second->value.load();
}

std::optional<uint64_t> InMemoryMetrics::HistogramCount(std::string_view name,
                                                        const Labels& l) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = histograms_.find(MakeKey(name, l));
  if (it == histograms_.end()) return std::nullopt;
  return it->second->count.load();
}

std::optional<double> InMemoryMetrics::HistogramSum(std::string_view name, const Labels& l) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = histograms_.find(MakeKey(name, l));
  if (it == histograms_.end()) return std::nullopt;
  return it->second->sum.load();
}

std::vector<std::pair<Labels, double>> InMemoryMetrics::Series(std::string_view name) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::pair<Labels, double>> out;
  for (const auto& [key, c] : counters_) {
    if (key.first == name) out.emplace_back(key.second, c->value.load());
  }
  for (const auto& [key, h] : histograms_) {
    if (key.first == name) out.emplace_back(key.second, static_cast<double>(h->count.load()));
  }
  return out;
}

}  // namespace gpusched::metrics
