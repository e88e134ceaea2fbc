#include "scheduler/cache/snapshot_store.h"

#include <string>

#include "gtest/gtest.h"

namespace gpusched::cache {
namespace {

NodeSpec Node(const std::string& name, int gpus) {
  NodeSpec s;
  s.name = NodeId(name);
  s.cpu = MilliCpu(32000);
  s.memory = MemoryBytes(int64_t{64} << 30);
  for (int i = 0; i < gpus; ++i) {
    s.gpus.push_back(framework::GpuDevice{"A100", GpuMemMiB(81920), true, -1});
  }
  return s;
}

PodInfo Pod(const std::string& uid) {
  PodInfo p;
  p.uid = PodUid(uid);
  p.name = uid;
  p.requests.cpu = MilliCpu(1000);
  p.requests.gpu = framework::GpuRequest::Whole(1);
  return p;
}

std::vector<GpuShare> Gpu(int index) {
  return {GpuShare{DeviceIndex(index), kOneGpu, GpuMemMiB(81920)}};
}

TEST(SnapshotStore, AHeldSnapshotNeverChangesWhileWritersGoOn) {
  SnapshotStore store;
  ASSERT_TRUE(store.Apply(ModelOp::AddNode(Node("n1", 2))).ok());
  SnapshotRef before = store.Current();
  ASSERT_TRUE(store.Apply(ModelOp::Assume(Pod("p1"), NodeId("n1"), Gpu(0))).ok());
  ASSERT_TRUE(store.Apply(ModelOp::AddNode(Node("n2", 1))).ok());

  EXPECT_EQ(before->Nodes().size(), 1u);
  EXPECT_EQ(before->FindNode(NodeId("n1"))->fully_free_gpus(), 2);
  EXPECT_EQ(before->FindPod(PodUid("p1")), nullptr);

  SnapshotRef after = store.Current();
  EXPECT_EQ(after->Nodes().size(), 2u);
  EXPECT_EQ(after->FindNode(NodeId("n1"))->fully_free_gpus(), 1);
  ASSERT_NE(after->FindPod(PodUid("p1")), nullptr);
  EXPECT_EQ(after->generation(), store.generation());
  EXPECT_GT(after->generation(), before->generation());
}

TEST(SnapshotStore, AFailedOpChangesNothingAndPublishesNothing) {
  SnapshotStore store;
  ASSERT_TRUE(store.Apply(ModelOp::AddNode(Node("n1", 1))).ok());
  ASSERT_TRUE(store.Apply(ModelOp::Assume(Pod("p1"), NodeId("n1"), Gpu(0))).ok());
  const uint64_t gen = store.generation();
  absl::Status s = store.Apply(ModelOp::Assume(Pod("p2"), NodeId("n1"), Gpu(0)));
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(store.generation(), gen);
  EXPECT_EQ(store.Current()->FindPod(PodUid("p2")), nullptr);
  EXPECT_FALSE(store.Apply(ModelOp::Forget(PodUid("nobody"))).ok());
  EXPECT_EQ(store.generation(), gen);
}

TEST(SnapshotStore, UpdateSeesTheMasterAndPublishesEveryOpAtOnce) {
  SnapshotStore store;
  ASSERT_TRUE(store.Apply(ModelOp::AddNode(Node("n1", 2))).ok());
  absl::Status s = store.Update([&](ModelTxn& txn) -> absl::Status {
    EXPECT_EQ(txn.model().FindNode(NodeId("n1"))->fully_free_gpus(), 2);
    if (absl::Status a = txn.Apply(ModelOp::Assume(Pod("p1"), NodeId("n1"), Gpu(0))); !a.ok()) {
      return a;
    }
    EXPECT_EQ(txn.model().FindNode(NodeId("n1"))->fully_free_gpus(), 1);
    return txn.Apply(ModelOp::Assume(Pod("p2"), NodeId("n1"), Gpu(1)));
  });
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(store.Current()->FindNode(NodeId("n1"))->fully_free_gpus(), 0);
}

TEST(SnapshotStore, ManyHeldSnapshotsEachKeepTheirGenerationAndReplicasAreReused) {
  SnapshotStore store;
  ASSERT_TRUE(store.Apply(ModelOp::AddNode(Node("n1", 8))).ok());
  std::vector<SnapshotRef> held;
  for (int i = 0; i < 8; ++i) {
    held.push_back(store.Current());
    ASSERT_TRUE(store.Apply(ModelOp::Assume(Pod("p" + std::to_string(i)), NodeId("n1"), Gpu(i))).ok());
  }
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(held[i]->FindNode(NodeId("n1"))->fully_free_gpus(), 8 - i) << i;
  }
  held.clear();
  // With no reader left, writes reuse idle replicas instead of cloning.
  const uint64_t clones = store.clone_count();
  const size_t replicas = store.replica_count();
  for (int i = 0; i < 8; ++i) {
    ASSERT_TRUE(store.Apply(ModelOp::RemovePod(PodUid("p" + std::to_string(i)))).ok());
  }
  EXPECT_EQ(store.clone_count(), clones);
  EXPECT_LE(store.replica_count(), replicas);
  EXPECT_EQ(store.Current()->FindNode(NodeId("n1"))->fully_free_gpus(), 8);
  EXPECT_EQ(store.Current()->pod_count(), 0u);
}

TEST(SnapshotStore, ReplicasEqualTheMasterAfterEveryKindOfOp) {
  SnapshotStore store;
  ClusterCache reference;
  std::vector<ModelOp> ops = {
      ModelOp::AddNode(Node("a", 2)),
      ModelOp::AddNode(Node("b", 4)),
      ModelOp::AddBoundPod(Pod("x"), NodeId("a"), Gpu(1)),
      ModelOp::Assume(Pod("y"), NodeId("b"), Gpu(3)),
      ModelOp::ConfirmBound(PodUid("y")),
      ModelOp::Assume(Pod("z"), NodeId("b"), Gpu(0)),
      ModelOp::Forget(PodUid("z")),
      ModelOp::UpdateNode(Node("b", 5)),
      ModelOp::RemovePod(PodUid("x")),
      ModelOp::RemoveNode(NodeId("a")),
  };
  std::vector<SnapshotRef> held;  // keeps several replicas in play
  for (const ModelOp& op : ops) {
    ASSERT_TRUE(op.ApplyTo(reference).ok());
    ASSERT_TRUE(store.Apply(op).ok());
    SnapshotRef snap = store.Current();
    ASSERT_EQ(snap->Nodes().size(), reference.Nodes().size());
    for (const framework::NodeInfo* n : reference.Nodes()) {
      const framework::NodeInfo* m = snap->FindNode(n->name());
      ASSERT_NE(m, nullptr);
      EXPECT_TRUE(*m == *n) << n->name();
    }
    EXPECT_EQ(snap->pod_count(), reference.pod_count());
    if (held.size() < 2) held.push_back(snap);
  }
}

// Per-node memos (FGD's scores) are keyed by NodeInfo::generation. The replicas take turns as the
// published snapshot, so a node that one op changed must carry one generation in all of them, or
// every memo misses on every other snapshot; a node that changes must get a new one.
TEST(SnapshotStore, ANodeKeepsOneGenerationPerStateAcrossReplicas) {
  SnapshotStore store;
  auto generation_of = [&](const std::string& node) {
    return store.Current()->FindNode(NodeId(node))->generation();
  };
  ASSERT_TRUE(store.Apply(ModelOp::AddNode(Node("a", 2))).ok());
  ASSERT_TRUE(store.Apply(ModelOp::AddNode(Node("b", 2))).ok());
  ASSERT_TRUE(store.Apply(ModelOp::Assume(Pod("p"), NodeId("b"), Gpu(0))).ok());
  const ClusterCache* r1 = store.Current().get();  // replicas outlive the handles: compared only
  const uint64_t b_with_p = generation_of("b");
  const uint64_t a_before = generation_of("a");
  // Published on the other replica, which replays the Assume too.
  ASSERT_TRUE(store.Apply(ModelOp::ConfirmBound(PodUid("p"))).ok());
  EXPECT_EQ(generation_of("b"), b_with_p);
  EXPECT_EQ(generation_of("a"), a_before);
  ASSERT_NE(r1, store.Current().get());
  // A change is a new generation, the same on the next replica again.
  ASSERT_TRUE(store.Apply(ModelOp::Assume(Pod("q"), NodeId("a"), Gpu(1))).ok());
  const uint64_t a_with_q = generation_of("a");
  EXPECT_NE(a_with_q, a_before);
  EXPECT_EQ(generation_of("b"), b_with_p);
  ASSERT_TRUE(store.Apply(ModelOp::Forget(PodUid("q"))).ok());
  const uint64_t a_after_forget = generation_of("a");
  EXPECT_NE(a_after_forget, a_with_q);
  EXPECT_NE(a_after_forget, a_before);  // equal state, but a generation is never reused
  ASSERT_TRUE(store.Apply(ModelOp::AddNode(Node("c", 1))).ok());
  EXPECT_EQ(generation_of("a"), a_after_forget);
  EXPECT_EQ(generation_of("b"), b_with_p);
}

}  // namespace
}  // namespace gpusched::cache
