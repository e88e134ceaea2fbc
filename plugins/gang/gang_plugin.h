#pragma once

// Gang: all-or-nothing scheduling of pod groups (coscheduling), with a timeout, a global order
// that rules out deadlock between competing gangs, topology-aware placement of the whole group
// and preemption of whole lower-priority gangs.
//
// A pod belongs to a gang when PodInfo::gang is set (plugins/gang/declaration.h turns every
// PodGroup form users write into it). For those pods:
//  - QueueSort: priority (higher first), then the gang's age (its oldest member), then the gang
//    name, then the member. Members of one gang therefore sit together in the queue and are
//    tried one after the other. The same (priority, age, name) order decides between gangs
//    everywhere else.
//  - PreFilter: a gang in backoff is Unschedulable until the backoff ends; a new attempt of a gang
//    whose PodGroup sets minResources waits until that much is free. With the annotation
//    `gpusched.io/gang-topology: nvlink-domain|rack|block|zone|any` the first member plans a
//    place for the whole gang (topology/cluster_topology.h ChooseNodes: one NVLink domain, else
//    one rack, ...; the named level is required, `any` only prefers) and every member is
//    restricted to the planned nodes.
//  - Reserve/Permit: a member that passed Reserve waits (Permit Wait) until `min_member`
//    members of its gang are placed at once (waiting or bound); the member that completes the
//    quorum allows all waiting ones, and they bind together. Members beyond the quorum (elastic
//    gangs, min < replicas) bind straight away once it is met.
//  - Timeout: the quorum must be reached within the gang's timeout (from the declaration, else
//    `defaultTimeoutSeconds`), counted from the first member of the attempt. When the first
//    waiting member times out, or any member of an incomplete gang is rejected, every waiting
//    member is rejected too (Unreserve), the reason is kept, and the gang backs off for
//    `backoffSeconds` before it is tried again.
//  - PostFilter, when a member of an incomplete gang fits no node:
//      1. waiting (not yet permitted) members of gangs later in the global order are rejected,
//         so the earlier gang can take their place: no two gangs can each hold a part of what
//         both need (no deadlock);
//      2. else, with an Evictor, whole gangs (and single pods) of lower priority are preempted,
//         the lowest priority and then the youngest first, until the missing members fit; a
//         gang is never half-evicted;
//      3. else the gang releases its own reservations and backs off.
//
//   - name: Gang
//     args: {defaultTimeoutSeconds: 60, backoffSeconds: 10, preemption: true}
//
// Scheduling-thread only (no Filter or Score): the state below is not locked.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "scheduler/api/handle.h"
#include "scheduler/api/plugin.h"
#include "scheduler/api/plugin_args.h"

