#include "scheduler/runtime/framework.h"

#include <algorithm>
#include <atomic>
#include <deque>
#include <iterator>
#include <map>
#include <mutex>
#include <thread>

#include "absl/random/distributions.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/container/flat_hash_set.h"
#include "common/status_macros.h"

namespace gpusched::runtime {

using framework::Code;
using framework::NodeScore;
using framework::NodeScoreList;
using framework::NodeVerdict;
using framework::Status;

namespace {

constexpr absl::Duration kMaxPermitWait = absl::Minutes(15);  // as kube-scheduler caps it

// Passes over thousands of nodes are bound by memory, not by the plugins' arithmetic: each
// node's hot fields sit in the first two cache lines of its NodeInfo (node_info.h), which the
// loops below ask for a few nodes ahead of the plugins.
constexpr size_t kPrefetchAhead = 8;
inline void PrefetchNode(const NodeInfo* node) {
  if (node == nullptr) return;
  __builtin_prefetch(node);
  __builtin_prefetch(reinterpret_cast<const char*>(node) + 64);
}

// Which Filter plugins PreFilter told to skip for this pod (index into filter_): per cycle, so
// it lives in the cycle's state, never in the Framework.
struct FilterSkips final : framework::StateData {
  std::vector<bool> skipped;
  std::unique_ptr<StateData> Clone() const override { return std::make_unique<FilterSkips>(*this); }
};
constexpr framework::StateKey<FilterSkips> kFilterSkipsKey{"framework/filter-skips"};

std::string_view ResultLabel(const Status& s) {
  switch (s.code()) {
    case Code::kSuccess: return "scheduled";
    case Code::kWait: return "waiting";
    case Code::kUnschedulable:
    case Code::kUnschedulableAndUnresolvable: return "unschedulable";
    default: return "error";
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Handle and WaitingPods.

class Framework::HandleImpl final : public framework::Handle {
 public:
  HandleImpl(Framework& fw) : fw_(fw) {}
  Clock& clock() override { return fw_.deps_.clock; }
  absl::BitGenRef rng() override { return fw_.deps_.rng; }
  const framework::ClusterSnapshot& snapshot() const override {
    return fw_.deps_.cache != nullptr ? *fw_.deps_.cache : no_model_;
  }
  metrics::MetricsScope& metrics() override { return fw_.deps_.metrics; }
  framework::WaitingPods& waiting_pods() override { return fw_.waiting_pods(); }
  framework::Binder& binder() override { return fw_.deps_.binder; }
  framework::Evictor* evictor() override { return fw_.deps_.evictor; }
  void ParallelFor(size_t n, size_t chunk, absl::FunctionRef<void(size_t, size_t)> fn) override {
    fw_.parallelizer_->For(n, chunk, fn);
  }

 private:
  Framework& fw_;
  const cache::ClusterCache no_model_;  // for frameworks without an owner's model
};

class Framework::WaitingPodsImpl final : public framework::WaitingPods {
 public:
  struct Entry {
    PodInfo pod;
    std::unique_ptr<CycleState> state;
    ScheduleResult result;
    std::vector<std::string> pending;  // plugins still holding the pod
    Clock::TimerId timer = 0;
    // Set by Reject: a rejection wins over an Allow queued before it (a gang releasing its
    // members must release them even when the quorum had just allowed them).
    std::optional<std::string> rejected;
  };
  struct Decision {
    PodUid uid;
    bool allow = false;
    std::string reason;
  };

  explicit WaitingPodsImpl(Framework& fw) : fw_(fw) {}
  // A Framework destroyed (or rebuilt for a new profile) while pods wait: their timers must not
  // fire into it afterwards.
  ~WaitingPodsImpl() override {
    for (const auto& [uid, e] : entries_) fw_.deps_.clock.Cancel(e.timer);
  }

  void Add(const PodInfo& pod, std::unique_ptr<CycleState> state, ScheduleResult result,
           std::vector<std::string> pending, absl::Duration timeout) {
    const PodUid uid = pod.uid;
    const std::string who = absl::StrJoin(pending, ", ");
    Entry e{pod, std::move(state), std::move(result), std::move(pending), 0, std::nullopt};
    e.timer = fw_.deps_.clock.ScheduleAfter(timeout, [this, uid, timeout, who] {
      Queue(Decision{uid, false,
                     absl::StrCat("timed out after ", absl::FormatDuration(timeout),
                                  " waiting for permit from ", who)});
    });
    entries_.emplace(uid, std::move(e));
  }

  bool Allow(const PodUid& uid, std::string_view plugin) override {
    auto it = entries_.find(uid);
    if (it == entries_.end()) return false;
    auto& pending = it->second.pending;
    auto p = std::find(pending.begin(), pending.end(), plugin);
    if (p == pending.end()) return false;
    pending.erase(p);
    if (pending.empty()) Queue(Decision{uid, true, ""});
    return true;
  }

  bool Reject(const PodUid& uid, std::string_view plugin, std::string_view reason) override {
    auto it = entries_.find(uid);
    if (it == entries_.end()) return false;
    std::string why = absl::StrCat("rejected by ", std::string(plugin), ": ", std::string(reason));
    if (!it->second.rejected) it->second.rejected = why;
    Queue(Decision{uid, false, std::move(why)});
    return true;
  }

  bool IsWaiting(const PodUid& uid) const override { return entries_.contains(uid); }

  std::vector<PodUid> List() const override {
    std::vector<PodUid> out;
    for (const auto& [uid, e] : entries_) out.push_back(uid);
    return out;
  }

  // Decisions are applied outside scheduling cycles, so a Permit plugin that allows other pods
  // never re-enters the cycle it runs in; decisions made while others are applied (a gang's
  // Unreserve rejecting its siblings) join the running drain instead of recursing.
  void Queue(Decision d) {
    decisions_.push_back(std::move(d));
    if (!fw_.in_cycle_ && !fw_.draining_) fw_.DrainWaitingDecisions();
  }

  // Removes and returns any waiting pod (its timer cancelled), or nullopt when none waits.
  std::optional<Entry> TakeAny() {
    if (entries_.empty()) return std::nullopt;
    Entry e = std::move(entries_.begin()->second);
    entries_.erase(entries_.begin());
    fw_.deps_.clock.Cancel(e.timer);
    return e;
  }

  std::optional<std::pair<Decision, Entry>> PopDecision() {
    while (!decisions_.empty()) {
      Decision d = std::move(decisions_.front());
      decisions_.pop_front();
      auto it = entries_.find(d.uid);
      if (it == entries_.end()) continue;  // already decided
      Entry e = std::move(it->second);
      entries_.erase(it);
      fw_.deps_.clock.Cancel(e.timer);
      if (e.rejected) {
        d.allow = false;
        d.reason = *e.rejected;
      }
      return std::make_pair(std::move(d), std::move(e));
    }
    return std::nullopt;
  }

 private:
  Framework& fw_;
  std::map<PodUid, Entry> entries_;  // ordered: List() is deterministic
  std::deque<Decision> decisions_;
};

// ---------------------------------------------------------------------------------------------
// Construction.

Framework::Framework(std::string profile_name, FrameworkDeps deps, FrameworkOptions options)
    : profile_name_(std::move(profile_name)),
      deps_(deps),
      options_(options),
      handle_(std::make_unique<HandleImpl>(*this)),
      waiting_(std::make_unique<WaitingPodsImpl>(*this)) {
  int parallelism = options.parallelism;
  if (parallelism <= 0) {
    parallelism = std::clamp(static_cast<int>(std::thread::hardware_concurrency()), 1, 16);
  }
  parallelizer_ = std::make_unique<Parallelizer>(parallelism);
}

Framework::~Framework() {
  // Pods still waiting on Permit hold reservations in the owner's model: release them, so a
  // profile reload leaves nothing behind. Decisions their release causes are not drained.
  draining_ = true;
  while (std::optional<WaitingPodsImpl::Entry> e = waiting_->TakeAny()) {
    (void)Abort(*e->state, e->pod, std::move(e->result),
                Status::Unschedulable("the scheduling framework was shut down"));
  }
}

framework::WaitingPods& Framework::waiting_pods() { return *waiting_; }

framework::Plugin* Framework::FindPlugin(std::string_view name) const {
  for (const auto& p : plugins_) {
    if (p->Name() == name) return p.get();
  }
  return nullptr;
}
framework::Handle& Framework::handle() { return *handle_; }

absl::StatusOr<std::unique_ptr<Framework>> Framework::Create(const framework::Registry& registry,
                                                             const Profile& profile,
                                                             FrameworkDeps deps,
                                                             FrameworkOptions options) {
  std::unique_ptr<Framework> fw(new Framework(profile.name, deps, options));
  for (size_t i = 0; i < profile.plugins.size(); ++i) {
    const PluginConfig& pc = profile.plugins[i];
    const std::string where =
        absl::StrCat(pc.location.empty() ? "" : absl::StrCat(pc.location, ": "), "profile \"",
                     profile.name, "\": plugins[", i, "] (", pc.name, ")");
    const framework::PluginFactory* factory = registry.Find(pc.name);
    if (factory == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": unknown plugin (registered: ",
                                                     absl::StrJoin(registry.Names(), ", "), ")"));
    }
    absl::StatusOr<std::unique_ptr<framework::Plugin>> made = (*factory)(pc.args, *fw->handle_);
    if (!made.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": ", made.status().message()));
    }
    framework::Plugin* p = made->get();
    if (p->Name() != pc.name) {
      return absl::InternalError(absl::StrCat(where, ": factory built a plugin named \"",
                                              std::string(p->Name()), "\""));
    }
    fw->plugins_.push_back(*std::move(made));
    // Which points to use: all the plugin implements, or those the profile names.
    static constexpr std::string_view kPoints[] = {
        "QueueSort", "PreFilter", "Filter", "PostFilter", "PreScore", "Score",
        "Reserve",   "Permit",    "PreBind", "Bind",     "PostBind"};
    auto implements = [p](std::string_view point) -> bool {
      if (point == "QueueSort") return dynamic_cast<framework::QueueSortPlugin*>(p) != nullptr;
      if (point == "PreFilter") return dynamic_cast<framework::PreFilterPlugin*>(p) != nullptr;
      if (point == "Filter") return dynamic_cast<framework::FilterPlugin*>(p) != nullptr;
      if (point == "PostFilter") return dynamic_cast<framework::PostFilterPlugin*>(p) != nullptr;
      if (point == "PreScore") return dynamic_cast<framework::PreScorePlugin*>(p) != nullptr;
      if (point == "Score") return dynamic_cast<framework::ScorePlugin*>(p) != nullptr;
      if (point == "Reserve") return dynamic_cast<framework::ReservePlugin*>(p) != nullptr;
      if (point == "Permit") return dynamic_cast<framework::PermitPlugin*>(p) != nullptr;
      if (point == "PreBind") return dynamic_cast<framework::PreBindPlugin*>(p) != nullptr;
      if (point == "Bind") return dynamic_cast<framework::BindPlugin*>(p) != nullptr;
      return dynamic_cast<framework::PostBindPlugin*>(p) != nullptr;
    };
    for (const std::string& point : pc.points) {
      if (std::find(std::begin(kPoints), std::end(kPoints), point) == std::end(kPoints)) {
        return absl::InvalidArgumentError(absl::StrCat(
            where, ": points: unknown extension point \"", point, "\" (known: ",
            absl::StrJoin(kPoints, ", ", [](std::string* out, std::string_view v) {
              out->append(v.data(), v.size());
            }),
            ")"));
      }
      if (!implements(point)) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": points: the plugin has no ", point, " extension point"));
      }
    }
    auto use = [&](std::string_view point) {
      return implements(point) &&
             (pc.points.empty() ||
              std::find(pc.points.begin(), pc.points.end(), point) != pc.points.end());
    };
    if (use("QueueSort")) {
      auto* q = dynamic_cast<framework::QueueSortPlugin*>(p);
      if (fw->queue_sort_ != nullptr) {
        return absl::InvalidArgumentError(absl::StrCat(
            where, ": a second QueueSort plugin (", std::string(fw->queue_sort_->Name()),
            " is the first)"));
      }
      fw->queue_sort_ = q;
    }
    if (use("PreFilter")) fw->pre_filter_.push_back(dynamic_cast<framework::PreFilterPlugin*>(p));
    if (use("Filter")) fw->filter_.push_back(dynamic_cast<framework::FilterPlugin*>(p));
    if (use("PostFilter")) {
      fw->post_filter_.push_back(dynamic_cast<framework::PostFilterPlugin*>(p));
    }
    if (use("PreScore")) fw->pre_score_.push_back(dynamic_cast<framework::PreScorePlugin*>(p));
    if (use("Score")) {
      fw->score_.push_back(
          ScorePluginEntry{dynamic_cast<framework::ScorePlugin*>(p), pc.weight.value_or(1)});
    } else if (pc.weight.has_value()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": weight: the plugin has no Score extension point in use"));
    }
    if (use("Reserve")) fw->reserve_.push_back(dynamic_cast<framework::ReservePlugin*>(p));
    if (use("Permit")) fw->permit_.push_back(dynamic_cast<framework::PermitPlugin*>(p));
    if (use("PreBind")) fw->pre_bind_.push_back(dynamic_cast<framework::PreBindPlugin*>(p));
    if (use("Bind")) fw->bind_.push_back(dynamic_cast<framework::BindPlugin*>(p));
    if (use("PostBind")) fw->post_bind_.push_back(dynamic_cast<framework::PostBindPlugin*>(p));
  }
  if (fw->bind_.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "profile \"", profile.name, "\": no Bind plugin (add DefaultBinder to plugins)"));
  }
  return fw;
}

