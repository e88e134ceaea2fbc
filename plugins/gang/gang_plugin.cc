#include "plugins/gang/gang_plugin.h"

#include <algorithm>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "plugins/node_selector/node_selector.h"
#include "plugins/taint_toleration/taint_toleration.h"
#include "topology/cluster_topology.h"

namespace gpusched::plugins::gang {

using framework::NodeInfo;
using framework::PodInfo;
using framework::Status;

namespace {

// Written by Reserve, so that Unreserve undoes only what this plugin did for the pod (Unreserve
// also runs when an earlier Reserve plugin failed).
struct Reserved final : framework::StateData {
  std::unique_ptr<framework::StateData> Clone() const override {
    return std::make_unique<Reserved>(*this);
  }
};
constexpr framework::StateKey<Reserved> kReservedKey{"Gang/reserved"};

constexpr std::string_view kLevels[] = {"any", "nvlink-domain", "rack", "block", "zone"};

bool ValidLevel(std::string_view level) {
  return std::find(std::begin(kLevels), std::end(kLevels), level) != std::end(kLevels);
}

std::string Describe(absl::Time t) { return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone()); }

// Whether the pod may go to the node at all (cordon, taints, node selector): the verdicts of the
// stateless TaintToleration and NodeSelector filters, which a plan has to respect so that it
// does not pick nodes every member is refused.
bool Admits(const NodeInfo& node, const PodInfo& pod) {
  static const taint_toleration::TaintToleration taints;
  static const node_selector::NodeSelector selector;
  const framework::CycleState none;  // neither filter reads cycle state
  return taints.Filter(none, pod, node).ok() && selector.Filter(none, pod, node).ok();
}

}  // namespace

int CountFits(const NodeInfo& node, const PodInfo& pod, int cap) {
  return Admits(node, pod) ? framework::CountCopies(node, pod.requests, cap) : 0;
}

absl::StatusOr<std::unique_ptr<framework::Plugin>> GangPlugin::New(
    const framework::PluginArgs& a, framework::Handle& h) {
  RETURN_IF_ERROR(a.RejectUnknown({"defaultTimeoutSeconds", "backoffSeconds", "preemption"}));
  GangArgs args;
  int64_t timeout_s = absl::ToInt64Seconds(args.default_timeout);
  int64_t backoff_s = absl::ToInt64Seconds(args.backoff);
  RETURN_IF_ERROR(a.Get("defaultTimeoutSeconds", timeout_s));
  RETURN_IF_ERROR(a.Get("backoffSeconds", backoff_s));
  RETURN_IF_ERROR(a.Get("preemption", args.preemption));
  // kube-scheduler caps a Permit wait at 15 minutes; a longer quorum timeout would be cut short.
  if (timeout_s < 1 || timeout_s > 900) {
    return a.FieldError("defaultTimeoutSeconds", "must be in 1..900 (Permit waits are capped at 15 min)");
  }
  if (backoff_s < 0 || backoff_s > 3600) {
    return a.FieldError("backoffSeconds", "must be in 0..3600");
  }
  args.default_timeout = absl::Seconds(timeout_s);
  args.backoff = absl::Seconds(backoff_s);
  return std::make_unique<GangPlugin>(args, h);
}

GangPlugin::GangPlugin(GangArgs args, framework::Handle& handle)
    : args_(args), handle_(handle) {}

// ---------------------------------------------------------------------------------------------
// Bookkeeping.

GangPlugin::Gang& GangPlugin::Touch(const PodInfo& pod) {
  auto [it, inserted] = gangs_.try_emplace(pod.gang->id);
  Gang& g = it->second;
  if (inserted) g.id = pod.gang->id;
  g.ref = *pod.gang;  // the latest declaration wins (a PodGroup's minMember may be edited)
  // The highest priority and the oldest member seen: both only move one way, so the order
  // between two gangs cannot flip back and forth as members come and go.
  g.priority = inserted ? pod.priority : std::max(g.priority, pod.priority);
  g.created = std::min(g.created, pod.created);
  return g;
}

