#include "agent/node_state.h"

#include <chrono>
#include <utility>

namespace gpusched::agent {

AgentState::AgentState(std::string node_name, const Inventory& inventory, std::string incarnation,
                       Clock& clock, absl::Duration heartbeat)
    : clock_(clock),
      heartbeat_(heartbeat),
      node_name_(node_name),
      gpu_count_(static_cast<int>(inventory.gpus.size())) {
  MutexLock l(&mu_);
  state_.set_node_name(node_name_);
  state_.set_incarnation(std::move(incarnation));
  state_.set_discovery(inventory.discovery);
  state_.set_heartbeat_ms(absl::ToInt64Milliseconds(heartbeat));
  for (const GpuInventory& g : inventory.gpus) {
    pb::Gpu* p = state_.add_gpus();
    p->set_index(g.index);
    p->set_uuid(g.uuid);
    p->set_model(g.model);
    p->set_memory_mib(g.memory_mib);
    p->set_pci_bus_id(g.pci_bus_id);
    p->set_sm_count(g.sm_count);
    p->set_numa(g.numa);
    p->set_healthy(true);
  }
  if (inventory.topology) TopologyToProto(*inventory.topology, state_.mutable_topology());
  BumpLocked();
}

void AgentState::BumpLocked() {
  state_.set_sequence(state_.sequence() + 1);
  state_.set_observed_unix_ms(absl::ToUnixMillis(clock_.Now()));
  changed_.SignalAll();
}

void AgentState::SetProbe(int gpu, const pb::Probe& probe) {
  if (gpu < 0 || gpu >= gpu_count_) return;
  MutexLock l(&mu_);
  *state_.mutable_gpus(gpu)->mutable_probe() = probe;
  BumpLocked();
}

void AgentState::SetUsage(int gpu, const pb::Usage& usage) {
  if (gpu < 0 || gpu >= gpu_count_) return;
  MutexLock l(&mu_);
  *state_.mutable_gpus(gpu)->mutable_usage() = usage;
  BumpLocked();
}

void AgentState::SetHealth(int gpu, bool healthy, std::string reason) {
  if (gpu < 0 || gpu >= gpu_count_) return;
  MutexLock l(&mu_);
  pb::Gpu* g = state_.mutable_gpus(gpu);
  if (g->healthy() == healthy && g->health_reason() == reason) return;
  g->set_healthy(healthy);
  g->set_health_reason(std::move(reason));
  BumpLocked();
}

void AgentState::SetAllocations(std::vector<pb::Allocation> allocations) {
  MutexLock l(&mu_);
  state_.clear_allocations();
  for (pb::Allocation& a : allocations) *state_.add_allocations() = std::move(a);
  BumpLocked();
}

void AgentState::Heartbeat() {
  MutexLock l(&mu_);
  BumpLocked();
}

pb::NodeState AgentState::Current() const {
  MutexLock l(&mu_);
  return state_;
}

uint64_t AgentState::sequence() const {
  MutexLock l(&mu_);
  return state_.sequence();
}

std::optional<pb::NodeState> AgentState::WaitNewer(uint64_t after, absl::Duration timeout) {
  const auto deadline = std::chrono::steady_clock::now() + absl::ToChronoNanoseconds(timeout);
  MutexLock l(&mu_);
  while (!shutdown_ && state_.sequence() <= after) {
    const auto left = deadline - std::chrono::steady_clock::now();
    if (left <= std::chrono::nanoseconds::zero()) break;
    changed_.WaitWithTimeout(&mu_, left);
  }
  if (shutdown_ || state_.sequence() <= after) return std::nullopt;
  return state_;
}

void AgentState::Shutdown() {
  MutexLock l(&mu_);
  shutdown_ = true;
  changed_.SignalAll();
}

bool AgentState::shut_down() const {
  MutexLock l(&mu_);
  return shutdown_;
}

}  // namespace gpusched::agent
