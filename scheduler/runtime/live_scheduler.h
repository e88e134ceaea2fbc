#pragma once

// The scheduling core as kube-scheduler's extender sees it: one call per verb, any number at
// once, while informer events change the model underneath.
//
//   cache::SnapshotStore store;
//   LockedBitGen rng(seed);
//   ASSIGN_OR_RETURN(auto fw, Framework::Create(registry, profile,
//                                               FrameworkDeps{clock, rng, nullptr, metrics, binder}));
//   LiveScheduler live(*fw, store, clock, LiveOptions{});
//   live.OnNodeAdd(spec);                                  // informer
//   auto f = live.Filter(pod, names);                      // POST /filter
//   auto p = live.Prioritize(pod, f.FeasibleNames(names)); // POST /prioritize
//   auto b = live.Bind(pod, NodeId("n7"));                 // POST /bind: devices in b.gpus
//   live.OnPodBound(pod, NodeId("n7"), b.gpus);            // informer sees the Binding: confirmed
//
// Verbs and their contract:
//  - Filter and Prioritize read the latest published snapshot (SnapshotStore::Current) and never
//    wait for a writer. Prioritize gives the node the profile would pick the unique top score
//    (Framework::Prioritize).
//  - Bind re-checks the node on the model as it is now (it may have changed since Filter),
//    chooses the devices and assumes the pod in one write transaction, then runs PreBind/Bind
//    through the ports outside it; on failure Unreserve runs and the assumption is forgotten, so
//    the model is exactly as before. A bound pod stays assumed until the informer reports it
//    (OnPodBound), or until `assumed_ttl` passes, when it is forgotten (the Binding was lost).
//  - Preempt answers, per proposed node, the fewest lower-priority pods whose removal lets the pod
//    pass every Filter plugin (GPU shares, devices and topology included): all lower-priority
//    pods are removed, then as many as possible are kept, most important first, as
//    kube-scheduler's own preemption does. Nodes where even that does not help are dropped.
//  - Informer events (OnNode*, OnPod*) are writes: each is one transaction.
//  - Gangs (PodInfo::gang with min_member > 1; plugins/gang/README.md has the design). The first
//    Filter of a member plans the members the quorum still needs on the snapshot, with the
//    profile's own Filter/Score/Reserve, and holds the plan in the model as placeholder pods
//    (capacity every other pod sees as used) until a deadline. Filter then admits members only
//    onto nodes with an unused slot (judged as if the slot's placeholder were gone), Prioritize
//    puts such a node on top, and Bind swaps one placeholder for the member in one transaction,
//    so every member of a planned quorum can bind and none binds without a plan. Unused slots are
//    released at the deadline and the gang backs off. A gang that cannot plan releases the plans
//    of later gangs (priority, then age, then name) that have no member bound yet, and tries
//    again: gangs never hold parts of each other's capacity. Use a profile without the Gang
//    plugin here (its Permit stage does not exist under kube-scheduler).
//
// Metrics (through the framework's MetricsScope), each also logged when it happens:
//   gpusched_assumed_pods_expired_total            bound pods the informer never confirmed
//   gpusched_binds_total{result}                   ok | refused (no longer fits) | error
//   gpusched_gang_plans_total{result}              planned | unschedulable | released
//   gpusched_gang_wait_seconds{result}             histogram: how long a plan held capacity
//                                                  until bound | released
//
// Thread-safety: every public method may be called from any thread at any time. Lock order:
// alive_->mu (timer callbacks) -> gangs_mu_ -> mu_ -> the store's locks. Calls for gang members
// are serialized by gangs_mu_ (they are few; other pods never take it). Verbs never hold mu_ while running
// plugins. The Clock's timer thread runs the assumed-pod sweep; destroying the LiveScheduler
// waits for a sweep in progress and cancels the next one. Destroy it before its Framework,
// store and clock.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "common/mutex.h"
#include "common/clock.h"
#include "common/log.h"
#include "scheduler/cache/snapshot_store.h"
#include "scheduler/runtime/framework.h"

namespace gpusched::runtime {

using framework::NodeSpec;

// A uniform random bit generator that concurrent requests may share (a mutex around a seeded
// mt19937_64), for FrameworkDeps::rng in the live programs.
class LockedBitGen {
 public:
  using result_type = std::mt19937_64::result_type;
  explicit LockedBitGen(uint64_t seed) : gen_(seed) {}
  static constexpr result_type min() { return std::mt19937_64::min(); }
  static constexpr result_type max() { return std::mt19937_64::max(); }
  result_type operator()() ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock l(&mu_);
    return gen_();
  }

 private:
  Mutex mu_;
  std::mt19937_64 gen_ ABSL_GUARDED_BY(mu_);
};

