#pragma once

// DefaultBinder: binds through the Binder port of the Handle (a Kubernetes Binding in the
// extender, a simulated bind in the simulator), passing the device assignment chosen at Reserve.
// No args.

#include <memory>

#include "absl/status/statusor.h"
#include "scheduler/api/handle.h"
#include "scheduler/api/plugin.h"
#include "scheduler/api/plugin_args.h"

namespace gpusched::plugins::default_binder {

inline constexpr std::string_view kName = "DefaultBinder";

class DefaultBinder final : public framework::BindPlugin {
 public:
  explicit DefaultBinder(framework::Binder& binder) : binder_(binder) {}
  static absl::StatusOr<std::unique_ptr<framework::Plugin>> New(const framework::PluginArgs& args,
                                                                framework::Handle& handle);
  std::string_view Name() const override { return kName; }
  framework::Status Bind(framework::CycleState& state, const framework::PodInfo& pod,
                         const NodeId& node) override;

 private:
  framework::Binder& binder_;
};

}  // namespace gpusched::plugins::default_binder
