#include "kernels/interference.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"

namespace gpusched::kernels {

absl::StatusOr<InterferenceEstimator> InterferenceEstimator::Create(InterferenceOptions options) {
  if (options.baseline_window <= absl::ZeroDuration() ||
      options.baseline_window == absl::InfiniteDuration()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("baseline_window must be finite and > 0, got %s",
                        absl::FormatDuration(options.baseline_window)));
  }
  if (!(options.alpha > 0 && options.alpha <= 1)) {  // Also rejects NaN.
    return absl::InvalidArgumentError(
        absl::StrFormat("alpha must be in (0, 1], got %g", options.alpha));
  }
  if (!std::isfinite(options.reference_gflops) || options.reference_gflops < 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "reference_gflops must be finite and >= 0, got %g", options.reference_gflops));
  }
  return InterferenceEstimator(options);
}

InterferenceEstimator::InterferenceEstimator() : InterferenceEstimator(InterferenceOptions{}) {}

InterferenceEstimator::InterferenceEstimator(InterferenceOptions options)
    : options_(std::move(options)) {}

absl::Status InterferenceEstimator::Add(const ThroughputResult& result, absl::Time at) {
  return AddGflops(result.gflops, at);
}

absl::Status InterferenceEstimator::AddGflops(double gflops, absl::Time at) {
  if (!std::isfinite(gflops) || gflops <= 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("gflops must be finite and > 0, got %g", gflops));
  }
  if (at == absl::InfinitePast() || at == absl::InfiniteFuture()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("at must be a finite time, got %s", absl::FormatTime(at)));
  }
  if (samples_ > 0 && at < latest_time_) {
    return absl::InvalidArgumentError(
        absl::StrFormat("at %s is before the previous sample's time %s", absl::FormatTime(at),
                        absl::FormatTime(latest_time_)));
  }
  const bool fresh_start = samples_ == 0 || at - latest_time_ > options_.baseline_window;

  // Sliding-window maximum: drop what left the window, then what the new sample dominates.
  while (!window_.empty() && at - window_.front().at > options_.baseline_window) {
    window_.pop_front();
  }
  while (!window_.empty() && window_.back().gflops <= gflops) window_.pop_back();
  window_.push_back({at, gflops});
  if (window_.size() > kMaxWindowSamples) window_.pop_front();

  ++samples_;
  latest_gflops_ = gflops;
  latest_time_ = at;
  raw_headroom_ = std::clamp(gflops / baseline_gflops(), 0.0, 1.0);
  headroom_ = fresh_start ? raw_headroom_
                          : options_.alpha * raw_headroom_ + (1.0 - options_.alpha) * headroom_;
  headroom_ = std::clamp(headroom_, 0.0, 1.0);
  return absl::OkStatus();
}

double InterferenceEstimator::baseline_gflops() const {
  const double best = window_.empty() ? 0.0 : window_.front().gflops;
  return std::max(best, options_.reference_gflops);
}

void InterferenceEstimator::Reset() {
  window_.clear();
  samples_ = 0;
  headroom_ = 1.0;
  raw_headroom_ = 1.0;
  latest_gflops_ = 0;
  latest_time_ = absl::InfinitePast();
}

}  // namespace gpusched::kernels
