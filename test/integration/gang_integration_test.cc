// Gang scheduling end to end: the runtime with the Gang plugin (the built-in `gang` and
// `gang-topology` profiles), a SimClock for timeouts, a fake binder and a fake evictor.

#include <map>
#include <random>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "common/metrics/in_memory_metrics.h"
#include "common/sim_clock.h"
#include "plugins/gang/gang_plugin.h"
#include "plugins/registry.h"
#include "scheduler/cache/cluster_cache.h"
#include "scheduler/runtime/framework.h"
#include "scheduler/runtime/profile.h"
#include "test/fakes/builders.h"
#include "test/fakes/framework_world.h"

namespace gpusched {
namespace {

using framework::PodInfo;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

// Evicts by removing the pod from the model, as the simulator does when a job is preempted.
class FakeEvictor final : public framework::Evictor {
 public:
  explicit FakeEvictor(cache::ClusterCache& cache) : cache_(cache) {}
  absl::Status Evict(const PodInfo& victim, std::string_view reason) override {
    evicted.push_back(victim.name);
    reasons.emplace_back(reason);
    return cache_.RemovePod(victim.uid);
  }
  std::vector<std::string> evicted;
  std::vector<std::string> reasons;

 private:
  cache::ClusterCache& cache_;
};

class GangTest : public ::testing::Test {
 protected:
  void Build(std::string_view profile_name = "gang") {
    auto made = world_.Build(profile_name, runtime::FrameworkOptions{.parallelism = 1}, &evictor_);
    ASSERT_TRUE(made.ok()) << made.status();
    fw_ = *std::move(made);
    fw_->SetOutcomeCallback([this](const PodInfo& pod, const runtime::ScheduleResult& r) {
      outcomes_[pod.name] = r.status.ok() ? "bound" : r.status.Message();
    });
  }
  void AddNodes(int n, int gpus = 8, std::string rack = "", std::string prefix = "n") {
    for (int i = 0; i < n; ++i) {
      testing::NodeBuilder b(prefix + std::to_string(i));
      b.Cpu(96000).MemoryGi(1024).Gpus(gpus);
      if (!rack.empty()) b.Label("topology.gpusched.io/rack", rack);
      ASSERT_TRUE(cache_.AddNode(b.Build()).ok());
    }
  }
  static PodInfo Member(std::string gang, int i, int min, int gpus = 8, int created = 0,
                        int priority = 0, int total = 0) {
    return testing::PodBuilder(gang + "-" + std::to_string(i))
        .Gpus(gpus)
        .Gang("default/" + gang, min, total)
        .CreatedAt(created)
        .Priority(priority)
        .Build();
  }
  runtime::ScheduleResult Schedule(const PodInfo& pod) { return fw_->SchedulePod(pod); }
  std::vector<std::string> Bound() const {
    std::vector<std::string> out;
    for (const auto& b : binder_.bound()) out.push_back(b.pod.str());
    return out;
  }
  int HeldGpus() const {
    int held = 0;
    for (const framework::NodeInfo* n : cache_.Nodes()) held += n->healthy_gpus() - n->fully_free_gpus();
    return held;
  }
  plugins::gang::GangPlugin::GangView View(const std::string& gang) {
    // The Gang plugin is the profile's QueueSort plugin: reach it through the registry name.
    auto* plugin = dynamic_cast<plugins::gang::GangPlugin*>(FindPlugin());
    EXPECT_NE(plugin, nullptr);
    auto v = plugin->Inspect(GangId("default/" + gang));
    EXPECT_TRUE(v.has_value());
    return v.value_or(plugins::gang::GangPlugin::GangView{});
  }
  framework::Plugin* FindPlugin() { return fw_->FindPlugin(plugins::gang::kName); }

