#pragma once

// Runs the GPU probes (kernels/backend.h) on the injected Clock, one GPU at a time, and
// publishes each GPU's results (agent.proto Probe): the persistent kernel's share of SMs and
// throughput, the headroom the interference estimate derives from them, occupancy of the
// reference kernel, and (every few rounds) copy bandwidth.
//
//   Prober prober(*backend, gpu_count, clock, ProberOptions{}, [&](int gpu, const pb::Probe& p) {
//     state.SetProbe(gpu, p);
//   });
//   prober.Start();          // first round at once, then on the duty-cycle schedule
//   prober.overhead();       // the share of a GPU's time spent probing so far (0.004)
//
// Duty cycle: a round holds each GPU for `budget` (plus the bandwidth copies on bandwidth
// rounds); the next round starts max(min_interval, held / duty_cycle) later, so no GPU spends
// more than `duty_cycle` of its time probing (default 0.5 %; the agent refuses more than 5 %).
// The time held is what the backend reports or what the Clock saw pass, whichever is larger.
//
// Thread-safety: Start/Stop from one thread; rounds run on the Clock's timer thread (RealClock)
// or inside SimClock::Advance. Stop waits for a round in progress. overhead(), rounds() and
// failures() may be read from any thread.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "agent/wire.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/mutex.h"
#include "kernels/backend.h"
#include "kernels/interference.h"

namespace gpusched::agent {

struct ProberOptions {
  double duty_cycle = 0.005;
  absl::Duration min_interval = absl::Seconds(30);
  absl::Duration budget = absl::Milliseconds(2);  // the throughput probe's hold per GPU
  int64_t bandwidth_bytes = int64_t{32} << 20;
  int bandwidth_every = 10;  // rounds; 0: never
  // Per GPU, an idle GPU's GFLOP/s (datasheet peak; the fake GPUs' peak) under the headroom
  // baseline, so an agent that starts on a busy GPU does not take the busy figure for 100 %.
  // Empty or 0: learnt from the samples only.
  std::vector<double> reference_gflops;
  absl::Duration baseline_window = absl::Minutes(30);
};

// InvalidArgument naming the option: duty_cycle in (0, 0.05], budget in (0, 100 ms],
// min_interval >= 1 s, bandwidth_bytes in (0, 4 GiB], bandwidth_every >= 0.
absl::Status ValidateProberOptions(const ProberOptions& o);

class Prober {
 public:
  using Publish = std::function<void(int gpu, const pb::Probe& probe)>;
  Prober(kernels::ProbeBackend& backend, int gpu_count, Clock& clock, ProberOptions options,
         Publish publish, log::Logger* logger = nullptr);
  ~Prober();
  Prober(const Prober&) = delete;
  Prober& operator=(const Prober&) = delete;

  void Start() ABSL_LOCKS_EXCLUDED(mu_);
  void Stop() ABSL_LOCKS_EXCLUDED(mu_);
  // One round over every GPU, on the calling thread; returns the delay until the next one.
  absl::Duration RunRound() ABSL_LOCKS_EXCLUDED(round_mu_);

  // Max over GPUs of the time held / the time from Start (or the first round) to the next round.
  double overhead() const;
  uint64_t rounds() const { return rounds_.load(); }
  uint64_t failures() const { return failures_.load(); }

 private:
  void Schedule(absl::Duration delay) ABSL_LOCKS_EXCLUDED(mu_);
  void ScheduleLocked(absl::Duration delay) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnTimer() ABSL_LOCKS_EXCLUDED(mu_, round_mu_);

  kernels::ProbeBackend& backend_;
  const int gpu_count_;
  Clock& clock_;
  const ProberOptions options_;
  const Publish publish_;
  log::Logger* const logger_;

  Mutex round_mu_;  // one round at a time; Stop waits on it
  std::vector<kernels::InterferenceEstimator> estimators_ ABSL_GUARDED_BY(round_mu_);
  std::vector<double> occupancy_ ABSL_GUARDED_BY(round_mu_);
  std::vector<kernels::BandwidthResult> bandwidth_ ABSL_GUARDED_BY(round_mu_);
  std::vector<bool> warned_ ABSL_GUARDED_BY(round_mu_);

  mutable Mutex mu_;
  bool running_ ABSL_GUARDED_BY(mu_) = false;
  Clock::TimerId timer_ ABSL_GUARDED_BY(mu_) = 0;
  bool in_timer_ ABSL_GUARDED_BY(mu_) = false;  // a timer callback is running; Stop waits for it
  CondVar timer_done_;                           // signalled when in_timer_ turns false
  absl::Time started_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Time next_due_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  std::vector<absl::Duration> held_ ABSL_GUARDED_BY(mu_);

  std::atomic<uint64_t> rounds_{0};
  std::atomic<uint64_t> failures_{0};
};

}  // namespace gpusched::agent
