#pragma once

// The agent protocol (agent/proto/agent.proto) checked and translated, for both ends: the agent
// builds NodeState messages with these functions and the extender accepts them only through
// ValidateNodeState, so neither trusts what came over the wire.
//
//   RETURN_IF_ERROR(ValidateNodeState(msg));               // names the field: "gpus[2].memory_mib: ..."
//   ASSIGN_OR_RETURN(AgentInventory inv, InventoryFromState(msg));
//   inv.gpus[0].headroom;                                  // 0.6: probes found 40 % taken by others
//
// Limits (a message beyond them is rejected as a whole, never truncated): kMaxGpus GPUs,
// kMaxTopologyDevices devices and kMaxTopologyLinks links, kMaxAllocations allocations, strings
// of kMaxString bytes, memory up to kMaxMemoryMiB per GPU, fractions in [0, 1], finite numbers.
//
// Stateless; safe from any thread.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "agent/proto/agent.pb.h"
#include "scheduler/api/node_info.h"
#include "topology/gpu_topology.h"

namespace gpusched::agent {

namespace pb = ::gpusched::agent::v1;

inline constexpr int kMaxGpus = 64;
inline constexpr int kMaxTopologyDevices = 1024;
inline constexpr int kMaxTopologyLinks = 8192;
inline constexpr int kMaxAllocations = 4096;
inline constexpr size_t kMaxString = 256;
inline constexpr int64_t kMaxMemoryMiB = int64_t{1} << 24;  // 16 TiB per GPU

// Every field of a NodeState within the limits above and consistent with itself: node_name and
// incarnation set, sequence >= 1, GPU i has index i, a model and memory > 0, fractions in [0, 1],
// the topology (when present) builds and has exactly one GPU per entry of `gpus`, allocations
// name GPUs that exist with 0..1000 milli and memory within the GPU's (not both 0), and a pod
// uid unless ALLOCATED or CONFIRMED (the reservation book's entries for devices whose pod it does
// not know have none). The error names the first offending field.
absl::Status ValidateNodeState(const pb::NodeState& state);
// The same, with the topology taken as already checked when `topology_known` (a receiver that
// kept the previous message's topology and sees the same bytes again: building a topology is
// the expensive part of a check).
absl::Status ValidateNodeState(const pb::NodeState& state, bool topology_known);
absl::Status ValidateReserveRequest(const pb::ReserveRequest& request);

// A share as the scheduler writes it, and back. ShareFromProto assumes a validated message.
void ShareToProto(const framework::GpuShare& share, pb::Share* out);
framework::GpuShare ShareFromProto(const pb::Share& share);

void TopologyToProto(const topology::GpuTopology& t, pb::Topology* out);
absl::StatusOr<topology::GpuTopology> TopologyFromProto(const pb::Topology& t);

// What the extender's model takes from a validated NodeState.
struct AgentInventory {
  std::vector<framework::GpuDevice> gpus;  // index == GPU index; headroom from the probes
  std::shared_ptr<const topology::GpuTopology> topology;  // null when the agent sent none
};
absl::StatusOr<AgentInventory> InventoryFromState(const pb::NodeState& state);
// The same, reusing `known` as the topology when the caller knows the message's topology is the
// one `known` was built from (same bytes as before); null: build it.
absl::StatusOr<AgentInventory> InventoryFromState(const pb::NodeState& state,
                                                  std::shared_ptr<const topology::GpuTopology> known);

}  // namespace gpusched::agent