namespace gpusched::plugins::gang {

inline constexpr std::string_view kName = "Gang";
inline constexpr char kGangTopologyAnnotation[] = "gpusched.io/gang-topology";

struct GangArgs {
  absl::Duration default_timeout = absl::Seconds(60);
  absl::Duration backoff = absl::Seconds(10);
  bool preemption = true;
};

// How many more pods shaped like `pod` fit on `node` now (CPU, memory, pod count, GPUs; node
// selector, taints and cordon), at most `cap`.
int CountFits(const framework::NodeInfo& node, const framework::PodInfo& pod, int cap = 1024);

class GangPlugin final : public framework::QueueSortPlugin,
                         public framework::PreFilterPlugin,
                         public framework::PostFilterPlugin,
                         public framework::ReservePlugin,
                         public framework::PermitPlugin {
 public:
  static absl::StatusOr<std::unique_ptr<framework::Plugin>> New(const framework::PluginArgs& a,
                                                                framework::Handle& h);
  GangPlugin(GangArgs args, framework::Handle& handle);

  std::string_view Name() const override { return kName; }
  bool Less(const framework::PodInfo& a, const framework::PodInfo& b) const override;
  framework::Status PreFilter(framework::CycleState& state, const framework::PodInfo& pod,
                              framework::PreFilterResult& result) override;
  framework::Status PostFilter(framework::CycleState& state, const framework::PodInfo& pod,
                               const std::vector<framework::NodeVerdict>& verdicts,
                               framework::PostFilterResult& result) override;
  framework::Status Reserve(framework::CycleState& state, const framework::PodInfo& pod,
                            const framework::NodeInfo& node) override;
  void Unreserve(framework::CycleState& state, const framework::PodInfo& pod,
                 const NodeId& node) override;
  framework::Status Permit(framework::CycleState& state, const framework::PodInfo& pod,
                           const NodeId& node, absl::Duration& timeout) override;

  // What the plugin knows about a gang, for tests, the simulator and "why pending" answers.
  struct GangView {
    int32_t min_member = 0;
    int live = 0;       // members placed now (waiting on Permit or bound)
    int waiting = 0;    // of them, waiting on Permit
    absl::Time backoff_until = absl::InfinitePast();
    std::string last_release;  // why the last incomplete attempt was released ("" if never)
    std::vector<std::string> planned_nodes;  // the topology plan, if any
  };
  std::optional<GangView> Inspect(const GangId& id) const;
  // Gangs the plugin keeps state for. Gangs with nothing placed and no backoff are
  // forgotten every kSweepEvery PreFilter calls (their age comes back from the members' creation
  // times, their members from the model), so a long-running scheduler does not grow with every
  // job it ever saw.
  size_t tracked_gangs() const { return gangs_.size(); }
  static constexpr int kSweepEvery = 1024;

 private:
  struct Gang {
    GangId id;
    framework::GangRef ref;
    int32_t priority = 0;
    absl::Time created = absl::InfiniteFuture();  // oldest member seen: the gang's age
    absl::flat_hash_set<PodUid> releasing;  // rejected by Release, their Unreserve still to come
    // When the first member of the current attempt started waiting; InfiniteFuture: no attempt
    // is waiting. The quorum deadline is this plus the gang's timeout (Deadline()).
    absl::Time attempt_start = absl::InfiniteFuture();
    absl::Time backoff_until = absl::InfinitePast();
    std::string last_release;
    // Topology plan: node -> member slots still unused; `plan_level` the required level.
    absl::flat_hash_map<NodeId, int> plan;
    std::string plan_level;
  };

  Gang& Touch(const framework::PodInfo& pod);
  Gang* Find(const framework::PodInfo& pod);
  const Gang* Find(const GangId& id) const;
  // Members placed now (the model's gang index: waiting on Permit or bound, including those
  // bound before a restart). `except` is not counted (a pod being unreserved).
  int Live(const Gang& g, const PodUid* except = nullptr) const;
  std::vector<PodUid> Waiting(const Gang& g) const;
  absl::Time Deadline(const Gang& g) const {
    return g.attempt_start + g.ref.timeout.value_or(args_.default_timeout);
  }
  // True if `a` comes before `b` in the global order (priority, age, name).
  static bool Before(const Gang& a, const Gang& b);
  // Rejects every waiting member, clears the plan, starts the backoff; returns how many were
  // waiting. `kind` labels the metric: timeout, member_lost, unschedulable, yielded.
  int Release(Gang& g, std::string reason, std::string_view kind);
  framework::Status Plan(Gang& g, const framework::PodInfo& pod, const std::string& level);
  // PreFilter gate of a new attempt: the declaration's minResources must be free.
  framework::Status AdmitMinResources(Gang& g);
  // Step 1 of PostFilter; returns the number of pods released.
  int ReleaseLaterGangs(const Gang& g);
  // Step 2 of PostFilter; the node to nominate, or nullopt when preemption cannot help.
  std::optional<NodeId> Preempt(const Gang& g, const framework::PodInfo& pod, int needed);
  void Count(std::string_view name, std::string_view help, std::string_view reason = "");
  void Sweep();

  const GangArgs args_;
  framework::Handle& handle_;
  absl::flat_hash_map<GangId, Gang> gangs_;
  int prefilter_calls_ = 0;
};

}  // namespace gpusched::plugins::gang
