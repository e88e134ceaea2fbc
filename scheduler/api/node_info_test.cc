#include "scheduler/api/node_info.h"

#include <array>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/fakes/builders.h"

namespace gpusched::framework {

// Readable failure output for shares (found by ADL; internal linkage keeps it to this file).
static void PrintTo(const GpuShare& s, std::ostream* os) {
  *os << "{gpu " << s.gpu << ", " << s.milli << "m, " << s.memory << "MiB}";
}

namespace {

using ::gpusched::testing::NodeBuilder;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Optional;

constexpr int64_t kGiB = int64_t{1} << 30;

NodeInfo MakeNode(NodeSpec spec) {
  absl::StatusOr<NodeInfo> n = NodeInfo::Create(std::move(spec));
  EXPECT_TRUE(n.ok()) << n.status();
  return *std::move(n);
}

PodResources Req(int64_t cpu_milli, GpuRequest gpu = {}, int64_t memory_bytes = 0) {
  PodResources r;
  r.cpu = MilliCpu(cpu_milli);
  r.memory = MemoryBytes(memory_bytes);
  r.gpu = std::move(gpu);
  return r;
}

GpuShare Share(int32_t gpu, int64_t milli, int64_t mem_mib) {
  return GpuShare{DeviceIndex(gpu), GpuMilli(milli), GpuMemMiB(mem_mib)};
}

GpuShare WholeShare(int32_t gpu, int64_t mem_mib = 16384) { return Share(gpu, 1000, mem_mib); }

PodResources ShareReq(int64_t cpu_milli, int64_t milli, int64_t mem_mib) {
  return Req(cpu_milli, GpuRequest::Share(GpuMilli(milli), GpuMemMiB(mem_mib)));
}

// Adds a share-of-one-GPU pod (asserting success), used to set up free amounts.
void AddShare(NodeInfo& node, int32_t gpu, int64_t milli, int64_t mem_mib) {
  ASSERT_TRUE(node.AddPod(ShareReq(0, milli, mem_mib), {Share(gpu, milli, mem_mib)}).ok());
}

// ---------------------------------------------------------------------------------------------
// NodeInfo::Create

TEST(NodeInfoCreateTest, RejectsInvalidSpecsNamingTheField) {
  struct Case {
    std::string name;
    NodeSpec spec;
    std::string want_substr;
  };
  NodeSpec empty_name = NodeBuilder("n1").Build();
  empty_name.name = NodeId("");
  NodeSpec negative_cpu = NodeBuilder("n1").Cpu(-1).Build();
  NodeSpec negative_memory = NodeBuilder("n1").Build();
  negative_memory.memory = MemoryBytes(-1);
  NodeSpec huge_cpu = NodeBuilder("n1").Cpu(kMaxAmount + 1).Build();
  NodeSpec negative_max_pods = NodeBuilder("n1").MaxPods(-1).Build();
  NodeSpec zero_gpu_memory = NodeBuilder("n1").Gpus(1, "A100", 81920).Gpus(1, "A100", 0).Build();
  NodeSpec negative_gpu_memory = NodeBuilder("n1").Gpus(1, "A100", -5).Build();

  const std::vector<Case> cases = {
      {"empty name", empty_name, "name"},
      {"negative cpu", negative_cpu, "cpu"},
      {"cpu above the maximum amount", huge_cpu, "cpu"},
      {"negative memory", negative_memory, "memory"},
      {"negative max pods", negative_max_pods, "max_pods"},
      {"gpu memory 0", zero_gpu_memory, "gpus[1].memory"},
      {"negative gpu memory", negative_gpu_memory, "gpus[0].memory"},
  };
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.name);
    const absl::StatusOr<NodeInfo> got = NodeInfo::Create(tc.spec);
    ASSERT_FALSE(got.ok());
    EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(got.status().message(), HasSubstr(tc.want_substr));
  }
}

TEST(NodeInfoCreateTest, AcceptsZeroCapacitiesAndNoGpus) {
  NodeSpec spec = NodeBuilder("n1").Cpu(0).MemoryGi(0).MaxPods(0).Build();
  const absl::StatusOr<NodeInfo> got = NodeInfo::Create(spec);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_THAT(got->gpus(), IsEmpty());
}

TEST(NodeInfoCreateTest, StartsEmptyWithEveryDeviceFree) {
  const NodeSpec spec = NodeBuilder("n1")
                            .Cpu(16000)
                            .MemoryGi(64)
                            .Gpus(1, "A100", 40960)
                            .Gpus(1, "H100", 81920)
                            .Unhealthy(1)
                            .Build();
  const NodeInfo node = MakeNode(spec);
  EXPECT_EQ(node.spec(), spec);
  EXPECT_EQ(node.name(), NodeId("n1"));
  EXPECT_EQ(node.cpu_requested(), MilliCpu(0));
  EXPECT_EQ(node.memory_requested(), MemoryBytes(0));
  EXPECT_EQ(node.cpu_free(), MilliCpu(16000));
  EXPECT_EQ(node.memory_free(), MemoryBytes(64 * kGiB));
  EXPECT_EQ(node.pod_count(), 0);
  EXPECT_EQ(node.gpu_milli_used(), GpuMilli(0));
  ASSERT_EQ(node.gpus().size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    SCOPED_TRACE(i);
    const GpuSlot& slot = node.gpus()[i];
    EXPECT_EQ(slot.device, spec.gpus[i]);
    EXPECT_EQ(slot.milli_free, kOneGpu);
    EXPECT_EQ(slot.memory_free, spec.gpus[i].memory);
    EXPECT_EQ(slot.pods, 0);
    EXPECT_TRUE(slot.fully_free());
  }
}

