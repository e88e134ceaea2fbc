// One scheduling cycle (PreFilter, Filter and Score over every node, selection, Reserve with the
// device choice, assume, Permit, Bind) of a 1-GPU pod over N nodes, with the built-in "baseline"
// profile. The pod is removed again after each cycle, so every iteration sees the same cluster.
//
//   build/bench/framework_benchmark --benchmark_filter=ScheduleOneGpuPod/5000
//       --benchmark_repetitions=10 --benchmark_report_aggregates_only=true

#include <random>

#include "benchmark/benchmark.h"
#include "common/metrics/in_memory_metrics.h"
#include "common/sim_clock.h"
#include "plugins/registry.h"
#include "scheduler/cache/cluster_cache.h"
#include "scheduler/runtime/framework.h"
#include "scheduler/runtime/profile.h"
#include "test/fakes/builders.h"
#include "test/fakes/framework_world.h"
#include "topology/presets.h"

namespace gpusched {
namespace {

// A cluster of 8-GPU nodes in varied states: some GPUs busy, some shared, a few tainted nodes.
void FillCluster(cache::ClusterCache& cache, int nodes) {
  std::mt19937_64 rng(1);
  for (int i = 0; i < nodes; ++i) {
    testing::NodeBuilder b("node-" + std::to_string(i));
    b.Cpu(96000).MemoryGi(768).Gpus(8, i % 3 == 0 ? "H100" : "A100", 81920);
    if (i % 50 == 0) b.Taint("dedicated", "infra");
    (void)cache.AddNode(b.Build());
    // Occupy a random number of GPUs and some CPU.
    const int busy = static_cast<int>(rng() % 8);
    if (busy > 0) {
      auto pod = testing::PodBuilder("busy-" + std::to_string(i)).Cpu(8000 * busy).Gpus(busy).Build();
      const framework::NodeInfo* node = cache.FindNode(NodeId("node-" + std::to_string(i)));
      auto gpus = framework::TryAllocate(*node, pod.requests.gpu);
      (void)cache.AddBoundPod(pod, node->name(), *gpus);
    }
  }
}

void BM_ScheduleOneGpuPod(benchmark::State& state) {
  const int nodes = static_cast<int>(state.range(0));
  const int parallelism = static_cast<int>(state.range(1));
  testing::FrameworkWorld world;
  cache::ClusterCache& cache = world.cache;
  FillCluster(cache, nodes);
  auto fw = world.Build("baseline", runtime::FrameworkOptions{.parallelism = parallelism});
  if (!fw.ok()) {
    state.SkipWithError(std::string(fw.status().message()).c_str());
    return;
  }
  const framework::PodInfo pod = testing::PodBuilder("bench").Cpu(4000).MemoryGi(32).Gpus(1).Build();
  for (auto _ : state) {
    runtime::ScheduleResult r = (*fw)->SchedulePod(pod);
    if (!r.status.ok()) {
      state.SkipWithError(r.status.ToString().c_str());
      return;
    }
    (void)cache.RemovePod(pod.uid);
  }
  state.counters["nodes"] = nodes;
}
BENCHMARK(BM_ScheduleOneGpuPod)
    ->ArgNames({"nodes", "threads"})
    ->Args({500, 2})
    ->Args({5000, 1})
    ->Args({5000, 2})
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

// The same cycle for a 4-GPU pod with the GpuTopology plugin scoring every node: 5,000 DGX-1
// nodes (one shared preset object) with random GPUs busy; the best NVLink set per node comes from
// the plugin's memo after the first cycles.
void BM_ScheduleFourGpuPodWithTopology(benchmark::State& state) {
  const int nodes = static_cast<int>(state.range(0));
  auto preset = topology::Preset("dgx1-v100");
  auto dgx1 = std::make_shared<const topology::GpuTopology>(*preset);
  testing::FrameworkWorld world;
  cache::ClusterCache& cache = world.cache;
  std::mt19937_64 fill(1);
  for (int i = 0; i < nodes; ++i) {
    framework::NodeSpec spec = testing::NodeBuilder("node-" + std::to_string(i))
                                   .Cpu(96000)
                                   .MemoryGi(768)
                                   .Gpus(8, "V100", 32768)
                                   .Build();
    spec.topology = dgx1;
    (void)cache.AddNode(std::move(spec));
    const framework::NodeInfo* node = cache.FindNode(NodeId("node-" + std::to_string(i)));
    for (int g = 0; g < 8; ++g) {
      if (fill() % 3 != 0) continue;  // about a third of the GPUs busy
      auto pod = testing::PodBuilder("busy-" + std::to_string(i) + "-" + std::to_string(g))
                     .Cpu(1000)
                     .Gpus(1)
                     .Build();
      (void)cache.AddBoundPod(pod, node->name(),
                              {framework::GpuShare{DeviceIndex(g), kOneGpu, GpuMemMiB(32768)}});
    }
  }
  auto profiles = runtime::ParseProfiles(R"(
profiles:
  - name: topology
    plugins:
      - name: PrioritySort
      - name: TaintToleration
      - name: GpuTopology
        weight: 2
      - name: NodeResourcesFit
        args: {scoringStrategy: MostAllocated}
      - name: DefaultBinder
)",
                                         "bench");
  auto fw = world.Build((*profiles)[0], runtime::FrameworkOptions{.parallelism = 2});
  if (!fw.ok()) {
    state.SkipWithError(std::string(fw.status().message()).c_str());
    return;
  }
  const framework::PodInfo pod = testing::PodBuilder("bench").Cpu(8000).MemoryGi(64).Gpus(4).Build();
  for (auto _ : state) {
    runtime::ScheduleResult r = (*fw)->SchedulePod(pod);
    if (!r.status.ok()) {
      state.SkipWithError(r.status.ToString().c_str());
      return;
    }
    (void)cache.RemovePod(pod.uid);
  }
}
BENCHMARK(BM_ScheduleFourGpuPodWithTopology)
    ->ArgName("nodes")
    ->Arg(5000)
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

}  // namespace
}  // namespace gpusched

BENCHMARK_MAIN();
