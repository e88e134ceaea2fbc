// Unit tests of the Gang plugin against scheduler/api alone. The all-or-nothing behaviour with
// the runtime (Permit, timeouts, preemption) is tested in test/integration/gang_integration_test.

#include "plugins/gang/gang_plugin.h"

#include <algorithm>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/fakes/fake_handle.h"

namespace gpusched::plugins::gang {
namespace {

using framework::NodeInfo;
using framework::PodInfo;
using ::testing::HasSubstr;

NodeInfo Node(testing::NodeBuilder b) { return NodeInfo::Create(b.Build()).value(); }

TEST(CountFitsTest, WholeGpusCpuMemoryAndPodsBoundTheCount) {
  NodeInfo n = Node(std::move(testing::NodeBuilder("n").Cpu(64000).MemoryGi(256).Gpus(8)));
  EXPECT_EQ(CountFits(n, testing::PodBuilder("p").Gpus(2).Build()), 4);
  EXPECT_EQ(CountFits(n, testing::PodBuilder("p").Gpus(3).Build()), 2);
  EXPECT_EQ(CountFits(n, testing::PodBuilder("p").Gpus(1).Cpu(20000).Build()), 3);
  EXPECT_EQ(CountFits(n, testing::PodBuilder("p").Gpus(1).MemoryGi(100).Build()), 2);
  EXPECT_EQ(CountFits(n, testing::PodBuilder("p").Gpus(1, "H100").Build()), 0);
  EXPECT_EQ(CountFits(n, testing::PodBuilder("p").Gpus(1).Build(), /*cap=*/5), 5);
  NodeInfo few = Node(std::move(testing::NodeBuilder("f").Cpu(64000).MemoryGi(256).Gpus(8).MaxPods(3)));
  EXPECT_EQ(CountFits(few, testing::PodBuilder("p").Gpus(1).Build()), 3);
}

TEST(CountFitsTest, SharesArePackedOntoDevices) {
  NodeInfo n = Node(std::move(testing::NodeBuilder("n").Cpu(64000).MemoryGi(256).Gpus(2, "T4", 16384)));
  // 300m each: three per device (900m), two devices.
  EXPECT_EQ(CountFits(n, testing::PodBuilder("p").GpuShare(300, 1024).Build()), 6);
  // Memory bound: 6 GiB each, two per 16 GiB device.
  EXPECT_EQ(CountFits(n, testing::PodBuilder("p").GpuShare(100, 6144).Build()), 4);
}

TEST(CountFitsTest, CordonSelectorAndTaintsExcludeTheNode) {
  PodInfo pod = testing::PodBuilder("p").Gpus(1).Build();
  EXPECT_EQ(CountFits(Node(std::move(testing::NodeBuilder("c").Cpu(8000).MemoryGi(64).Gpus(8).Cordoned())), pod), 0);
  NodeInfo tainted = Node(std::move(testing::NodeBuilder("t").Cpu(8000).MemoryGi(64).Gpus(8).Taint("gpu", "x")));
  EXPECT_EQ(CountFits(tainted, pod), 0);
  EXPECT_EQ(CountFits(tainted, testing::PodBuilder("p").Gpus(1).Tolerate("gpu", "x").Build()), 8);
  NodeInfo labelled = Node(std::move(testing::NodeBuilder("l").Cpu(8000).MemoryGi(64).Gpus(8).Label("pool", "a")));
  EXPECT_EQ(CountFits(labelled, testing::PodBuilder("p").Gpus(1).Selector("pool", "b").Build()), 0);
  EXPECT_EQ(CountFits(labelled, testing::PodBuilder("p").Gpus(1).Selector("pool", "a").Build()), 8);
}

TEST(GangPluginTest, ArgsAreValidatedWithTheFieldName) {
  testing::FakeHandle h;
  EXPECT_TRUE(GangPlugin::New(framework::PluginArgs(), h).ok());
  framework::ArgValue::Map bad{{"defaultTimeoutSeconds", framework::ArgValue(int64_t{0})}};
  auto made = GangPlugin::New(framework::PluginArgs(bad), h);
  ASSERT_FALSE(made.ok());
  EXPECT_THAT(made.status().message(), HasSubstr("args.defaultTimeoutSeconds"));
  framework::ArgValue::Map typo{{"backofSeconds", framework::ArgValue(int64_t{1})}};
  EXPECT_THAT(GangPlugin::New(framework::PluginArgs(typo), h).status().message(),
              HasSubstr("backofSeconds"));
}

TEST(GangPluginTest, QueueOrderKeepsMembersTogetherByPriorityThenAge) {
  testing::FakeHandle h;
  GangPlugin plugin(GangArgs{}, h);
  std::vector<PodInfo> pods;
  // Gang a is older than gang b, but its members were created after b's.
  for (int i = 0; i < 3; ++i) {
    pods.push_back(testing::PodBuilder("a-" + std::to_string(i)).Gang("ns/a", 3).CreatedAt(10 + 20 * i).Build());
    pods.push_back(testing::PodBuilder("b-" + std::to_string(i)).Gang("ns/b", 3).CreatedAt(15 + 20 * i).Build());
  }
  pods.push_back(testing::PodBuilder("solo").CreatedAt(12).Build());
  pods.push_back(testing::PodBuilder("urgent").CreatedAt(99).Priority(10).Build());
  // The plugin learns a gang's age from the members it has seen (PreFilter).
  for (const PodInfo& p : pods) {
    framework::CycleState state;
    framework::PreFilterResult r;
    if (p.gang) {
      EXPECT_TRUE(plugin.PreFilter(state, p, r).ok());
    }
  }
  std::sort(pods.begin(), pods.end(),
            [&](const PodInfo& x, const PodInfo& y) { return plugin.Less(x, y); });
  std::vector<std::string> names;
  for (const PodInfo& p : pods) names.push_back(p.name);
  EXPECT_THAT(names, ::testing::ElementsAre("urgent", "a-0", "a-1", "a-2", "solo", "b-0", "b-1",
                                            "b-2"));
}

TEST(GangPluginTest, PodsWithoutAGangPassThrough) {
  testing::FakeHandle h;
  GangPlugin plugin(GangArgs{}, h);
  PodInfo pod = testing::PodBuilder("p").Gpus(1).Build();
  framework::CycleState state;
  framework::PreFilterResult r;
  EXPECT_TRUE(plugin.PreFilter(state, pod, r).ok());
  EXPECT_FALSE(r.nodes.has_value());
  absl::Duration timeout;
  EXPECT_TRUE(plugin.Permit(state, pod, NodeId("n"), timeout).ok());
  EXPECT_FALSE(plugin.Inspect(GangId("default/p")).has_value());
}

TEST(GangPluginTest, ForgetsGangsWithNothingPlacedSoMemoryStaysBounded) {
  testing::FakeHandle h;
  GangPlugin plugin(GangArgs{}, h);
  framework::CycleState state;
  framework::PreFilterResult r;
  for (int i = 0; i < GangPlugin::kSweepEvery - 1; ++i) {
    PodInfo p = testing::PodBuilder("p" + std::to_string(i)).Gang("ns/g" + std::to_string(i), 2).Build();
    ASSERT_TRUE(plugin.PreFilter(state, p, r).ok());
  }
  EXPECT_EQ(plugin.tracked_gangs(), static_cast<size_t>(GangPlugin::kSweepEvery - 1));
  PodInfo last = testing::PodBuilder("last").Gang("ns/last", 2).Build();
  ASSERT_TRUE(plugin.PreFilter(state, last, r).ok());
  EXPECT_EQ(plugin.tracked_gangs(), 1u) << "only the gang just seen is kept";
}

TEST(GangPluginTest, TopologyAnnotationPlansOneRackAndRestrictsCandidates) {
  testing::FakeHandle h;
  std::vector<NodeInfo> nodes;
  for (int i = 0; i < 6; ++i) {
    nodes.push_back(Node(std::move(testing::NodeBuilder("n" + std::to_string(i))
                                       .Cpu(64000)
                                       .MemoryGi(512)
                                       .Gpus(8)
                                       .Label("topology.gpusched.io/rack", i < 2 ? "r1" : "r2"))));
  }
  std::vector<const NodeInfo*> view;
  for (const NodeInfo& n : nodes) view.push_back(&n);
  h.SetNodes(view);
  GangPlugin plugin(GangArgs{}, h);
  PodInfo pod = testing::PodBuilder("g-0").Gpus(4).Gang("ns/g", 6)
                    .Annotation(kGangTopologyAnnotation, "rack").Build();
  framework::CycleState state;
  framework::PreFilterResult r;
  ASSERT_TRUE(plugin.PreFilter(state, pod, r).ok());
  ASSERT_TRUE(r.nodes.has_value());
  // 6 members of 4 GPUs: 3 nodes; r1 (2 nodes) cannot hold them, r2 can.
  EXPECT_THAT(*r.nodes, ::testing::ElementsAre(NodeId("n2"), NodeId("n3"), NodeId("n4")));
  EXPECT_EQ(plugin.Inspect(GangId("ns/g"))->planned_nodes.size(), 3u);

  PodInfo too_big = testing::PodBuilder("h-0").Gpus(8).Gang("ns/h", 5)
                        .Annotation(kGangTopologyAnnotation, "rack").Build();
  framework::Status s = plugin.PreFilter(state, too_big, r);
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(s.Message(), HasSubstr("gang ns/h"));
}

}  // namespace
}  // namespace gpusched::plugins::gang
