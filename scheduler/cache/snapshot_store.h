#pragma once

// The live cluster model: one writer, many readers, no reader ever waiting on a writer beyond a
// pointer swap (kube-scheduler's cache + snapshot idea, made safe for concurrent requests).
//
//   SnapshotStore store;
//   RETURN_IF_ERROR(store.Apply(ModelOp::AddNode(spec)));          // informer event
//   SnapshotRef snap = store.Current();                              // a Filter request
//   for (const NodeInfo* n : snap->Nodes()) ...                      // immutable while held
//   RETURN_IF_ERROR(store.Update([&](ModelTxn& txn) {               // Bind: read-check-write
//     const NodeInfo* n = txn.model().FindNode(node);                //   on the model as it is now
//     return txn.Apply(ModelOp::Assume(pod, node, gpus));
//   }));
//
// How it works. The store keeps a master ClusterCache that only writers touch, a log of the
// mutations applied to it, and a few replica caches. A snapshot is a replica that readers may
// hold (Current() returns a reference-counted handle). After each write the store takes a replica
// that no reader holds, replays the log entries it has not seen (usually one), and publishes it
// as the current snapshot; the replica readers still hold is left alone until they let go. So a
// mutation costs about twice its own work (master + one replica), never a copy of the cluster;
// a new replica is cloned from the master only when every existing one is held by a reader.
// Every snapshot has the generation of the master at the time it was published: the number of
// mutations applied, so two snapshots with the same generation are identical.
//
// Thread-safety (the locking contract):
//   - Current() and generation() may be called from any thread at any time. They take
//     publish_mu_ for a pointer copy and a counter; they never wait for a write in progress.
//   - Apply() and Update() may be called from any thread; writers are serialized by write_mu_.
//     Update()'s function runs under write_mu_ and must not call back into the store.
//   - A SnapshotRef may be used on any thread; the cache it points to never changes while held.
//     Every SnapshotRef must be released before the store is destroyed (its deleter reaches
//     back into the store).
//   - Lock order: write_mu_ before publish_mu_; publish_mu_ is never held while replaying.

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "common/mutex.h"
#include "scheduler/cache/cluster_cache.h"

namespace gpusched::cache {

// One mutation of the model, as a value (so it can be replayed on the replicas).
struct ModelOp {
  enum class Kind : uint8_t {
    kAddNode, kUpdateNode, kRemoveNode, kAddBoundPod, kAssume, kForget, kConfirmBound, kRemovePod
  };
  Kind kind = Kind::kAddNode;
  NodeSpec spec;                // kAddNode, kUpdateNode
  PodInfo pod;                  // kAddBoundPod, kAssume
  NodeId node;                  // kRemoveNode, kAddBoundPod, kAssume
  std::vector<GpuShare> gpus;   // kAddBoundPod, kAssume
  PodUid uid;                   // kForget, kConfirmBound, kRemovePod

  static ModelOp AddNode(NodeSpec spec);
  static ModelOp UpdateNode(NodeSpec spec);
  static ModelOp RemoveNode(NodeId node);
  static ModelOp AddBoundPod(PodInfo pod, NodeId node, std::vector<GpuShare> gpus);
  static ModelOp Assume(PodInfo pod, NodeId node, std::vector<GpuShare> gpus);
  static ModelOp Forget(PodUid uid);
  static ModelOp ConfirmBound(PodUid uid);
  static ModelOp RemovePod(PodUid uid);

  // Applies the op to `cache` with ClusterCache's all-or-nothing semantics.
  absl::Status ApplyTo(ClusterCache& cache) const;
  // The node whose record the op changes when applied to `before` (null: none, or a node it
  // removes). Points into the op or into `before`: read it before applying.
  const NodeId* NodeChanged(const ClusterCache& before) const;
};

// A held snapshot: the ClusterCache (a framework::ClusterSnapshot) it points to is immutable
// until the last copy of the handle is gone.
using SnapshotRef = std::shared_ptr<const ClusterCache>;

class SnapshotStore;

// What an Update() function sees: the master as it is now, and a way to change it.
class ModelTxn {
 public:
  const ClusterCache& model() const { return master_; }
  // Applies `op` to the master; on error nothing changed. Published when Update returns.
  absl::Status Apply(ModelOp op);

 private:
  friend class SnapshotStore;
  ModelTxn(ClusterCache& master, std::deque<ModelOp>& log) : master_(master), log_(log) {}
  ClusterCache& master_;
  std::deque<ModelOp>& log_;
  int applied_ = 0;
};

class SnapshotStore {
 public:
  SnapshotStore();
  ~SnapshotStore();
  SnapshotStore(const SnapshotStore&) = delete;
  SnapshotStore& operator=(const SnapshotStore&) = delete;

  // The latest published model. Cheap (a mutex-protected counter); never blocks on writers.
  SnapshotRef Current() const ABSL_LOCKS_EXCLUDED(publish_mu_);
  // Generation of the latest published snapshot.
  uint64_t generation() const ABSL_LOCKS_EXCLUDED(publish_mu_);

  // Applies one mutation and publishes it. On error the model is unchanged.
  absl::Status Apply(ModelOp op) ABSL_LOCKS_EXCLUDED(write_mu_, publish_mu_);
  // Runs `fn` with exclusive access to the master; every op it applied is published when it
  // returns (whatever it returns). For read-check-write sequences such as Bind.
  absl::Status Update(absl::FunctionRef<absl::Status(ModelTxn&)> fn)
      ABSL_LOCKS_EXCLUDED(write_mu_, publish_mu_);

  // Replicas alive (published or held), for tests and metrics.
  size_t replica_count() const ABSL_LOCKS_EXCLUDED(write_mu_);
  // Replicas made by copying the whole master (every other one was held by a reader).
  uint64_t clone_count() const ABSL_LOCKS_EXCLUDED(write_mu_);

 private:
  struct Replica {
    std::unique_ptr<ClusterCache> cache;
    uint64_t applied = 0;  // log position: entries below it are in `cache` (under write_mu_)
    int readers = 0;       // live SnapshotRefs (under publish_mu_)
  };

  void Publish() ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) ABSL_LOCKS_EXCLUDED(publish_mu_);
  void Release(Replica* r) const ABSL_LOCKS_EXCLUDED(publish_mu_);

  mutable Mutex write_mu_ ABSL_ACQUIRED_BEFORE(publish_mu_);
  // Guarded by write_mu_.
  ClusterCache master_ ABSL_GUARDED_BY(write_mu_);
  std::deque<ModelOp> log_ ABSL_GUARDED_BY(write_mu_);
  uint64_t log_base_ ABSL_GUARDED_BY(write_mu_) = 0;  // log position of log_.front()
  // The replicas themselves are created and replayed under write_mu_; which one is current and
  // how many readers each has are under publish_mu_.
  std::vector<std::unique_ptr<Replica>> replicas_ ABSL_GUARDED_BY(write_mu_);
  uint64_t clones_ ABSL_GUARDED_BY(write_mu_) = 0;

  mutable Mutex publish_mu_;
  Replica* current_ ABSL_GUARDED_BY(publish_mu_) = nullptr;
  uint64_t current_generation_ ABSL_GUARDED_BY(publish_mu_) = 0;
};

}  // namespace gpusched::cache