// ---------------------------------------------------------------------------------------------
// Metrics.

void Framework::Record(std::string_view point, const Status& status, absl::Time start) {
  const std::string_view code = framework::CodeName(status.code());
  const std::string key = absl::StrCat(std::string(point), "|", std::string(code));
  MutexLock l(&metrics_mu_);
  auto it = histograms_.find(key);
  if (it == histograms_.end()) {
    metrics::Histogram& h = deps_.metrics.GetHistogram(
        "gpusched_framework_extension_point_duration_seconds",
        "Time to run one extension point of one scheduling cycle.",
        {{"profile", profile_name_}, {"extension_point", std::string(point)},
         {"status", std::string(code)}},
        metrics::ExponentialBuckets(1e-6, 2, 22));
    it = histograms_.emplace(key, &h).first;
  }
  it->second->Observe(absl::ToDoubleSeconds(Now() - start));
}

void Framework::RecordPlugin(std::string_view plugin, std::string_view point,
                             std::string_view status, absl::Duration d) {
  const std::string key = absl::StrCat("p|", std::string(plugin), "|", std::string(point), "|",
                                      std::string(status));
  MutexLock l(&metrics_mu_);
  auto it = histograms_.find(key);
  if (it == histograms_.end()) {
    metrics::Histogram& h = deps_.metrics.GetHistogram(
        "gpusched_plugin_execution_duration_seconds",
        "Time a plugin spent at an extension point in one scheduling cycle (all nodes for "
        "Filter and Score).",
        {{"plugin", std::string(plugin)}, {"extension_point", std::string(point)},
         {"status", std::string(status)}},
        metrics::ExponentialBuckets(1e-6, 2, 22));
    it = histograms_.emplace(key, &h).first;
  }
  it->second->Observe(absl::ToDoubleSeconds(d));
}