struct LiveOptions {
  // How long a bound pod may stay unconfirmed by the informer before it is forgotten.
  absl::Duration assumed_ttl = absl::Seconds(30);
  // How often the sweep for expired assumptions runs (on the Clock's timer thread); infinite: no
  // timer (the owner calls ExpireAssumed, as the simulator does).
  absl::Duration sweep_every = absl::Seconds(5);
  // How long a gang's plan holds capacity for members not bound yet, unless the gang declares
  // its own timeout; and how long a gang whose plan expired waits before planning again.
  absl::Duration gang_timeout = absl::Seconds(60);
  absl::Duration gang_backoff = absl::Seconds(10);
  // Where state changes are logged (a binding lost, a plan released, a failed bind); null:
  // silent. Never per node or per Filter/Prioritize request.
  log::Logger* logger = nullptr;
};

class LiveScheduler {
 public:
  // `fw` must have been built without FrameworkDeps::cache. The scheduler starts its sweep timer.
  LiveScheduler(Framework& fw, cache::SnapshotStore& store, Clock& clock, LiveOptions options = {});
  ~LiveScheduler();
  LiveScheduler(const LiveScheduler&) = delete;
  LiveScheduler& operator=(const LiveScheduler&) = delete;

  // ---- Verbs.
  Framework::FilterVerdicts Filter(const PodInfo& pod, const std::vector<NodeId>& candidates);
  absl::StatusOr<Framework::Priorities> Prioritize(const PodInfo& pod,
                                                   const std::vector<NodeId>& nodes);
  struct BindResult {
    framework::Status status;     // Success, a rejection (node no longer fits), or Error
    std::vector<GpuShare> gpus;   // the devices chosen, on success
  };
  BindResult Bind(const PodInfo& pod, const NodeId& node);
  struct NodeVictims {
    NodeId node;
    std::vector<PodUid> pods;  // in the order they should be evicted (least important first)
  };
  // `proposed`: kube-scheduler's candidate nodes (its victims there are only a hint: they may
  // free no usable GPU). Result in node-name order.
  std::vector<NodeVictims> Preempt(const PodInfo& pod,
                                   const std::map<NodeId, std::vector<PodUid>>& proposed);

  // ---- Informer events.
  absl::Status OnNodeAdd(NodeSpec spec);
  // A node's spec changed; only its own pods are re-checked.
  absl::Status OnNodeUpdate(NodeSpec spec);
  absl::Status OnNodeDelete(const NodeId& node);
  // The API server shows `pod` on `node` (Add or Update): confirms a pod we assumed there (not
  // an AlreadyExists error), moves a pod whose node or devices changed, or adds a pod someone
  // else bound. Empty `gpus` for a pod we assumed keeps our devices; for a GPU pod someone else
  // bound without a device assignment, the model takes the devices TryAllocate would choose.
  absl::Status OnPodBound(const PodInfo& pod, const NodeId& node, std::vector<GpuShare> gpus);
  // The pod is gone (deleted, or Succeeded/Failed). NotFound-tolerant.
  absl::Status OnPodDeleted(const PodUid& uid);
  // The node agent's final device mapping: each listed pod on `node` holds these devices (two
  // pods of one shape admitted by the kubelet in the other order than they were bound swap
  // devices). Applied all at once, so a swap never passes through an over-full GPU; pods not
  // in the model or on another node are skipped. Returns how many pods changed; on
  // FailedPrecondition (the mapping does not fit) the model is as before.
  absl::StatusOr<int> OnDevicesReported(
      const NodeId& node, const std::vector<std::pair<PodUid, std::vector<GpuShare>>>& held);

  // Forgets bound pods the informer has not confirmed within the TTL; returns how many.
  size_t ExpireAssumed() ABSL_LOCKS_EXCLUDED(mu_);
  // Releases the unused slots of gang plans past their deadline; returns how many plans.
  size_t ExpireGangPlans() ABSL_LOCKS_EXCLUDED(gangs_mu_);

  // What is held for a gang, for tests and "why pending" answers; nullopt for an unknown gang.
  struct GangView {
    int slots = 0;                // planned member slots of the current attempt
    int used = 0;                 // of them, taken by a bound member
    std::vector<NodeId> nodes;    // nodes of the unused slots
    absl::Time deadline = absl::InfiniteFuture();
    absl::Time backoff_until = absl::InfinitePast();
    std::string last_release;     // why the last plan was released ("" if never)
  };
  std::optional<GangView> InspectGang(const GangId& id) const ABSL_LOCKS_EXCLUDED(gangs_mu_);
  // Whether `uid` names a gang plan's placeholder (never a real pod).
  static bool IsPlaceholder(const PodUid& uid);

  cache::SnapshotRef Snapshot() const { return store_.Current(); }
  Framework& framework() { return fw_; }

