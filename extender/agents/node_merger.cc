#include "extender/agents/node_merger.h"

#include <cmath>
#include <utility>

#include "common/status_macros.h"
#include "absl/strings/str_cat.h"

namespace gpusched::extender {
namespace {

// Same wiring: the same object, or the same devices and links (a new message rebuilds it).
bool SameTopology(const std::shared_ptr<const topology::GpuTopology>& a,
                  const std::shared_ptr<const topology::GpuTopology>& b) {
  if (a == b) return true;
  if (!a || !b) return false;
  if (a->devices().size() != b->devices().size() || a->links().size() != b->links().size()) return false;
  for (size_t i = 0; i < a->devices().size(); ++i) {
    const topology::Device& x = a->devices()[i];
    const topology::Device& y = b->devices()[i];
    if (x.kind != y.kind || x.name != y.name || x.numa != y.numa) return false;
  }
  for (size_t i = 0; i < a->links().size(); ++i) {
    const topology::Link& x = a->links()[i];
    const topology::Link& y = b->links()[i];
    if (x.a != y.a || x.b != y.b || x.kind != y.kind || x.count != y.count ||
        x.generation != y.generation || x.width != y.width || x.gbps != y.gbps) {
      return false;
    }
  }
  return true;
}

}  // namespace

bool NodeMerger::SameGpus(const std::vector<framework::GpuDevice>& a,
                          const std::vector<framework::GpuDevice>& b) const {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    const framework::GpuDevice& x = a[i];
    const framework::GpuDevice& y = b[i];
    if (x.model != y.model || x.memory != y.memory || x.healthy != y.healthy ||
        x.topology_group != y.topology_group || std::fabs(x.headroom - y.headroom) >= headroom_step_) {
      return false;
    }
  }
  return true;
}

framework::NodeSpec NodeMerger::Merge(const Entry& e) const {
  framework::NodeSpec spec = *e.api;
  if (!e.agent) return spec;
  if (e.stale && mode_ == StaleMode::kFallback) return spec;
  spec.gpus = e.agent->gpus;
  if (e.agent->topology) spec.topology = e.agent->topology;
  if (spec.topology && spec.topology->gpu_count() != static_cast<int>(spec.gpus.size())) {
    spec.topology = nullptr;  // the API's preset does not describe the agent's GPUs
  }
  if (e.stale) {
    for (framework::GpuDevice& g : spec.gpus) g.healthy = false;
  }
  return spec;
}

bool NodeMerger::SameButHeadroom(const framework::NodeSpec& a, const framework::NodeSpec& b) const {
  if (a.name != b.name || a.labels != b.labels || a.taints != b.taints ||
      a.unschedulable != b.unschedulable || a.cpu != b.cpu || a.memory != b.memory ||
      a.max_pods != b.max_pods || a.gpus.size() != b.gpus.size() || !SameTopology(a.topology, b.topology)) {
    return false;
  }
  return SameGpus(a.gpus, b.gpus);
}

absl::Status NodeMerger::PushLocked(const NodeId& node, Entry& e) {
  if (!e.api) return absl::OkStatus();
  framework::NodeSpec merged = Merge(e);
  if (e.applied && SameButHeadroom(*e.applied, merged)) return absl::OkStatus();
  if (e.agent && !e.stale && e.api->gpus.size() != e.agent->gpus.size() && !e.warned_mismatch && logger_) {
    e.warned_mismatch = true;
    logger_->Warn("the node's agent reports another GPU count than the Node object; using the agent's",
                  {{"node", node.str()},
                   {"agent", absl::StrCat(e.agent->gpus.size())},
                   {"api", absl::StrCat(e.api->gpus.size())}});
  }
  absl::Status s = e.applied ? live_.OnNodeUpdate(merged) : live_.OnNodeAdd(merged);
  if (!s.ok() && !e.applied && absl::IsAlreadyExists(s)) s = live_.OnNodeUpdate(merged);
  if (s.ok()) {
    e.applied = std::move(merged);
    metrics_.GetCounter("gpusched_node_model_updates_total", "Node specs written to the model, by cause.",
                        {{"source", e.agent && !e.stale ? "agent" : "api"}})
        .Increment();
  } else if (logger_) {
    logger_->Warn("node not applied to the model", {{"node", node.str()}, {"error", MessageOf(s)}});
  }
  return s;
}

absl::Status NodeMerger::OnApiNode(framework::NodeSpec spec) {
  MutexLock l(&mu_);
  const NodeId node = spec.name;
  Entry& e = nodes_[node];
  e.api = std::move(spec);
  return PushLocked(node, e);
}

absl::Status NodeMerger::OnApiNodeDelete(const NodeId& node) {
  MutexLock l(&mu_);
  auto it = nodes_.find(node);
  if (it == nodes_.end()) return live_.OnNodeDelete(node);
  it->second.api.reset();
  it->second.applied.reset();
  if (!it->second.agent) nodes_.erase(it);
  return live_.OnNodeDelete(node);
}

bool NodeMerger::SameInventory(const agent::AgentInventory& a, const agent::AgentInventory& b) const {
  if (a.gpus.size() != b.gpus.size() || !SameTopology(a.topology, b.topology)) return false;
  return SameGpus(a.gpus, b.gpus);
}

void NodeMerger::OnAgentState(const NodeId& node, agent::AgentInventory inventory) {
  MutexLock l(&mu_);
  Entry& e = nodes_[node];
  // Most messages are heartbeats and probe jitter: nothing the model would see.
  if (e.agent && !e.stale && e.applied && SameInventory(*e.agent, inventory)) return;
  const bool was_stale = e.stale;
  e.agent = std::move(inventory);
  e.stale = false;
  if (was_stale && logger_) logger_->Info("node's GPUs from its agent again", {{"node", node.str()}});
  (void)PushLocked(node, e);
}

void NodeMerger::OnAgentStale(const NodeId& node) {
  MutexLock l(&mu_);
  auto it = nodes_.find(node);
  if (it == nodes_.end() || !it->second.agent) return;
  it->second.stale = true;
  metrics_.GetCounter("gpusched_agent_degraded_nodes_total",
                      "Nodes whose GPU state fell back (or was fenced) because their agent went stale.",
                      {{"mode", mode_ == StaleMode::kFallback ? "fallback" : "avoid"}})
      .Increment();
  if (logger_) {
    logger_->Warn(mode_ == StaleMode::kFallback
                      ? "node's agent is stale: its GPUs come from the Node object until it is back"
                      : "node's agent is stale: GPU pods avoid the node until it is back",
                  {{"node", node.str()}});
  }
  (void)PushLocked(node, it->second);
}

std::optional<framework::NodeSpec> NodeMerger::Applied(const NodeId& node) const {
  MutexLock l(&mu_);
  auto it = nodes_.find(node);
  if (it == nodes_.end()) return std::nullopt;
  return it->second.applied;
}

std::optional<NodeMerger::Source> NodeMerger::SourceOf(const NodeId& node) const {
  MutexLock l(&mu_);
  auto it = nodes_.find(node);
  if (it == nodes_.end() || !it->second.applied) return std::nullopt;
  if (!it->second.agent) return Source::kApi;
  return it->second.stale ? Source::kAgentStale : Source::kAgent;
}

}  // namespace gpusched::extender