void Framework::CountAttempt(const ScheduleResult& r) {
  const std::string_view result = ResultLabel(r.status);
  MutexLock l(&metrics_mu_);
  auto it = counters_.find(std::string(result));
  if (it == counters_.end()) {
    metrics::Counter& c = deps_.metrics.GetCounter(
        "gpusched_schedule_attempts_total", "Scheduling cycles by result.",
        {{"profile", profile_name_}, {"result", std::string(result)}});
    it = counters_.emplace(std::string(result), &c).first;
  }
  it->second->Increment();
}

// ---------------------------------------------------------------------------------------------
// Phases.

bool Framework::Less(const PodInfo& a, const PodInfo& b) const {
  if (queue_sort_ != nullptr) return queue_sort_->Less(a, b);
  if (a.priority != b.priority) return a.priority > b.priority;
  if (a.created != b.created) return a.created < b.created;
  return a.uid < b.uid;
}

Status Framework::RunPreFilter(CycleState& state, const PodInfo& pod, AllowedNodes& candidates) {
  const absl::Time start = Now();
  const framework::ClusterSnapshot& snapshot = framework::SnapshotOf(state, *handle_);
  auto skips = std::make_unique<FilterSkips>();
  skips->skipped.assign(filter_.size(), false);
  std::optional<std::vector<NodeId>> allowed;
  for (framework::PreFilterPlugin* p : pre_filter_) {
    framework::PreFilterResult result;
    const absl::Time t0 = Now();
    Status s = p->PreFilter(state, pod, result);
    RecordPlugin(p->Name(), "PreFilter", framework::CodeName(s.code()), Now() - t0);
    if (s.IsSkip()) {
      for (size_t j = 0; j < filter_.size(); ++j) {
        if (dynamic_cast<framework::Plugin*>(filter_[j]) == dynamic_cast<framework::Plugin*>(p)) {
          skips->skipped[j] = true;
        }
      }
      continue;
    }
    if (!s.ok()) {
      s.set_plugin(p->Name());
      Record("PreFilter", s, start);
      return s;
    }
    if (result.nodes.has_value()) {
      if (!allowed.has_value()) {
        allowed = std::move(result.nodes);
      } else {
        std::vector<NodeId> both;
        for (const NodeId& n : *allowed) {
          if (std::find(result.nodes->begin(), result.nodes->end(), n) != result.nodes->end()) {
            both.push_back(n);
          }
        }
        allowed = std::move(both);
      }
    }
  }
  state.Write(kFilterSkipsKey, std::move(skips));
  candidates.subset.reset();
  if (allowed.has_value()) {
    candidates.subset.emplace();
    for (const NodeId& n : *allowed) {
      if (const NodeInfo* info = snapshot.FindNode(n)) candidates.subset->push_back(info);
    }
  }
  Record("PreFilter", Status::Success(), start);
  return Status::Success();
}