GangPlugin::Gang* GangPlugin::Find(const PodInfo& pod) {
  if (!pod.gang) return nullptr;
  auto it = gangs_.find(pod.gang->id);
  return it == gangs_.end() ? nullptr : &it->second;
}

const GangPlugin::Gang* GangPlugin::Find(const GangId& id) const {
  auto it = gangs_.find(id);
  return it == gangs_.end() ? nullptr : &it->second;
}

int GangPlugin::Live(const Gang& g, const PodUid* except) const {
  int live = 0;
  handle_.snapshot().ForEachGangMember(g.id, [&](const framework::PlacedPod& p) {
    if (except == nullptr || p.pod.uid != *except) ++live;
  });
  return live;
}

std::vector<PodUid> GangPlugin::Waiting(const Gang& g) const {
  std::vector<PodUid> out;
  handle_.snapshot().ForEachGangMember(g.id, [&](const framework::PlacedPod& p) {
    if (handle_.waiting_pods().IsWaiting(p.pod.uid)) out.push_back(p.pod.uid);
  });
  std::sort(out.begin(), out.end());  // deterministic rejection order
  return out;
}

bool GangPlugin::Before(const Gang& a, const Gang& b) {
  if (a.priority != b.priority) return a.priority > b.priority;
  if (a.created != b.created) return a.created < b.created;
  return a.id < b.id;
}

int GangPlugin::Release(Gang& g, std::string reason, std::string_view kind) {
  std::vector<PodUid> waiting = Waiting(g);
  g.plan.clear();
  g.attempt_start = absl::InfiniteFuture();
  g.backoff_until = handle_.clock().Now() + args_.backoff;
  g.last_release = reason;
  for (const PodUid& uid : waiting) {
    g.releasing.insert(uid);
    handle_.waiting_pods().Reject(uid, kName, reason);
  }
  Count("gpusched_gang_released_total",
        "Incomplete gang attempts whose reservations were all released, by cause.", kind);
  return static_cast<int>(waiting.size());
}

void GangPlugin::Count(std::string_view name, std::string_view help, std::string_view reason) {
  metrics::Labels labels;
  if (!reason.empty()) labels.emplace_back("reason", std::string(reason));
  handle_.metrics().GetCounter(name, help, labels).Increment();
}

std::optional<GangPlugin::GangView> GangPlugin::Inspect(const GangId& id) const {
  const Gang* g = Find(id);
  if (g == nullptr) return std::nullopt;
  GangView v;
  v.min_member = g->ref.min_member;
  v.live = Live(*g);
  v.waiting = static_cast<int>(Waiting(*g).size());
  v.backoff_until = g->backoff_until;
  v.last_release = g->last_release;
  for (const auto& [node, slots] : g->plan) v.planned_nodes.push_back(node.str());
  std::sort(v.planned_nodes.begin(), v.planned_nodes.end());
  return v;
}

// ---------------------------------------------------------------------------------------------
// Extension points.

bool GangPlugin::Less(const PodInfo& a, const PodInfo& b) const {
  if (a.priority != b.priority) return a.priority > b.priority;
  // A gang's place in the queue is its oldest member's, so all members sort together.
  auto group_time = [this](const PodInfo& p) {
    if (!p.gang) return p.created;
    const Gang* g = Find(p.gang->id);
    return g == nullptr ? p.created : std::min(g->created, p.created);
  };
  const absl::Time ta = group_time(a), tb = group_time(b);
  if (ta != tb) return ta < tb;
  const std::string& ga = a.gang ? a.gang->id.str() : a.uid.str();
  const std::string& gb = b.gang ? b.gang->id.str() : b.uid.str();
  if (ga != gb) return ga < gb;
  if (a.created != b.created) return a.created < b.created;
  return a.uid < b.uid;
}

