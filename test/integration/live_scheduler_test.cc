// The per-verb path (LiveScheduler) in the order kube-scheduler calls it: filter, prioritize,
// bind, preempt, with informer events in between.

#include "scheduler/runtime/live_scheduler.h"

#include <string>

#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "spdlog/sinks/ostream_sink.h"
#include "spdlog/spdlog.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/fakes/live_world.h"

namespace gpusched::testing {
namespace {

using framework::PodInfo;
using framework::GpuShare;

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::vector<NodeId> Names(std::initializer_list<const char*> names) {
  std::vector<NodeId> out;
  for (const char* n : names) out.emplace_back(n);
  return out;
}

class LiveSchedulerTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(w_.Start("binpack").ok()); }
  runtime::LiveScheduler& live() { return *w_.live; }
  LiveWorld w_;
};

TEST_F(LiveSchedulerTest, FilterSplitsNotNowFromNeverHere) {
  ASSERT_TRUE(live().OnNodeAdd(NodeBuilder("free").Gpus(2).Build()).ok());
  ASSERT_TRUE(live().OnNodeAdd(NodeBuilder("full").Gpus(1).Build()).ok());
  ASSERT_TRUE(live().OnNodeAdd(NodeBuilder("t4").Gpus(4, "T4", 16384).Build()).ok());
  ASSERT_TRUE(live().OnPodBound(PodBuilder("busy").Gpus(1).Build(), NodeId("full"), {}).ok());

  const PodInfo pod = PodBuilder("p").Gpus(2, "A100").Build();
  const std::vector<NodeId> names = Names({"free", "full", "t4", "unknown"});
  runtime::Framework::FilterVerdicts v = live().Filter(pod, names);
  ASSERT_TRUE(v.error.ok()) << v.error.ToString();
  EXPECT_THAT(v.feasible, ElementsAre(0u));
  EXPECT_THAT(v.FeasibleNames(names), ElementsAre(NodeId("free")));
  std::map<std::string, std::string> failed, never;
  for (const auto& r : v.failed) failed[names[r.index].str()] = r.reason();
  for (const auto& r : v.unresolvable) never[names[r.index].str()] = r.reason();
  // "full" has one A100 in all: two can never fit there; T4s are never A100s.
  EXPECT_TRUE(never.contains("full")) << failed["full"];
  EXPECT_TRUE(never.contains("t4"));
  EXPECT_THAT(never["t4"], HasSubstr("A100"));
  EXPECT_THAT(failed["unknown"], HasSubstr("not in the scheduler's model"));

  // One whole GPU: "full" is busy now (not now), not impossible.
  v = live().Filter(PodBuilder("q").Gpus(1).Build(), Names({"full"}));
  ASSERT_EQ(v.failed.size(), 1u);
  EXPECT_TRUE(v.unresolvable.empty());
}

TEST_F(LiveSchedulerTest, PrioritizeGivesTheProfilesPickTheOnlyTopScore) {
  // binpack prefers the fuller node; three equal empty nodes tie below it.
  ASSERT_TRUE(live().OnNodeAdd(NodeBuilder("a").Gpus(4).Build()).ok());
  ASSERT_TRUE(live().OnNodeAdd(NodeBuilder("b").Gpus(4).Build()).ok());
  ASSERT_TRUE(live().OnNodeAdd(NodeBuilder("c").Gpus(4).Build()).ok());
  ASSERT_TRUE(live().OnNodeAdd(NodeBuilder("d").Gpus(4).Build()).ok());
  ASSERT_TRUE(live().OnPodBound(PodBuilder("x").Gpus(2).Build(), NodeId("c"), {}).ok());
  const std::vector<NodeId> names = Names({"a", "b", "c", "d"});
  absl::StatusOr<runtime::Framework::Priorities> p =
      live().Prioritize(PodBuilder("p").Gpus(1).Build(), names);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->chosen, NodeId("c"));
  ASSERT_EQ(p->priority.size(), names.size());
  int tops = 0;
  for (size_t i = 0; i < names.size(); ++i) {
    const int64_t score = p->priority[i];
    EXPECT_GE(score, 0);
    EXPECT_LE(score, runtime::Framework::kMaxExtenderPriority);
    if (score == runtime::Framework::kMaxExtenderPriority) {
      ++tops;
      EXPECT_EQ(names[i], NodeId("c"));
    }
  }
  EXPECT_EQ(tops, 1);

  // All tied: still exactly one node gets the top score.
  absl::StatusOr<runtime::Framework::Priorities> tied =
      live().Prioritize(PodBuilder("q").Gpus(1).Build(), Names({"a", "b", "d"}));
  ASSERT_TRUE(tied.ok());
  tops = 0;
  for (int64_t score : tied->priority) tops += score == 10;
  EXPECT_EQ(tops, 1);
}

