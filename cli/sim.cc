#include "cli/sim.h"

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <system_error>
#include <thread>

#include "CLI/CLI.hpp"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/file.h"
#include "common/printable.h"
#include "common/status_macros.h"
#include "plugins/registry.h"
#include "scheduler/runtime/profile.h"
#include "simulator/engine.h"
#include "simulator/report.h"
#include "simulator/shard.h"
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
  std::string shard;  // "I/N", or empty: the whole sweep
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

// --shard I/N: shard I (counted from 0) of N.
struct ShardSpec {
  int index = 0, count = 1;
};

absl::StatusOr<ShardSpec> ParseShardFlag(const std::string& text) {
  const auto bad = [&](const std::string& why) {
    return absl::InvalidArgumentError(absl::StrCat("--shard: ", QuoteForMessage(text, 40), " ", why));
  };
  // Digits only (SimpleAtoi would also take "+1" and " 1"): the value is usually pasted into a
  // Job manifest, where a stray character should stop the sweep, not pick another shard.
  const std::vector<std::string> parts = absl::StrSplit(text, '/');
  const auto number = [](const std::string& t, int* v) {
    return !t.empty() && t.size() <= 7 &&
           std::all_of(t.begin(), t.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
           absl::SimpleAtoi(t, v);
  };
  ShardSpec s;
  if (parts.size() != 2 || !number(parts[0], &s.index) || !number(parts[1], &s.count)) {
    return bad("is not I/N, shard I of N counted from 0 (e.g. 0/4 ... 3/4)");
  }
  if (s.count < 1) return bad("has N = 0; N is the number of shards, at least 1");
  if (s.count > simulator::kMaxShards) {
    return bad(absl::StrCat("has N over ", simulator::kMaxShards, ", the limit"));
  }
  if (s.index >= s.count) {
    return bad(absl::StrCat("has I = ", s.index, "; the shards of N = ", s.count, " are 0 to ",
                            s.count - 1));
  }
  return s;
}

// Built-in names (comma-separated, none twice), "all", or a profile file (every profile in it).
bool IsProfilesFile(const std::string& policy) {
  return policy.size() > 5 &&
         (policy.ends_with(".yaml") || policy.ends_with(".yml") || policy.ends_with(".json"));
}

absl::StatusOr<std::vector<runtime::Profile>> ResolvePolicies(const SimFlags& f) {
  if (IsProfilesFile(f.policy)) {
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
void PrintBandwidthTable(std::ostream& out, const std::vector<std::string>& policies,
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
  for (const std::string& name : policies) {
    out << absl::StrFormat("  %-14s", name);
    for (int k : sizes) {
      double sum = 0;
      int n = 0;
      for (const auto& r : runs) {
        auto it = r.min_bandwidth_by_gpu_count.find(k);
        if (r.policy != name || it == r.min_bandwidth_by_gpu_count.end()) continue;
        sum += it->second.second;
        ++n;
      }
      out << absl::StrFormat("  %9s", mean_cell(sum, n));
    }
    double sum = 0;
    int n = 0;
    for (const auto& r : runs) {
      if (r.policy != name || r.multi_gpu_pods_on_topology == 0) continue;
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

// What a sweep's results are printed and written from: an unsharded run and a merge of shards
// go through here with the same values, so they give the same table, JSON and report files.
struct SweepResults {
  std::string title;
  std::vector<std::string> warnings;
  std::vector<std::string> policies;  // in sweep order, for the bandwidth table
  bool bandwidth_table = false;       // --topology was given
  std::vector<simulator::RunResult> runs;
};

void PrintResults(std::ostream& out, bool json, const SweepResults& r) {
  const auto summary = simulator::Summarize(r.runs);
  if (json) {
    out << simulator::SummaryJson(summary, r.title, r.warnings) << "\n";
  } else {
    out << "\n" << r.title << "\n";
    PrintWarnings(out, r.warnings);
    simulator::PrintSummaryTable(out, summary);
    if (r.bandwidth_table) PrintBandwidthTable(out, r.policies, r.runs);
  }
}

// Results first (so they are seen even if the report cannot be written), then the report.
int ReportResults(std::ostream& out, std::ostream& err, std::string_view command, bool json,
                  const std::string& out_dir, const SweepResults& r) {
  PrintResults(out, json, r);
  if (absl::Status s = simulator::WriteReport(out_dir, r.runs, r.title, r.warnings); !s.ok()) {
    return Fail(err, command, s);
  }
  if (!json) {
    out << "\nReport: " << out_dir
        << "/report.html  (summary.json, runs.csv, curves.csv beside it)\n";
  }
  return kExitOk;
}

// An input file's identity for the shard file: the name as given (it is in the report's title),
// its size and a digest of its bytes, so that shards run on different data never merge.
absl::Status AddFileSettings(std::vector<std::pair<std::string, std::string>>& settings,
                             const std::string& key, const std::string& path, size_t limit) {
  ASSIGN_OR_RETURN(std::string bytes, ReadInputFile(path, limit, kMaxInputHint));
  settings.emplace_back(key, path);
  settings.emplace_back(key + "_bytes", absl::StrCat(bytes.size()));
  settings.emplace_back(key + "_fnv1a64", simulator::Fnv1a64Hex(bytes));
  return absl::OkStatus();
}

// Everything besides policies and seeds that decides a run's result, for the shard's identity.
// Options that apply only in some contexts are recorded anyway: they are the flags' values, and
// two shards with different values were not run as one sweep.
absl::StatusOr<std::vector<std::pair<std::string, std::string>>> SweepSettings(
    const SimFlags& f, const simulator::SimOptions& options) {
  std::vector<std::pair<std::string, std::string>> settings;
  const size_t limit = static_cast<size_t>(f.max_input_mb) << 20;
  if (f.cluster.empty()) {
    settings.emplace_back("inputs", "built-in openb-like sample");
  } else {
    settings.emplace_back("inputs", "files");
    RETURN_IF_ERROR(AddFileSettings(settings, "cluster", f.cluster, limit));
    RETURN_IF_ERROR(AddFileSettings(settings, "trace", f.trace, limit));
  }
  // The profiles' definitions, not only their names: a changed profile file (or a gpusched
  // built with other built-in profiles) gives other results under the same names.
  settings.emplace_back("policy", f.policy);
  if (IsProfilesFile(f.policy)) {
    RETURN_IF_ERROR(AddFileSettings(settings, "profiles", f.policy, limit));
  } else {
    settings.emplace_back("profiles_fnv1a64", simulator::Fnv1a64Hex(plugins::kBuiltinProfiles));
  }
  settings.emplace_back("mode", options.mode);
  settings.emplace_back("inflation", absl::StrFormat("%.17g", options.inflation));
  settings.emplace_back("tie_break", options.tie_break);
  settings.emplace_back("path", options.path);
  settings.emplace_back("extender_weight", absl::StrCat(options.extender_weight));
  settings.emplace_back("typical_pods", options.typical_pods);
  std::string topology;
  for (const auto& [model, preset] : options.topology_presets) {
    absl::StrAppend(&topology, topology.empty() ? "" : ",", model, "=", preset);
  }
  settings.emplace_back("topology", topology);
  return settings;
}

// The runs at `positions` of the sweep (position = profile index * seeds + seed index, RunMany's
// order), `threads` at a time; results in `positions` order. Each run goes through RunMany with
// one profile and one seed, so that it is made exactly as an unsharded sweep makes it.
absl::StatusOr<std::vector<simulator::RunResult>> RunPositions(
    const simulator::Workload& workload, const std::vector<runtime::Profile>& profiles,
    const std::vector<uint64_t>& seeds, const std::vector<size_t>& positions,
    const simulator::SimOptions& options, int threads,
    const std::function<void(int, int, const simulator::RunResult&)>& progress) {
  const int total = static_cast<int>(positions.size());
  std::vector<absl::StatusOr<std::vector<simulator::RunResult>>> results(
      positions.size(), absl::UnknownError("not run"));
  std::atomic<int> next{0};
  std::mutex mu;
  int done = 0;
  auto worker = [&] {
    for (int i = next.fetch_add(1); i < total; i = next.fetch_add(1)) {
      const size_t p = positions[static_cast<size_t>(i)];
      results[static_cast<size_t>(i)] = simulator::RunMany(
          workload, {profiles[p / seeds.size()]}, {seeds[p % seeds.size()]}, options, 1, {});
      std::lock_guard<std::mutex> lock(mu);
      ++done;
      if (progress && results[static_cast<size_t>(i)].ok()) {
        progress(done, total, results[static_cast<size_t>(i)]->front());
      }
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < std::min(threads, total); ++t) pool.emplace_back(worker);
  worker();
  for (std::thread& t : pool) t.join();
  std::vector<simulator::RunResult> out;
  out.reserve(positions.size());
  for (auto& r : results) {
    if (!r.ok()) return r.status();
    out.push_back(std::move(r->front()));
  }
  return out;
}

int Run(const SimFlags& f, std::ostream& out, std::ostream& err) {
  // 1. Everything the flags alone decide, before any file is read.
  if (absl::Status s = CheckContext(f); !s.ok()) return UsageError(err, kCommand, MessageOf(s));
  absl::StatusOr<std::vector<uint64_t>> seeds = ParseSeeds(f.seeds);
  if (!seeds.ok()) return UsageError(err, kCommand, MessageOf(seeds.status()));
  absl::StatusOr<std::map<std::string, std::string>> presets = ParseTopologyMap(f.topology);
  if (!presets.ok()) return UsageError(err, kCommand, MessageOf(presets.status()));
  std::optional<ShardSpec> shard;
  if (!f.shard.empty()) {
    absl::StatusOr<ShardSpec> parsed = ParseShardFlag(f.shard);
    if (!parsed.ok()) return UsageError(err, kCommand, MessageOf(parsed.status()));
    shard = *parsed;
  }
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
  SweepResults results;
  results.warnings = simulator::WorkloadWarnings(loaded->workload, options);
  PrintWarnings(err, results.warnings);
  results.title = loaded->title;
  absl::StrAppend(&results.title, ", ", f.mode,
                  f.mode == "inflation" ? absl::StrFormat(" to %.0f%%", f.inflation * 100) : "");
  for (const runtime::Profile& p : *profiles) results.policies.push_back(p.name);
  results.bandwidth_table = !options.topology_presets.empty();
  simulator::SweepIdentity identity;
  std::vector<size_t> positions;
  if (shard.has_value()) {
    identity.policies = results.policies;
    identity.seeds = *seeds;
    identity.title = results.title;
    identity.warnings = results.warnings;
    identity.bandwidth_table = results.bandwidth_table;
    absl::StatusOr<std::vector<std::pair<std::string, std::string>>> settings =
        SweepSettings(f, options);
    if (!settings.ok()) return Fail(err, kCommand, settings.status());
    identity.settings = *std::move(settings);
    positions = simulator::ShardPositions(identity.total_runs(), shard->index, shard->count);
  }

  // 3. The runs.
  err << absl::StrFormat("sim: %d nodes, %d pods, %d policies x %d seeds, %s, %d threads",
                         loaded->workload.nodes.size(), loaded->workload.pods.size(),
                         profiles->size(), seeds->size(), f.mode, f.threads)
      << (shard ? absl::StrFormat(", shard %d/%d: %d of %d runs", shard->index, shard->count,
                                  positions.size(), profiles->size() * seeds->size())
                : "")
      << "\n";
  auto progress = [&](int done, int total, const simulator::RunResult& r) {
    err << absl::StrFormat("  [%d/%d] %-10s seed %-4d unalloc@100 %s  %.2fs\n", done, total,
                           r.policy, r.seed,
                           r.unallocated_at_100 ? absl::StrFormat("%.2f%%", *r.unallocated_at_100)
                                                : "n/a",
                           r.wall_seconds);
  };
  auto runs = shard ? RunPositions(loaded->workload, *profiles, *seeds, positions, options,
                                   f.threads, progress)
                    : simulator::RunMany(loaded->workload, *profiles, *seeds, options, f.threads,
                                         progress);
  if (!runs.ok()) return Fail(err, kCommand, runs.status());
  results.runs = *std::move(runs);
  if (!shard) return ReportResults(out, err, kCommand, f.json, f.out_dir, results);

  // 4. A shard: its own runs' summary (partial, for the log), and the shard file for the merge.
  // No report: N shards writing report.html into one shared directory would overwrite each other.
  PrintResults(out, f.json, results);
  simulator::Shard file{shard->index, shard->count, std::move(identity), results.runs};
  absl::StatusOr<std::string> path = simulator::WriteShardFile(f.out_dir, file);
  if (!path.ok()) return Fail(err, kCommand, path.status());
  if (!f.json) {
    out << absl::StrFormat(
        "\nShard %d/%d (%d of %d runs): %s\nWhen all %d are done: gpusched sim merge %s --out "
        "REPORT_DIR\n",
        shard->index, shard->count, results.runs.size(), file.sweep.total_runs(), *path,
        shard->count, f.out_dir);
  }
  return kExitOk;
}

// `gpusched sim merge`.
struct MergeFlags {
  std::vector<std::string> paths;
  std::string out_dir;
  bool json = false;
  int max_input_mb = kDefaultMaxInputMb;
};

constexpr char kMergeCommand[] = "sim merge";

// Each path is a shard file, or a directory whose shard-I-of-N.json files are all taken (other
// files there, such as a report, are left alone).
absl::StatusOr<std::vector<std::string>> ShardFiles(const std::vector<std::string>& paths) {
  namespace fs = std::filesystem;
  std::vector<std::string> files;
  for (const std::string& path : paths) {
    std::error_code ec;
    if (!fs::is_directory(path, ec)) {
      files.push_back(path);  // ReadInputFile says what is wrong with it, if anything
      continue;
    }
    std::vector<std::string> found;
    for (fs::directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec)) {
      if (simulator::IsShardFileName(it->path().filename().string())) {
        found.push_back(it->path().string());
      }
    }
    if (ec) {
      return absl::FailedPreconditionError(
          absl::StrCat(path, ": cannot list the directory: ", ec.message()));
    }
    if (found.empty()) {
      return absl::NotFoundError(
          absl::StrCat(path, ": no shard files (shard-I-of-N.json) in this directory"));
    }
    std::sort(found.begin(), found.end());  // directory order is the file system's whim
    files.insert(files.end(), found.begin(), found.end());
  }
  if (files.size() > static_cast<size_t>(simulator::kMaxShards)) {
    return absl::InvalidArgumentError(absl::StrCat(files.size(), " shard files, more than ",
                                                   simulator::kMaxShards, ", the limit"));
  }
  return files;
}

int RunMerge(const MergeFlags& m, std::ostream& out, std::ostream& err) {
  // Every shard is read and checked before --out is touched: a failed merge writes nothing.
  absl::StatusOr<std::vector<std::string>> files = ShardFiles(m.paths);
  if (!files.ok()) return Fail(err, kMergeCommand, files.status());
  std::vector<simulator::NamedShard> shards;
  for (const std::string& file : *files) {
    absl::StatusOr<std::string> text =
        ReadInputFile(file, static_cast<size_t>(m.max_input_mb) << 20, kMaxInputHint);
    if (!text.ok()) return Fail(err, kMergeCommand, text.status());
    absl::StatusOr<simulator::Shard> shard = simulator::ParseShard(*text, file);
    if (!shard.ok()) return Fail(err, kMergeCommand, shard.status());
    shards.push_back({file, *std::move(shard)});
  }
  absl::StatusOr<simulator::MergedSweep> merged = simulator::MergeShards(shards);
  if (!merged.ok()) return Fail(err, kMergeCommand, merged.status());
  shards.clear();
  if (absl::Status s = PrepareOutputDir(m.out_dir); !s.ok()) return Fail(err, kMergeCommand, s);
  err << absl::StrFormat("sim merge: %d shards, %d policies x %d seeds = %d runs\n",
                         files->size(), merged->sweep.policies.size(),
                         merged->sweep.seeds.size(), merged->runs.size());
  PrintWarnings(err, merged->sweep.warnings);  // as an unsharded run prints them
  SweepResults results{merged->sweep.title, merged->sweep.warnings, merged->sweep.policies,
                       merged->sweep.bandwidth_table, std::move(merged->runs)};
  return ReportResults(out, err, kMergeCommand, m.json, m.out_dir, results);
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
  app.add_option("--shard", f->shard,
                 "I/N: only the runs at positions p % N == I of the policy x seed sweep; writes "
                 "--out/shard-I-of-N.json for `gpusched sim merge` instead of the report")
      ->check(RealValue());

  // `sim merge` is a subcommand of sim rather than a flag: it takes none of sim's flags (the
  // shards carry the sweep's settings) and has its own positional arguments and help.
  auto m = std::make_shared<MergeFlags>();
  CLI::App* merge = app.add_subcommand(
      "merge",
      "Merge the shard files of a `gpusched sim --shard I/N` sweep into the report an unsharded "
      "run would write (table or --json, summary.json, runs.csv, curves.csv, report.html)");
  merge->add_option("shards", m->paths,
                    "shard files (shard-I-of-N.json), or directories holding them")
      ->required()
      ->check(RealValue());
  merge->add_option("--out", m->out_dir, "report directory (created once every shard checks)")
      ->required()
      ->check(RealValue());
  merge->add_flag("--json", m->json, "print the JSON summary instead of the table");
  merge->add_option("--max-input-mb", m->max_input_mb, "size limit of each shard file, in MiB")
      ->check(CLI::Range(1, kMaxMaxInputMb))
      ->capture_default_str();

  CLI::App* sim = &app;
  return [f, m, inflation, weight, merge, sim](std::ostream& out, std::ostream& err) {
    if (merge->parsed()) {
      // Flags given before "merge" were parsed as sim's: refuse rather than ignore them.
      for (const CLI::Option* o : sim->get_options()) {
        if (o->count() > 0 && o != sim->get_help_ptr()) {
          return UsageError(err, kMergeCommand,
                            absl::StrCat(o->get_name(), " is a flag of sim, not of merge (the "
                                         "shards carry the sweep's settings)"));
        }
      }
      return RunMerge(*m, out, err);
    }
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
