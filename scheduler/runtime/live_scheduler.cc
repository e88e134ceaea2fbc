#include "scheduler/runtime/live_scheduler.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace gpusched::runtime {

using cache::ModelOp;
using cache::ModelTxn;
using framework::Status;

LiveScheduler::LiveScheduler(Framework& fw, cache::SnapshotStore& store, Clock& clock,
                             LiveOptions options)
    : fw_(fw), store_(store), clock_(clock), options_(options), alive_(std::make_shared<Alive>()) {
  MutexLock l(&alive_->mu);
  alive_->self = this;
  ArmSweep(alive_, clock_, options_.sweep_every);
}

LiveScheduler::~LiveScheduler() {
  // Waits for a sweep in progress (it holds alive_->mu); later callbacks find no one.
  MutexLock l(&alive_->mu);
  alive_->self = nullptr;
  clock_.Cancel(alive_->timer);
}

void LiveScheduler::ArmSweep(const std::shared_ptr<Alive>& alive, Clock& clock,
                             absl::Duration every) {
  if (every == absl::InfiniteDuration()) return;  // the owner sweeps (ExpireAssumed) itself
  std::weak_ptr<Alive> weak = alive;
  alive->timer = clock.ScheduleAfter(every, [weak, &clock, every] {
    std::shared_ptr<Alive> a = weak.lock();
    if (a == nullptr) return;
    MutexLock l(&a->mu);
    if (a->self == nullptr) return;
    a->self->ExpireAssumed();
    ArmSweep(a, clock, every);
  });
}

Framework::FilterVerdicts LiveScheduler::Filter(const PodInfo& pod,
                                                const std::vector<NodeId>& candidates) {
  cache::SnapshotRef snap = store_.Current();
  return fw_.Filter(*snap, pod, candidates);
}

absl::StatusOr<Framework::Priorities> LiveScheduler::Prioritize(const PodInfo& pod,
                                                                const std::vector<NodeId>& nodes) {
  cache::SnapshotRef snap = store_.Current();
  return fw_.Prioritize(*snap, pod, nodes);
}

LiveScheduler::BindResult LiveScheduler::Bind(const PodInfo& pod, const NodeId& node) {
  BindResult out;
  CycleState state;
  (void)store_.Update([&](ModelTxn& txn) -> absl::Status {
    state.set_snapshot(&txn.model());
    if (const cache::PodRecord* rec = txn.model().FindPod(pod.uid)) {
      out.status = Status::Error(absl::StrCat("pod ", pod.FullName(), " is already placed on node ",
                                              rec->node.str(), "; not binding it twice"));
      return absl::OkStatus();
    }
    out.status = fw_.ReserveOn(state, pod, node, out.gpus);
    if (!out.status.ok()) return absl::OkStatus();
    if (absl::Status a = txn.Apply(ModelOp::Assume(pod, node, out.gpus)); !a.ok()) {
      fw_.Unreserve(state, pod, node);
      out.status = Status::Error(absl::StrCat("cannot assume the pod: ", a.message()));
    }
    return absl::OkStatus();
  });
  if (!out.status.ok()) {
    out.gpus.clear();
    return out;
  }
  // Outside the write lock: the ports may do I/O (the Binding POST). Plugins that read the model
  // now see the snapshot that holds the assumption.
  cache::SnapshotRef after = store_.Current();
  state.set_snapshot(after.get());
  out.status = fw_.BindReserved(state, pod, node);
  if (!out.status.ok()) {
    fw_.Unreserve(state, pod, node);
    // Fails only if the informer confirmed the pod meanwhile: then it is bound after all.
    (void)store_.Apply(ModelOp::Forget(pod.uid));
    out.gpus.clear();
    return out;
  }
  {
    MutexLock l(&mu_);
    const cache::PodRecord* rec = store_.Current()->FindPod(pod.uid);
    if (rec != nullptr && rec->state == framework::PodState::kAssumed) {
      unconfirmed_[pod.uid] = clock_.Now();
    }
  }
  fw_.PostBind(state, pod, node);
  return out;
}

std::vector<LiveScheduler::NodeVictims> LiveScheduler::Preempt(
    const PodInfo& pod, const std::map<NodeId, std::vector<PodUid>>& proposed) {
  std::vector<NodeVictims> out;
  cache::SnapshotRef snap = store_.Current();
  CycleState state;
  state.set_snapshot(snap.get());
  std::vector<const NodeInfo*> allowed;
  if (Status pre = fw_.RunPreFilter(state, pod, allowed); !pre.ok()) return out;
  for (const auto& [name, hint] : proposed) {
    const NodeInfo* node = snap->FindNode(name);
    if (node == nullptr) continue;
    if (std::find(allowed.begin(), allowed.end(), node) == allowed.end()) continue;
    std::vector<const cache::PodRecord*> lower;
    snap->ForEachPodOnNode(name, [&](const cache::PodRecord& r) {
      if (r.pod.priority < pod.priority) lower.push_back(&r);
    });
    // Most important first: higher priority, then older, then uid (a stable order).
    std::sort(lower.begin(), lower.end(), [](const cache::PodRecord* a, const cache::PodRecord* b) {
      if (a->pod.priority != b->pod.priority) return a->pod.priority > b->pod.priority;
      if (a->pod.created != b->pod.created) return a->pod.created < b->pod.created;
      return a->pod.uid < b->pod.uid;
    });
    NodeInfo trial = *node;
    bool consistent = true;
    for (const cache::PodRecord* r : lower) {
      consistent = consistent && trial.RemovePod(r->pod.requests, r->gpus).ok();
    }
    auto fits = [&] {
      Framework::FilterOutcome f = fw_.RunFilter(state, pod, {&trial});
      return f.error.ok() && f.feasible.size() == 1;
    };
    if (!consistent || !fits()) continue;
    NodeVictims v{name, {}};
    for (const cache::PodRecord* r : lower) {
      if (!trial.AddPod(r->pod.requests, r->gpus).ok()) {
        v.pods.push_back(r->pod.uid);
        continue;
      }
      if (!fits()) {
        (void)trial.RemovePod(r->pod.requests, r->gpus);
        v.pods.push_back(r->pod.uid);
      }
    }
    std::reverse(v.pods.begin(), v.pods.end());  // least important first
    out.push_back(std::move(v));
  }
  return out;
}

