#pragma once

// Builds a topology from the text of `nvidia-smi topo -m`:
//
//          GPU0  GPU1  GPU2  NIC0  CPU Affinity  NUMA Affinity
//   GPU0    X    NV12  SYS   PIX   0-31          0
//   ...
//   NIC Legend:
//     NIC0: mlx5_0
//
// Cells: X (self), NV# (# bonded NVLinks), PIX (at most one PCIe bridge), PXB (several PCIe
// bridges), PHB (through a PCIe host bridge), NODE (across host bridges within a NUMA node),
// SYS (across the inter-socket link). The result has one device per GPU and NIC plus the
// switches, bridges and sockets the cells imply, so bandwidths follow from the same rules as any
// other topology (PIX: a shared PCIe switch; SYS: via both sockets).
// Errors name the line (1-based) and the token: `line 3: unknown cell "NV" (column GPU2)`;
// bytes that are not printable ASCII are shown escaped (\x7f), never raw. At most kMaxGpus GPU
// columns. Parsing and building 1,000 GPUs: O(m^2) for m columns, well under a second.

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "topology/gpu_topology.h"

namespace gpusched::topology {

// `warnings`, when given, receives odd-but-usable findings of the text ("line 4: NUMA Affinity
// \"0-1\" of GPU2 names several nodes; treated as unknown"); TopologyWarnings (gpu_topology.h)
// adds those of the built topology. Validation and cost: see nvidia_smi.cc.
absl::StatusOr<GpuTopology> ParseNvidiaSmiTopo(std::string_view text,
                                               std::string name = "nvidia-smi",
                                               std::vector<std::string>* warnings = nullptr);

}  // namespace gpusched::topology
