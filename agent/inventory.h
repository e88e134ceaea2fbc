#pragma once

// What GPUs a node has and how they are wired, found once when the agent starts:
//
//   // A real node: CUDA for the devices, NVML (when present) for UUIDs and names, the text of
//   // `nvidia-smi topo -m` (when it ran) for the wiring.
//   ASSIGN_OR_RETURN(Inventory inv, DiscoverInventory(*backend, nvml.get(), topo_text));
//   // Anywhere: the GPUs of a topology preset ("dgx-a100", "hgx-h100", ...).
//   ASSIGN_OR_RETURN(Inventory inv, FakeInventory("node-7", "dgx-a100"));
//   ASSIGN_OR_RETURN(kernels::FakeSpec spec, FakeProbeSpec(inv, {0.6, 0, 0, ...}));
//
// GPU i is CUDA device i with CUDA_DEVICE_ORDER=PCI_BUS_ID (the agent sets it before any CUDA
// call), which is also NVML's and nvidia-smi's order, so the three sources agree on indices;
// DiscoverInventory checks the PCI bus ids to be sure and says which GPU disagrees.
//
// Stateless; safe from any thread.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/nvml.h"
#include "kernels/backend.h"
#include "topology/gpu_topology.h"

namespace gpusched::agent {

struct GpuInventory {
  int index = 0;
  std::string uuid;
  std::string model;  // GFD spelling: "NVIDIA-A100-SXM4-80GB"
  int64_t memory_mib = 0;
  std::string pci_bus_id;
  int sm_count = 0;
  int numa = -1;
  double peak_gflops = 0;  // fake GPUs only: FP32 peak, what the fake probe scales by load
};

struct Inventory {
  std::string discovery;  // "cuda+nvml+nvidia-smi", "fake:dgx-a100"
  std::vector<GpuInventory> gpus;
  std::shared_ptr<const topology::GpuTopology> topology;  // null when unknown
};

// The presets --fake accepts (topology/presets.h names) with the GPU each has.
std::vector<std::string> FakePresetNames();
absl::StatusOr<Inventory> FakeInventory(std::string_view node_name, std::string_view preset);
// A fake probe backend's description of `inv`; `loads` (one per GPU, in [0, 1), or empty for
// all idle) is the share of each GPU other tenants take.
absl::StatusOr<kernels::FakeSpec> FakeProbeSpec(const Inventory& inv, const std::vector<double>& loads,
                                                uint64_t seed);

// `nvml` may be null and `nvidia_smi_topo` empty; the inventory then has less detail (no UUIDs:
// "GPU-<pci bus id>"; no topology).
absl::StatusOr<Inventory> DiscoverInventory(kernels::ProbeBackend& backend, Nvml* nvml,
                                            std::string_view nvidia_smi_topo);

}  // namespace gpusched::agent
