#include "simulator/results.h"

#include <cmath>
#include <cstddef>
#include <limits>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace gpusched::simulator {
namespace {

// Running mean and sample standard deviation of the values added so far.
class Moments {
 public:
  void Add(double x) { values_.push_back(x); }
  size_t count() const { return values_.size(); }

  // NaN when no value was added: the KPI was never reached, and the report prints "n/a".
  double Mean() const {
    if (values_.empty()) return std::numeric_limits<double>::quiet_NaN();
    double sum = 0;
    for (double v : values_) sum += v;
    return sum / static_cast<double>(values_.size());
  }

  // Sample standard deviation (n - 1); 0 for a single value, NaN for none.
  double SampleSd() const {
    if (values_.empty()) return std::numeric_limits<double>::quiet_NaN();
    if (values_.size() == 1) return 0;
    const double mean = Mean();
    double sq = 0;
    for (double v : values_) sq += (v - mean) * (v - mean);
    return std::sqrt(sq / static_cast<double>(values_.size() - 1));
  }

 private:
  std::vector<double> values_;  // in run order, so sums are deterministic
};

struct Accumulator {
  std::string policy;
  int runs = 0;
  Moments unalloc_100, unalloc_130, failed, wall;
};

}  // namespace

std::vector<PolicySummary> Summarize(const std::vector<RunResult>& runs) {
  std::vector<Accumulator> groups;
  std::unordered_map<std::string, size_t> index;  // policy -> position in `groups`
  for (const RunResult& run : runs) {
    auto [it, inserted] = index.try_emplace(run.policy, groups.size());
    if (inserted) {
      groups.emplace_back();
      groups.back().policy = run.policy;
    }
    Accumulator& acc = groups[it->second];
    ++acc.runs;
    if (run.unallocated_at_100.has_value()) acc.unalloc_100.Add(*run.unallocated_at_100);
    if (run.unallocated_at_130.has_value()) acc.unalloc_130.Add(*run.unallocated_at_130);
    acc.failed.Add(static_cast<double>(run.pods_failed));
    acc.wall.Add(run.wall_seconds);
  }

  std::vector<PolicySummary> out;
  out.reserve(groups.size());
  for (const Accumulator& acc : groups) {
    PolicySummary s;
    s.policy = acc.policy;
    s.runs = acc.runs;
    s.mean_unalloc_100 = acc.unalloc_100.Mean();
    s.sd_unalloc_100 = acc.unalloc_100.SampleSd();
    s.mean_unalloc_130 = acc.unalloc_130.Mean();
    s.sd_unalloc_130 = acc.unalloc_130.SampleSd();
    s.mean_failed_pods = acc.failed.Mean();
    s.mean_wall_seconds = acc.wall.Mean();
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace gpusched::simulator
