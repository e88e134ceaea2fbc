#pragma once

// Decoders for the Kubernetes objects the extender reads, from their JSON (as the API server
// sends them in list and watch responses, or as kubectl prints them with -o json).
//
//   ASSIGN_OR_RETURN(plugins::gang::PodGroupInfo group, DecodePodGroup(podgroup_json));
//   groups.Upsert(std::move(group));
//   ASSIGN_OR_RETURN(framework::PodInfo pod, DecodePodMeta(pod_json));
//   ASSIGN_OR_RETURN(pod.gang, plugins::gang::ResolveGang(pod, groups));
//
// Errors are InvalidArgument and name the object and the JSON path, quoting the value, e.g.
//   PodGroup ml/pg: spec.minMember: must be an integer in 1..2147483647, got "x"
//   Pod ml/w-0: metadata.labels["app"]: must be a string, got 3
//   PodGroup: invalid JSON at byte 17: ...
// The functions never throw and accept any bytes.
//
// Thread-safe (stateless).

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json_fwd.hpp"
#include "plugins/gang/declaration.h"
#include "scheduler/api/node_info.h"
#include "scheduler/api/pod_info.h"

namespace gpusched::extender::k8s {

// A PodGroup of one of these APIs (apiVersion, kind PodGroup):
//   - scheduling.x-k8s.io/v1alpha1 (scheduler-plugins): spec.minMember (required, >= 1),
//     spec.scheduleTimeoutSeconds (optional, >= 1), spec.minResources (optional);
//   - scheduling.k8s.io/v1alpha2 (upstream, KEP-4671): spec.schedulingPolicy with exactly one of
//     `gang: {minCount: N}` (N >= 1) or `basic: {}` (then PodGroupInfo::gang is false); the
//     timeout is fixed upstream (kUpstreamGangTimeout) and not part of the object;
//   - scheduling.k8s.io/v1beta1 (upstream, Kubernetes 1.37): as v1alpha2;
//   - scheduling.volcano.sh/v1beta1 (Volcano): spec.minMember (required, >= 1),
//     spec.minResources (optional); Volcano has no timeout field.
// minResources reads cpu, memory and nvidia.com/gpu (a whole number of GPUs); other resource
// names are ignored. metadata.namespace defaults to "default"; metadata.name is required.
absl::StatusOr<plugins::gang::PodGroupInfo> DecodePodGroup(std::string_view json);

// A scheduling.k8s.io/v1alpha1 Workload (Kubernetes 1.35): spec.podGroups[] with a name and
// policy {gang: {minCount}} or {basic: {}}; one PodGroupInfo (Api::kWorkload) per pod group,
// named "<workload>/<pod group>", which pods reach with spec.workloadRef.
absl::StatusOr<std::vector<plugins::gang::PodGroupInfo>> DecodeWorkload(std::string_view json);

// A v1 Pod's identity and gang-related fields: metadata.uid (default: "<namespace>/<name>", as for
// trace pods), metadata.name (required), metadata.namespace (default "default"), metadata.labels,
// metadata.annotations, metadata.creationTimestamp (RFC 3339; default the Unix epoch),
// spec.priority (int32, default 0), spec.schedulingGroup.podGroupName and spec.workloadRef {name,
// podGroup (both required when it is set), podGroupReplicaKey}. Resources, selectors and
// tolerations are left at their defaults. apiVersion and kind, when present, must be v1 / Pod
// (list items from the API server omit them). PodInfo::gang is left unset: ResolveGang fills it.
absl::StatusOr<framework::PodInfo> DecodePodMeta(std::string_view json);

// ---- Whole pods and nodes, as the informer and kube-scheduler's requests carry them.

// The device assignment the extender writes on a pod when it binds it (and reads back after a
// restart, and the node agent reads to hand the devices to the container):
//   gpusched.io/assignment: {"node":"gpu-7","gpus":[{"index":0,"milli":1000,"memoryMiB":81920},
//                                                   {"index":1,"milli":1000,"memoryMiB":81920}]}
// `index` is the device index on the node (the agent's and nvidia-smi's order), `milli` the share
// of its compute (1000: the whole device), `memoryMiB` the device memory given to the pod. The
// assignment is valid only for the node it names: a pod bound elsewhere ignores it.
inline constexpr std::string_view kAssignmentAnnotation = "gpusched.io/assignment";
struct Assignment {
  NodeId node;
  std::vector<framework::GpuShare> gpus;
};
std::string EncodeAssignment(const Assignment& a);
// Errors name the annotation and the JSON path (InvalidArgument).
absl::StatusOr<Assignment> DecodeAssignment(std::string_view text);

// A v1 Pod as the scheduler needs it: DecodePodMeta's fields plus
//   - requests: cpu and memory from spec.containers[].resources.requests (summed; the largest
//     init container counts if larger, as kube-scheduler does), the GPU request from the GPU
//     resource names in limits (requests where no limit is given), summed over containers, read
//     by GpuRequestFromPod (scheduler/api/resource_names.h) with the pod's annotations;
//   - spec.nodeSelector, spec.tolerations, spec.nodeName, spec.schedulerName, status.phase,
//     metadata.deletionTimestamp, and the assignment annotation above (an invalid one is an error:
//     it would otherwise hand out devices twice after a restart).
// PodInfo::gang is left unset (ResolveGang).
struct PodObject {
  framework::PodInfo info;
  std::string node_name;       // spec.nodeName; empty while pending
  std::string scheduler_name;  // spec.schedulerName
  std::string phase;           // status.phase
  std::string pod_ip;          // status.podIP; empty until the pod runs
  bool terminating = false;    // metadata.deletionTimestamp is set
  std::optional<Assignment> assignment;
  // Why the pod's GPU request cannot be served (conflicting or malformed GPU resource names or
  // annotations, resource_names.h); then info.requests.gpu is empty. The pod itself is a valid
  // object: the extender answers "unschedulable here, because ..." rather than a bad request.
  absl::Status request_error;
  // Succeeded or Failed: holds nothing any more.
  bool finished() const { return phase == "Succeeded" || phase == "Failed"; }
};
absl::StatusOr<PodObject> DecodePod(std::string_view json);
absl::StatusOr<PodObject> DecodePodJson(const nlohmann::json& doc);

// A v1 Node as the scheduler models it: metadata.name, labels, spec.taints, spec.unschedulable,
// status.allocatable cpu, memory and pods, and its GPUs. Without our agent the GPUs come from
//   - the count: label nvidia.com/gpu.count (GPU Feature Discovery), else the devices HAMi's
//     device plugin registered in annotation hami.io/node-nvidia-register (each with its own
//     memory, type and health; HAMi's allocatable nvidia.com/gpu counts virtual GPUs, devices
//     times the split count), else allocatable nvidia.com/gpu, else aliyun.com/gpu-count;
//   - the model: label nvidia.com/gpu.product ("NVIDIA-A100-SXM4-80GB"), else "";
//   - the memory per GPU: label nvidia.com/gpu.memory (MiB), else allocatable aliyun.com/gpu-mem
//     (GiB over all GPUs) divided by the count, else the "<N>GB" in the product name. When
//     nothing says, the devices get 1 MiB (`memory_unknown` is set): whole GPUs are placed, memory
//     shares are not, and the caller should say so once.
//   - the wiring: label gpusched.io/topology-preset (a topology/presets.h name) when its GPU
//     count matches; otherwise none (the agent reports the measured one).
struct NodeObject {
  framework::NodeSpec spec;
  bool memory_unknown = false;
};
absl::StatusOr<NodeObject> DecodeNode(std::string_view json);
absl::StatusOr<NodeObject> DecodeNodeJson(const nlohmann::json& doc);
// Label names read above.
inline constexpr std::string_view kGfdProduct = "nvidia.com/gpu.product";
inline constexpr std::string_view kGfdMemory = "nvidia.com/gpu.memory";
inline constexpr std::string_view kGfdCount = "nvidia.com/gpu.count";
inline constexpr std::string_view kTopologyPresetLabel = "gpusched.io/topology-preset";
// HAMi's device plugin lists the node's GPUs here (see DecodeNode).
inline constexpr std::string_view kHamiRegisterAnnotation = "hami.io/node-nvidia-register";

// The `message` of a Kubernetes Status body (what the API server answers with an error), or ""
// when the body is not one. Never throws.
std::string StatusMessage(std::string_view body);

// The parsed forms of DecodePodGroup / DecodeWorkload (informer events carry parsed objects).
absl::StatusOr<plugins::gang::PodGroupInfo> DecodePodGroupJson(const nlohmann::json& doc);
absl::StatusOr<std::vector<plugins::gang::PodGroupInfo>> DecodeWorkloadJson(const nlohmann::json& doc);

}  // namespace gpusched::extender::k8s
