#include "plugins/gpu_share/policies.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <tuple>

#include "absl/random/distributions.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "plugins/gpu_share/headroom.h"

namespace gpusched::plugins::gpu_share {

using framework::CycleState;
using framework::GpuShare;
using framework::NodeInfo;
using framework::PodInfo;
using framework::Status;

namespace {

// Per-cycle data written in PreScore and read by Score (on worker threads, const).
struct ClusterMax final : framework::StateData {
  double cpu = 1;  // largest node CPU (milli), at least 1
  double gpu = 1;  // largest node GPU capacity (milli), at least 1
  std::unique_ptr<StateData> Clone() const override { return std::make_unique<ClusterMax>(*this); }
};

ClusterMax ComputeClusterMax(const framework::ClusterSnapshot& snapshot) {
  ClusterMax m;
  for (const NodeInfo* n : snapshot.Nodes()) {
    m.cpu = std::max(m.cpu, static_cast<double>(n->spec().cpu.value()));
    m.gpu = std::max(m.gpu, static_cast<double>(n->gpus().size()) * kOneGpu.value());
  }
  return m;
}

template <class T>
Status ReadState(const CycleState& state, framework::StateKey<T> key, const T*& out) {
  absl::StatusOr<const T*> r = state.Read(key);
  if (!r.ok()) return Status::Error(absl::StrCat(r.status().message(), " (PreScore did not run)"));
  out = *r;
  return Status::Success();
}

bool FitsShare(const framework::GpuSlot& s, const framework::GpuRequest& req) {
  return s.device.healthy && req.AllowsModel(s.device.model) &&
         s.device.memory >= req.memory_per_gpu && s.milli_free >= req.milli_per_gpu &&
         s.memory_free >= req.memory_per_gpu;
}

bool FreeWhole(const framework::GpuSlot& s, const framework::GpuRequest& req) {
  return s.device.healthy && req.AllowsModel(s.device.model) &&
         s.device.memory >= req.memory_per_gpu && s.fully_free();
}

GpuShare ShareOf(const NodeInfo& node, size_t i, const framework::GpuRequest& req) {
  const framework::GpuSlot& s = node.gpus()[i];
  if (req.whole()) return GpuShare{DeviceIndex(static_cast<int32_t>(i)), kOneGpu, s.device.memory};
  return GpuShare{DeviceIndex(static_cast<int32_t>(i)), req.milli_per_gpu, req.memory_per_gpu};
}

int64_t TotalFreeMilli(const NodeInfo& node) {
  int64_t free = 0;
  for (const framework::GpuSlot& s : node.gpus()) {
    if (s.device.healthy) free += s.milli_free.value();
  }
  return free;
}

}  // namespace

// ---------------------------------------------------------------------------------------------

// --- RandomFit ---------------------------------------------------------------------------------

namespace {
struct RandomChoice final : framework::StateData {
  const NodeInfo* node = nullptr;
  std::unique_ptr<StateData> Clone() const override { return std::make_unique<RandomChoice>(*this); }
};
constexpr framework::StateKey<RandomChoice> kRandomKey{"RandomFit/choice"};
}  // namespace

absl::StatusOr<std::unique_ptr<framework::Plugin>> RandomFit::New(const framework::PluginArgs& a,
                                                                  framework::Handle& h) {
  RETURN_IF_ERROR(a.RejectUnknown({}));
  return std::make_unique<RandomFit>(h);
}

Status RandomFit::PreScore(CycleState& state, const PodInfo&,
                           const std::vector<const NodeInfo*>& feasible) {
  auto c = std::make_unique<RandomChoice>();
  if (!feasible.empty()) {
    c->node = feasible[absl::Uniform<size_t>(handle_.rng(), 0, feasible.size())];
  }
  state.Write(kRandomKey, std::move(c));
  return Status::Success();
}

Status RandomFit::Score(const CycleState& state, const PodInfo&, const NodeInfo& node,
                        int64_t& score) const {
  const RandomChoice* c = nullptr;
  if (Status s = ReadState(state, kRandomKey, c); !s.ok()) return s;
  score = c->node == &node ? framework::kMaxNodeScore : framework::kMinNodeScore;
  return Status::Success();
}

std::optional<std::vector<GpuShare>> RandomFit::ChooseDevices(const CycleState& state, const PodInfo& pod,
                                                              const NodeInfo& node) {
  const framework::GpuRequest& req = pod.requests.gpu;
  std::vector<size_t> fit;
  for (size_t i = 0; i < node.gpus().size(); ++i) {
    if (req.whole() ? FreeWhole(node.gpus()[i], req) : FitsShare(node.gpus()[i], req)) {
      fit.push_back(i);
    }
  }
  const size_t want = req.whole() ? static_cast<size_t>(req.count) : 1;
  if (fit.size() < want) return std::nullopt;
  // A uniform random subset of `want` devices (partial Fisher-Yates), in index order.
  for (size_t i = 0; i < want; ++i) {
    std::swap(fit[i], fit[absl::Uniform<size_t>(handle_.rng(), i, fit.size())]);
  }
  fit.resize(want);
  std::sort(fit.begin(), fit.end());
  std::vector<GpuShare> out;
  for (size_t i : fit) out.push_back(ShareOf(node, i, req));
  return out;
}

// --- DotProduct --------------------------------------------------------------------------------

namespace {
constexpr framework::StateKey<ClusterMax> kDotMaxKey{"DotProduct/cluster-max"};

// The best score on `node` and the device giving it (-1 for whole-GPU or CPU-only pods).
std::pair<double, int> DotProductBest(const PodInfo& pod, const NodeInfo& node,
                                      const ClusterMax& max) {
  const framework::GpuRequest& req = pod.requests.gpu;
  const double node_cpu = static_cast<double>(node.cpu_free().value()) / max.cpu;
  const double pod_cpu = static_cast<double>(pod.requests.cpu.value()) / max.cpu;
  if (req.empty() || req.whole()) {
    const double node_gpu = static_cast<double>(TotalFreeMilli(node)) / max.gpu;
    const double pod_gpu = static_cast<double>(req.total_milli().value()) / max.gpu;
    return {1.0 - (node_cpu * pod_cpu + node_gpu * pod_gpu) / 2.0, -1};
  }
  double best = -1;
  int best_gpu = -1;
  for (size_t i = 0; i < node.gpus().size(); ++i) {
    const framework::GpuSlot& s = node.gpus()[i];
    if (!FitsShare(s, req)) continue;
    const double node_gpu = static_cast<double>(s.milli_free.value()) / kOneGpu.value();
    const double pod_gpu = static_cast<double>(req.milli_per_gpu.value()) / kOneGpu.value();
    const double v = 1.0 - (node_cpu * pod_cpu + node_gpu * pod_gpu) / 2.0;
    if (v > best) {
      best = v;
      best_gpu = static_cast<int>(i);
    }
  }
  return {std::max(best, 0.0), best_gpu};
}
}  // namespace

absl::StatusOr<std::unique_ptr<framework::Plugin>> DotProduct::New(const framework::PluginArgs& a,
                                                                   framework::Handle& h) {
  RETURN_IF_ERROR(a.RejectUnknown({}));
  return std::make_unique<DotProduct>(h);
}

Status DotProduct::PreScore(CycleState& state, const PodInfo&, const std::vector<const NodeInfo*>&) {
  state.Write(kDotMaxKey, std::make_unique<ClusterMax>(ComputeClusterMax(framework::SnapshotOf(state, handle_))));
  return Status::Success();
}

Status DotProduct::Score(const CycleState& state, const PodInfo& pod, const NodeInfo& node,
                         int64_t& score) const {
  const ClusterMax* max = nullptr;
  if (Status s = ReadState(state, kDotMaxKey, max); !s.ok()) return s;
  score = static_cast<int64_t>(framework::kMaxNodeScore * DotProductBest(pod, node, *max).first);
  score = std::clamp<int64_t>(score, framework::kMinNodeScore, framework::kMaxNodeScore);
  return Status::Success();
}

std::optional<std::vector<GpuShare>> DotProduct::ChooseDevices(const CycleState& state, const PodInfo& pod,
                                                               const NodeInfo& node) {
  const framework::GpuRequest& req = pod.requests.gpu;
  if (req.whole()) return framework::TryAllocate(node, req);
  const int gpu = DotProductBest(pod, node, ComputeClusterMax(framework::SnapshotOf(state, handle_))).second;
  if (gpu < 0) return std::nullopt;
  return std::vector<GpuShare>{ShareOf(node, static_cast<size_t>(gpu), req)};
}

// --- GpuClustering -----------------------------------------------------------------------------

namespace {
constexpr framework::StateKey<ClusterMax> kClusterMaxKey{"GpuClustering/cluster-max"};
}  // namespace

absl::StatusOr<std::unique_ptr<framework::Plugin>> GpuClustering::New(
    const framework::PluginArgs& a, framework::Handle& h) {
  RETURN_IF_ERROR(a.RejectUnknown({}));
  return std::make_unique<GpuClustering>(h);
}

Status GpuClustering::PreScore(CycleState& state, const PodInfo& pod,
                               const std::vector<const NodeInfo*>&) {
  if (pod.requests.gpu.empty()) return Status::Skip();
  state.Write(kClusterMaxKey, std::make_unique<ClusterMax>(ComputeClusterMax(framework::SnapshotOf(state, handle_))));
  return Status::Success();
}

Status GpuClustering::Score(const CycleState& state, const PodInfo& pod, const NodeInfo& node,
                            int64_t& score) const {
  const ClusterMax* max = nullptr;
  if (Status s = ReadState(state, kClusterMaxKey, max); !s.ok()) return s;
  const int shape = NodeInfo::ShapeOf(pod.requests.gpu);
  int kinds = 0;
  for (int32_t c : node.gpu_pod_shapes()) kinds += c > 0;
  const bool same = node.gpu_pod_shapes()[shape] > 0;
  const int64_t max_gpu = static_cast<int64_t>(max->gpu);
  const int64_t within =
      framework::kMaxNodeScore / 4 * (max_gpu - TotalFreeMilli(node)) / max_gpu;  // [0, 25]
  int64_t band;
  if (same) {
    band = kinds == 1 ? 3 : 2;  // only this shape here : this shape and others
  } else {
    band = kinds == 0 ? 1 : 0;  // idle node : other shapes only
  }
  score = std::clamp<int64_t>(within + band * framework::kMaxNodeScore / 4, 0,
                              framework::kMaxNodeScore);
  return Status::Success();
}

// --- GpuPacking --------------------------------------------------------------------------------

absl::StatusOr<std::unique_ptr<framework::Plugin>> GpuPacking::New(const framework::PluginArgs& a,
                                                                   framework::Handle&) {
  RETURN_IF_ERROR(a.RejectUnknown({}));
  return std::make_unique<GpuPacking>();
}

Status GpuPacking::Score(const CycleState&, const PodInfo& pod, const NodeInfo& node,
                         int64_t& score) const {
  const framework::GpuRequest& req = pod.requests.gpu;
  constexpr int64_t kMax = framework::kMaxNodeScore;
  if (req.empty()) {
    score = framework::kMinNodeScore;
    return Status::Success();
  }
  const int64_t fully_free = node.fully_free_gpus();
  if (fully_free == node.healthy_gpus()) {  // an idle node (unhealthy devices hold nothing)
    score = std::clamp<int64_t>(kMax / 3 - fully_free, 0, kMax / 3);
    return Status::Success();
  }
  // The devices best fit would take: least free first.
  std::vector<int32_t> order(node.gpus().size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int32_t>(i);
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
    return node.gpus()[a].milli_free < node.gpus()[b].milli_free;
  });
  int32_t need = req.count;
  int64_t free_ones_used = 0;
  int64_t free_pct_on_used = 0;
  for (int32_t i : order) {
    if (need == 0) break;
    const framework::GpuSlot& s = node.gpus()[i];
    if (!(req.whole() ? FreeWhole(s, req) : FitsShare(s, req))) continue;
    --need;
    if (s.milli_free == kOneGpu) ++free_ones_used;
    free_pct_on_used += s.milli_free.value() * 100 / kOneGpu.value();
  }
  if (need > 0) {
    score = framework::kMinNodeScore;  // Filter should have rejected the node
  } else if (free_ones_used > 0) {
    score = std::max(kMax / 2 - free_ones_used, kMax / 3);  // free GPUs on a used node
  } else {
    score = std::max(kMax - free_pct_on_used / 10, kMax / 2);  // reuse shared GPUs
  }
  return Status::Success();
}

