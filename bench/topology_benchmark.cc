// BestDeviceSet on the shapes the scheduler meets: 8-GPU presets (exact search), 16-GPU boxes
// (exact search at its limit) and a 72-GPU NVLink domain (greedy path).
//
//   build/bench/topology_benchmark --benchmark_repetitions=5
//   --benchmark_report_aggregates_only=true
//
// Targets: Best4of8 (dgx1-v100) < 10 us; Best8of72 < 1 ms. Hostile sizes (1,000 GPUs): parse +
// build of an `nvidia-smi topo -m` matrix < 1 s (was about a minute); BestDeviceSet for any count
// < 1 s (was minutes for large counts).

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
#include "topology/nvidia_smi.h"
#include "topology/nvidia_smi_testing.h"
#include "topology/presets.h"
#include "test/fakes/topologies.h"

namespace gpusched::topology {
namespace {

using ::gpusched::testing::NvlDomain;
using ::gpusched::testing::TwoCubeMeshes;

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
  static const GpuTopology t = NvlDomain(16, {}, /*per_socket=*/2);
  Run(state, t, Iota(16), 8);
}
BENCHMARK(BM_Best8of16NvSwitch);

void BM_Best8of72(benchmark::State& state) {
  static const GpuTopology t =
      NvlDomain(72, {{3, 12}, {17, 14}, {40, 9}, {41, 16}, {66, 6}, {70, 12}},
                /*per_socket=*/2);
  Run(state, t, Iota(72), 8);
}
BENCHMARK(BM_Best8of72);

// Parse + build of a 1,000-GPU matrix: PCIe relations in every cell (the cross-check's worst
// case), and all-NV18 on an NVSwitch.
void BM_ParseNvidiaSmi1000Pcie(benchmark::State& state) {
  const std::string text = testing::SyntheticPcieMatrix(1000);
  for (auto _ : state) {
    absl::StatusOr<GpuTopology> t = ParseNvidiaSmiTopo(text);
    if (!t.ok()) state.SkipWithError(std::string(t.status().message()).c_str());
    benchmark::DoNotOptimize(t);
  }
}
BENCHMARK(BM_ParseNvidiaSmi1000Pcie)->Unit(benchmark::kMillisecond);

void BM_ParseNvidiaSmi1000Nv18(benchmark::State& state) {
  const std::string text = testing::SyntheticNvidiaSmiMatrix(1000);
  for (auto _ : state) {
    absl::StatusOr<GpuTopology> t = ParseNvidiaSmiTopo(text);
    if (!t.ok()) state.SkipWithError(std::string(t.status().message()).c_str());
    benchmark::DoNotOptimize(t);
  }
}
BENCHMARK(BM_ParseNvidiaSmi1000Nv18)->Unit(benchmark::kMillisecond);

// BestDeviceSet on 1,000 free GPUs, count = state.range(0).
void BM_Best1000(benchmark::State& state) {
  static const GpuTopology t = Must(ParseNvidiaSmiTopo(testing::SyntheticPcieMatrix(1000)));
  Run(state, t, Iota(1000), static_cast<int>(state.range(0)));
}
BENCHMARK(BM_Best1000)->Arg(1)->Arg(8)->Arg(500)->Arg(999)->Arg(1000)->Unit(benchmark::kMillisecond);

void BM_Best1000Nv18(benchmark::State& state) {
  static const GpuTopology t = Must(ParseNvidiaSmiTopo(testing::SyntheticNvidiaSmiMatrix(1000)));
  Run(state, t, Iota(1000), static_cast<int>(state.range(0)));
}
BENCHMARK(BM_Best1000Nv18)->Arg(1)->Arg(500)->Arg(999)->Arg(1000)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace gpusched::topology

BENCHMARK_MAIN();
