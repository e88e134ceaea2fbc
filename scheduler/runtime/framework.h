#pragma once

// The framework runtime: runs one pod's scheduling cycle through a profile's plugins.
//
//   ASSIGN_OR_RETURN(auto fw, Framework::Create(registry, profile,
//                                               FrameworkDeps{clock, rng, &cache, metrics, binder}));
//   ScheduleResult r = fw->SchedulePod(pod);
//   if (r.status.ok()) { /* bound to r.node on GPUs r.gpus */ }
//   else if (r.status.IsWait()) { /* held by a Permit plugin; the outcome callback reports later */ }
//   else std::cout << r.Explain();   // "0/6 nodes are available: 3 Insufficient cpu, ..."
//
// One cycle: PreFilter -> Filter (parallel over nodes) -> PostFilter when nothing fits ->
// PreScore -> Score (parallel) -> NormalizeScore, range check, weights -> pick the best node (ties
// broken by the injected random source) -> Reserve (a plugin chooses the devices) -> assume in the
// cache -> Permit -> PreBind -> Bind -> PostBind. Any failure after Reserve runs Unreserve on every
// Reserve plugin in reverse order and forgets the assumed pod, so the model is exactly as before.
//
// Metrics (through the injected MetricsScope):
//   gpusched_schedule_attempts_total{profile,result}           result: scheduled|waiting|unschedulable|error
//   gpusched_framework_extension_point_duration_seconds{profile,extension_point,status}
//   gpusched_plugin_execution_duration_seconds{plugin,extension_point,status}
//     For Filter and Score: the plugin's time over all nodes of one cycle (status Error if it
//     failed on any node, else Success); for the other points, one call.
// Durations come from the injected Clock (zero under a SimClock).
//
// Two ways in:
//  - SchedulePod (the simulator's world): one thread at a time; it reads and writes
//    FrameworkDeps::cache, and the same thread runs the Clock's timer callbacks (SimClock does).
//  - The per-verb entry points Filter, Prioritize, ReserveOn/BindReserved/Unreserve (the
//    extender's world, driven by LiveScheduler): re-entrant and safe to call concurrently from
//    any threads. Each call has its own CycleState and buffers and reads only the snapshot it is
//    given; nothing per cycle is kept in the Framework or its plugins (plugins that memoize guard
//    their memos themselves). They need a thread-safe random source in FrameworkDeps::rng
//    (LockedBitGen) and a thread-safe Clock and MetricsScope.
// Filter and Score fan out to the internal worker pool; a call that finds the pool busy with
// another request runs on its own thread instead of waiting.

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/functional/function_ref.h"
#include "absl/random/bit_gen_ref.h"
#include "absl/status/statusor.h"
#include "common/mutex.h"
#include "common/clock.h"
#include "common/metrics/metrics_scope.h"
#include "scheduler/api/handle.h"
#include "scheduler/api/plugin.h"
#include "scheduler/api/registry.h"
#include "scheduler/cache/cluster_cache.h"
#include "scheduler/runtime/parallelizer.h"
#include "scheduler/runtime/profile.h"