Framework::FilterPass Framework::RunFilterPass(const CycleState& state, const PodInfo& pod,
                                               size_t n, ResolveRange resolve) {
  const absl::Time start = Now();
  FilterPass out;
  absl::StatusOr<const FilterSkips*> skips = state.Read(kFilterSkipsKey);
  if (!skips.ok()) {
    out.error = Status::Error("Filter ran without PreFilter (no skip set in the cycle state)");
    return out;
  }
  const std::vector<bool>& skipped = (*skips)->skipped;
  const size_t np = filter_.size();
  const size_t chunk = std::max<size_t>(options_.chunk_size, 1);
  // nodes[i] turns null once node i is rejected; each chunk keeps its own verdicts.
  std::vector<const NodeInfo*> nodes(n);
  std::vector<std::vector<NodeReason>> verdicts((n + chunk - 1) / chunk);
  std::vector<std::atomic<int64_t>> nanos(np);
  std::vector<std::atomic<bool>> errored(np);
  parallelizer_->For(n, chunk, [&](size_t begin, size_t end) {
    std::vector<NodeReason>& mine = verdicts[begin / chunk];
    // One allocation per chunk, however many nodes it rejects; the first chunk's has room for
    // every verdict, so the others are appended to it without a reallocation.
    mine.reserve(begin == 0 ? n : end - begin);
    resolve(begin, end, nodes.data(), mine);
    for (size_t p = 0; p < np; ++p) {
      if (skipped[p]) continue;
      const absl::Time t0 = Now();
      for (size_t i = begin; i < end; ++i) {
        if (i + kPrefetchAhead < end) PrefetchNode(nodes[i + kPrefetchAhead]);
        const NodeInfo* node = nodes[i];
        if (node == nullptr) continue;
        Status s = filter_[p]->Filter(state, pod, *node);
        if (s.ok()) continue;
        if (!s.IsRejection()) {
          errored[p].store(true, std::memory_order_relaxed);
          s = Status(Code::kError, {absl::StrCat("node ", node->name().str(), ": ", s.Message())});
        }
        s.set_plugin(filter_[p]->Name());
        mine.push_back({static_cast<uint32_t>(i), std::move(s)});
        nodes[i] = nullptr;
      }
      nanos[p].fetch_add(absl::ToInt64Nanoseconds(Now() - t0), std::memory_order_relaxed);
    }
    // In node order (already so when one plugin rejected them all).
    auto by_index = [](const NodeReason& a, const NodeReason& b) { return a.index < b.index; };
    if (!std::is_sorted(mine.begin(), mine.end(), by_index)) {
      std::sort(mine.begin(), mine.end(), by_index);
    }
  });
  out.feasible.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    if (nodes[i] != nullptr) out.feasible.push_back(static_cast<uint32_t>(i));
  }
  if (!verdicts.empty()) out.rejected = std::move(verdicts[0]);
  for (size_t c = 1; c < verdicts.size(); ++c) {
    std::move(verdicts[c].begin(), verdicts[c].end(), std::back_inserter(out.rejected));
  }
  const bool any_error = std::any_of(errored.begin(), errored.end(),
                                     [](const std::atomic<bool>& e) { return e.load(); });
  for (size_t i = 0; any_error && i < out.rejected.size(); ++i) {
    if (!out.rejected[i].status.IsRejection()) {
      out.error = out.rejected[i].status;
      break;
    }
  }
  for (size_t p = 0; p < np; ++p) {
    if (skipped[p]) continue;
    RecordPlugin(filter_[p]->Name(), "Filter", errored[p] ? "Error" : "Success",
                 absl::Nanoseconds(nanos[p].load()));
  }
  Record("Filter", out.error, start);
  return out;
}

Framework::FilterOutcome Framework::RunFilter(const CycleState& state, const PodInfo& pod,
                                              const std::vector<const NodeInfo*>& nodes) {
  FilterPass pass = RunFilterPass(
      state, pod, nodes.size(),
      [&](size_t begin, size_t end, const NodeInfo** out, std::vector<NodeReason>&) {
        std::copy(nodes.begin() + begin, nodes.begin() + end, out + begin);
      });
  FilterOutcome out;
  out.error = std::move(pass.error);
  out.feasible.reserve(pass.feasible.size());
  for (uint32_t i : pass.feasible) out.feasible.push_back(nodes[i]);
  out.rejected.reserve(pass.rejected.size());
  for (NodeReason& v : pass.rejected) {
    if (v.status.IsRejection()) out.rejected.push_back(NodeVerdict{nodes[v.index], std::move(v.status)});
  }
  return out;
}

