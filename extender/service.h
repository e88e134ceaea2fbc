#pragma once

// The extender's HTTP endpoints, as one http::Handler:
//   POST <prefix>/filter       ExtenderArgs -> ExtenderFilterResult
//   POST <prefix>/prioritize   ExtenderArgs -> HostPriorityList
//   POST <prefix>/bind         ExtenderBindingArgs -> ExtenderBindingResult
//   POST <prefix>/preempt      ExtenderPreemptionArgs -> ExtenderPreemptionResult
//   GET  /healthz              200 while the process serves
//   GET  /readyz               200 once the model is synced and fresh, else 503 saying why
//   GET  /metrics              Prometheus text format
//   GET  /explain?pod=NS/NAME  why a pod does not fit, per node, and the nearest changes that
//                              would make it fit (runtime/explain.h), as JSON:
//     {"pod":"ns/p","boundTo":"","fitsNow":false,"gang":"...","gangPlan":"...",
//      "nodes":[{"node":"n1","fits":false,"unresolvable":false,"reason":"..."}],
//      "changes":[{"kind":"fewer-gpus","change":"ask for 2 GPUs instead of 4","fitsOn":["n1"]}]}
//     404 for a pod the extender has not seen (the informer lists every pod of the cluster).
// Answers (wire format in extender/wire/wire.h):
//  - a request that is not what kube-scheduler sends (malformed JSON, wrong types, no Pod) gets
//    400 with {"Error": "<what, where>"}; an unknown path 404, a wrong method 405 (the body limit
//    413 comes from the HTTP server). Nothing in the model changes.
//  - a valid pod that cannot be served (a GPU request that names conflicting resources, a gang
//    whose declaration is broken) gets 200 with every node in FailedAndUnresolvableNodes and
//    the reason, so `kubectl describe pod` says why; a gang whose PodGroup is not known yet gets
//    every node in FailedNodes (kube-scheduler tries again).
//  - a failed bind answers 200 with {"Error": "..."} (kube-scheduler then unreserves and retries
//    the pod); the reservation has already been released.
//
// Every verb's answer carries `Server-Timing: <verb>;dur=<milliseconds>` (the time spent in the
// handler, decoding and encoding included).
//
// Metrics:
//   gpusched_extender_request_duration_seconds{verb}     histogram, server side
//   gpusched_extender_requests_total{verb,code}
//   gpusched_filter_rejections_total{plugin,kind}        kind: unschedulable | unresolvable
//   gpusched_gpus{pool}, gpusched_gpu_allocated_ratio{pool}, gpusched_gpu_fragmented_ratio{pool},
//   gpusched_model_nodes                                 from the model, on every scrape; the
//                                                        pool is the GPU model
//
// Thread-safety: Handle may be called concurrently from the server's workers.

#include <functional>
#include <set>
#include <string>

#include "absl/status/statusor.h"
#include "absl/base/thread_annotations.h"
#include "common/log.h"
#include "common/mutex.h"
#include "common/metrics/metrics_scope.h"
#include "extender/cluster_state.h"
#include "common/http/http.h"
#include "scheduler/runtime/live_scheduler.h"

namespace gpusched::extender {

// Whether the model may be used, and if not, why ("waiting for the first list of pods",
// "no contact with the API server for 3m10s").
struct Readiness {
  bool ready = false;
  std::string reason;
};

struct ServiceOptions {
  std::string path_prefix;  // "" (POST /filter) or e.g. "/scheduler" (POST /scheduler/filter)
  // How the model learns it is ready; default: always ready.
  std::function<Readiness()> readiness;
  // The Prometheus exposition of every metric; default: /metrics answers 404.
  std::function<std::string()> metrics_text;
  // Looks a pod up in the API when Bind names one the extender has not seen (optional).
  std::function<absl::StatusOr<framework::PodInfo>(const std::string& ns, const std::string& name)>
      fetch_pod;
  log::Logger* logger = nullptr;
};

class ExtenderService {
 public:
  ExtenderService(runtime::LiveScheduler& live, ClusterState& state, metrics::MetricsScope& metrics,
                  ServiceOptions options);
  http::Response Handle(const http::Request& request);

  struct Pod;  // a decoded request pod, or why it cannot be scheduled

 private:
  http::Response Filter(const std::string& body);
  http::Response Prioritize(const std::string& body);
  http::Response Bind(const std::string& body);
  http::Response Preempt(const std::string& body);
  http::Response Ready() const;
  http::Response Explain(std::string_view query) const;
  void UpdateModelMetrics() ABSL_LOCKS_EXCLUDED(pools_mu_);

  runtime::LiveScheduler& live_;
  ClusterState& state_;
  metrics::MetricsScope& metrics_;
  const ServiceOptions options_;
  Mutex pools_mu_;
  std::set<std::string> pools_seen_ ABSL_GUARDED_BY(pools_mu_);
};

}  // namespace gpusched::extender
