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

#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "plugins/gang/declaration.h"
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

}  // namespace gpusched::extender::k8s
