#pragma once

// GpuHeadroom: a Score plugin that prefers nodes whose free share of a GPU sits on a GPU that is
// fast *now*, by the headroom the node agent measures (GpuDevice::headroom: the share of the
// device's throughput its tenants can still get; 1 = idle or not measured, 0.4 = other tenants
// take 60 %). So two heavy tenants are not packed onto a GPU that is already slow.
//
//   - name: FGD                    # chooses the node's devices (ties go to higher headroom)
//   - name: GpuHeadroom
//     weight: 1
//     args: {minHeadroom: 0.8, wholeGpuWeight: 0}   # optional; these are the defaults
//   - name: NodeResourcesFit
//     points: [PreFilter, Filter, Reserve]
//
// Contract:
//  - Pods asking a share of one GPU (milli < 1000, or a memory-only share): the node's raw score
//    is 100 * min(1, h / minHeadroom), h the highest headroom among the node's GPUs that can take
//    the share now (healthy, allowed model, enough milli and memory free). Every GPU at or above
//    minHeadroom scores 100, so probe noise on idle GPUs does not move pods; below it the score
//    falls linearly to 0 at headroom 0. NormalizeScore subtracts the lowest raw score among the
//    feasible nodes: the slowest candidate scores 0 and a difference keeps its absolute size (a
//    GPU with 0.4 headroom is 50 points behind an idle one whatever the other nodes are), so a
//    cluster where nothing is measured (every headroom 1) scores 0 everywhere and the profile
//    decides exactly as it would without this plugin.
//  - Pods asking whole GPUs: neutral by default (wholeGpuWeight: 0): PreScore returns Skip, so
//    the plugin adds nothing to any node. Why: the issue is shares stacked on a slow GPU; a whole
//    GPU gets no co-tenant from us, and ranking nodes for whole-GPU pods by headroom costs
//    packing and, when the cluster fills up, hands the fast GPUs to whichever pods come first.
//    Inside the node FGD and NodeResourcesFit still give whole-GPU pods the free GPUs with the
//    most headroom, at no packing cost (see below). The price (bench/headroom_experiment, 85 %
//    load): with shares steered to fast GPUs, whole-GPU pods get more of the slow ones (mean
//    headroom 0.84 -> 0.74). wholeGpuWeight w in (0, 1] scores them too, by h = the lowest
//    headroom among the `count` free whole GPUs with the most headroom (the ones the device
//    choice takes): raw = 100 * (1 - w * (1 - min(1, h / minHeadroom))).
//  - Pods without GPUs: neutral (Skip).
//  - Headroom is clamped to [0, 1]; a NaN counts as 1 (not measured).
//  - Deterministic: no clock, no random source; the score depends only on the pod and the node.
//  - Thread-safe: the only member is the constant args; Score may run on any thread.
//
// The node score names the best GPU that fits; the device choice itself stays with the profile's
// chooser (FGD or NodeResourcesFit), which honours headroom only among the GPUs it finds equally
// good (PreferHeadroomShare / PreferHeadroomWhole below). So a pod can still land on a slower GPU
// of the winning node when its chooser finds a strictly better fit there.

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "scheduler/api/handle.h"
#include "scheduler/api/node_info.h"
#include "scheduler/api/plugin.h"
#include "scheduler/api/plugin_args.h"

