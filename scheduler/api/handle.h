#pragma once

// What a plugin may use: everything arrives through the Handle (design G8); there are no globals.
// The live programs and the simulator differ only in what they put behind these interfaces
// (ports, design G15).
//
//   absl::StatusOr<std::unique_ptr<Plugin>> New(const PluginArgs& args, Handle& h) {
//     return std::make_unique<MyPlugin>(h.clock(), h.metrics());
//   }

#include <algorithm>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/random/bit_gen_ref.h"
#include "absl/status/status.h"
#include "absl/types/span.h"
#include "common/clock.h"
#include "common/ids.h"
#include "common/metrics/metrics_scope.h"
#include "scheduler/api/cycle_state.h"
#include "scheduler/api/node_info.h"
#include "scheduler/api/pod_info.h"

namespace gpusched::framework {

// A pod the model holds on a node: reserved by a scheduling cycle (assumed: waiting on Permit or
// binding) or bound.
enum class PodState : uint8_t { kAssumed, kBound };
struct PlacedPod {
  PodInfo pod;
  NodeId node;
  std::vector<GpuShare> gpus;
  PodState state = PodState::kBound;
};

// A read-only view of the cluster model. Stable during a scheduling cycle; changes only between
// cycles (on the scheduling thread). Concurrent const access is safe.
class ClusterSnapshot {
 public:
  virtual ~ClusterSnapshot() = default;
  // Every node, in a stable order (insertion order, with removals filled from the back).
  virtual const std::vector<const NodeInfo*>& Nodes() const = 0;
  virtual const NodeInfo* FindNode(const NodeId& name) const = 0;
  // FindNode for each of `names` into `out` (same size). Models may make a run of names that
  // follows their own node order cheaper than one lookup each (ClusterCache does).
  virtual void FindNodes(absl::Span<const NodeId> names, absl::Span<const NodeInfo*> out) const {
    for (size_t i = 0; i < names.size(); ++i) out[i] = FindNode(names[i]);
  }
  // A placed pod (assumed or bound); nullptr if the model holds no such pod.
  virtual const PlacedPod* FindPod(const PodUid& uid) const = 0;
  // Every placed pod, in no particular order (for PostFilter work such as preemption).
  virtual void ForEachPod(absl::FunctionRef<void(const PlacedPod&)> fn) const = 0;
  // The placed pods of one gang (PodInfo::gang), in no particular order; indexed, so cheap
  // enough for every scheduling cycle.
  virtual void ForEachGangMember(const GangId& gang,
                                 absl::FunctionRef<void(const PlacedPod&)> fn) const = 0;
};

// Port: makes a placement real (Kubernetes Binding + device annotation, or a simulated bind).
class Binder {
 public:
  virtual ~Binder() = default;
  // Called from the binding cycle, on the scheduling thread.
  virtual absl::Status Bind(const PodInfo& pod, const NodeId& node,
                            absl::Span<const GpuShare> gpus) = 0;
};

// Port: removes a running pod to make room for a higher-priority one (the Kubernetes Eviction API,
// or the simulator ending the victim's job). Preemption plugins call it from PostFilter; the
// victim's capacity is free once the owner has removed it from the model.
class Evictor {
 public:
  virtual ~Evictor() = default;
  virtual absl::Status Evict(const PodInfo& victim, std::string_view reason) = 0;
};

// Pods that passed Reserve and wait on a Permit plugin (gangs). Allow/Reject are called on the
// scheduling thread (typically by a Permit plugin when another member arrives).
class WaitingPods {
 public:
  virtual ~WaitingPods() = default;
  // The plugin `plugin` no longer holds `pod` back. When no plugin holds it, it goes on to bind.
  // False if the pod is not waiting (or `plugin` was not holding it).
  virtual bool Allow(const PodUid& pod, std::string_view plugin) = 0;
  // Rejects the waiting pod: Unreserve runs and its reservation is released.
  virtual bool Reject(const PodUid& pod, std::string_view plugin, std::string_view reason) = 0;
  virtual bool IsWaiting(const PodUid& pod) const = 0;
  virtual std::vector<PodUid> List() const = 0;
};

class Handle {
 public:
  virtual ~Handle() = default;
  virtual Clock& clock() = 0;
  // Randomness for tie-breaking; use only in the per-pod phases (PreFilter, PreScore, Reserve,
  // Permit...), never in Filter/Score. Live owners hand out a source that is safe to call from
  // concurrent requests (LockedBitGen, scheduler/runtime/live_scheduler.h).
  virtual absl::BitGenRef rng() = 0;
  // The owner's model on the owner's thread (the simulator's cache). Plugins read the cycle's
  // model through SnapshotOf(state, handle) instead: in the extender every request has its own.
  virtual const ClusterSnapshot& snapshot() const = 0;
  virtual metrics::MetricsScope& metrics() = 0;
  virtual WaitingPods& waiting_pods() = 0;
  virtual Binder& binder() = 0;
  // nullptr when the owner does not allow preemption.
  virtual Evictor* evictor() = 0;
  // Runs fn over [0, n) in chunks of `chunk` on the owner's worker pool (kube-scheduler's
  // Handle.Parallelizer), for PreScore work over every feasible node; fn runs concurrently on
  // disjoint chunks. The default runs them in order on the caller's thread.
  virtual void ParallelFor(size_t n, size_t chunk, absl::FunctionRef<void(size_t, size_t)> fn) {
    for (size_t b = 0; b < n; b += chunk) fn(b, std::min(n, b + chunk));
  }
};

// The model a cycle reads: the CycleState's snapshot when the runtime set one (always, in the
// runtime), else the handle's (plugin unit tests with a FakeHandle).
inline const ClusterSnapshot& SnapshotOf(const CycleState& state, const Handle& handle) {
  return state.snapshot() != nullptr ? *state.snapshot() : handle.snapshot();
}

}  // namespace gpusched::framework