namespace gpusched::runtime {

using framework::CycleState;
using framework::GpuShare;
using framework::NodeInfo;
using framework::PodInfo;

struct FrameworkDeps {
  Clock& clock;
  absl::BitGenRef rng;
  // The model SchedulePod reads and writes; null for frameworks used only through the per-verb
  // entry points (they work on the snapshot or transaction they are given).
  cache::ClusterCache* cache;
  metrics::MetricsScope& metrics;
  framework::Binder& binder;
  // Preemption plugins evict through it; nullptr turns preemption off.
  framework::Evictor* evictor = nullptr;
};

struct FrameworkOptions {
  // Threads for Filter/Score, the scheduling thread included. 0: the hardware's (at most 16).
  int parallelism = 0;
  // Nodes per work item of the parallel loops.
  size_t chunk_size = 256;
  // How to choose among nodes with the same top score:
  //  kRandom: uniformly, with the injected random source (kube-scheduler's selectHost);
  //  kFirst:  the first in snapshot order. A fixed order packs work onto the same nodes; the
  //           FGD paper's simulator does this (ties go to the smallest node name, names carrying
  //           a seeded random prefix), and `gpusched sim` does it by adding nodes in a seeded
  //           order.
  enum class TieBreak { kRandom, kFirst };
  TieBreak tie_break = TieBreak::kRandom;
};

struct ScheduleResult {
  // Success: bound. Wait: reserved and held by a Permit plugin. Unschedulable /
  // UnschedulableAndUnresolvable: no node fits (see rejections). Error: something broke.
  framework::Status status;
  NodeId node;                  // the chosen node (also while waiting)
  std::vector<GpuShare> gpus;   // the devices chosen on it
  int64_t score = 0;            // combined weighted score of the chosen node
  size_t nodes_evaluated = 0;
  size_t nodes_feasible = 0;
  // For rejections: nodes per reason, e.g. {"Insufficient cpu": 3}.
  std::map<std::string, int> rejections;
  std::optional<NodeId> nominated_node;  // from PostFilter

  // One readable line, in kube-scheduler's style for rejections:
  //   "bound to n1 (GPUs 0,1; score 87)"
  //   "0/6 nodes are available: 3 Insufficient cpu, 2 node has no GPU of model H100."
  std::string Explain() const;
};

// Receives the outcome of pods that returned Wait, once they bind or are rejected.
using OutcomeCallback = absl::AnyInvocable<void(const PodInfo&, const ScheduleResult&)>;

class Framework {
 public:
  // Builds every plugin of `profile` from `registry`. Errors name the profile, the plugin entry
  // and the field: unknown plugin, invalid args (from the plugin's factory), a weight on a plugin
  // without Score, two QueueSort plugins, no Bind plugin.
  static absl::StatusOr<std::unique_ptr<Framework>> Create(const framework::Registry& registry,
                                                           const Profile& profile,
                                                           FrameworkDeps deps,
                                                           FrameworkOptions options = {});
  ~Framework();
  Framework(const Framework&) = delete;
  Framework& operator=(const Framework&) = delete;

  const std::string& profile_name() const { return profile_name_; }

  // Queue order: the profile's QueueSort plugin, else priority (higher first), then creation
  // time, then uid.
  bool Less(const PodInfo& a, const PodInfo& b) const;

  // Runs one full cycle for `pod` (see the header comment).
  ScheduleResult SchedulePod(const PodInfo& pod);

  // The profile's plugin of that name, or nullptr (for introspection: tests, "why pending").
  framework::Plugin* FindPlugin(std::string_view name) const;

  void SetOutcomeCallback(OutcomeCallback cb) { outcome_cb_ = std::move(cb); }
  framework::WaitingPods& waiting_pods();
  framework::Handle& handle();

  // ---- The phases, for the runtime's own callers. `state` carries the snapshot they read
  // (CycleState::set_snapshot) and must have been through RunPreFilter before RunFilter.
  struct FilterOutcome {
    std::vector<const NodeInfo*> feasible;
    std::vector<framework::NodeVerdict> rejected;
    framework::Status error;  // non-ok when a plugin returned Error
  };
  // Which nodes PreFilter leaves to Filter: all of the snapshot's (nothing copied), or those its
  // results allow.
  struct AllowedNodes {
    std::optional<std::vector<const NodeInfo*>> subset;  // nullopt: every node
    const std::vector<const NodeInfo*>& Of(const framework::ClusterSnapshot& snapshot) const {
      return subset.has_value() ? *subset : snapshot.Nodes();
    }
    bool Allows(const NodeInfo* node) const {
      return !subset.has_value() || std::find(subset->begin(), subset->end(), node) != subset->end();
    }
  };
  framework::Status RunPreFilter(CycleState& state, const PodInfo& pod, AllowedNodes& allowed);
  FilterOutcome RunFilter(const CycleState& state, const PodInfo& pod,
                          const std::vector<const NodeInfo*>& candidates);
  // PreScore + Score + NormalizeScore + weights over the feasible nodes: the combined score per
  // node, in the order given.
  absl::StatusOr<framework::NodeScoreList> RunScore(CycleState& state, const PodInfo& pod,
                                                    const std::vector<const NodeInfo*>& feasible);
  // The node the profile picks among `scores` (highest; ties by the configured tie-break).
  const NodeInfo* SelectHost(const framework::NodeScoreList& scores, int64_t& best_score);

