#include "simulator/job_engine.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <random>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "common/metrics/in_memory_metrics.h"
#include "common/sim_clock.h"
#include "common/status_macros.h"
#include "plugins/gang/gang_plugin.h"
#include "plugins/registry.h"
#include "scheduler/cache/cluster_cache.h"
#include "scheduler/cache/snapshot_store.h"
#include "scheduler/runtime/live_scheduler.h"
#include "simulator/kube_scheduler.h"
#include "scheduler/runtime/framework.h"
#include "scheduler/runtime/profile.h"

namespace gpusched::simulator {
namespace {

using framework::PodInfo;


class NullBinder final : public framework::Binder {
 public:
  absl::Status Bind(const PodInfo&, const NodeId&, absl::Span<const framework::GpuShare>) override {
    return absl::OkStatus();
  }
};

double Hours(absl::Duration d) { return absl::ToDoubleHours(d); }

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = static_cast<size_t>(std::ceil(p * static_cast<double>(v.size()))) - 1;
  return v[std::min(i, v.size() - 1)];
}

double Mean(const std::vector<double>& v) {
  if (v.empty()) return 0;
  double s = 0;
  for (double x : v) s += x;
  return s / static_cast<double>(v.size());
}

struct Job {
  const trace::JobRecord* rec = nullptr;
  std::vector<PodInfo> members;
  int bound = 0;  // members bound
  std::vector<bool> member_bound;
  int bound_gpus = 0;
  bool running = false, done = false, never = false, partial = false;
  absl::Time arrival, start, finish;
  bool started() const { return running || done; }
};

class JobSim {
 public:
  JobSim(const std::vector<trace::JobRecord>& records, const JobSimOptions& o)
      : o_(o), rng_(o.seed) {
    jobs_.resize(records.size());
    for (size_t i = 0; i < records.size(); ++i) jobs_[i].rec = &records[i];
  }

  absl::StatusOr<JobSimResult> Run() {
    RETURN_IF_ERROR(BuildCluster());
    RETURN_IF_ERROR(BuildFramework());
    BuildMembers();
    std::vector<size_t> arrivals(jobs_.size());
    for (size_t i = 0; i < arrivals.size(); ++i) arrivals[i] = i;
    std::stable_sort(arrivals.begin(), arrivals.end(), [&](size_t a, size_t b) {
      return jobs_[a].arrival < jobs_[b].arrival;
    });
    const absl::Time t0 = arrivals.empty() ? absl::UnixEpoch() : jobs_[arrivals[0]].arrival;
    clock_.AdvanceTo(t0);
    absl::Time last = t0, last_finish = t0;
    size_t next = 0;
    while (true) {
      absl::Time t = absl::InfiniteFuture();
      if (next < arrivals.size()) t = jobs_[arrivals[next]].arrival;
      if (!running_.empty()) t = std::min(t, running_.top().first);
      if (t == absl::InfiniteFuture()) break;
      Accumulate(last, t);
      last = t;
      clock_.AdvanceTo(t);
      while (!running_.empty() && running_.top().first == t) {
        RETURN_IF_ERROR(Finish(running_.top().second));
        running_.pop();
        last_finish = t;
      }
      while (next < arrivals.size() && jobs_[arrivals[next]].arrival == t) {
        Arrive(arrivals[next++]);
      }
      Pass();
      curve_.emplace_back(Hours(t - t0), 100.0 * busy_gpus_ / total_gpus_);
      if (running_.empty() && live_pending_ > 0) {
        result_.deadlocked = true;
        result_.deadlock_at_hours = Hours(t - t0);
        result_.stuck_jobs = static_cast<int>(live_pending_);
        result_.stuck_gpus_held = held_gpus_;
        result_.unfinished = static_cast<int>(live_pending_ + (arrivals.size() - next));
        result_.jobs = static_cast<int>(jobs_.size());  // those not arrived yet count too
        break;
      }
    }
    return Summarize(t0, last_finish);
  }