void GangPlugin::Sweep() {
  const absl::Time now = handle_.clock().Now();
  for (auto it = gangs_.begin(); it != gangs_.end();) {
    Gang& g = it->second;
    if (Live(g) == 0 && g.backoff_until <= now) {
      gangs_.erase(it++);
    } else {
      ++it;
    }
  }
}

Status GangPlugin::PreFilter(framework::CycleState&, const PodInfo& pod,
                             framework::PreFilterResult& result) {
  if (++prefilter_calls_ % kSweepEvery == 0) Sweep();
  if (!pod.gang) return Status::Success();
  Gang& g = Touch(pod);
  const absl::Time now = handle_.clock().Now();
  if (now < g.backoff_until) {
    return Status::Unschedulable(absl::StrCat("gang ", g.id.str(), " is backing off until ",
                                              Describe(g.backoff_until), " after: ",
                                              g.last_release));
  }
  if (Status s = AdmitMinResources(g); !s.ok()) return s;
  auto it = pod.annotations.find(kGangTopologyAnnotation);
  if (it == pod.annotations.end()) return Status::Success();
  if (!ValidLevel(it->second)) {
    return Status::UnschedulableAndUnresolvable(
        absl::StrCat("annotation ", kGangTopologyAnnotation, ": \"", it->second,
                     "\" is not one of any, nvlink-domain, rack, block, zone"));
  }
  bool have_slots = false;
  for (const auto& [node, slots] : g.plan) have_slots = have_slots || slots > 0;
  if (!have_slots || g.plan_level != it->second) {
    if (Status s = Plan(g, pod, it->second); !s.ok()) {
      // Members already waiting cannot be joined by the rest: let them go now, not at the timeout.
      if (!Waiting(g).empty() && Live(g) < g.ref.min_member) {
        Release(g, absl::StrCat("gang ", g.id.str(), " released: ", s.Message()), "unschedulable");
      }
      return s;
    }
  }
  std::vector<NodeId> nodes;
  for (const auto& [node, slots] : g.plan) {
    if (slots > 0) nodes.push_back(node);
  }
  std::sort(nodes.begin(), nodes.end());
  result.nodes = std::move(nodes);
  return Status::Success();
}

Status GangPlugin::AdmitMinResources(Gang& g) {
  const framework::PodResources& min = g.ref.min_resources;
  if (min == framework::PodResources{} || Live(g) > 0) return Status::Success();
  // A new attempt starts only when the whole group could be served: what scheduler-plugins'
  // coscheduling checks in PreFilter, against the free capacity of schedulable nodes.
  int64_t cpu = 0, memory = 0;
  int gpus = 0;
  for (const NodeInfo* n : handle_.snapshot().Nodes()) {
    if (n->spec().unschedulable) continue;
    cpu += n->cpu_free().value();
    memory += n->memory_free().value();
    gpus += n->fully_free_gpus();
  }
  const int want_gpus = min.gpu.whole() ? min.gpu.count : 0;
  std::string missing;
  if (cpu < min.cpu.value()) absl::StrAppend(&missing, " cpu ", min.cpu.value(), "m (", cpu, "m free)");
  if (memory < min.memory.value()) {
    absl::StrAppend(&missing, " memory ", min.memory.value(), " bytes (", memory, " free)");
  }
  if (gpus < want_gpus) absl::StrAppend(&missing, " GPUs ", want_gpus, " (", gpus, " free)");
  if (missing.empty()) return Status::Success();
  return Status::Unschedulable(
      absl::StrCat("gang ", g.id.str(), ": PodGroup minResources not free:", missing));
}

