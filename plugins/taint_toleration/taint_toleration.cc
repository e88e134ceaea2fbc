#include "plugins/taint_toleration/taint_toleration.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace gpusched::plugins::taint_toleration {

using framework::Status;

bool Tolerates(const framework::Toleration& t, const framework::Taint& taint) {
  if (t.effect.has_value() && *t.effect != taint.effect) return false;
  if (t.key.empty()) return t.exists;
  if (t.key != taint.key) return false;
  return t.exists || t.value == taint.value;
}

absl::StatusOr<std::unique_ptr<framework::Plugin>> TaintToleration::New(
    const framework::PluginArgs& args, framework::Handle&) {
  RETURN_IF_ERROR(args.RejectUnknown({}));
  return std::make_unique<TaintToleration>();
}

namespace {
bool ToleratedByPod(const framework::PodInfo& pod, const framework::Taint& taint) {
  for (const framework::Toleration& t : pod.tolerations) {
    if (Tolerates(t, taint)) return true;
  }
  return false;
}
}  // namespace

Status TaintToleration::Filter(const framework::CycleState&, const framework::PodInfo& pod,
                               const framework::NodeInfo& node) const {
  if (!node.cordoned_or_tainted()) return Status::Success();  // most nodes: nothing to check
  const framework::NodeSpec& spec = node.spec();
  if (spec.unschedulable) {
    const framework::Taint cordon{std::string(kUnschedulableTaint), "",
                                  framework::TaintEffect::kNoSchedule};
    if (!ToleratedByPod(pod, cordon)) {
      return Status::UnschedulableAndUnresolvable("node(s) were unschedulable");
    }
  }
  for (const framework::Taint& taint : spec.taints) {
    if (taint.effect == framework::TaintEffect::kPreferNoSchedule) continue;
    if (!ToleratedByPod(pod, taint)) {
      return Status::UnschedulableAndUnresolvable(
          absl::StrCat("node(s) had untolerated taint {", taint.key,
                       taint.value.empty() ? "" : absl::StrCat(": ", taint.value), "}"));
    }
  }
  return Status::Success();
}

}  // namespace gpusched::plugins::taint_toleration