 private:
  absl::Status BuildCluster() {
    for (int i = 0; i < o_.nodes; ++i) {
      framework::NodeSpec spec;
      spec.name = NodeId(absl::StrCat("node-", i));
      spec.cpu = MilliCpu(int64_t{12000} * o_.gpus_per_node);
      spec.memory = MemoryBytes((int64_t{96} << 30) * o_.gpus_per_node);
      spec.labels["topology.gpusched.io/rack"] = absl::StrCat("rack-", i / o_.nodes_per_rack);
      if (o_.nodes_per_nvlink_domain > 0) {
        spec.labels["nvidia.com/gpu.clique"] = absl::StrCat("nvl-", i / o_.nodes_per_nvlink_domain);
      }
      spec.gpus.assign(o_.gpus_per_node, framework::GpuDevice{"V100", GpuMemMiB(32768)});
      RETURN_IF_ERROR(extender() ? store_.Apply(cache::ModelOp::AddNode(std::move(spec)))
                                 : cache_.AddNode(std::move(spec)));
    }
    total_gpus_ = o_.nodes * o_.gpus_per_node;
    return absl::OkStatus();
  }

  absl::Status BuildFramework() {
    // The built-in profiles: `gang` (Gang + binpacking NodeResourcesFit) and, for naive, the same
    // without Gang (`binpack`). Backoff 0: the simulator decides when a gang is tried again (at
    // the next arrival or completion); preemption off: the traces carry no priorities.
    ASSIGN_OR_RETURN(std::vector<runtime::Profile> profiles,
                     runtime::ParseProfiles(plugins::kBuiltinProfiles, "built-in profiles"));
    ASSIGN_OR_RETURN(runtime::Profile profile,
                     runtime::FindProfile(profiles, o_.mode == "gang" ? "gang" : "binpack"));
    for (runtime::PluginConfig& p : profile.plugins) {
      if (p.name != plugins::gang::kName) continue;
      p.args = framework::PluginArgs({{"backoffSeconds", framework::ArgValue(int64_t{0})},
                                      {"preemption", framework::ArgValue(false)}});
    }
    if (extender()) {
      // Gangs go through LiveScheduler's plans there; the Gang plugin's Permit has no place.
      std::erase_if(profile.plugins,
                    [](const runtime::PluginConfig& p) { return p.name == plugins::gang::kName; });
    }
    ASSIGN_OR_RETURN(fw_, runtime::Framework::Create(
                              registry_, profile,
                              runtime::FrameworkDeps{clock_, rng_, extender() ? nullptr : &cache_,
                                                     metrics_, binder_},
                              runtime::FrameworkOptions{
                                  .parallelism = 1,
                                  .tie_break = runtime::FrameworkOptions::TieBreak::kFirst}));
    fw_->SetOutcomeCallback([this](const PodInfo& pod, const runtime::ScheduleResult& r) {
      if (r.status.ok()) OnBound(pod);
    });
    if (extender()) {
      live_ = std::make_unique<runtime::LiveScheduler>(
          *fw_, store_, clock_,
          runtime::LiveOptions{.sweep_every = absl::InfiniteDuration(),
                               .gang_backoff = absl::ZeroDuration()});
      kube_scheduler_.emplace(*live_, o_.extender_weight, 0x9e3779b97f4a7c15ull);
    }
    return absl::OkStatus();
  }

  void BuildMembers() {
    const int max_gang = MaxGangGpus(o_);
    for (size_t j = 0; j < jobs_.size(); ++j) {
      Job& job = jobs_[j];
      const trace::JobRecord& rec = *job.rec;
      job.arrival = absl::UnixEpoch() + rec.arrival;
      job.never = rec.gpus > max_gang;
      const int count = (rec.gpus + o_.gpus_per_pod - 1) / o_.gpus_per_pod;
      for (int k = 0; k < count; ++k) {
        PodInfo pod;
        pod.uid = PodUid(absl::StrCat(rec.id, "-", k));
        pod.namespace_name = "philly";
        pod.name = pod.uid.str();
        pod.created = job.arrival;
        const int gpus = std::min(o_.gpus_per_pod, rec.gpus - k * o_.gpus_per_pod);
        pod.requests.cpu = MilliCpu(int64_t{4000} * gpus);
        pod.requests.memory = MemoryBytes((int64_t{32} << 30) * gpus);
        pod.requests.gpu = framework::GpuRequest::Whole(gpus);
        pod.gang.emplace();
        pod.gang->id = GangId(absl::StrCat("philly/", rec.id));
        pod.gang->min_member = pod.gang->total_member = count;
        pod.gang->source = "job trace";
        if (!o_.gang_topology.empty()) {
          pod.annotations[plugins::gang::kGangTopologyAnnotation] = o_.gang_topology;
        }
        member_of_[pod.uid] = {j, static_cast<size_t>(k)};
        job.members.push_back(std::move(pod));
      }
      job.member_bound.assign(job.members.size(), false);
    }
  }