TEST_F(LiveSchedulerTest, BindRechecksTheModelAsItIsNow) {
  ASSERT_TRUE(live().OnNodeAdd(NodeBuilder("n").Gpus(1).Build()).ok());
  const PodInfo first = PodBuilder("first").Gpus(1).Build();
  const PodInfo second = PodBuilder("second").Gpus(1).Build();
  // Both pass Filter on the same snapshot...
  EXPECT_EQ(live().Filter(first, Names({"n"})).feasible.size(), 1u);
  EXPECT_EQ(live().Filter(second, Names({"n"})).feasible.size(), 1u);
  // ...but only one bind can have the GPU.
  runtime::LiveScheduler::BindResult a = live().Bind(first, NodeId("n"));
  ASSERT_TRUE(a.status.ok()) << a.status.ToString();
  ASSERT_EQ(a.gpus.size(), 1u);
  const uint64_t gen = w_.store.generation();
  runtime::LiveScheduler::BindResult b = live().Bind(second, NodeId("n"));
  EXPECT_TRUE(b.status.IsRejection()) << b.status.ToString();
  EXPECT_THAT(b.status.Message(), HasSubstr("no longer fits"));
  EXPECT_EQ(w_.store.generation(), gen);  // a refused bind changes nothing
  EXPECT_EQ(w_.binder.bound().size(), 1u);
  // Binding the same pod twice is refused too.
  EXPECT_FALSE(live().Bind(first, NodeId("n")).status.ok());
}

TEST_F(LiveSchedulerTest, AFailedBindingLeavesTheModelExactlyAsBefore) {
  ASSERT_TRUE(live().OnNodeAdd(NodeBuilder("n").Gpus(2).Build()).ok());
  const framework::NodeInfo before = *live().Snapshot()->FindNode(NodeId("n"));
  w_.binder.FailNext(absl::UnavailableError("API server went away"));
  runtime::LiveScheduler::BindResult r = live().Bind(PodBuilder("p").Gpus(2).Build(), NodeId("n"));
  EXPECT_FALSE(r.status.ok());
  EXPECT_THAT(r.status.ToString(), HasSubstr("API server went away"));
  cache::SnapshotRef after = live().Snapshot();
  EXPECT_TRUE(*after->FindNode(NodeId("n")) == before);
  EXPECT_EQ(after->pod_count(), 0u);
}

TEST_F(LiveSchedulerTest, InformerConfirmsAnAssumedPodAndUnconfirmedOnesExpire) {
  ASSERT_TRUE(live().OnNodeAdd(NodeBuilder("n").Gpus(2).Build()).ok());
  const PodInfo seen = PodBuilder("seen").Gpus(1).Build();
  const PodInfo lost = PodBuilder("lost").Gpus(1).Build();
  ASSERT_TRUE(live().Bind(seen, NodeId("n")).status.ok());
  ASSERT_TRUE(live().Bind(lost, NodeId("n")).status.ok());
  // The informer's Add of our own pod confirms it (no AlreadyExists).
  ASSERT_TRUE(live().OnPodBound(seen, NodeId("n"), {}).ok());
  EXPECT_EQ(live().Snapshot()->FindPod(seen.uid)->state, framework::PodState::kBound);
  EXPECT_EQ(live().ExpireAssumed(), 0u);
  w_.clock.Advance(absl::Seconds(31));  // the sweep timer runs on the SimClock
  cache::SnapshotRef snap = live().Snapshot();
  EXPECT_NE(snap->FindPod(seen.uid), nullptr);
  EXPECT_EQ(snap->FindPod(lost.uid), nullptr);  // its Binding never showed up: forgotten
  EXPECT_EQ(snap->FindNode(NodeId("n"))->fully_free_gpus(), 1);
}