Status GangPlugin::Plan(Gang& g, const PodInfo& pod, const std::string& level) {
  g.plan.clear();
  g.plan_level = level;
  const std::vector<const NodeInfo*>& nodes = handle_.snapshot().Nodes();
  std::vector<topology::ClusterTopology::NodeLabels> labels;
  labels.reserve(nodes.size());
  for (const NodeInfo* n : nodes) labels.emplace_back(n->name().str(), n->spec().labels);
  const topology::ClusterTopology topo = topology::ClusterTopology::FromLabels(labels);

  // Members already placed pin the group: later members go where they are.
  const int live = Live(g);
  std::string pinned_group;
  topology::Level pin_level = topology::Level::kCluster;
  if (live > 0 && level != "any") {
    for (topology::Level l : {topology::Level::kNvlinkDomain, topology::Level::kRack,
                              topology::Level::kBlock, topology::Level::kZone}) {
      if (topology::LevelName(l) == level) pin_level = l;
    }
    handle_.snapshot().ForEachGangMember(g.id, [&](const framework::PlacedPod& p) {
      if (pinned_group.empty()) pinned_group = topo.GroupOf(p.node.str(), pin_level);
    });
  }
  std::vector<topology::NodeCapacity> caps;
  const int wanted = std::max(g.ref.min_member, g.ref.total_member);
  for (const NodeInfo* n : nodes) {
    if (!pinned_group.empty() && topo.GroupOf(n->name().str(), pin_level) != pinned_group) {
      continue;
    }
    const int slots = CountFits(*n, pod, wanted);
    if (slots > 0) caps.push_back({n->name().str(), slots});
  }
  // The whole gang if it fits together, else the members the quorum still needs.
  absl::StatusOr<topology::MultiNodeChoice> choice =
      topology::ChooseNodes(topo, caps, std::max(1, wanted - live), level);
  if (!choice.ok() && g.ref.min_member - live > 0 && g.ref.min_member < wanted) {
    choice = topology::ChooseNodes(topo, caps, g.ref.min_member - live, level);
  }
  if (!choice.ok()) {
    return Status::Unschedulable(absl::StrCat("gang ", g.id.str(), " (", kGangTopologyAnnotation,
                                              "=", level, "): ", choice.status().message()));
  }
  for (const auto& [node, members] : choice->placement) g.plan[NodeId(node)] = members;
  return Status::Success();
}

Status GangPlugin::Reserve(framework::CycleState& state, const PodInfo& pod,
                           const NodeInfo& node) {
  Gang* g = Find(pod);
  if (g == nullptr) return Status::Success();
  state.Write(kReservedKey, std::make_unique<Reserved>());
  if (auto it = g->plan.find(node.name()); it != g->plan.end()) --it->second;
  return Status::Success();
}

void GangPlugin::Unreserve(framework::CycleState& state, const PodInfo& pod,
                           const NodeId& node) {
  Gang* g = Find(pod);
  if (g == nullptr || !state.Contains(kReservedKey)) return;
  state.Erase(kReservedKey);
  if (auto it = g->plan.find(node); it != g->plan.end()) ++it->second;
  // Rejected by the gang's own Release: the attempt is already over and its reason recorded.
  if (g->releasing.erase(pod.uid)) return;
  // A member of a gang that has not reached its quorum is gone (timeout, rejection, a failed
  // bind) while others wait: the attempt cannot complete, so nobody keeps a partial hold.
  const int live = Live(*g, &pod.uid);
  if (live >= g->ref.min_member || Waiting(*g).empty()) return;
  const bool timed_out = handle_.clock().Now() >= Deadline(*g);
  const std::string reason =
      timed_out ? absl::StrCat("gang ", g->id.str(), " released: timed out with ", live + 1,
                               " of ", g->ref.min_member, " members placed")
                : absl::StrCat("gang ", g->id.str(), " released: member ", pod.FullName(),
                               " lost its reservation with ", live + 1, " of ",
                               g->ref.min_member, " members placed");
  Release(*g, reason, timed_out ? "timeout" : "member_lost");
}

