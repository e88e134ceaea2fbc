#include "plugins/node_resources_fit/node_resources_fit.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "plugins/gpu_share/headroom.h"

namespace gpusched::plugins::node_resources_fit {

using framework::Status;

absl::StatusOr<FitArgs> DecodeArgs(const framework::PluginArgs& args) {
  FitArgs out;
  RETURN_IF_ERROR(args.RejectUnknown({"scoringStrategy", "resources", "gpuSelection"}));
  std::string selection = "binpack";
  RETURN_IF_ERROR(args.Get("gpuSelection", selection));
  if (selection == "binpack") {
    out.gpu_selection = framework::GpuSelection::kBinpack;
  } else if (selection == "spread") {
    out.gpu_selection = framework::GpuSelection::kSpread;
  } else {
    return args.FieldError("gpuSelection",
                           absl::StrCat("must be binpack or spread, got \"", selection, "\""));
  }
  std::string strategy = "LeastAllocated";
  RETURN_IF_ERROR(args.Get("scoringStrategy", strategy));
  if (strategy == "LeastAllocated") {
    out.strategy = ScoringStrategy::kLeastAllocated;
  } else if (strategy == "MostAllocated") {
    out.strategy = ScoringStrategy::kMostAllocated;
  } else {
    return args.FieldError("scoringStrategy",
                           absl::StrCat("must be LeastAllocated or MostAllocated, got \"",
                                        strategy, "\""));
  }
  framework::PluginArgs res;
  RETURN_IF_ERROR(args.Get("resources", res));
  RETURN_IF_ERROR(res.RejectUnknown({"cpu", "memory", "gpu"}));
  RETURN_IF_ERROR(res.Get("cpu", out.cpu_weight));
  RETURN_IF_ERROR(res.Get("memory", out.memory_weight));
  RETURN_IF_ERROR(res.Get("gpu", out.gpu_weight));
  for (auto [key, w] : {std::pair{"cpu", out.cpu_weight}, std::pair{"memory", out.memory_weight},
                        std::pair{"gpu", out.gpu_weight}}) {
    if (w < 0 || w > 100) return res.FieldError(key, absl::StrCat("must be in 0..100, got ", w));
  }
  if (out.cpu_weight + out.memory_weight + out.gpu_weight == 0) {
    return args.FieldError("resources", "at least one weight must be > 0");
  }
  return out;
}

absl::StatusOr<std::unique_ptr<framework::Plugin>> NodeResourcesFit::New(
    const framework::PluginArgs& args, framework::Handle&) {
  ASSIGN_OR_RETURN(FitArgs decoded, DecodeArgs(args));
  return std::make_unique<NodeResourcesFit>(decoded);
}

Status NodeResourcesFit::PreFilter(framework::CycleState&, const framework::PodInfo& pod,
                                   framework::PreFilterResult&) {
  if (absl::Status s = framework::ValidateGpuRequest(pod.requests.gpu); !s.ok()) {
    return Status::UnschedulableAndUnresolvable(
        absl::StrCat("invalid GPU request: ", s.message()));
  }
  if (pod.requests.cpu < MilliCpu(0) || pod.requests.memory < MemoryBytes(0)) {
    return Status::UnschedulableAndUnresolvable("negative cpu or memory request");
  }
  return Status::Success();
}

Status NodeResourcesFit::Filter(const framework::CycleState&, const framework::PodInfo& pod,
                                const framework::NodeInfo& node) const {
  const framework::PodResources& req = pod.requests;
  // Capacity first: a pod bigger than the whole node can never fit there.
  if (req.cpu > node.cpu_capacity()) {
    return Status::UnschedulableAndUnresolvable("Insufficient cpu");
  }
  if (req.memory > node.memory_capacity()) {
    return Status::UnschedulableAndUnresolvable("Insufficient memory");
  }
  if (node.max_pods() == 0) return Status::UnschedulableAndUnresolvable("Too many pods");
  framework::GpuFitResult gpu = framework::CheckGpuFit(node, req.gpu);
  if (gpu.fit == framework::GpuFit::kNever) {
    return Status::UnschedulableAndUnresolvable(std::move(gpu.reason));
  }
  // Then what is free now.
  if (req.cpu > node.cpu_free()) return Status::Unschedulable("Insufficient cpu");
  if (req.memory > node.memory_free()) return Status::Unschedulable("Insufficient memory");
  if (node.pod_count() >= node.max_pods()) return Status::Unschedulable("Too many pods");
  if (gpu.fit == framework::GpuFit::kBusy) {
    return gpu.static_reason != nullptr
               ? Status::WithStaticReason(framework::Code::kUnschedulable, gpu.static_reason)
               : Status::Unschedulable(std::move(gpu.reason));
  }
  return Status::Success();
}

namespace {

// Utilization of one resource after placement, in [0, 100]; nullopt if the node has none.
std::optional<int64_t> UsedPercent(int64_t requested_after, int64_t capacity) {
  if (capacity <= 0) return std::nullopt;
  if (requested_after >= capacity) return 100;
  return requested_after * 100 / capacity;
}

}  // namespace

Status NodeResourcesFit::Score(const framework::CycleState&, const framework::PodInfo& pod,
                               const framework::NodeInfo& node, int64_t& score) const {
  const framework::PodResources& req = pod.requests;
  int64_t weighted = 0;
  int64_t weights = 0;
  auto add = [&](std::optional<int64_t> used, int64_t weight) {
    if (!used.has_value() || weight == 0) return;
    const int64_t v = args_.strategy == ScoringStrategy::kLeastAllocated ? 100 - *used : *used;
    weighted += v * weight;
    weights += weight;
  };
  add(UsedPercent((node.cpu_requested() + req.cpu).value(), node.cpu_capacity().value()),
      args_.cpu_weight);
  add(UsedPercent((node.memory_requested() + req.memory).value(), node.memory_capacity().value()),
      args_.memory_weight);
  // GPU use counts only for pods that use GPUs: otherwise bin-packing would steer CPU-only pods
  // onto busy GPU nodes and eat the CPU that GPU pods there need.
  if (!req.gpu.empty()) {
    add(UsedPercent((node.gpu_milli_used() + req.gpu.total_milli()).value(),
                    static_cast<int64_t>(node.gpu_count()) * kOneGpu.value()),
        args_.gpu_weight);
  }
  score = weights == 0 ? 0 : weighted / weights;
  return Status::Success();
}

std::optional<std::vector<framework::GpuShare>> NodeResourcesFit::ChooseDevices(
    const framework::CycleState& state, const framework::PodInfo& pod, const framework::NodeInfo& node) {
  const framework::GpuRequest& req = pod.requests.gpu;
  // Where TryAllocate finds several devices equally good, the measured headroom decides (with
  // headroom 1 everywhere this is TryAllocate's choice exactly).
  if (req.whole()) return gpu_share::PreferHeadroomWhole(node, req);
  std::optional<std::vector<framework::GpuShare>> chosen =
      framework::TryAllocate(node, req, args_.gpu_selection);
  if (!chosen || chosen->size() != 1) return chosen;
  // Equally good for binpack and spread alike: the same milli and memory left after placement.
  const framework::GpuSlot& c = node.gpus()[static_cast<size_t>((*chosen)[0].gpu.value())];
  std::optional<size_t> best = gpu_share::PreferHeadroomShare(
      node, req, [&](const framework::GpuSlot& s) {
        return s.milli_free == c.milli_free && s.memory_free == c.memory_free;
      });
  if (best) (*chosen)[0].gpu = DeviceIndex(static_cast<int32_t>(*best));
  return chosen;
}

}  // namespace gpusched::plugins::node_resources_fit
