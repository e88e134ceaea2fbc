#include "cli/topo.h"

#include <memory>
#include <set>

#include "CLI/CLI.hpp"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/file.h"
#include "common/json_string.h"
#include "common/status_macros.h"
#include "topology/device_set_search.h"
#include "topology/nvidia_smi.h"
#include "topology/presets.h"
#include "topology/topology_json.h"

namespace gpusched::cli {
namespace {

constexpr char kCommand[] = "topo";

struct TopoFlags {
  std::string preset, file, free;
  int count = 0, numa = -1;
  int max_input_mb = kDefaultMaxInputMb;
  bool json = false;
};

absl::StatusOr<topology::GpuTopology> LoadSource(const TopoFlags& f,
                                                 std::vector<std::string>& warnings) {
  if (!f.preset.empty()) return topology::Preset(f.preset);
  ASSIGN_OR_RETURN(std::string body,
                   ReadInputFile(f.file, static_cast<size_t>(f.max_input_mb) << 20, kMaxInputHint));
  // The agent's JSON report starts with '{' (after an optional UTF-8 byte order mark and
  // spaces); anything else is `nvidia-smi topo -m` text.
  const size_t first = body.find_first_not_of(" \t\r\n\xEF\xBB\xBF");
  absl::StatusOr<topology::GpuTopology> t =
      first != std::string::npos && body[first] == '{'
          ? topology::ParseTopologyJson(body)
          : topology::ParseNvidiaSmiTopo(body, f.file, &warnings);
  if (t.ok() || MessageOf(t.status()).starts_with(f.file)) return t;
  return absl::Status(t.status().code(), absl::StrCat(f.file, ": ", t.status().message()));
}

// The topology, and in `warnings` what is odd about it (the reader's and TopologyWarnings').
absl::StatusOr<topology::GpuTopology> Load(const TopoFlags& f, std::vector<std::string>& warnings) {
  absl::StatusOr<topology::GpuTopology> t = LoadSource(f, warnings);
  if (t.ok()) {
    for (std::string& w : topology::TopologyWarnings(*t)) warnings.push_back(std::move(w));
  }
  return t;
}

void ShowTable(const topology::GpuTopology& t, std::ostream& out) {
  out << absl::StrFormat("%s: %d GPUs. Bandwidth between GPUs in GB/s (NVLink count in "
                         "brackets); NUMA node per GPU.\n",
                         t.name(), t.gpu_count());
  out << "        ";
  for (int j = 0; j < t.gpu_count(); ++j) out << absl::StrFormat("%9s", absl::StrCat("GPU", j));
  out << "   NUMA\n";
  for (int i = 0; i < t.gpu_count(); ++i) {
    out << absl::StrFormat("%-8s", absl::StrCat("GPU", i));
    for (int j = 0; j < t.gpu_count(); ++j) {
      if (i == j) {
        out << absl::StrFormat("%9s", "-");
      } else if (t.NvLinks(i, j) > 0) {
        out << absl::StrFormat("%9s",
                               absl::StrFormat("%.0f[%d]", t.Bandwidth(i, j), t.NvLinks(i, j)));
      } else {
        out << absl::StrFormat("%9.0f", t.Bandwidth(i, j));
      }
    }
    out << absl::StrFormat("   %d\n", t.NumaOf(i));
  }
}

int Show(const TopoFlags& f, std::ostream& out, std::ostream& err) {
  std::vector<std::string> warnings;
  absl::StatusOr<topology::GpuTopology> t = Load(f, warnings);
  if (!t.ok()) return Fail(err, kCommand, t.status());
  if (f.json) {
    out << topology::TopologyToJson(*t) << "\n";
    PrintWarnings(err, warnings);  // the topology JSON has no place for them
  } else {
    PrintWarnings(out, warnings);
    ShowTable(*t, out);
  }
  return kExitOk;
}

// --free: GPU indices, none twice, each on the topology; empty text is an error, not "all".
absl::StatusOr<std::vector<int>> ParseFree(const std::string& text, int gpu_count) {
  std::vector<int> free;
  std::set<int> seen;
  for (const std::string& part : std::vector<std::string>(absl::StrSplit(text, ','))) {
    int g = -1;
    if (!absl::SimpleAtoi(part, &g)) {
      return absl::InvalidArgumentError(absl::StrCat("--free: \"", part, "\" is not a GPU index"));
    }
    if (g < 0 || g >= gpu_count) {
      return absl::InvalidArgumentError(absl::StrCat("--free: GPU ", g, " is not on this node (GPUs 0..",
                                                     gpu_count - 1, ")"));
    }
    if (!seen.insert(g).second) {
      return absl::InvalidArgumentError(absl::StrCat("--free: GPU ", g, " is given twice"));
    }
    free.push_back(g);
  }
  return free;
}

int Best(const TopoFlags& f, bool free_given, std::ostream& out, std::ostream& err) {
  std::vector<std::string> warnings;
  absl::StatusOr<topology::GpuTopology> t = Load(f, warnings);
  if (!t.ok()) return Fail(err, kCommand, t.status());
  std::vector<int> free;
  if (free_given) {
    absl::StatusOr<std::vector<int>> parsed = ParseFree(f.free, t->gpu_count());
    if (!parsed.ok()) return UsageError(err, kCommand, MessageOf(parsed.status()));
    free = *std::move(parsed);
  } else {
    for (int g = 0; g < t->gpu_count(); ++g) free.push_back(g);
  }
  if (f.count > static_cast<int>(free.size())) {
    return UsageError(err, kCommand,
                      absl::StrCat("--count ", f.count, ": only ", free.size(),
                                   " GPUs are free on ", t->name()));
  }
  topology::SearchOptions options;
  options.preferred_numa = f.numa;
  absl::StatusOr<topology::DeviceSet> best = topology::BestDeviceSet(*t, free, f.count, options);
  if (!best.ok()) return Fail(err, kCommand, best.status());
  if (f.json) {
    std::string name;
    AppendJsonString(name, t->name());
    out << absl::StrFormat(
        "{\"topology\":%s,\"count\":%d,\"gpus\":[%s],\"min_bandwidth_gbps\":%.1f,"
        "\"ring_bandwidth_gbps\":%.1f,\"sockets\":%d,\"warnings\":%s}\n",
        name, f.count, absl::StrJoin(best->gpus, ","), best->min_bandwidth,
        best->ring_bandwidth, best->sockets, WarningsJson(warnings));
  } else {
    PrintWarnings(out, warnings);
    out << absl::StrFormat(
        "%s: best %d of %d free GPUs: %s\n  min pairwise bandwidth %.1f GB/s, ring %.1f GB/s, "
        "%d socket(s)\n",
        t->name(), f.count, free.size(), absl::StrJoin(best->gpus, ","), best->min_bandwidth,
        best->ring_bandwidth, best->sockets);
  }
  return kExitOk;
}

// --preset NAME | --topology FILE (exactly one), and --max-input-mb, on `show` and `best`.
void AddSource(CLI::App& sub, TopoFlags& f) {
  CLI::Option_group* source = sub.add_option_group("source", "the topology (one of)");
  CLI::Option* preset = source->add_option("--preset", f.preset, "a built-in topology (topo list)")
                            ->check(RealValue());
  CLI::Option* file =
      source->add_option("--topology", f.file, "`nvidia-smi topo -m` output or the agent's JSON")
          ->check(RealValue());
  preset->excludes(file);
  source->require_option(1);
  sub.add_option("--max-input-mb", f.max_input_mb, "size limit of the topology file, in MiB")
      ->check(CLI::Range(1, kMaxMaxInputMb))
      ->capture_default_str();
}

}  // namespace

Runner AddTopoCommand(CLI::App& app) {
  auto f = std::make_shared<TopoFlags>();
  app.description("Inspect GPU topologies and pick the best GPUs of a node for a job.");
  app.require_subcommand(1);
  CLI::App* list = app.add_subcommand("list", "the built-in topologies");
  CLI::App* show = app.add_subcommand("show", "the bandwidth matrix, NVLink counts and NUMA nodes");
  AddSource(*show, *f);
  show->add_flag("--json", f->json, "print the topology as JSON");
  CLI::App* best = app.add_subcommand("best", "the best --count GPUs among the free ones");
  AddSource(*best, *f);
  best->add_option("--count", f->count, "how many GPUs")->check(CLI::Range(1, 4096))->required();
  CLI::Option* free = best->add_option("--free", f->free, "free GPU indices, e.g. 0,1,5 (default: all)")
                          ->check(RealValue());
  best->add_option("--numa", f->numa, "the NUMA node preferred (the pod's CPUs)")
      ->check(CLI::Range(0, 1023));
  best->add_flag("--json", f->json, "print JSON");
  return [f, list, show, best, free](std::ostream& out, std::ostream& err) {
    if (list->parsed()) {
      for (const std::string& n : topology::PresetNames()) {
        auto t = topology::Preset(n);
        out << absl::StrFormat("%-16s %d GPUs\n", n, t.ok() ? t->gpu_count() : 0);
      }
      return kExitOk;
    }
    if (show->parsed()) return Show(*f, out, err);
    return Best(*f, free->count() > 0, out, err);
  };
}

int RunTopo(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  CLI::App app("", "gpusched topo");
  const Runner run = AddTopoCommand(app);
  return ParseThenRun(app, args, out, err, run);
}

}  // namespace gpusched::cli
