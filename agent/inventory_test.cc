#include "agent/inventory.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "agent/nvml.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/backend.h"
#include "topology/presets.h"

namespace gpusched::agent {
namespace {

using ::testing::HasSubstr;

std::string ReadTestdata(const std::string& name) {
  // ctest sets GPUSCHED_SOURCE_DIR; run by hand, this file's path tells the repository root.
  const char* root = std::getenv("GPUSCHED_SOURCE_DIR");
  std::string dir;
  if (root != nullptr) {
    dir = root;
  } else {
    dir = __FILE__;
    dir = dir.substr(0, dir.rfind("/agent/"));
  }
  std::ifstream in(dir + "/topology/testdata/" + name);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::unique_ptr<kernels::FakeBackend> BackendFor(const std::string& preset, int drop_last = 0) {
  absl::StatusOr<Inventory> inv = FakeInventory("n1", preset);
  EXPECT_TRUE(inv.ok()) << inv.status();
  absl::StatusOr<kernels::FakeSpec> spec = FakeProbeSpec(*inv, {}, 7);
  EXPECT_TRUE(spec.ok()) << spec.status();
  for (int i = 0; i < drop_last; ++i) {
    spec->gpus.pop_back();
    spec->p2p_gbps.clear();
  }
  absl::StatusOr<std::unique_ptr<kernels::FakeBackend>> b = kernels::NewFakeBackend(*std::move(spec));
  EXPECT_TRUE(b.ok()) << b.status();
  return *std::move(b);
}

// NVML over `pci_buses` (one device per entry, domain 0, device 0).
struct FakeNvml {
  std::vector<unsigned> buses;
  NvmlApi Api() {
    NvmlApi api;
    api.init = [] { return 0; };
    api.device_count = [this](unsigned* n) {
      *n = static_cast<unsigned>(buses.size());
      return 0;
    };
    api.handle_by_index = [this](unsigned i, nvmlDevice_t* h) {
      if (i >= buses.size()) return 2;
      *h = reinterpret_cast<nvmlDevice_t>(static_cast<uintptr_t>(i + 1));
      return 0;
    };
    api.uuid = [](nvmlDevice_t h, char* buf, unsigned len) {
      std::snprintf(buf, len, "GPU-nvml-%d", static_cast<int>(reinterpret_cast<uintptr_t>(h)) - 1);
      return 0;
    };
    api.pci = [this](nvmlDevice_t h, nvmlPciInfo_t* p) {
      p->domain = 0;
      p->bus = buses[reinterpret_cast<uintptr_t>(h) - 1];
      p->device = 0;
      return 0;
    };
    return api;
  }
};

TEST(InventoryTest, EveryPresetBuilds) {
  const std::vector<std::string> names = FakePresetNames();
  ASSERT_GE(names.size(), 5u);
  std::set<std::string> all_uuids;
  for (const std::string& name : names) {
    SCOPED_TRACE(name);
    absl::StatusOr<Inventory> inv = FakeInventory("node-7", name);
    ASSERT_TRUE(inv.ok()) << inv.status();
    absl::StatusOr<topology::GpuTopology> t = topology::Preset(name);
    ASSERT_TRUE(t.ok()) << t.status();
    ASSERT_NE(inv->topology, nullptr);
    EXPECT_EQ(static_cast<int>(inv->gpus.size()), t->gpu_count());
    EXPECT_EQ(inv->topology->gpu_count(), t->gpu_count());
    EXPECT_EQ(inv->discovery, "fake:" + name);
    std::set<std::string> uuids, pci;
    for (int i = 0; i < static_cast<int>(inv->gpus.size()); ++i) {
      const GpuInventory& g = inv->gpus[i];
      EXPECT_EQ(g.index, i);
      EXPECT_EQ(g.uuid, "GPU-fake-node-7-" + std::to_string(i));
      uuids.insert(g.uuid);
      pci.insert(g.pci_bus_id);
      all_uuids.insert(g.uuid);
      // GFD spelling: no blanks, a dash-separated product name.
      EXPECT_FALSE(g.model.empty());
      EXPECT_EQ(g.model.find(' '), std::string::npos) << g.model;
      EXPECT_EQ(g.model, GfdModelName(g.model));
      EXPECT_GT(g.memory_mib, 0);
      EXPECT_GT(g.sm_count, 0);
      EXPECT_GT(g.peak_gflops, 0);
      EXPECT_EQ(g.numa, t->NumaOf(i));
      EXPECT_EQ(g.pci_bus_id.size(), 12u) << g.pci_bus_id;
    }
    EXPECT_EQ(uuids.size(), inv->gpus.size());
    EXPECT_EQ(pci.size(), inv->gpus.size());
    // The preset's fake probe backend builds too.
    absl::StatusOr<kernels::FakeSpec> spec = FakeProbeSpec(*inv, {}, 1);
    ASSERT_TRUE(spec.ok()) << spec.status();
    EXPECT_TRUE(kernels::ValidateFakeSpec(*spec).ok()) << kernels::ValidateFakeSpec(*spec);
  }
  // Node names keep UUIDs apart across nodes.
  absl::StatusOr<Inventory> other = FakeInventory("node-8", "dgx-a100");
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(all_uuids.count(other->gpus[0].uuid), 0u);
}

TEST(InventoryTest, GfdModelNames) {
  absl::StatusOr<Inventory> a100 = FakeInventory("n", "dgx-a100");
  ASSERT_TRUE(a100.ok());
  EXPECT_EQ(a100->gpus[0].model, "NVIDIA-A100-SXM4-80GB");
  EXPECT_EQ(a100->gpus[0].memory_mib, 81920);
  absl::StatusOr<Inventory> h100 = FakeInventory("n", "hgx-h100");
  ASSERT_TRUE(h100.ok());
  EXPECT_EQ(h100->gpus[7].model, "NVIDIA-H100-80GB-HBM3");
  absl::StatusOr<Inventory> t4 = FakeInventory("n", "pcie-4gpu-t4");
  ASSERT_TRUE(t4.ok());
  EXPECT_EQ(t4->gpus.size(), 4u);
  EXPECT_EQ(t4->gpus[0].model, "Tesla-T4");
}

TEST(InventoryTest, UnknownPresetListsTheKnownOnes) {
  absl::StatusOr<Inventory> inv = FakeInventory("n", "dgx-z900");
  EXPECT_EQ(inv.status().code(), absl::StatusCode::kNotFound);
  const std::string msg(inv.status().message());
  EXPECT_THAT(msg, HasSubstr("dgx-z900"));
  for (const std::string& name : FakePresetNames()) EXPECT_THAT(msg, HasSubstr(name));
}

TEST(InventoryTest, FakeProbeSpecChecksLoadsAndCopiesBandwidths) {
  absl::StatusOr<Inventory> inv = FakeInventory("n1", "dgx1-v100");
  ASSERT_TRUE(inv.ok());
  ASSERT_EQ(inv->gpus.size(), 8u);

  absl::StatusOr<kernels::FakeSpec> bad = FakeProbeSpec(*inv, {0.1, 0.2}, 1);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("2 values for 8 GPUs"));

  const std::vector<double> loads = {0.6, 0, 0, 0, 0, 0, 0, 0.3};
  absl::StatusOr<kernels::FakeSpec> spec = FakeProbeSpec(*inv, loads, 42);
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->seed, 42u);
  ASSERT_EQ(spec->gpus.size(), 8u);
  for (int i = 0; i < 8; ++i) {
    SCOPED_TRACE(i);
    EXPECT_DOUBLE_EQ(spec->gpus[i].load, loads[i]);
    EXPECT_EQ(spec->gpus[i].name, inv->gpus[i].model);
    EXPECT_EQ(spec->gpus[i].pci_bus_id, inv->gpus[i].pci_bus_id);
    EXPECT_EQ(spec->gpus[i].memory_bytes, inv->gpus[i].memory_mib << 20);
    EXPECT_EQ(spec->gpus[i].sm_count, inv->gpus[i].sm_count);
    EXPECT_DOUBLE_EQ(spec->gpus[i].peak_gflops, inv->gpus[i].peak_gflops);
  }
  ASSERT_EQ(spec->p2p_gbps.size(), 8u);
  bool differs = false;
  for (int a = 0; a < 8; ++a) {
    ASSERT_EQ(spec->p2p_gbps[a].size(), 8u);
    for (int b = 0; b < 8; ++b) {
      EXPECT_DOUBLE_EQ(spec->p2p_gbps[a][b], a == b ? 0 : inv->topology->Bandwidth(a, b)) << a << "," << b;
      differs |= a != b && spec->p2p_gbps[a][b] != spec->p2p_gbps[0][1];
    }
  }
  EXPECT_TRUE(differs) << "the V100 cube mesh has links of different widths";

