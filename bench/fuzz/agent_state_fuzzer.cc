// Fuzzes what the extender accepts from a node agent (agent/wire.h): the bytes of a NodeState
// as they come off the gRPC stream. An accepted message must give an inventory the model takes
// (NodeInfo::Create), with a topology that matches its GPUs; the known-topology shortcut must
// agree with the full check; a ReserveRequest read from the same bytes is validated too.

#include <cstddef>
#include <cstdint>
#include <memory>

#include "agent/proto/agent.pb.h"
#include "agent/wire.h"
#include "bench/fuzz/fuzz_check.h"
#include "scheduler/api/node_info.h"

namespace agent = gpusched::agent;
namespace framework = gpusched::framework;
using gpusched::fuzz::CheckError;
using gpusched::fuzz::CheckOk;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  agent::pb::ReserveRequest reserve;
  if (reserve.ParseFromArray(data, static_cast<int>(size))) {
    CheckError(agent::ValidateReserveRequest(reserve));
  }
  agent::pb::NodeState state;
  if (!state.ParseFromArray(data, static_cast<int>(size))) return 0;
  absl::StatusOr<agent::AgentInventory> inv = agent::InventoryFromState(state);
  CheckError(inv.status());
  if (state.topology_unchanged()) {
    // It refers to a topology sent earlier on the stream: without one it is refused, whatever
    // the context-free check says.
    FUZZ_CHECK(!inv.ok());
    return 0;
  }
  FUZZ_CHECK(inv.ok() == agent::ValidateNodeState(state).ok());
  if (!inv.ok()) return 0;

  FUZZ_CHECK(static_cast<int>(inv->gpus.size()) == state.gpus_size());
  FUZZ_CHECK(inv->gpus.size() <= static_cast<size_t>(agent::kMaxGpus));
  for (const framework::GpuDevice& g : inv->gpus) {
    FUZZ_CHECK(g.memory.value() > 0);
    FUZZ_CHECK(g.headroom >= 0 && g.headroom <= 1);
  }
  if (inv->topology) {
    FUZZ_CHECK(inv->topology->gpu_count() == state.gpus_size());
    // Reusing the topology built from the same bytes gives the same answer.
    absl::StatusOr<agent::AgentInventory> again = agent::InventoryFromState(state, inv->topology);
    CheckOk(again.status(), "the known-topology path rejects what the full check accepted");
    FUZZ_CHECK(again->topology == inv->topology);
  }
  framework::NodeSpec spec;
  spec.name = gpusched::NodeId("fuzz");
  spec.gpus = inv->gpus;
  spec.topology = inv->topology;
  CheckOk(framework::NodeInfo::Create(spec).status(), "NodeInfo::Create rejects an accepted inventory");
  return 0;
}