  void Arrive(size_t j) {
    ++result_.jobs;
    if (jobs_[j].never) {
      ++result_.never_fits;
      return;
    }
    pending_.push_back(j);
    ++live_pending_;
  }

  void OnBound(const PodInfo& pod) {
    const auto [j, k] = member_of_.at(pod.uid);
    Job& job = jobs_[j];
    job.member_bound[k] = true;
    ++job.bound;
    job.bound_gpus += pod.requests.gpu.count;
    held_gpus_ += pod.requests.gpu.count;
  }

  void Start(size_t j) {
    Job& job = jobs_[j];
    job.running = true;
    --live_pending_;
    job.start = clock_.Now();
    job.finish = job.start + job.rec->duration;
    running_.push({job.finish, j});
    busy_gpus_ += job.rec->gpus;
    digest_ = (digest_ ^ static_cast<uint64_t>(absl::ToUnixSeconds(job.start))) * 1099511628211ull;
    digest_ = (digest_ ^ j) * 1099511628211ull;
  }

  absl::Status Finish(size_t j) {
    Job& job = jobs_[j];
    for (const PodInfo& m : job.members) {
      RETURN_IF_ERROR(extender() ? live_->OnPodDeleted(m.uid) : cache_.RemovePod(m.uid));
    }
    held_gpus_ -= job.bound_gpus;
    busy_gpus_ -= job.rec->gpus;
    job.running = false;
    job.done = true;
    ++result_.finished;
    return absl::OkStatus();
  }

  int FreeGpus() const { return total_gpus_ - held_gpus_; }
  int Remaining(const Job& job) const { return job.rec->gpus - job.bound_gpus; }

  bool extender() const { return o_.path == "extender"; }

  runtime::ScheduleResult Schedule(const PodInfo& pod) {
    ++result_.scheduling_cycles;
    runtime::ScheduleResult r;
    if (extender()) {
      PodInfo alone = pod;
      if (o_.mode == "naive") alone.gang.reset();  // kube-scheduler alone knows no gangs
      r = kube_scheduler_->Schedule(alone);
    } else {
      r = fw_->SchedulePod(pod);
    }
    // Bound in its own cycle; the outcome callback reports only pods that waited on Permit.
    if (r.status.ok()) OnBound(pod);
    return r;
  }

  // Gang mode: every member in turn; the Gang plugin binds all or none.
  bool TryGang(size_t j) {
    Job& job = jobs_[j];
    if (Remaining(job) > FreeGpus()) return false;
    for (const PodInfo& m : job.members) {
      runtime::ScheduleResult r = Schedule(m);
      if (!r.status.ok() && !r.status.IsWait()) break;
    }
    if (job.bound == static_cast<int>(job.members.size())) {
      Start(j);
      return true;
    }
    return false;
  }