absl::StatusOr<NodeScoreList> Framework::RunScore(CycleState& state, const PodInfo& pod,
                                                  const std::vector<const NodeInfo*>& feasible) {
  absl::Time start = Now();
  std::vector<bool> score_skipped(score_.size(), false);
  for (framework::PreScorePlugin* p : pre_score_) {
    const absl::Time t0 = Now();
    Status s = p->PreScore(state, pod, feasible);
    RecordPlugin(p->Name(), "PreScore", framework::CodeName(s.code()), Now() - t0);
    if (s.IsSkip()) {
      for (size_t j = 0; j < score_.size(); ++j) {
        if (dynamic_cast<framework::Plugin*>(score_[j].plugin) ==
            dynamic_cast<framework::Plugin*>(p)) {
          score_skipped[j] = true;
        }
      }
      continue;
    }
    if (!s.ok()) {
      Record("PreScore", s, start);
      return absl::InternalError(absl::StrCat("PreScore plugin ", std::string(p->Name()), ": ", s.Message()));
    }
  }
  Record("PreScore", Status::Success(), start);

  start = Now();
  const size_t n = feasible.size();
  const size_t np = score_.size();
  std::vector<NodeScoreList> per_plugin(np, NodeScoreList(n));
  std::vector<std::atomic<int64_t>> nanos(np);
  std::mutex error_mu;
  std::string error;  // guarded by error_mu; the first failure
  parallelizer_->For(n, options_.chunk_size, [&](size_t begin, size_t end) {
    for (size_t i = begin; i < end; ++i) PrefetchNode(feasible[i]);
    for (size_t p = 0; p < np; ++p) {
      if (score_skipped[p]) continue;
      const absl::Time t0 = Now();
      NodeScoreList& slots = per_plugin[p];
      for (size_t i = begin; i < end; ++i) slots[i].node = feasible[i];
      Status s = score_[p].plugin->ScoreRange(state, pod, feasible, begin, end, slots);
      if (!s.ok()) {
        std::lock_guard<std::mutex> lock(error_mu);
        if (error.empty()) {
          error = absl::StrCat("Score plugin ", std::string(score_[p].plugin->Name()), ": ",
                               s.Message());
        }
      }
      nanos[p].fetch_add(absl::ToInt64Nanoseconds(Now() - t0), std::memory_order_relaxed);
    }
  });
  for (size_t p = 0; p < np; ++p) {
    if (score_skipped[p]) continue;
    RecordPlugin(score_[p].plugin->Name(), "Score", error.empty() ? "Success" : "Error",
                 absl::Nanoseconds(nanos[p].load()));
  }
  if (!error.empty()) {
    Record("Score", Status::Error(error), start);
    return absl::InternalError(error);
  }

  NodeScoreList total(n);
  for (size_t i = 0; i < n; ++i) total[i].node = feasible[i];
  for (size_t p = 0; p < np; ++p) {
    if (score_skipped[p]) continue;
    const framework::ScorePlugin* plugin = score_[p].plugin;
    Status s = plugin->NormalizeScore(state, pod, per_plugin[p]);
    if (!s.ok()) {
      Record("Score", Status::Error(s.Message()), start);
      return absl::InternalError(
          absl::StrCat("NormalizeScore of plugin ", std::string(plugin->Name()), ": ", s.Message()));
    }
    for (size_t i = 0; i < n; ++i) {
      const int64_t v = per_plugin[p][i].score;
      if (v < framework::kMinNodeScore || v > framework::kMaxNodeScore) {
        const std::string msg = absl::StrCat(
            "plugin ", std::string(plugin->Name()), " scored node ", feasible[i]->name().str(), " ", v,
            ", outside [", framework::kMinNodeScore, ", ", framework::kMaxNodeScore, "]");
        Record("Score", Status::Error(msg), start);
        return absl::InternalError(msg);
      }
      total[i].score += v * score_[p].weight;
    }
  }
  Record("Score", Status::Success(), start);
  return total;
}

const NodeInfo* Framework::SelectHost(const NodeScoreList& scores, int64_t& best_score) {
  // The highest score wins; ties are broken uniformly at random by reservoir sampling, as
  // kube-scheduler's selectHost does, with the injected random source.
  const NodeInfo* best = nullptr;
  int64_t ties = 0;
  for (const NodeScore& s : scores) {
    if (best == nullptr || s.score > best_score) {
      best = s.node;
      best_score = s.score;
      ties = 1;
    } else if (s.score == best_score &&
               options_.tie_break == FrameworkOptions::TieBreak::kRandom) {
      ++ties;
      if (absl::Uniform<int64_t>(deps_.rng, 0, ties) == 0) best = s.node;
    }
  }
  return best;
}

ScheduleResult Framework::Reject(ScheduleResult r, const std::vector<NodeVerdict>& verdicts,
                                 size_t evaluated) {
  bool all_unresolvable = !verdicts.empty();
  for (const NodeVerdict& v : verdicts) {
    for (size_t i = 0; i < v.status.reason_count(); ++i) {
      ++r.rejections[std::string(v.status.reason(i))];
    }
    if (v.status.code() != Code::kUnschedulableAndUnresolvable) all_unresolvable = false;
  }
  r.nodes_evaluated = evaluated;
  r.status = Status(all_unresolvable ? Code::kUnschedulableAndUnresolvable : Code::kUnschedulable,
                    {r.Explain()});
  return r;
}

