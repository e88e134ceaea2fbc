#include "cli/sim.h"

#include <algorithm>
#include <memory>
#include <set>
#include <thread>

#include "CLI/CLI.hpp"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"
#include "plugins/registry.h"
#include "scheduler/runtime/profile.h"
#include "simulator/engine.h"
#include "simulator/report.h"
#include "simulator/trace/openb.h"
#include "simulator/trace/sample.h"
#include "simulator/workload_check.h"
#include "topology/presets.h"

namespace gpusched::cli {
namespace {

constexpr char kCommand[] = "sim";
constexpr std::string_view kPolicies[] = {"fgd",        "bestfit", "packing",
                                          "clustering", "dotprod", "random"};

struct SimFlags {
  std::string cluster, trace, policy = "all", mode = "inflation", seeds = "42-51";
  std::string out_dir = "out/sim", tie_break = "first", topology, path = "framework";
  std::string typical_pods = "trace";
  double inflation = 1.3;
  int threads = std::clamp(static_cast<int>(std::thread::hardware_concurrency()), 1, 256);
  int64_t extender_weight = 100;
  int max_input_mb = kDefaultMaxInputMb;
  bool json = false;
  // Set after parsing: whether these flags were given (they only apply in some contexts).
  bool inflation_given = false, weight_given = false;
};

// "42-51", "1,2,3" or a mix; at most kMaxSeeds in all, none twice.
absl::StatusOr<std::vector<uint64_t>> ParseSeeds(const std::string& text) {
  std::vector<uint64_t> seeds;
  std::set<uint64_t> seen;
  for (const std::string& part : std::vector<std::string>(absl::StrSplit(text, ','))) {
    std::vector<std::string> range = absl::StrSplit(part, absl::MaxSplits('-', 1));
    uint64_t lo = 0, hi = 0;
    if (!absl::SimpleAtoi(range[0], &lo) ||
        !absl::SimpleAtoi(range.size() == 2 ? range[1] : range[0], &hi) || hi < lo) {
      return absl::InvalidArgumentError(
          absl::StrCat("--seeds: \"", text, "\" is not like 42-51 or 1,2,3 (\"", part, "\")"));
    }
    // Counted before the loop, so a range ending at the top of uint64 cannot loop forever.
    if (hi - lo >= static_cast<uint64_t>(kMaxSeeds) ||
        seeds.size() + (hi - lo + 1) > static_cast<size_t>(kMaxSeeds)) {
      return absl::InvalidArgumentError(absl::StrCat("--seeds: \"", text, "\" gives more than ",
                                                     kMaxSeeds, " seeds, the limit"));
    }
    for (uint64_t s = lo;; ++s) {
      if (!seen.insert(s).second) {
        return absl::InvalidArgumentError(
            absl::StrCat("--seeds: seed ", s, " is given twice in \"", text, "\""));
      }
      seeds.push_back(s);
      if (s == hi) break;
    }
  }
  return seeds;
}

// Built-in names (comma-separated, none twice), "all", or a profile file (every profile in it).
absl::StatusOr<std::vector<runtime::Profile>> ResolvePolicies(const SimFlags& f) {
  if (f.policy.size() > 5 && (f.policy.ends_with(".yaml") || f.policy.ends_with(".yml") ||
                              f.policy.ends_with(".json"))) {
    ASSIGN_OR_RETURN(std::vector<runtime::Profile> loaded,
                     runtime::LoadProfilesFile(f.policy, static_cast<size_t>(f.max_input_mb) << 20));
    if (loaded.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("--policy ", f.policy, ": no profiles"));
    }
    return loaded;
  }
  ASSIGN_OR_RETURN(std::vector<runtime::Profile> builtin,
                   runtime::ParseProfiles(plugins::kBuiltinProfiles, "built-in profiles"));
  std::vector<std::string> names;
  if (f.policy == "all") {
    names.assign(std::begin(kPolicies), std::end(kPolicies));
  } else {
    names = absl::StrSplit(f.policy, ',');
  }
  std::vector<runtime::Profile> profiles;
  std::set<std::string> seen;
  for (const std::string& n : names) {
    if (!seen.insert(n).second) {
      return absl::InvalidArgumentError(absl::StrCat("--policy: \"", n, "\" is given twice"));
    }
    absl::StatusOr<runtime::Profile> p = runtime::FindProfile(builtin, n);
    if (!p.ok()) return absl::InvalidArgumentError(absl::StrCat("--policy: ", p.status().message()));
    profiles.push_back(*std::move(p));
  }
  return profiles;
}

// --topology MODEL=PRESET,...: every preset must exist; a model may appear once.
absl::StatusOr<std::map<std::string, std::string>> ParseTopologyMap(const std::string& text) {
  std::map<std::string, std::string> presets;
  if (text.empty()) return presets;
  for (const std::string& pair : std::vector<std::string>(absl::StrSplit(text, ','))) {
    std::vector<std::string> kv = absl::StrSplit(pair, absl::MaxSplits('=', 1));
    if (kv.size() != 2 || kv[0].empty() || kv[1].empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--topology: \"", pair, "\" is not MODEL=PRESET (e.g. G2=dgx1-v100)"));
    }
    if (absl::StatusOr<topology::GpuTopology> t = topology::Preset(kv[1]); !t.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--topology ", pair, ": ", t.status().message()));
    }
    if (!presets.emplace(kv[0], kv[1]).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("--topology: model ", kv[0], " is mapped twice"));
    }
  }
  return presets;
}