absl::Status LiveScheduler::OnNodeAdd(NodeSpec spec) {
  return store_.Apply(ModelOp::AddNode(std::move(spec)));
}

absl::Status LiveScheduler::OnNodeUpdate(NodeSpec spec) {
  return store_.Apply(ModelOp::UpdateNode(std::move(spec)));
}

absl::Status LiveScheduler::OnNodeDelete(const NodeId& node) {
  return store_.Apply(ModelOp::RemoveNode(node));
}

absl::Status LiveScheduler::OnPodBound(const PodInfo& pod, const NodeId& node,
                                       std::vector<GpuShare> gpus) {
  bool confirmed = false;
  absl::Status s = store_.Update([&](ModelTxn& txn) -> absl::Status {
    const cache::PodRecord* rec = txn.model().FindPod(pod.uid);
    if (rec == nullptr && gpus.empty() && !pod.requests.gpu.empty()) {
      // Bound by someone else with no device assignment on it: account for the devices the
      // baseline choice would give it, so its capacity is never handed out twice.
      const NodeInfo* info = txn.model().FindNode(node);
      if (info == nullptr) {
        return absl::NotFoundError(absl::StrCat("node ", node.str(), " does not exist"));
      }
      std::optional<std::vector<GpuShare>> chosen = framework::TryAllocate(*info, pod.requests.gpu);
      if (!chosen) {
        return absl::FailedPreconditionError(
            absl::StrCat("pod ", pod.FullName(), " is bound to node ", node.str(),
                         " without a device assignment, and its GPUs do not fit there"));
      }
      gpus = *std::move(chosen);
    }
    if (rec == nullptr) return txn.Apply(ModelOp::AddBoundPod(pod, node, std::move(gpus)));
    const bool same_devices = gpus.empty() || gpus == rec->gpus;
    if (rec->node == node && same_devices) {
      if (rec->state == framework::PodState::kAssumed) {
        confirmed = true;
        return txn.Apply(ModelOp::ConfirmBound(pod.uid));
      }
      return absl::OkStatus();  // already known as it is
    }
    // Moved, or given other devices (the node agent's final mapping): replace, or keep the old
    // record if the new one does not fit.
    const cache::PodRecord old = *rec;
    if (absl::Status r = txn.Apply(ModelOp::RemovePod(pod.uid)); !r.ok()) return r;
    absl::Status a = txn.Apply(ModelOp::AddBoundPod(pod, node, std::move(gpus)));
    if (!a.ok()) {
      absl::Status back = old.state == framework::PodState::kAssumed
                              ? txn.Apply(ModelOp::Assume(old.pod, old.node, old.gpus))
                              : txn.Apply(ModelOp::AddBoundPod(old.pod, old.node, old.gpus));
      (void)back;  // cannot fail: it is the state we just left
      return absl::FailedPreconditionError(
          absl::StrCat("pod ", pod.FullName(), " reported on node ", node.str(),
                       " does not fit there; kept on ", old.node.str(), ": ", a.message()));
    }
    confirmed = true;
    return absl::OkStatus();
  });
  if (confirmed) {
    MutexLock l(&mu_);
    unconfirmed_.erase(pod.uid);
  }
  return s;
}

absl::Status LiveScheduler::OnPodDeleted(const PodUid& uid) {
  {
    MutexLock l(&mu_);
    unconfirmed_.erase(uid);
  }
  absl::Status s = store_.Apply(ModelOp::RemovePod(uid));
  return absl::IsNotFound(s) ? absl::OkStatus() : s;
}

size_t LiveScheduler::ExpireAssumed() {
  const absl::Time now = clock_.Now();
  std::vector<PodUid> expired;
  {
    MutexLock l(&mu_);
    for (auto it = unconfirmed_.begin(); it != unconfirmed_.end();) {
      if (now - it->second >= options_.assumed_ttl) {
        expired.push_back(it->first);
        unconfirmed_.erase(it++);
      } else {
        ++it;
      }
    }
  }
  size_t n = 0;
  for (const PodUid& uid : expired) {
    // Forget fails if the pod was confirmed or deleted meanwhile: then there is nothing to do.
    if (store_.Apply(ModelOp::Forget(uid)).ok()) ++n;
  }
  return n;
}

}  // namespace gpusched::runtime