void Framework::Unreserve(CycleState& state, const PodInfo& pod, const NodeId& node) {
  const absl::Time start = Now();
  for (auto it = reserve_.rbegin(); it != reserve_.rend(); ++it) {
    (*it)->Unreserve(state, pod, node);
  }
  Record("Unreserve", Status::Success(), start);
}

ScheduleResult Framework::Abort(CycleState& state, const PodInfo& pod, ScheduleResult r,
                                Status why) {
  Unreserve(state, pod, r.node);
  const cache::PodRecord* rec = deps_.cache->FindPod(pod.uid);
  if (rec != nullptr && rec->state == cache::PodState::kAssumed) {
    (void)deps_.cache->Forget(pod.uid);  // cannot fail: the pod is assumed
  }
  r.status = std::move(why);
  return r;
}

Status Framework::BindReserved(CycleState& state, const PodInfo& pod, const NodeId& node) {
  absl::Time start = Now();
  for (framework::PreBindPlugin* p : pre_bind_) {
    Status s = p->PreBind(state, pod, node);
    if (!s.ok()) {
      s.set_plugin(p->Name());
      Record("PreBind", s, start);
      return s;
    }
  }
  Record("PreBind", Status::Success(), start);
  start = Now();
  for (framework::BindPlugin* p : bind_) {
    Status s = p->Bind(state, pod, node);
    if (s.IsSkip()) continue;
    if (!s.ok()) s.set_plugin(p->Name());
    Record("Bind", s, start);
    return s;
  }
  Status s = Status::Error("every Bind plugin skipped the pod");
  Record("Bind", s, start);
  return s;
}

void Framework::PostBind(CycleState& state, const PodInfo& pod, const NodeId& node) {
  for (framework::PostBindPlugin* p : post_bind_) p->PostBind(state, pod, node);
}

ScheduleResult Framework::RunBindingCycle(CycleState& state, const PodInfo& pod,
                                          ScheduleResult r) {
  if (Status s = BindReserved(state, pod, r.node); !s.ok()) {
    return Abort(state, pod, std::move(r), std::move(s));
  }
  if (absl::Status s = deps_.cache->ConfirmBound(pod.uid); !s.ok()) {
    r.status = Status::FromError(s);
    return r;
  }
  PostBind(state, pod, r.node);
  r.status = Status::Success();
  return r;
}

Status Framework::RunReserve(CycleState& state, const PodInfo& pod, const NodeInfo& node,
                             std::vector<GpuShare>& gpus) {
  const absl::Time start = Now();
  for (framework::ReservePlugin* p : reserve_) {
    Status s = p->Reserve(state, pod, node);
    if (!s.ok()) {
      s.set_plugin(p->Name());
      Record("Reserve", s, start);
      Unreserve(state, pod, node.name());
      return s;
    }
  }
  Record("Reserve", Status::Success(), start);
  gpus.clear();
  if (!pod.requests.gpu.empty()) {
    absl::StatusOr<const framework::DeviceAssignment*> a =
        state.Read(framework::kDeviceAssignmentKey);
    if (!a.ok()) {
      Unreserve(state, pod, node.name());
      return Status::Error(
          "the pod requests GPUs but no Reserve plugin chose devices (enable NodeResourcesFit "
          "or a GPU plugin in the profile)");
    }
    gpus = (*a)->shares;
  }
  return Status::Success();
}

void Framework::DrainWaitingDecisions() {
  if (draining_) return;
  draining_ = true;
  while (auto popped = waiting_->PopDecision()) {
    auto& [decision, entry] = *popped;
    ScheduleResult r;
    if (decision.allow) {
      r = RunBindingCycle(*entry.state, entry.pod, std::move(entry.result));
    } else {
      r = Abort(*entry.state, entry.pod, std::move(entry.result),
                Status::Unschedulable(decision.reason));
    }
    CountAttempt(r);
    if (outcome_cb_) outcome_cb_(entry.pod, r);
  }
  draining_ = false;
}

