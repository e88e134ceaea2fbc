// The per-verb path (LiveScheduler) in the order kube-scheduler calls it: filter, prioritize,
// bind, preempt, with informer events in between.

#include "scheduler/runtime/live_scheduler.h"

#include <string>

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
  runtime::Framework::FilterVerdicts v =
      live().Filter(pod, Names({"free", "full", "t4", "unknown"}));
  ASSERT_TRUE(v.error.ok()) << v.error.ToString();
  EXPECT_THAT(v.feasible, ElementsAre(NodeId("free")));
  std::map<std::string, std::string> failed, never;
  for (const auto& r : v.failed) failed[r.node.str()] = r.reason;
  for (const auto& r : v.unresolvable) never[r.node.str()] = r.reason;
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
  absl::StatusOr<runtime::Framework::Priorities> p =
      live().Prioritize(PodBuilder("p").Gpus(1).Build(), Names({"a", "b", "c", "d"}));
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->chosen, NodeId("c"));
  int tops = 0;
  for (const auto& [node, score] : p->host_priority) {
    EXPECT_GE(score, 0);
    EXPECT_LE(score, runtime::Framework::kMaxExtenderPriority);
    if (score == runtime::Framework::kMaxExtenderPriority) {
      ++tops;
      EXPECT_EQ(node, NodeId("c"));
    }
  }
  EXPECT_EQ(tops, 1);

  // All tied: still exactly one node gets the top score.
  absl::StatusOr<runtime::Framework::Priorities> tied =
      live().Prioritize(PodBuilder("q").Gpus(1).Build(), Names({"a", "b", "d"}));
  ASSERT_TRUE(tied.ok());
  tops = 0;
  for (const auto& [node, score] : tied->host_priority) tops += score == 10;
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

}  // namespace
}  // namespace gpusched::testing