// --- BestFit -----------------------------------------------------------------------------------

namespace {
constexpr framework::StateKey<ClusterMax> kBestFitMaxKey{"BestFit/cluster-max"};
}  // namespace

absl::StatusOr<std::unique_ptr<framework::Plugin>> BestFit::New(const framework::PluginArgs& a,
                                                                framework::Handle& h) {
  RETURN_IF_ERROR(a.RejectUnknown({}));
  return std::make_unique<BestFit>(h);
}

Status BestFit::PreScore(CycleState& state, const PodInfo&, const std::vector<const NodeInfo*>&) {
  state.Write(kBestFitMaxKey, std::make_unique<ClusterMax>(ComputeClusterMax(framework::SnapshotOf(state, handle_))));
  return Status::Success();
}

Status BestFit::Score(const CycleState& state, const PodInfo& pod, const NodeInfo& node,
                      int64_t& score) const {
  const ClusterMax* max = nullptr;
  if (Status s = ReadState(state, kBestFitMaxKey, max); !s.ok()) return s;
  const double cpu_left =
      static_cast<double>((node.cpu_free() - pod.requests.cpu).value()) / max->cpu;
  const double gpu_left =
      static_cast<double>(TotalFreeMilli(node) - pod.requests.gpu.total_milli().value()) /
      max->gpu;
  const double waste = 0.5 * std::max(cpu_left, 0.0) + 0.5 * std::max(gpu_left, 0.0);
  score = static_cast<int64_t>((1.0 - waste) * framework::kMaxNodeScore);
  score = std::clamp<int64_t>(score, framework::kMinNodeScore, framework::kMaxNodeScore);
  return Status::Success();
}