TEST(LiveSchedulerLogs, ALostBindingIsLoggedOnceAndCountedAndBindsAreCounted) {
  std::ostringstream out;
  log::Logger logger(log::Options{.level = log::Level::kInfo, .json = true},
                     std::make_shared<spdlog::logger>(
                         "test", std::make_shared<spdlog::sinks::ostream_sink_mt>(out)));
  LiveWorld w;
  ASSERT_TRUE(w.Start("binpack", {}, runtime::LiveOptions{.logger = &logger}).ok());
  ASSERT_TRUE(w.live->OnNodeAdd(NodeBuilder("n").Gpus(1).Build()).ok());
  ASSERT_TRUE(w.live->Bind(PodBuilder("lost").Gpus(1).Build(), NodeId("n")).status.ok());
  EXPECT_FALSE(w.live->Bind(PodBuilder("late").Gpus(1).Build(), NodeId("n")).status.ok());
  EXPECT_EQ(out.str(), "");  // a refusal is an answer, not an event worth a log line
  w.clock.Advance(absl::Seconds(31));
  EXPECT_THAT(out.str(), HasSubstr("\"msg\":\"binding never confirmed by the API server"));
  EXPECT_THAT(out.str(), HasSubstr("\"pod_uid\":\"lost\""));
  EXPECT_EQ(w.metrics.CounterValue("gpusched_assumed_pods_expired_total", {}), 1.0);
  EXPECT_EQ(w.metrics.CounterValue("gpusched_binds_total", {{"result", "ok"}}), 1.0);
  EXPECT_EQ(w.metrics.CounterValue("gpusched_binds_total", {{"result", "refused"}}), 1.0);
}

TEST_F(LiveSchedulerTest, PodUpdatesMoveDevicesAndDeletionFreesThem) {
  ASSERT_TRUE(live().OnNodeAdd(NodeBuilder("n").Gpus(2).Build()).ok());
  const PodInfo p = PodBuilder("p").Gpus(1).Build();
  runtime::LiveScheduler::BindResult r = live().Bind(p, NodeId("n"));
  ASSERT_TRUE(r.status.ok());
  ASSERT_EQ(r.gpus[0].gpu, DeviceIndex(0));
  // The node agent admitted it on GPU 1 instead: the model follows.
  std::vector<GpuShare> moved = {GpuShare{DeviceIndex(1), kOneGpu, GpuMemMiB(81920)}};
  ASSERT_TRUE(live().OnPodBound(p, NodeId("n"), moved).ok());
  cache::SnapshotRef snap = live().Snapshot();
  EXPECT_EQ(snap->FindPod(p.uid)->gpus, moved);
  EXPECT_TRUE(snap->FindNode(NodeId("n"))->gpus()[0].fully_free());
  // A move that does not fit keeps the old record.
  ASSERT_TRUE(live().OnPodBound(PodBuilder("q").Gpus(1).Build(), NodeId("n"),
                                {GpuShare{DeviceIndex(0), kOneGpu, GpuMemMiB(81920)}}).ok());
  EXPECT_FALSE(live().OnPodBound(p, NodeId("n"), {GpuShare{DeviceIndex(0), kOneGpu,
                                                            GpuMemMiB(81920)}}).ok());
  EXPECT_EQ(live().Snapshot()->FindPod(p.uid)->gpus, moved);
  ASSERT_TRUE(live().OnPodDeleted(p.uid).ok());
  ASSERT_TRUE(live().OnPodDeleted(p.uid).ok());  // twice is fine
  EXPECT_EQ(live().Snapshot()->FindNode(NodeId("n"))->fully_free_gpus(), 1);
}

TEST_F(LiveSchedulerTest, NodeUpdateKeepsItsPodsAndRefusesToDropAGpuInUse) {
  ASSERT_TRUE(live().OnNodeAdd(NodeBuilder("n").Gpus(2).Build()).ok());
  ASSERT_TRUE(live().OnPodBound(PodBuilder("p").Gpus(1).Build(), NodeId("n"),
                                {GpuShare{DeviceIndex(1), kOneGpu, GpuMemMiB(81920)}}).ok());
  ASSERT_TRUE(live().OnNodeUpdate(NodeBuilder("n").Gpus(2).Label("zone", "a").Build()).ok());
  EXPECT_EQ(live().Snapshot()->FindNode(NodeId("n"))->fully_free_gpus(), 1);
  EXPECT_FALSE(live().OnNodeUpdate(NodeBuilder("n").Gpus(1).Build()).ok());
  EXPECT_EQ(live().Snapshot()->FindNode(NodeId("n"))->gpus().size(), 2u);
}

