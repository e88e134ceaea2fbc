#pragma once

// The convention for choosing a pod's devices at Reserve, in one place: the first Reserve
// plugin in profile order that chooses writes kDeviceAssignmentKey; later ones keep its choice;
// Unreserve removes only the plugin's own choice (so it is idempotent and never undoes another
// plugin's). A plugin that chooses devices derives from DeviceChooser:
//
//   class MyPolicy final : public ScorePlugin, public DeviceChooser {
//     std::optional<std::vector<GpuShare>> ChooseDevices(const CycleState& state,
//                                                        const PodInfo& pod,
//                                                        const NodeInfo& node) override {
//       return TryAllocate(node, pod.requests.gpu);   // nullopt: no longer fits
//     }
//   };

#include <optional>
#include <vector>

#include "scheduler/api/cycle_state.h"
#include "scheduler/api/plugin.h"

namespace gpusched::framework {

class DeviceChooser : public ReservePlugin {
 public:
  // Pods without GPUs, pods the plugin does not choose for (ChoosesFor) and pods whose devices
  // are already chosen pass. Otherwise ChooseDevices decides; nullopt is Unschedulable ("GPUs on
  // node X no longer fit the request").
  Status Reserve(CycleState& state, const PodInfo& pod, const NodeInfo& node) final;
  void Unreserve(CycleState& state, const PodInfo& pod, const NodeId& node) final;

 protected:
  // Whether this plugin chooses for `pod` on `node`; false leaves it to later plugins.
  virtual bool ChoosesFor(const PodInfo& pod, const NodeInfo& node) const { return true; }
  // `state` is the pod's cycle (its snapshot: SnapshotOf(state, handle)).
  virtual std::optional<std::vector<GpuShare>> ChooseDevices(const CycleState& state,
                                                             const PodInfo& pod,
                                                             const NodeInfo& node) = 0;
};

}  // namespace gpusched::framework