// ---------------------------------------------------------------------------------------------
// AddPod / RemovePod

TEST(NodeInfoTest, AddPodRecordsCpuMemoryAndDeviceShares) {
  NodeInfo node = MakeNode(NodeBuilder("n1").Cpu(8000).MemoryGi(32).Gpus(3, "A100", 16384).Build());

  ASSERT_TRUE(node.AddPod(Req(1500, GpuRequest::Whole(2), 4 * kGiB),
                          {WholeShare(0), WholeShare(2)})
                  .ok());
  ASSERT_TRUE(node.AddPod(ShareReq(500, 250, 2048), {Share(1, 250, 2048)}).ok());
  ASSERT_TRUE(node.AddPod(Req(1000, {}, kGiB), {}).ok());

  EXPECT_EQ(node.cpu_requested(), MilliCpu(3000));
  EXPECT_EQ(node.cpu_free(), MilliCpu(5000));
  EXPECT_EQ(node.memory_requested(), MemoryBytes(5 * kGiB));
  EXPECT_EQ(node.memory_free(), MemoryBytes(27 * kGiB));
  EXPECT_EQ(node.pod_count(), 3);
  EXPECT_EQ(node.gpu_milli_used(), GpuMilli(2250));

  const auto& g = node.gpus();
  EXPECT_EQ(g[0].milli_free, GpuMilli(0));
  EXPECT_EQ(g[0].memory_free, GpuMemMiB(0));
  EXPECT_EQ(g[0].pods, 1);
  EXPECT_EQ(g[1].milli_free, GpuMilli(750));
  EXPECT_EQ(g[1].memory_free, GpuMemMiB(16384 - 2048));
  EXPECT_EQ(g[1].pods, 1);
  EXPECT_FALSE(g[1].fully_free());
  EXPECT_EQ(g[2].milli_free, GpuMilli(0));
  EXPECT_EQ(g[2].pods, 1);
}

TEST(NodeInfoTest, GpuMilliUsedFollowsAddsAndRemoves) {
  NodeInfo node = MakeNode(NodeBuilder("n1").Gpus(2, "A100", 16384).Build());
  const PodResources a = ShareReq(100, 300, 1024);
  const PodResources b = ShareReq(100, 450, 1024);
  const PodResources whole = Req(100, GpuRequest::Whole(1));
  const PodResources mem_only = ShareReq(100, 0, 512);

  ASSERT_TRUE(node.AddPod(a, {Share(0, 300, 1024)}).ok());
  EXPECT_EQ(node.gpu_milli_used(), GpuMilli(300));
  ASSERT_TRUE(node.AddPod(b, {Share(0, 450, 1024)}).ok());
  EXPECT_EQ(node.gpu_milli_used(), GpuMilli(750));
  EXPECT_EQ(node.gpus()[0].pods, 2);
  ASSERT_TRUE(node.AddPod(whole, {WholeShare(1)}).ok());
  EXPECT_EQ(node.gpu_milli_used(), GpuMilli(1750));
  ASSERT_TRUE(node.AddPod(mem_only, {Share(0, 0, 512)}).ok());
  EXPECT_EQ(node.gpu_milli_used(), GpuMilli(1750));
  EXPECT_EQ(node.gpus()[0].pods, 3);

  ASSERT_TRUE(node.RemovePod(a, {Share(0, 300, 1024)}).ok());
  EXPECT_EQ(node.gpu_milli_used(), GpuMilli(1450));
  ASSERT_TRUE(node.RemovePod(whole, {WholeShare(1)}).ok());
  EXPECT_EQ(node.gpu_milli_used(), GpuMilli(450));
  ASSERT_TRUE(node.RemovePod(b, {Share(0, 450, 1024)}).ok());
  ASSERT_TRUE(node.RemovePod(mem_only, {Share(0, 0, 512)}).ok());
  EXPECT_EQ(node.gpu_milli_used(), GpuMilli(0));
  EXPECT_EQ(node.pod_count(), 0);
}

TEST(NodeInfoTest, GpuPodShapesCountPodsByShape) {
  NodeInfo node = MakeNode(NodeBuilder("n1").Cpu(64000).Gpus(16, "A100", 16384).Build());
  const PodResources share = ShareReq(100, 250, 1024);
  const PodResources one = Req(100, GpuRequest::Whole(1));
  const PodResources two = Req(100, GpuRequest::Whole(2));
  const PodResources twelve = Req(100, GpuRequest::Whole(12));
  const PodResources cpu_only = Req(100);
  std::vector<GpuShare> twelve_shares;
  for (int32_t i = 4; i < 16; ++i) twelve_shares.push_back(WholeShare(i));

  ASSERT_TRUE(node.AddPod(share, {Share(0, 250, 1024)}).ok());
  ASSERT_TRUE(node.AddPod(share, {Share(0, 250, 1024)}).ok());
  ASSERT_TRUE(node.AddPod(one, {WholeShare(1)}).ok());
  ASSERT_TRUE(node.AddPod(two, {WholeShare(2), WholeShare(3)}).ok());
  ASSERT_TRUE(node.AddPod(twelve, twelve_shares).ok());
  ASSERT_TRUE(node.AddPod(cpu_only, {}).ok());  // not a GPU pod
  std::array<int32_t, NodeInfo::kMaxShape> want{};
  want[0] = 2;
  want[1] = 1;
  want[2] = 1;
  want[NodeInfo::kMaxShape - 1] = 1;  // 12 GPUs count as the largest shape
  EXPECT_EQ(node.gpu_pod_shapes(), want);

  ASSERT_TRUE(node.RemovePod(share, {Share(0, 250, 1024)}).ok());
  ASSERT_TRUE(node.RemovePod(twelve, twelve_shares).ok());
  want[0] = 1;
  want[NodeInfo::kMaxShape - 1] = 0;
  EXPECT_EQ(node.gpu_pod_shapes(), want);
  // A failed AddPod leaves the counts alone.
  EXPECT_FALSE(node.AddPod(one, {WholeShare(1)}).ok());
  EXPECT_EQ(node.gpu_pod_shapes(), want);
}