TEST_F(LiveSchedulerTest, PreemptFreesAWholeGpuWhereKubeSchedulersVictimsWouldNot) {
  // Two GPUs, each half used by two low-priority shares. kube-scheduler, blind to devices,
  // proposes one share from each GPU: that frees no whole GPU.
  ASSERT_TRUE(live().OnNodeAdd(NodeBuilder("n").Gpus(2).Build()).ok());
  auto share = [](const char* name, int gpu, int32_t prio) {
    PodInfo p = PodBuilder(name).GpuShare(500, 20480).Priority(prio).Build();
    return std::make_pair(p, std::vector<GpuShare>{
                                 GpuShare{DeviceIndex(gpu), GpuMilli(500), GpuMemMiB(20480)}});
  };
  for (auto [p, g] : {share("a0", 0, 1), share("b0", 0, 5), share("a1", 1, 1), share("b1", 1, 2)}) {
    ASSERT_TRUE(live().OnPodBound(p, NodeId("n"), g).ok());
  }
  const PodInfo big = PodBuilder("big").Gpus(1).Priority(100).Build();
  std::map<NodeId, std::vector<PodUid>> proposed = {{NodeId("n"), {PodUid("a0"), PodUid("a1")}}};
  std::vector<runtime::LiveScheduler::NodeVictims> v = live().Preempt(big, proposed);
  ASSERT_EQ(v.size(), 1u);
  // GPU 1's pods are the least important pair (priorities 1 and 2 against 1 and 5).
  EXPECT_THAT(v[0].pods, ElementsAre(PodUid("a1"), PodUid("b1")));

  // Nothing of lower priority can make room: the node is dropped.
  const PodInfo low = PodBuilder("low").Gpus(2).Priority(3).Build();
  EXPECT_TRUE(live().Preempt(low, proposed).empty());
}


// ---- Gangs in the order kube-scheduler calls: filter, prioritize, bind, one member at a time.

// Filter + Prioritize + Bind + the informer's confirmation for one pod; true if it bound.
bool Cycle(runtime::LiveScheduler& live, const PodInfo& pod, const std::vector<NodeId>& nodes) {
  runtime::Framework::FilterVerdicts v = live.Filter(pod, nodes);
  if (!v.error.ok() || v.feasible.empty()) return false;
  absl::StatusOr<runtime::Framework::Priorities> p = live.Prioritize(pod, v.FeasibleNames(nodes));
  if (!p.ok()) return false;
  runtime::LiveScheduler::BindResult b = live.Bind(pod, p->chosen);
  if (!b.status.ok()) return false;
  return live.OnPodBound(pod, p->chosen, b.gpus).ok();
}

std::vector<PodInfo> Gang(const std::string& name, int members, int64_t created) {
  std::vector<PodInfo> out;
  for (int i = 0; i < members; ++i) {
    out.push_back(PodBuilder(absl::StrCat(name, "-", i)).Gpus(1).CreatedAt(created)
                      .Gang("ml/" + name, members).Build());
  }
  return out;
}

class LiveGangTest : public LiveSchedulerTest {
 protected:
  std::vector<NodeId> AddNodes(int n, int gpus) {
    std::vector<NodeId> names;
    for (int i = 0; i < n; ++i) {
      names.emplace_back(absl::StrCat("n", i));
      EXPECT_TRUE(live().OnNodeAdd(NodeBuilder(names.back().str()).Gpus(gpus).Build()).ok());
    }
    return names;
  }
  int Bound(const std::vector<PodInfo>& gang) {
    int n = 0;
    cache::SnapshotRef snap = live().Snapshot();
    for (const PodInfo& p : gang) n += snap->FindPod(p.uid) != nullptr;
    return n;
  }
};

TEST_F(LiveGangTest, TwoGangsOfEightInterleavedOnCapacityForOneNeverBindPartially) {
  const std::vector<NodeId> nodes = AddNodes(8, 1);
  const std::vector<PodInfo> a = Gang("a", 8, 100);  // older: first in the global order
  const std::vector<PodInfo> b = Gang("b", 8, 200);
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 8; ++i) {
      // kube-scheduler alternates between the gangs' members, the younger gang first.
      (void)Cycle(live(), b[i], nodes);
      (void)Cycle(live(), a[i], nodes);
      const int ba = Bound(a), bb = Bound(b);
      ASSERT_LE(ba + bb, 8);
      // Whatever is bound belongs to a gang whose whole quorum is held in the model.
      if (ba > 0 && ba < 8) {
        ASSERT_EQ(live().InspectGang(GangId("ml/a"))->slots, 8);
      }
      if (bb > 0 && bb < 8) {
        ASSERT_EQ(live().InspectGang(GangId("ml/b"))->slots, 8);
      }
    }
  }
  const int ba = Bound(a), bb = Bound(b);
  EXPECT_TRUE((ba == 8 && bb == 0) || (ba == 0 && bb == 8)) << ba << " + " << bb;

  // The winner finishes; the other gang then gets the whole cluster.
  const std::vector<PodInfo>& winner = ba == 8 ? a : b;
  const std::vector<PodInfo>& loser = ba == 8 ? b : a;
  for (const PodInfo& p : winner) ASSERT_TRUE(live().OnPodDeleted(p.uid).ok());
  w_.clock.Advance(absl::Seconds(11));  // past any backoff
  for (const PodInfo& p : loser) (void)Cycle(live(), p, nodes);
  EXPECT_EQ(Bound(loser), 8);
  EXPECT_EQ(live().Snapshot()->FindNode(nodes[0])->fully_free_gpus(), 0);
}