  testing::FrameworkWorld world_{1};
  SimClock& clock_ = world_.clock;
  std::mt19937_64& rng_ = world_.rng;
  cache::ClusterCache& cache_ = world_.cache;
  metrics::InMemoryMetrics& metrics_ = world_.metrics;
  testing::FakeBinder& binder_ = world_.binder;
  FakeEvictor evictor_{cache_};
  std::unique_ptr<runtime::Framework> fw_;
  std::map<std::string, std::string> outcomes_;
};

TEST_F(GangTest, QuorumMetBindsEveryMemberTogether) {
  AddNodes(4);
  Build();
  for (int i = 0; i < 3; ++i) {
    runtime::ScheduleResult r = Schedule(Member("a", i, 4));
    EXPECT_TRUE(r.status.IsWait()) << r.Explain();
    EXPECT_TRUE(Bound().empty()) << "no member binds before the quorum";
  }
  EXPECT_EQ(HeldGpus(), 24);  // reserved, not bound
  runtime::ScheduleResult last = Schedule(Member("a", 3, 4));
  ASSERT_TRUE(last.status.ok()) << last.Explain();
  EXPECT_THAT(Bound(), UnorderedElementsAre("a-0", "a-1", "a-2", "a-3"));
  EXPECT_EQ(outcomes_["a-0"], "bound");
  EXPECT_EQ(metrics_.HistogramCount("gpusched_gang_quorum_wait_seconds", {}), 1u);
  EXPECT_EQ(View("a").live, 4);
  EXPECT_EQ(View("a").waiting, 0);
}

TEST_F(GangTest, OneMemberShortNothingBindsAndTheTimeoutReleasesEverything) {
  AddNodes(4);
  Build();
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(Schedule(Member("a", i, 4)).status.IsWait());
  clock_.Advance(absl::Seconds(59));
  EXPECT_TRUE(Bound().empty());
  EXPECT_EQ(HeldGpus(), 24);
  EXPECT_EQ(View("a").waiting, 3);
  clock_.Advance(absl::Seconds(2));  // past the 60 s default timeout
  EXPECT_EQ(metrics_.CounterValue("gpusched_gang_released_total", {{"reason", "timeout"}}), 1.0)
      << "one release per attempt";
  EXPECT_TRUE(Bound().empty());
  EXPECT_EQ(HeldGpus(), 0) << "every reservation is released";
  EXPECT_EQ(cache_.pod_count(), 0u);
  ASSERT_EQ(outcomes_.size(), 3u);
  EXPECT_THAT(outcomes_["a-0"], HasSubstr("timed out"));
  for (const char* sibling : {"a-1", "a-2"}) {
    EXPECT_THAT(outcomes_[sibling], HasSubstr("gang default/a released")) << sibling;
  }
  // Backoff: the gang is not retried at once, and says why.
  runtime::ScheduleResult again = Schedule(Member("a", 0, 4));
  EXPECT_FALSE(again.status.ok());
  EXPECT_THAT(again.Explain(), HasSubstr("backing off"));
  EXPECT_THAT(View("a").last_release, HasSubstr("timed out with 3 of 4 members placed"))
      << "the first release's reason is kept";
  clock_.Advance(absl::Seconds(11));
  EXPECT_TRUE(Schedule(Member("a", 0, 4)).status.IsWait()) << "tried again after the backoff";
}

// A profile reload destroys the Framework while members wait on Permit: their reservations are
// released and their timers cancelled, so the clock never calls into the destroyed framework
// (ASan would catch it).
TEST_F(GangTest, DestroyingTheFrameworkWithWaitingMembersCancelsTheirTimers) {
  Build();
  AddNodes(2);
  EXPECT_TRUE(Schedule(Member("g", 0, 2)).status.IsWait());
  EXPECT_EQ(clock_.pending_timers(), 1u);
  EXPECT_EQ(HeldGpus(), 8);
  fw_.reset();
  EXPECT_EQ(clock_.pending_timers(), 0u);
  EXPECT_EQ(HeldGpus(), 0);  // the waiting member's reservation is released
  EXPECT_EQ(cache_.pod_count(), 0u);
  clock_.Advance(absl::Minutes(10));
  Build();  // the rebuilt framework schedules as before
  AddNodes(1, 8, "", "m");
  EXPECT_TRUE(Schedule(testing::PodBuilder("solo").Gpus(1).Build()).status.ok());
}

TEST_F(GangTest, ABindFailureOfTheLastMemberReleasesTheAllowedOnes) {
  AddNodes(4);
  Build();
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(Schedule(Member("a", i, 4)).status.IsWait());
  // The quorum is reached and the three waiting members are allowed, but the member that
  // completed it fails to bind: nobody may bind on a quorum that no longer exists.
  binder_.FailNext(absl::UnavailableError("API server gone"));
  EXPECT_FALSE(Schedule(Member("a", 3, 4)).status.ok());
  EXPECT_TRUE(Bound().empty());
  EXPECT_EQ(HeldGpus(), 0);
  EXPECT_THAT(outcomes_["a-0"], HasSubstr("gang default/a released"));
}

TEST_F(GangTest, AnEarlierGangThatCanNeverFitDoesNotEvictLaterReservations) {
  AddNodes(4);
  Build();
  EXPECT_TRUE(Schedule(Member("b", 0, 2, 8, /*created=*/20)).status.IsWait());
  // Gang a is older, but its member asks for a node label no node has: releasing b would not
  // help it, so b keeps its reservation.
  PodInfo a0 = Member("a", 0, 2, 8, /*created=*/10);
  a0.node_selector["pool"] = "nowhere";
  EXPECT_FALSE(Schedule(a0).status.ok());
  EXPECT_EQ(View("b").waiting, 1);
  EXPECT_TRUE(Schedule(Member("b", 1, 2, 8, 20)).status.ok());
}

TEST_F(GangTest, TimeoutFromTheDeclarationOverridesTheDefault) {
  AddNodes(2);
  Build();
  PodInfo p = Member("a", 0, 2);
  p.gang->timeout = absl::Seconds(5);
  EXPECT_TRUE(Schedule(p).status.IsWait());
  clock_.Advance(absl::Seconds(6));
  EXPECT_EQ(HeldGpus(), 0);
  EXPECT_THAT(outcomes_["a-0"], HasSubstr("timed out after 5s"));
}

TEST_F(GangTest, TwoGangsOverCapacityRunOneAfterTheOtherWithoutPartialHolds) {
  AddNodes(4);  // 32 GPUs; each gang needs 24
  Build();
  std::vector<PodInfo> queue;
  for (int i = 0; i < 3; ++i) queue.push_back(Member("a", i, 3, 8, /*created=*/10));
  for (int i = 0; i < 3; ++i) queue.push_back(Member("b", i, 3, 8, /*created=*/20));
  std::shuffle(queue.begin(), queue.end(), rng_);
  std::sort(queue.begin(), queue.end(),
            [&](const PodInfo& x, const PodInfo& y) { return fw_->Less(x, y); });
  for (int i = 0; i < 3; ++i) EXPECT_EQ(queue[i].gang->id.str(), "default/a") << "members together";
  for (const PodInfo& p : queue) Schedule(p);
  EXPECT_THAT(Bound(), UnorderedElementsAre("a-0", "a-1", "a-2"));
  EXPECT_EQ(HeldGpus(), 24) << "gang b holds nothing";
  EXPECT_EQ(View("b").live, 0);
  EXPECT_THAT(View("b").last_release, HasSubstr("fits no node"));
  // Gang a finishes; after its backoff gang b runs.
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(cache_.RemovePod(PodUid("a-" + std::to_string(i))).ok());
  clock_.Advance(absl::Seconds(10));
  for (int i = 0; i < 3; ++i) Schedule(Member("b", i, 3, 8, 20));
  EXPECT_THAT(Bound(), UnorderedElementsAre("a-0", "a-1", "a-2", "b-0", "b-1", "b-2"));
}

TEST_F(GangTest, InterleavedGangsCannotDeadlockTheEarlierOneWins) {
  AddNodes(4);
  Build();
  // Arrival interleaves the members (no queue sort), so each gang reserves half the cluster and
  // waits for the other half: the classic deadlock. The global order breaks it.
  for (int i = 0; i < 2; ++i) {
    EXPECT_TRUE(Schedule(Member("a", i, 3, 8, 10)).status.IsWait());
    EXPECT_TRUE(Schedule(Member("b", i, 3, 8, 20)).status.IsWait());
  }
  EXPECT_EQ(HeldGpus(), 32);
  runtime::ScheduleResult r = Schedule(Member("a", 2, 3, 8, 10));
  EXPECT_FALSE(r.status.ok());
  ASSERT_TRUE(r.nominated_node.has_value()) << "b's reservations were released for a";
  EXPECT_THAT(outcomes_["b-0"], HasSubstr("gave way to gang default/a"));
  EXPECT_EQ(HeldGpus(), 16);
  ASSERT_TRUE(Schedule(Member("a", 2, 3, 8, 10)).status.ok());
  EXPECT_THAT(Bound(), UnorderedElementsAre("a-0", "a-1", "a-2"));
  // The later gang, arriving last, never takes from an earlier waiting one: it releases itself.
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(cache_.RemovePod(PodUid("a-" + std::to_string(i))).ok());
  clock_.Advance(absl::Seconds(10));
  EXPECT_TRUE(Schedule(Member("a", 0, 4, 8, 10)).status.IsWait());  // a, again, needs 4
  EXPECT_TRUE(Schedule(Member("b", 0, 3, 8, 20)).status.IsWait());
  EXPECT_TRUE(Schedule(Member("b", 1, 3, 8, 20)).status.IsWait());
  EXPECT_TRUE(Schedule(Member("a", 1, 4, 8, 10)).status.IsWait());
  // No room for b-2: b is later than a, so b gives up its own two.
  EXPECT_FALSE(Schedule(Member("b", 2, 3, 8, 20)).status.ok());
  EXPECT_EQ(View("b").live, 0);
  EXPECT_EQ(View("a").waiting, 2);
}

TEST_F(GangTest, ElasticGangPlacesExtrasAfterTheQuorum) {
  AddNodes(3);
  Build();
  EXPECT_TRUE(Schedule(Member("e", 0, 2, 8, 0, 0, /*total=*/4)).status.IsWait());
  EXPECT_TRUE(Schedule(Member("e", 1, 2, 8, 0, 0, 4)).status.ok());
  EXPECT_TRUE(Schedule(Member("e", 2, 2, 8, 0, 0, 4)).status.ok()) << "extra binds at once";
  runtime::ScheduleResult r = Schedule(Member("e", 3, 2, 8, 0, 0, 4));
  EXPECT_FALSE(r.status.ok()) << "no room for the fourth";
  EXPECT_THAT(Bound(), UnorderedElementsAre("e-0", "e-1", "e-2")) << "the quorum keeps running";
}

TEST_F(GangTest, MinResourcesGateANewAttempt) {
  AddNodes(4);
  Build();
  Schedule(testing::PodBuilder("other").Gpus(8).Build());  // 24 GPUs stay free
  PodInfo m = Member("big", 0, 2, 8);
  m.gang->min_resources.gpu = framework::GpuRequest::Whole(32);
  runtime::ScheduleResult r = Schedule(m);
  EXPECT_FALSE(r.status.ok());
  EXPECT_THAT(r.Explain(), HasSubstr("minResources not free: GPUs 32 (24 free)"));
  EXPECT_EQ(HeldGpus(), 8);
  m.gang->min_resources.gpu = framework::GpuRequest::Whole(16);
  EXPECT_TRUE(Schedule(m).status.IsWait());
}

TEST_F(GangTest, MembersBoundBeforeARestartCountTowardsTheQuorum) {
  AddNodes(3);
  Build();
  // Two members of an elastic gang (min 2, total 3) were bound before the scheduler started.
  for (int i = 0; i < 2; ++i) {
    PodInfo m = Member("e", i, 2, 8, 0, 0, 3);
    const NodeId node("n" + std::to_string(i));
    ASSERT_TRUE(cache_.AddBoundPod(m, node, *framework::TryAllocate(*cache_.FindNode(node),
                                                                    m.requests.gpu)).ok());
  }
  // The third is an extra past the quorum: it binds at once instead of waiting for two more.
  EXPECT_TRUE(Schedule(Member("e", 2, 2, 8, 0, 0, 3)).status.ok());
  EXPECT_EQ(View("e").live, 3);
}

TEST_F(GangTest, PreemptsWholeLowerPriorityGangsNeverHalfOfOne) {
  AddNodes(2);
  Build();
  for (int i = 0; i < 2; ++i) Schedule(Member("low", i, 2, 8, 0, /*priority=*/0));
  ASSERT_EQ(Bound().size(), 2u);
  // A one-member gang of higher priority needs one node: half of `low` would do, but a gang is
  // evicted whole.
  runtime::ScheduleResult r = Schedule(Member("high", 0, 1, 8, 5, /*priority=*/100));
  EXPECT_FALSE(r.status.ok());
  ASSERT_TRUE(r.nominated_node.has_value());
  EXPECT_THAT(evictor_.evicted, UnorderedElementsAre("low-0", "low-1"));
  EXPECT_THAT(evictor_.reasons[0], HasSubstr("preempted by gang default/high"));
  EXPECT_TRUE(Schedule(Member("high", 0, 1, 8, 5, 100)).status.ok());
}

TEST_F(GangTest, PreemptionTakesTheLowestPriorityYoungestGroupsAndSparesEqualPriority) {
  AddNodes(3);
  Build();
  for (int i = 0; i < 2; ++i) Schedule(Member("low", i, 2, 8, /*created=*/0, /*priority=*/50));
  Schedule(Member("young", 0, 1, 8, /*created=*/5, /*priority=*/50));
  ASSERT_EQ(Bound().size(), 3u);
  EXPECT_FALSE(Schedule(Member("peer", 0, 1, 8, 6, 50)).status.ok());
  EXPECT_TRUE(evictor_.evicted.empty()) << "equal priority is never preempted";
  // One node needed: the youngest group of the lowest priority goes, and nothing else.
  EXPECT_FALSE(Schedule(Member("high", 0, 1, 8, 7, 100)).status.ok());
  EXPECT_THAT(evictor_.evicted, UnorderedElementsAre("young-0"));
  ASSERT_TRUE(Schedule(Member("high", 0, 1, 8, 7, 100)).status.ok());
  // Two more nodes needed by a higher gang: `low` goes, whole.
  EXPECT_FALSE(Schedule(Member("top", 0, 2, 8, 8, 200)).status.ok());
  EXPECT_THAT(evictor_.evicted, UnorderedElementsAre("young-0", "low-0", "low-1"));
}

TEST_F(GangTest, PreemptionSkipsVictimsWhoseNodesTheGangCannotUse) {
  AddNodes(1);
  testing::NodeBuilder tainted("t0");
  tainted.Cpu(96000).MemoryGi(1024).Gpus(8).Taint("team", "infra");
  ASSERT_TRUE(cache_.AddNode(tainted.Build()).ok());
  Build();
  Schedule(Member("old", 0, 1, 8, /*created=*/0, /*priority=*/0));  // lands on n0
  PodInfo infra = Member("infra", 0, 1, 8, /*created=*/50, 0);    // youngest: first in line
  infra.tolerations.push_back({"team", false, "infra", std::nullopt});
  ASSERT_TRUE(Schedule(infra).status.ok());
  ASSERT_EQ(binder_.bound().back().node.str(), "t0");
  EXPECT_FALSE(Schedule(Member("high", 0, 1, 8, 60, 100)).status.ok());
  // Evicting `infra` would free a node `high` cannot use (it does not tolerate the taint).
  EXPECT_THAT(evictor_.evicted, UnorderedElementsAre("old-0"));
}

TEST_F(GangTest, GangTopologyKeepsEveryMemberInOneRack) {
  AddNodes(2, 8, "r1", "a");
  AddNodes(4, 8, "r2", "b");
  Build();
  // Rack r1 has 2 nodes, r2 has 4: only r2 can hold the 4 members.
  for (int i = 0; i < 4; ++i) {
    PodInfo p = Member("g", i, 4);
    p.annotations[plugins::gang::kGangTopologyAnnotation] = "rack";
    runtime::ScheduleResult r = Schedule(p);
    EXPECT_TRUE(i < 3 ? r.status.IsWait() : r.status.ok()) << r.Explain();
  }
  for (const auto& b : binder_.bound()) EXPECT_EQ(b.node.str()[0], 'b') << b.node.str();
  EXPECT_EQ(Bound().size(), 4u);
}

TEST_F(GangTest, GangTopologyRequiredLevelThatCannotHoldTheGangIsReported) {
  AddNodes(2, 8, "r1", "a");
  AddNodes(2, 8, "r2", "b");
  Build();
  PodInfo p = Member("g", 0, 3);
  p.annotations[plugins::gang::kGangTopologyAnnotation] = "rack";
  runtime::ScheduleResult r = Schedule(p);
  EXPECT_FALSE(r.status.ok());
  EXPECT_THAT(r.Explain(), HasSubstr("rack"));
  EXPECT_EQ(HeldGpus(), 0);
  p.annotations[plugins::gang::kGangTopologyAnnotation] = "anywhere";
  EXPECT_THAT(Schedule(p).Explain(), HasSubstr("is not one of"));
}

}  // namespace
}  // namespace gpusched
