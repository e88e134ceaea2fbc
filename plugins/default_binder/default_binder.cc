#include "plugins/default_binder/default_binder.h"

#include "common/status_macros.h"

namespace gpusched::plugins::default_binder {

absl::StatusOr<std::unique_ptr<framework::Plugin>> DefaultBinder::New(
    const framework::PluginArgs& args, framework::Handle& handle) {
  RETURN_IF_ERROR(args.RejectUnknown({}));
  return std::make_unique<DefaultBinder>(handle.binder());
}

framework::Status DefaultBinder::Bind(framework::CycleState& state, const framework::PodInfo& pod,
                                      const NodeId& node) {
  std::vector<framework::GpuShare> gpus;
  if (auto a = state.Read(framework::kDeviceAssignmentKey); a.ok()) gpus = (*a)->shares;
  return framework::Status::FromError(binder_.Bind(pod, node, gpus));
}

}  // namespace gpusched::plugins::default_binder