struct PodCase {
  std::string name;
  PodResources req;
  std::vector<GpuShare> shares;
};

TEST(NodeInfoTest, AddThenRemoveRestoresAnEqualNode) {
  const std::vector<PodCase> cases = {
      {"one whole gpu", Req(1000, GpuRequest::Whole(1), kGiB), {WholeShare(2)}},
      {"two whole gpus", Req(2000, GpuRequest::Whole(2), 2 * kGiB),
       {WholeShare(0), WholeShare(3)}},
      {"share of one gpu", ShareReq(500, 250, 4096), {Share(1, 250, 4096)}},
      {"share with memory only", ShareReq(500, 0, 4096), {Share(3, 0, 4096)}},
      {"share with milli only", ShareReq(500, 100, 0), {Share(3, 100, 0)}},
      {"cpu only", Req(1500, {}, 3 * kGiB), {}},
      {"zero request", Req(0), {}},
  };
  // Start from an empty node and from one that already holds a pod on GPU 1.
  const NodeInfo empty = MakeNode(NodeBuilder("n1").Cpu(8000).MemoryGi(32).Gpus(4, "A100", 16384).Build());
  NodeInfo busy = empty;
  ASSERT_TRUE(busy.AddPod(ShareReq(700, 300, 2048), {Share(1, 300, 2048)}).ok());

  for (const NodeInfo* start : std::vector<const NodeInfo*>{&empty, &busy}) {
    for (const PodCase& tc : cases) {
      SCOPED_TRACE(tc.name + (start == &busy ? " (busy node)" : " (empty node)"));
      NodeInfo node = *start;
      ASSERT_TRUE(node.AddPod(tc.req, tc.shares).ok());
      EXPECT_EQ(node.pod_count(), start->pod_count() + 1);
      EXPECT_NE(node, *start);
      const absl::Status removed = node.RemovePod(tc.req, tc.shares);
      ASSERT_TRUE(removed.ok()) << removed;
      EXPECT_EQ(node, *start);
    }
  }
}

TEST(NodeInfoTest, RemoveInADifferentOrderThanAddedRestoresTheNode) {
  const NodeInfo start = MakeNode(NodeBuilder("n1").Gpus(2, "A100", 16384).Build());
  NodeInfo node = start;
  const std::vector<PodCase> pods = {
      {"a", ShareReq(100, 200, 1024), {Share(0, 200, 1024)}},
      {"b", ShareReq(200, 300, 2048), {Share(0, 300, 2048)}},
      {"c", Req(300, GpuRequest::Whole(1)), {WholeShare(1)}},
  };
  for (const PodCase& p : pods) ASSERT_TRUE(node.AddPod(p.req, p.shares).ok()) << p.name;
  for (int i : {1, 2, 0}) {
    ASSERT_TRUE(node.RemovePod(pods[i].req, pods[i].shares).ok()) << pods[i].name;
  }
  EXPECT_EQ(node, start);
}

