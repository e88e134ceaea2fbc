// What scoring shared GPUs by measured headroom (plugins/gpu_share/headroom.h) changes, on a
// simulated cluster where each GPU carries a fake load level from tenants the scheduler does not
// place (the node agent's probes would report it as GpuDevice::headroom).
//
//   build/bench/headroom_experiment [--nodes=50] [--seeds=3] [--arrivals=6000] [--load=85]
//                                   [--taken-min=30] [--taken-max=70]
//
// Cluster: `nodes` nodes x 8 GPUs (A100, 80 GiB), 192 cores. Each GPU's headroom is drawn once
// per seed: 70 % idle (1 minus probe noise of up to 0.05), 30 % loaded by other tenants who take
// taken-min..taken-max % of it (by default headroom uniform in [0.3, 0.7]).
// Workload (the same stream for every configuration of a seed): heavy shares 400-800m (45 % of
// pods; two of them can still share a GPU, e.g. 400m + 600m), light shares 100-300m (35 %),
// 1 whole GPU (15 %), 2 whole GPUs (5 %). FGD's typical pods are these shapes and frequencies.
//
// Two scenarios, each pod scheduled once through runtime::Framework::SchedulePod (the code the
// simulator and the extender run), ties to the first node in a seeded node order (as
// `gpusched sim` does):
//  - steady state: one pod arrives per step and lives an exponential time whose mean keeps the
//    offered GPU load at `load` % of capacity; statistics over the steps after a warm-up of 1/4.
//  - fill: pods arrive without leaving until the GPU request reaches 100 % of capacity (the FGD
//    paper's "unallocated GPUs at 100 % arrived" point).
// Configurations: the profile without GpuHeadroom when the scheduler sees no headroom (what
// happens today without probes: "blind"), the same profile with headroom reported (only the
// device-choice tie-break acts), with GpuHeadroom at weight 1 (the fgd-headroom profile) and 4,
// and fgd-headroom with wholeGpuWeight 0.5; the same for bestfit (weights 1 and 3: BestFit's
// min-max normalized score always spans 0-100, so it needs more weight than FGD's narrow one).
// Metrics use the true headroom in every configuration.
// Also printed: how far apart FGD's own scores put the feasible nodes for a share pod (what
// GpuHeadroom's weight must be judged against).
// Finally a check: with every headroom 1, fgd-headroom decides exactly as fgd (and bestfit +
// GpuHeadroom as bestfit): same nodes, GPUs and scores for every pod; the program exits 1 if not.
//
// Deterministic: fixed seeds, a SimClock, one scheduling thread; no wall clock is read.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <queue>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/metrics/in_memory_metrics.h"
#include "common/sim_clock.h"
#include "common/status_macros.h"
#include "plugins/gpu_share/fragmentation.h"
#include "plugins/gpu_share/policies.h"
#include "plugins/registry.h"
#include "scheduler/cache/cluster_cache.h"
#include "scheduler/runtime/framework.h"
#include "scheduler/runtime/profile.h"

