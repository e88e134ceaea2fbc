#include "extender/agents/handoff_binder.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace gpusched::extender {

void AgentHandoffBinder::Count(const char* result) {
  metrics_.GetCounter("gpusched_agent_handoff_total", "Device choices handed to node agents at bind, by result.",
                      {{"result", result}})
      .Increment();
}

absl::Status AgentHandoffBinder::Bind(const framework::PodInfo& pod, const NodeId& node,
                                      absl::Span<const framework::GpuShare> gpus) {
  if (gpus.empty() || !hub_.HasAgent(node)) return next_.Bind(pod, node, gpus);
  bool reserved = false;
  if (!hub_.Fresh(node) && bind_when_stale_) {
    Count("skipped_stale");
    if (logger_) {
      logger_->Warn("binding without a hand-off: the node's agent is stale (onStale: fallback)",
                    {{"pod", pod.FullName()}, {"node", node.str()}});
    }
  } else {
    absl::Status r = hub_.Reserve(node, pod, gpus);
    if (!r.ok()) {
      Count("refused");
      return absl::Status(r.code(), absl::StrCat("node agent did not take the device reservation: ",
                                                 std::string(r.message())));
    }
    Count("reserved");
    reserved = true;
  }
  absl::Status b = next_.Bind(pod, node, gpus);
  if (!b.ok() && reserved) {
    Count("released");
    absl::Status rel = hub_.Release(node, pod.uid);
    if (!rel.ok() && logger_) {
      logger_->Warn("could not release a reservation after a failed bind (the agent drops it later)",
                    {{"pod", pod.FullName()}, {"node", node.str()}});
    }
  }
  return b;
}

}  // namespace gpusched::extender