struct LoadedWorkload {
  simulator::Workload workload;
  std::string title;
};

absl::StatusOr<LoadedWorkload> LoadWorkload(const SimFlags& f) {
  LoadedWorkload w;
  if (f.cluster.empty()) {
    simulator::trace::Sample s = simulator::trace::GenerateSample({});
    w.workload.nodes = std::move(s.nodes);
    w.workload.pods = std::move(s.pods);
    w.title = "built-in openb-like sample";
    return w;
  }
  const size_t limit = static_cast<size_t>(f.max_input_mb) << 20;
  ASSIGN_OR_RETURN(w.workload.nodes, simulator::trace::ReadOpenbNodes(f.cluster, limit));
  ASSIGN_OR_RETURN(w.workload.pods, simulator::trace::ReadOpenbPods(f.trace, limit));
  w.title = absl::StrCat(f.trace, " on ", f.cluster);
  return w;
}

// Per policy and GPU count: mean over runs of each run's mean min pair bandwidth.
void PrintBandwidthTable(std::ostream& out, const std::vector<runtime::Profile>& profiles,
                         const std::vector<simulator::RunResult>& runs) {
  out << "\nMulti-GPU pods on nodes with a topology: minimum GPU-pair bandwidth (GB/s), "
         "mean per pod size\n";
  std::set<int> sizes;
  for (const auto& r : runs) {
    for (const auto& [k, v] : r.min_bandwidth_by_gpu_count) sizes.insert(k);
  }
  out << absl::StrFormat("  %-14s", "policy");
  for (int k : sizes) out << absl::StrFormat("  %9s", absl::StrCat(k, " GPUs"));
  out << absl::StrFormat("  %9s\n", "all");
  auto mean_cell = [](double sum, int n) { return n ? absl::StrFormat("%.1f", sum / n) : "-"; };
  for (const auto& p : profiles) {
    out << absl::StrFormat("  %-14s", p.name);
    for (int k : sizes) {
      double sum = 0;
      int n = 0;
      for (const auto& r : runs) {
        auto it = r.min_bandwidth_by_gpu_count.find(k);
        if (r.policy != p.name || it == r.min_bandwidth_by_gpu_count.end()) continue;
        sum += it->second.second;
        ++n;
      }
      out << absl::StrFormat("  %9s", mean_cell(sum, n));
    }
    double sum = 0;
    int n = 0;
    for (const auto& r : runs) {
      if (r.policy != p.name || r.multi_gpu_pods_on_topology == 0) continue;
      sum += r.mean_multi_gpu_min_bandwidth_gbps;
      ++n;
    }
    out << absl::StrFormat("  %9s\n", mean_cell(sum, n));
  }
}