namespace gpusched {
namespace {

using framework::GpuRequest;
using framework::NodeInfo;
using framework::PodInfo;
using plugins::gpu_share::TypicalPod;

constexpr int kGpusPerNode = 8;
constexpr int64_t kGpuMemMiB = 81920;
constexpr double kSlow = 0.5;  // "slow": headroom below this

enum class Kind { kHeavy, kLight, kWhole1, kWhole2 };

struct PodSpec {
  Kind kind;
  int64_t milli;     // per GPU
  int64_t lifetime;  // steps
};

// Uniform in [0, 1) from 53 random bits (portable, unlike std::uniform_real_distribution).
double Unit(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

PodSpec DrawPod(std::mt19937_64& rng, double mean_lifetime) {
  const double u = Unit(rng);
  PodSpec p;
  if (u < 0.45) {
    p = {Kind::kHeavy, 400 + 100 * static_cast<int64_t>(rng() % 5), 0};
  } else if (u < 0.80) {
    p = {Kind::kLight, 100 + 100 * static_cast<int64_t>(rng() % 3), 0};
  } else if (u < 0.95) {
    p = {Kind::kWhole1, 1000, 0};
  } else {
    p = {Kind::kWhole2, 1000, 0};
  }
  p.lifetime = 1 + static_cast<int64_t>(-std::log(1.0 - Unit(rng)) * mean_lifetime);
  return p;
}

int GpuCount(Kind k) { return k == Kind::kWhole2 ? 2 : 1; }
int64_t CpuOf(Kind k) {
  switch (k) {
    case Kind::kHeavy:
      return 4000;
    case Kind::kLight:
      return 2000;
    case Kind::kWhole1:
      return 8000;
    case Kind::kWhole2:
      return 16000;
  }
  return 0;
}
double MeanMilli() { return 0.45 * 600 + 0.35 * 200 + 0.15 * 1000 + 0.05 * 2000; }

PodInfo MakePod(const PodSpec& s, int64_t id) {
  PodInfo pod;
  pod.name = absl::StrCat("pod-", id);
  pod.uid = PodUid(pod.name);
  pod.requests.cpu = MilliCpu(CpuOf(s.kind));
  pod.requests.memory = MemoryBytes(int64_t{8} << 30);
  if (s.kind == Kind::kWhole1 || s.kind == Kind::kWhole2) {
    pod.requests.gpu = GpuRequest::Whole(GpuCount(s.kind));
  } else {
    pod.requests.gpu = GpuRequest::Share(GpuMilli(s.milli), GpuMemMiB(s.milli * 40));
  }
  return pod;
}

std::vector<TypicalPod> WorkloadShapes() {
  std::vector<TypicalPod> out;
  auto add = [&](int64_t cpu, int32_t count, int64_t milli, double w) {
    TypicalPod t;
    t.cpu = MilliCpu(cpu);
    t.gpu_count = count;
    t.gpu_milli = GpuMilli(milli);
    t.weight = w;
    out.push_back(t);
  };
  for (int64_t m = 400; m <= 800; m += 100) add(CpuOf(Kind::kHeavy), 1, m, 0.45 / 5);
  for (int64_t m = 100; m <= 300; m += 100) add(CpuOf(Kind::kLight), 1, m, 0.35 / 3);
  add(CpuOf(Kind::kWhole1), 1, 1000, 0.15);
  add(CpuOf(Kind::kWhole2), 2, 1000, 0.05);
  return out;
}

// True headroom per GPU, [node][gpu].
using HeadroomMap = std::vector<std::vector<double>>;

HeadroomMap DrawHeadroom(int nodes, uint64_t seed, double taken_lo, double taken_hi) {
  std::mt19937_64 rng(seed * 7919 + 17);
  HeadroomMap h(nodes, std::vector<double>(kGpusPerNode));
  for (auto& node : h) {
    for (double& g : node) {
      g = Unit(rng) < 0.70 ? 1.0 - 0.05 * Unit(rng)
                           : 1.0 - taken_hi + (taken_hi - taken_lo) * Unit(rng);
      g = std::round(g * 100) / 100;  // the agent's reports move in steps anyway
    }
  }
  return h;
}

struct Config {
  std::string label;
  std::string base;    // built-in profile without GpuHeadroom: "fgd" or "bestfit"
  int weight = 0;      // GpuHeadroom's weight; 0: not in the profile
  bool blind = false;  // the scheduler sees headroom 1 everywhere
  double whole = 0;    // GpuHeadroom's wholeGpuWeight
};

absl::StatusOr<runtime::Profile> ProfileFor(const Config& c) {
  ASSIGN_OR_RETURN(std::vector<runtime::Profile> all,
                   runtime::ParseProfiles(plugins::kBuiltinProfiles, "built-in"));
  const bool builtin_headroom = c.base == "fgd" && c.weight == 1 && c.whole == 0;
  ASSIGN_OR_RETURN(runtime::Profile p,
                   runtime::FindProfile(all, builtin_headroom ? "fgd-headroom" : c.base));
  if (c.weight > 0 && !builtin_headroom) {
    runtime::PluginConfig h;
    h.name = "GpuHeadroom";
    h.weight = c.weight;
    if (c.whole > 0) {
      h.args = framework::PluginArgs({{"wholeGpuWeight", framework::ArgValue(c.whole)}}, "args");
    }
    // Right after the scoring policy (before NodeResourcesFit).
    auto it = std::find_if(p.plugins.begin(), p.plugins.end(), [](const runtime::PluginConfig& pc) {
      return pc.name == "NodeResourcesFit";
    });
    p.plugins.insert(it, h);
  }
  for (runtime::PluginConfig& pc : p.plugins) {
    if (pc.name == "FGD") {
      pc.args = framework::PluginArgs(
          {{"typicalPods", plugins::gpu_share::EncodeTypicalPods(WorkloadShapes())}}, "args");
    }
  }
  return p;
}

// A framework over its own in-memory world (the simulator's wiring, without test/ fakes).
class World {
 public:
  explicit World(uint64_t seed) : rng_(seed) {}
  absl::Status Build(const runtime::Profile& profile) {
    ASSIGN_OR_RETURN(
        fw_,
        runtime::Framework::Create(
            registry_, profile, runtime::FrameworkDeps{clock_, rng_, &cache_, metrics_, binder_},
            {.parallelism = 1, .tie_break = runtime::FrameworkOptions::TieBreak::kFirst}));
    return absl::OkStatus();
  }
  cache::ClusterCache& cache() { return cache_; }
  runtime::Framework& fw() { return *fw_; }

 private:
  class NullBinder final : public framework::Binder {
   public:
    absl::Status Bind(const PodInfo&, const NodeId&,
                      absl::Span<const framework::GpuShare>) override {
      return absl::OkStatus();
    }
  };
  const framework::Registry registry_ = plugins::NewInTreeRegistry();
  SimClock clock_;
  std::mt19937_64 rng_;
  cache::ClusterCache cache_;
  metrics::InMemoryMetrics metrics_;
  NullBinder binder_;
  std::unique_ptr<runtime::Framework> fw_;
};

struct Placement {
  int node = -1;  // index into the headroom map
  std::vector<int> gpus;
};

struct Result {
  // steady state
  double heavy_mean_h = 0;
  double heavy_slow_pct = 0;
  double slow_two_heavy = 0;  // mean over samples: slow GPUs hosting >= 2 heavy tenants
  double light_mean_h = 0;
  double whole_mean_h = 0;
  double placed_pct = 0;
  double alloc_pct = 0;  // mean GPU allocation over samples
  double frag_pct = 0;   // mean fragmentation (FGD's measure) over samples
  // fill
  double fill_unalloc_pct = 0;
  double fill_frag_pct = 0;
  double fill_heavy_slow_pct = 0;
  // for the identity check
  std::string decisions;
  // FGD's score spread (best - worst) over the nodes where a share fits, per share pod
  std::vector<int64_t> fgd_spread;
};

struct Options {
  int nodes = 50;
  int seeds = 3;
  int64_t arrivals = 6000;
  int64_t load_pct = 85;  // offered GPU load of the steady state, % of capacity
  int64_t taken_lo = 30;  // loaded GPUs: others take taken_lo..taken_hi % of them
  int64_t taken_hi = 70;
};

// Adds the nodes in a seeded order; `spec_h` is what the scheduler sees.
absl::Status AddNodes(World& w, const HeadroomMap& spec_h, uint64_t seed,
                      std::map<std::string, int>& index) {
  std::vector<int> order(spec_h.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
  std::mt19937_64 rng(seed * 31 + 5);
  for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng() % i]);
  for (int n : order) {
    framework::NodeSpec spec;
    spec.name = NodeId(absl::StrCat("node-", n));
    spec.cpu = MilliCpu(192000);
    spec.memory = MemoryBytes(int64_t{1024} << 30);
    for (int g = 0; g < kGpusPerNode; ++g) {
      framework::GpuDevice d;
      d.model = "A100";
      d.memory = GpuMemMiB(kGpuMemMiB);
      d.headroom = spec_h[n][g];
      spec.gpus.push_back(d);
    }
    index[spec.name.str()] = n;
    RETURN_IF_ERROR(w.cache().AddNode(std::move(spec)));
  }
  return absl::OkStatus();
}

absl::StatusOr<Result> Run(const Config& c, const Options& o, uint64_t seed,
                           const HeadroomMap& truth) {
  const HeadroomMap seen =
      c.blind ? HeadroomMap(truth.size(), std::vector<double>(kGpusPerNode, 1.0)) : truth;
  ASSIGN_OR_RETURN(runtime::Profile profile, ProfileFor(c));
  const plugins::gpu_share::FragmentationModel frag(WorkloadShapes());
  const double capacity = static_cast<double>(o.nodes) * kGpusPerNode * 1000;
  Result r;
  // For the blind fgd run: FGD's own scores, to see how far apart it puts the nodes.
  std::unique_ptr<plugins::gpu_share::Fgd> spread_probe;
  if (c.base == "fgd" && c.blind && c.weight == 0) {
    spread_probe = std::make_unique<plugins::gpu_share::Fgd>(WorkloadShapes());
  }

  // --- steady state ---
  {
    World w(seed);
    std::map<std::string, int> index;
    RETURN_IF_ERROR(AddNodes(w, seen, seed, index));
    RETURN_IF_ERROR(w.Build(profile));
    std::mt19937_64 rng(seed);
    const double mean_lifetime = static_cast<double>(o.load_pct) / 100.0 * capacity / MeanMilli();
    const int64_t warmup = o.arrivals / 4;
    std::priority_queue<std::pair<int64_t, int64_t>, std::vector<std::pair<int64_t, int64_t>>,
                        std::greater<>>
        departures;  // (step, pod id)
    std::map<int64_t, std::pair<Placement, Kind>> running;
    std::vector<std::vector<int>> heavy_on(truth.size(), std::vector<int>(kGpusPerNode, 0));
    int64_t arrived = 0, placed = 0, samples = 0, heavy = 0, heavy_slow = 0, light = 0, whole = 0;
    double heavy_h = 0, light_h = 0, whole_h = 0, alloc = 0, frag_sum = 0, two_heavy = 0;
    for (int64_t step = 0; step < o.arrivals; ++step) {
      while (!departures.empty() && departures.top().first <= step) {
        const int64_t id = departures.top().second;
        departures.pop();
        auto it = running.find(id);
        if (it->second.second == Kind::kHeavy) {
          for (int g : it->second.first.gpus) --heavy_on[it->second.first.node][g];
        }
        RETURN_IF_ERROR(w.cache().RemovePod(PodUid(absl::StrCat("pod-", id))));
        running.erase(it);
      }
      const PodSpec s = DrawPod(rng, mean_lifetime);
      const PodInfo pod = MakePod(s, step);
      if (spread_probe != nullptr && s.kind != Kind::kWhole1 && s.kind != Kind::kWhole2 &&
          step >= warmup) {
        int64_t lo = framework::kMaxNodeScore, hi = framework::kMinNodeScore;
        for (const NodeInfo* n : w.cache().Nodes()) {
          if (framework::CheckGpuFit(*n, pod.requests.gpu).fit != framework::GpuFit::kFits)
            continue;
          const int64_t v = spread_probe->Evaluate(pod, *n).score;
          lo = std::min(lo, v);
          hi = std::max(hi, v);
        }
        if (hi >= lo) r.fgd_spread.push_back(hi - lo);
      }
      runtime::ScheduleResult res = w.fw().SchedulePod(pod);
      absl::StrAppend(&r.decisions, "s", step, ">", res.node.str(), "=", res.score, ";");
      for (const framework::GpuShare& g : res.gpus)
        absl::StrAppend(&r.decisions, g.gpu.value(), ",");
      const bool counted = step >= warmup;
      if (counted) ++arrived;
      if (res.status.ok()) {
        Placement p;
        p.node = index.at(res.node.str());
        for (const framework::GpuShare& g : res.gpus) p.gpus.push_back(g.gpu.value());
        running[step] = {p, s.kind};
        departures.emplace(step + s.lifetime, step);
        if (s.kind == Kind::kHeavy) {
          for (int g : p.gpus) ++heavy_on[p.node][g];
        }
        if (counted) {
          ++placed;
          double h = 0;
          for (int g : p.gpus) h += truth[p.node][g];
          h /= static_cast<double>(p.gpus.size());
          if (s.kind == Kind::kHeavy) {
            ++heavy;
            heavy_h += h;
            heavy_slow += h < kSlow;
          } else if (s.kind == Kind::kLight) {
            ++light;
            light_h += h;
          } else {
            ++whole;
            whole_h += h;
          }
        }
      } else if (!res.status.IsRejection()) {
        return absl::InternalError(absl::StrCat(c.label, ": ", res.status.Message()));
      }
      if (counted && step % 50 == 0) {
        ++samples;
        double used = 0, f = 0;
        for (const NodeInfo* n : w.cache().Nodes()) {
          used += static_cast<double>(n->gpu_milli_used().value());
          f += frag.NodeFrag(*n);
        }
        alloc += used / capacity;
        frag_sum += f / capacity;
        for (size_t n = 0; n < truth.size(); ++n) {
          for (int g = 0; g < kGpusPerNode; ++g) {
            two_heavy += truth[n][g] < kSlow && heavy_on[n][g] >= 2;
          }
        }
      }
    }
    r.heavy_mean_h = heavy ? heavy_h / heavy : 0;
    r.heavy_slow_pct = heavy ? 100.0 * heavy_slow / heavy : 0;
    r.light_mean_h = light ? light_h / light : 0;
    r.whole_mean_h = whole ? whole_h / whole : 0;
    r.placed_pct = arrived ? 100.0 * placed / arrived : 0;
    r.alloc_pct = samples ? 100.0 * alloc / samples : 0;
    r.frag_pct = samples ? 100.0 * frag_sum / samples : 0;
    r.slow_two_heavy = samples ? two_heavy / samples : 0;
  }

  // --- fill to 100 % of capacity ---
  {
    World w(seed);
    std::map<std::string, int> index;
    RETURN_IF_ERROR(AddNodes(w, seen, seed, index));
    RETURN_IF_ERROR(w.Build(profile));
    std::mt19937_64 rng(seed + 1000);
    double requested = 0;
    int64_t heavy = 0, heavy_slow = 0;
    for (int64_t id = 0; requested < capacity; ++id) {
      const PodSpec s = DrawPod(rng, 1);
      requested += static_cast<double>(s.milli * GpuCount(s.kind));
      const PodInfo pod = MakePod(s, id);
      runtime::ScheduleResult res = w.fw().SchedulePod(pod);
      if (res.status.ok()) {
        absl::StrAppend(&r.decisions, id, ">", res.node.str(), ":");
        for (const framework::GpuShare& g : res.gpus)
          absl::StrAppend(&r.decisions, g.gpu.value(), ",");
        absl::StrAppend(&r.decisions, "=", res.score, ";");
        if (s.kind == Kind::kHeavy) {
          ++heavy;
          heavy_slow += truth[index.at(res.node.str())][res.gpus[0].gpu.value()] < kSlow;
        }
      } else if (!res.status.IsRejection()) {
        return absl::InternalError(absl::StrCat(c.label, ": ", res.status.Message()));
      } else {
        absl::StrAppend(&r.decisions, id, ">-;");
      }
    }
    double used = 0, f = 0;
    for (const NodeInfo* n : w.cache().Nodes()) {
      used += static_cast<double>(n->gpu_milli_used().value());
      f += frag.NodeFrag(*n);
    }
    r.fill_unalloc_pct = 100.0 - 100.0 * used / capacity;
    r.fill_frag_pct = 100.0 * f / capacity;
    r.fill_heavy_slow_pct = heavy ? 100.0 * heavy_slow / heavy : 0;
  }
  return r;
}

bool ParseFlag(const std::string& arg, const std::string& name, int64_t& out) {
  const std::string prefix = "--" + name + "=";
  if (arg.compare(0, prefix.size(), prefix) != 0) return false;
  const std::string value = arg.substr(prefix.size());
  if (!absl::SimpleAtoi(value.c_str(), &out) || out < 1) {
    std::fprintf(stderr, "%s: expected a positive integer\n", arg.c_str());
    std::exit(2);
  }
  return true;
}

int Main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    int64_t v = 0;
    if (ParseFlag(argv[i], "nodes", v)) {
      o.nodes = static_cast<int>(v);
    } else if (ParseFlag(argv[i], "seeds", v)) {
      o.seeds = static_cast<int>(v);
    } else if (ParseFlag(argv[i], "arrivals", v)) {
      o.arrivals = v;
    } else if (ParseFlag(argv[i], "load", v)) {
      o.load_pct = v;
    } else if (ParseFlag(argv[i], "taken-min", v) && v <= 100) {
      o.taken_lo = v;
    } else if (ParseFlag(argv[i], "taken-max", v) && v <= 100) {
      o.taken_hi = v;
    } else {
      std::fprintf(stderr,
                   "usage: %s [--nodes=50] [--seeds=3] [--arrivals=6000] [--load=85] "
                   "[--taken-min=30] [--taken-max=70]\n",
                   argv[0]);
      return 2;
    }
  }
  const std::vector<Config> configs = {
      {"fgd, headroom not measured", "fgd", 0, true},
      {"fgd (device ties by headroom)", "fgd", 0, false},
      {"fgd-headroom (GpuHeadroom w=1)", "fgd", 1, false},
      {"fgd + GpuHeadroom w=4", "fgd", 4, false},
      {"fgd-headroom, wholeGpuWeight 0.5", "fgd", 1, false, 0.5},
      {"bestfit, headroom not measured", "bestfit", 0, true},
      {"bestfit (device ties by headroom)", "bestfit", 0, false},
      {"bestfit + GpuHeadroom w=1", "bestfit", 1, false},
      {"bestfit + GpuHeadroom w=3", "bestfit", 3, false},
  };
  std::vector<Result> mean(configs.size());
  std::vector<int64_t> spread;
  for (int seed = 1; seed <= o.seeds; ++seed) {
    const HeadroomMap truth =
        DrawHeadroom(o.nodes, static_cast<uint64_t>(seed), o.taken_lo / 100.0, o.taken_hi / 100.0);
    for (size_t i = 0; i < configs.size(); ++i) {
      absl::StatusOr<Result> r = Run(configs[i], o, static_cast<uint64_t>(seed), truth);
      if (!r.ok()) {
        std::fprintf(stderr, "%s\n", std::string(r.status().message()).c_str());
        return 1;
      }
      spread.insert(spread.end(), r->fgd_spread.begin(), r->fgd_spread.end());
      Result& m = mean[i];
      m.heavy_mean_h += r->heavy_mean_h / o.seeds;
      m.heavy_slow_pct += r->heavy_slow_pct / o.seeds;
      m.slow_two_heavy += r->slow_two_heavy / o.seeds;
      m.light_mean_h += r->light_mean_h / o.seeds;
      m.whole_mean_h += r->whole_mean_h / o.seeds;
      m.placed_pct += r->placed_pct / o.seeds;
      m.alloc_pct += r->alloc_pct / o.seeds;
      m.frag_pct += r->frag_pct / o.seeds;
      m.fill_unalloc_pct += r->fill_unalloc_pct / o.seeds;
      m.fill_frag_pct += r->fill_frag_pct / o.seeds;
      m.fill_heavy_slow_pct += r->fill_heavy_slow_pct / o.seeds;
    }
  }
  std::printf(
      "headroom experiment: %d nodes x %d GPUs, 30 %% of GPUs loaded by other tenants "
      "(who take %lld-%lld %% of them), seeds 1-%d (means)\n\n",
      o.nodes, kGpusPerNode, static_cast<long long>(o.taken_lo), static_cast<long long>(o.taken_hi),
      o.seeds);
  std::printf(
      "steady state, offered load %lld %%, %lld arrivals (statistics after the first 1/4)\n",
      static_cast<long long>(o.load_pct), static_cast<long long>(o.arrivals));
  std::printf("%-34s %8s %8s %9s %8s %8s %8s %8s %7s\n", "configuration", "heavy h", "heavy<.5",
              "slow2hvy", "light h", "whole h", "placed%", "alloc%", "frag%");
  for (size_t i = 0; i < configs.size(); ++i) {
    const Result& m = mean[i];
    std::printf("%-34s %8.3f %7.1f%% %9.2f %8.3f %8.3f %8.2f %8.2f %7.2f\n",
                configs[i].label.c_str(), m.heavy_mean_h, m.heavy_slow_pct, m.slow_two_heavy,
                m.light_mean_h, m.whole_mean_h, m.placed_pct, m.alloc_pct, m.frag_pct);
  }
  std::printf("\nfill to 100 %% of GPU capacity requested (no departures)\n");
  std::printf("%-34s %10s %8s %9s\n", "configuration", "unalloc%", "frag%", "heavy<.5");
  for (size_t i = 0; i < configs.size(); ++i) {
    const Result& m = mean[i];
    std::printf("%-34s %10.2f %8.2f %8.1f%%\n", configs[i].label.c_str(), m.fill_unalloc_pct,
                m.fill_frag_pct, m.fill_heavy_slow_pct);
  }

