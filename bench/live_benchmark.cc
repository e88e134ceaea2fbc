// The extender's hot path through the per-verb API (LiveScheduler), and the cost of one informer
// event on the snapshot store.
//
//   build/bench/live_benchmark --benchmark_repetitions=10 --benchmark_report_aggregates_only=true
//
// BM_FilterPrioritizeOneGpuPod: Filter over every node name, then Prioritize over the feasible
//   ones, for a 1-GPU pod with the built-in "baseline" profile, on 5,000 8-GPU nodes in varied
//   states (what one kube-scheduler cycle asks of the extender). Counters p50_us / p99_us are
//   per-request latencies over the run. shuffled:0 sends the names in the model's node order
//   (as kube-scheduler lists nodes it learned from the same informer order), shuffled:1 in a
//   random order (every name then costs a hash lookup; ClusterCache::FindNodes). fgd:1 uses the
//   "fgd" profile (the extender's default) instead of "baseline".
// BM_ApplyPodEvent: one pod event (a bound pod added, then removed) on a 5,000-node store, with
//   the new snapshot published: per event.

#include <algorithm>
#include <chrono>
#include <random>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "plugins/gpu_share/policies.h"
#include "test/fakes/live_world.h"

namespace gpusched {
namespace {

using framework::PodInfo;

std::vector<NodeId> FillCluster(runtime::LiveScheduler& live, int nodes) {
  std::mt19937_64 rng(1);
  std::vector<NodeId> names;
  for (int i = 0; i < nodes; ++i) {
    testing::NodeBuilder b("node-" + std::to_string(i));
    b.Cpu(96000).MemoryGi(768).Gpus(8, i % 3 == 0 ? "H100" : "A100", 81920);
    if (i % 50 == 0) b.Taint("dedicated", "infra");
    names.push_back(NodeId("node-" + std::to_string(i)));
    (void)live.OnNodeAdd(b.Build());
    const int busy = static_cast<int>(rng() % 8);
    if (busy > 0) {
      PodInfo pod = testing::PodBuilder("busy-" + std::to_string(i)).Cpu(8000 * busy).Gpus(busy).Build();
      (void)live.OnPodBound(pod, names.back(), {});
    }
  }
  return names;
}

void SetPercentiles(benchmark::State& state, std::vector<double>& us) {
  if (us.empty()) return;
  std::sort(us.begin(), us.end());
  state.counters["p50_us"] = us[us.size() / 2];
  state.counters["p99_us"] = us[std::min(us.size() - 1, us.size() * 99 / 100)];
}

void BM_FilterPrioritizeOneGpuPod(benchmark::State& state) {
  testing::LiveWorld w;
  const int parallelism = static_cast<int>(state.range(1));
  absl::StatusOr<std::vector<runtime::Profile>> builtin =
      runtime::ParseProfiles(plugins::kBuiltinProfiles, "built-in");
  absl::StatusOr<runtime::Profile> profile =
      builtin.ok() ? runtime::FindProfile(*builtin, state.range(3) == 1 ? "fgd" : "baseline")
                   : builtin.status();
  if (!profile.ok()) {
    state.SkipWithError(std::string(profile.status().message()).c_str());
    return;
  }
  for (runtime::PluginConfig& pc : profile->plugins) {  // FGD from the generic prior, as live
    if (pc.name == plugins::gpu_share::Fgd::kName) pc.args = plugins::gpu_share::ObservedFgdArgs();
  }
  if (absl::Status s = w.Start(*profile, {.parallelism = parallelism}); !s.ok()) {
    state.SkipWithError(std::string(s.message()).c_str());
    return;
  }
  std::vector<NodeId> names = FillCluster(*w.live, static_cast<int>(state.range(0)));
  if (state.range(2) == 1) {  // names in an order unrelated to the model's
    std::mt19937_64 rng(7);
    std::shuffle(names.begin(), names.end(), rng);
  }
  const PodInfo pod = testing::PodBuilder("bench").Cpu(4000).MemoryGi(32).Gpus(1).Build();
  std::vector<double> us;
  for (auto _ : state) {
    // Timed: the two calls. Not timed: the feasible names, which the second request brings
    // decoded (as the extender's Prioritize gets them from its JSON).
    const auto t0 = std::chrono::steady_clock::now();
    runtime::Framework::FilterVerdicts v = w.live->Filter(pod, names);
    const auto t1 = std::chrono::steady_clock::now();
    state.PauseTiming();
    const std::vector<NodeId> feasible = v.FeasibleNames(names);
    state.ResumeTiming();
    const auto t2 = std::chrono::steady_clock::now();
    auto p = w.live->Prioritize(pod, feasible);
    benchmark::DoNotOptimize(p);
    const auto t3 = std::chrono::steady_clock::now();
    us.push_back(std::chrono::duration<double, std::micro>((t1 - t0) + (t3 - t2)).count());
    if (v.feasible.empty() || !p.ok()) {
      state.SkipWithError("nothing feasible");
      return;
    }
  }
  SetPercentiles(state, us);
}
BENCHMARK(BM_FilterPrioritizeOneGpuPod)
    ->ArgNames({"nodes", "threads", "shuffled", "fgd"})
    ->Args({5000, 1, 0, 0})
    ->Args({5000, 2, 0, 0})
    ->Args({5000, 2, 1, 0})
    ->Args({5000, 2, 0, 1})
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

void BM_ApplyPodEvent(benchmark::State& state) {
  testing::LiveWorld w;
  if (absl::Status s = w.Start("baseline"); !s.ok()) {
    state.SkipWithError(std::string(s.message()).c_str());
    return;
  }
  const std::vector<NodeId> names = FillCluster(*w.live, static_cast<int>(state.range(0)));
  const PodInfo pod = testing::PodBuilder("event").Cpu(1000).Gpus(1).Build();
  const std::vector<framework::GpuShare> gpus = {
      framework::GpuShare{DeviceIndex(7), kOneGpu, GpuMemMiB(81920)}};
  const NodeId node("node-1");  // GPU 7 of node-1 is free (busy pods take the lowest indexes)
  bool placed = false;
  for (auto _ : state) {
    absl::Status s = placed ? w.live->OnPodDeleted(pod.uid) : w.live->OnPodBound(pod, node, gpus);
    if (!s.ok()) {
      state.SkipWithError(std::string(s.message()).c_str());
      return;
    }
    placed = !placed;
  }
}
BENCHMARK(BM_ApplyPodEvent)->ArgNames({"nodes"})->Arg(5000)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace gpusched

BENCHMARK_MAIN();