TEST_F(LiveGangTest, ABindBeforeThePlanDoesNotBind) {
  const std::vector<NodeId> nodes = AddNodes(4, 1);
  const std::vector<PodInfo> g = Gang("g", 4, 100);
  runtime::LiveScheduler::BindResult r = live().Bind(g[0], nodes[0]);
  EXPECT_TRUE(r.status.IsRejection()) << r.status.ToString();
  EXPECT_THAT(r.status.Message(), HasSubstr("no plan"));
  EXPECT_EQ(live().Snapshot()->pod_count(), 0u);
  EXPECT_TRUE(w_.binder.bound().empty());
}

TEST_F(LiveGangTest, APlanHoldsCapacityAndIsReleasedAtTheDeadline) {
  const std::vector<NodeId> nodes = AddNodes(4, 1);
  const std::vector<PodInfo> g = Gang("g", 4, 100);
  ASSERT_TRUE(Cycle(live(), g[0], nodes));
  ASSERT_TRUE(Cycle(live(), g[1], nodes));
  // Two members bound, two slots held: other pods see no free GPU anywhere.
  EXPECT_TRUE(live().Filter(PodBuilder("other").Gpus(1).Build(), nodes).feasible.empty());
  std::optional<runtime::LiveScheduler::GangView> v = live().InspectGang(GangId("ml/g"));
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->slots, 4);
  EXPECT_EQ(v->used, 2);
  // The other two members never come. At the deadline (60 s) the sweep releases their slots.
  w_.clock.Advance(absl::Seconds(65));
  v = live().InspectGang(GangId("ml/g"));
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->slots, 0);
  EXPECT_THAT(v->last_release, HasSubstr("2 of 4 planned members bound by the deadline"));
  EXPECT_EQ(live().Filter(PodBuilder("other").Gpus(1).Build(), nodes).feasible.size(), 2u);
  // A late member is told the gang backs off.
  runtime::Framework::FilterVerdicts late = live().Filter(g[2], nodes);
  ASSERT_FALSE(late.failed.empty());
  EXPECT_THAT(late.failed[0].reason(), HasSubstr("backing off"));
}

// How long plans hold capacity is a histogram: one sample per plan, by how it ended.
TEST_F(LiveGangTest, GangWaitsAreObservedWhenThePlanIsBoundOrReleased) {
  const std::vector<NodeId> nodes = AddNodes(4, 1);
  const std::vector<PodInfo> done = Gang("done", 2, 100);
  ASSERT_TRUE(Cycle(live(), done[0], nodes));
  w_.clock.Advance(absl::Seconds(3));
  ASSERT_TRUE(Cycle(live(), done[1], nodes));
  EXPECT_EQ(w_.metrics.HistogramCount("gpusched_gang_wait_seconds", {{"result", "bound"}}), 1u);
  EXPECT_EQ(w_.metrics.HistogramSum("gpusched_gang_wait_seconds", {{"result", "bound"}}), 3.0);
  EXPECT_EQ(w_.metrics.HistogramCount("gpusched_gang_wait_seconds", {{"result", "released"}}),
            std::nullopt);
  const std::vector<PodInfo> half = Gang("half", 2, 200);
  ASSERT_TRUE(Cycle(live(), half[0], nodes));
  w_.clock.Advance(absl::Seconds(65));  // past the deadline: the sweep releases the plan
  ASSERT_EQ(live().InspectGang(GangId("ml/half"))->slots, 0);
  EXPECT_EQ(w_.metrics.HistogramCount("gpusched_gang_wait_seconds", {{"result", "released"}}), 1u);
  EXPECT_EQ(w_.metrics.HistogramCount("gpusched_gang_wait_seconds", {{"result", "bound"}}), 1u);
}

