#include "plugins/gpu_topology/gpu_topology_plugin.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace gpusched::plugins::gpu_topology {

using framework::CycleState;
using framework::NodeInfo;
using framework::PodInfo;
using framework::Status;

namespace {

// What PreFilter decided for the pod.
struct PodNeeds final : framework::StateData {
  bool required = false;
  double floor_gbps = -1;  // explicit floor; -1: the machine's best when required
  // The best min bandwidth per topology for an empty node (for "required").
  absl::flat_hash_map<const topology::GpuTopology*, double> ideal;
  std::unique_ptr<StateData> Clone() const override { return std::make_unique<PodNeeds>(*this); }
};
constexpr framework::StateKey<PodNeeds> kNeedsKey{"GpuTopology/needs"};

struct Scores final : framework::StateData {
  absl::flat_hash_map<const NodeInfo*, int64_t> scores;
  std::unique_ptr<StateData> Clone() const override { return std::make_unique<Scores>(*this); }
};
constexpr framework::StateKey<Scores> kScoresKey{"GpuTopology/scores"};

bool Applies(const PodInfo& pod) {
  return pod.requests.gpu.whole() && pod.requests.gpu.count >= 2;
}

uint64_t AllMask(int n) { return n >= 64 ? ~uint64_t{0} : (uint64_t{1} << n) - 1; }

}  // namespace

uint64_t FreeMask(const NodeInfo& node, const framework::GpuRequest& req) {
  uint64_t mask = 0;
  const auto& gpus = node.gpus();
  for (size_t i = 0; i < gpus.size() && i < 64; ++i) {
    const framework::GpuSlot& s = gpus[i];
    if (s.device.healthy && s.fully_free() && req.AllowsModel(s.device.model) &&
        s.device.memory >= req.memory_per_gpu) {
      mask |= uint64_t{1} << i;
    }
  }
  return mask;
}

absl::StatusOr<std::unique_ptr<framework::Plugin>> GpuTopologyPlugin::New(
    const framework::PluginArgs& a, framework::Handle&) {
  RETURN_IF_ERROR(a.RejectUnknown({}));
  return std::make_unique<GpuTopologyPlugin>();
}

std::optional<topology::DeviceSet> GpuTopologyPlugin::Best(const topology::GpuTopology& t,
                                                           uint64_t mask, int count) const {
  const Key key{t.id(), mask, count};
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = memo_.find(key);
    if (it != memo_.end()) return it->second;
  }
  std::vector<int> free;
  for (int i = 0; i < t.gpu_count() && i < 64; ++i) {
    if (mask & (uint64_t{1} << i)) free.push_back(i);
  }
  std::optional<topology::DeviceSet> result;
  if (static_cast<int>(free.size()) >= count) {
    absl::StatusOr<topology::DeviceSet> s = topology::BestDeviceSet(t, free, count);
    if (s.ok()) result = *std::move(s);
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (memo_.size() > (size_t{1} << 16)) memo_.clear();
  memo_.emplace(key, result);
  return result;
}

Status GpuTopologyPlugin::PreFilter(CycleState& state, const PodInfo& pod,
                                    framework::PreFilterResult&) {
  if (!Applies(pod)) return Status::Skip();
  auto needs = std::make_unique<PodNeeds>();
  if (auto it = pod.annotations.find(kTopologyAnnotation); it != pod.annotations.end()) {
    if (it->second == "required") {
      needs->required = true;
    } else if (it->second != "preferred" && it->second != "none") {
      return Status::UnschedulableAndUnresolvable(absl::StrCat(
          "annotation ", kTopologyAnnotation, ": \"", it->second,
          "\" must be required, preferred or none"));
    }
  }
  if (auto it = pod.annotations.find(kMinBandwidthAnnotation); it != pod.annotations.end()) {
    double v;
    if (!absl::SimpleAtod(it->second, &v) || !(v > 0) || !std::isfinite(v)) {
      return Status::UnschedulableAndUnresolvable(absl::StrCat(
          "annotation ", kMinBandwidthAnnotation, ": \"", it->second,
          "\" must be a positive number of GB/s"));
    }
    needs->required = true;
    needs->floor_gbps = v;
  }
  state.Write(kNeedsKey, std::move(needs));
  return Status::Success();
}