  // Naive mode: kube-scheduler's queue holds pods, not jobs, ordered by creation: the pods of
  // jobs that arrive together interleave (their controllers create them at the same time), and
  // each binds as soon as it fits.
  void TryPods(const std::vector<size_t>& order) {
    // Pods in queue order, generated group by group (jobs that tie in the order form a
    // contiguous group: by member index, then position), so a pass stops as soon as no GPU is
    // left instead of first listing and sorting every pending pod.
    const bool strict = o_.order == "fifo";
    for (size_t begin = 0; begin < order.size();) {
      size_t end = begin + 1;
      size_t members = jobs_[order[begin]].members.size();
      while (end < order.size()) {
        const Job& prev = jobs_[order[end - 1]];
        const Job& job = jobs_[order[end]];
        const bool tie = prev.arrival == job.arrival &&
                         (o_.order != "smallest-first" || prev.rec->gpus == job.rec->gpus);
        if (!tie) break;
        members = std::max(members, job.members.size());
        ++end;
      }
      for (size_t k = 0; k < members; ++k) {
        for (size_t pos = begin; pos < end; ++pos) {
          const Job& job = jobs_[order[pos]];
          if (k >= job.members.size() || job.member_bound[k]) continue;
          if (FreeGpus() == 0) return;  // every pod needs a GPU
          const PodInfo& pod = job.members[k];
          const bool fits = pod.requests.gpu.count <= FreeGpus() && Schedule(pod).status.ok();
          if (!fits && strict) return;
        }
      }
      begin = end;
    }
  }

