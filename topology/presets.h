#pragma once

// Topologies of machines people run, built from their published wiring:
//   "dgx1-v100"    8 V100, hybrid cube-mesh NVLink2 (each GPU: 6 links to 4 peers, two of them
//                  doubled), 4 PCIe switches (2 GPUs each) under 2 sockets
//   "dgx-a100"     8 A100 on 6 NVSwitches (12 NVLink3 each, 300 GB/s), 4 PCIe switches,
//                  2 sockets, 8 NICs
//   "hgx-h100"     8 H100 on 4 NVSwitches (18 NVLink4 each, 450 GB/s), 2 sockets, 8 NICs
//   "pcie-8gpu"    8 PCIe GPUs, two PCIe switches per socket (2 GPUs each), 2 sockets
//   "pcie-4gpu-t4" 4 T4 on PCIe, 2 per socket;  "pcie-2gpu-a10" 2 A10, one socket;
//   "pcie-2gpu-l4" 2 L4, one socket
//   "gb200-nvl72"  one node's view of a GB200 NVL72 domain: 4 GPUs per node on the rack-wide
//                  NVLink5 switch fabric (1.8 TB/s per GPU); the domain spans 18 nodes
//
//   ASSIGN_OR_RETURN(GpuTopology t, Preset("dgx1-v100"));

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "topology/gpu_topology.h"

namespace gpusched::topology {

absl::StatusOr<GpuTopology> Preset(std::string_view name);  // NotFound lists the names
std::vector<std::string> PresetNames();

}  // namespace gpusched::topology