Status BestFit::NormalizeScore(const CycleState&, const PodInfo&,
                               framework::NodeScoreList& scores) const {
  // Min-max onto [0, 100], so the tightest feasible node always scores 100.
  if (scores.empty()) return Status::Success();
  int64_t lo = scores[0].score, hi = scores[0].score;
  for (const framework::NodeScore& s : scores) {
    lo = std::min(lo, s.score);
    hi = std::max(hi, s.score);
  }
  for (framework::NodeScore& s : scores) {
    s.score = hi == lo ? framework::kMinNodeScore
                       : (s.score - lo) * (framework::kMaxNodeScore - framework::kMinNodeScore) /
                                 (hi - lo) +
                             framework::kMinNodeScore;
  }
  return Status::Success();
}

// --- FGD ---------------------------------------------------------------------------------------

absl::StatusOr<std::vector<TypicalPod>> DecodeTypicalPods(const framework::PluginArgs& args) {
  RETURN_IF_ERROR(
      args.RejectUnknown({"typicalPods", "observedHalfLife", "observedRefresh", "priorWeight"}));
  const framework::ArgValue* list = nullptr;
  for (const auto& [k, v] : args.fields()) {
    if (k == "typicalPods") list = &v;
  }
  if (list == nullptr || list->as_list() == nullptr || list->as_list()->empty()) {
    return args.FieldError("typicalPods",
                           "required: a non-empty list of {cpuMilli, gpuCount, gpuMilli, "
                           "models, weight} (the workload's typical pods)");
  }
  std::vector<TypicalPod> out;
  for (size_t i = 0; i < list->as_list()->size(); ++i) {
    const framework::ArgValue& item = (*list->as_list())[i];
    const std::string field = absl::StrCat("typicalPods[", i, "]");
    if (item.as_map() == nullptr) return args.FieldError(field, "expected a map");
    framework::PluginArgs p(*item.as_map(), absl::StrCat("args.", field));
    RETURN_IF_ERROR(p.RejectUnknown({"cpuMilli", "gpuCount", "gpuMilli", "models", "weight"}));
    int64_t cpu = 0, count = 0, milli = 0;
    double weight = -1;
    TypicalPod t;
    RETURN_IF_ERROR(p.Get("cpuMilli", cpu));
    RETURN_IF_ERROR(p.Get("gpuCount", count));
    RETURN_IF_ERROR(p.Get("gpuMilli", milli));
    RETURN_IF_ERROR(p.Get("models", t.models));
    RETURN_IF_ERROR(p.Get("weight", weight));
    if (cpu < 0 || cpu > kMaxAmount) return p.FieldError("cpuMilli", "must be >= 0");
    if (count < 0 || count > 128) return p.FieldError("gpuCount", "must be in 0..128");
    if (milli < 0 || milli > 1000) return p.FieldError("gpuMilli", "must be in 0..1000");
    if (!(weight > 0)) return p.FieldError("weight", "required, must be > 0");
    t.cpu = MilliCpu(cpu);
    t.gpu_count = static_cast<int32_t>(count);
    t.gpu_milli = GpuMilli(milli);
    t.weight = weight;
    out.push_back(std::move(t));
  }
  return out;
}