  std::sort(spread.begin(), spread.end());
  if (!spread.empty()) {
    auto at = [&](double q) { return spread[static_cast<size_t>(q * (spread.size() - 1))]; };
    std::printf(
        "\nFGD's own score spread (best - worst feasible node) per share pod, steady "
        "state: median %lld, p90 %lld, max %lld points; GpuHeadroom puts a GPU at 0.5 "
        "37 points behind an idle one\n",
        static_cast<long long>(at(0.5)), static_cast<long long>(at(0.9)),
        static_cast<long long>(spread.back()));
  }

  // With nothing measured, GpuHeadroom changes nothing.
  bool same = true;
  Options quick = o;
  quick.arrivals = 400;
  for (int seed = 1; seed <= o.seeds; ++seed) {
    const HeadroomMap truth =
        DrawHeadroom(o.nodes, static_cast<uint64_t>(seed), o.taken_lo / 100.0, o.taken_hi / 100.0);
    for (const auto& [without, with] :
         {std::pair<Config, Config>{{"fgd", "fgd", 0, true}, {"fgd-headroom", "fgd", 1, true}},
          {{"bestfit", "bestfit", 0, true}, {"bestfit+h", "bestfit", 1, true}}}) {
      absl::StatusOr<Result> a = Run(without, quick, static_cast<uint64_t>(seed), truth);
      absl::StatusOr<Result> b = Run(with, quick, static_cast<uint64_t>(seed), truth);
      if (!a.ok() || !b.ok() || a->decisions != b->decisions || a->decisions.empty()) {
        same = false;
        std::printf("DIFFERENT: %s vs %s with every headroom 1 (seed %d)\n", without.label.c_str(),
                    with.label.c_str(), seed);
      }
    }
  }
  std::printf(
      "\nheadroom 1 everywhere: fgd-headroom == fgd and bestfit + GpuHeadroom == bestfit "
      "(node, GPUs and score of every pod, both scenarios): %s\n",
      same ? "identical" : "DIFFERENT");
  std::printf(
      "\nheavy h / light h / whole h: mean true headroom of the GPUs those pods got; "
      "heavy<.5: share of heavy pods (400-800m) on a GPU with headroom < 0.5; slow2hvy: "
      "GPUs with headroom < 0.5 hosting two heavy tenants at once (mean over samples); "
      "placed%%: arrived pods placed; alloc%%: GPU capacity allocated (mean); frag%%: "
      "FGD's fragmentation, %% of capacity (mean).\n");
  return same ? 0 : 1;
}

}  // namespace
}  // namespace gpusched

int main(int argc, char** argv) { return gpusched::Main(argc, argv); }
