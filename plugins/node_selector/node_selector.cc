#include "plugins/node_selector/node_selector.h"

#include "common/status_macros.h"

namespace gpusched::plugins::node_selector {

using framework::Status;

absl::StatusOr<std::unique_ptr<framework::Plugin>> NodeSelector::New(
    const framework::PluginArgs& args, framework::Handle&) {
  RETURN_IF_ERROR(args.RejectUnknown({}));
  return std::make_unique<NodeSelector>();
}

Status NodeSelector::PreFilter(framework::CycleState&, const framework::PodInfo& pod,
                               framework::PreFilterResult&) {
  return pod.node_selector.empty() ? Status::Skip() : Status::Success();
}

Status NodeSelector::Filter(const framework::CycleState&, const framework::PodInfo& pod,
                            const framework::NodeInfo& node) const {
  const auto& labels = node.spec().labels;
  for (const auto& [key, value] : pod.node_selector) {
    auto it = labels.find(key);
    if (it == labels.end() || it->second != value) {
      return Status::UnschedulableAndUnresolvable("node(s) didn't match Pod's node selector");
    }
  }
  return Status::Success();
}

}  // namespace gpusched::plugins::node_selector
