#pragma once

// NodeSelector: the pod's spec.nodeSelector; every key must be a node label with the same value.
// No args.

#include <memory>

#include "absl/status/statusor.h"
#include "scheduler/api/handle.h"
#include "scheduler/api/plugin.h"
#include "scheduler/api/plugin_args.h"

namespace gpusched::plugins::node_selector {

inline constexpr std::string_view kName = "NodeSelector";

class NodeSelector final : public framework::PreFilterPlugin, public framework::FilterPlugin {
 public:
  static absl::StatusOr<std::unique_ptr<framework::Plugin>> New(const framework::PluginArgs& args,
                                                                framework::Handle& handle);
  std::string_view Name() const override { return kName; }
  // Skip when the pod has no selector, so Filter costs nothing for most pods.
  framework::Status PreFilter(framework::CycleState& state, const framework::PodInfo& pod,
                              framework::PreFilterResult& result) override;
  framework::Status Filter(const framework::CycleState& state, const framework::PodInfo& pod,
                           const framework::NodeInfo& node) const override;
};

}  // namespace gpusched::plugins::node_selector