framework::ArgValue EncodeTypicalPods(const std::vector<TypicalPod>& pods) {
  framework::ArgValue::List list;
  for (const TypicalPod& p : pods) {
    framework::ArgValue::List models;
    for (const std::string& m : p.models) models.emplace_back(m);
    list.emplace_back(framework::ArgValue::Map{
        {"cpuMilli", framework::ArgValue(p.cpu.value())},
        {"gpuCount", framework::ArgValue(static_cast<int64_t>(p.gpu_count))},
        {"gpuMilli", framework::ArgValue(p.gpu_milli.value())},
        {"models", framework::ArgValue(std::move(models))},
        {"weight", framework::ArgValue(p.weight)}});
  }
  return framework::ArgValue(std::move(list));
}

std::vector<TypicalPod> GenericPrior() {
  std::vector<TypicalPod> out;
  for (auto [cpu, count, milli] : {std::tuple<int64_t, int32_t, int64_t>{4000, 1, 1000},
                                   {4000, 1, 500}, {8000, 2, 1000}, {2000, 0, 0}}) {
    TypicalPod t;
    t.cpu = MilliCpu(cpu);
    t.gpu_count = count;
    t.gpu_milli = GpuMilli(milli);
    t.weight = 1;
    out.push_back(t);
  }
  return out;
}

