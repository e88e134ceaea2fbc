// One inflation run of the FGD paper's experiment (shuffle, resample to 130 % of GPU capacity,
// schedule each pod once) per policy, on the openb trace when ../shared/data/openb is there
// (1,213 nodes, ~10.8 k pods), else on the built-in sample.
//
//   build/bench/sim_benchmark --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
//   OPENB_DIR=/path/to/openb build/bench/sim_benchmark ...

#include <cstdlib>
#include <filesystem>

#include "benchmark/benchmark.h"
#include "plugins/registry.h"
#include "scheduler/runtime/profile.h"
#include "simulator/engine.h"
#include "simulator/trace/openb.h"
#include "simulator/trace/sample.h"

namespace gpusched::simulator {
namespace {

const Workload& TheWorkload() {
  static const Workload* w = [] {
    auto* out = new Workload;
    std::string dir = "../shared/data/openb";
    if (const char* env = std::getenv("OPENB_DIR")) dir = env;
    auto nodes = trace::ReadOpenbNodes(dir + "/openb_node_list_gpu_node.csv");
    auto pods = trace::ReadOpenbPods(dir + "/openb_pod_list_default.csv");
    if (nodes.ok() && pods.ok()) {
      out->nodes = *std::move(nodes);
      out->pods = *std::move(pods);
    } else {
      trace::Sample s = trace::GenerateSample({});
      out->nodes = std::move(s.nodes);
      out->pods = std::move(s.pods);
    }
    return out;
  }();
  return *w;
}

void BM_InflationRun(benchmark::State& state, const char* policy, int parallelism,
                     const char* path = "framework") {
  const Workload& w = TheWorkload();
  auto profiles = runtime::ParseProfiles(plugins::kBuiltinProfiles, "built-in");
  auto profile = runtime::FindProfile(*profiles, policy);
  uint64_t seed = 42;
  int64_t pods = 0;
  for (auto _ : state) {
    SimOptions options;
    options.parallelism = parallelism;
    options.path = path;
    auto r = RunOnce(w, *profile, seed++, options);
    if (!r.ok()) {
      state.SkipWithError(std::string(r.status().message()).c_str());
      return;
    }
    pods = r->pods_arrived;
  }
  state.counters["nodes"] = static_cast<double>(w.nodes.size());
  state.counters["pods"] = static_cast<double>(pods);
}
BENCHMARK_CAPTURE(BM_InflationRun, fgd_1thread, "fgd", 1)->Unit(benchmark::kMillisecond)->UseRealTime();
// The same FGD run with every pod through filter, prioritize, kube-scheduler's combination and
// bind (--path extender): the per-verb path's overhead.
BENCHMARK_CAPTURE(BM_InflationRun, fgd_1thread_extender_path, "fgd", 1, "extender")
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_InflationRun, bestfit_1thread, "bestfit", 1)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace gpusched::simulator

BENCHMARK_MAIN();