ScheduleResult Framework::SchedulePod(const PodInfo& pod) {
  ScheduleResult r;
  if (deps_.cache == nullptr) {
    r.status = Status::Error("SchedulePod needs FrameworkDeps::cache (use the per-verb entry points)");
    return r;
  }
  in_cycle_ = true;
  auto state = std::make_unique<CycleState>();
  state->set_snapshot(deps_.cache);
  const size_t total_nodes = deps_.cache->Nodes().size();
  [&] {
    AllowedNodes allowed;
    if (Status s = RunPreFilter(*state, pod, allowed); !s.ok()) {
      r.status = std::move(s);
      r.nodes_evaluated = total_nodes;
      if (r.status.IsRejection()) {
        r.rejections[r.status.Message()] = static_cast<int>(total_nodes);
      }
      return;
    }
    const std::vector<const NodeInfo*>& candidates = allowed.Of(*deps_.cache);
    FilterOutcome f = RunFilter(*state, pod, candidates);
    r.nodes_evaluated = candidates.size();
    r.nodes_feasible = f.feasible.size();
    if (!f.error.ok()) {
      r.status = std::move(f.error);
      return;
    }
    if (f.feasible.empty()) {
      const absl::Time start = Now();
      Status post = Status::Unschedulable("no PostFilter plugin could help");
      for (framework::PostFilterPlugin* p : post_filter_) {
        framework::PostFilterResult pf;
        Status s = p->PostFilter(*state, pod, f.rejected, pf);
        s.set_plugin(p->Name());
        post = s;
        if (s.ok() && pf.nominated_node.has_value()) {
          r.nominated_node = pf.nominated_node;
          break;
        }
        if (!s.ok() && !s.IsRejection()) break;  // an Error stops PostFilter, as in kube-scheduler
      }
      // Recorded as it is: Success with a nomination, Unschedulable when nothing helped, Error.
      Record("PostFilter", post_filter_.empty() ? Status::Success() : post, start);
      r = Reject(std::move(r), f.rejected, candidates.size());
      return;
    }
    absl::StatusOr<NodeScoreList> scores = RunScore(*state, pod, f.feasible);
    if (!scores.ok()) {
      r.status = Status::FromError(scores.status());
      return;
    }
    const NodeInfo* node = SelectHost(*scores, r.score);
    r.node = node->name();
    if (Status s = RunReserve(*state, pod, *node, r.gpus); !s.ok()) {
      r.status = std::move(s);
      return;
    }
    if (absl::Status s = deps_.cache->Assume(pod, r.node, r.gpus); !s.ok()) {
      r = Abort(*state, pod, std::move(r),
                Status::Error(absl::StrCat("cannot assume the pod: ", s.message())));
      return;
    }

    const absl::Time start = Now();
    std::vector<std::string> waiting_on;
    absl::Duration wait = kMaxPermitWait;
    for (framework::PermitPlugin* p : permit_) {
      absl::Duration timeout = absl::ZeroDuration();
      Status s = p->Permit(*state, pod, r.node, timeout);
      if (s.IsWait()) {
        waiting_on.emplace_back(p->Name());
        wait = std::min(wait, timeout);
        continue;
      }
      if (!s.ok()) {
        s.set_plugin(p->Name());
        Record("Permit", s, start);
        r = Abort(*state, pod, std::move(r), std::move(s));
        return;
      }
    }
    Record("Permit", waiting_on.empty() ? Status::Success() : Status::Wait(), start);
    if (!waiting_on.empty()) {
      r.status = Status::Wait();
      waiting_->Add(pod, std::move(state), r, std::move(waiting_on), wait);
      return;
    }
    r = RunBindingCycle(*state, pod, std::move(r));
  }();
  in_cycle_ = false;
  CountAttempt(r);
  DrainWaitingDecisions();
  return r;
}

// ---------------------------------------------------------------------------------------------
// Per-verb entry points.

namespace {
// One line for a person, from a verdict: its reasons joined.
std::string ReasonOf(const Status& s) {
  std::string out;
  for (size_t i = 0; i < s.reason_count(); ++i) {
    absl::StrAppend(&out, i ? "; " : "", std::string(s.reason(i)));
  }
  return out.empty() ? std::string(framework::CodeName(s.code())) : out;
}
}  // namespace

std::vector<const NodeInfo*> Framework::Resolve(const framework::ClusterSnapshot& snapshot,
                                                const std::vector<NodeId>& names) {
  std::vector<const NodeInfo*> out(names.size());
  parallelizer_->For(names.size(), options_.chunk_size, [&](size_t begin, size_t end) {
    snapshot.FindNodes(absl::MakeConstSpan(names).subspan(begin, end - begin),
                       absl::MakeSpan(out.data() + begin, end - begin));
  });
  return out;
}

std::string Framework::NodeReason::reason() const { return ReasonOf(status); }

std::vector<NodeId> Framework::FilterVerdicts::FeasibleNames(
    const std::vector<NodeId>& candidates) const {
  std::vector<NodeId> out;
  out.reserve(feasible.size());
  for (uint32_t i : feasible) out.push_back(candidates[i]);
  return out;
}

Framework::FilterVerdicts Framework::Filter(const framework::ClusterSnapshot& snapshot,
                                            const PodInfo& pod,
                                            const std::vector<NodeId>& candidates) {
  FilterVerdicts out;
  CycleState state;
  state.set_snapshot(&snapshot);
  AllowedNodes allowed;
  Status pre = RunPreFilter(state, pod, allowed);
  if (!pre.ok() && !pre.IsRejection()) {
    out.error = std::move(pre);
    return out;
  }
  auto add = [&out](uint32_t i, Status s) {
    auto& list = s.code() == Code::kUnschedulableAndUnresolvable ? out.unresolvable : out.failed;
    list.push_back({i, std::move(s)});
  };
  const Status unknown = Status::Unschedulable("node is not in the scheduler's model yet");
  if (!pre.ok()) {  // PreFilter rejected the pod: every known node for the same reason
    for (size_t i = 0; i < candidates.size(); ++i) {
      add(static_cast<uint32_t>(i), snapshot.FindNode(candidates[i]) == nullptr ? unknown : pre);
    }
    return out;
  }
  absl::flat_hash_set<const NodeInfo*> allowed_set;
  const bool restricted = allowed.subset.has_value();
  if (restricted) allowed_set.insert(allowed.subset->begin(), allowed.subset->end());
  FilterPass pass = RunFilterPass(
      state, pod, candidates.size(),
      [&](size_t begin, size_t end, const NodeInfo** out, std::vector<NodeReason>& rejected) {
        snapshot.FindNodes(absl::MakeConstSpan(candidates).subspan(begin, end - begin),
                           absl::MakeSpan(out + begin, end - begin));
        for (size_t i = begin; i < end; ++i) {
          if (out[i] == nullptr) {
            rejected.push_back({static_cast<uint32_t>(i), unknown});
          } else if (restricted && !allowed_set.contains(out[i])) {
            rejected.push_back({static_cast<uint32_t>(i),
                                Status::UnschedulableAndUnresolvable(
                                    "node is not among those PreFilter allowed for this pod")});
            out[i] = nullptr;
          }
        }
      });
  if (!pass.error.ok()) {
    out.error = std::move(pass.error);
    return out;
  }
  out.feasible = std::move(pass.feasible);
  // Most verdicts are "not now": they stay where they are, in order, and become `failed`
  // wholesale; only the "never here" ones move out.
  std::vector<NodeReason>& all = pass.rejected;
  size_t kept = 0;
  for (size_t i = 0; i < all.size(); ++i) {
    if (all[i].status.code() == Code::kUnschedulableAndUnresolvable) {
      out.unresolvable.push_back(std::move(all[i]));
    } else {
      if (kept != i) all[kept] = std::move(all[i]);
      ++kept;
    }
  }
  all.erase(all.begin() + static_cast<ptrdiff_t>(kept), all.end());
  out.failed = std::move(all);
  return out;
}