TEST(NodeInfoTest, AddPodIsAllOrNothing) {
  struct Case {
    std::string name;
    int32_t max_pods;
    PodResources req;
    std::vector<GpuShare> shares;
    absl::StatusCode want_code;
    std::string want_substr;
  };
  // Every node: cpu 8000m, 32Gi, two 16Gi GPUs; one pod already holds 1000m cpu, 8Gi memory
  // and 600m/8Gi of GPU 0.
  const std::vector<Case> cases = {
      {"gpu index past the end", 10, ShareReq(100, 100, 1024), {Share(2, 100, 1024)},
       absl::StatusCode::kInvalidArgument, "GPU 2 does not exist"},
      {"negative gpu index", 10, ShareReq(100, 100, 1024), {Share(-1, 100, 1024)},
       absl::StatusCode::kInvalidArgument, "GPU -1"},
      {"same gpu twice", 10, Req(100, GpuRequest::Whole(2)), {WholeShare(1), WholeShare(1)},
       absl::StatusCode::kInvalidArgument, "twice"},
      {"too much milli", 10, ShareReq(100, 500, 1024), {Share(0, 500, 1024)},
       absl::StatusCode::kFailedPrecondition, "GPU 0"},
      {"too much memory", 10, ShareReq(100, 100, 8193), {Share(0, 100, 8193)},
       absl::StatusCode::kFailedPrecondition, "GPU 0"},
      {"second share fails after first fits", 10, Req(100, GpuRequest::Whole(2)),
       {WholeShare(1), WholeShare(0)}, absl::StatusCode::kFailedPrecondition, "GPU 0"},
      {"fewer shares than requested gpus", 10, Req(100, GpuRequest::Whole(2)), {WholeShare(1)},
       absl::StatusCode::kInvalidArgument, "2 GPU(s)"},
      {"shares for a cpu-only pod", 10, Req(100), {Share(1, 100, 1024)},
       absl::StatusCode::kInvalidArgument, "0 GPU(s)"},
      {"empty share", 10, ShareReq(100, 0, 0), {Share(1, 0, 0)},
       absl::StatusCode::kInvalidArgument, "empty or negative share"},
      {"negative share", 10, ShareReq(100, 100, 1024), {Share(1, -100, 1024)},
       absl::StatusCode::kInvalidArgument, "empty or negative share"},
      {"cpu over capacity", 10, ShareReq(7001, 100, 1024), {Share(1, 100, 1024)},
       absl::StatusCode::kFailedPrecondition, "cpu"},
      {"memory over capacity", 10, Req(100, {}, 24 * kGiB + 1), {},
       absl::StatusCode::kFailedPrecondition, "memory"},
      {"negative cpu", 10, Req(-1), {}, absl::StatusCode::kInvalidArgument, "negative"},
      {"too many pods", 1, ShareReq(100, 100, 1024), {Share(1, 100, 1024)},
       absl::StatusCode::kFailedPrecondition, "too many pods"},
  };
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.name);
    NodeInfo node = MakeNode(
        NodeBuilder("n1").Cpu(8000).MemoryGi(32).MaxPods(tc.max_pods).Gpus(2, "A100", 16384).Build());
    ASSERT_TRUE(
        node.AddPod(Req(1000, GpuRequest::Share(GpuMilli(600), GpuMemMiB(8192)), 8 * kGiB),
                    {Share(0, 600, 8192)})
            .ok());
    const NodeInfo before = node;
    const absl::Status s = node.AddPod(tc.req, tc.shares);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.code(), tc.want_code) << s;
    EXPECT_THAT(s.message(), HasSubstr(tc.want_substr));
    EXPECT_THAT(s.message(), HasSubstr("n1"));  // names the node
    EXPECT_EQ(node, before);
  }
}

TEST(NodeInfoTest, AddPodAcceptsExactlyTheRemainingCapacity) {
  NodeInfo node = MakeNode(NodeBuilder("n1").Cpu(2000).MemoryGi(4).MaxPods(2).Gpus(1, "A100", 16384).Build());
  ASSERT_TRUE(node.AddPod(ShareReq(1000, 400, 10000), {Share(0, 400, 10000)}).ok());
  ASSERT_TRUE(node.AddPod(Req(1000, GpuRequest::Share(GpuMilli(600), GpuMemMiB(6384)), 4 * kGiB),
                          {Share(0, 600, 6384)})
                  .ok());
  EXPECT_EQ(node.cpu_free(), MilliCpu(0));
  EXPECT_EQ(node.memory_free(), MemoryBytes(0));
  EXPECT_EQ(node.gpus()[0].milli_free, GpuMilli(0));
  EXPECT_EQ(node.gpus()[0].memory_free, GpuMemMiB(0));
  EXPECT_EQ(node.pod_count(), 2);
}

TEST(NodeInfoTest, RemovePodOfSomethingNeverAddedFailsAndChangesNothing) {
  struct Case {
    std::string name;
    bool with_existing_pod;
    PodResources req;
    std::vector<GpuShare> shares;
  };
  // The existing pod: 1000m cpu, 1Gi memory, 300m/2Gi of GPU 0.
  const std::vector<Case> cases = {
      {"cpu-only pod on an empty node", false, Req(100), {}},
      {"zero pod on an empty node", false, Req(0), {}},
      {"share on an empty node", false, ShareReq(0, 300, 2048), {Share(0, 300, 2048)}},
      {"more cpu than requested", true, Req(1001), {}},
      {"more memory than requested", true, Req(0, {}, kGiB + 1), {}},
      {"share of a gpu that holds nothing", true, ShareReq(100, 100, 1024),
       {Share(1, 100, 1024)}},
      {"whole gpu where only a share sits", true, Req(100, GpuRequest::Whole(1)),
       {WholeShare(0)}},
      {"more milli than the gpu holds", true, ShareReq(100, 301, 1024), {Share(0, 301, 1024)}},
      {"more memory than the gpu holds", true, ShareReq(100, 100, 2049), {Share(0, 100, 2049)}},
      {"gpu index past the end", true, ShareReq(100, 100, 1024), {Share(7, 100, 1024)}},
      {"same gpu twice", true, Req(100, GpuRequest::Whole(2)),
       {Share(0, 100, 1024), Share(0, 100, 1024)}},
      {"second share invalid after a valid first", true, Req(100, GpuRequest::Whole(2)),
       {Share(0, 100, 1024), Share(1, 100, 1024)}},
  };
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.name);
    NodeInfo node = MakeNode(NodeBuilder("n1").Cpu(8000).MemoryGi(32).Gpus(2, "A100", 16384).Build());
    if (tc.with_existing_pod) {
      ASSERT_TRUE(node.AddPod(Req(1000, GpuRequest::Share(GpuMilli(300), GpuMemMiB(2048)), kGiB),
                              {Share(0, 300, 2048)})
                      .ok());
    }
    const NodeInfo before = node;
    const absl::Status s = node.RemovePod(tc.req, tc.shares);
    EXPECT_FALSE(s.ok());
    EXPECT_THAT(s.message(), HasSubstr("n1"));
    EXPECT_EQ(node, before);
  }
}

