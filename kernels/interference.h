#pragma once

// How much of a GPU other tenants take, from successive ProbeThroughput results. Pure CPU: the
// caller passes each sample's time (no clock is read), so it is tested and simulated like any
// other arithmetic.
//
//   ASSIGN_OR_RETURN(InterferenceEstimator est, InterferenceEstimator::Create(
//       {.baseline_window = absl::Minutes(30), .alpha = 0.3}));
//   ...every probe period, on the prober thread:
//   ASSIGN_OR_RETURN(ThroughputResult t, backend->ProbeThroughput(gpu, absl::Milliseconds(2)));
//   RETURN_IF_ERROR(est.Add(t, clock.Now()));
//   est.headroom();       // 0.6: the GPU gives 60% of the best throughput seen lately
//   est.interference();   // 0.4
//
// The baseline is the best GFLOP/s among the samples of the last `baseline_window` (a sample at
// time t counts while the newest is at most t + window), so an old maximum stops counting once
// it is older than the window (after a clock boost ends, a driver update, a thermal limit), and
// it never falls below `reference_gflops` when that is set (a datasheet peak or an idle
// measurement; useful when the agent starts on a busy GPU). raw headroom = latest / baseline, in
// [0, 1]; headroom() smooths it with an EWMA: h = alpha * raw + (1 - alpha) * h. The first
// sample, and the first after a gap longer than the window, set h = raw.
//
// Add rejects a sample (InvalidArgument, the estimator unchanged) whose gflops is zero,
// negative, NaN or infinite, whose time is infinite, or whose time is before the previous
// sample's.
//
// Thread safety: thread-compatible (one prober thread feeds and reads it; copies are
// independent).

#include <cstddef>
#include <cstdint>
#include <deque>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "kernels/probe.h"

namespace gpusched::kernels {

struct InterferenceOptions {
  absl::Duration baseline_window = absl::Minutes(30);  // finite, > 0
  double alpha = 0.3;           // EWMA weight of the newest sample, in (0, 1]; 1: no smoothing
  double reference_gflops = 0;  // finite, >= 0; 0: no floor under the baseline
};

class InterferenceEstimator {
 public:
  // At most this many samples are kept for the baseline (only a run of strictly falling samples
  // inside one window fills it); past it the oldest is dropped early.
  static constexpr size_t kMaxWindowSamples = 4096;

  // InvalidArgument naming the bad option.
  static absl::StatusOr<InterferenceEstimator> Create(InterferenceOptions options);
  // The default options (valid by construction).
  InterferenceEstimator();

  // Adds the sample result.gflops taken at `at`.
  absl::Status Add(const ThroughputResult& result, absl::Time at);
  absl::Status AddGflops(double gflops, absl::Time at);

  // Forgets every sample; the options stay.
  void Reset();

  int64_t samples() const { return samples_; }   // accepted since creation or Reset
  double headroom() const { return headroom_; }  // smoothed; 1 before the first sample
  double interference() const { return 1.0 - headroom_; }
  double raw_headroom() const { return raw_headroom_; }    // the latest sample's, unsmoothed
  double latest_gflops() const { return latest_gflops_; }  // 0 before the first sample
  absl::Time latest_time() const { return latest_time_; }  // InfinitePast before the first
  // max(best sample in the window, reference_gflops); reference_gflops before the first sample.
  double baseline_gflops() const;
  const InterferenceOptions& options() const { return options_; }

 private:
  struct Sample {
    absl::Time at;
    double gflops;
  };

  explicit InterferenceEstimator(InterferenceOptions options);

  InterferenceOptions options_;
  // Samples of the window that may still become the maximum: times increasing, gflops strictly
  // decreasing, so front() is the window's maximum.
  std::deque<Sample> window_;
  int64_t samples_ = 0;
  double headroom_ = 1.0;
  double raw_headroom_ = 1.0;
  double latest_gflops_ = 0;
  absl::Time latest_time_ = absl::InfinitePast();
};

}  // namespace gpusched::kernels