// Flags that only mean something together with others.
absl::Status CheckContext(const SimFlags& f) {
  if (f.cluster.empty() != f.trace.empty()) {
    return absl::InvalidArgumentError("give both --cluster and --trace, or neither (built-in sample)");
  }
  if (f.inflation_given && f.mode != "inflation") {
    return absl::InvalidArgumentError("--inflation applies to --mode inflation only");
  }
  if (f.weight_given && f.path != "extender") {
    return absl::InvalidArgumentError("--extender-weight applies to --path extender only");
  }
  if (!(f.inflation > 0) || f.inflation > 10) {
    return absl::InvalidArgumentError(
        absl::StrFormat("--inflation: expected a number in (0, 10], got %g", f.inflation));
  }
  return absl::OkStatus();
}

int Run(const SimFlags& f, std::ostream& out, std::ostream& err) {
  // 1. Everything the flags alone decide, before any file is read.
  if (absl::Status s = CheckContext(f); !s.ok()) return UsageError(err, kCommand, MessageOf(s));
  absl::StatusOr<std::vector<uint64_t>> seeds = ParseSeeds(f.seeds);
  if (!seeds.ok()) return UsageError(err, kCommand, MessageOf(seeds.status()));
  absl::StatusOr<std::map<std::string, std::string>> presets = ParseTopologyMap(f.topology);
  if (!presets.ok()) return UsageError(err, kCommand, MessageOf(presets.status()));
  absl::StatusOr<std::vector<runtime::Profile>> profiles = ResolvePolicies(f);
  if (!profiles.ok()) {
    return profiles.status().code() == absl::StatusCode::kInvalidArgument &&
                   MessageOf(profiles.status()).starts_with("--policy")
               ? UsageError(err, kCommand, MessageOf(profiles.status()))
               : Fail(err, kCommand, profiles.status());
  }
  if (absl::Status s = PrepareOutputDir(f.out_dir); !s.ok()) return Fail(err, kCommand, s);

  // 2. The inputs, and what is odd about them.
  absl::StatusOr<LoadedWorkload> loaded = LoadWorkload(f);
  if (!loaded.ok()) return Fail(err, kCommand, loaded.status());
  simulator::SimOptions options;
  options.mode = f.mode;
  options.inflation = f.inflation;
  options.tie_break = f.tie_break;
  options.path = f.path;
  options.typical_pods = f.typical_pods;
  options.extender_weight = f.extender_weight;
  options.topology_presets = *std::move(presets);
  const std::vector<std::string> warnings = simulator::WorkloadWarnings(loaded->workload, options);
  PrintWarnings(err, warnings);
  std::string title = loaded->title;
  absl::StrAppend(&title, ", ", f.mode,
                  f.mode == "inflation" ? absl::StrFormat(" to %.0f%%", f.inflation * 100) : "");

  // 3. The runs.
  err << absl::StrFormat("sim: %d nodes, %d pods, %d policies x %d seeds, %s, %d threads\n",
                         loaded->workload.nodes.size(), loaded->workload.pods.size(),
                         profiles->size(), seeds->size(), f.mode, f.threads);
  auto runs = simulator::RunMany(
      loaded->workload, *profiles, *seeds, options, f.threads,
      [&](int done, int total, const simulator::RunResult& r) {
        err << absl::StrFormat("  [%d/%d] %-10s seed %-4d unalloc@100 %s  %.2fs\n", done, total,
                               r.policy, r.seed,
                               r.unallocated_at_100 ? absl::StrFormat("%.2f%%", *r.unallocated_at_100)
                                                    : "n/a",
                               r.wall_seconds);
      });
  if (!runs.ok()) return Fail(err, kCommand, runs.status());

  // 4. Results first (so they are seen even if the report cannot be written), then the report.
  const auto summary = simulator::Summarize(*runs);
  if (f.json) {
    out << simulator::SummaryJson(summary, title, warnings) << "\n";
  } else {
    out << "\n" << title << "\n";
    PrintWarnings(out, warnings);
    simulator::PrintSummaryTable(out, summary);
    if (!options.topology_presets.empty()) PrintBandwidthTable(out, *profiles, *runs);
  }
  if (absl::Status s = simulator::WriteReport(f.out_dir, *runs, title, warnings); !s.ok()) {
    return Fail(err, kCommand, s);
  }
  if (!f.json) {
    out << "\nReport: " << f.out_dir
        << "/report.html  (summary.json, runs.csv, curves.csv beside it)\n";
  }
  return kExitOk;
}

}  // namespace