// RemovePod is documented as "the exact inverse of AddPod with the same arguments; same
// all-or-nothing checks". AddPod rejects an assignment whose size differs from gpu.count, so
// RemovePod must too; otherwise the pod's CPU is released while its GPU share stays held.
TEST(NodeInfoTest, RemovePodRejectsAssignmentThatDoesNotMatchTheGpuCount) {
  NodeInfo node = MakeNode(NodeBuilder("n1").Gpus(2, "A100", 16384).Build());
  const PodResources req = ShareReq(1000, 300, 2048);
  ASSERT_TRUE(node.AddPod(req, {Share(0, 300, 2048)}).ok());
  const NodeInfo before = node;

  const absl::Status s = node.RemovePod(req, {});
  EXPECT_FALSE(s.ok()) << "RemovePod accepted 0 shares for a pod asking for 1 GPU";
  EXPECT_EQ(node, before);
}

// ---------------------------------------------------------------------------------------------
// ValidateGpuRequest

TEST(NodeInfoValidateGpuRequestTest, ChecksTheShapeRules) {
  struct Case {
    std::string name;
    GpuRequest req;
    bool ok;
    std::string want_substr;  // for errors: the field named
  };
  const std::vector<Case> cases = {
      {"no gpus", GpuRequest{}, true, ""},
      {"one whole", GpuRequest::Whole(1), true, ""},
      {"eight whole of a model", GpuRequest::Whole(8, "H100"), true, ""},
      {"whole with minimum memory", GpuRequest{2, kOneGpu, GpuMemMiB(40960), {}}, true, ""},
      {"share with milli and memory", GpuRequest::Share(GpuMilli(250), GpuMemMiB(4096)), true,
       ""},
      {"share with milli only", GpuRequest::Share(GpuMilli(500), GpuMemMiB(0)), true, ""},
      {"share with memory only", GpuRequest::Share(GpuMilli(0), GpuMemMiB(4096)), true, ""},
      {"negative count", GpuRequest{-1, kOneGpu, GpuMemMiB(0), {}}, false, "gpu.count"},
      {"count 0 with milli", GpuRequest{0, GpuMilli(500), GpuMemMiB(0), {}}, false, "gpu.count"},
      {"count 0 with memory", GpuRequest{0, GpuMilli(0), GpuMemMiB(1024), {}}, false,
       "gpu.count"},
      {"share with count 2", GpuRequest{2, GpuMilli(500), GpuMemMiB(0), {}}, false, "gpu.count"},
      {"milli above 1000", GpuRequest{1, GpuMilli(1001), GpuMemMiB(0), {}}, false,
       "gpu.milli_per_gpu"},
      {"negative milli", GpuRequest{1, GpuMilli(-1), GpuMemMiB(1024), {}}, false,
       "gpu.milli_per_gpu"},
      {"negative memory", GpuRequest{1, kOneGpu, GpuMemMiB(-1), {}}, false, "gpu.memory_per_gpu"},
      {"share with neither milli nor memory", GpuRequest{1, GpuMilli(0), GpuMemMiB(0), {}}, false,
       "gpu"},
  };
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.name);
    const absl::Status s = ValidateGpuRequest(tc.req);
    EXPECT_EQ(s.ok(), tc.ok) << s;
    if (!tc.ok) {
      EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
      EXPECT_THAT(s.message(), HasSubstr(tc.want_substr));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// CheckGpuFit (and TryAllocate agreeing with it)

TEST(NodeInfoCheckGpuFitTest, TellsFitsBusyAndNeverApart) {
  const NodeInfo no_gpus = MakeNode(NodeBuilder("cpu").Build());
  const NodeInfo two_a100 = MakeNode(NodeBuilder("a100").Gpus(2, "A100", 40960).Build());
  NodeInfo one_shared = MakeNode(NodeBuilder("shared").Gpus(1, "A100", 40960).Build());
  AddShare(one_shared, 0, 500, 20480);
  NodeInfo two_one_shared = MakeNode(NodeBuilder("half").Gpus(2, "A100", 40960).Build());
  AddShare(two_one_shared, 1, 100, 1024);
  NodeInfo one_whole_taken = MakeNode(NodeBuilder("taken").Gpus(1, "A100", 40960).Build());
  ASSERT_TRUE(one_whole_taken.AddPod(Req(0, GpuRequest::Whole(1)), {WholeShare(0, 40960)}).ok());
  const NodeInfo unhealthy = MakeNode(NodeBuilder("sick").Gpus(2, "A100", 40960).Unhealthy(0).Build());
  const NodeInfo mixed =
      MakeNode(NodeBuilder("mixed").Gpus(2, "A100", 40960).Gpus(2, "H100", 81920).Build());

  struct Case {
    std::string name;
    const NodeInfo* node;
    GpuRequest req;
    GpuFit want;
    std::string want_reason_substr;
  };
  auto share = [](int64_t milli, int64_t mib, std::string model = "") {
    return GpuRequest::Share(GpuMilli(milli), GpuMemMiB(mib), std::move(model));
  };
  const std::vector<Case> cases = {
      {"empty request on a cpu node", &no_gpus, GpuRequest{}, GpuFit::kFits, ""},
      {"whole on a node without gpus", &no_gpus, GpuRequest::Whole(1), GpuFit::kNever, "no GPUs"},
      {"share on a node without gpus", &no_gpus, share(100, 0), GpuFit::kNever, "no GPUs"},
      {"wrong model whole", &two_a100, GpuRequest::Whole(1, "H100"), GpuFit::kNever, "H100"},
      {"wrong model share", &two_a100, share(100, 1024, "H100"), GpuFit::kNever, "H100"},
      {"too few gpus", &two_a100, GpuRequest::Whole(3), GpuFit::kNever, "fewer than 3"},
      {"too few gpus of the model", &mixed, GpuRequest::Whole(3, "H100"), GpuFit::kNever,
       "fewer than 3"},
      {"device memory too small for whole", &two_a100,
       GpuRequest{1, kOneGpu, GpuMemMiB(40961), {}}, GpuFit::kNever, "memory"},
      {"device memory too small for share", &two_a100, share(100, 40961), GpuFit::kNever,
       "memory"},
      {"whole fits", &two_a100, GpuRequest::Whole(2), GpuFit::kFits, ""},
      {"whole with memory fits the bigger model", &mixed,
       GpuRequest{2, kOneGpu, GpuMemMiB(81920), {}}, GpuFit::kFits, ""},
      {"model matches", &mixed, GpuRequest::Whole(2, "H100"), GpuFit::kFits, ""},
      {"whole busy because a share sits on the only gpu", &one_shared, GpuRequest::Whole(1),
       GpuFit::kBusy, "Insufficient free GPUs"},
      {"two whole busy because a share sits on one", &two_one_shared, GpuRequest::Whole(2),
       GpuFit::kBusy, "Insufficient free GPUs"},
      {"one whole fits beside the share", &two_one_shared, GpuRequest::Whole(1), GpuFit::kFits,
       ""},
      {"unhealthy gpu is capable but not available", &unhealthy, GpuRequest::Whole(2),
       GpuFit::kBusy, "Insufficient free GPUs"},
      {"healthy gpu beside the unhealthy one", &unhealthy, GpuRequest::Whole(1), GpuFit::kFits,
       ""},
      {"share fits the remainder exactly", &one_shared, share(500, 20480), GpuFit::kFits, ""},
      {"share needs more milli than free", &one_shared, share(501, 0), GpuFit::kBusy,
       "Insufficient GPU share"},
      {"share needs more memory than free", &one_shared, share(100, 20481), GpuFit::kBusy,
       "Insufficient GPU share"},
      {"share on a gpu held whole", &one_whole_taken, share(1, 0), GpuFit::kBusy,
       "Insufficient GPU share"},
      {"memory-only share on a gpu held whole", &one_whole_taken, share(0, 1), GpuFit::kBusy,
       "Insufficient GPU share"},
      {"share of the model", &mixed, share(300, 50000, "H100"), GpuFit::kFits, ""},
  };
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.name);
    const GpuFitResult got = CheckGpuFit(*tc.node, tc.req);
    EXPECT_EQ(got.fit, tc.want);
    if (tc.want == GpuFit::kFits) {
      EXPECT_THAT(got.why(), IsEmpty());
    } else {
      EXPECT_THAT(got.why(), HasSubstr(tc.want_reason_substr));
    }
    // TryAllocate finds devices exactly when CheckGpuFit says the request fits now.
    EXPECT_EQ(TryAllocate(*tc.node, tc.req).has_value(), tc.want == GpuFit::kFits);
  }
}