framework::PluginArgs ObservedFgdArgs() {
  return framework::PluginArgs({{"typicalPods", EncodeTypicalPods(GenericPrior())},
                                {"observedHalfLife", framework::ArgValue(int64_t{2000})},
                                {"observedRefresh", framework::ArgValue(int64_t{128})},
                                {"priorWeight", framework::ArgValue(16.0)}},
                               "args");
}

absl::StatusOr<std::unique_ptr<framework::Plugin>> Fgd::New(const framework::PluginArgs& a,
                                                            framework::Handle& h) {
  ASSIGN_OR_RETURN(std::vector<TypicalPod> pods, DecodeTypicalPods(a));
  ASSIGN_OR_RETURN(FgdObserve observe, DecodeFgdObserve(a));
  return std::make_unique<Fgd>(std::move(pods), observe, &h);
}

absl::StatusOr<FgdObserve> DecodeFgdObserve(const framework::PluginArgs& args) {
  FgdObserve o;
  RETURN_IF_ERROR(args.Get("observedHalfLife", o.half_life));
  RETURN_IF_ERROR(args.Get("observedRefresh", o.refresh_every));
  RETURN_IF_ERROR(args.Get("priorWeight", o.prior_weight));
  if (o.half_life < 0 || o.half_life > 100000000) {
    return args.FieldError("observedHalfLife", "must be in 0..100000000 pods (0: off)");
  }
  if (o.refresh_every < 1 || o.refresh_every > 1000000) {
    return args.FieldError("observedRefresh", "must be in 1..1000000 pods");
  }
  if (!(o.prior_weight > 0) || o.prior_weight > 1e12) {
    return args.FieldError("priorWeight", "must be > 0 (pods the prior counts as)");
  }
  return o;
}

Fgd::Fgd(std::vector<TypicalPod> typical, FgdObserve observe, framework::Handle* handle)
    : prior_(std::move(typical)), observe_(observe), handle_(handle) {
  MutexLock l(&mu_);
  RebuildLocked(prior_);
}

void Fgd::RebuildLocked(std::vector<TypicalPod> typical) {
  model_ = std::make_unique<FragmentationModel>(std::move(typical));
  cache_ = std::make_unique<FragCache>(*model_);
  ++epoch_;
  // Every memo depends on the model (and node keys on the cache's interning).
  memo_.clear();
  node_keys_.clear();
  scores_.clear();
}

std::vector<TypicalPod> Fgd::typical_pods() const {
  MutexLock l(&mu_);
  return model_->pods();
}

