#pragma once

// The cluster model, from the Kubernetes API: lists then watches nodes, pods and every gang
// declaration the gang plugin reads (scheduler-plugins, upstream v1alpha2 and v1beta1 and
// Volcano PodGroups, v1alpha1 Workloads), and turns each change into a LiveScheduler informer
// event (OnNodeAdd/Update/Delete, OnPodBound, OnPodDeleted) or a ClusterState update.
//
//   Informer informer(*api_client, live, state, metrics, clock, InformerOptions{.logger = &log});
//   informer.Start();                     // one thread per resource
//   informer.Readiness(absl::Minutes(2)); // {false, "waiting for the first list of pods"} ...
//
// Per resource: LIST in pages (limit/continue), then WATCH from the list's resourceVersion with
// bookmarks; a watch that ends is resumed from the last resourceVersion seen; 410 Gone (an
// expired resourceVersion, as a status or as an ERROR event) re-lists, and the re-list deletes
// what disappeared in between; other errors back off exponentially (0.5 s doubling to 30 s). A
// PodGroup or Workload API that is not installed (404) counts as empty and is asked for again
// every minute. Objects that do not decode are logged and counted, and the state they would have
// changed is kept.
//
// Pods: a pod with spec.nodeName holds its resources (OnPodBound) until it is deleted or
// finishes (Succeeded/Failed); its devices are the ones in its gpusched.io/assignment annotation
// when that names the same node (so a restarted extender rebuilds exactly what it had handed
// out before it reports ready), else the model picks (pods bound by another scheduler). A pod
// bound to a node not seen yet waits for it. Pending pods are remembered in ClusterState for
// Bind.
//
// Readiness: ready once nodes and pods have each been listed completely, and while the newest
// contact with the API server for each (a list, an event, a bookmark) is younger than the limit.
// The verbs never wait on the network: they use the model as it is.
//
// Metrics: gpusched_informer_events_total{resource,type}, gpusched_informer_rejected_total{resource},
// gpusched_informer_restarts_total{resource,reason} (reason: expired | error | ended),
// gpusched_model_age_seconds (set on every Readiness call).
//
// Thread-safety: Start/Stop from the owner; Readiness, FetchPod and the accessors from any
// thread. Internal state is guarded by mu_; LiveScheduler and ClusterState calls are made without
// holding it... except the node/pod bookkeeping, which is updated under mu_ around them (the
// LiveScheduler never calls back into the informer, so there is no lock cycle).

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/metrics/metrics_scope.h"
#include "common/mutex.h"
#include "extender/cluster_state.h"
#include "common/http/http.h"
#include "extender/agents/node_merger.h"
#include "extender/k8s/objects.h"
#include "extender/service.h"
#include "nlohmann/json_fwd.hpp"
#include "scheduler/runtime/live_scheduler.h"

namespace gpusched::extender::k8s {

struct InformerOptions {
  int64_t page_size = 500;
  // A watch on which nothing (not even a bookmark) arrives for this long is restarted.
  absl::Duration watch_idle_timeout = absl::Minutes(3);
  // Asked of the server per watch request; the server ends the watch then and it is resumed.
  int64_t watch_timeout_seconds = 300;
  absl::Duration backoff_initial = absl::Milliseconds(500);
  absl::Duration backoff_max = absl::Seconds(30);
  absl::Duration missing_api_retry = absl::Minutes(1);
  log::Logger* logger = nullptr;
  // Node events go through this (which merges the agents' inventories) instead of straight to
  // the model. Null: straight to the model.
  NodeMerger* nodes = nullptr;
  // The node agents' pods (the DaemonSet): pods in `agent_namespace` whose labels include every
  // one of `agent_labels`. on_agent(node, "podIP:port") when one runs with an IP, (node, "")
  // when it is gone or stops. Unset on_agent: no discovery.
  std::string agent_namespace;
  std::map<std::string, std::string> agent_labels;
  int agent_port = 9444;
  std::function<void(const std::string& node, const std::string& address)> on_agent;
};

class Informer {
 public:
  Informer(http::Client& api, runtime::LiveScheduler& live, ClusterState& state,
           metrics::MetricsScope& metrics, Clock& clock, InformerOptions options = {});
  ~Informer();  // stops
  Informer(const Informer&) = delete;
  Informer& operator=(const Informer&) = delete;

  void Start();
  void Stop();

  // See the class comment; `max_age`: how old the newest contact may be.
  Readiness Ready(absl::Duration max_age) const;
  // GET one pod (for a Bind of a pod no list or Filter has shown yet); its gang is resolved.
  absl::StatusOr<framework::PodInfo> FetchPod(const std::string& ns, const std::string& name);

  enum class Kind { kNode, kPod, kPodGroup, kWorkload };
  struct Resource;

 private:
  void Run(Resource& r);
  // LIST into the model; deletes what the previous list or watch had and this one lacks.
  absl::Status List(Resource& r);
  // WATCH from r.rv until it ends; NotFound/Aborted(410)/other errors tell Run what to do.
  absl::Status Watch(Resource& r);
  // One object (from a list, or an ADDED/MODIFIED event).
  void Upsert(Resource& r, const nlohmann::json& obj);
  // One object gone (a DELETED event, or missing from a re-list), by its key "ns/name".
  void Remove(Resource& r, const std::string& key);
  void Contact(Resource& r);
  // Sleeps up to `d`; false if stopped meanwhile.
  bool Sleep(absl::Duration d);
  void Count(std::string_view name, std::string_view help, metrics::Labels labels);
  void CountRestart(const Resource& r, std::string_view reason);
  void CountRejected(const Resource& r);
  void Warn(std::string_view message, log::Fields fields);

  // Node and pod handling.
  void UpsertNode(Resource& r, const nlohmann::json& obj);
  void UpsertPod(Resource& r, const nlohmann::json& obj);
  // Agent discovery (InformerOptions::on_agent).
  bool IsAgentPod(const PodObject& pod) const;
  void NoteAgentPod(const std::string& key, const PodObject& pod);
  void ForgetAgentPod(const std::string& key);
  void UpsertGroups(Resource& r, const nlohmann::json& obj);
  void BindIntoModel(const framework::PodInfo& pod, const NodeId& node,
                     std::vector<framework::GpuShare> gpus) ABSL_LOCKS_EXCLUDED(mu_);

  http::Client& api_;
  runtime::LiveScheduler& live_;
  ClusterState& state_;
  metrics::MetricsScope& metrics_;
  Clock& clock_;
  const InformerOptions options_;

  std::vector<std::unique_ptr<Resource>> resources_;
  std::vector<std::thread> threads_;
  std::atomic<bool> stop_{false};
  std::mutex sleep_mu_;
  std::condition_variable sleep_cv_;

  mutable Mutex mu_;
  // Pods bound to a node the model does not have yet, by node.
  struct Parked {
    framework::PodInfo pod;
    std::vector<framework::GpuShare> gpus;
  };
  std::map<NodeId, std::map<PodUid, Parked>> parked_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string> agent_pods_ ABSL_GUARDED_BY(mu_);  // pod key -> node
  absl::flat_hash_set<std::string> warned_ ABSL_GUARDED_BY(mu_);  // log-once keys
};

}  // namespace gpusched::extender::k8s