TEST(NodeInfoCheckGpuFitTest, UnhealthyDeviceMakesAShareBusyNotNever) {
  const NodeInfo node = MakeNode(NodeBuilder("sick").Gpus(1, "A100", 40960).Unhealthy(0).Build());
  const GpuFitResult got =
      CheckGpuFit(node, GpuRequest::Share(GpuMilli(100), GpuMemMiB(1024)));
  EXPECT_EQ(got.fit, GpuFit::kBusy);
  EXPECT_EQ(TryAllocate(node, GpuRequest::Share(GpuMilli(100), GpuMemMiB(1024))), std::nullopt);
}

// The common busy reasons are made once and kept (no allocation per rejected node): the same
// words as formatted ones, the same storage every time, from any thread.
TEST(NodeInfoCheckGpuFitTest, CommonBusyReasonsAreKeptNotRemade) {
  NodeInfo node = MakeNode(NodeBuilder("n1").Gpus(4, "A100", 16384).Build());
  AddShare(node, 0, 1000, 16384);
  AddShare(node, 1, 1000, 16384);
  AddShare(node, 2, 750, 1024);
  const GpuFitResult whole = CheckGpuFit(node, GpuRequest::Whole(2));
  ASSERT_EQ(whole.fit, GpuFit::kBusy);
  ASSERT_NE(whole.static_reason, nullptr);
  EXPECT_EQ(whole.why(), "Insufficient free GPUs: needs 2, 1 free here");
  EXPECT_EQ(CheckGpuFit(node, GpuRequest::Whole(2)).static_reason, whole.static_reason);
  const char* from_another_thread = nullptr;
  std::thread([&] {
    from_another_thread = CheckGpuFit(node, GpuRequest::Whole(2)).static_reason;
  }).join();
  EXPECT_EQ(from_another_thread, whole.static_reason);
  const GpuFitResult share = CheckGpuFit(node, GpuRequest::Share(GpuMilli(300), GpuMemMiB(0)));
  EXPECT_EQ(share.fit, GpuFit::kFits);  // device 3 is free
  AddShare(node, 3, 800, 1024);
  const GpuFitResult busy = CheckGpuFit(node, GpuRequest::Share(GpuMilli(300), GpuMemMiB(0)));
  ASSERT_EQ(busy.fit, GpuFit::kBusy);
  EXPECT_EQ(busy.why(), "Insufficient GPU share: needs 300m of one GPU, at most 250m free on one here");
}