  // The jobs waiting (started ones skipped), in arrival order or, for smallest-first, by size.
  std::vector<size_t> Ordered() const {
    std::vector<size_t> order;
    order.reserve(live_pending_);
    for (size_t i = first_live_; i < pending_.size(); ++i) {
      if (!jobs_[pending_[i]].started()) order.push_back(pending_[i]);
    }
    if (o_.order == "smallest-first") {
      std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
        return jobs_[a].rec->gpus < jobs_[b].rec->gpus;
      });
    }
    return order;
  }

  // A job seen holding some but not all of its members after a try.
  void NotePartial(size_t j) {
    Job& job = jobs_[j];
    if (!job.started() && job.bound > 0 && !job.partial) {
      job.partial = true;
      ++result_.partial_gangs;
    }
  }

  void Pass() {
    if (o_.mode == "naive") {
      const std::vector<size_t> order = Ordered();
      TryPods(order);
      for (size_t j : order) {
        Job& job = jobs_[j];
        if (job.bound == static_cast<int>(job.members.size())) Start(j);
      }
      for (size_t j : order) NotePartial(j);
    } else if (o_.order == "fifo" || o_.order == "greedy") {
      // Straight from pending_: a strict FIFO pass looks at the head only, a greedy one stops
      // when no GPU is free (every job needs one), so a long queue costs nothing it does not use.
      const bool strict = o_.order == "fifo";
      for (size_t i = first_live_; i < pending_.size() && FreeGpus() > 0; ++i) {
        const size_t j = pending_[i];
        if (jobs_[j].started()) continue;
        const bool started = TryGang(j);
        NotePartial(j);
        if (!started && strict) break;
      }
    } else {
      const std::vector<size_t> order = Ordered();
      if (o_.order == "backfill") {
        Backfill(order);
      } else {  // smallest-first skips what does not fit
        for (size_t j : order) {
          if (FreeGpus() == 0) break;
          TryGang(j);
        }
      }
      for (size_t j : order) NotePartial(j);
    }
    Compact();
  }

  // Drops the entries of started jobs from pending_ once they are half of it (amortized O(1) per
  // job), and moves first_live_ past the started ones at the front.
  void Compact() {
    if (2 * (pending_.size() - live_pending_) > pending_.size()) {
      std::erase_if(pending_, [&](size_t j) { return jobs_[j].started(); });
      first_live_ = 0;
    }
    while (first_live_ < pending_.size() && jobs_[pending_[first_live_]].started()) ++first_live_;
  }

  void Backfill(const std::vector<size_t>& order) {
    size_t i = 0;
    while (i < order.size() && TryGang(order[i])) ++i;
    if (i == order.size()) return;
    const Job& head = jobs_[order[i]];
    // The head's reservation: when enough running jobs will have finished.
    std::vector<std::pair<absl::Time, int>> ends;
    auto copy = running_;
    while (!copy.empty()) {
      ends.emplace_back(copy.top().first, jobs_[copy.top().second].rec->gpus);
      copy.pop();
    }
    int avail = FreeGpus();
    absl::Time shadow = clock_.Now();
    for (const auto& [t, gpus] : ends) {
      if (avail >= head.rec->gpus) break;
      avail += gpus;
      shadow = t;
    }
    int extra = avail - head.rec->gpus;
    for (size_t k = i + 1; k < order.size(); ++k) {
      const Job& job = jobs_[order[k]];
      if (job.rec->gpus > FreeGpus()) continue;
      const bool ends_in_time = clock_.Now() + job.rec->duration <= shadow;
      if (!ends_in_time && job.rec->gpus > extra) continue;
      if (TryGang(order[k]) && !ends_in_time) extra -= job.rec->gpus;
    }
  }

  void Accumulate(absl::Time from, absl::Time to) {
    const double h = Hours(to - from);
    busy_gpu_hours_ += busy_gpus_ * h;
    result_.held_idle_gpu_hours += (held_gpus_ - busy_gpus_) * h;
  }

  JobSimResult Summarize(absl::Time t0, absl::Time last_finish) {
    JobSimResult& r = result_;
    r.mode = o_.mode;
    r.order = o_.order;
    r.label = absl::StrCat(o_.mode, "/", o_.order);
    std::vector<double> jct, queue, gang_wait;
    for (const Job& job : jobs_) {
      if (!job.done) continue;
      jct.push_back(Hours(job.finish - job.arrival));
      queue.push_back(Hours(job.start - job.arrival));
      if (job.members.size() > 1) gang_wait.push_back(queue.back());
    }
    r.jct_hours = jct;
    std::sort(r.jct_hours.begin(), r.jct_hours.end());
    r.avg_jct_hours = Mean(jct);
    r.p99_jct_hours = Percentile(jct, 0.99);
    r.avg_queue_hours = Mean(queue);
    r.p99_queue_hours = Percentile(queue, 0.99);
    r.avg_gang_wait_hours = Mean(gang_wait);
    r.makespan_hours = Hours(last_finish - t0);
    r.utilization_pct =
        r.makespan_hours > 0 ? 100.0 * busy_gpu_hours_ / (total_gpus_ * r.makespan_hours) : 0;
    if (!r.deadlocked) r.unfinished = r.jobs - r.finished - r.never_fits;
    // Keep at most curve_points samples, evenly spread, and always the last one.
    const size_t n = curve_.size();
    const size_t step = std::max<size_t>(1, (n + o_.curve_points - 1) / std::max<size_t>(1, o_.curve_points));
    for (size_t i = 0; i < n; i += step) r.busy_curve.push_back(curve_[i]);
    if (n > 0 && (n - 1) % step != 0) r.busy_curve.push_back(curve_.back());
    r.digest = digest_;
    return r;
  }

  const JobSimOptions o_;
  const framework::Registry registry_ = plugins::NewInTreeRegistry();
  std::mt19937_64 rng_;
  SimClock clock_;
  cache::ClusterCache cache_;
  metrics::InMemoryMetrics metrics_;
  NullBinder binder_;
  std::unique_ptr<runtime::Framework> fw_;
  // The extender path: the live model and the scheduler over it (destroyed before fw_).
  cache::SnapshotStore store_;
  std::unique_ptr<runtime::LiveScheduler> live_;
  std::optional<KubeSchedulerDriver> kube_scheduler_;  // plays kube-scheduler on that path
  std::vector<Job> jobs_;
  absl::flat_hash_map<PodUid, std::pair<size_t, size_t>> member_of_;  // -> (job, member)
  // Jobs waiting, in arrival order. Entries of jobs that have started are dropped lazily
  // (Compact), so a pass costs what it looks at rather than the length of the queue.
  std::vector<size_t> pending_;
  size_t first_live_ = 0;    // pending_[0, first_live_) have all started
  size_t live_pending_ = 0;  // entries of pending_ that have not started
  using End = std::pair<absl::Time, size_t>;
  std::priority_queue<End, std::vector<End>, std::greater<End>> running_;
  int total_gpus_ = 0, held_gpus_ = 0, busy_gpus_ = 0;
  double busy_gpu_hours_ = 0;
  std::vector<std::pair<double, double>> curve_;  // (hours since the first arrival, busy %)
  uint64_t digest_ = 1469598103934665603ull;
  JobSimResult result_;
};

}  // namespace

