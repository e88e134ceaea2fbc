#pragma once

// The bind path with the node agent in it (design: "handed to the node agent before the Binding
// is posted"): LiveScheduler::Bind -> AgentHandoffBinder -> the next Binder (ApiBinder: the
// assignment annotation, then the Binding).
//
//   1. A GPU pod on a node that has an agent: the chosen devices are reserved on the agent
//      (AgentHub::Reserve). A refusal or an unreachable agent fails the bind, so LiveScheduler
//      releases the devices and kube-scheduler tries again: without the reservation the agent's
//      device plugin would refuse the pod at admission anyway. Exception: a stale agent under
//      onStale: fallback, where the node is scheduled from its Node object; the bind goes on
//      without a hand-off (counted, logged).
//   2. The next binder runs; if it fails, the reservation is released again (best effort: the
//      agent also drops reservations whose pod never arrives).
// Pods without GPUs and nodes without agents go straight to the next binder.
//
// Metrics: gpusched_agent_handoff_total{result="reserved"|"skipped_stale"|"refused"|"released"}.
//
// Thread-safety: Bind may run concurrently; the hub and the next binder are thread-safe.

#include "absl/status/status.h"
#include "common/log.h"
#include "common/metrics/metrics_scope.h"
#include "extender/agents/agent_hub.h"
#include "scheduler/api/handle.h"

namespace gpusched::extender {

class AgentHandoffBinder final : public framework::Binder {
 public:
  AgentHandoffBinder(AgentHub& hub, framework::Binder& next, metrics::MetricsScope& metrics,
                     bool bind_when_stale, log::Logger* logger = nullptr)
      : hub_(hub), next_(next), metrics_(metrics), bind_when_stale_(bind_when_stale), logger_(logger) {}

  absl::Status Bind(const framework::PodInfo& pod, const NodeId& node,
                    absl::Span<const framework::GpuShare> gpus) override;

 private:
  void Count(const char* result);
  AgentHub& hub_;
  framework::Binder& next_;
  metrics::MetricsScope& metrics_;
  const bool bind_when_stale_;
  log::Logger* const logger_;
};

}  // namespace gpusched::extender
