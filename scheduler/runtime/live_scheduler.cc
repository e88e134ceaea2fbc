#include "scheduler/runtime/live_scheduler.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/status_macros.h"

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
  // The store outlives us (a profile reload builds a new scheduler over it): give back the
  // capacity our gang plans hold.
  MutexLock g(&gangs_mu_);
  (void)store_.Update([&](ModelTxn& txn) -> absl::Status {
    for (const auto& [id, gang] : gangs_) {
      for (const Slot& sl : gang.slots) {
        if (sl.member.empty()) (void)txn.Apply(ModelOp::Forget(sl.placeholder.uid));
      }
    }
    return absl::OkStatus();
  });
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
    a->self->ExpireGangPlans();
    ArmSweep(a, clock, every);
  });
}

void LiveScheduler::Count(std::string_view metric, std::string_view help,
                          std::string_view result) {
  metrics::Labels labels;
  if (!result.empty()) labels.emplace_back("result", std::string(result));
  fw_.handle().metrics().GetCounter(metric, help, labels).Increment();
}

void LiveScheduler::ObserveGangWait(const GangState& g, std::string_view result) {
  if (g.planned_at == absl::InfinitePast()) return;
  fw_.handle()
      .metrics()
      .GetHistogram("gpusched_gang_wait_seconds",
                    "How long a gang's plan held its capacity: until every planned member was "
                    "bound, or until the plan was released.",
                    {{"result", std::string(result)}}, metrics::ExponentialBuckets(0.001, 2, 20))
      .Observe(absl::ToDoubleSeconds(clock_.Now() - g.planned_at));
}

void LiveScheduler::Log(log::Level level, std::string_view message, log::Fields fields) {
  if (options_.logger != nullptr) options_.logger->Log(level, message, fields);
}

void LiveScheduler::CountBind(const PodInfo& pod, const NodeId& node, const Status& status) {
  const std::string_view result = status.ok() ? "ok" : status.IsRejection() ? "refused" : "error";
  Count("gpusched_binds_total", "Bind requests by outcome.", result);
  if (!status.ok() && !status.IsRejection()) {
    Log(log::Level::kWarn, "binding failed; reservation released",
        {{"pod", pod.FullName()}, {"node", node.str()}, {"error", status.Message()}});
  }
}

Framework::FilterVerdicts LiveScheduler::Filter(const PodInfo& pod,
                                                const std::vector<NodeId>& candidates) {
  if (IsGangMember(pod)) {
    MutexLock l(&gangs_mu_);
    return FilterMember(pod, candidates);
  }
  cache::SnapshotRef snap = store_.Current();
  return fw_.Filter(*snap, pod, candidates);
}

absl::StatusOr<Framework::Priorities> LiveScheduler::Prioritize(const PodInfo& pod,
                                                                const std::vector<NodeId>& nodes) {
  if (IsGangMember(pod)) {
    MutexLock l(&gangs_mu_);
    auto it = gangs_.find(pod.gang->id);
    if (it != gangs_.end() && !it->second.slots.empty()) {
      // A planned member: its plan's nodes first (the first in the given order on top).
      Framework::Priorities out;
      out.priority.reserve(nodes.size());
      for (const NodeId& name : nodes) {
        int64_t p = 0;
        if (FreeSlotOn(it->second, name) != nullptr) {
          p = out.chosen.empty() ? Framework::kMaxExtenderPriority
                                 : Framework::kMaxExtenderPriority - 1;
          if (out.chosen.empty()) out.chosen = name;
        }
        out.priority.push_back(p);
      }
      return out;
    }
  }
  cache::SnapshotRef snap = store_.Current();
  return fw_.Prioritize(*snap, pod, nodes);
}

LiveScheduler::BindResult LiveScheduler::Bind(const PodInfo& pod, const NodeId& node) {
  BindResult r;
  if (IsGangMember(pod)) {
    MutexLock l(&gangs_mu_);
    r = BindMember(pod, node);
  } else {
    r = BindPod(pod, node);
  }
  CountBind(pod, node, r.status);
  return r;
}

