#include "cli/demo.h"

#include <algorithm>
#include <random>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "CLI/CLI.hpp"
#include "common/metrics/in_memory_metrics.h"
#include "common/sim_clock.h"
#include "plugins/gpu_share/policies.h"
#include "plugins/registry.h"
#include "scheduler/cache/cluster_cache.h"
#include "scheduler/runtime/framework.h"
#include "scheduler/runtime/profile.h"

namespace gpusched::cli {
namespace {

using framework::GpuDevice;
using framework::GpuRequest;
using framework::GpuShare;
using framework::NodeSpec;
using framework::PodInfo;

constexpr int64_t kGi = int64_t{1} << 30;
constexpr char kCommand[] = "demo";

struct DemoFlags {
  std::string profile, profiles_file;
  std::string seed_text = "42";
};

// FGD needs typical pods, which the simulator counts from its trace; the demo has no trace, so
// FGD starts from the generic prior and learns from the pods it sees, as the live extender does.
runtime::Profile WithFgdPrior(runtime::Profile profile) {
  for (runtime::PluginConfig& pc : profile.plugins) {
    if (pc.name == plugins::gpu_share::Fgd::kName && pc.args.empty()) {
      pc.args = plugins::gpu_share::ObservedFgdArgs();
    }
  }
  return profile;
}

NodeSpec Node(std::string name, int64_t cpus, int64_t mem_gi, int gpus, std::string model,
              int64_t gpu_mem_gi) {
  NodeSpec n;
  n.name = NodeId(std::move(name));
  n.cpu = MilliCpu(cpus * 1000);
  n.memory = MemoryBytes(mem_gi * kGi);
  for (int i = 0; i < gpus; ++i) n.gpus.push_back(GpuDevice{model, GpuMemMiB(gpu_mem_gi * 1024)});
  return n;
}

std::vector<NodeSpec> DemoNodes() {
  std::vector<NodeSpec> nodes;
  nodes.push_back(Node("dgx-a100-1", 128, 1024, 8, "A100-SXM4-80GB", 80));
  nodes.push_back(Node("dgx-a100-2", 128, 1024, 8, "A100-SXM4-80GB", 80));
  nodes.back().gpus[5].healthy = false;  // an XID error took GPU 5 out
  nodes.push_back(Node("t4-box-1", 32, 128, 4, "Tesla-T4", 16));
  nodes.push_back(Node("t4-box-2", 32, 128, 4, "Tesla-T4", 16));
  nodes.push_back(Node("cpu-1", 64, 256, 0, "", 0));
  nodes.push_back(Node("a10-canary", 32, 128, 2, "A10", 24));
  nodes.back().taints.push_back({"gpusched.io/canary", "true", framework::TaintEffect::kNoSchedule});
  return nodes;
}

PodInfo Pod(std::string name, int64_t cpu_milli, int64_t mem_gi, GpuRequest gpu,
            int32_t priority = 0) {
  PodInfo p;
  p.uid = PodUid(name);
  p.namespace_name = "ml";
  p.name = std::move(name);
  p.requests.cpu = MilliCpu(cpu_milli);
  p.requests.memory = MemoryBytes(mem_gi * kGi);
  p.requests.gpu = std::move(gpu);
  p.priority = priority;
  return p;
}

std::vector<PodInfo> DemoPods() {
  std::vector<PodInfo> pods;
  pods.push_back(Pod("llm-train-0", 32000, 256, GpuRequest::Whole(4, "A100-SXM4-80GB"), 100));
  pods.push_back(Pod("llm-train-1", 32000, 256, GpuRequest::Whole(4, "A100-SXM4-80GB"), 100));
  pods.push_back(Pod("finetune", 16000, 128, GpuRequest::Whole(2), 50));
  pods.push_back(Pod("notebook-a", 2000, 8, GpuRequest::Share(GpuMilli(250), GpuMemMiB(4096))));
  pods.push_back(Pod("notebook-b", 2000, 8, GpuRequest::Share(GpuMilli(250), GpuMemMiB(4096))));
  pods.push_back(Pod("infer-bert", 4000, 16, GpuRequest::Share(GpuMilli(500), GpuMemMiB(8192),
                                                               "Tesla-T4")));
  pods.push_back(Pod("infer-resnet", 4000, 16, GpuRequest::Whole(1, "Tesla-T4")));
  pods.push_back(Pod("etl", 24000, 64, GpuRequest{}));
  pods.push_back(Pod("canary-test", 1000, 4, GpuRequest::Whole(1, "A10")));
  pods.push_back(Pod("h100-job", 8000, 64, GpuRequest::Whole(8, "H100-SXM5-80GB")));
  pods.push_back(Pod("big-8gpu", 64000, 512, GpuRequest::Whole(8, "A100-SXM4-80GB"), 10));
  pods.push_back(Pod("huge-memory", 8000, 4096, GpuRequest{}));
  return pods;
}

std::string DescribeRequest(const PodInfo& p) {
  std::string out = absl::StrCat(FormatMilliCpu(p.requests.cpu), " cpu, ",
                                 FormatMemoryBytes(p.requests.memory));
  const GpuRequest& g = p.requests.gpu;
  if (g.whole()) {
    absl::StrAppend(&out, ", ", g.count, "x ", g.models.empty() ? "GPU" : g.ModelList());
  } else if (!g.empty()) {
    absl::StrAppend(&out, ", ", FormatGpuMilli(g.milli_per_gpu), " GPU + ",
                    FormatGpuMemMiB(g.memory_per_gpu), g.models.empty() ? "" : " " + g.ModelList());
  }
  return out;
}

// One cell per GPU: '#' whole GPU used, digit = tenths used by shares, '.' free, 'x' unhealthy.
std::string GpuMap(const framework::NodeInfo& node) {
  std::string out;
  for (const framework::GpuSlot& s : node.gpus()) {
    if (!s.device.healthy) {
      out += 'x';
    } else if (s.milli_free == GpuMilli(0)) {
      out += '#';
    } else if (s.milli_free == kOneGpu && s.memory_free == s.device.memory) {
      out += '.';
    } else {
      out += static_cast<char>('0' + (1000 - s.milli_free.value()) / 100);
    }
  }
  return out.empty() ? "-" : out;
}

class PrintingBinder final : public framework::Binder {
 public:
  absl::Status Bind(const PodInfo&, const NodeId&, absl::Span<const GpuShare>) override {
    ++binds;
    return absl::OkStatus();
  }
  int binds = 0;
};

int RunProfile(const runtime::Profile& profile, uint64_t seed, std::ostream& out,
               std::ostream& err) {
  SimClock clock;
  std::mt19937_64 rng(seed);
  cache::ClusterCache cache;
  metrics::InMemoryMetrics metrics;
  PrintingBinder binder;
  for (NodeSpec& n : DemoNodes()) {
    if (absl::Status s = cache.AddNode(std::move(n)); !s.ok()) {
      err << "demo: " << s.message() << "\n";
      return 1;
    }
  }
  const framework::Registry registry = plugins::NewInTreeRegistry();
  auto fw = runtime::Framework::Create(registry, profile,
                                       runtime::FrameworkDeps{clock, rng, &cache, metrics, binder},
                                       runtime::FrameworkOptions{.parallelism = 2});
  if (!fw.ok()) {
    err << "demo: " << fw.status().message() << "\n";
    return 1;
  }
  std::vector<PodInfo> pods = DemoPods();
  std::stable_sort(pods.begin(), pods.end(),
                   [&](const PodInfo& a, const PodInfo& b) { return (*fw)->Less(a, b); });

  out << absl::StrFormat("\nProfile \"%s\": %d pods in queue order over %d nodes\n",
                         profile.name, pods.size(), cache.Nodes().size());
  out << absl::StrFormat("  %-13s %-40s %s\n", "POD", "REQUEST", "DECISION");
  int scheduled = 0;
  for (const PodInfo& p : pods) {
    const runtime::ScheduleResult r = (*fw)->SchedulePod(p);
    if (r.status.ok()) ++scheduled;
    out << absl::StrFormat("  %-13s %-40s %s\n", p.name, DescribeRequest(p), r.Explain());
  }
  out << absl::StrFormat("  %d of %d pods bound.\n", scheduled, pods.size());
  out << "  Node usage (GPU map: '#' whole GPU in use, 1-9 tenths shared, '.' free, 'x' unhealthy)\n";
  for (const framework::NodeInfo* n : cache.Nodes()) {
    out << absl::StrFormat("    %-11s cpu %7s/%-5s memory %6s/%-6s gpus [%s]\n", n->name().str(),
                           FormatMilliCpu(n->cpu_requested()), FormatMilliCpu(n->spec().cpu),
                           FormatMemoryBytes(n->memory_requested()),
                           FormatMemoryBytes(n->spec().memory), GpuMap(*n));
  }
  return 0;
}

int Run(const DemoFlags& f, std::ostream& out, std::ostream& err) {
  uint64_t seed = 42;
  (void)absl::SimpleAtoi(f.seed_text, &seed);  // checked when parsed
  absl::StatusOr<std::vector<runtime::Profile>> profiles =
      f.profiles_file.empty()
          ? runtime::ParseProfiles(plugins::kBuiltinProfiles, "built-in profiles")
          : runtime::LoadProfilesFile(f.profiles_file);
  if (!profiles.ok()) return Fail(err, kCommand, profiles.status());
  std::vector<std::string> names;
  if (!f.profile.empty()) {
    names = {f.profile};
  } else if (f.profiles_file.empty()) {
    names = {"baseline", "binpack"};  // the built-in general-purpose profiles
  } else {
    for (const runtime::Profile& p : *profiles) names.push_back(p.name);
  }
  std::vector<runtime::Profile> chosen;
  for (const std::string& name : names) {
    absl::StatusOr<runtime::Profile> p = runtime::FindProfile(*profiles, name);
    if (!p.ok()) return Fail(err, kCommand, p.status());
    chosen.push_back(WithFgdPrior(*std::move(p)));
  }
  out << "gpusched demo: 6 nodes (2 DGX A100 one with a failed GPU, 2 T4 boxes, a CPU node, a\n"
         "tainted A10 canary), 12 pods (training, GPU shares, inference, CPU jobs), scheduled\n"
         "through the plugin framework with each profile. Seed "
      << seed << ".\n";
  for (const runtime::Profile& p : chosen) {
    if (int rc = RunProfile(p, seed, out, err); rc != 0) return rc;
  }
  return kExitOk;
}

}  // namespace

Runner AddDemoCommand(CLI::App& app) {
  auto f = std::make_shared<DemoFlags>();
  app.description(
      "Schedule a small built-in cluster through the plugin framework and print every decision "
      "and why.");
  app.add_option("--profile", f->profile,
                 "one profile (default: baseline and binpack, or every profile of --profiles)")
      ->check(RealValue());
  app.add_option("--profiles", f->profiles_file, "a profiles file (YAML or JSON)")
      ->check(RealValue());
  // Parsed here, not by CLI11: its unsigned conversion wraps "-1" and overflows silently.
  app.add_option("--seed", f->seed_text, "the random source's seed, 0..2^64-1")
      ->check(CLI::Validator(
          [](std::string& v) -> std::string {
            uint64_t seed = 0;
            return absl::SimpleAtoi(v, &seed) && v[0] != '-' && v[0] != '+'
                       ? ""
                       : absl::StrCat("\"", v, "\" is not a number in 0..2^64-1");
          },
          "UINT64"))
      ->capture_default_str();
  return [f](std::ostream& out, std::ostream& err) { return Run(*f, out, err); };
}

int RunDemo(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  CLI::App app("", "gpusched demo");
  const Runner run = AddDemoCommand(app);
  return ParseThenRun(app, args, out, err, run);
}

}  // namespace gpusched::cli
