#include "scheduler/cache/cluster_cache.h"

#include <algorithm>
#include <random>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/fakes/builders.h"

namespace gpusched::framework {
// Readable failure output for shares (found by ADL; internal linkage keeps it to this file).
static void PrintTo(const GpuShare& s, std::ostream* os) {
  *os << "{gpu " << s.gpu << ", " << s.milli << "m, " << s.memory << "MiB}";
}
}  // namespace gpusched::framework

namespace gpusched::cache {
namespace {

using ::gpusched::testing::NodeBuilder;
using ::gpusched::testing::PodBuilder;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

GpuShare Share(int32_t gpu, int64_t milli, int64_t mem_mib) {
  return GpuShare{DeviceIndex(gpu), GpuMilli(milli), GpuMemMiB(mem_mib)};
}
GpuShare Whole(int32_t gpu) { return Share(gpu, 1000, 16384); }

// Four 16Gi GPUs, 8 CPUs, 32Gi.
NodeSpec GpuNode(std::string name) {
  return NodeBuilder(std::move(name)).Cpu(8000).MemoryGi(32).Gpus(4, "A100", 16384).Build();
}

std::vector<std::string> NodeNames(const ClusterCache& cache) {
  std::vector<std::string> out;
  for (const NodeInfo* n : cache.Nodes()) out.push_back(n->name().str());
  return out;
}

struct Placement {
  PodInfo pod;
  std::vector<GpuShare> gpus;
};

// A mix of pods that fits on one GpuNode together.
std::vector<Placement> MixedPods() {
  return {
      {PodBuilder("whole-2").Cpu(2000).MemoryGi(4).Gpus(2).Build(), {Whole(0), Whole(2)}},
      {PodBuilder("share-a").Cpu(500).GpuShare(250, 4096).Build(), {Share(1, 250, 4096)}},
      {PodBuilder("share-b").Cpu(500).GpuShare(300, 2048).Build(), {Share(1, 300, 2048)}},
      {PodBuilder("mem-only").Cpu(100).GpuShare(0, 1024).Build(), {Share(3, 0, 1024)}},
      {PodBuilder("cpu-only").Cpu(1500).MemoryGi(2).Build(), {}},
  };
}

// ---------------------------------------------------------------------------------------------
// Nodes

TEST(ClusterCacheTest, AddNodeMakesItFindable) {
  ClusterCache cache;
  ASSERT_TRUE(cache.AddNode(GpuNode("n1")).ok());
  ASSERT_TRUE(cache.AddNode(NodeBuilder("n2").Build()).ok());
  const NodeInfo* n1 = cache.FindNode(NodeId("n1"));
  ASSERT_NE(n1, nullptr);
  EXPECT_EQ(n1->spec(), GpuNode("n1"));
  EXPECT_EQ(n1->pod_count(), 0);
  EXPECT_EQ(cache.FindNode(NodeId("n3")), nullptr);
  EXPECT_THAT(NodeNames(cache), ElementsAre("n1", "n2"));
  EXPECT_EQ(cache.Nodes()[0], n1);
  EXPECT_EQ(cache.Nodes()[1], cache.FindNode(NodeId("n2")));
}

TEST(ClusterCacheTest, AddNodeOfAKnownNameIsAlreadyExistsAndKeepsTheOriginal) {
  ClusterCache cache;
  ASSERT_TRUE(cache.AddNode(GpuNode("n1")).ok());
  ASSERT_TRUE(cache.Assume(PodBuilder("p").Cpu(1000).Build(), NodeId("n1"), {}).ok());
  const NodeInfo before = *cache.FindNode(NodeId("n1"));

  const absl::Status s = cache.AddNode(NodeBuilder("n1").Cpu(1).Build());
  EXPECT_EQ(s.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(s.message(), HasSubstr("n1"));
  EXPECT_EQ(*cache.FindNode(NodeId("n1")), before);
  EXPECT_EQ(cache.Nodes().size(), 1u);
  EXPECT_EQ(cache.pod_count(), 1u);
}

TEST(ClusterCacheTest, AddNodeRejectsInvalidSpecs) {
  struct Case {
    std::string name;
    NodeSpec spec;
    std::string want_substr;
  };
  NodeSpec no_name = GpuNode("x");
  no_name.name = NodeId("");
  const std::vector<Case> cases = {
      {"empty name", no_name, "name"},
      {"negative cpu", NodeBuilder("bad").Cpu(-1000).Build(), "cpu"},
      {"zero gpu memory", NodeBuilder("bad").Gpus(2, "A100", 0).Build(), "gpus[0].memory"},
      {"negative max pods", NodeBuilder("bad").MaxPods(-1).Build(), "max_pods"},
  };
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.name);
    ClusterCache cache;
    ASSERT_TRUE(cache.AddNode(GpuNode("good")).ok());
    const absl::Status s = cache.AddNode(tc.spec);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(s.message(), HasSubstr(tc.want_substr));
    EXPECT_EQ(cache.FindNode(tc.spec.name), nullptr);
    EXPECT_THAT(NodeNames(cache), ElementsAre("good"));
    // The name is still free for a valid spec.
    if (!tc.spec.name.empty()) {
      EXPECT_TRUE(cache.AddNode(NodeBuilder(tc.spec.name.str()).Build()).ok());
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Assume / Forget / ConfirmBound

TEST(ClusterCacheTest, AssumeThenForgetRestoresTheNodeExactly) {
  ClusterCache cache;
  ASSERT_TRUE(cache.AddNode(GpuNode("n1")).ok());
  ASSERT_TRUE(cache.AddNode(GpuNode("n2")).ok());
  // A bound pod already on n1, so the node is not trivially empty.
  ASSERT_TRUE(cache
                  .AddBoundPod(PodBuilder("bound").Cpu(1000).GpuShare(100, 1024).Build(),
                               NodeId("n1"), {Share(1, 100, 1024)})
                  .ok());

  for (const Placement& p : MixedPods()) {
    SCOPED_TRACE(p.pod.name);
    const NodeInfo before = *cache.FindNode(NodeId("n1"));
    const NodeInfo other_before = *cache.FindNode(NodeId("n2"));
    const size_t pods_before = cache.pod_count();

    ASSERT_TRUE(cache.Assume(p.pod, NodeId("n1"), p.gpus).ok());
    EXPECT_NE(*cache.FindNode(NodeId("n1")), before);
    EXPECT_EQ(cache.pod_count(), pods_before + 1);
    const PodRecord* rec = cache.FindPod(p.pod.uid);
    ASSERT_NE(rec, nullptr);
    EXPECT_EQ(rec->state, PodState::kAssumed);
    EXPECT_EQ(rec->node, NodeId("n1"));
    EXPECT_EQ(rec->gpus, p.gpus);
    EXPECT_EQ(rec->pod.name, p.pod.name);

    const absl::Status forgot = cache.Forget(p.pod.uid);
    ASSERT_TRUE(forgot.ok()) << forgot;
    EXPECT_EQ(*cache.FindNode(NodeId("n1")), before);
    EXPECT_EQ(*cache.FindNode(NodeId("n2")), other_before);
    EXPECT_EQ(cache.FindPod(p.pod.uid), nullptr);
    EXPECT_EQ(cache.pod_count(), pods_before);
  }
}

TEST(ClusterCacheTest, AssumeAllThenForgetInAnyOrderRestoresTheNode) {
  const std::vector<std::vector<int>> orders = {
      {0, 1, 2, 3, 4}, {4, 3, 2, 1, 0}, {2, 0, 4, 1, 3}};
  for (const std::vector<int>& order : orders) {
    SCOPED_TRACE(::testing::PrintToString(order));
    ClusterCache cache;
    ASSERT_TRUE(cache.AddNode(GpuNode("n1")).ok());
    const NodeInfo before = *cache.FindNode(NodeId("n1"));
    const std::vector<Placement> pods = MixedPods();
    for (const Placement& p : pods) {
      ASSERT_TRUE(cache.Assume(p.pod, NodeId("n1"), p.gpus).ok()) << p.pod.name;
    }
    EXPECT_EQ(cache.FindNode(NodeId("n1"))->pod_count(), 5);
    EXPECT_EQ(cache.pod_count(), 5u);
    for (int i : order) {
      ASSERT_TRUE(cache.Forget(pods[i].pod.uid).ok()) << pods[i].pod.name;
    }
    EXPECT_EQ(*cache.FindNode(NodeId("n1")), before);
    EXPECT_EQ(cache.pod_count(), 0u);
  }
}

TEST(ClusterCacheTest, ForgetOfABoundPodFailsAndChangesNothing) {
  ClusterCache cache;
  ASSERT_TRUE(cache.AddNode(GpuNode("n1")).ok());
  const PodInfo confirmed = PodBuilder("confirmed").Cpu(1000).GpuShare(500, 2048).Build();
  ASSERT_TRUE(cache.Assume(confirmed, NodeId("n1"), {Share(0, 500, 2048)}).ok());
  ASSERT_TRUE(cache.ConfirmBound(confirmed.uid).ok());
  EXPECT_EQ(cache.FindPod(confirmed.uid)->state, PodState::kBound);
  const PodInfo observed = PodBuilder("observed").Cpu(500).Gpus(1).Build();
  ASSERT_TRUE(cache.AddBoundPod(observed, NodeId("n1"), {Whole(1)}).ok());

  const NodeInfo before = *cache.FindNode(NodeId("n1"));
  for (const PodUid& uid : {confirmed.uid, observed.uid, PodUid("never-seen")}) {
    SCOPED_TRACE(uid.str());
    const absl::Status s = cache.Forget(uid);
    EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(s.message(), HasSubstr(uid.str()));
    EXPECT_EQ(*cache.FindNode(NodeId("n1")), before);
    EXPECT_EQ(cache.pod_count(), 2u);
  }
  EXPECT_EQ(cache.FindPod(confirmed.uid)->state, PodState::kBound);
  EXPECT_EQ(cache.FindPod(observed.uid)->state, PodState::kBound);
}

TEST(ClusterCacheTest, ForgetTwiceFailsTheSecondTime) {
  ClusterCache cache;
  ASSERT_TRUE(cache.AddNode(GpuNode("n1")).ok());
  const PodInfo pod = PodBuilder("p").Cpu(1000).Build();
  ASSERT_TRUE(cache.Assume(pod, NodeId("n1"), {}).ok());
  ASSERT_TRUE(cache.Forget(pod.uid).ok());
  const NodeInfo before = *cache.FindNode(NodeId("n1"));
  EXPECT_EQ(cache.Forget(pod.uid).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(*cache.FindNode(NodeId("n1")), before);
}

TEST(ClusterCacheTest, ConfirmBoundOnlyForAssumedPods) {
  ClusterCache cache;
  ASSERT_TRUE(cache.AddNode(GpuNode("n1")).ok());
  const PodInfo pod = PodBuilder("p").Cpu(1000).Build();
  ASSERT_TRUE(cache.Assume(pod, NodeId("n1"), {}).ok());
  const NodeInfo before = *cache.FindNode(NodeId("n1"));
  ASSERT_TRUE(cache.ConfirmBound(pod.uid).ok());
  EXPECT_EQ(cache.FindPod(pod.uid)->state, PodState::kBound);
  EXPECT_EQ(*cache.FindNode(NodeId("n1")), before);  // confirming moves no resources

  EXPECT_EQ(cache.ConfirmBound(pod.uid).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(cache.ConfirmBound(PodUid("unknown")).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(cache.FindPod(PodUid("unknown")), nullptr);
}

TEST(ClusterCacheTest, AssumeThatDoesNotFitFailsAndChangesNothing) {
  struct Case {
    std::string name;
    PodInfo pod;
    NodeId node;
    std::vector<GpuShare> gpus;
    absl::StatusCode want_code;
  };
  PodInfo no_uid = PodBuilder("no-uid").Build();
  no_uid.uid = PodUid("");
  // n1 already holds "existing" (2000m cpu, 600m/8Gi of GPU 0, assumed) and "held" (1000m cpu,
  // GPU 1 whole, bound): 5000m cpu and 400m of GPU 0 are left.
  const std::vector<Case> cases = {
      {"too much cpu", PodBuilder("big").Cpu(5001).Build(), NodeId("n1"), {},
       absl::StatusCode::kFailedPrecondition},
      {"share larger than what is free", PodBuilder("s").GpuShare(500, 1024).Build(),
       NodeId("n1"), {Share(0, 500, 1024)}, absl::StatusCode::kFailedPrecondition},
      {"whole gpu already held", PodBuilder("w").Gpus(1).Build(), NodeId("n1"), {Whole(1)},
       absl::StatusCode::kFailedPrecondition},
      {"second of two gpus busy", PodBuilder("w2").Gpus(2).Build(), NodeId("n1"),
       {Whole(3), Whole(0)}, absl::StatusCode::kFailedPrecondition},
      {"gpu that does not exist", PodBuilder("x").GpuShare(100, 1024).Build(), NodeId("n1"),
       {Share(9, 100, 1024)}, absl::StatusCode::kInvalidArgument},
      {"assignment size mismatch", PodBuilder("m").Gpus(2).Build(), NodeId("n1"), {Whole(3)},
       absl::StatusCode::kInvalidArgument},
      {"unknown node", PodBuilder("u").Build(), NodeId("nope"), {},
       absl::StatusCode::kNotFound},
      {"uid already placed", PodBuilder("existing").Build(), NodeId("n2"), {},
       absl::StatusCode::kAlreadyExists},
      {"no uid", no_uid, NodeId("n1"), {}, absl::StatusCode::kInvalidArgument},
  };
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.name);
    ClusterCache cache;
    ASSERT_TRUE(cache.AddNode(GpuNode("n1")).ok());
    ASSERT_TRUE(cache.AddNode(GpuNode("n2")).ok());
    ASSERT_TRUE(cache
                    .Assume(PodBuilder("existing").Cpu(2000).GpuShare(600, 8192).Build(),
                            NodeId("n1"), {Share(0, 600, 8192)})
                    .ok());
    ASSERT_TRUE(
        cache.AddBoundPod(PodBuilder("held").Cpu(1000).Gpus(1).Build(), NodeId("n1"), {Whole(1)})
            .ok());
    const NodeInfo n1 = *cache.FindNode(NodeId("n1"));
    const NodeInfo n2 = *cache.FindNode(NodeId("n2"));

    const absl::Status s = cache.Assume(tc.pod, tc.node, tc.gpus);
    EXPECT_EQ(s.code(), tc.want_code) << s;
    EXPECT_EQ(*cache.FindNode(NodeId("n1")), n1);
    EXPECT_EQ(*cache.FindNode(NodeId("n2")), n2);
    EXPECT_EQ(cache.pod_count(), 2u);
    if (tc.want_code != absl::StatusCode::kAlreadyExists && !tc.pod.uid.empty()) {
      EXPECT_EQ(cache.FindPod(tc.pod.uid), nullptr);
    }
    // The existing assumed pod is untouched and can still be forgotten.
    const PodRecord* existing = cache.FindPod(PodUid("existing"));
    ASSERT_NE(existing, nullptr);
    EXPECT_EQ(existing->node, NodeId("n1"));
    EXPECT_EQ(existing->state, PodState::kAssumed);
  }
}

// ---------------------------------------------------------------------------------------------
// AddBoundPod / RemovePod

TEST(ClusterCacheTest, GangIndexFollowsEveryMutation) {
  ClusterCache cache;
  ASSERT_TRUE(cache.AddNode(GpuNode("n1")).ok());
  ASSERT_TRUE(cache.AddNode(GpuNode("n2")).ok());
  auto members = [&](const char* gang) {
    std::vector<std::string> out;
    cache.ForEachGangMember(GangId(gang), [&](const PodRecord& r) { out.push_back(r.pod.name); });
    std::sort(out.begin(), out.end());
    return out;
  };
  const PodInfo a0 = PodBuilder("a0").Gpus(1).Gang("ns/a", 3).Build();
  const PodInfo a1 = PodBuilder("a1").Gpus(1).Gang("ns/a", 3).Build();
  const PodInfo a2 = PodBuilder("a2").Gpus(1).Gang("ns/a", 3).Build();
  const PodInfo solo = PodBuilder("solo").Gpus(1).Build();
  ASSERT_TRUE(cache.AddBoundPod(a0, NodeId("n1"), {Whole(0)}).ok());
  ASSERT_TRUE(cache.Assume(a1, NodeId("n1"), {Whole(1)}).ok());
  ASSERT_TRUE(cache.Assume(a2, NodeId("n2"), {Whole(0)}).ok());
  ASSERT_TRUE(cache.AddBoundPod(solo, NodeId("n2"), {Whole(1)}).ok());
  EXPECT_THAT(members("ns/a"), ElementsAre("a0", "a1", "a2"));
  ASSERT_TRUE(cache.Forget(a1.uid).ok());
  EXPECT_THAT(members("ns/a"), ElementsAre("a0", "a2"));
  ASSERT_TRUE(cache.RemoveNode(NodeId("n2")).ok());
  EXPECT_THAT(members("ns/a"), ElementsAre("a0"));
  ASSERT_TRUE(cache.RemovePod(a0.uid).ok());
  EXPECT_THAT(members("ns/a"), IsEmpty());
  EXPECT_THAT(members("ns/none"), IsEmpty());
}

TEST(ClusterCacheTest, AddBoundPodRecordsABoundPod) {
  ClusterCache cache;
  ASSERT_TRUE(cache.AddNode(GpuNode("n1")).ok());
  const PodInfo pod = PodBuilder("p").Cpu(1500).Gpus(2).Build();
  ASSERT_TRUE(cache.AddBoundPod(pod, NodeId("n1"), {Whole(1), Whole(3)}).ok());

  const PodRecord* rec = cache.FindPod(pod.uid);
  ASSERT_NE(rec, nullptr);
  EXPECT_EQ(rec->state, PodState::kBound);
  EXPECT_EQ(rec->node, NodeId("n1"));
  EXPECT_THAT(rec->gpus, ElementsAre(Whole(1), Whole(3)));
  const NodeInfo* node = cache.FindNode(NodeId("n1"));
  EXPECT_EQ(node->cpu_requested(), MilliCpu(1500));
  EXPECT_EQ(node->pod_count(), 1);
  EXPECT_EQ(node->gpu_milli_used(), GpuMilli(2000));
  EXPECT_EQ(node->gpus()[1].milli_free, GpuMilli(0));
  EXPECT_EQ(node->gpus()[3].milli_free, GpuMilli(0));
  EXPECT_TRUE(node->gpus()[0].fully_free());

  // The same pod cannot be added twice, even to another node.
  ASSERT_TRUE(cache.AddNode(GpuNode("n2")).ok());
  EXPECT_EQ(cache.AddBoundPod(pod, NodeId("n2"), {Whole(0), Whole(1)}).code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(cache.FindNode(NodeId("n2"))->pod_count(), 0);
  EXPECT_EQ(cache.FindPod(pod.uid)->node, NodeId("n1"));
}

TEST(ClusterCacheTest, AddBoundPodThatDoesNotFitChangesNothing) {
  ClusterCache cache;
  ASSERT_TRUE(cache.AddNode(GpuNode("n1")).ok());
  const NodeInfo before = *cache.FindNode(NodeId("n1"));
  EXPECT_FALSE(
      cache.AddBoundPod(PodBuilder("big").Cpu(9000).Build(), NodeId("n1"), {}).ok());
  EXPECT_EQ(cache.AddBoundPod(PodBuilder("lost").Build(), NodeId("nope"), {}).code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(*cache.FindNode(NodeId("n1")), before);
  EXPECT_EQ(cache.pod_count(), 0u);
}

TEST(ClusterCacheTest, RemovePodReleasesAssumedAndBoundPods) {
  ClusterCache cache;
  ASSERT_TRUE(cache.AddNode(GpuNode("n1")).ok());
  const NodeInfo empty = *cache.FindNode(NodeId("n1"));
  const std::vector<Placement> pods = MixedPods();
  // Alternate: assumed, bound (via ConfirmBound), observed bound.
  for (size_t i = 0; i < pods.size(); ++i) {
    const Placement& p = pods[i];
    if (i % 3 == 2) {
      ASSERT_TRUE(cache.AddBoundPod(p.pod, NodeId("n1"), p.gpus).ok());
    } else {
      ASSERT_TRUE(cache.Assume(p.pod, NodeId("n1"), p.gpus).ok());
      if (i % 3 == 1) {
        ASSERT_TRUE(cache.ConfirmBound(p.pod.uid).ok());
      }
    }
  }
  for (size_t i = 0; i < pods.size(); ++i) {
    SCOPED_TRACE(pods[i].pod.name);
    const absl::Status s = cache.RemovePod(pods[i].pod.uid);
    ASSERT_TRUE(s.ok()) << s;
    EXPECT_EQ(cache.FindPod(pods[i].pod.uid), nullptr);
    EXPECT_EQ(cache.pod_count(), pods.size() - i - 1);
    EXPECT_EQ(cache.FindNode(NodeId("n1"))->pod_count(), static_cast<int32_t>(pods.size() - i - 1));
  }
  EXPECT_EQ(*cache.FindNode(NodeId("n1")), empty);
}

TEST(ClusterCacheTest, RemovePodOfUnknownPodIsNotFound) {
  ClusterCache cache;
  ASSERT_TRUE(cache.AddNode(GpuNode("n1")).ok());
  ASSERT_TRUE(cache.Assume(PodBuilder("p").Build(), NodeId("n1"), {}).ok());
  const NodeInfo before = *cache.FindNode(NodeId("n1"));
  const absl::Status s = cache.RemovePod(PodUid("ghost"));
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(s.message(), HasSubstr("ghost"));
  EXPECT_EQ(*cache.FindNode(NodeId("n1")), before);
  EXPECT_EQ(cache.pod_count(), 1u);
}

TEST(ClusterCacheTest, RemovedPodUidCanBePlacedAgain) {
  ClusterCache cache;
  ASSERT_TRUE(cache.AddNode(GpuNode("n1")).ok());
  const PodInfo pod = PodBuilder("p").GpuShare(500, 1024).Build();
  ASSERT_TRUE(cache.Assume(pod, NodeId("n1"), {Share(0, 500, 1024)}).ok());
  ASSERT_TRUE(cache.RemovePod(pod.uid).ok());
  ASSERT_TRUE(cache.Assume(pod, NodeId("n1"), {Share(2, 500, 1024)}).ok());
  EXPECT_THAT(cache.FindPod(pod.uid)->gpus, ElementsAre(Share(2, 500, 1024)));
  EXPECT_TRUE(cache.FindNode(NodeId("n1"))->gpus()[0].fully_free());
}

// ---------------------------------------------------------------------------------------------
// RemoveNode

TEST(ClusterCacheTest, RemoveNodeDropsItsPodsAndKeepsOtherNodesFindable) {
  ClusterCache cache;
  for (const char* n : {"n1", "n2", "n3", "n4"}) ASSERT_TRUE(cache.AddNode(GpuNode(n)).ok());
  ASSERT_TRUE(cache.Assume(PodBuilder("on-n1").Gpus(1).Build(), NodeId("n1"), {Whole(0)}).ok());
  ASSERT_TRUE(cache.AddBoundPod(PodBuilder("on-n1-b").Build(), NodeId("n1"), {}).ok());
  ASSERT_TRUE(
      cache.AddBoundPod(PodBuilder("on-n4").GpuShare(300, 2048).Build(), NodeId("n4"),
                        {Share(2, 300, 2048)})
          .ok());
  ASSERT_TRUE(cache.Assume(PodBuilder("on-n2").Cpu(700).Build(), NodeId("n2"), {}).ok());
  const NodeInfo n2 = *cache.FindNode(NodeId("n2"));
  const NodeInfo n3 = *cache.FindNode(NodeId("n3"));
  const NodeInfo n4 = *cache.FindNode(NodeId("n4"));

  // Removing the first node moves the last one into its place.
  ASSERT_TRUE(cache.RemoveNode(NodeId("n1")).ok());
  EXPECT_EQ(cache.FindNode(NodeId("n1")), nullptr);
  EXPECT_EQ(cache.FindPod(PodUid("on-n1")), nullptr);
  EXPECT_EQ(cache.FindPod(PodUid("on-n1-b")), nullptr);
  EXPECT_EQ(cache.pod_count(), 2u);
  EXPECT_THAT(NodeNames(cache), ElementsAre("n4", "n2", "n3"));
  ASSERT_NE(cache.FindNode(NodeId("n2")), nullptr);
  ASSERT_NE(cache.FindNode(NodeId("n3")), nullptr);
  ASSERT_NE(cache.FindNode(NodeId("n4")), nullptr);
  EXPECT_EQ(*cache.FindNode(NodeId("n2")), n2);
  EXPECT_EQ(*cache.FindNode(NodeId("n3")), n3);
  EXPECT_EQ(*cache.FindNode(NodeId("n4")), n4);
  for (const NodeInfo* n : cache.Nodes()) EXPECT_EQ(cache.FindNode(n->name()), n);

  // Pods on the moved node still resolve to it.
  ASSERT_TRUE(cache.RemovePod(PodUid("on-n4")).ok());
  EXPECT_TRUE(cache.FindNode(NodeId("n4"))->gpus()[2].fully_free());
  EXPECT_EQ(cache.FindNode(NodeId("n4"))->pod_count(), 0);

  // Removing the last node in the list and a middle one.
  ASSERT_TRUE(cache.RemoveNode(NodeId("n3")).ok());
  EXPECT_THAT(NodeNames(cache), ElementsAre("n4", "n2"));
  ASSERT_TRUE(cache.RemoveNode(NodeId("n4")).ok());
  EXPECT_THAT(NodeNames(cache), ElementsAre("n2"));
  EXPECT_EQ(cache.FindNode(NodeId("n2")), cache.Nodes()[0]);
  EXPECT_EQ(cache.FindPod(PodUid("on-n2"))->node, NodeId("n2"));
  ASSERT_TRUE(cache.Forget(PodUid("on-n2")).ok());
  ASSERT_TRUE(cache.RemoveNode(NodeId("n2")).ok());
  EXPECT_THAT(cache.Nodes(), IsEmpty());
  EXPECT_EQ(cache.pod_count(), 0u);
}

TEST(ClusterCacheTest, RemoveNodeOfUnknownNodeIsNotFound) {
  ClusterCache cache;
  ASSERT_TRUE(cache.AddNode(GpuNode("n1")).ok());
  const absl::Status s = cache.RemoveNode(NodeId("n9"));
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(s.message(), HasSubstr("n9"));
  EXPECT_THAT(NodeNames(cache), ElementsAre("n1"));
}

TEST(ClusterCacheTest, RemovedNodeCanBeAddedAgainEmpty) {
  ClusterCache cache;
  ASSERT_TRUE(cache.AddNode(GpuNode("n1")).ok());
  ASSERT_TRUE(cache.AddNode(GpuNode("n2")).ok());
  ASSERT_TRUE(cache.AddBoundPod(PodBuilder("p").Cpu(4000).Build(), NodeId("n1"), {}).ok());
  ASSERT_TRUE(cache.RemoveNode(NodeId("n1")).ok());
  ASSERT_TRUE(cache.AddNode(GpuNode("n1")).ok());
  EXPECT_THAT(NodeNames(cache), ElementsAre("n2", "n1"));
  EXPECT_EQ(cache.FindNode(NodeId("n1"))->pod_count(), 0);
  EXPECT_EQ(cache.FindNode(NodeId("n1"))->cpu_requested(), MilliCpu(0));
  EXPECT_EQ(cache.FindPod(PodUid("p")), nullptr);
  // The old pod's uid is free again.
  EXPECT_TRUE(cache.AddBoundPod(PodBuilder("p").Cpu(4000).Build(), NodeId("n1"), {}).ok());
}

// ---------------------------------------------------------------------------------------------
// UpdateNode

TEST(ClusterCacheTest, UpdateNodeKeepsItsPods) {
  ClusterCache cache;
  ASSERT_TRUE(cache.AddNode(GpuNode("n1")).ok());
  const std::vector<Placement> pods = MixedPods();
  for (const Placement& p : pods) ASSERT_TRUE(cache.Assume(p.pod, NodeId("n1"), p.gpus).ok());
  const NodeInfo* before_ptr = cache.FindNode(NodeId("n1"));
  const NodeInfo before = *before_ptr;

  NodeSpec updated = NodeBuilder("n1")
                         .Cpu(16000)
                         .MemoryGi(64)
                         .Gpus(4, "A100", 16384)
                         .Label("zone", "b")
                         .Cordoned()
                         .Build();
  const absl::Status s = cache.UpdateNode(updated);
  ASSERT_TRUE(s.ok()) << s;
  const NodeInfo* after = cache.FindNode(NodeId("n1"));
  ASSERT_NE(after, nullptr);
  EXPECT_EQ(after, before_ptr);  // same object: Nodes() pointers stay valid
  EXPECT_EQ(after->spec(), updated);
  EXPECT_EQ(after->pod_count(), before.pod_count());
  EXPECT_EQ(after->cpu_requested(), before.cpu_requested());
  EXPECT_EQ(after->memory_requested(), before.memory_requested());
  EXPECT_EQ(after->gpu_milli_used(), before.gpu_milli_used());
  EXPECT_EQ(after->gpus(), before.gpus());
  EXPECT_EQ(after->cpu_free(), MilliCpu(16000) - before.cpu_requested());
  EXPECT_EQ(cache.pod_count(), pods.size());

  // The pods can still be forgotten exactly against the updated node.
  for (const Placement& p : pods) ASSERT_TRUE(cache.Forget(p.pod.uid).ok()) << p.pod.name;
  const NodeInfo fresh = *framework::NodeInfo::Create(updated);
  EXPECT_EQ(*cache.FindNode(NodeId("n1")), fresh);
}

TEST(ClusterCacheTest, UpdateNodeThatPodsNoLongerFitIsRejectedKeepingTheOldNode) {
  struct Case {
    std::string name;
    NodeSpec spec;
    absl::StatusCode want_code;
  };
  NodeSpec invalid = GpuNode("n1");
  invalid.gpus[0].memory = GpuMemMiB(0);
  const std::vector<Case> cases = {
      {"drops the gpu a pod uses", NodeBuilder("n1").Cpu(8000).MemoryGi(32).Gpus(3, "A100", 16384).Build(),
       absl::StatusCode::kFailedPrecondition},
      {"drops every gpu", NodeBuilder("n1").Cpu(8000).MemoryGi(32).Build(),
       absl::StatusCode::kFailedPrecondition},
      {"gpus shrink below the shares", NodeBuilder("n1").Cpu(8000).MemoryGi(32).Gpus(4, "A100", 4096).Build(),
       absl::StatusCode::kFailedPrecondition},
      {"cpu below what pods request", NodeBuilder("n1").Cpu(1000).MemoryGi(32).Gpus(4, "A100", 16384).Build(),
       absl::StatusCode::kFailedPrecondition},
      {"max pods below the pod count",
       NodeBuilder("n1").Cpu(8000).MemoryGi(32).MaxPods(1).Gpus(4, "A100", 16384).Build(),
       absl::StatusCode::kFailedPrecondition},
      {"invalid spec", invalid, absl::StatusCode::kInvalidArgument},
  };
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.name);
    ClusterCache cache;
    ASSERT_TRUE(cache.AddNode(GpuNode("n1")).ok());
    ASSERT_TRUE(cache.AddNode(GpuNode("n2")).ok());
    ASSERT_TRUE(cache
                    .Assume(PodBuilder("on-gpu3").Cpu(2000).GpuShare(300, 8192).Build(),
                            NodeId("n1"), {Share(3, 300, 8192)})
                    .ok());
    ASSERT_TRUE(cache.AddBoundPod(PodBuilder("cpu").Cpu(1000).Build(), NodeId("n1"), {}).ok());
    const NodeInfo n1 = *cache.FindNode(NodeId("n1"));
    const NodeInfo n2 = *cache.FindNode(NodeId("n2"));

    const absl::Status s = cache.UpdateNode(tc.spec);
    EXPECT_EQ(s.code(), tc.want_code) << s;
    EXPECT_EQ(*cache.FindNode(NodeId("n1")), n1);
    EXPECT_EQ(*cache.FindNode(NodeId("n2")), n2);
    EXPECT_EQ(cache.pod_count(), 2u);
    // The old node still works: the assumed pod forgets exactly.
    ASSERT_TRUE(cache.Forget(PodUid("on-gpu3")).ok());
    EXPECT_TRUE(cache.FindNode(NodeId("n1"))->gpus()[3].fully_free());
  }
}

TEST(ClusterCacheTest, UpdateNodeErrorNamesThePodThatNoLongerFits) {
  ClusterCache cache;
  ASSERT_TRUE(cache.AddNode(GpuNode("n1")).ok());
  ASSERT_TRUE(cache
                  .Assume(PodBuilder("trainer").GpuShare(300, 8192).Build(), NodeId("n1"),
                          {Share(3, 300, 8192)})
                  .ok());
  const absl::Status s =
      cache.UpdateNode(NodeBuilder("n1").Cpu(8000).MemoryGi(32).Gpus(3, "A100", 16384).Build());
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("trainer"));
  EXPECT_THAT(s.message(), HasSubstr("GPU 3"));
}

TEST(ClusterCacheTest, UpdateNodeOfUnknownNodeIsNotFound) {
  ClusterCache cache;
  ASSERT_TRUE(cache.AddNode(GpuNode("n1")).ok());
  EXPECT_EQ(cache.UpdateNode(GpuNode("n2")).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(cache.FindNode(NodeId("n2")), nullptr);
  EXPECT_THAT(NodeNames(cache), ElementsAre("n1"));
}

TEST(ClusterCacheTest, UpdateNodeLeavesPodsOfOtherNodesAlone) {
  ClusterCache cache;
  ASSERT_TRUE(cache.AddNode(GpuNode("n1")).ok());
  ASSERT_TRUE(cache.AddNode(GpuNode("n2")).ok());
  // A pod on n2 using GPU 3; n1 loses its GPU 3, which must not matter.
  ASSERT_TRUE(cache.Assume(PodBuilder("p").Gpus(1).Build(), NodeId("n2"), {Whole(3)}).ok());
  const NodeInfo n2 = *cache.FindNode(NodeId("n2"));
  const NodeSpec smaller = NodeBuilder("n1").Cpu(8000).MemoryGi(32).Gpus(3, "A100", 16384).Build();
  ASSERT_TRUE(cache.UpdateNode(smaller).ok());
  EXPECT_EQ(cache.FindNode(NodeId("n1"))->gpus().size(), 3u);
  EXPECT_EQ(cache.FindNode(NodeId("n1"))->pod_count(), 0);
  EXPECT_EQ(*cache.FindNode(NodeId("n2")), n2);
}

// ---------------------------------------------------------------------------------------------
// pod_count and the snapshot interface

TEST(ClusterCacheTest, PodCountFollowsEveryOperation) {
  ClusterCache cache;
  EXPECT_EQ(cache.pod_count(), 0u);
  ASSERT_TRUE(cache.AddNode(GpuNode("n1")).ok());
  ASSERT_TRUE(cache.AddNode(GpuNode("n2")).ok());
  ASSERT_TRUE(cache.Assume(PodBuilder("a").Build(), NodeId("n1"), {}).ok());
  EXPECT_EQ(cache.pod_count(), 1u);
  ASSERT_TRUE(cache.AddBoundPod(PodBuilder("b").Build(), NodeId("n2"), {}).ok());
  EXPECT_EQ(cache.pod_count(), 2u);
  ASSERT_TRUE(cache.Assume(PodBuilder("c").Build(), NodeId("n2"), {}).ok());
  EXPECT_EQ(cache.pod_count(), 3u);
  EXPECT_FALSE(cache.Assume(PodBuilder("c").Build(), NodeId("n1"), {}).ok());
  EXPECT_EQ(cache.pod_count(), 3u);
  ASSERT_TRUE(cache.ConfirmBound(PodUid("c")).ok());
  EXPECT_EQ(cache.pod_count(), 3u);
  ASSERT_TRUE(cache.Forget(PodUid("a")).ok());
  EXPECT_EQ(cache.pod_count(), 2u);
  ASSERT_TRUE(cache.RemovePod(PodUid("b")).ok());
  EXPECT_EQ(cache.pod_count(), 1u);
  ASSERT_TRUE(cache.RemoveNode(NodeId("n2")).ok());
  EXPECT_EQ(cache.pod_count(), 0u);
}

TEST(ClusterCacheTest, SnapshotInterfaceSeesTheSameNodes) {
  ClusterCache cache;
  ASSERT_TRUE(cache.AddNode(GpuNode("n1")).ok());
  ASSERT_TRUE(cache.AddNode(GpuNode("n2")).ok());
  ASSERT_TRUE(cache.Assume(PodBuilder("p").Cpu(3000).Build(), NodeId("n2"), {}).ok());
  const framework::ClusterSnapshot& snap = cache;
  ASSERT_EQ(snap.Nodes().size(), 2u);
  EXPECT_EQ(snap.FindNode(NodeId("n2")), snap.Nodes()[1]);
  EXPECT_EQ(snap.FindNode(NodeId("n2"))->cpu_requested(), MilliCpu(3000));
  EXPECT_EQ(snap.FindNode(NodeId("missing")), nullptr);
}


// FindNodes must answer exactly what FindNode answers, whatever the order of the names: the
// model's own order (its fast path), a subsequence of it, reversed, shuffled, with unknown
// names, duplicates, and names whose nodes moved (a removal fills the gap from the back).
TEST(ClusterCacheTest, FindNodesAgreesWithFindNodeForEveryOrder) {
  ClusterCache cache;
  std::vector<NodeId> all;
  for (int i = 0; i < 300; ++i) {
    // Names of several lengths, so the word-wise comparison meets every tail length.
    all.emplace_back(std::string(static_cast<size_t>(i % 19), 'x') + "node-" + std::to_string(i));
    ASSERT_TRUE(cache.AddNode(GpuNode(all.back().str())).ok());
  }
  for (int i = 0; i < 300; i += 7) ASSERT_TRUE(cache.RemoveNode(all[static_cast<size_t>(i)]).ok());
  for (int i = 0; i < 300; i += 21) ASSERT_TRUE(cache.AddNode(GpuNode(all[static_cast<size_t>(i)].str())).ok());

  std::vector<NodeId> model_order;
  for (const NodeInfo* n : cache.Nodes()) model_order.push_back(n->name());
  std::vector<NodeId> every_other;
  for (size_t i = 0; i < model_order.size(); i += 2) every_other.push_back(model_order[i]);
  std::vector<NodeId> reversed(model_order.rbegin(), model_order.rend());
  std::vector<NodeId> shuffled = all;
  std::mt19937_64 rng(3);
  std::shuffle(shuffled.begin(), shuffled.end(), rng);
  std::vector<NodeId> odd = {NodeId("missing"), model_order[5], model_order[5], NodeId(""),
                             model_order[6], NodeId("node-"), model_order.back(),
                             model_order.front(), NodeId(model_order[7].str() + "x")};
  const framework::ClusterSnapshot& snap = cache;
  for (const std::vector<NodeId>* names :
       {&model_order, &every_other, &reversed, &all, &shuffled, &odd}) {
    std::vector<const NodeInfo*> got(names->size(), reinterpret_cast<const NodeInfo*>(1));
    snap.FindNodes(*names, absl::MakeSpan(got));
    for (size_t i = 0; i < names->size(); ++i) {
      EXPECT_EQ(got[i], cache.FindNode((*names)[i])) << (*names)[i].str() << " at " << i;
    }
  }
}

// Nodes live in an arena: removing some and adding others reuses their slots, and every node
// keeps its own state (ASan checks the records' lifetimes).
TEST(ClusterCacheTest, NodesRemovedAndAddedAgainKeepTheirOwnState) {
  ClusterCache cache;
  for (int i = 0; i < 150; ++i) ASSERT_TRUE(cache.AddNode(GpuNode("n" + std::to_string(i))).ok());
  for (int i = 0; i < 150; ++i) {
    ASSERT_TRUE(cache.Assume(PodBuilder("p" + std::to_string(i)).Cpu(1000 + i).Build(),
                             NodeId("n" + std::to_string(i)), {}).ok());
  }
  for (int i = 0; i < 150; i += 3) ASSERT_TRUE(cache.RemoveNode(NodeId("n" + std::to_string(i))).ok());
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(cache.AddNode(GpuNode("m" + std::to_string(i))).ok());
  EXPECT_EQ(cache.Nodes().size(), 150u - 50u + 100u);
  for (int i = 0; i < 150; ++i) {
    const NodeInfo* n = cache.FindNode(NodeId("n" + std::to_string(i)));
    if (i % 3 == 0) {
      EXPECT_EQ(n, nullptr);
      continue;
    }
    ASSERT_NE(n, nullptr);
    EXPECT_EQ(n->cpu_requested(), MilliCpu(1000 + i));
  }
  for (int i = 0; i < 100; ++i) {
    const NodeInfo* n = cache.FindNode(NodeId("m" + std::to_string(i)));
    ASSERT_NE(n, nullptr);
    EXPECT_EQ(n->cpu_requested(), MilliCpu(0));
    EXPECT_EQ(n->cpu_capacity(), MilliCpu(8000));
  }
  std::unique_ptr<ClusterCache> copy = cache.Clone();
  ASSERT_EQ(copy->Nodes().size(), cache.Nodes().size());
  for (size_t i = 0; i < cache.Nodes().size(); ++i) {
    EXPECT_EQ(*copy->Nodes()[i], *cache.Nodes()[i]);
    EXPECT_NE(copy->Nodes()[i], cache.Nodes()[i]);
  }
}

}  // namespace
}  // namespace gpusched::cache