LiveScheduler::BindResult LiveScheduler::BindPod(const PodInfo& pod, const NodeId& node) {
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
  AfterBind(state, pod, node);
  return out;
}

void LiveScheduler::AfterBind(CycleState& state, const PodInfo& pod, const NodeId& node) {
  {
    // Unconfirmed until the informer reports it (unless it already has).
    MutexLock l(&mu_);
    const cache::PodRecord* rec = store_.Current()->FindPod(pod.uid);
    if (rec != nullptr && rec->state == framework::PodState::kAssumed) {
      unconfirmed_[pod.uid] = clock_.Now();
    }
  }
  fw_.PostBind(state, pod, node);
}

std::vector<LiveScheduler::NodeVictims> LiveScheduler::Preempt(
    const PodInfo& pod, const std::map<NodeId, std::vector<PodUid>>& proposed) {
  std::vector<NodeVictims> out;
  cache::SnapshotRef snap = store_.Current();
  CycleState state;
  state.set_snapshot(snap.get());
  Framework::AllowedNodes allowed;
  if (Status pre = fw_.RunPreFilter(state, pod, allowed); !pre.ok()) return out;
  for (const auto& [name, hint] : proposed) {
    const NodeInfo* node = snap->FindNode(name);
    if (node == nullptr) continue;
    if (!allowed.Allows(node)) continue;
    std::vector<const cache::PodRecord*> lower;
    snap->ForEachPodOnNode(name, [&](const cache::PodRecord& r) {
      if (r.pod.priority < pod.priority && !IsPlaceholder(r.pod.uid)) lower.push_back(&r);
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

absl::StatusOr<int> LiveScheduler::OnDevicesReported(
    const NodeId& node, const std::vector<std::pair<PodUid, std::vector<GpuShare>>>& held) {
  int changed = 0;
  absl::Status s = store_.Update([&](ModelTxn& txn) -> absl::Status {
    std::vector<cache::PodRecord> old;
    std::vector<std::vector<GpuShare>> fresh;
    for (const auto& [uid, gpus] : held) {
      const cache::PodRecord* rec = txn.model().FindPod(uid);
      if (rec == nullptr || rec->node != node || gpus.empty() || rec->gpus == gpus) continue;
      old.push_back(*rec);
      fresh.push_back(gpus);
    }
    if (old.empty()) return absl::OkStatus();
    auto put = [&txn](const cache::PodRecord& r, std::vector<GpuShare> gpus) {
      return r.state == framework::PodState::kAssumed
                 ? txn.Apply(ModelOp::Assume(r.pod, r.node, std::move(gpus)))
                 : txn.Apply(ModelOp::AddBoundPod(r.pod, r.node, std::move(gpus)));
    };
    for (const cache::PodRecord& r : old) {
      if (absl::Status e = txn.Apply(ModelOp::RemovePod(r.pod.uid)); !e.ok()) return e;
    }
    for (size_t i = 0; i < old.size(); ++i) {
      absl::Status a = put(old[i], fresh[i]);
      if (a.ok()) continue;
      // Back to the mapping we had: remove what was re-added, restore every old record.
      for (size_t j = 0; j < i; ++j) (void)txn.Apply(ModelOp::RemovePod(old[j].pod.uid));
      for (const cache::PodRecord& r : old) (void)put(r, r.gpus);
      return absl::FailedPreconditionError(
          absl::StrCat("device mapping reported for node ", node.str(), " does not fit (pod ",
                       old[i].pod.FullName(), "): ", a.message(), "; kept the previous mapping"));
    }
    changed = static_cast<int>(old.size());
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return changed;
}

absl::Status LiveScheduler::OnPodDeleted(const PodUid& uid) {
  {
    MutexLock l(&mu_);
    unconfirmed_.erase(uid);
  }
  absl::Status s = RemoveFromModel(uid, /*assumed_only=*/false);
  return absl::IsNotFound(s) ? absl::OkStatus() : s;
}

absl::Status LiveScheduler::RemoveFromModel(const PodUid& uid, bool assumed_only) {
  const ModelOp op = assumed_only ? ModelOp::Forget(uid) : ModelOp::RemovePod(uid);
  std::optional<GangId> gang;
  {
    cache::SnapshotRef snap = store_.Current();
    const cache::PodRecord* rec = snap->FindPod(uid);
    if (rec != nullptr && IsGangMember(rec->pod)) gang = rec->pod.gang->id;
  }
  if (!gang) return store_.Apply(op);
  MutexLock l(&gangs_mu_);
  auto it = gangs_.find(*gang);
  Slot* slot = nullptr;
  if (it != gangs_.end()) {
    for (Slot& sl : it->second.slots) {
      if (sl.member == uid) slot = &sl;
    }
  }
  bool lost = false;
  absl::Status s = store_.Update([&](ModelTxn& txn) -> absl::Status {
    RETURN_IF_ERROR(txn.Apply(op));
    if (slot != nullptr) {
      lost = !txn.Apply(ModelOp::Assume(slot->placeholder, slot->node, slot->gpus)).ok();
    }
    return absl::OkStatus();
  });
  if (!s.ok() || slot == nullptr) return s;
  if (!lost) {
    slot->member = PodUid();  // the plan holds the slot again for the next member
  } else {
    GangState& g = it->second;
    g.slots.erase(g.slots.begin() + (slot - g.slots.data()));
    ReleasePlan(g, absl::StrCat("gang ", g.ref.id.str(), " released: member ", uid.str(),
                                " left and its slot could not be held again"));
  }
  return s;
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
    if (!RemoveFromModel(uid, /*assumed_only=*/true).ok()) continue;
    ++n;
    Count("gpusched_assumed_pods_expired_total",
          "Bound pods the API server never confirmed within the TTL; their reservation was "
          "forgotten.",
          "");
    Log(log::Level::kWarn, "binding never confirmed by the API server; reservation forgotten",
        {{"pod_uid", uid.str()}, {"ttl", absl::FormatDuration(options_.assumed_ttl)}});
  }
  return n;
}

// ---------------------------------------------------------------------------------------------
// Gangs.

namespace {
constexpr char kPlaceholderPrefix[] = "gang-slot:";

int LiveMembers(const framework::ClusterSnapshot& snap, const GangId& id) {
  int live = 0;
  snap.ForEachGangMember(id, [&](const framework::PlacedPod&) { ++live; });
  return live;
}

std::string When(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}
}  // namespace

bool LiveScheduler::IsPlaceholder(const PodUid& uid) {
  return absl::StartsWith(uid.str(), kPlaceholderPrefix);
}

bool LiveScheduler::Before(const GangState& a, const GangState& b) {
  if (a.priority != b.priority) return a.priority > b.priority;
  if (a.created != b.created) return a.created < b.created;
  return a.ref.id < b.ref.id;
}

int LiveScheduler::UsedSlots(const GangState& g) {
  int used = 0;
  for (const Slot& s : g.slots) used += !s.member.empty();
  return used;
}

bool LiveScheduler::ReleaseIfExpired(GangState& g, absl::Time now) {
  if (g.slots.empty() || now < g.deadline) return false;
  ReleasePlan(g, absl::StrCat("gang ", g.ref.id.str(), " released: ", UsedSlots(g), " of ",
                              g.slots.size(), " planned members bound by the deadline"));
  return true;
}

LiveScheduler::Slot* LiveScheduler::FreeSlotOn(GangState& g, const NodeId& node) {
  for (Slot& s : g.slots) {
    if (s.member.empty() && s.node == node) return &s;
  }
  return nullptr;
}

void LiveScheduler::ReleasePlan(GangState& g, std::string reason) {
  (void)store_.Update([&](ModelTxn& txn) -> absl::Status {
    for (const Slot& s : g.slots) {
      if (s.member.empty()) (void)txn.Apply(ModelOp::Forget(s.placeholder.uid));
    }
    return absl::OkStatus();
  });
  ObserveGangWait(g, "released");
  g.slots.clear();
  g.deadline = absl::InfiniteFuture();
  g.planned_at = absl::InfinitePast();
  Count("gpusched_gang_plans_total", "Gang plans by outcome.", "released");
  Log(log::Level::kInfo, "gang plan released", {{"gang", g.ref.id.str()}, {"reason", reason}});
  g.last_release = std::move(reason);
  g.backoff_until = clock_.Now() + options_.gang_backoff;
}

Status LiveScheduler::PlanSlots(const GangState& g, const PodInfo& pod, int needed,
                                const cache::ClusterCache& snap,
                                const std::vector<const Slot*>& ignore, std::vector<Slot>& slots) {
  // Plan on a private copy, one member slot after another, with the profile's own phases.
  std::unique_ptr<cache::ClusterCache> scratch = snap.Clone();
  for (const Slot* sl : ignore) (void)scratch->Forget(sl->placeholder.uid);
  slots.clear();
  for (int i = 0; i < needed; ++i) {
    PodInfo ph = pod;
    ph.uid = PodUid(absl::StrCat(kPlaceholderPrefix, g.ref.id.str(), "#", g.attempts + 1, "/", i));
    ph.name = absl::StrCat(pod.name, " (slot ", i, " of gang ", g.ref.id.str(), ")");
    ph.gang.reset();
    ph.placeholder = true;
    CycleState st;
    st.set_snapshot(scratch.get());
    Framework::AllowedNodes allowed;
    if (Status pre = fw_.RunPreFilter(st, ph, allowed); !pre.ok()) return pre;
    Framework::FilterOutcome f = fw_.RunFilter(st, ph, allowed.Of(*scratch));
    if (!f.error.ok()) return f.error;
    if (f.feasible.empty()) {
      return Status::Unschedulable(absl::StrCat(
          "gang ", g.ref.id.str(), " needs ", needed, " more member(s) like ", pod.FullName(),
          " placed at once; only ", i, " fit now"));
    }
    absl::StatusOr<framework::NodeScoreList> scores = fw_.RunScore(st, ph, f.feasible);
    if (!scores.ok()) return Status::FromError(scores.status());
    int64_t best_score = 0;
    const NodeInfo* best = fw_.SelectHost(*scores, best_score);
    std::vector<GpuShare> gpus;
    if (Status r = fw_.ReserveOn(st, ph, best->name(), gpus, /*run_permit=*/false); !r.ok()) {
      return r;
    }
    if (absl::Status a = scratch->Assume(ph, best->name(), gpus); !a.ok()) {
      return Status::Error(absl::StrCat("planning gang ", g.ref.id.str(), ": ", a.message()));
    }
    slots.push_back(Slot{std::move(ph), best->name(), std::move(gpus), PodUid()});
  }
  return Status::Success();
}

Status LiveScheduler::HoldPlan(GangState& g, std::vector<Slot> slots,
                               const std::vector<GangState*>& yielders) {
  // One transaction: the yielders' unused placeholders go, ours come; on any failure (the model
  // moved since the snapshot) everything applied is undone.
  absl::Status held = store_.Update([&](ModelTxn& txn) -> absl::Status {
    std::vector<const Slot*> forgotten;
    for (GangState* y : yielders) {
      for (const Slot& sl : y->slots) {
        if (sl.member.empty() && txn.Apply(ModelOp::Forget(sl.placeholder.uid)).ok()) {
          forgotten.push_back(&sl);
        }
      }
    }
    for (size_t i = 0; i < slots.size(); ++i) {
      absl::Status a =
          txn.Apply(ModelOp::Assume(slots[i].placeholder, slots[i].node, slots[i].gpus));
      if (a.ok()) continue;
      for (size_t j = 0; j < i; ++j) (void)txn.Apply(ModelOp::Forget(slots[j].placeholder.uid));
      for (const Slot* sl : forgotten) {
        (void)txn.Apply(ModelOp::Assume(sl->placeholder, sl->node, sl->gpus));  // as before
      }
      return a;
    }
    return absl::OkStatus();
  });
  if (!held.ok()) {
    return Status::Unschedulable(
        absl::StrCat("gang ", g.ref.id.str(), ": the cluster changed while planning; retry"));
  }
  const absl::Time now = clock_.Now();
  for (GangState* y : yielders) {
    const std::string reason = absl::StrCat("gang ", y->ref.id.str(),
                                            " released: yielded to earlier gang ", g.ref.id.str());
    ObserveGangWait(*y, "released");
    y->slots.clear();
    y->deadline = absl::InfiniteFuture();
    y->planned_at = absl::InfinitePast();
    y->backoff_until = now;  // it may plan again as soon as capacity allows
    Count("gpusched_gang_plans_total", "Gang plans by outcome.", "released");
    Log(log::Level::kInfo, "gang plan released", {{"gang", y->ref.id.str()}, {"reason", reason}});
    y->last_release = reason;
  }
  ++g.attempts;
  Count("gpusched_gang_plans_total", "Gang plans by outcome.", "planned");
  g.slots = std::move(slots);
  g.planned_at = now;
  g.deadline = now + g.ref.timeout.value_or(options_.gang_timeout);
  g.failed_generation = UINT64_MAX;
  return Status::Success();
}

Status LiveScheduler::EnsurePlan(const PodInfo& pod) {
  const absl::Time now = clock_.Now();
  GangState& g = gangs_[pod.gang->id];
  g.ref = *pod.gang;
  g.priority = pod.priority;
  g.created = std::min(g.created, pod.created);
  ReleaseIfExpired(g, now);
  if (!g.slots.empty()) return Status::Success();
  if (now < g.backoff_until) {
    return Status::Unschedulable(absl::StrCat("gang ", g.ref.id.str(), " is backing off until ",
                                              When(g.backoff_until), " after: ", g.last_release));
  }
  cache::SnapshotRef snap = store_.Current();
  const int live = LiveMembers(*snap, g.ref.id);
  if (live >= g.ref.min_member) return Status::Success();  // quorum met: extras go as they come
  if (g.failed_generation == snap->generation()) return g.failed_status;  // nothing changed
  const int needed = g.ref.min_member - live;
  std::vector<Slot> slots;
  Status s = PlanSlots(g, pod, needed, *snap, {}, slots);
  std::vector<GangState*> yielders;
  if (s.IsRejection()) {
    // Earlier gangs come first: would the plans of later gangs with no member bound make room?
    // Plan as if they were gone, and release them only if that works.
    std::vector<const Slot*> ignore;
    for (auto& [id, other] : gangs_) {
      if (&other == &g || other.slots.empty() || !Before(g, other)) continue;
      if (LiveMembers(*snap, id) > 0 || UsedSlots(other) > 0) continue;
      yielders.push_back(&other);
      for (const Slot& sl : other.slots) ignore.push_back(&sl);
    }
    if (!yielders.empty()) {
      Status without = PlanSlots(g, pod, needed, *snap, ignore, slots);
      if (without.ok()) {
        s = without;
      } else {
        yielders.clear();
      }
    }
  }
  if (s.ok()) s = HoldPlan(g, std::move(slots), yielders);
  if (!s.ok()) {
    Count("gpusched_gang_plans_total", "Gang plans by outcome.", "unschedulable");
    g.failed_generation = snap->generation();
    g.failed_status = s;
  }
  return s;
}

Framework::FilterVerdicts LiveScheduler::FilterMember(const PodInfo& pod,
                                                      const std::vector<NodeId>& candidates) {
  Framework::FilterVerdicts out;
  const Status plan = EnsurePlan(pod);
  GangState& g = gangs_[pod.gang->id];
  cache::SnapshotRef snap = store_.Current();
  if (!plan.ok()) {
    if (!plan.IsRejection()) {
      out.error = plan;
      return out;
    }
    for (size_t i = 0; i < candidates.size(); ++i) {
      out.failed.push_back({static_cast<uint32_t>(i), plan});
    }
    return out;
  }
  if (g.slots.empty()) return fw_.Filter(*snap, pod, candidates);  // no plan needed
  CycleState state;
  state.set_snapshot(snap.get());
  Framework::AllowedNodes allowed;
  if (Status pre = fw_.RunPreFilter(state, pod, allowed); !pre.ok()) {
    if (!pre.IsRejection()) {
      out.error = pre;
      return out;
    }
    for (size_t i = 0; i < candidates.size(); ++i) {
      out.failed.push_back({static_cast<uint32_t>(i), pre});
    }
    return out;
  }
  for (size_t i = 0; i < candidates.size(); ++i) {
    const NodeId& name = candidates[i];
    const uint32_t index = static_cast<uint32_t>(i);
    const NodeInfo* node = snap->FindNode(name);
    Slot* slot = FreeSlotOn(g, name);
    if (node == nullptr || slot == nullptr) {
      out.failed.push_back({index, Status::Unschedulable(absl::StrCat(
                                       "node is not in the plan of gang ", g.ref.id.str()))});
      continue;
    }
    // The member takes its slot's place: judge the node without the placeholder.
    NodeInfo trial = *node;
    if (!trial.RemovePod(slot->placeholder.requests, slot->gpus).ok()) {
      out.failed.push_back(
          {index, Status::Unschedulable("the gang's slot here is inconsistent with the model")});
      continue;
    }
    Framework::FilterOutcome f = fw_.RunFilter(state, pod, {&trial});
    if (!f.error.ok()) {
      out.error = f.error;
      return out;
    }
    if (!f.feasible.empty()) {
      out.feasible.push_back(index);
    } else {
      out.failed.push_back({index, Status::Unschedulable(absl::StrCat(
                                       "does not fit the slot its gang planned here: ",
                                       f.rejected.front().status.Message()))});
    }
  }
  return out;
}

LiveScheduler::BindResult LiveScheduler::BindMember(const PodInfo& pod, const NodeId& node) {
  auto it = gangs_.find(pod.gang->id);
  const bool planned = it != gangs_.end() && !it->second.slots.empty();
  if (!planned) {
    if (LiveMembers(*store_.Current(), pod.gang->id) >= pod.gang->min_member) {
      return BindPod(pod, node);  // the quorum is bound: an elastic extra
    }
    return BindResult{Status::Unschedulable(absl::StrCat(
                          "gang ", pod.gang->id.str(),
                          " has no plan holding its quorum; a member binds only into its "
                          "gang's plan (filter it first)")),
                      {}};
  }
  GangState& g = it->second;
  Slot* slot = FreeSlotOn(g, node);
  if (slot == nullptr) {
    return BindResult{Status::Unschedulable(absl::StrCat(
                          "node ", node.str(), " has no unused slot of gang ", g.ref.id.str())),
                      {}};
  }
  BindResult out;
  CycleState state;
  (void)store_.Update([&](ModelTxn& txn) -> absl::Status {
    if (absl::Status f = txn.Apply(ModelOp::Forget(slot->placeholder.uid)); !f.ok()) {
      out.status = Status::Error(absl::StrCat("gang slot lost: ", f.message()));
      return absl::OkStatus();
    }
    state.set_snapshot(&txn.model());
    out.status = fw_.ReserveOn(state, pod, node, out.gpus, /*run_permit=*/false);
    absl::Status a = out.status.ok() ? txn.Apply(ModelOp::Assume(pod, node, out.gpus))
                                     : absl::OkStatus();
    if (!a.ok()) {
      fw_.Unreserve(state, pod, node);
      out.status = Status::Error(absl::StrCat("cannot assume the pod: ", a.message()));
    }
    if (!out.status.ok()) {
      (void)txn.Apply(ModelOp::Assume(slot->placeholder, slot->node, slot->gpus));  // put back
    }
    return absl::OkStatus();
  });
  if (!out.status.ok()) {
    out.gpus.clear();
    return out;
  }
  slot->member = pod.uid;
  cache::SnapshotRef after = store_.Current();
  state.set_snapshot(after.get());
  out.status = fw_.BindReserved(state, pod, node);
  if (!out.status.ok()) {
    fw_.Unreserve(state, pod, node);
    // Give the slot back to a placeholder: on its own devices, or, if another pod took them
    // while the Binding was in flight, on the devices the member frees (same shape only).
    bool confirmed_meanwhile = false, restored = false;
    (void)store_.Update([&](ModelTxn& txn) -> absl::Status {
      if (!txn.Apply(ModelOp::Forget(pod.uid)).ok()) {
        confirmed_meanwhile = true;  // the informer saw it bound: it is bound after all
        return absl::OkStatus();
      }
      if (txn.Apply(ModelOp::Assume(slot->placeholder, slot->node, slot->gpus)).ok()) {
        restored = true;
      } else if (slot->placeholder.requests == pod.requests &&
                 txn.Apply(ModelOp::Assume(slot->placeholder, node, out.gpus)).ok()) {
        slot->node = node;
        slot->gpus = out.gpus;
        restored = true;
      }
      return absl::OkStatus();
    });
    out.gpus.clear();
    if (confirmed_meanwhile) return out;  // the slot stays the member's
    if (restored) {
      slot->member = PodUid();
    } else {
      // The plan no longer holds the quorum: release it rather than pretend.
      g.slots.erase(g.slots.begin() + (slot - g.slots.data()));
      ReleasePlan(g, absl::StrCat("gang ", g.ref.id.str(),
                                  " released: a failed member binding lost its slot"));
    }
    return out;
  }
  AfterBind(state, pod, node);
  if (UsedSlots(g) == static_cast<int>(g.slots.size())) {
    ObserveGangWait(g, "bound");
    g.slots.clear();  // every planned member is bound: the plan has done its work
    g.deadline = absl::InfiniteFuture();
    g.planned_at = absl::InfinitePast();
  }
  return out;
}

size_t LiveScheduler::ExpireGangPlans() {
  MutexLock l(&gangs_mu_);
  const absl::Time now = clock_.Now();
  size_t n = 0;
  for (auto it = gangs_.begin(); it != gangs_.end();) {
    GangState& g = it->second;
    if (ReleaseIfExpired(g, now)) ++n;
    // Forget gangs with nothing held and no backoff left (bounded memory; a member that comes
    // back starts afresh).
    if (g.slots.empty() && g.backoff_until <= now) {
      gangs_.erase(it++);
    } else {
      ++it;
    }
  }
  return n;
}

std::optional<LiveScheduler::GangView> LiveScheduler::InspectGang(const GangId& id) const {
  MutexLock l(&gangs_mu_);
  auto it = gangs_.find(id);
  if (it == gangs_.end()) return std::nullopt;
  const GangState& g = it->second;
  GangView v;
  v.slots = static_cast<int>(g.slots.size());
  v.used = UsedSlots(g);
  for (const Slot& s : g.slots) {
    if (s.member.empty()) v.nodes.push_back(s.node);
  }
  v.deadline = g.deadline;
  v.backoff_until = g.backoff_until;
  v.last_release = g.last_release;
  return v;
}

}  // namespace gpusched::runtime
