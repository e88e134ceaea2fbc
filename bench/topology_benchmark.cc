// BestDeviceSet on the shapes the scheduler meets: 8-GPU presets (exact search), 16-GPU boxes
// (exact search at its limit) and a 72-GPU NVLink domain (greedy path).
//
//   build/bench/topology_benchmark --benchmark_repetitions=5
//   --benchmark_report_aggregates_only=true
//
// Targets: Best4of8 (dgx1-v100) < 10 us; Best8of72 < 1 ms.

#include <cstdlib>
#include <iostream>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "topology/device_set_search.h"
#include "topology/gpu_topology.h"
#include "topology/presets.h"

namespace gpusched::topology {
namespace {

std::vector<int> Iota(int n) {
  std::vector<int> v(n);
  std::iota(v.begin(), v.end(), 0);
  return v;
}

GpuTopology Must(absl::StatusOr<GpuTopology> t) {
  if (!t.ok()) {
    std::cerr << t.status() << "\n";
    std::abort();
  }
  return *std::move(t);
}

class Builder {
 public:
  int Add(DeviceKind kind, std::string name, int numa) {
    devices_.push_back(Device{kind, std::move(name), numa});
    return static_cast<int>(devices_.size()) - 1;
  }
  void Connect(int a, int b, LinkKind kind, double gbps, int count = 1) {
    Link l;
    l.a = a;
    l.b = b;
    l.kind = kind;
    l.count = count;
    l.gbps = gbps;
    links_.push_back(l);
  }
  GpuTopology Build(std::string name) {
    return Must(GpuTopology::Create(std::move(name), devices_, links_));
  }

 private:
  std::vector<Device> devices_;
  std::vector<Link> links_;
};

// Two DGX-1 hybrid cube-meshes (GPUs 0-7 and 8-15) in one box: 4 sockets (one per quad), a PCIe
// gen3 switch per GPU pair, host bridge <-> socket 12.6 GB/s, sockets chained at 7.9 GB/s.
GpuTopology TwoCubeMeshes() {
  Builder b;
  for (int g = 0; g < 16; ++g) b.Add(DeviceKind::kGpu, absl::StrCat("GPU", g), g / 4);
  std::vector<int> cpu;
  for (int s = 0; s < 4; ++s) {
    cpu.push_back(b.Add(DeviceKind::kCpuSocket, absl::StrCat("CPU", s), s));
    if (s > 0) b.Connect(cpu[s - 1], cpu[s], LinkKind::kInterSocket, 7.9);
    const int hb = b.Add(DeviceKind::kHostBridge, absl::StrCat("HB", s), s);
    b.Connect(hb, cpu[s], LinkKind::kPcie, 12.6);
    for (int w = 0; w < 2; ++w) {
      const int sw = b.Add(DeviceKind::kPcieSwitch, absl::StrCat("PLX", 2 * s + w), s);
      b.Connect(sw, hb, LinkKind::kPcie, 15.75);
      b.Connect(4 * s + 2 * w, sw, LinkKind::kPcie, 15.75);
      b.Connect(4 * s + 2 * w + 1, sw, LinkKind::kPcie, 15.75);
    }
  }
  const int nv[][3] = {{0, 1, 1}, {0, 2, 1}, {0, 3, 2}, {0, 4, 2}, {1, 2, 2}, {1, 3, 1},
                       {1, 5, 2}, {2, 3, 2}, {2, 6, 1}, {3, 7, 1}, {4, 5, 1}, {4, 6, 1},
                       {4, 7, 2}, {5, 6, 2}, {5, 7, 1}, {6, 7, 2}};
  for (int base : {0, 8})
    for (const auto& e : nv)
      b.Connect(base + e[0], base + e[1], LinkKind::kNvLink, 25.0 * e[2], e[2]);
  return b.Build("two-cube-meshes");
}

// `gpus` GPUs on one NVSwitch fabric (one logical switch device), 18 NVLink5 links (50 GB/s each)
// per GPU except the listed thin ones; two GPUs per socket (numa g / 2).
GpuTopology NvlDomain(int gpus, const std::vector<std::pair<int, int>>& thin) {
  Builder b;
  for (int g = 0; g < gpus; ++g) b.Add(DeviceKind::kGpu, absl::StrCat("GPU", g), g / 2);
  const int sw = b.Add(DeviceKind::kNvSwitch, "NVSwitch", -1);
  for (int g = 0; g < gpus; ++g) {
    int links = 18;
    for (const auto& [gpu, n] : thin)
      if (gpu == g) links = n;
    b.Connect(g, sw, LinkKind::kNvLink, 50.0 * links, links);
  }
  return b.Build(absl::StrCat("nvl", gpus));
}

void Run(benchmark::State& state, const GpuTopology& t, const std::vector<int>& free, int k) {
  for (auto _ : state) {
    absl::StatusOr<DeviceSet> s = BestDeviceSet(t, free, k);
    benchmark::DoNotOptimize(s);
  }
}

void BM_Best4of8(benchmark::State& state) {
  static const GpuTopology t = Must(Preset("dgx1-v100"));
  Run(state, t, Iota(8), 4);
}
BENCHMARK(BM_Best4of8);

void BM_Best2of8(benchmark::State& state) {
  static const GpuTopology t = Must(Preset("pcie-8gpu"));
  Run(state, t, Iota(8), 2);
}
BENCHMARK(BM_Best2of8);

void BM_Best8of16(benchmark::State& state) {
  static const GpuTopology t = TwoCubeMeshes();
  Run(state, t, Iota(16), 8);
}
BENCHMARK(BM_Best8of16);

// Every pair equal: the most ties (all C(16,8) = 12870 sets share the best min bandwidth).
void BM_Best8of16NvSwitch(benchmark::State& state) {
  static const GpuTopology t = NvlDomain(16, {});
  Run(state, t, Iota(16), 8);
}
BENCHMARK(BM_Best8of16NvSwitch);

void BM_Best8of72(benchmark::State& state) {
  static const GpuTopology t =
      NvlDomain(72, {{3, 12}, {17, 14}, {40, 9}, {41, 16}, {66, 6}, {70, 12}});
  Run(state, t, Iota(72), 8);
}
BENCHMARK(BM_Best8of72);

}  // namespace
}  // namespace gpusched::topology

BENCHMARK_MAIN();
