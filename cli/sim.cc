#include "cli/sim.h"

#include <algorithm>
#include <set>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "cli/flags.h"
#include "plugins/registry.h"
#include "scheduler/runtime/profile.h"
#include "simulator/engine.h"
#include "simulator/report.h"
#include "simulator/trace/openb.h"
#include "simulator/trace/sample.h"

namespace gpusched::cli {
namespace {

constexpr char kUsage[] =
    "usage: gpusched sim [--cluster NODES.csv --trace PODS.csv]\n"
    "                    [--policy fgd,bestfit,packing,clustering,dotprod,random|all|FILE.yaml]\n"
    "                    [--mode inflation|replay] [--seeds 42-51|42,43] [--threads N]\n"
    "                    [--inflation 1.3] [--tie-break first|random] [--out DIR] [--json]\n"
    "                    [--path framework|extender] [--extender-weight 100]  (extender: every\n"
    "                    pod through filter/prioritize/bind as kube-scheduler calls them)\n"
    "                    [--typical-pods trace|observed]  (FGD's typical pods counted from the\n"
    "                    trace, or learnt from the pods seen so far, as the live extender does)\n"
    "                    [--topology MODEL=PRESET,...]  (e.g. G2=dgx1-v100: GPU wiring for\n"
    "                    nodes of that model; reports multi-GPU pods' min bandwidth)\n";

constexpr std::string_view kPolicies[] = {"fgd",        "bestfit", "packing",
                                          "clustering", "dotprod", "random"};

absl::StatusOr<std::vector<uint64_t>> ParseSeeds(const std::string& text) {
  std::vector<uint64_t> seeds;
  for (const std::string& part : std::vector<std::string>(absl::StrSplit(text, ','))) {
    std::vector<std::string> range = absl::StrSplit(part, absl::MaxSplits('-', 1));
    uint64_t lo = 0, hi = 0;
    if (!absl::SimpleAtoi(std::string(range[0]), &lo) ||
        !absl::SimpleAtoi(std::string(range.size() == 2 ? range[1] : range[0]), &hi) || hi < lo ||
        hi - lo > 10000) {
      return absl::InvalidArgumentError(
          absl::StrCat("--seeds: \"", text, "\" is not like 42-51 or 1,2,3"));
    }
    for (uint64_t s = lo; s <= hi; ++s) seeds.push_back(s);
  }
  return seeds;
}

}  // namespace

int RunSim(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  std::string cluster, trace_file, policy = "all", mode = "inflation", seeds_text = "42-51";
  std::string out_dir = "out/sim";
  std::string tie_break = "first";
  std::string topology_text;
  double inflation = 1.3;
  int threads = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  bool json = false;
  std::string threads_text, inflation_text, path = "framework", weight_text;
  std::string typical_pods = "trace";
  FlagReader flags(args);
  while (flags.Next()) {
    if (flags.Value("--cluster", cluster) || flags.Value("--trace", trace_file) ||
        flags.Value("--policy", policy) || flags.Value("--mode", mode) ||
        flags.Value("--seeds", seeds_text) || flags.Value("--topology", topology_text) ||
        flags.Value("--tie-break", tie_break) || flags.Value("--out", out_dir) ||
        flags.Value("--threads", threads_text) || flags.Value("--inflation", inflation_text) ||
        flags.Value("--path", path) || flags.Value("--extender-weight", weight_text) ||
        flags.Value("--typical-pods", typical_pods) ||
        flags.Switch("--json", json)) {
      continue;
    }
    if (flags.current() == "--help" || flags.current() == "-h") {
      out << kUsage;
      return 0;
    }
    return flags.Unknown(err, "sim", kUsage);
  }
  if (path != "framework" && path != "extender") {
    err << "sim: --path: expected framework or extender, got \"" << path << "\"\n";
    return 2;
  }
  if (typical_pods != "trace" && typical_pods != "observed") {
    err << "sim: --typical-pods: expected trace or observed, got \"" << typical_pods << "\"\n";
    return 2;
  }
  int64_t extender_weight = 100;
  if (!weight_text.empty() && (!absl::SimpleAtoi(weight_text, &extender_weight) ||
                               extender_weight < 1 || extender_weight > 1000000)) {
    err << "sim: --extender-weight: expected 1..1000000, got \"" << weight_text << "\"\n";
    return 2;
  }
  if (!threads_text.empty() &&
      (!absl::SimpleAtoi(threads_text, &threads) || threads < 1 || threads > 256)) {
    err << "sim: --threads: expected 1..256, got \"" << threads_text << "\"\n";
    return 2;
  }
  if (!inflation_text.empty() && (!absl::SimpleAtod(inflation_text, &inflation) ||
                                  !(inflation > 0) || inflation > 10)) {
    err << "sim: --inflation: expected a number in (0, 10], got \"" << inflation_text << "\"\n";
    return 2;
  }
  if (cluster.empty() != trace_file.empty()) {
    err << "sim: give both --cluster and --trace, or neither (built-in sample)\n";
    return 2;
  }
  absl::StatusOr<std::vector<uint64_t>> seeds = ParseSeeds(seeds_text);
  if (!seeds.ok()) {
    err << "sim: " << seeds.status().message() << "\n";
    return 2;
  }

  simulator::Workload workload;
  std::string title;
  if (cluster.empty()) {
    simulator::trace::Sample s = simulator::trace::GenerateSample({});
    workload.nodes = std::move(s.nodes);
    workload.pods = std::move(s.pods);
    title = "built-in openb-like sample";
  } else {
    auto nodes = simulator::trace::ReadOpenbNodes(cluster);
    if (!nodes.ok()) {
      err << "sim: " << nodes.status().message() << "\n";
      return 1;
    }
    auto pods = simulator::trace::ReadOpenbPods(trace_file);
    if (!pods.ok()) {
      err << "sim: " << pods.status().message() << "\n";
      return 1;
    }
    workload.nodes = *std::move(nodes);
    workload.pods = *std::move(pods);
    title = absl::StrCat(trace_file, " on ", cluster);
  }
  absl::StrAppend(&title, ", ", mode, mode == "inflation" ? absl::StrFormat(" to %.0f%%", inflation * 100) : "");

  // Policies: built-in names, "all", or a profile file (every profile in it).
  auto builtin = runtime::ParseProfiles(plugins::kBuiltinProfiles, "built-in profiles");
  if (!builtin.ok()) {
    err << "sim: " << builtin.status().message() << "\n";
    return 1;
  }
  std::vector<runtime::Profile> profiles;
  if (policy.size() > 5 && (policy.ends_with(".yaml") || policy.ends_with(".yml") ||
                            policy.ends_with(".json"))) {
    auto loaded = runtime::LoadProfilesFile(policy);
    if (!loaded.ok()) {
      err << "sim: " << loaded.status().message() << "\n";
      return 1;
    }
    profiles = *std::move(loaded);
  } else {
    std::vector<std::string> names;
    if (policy == "all") {
      names.assign(std::begin(kPolicies), std::end(kPolicies));
    } else {
      names = absl::StrSplit(policy, ',');
    }
    for (const std::string& n : names) {
      auto p = runtime::FindProfile(*builtin, n);
      if (!p.ok()) {
        err << "sim: --policy: " << p.status().message() << "\n";
        return 2;
      }
      profiles.push_back(*std::move(p));
    }
  }

  simulator::SimOptions options;
  options.mode = mode;
  options.inflation = inflation;
  options.tie_break = tie_break;
  options.path = path;
  options.typical_pods = typical_pods;
  options.extender_weight = extender_weight;
  if (!topology_text.empty()) {
    for (const std::string& pair : std::vector<std::string>(absl::StrSplit(topology_text, ','))) {
      std::vector<std::string> kv = absl::StrSplit(pair, absl::MaxSplits('=', 1));
      if (kv.size() != 2 || kv[0].empty() || kv[1].empty()) {
        err << "sim: --topology: \"" << pair << "\" is not MODEL=PRESET (e.g. G2=dgx1-v100)\n";
        return 2;
      }
      options.topology_presets[kv[0]] = kv[1];
    }
  }
  err << absl::StrFormat("sim: %d nodes, %d pods, %d policies x %d seeds, %s, %d threads\n",
                         workload.nodes.size(), workload.pods.size(), profiles.size(),
                         seeds->size(), mode, threads);
  auto runs = simulator::RunMany(
      workload, profiles, *seeds, options, threads,
      [&](int done, int total, const simulator::RunResult& r) {
        err << absl::StrFormat("  [%d/%d] %-10s seed %-4d unalloc@100 %s  %.2fs\n", done, total,
                               r.policy, r.seed,
                               r.unallocated_at_100 ? absl::StrFormat("%.2f%%", *r.unallocated_at_100)
                                                    : "n/a",
                               r.wall_seconds);
      });
  if (!runs.ok()) {
    err << "sim: " << runs.status().message() << "\n";
    return 1;
  }
  if (absl::Status s = simulator::WriteReport(out_dir, *runs, title); !s.ok()) {
    err << "sim: " << s.message() << "\n";
    return 1;
  }
  const auto summary = simulator::Summarize(*runs);
  if (json) {
    out << simulator::SummaryJson(summary, title) << "\n";
  } else {
    out << "\n" << title << "\n";
    simulator::PrintSummaryTable(out, summary);
    if (!options.topology_presets.empty()) {
      // Per policy and GPU count: mean over runs of each run's mean min pair bandwidth.
      out << "\nMulti-GPU pods on nodes with a topology: minimum GPU-pair bandwidth (GB/s), "
             "mean per pod size\n";
      std::set<int> sizes;
      for (const auto& r : *runs) {
        for (const auto& [k, v] : r.min_bandwidth_by_gpu_count) sizes.insert(k);
      }
      out << absl::StrFormat("  %-14s", "policy");
      for (int k : sizes) out << absl::StrFormat("  %9s", absl::StrCat(k, " GPUs"));
      out << absl::StrFormat("  %9s\n", "all");
      for (const auto& p : profiles) {
        out << absl::StrFormat("  %-14s", p.name);
        for (int k : sizes) {
          double sum = 0;
          int n = 0;
          for (const auto& r : *runs) {
            auto it = r.min_bandwidth_by_gpu_count.find(k);
            if (r.policy != p.name || it == r.min_bandwidth_by_gpu_count.end()) continue;
            sum += it->second.second;
            ++n;
          }
          out << absl::StrFormat("  %9s", n ? absl::StrFormat("%.1f", sum / n) : "-");
        }
        double sum = 0;
        int n = 0;
        for (const auto& r : *runs) {
          if (r.policy != p.name || r.multi_gpu_pods_on_topology == 0) continue;
          sum += r.mean_multi_gpu_min_bandwidth_gbps;
          ++n;
        }
        out << absl::StrFormat("  %9s\n", n ? absl::StrFormat("%.1f", sum / n) : "-");
      }
    }
    out << "\nReport: " << out_dir << "/report.html  (summary.json, runs.csv, curves.csv beside it)\n";
  }
  return 0;
}

}  // namespace gpusched::cli
