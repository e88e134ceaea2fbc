#include "cli/topo.h"

#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "cli/flags.h"
#include "topology/device_set_search.h"
#include "topology/nvidia_smi.h"
#include "topology/presets.h"
#include "topology/topology_json.h"

namespace gpusched::cli {
namespace {

constexpr char kUsage[] =
    "usage: gpusched topo list\n"
    "       gpusched topo show --preset NAME | --topology FILE\n"
    "       gpusched topo best --preset NAME | --topology FILE --count K [--free 0,1,5]\n"
    "                          [--numa N] [--json]\n";

absl::StatusOr<topology::GpuTopology> Load(const std::string& preset, const std::string& file) {
  if (!preset.empty() && !file.empty()) {
    return absl::InvalidArgumentError("give --preset or --topology, not both");
  }
  if (!preset.empty()) return topology::Preset(preset);
  if (file.empty()) return absl::InvalidArgumentError("give --preset NAME or --topology FILE");
  std::ifstream in(file);
  if (!in) return absl::NotFoundError("cannot open topology file " + file);
  std::stringstream text;
  text << in.rdbuf();
  const std::string body = text.str();
  // The agent's JSON report starts with '{'; anything else is `nvidia-smi topo -m` text.
  const size_t first = body.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && body[first] == '{') return topology::ParseTopologyJson(body);
  return topology::ParseNvidiaSmiTopo(body, file);
}

// The name as a JSON string body (names can come from file paths).
std::string JsonEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += absl::StrFormat("\\u%04x", static_cast<int>(c));
    } else {
      out += c;
    }
  }
  return out;
}

void Show(const topology::GpuTopology& t, std::ostream& out) {
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

}  // namespace

int RunTopo(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    out << kUsage;
    return args.empty() ? 2 : 0;
  }
  const std::string cmd = args[0];
  if (cmd == "list") {
    for (const std::string& n : topology::PresetNames()) {
      auto t = topology::Preset(n);
      out << absl::StrFormat("%-16s %d GPUs\n", n, t.ok() ? t->gpu_count() : 0);
    }
    return 0;
  }
  if (cmd != "show" && cmd != "best") {
    err << "topo: unknown subcommand \"" << cmd << "\"\n" << kUsage;
    return 2;
  }
  std::string preset, file, free_text;
  int count = 0, numa = -1;
  bool json = false;
  std::string count_text, numa_text;
  FlagReader flags(args, /*start=*/1);
  while (flags.Next()) {
    if (flags.Value("--preset", preset) || flags.Value("--topology", file) ||
        flags.Value("--free", free_text) || flags.Value("--count", count_text) ||
        flags.Value("--numa", numa_text) || flags.Switch("--json", json)) {
      continue;
    }
    return flags.Unknown(err, "topo", kUsage);
  }
  if (!count_text.empty() && (!absl::SimpleAtoi(count_text, &count) || count < 1)) {
    err << "topo: --count: expected a positive integer, got \"" << count_text << "\"\n";
    return 2;
  }
  if (!numa_text.empty() && (!absl::SimpleAtoi(numa_text, &numa) || numa < 0)) {
    err << "topo: --numa: expected a NUMA node number, got \"" << numa_text << "\"\n";
    return 2;
  }
  absl::StatusOr<topology::GpuTopology> t = Load(preset, file);
  if (!t.ok()) {
    err << "topo: " << t.status().message() << "\n";
    return 1;
  }
  if (cmd == "show") {
    Show(*t, out);
    return 0;
  }
  if (count == 0) {
    err << "topo: best needs --count K\n";
    return 2;
  }
  std::vector<int> free;
  if (free_text.empty()) {
    for (int g = 0; g < t->gpu_count(); ++g) free.push_back(g);
  } else {
    for (const std::string& part : std::vector<std::string>(absl::StrSplit(free_text, ','))) {
      int g;
      if (!absl::SimpleAtoi(part, &g)) {
        err << "topo: --free: \"" << part << "\" is not a GPU index\n";
        return 2;
      }
      free.push_back(g);
    }
  }
  topology::SearchOptions options;
  options.preferred_numa = numa;
  absl::StatusOr<topology::DeviceSet> best = topology::BestDeviceSet(*t, free, count, options);
  if (!best.ok()) {
    err << "topo: " << best.status().message() << "\n";
    return 1;
  }
  if (json) {
    out << absl::StrFormat(
        "{\"topology\":\"%s\",\"count\":%d,\"gpus\":[%s],\"min_bandwidth_gbps\":%.1f,"
        "\"ring_bandwidth_gbps\":%.1f,\"sockets\":%d}\n",
        JsonEscape(t->name()), count, absl::StrJoin(best->gpus, ","), best->min_bandwidth,
        best->ring_bandwidth, best->sockets);
  } else {
    out << absl::StrFormat(
        "%s: best %d of %d free GPUs: %s\n  min pairwise bandwidth %.1f GB/s, ring %.1f GB/s, "
        "%d socket(s)\n",
        t->name(), count, free.size(), absl::StrJoin(best->gpus, ","), best->min_bandwidth,
        best->ring_bandwidth, best->sockets);
  }
  return 0;
}

}  // namespace gpusched::cli
