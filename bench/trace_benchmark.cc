// Reader throughput on generated inputs of the sizes the offline tools face: a 1.2 M-row Philly
// job trace (~60 MB here; the real command column makes a row ~190 bytes) and a 1 M-row openb pod
// file. The readers are one pass over the text (simulator/trace/philly.h, openb.h), so time and
// memory must grow linearly with the rows; compare the /300000 and /1200000 rows.
//
//   build/bench/trace_benchmark --benchmark_repetitions=5 --benchmark_report_aggregates_only=true

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "simulator/job_engine.h"
#include "simulator/trace/openb.h"
#include "simulator/trace/philly.h"

namespace trace = gpusched::simulator::trace;

namespace {

std::string PhillyText(int rows) {
  std::string text;
  text.reserve(static_cast<size_t>(rows) * 64);
  for (int i = 0; i < rows; ++i) {
    absl::StrAppend(&text, "Synthetic\tcd %s/workloads && python3 main.py\t--steps\t1\t",
                    60 + (i * 7919) % 100000, "\t", i / 3, ".000000\t", 1 << (i % 4), "\n");
  }
  return text;
}

std::string PodText(int rows) {
  std::string text =
      "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,"
      "deletion_time,scheduled_time\n";
  text.reserve(static_cast<size_t>(rows) * 80);
  for (int i = 0; i < rows; ++i) {
    absl::StrAppend(&text, "openb-pod-", i, ",8000,32768,1,", 100 + i % 900,
                    ",V100M16|V100M32,LS,Running,", i, ",", i + 3600, ",", i, "\n");
  }
  return text;
}

void BM_ParsePhillyTrace(benchmark::State& state) {
  const int rows = static_cast<int>(state.range(0));
  const std::string text = PhillyText(rows);
  const trace::ThroughputTable table = trace::ThroughputTable::Synthetic();
  for (auto _ : state) {
    auto jobs = trace::ParsePhillyTrace(text, "bench.trace", table);
    if (!jobs.ok() || jobs->size() != static_cast<size_t>(rows)) state.SkipWithError("parse");
    benchmark::DoNotOptimize(jobs);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
  state.SetItemsProcessed(state.iterations() * rows);
}
BENCHMARK(BM_ParsePhillyTrace)->Arg(300'000)->Arg(1'200'000)->Unit(benchmark::kMillisecond);

// The whole path the CLI takes: a directory of 4 files (ReadInputFile, parse, merge, stable sort).
void BM_ReadPhillyTraceDirectory(benchmark::State& state) {
  const int rows = static_cast<int>(state.range(0));
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / absl::StrCat("trace_benchmark_", ::getpid());
  std::filesystem::create_directories(dir);
  for (int f = 0; f < 4; ++f) {
    const std::string text = PhillyText(rows / 4);
    std::FILE* out = std::fopen((dir / absl::StrCat("part", f, ".trace")).c_str(), "wb");
    std::fwrite(text.data(), 1, text.size(), out);
    std::fclose(out);
  }
  const trace::ThroughputTable table = trace::ThroughputTable::Synthetic();
  for (auto _ : state) {
    auto jobs = trace::ReadPhillyTrace(dir.string(), table);
    if (!jobs.ok() || jobs->size() != static_cast<size_t>(rows)) state.SkipWithError("read");
    benchmark::DoNotOptimize(jobs);
  }
  state.SetItemsProcessed(state.iterations() * rows);
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_ReadPhillyTraceDirectory)->Arg(300'000)->Arg(1'200'000)->Unit(benchmark::kMillisecond);

void BM_ParseOpenbPods(benchmark::State& state) {
  const int rows = static_cast<int>(state.range(0));
  const std::string text = PodText(rows);
  for (auto _ : state) {
    auto pods = trace::ParseOpenbPods(text, "bench.csv");
    if (!pods.ok() || pods->size() != static_cast<size_t>(rows)) state.SkipWithError("parse");
    benchmark::DoNotOptimize(pods);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
  state.SetItemsProcessed(state.iterations() * rows);
}
BENCHMARK(BM_ParseOpenbPods)->Arg(250'000)->Arg(1'000'000)->Unit(benchmark::kMillisecond);

}  // namespace

// The job simulation on an overloaded cluster (8 nodes for thousands of jobs: the queue grows with
// the trace): with strict FIFO and per-pod greedy queues, a pass costs what it looks at, so the
// time per job stays flat as the trace grows (was quadratic: 40 k jobs naive/greedy 113 s).
void BM_RunJobSimOverloaded(benchmark::State& state) {
  gpusched::simulator::trace::JobSampleOptions sample;
  sample.jobs = static_cast<int>(state.range(0));
  sample.mean_interarrival_s = 20;
  const std::vector<gpusched::simulator::trace::JobRecord> jobs =
      gpusched::simulator::trace::GenerateJobSample(sample);
  gpusched::simulator::JobSimOptions o;
  o.nodes = 8;
  o.mode = state.range(1) == 0 ? "gang" : "naive";
  o.order = state.range(1) == 0 ? "fifo" : "greedy";
  for (auto _ : state) {
    absl::StatusOr<gpusched::simulator::JobSimResult> r = gpusched::simulator::RunJobSim(jobs, o);
    if (!r.ok()) state.SkipWithError("RunJobSim failed");
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_RunJobSimOverloaded)
    ->Args({5'000, 0})->Args({20'000, 0})->Args({5'000, 1})->Args({20'000, 1})
    ->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