Status GpuTopologyPlugin::Filter(const CycleState& state, const PodInfo& pod,
                                 const NodeInfo& node) const {
  absl::StatusOr<const PodNeeds*> needs = state.Read(kNeedsKey);
  if (!needs.ok()) return Status::Error(std::string(needs.status().message()));
  if (!(*needs)->required) return Status::Success();
  const topology::GpuTopology* t = node.spec().topology.get();
  if (t == nullptr) {
    return Status::UnschedulableAndUnresolvable("node(s) had no GPU topology information");
  }
  const int k = pod.requests.gpu.count;
  double floor = (*needs)->floor_gbps;
  if (floor < 0) {  // as good as this machine can be
    std::optional<topology::DeviceSet> ideal = Best(*t, AllMask(t->gpu_count()), k);
    if (!ideal) return Status::UnschedulableAndUnresolvable("node(s) had too few GPUs");
    floor = ideal->min_bandwidth;
  }
  std::optional<topology::DeviceSet> now = Best(*t, FreeMask(node, pod.requests.gpu), k);
  if (!now || now->min_bandwidth + 1e-9 < floor) {
    // Said with the numbers, for `kubectl describe pod`.
    return Status::Unschedulable(absl::StrCat(
        "node(s) could not give the required GPU interconnect: needs ", k,
        " GPUs joined at ", absl::SixDigits(floor), " GB/s or more; ",
        now ? absl::StrCat("the best free set here gives ", absl::SixDigits(now->min_bandwidth),
                           " GB/s")
            : std::string("not that many GPUs are free here")));
  }
  return Status::Success();
}

Status GpuTopologyPlugin::PreScore(CycleState& state, const PodInfo& pod,
                                   const std::vector<const NodeInfo*>& feasible) {
  if (!Applies(pod)) return Status::Skip();
  auto scores = std::make_unique<Scores>();
  scores->scores.reserve(feasible.size());
  for (const NodeInfo* n : feasible) {
    int64_t score = 0;
    if (const topology::GpuTopology* t = n->spec().topology.get()) {
      std::optional<topology::DeviceSet> s =
          Best(*t, FreeMask(*n, pod.requests.gpu), pod.requests.gpu.count);
      if (s) score = static_cast<int64_t>(std::llround(s->min_bandwidth * 10));
    }
    scores->scores.emplace(n, score);
  }
  state.Write(kScoresKey, std::move(scores));
  return Status::Success();
}

Status GpuTopologyPlugin::Score(const CycleState& state, const PodInfo&, const NodeInfo& node,
                                int64_t& score) const {
  absl::StatusOr<const Scores*> s = state.Read(kScoresKey);
  if (!s.ok()) return Status::Error(std::string(s.status().message()));
  auto it = (*s)->scores.find(&node);
  score = it == (*s)->scores.end() ? 0 : it->second;
  return Status::Success();
}

Status GpuTopologyPlugin::NormalizeScore(const CycleState&, const PodInfo&,
                                         framework::NodeScoreList& scores) const {
  framework::DefaultNormalizeScore(framework::kMaxNodeScore, false, scores);
  return Status::Success();
}

bool GpuTopologyPlugin::ChoosesFor(const PodInfo& pod, const NodeInfo& node) const {
  return Applies(pod) && node.spec().topology != nullptr;
}

std::optional<std::vector<framework::GpuShare>> GpuTopologyPlugin::ChooseDevices(
    const CycleState& state, const PodInfo& pod, const NodeInfo& node) {
  std::optional<topology::DeviceSet> s =
      Best(*node.spec().topology, FreeMask(node, pod.requests.gpu), pod.requests.gpu.count);
  if (!s) return std::nullopt;
  std::vector<framework::GpuShare> out;
  for (int g : s->gpus) {
    out.push_back(framework::GpuShare{DeviceIndex(g), kOneGpu, node.gpus()[g].device.memory});
  }
  return out;
}

}  // namespace gpusched::plugins::gpu_topology
