#pragma once

// The extension points of the scheduling framework, one abstract class each, mirroring
// kube-scheduler's (design G1). A plugin derives from the points it implements:
//
//   class NodeResourcesFit final : public PreFilterPlugin, public FilterPlugin,
//                                  public ScorePlugin, public ReservePlugin {
//    public:
//     std::string_view Name() const override { return "NodeResourcesFit"; }
//     Status PreFilter(CycleState&, const PodInfo&, PreFilterResult&) override;
//     ...
//   };
//
// The runtime finds the points with dynamic_cast once, when the framework is built. Order of one
// pod's cycle: PreFilter -> Filter (per node, in parallel) -> [PostFilter if no node fits] ->
// PreScore -> Score (per node, in parallel) -> NormalizeScore -> pick node -> Reserve -> Permit
// -> PreBind -> Bind -> PostBind. A failure after Reserve runs Unreserve on every Reserve plugin,
// in reverse order.
//
// Threading: Filter and Score run concurrently for different nodes and get const state; every
// other method runs on the scheduling thread.

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "absl/time/time.h"
#include "common/ids.h"
#include "scheduler/api/cycle_state.h"
#include "scheduler/api/node_info.h"
#include "scheduler/api/pod_info.h"
#include "scheduler/api/status.h"

namespace gpusched::framework {

// Scores returned by NormalizeScore (and by Score for plugins without it) lie in [0, kMaxNodeScore].
inline constexpr int64_t kMinNodeScore = 0;
inline constexpr int64_t kMaxNodeScore = 100;

class Plugin {
 public:
  virtual ~Plugin() = default;
  // Unique within a profile; the name used in profiles, metrics and status messages. The view
  // must stay valid as long as the plugin's verdicts are used (a literal, as in-tree plugins do).
  virtual std::string_view Name() const = 0;
};

// Orders the scheduling queue. Exactly zero or one per profile.
class QueueSortPlugin : public virtual Plugin {
 public:
  // True if `a` should be scheduled before `b`. Must be a strict weak ordering.
  virtual bool Less(const PodInfo& a, const PodInfo& b) const = 0;
};

struct PreFilterResult {
  // When set, only these nodes are candidates (the runtime intersects results of all plugins).
  std::optional<std::vector<NodeId>> nodes;
};

class PreFilterPlugin : public virtual Plugin {
 public:
  // Computes per-pod data once per cycle and stores it in `state` (design G4). Returns Success,
  // Skip (this plugin's Filter is not run for this pod), a rejection (the pod is unschedulable
  // everywhere; no Filter runs), or Error.
  virtual Status PreFilter(CycleState& state, const PodInfo& pod, PreFilterResult& result) = 0;
};

class FilterPlugin : public virtual Plugin {
 public:
  // Whether `pod` may run on `node`: Success, Unschedulable (not now: preemption or freed
  // capacity may help), UnschedulableAndUnresolvable (never on this node), or Error. Called
  // concurrently for different nodes; must not modify anything.
  virtual Status Filter(const CycleState& state, const PodInfo& pod,
                        const NodeInfo& node) const = 0;
};

// Per-node verdicts of the Filter phase, for PostFilter plugins and diagnostics.
struct NodeVerdict {
  const NodeInfo* node = nullptr;
  Status status;
};

struct PostFilterResult {
  std::optional<NodeId> nominated_node;  // e.g. where preemption made room
};

class PostFilterPlugin : public virtual Plugin {
 public:
  // Runs only when no node passed Filter (e.g. preemption). Success with a nominated node stops
  // the remaining PostFilter plugins; Unschedulable means this plugin could not help.
  virtual Status PostFilter(CycleState& state, const PodInfo& pod,
                            const std::vector<NodeVerdict>& verdicts,
                            PostFilterResult& result) = 0;
};

class PreScorePlugin : public virtual Plugin {
 public:
  // Computes per-pod data for Score over the feasible nodes. Skip skips this plugin's Score.
  virtual Status PreScore(CycleState& state, const PodInfo& pod,
                          const std::vector<const NodeInfo*>& feasible) = 0;
};

struct NodeScore {
  const NodeInfo* node = nullptr;
  int64_t score = 0;
};
using NodeScoreList = std::vector<NodeScore>;

class ScorePlugin : public virtual Plugin {
 public:
  // Ranks a feasible node; higher is better. Called concurrently for different nodes.
  virtual Status Score(const CycleState& state, const PodInfo& pod, const NodeInfo& node,
                       int64_t& score) const = 0;
  // Scores nodes[begin, end) of the list PreScore was given into scores[i].score, i in
  // [begin, end). The runtime calls this, in chunks, concurrently for disjoint ranges. The
  // default calls Score for each node; a plugin that computed every score in PreScore overrides
  // it to read them by position instead of looking each node up. An error names the node.
  virtual Status ScoreRange(const CycleState& state, const PodInfo& pod,
                            const std::vector<const NodeInfo*>& nodes, size_t begin, size_t end,
                            std::vector<NodeScore>& scores) const;
  // Maps the raw scores of all feasible nodes into [kMinNodeScore, kMaxNodeScore]. The default
  // keeps them as they are (Score must then already return that range). The runtime rejects
  // out-of-range results with an Error and multiplies by the profile weight.
  virtual Status NormalizeScore(const CycleState& state, const PodInfo& pod,
                                NodeScoreList& scores) const {
    return Status::Success();
  }
};

// Maps raw scores linearly onto [0, kMaxNodeScore] by the largest one; `reverse` makes lower raw
// scores better. All-zero input gives all 0 (or all kMaxNodeScore when reversed).
void DefaultNormalizeScore(int64_t max_priority, bool reverse, NodeScoreList& scores);

class ReservePlugin : public virtual Plugin {
 public:
  // Claims what this plugin tracks for `pod` on `node` before binding (e.g. chooses devices and
  // writes kDeviceAssignmentKey). A failure runs Unreserve on every Reserve plugin.
  virtual Status Reserve(CycleState& state, const PodInfo& pod, const NodeInfo& node) = 0;
  // Undoes Reserve. Must be idempotent and must tolerate being called when Reserve never ran or
  // failed for this pod. Cannot fail.
  virtual void Unreserve(CycleState& state, const PodInfo& pod, const NodeId& node) = 0;
};

class PermitPlugin : public virtual Plugin {
 public:
  // Success (go on to bind), Wait with `timeout` set (hold the pod until WaitingPods::Allow or
  // Reject, or until the timeout rejects it), or a rejection/Error (Unreserve runs).
  virtual Status Permit(CycleState& state, const PodInfo& pod, const NodeId& node,
                        absl::Duration& timeout) = 0;
};

class PreBindPlugin : public virtual Plugin {
 public:
  // Prepares the bind (e.g. hands the device choice to the node agent). Failure: Unreserve runs.
  virtual Status PreBind(CycleState& state, const PodInfo& pod, const NodeId& node) = 0;
};

class BindPlugin : public virtual Plugin {
 public:
  // Binds the pod, or returns Skip to let the next Bind plugin do it. The first non-Skip result
  // ends the phase; failure: Unreserve runs.
  virtual Status Bind(CycleState& state, const PodInfo& pod, const NodeId& node) = 0;
};

class PostBindPlugin : public virtual Plugin {
 public:
  // Informational, after a successful bind. Cannot fail.
  virtual void PostBind(CycleState& state, const PodInfo& pod, const NodeId& node) = 0;
};

}  // namespace gpusched::framework