  // ---- Per-verb entry points (kube-scheduler's extender verbs). Re-entrant (see above).

  // Filter: which of `candidates` can take `pod` on `snapshot`, and why not for the others.
  // Names the snapshot does not know are "not now" (the model may not have caught up). Verdicts
  // name candidates by their index in `candidates` (no name is copied: a request carries
  // thousands).
  struct NodeReason {
    uint32_t index;            // into the candidates
    framework::Status status;  // the verdict (its reasons are what a person reads)
    // For a person: "Insufficient nvidia.com/gpu", "node(s) had taint ..."; made on demand, so a
    // verdict costs no string when nobody reads it.
    std::string reason() const;
  };
  struct FilterVerdicts {
    std::vector<uint32_t> feasible;           // indexes into the candidates, ascending
    std::vector<NodeReason> failed;           // Unschedulable: not now (FailedNodes)
    std::vector<NodeReason> unresolvable;     // never here (FailedAndUnresolvableNodes)
    framework::Status error;                  // non-ok: the request failed as a whole
    // The feasible candidates' names (for callers that want names, not indexes).
    std::vector<NodeId> FeasibleNames(const std::vector<NodeId>& candidates) const;
  };
  FilterVerdicts Filter(const framework::ClusterSnapshot& snapshot, const PodInfo& pod,
                        const std::vector<NodeId>& candidates);

  // Prioritize: the profile's combined score per node, and the same mapped onto kube-scheduler's
  // 0..kMaxExtenderPriority so that the profile's choice survives kube-scheduler's arithmetic:
  // the node the profile would pick (SelectHost, with its tie-break) alone gets the top score,
  // every other node at most kMaxExtenderPriority - 1 (scaled by its combined score). With an
  // extender weight W, kube-scheduler adds 10 * W * priority to its in-tree sum, so the pick
  // leads every other node by at least 10 * W; W > (max in-tree spread) / 10 makes it final
  // (deploy/README.md has the arithmetic).
  static constexpr int64_t kMaxExtenderPriority = 10;
  struct Priorities {
    std::vector<int64_t> priority;     // 0..10 for each node given, in the order given
    framework::NodeScoreList combined;  // raw combined scores of the nodes the model knows
    NodeId chosen;                      // the node given the top score
  };
  absl::StatusOr<Priorities> Prioritize(const framework::ClusterSnapshot& snapshot,
                                        const PodInfo& pod, const std::vector<NodeId>& nodes);

  // Bind, in three steps (LiveScheduler runs the first inside the model's write transaction):
  //  1. ReserveOn: on `model` as it is now, PreFilter + Filter for `node` alone, then Reserve
  //     (a plugin chooses the devices) and Permit (a Permit that would wait refuses: there is no
  //     waiting under kube-scheduler). Success: the devices to assume. Otherwise Unreserve has
  //     run and the status says why.
  //  2. BindReserved: PreBind and Bind through the ports; on failure the caller calls Unreserve.
  //  3. PostBind once the caller has confirmed the pod in its model.
  //  `run_permit` false skips Permit (a gang member binding into capacity its gang's plan holds:
  //  the all-or-nothing decision was made when the plan was).
  framework::Status ReserveOn(CycleState& state, const PodInfo& pod, const NodeId& node,
                              std::vector<GpuShare>& gpus, bool run_permit = true);
  framework::Status BindReserved(CycleState& state, const PodInfo& pod, const NodeId& node);
  void Unreserve(CycleState& state, const PodInfo& pod, const NodeId& node);
  void PostBind(CycleState& state, const PodInfo& pod, const NodeId& node);