void Fgd::ObserveLocked(const PodInfo& pod) {
  if (pod.placeholder) return;  // capacity a gang plan holds, not demand
  if (!recent_set_.insert(pod.uid).second) return;  // seen already (a retry)
  recent_.push_back(pod.uid);
  constexpr size_t kRecent = 1 << 14;
  if (recent_.size() > kRecent) {
    recent_set_.erase(recent_.front());
    recent_.pop_front();
  }
  const framework::GpuRequest& g = pod.requests.gpu;
  TypicalPod shape;
  shape.cpu = pod.requests.cpu;
  shape.gpu_count = g.count;
  shape.gpu_milli = g.empty() ? GpuMilli(0) : g.milli_per_gpu;
  shape.models = g.models;
  const std::string key = absl::StrCat(shape.cpu.value(), "/", shape.gpu_count, "/",
                                       shape.gpu_milli.value(), "/", g.ModelList());
  scale_ *= std::exp2(1.0 / static_cast<double>(observe_.half_life));
  auto [it, inserted] = observed_.try_emplace(key, shape);
  it->second.weight += scale_;
  if (scale_ > 1e200) {  // renormalize before the scale overflows
    for (auto& [k, t] : observed_) t.weight /= scale_;
    scale_ = 1.0;
  }
  // Bounded: forget the rarest shapes when too many distinct ones were seen.
  constexpr size_t kMaxShapes = 4096;
  if (observed_.size() > kMaxShapes) {
    std::vector<std::pair<double, std::string>> by_weight;
    for (const auto& [k, t] : observed_) by_weight.emplace_back(t.weight, k);
    std::sort(by_weight.begin(), by_weight.end());
    for (size_t i = 0; i < by_weight.size() / 2; ++i) observed_.erase(by_weight[i].second);
  }
  if (++since_refresh_ < observe_.refresh_every) return;
  since_refresh_ = 0;
  // Effective counts: each observation weighs 2^(-age / half_life), i.e. weight / scale_.
  std::vector<TypicalPod> shapes;
  double prior_total = 0;
  for (const TypicalPod& p : prior_) prior_total += p.weight;
  for (const TypicalPod& p : prior_) {
    shapes.push_back(p);
    shapes.back().weight = prior_total > 0 ? observe_.prior_weight * p.weight / prior_total : 0;
  }
  for (const auto& [k, t] : observed_) {
    TypicalPod p = t;
    p.weight = t.weight / scale_;
    shapes.push_back(std::move(p));
  }
  // The same shape may be in the prior and observed: merge.
  std::map<std::tuple<int64_t, int32_t, int64_t, std::vector<std::string>>, TypicalPod> merged;
  for (TypicalPod& p : shapes) {
    auto [m, fresh] = merged.try_emplace(
        std::make_tuple(p.cpu.value(), p.gpu_count, p.gpu_milli.value(), p.models), p);
    if (!fresh) m->second.weight += p.weight;
  }
  std::vector<TypicalPod> all;
  for (auto& [k, p] : merged) all.push_back(std::move(p));
  RebuildLocked(TypicalPodsFromWeights(std::move(all), observe_.threshold));
}

namespace {
// This cycle's FGD score per feasible node (owned by the cycle, so requests never share it).
// The scores PreScore computed, by position in the list it was given (the list Score runs over).
struct FgdScores final : framework::StateData {
  std::vector<const NodeInfo*> nodes;
  std::vector<int64_t> scores;  // scores[i] is nodes[i]'s
  std::unique_ptr<StateData> Clone() const override { return std::make_unique<FgdScores>(*this); }
};
constexpr framework::StateKey<FgdScores> kFgdKey{"FGD/scores"};

int64_t SigmoidScore(double before, double after) {
  const double x = (before - after) / 1000.0;
  return static_cast<int64_t>(framework::kMaxNodeScore / (1.0 + std::exp(-x)));
}

std::string ShapeOf(const PodInfo& pod) {
  const framework::GpuRequest& g = pod.requests.gpu;
  return absl::StrCat(pod.requests.cpu.value(), "/", g.count, "/", g.milli_per_gpu.value(), "/",
                      g.memory_per_gpu.value(), "/", g.ModelList());
}
}  // namespace

Fgd::Choice Fgd::Evaluate(const PodInfo& pod, const NodeInfo& node) {
  MutexLock l(&mu_);
  return EvaluateLocked(pod, node);
}

