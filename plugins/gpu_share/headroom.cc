#include "plugins/gpu_share/headroom.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace gpusched::plugins::gpu_share {

using framework::CycleState;
using framework::GpuRequest;
using framework::GpuShare;
using framework::GpuSlot;
using framework::NodeInfo;
using framework::PodInfo;
using framework::Status;

namespace {

bool AsksShare(const GpuRequest& req) { return !req.empty() && !req.whole(); }

bool FreeWhole(const GpuSlot& s, const GpuRequest& req) {
  return s.device.healthy && req.AllowsModel(s.device.model) &&
         s.device.memory >= req.memory_per_gpu && s.fully_free();
}

// What is wrong with a field, or "" (NaN fails the range tests too).
std::string MinHeadroomProblem(double v) {
  if (v > 0.0 && v <= 1.0) return "";
  return absl::StrCat("must be in (0, 1] (the headroom from which a GPU counts as fast), got ", v);
}
std::string WholeGpuWeightProblem(double v) {
  if (v >= 0.0 && v <= 1.0) return "";
  return absl::StrCat(
      "must be in [0, 1] (how much whole-GPU pods care, relative to shares; 0: neutral), got ", v);
}

}  // namespace

absl::Status ValidateGpuHeadroomArgs(const GpuHeadroomArgs& args) {
  if (std::string p = MinHeadroomProblem(args.min_headroom); !p.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("minHeadroom: ", p));
  }
  if (std::string p = WholeGpuWeightProblem(args.whole_gpu_weight); !p.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("wholeGpuWeight: ", p));
  }
  return absl::OkStatus();
}

absl::StatusOr<GpuHeadroomArgs> DecodeGpuHeadroomArgs(const framework::PluginArgs& args) {
  RETURN_IF_ERROR(args.RejectUnknown({"minHeadroom", "wholeGpuWeight"}));
  GpuHeadroomArgs out;
  RETURN_IF_ERROR(args.Get("minHeadroom", out.min_headroom));
  RETURN_IF_ERROR(args.Get("wholeGpuWeight", out.whole_gpu_weight));
  if (std::string p = MinHeadroomProblem(out.min_headroom); !p.empty()) {
    return args.FieldError("minHeadroom", p);
  }
  if (std::string p = WholeGpuWeightProblem(out.whole_gpu_weight); !p.empty()) {
    return args.FieldError("wholeGpuWeight", p);
  }
  return out;
}

double HeadroomOf(const framework::GpuDevice& device) {
  if (std::isnan(device.headroom)) return 1.0;
  return std::clamp(device.headroom, 0.0, 1.0);
}

bool ShareFitsNow(const GpuSlot& s, const GpuRequest& req) {
  return s.device.healthy && req.AllowsModel(s.device.model) &&
         s.device.memory >= req.memory_per_gpu && s.milli_free >= req.milli_per_gpu &&
         s.memory_free >= req.memory_per_gpu;
}

std::optional<std::vector<GpuShare>> PreferHeadroomWhole(const NodeInfo& node,
                                                         const GpuRequest& req) {
  std::vector<size_t> free;
  for (size_t i = 0; i < node.gpus().size(); ++i) {
    if (FreeWhole(node.gpus()[i], req)) free.push_back(i);
  }
  if (req.count < 0 || free.size() < static_cast<size_t>(req.count)) return std::nullopt;
  // Most headroom first; stable, so equal headroom keeps index order.
  std::stable_sort(free.begin(), free.end(), [&](size_t a, size_t b) {
    return HeadroomOf(node.gpus()[a].device) > HeadroomOf(node.gpus()[b].device);
  });
  free.resize(static_cast<size_t>(req.count));
  std::sort(free.begin(), free.end());
  std::vector<GpuShare> out;
  out.reserve(free.size());
  for (size_t i : free) {
    out.push_back(
        GpuShare{DeviceIndex(static_cast<int32_t>(i)), kOneGpu, node.gpus()[i].device.memory});
  }
  return out;
}

absl::StatusOr<std::unique_ptr<framework::Plugin>> GpuHeadroom::New(const framework::PluginArgs& a,
                                                                    framework::Handle&) {
  ASSIGN_OR_RETURN(GpuHeadroomArgs args, DecodeGpuHeadroomArgs(a));
  return std::make_unique<GpuHeadroom>(args);
}

Status GpuHeadroom::PreScore(CycleState&, const PodInfo& pod, const std::vector<const NodeInfo*>&) {
  const GpuRequest& req = pod.requests.gpu;
  return AsksShare(req) || (args_.whole_gpu_weight > 0 && req.whole()) ? Status::Success()
                                                                       : Status::Skip();
}

int64_t GpuHeadroom::RawScore(const PodInfo& pod, const NodeInfo& node) const {
  const GpuRequest& req = pod.requests.gpu;
  double best = -1;
  if (AsksShare(req)) {
    for (const GpuSlot& s : node.gpus()) {
      if (ShareFitsNow(s, req)) best = std::max(best, HeadroomOf(s.device));
    }
  } else if (args_.whole_gpu_weight > 0 && req.whole()) {
    std::vector<double> free;
    for (const GpuSlot& s : node.gpus()) {
      if (FreeWhole(s, req)) free.push_back(HeadroomOf(s.device));
    }
    if (free.size() >= static_cast<size_t>(req.count)) {
      std::sort(free.begin(), free.end(), std::greater<>());
      best = free[static_cast<size_t>(req.count) - 1];
    }
  }
  if (best < 0) return framework::kMinNodeScore;
  double fast = std::min(1.0, best / args_.min_headroom);
  if (req.whole()) fast = 1.0 - args_.whole_gpu_weight * (1.0 - fast);
  return std::clamp<int64_t>(std::llround(fast * framework::kMaxNodeScore),
                             framework::kMinNodeScore, framework::kMaxNodeScore);
}

Status GpuHeadroom::Score(const CycleState&, const PodInfo& pod, const NodeInfo& node,
                          int64_t& score) const {
  score = RawScore(pod, node);
  return Status::Success();
}

Status GpuHeadroom::NormalizeScore(const CycleState&, const PodInfo&,
                                   framework::NodeScoreList& scores) const {
  if (scores.empty()) return Status::Success();
  int64_t lo = scores[0].score;
  for (const framework::NodeScore& s : scores) lo = std::min(lo, s.score);
  for (framework::NodeScore& s : scores) s.score -= lo;
  return Status::Success();
}

}  // namespace gpusched::plugins::gpu_share
