// Placing a whole gang: 64 member pods of 8 GPUs each, on 1,000 8-GPU nodes (hgx-h100 wiring,
// racks of 16 nodes in blocks of 128 nodes, about half the nodes partly busy), with the
// built-in `gang-topology` profile (Gang + GpuTopology + NodeResourcesFit) and
// `gpusched.io/gang-topology: block`. One iteration schedules all 64 members: the first plans
// the gang's nodes in one block (cluster_topology ChooseNodes), 63 wait on Permit, the last
// completes the quorum and all 64 bind. The gang is removed again after each iteration.
//
//   build/bench/gang_benchmark --benchmark_repetitions=10 --benchmark_report_aggregates_only=true

#include <random>

#include "benchmark/benchmark.h"
#include "common/metrics/in_memory_metrics.h"
#include "common/sim_clock.h"
#include "plugins/gang/gang_plugin.h"
#include "plugins/registry.h"
#include "scheduler/cache/cluster_cache.h"
#include "scheduler/runtime/framework.h"
#include "scheduler/runtime/profile.h"
#include "test/fakes/builders.h"
#include "test/fakes/framework_world.h"
#include "topology/presets.h"

namespace gpusched {
namespace {

void BM_PlaceGang(benchmark::State& state) {
  const int nodes = static_cast<int>(state.range(0));
  const int members = static_cast<int>(state.range(1));
  auto hgx = std::make_shared<const topology::GpuTopology>(*topology::Preset("hgx-h100"));
  testing::FrameworkWorld world;
  cache::ClusterCache& cache = world.cache;
  std::mt19937_64 fill(7);
  for (int i = 0; i < nodes; ++i) {
    framework::NodeSpec spec = testing::NodeBuilder("node-" + std::to_string(i))
                                   .Cpu(192000)
                                   .MemoryGi(2048)
                                   .Gpus(8, "H100", 81920)
                                   .Label("topology.gpusched.io/rack", "rack-" + std::to_string(i / 16))
                                   .Label("topology.gpusched.io/block", "block-" + std::to_string(i / 128))
                                   .Build();
    spec.topology = hgx;
    (void)cache.AddNode(std::move(spec));
    if (fill() % 2 == 0) continue;  // about half the nodes run something already
    const int busy = 1 + static_cast<int>(fill() % 7);
    auto pod = testing::PodBuilder("busy-" + std::to_string(i)).Cpu(1000).Gpus(busy).Build();
    const framework::NodeInfo* node = cache.FindNode(NodeId("node-" + std::to_string(i)));
    (void)cache.AddBoundPod(pod, node->name(), *framework::TryAllocate(*node, pod.requests.gpu));
  }
  auto fw = world.Build("gang-topology", runtime::FrameworkOptions{.parallelism = 1});
  if (!fw.ok()) {
    state.SkipWithError(std::string(fw.status().message()).c_str());
    return;
  }
  std::vector<framework::PodInfo> gang;
  for (int m = 0; m < members; ++m) {
    gang.push_back(testing::PodBuilder("train-" + std::to_string(m))
                       .Cpu(16000)
                       .MemoryGi(256)
                       .Gpus(8)
                       .Gang("ml/train", members)
                       .Annotation(plugins::gang::kGangTopologyAnnotation, "block")
                       .Build());
  }
  for (auto _ : state) {
    for (const framework::PodInfo& pod : gang) {
      runtime::ScheduleResult r = (*fw)->SchedulePod(pod);
      if (!r.status.ok() && !r.status.IsWait()) {
        state.SkipWithError(r.Explain().c_str());
        return;
      }
    }
    state.PauseTiming();
    for (const framework::PodInfo& pod : gang) {
      if (!cache.RemovePod(pod.uid).ok()) state.SkipWithError("a member was not bound");
    }
    world.clock.Advance(absl::Seconds(1));
    state.ResumeTiming();
  }
  state.counters["members"] = members;
  // Every iteration bound the whole gang (a partial one would have stopped the run above).
  state.counters["bound_per_iteration"] =
      static_cast<double>(world.binder.bound().size()) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_PlaceGang)
    ->ArgNames({"nodes", "members"})
    ->Args({1000, 64})
    ->Args({1000, 8})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace gpusched

BENCHMARK_MAIN();
