#pragma once

// TaintToleration: a node's NoSchedule and NoExecute taints repel pods that do not tolerate them
// (Kubernetes semantics: Equal matches key and value, Exists matches the key, an empty key with
// Exists matches every taint; a toleration without effect matches every effect). A cordoned node
// (spec.unschedulable) behaves as if tainted node.kubernetes.io/unschedulable:NoSchedule, as the
// node lifecycle controller does. PreferNoSchedule taints are not filtered. No args.

#include <memory>

#include "absl/status/statusor.h"
#include "scheduler/api/handle.h"
#include "scheduler/api/plugin.h"
#include "scheduler/api/plugin_args.h"

namespace gpusched::plugins::taint_toleration {

inline constexpr std::string_view kName = "TaintToleration";
inline constexpr std::string_view kUnschedulableTaint = "node.kubernetes.io/unschedulable";

bool Tolerates(const framework::Toleration& t, const framework::Taint& taint);

class TaintToleration final : public framework::FilterPlugin {
 public:
  static absl::StatusOr<std::unique_ptr<framework::Plugin>> New(const framework::PluginArgs& args,
                                                                framework::Handle& handle);
  std::string_view Name() const override { return kName; }
  framework::Status Filter(const framework::CycleState& state, const framework::PodInfo& pod,
                           const framework::NodeInfo& node) const override;
};

}  // namespace gpusched::plugins::taint_toleration
