#pragma once

// The topology a node agent reports, as JSON (and back):
//
//   {"name": "dgx1-v100",
//    "devices": [{"kind": "gpu", "name": "GPU0", "numa": 0},
//                {"kind": "pcie_switch", "name": "PLX0", "numa": 0},
//                {"kind": "cpu_socket", "name": "CPU0", "numa": 0}, ...],
//    "links": [{"a": 0, "b": 1, "kind": "nvlink", "count": 1, "generation": 2},
//              {"a": 0, "b": 8, "kind": "pcie", "generation": 3, "width": 16},
//              {"a": 10, "b": 11, "kind": "inter_socket", "gbps": 12.0}, ...]}
//
// kinds: gpu, nvswitch, pcie_switch, host_bridge, cpu_socket, nic; links: nvlink, pcie,
// inter_socket. Optional fields take the defaults of gpu_topology.h (gbps derived when absent).
// Errors name the field path: `links[3].kind: unknown "nvlnk" (nvlink, pcie, inter_socket)`.

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "topology/gpu_topology.h"

namespace gpusched::topology {

absl::StatusOr<GpuTopology> ParseTopologyJson(std::string_view text);
std::string TopologyToJson(const GpuTopology& topology);

}  // namespace gpusched::topology
