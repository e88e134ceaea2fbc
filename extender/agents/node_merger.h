#pragma once

// One node in the model from two sources: the Kubernetes Node (labels, taints, CPU, memory, and
// a GPU inventory read from allocatable and GPU Feature Discovery labels) and the node's agent
// (the GPUs it found, their health, wiring and measured headroom). The informer and the
// AgentHub both report here; the model gets the merged NodeSpec, and only when it changed.
//
//   NodeMerger merger(live, NodeMerger::StaleMode::kFallback, &logger);
//   merger.OnApiNode(spec);                     // informer: add or update
//   merger.OnAgentState(NodeId("n1"), inv);     // AgentHub: a fresh message
//   merger.OnAgentStale(NodeId("n1"));          // AgentHub: the agent went silent
//
// The merge: with a fresh agent, the node's GPUs are the agent's (model, memory, health,
// headroom) and so is the topology when the agent sent one; everything else is the API's.
// Without an agent, or once it is stale, `kFallback` uses the API's inventory again, and
// `kAvoid` keeps the agent's GPUs but marks them unhealthy, so GPU pods avoid the node until the
// agent is back (pods without GPUs still go there). A node the API does not list is not in the
// model, whatever its agent says.
//
// Headroom moves a little with every probe; the model is updated when some GPU's headroom moved
// by `headroom_step` or more since the last update (or anything else changed), so a steady
// stream of agent messages costs a comparison, not a model write.
//
// Thread-safety: every method may be called from any thread; one mutex guards the per-node
// records and is held while the model is written, so two writes for one node never reorder
// (lock order: NodeMerger::mu_ -> LiveScheduler's locks).

#include <map>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "agent/wire.h"
#include "common/log.h"
#include "common/metrics/metrics_scope.h"
#include "common/mutex.h"
#include "scheduler/runtime/live_scheduler.h"

namespace gpusched::extender {

class NodeMerger {
 public:
  enum class StaleMode { kFallback, kAvoid };
  NodeMerger(runtime::LiveScheduler& live, metrics::MetricsScope& metrics, StaleMode mode,
             log::Logger* logger = nullptr, double headroom_step = 0.05)
      : live_(live), metrics_(metrics), mode_(mode), logger_(logger), headroom_step_(headroom_step) {}

  // The informer's node events; the result is the model's answer.
  absl::Status OnApiNode(framework::NodeSpec spec) ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status OnApiNodeDelete(const NodeId& node) ABSL_LOCKS_EXCLUDED(mu_);
  // The agent's view; applied when the API lists the node.
  void OnAgentState(const NodeId& node, agent::AgentInventory inventory) ABSL_LOCKS_EXCLUDED(mu_);
  void OnAgentStale(const NodeId& node) ABSL_LOCKS_EXCLUDED(mu_);

  // What the model has for a node now, as merged (tests, "why pending").
  std::optional<framework::NodeSpec> Applied(const NodeId& node) const ABSL_LOCKS_EXCLUDED(mu_);
  enum class Source { kApi, kAgent, kAgentStale };
  std::optional<Source> SourceOf(const NodeId& node) const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Entry {
    std::optional<framework::NodeSpec> api;
    std::optional<agent::AgentInventory> agent;
    bool stale = false;
    std::optional<framework::NodeSpec> applied;  // what the model has
    bool warned_mismatch = false;
  };
  framework::NodeSpec Merge(const Entry& e) const;
  bool SameButHeadroom(const framework::NodeSpec& a, const framework::NodeSpec& b) const;
  bool SameInventory(const agent::AgentInventory& a, const agent::AgentInventory& b) const;
  // Same GPUs for the model: headroom within headroom_step_, everything else equal.
  bool SameGpus(const std::vector<framework::GpuDevice>& a, const std::vector<framework::GpuDevice>& b) const;
  absl::Status PushLocked(const NodeId& node, Entry& e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  runtime::LiveScheduler& live_;
  metrics::MetricsScope& metrics_;
  const StaleMode mode_;
  log::Logger* const logger_;
  const double headroom_step_;
  mutable Mutex mu_;
  std::map<NodeId, Entry> nodes_ ABSL_GUARDED_BY(mu_);
};

}  // namespace gpusched::extender
