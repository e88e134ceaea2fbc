#include "scheduler/runtime/explain.h"

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "topology/cluster_topology.h"

namespace gpusched::runtime {
namespace {

using framework::GpuSlot;
using framework::NodeInfo;
using framework::PlacedPod;

constexpr size_t kMaxFitsOn = 5;           // nodes named per change
constexpr size_t kMaxWaitNodes = 3;        // nodes with a "wait for these pods" answer
constexpr size_t kMaxWaitTries = 24;       // nodes tried for it
constexpr size_t kMaxDeparturesTried = 16; // pods removed per node before giving up

std::vector<NodeId> AllNodes(const cache::ClusterCache& model) {
  std::vector<NodeId> names;
  names.reserve(model.Nodes().size());
  for (const NodeInfo* n : model.Nodes()) names.push_back(n->name());
  return names;
}

// Where `pod` fits on `model` among `candidates` (the first kMaxFitsOn), or nothing.
std::vector<NodeId> FitsOn(Framework& fw, const framework::ClusterSnapshot& model,
                           const PodInfo& pod, const std::vector<NodeId>& candidates) {
  Framework::FilterVerdicts v = fw.Filter(model, pod, candidates);
  std::vector<NodeId> out;
  if (!v.error.ok()) return out;
  for (uint32_t i : v.feasible) {
    if (out.size() == kMaxFitsOn) break;
    out.push_back(candidates[i]);
  }
  return out;
}

// The largest value in [lo, hi] (in steps of `step`) for which `fits` holds, assuming that a
// smaller ask fits wherever a larger one does; nullopt when even `lo` does not.
template <class F>
std::optional<int64_t> LargestFitting(int64_t lo, int64_t hi, int64_t step, F fits) {
  if (hi < lo || !fits(lo)) return std::nullopt;
  int64_t good = lo, bad = hi + step;  // fits(good), !fits(bad) (or beyond the range)
  while (bad - good > step) {
    const int64_t mid = good + ((bad - good) / step / 2) * step;
    if (fits(mid)) good = mid; else bad = mid;
  }
  return good;
}

// How many members of `pod`'s shape `node` holds by its resources (framework::CountCopies): now,
// or once empty.
int64_t MembersOnNode(const NodeInfo& node, const PodInfo& pod, bool empty) {
  if (!empty) return framework::CountCopies(node, pod.requests);
  absl::StatusOr<NodeInfo> fresh = NodeInfo::Create(node.spec());
  return fresh.ok() ? framework::CountCopies(*fresh, pod.requests) : 0;
}

std::string Describe(const PlacedPod& p) {
  if (p.pod.placeholder) {
    const size_t at = p.pod.name.find("of gang ");
    return at == std::string::npos ? "a gang's held plan"
                                   : absl::StrCat("the plan held for gang ",
                                                  p.pod.name.substr(at + 8, p.pod.name.size() - at - 9));
  }
  return p.pod.FullName();
}

int64_t GpuMilliOf(const PlacedPod& p) {
  int64_t m = 0;
  for (const framework::GpuShare& g : p.gpus) m += g.milli.value();
  return m;
}

// On `node`, the fewest of its pods (smallest GPU use first) after whose departure `pod` fits.
std::optional<std::vector<std::string>> DeparturesThatFit(Framework& fw,
                                                          const cache::ClusterCache& model,
                                                          const PodInfo& pod, const NodeId& node) {
  std::vector<const PlacedPod*> on_node;
  model.ForEachPodOnNode(node, [&](const PlacedPod& p) {
    if (!p.gpus.empty()) on_node.push_back(&p);
  });
  if (on_node.empty()) return std::nullopt;
  std::sort(on_node.begin(), on_node.end(), [](const PlacedPod* a, const PlacedPod* b) {
    const int64_t ma = GpuMilliOf(*a), mb = GpuMilliOf(*b);
    return ma != mb ? ma < mb : a->pod.FullName() < b->pod.FullName();
  });
  std::unique_ptr<cache::ClusterCache> trial = model.Clone();
  std::vector<std::string> gone;
  const std::vector<NodeId> just{node};
  for (const PlacedPod* p : on_node) {
    if (gone.size() == kMaxDeparturesTried) break;
    if (!trial->RemovePod(p->pod.uid).ok()) continue;
    gone.push_back(Describe(*p));
    if (!FitsOn(fw, *trial, pod, just).empty()) return gone;
  }
  return std::nullopt;
}

std::string Plural(size_t n, const char* one, const char* many) { return n == 1 ? one : many; }

// The gang plugin's annotation (plugins/gang/gang_plugin.h; not included: runtime is below plugins).
constexpr char kGangTopologyKey[] = "gpusched.io/gang-topology";

std::optional<topology::Level> LevelNamed(const std::string& name) {
  for (topology::Level l : {topology::Level::kNvlinkDomain, topology::Level::kRack,
                            topology::Level::kBlock, topology::Level::kZone}) {
    if (topology::LevelName(l) == name) return l;
  }
  return std::nullopt;
}

}  // namespace

bool Explanation::fits_now() const {
  return std::any_of(nodes.begin(), nodes.end(), [](const NodeVerdict& v) { return v.fits; });
}

Explanation Explain(Framework& fw, const cache::ClusterCache& model, const PodInfo& original) {
  Explanation e;
  // One member's fit; the gang as a whole is summarized below.
  PodInfo pod = original;
  pod.gang.reset();
  const std::vector<NodeId> names = AllNodes(model);
  Framework::FilterVerdicts v = fw.Filter(model, pod, names);
  e.nodes.resize(names.size());
  for (size_t i = 0; i < names.size(); ++i) e.nodes[i].node = names[i];
  for (uint32_t i : v.feasible) e.nodes[i].fits = true;
  for (const auto& r : v.failed) e.nodes[r.index].reason = r.reason();
  for (const auto& r : v.unresolvable) {
    e.nodes[r.index].reason = r.reason();
    e.nodes[r.index].unresolvable = true;
  }
  if (!v.error.ok()) {
    for (auto& n : e.nodes) n.reason = v.error.Message();
  }
  const framework::GpuRequest& req = pod.requests.gpu;

  if (original.gang.has_value() && original.gang->min_member > 1 && !req.empty()) {
    int64_t now = 0, empty = 0;
    std::vector<int64_t> now_on(names.size(), 0);  // per node, where the member passes Filter
    for (size_t i = 0; i < names.size(); ++i) {
      const NodeInfo* n = model.Nodes()[i];
      if (e.nodes[i].fits) now += now_on[i] = MembersOnNode(*n, pod, false);
      if (!e.nodes[i].unresolvable) empty += MembersOnNode(*n, pod, true);
    }
    const int32_t need = original.gang->min_member;
    e.gang = absl::StrCat("gang ", original.gang->id.str(), " needs ", need,
                          " members like this one placed at once: ", now, " fit now, at most ",
                          empty, " on an empty cluster",
                          empty < need ? " (it can never fit as declared: fewer members, or "
                                         "smaller ones)"
                                       : "");
    // Kept within one rack (or NVLink domain, block, zone): the best such group now, and
    // whether spanning groups would do.
    if (auto it = pod.annotations.find(kGangTopologyKey);
        it != pod.annotations.end() && it->second != "any") {
      const std::optional<topology::Level> level = LevelNamed(it->second);
      if (level) {
        std::vector<topology::ClusterTopology::NodeLabels> labels;
        for (const NodeInfo* n : model.Nodes()) labels.push_back({n->name().str(), n->spec().labels});
        const topology::ClusterTopology topo = topology::ClusterTopology::FromLabels(labels);
        std::map<std::string, int64_t> per_group;
        for (size_t i = 0; i < names.size(); ++i) {
          const std::string group = topo.GroupOf(names[i].str(), *level);
          if (!group.empty()) per_group[group] += now_on[i];
        }
        std::string best_group;
        int64_t best = 0;
        for (const auto& [group, n] : per_group) {
          if (n > best) best = n, best_group = group;
        }
        absl::StrAppend(&e.gang, "; within one ", it->second, " (", kGangTopologyKey, "): ", best,
                        best_group.empty() ? "" : absl::StrCat(" fit now in ", best_group));
        if (best < need && now >= need) {
          e.changes.push_back({"any-rack",
                               absl::StrCat("let the gang span ", it->second, "s (", kGangTopologyKey,
                                            ": any): ", now, " members fit now across them"),
                               {}});
          for (size_t i = 0; i < names.size() && e.changes.back().fits_on.size() < kMaxFitsOn; ++i) {
            if (e.nodes[i].fits) e.changes.back().fits_on.push_back(names[i]);
          }
        }
      }
    }
  }
  if (e.fits_now()) return e;

  auto add = [&](std::string kind, std::string what, std::vector<NodeId> on) {
    if (!on.empty()) e.changes.push_back({std::move(kind), std::move(what), std::move(on)});
  };
  // The largest value of one field of the request, in [lo, hi] by `step`, that fits somewhere.
  auto largest = [&](const char* kind, int64_t lo, int64_t hi, int64_t step,
                     const std::function<void(framework::GpuRequest&, int64_t)>& set,
                     const std::function<std::string(int64_t)>& what) {
    auto variant = [&](int64_t v) {
      PodInfo p = pod;
      set(p.requests.gpu, v);
      return p;
    };
    const std::optional<int64_t> best = LargestFitting(
        lo, hi, step, [&](int64_t v) { return !FitsOn(fw, model, variant(v), names).empty(); });
    if (best) add(kind, what(*best), FitsOn(fw, model, variant(*best), names));
  };
  if (req.whole() && req.count > 1) {
    largest("fewer-gpus", 1, req.count - 1, 1,
            [](framework::GpuRequest& r, int64_t v) { r.count = static_cast<int32_t>(v); },
            [&](int64_t v) {
              return absl::StrCat("ask for ", v, Plural(v, " GPU", " GPUs"), " instead of ",
                                  req.count);
            });
  }
  if (!req.empty() && !req.whole() && req.milli_per_gpu.value() > 10) {
    largest("smaller-share", 10, req.milli_per_gpu.value() - 10, 10,
            [](framework::GpuRequest& r, int64_t v) { r.milli_per_gpu = GpuMilli(v); },
            [&](int64_t v) {
              return absl::StrCat("ask for a share of ", v, "m instead of ",
                                  req.milli_per_gpu.value(), "m");
            });
  }
  if (!req.empty() && req.memory_per_gpu.value() > 256) {
    largest("less-memory", 256, req.memory_per_gpu.value() - 256, 256,
            [](framework::GpuRequest& r, int64_t v) { r.memory_per_gpu = GpuMemMiB(v); },
            [&](int64_t v) {
              return absl::StrCat("ask for ", v, " MiB of GPU memory instead of ",
                                  req.memory_per_gpu.value(), " MiB");
            });
  }
  // Another model.
  if (!req.models.empty()) {
    PodInfo p = pod;
    p.requests.gpu.models.clear();
    std::vector<NodeId> on = FitsOn(fw, model, p, names);
    std::set<std::string> models;
    for (const NodeId& n : on) {
      if (const NodeInfo* info = model.FindNode(n)) {
        for (const GpuSlot& g : info->gpus()) models.insert(g.device.model);
      }
    }
    add("other-model", absl::StrCat("accept another GPU model (gpusched.io/gpu-model): ",
                                    absl::StrJoin(models, ", ")),
        std::move(on));
  }
  // Without the topology requirement.
  if (auto it = pod.annotations.find("gpusched.io/topology");
      it != pod.annotations.end() && it->second == "required") {
    PodInfo p = pod;
    p.annotations.erase("gpusched.io/topology");
    add("no-topology", "drop gpusched.io/topology: required (its GPUs may then be joined by "
                       "slower links)",
        FitsOn(fw, model, p, names));
  }
  if (!pod.node_selector.empty()) {
    PodInfo p = pod;
    p.node_selector.clear();
    add("no-node-selector", "drop its nodeSelector", FitsOn(fw, model, p, names));
  }
  // The same pod, once some pods leave.
  size_t found = 0, tried = 0;
  for (size_t i = 0; i < names.size() && found < kMaxWaitNodes && tried < kMaxWaitTries; ++i) {
    if (e.nodes[i].unresolvable) continue;
    ++tried;
    std::optional<std::vector<std::string>> gone = DeparturesThatFit(fw, model, pod, names[i]);
    if (!gone) continue;
    ++found;
    add("wait", absl::StrCat("wait: fits on ", names[i].str(), " once ", absl::StrJoin(*gone, ", "),
                             gone->size() == 1 ? " leaves" : " leave"),
        {names[i]});
  }
  return e;
}

}  // namespace gpusched::runtime