absl::StatusOr<Framework::Priorities> Framework::Prioritize(
    const framework::ClusterSnapshot& snapshot, const PodInfo& pod,
    const std::vector<NodeId>& nodes) {
  CycleState state;
  state.set_snapshot(&snapshot);
  AllowedNodes allowed;
  // Score plugins read what their PreFilter computed; a rejection here only means every node
  // would score as nothing fits, which Filter has already said.
  if (Status pre = RunPreFilter(state, pod, allowed); !pre.ok() && !pre.IsRejection()) {
    return absl::InternalError(absl::StrCat("PreFilter: ", pre.Message()));
  }
  const std::vector<const NodeInfo*> resolved = Resolve(snapshot, nodes);
  std::vector<const NodeInfo*> feasible;
  std::vector<size_t> position;  // feasible[k] is nodes[position[k]]
  feasible.reserve(nodes.size());
  position.reserve(nodes.size());
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (resolved[i] != nullptr) {
      feasible.push_back(resolved[i]);
      position.push_back(i);
    }
  }
  Priorities out;
  out.priority.assign(nodes.size(), 0);
  if (feasible.empty()) return out;
  ASSIGN_OR_RETURN(out.combined, RunScore(state, pod, feasible));
  int64_t best_score = 0;
  const NodeInfo* best = SelectHost(out.combined, best_score);
  out.chosen = best->name();
  int64_t lo = best_score;
  for (const NodeScore& s : out.combined) lo = std::min(lo, s.score);
  for (size_t k = 0; k < out.combined.size(); ++k) {
    const NodeScore& s = out.combined[k];
    int64_t p = 0;
    if (s.node == best) {
      p = kMaxExtenderPriority;
    } else if (best_score > lo) {
      p = (kMaxExtenderPriority - 1) * (s.score - lo) / (best_score - lo);
    }
    out.priority[position[k]] = p;
  }
  return out;
}

Status Framework::ReserveOn(CycleState& state, const PodInfo& pod, const NodeId& node,
                            std::vector<GpuShare>& gpus, bool run_permit) {
  const framework::ClusterSnapshot& model = framework::SnapshotOf(state, *handle_);
  const NodeInfo* info = model.FindNode(node);
  if (info == nullptr) {
    return Status::UnschedulableAndUnresolvable(
        absl::StrCat("node ", node.str(), " is not in the scheduler's model"));
  }
  AllowedNodes allowed;
  if (Status s = RunPreFilter(state, pod, allowed); !s.ok()) return s;
  if (!allowed.Allows(info)) {
    return Status::UnschedulableAndUnresolvable(
        absl::StrCat("node ", node.str(), " is not among those PreFilter allowed for this pod"));
  }
  FilterOutcome f = RunFilter(state, pod, {info});
  if (!f.error.ok()) return f.error;
  if (!f.rejected.empty()) {
    Status s = f.rejected.front().status;
    return Status(s.code(), {absl::StrCat("node ", node.str(), " no longer fits: ", ReasonOf(s))});
  }
  if (Status s = RunReserve(state, pod, *info, gpus); !s.ok()) return s;
  if (!run_permit) return Status::Success();
  const absl::Time start = Now();
  for (framework::PermitPlugin* p : permit_) {
    absl::Duration timeout = absl::ZeroDuration();
    Status s = p->Permit(state, pod, node, timeout);
    if (s.ok()) continue;
    if (s.IsWait()) {
      s = Status::Unschedulable(
          "waiting for permit, which kube-scheduler's extender protocol cannot do; retry later");
    }
    s.set_plugin(p->Name());
    Record("Permit", s, start);
    Unreserve(state, pod, node);
    return s;
  }
  Record("Permit", Status::Success(), start);
  return Status::Success();
}

std::string ScheduleResult::Explain() const {
  if (status.ok()) {
    std::string out = absl::StrCat("bound to ", node.str());
    if (!gpus.empty()) {
      absl::StrAppend(&out, " (GPU ");
      for (size_t i = 0; i < gpus.size(); ++i) {
        absl::StrAppend(&out, i ? "," : "", gpus[i].gpu.value());
      }
      if (gpus.size() == 1 && gpus[0].milli < kOneGpu) {
        absl::StrAppend(&out, ": ", gpus[0].milli.value(), "m, ", gpus[0].memory.value(), " MiB");
      }
      absl::StrAppend(&out, ")");
    }
    absl::StrAppend(&out, ", score ", score);
    return out;
  }
  if (status.IsWait()) return absl::StrCat("reserved on ", node.str(), ", waiting for permit");
  if (!rejections.empty()) {
    std::vector<std::pair<int, std::string>> sorted;
    for (const auto& [reason, count] : rejections) sorted.emplace_back(-count, reason);
    std::sort(sorted.begin(), sorted.end());
    std::string out = absl::StrCat("0/", nodes_evaluated, " nodes are available: ");
    for (size_t i = 0; i < sorted.size(); ++i) {
      absl::StrAppend(&out, i ? ", " : "", -sorted[i].first, " ", sorted[i].second);
    }
    absl::StrAppend(&out, ".");
    if (nominated_node) absl::StrAppend(&out, " Nominated node: ", nominated_node->str(), ".");
    return out;
  }
  return status.ToString();
}

}  // namespace gpusched::runtime