  // No loads: all idle.
  absl::StatusOr<kernels::FakeSpec> idle = FakeProbeSpec(*inv, {}, 1);
  ASSERT_TRUE(idle.ok());
  for (const kernels::FakeGpu& g : idle->gpus) EXPECT_EQ(g.load, 0);
}

TEST(InventoryTest, DiscoverWithoutNvmlOrTopology) {
  std::unique_ptr<kernels::FakeBackend> backend = BackendFor("dgx-a100");
  absl::StatusOr<Inventory> inv = DiscoverInventory(*backend, nullptr, "");
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_EQ(inv->discovery, "fake");
  EXPECT_EQ(inv->topology, nullptr);
  ASSERT_EQ(inv->gpus.size(), 8u);
  for (int i = 0; i < 8; ++i) {
    const GpuInventory& g = inv->gpus[i];
    EXPECT_EQ(g.index, i);
    EXPECT_EQ(g.model, "NVIDIA-A100-SXM4-80GB");
    EXPECT_EQ(g.memory_mib, 81920);
    EXPECT_EQ(g.sm_count, 108);
    EXPECT_EQ(g.uuid, "GPU-" + g.pci_bus_id);
    EXPECT_EQ(g.numa, -1);
  }
  EXPECT_EQ(inv->gpus[3].pci_bus_id, "0000:40:00.0");
}

TEST(InventoryTest, DiscoverWithNvmlTakesItsUuids) {
  std::unique_ptr<kernels::FakeBackend> backend = BackendFor("pcie-4gpu-t4");
  FakeNvml fake{{0x10, 0x20, 0x30, 0x40}};
  absl::StatusOr<std::unique_ptr<Nvml>> nvml = Nvml::FromApi(fake.Api());
  ASSERT_TRUE(nvml.ok());
  absl::StatusOr<Inventory> inv = DiscoverInventory(*backend, nvml->get(), "");
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_EQ(inv->discovery, "fake+nvml");
  ASSERT_EQ(inv->gpus.size(), 4u);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(inv->gpus[i].uuid, "GPU-nvml-" + std::to_string(i));
}

TEST(InventoryTest, DiscoverRefusesAPciMismatchNamingTheGpu) {
  std::unique_ptr<kernels::FakeBackend> backend = BackendFor("pcie-4gpu-t4");
  FakeNvml fake{{0x10, 0x20, 0x40, 0x30}};  // NVML in another order than CUDA
  absl::StatusOr<std::unique_ptr<Nvml>> nvml = Nvml::FromApi(fake.Api());
  ASSERT_TRUE(nvml.ok());
  absl::StatusOr<Inventory> inv = DiscoverInventory(*backend, nvml->get(), "");
  EXPECT_EQ(inv.status().code(), absl::StatusCode::kFailedPrecondition);
  const std::string msg(inv.status().message());
  EXPECT_THAT(msg, HasSubstr("GPU 2"));
  EXPECT_THAT(msg, HasSubstr("0000:30:00.0"));
  EXPECT_THAT(msg, HasSubstr("0000:40:00.0"));
}

TEST(InventoryTest, DiscoverRefusesACountMismatch) {
  std::unique_ptr<kernels::FakeBackend> backend = BackendFor("pcie-4gpu-t4");
  FakeNvml fake{{0x10, 0x20, 0x30}};
  absl::StatusOr<std::unique_ptr<Nvml>> nvml = Nvml::FromApi(fake.Api());
  ASSERT_TRUE(nvml.ok());
  absl::StatusOr<Inventory> inv = DiscoverInventory(*backend, nvml->get(), "");
  EXPECT_EQ(inv.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(inv.status().message()), HasSubstr("CUDA sees 4 GPUs but NVML 3"));
}

TEST(InventoryTest, DiscoverWithNvidiaSmiTopology) {
  const std::string text = ReadTestdata("dgx_a100.txt");
  ASSERT_FALSE(text.empty()) << "topology/testdata/dgx_a100.txt not found";
  std::unique_ptr<kernels::FakeBackend> backend = BackendFor("dgx-a100");
  FakeNvml fake{{0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x80}};
  absl::StatusOr<std::unique_ptr<Nvml>> nvml = Nvml::FromApi(fake.Api());
  ASSERT_TRUE(nvml.ok());
  absl::StatusOr<Inventory> inv = DiscoverInventory(*backend, nvml->get(), text);
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_EQ(inv->discovery, "fake+nvml+nvidia-smi");
  ASSERT_NE(inv->topology, nullptr);
  EXPECT_EQ(inv->topology->gpu_count(), 8);
  // The NUMA affinity column of the sample: GPUs 0,1 -> 3; 2,3 -> 1; 4,5 -> 7; 6,7 -> 5.
  const int numa[] = {3, 3, 1, 1, 7, 7, 5, 5};
  for (int i = 0; i < 8; ++i) EXPECT_EQ(inv->gpus[i].numa, numa[i]) << i;
  EXPECT_GT(inv->topology->Bandwidth(0, 7), 100);  // NV12
  EXPECT_EQ(inv->topology->NvLinks(0, 7), 12);
}

TEST(InventoryTest, DiscoverRefusesATopologyOfAnotherSize) {
  const std::string text = ReadTestdata("t4_4gpu.txt");
  ASSERT_FALSE(text.empty());
  std::unique_ptr<kernels::FakeBackend> backend = BackendFor("dgx-a100");
  absl::StatusOr<Inventory> inv = DiscoverInventory(*backend, nullptr, text);
  EXPECT_EQ(inv.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(inv.status().message()), HasSubstr("shows 4 GPUs but CUDA 8"));
}

TEST(InventoryTest, DiscoverRefusesGarbageTopologyText) {
  std::unique_ptr<kernels::FakeBackend> backend = BackendFor("pcie-2gpu-a10");
  for (const std::string text : {"this is not nvidia-smi output\n", "\tGPU0\tGPU1\nGPU0\t X \tNV\n"}) {
    SCOPED_TRACE(text);
    absl::StatusOr<Inventory> inv = DiscoverInventory(*backend, nullptr, text);
    EXPECT_EQ(inv.status().code(), absl::StatusCode::kInvalidArgument) << inv.status();
    EXPECT_THAT(std::string(inv.status().message()), HasSubstr("nvidia-smi topo -m"));
  }
}

TEST(InventoryTest, DiscoverANodeWithoutGpus) {
  absl::StatusOr<std::unique_ptr<kernels::FakeBackend>> backend = kernels::NewFakeBackend(kernels::FakeSpec{});
  ASSERT_TRUE(backend.ok()) << backend.status();
  absl::StatusOr<Inventory> inv = DiscoverInventory(**backend, nullptr, "");
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_TRUE(inv->gpus.empty());
}

}  // namespace
}  // namespace gpusched::agent
