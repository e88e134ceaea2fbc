#pragma once

// The extender protocol v1 on the wire (../shared/docs/k8s-extender-protocol.md §1): what
// kube-scheduler POSTs to /filter, /prioritize, /bind and /preempt, and the exact JSON it reads
// back. Envelope keys are PascalCase (Go field names without json tags); like Go's decoder, ours
// matches them case-insensitively and ignores unknown keys. Replies write `null` where Go would
// (an unset map or list) and `[]` / `{}` where kube-scheduler needs an empty value.
//
//   ASSIGN_OR_RETURN(ExtenderArgs args, DecodeExtenderArgs(body));     // POST /filter
//   FilterReply reply{.feasible = {0}, .failed = {{"n2", "needs 2 GPUs ..."}}};  // by index
//   std::string out = EncodeFilterReply(reply, args);   // NodeNames or Nodes, as args came
//
// Decoders never throw and accept any bytes; errors are InvalidArgument and name the JSON path
// ("ExtenderArgs: NodeNames[3]: must be a string, got 7"). Stateless, thread-safe.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/ids.h"
#include "nlohmann/json.hpp"

namespace gpusched::extender::wire {

// ExtenderArgs: {"Pod": {v1.Pod}, "Nodes": {v1.NodeList} | null, "NodeNames": [..] | null}.
struct ExtenderArgs {
  nlohmann::json pod;                   // the v1.Pod object (never null)
  bool node_cache_capable = true;       // names came in NodeNames (else Nodes.items)
  std::vector<NodeId> node_names;       // the candidate nodes, in request order
  nlohmann::json node_items;            // nodeCacheCapable false: the Node objects (array)
};
absl::StatusOr<ExtenderArgs> DecodeExtenderArgs(std::string_view body);

// ExtenderFilterResult. kube-scheduler reads NodeNames when nodeCacheCapable (and ignores Nodes),
// Nodes otherwise (and ignores NodeNames): the reply fills the one the request used and writes
// null for the other. A node in neither list nor map is unresolvable to kube-scheduler, so
// every rejected node should be in one of the maps.
struct FilterReply {
  std::vector<uint32_t> feasible;  // indexes into ExtenderArgs::node_names (no name copied)
  std::map<std::string, std::string> failed;        // Unschedulable: preemption may help
  std::map<std::string, std::string> unresolvable;  // UnschedulableAndUnresolvable
  std::string error;                                // non-empty: the call fails
};
std::string EncodeFilterReply(const FilterReply& reply, const ExtenderArgs& args);

// HostPriorityList: [{"Host": "n1", "Score": 7}, ...] (scores 0..10): scores[i] for hosts[i]
// (same size).
std::string EncodePrioritizeReply(const std::vector<NodeId>& hosts,
                                  const std::vector<int64_t>& scores);

// ExtenderBindingArgs {"PodName", "PodNamespace", "PodUID", "Node"} (all required strings but
// PodNamespace, which defaults to "default"); the reply is {"Error": ""}.
struct BindingArgs {
  std::string pod_name;
  std::string pod_namespace;
  std::string pod_uid;
  std::string node;
};
absl::StatusOr<BindingArgs> DecodeBindingArgs(std::string_view body);
std::string EncodeBindingReply(std::string_view error);

// ExtenderPreemptionArgs {"Pod", "NodeNameToVictims": {node: {"Pods": [v1.Pod], ...}} | null,
// "NodeNameToMetaVictims": {node: {"Pods": [{"UID"}], "NumPDBViolations"}} | null}. Either way
// the victims are reduced to UIDs.
struct PreemptionArgs {
  nlohmann::json pod;
  struct Victims {
    std::vector<std::string> uids;
    int64_t pdb_violations = 0;
  };
  std::map<std::string, Victims> nodes;
};
absl::StatusOr<PreemptionArgs> DecodePreemptionArgs(std::string_view body);
// ExtenderPreemptionResult {"NodeNameToMetaVictims": {...}}: always MetaVictims, nodes with at
// least one victim only (kube-scheduler rejects an empty victim list), victims in the order
// given (kube-scheduler reads Pods[0] as the most important one).
std::string EncodePreemptionReply(const std::map<std::string, PreemptionArgs::Victims>& nodes);

// {"Error": "<message>"}: the body of every 4xx/5xx answer and of failed verbs.
std::string EncodeError(std::string_view message);

}  // namespace gpusched::extender::wire
