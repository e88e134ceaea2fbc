#include "scheduler/cache/snapshot_store.h"

#include <algorithm>

#include "absl/base/internal/raw_logging.h"

namespace gpusched::cache {

// Idle replicas kept for reuse beyond the published one; more are freed.
constexpr size_t kMaxIdleReplicas = 8;

ModelOp ModelOp::AddNode(NodeSpec spec) {
  return {.kind = Kind::kAddNode, .spec = std::move(spec)};
}
ModelOp ModelOp::UpdateNode(NodeSpec spec) {
  return {.kind = Kind::kUpdateNode, .spec = std::move(spec)};
}
ModelOp ModelOp::RemoveNode(NodeId node) {
  return {.kind = Kind::kRemoveNode, .node = std::move(node)};
}
ModelOp ModelOp::AddBoundPod(PodInfo pod, NodeId node, std::vector<GpuShare> gpus) {
  return {.kind = Kind::kAddBoundPod, .pod = std::move(pod), .node = std::move(node),
          .gpus = std::move(gpus)};
}
ModelOp ModelOp::Assume(PodInfo pod, NodeId node, std::vector<GpuShare> gpus) {
  return {.kind = Kind::kAssume, .pod = std::move(pod), .node = std::move(node),
          .gpus = std::move(gpus)};
}
ModelOp ModelOp::Forget(PodUid uid) { return {.kind = Kind::kForget, .uid = std::move(uid)}; }
ModelOp ModelOp::ConfirmBound(PodUid uid) {
  return {.kind = Kind::kConfirmBound, .uid = std::move(uid)};
}
ModelOp ModelOp::RemovePod(PodUid uid) { return {.kind = Kind::kRemovePod, .uid = std::move(uid)}; }

absl::Status ModelOp::ApplyTo(ClusterCache& cache) const {
  switch (kind) {
    case Kind::kAddNode: return cache.AddNode(spec);
    case Kind::kUpdateNode: return cache.UpdateNode(spec);
    case Kind::kRemoveNode: return cache.RemoveNode(node);
    case Kind::kAddBoundPod: return cache.AddBoundPod(pod, node, gpus);
    case Kind::kAssume: return cache.Assume(pod, node, gpus);
    case Kind::kForget: return cache.Forget(uid);
    case Kind::kConfirmBound: return cache.ConfirmBound(uid);
    case Kind::kRemovePod: return cache.RemovePod(uid);
  }
  return absl::InternalError("unknown model op");
}

const NodeId* ModelOp::NodeChanged(const ClusterCache& before) const {
  switch (kind) {
    case Kind::kAddNode:
    case Kind::kUpdateNode: return &spec.name;
    case Kind::kAddBoundPod:
    case Kind::kAssume: return &node;
    case Kind::kForget:
    case Kind::kRemovePod: {
      const PodRecord* rec = before.FindPod(uid);
      return rec == nullptr ? nullptr : &rec->node;
    }
    case Kind::kRemoveNode:
    case Kind::kConfirmBound: return nullptr;
  }
  return nullptr;
}

absl::Status ModelTxn::Apply(ModelOp op) {
  if (absl::Status s = op.ApplyTo(master_); !s.ok()) return s;
  log_.push_back(std::move(op));
  ++applied_;
  return absl::OkStatus();
}

SnapshotStore::SnapshotStore() {
  MutexLock w(&write_mu_);
  auto r = std::make_unique<Replica>();
  r->cache = std::make_unique<ClusterCache>();
  MutexLock p(&publish_mu_);
  current_ = r.get();
  replicas_.push_back(std::move(r));
}

SnapshotStore::~SnapshotStore() = default;

SnapshotRef SnapshotStore::Current() const {
  Replica* r;
  {
    MutexLock l(&publish_mu_);
    r = current_;
    ++r->readers;
  }
  return SnapshotRef(r->cache.get(), [this, r](const ClusterCache*) { Release(r); });
}

void SnapshotStore::Release(Replica* r) const {
  MutexLock l(&publish_mu_);
  --r->readers;
}

uint64_t SnapshotStore::generation() const {
  MutexLock l(&publish_mu_);
  return current_generation_;
}

size_t SnapshotStore::replica_count() const {
  MutexLock l(&write_mu_);
  return replicas_.size();
}

uint64_t SnapshotStore::clone_count() const {
  MutexLock l(&write_mu_);
  return clones_;
}

absl::Status SnapshotStore::Apply(ModelOp op) {
  MutexLock l(&write_mu_);
  ModelTxn txn(master_, log_);
  absl::Status s = txn.Apply(std::move(op));
  if (txn.applied_ > 0) Publish();
  return s;
}

absl::Status SnapshotStore::Update(absl::FunctionRef<absl::Status(ModelTxn&)> fn) {
  MutexLock l(&write_mu_);
  ModelTxn txn(master_, log_);
  absl::Status s = fn(txn);
  if (txn.applied_ > 0) Publish();
  return s;
}

void SnapshotStore::Publish() {
  const uint64_t head = log_base_ + log_.size();
  Replica* target = nullptr;
  {
    MutexLock l(&publish_mu_);
    for (const auto& r : replicas_) {
      if (r.get() == current_ || r->readers > 0) continue;
      if (target == nullptr || r->applied > target->applied) target = r.get();
    }
  }
  if (target == nullptr) {
    // Every replica is held by a reader: a new one from the master (O(cluster), rare).
    auto r = std::make_unique<Replica>();
    r->cache = master_.Clone();
    r->applied = head;
    ++clones_;
    target = r.get();
    replicas_.push_back(std::move(r));
  } else {
    // No reader can reach `target` (it is neither current nor held), so it is ours to change.
    std::vector<NodeId> touched;
    for (uint64_t i = target->applied; i < head; ++i) {
      const ModelOp& op = log_[i - log_base_];
      if (const NodeId* n = op.NodeChanged(*target->cache)) touched.push_back(*n);
      absl::Status s = op.ApplyTo(*target->cache);
      // An invariant: the replica started equal to the master and replays what succeeded there.
      ABSL_RAW_CHECK(s.ok(), "snapshot replica diverged from the master");
    }
    target->applied = head;
    // Now equal to the master node for node: the nodes replayed share its generations, so what a
    // plugin memoized on one snapshot still hits on the next (the replicas take turns).
    target->cache->ShareGenerations(master_, touched);
  }
  ABSL_RAW_CHECK(target->cache->generation() == master_.generation(),
                 "snapshot replica generation differs from the master's");
  std::vector<std::unique_ptr<Replica>> surplus;  // freed after the lock: readers never wait on it
  {
    MutexLock l(&publish_mu_);
    current_ = target;
    current_generation_ = target->cache->generation();
    // Idle replicas beyond the few kept for reuse go (never the current or a held one).
    size_t kept = 0;
    for (auto it = replicas_.begin(); it != replicas_.end();) {
      Replica* r = it->get();
      if (r == current_ || r->readers > 0 || ++kept <= kMaxIdleReplicas) {
        ++it;
      } else {
        surplus.push_back(std::move(*it));
        it = replicas_.erase(it);
      }
    }
  }
  surplus.clear();
  uint64_t oldest = head;
  for (const auto& r : replicas_) oldest = std::min(oldest, r->applied);
  while (log_base_ < oldest) {
    log_.pop_front();
    ++log_base_;
  }
}

}  // namespace gpusched::cache