// ---------------------------------------------------------------------------------------------
// TryAllocate

TEST(NodeInfoTryAllocateTest, ShareFollowsTheWorkedExampleInTheHeader) {
  // Three 16Gi devices; shares already placed leave {0: 1000m/16Gi, 1: 300m/8Gi, 2: 500m/4Gi}.
  NodeInfo node = MakeNode(NodeBuilder("n1").Gpus(3, "A100", 16384).Build());
  AddShare(node, 1, 700, 8192);
  AddShare(node, 2, 500, 12288);
  ASSERT_EQ(node.gpus()[0].milli_free, GpuMilli(1000));
  ASSERT_EQ(node.gpus()[0].memory_free, GpuMemMiB(16384));
  ASSERT_EQ(node.gpus()[1].milli_free, GpuMilli(300));
  ASSERT_EQ(node.gpus()[1].memory_free, GpuMemMiB(8192));
  ASSERT_EQ(node.gpus()[2].milli_free, GpuMilli(500));
  ASSERT_EQ(node.gpus()[2].memory_free, GpuMemMiB(4096));
  const NodeInfo before = node;

  EXPECT_THAT(TryAllocate(node, GpuRequest::Share(GpuMilli(250), GpuMemMiB(2048))),
              Optional(ElementsAre(Share(1, 250, 2048))));
  EXPECT_THAT(TryAllocate(node, GpuRequest::Share(GpuMilli(400), GpuMemMiB(6144))),
              Optional(ElementsAre(Share(0, 400, 6144))));
  EXPECT_EQ(node, before);  // commits nothing
}

TEST(NodeInfoTryAllocateTest, ShareBestFitBreaksTiesByMemoryThenIndex) {
  struct Case {
    std::string name;
    // (gpu, milli, MiB) shares placed first on a node of three 16Gi devices.
    std::vector<GpuShare> placed;
    GpuRequest req;
    std::optional<std::vector<GpuShare>> want;
  };
  auto share = [](int64_t milli, int64_t mib) {
    return GpuRequest::Share(GpuMilli(milli), GpuMemMiB(mib));
  };
  const std::vector<Case> cases = {
      {"all free: lowest index", {}, share(100, 1024), std::vector{Share(0, 100, 1024)}},
      {"least milli left wins over less memory left",
       {Share(0, 600, 1024), Share(1, 500, 15360)},
       share(100, 512),
       std::vector{Share(0, 100, 512)}},
      {"milli tie: less memory left wins",
       {Share(0, 500, 4096), Share(1, 500, 8192), Share(2, 500, 2048)},
       share(200, 1024),
       std::vector{Share(1, 200, 1024)}},
      {"milli and memory tie: lower index wins",
       {Share(0, 500, 4096), Share(1, 500, 8192), Share(2, 500, 8192)},
       share(200, 1024),
       std::vector{Share(1, 200, 1024)}},
      {"exact fit leaves zero",
       {Share(0, 200, 1024), Share(1, 750, 1024), Share(2, 900, 1024)},
       share(250, 1024),
       std::vector{Share(1, 250, 1024)}},
      {"memory-only share goes to the least milli left",
       {Share(0, 300, 1024), Share(1, 900, 1024), Share(2, 600, 1024)},
       share(0, 1024),
       std::vector{Share(1, 0, 1024)}},
      {"nothing has enough milli",
       {Share(0, 600, 1024), Share(1, 600, 1024), Share(2, 600, 1024)},
       share(500, 1024),
       std::nullopt},
      {"nothing has enough memory",
       {Share(0, 100, 12288), Share(1, 100, 12288), Share(2, 100, 12288)},
       share(100, 4097),
       std::nullopt},
  };
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.name);
    NodeInfo node = MakeNode(NodeBuilder("n1").Gpus(3, "A100", 16384).Build());
    for (const GpuShare& s : tc.placed) AddShare(node, s.gpu.value(), s.milli.value(), s.memory.value());
    EXPECT_EQ(TryAllocate(node, tc.req), tc.want);
  }
}

TEST(NodeInfoTryAllocateTest, ShareSkipsUnhealthyDevices) {
  NodeInfo node = MakeNode(NodeBuilder("n1").Gpus(2, "A100", 16384).Unhealthy(0).Build());
  // Device 0 (unhealthy) would be the best fit: 300m free against device 1's 800m.
  AddShare(node, 0, 700, 1024);
  AddShare(node, 1, 200, 1024);
  EXPECT_THAT(TryAllocate(node, GpuRequest::Share(GpuMilli(200), GpuMemMiB(0))),
              Optional(ElementsAre(Share(1, 200, 0))));
  // Only the unhealthy device has room: nothing fits.
  AddShare(node, 1, 750, 1024);
  EXPECT_EQ(TryAllocate(node, GpuRequest::Share(GpuMilli(200), GpuMemMiB(0))), std::nullopt);
}

