#pragma once

// The Binder port (scheduler/api/handle.h) against the Kubernetes API, called from
// LiveScheduler::Bind once the devices are reserved:
//  1. the device assignment is written on the pod: a JSON merge patch of the annotation
//     gpusched.io/assignment (objects.h) with the pod's UID as a precondition, so that the
//     agent, `kubectl describe` and a restarted extender all read the same devices;
//  2. the Binding is POSTed (pods/{name}/binding, metadata.uid = the pod's UID).
// Outcomes: 201 bound; 404 (the pod is gone) NotFound; 409 — if the pod turns out to be bound to
// this very node already (a retried bind) success, otherwise FailedPrecondition with the API
// server's message; a timeout or a lost connection — the pod is read back, and if it is bound
// here that is success, otherwise Unavailable. On any error LiveScheduler releases the
// reservation. A pod with no GPUs gets no annotation; after a failed Binding the annotation is
// removed again (best effort: readers ignore an assignment that names another node anyway).
//
// Metrics: gpusched_api_binding_total{result} (created, already_bound, not_found, conflict,
// error).
//
// Thread-safety: Bind may be called concurrently (the client is thread-safe).

#include "absl/status/status.h"
#include "common/log.h"
#include "common/metrics/metrics_scope.h"
#include "common/http/http.h"
#include "scheduler/api/handle.h"

namespace gpusched::extender::k8s {

class ApiBinder final : public framework::Binder {
 public:
  ApiBinder(http::Client& api, metrics::MetricsScope& metrics, log::Logger* logger = nullptr)
      : api_(api), metrics_(metrics), logger_(logger) {}
  absl::Status Bind(const framework::PodInfo& pod, const NodeId& node,
                    absl::Span<const framework::GpuShare> gpus) override;
  // Step 1 alone: (re)writes the pod's device assignment, e.g. when the node agent reports that
  // the kubelet gave the pod other devices than the ones bound (two pods of one shape admitted in
  // the other order). NotFound when the pod is gone; FailedPrecondition/Unavailable otherwise.
  absl::Status WriteAssignment(const framework::PodInfo& pod, const NodeId& node,
                               absl::Span<const framework::GpuShare> gpus);

 private:
  // Steps 1 and 2; `wrote`: the assignment annotation was written.
  absl::Status PostBinding(const framework::PodInfo& pod, const NodeId& node,
                           absl::Span<const framework::GpuShare> gpus, bool& wrote);
  // Removes the assignment annotation again after a failed Binding.
  void ClearAssignment(const framework::PodInfo& pod);
  // Whether the API server shows `pod` (same UID) bound to `node`.
  bool BoundThere(const framework::PodInfo& pod, const NodeId& node);
  void Count(std::string_view result);

  http::Client& api_;
  metrics::MetricsScope& metrics_;
  log::Logger* logger_;
};

}  // namespace gpusched::extender::k8s
