#pragma once

// The in-memory cluster model: nodes and the pods placed on them, with assume/forget bookkeeping
// so that a reservation can be undone exactly (the K8s scheduler cache idea).
//
//   ClusterCache cache;
//   RETURN_IF_ERROR(cache.AddNode(spec));
//   RETURN_IF_ERROR(cache.Assume(pod, NodeId("n1"), shares));  // scheduling cycle reserved it
//   RETURN_IF_ERROR(cache.Forget(pod.uid));                    // binding failed: exact undo
//   // or cache.ConfirmBound(pod.uid) once the Binding is posted.
//
// Every mutation is all-or-nothing: on error the model is unchanged and the message says what was
// wrong. Thread-compatible: mutate on one thread; concurrent const reads (the framework's parallel
// Filter/Score) are safe while no mutation runs. The live programs never share one ClusterCache
// between threads: SnapshotStore (snapshot_store.h) keeps a writer's copy and immutable copies
// for readers.
//
// Costs: a pod event is O(1) (plus the node's GPU count); a node update or removal is O(pods on
// that node), through a per-node index, never a scan of every pod.

#include <memory>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/container/node_hash_map.h"
#include "absl/status/status.h"
#include "common/ids.h"
#include "scheduler/api/handle.h"
#include "scheduler/api/node_info.h"
#include "scheduler/api/pod_info.h"
#include "scheduler/cache/node_arena.h"

namespace gpusched::cache {

using framework::GpuShare;
using framework::NodeInfo;
using framework::NodeSpec;
using framework::PodInfo;

using framework::PodState;
using PodRecord = framework::PlacedPod;

class ClusterCache final : public framework::ClusterSnapshot {
 public:
  ClusterCache() = default;
  ClusterCache(const ClusterCache&) = delete;
  ClusterCache& operator=(const ClusterCache&) = delete;

  // AlreadyExists for a known name; InvalidArgument for a bad spec.
  absl::Status AddNode(NodeSpec spec);
  // Replaces a node's spec and re-adds its pods; fails (keeping the old node) if they no longer
  // fit, e.g. a GPU that holds a pod disappeared.
  absl::Status UpdateNode(NodeSpec spec);
  // Removes the node and the records of its pods.
  absl::Status RemoveNode(const NodeId& name);

  // A pod observed bound in the cluster (not placed by us this cycle).
  absl::Status AddBoundPod(const PodInfo& pod, const NodeId& node, std::vector<GpuShare> gpus);
  // Records a pod placed by the scheduling cycle before its binding completes.
  absl::Status Assume(const PodInfo& pod, const NodeId& node, std::vector<GpuShare> gpus);
  // Undoes Assume exactly. FailedPrecondition if the pod is not assumed.
  absl::Status Forget(const PodUid& uid);
  // The assumed pod's binding succeeded.
  absl::Status ConfirmBound(const PodUid& uid);
  // A pod (assumed or bound) leaves its node: finished, deleted, or preempted.
  absl::Status RemovePod(const PodUid& uid);

  size_t pod_count() const { return pods_.size(); }
  // Successful mutations so far; two caches that applied the same mutations to the same start
  // have the same generation (the snapshot store checks its copies with it).
  uint64_t generation() const { return generation_; }
  // A deep copy (nodes, pods, indexes, generation). O(nodes + pods).
  std::unique_ptr<ClusterCache> Clone() const;
  // For a copy that has replayed `from`'s mutations (a snapshot replica): each of `nodes` takes
  // the generation of the same node in `from` (NodeInfo::ShareGeneration), so per-node memos
  // keyed by generation hit in every copy. Names missing from either cache are skipped.
  void ShareGenerations(const ClusterCache& from, absl::Span<const NodeId> nodes);

  // ClusterSnapshot.
  const std::vector<const NodeInfo*>& Nodes() const override { return node_view_; }
  const NodeInfo* FindNode(const NodeId& name) const override;
  // Names that come in the model's own node order (kube-scheduler lists nodes in the order its
  // informer delivered them, as ours did; a Prioritize list is a subsequence of a Filter list)
  // cost one string comparison each: each name is first compared with the node after the last
  // one found, and looked up in the index only when that guess is wrong. Any order is correct.
  void FindNodes(absl::Span<const NodeId> names, absl::Span<const NodeInfo*> out) const override;
  const PodRecord* FindPod(const PodUid& uid) const override;
  void ForEachPod(absl::FunctionRef<void(const PodRecord&)> fn) const override;
  void ForEachGangMember(const GangId& gang,
                         absl::FunctionRef<void(const PodRecord&)> fn) const override;
  // The pods placed on one node (indexed), in no particular order.
  void ForEachPodOnNode(const NodeId& node, absl::FunctionRef<void(const PodRecord&)> fn) const;

 private:
  NodeInfo* MutableNode(const NodeId& name);
  absl::Status Place(const PodInfo& pod, const NodeId& node, std::vector<GpuShare> gpus,
                     PodState state);

  NodeArena arena_;                         // owns the records nodes_ points to
  std::vector<NodeInfo*> nodes_;
  std::vector<const NodeInfo*> node_view_;  // parallel to nodes_
  absl::flat_hash_map<NodeId, size_t> node_index_;
  // Records by UID in a node map: a record (a whole PodInfo) is large, and a flat map moves
  // every one of them each time it grows, in the master and in every replica (it was a tenth of
  // a simulated run through the per-verb path).
  absl::node_hash_map<PodUid, PodRecord> pods_;
  absl::flat_hash_map<GangId, absl::flat_hash_set<PodUid>> gang_members_;  // index of pods_
  absl::flat_hash_map<NodeId, absl::flat_hash_set<PodUid>> node_pods_;      // index of pods_
  uint64_t generation_ = 0;
  void Unindex(const PodRecord& record);
};

}  // namespace gpusched::cache