TEST(NodeInfoTryAllocateTest, WholeGpusTakeLowestFreeHealthyIndices) {
  struct Case {
    std::string name;
    std::vector<int32_t> unhealthy;
    std::vector<int32_t> shared;  // devices holding a small share
    std::vector<int32_t> taken;   // devices held whole
    int32_t count;
    std::optional<std::vector<int32_t>> want;
  };
  const std::vector<Case> cases = {
      {"all free, one", {}, {}, {}, 1, std::vector<int32_t>{0}},
      {"all free, two", {}, {}, {}, 2, std::vector<int32_t>{0, 1}},
      {"all free, all four", {}, {}, {}, 4, std::vector<int32_t>{0, 1, 2, 3}},
      {"skips unhealthy", {0}, {}, {}, 2, std::vector<int32_t>{1, 2}},
      {"skips partially used", {}, {1}, {}, 2, std::vector<int32_t>{0, 2}},
      {"skips held whole", {}, {}, {0, 2}, 2, std::vector<int32_t>{1, 3}},
      {"skips unhealthy and partially used", {0}, {1}, {}, 2, std::vector<int32_t>{2, 3}},
      {"not enough left", {0}, {1}, {}, 3, std::nullopt},
      {"more than the node has", {}, {}, {}, 5, std::nullopt},
      {"none free", {0}, {1}, {2, 3}, 1, std::nullopt},
  };
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.name);
    NodeBuilder b("n1");
    b.Gpus(4, "A100", 16384);
    for (int32_t i : tc.unhealthy) b.Unhealthy(i);
    NodeInfo node = MakeNode(b.Build());
    for (int32_t i : tc.shared) AddShare(node, i, 100, 1024);
    for (int32_t i : tc.taken) {
      ASSERT_TRUE(node.AddPod(Req(0, GpuRequest::Whole(1)), {WholeShare(i)}).ok());
    }
    const auto got = TryAllocate(node, GpuRequest::Whole(tc.count));
    if (!tc.want) {
      EXPECT_EQ(got, std::nullopt);
      continue;
    }
    std::vector<GpuShare> want;
    for (int32_t i : *tc.want) want.push_back(WholeShare(i, 16384));
    EXPECT_THAT(got, Optional(want));
  }
}

TEST(NodeInfoTryAllocateTest, WholeGpuShareCarriesTheDevicesWholeMemory) {
  const NodeInfo node =
      MakeNode(NodeBuilder("n1").Gpus(1, "A100", 40960).Gpus(1, "H100", 81920).Build());
  EXPECT_THAT(TryAllocate(node, GpuRequest::Whole(2)),
              Optional(ElementsAre(Share(0, 1000, 40960), Share(1, 1000, 81920))));
  // A minimum memory per GPU skips smaller devices.
  EXPECT_THAT(TryAllocate(node, GpuRequest{1, kOneGpu, GpuMemMiB(50000), {}}),
              Optional(ElementsAre(Share(1, 1000, 81920))));
}

TEST(NodeInfoTryAllocateTest, ModelFilterRestrictsDevices) {
  struct Case {
    std::string name;
    GpuRequest req;
    std::optional<std::vector<GpuShare>> want;
  };
  const std::vector<Case> cases = {
      {"whole of the later model", GpuRequest::Whole(1, "H100"),
       std::vector{Share(2, 1000, 81920)}},
      {"two whole of the later model", GpuRequest::Whole(2, "H100"),
       std::vector{Share(2, 1000, 81920), Share(3, 1000, 81920)}},
      {"three whole of a model with two", GpuRequest::Whole(3, "H100"), std::nullopt},
      {"whole of an absent model", GpuRequest::Whole(1, "V100"), std::nullopt},
      // Device 0 (A100, 300m left) would be the best fit without the model filter.
      {"share of the model ignores a better fit of another model",
       GpuRequest::Share(GpuMilli(200), GpuMemMiB(1024), "H100"),
       std::vector{Share(2, 200, 1024)}},
      {"share of any model takes the best fit", GpuRequest::Share(GpuMilli(200), GpuMemMiB(1024)),
       std::vector{Share(0, 200, 1024)}},
      {"model compared exactly", GpuRequest::Whole(1, "h100"), std::nullopt},
  };
  NodeInfo node =
      MakeNode(NodeBuilder("n1").Gpus(2, "A100", 40960).Gpus(2, "H100", 81920).Build());
  AddShare(node, 0, 700, 1024);
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.name);
    EXPECT_EQ(TryAllocate(node, tc.req), tc.want);
  }
}

TEST(NodeInfoTryAllocateTest, EmptyRequestYieldsEmptyVector) {
  const NodeInfo with_gpus = MakeNode(NodeBuilder("n1").Gpus(2).Build());
  const NodeInfo without = MakeNode(NodeBuilder("n2").Build());
  EXPECT_THAT(TryAllocate(with_gpus, GpuRequest{}), Optional(IsEmpty()));
  EXPECT_THAT(TryAllocate(without, GpuRequest{}), Optional(IsEmpty()));
}

TEST(NodeInfoTryAllocateTest, ResultCanBeAddedAndRemovedExactly) {
  NodeInfo node = MakeNode(NodeBuilder("n1").Gpus(4, "A100", 16384).Build());
  AddShare(node, 1, 500, 4096);
  const NodeInfo before = node;
  for (const GpuRequest& req :
       {GpuRequest::Whole(2), GpuRequest::Share(GpuMilli(300), GpuMemMiB(2048)), GpuRequest{}}) {
    const auto shares = TryAllocate(node, req);
    ASSERT_TRUE(shares.has_value());
    const PodResources pod = Req(100, req);
    ASSERT_TRUE(node.AddPod(pod, *shares).ok());
    ASSERT_TRUE(node.RemovePod(pod, *shares).ok());
    EXPECT_EQ(node, before);
  }
}

}  // namespace
}  // namespace gpusched::framework