Status GangPlugin::Permit(framework::CycleState&, const PodInfo& pod, const NodeId&,
                          absl::Duration& timeout) {
  Gang* g = Find(pod);
  if (g == nullptr) return Status::Success();
  const int live = Live(*g);
  if (live >= g->ref.min_member) {
    for (const PodUid& uid : Waiting(*g)) handle_.waiting_pods().Allow(uid, kName);
    if (g->attempt_start != absl::InfiniteFuture()) {
      handle_.metrics()
          .GetHistogram("gpusched_gang_quorum_wait_seconds",
                        "Time from the first member's reservation to the gang's quorum.", {},
                        metrics::ExponentialBuckets(0.001, 4, 12))
          .Observe(absl::ToDoubleSeconds(handle_.clock().Now() - g->attempt_start));
    }
    g->attempt_start = absl::InfiniteFuture();
    Count("gpusched_gang_permitted_total", "Gang members allowed to bind.");
    return Status::Success();
  }
  const absl::Time now = handle_.clock().Now();
  if (Waiting(*g).empty()) g->attempt_start = now;
  const absl::Time deadline = Deadline(*g);
  if (deadline <= now) {
    return Status::Unschedulable(absl::StrCat("gang ", g->id.str(), " timed out waiting for ",
                                              g->ref.min_member, " members"));
  }
  timeout = deadline - now;
  return Status::Wait();
}

// ---------------------------------------------------------------------------------------------
// PostFilter: order, preemption, release.

Status GangPlugin::PostFilter(framework::CycleState&, const PodInfo& pod,
                              const std::vector<framework::NodeVerdict>& verdicts,
                              framework::PostFilterResult& result) {
  Gang* g = Find(pod);
  if (g == nullptr) return Status::Unschedulable("not a gang member");
  const int live = Live(*g);
  if (live >= g->ref.min_member) {
    // An elastic extra after the quorum: nothing is held for it, nothing to undo.
    return Status::Unschedulable("gang quorum already met; extra member waits for capacity");
  }
  // 1. Reservations of later gangs give way to an earlier one, unless every node refused the
  //    member for good (selector, model, size): then freeing capacity would not help.
  bool resolvable = false;
  for (const framework::NodeVerdict& v : verdicts) {
    resolvable = resolvable || v.status.code() == framework::Code::kUnschedulable;
  }
  if (resolvable && ReleaseLaterGangs(*g) > 0) {
    result.nominated_node = verdicts.front().node->name();
    return Status::Success();
  }
  // 2. Preempt whole lower-priority gangs.
  if (args_.preemption && handle_.evictor() != nullptr) {
    if (std::optional<NodeId> node = Preempt(*g, pod, g->ref.min_member - live)) {
      g->plan.clear();  // capacity moved: the next member plans again
      result.nominated_node = *node;
      return Status::Success();
    }
  }
  // 3. Give up this attempt: nothing stays held.
  Release(*g, absl::StrCat("gang ", g->id.str(), " released: member ", pod.FullName(),
                           " fits no node with ", live, " of ", g->ref.min_member,
                           " members placed"),
          "unschedulable");
  return Status::Unschedulable("gang released its reservations");
}

int GangPlugin::ReleaseLaterGangs(const Gang& g) {
  std::vector<Gang*> later;
  for (auto& [id, other] : gangs_) {
    if (&other == &g || !Before(g, other) || Waiting(other).empty()) continue;
    if (Live(other) >= other.ref.min_member) continue;  // permitted: binding, not ours to take
    later.push_back(&other);
  }
  std::sort(later.begin(), later.end(), [](const Gang* a, const Gang* b) { return a->id < b->id; });
  int released = 0;
  for (Gang* other : later) {
    released += Release(*other,
                        absl::StrCat("gang ", other->id.str(), " gave way to gang ", g.id.str(),
                                     " (earlier by priority, then age)"),
                        "yielded");
  }
  return released;
}