 private:
  struct Alive {
    Mutex mu;
    LiveScheduler* self ABSL_GUARDED_BY(mu) = nullptr;
    Clock::TimerId timer ABSL_GUARDED_BY(mu) = 0;
  };
  static void ArmSweep(const std::shared_ptr<Alive>& alive, Clock& clock, absl::Duration every)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(alive->mu);

  // Gangs.
  struct Slot {
    PodInfo placeholder;       // the member's shape under a placeholder uid, no gang
    NodeId node;
    std::vector<GpuShare> gpus;
    PodUid member;             // empty while unused
  };
  struct GangState {
    framework::GangRef ref;
    int32_t priority = 0;
    absl::Time created = absl::InfiniteFuture();  // oldest member seen
    std::vector<Slot> slots;                       // the current plan; empty: none
    absl::Time planned_at = absl::InfinitePast();  // when the current plan was made
    absl::Time deadline = absl::InfiniteFuture();
    absl::Time backoff_until = absl::InfinitePast();
    std::string last_release;
    uint64_t attempts = 0;
    // The model generation at which the last plan failed, and why: until the model changes,
    // planning again would fail the same way (and costs a copy of the cluster).
    uint64_t failed_generation = UINT64_MAX;
    framework::Status failed_status;
  };
  static bool IsGangMember(const PodInfo& pod) { return pod.gang && pod.gang->min_member > 1; }
  // gpusched_gang_wait_seconds{result}: how long a plan held its gang's capacity until every
  // planned member was bound (result "bound") or the plan was released ("released").
  void ObserveGangWait(const GangState& g, std::string_view result);
  static bool Before(const GangState& a, const GangState& b);
  // Makes sure the member's gang has a plan if it needs one; the status says why not.
  framework::Status EnsurePlan(const PodInfo& pod) ABSL_EXCLUSIVE_LOCKS_REQUIRED(gangs_mu_);
  // Plans `needed` member slots on a private copy of `snap` from which the placeholders in
  // `ignore` are removed; writes nothing.
  framework::Status PlanSlots(const GangState& g, const PodInfo& pod, int needed,
                              const cache::ClusterCache& snap,
                              const std::vector<const Slot*>& ignore, std::vector<Slot>& slots)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(gangs_mu_);
  // Holds `slots` for `g` in the model, releasing the unused placeholders of `yielders` in the
  // same transaction; all or nothing.
  framework::Status HoldPlan(GangState& g, std::vector<Slot> slots,
                             const std::vector<GangState*>& yielders)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(gangs_mu_);
  // Removes `uid` from the model (only if assumed, when `assumed_only`); a gang member that held
  // a slot of its gang's plan gives the slot back to a placeholder (or, if that no longer fits,
  // the plan is released: it cannot hold the quorum any more).
  absl::Status RemoveFromModel(const PodUid& uid, bool assumed_only)
      ABSL_LOCKS_EXCLUDED(gangs_mu_, mu_);
  void ReleasePlan(GangState& g, std::string reason) ABSL_EXCLUSIVE_LOCKS_REQUIRED(gangs_mu_);
  Slot* FreeSlotOn(GangState& g, const NodeId& node) ABSL_EXCLUSIVE_LOCKS_REQUIRED(gangs_mu_);
  // Slots of the current plan taken by a bound member.
  static int UsedSlots(const GangState& g);
  // Releases the plan if its deadline has passed; true if it did.
  bool ReleaseIfExpired(GangState& g, absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(gangs_mu_);
  Framework::FilterVerdicts FilterMember(const PodInfo& pod, const std::vector<NodeId>& candidates)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(gangs_mu_);
  BindResult BindMember(const PodInfo& pod, const NodeId& node)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(gangs_mu_);
  BindResult BindPod(const PodInfo& pod, const NodeId& node);
  // After a successful Binding: the pod waits for the informer's confirmation; PostBind runs.
  void AfterBind(CycleState& state, const PodInfo& pod, const NodeId& node)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Counts (and logs, when a logger is set) one event.
  void Count(std::string_view metric, std::string_view help, std::string_view result);
  void Log(log::Level level, std::string_view message, log::Fields fields);
  void CountBind(const PodInfo& pod, const NodeId& node, const framework::Status& status);

  // Constant after construction.
  Framework& fw_;
  cache::SnapshotStore& store_;
  Clock& clock_;
  const LiveOptions options_;
  const std::shared_ptr<Alive> alive_;

  mutable Mutex gangs_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  absl::flat_hash_map<GangId, GangState> gangs_ ABSL_GUARDED_BY(gangs_mu_);

  Mutex mu_;
  // Bound by us, not yet confirmed by the informer: since when.
  absl::flat_hash_map<PodUid, absl::Time> unconfirmed_ ABSL_GUARDED_BY(mu_);
};

}  // namespace gpusched::runtime