Runner AddSimCommand(CLI::App& app) {
  auto f = std::make_shared<SimFlags>();
  app.description(
      "Replay a pod trace (openb CSV) through the GPU-sharing policies and report unallocated "
      "GPUs and fragmentation. Without --cluster/--trace: a built-in openb-like sample.");
  CLI::Option* cluster = app.add_option("--cluster", f->cluster, "nodes CSV (openb node list)")
                             ->check(RealValue());
  CLI::Option* trace =
      app.add_option("--trace", f->trace, "pods CSV (openb pod list)")->check(RealValue());
  cluster->needs(trace);
  trace->needs(cluster);
  app.add_option("--policy", f->policy,
                 "fgd,bestfit,packing,clustering,dotprod,random, all, or a profiles FILE.yaml|json")
      ->check(RealValue())
      ->capture_default_str();
  app.add_option("--mode", f->mode, "inflation (the FGD paper's experiment) or replay")
      ->check(CLI::IsMember({"inflation", "replay"}))
      ->capture_default_str();
  app.add_option("--seeds", f->seeds,
                 absl::StrCat("seeds, like 42-51 or 1,2,3 (at most ", kMaxSeeds, ")"))
      ->check(RealValue())
      ->capture_default_str();
  app.add_option("--threads", f->threads, "runs at a time")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  CLI::Option* inflation =
      app.add_option("--inflation", f->inflation, "inflation mode: target GPU request / capacity, in (0, 10]")
          ->capture_default_str();
  app.add_option("--tie-break", f->tie_break, "ties between equal nodes: first or random")
      ->check(CLI::IsMember({"first", "random"}))
      ->capture_default_str();
  app.add_option("--out", f->out_dir, "report directory (created; checked before any work)")
      ->check(RealValue())
      ->capture_default_str();
  app.add_flag("--json", f->json, "print the JSON summary instead of the table");
  app.add_option("--path", f->path,
                 "framework, or extender: every pod through filter/prioritize/bind as "
                 "kube-scheduler calls them")
      ->check(CLI::IsMember({"framework", "extender"}))
      ->capture_default_str();
  CLI::Option* weight =
      app.add_option("--extender-weight", f->extender_weight, "--path extender: the extender's weight")
          ->check(CLI::Range(int64_t{1}, int64_t{1'000'000}))
          ->capture_default_str();
  app.add_option("--typical-pods", f->typical_pods,
                 "FGD's typical pods: counted from the trace, or observed (learnt as the live "
                 "extender does)")
      ->check(CLI::IsMember({"trace", "observed"}))
      ->capture_default_str();
  app.add_option("--topology", f->topology,
                 "MODEL=PRESET,... GPU wiring for nodes of that model (e.g. G2=dgx1-v100); "
                 "reports multi-GPU pods' minimum bandwidth")
      ->check(RealValue());
  app.add_option("--max-input-mb", f->max_input_mb, "size limit of each input file, in MiB")
      ->check(CLI::Range(1, kMaxMaxInputMb))
      ->capture_default_str();
  return [f, inflation, weight](std::ostream& out, std::ostream& err) {
    f->inflation_given = inflation->count() > 0;
    f->weight_given = weight->count() > 0;
    return Run(*f, out, err);
  };
}

int RunSim(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  CLI::App app("", "gpusched sim");
  const Runner run = AddSimCommand(app);
  return ParseThenRun(app, args, out, err, run);
}

}  // namespace gpusched::cli
