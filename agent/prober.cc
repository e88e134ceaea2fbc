#include "agent/prober.h"

#include <algorithm>
#include <utility>

#include "common/status_macros.h"
#include "absl/strings/str_cat.h"

namespace gpusched::agent {

absl::Status ValidateProberOptions(const ProberOptions& o) {
  if (!(o.duty_cycle > 0 && o.duty_cycle <= 0.05)) {
    return absl::InvalidArgumentError(absl::StrCat("probe duty cycle ", o.duty_cycle,
                                                   " is not in (0, 0.05]: probes may take at most 5 % of a GPU"));
  }
  if (o.budget <= absl::ZeroDuration() || o.budget > absl::Milliseconds(100)) {
    return absl::InvalidArgumentError(absl::StrCat("probe budget ", absl::FormatDuration(o.budget),
                                                   " is not in (0, 100ms]"));
  }
  if (o.min_interval < absl::Seconds(1)) {
    return absl::InvalidArgumentError(absl::StrCat("probe interval ", absl::FormatDuration(o.min_interval),
                                                   " is under 1s"));
  }
  if (o.bandwidth_bytes <= 0 || o.bandwidth_bytes > kernels::kMaxProbeBytes) {
    return absl::InvalidArgumentError(absl::StrCat("probe bandwidth bytes ", o.bandwidth_bytes,
                                                   " is not in (0, 4 GiB]"));
  }
  if (o.bandwidth_every < 0) return absl::InvalidArgumentError("bandwidth_every must be >= 0");
  return absl::OkStatus();
}

Prober::Prober(kernels::ProbeBackend& backend, int gpu_count, Clock& clock, ProberOptions options,
               Publish publish, log::Logger* logger)
    : backend_(backend),
      gpu_count_(gpu_count),
      clock_(clock),
      options_(std::move(options)),
      publish_(std::move(publish)),
      logger_(logger) {
  MutexLock r(&round_mu_);
  for (int g = 0; g < gpu_count_; ++g) {
    kernels::InterferenceOptions io;
    io.baseline_window = options_.baseline_window;
    if (g < static_cast<int>(options_.reference_gflops.size())) io.reference_gflops = options_.reference_gflops[g];
    absl::StatusOr<kernels::InterferenceEstimator> e = kernels::InterferenceEstimator::Create(io);
    estimators_.push_back(e.ok() ? *std::move(e) : kernels::InterferenceEstimator());
  }
  occupancy_.assign(gpu_count_, -1);
  bandwidth_.assign(gpu_count_, kernels::BandwidthResult{});
  warned_.assign(gpu_count_, false);
  MutexLock l(&mu_);
  held_.assign(gpu_count_, absl::ZeroDuration());
}

Prober::~Prober() { Stop(); }

void Prober::Start() {
  {
    MutexLock l(&mu_);
    if (running_) return;
    running_ = true;
    started_ = clock_.Now();
  }
  Schedule(absl::ZeroDuration());
}

void Prober::Stop() {
  {
    MutexLock l(&mu_);
    running_ = false;
    if (timer_ != 0) clock_.Cancel(timer_);
    timer_ = 0;
    // Cancel does not wait for a callback already running on the clock's thread (RealClock):
    // wait until it is done with this object, its scheduling included.
    while (in_timer_) timer_done_.Wait(&mu_);
  }
  MutexLock r(&round_mu_);  // a round in progress (RunRound called directly) finishes first
}

void Prober::Schedule(absl::Duration delay) {
  MutexLock l(&mu_);
  ScheduleLocked(delay);
}

void Prober::ScheduleLocked(absl::Duration delay) {
  if (!running_) return;
  next_due_ = clock_.Now() + delay;
  timer_ = clock_.ScheduleAfter(delay, [this] { OnTimer(); });
}

void Prober::OnTimer() {
  {
    MutexLock l(&mu_);
    if (!running_) return;
    in_timer_ = true;
  }
  const absl::Duration next = RunRound();
  MutexLock l(&mu_);
  in_timer_ = false;
  timer_done_.SignalAll();
  ScheduleLocked(next);
}

absl::Duration Prober::RunRound() {
  MutexLock r(&round_mu_);
  const uint64_t round = rounds_.fetch_add(1);
  const bool bandwidth_round = options_.bandwidth_every > 0 && round % options_.bandwidth_every == 0;
  absl::Duration longest_hold = absl::ZeroDuration();
  for (int g = 0; g < gpu_count_; ++g) {
    const absl::Time start = clock_.Now();
    absl::Duration reported = absl::ZeroDuration();
    absl::Status failed;
    if (occupancy_[g] < 0) {
      absl::StatusOr<kernels::OccupancyResult> occ = backend_.ProbeOccupancy(g, 256);
      if (occ.ok()) occupancy_[g] = occ->occupancy;
      else failed = occ.status();
    }
    absl::StatusOr<kernels::ThroughputResult> t = backend_.ProbeThroughput(g, options_.budget);
    if (t.ok()) {
      reported += absl::Microseconds(t->duration_us);
      if (absl::Status s = estimators_[g].Add(*t, clock_.Now()); !s.ok()) failed = s;
    } else {
      failed = t.status();
    }
    if (bandwidth_round) {
      absl::StatusOr<kernels::BandwidthResult> bw = backend_.ProbeBandwidth(g, options_.bandwidth_bytes);
      if (bw.ok()) {
        bandwidth_[g] = *bw;
        // Three copies of `bytes`, five timed repetitions each plus a warm-up (probe.h).
        const double seconds = 6.0 * bw->bytes *
                               (1 / std::max(bw->host_to_device_gbps, 1e-3) +
                                1 / std::max(bw->device_to_host_gbps, 1e-3) +
                                1 / std::max(bw->device_to_device_gbps, 1e-3)) / 1e9;
        reported += absl::Seconds(seconds);
      } else if (failed.ok()) {
        failed = bw.status();
      }
    }
    const absl::Duration held = std::max(reported, clock_.Now() - start);
    longest_hold = std::max(longest_hold, held);
    {
      MutexLock l(&mu_);
      held_[g] += held;
      if (started_ == absl::InfinitePast()) started_ = start;
    }
    if (!failed.ok()) {
      failures_.fetch_add(1);
      if (logger_ && !warned_[g]) {
        logger_->Warn("GPU probe failed; its last results stay published",
                      {{"gpu", absl::StrCat(g)}, {"error", MessageOf(failed)}});
      }
      warned_[g] = true;
      if (!t.ok()) continue;
    } else {
      warned_[g] = false;
    }
    pb::Probe p;
    p.set_at_unix_ms(absl::ToUnixMillis(clock_.Now()));
    p.set_available_sm_fraction(std::clamp(t->available_sm_fraction, 0.0, 1.0));
    p.set_headroom(std::clamp(estimators_[g].headroom(), 0.0, 1.0));
    p.set_throughput_gflops(std::max(t->gflops, 0.0));
    p.set_occupancy(std::clamp(std::max(occupancy_[g], 0.0), 0.0, 1.0));
    p.set_device_to_device_gbps(bandwidth_[g].device_to_device_gbps);
    p.set_host_to_device_gbps(bandwidth_[g].host_to_device_gbps);
    p.set_duration_us(absl::ToInt64Microseconds(held));
    if (publish_) publish_(g, p);
  }
  return std::max(options_.min_interval, longest_hold / options_.duty_cycle);
}

double Prober::overhead() const {
  MutexLock l(&mu_);
  if (started_ == absl::InfinitePast()) return 0;
  // Up to the next round: the time a round holds is paid for by the pause after it.
  const absl::Duration elapsed = std::max(clock_.Now(), next_due_) - started_;
  absl::Duration worst = absl::ZeroDuration();
  for (absl::Duration h : held_) worst = std::max(worst, h);
  if (elapsed <= absl::ZeroDuration()) return 0;
  return absl::FDivDuration(worst, elapsed);
}

}  // namespace gpusched::agent
