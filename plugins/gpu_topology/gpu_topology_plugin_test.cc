#include "plugins/gpu_topology/gpu_topology_plugin.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/fakes/builders.h"
#include "test/fakes/fake_handle.h"
#include "topology/presets.h"

namespace gpusched::plugins::gpu_topology {
namespace {

using framework::Code;
using framework::CycleState;
using framework::NodeInfo;
using framework::PodInfo;
using testing::NodeBuilder;
using testing::PodBuilder;
using ::testing::HasSubstr;

std::shared_ptr<const topology::GpuTopology> Dgx1() {
  static auto t = std::make_shared<const topology::GpuTopology>(*topology::Preset("dgx1-v100"));
  return t;
}

// A DGX-1 node with the given GPUs already taken by 1-GPU pods.
NodeInfo Dgx1Node(std::string name, std::vector<int> busy = {}) {
  framework::NodeSpec spec = NodeBuilder(std::move(name)).Cpu(80000).Gpus(8, "V100", 32768).Build();
  spec.topology = Dgx1();
  absl::StatusOr<NodeInfo> node = NodeInfo::Create(spec);
  EXPECT_TRUE(node.ok()) << node.status();
  for (int g : busy) {
    PodInfo p = PodBuilder("busy" + std::to_string(g)).Cpu(0).Gpus(1).Build();
    EXPECT_TRUE(node->AddPod(p.requests, {{framework::GpuShare{DeviceIndex(g), kOneGpu,
                                                               GpuMemMiB(32768)}}})
                    .ok());
  }
  return *node;
}

std::vector<int> Reserved(GpuTopologyPlugin& plugin, const PodInfo& pod, const NodeInfo& node) {
  CycleState state;
  framework::PreFilterResult pre;
  EXPECT_TRUE(plugin.PreFilter(state, pod, pre).ok());
  EXPECT_TRUE(plugin.Reserve(state, pod, node).ok());
  auto a = state.Read(framework::kDeviceAssignmentKey);
  std::vector<int> gpus;
  if (a.ok()) {
    for (const auto& s : (*a)->shares) gpus.push_back(s.gpu.value());
  }
  return gpus;
}

TEST(GpuTopologyPlugin, FourGpusGetAFullyNvLinkedQuad) {
  GpuTopologyPlugin plugin;
  const std::vector<int> gpus =
      Reserved(plugin, PodBuilder("p").Gpus(4).Build(), Dgx1Node("n"));
  ASSERT_EQ(gpus.size(), 4u);
  for (int a : gpus) {
    for (int b : gpus) {
      if (a != b) EXPECT_GT(Dgx1()->NvLinks(a, b), 0) << a << "-" << b;
    }
  }
}

TEST(GpuTopologyPlugin, TwoGpusGetADoubleNvLinkPair) {
  GpuTopologyPlugin plugin;
  const std::vector<int> gpus = Reserved(plugin, PodBuilder("p").Gpus(2).Build(), Dgx1Node("n"));
  ASSERT_EQ(gpus.size(), 2u);
  EXPECT_EQ(Dgx1()->NvLinks(gpus[0], gpus[1]), 2);
}

TEST(GpuTopologyPlugin, ScorePrefersTheNodeThatStillHasAQuad) {
  GpuTopologyPlugin plugin;
  testing::FakeHandle handle;
  const NodeInfo whole = Dgx1Node("whole", {4, 5, 6, 7});  // quad 0-3 intact
  const NodeInfo broken = Dgx1Node("broken", {0, 5, 2, 7});  // 1,3,4,6 left: no NVLink quad
  const PodInfo pod = PodBuilder("p").Gpus(4).Build();
  CycleState state;
  framework::PreFilterResult pre;
  ASSERT_TRUE(plugin.PreFilter(state, pod, pre).ok());
  ASSERT_TRUE(plugin.PreScore(state, pod, {&whole, &broken}).ok());
  framework::NodeScoreList scores(2);
  scores[0].node = &whole;
  scores[1].node = &broken;
  ASSERT_TRUE(plugin.Score(state, pod, whole, scores[0].score).ok());
  ASSERT_TRUE(plugin.Score(state, pod, broken, scores[1].score).ok());
  ASSERT_TRUE(plugin.NormalizeScore(state, pod, scores).ok());
  EXPECT_EQ(scores[0].score, framework::kMaxNodeScore);
  EXPECT_LT(scores[1].score, scores[0].score);
}

TEST(GpuTopologyPlugin, RequiredFiltersNodesThatCannotGiveTheBestInterconnect) {
  GpuTopologyPlugin plugin;
  PodInfo pod = PodBuilder("p").Gpus(4).Build();
  pod.annotations[kTopologyAnnotation] = "required";
  CycleState state;
  framework::PreFilterResult pre;
  ASSERT_TRUE(plugin.PreFilter(state, pod, pre).ok());
  EXPECT_TRUE(plugin.Filter(state, pod, Dgx1Node("whole", {4, 5, 6, 7})).ok());
  framework::Status broken = plugin.Filter(state, pod, Dgx1Node("broken", {0, 5, 2, 7}));
  EXPECT_EQ(broken.code(), Code::kUnschedulable);
  EXPECT_THAT(broken.Message(), HasSubstr("required GPU interconnect"));
  // A node without topology information can never satisfy it.
  auto plain = NodeInfo::Create(NodeBuilder("plain").Gpus(8).Build());
  EXPECT_EQ(plugin.Filter(state, pod, *plain).code(), Code::kUnschedulableAndUnresolvable);
}

TEST(GpuTopologyPlugin, ExplicitBandwidthFloor) {
  GpuTopologyPlugin plugin;
  PodInfo pod = PodBuilder("p").Gpus(2).Build();
  pod.annotations[kMinBandwidthAnnotation] = "1000000";  // more than any link
  CycleState state;
  framework::PreFilterResult pre;
  ASSERT_TRUE(plugin.PreFilter(state, pod, pre).ok());
  EXPECT_EQ(plugin.Filter(state, pod, Dgx1Node("n")).code(), Code::kUnschedulable);
}

TEST(GpuTopologyPlugin, BadAnnotationsAreUnresolvableWithAReason) {
  GpuTopologyPlugin plugin;
  for (auto [key, value] : {std::pair{kTopologyAnnotation, "always"},
                            std::pair{kMinBandwidthAnnotation, "-5"},
                            std::pair{kMinBandwidthAnnotation, "fast"}}) {
    SCOPED_TRACE(value);
    PodInfo pod = PodBuilder("p").Gpus(2).Build();
    pod.annotations[key] = value;
    CycleState state;
    framework::PreFilterResult pre;
    framework::Status s = plugin.PreFilter(state, pod, pre);
    EXPECT_EQ(s.code(), Code::kUnschedulableAndUnresolvable);
    EXPECT_THAT(s.Message(), HasSubstr(key));
  }
}

TEST(GpuTopologyPlugin, SingleGpuAndSharedPodsSkip) {
  GpuTopologyPlugin plugin;
  CycleState state;
  framework::PreFilterResult pre;
  EXPECT_TRUE(plugin.PreFilter(state, PodBuilder("one").Gpus(1).Build(), pre).IsSkip());
  EXPECT_TRUE(plugin.PreFilter(state, PodBuilder("s").GpuShare(500, 0).Build(), pre).IsSkip());
  EXPECT_TRUE(plugin.PreFilter(state, PodBuilder("cpu").Build(), pre).IsSkip());
}

TEST(GpuTopologyPlugin, KeepsAnotherPluginsChoiceAndUnreservesOnlyItsOwn) {
  GpuTopologyPlugin plugin;
  const PodInfo pod = PodBuilder("p").Gpus(2).Build();
  CycleState state;
  auto other = std::make_unique<framework::DeviceAssignment>();
  other->chosen_by = "Other";
  state.Write(framework::kDeviceAssignmentKey, std::move(other));
  ASSERT_TRUE(plugin.Reserve(state, pod, Dgx1Node("n")).ok());
  EXPECT_EQ((*state.Read(framework::kDeviceAssignmentKey))->chosen_by, "Other");
  plugin.Unreserve(state, pod, NodeId("n"));
  EXPECT_TRUE(state.Contains(framework::kDeviceAssignmentKey));
}

TEST(GpuTopologyPlugin, NodeTopologyMustMatchItsGpuCount) {
  framework::NodeSpec spec = NodeBuilder("n").Gpus(4).Build();
  spec.topology = Dgx1();
  auto node = NodeInfo::Create(spec);
  ASSERT_FALSE(node.ok());
  EXPECT_THAT(std::string(node.status().message()), HasSubstr("has 8 GPUs but the node has 4"));
}

}  // namespace
}  // namespace gpusched::plugins::gpu_topology