Fgd::Choice Fgd::EvaluateLocked(const PodInfo& pod, const NodeInfo& node) {
  const framework::GpuRequest& req = pod.requests.gpu;
  int32_t buf[kMaxKeyedGpus];
  std::vector<int32_t> big;  // only for nodes with more than kMaxKeyedGpus GPUs
  const size_t n = FreeMilli(node, buf);
  if (n > kMaxKeyedGpus) FreeMilli(node, big);
  const absl::Span<int32_t> free =
      n > kMaxKeyedGpus ? absl::MakeSpan(big) : absl::MakeSpan(buf, n);
  const std::string_view model = NodeModel(node);
  const double before = cache_->Frag(model, node.cpu_free(), free);
  const MilliCpu cpu_after = node.cpu_free() - pod.requests.cpu;
  Choice c;
  if (req.empty()) {
    c.score = SigmoidScore(before, cache_->Frag(model, cpu_after, free));
    return c;
  }
  if (req.whole()) {
    // Whole GPUs take fully free devices (milli and memory), as TryAllocate does.
    int32_t left = req.count;
    size_t k = 0;
    for (const framework::GpuSlot& s : node.gpus()) {
      if (!s.device.healthy) continue;
      if (left > 0 && FreeWhole(s, req) && k < free.size()) {
        free[k] = 0;
        --left;
      }
      ++k;
    }
    c.score = SigmoidScore(before, cache_->Frag(model, cpu_after, free));
    return c;
  }
  // A share: try each distinct amount of free milli that fits; keep the least fragmentation.
  double best_after = 0;
  const int32_t milli = static_cast<int32_t>(req.milli_per_gpu.value());
  std::vector<int32_t> tried;
  size_t healthy_index = 0;
  for (size_t i = 0; i < node.gpus().size(); ++i) {
    const framework::GpuSlot& s = node.gpus()[i];
    if (!s.device.healthy) continue;
    const size_t k = healthy_index++;
    if (!FitsShare(s, req)) continue;
    const int32_t v = free[k];
    if (std::find(tried.begin(), tried.end(), v) != tried.end()) continue;
    tried.push_back(v);
    free[k] = v - milli;
    const double after = cache_->Frag(model, cpu_after, free);
    free[k] = v;
    if (c.device_free < 0 || after < best_after || (after == best_after && v < c.device_free)) {
      best_after = after;
      c.device_free = v;
    }
  }
  c.score = c.device_free < 0 ? framework::kMinNodeScore : SigmoidScore(before, best_after);
  return c;
}

uint32_t Fgd::ShapeIdLocked(const std::string& shape) {
  auto it = shape_ids_.find(shape);
  if (it == shape_ids_.end()) {
    it = shape_ids_.emplace(shape, static_cast<uint32_t>(shape_ids_.size())).first;
  }
  return it->second;
}

Status Fgd::PreScore(CycleState& state, const PodInfo& pod,
                     const std::vector<const NodeInfo*>& feasible) {
  constexpr size_t kMaxMemo = size_t{1} << 20;
  auto out = std::make_unique<FgdScores>();
  out->nodes = feasible;
  out->scores.assign(feasible.size(), 0);
  const std::string shape_name = ShapeOf(pod);
  std::vector<uint32_t> misses;  // positions in `feasible`
  if (observe_.half_life > 0) {
    MutexLock l(&mu_);
    ObserveLocked(pod);
  }
  // Pass 1, shared, on the framework's workers: every node whose state and shape were seen
  // before. Each chunk holds the reader lock on its own; chunks that saw different model epochs
  // (a rebuild in between) send every node to pass 2.
  constexpr size_t kChunk = 512;
  const size_t chunks = (feasible.size() + kChunk - 1) / kChunk;
  std::vector<std::vector<uint32_t>> chunk_misses(chunks);
  std::vector<uint64_t> chunk_epoch(chunks, 0);
  auto pass1 = [&](size_t begin, size_t end) {
    std::vector<uint32_t>& mine = chunk_misses[begin / kChunk];
    ReaderMutexLock l(&mu_);
    chunk_epoch[begin / kChunk] = epoch_;
    auto shape_it = shape_ids_.find(shape_name);
    const bool known_shape = shape_it != shape_ids_.end();
    const uint32_t shape = known_shape ? shape_it->second : 0;
    for (size_t i = begin; i < end; ++i) {
      auto hit = known_shape ? scores_.find(std::make_pair(feasible[i]->generation(), shape))
                             : scores_.end();
      if (hit == scores_.end()) {
        mine.push_back(static_cast<uint32_t>(i));
        continue;
      }
      out->scores[i] = hit->second;
    }
  };
  if (handle_ != nullptr) {
    handle_->ParallelFor(feasible.size(), kChunk, pass1);
  } else {
    for (size_t b = 0; b < feasible.size(); b += kChunk) pass1(b, std::min(feasible.size(), b + kChunk));
  }
  const uint64_t epoch = chunks == 0 ? 0 : chunk_epoch[0];
  bool one_epoch = true;
  for (size_t c = 0; c < chunks; ++c) {
    one_epoch = one_epoch && chunk_epoch[c] == epoch;
    misses.insert(misses.end(), chunk_misses[c].begin(), chunk_misses[c].end());
  }
  if (!one_epoch) misses.clear();  // pass 2 sees the epoch change and scores every node
  if (!misses.empty() || !one_epoch) {
    // Pass 2, exclusive: compute and remember the rest.
    MutexLock l(&mu_);
    if (!one_epoch || epoch_ != epoch) {
      // Another request rebuilt the model in between: score every node with the new one, so
      // one request never ranks nodes by two models.
      misses.resize(feasible.size());
      for (size_t i = 0; i < feasible.size(); ++i) misses[i] = static_cast<uint32_t>(i);
    }
    if (memo_.size() > kMaxMemo) memo_.clear();
    if (node_keys_.size() > kMaxMemo) node_keys_.clear();
    if (scores_.size() > kMaxMemo) scores_.clear();
    const uint32_t shape = ShapeIdLocked(shape_name);
    int32_t buf[kMaxKeyedGpus];
    for (uint32_t i : misses) {
      const NodeInfo* n = feasible[i];
      auto [nk, fresh] = node_keys_.try_emplace(n->generation());
      if (fresh) {
        const size_t count = FreeMilli(*n, buf);
        nk->second = count > kMaxKeyedGpus
                         ? NodeStateKey{}
                         : cache_->Key(NodeModel(*n), n->cpu_free(),
                                       absl::MakeConstSpan(buf, count));
      }
      if (!nk->second.valid) {
        out->scores[i] = EvaluateLocked(pod, *n).score;
      } else {
        auto [it, inserted] = memo_.try_emplace(std::make_pair(nk->second, shape));
        if (inserted) it->second = EvaluateLocked(pod, *n);
        out->scores[i] = it->second.score;
      }
      scores_.insert_or_assign(std::make_pair(n->generation(), shape), out->scores[i]);
    }
  }
  state.Write(kFgdKey, std::move(out));
  return Status::Success();
}