std::optional<NodeId> GangPlugin::Preempt(const Gang& g, const PodInfo& pod, int needed) {
  // Victim groups: whole gangs, or single pods, all of lower priority than the preemptor.
  struct Group {
    int32_t priority = std::numeric_limits<int32_t>::max();
    absl::Time created = absl::InfinitePast();
    std::string key;
    std::vector<const framework::PlacedPod*> pods;
    bool protected_ = false;  // some member has priority >= the preemptor's
  };
  absl::flat_hash_map<std::string, Group> groups;
  handle_.snapshot().ForEachPod([&](const framework::PlacedPod& p) {
    if (p.pod.gang && p.pod.gang->id == g.id) return;
    const std::string key = p.pod.gang ? "gang:" + p.pod.gang->id.str() : "pod:" + p.pod.uid.str();
    Group& grp = groups[key];
    grp.key = key;
    grp.priority = std::min(grp.priority, p.pod.priority);
    grp.created = std::max(grp.created, p.pod.created);
    grp.protected_ = grp.protected_ || p.pod.priority >= pod.priority;
    grp.pods.push_back(&p);
  });
  std::vector<Group*> order;
  for (auto& [key, grp] : groups) {
    if (!grp.protected_) order.push_back(&grp);
  }
  if (order.empty()) return std::nullopt;
  std::sort(order.begin(), order.end(), [](const Group* a, const Group* b) {
    if (a->priority != b->priority) return a->priority < b->priority;
    if (a->created != b->created) return a->created > b->created;  // youngest first
    return a->key < b->key;
  });

  // Remove victims on copies of their nodes until `needed` members fit.
  int total = 0;
  for (const NodeInfo* n : handle_.snapshot().Nodes()) total += CountFits(*n, pod, needed);
  absl::flat_hash_map<NodeId, NodeInfo> copies;
  absl::flat_hash_map<NodeId, int> slots;
  std::vector<const Group*> chosen;
  auto slots_of = [&](const NodeId& node, const NodeInfo& live) {
    auto [it, inserted] = slots.try_emplace(node, 0);
    if (inserted) it->second = CountFits(live, pod, needed);
    return it->second;
  };
  for (const Group* grp : order) {
    if (total >= needed) break;
    // Try the group on copies of the nodes it touches; keep it only if it makes room here (a
    // group on nodes this gang cannot use is never evicted).
    absl::flat_hash_map<NodeId, NodeInfo> trial;
    for (const framework::PlacedPod* p : grp->pods) {
      auto it = trial.find(p->node);
      if (it == trial.end()) {
        const NodeInfo* live = handle_.snapshot().FindNode(p->node);
        if (live == nullptr) continue;
        auto copy = copies.find(p->node);
        it = trial.emplace(p->node, copy != copies.end() ? copy->second : *live).first;
      }
      (void)it->second.RemovePod(p->pod.requests, p->gpus);
    }
    int delta = 0;
    for (const auto& [node, info] : trial) {
      delta += CountFits(info, pod, needed) - slots_of(node, *handle_.snapshot().FindNode(node));
    }
    if (delta <= 0) continue;
    for (auto& [node, info] : trial) {
      slots[node] = CountFits(info, pod, needed);
      copies.insert_or_assign(node, std::move(info));
    }
    total += delta;
    chosen.push_back(grp);
  }
  if (total < needed) return std::nullopt;

  std::optional<NodeId> best;
  int best_slots = -1;
  for (const auto& [node, n] : slots) {
    if (n > best_slots || (n == best_slots && node < *best)) best = node, best_slots = n;
  }
  const std::string reason =
      absl::StrCat("preempted by gang ", g.id.str(), " (priority ", pod.priority, ")");
  // Copy the victims first: evicting drops their records from the model.
  std::vector<PodInfo> victims;
  for (const Group* grp : chosen) {
    for (const framework::PlacedPod* p : grp->pods) victims.push_back(p->pod);
    Count("gpusched_gang_preemptions_total", "Whole groups (gangs or single pods) preempted.");
  }
  for (const PodInfo& victim : victims) {
    if (handle_.waiting_pods().IsWaiting(victim.uid)) {
      handle_.waiting_pods().Reject(victim.uid, kName, reason);
    } else if (!handle_.evictor()->Evict(victim, reason).ok()) {
      Count("gpusched_gang_eviction_failures_total", "Evictions the Evictor refused.");
    }
  }
  return best;
}

}  // namespace gpusched::plugins::gang