TEST_F(LiveGangTest, AGangThatCannotFitHoldsNothingAndSaysWhy) {
  const std::vector<NodeId> nodes = AddNodes(2, 2);
  const std::vector<PodInfo> g = Gang("big", 5, 100);
  const uint64_t gen = w_.store.generation();
  runtime::Framework::FilterVerdicts v = live().Filter(g[0], nodes);
  EXPECT_TRUE(v.feasible.empty());
  ASSERT_EQ(v.failed.size(), 2u);
  EXPECT_THAT(v.failed[0].reason(), HasSubstr("needs 5 more member(s)"));
  EXPECT_THAT(v.failed[0].reason(), HasSubstr("only 4 fit now"));
  EXPECT_EQ(w_.store.generation(), gen);
  EXPECT_EQ(live().Filter(PodBuilder("other").Gpus(2).Build(), nodes).feasible.size(), 2u);
}

TEST_F(LiveGangTest, AMemberThatLeavesGivesItsSlotBackToThePlan) {
  const std::vector<NodeId> nodes = AddNodes(3, 1);
  const std::vector<PodInfo> g = Gang("g", 3, 100);
  ASSERT_TRUE(Cycle(live(), g[0], nodes));
  ASSERT_EQ(live().InspectGang(GangId("ml/g"))->used, 1);
  // The member is deleted before the quorum is bound: its slot is held again, not leaked.
  ASSERT_TRUE(live().OnPodDeleted(g[0].uid).ok());
  EXPECT_EQ(live().InspectGang(GangId("ml/g"))->used, 0);
  EXPECT_TRUE(live().Filter(PodBuilder("other").Gpus(1).Build(), nodes).feasible.empty());
  for (const PodInfo& p : g) EXPECT_TRUE(Cycle(live(), p, nodes)) << p.name;
  EXPECT_EQ(Bound(g), 3);
}

TEST_F(LiveGangTest, ALaterGangYieldsOnlyWhenThatLetsTheEarlierOneFit) {
  const std::vector<NodeId> nodes = AddNodes(4, 1);
  const std::vector<PodInfo> later = Gang("later", 2, 200);
  ASSERT_FALSE(live().Filter(later[0], nodes).feasible.empty());  // plans 2 of the 4 GPUs
  // An earlier gang of 5 cannot fit even with the later plan gone: the later plan stays.
  const std::vector<PodInfo> big = Gang("big", 5, 100);
  EXPECT_TRUE(live().Filter(big[0], nodes).feasible.empty());
  EXPECT_EQ(live().InspectGang(GangId("ml/later"))->slots, 2);
  // Asking again with nothing changed answers from the last failure, without planning again.
  EXPECT_TRUE(live().Filter(big[1], nodes).feasible.empty());
  EXPECT_EQ(w_.metrics.CounterValue("gpusched_gang_plans_total", {{"result", "unschedulable"}}),
            1.0);
  // An earlier gang of 3 fits only if the later plan goes: it yields.
  const std::vector<PodInfo> mid = Gang("mid", 3, 150);
  EXPECT_EQ(live().Filter(mid[0], nodes).feasible.size(), 3u);
  EXPECT_EQ(live().InspectGang(GangId("ml/later"))->slots, 0);
  EXPECT_THAT(live().InspectGang(GangId("ml/later"))->last_release,
              HasSubstr("yielded to earlier gang ml/mid"));
}

TEST_F(LiveGangTest, AFailedMemberBindingGivesItsSlotBack) {
  const std::vector<NodeId> nodes = AddNodes(2, 1);
  const std::vector<PodInfo> g = Gang("g", 2, 100);
  runtime::Framework::FilterVerdicts v = live().Filter(g[0], nodes);
  ASSERT_EQ(v.feasible.size(), 2u);
  w_.binder.FailNext(absl::UnavailableError("API server went away"));
  EXPECT_FALSE(live().Bind(g[0], nodes[v.feasible[0]]).status.ok());
  EXPECT_EQ(live().InspectGang(GangId("ml/g"))->used, 0);
  EXPECT_EQ(live().Snapshot()->pod_count(), 2u);  // the two placeholders, nothing else
  EXPECT_TRUE(Cycle(live(), g[0], nodes));
  EXPECT_TRUE(Cycle(live(), g[1], nodes));
  EXPECT_EQ(Bound(g), 2);
  EXPECT_EQ(live().Snapshot()->pod_count(), 2u);  // the members replaced the placeholders
}

}  // namespace
}  // namespace gpusched::testing