namespace gpusched::plugins::gpu_share {

struct GpuHeadroomArgs {
  // Headroom from which a GPU counts as fast (scores 100). In (0, 1].
  double min_headroom = 0.8;
  // How much pods asking whole GPUs care, relative to shares, in [0, 1]: 0 = neutral (not
  // scored), 1 = as much as a share.
  double whole_gpu_weight = 0.0;
};

// Checks the fields; the error names the field ("minHeadroom: must be in (0, 1] ..., got 0").
absl::Status ValidateGpuHeadroomArgs(const GpuHeadroomArgs& args);
// Decodes `args` ({minHeadroom, wholeGpuWeight}; absent keys keep the defaults; unknown keys are
// errors) and validates it; errors name the field with the args path ("args.minHeadroom: ...").
absl::StatusOr<GpuHeadroomArgs> DecodeGpuHeadroomArgs(const framework::PluginArgs& args);

// A device's measured headroom clamped to [0, 1]; NaN gives 1 (not measured).
double HeadroomOf(const framework::GpuDevice& device);

class GpuHeadroom final : public framework::PreScorePlugin, public framework::ScorePlugin {
 public:
  static constexpr std::string_view kName = "GpuHeadroom";
  explicit GpuHeadroom(GpuHeadroomArgs args) : args_(args) {}
  static absl::StatusOr<std::unique_ptr<framework::Plugin>> New(const framework::PluginArgs& a,
                                                                framework::Handle& h);
  std::string_view Name() const override { return kName; }

  // Skip for pods that ask no share of one GPU (whole GPUs or none): they are neutral.
  framework::Status PreScore(framework::CycleState& state, const framework::PodInfo& pod,
                             const std::vector<const framework::NodeInfo*>& feasible) override;
  // The raw score RawScore(pod, node), in [0, 100].
  framework::Status Score(const framework::CycleState& state, const framework::PodInfo& pod,
                          const framework::NodeInfo& node, int64_t& score) const override;
  // Subtracts the lowest score (the slowest feasible node scores 0).
  framework::Status NormalizeScore(const framework::CycleState& state,
                                   const framework::PodInfo& pod,
                                   framework::NodeScoreList& scores) const override;

  // 100 * min(1, best fitting headroom / minHeadroom), rounded (whole GPUs: see the contract);
  // 0 when no GPU takes the pod (Filter rejects such nodes) and for pods that are not scored.
  int64_t RawScore(const framework::PodInfo& pod, const framework::NodeInfo& node) const;
  const GpuHeadroomArgs& args() const { return args_; }

 private:
  // Constant after construction.
  const GpuHeadroomArgs args_;
};

// Tie-breakers for the plugins that choose devices, so the choice inside a node honours headroom
// where the chooser finds several GPUs equally good. With every headroom equal they return the
// chooser's own choice (the lowest index), so nothing changes where nothing is measured.

// A share: among the devices d that can take `req` now and for which `same(d)` holds (the
// chooser's equivalence class of its choice, e.g. "same free milli"), the one with the highest
// headroom, ties to the lower index; nullopt when none qualifies.
template <class Same>
std::optional<size_t> PreferHeadroomShare(const framework::NodeInfo& node,
                                          const framework::GpuRequest& req, Same same);
// Whole GPUs: the `req.count` devices that are free whole for `req` (healthy, fully free, model
// and memory allowed) with the most headroom, ties to the lower index, in index order; nullopt
// when fewer are free. With equal headroom this is TryAllocate's choice (the lowest indices).
std::optional<std::vector<framework::GpuShare>> PreferHeadroomWhole(
    const framework::NodeInfo& node, const framework::GpuRequest& req);

// Whether a device can take a share `req` now (healthy, model, memory and milli free).
bool ShareFitsNow(const framework::GpuSlot& slot, const framework::GpuRequest& req);

template <class Same>
std::optional<size_t> PreferHeadroomShare(const framework::NodeInfo& node,
                                          const framework::GpuRequest& req, Same same) {
  std::optional<size_t> best;
  double best_headroom = -1;
  for (size_t i = 0; i < node.gpus().size(); ++i) {
    const framework::GpuSlot& s = node.gpus()[i];
    if (!ShareFitsNow(s, req) || !same(s)) continue;
    const double h = HeadroomOf(s.device);
    if (!best || h > best_headroom) {
      best = i;
      best_headroom = h;
    }
  }
  return best;
}

}  // namespace gpusched::plugins::gpu_share
