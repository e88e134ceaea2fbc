#include "agent/inventory.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "topology/nvidia_smi.h"
#include "topology/presets.h"

namespace gpusched::agent {
namespace {

// The GPU of each preset as NVIDIA's tools name it (GFD spelling), with the figures a fake
// probe needs: memory, SMs, FP32 peak and device memory bandwidth from the public data sheets.
struct FakeGpuModel {
  std::string_view preset;
  std::string_view model;
  int64_t memory_mib;
  int sm_count;
  double peak_gflops;
  double d2d_gbps;
};
constexpr FakeGpuModel kFakeModels[] = {
    {"dgx1-v100", "Tesla-V100-SXM2-32GB", 32768, 80, 15700, 900},
    {"dgx-a100", "NVIDIA-A100-SXM4-80GB", 81920, 108, 19500, 2039},
    {"hgx-h100", "NVIDIA-H100-80GB-HBM3", 81559, 132, 67000, 3350},
    {"pcie-8gpu", "NVIDIA-L40S", 46068, 142, 91600, 864},
    {"pcie-4gpu-t4", "Tesla-T4", 15360, 40, 8100, 320},
    {"pcie-2gpu-a10", "NVIDIA-A10", 23028, 72, 31200, 600},
    {"pcie-2gpu-l4", "NVIDIA-L4", 23034, 58, 30300, 300},
    {"gb200-nvl72", "NVIDIA-GB200", 189471, 144, 80000, 8000},
};

const FakeGpuModel* FindModel(std::string_view preset) {
  for (const FakeGpuModel& m : kFakeModels) {
    if (m.preset == preset) return &m;
  }
  return nullptr;
}

}  // namespace

std::vector<std::string> FakePresetNames() {
  std::vector<std::string> out;
  for (const FakeGpuModel& m : kFakeModels) out.emplace_back(m.preset);
  return out;
}

absl::StatusOr<Inventory> FakeInventory(std::string_view node_name, std::string_view preset) {
  const FakeGpuModel* m = FindModel(preset);
  if (m == nullptr) {
    return absl::NotFoundError(absl::StrCat("no fake preset \"", std::string(preset), "\"; known: ",
                                            absl::StrJoin(FakePresetNames(), ", ")));
  }
  absl::StatusOr<topology::GpuTopology> t = topology::Preset(preset);
  if (!t.ok()) return t.status();
  Inventory inv;
  inv.discovery = absl::StrCat("fake:", std::string(preset));
  for (int i = 0; i < t->gpu_count(); ++i) {
    GpuInventory g;
    g.index = i;
    g.uuid = absl::StrCat("GPU-fake-", std::string(node_name), "-", i);
    g.model = std::string(m->model);
    g.memory_mib = m->memory_mib;
    g.pci_bus_id = absl::StrFormat("0000:%02x:00.0", 0x10 + 0x10 * i);
    g.sm_count = m->sm_count;
    g.numa = t->NumaOf(i);
    g.peak_gflops = m->peak_gflops;
    inv.gpus.push_back(std::move(g));
  }
  inv.topology = std::make_shared<const topology::GpuTopology>(*std::move(t));
  return inv;
}

absl::StatusOr<kernels::FakeSpec> FakeProbeSpec(const Inventory& inv, const std::vector<double>& loads,
                                                uint64_t seed) {
  if (!loads.empty() && loads.size() != inv.gpus.size()) {
    return absl::InvalidArgumentError(absl::StrCat("fake load: ", loads.size(), " values for ",
                                                   inv.gpus.size(), " GPUs (give one, or one per GPU)"));
  }
  kernels::FakeSpec spec;
  spec.seed = seed;
  const FakeGpuModel* m = nullptr;
  if (absl::StartsWith(inv.discovery, "fake:")) m = FindModel(inv.discovery.substr(5));
  for (const GpuInventory& g : inv.gpus) {
    kernels::FakeGpu f;
    f.name = g.model;
    f.sm_count = g.sm_count > 0 ? g.sm_count : 80;
    f.memory_bytes = g.memory_mib << 20;
    f.peak_gflops = g.peak_gflops > 0 ? g.peak_gflops : 10000;
    f.d2d_gbps = m != nullptr ? m->d2d_gbps : 500;
    f.load = loads.empty() ? 0 : loads[g.index];
    f.pci_bus_id = g.pci_bus_id;
    spec.gpus.push_back(std::move(f));
  }
  if (inv.topology) {
    const int n = inv.topology->gpu_count();
    spec.p2p_gbps.assign(n, std::vector<double>(n, 0));
    for (int a = 0; a < n; ++a) {
      for (int b = 0; b < n; ++b) spec.p2p_gbps[a][b] = a == b ? 0 : inv.topology->Bandwidth(a, b);
    }
  }
  return spec;
}

absl::StatusOr<Inventory> DiscoverInventory(kernels::ProbeBackend& backend, Nvml* nvml,
                                            std::string_view nvidia_smi_topo) {
  absl::StatusOr<int> count = backend.DeviceCount();
  if (!count.ok()) return count.status();
  Inventory inv;
  inv.discovery = backend.name();
  std::vector<NvmlDevice> nv;
  if (nvml != nullptr) {
    absl::StatusOr<int> n = nvml->DeviceCount();
    if (!n.ok()) return n.status();
    if (*n != *count) {
      return absl::FailedPreconditionError(absl::StrCat("CUDA sees ", *count, " GPUs but NVML ", *n,
                                                        " (CUDA_VISIBLE_DEVICES set for the agent?)"));
    }
    for (int i = 0; i < *n; ++i) {
      absl::StatusOr<NvmlDevice> d = nvml->Describe(i);
      if (!d.ok()) return d.status();
      nv.push_back(*std::move(d));
    }
    absl::StrAppend(&inv.discovery, "+nvml");
  }
  for (int i = 0; i < *count; ++i) {
    absl::StatusOr<kernels::DeviceInfo> d = backend.Describe(i);
    if (!d.ok()) return d.status();
    GpuInventory g;
    g.index = i;
    g.model = GfdModelName(d->name);
    g.memory_mib = d->memory_bytes >> 20;
    g.pci_bus_id = absl::AsciiStrToLower(d->pci_bus_id);
    g.sm_count = d->sm_count;
    g.uuid = absl::StrCat("GPU-", g.pci_bus_id);
    if (!nv.empty()) {
      if (nv[i].pci_bus_id != g.pci_bus_id) {
        return absl::FailedPreconditionError(
            absl::StrCat("GPU ", i, ": CUDA says PCI ", g.pci_bus_id, ", NVML says ", nv[i].pci_bus_id,
                         " (CUDA_DEVICE_ORDER must be PCI_BUS_ID)"));
      }
      g.uuid = nv[i].uuid;
    }
    inv.gpus.push_back(std::move(g));
  }
  if (!nvidia_smi_topo.empty()) {
    absl::StatusOr<topology::GpuTopology> t = topology::ParseNvidiaSmiTopo(nvidia_smi_topo);
    if (!t.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("nvidia-smi topo -m: ", t.status().message()));
    }
    if (t->gpu_count() != *count) {
      return absl::FailedPreconditionError(absl::StrCat("nvidia-smi topo -m shows ", t->gpu_count(),
                                                        " GPUs but CUDA ", *count));
    }
    for (GpuInventory& g : inv.gpus) g.numa = t->NumaOf(g.index);
    inv.topology = std::make_shared<const topology::GpuTopology>(*std::move(t));
    absl::StrAppend(&inv.discovery, "+nvidia-smi");
  }
  return inv;
}

}  // namespace gpusched::agent