int MaxGangGpus(const JobSimOptions& o) {
  int nodes = o.nodes;
  if (o.gang_topology == "rack") nodes = std::min(nodes, o.nodes_per_rack);
  if (o.gang_topology == "nvlink-domain") nodes = std::min(nodes, o.nodes_per_nvlink_domain);
  return nodes * o.gpus_per_node;
}

absl::Status ValidateJobSimOptions(const JobSimOptions& o) {
  auto bad = [](std::string_view what) { return absl::InvalidArgumentError(std::string(what)); };
  if (o.nodes < 1 || o.nodes > 100000) return bad("nodes: must be in 1..100000");
  if (o.gpus_per_node < 1 || o.gpus_per_node > 64) return bad("gpus per node: must be in 1..64");
  if (o.gpus_per_pod < 1 || o.gpus_per_pod > o.gpus_per_node ||
      o.gpus_per_node % o.gpus_per_pod != 0) {
    // A divisor, so that GPU counts say what fits: with 6-GPU pods on 8-GPU nodes two GPUs per
    // node would stay unusable and a job could look feasible and never run.
    return bad("gpus per pod: must divide gpus per node");
  }
  if (o.nodes_per_rack < 1) return bad("nodes per rack: must be >= 1");
  if (o.nodes_per_nvlink_domain < 0) return bad("nodes per NVLink domain: must be >= 0");
  if (o.mode != "gang" && o.mode != "naive") {
    return bad(absl::StrCat("mode: \"", o.mode, "\" is not gang or naive"));
  }
  if (o.order != "fifo" && o.order != "greedy" && o.order != "smallest-first" &&
      o.order != "backfill") {
    return bad(absl::StrCat("order: \"", o.order,
                            "\" is not fifo, greedy, smallest-first or backfill"));
  }
  if (o.mode == "naive" && o.order == "backfill") {
    return bad("order backfill needs mode gang (it reserves GPUs for a whole job)");
  }
  if (!o.gang_topology.empty() && o.gang_topology != "any" && o.gang_topology != "rack" &&
      o.gang_topology != "nvlink-domain") {
    return bad(absl::StrCat("gang topology: \"", o.gang_topology,
                            "\" is not any, rack or nvlink-domain"));
  }
  if (o.path != "framework" && o.path != "extender") {
    return bad(absl::StrCat("path: \"", o.path, "\" is not framework or extender"));
  }
  if (o.path == "extender" && !o.gang_topology.empty()) {
    return bad("gang topology is not supported on the extender path yet");
  }
  if (o.extender_weight < 1) return bad("extender weight: must be >= 1");
  if (o.gang_topology == "nvlink-domain" && o.nodes_per_nvlink_domain == 0) {
    return bad("gang topology nvlink-domain needs NVLink domains (nodes per NVLink domain > 0)");
  }
  return absl::OkStatus();
}

absl::StatusOr<JobSimResult> RunJobSim(const std::vector<trace::JobRecord>& jobs,
                                       const JobSimOptions& options) {
  RETURN_IF_ERROR(ValidateJobSimOptions(options));
  absl::flat_hash_map<std::string, size_t> seen;
  for (size_t i = 0; i < jobs.size(); ++i) {
    if (auto [it, fresh] = seen.emplace(jobs[i].id, i); !fresh) {
      return absl::InvalidArgumentError(absl::StrCat("job ", i, ": id \"", jobs[i].id,
                                                     "\" repeats job ", it->second));
    }
    if (jobs[i].gpus < 1 || jobs[i].duration < absl::ZeroDuration()) {
      return absl::InvalidArgumentError(
          absl::StrCat("job \"", jobs[i].id, "\": needs >= 1 GPU and a duration >= 0"));
    }
  }
  JobSim sim(jobs, options);
  return sim.Run();
}

}  // namespace gpusched::simulator