 private:
  class HandleImpl;
  class WaitingPodsImpl;
  struct ScorePluginEntry {
    framework::ScorePlugin* plugin;
    int64_t weight;
  };
  struct Timing;

  Framework(std::string profile_name, FrameworkDeps deps, FrameworkOptions options);

  ScheduleResult Reject(ScheduleResult r, const std::vector<framework::NodeVerdict>& verdicts,
                        size_t evaluated);
  // Unreserve + forget + the result to report for a failure after Reserve.
  ScheduleResult Abort(CycleState& state, const PodInfo& pod, ScheduleResult r,
                       framework::Status why);
  ScheduleResult RunBindingCycle(CycleState& state, const PodInfo& pod, ScheduleResult r);
  // The snapshot's node for each name (null if unknown), looked up on the worker pool.
  std::vector<const NodeInfo*> Resolve(const framework::ClusterSnapshot& snapshot,
                                       const std::vector<NodeId>& names);
  // One Filter pass over `n` nodes, on the worker pool. `resolve(begin, end, nodes, rejected)`
  // fills nodes[begin, end), leaving null the ones the plugins never see (an unknown name, one
  // PreFilter did not allow) with their verdicts appended to `rejected`. Verdicts come back by
  // index, in ascending order.
  struct FilterPass {
    std::vector<uint32_t> feasible;
    std::vector<NodeReason> rejected;
    framework::Status error;  // the first node (in order) a plugin failed on, with its name
  };
  using ResolveRange = absl::FunctionRef<void(size_t begin, size_t end, const NodeInfo** nodes,
                                              std::vector<NodeReason>& rejected)>;
  FilterPass RunFilterPass(const CycleState& state, const PodInfo& pod, size_t n,
                           ResolveRange resolve);
  // Reserve plugins on `node`, then the devices they chose (empty for a pod without GPUs). On
  // failure Unreserve has run.
  framework::Status RunReserve(CycleState& state, const PodInfo& pod, const NodeInfo& node,
                               std::vector<GpuShare>& gpus);
  void DrainWaitingDecisions();
  void Record(std::string_view point, const framework::Status& status, absl::Time start);
  void RecordPlugin(std::string_view plugin, std::string_view point, std::string_view status,
                    absl::Duration d);
  void CountAttempt(const ScheduleResult& r);
  absl::Time Now() const { return deps_.clock.Now(); }

  // Constant after construction.
  const std::string profile_name_;
  FrameworkDeps deps_;
  const FrameworkOptions options_;
  std::unique_ptr<HandleImpl> handle_;
  std::unique_ptr<WaitingPodsImpl> waiting_;
  std::unique_ptr<Parallelizer> parallelizer_;
  std::vector<std::unique_ptr<framework::Plugin>> plugins_;
  const framework::QueueSortPlugin* queue_sort_ = nullptr;
  std::vector<framework::PreFilterPlugin*> pre_filter_;
  std::vector<framework::FilterPlugin*> filter_;
  std::vector<framework::PostFilterPlugin*> post_filter_;
  std::vector<framework::PreScorePlugin*> pre_score_;
  std::vector<ScorePluginEntry> score_;
  std::vector<framework::ReservePlugin*> reserve_;
  std::vector<framework::PermitPlugin*> permit_;
  std::vector<framework::PreBindPlugin*> pre_bind_;
  std::vector<framework::BindPlugin*> bind_;
  std::vector<framework::PostBindPlugin*> post_bind_;

  // SchedulePod's thread only (the simulator's world).
  OutcomeCallback outcome_cb_;
  bool in_cycle_ = false;
  bool draining_ = false;  // DrainWaitingDecisions is running (decisions it causes queue up)
  // Metric handles, created on first use by any request.
  Mutex metrics_mu_;
  absl::flat_hash_map<std::string, metrics::Histogram*> histograms_ ABSL_GUARDED_BY(metrics_mu_);
  absl::flat_hash_map<std::string, metrics::Counter*> counters_ ABSL_GUARDED_BY(metrics_mu_);
};

}  // namespace gpusched::runtime
