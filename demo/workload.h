#pragma once

// The live demo's workload: the Kubernetes objects a user would `kubectl apply`, read from a
// multi-document YAML file (demo/workload.yaml) and expanded into the Pods the controllers would
// create, in order.
//
//   ASSIGN_OR_RETURN(Workload w, LoadWorkload("demo/workload.yaml"));
//   for (const auto& g : w.groups) api.Apply(g.resource, g.object);   // PodGroups, Workloads
//   for (const nlohmann::json& pod : w.pods) api.Apply("pods", pod);
//
// Kinds:
//   v1 Pod;
//   batch/v1 Job: spec.parallelism Pods (default 1) named JOB-INDEX, labelled
//     batch.kubernetes.io/job-completion-index as an Indexed Job's are;
//   apps/v1 Deployment: spec.replicas Pods (default 1) named DEPLOYMENT-INDEX;
//   PodGroup (scheduling.x-k8s.io/v1alpha1, scheduling.k8s.io/v1alpha2 and v1beta1,
//     scheduling.volcano.sh/v1beta1) and Workload (scheduling.k8s.io/v1alpha1), stored as given.
// Objects without a namespace go to "default". YAML scalars become JSON as the API server would
// store them: quoted scalars are strings, plain ones numbers or booleans where they read as one,
// and resource quantities, labels and annotations are always strings.
//
// Errors name the file, the document (1-based) and the field:
//   "workload.yaml: document 3 (Deployment serve/chat): spec.template.spec.containers: missing".

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"

namespace gpusched::demo {

struct GroupObject {
  std::string resource;   // the API resource: "scheduling.x-k8s.io/v1alpha1/podgroups"
  nlohmann::json object;  // as written, with metadata.namespace set
};

struct Workload {
  std::vector<GroupObject> groups;
  std::vector<nlohmann::json> pods;  // Pending, in creation order
};

inline constexpr size_t kMaxWorkloadPods = 10'000;

absl::StatusOr<Workload> ParseWorkload(std::string_view yaml, std::string_view source);
absl::StatusOr<Workload> LoadWorkload(const std::string& path);

}  // namespace gpusched::demo