Status Fgd::Score(const CycleState& state, const PodInfo&, const NodeInfo& node,
                  int64_t& score) const {
  const FgdScores* s = nullptr;
  if (Status st = ReadState(state, kFgdKey, s); !st.ok()) return st;
  // One node on its own (the runtime scores through ScoreRange): a search of PreScore's list.
  auto it = std::find(s->nodes.begin(), s->nodes.end(), &node);
  if (it == s->nodes.end()) return Status::Error("node was not scored in PreScore");
  score = s->scores[static_cast<size_t>(it - s->nodes.begin())];
  return Status::Success();
}

Status Fgd::ScoreRange(const CycleState& state, const PodInfo& pod,
                       const std::vector<const NodeInfo*>& nodes, size_t begin, size_t end,
                       std::vector<framework::NodeScore>& scores) const {
  const FgdScores* s = nullptr;
  if (Status st = ReadState(state, kFgdKey, s); !st.ok()) return st;
  for (size_t i = begin; i < end; ++i) {
    if (i < s->nodes.size() && s->nodes[i] == nodes[i]) {
      scores[i].score = s->scores[i];
    } else if (Status st = ScorePlugin::ScoreRange(state, pod, nodes, i, i + 1, scores); !st.ok()) {
      return st;  // a list other than PreScore's: one node at a time, as the default does
    }
  }
  return Status::Success();
}

std::optional<std::vector<GpuShare>> Fgd::ChooseDevices(const CycleState& state,
                                                        const PodInfo& pod,
                                                        const NodeInfo& node) {
  const framework::GpuRequest& req = pod.requests.gpu;
  // Whole GPUs: every free whole GPU leaves the same fragmentation, so the measured headroom
  // decides among them (the lowest indices when nothing is measured, as TryAllocate).
  if (req.whole()) return PreferHeadroomWhole(node, req);
  const Choice c = Evaluate(pod, node);
  if (c.device_free < 0) return std::nullopt;
  // A share: the devices with that much free leave the same fragmentation; the one with the
  // most headroom wins, then the lowest index.
  const std::optional<size_t> i =
      PreferHeadroomShare(node, req, [&](const framework::GpuSlot& s) {
        return s.milli_free.value() == c.device_free;
      });
  if (!i) return std::nullopt;
  return std::vector<GpuShare>{ShareOf(node, *i, req)};
}

}  // namespace gpusched::plugins::gpu_share
