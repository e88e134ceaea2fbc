#pragma once

// NodeResourcesFit: the baseline fit plugin (mirrors kube-scheduler's NodeResourcesFit, extended
// to per-device GPUs).
//
//  - Filter: CPU, memory, pod count, and GPUs: whole GPUs (count healthy fully-free devices of the
//    requested model and memory) or a share of one device (milli-GPU and GPU memory). A node that
//    could never host the pod (too little capacity, no GPU of the model) is
//    UnschedulableAndUnresolvable; one that is only full now is Unschedulable (design G11).
//  - Score: LeastAllocated (spread) or MostAllocated (bin-pack) over cpu, memory and gpu, each
//    resource's utilization after placement weighted by `resources`; the gpu resource counts
//    only for pods that request GPUs.
//  - Reserve: chooses the devices with TryAllocate (lowest free whole GPUs; for a share of one
//    GPU the tightest device with gpuSelection: binpack, or the emptiest with spread) unless an
//    earlier Reserve plugin (e.g. a GPU-sharing policy) already did. Among devices TryAllocate
//    finds equally good (free whole GPUs; for a share, the same milli and memory left) the ones
//    with the most measured headroom (GpuDevice::headroom) win, then the lower index; with no
//    headroom measured (all 1) the choice is TryAllocate's.
//
// Config:
//   - name: NodeResourcesFit
//     weight: 1
//     args:
//       scoringStrategy: LeastAllocated   # or MostAllocated
//       resources: {cpu: 1, memory: 1, gpu: 1}   # weights 0..100; at least one > 0
//       gpuSelection: binpack             # or spread: which GPU a shared pod lands on

#include <memory>

#include "absl/status/statusor.h"
#include "scheduler/api/device_chooser.h"
#include "scheduler/api/handle.h"
#include "scheduler/api/plugin.h"
#include "scheduler/api/plugin_args.h"

namespace gpusched::plugins::node_resources_fit {

inline constexpr std::string_view kName = "NodeResourcesFit";

enum class ScoringStrategy { kLeastAllocated, kMostAllocated };

struct FitArgs {
  ScoringStrategy strategy = ScoringStrategy::kLeastAllocated;
  int64_t cpu_weight = 1;
  int64_t memory_weight = 1;
  int64_t gpu_weight = 1;
  framework::GpuSelection gpu_selection = framework::GpuSelection::kBinpack;
};

// Decodes and validates; errors name the field ("args.scoringStrategy: ...").
absl::StatusOr<FitArgs> DecodeArgs(const framework::PluginArgs& args);

class NodeResourcesFit final : public framework::PreFilterPlugin,
                               public framework::FilterPlugin,
                               public framework::ScorePlugin,
                               public framework::DeviceChooser {
 public:
  explicit NodeResourcesFit(FitArgs args) : args_(args) {}
  static absl::StatusOr<std::unique_ptr<framework::Plugin>> New(const framework::PluginArgs& args,
                                                                framework::Handle& handle);

  std::string_view Name() const override { return kName; }
  framework::Status PreFilter(framework::CycleState& state, const framework::PodInfo& pod,
                              framework::PreFilterResult& result) override;
  framework::Status Filter(const framework::CycleState& state, const framework::PodInfo& pod,
                           const framework::NodeInfo& node) const override;
  framework::Status Score(const framework::CycleState& state, const framework::PodInfo& pod,
                          const framework::NodeInfo& node, int64_t& score) const override;

 private:
  std::optional<std::vector<framework::GpuShare>> ChooseDevices(
      const framework::CycleState& state, const framework::PodInfo& pod, const framework::NodeInfo& node) override;

  const FitArgs args_;
};

}  // namespace gpusched::plugins::node_resources_fit
