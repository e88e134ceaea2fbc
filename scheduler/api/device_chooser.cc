#include "scheduler/api/device_chooser.h"

#include "absl/strings/str_cat.h"

namespace gpusched::framework {

Status DeviceChooser::Reserve(CycleState& state, const PodInfo& pod, const NodeInfo& node) {
  if (pod.requests.gpu.empty() || state.Contains(kDeviceAssignmentKey) ||
      !ChoosesFor(pod, node)) {
    return Status::Success();
  }
  std::optional<std::vector<GpuShare>> gpus = ChooseDevices(state, pod, node);
  if (!gpus.has_value()) {
    return Status::Unschedulable(
        absl::StrCat("GPUs on node ", node.name().str(), " no longer fit the request"));
  }
  auto a = std::make_unique<DeviceAssignment>();
  a->shares = *std::move(gpus);
  a->chosen_by = std::string(Name());
  state.Write(kDeviceAssignmentKey, std::move(a));
  return Status::Success();
}

void DeviceChooser::Unreserve(CycleState& state, const PodInfo&, const NodeId&) {
  absl::StatusOr<const DeviceAssignment*> a = state.Read(kDeviceAssignmentKey);
  if (a.ok() && (*a)->chosen_by == Name()) state.Erase(kDeviceAssignmentKey);
}

}  // namespace gpusched::framework
