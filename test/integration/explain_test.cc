// runtime::Explain ("why is my GPU pod pending") on the live core with the built-in profiles:
// every suggested change is one that really makes the pod fit, and the per-node reasons are the
// Filter's.

#include "scheduler/runtime/explain.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/fakes/builders.h"
#include "test/fakes/live_world.h"

namespace gpusched::testing {
namespace {

using ::gpusched::framework::PodInfo;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

class ExplainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(w_.Start("binpack").ok());
    ASSERT_TRUE(w_.live->OnNodeAdd(NodeBuilder("a100-0").Gpus(8, "A100").Build()).ok());
    ASSERT_TRUE(w_.live->OnNodeAdd(NodeBuilder("l4-0").Gpus(2, "L4", 23034).Build()).ok());
  }
  void Bind(const PodInfo& pod, const std::string& node) {
    auto r = w_.live->Bind(pod, NodeId(node));
    ASSERT_TRUE(r.status.ok()) << r.status.Message();
    ASSERT_TRUE(w_.live->OnPodBound(pod, NodeId(node), r.gpus).ok());
  }
  runtime::Explanation Explain(const PodInfo& pod) {
    return runtime::Explain(w_.live->framework(), *w_.live->Snapshot(), pod);
  }
  static const runtime::Explanation::Change* Find(const runtime::Explanation& e,
                                                  const std::string& kind) {
    for (const auto& c : e.changes) {
      if (c.kind == kind) return &c;
    }
    return nullptr;
  }

  LiveWorld w_;
};

TEST_F(ExplainTest, APodThatFitsNeedsNoChange) {
  const runtime::Explanation e = Explain(PodBuilder("p").Gpus(2).Build());
  EXPECT_TRUE(e.fits_now());
  EXPECT_THAT(e.changes, IsEmpty());
  ASSERT_EQ(e.nodes.size(), 2u);
  EXPECT_TRUE(e.nodes[0].fits);
  EXPECT_EQ(e.nodes[0].reason, "");
}

TEST_F(ExplainTest, TooManyGpusAsksForFewerAndNamesWhoBlocksTheRest) {
  Bind(PodBuilder("big").Gpus(6, "A100").Build(), "a100-0");
  const runtime::Explanation e = Explain(PodBuilder("p").Gpus(4, "A100").Build());
  EXPECT_FALSE(e.fits_now());
  // Per node: busy on the A100 node (2 free), never on the L4 node (another model).
  EXPECT_THAT(e.nodes[0].reason, HasSubstr("needs 4, 2 free here"));
  EXPECT_FALSE(e.nodes[0].unresolvable);
  EXPECT_TRUE(e.nodes[1].unresolvable);
  const auto* fewer = Find(e, "fewer-gpus");
  ASSERT_NE(fewer, nullptr);
  EXPECT_EQ(fewer->what, "ask for 2 GPUs instead of 4");
  EXPECT_THAT(fewer->fits_on, ElementsAre(NodeId("a100-0")));
  const auto* wait = Find(e, "wait");
  ASSERT_NE(wait, nullptr);
  EXPECT_EQ(wait->what, "wait: fits on a100-0 once default/big leaves");
  // Another model would not help a 4-GPU pod: the L4 node has 2.
  EXPECT_EQ(Find(e, "other-model"), nullptr);
}

TEST_F(ExplainTest, ASharePinnedToABusyModelIsOfferedTheOtherModelAndASmallerShare) {
  Bind(PodBuilder("s1").GpuShare(700, 0, "L4").Build(), "l4-0");
  Bind(PodBuilder("s2").GpuShare(700, 0, "L4").Build(), "l4-0");
  const runtime::Explanation e = Explain(PodBuilder("p").GpuShare(500, 0, "L4").Build());
  EXPECT_FALSE(e.fits_now());
  const auto* smaller = Find(e, "smaller-share");
  ASSERT_NE(smaller, nullptr);
  EXPECT_EQ(smaller->what, "ask for a share of 300m instead of 500m");
  const auto* other = Find(e, "other-model");
  ASSERT_NE(other, nullptr);
  EXPECT_THAT(other->what, HasSubstr("A100"));
  EXPECT_THAT(other->fits_on, ElementsAre(NodeId("a100-0")));
  const auto* wait = Find(e, "wait");
  ASSERT_NE(wait, nullptr);
  EXPECT_EQ(wait->what, "wait: fits on l4-0 once default/s1 leaves");
}

TEST_F(ExplainTest, AGangTooBigForTheClusterSaysItCanNeverFit) {
  const runtime::Explanation e =
      Explain(PodBuilder("m-0").Gpus(8, "A100").Gang("default/m", 3).Build());
  // One member fits now (the A100 node is empty), but three never will.
  EXPECT_TRUE(e.fits_now());
  EXPECT_EQ(e.gang,
            "gang default/m needs 3 members like this one placed at once: 1 fit now, at most 1 on "
            "an empty cluster (it can never fit as declared: fewer members, or smaller ones)");
}

TEST(ExplainGangTopology, AGangKeptInOneRackIsToldThatSpanningRacksWouldPlaceIt) {
  LiveWorld w;
  ASSERT_TRUE(w.Start("binpack").ok());
  for (const char* rack : {"r1", "r2"}) {
    ASSERT_TRUE(w.live
                    ->OnNodeAdd(NodeBuilder(std::string("n-") + rack)
                                    .Gpus(8, "H100")
                                    .Label("topology.gpusched.io/rack", rack)
                                    .Build())
                    .ok());
  }
  const PodInfo member = PodBuilder("m-0")
                             .Gpus(8, "H100")
                             .Gang("default/m", 2)
                             .Annotation("gpusched.io/gang-topology", "rack")
                             .Build();
  const runtime::Explanation e = runtime::Explain(w.live->framework(), *w.live->Snapshot(), member);
  EXPECT_THAT(e.gang, HasSubstr("2 fit now, at most 2 on an empty cluster"));
  EXPECT_THAT(e.gang, HasSubstr("within one rack (gpusched.io/gang-topology): 1 fit now in"));
  ASSERT_EQ(e.changes.size(), 1u);
  EXPECT_EQ(e.changes[0].kind, "any-rack");
  EXPECT_EQ(e.changes[0].what,
            "let the gang span racks (gpusched.io/gang-topology: any): 2 members fit now across them");
  EXPECT_EQ(e.changes[0].fits_on.size(), 2u);
}

TEST_F(ExplainTest, AModelNoNodeHasIsNeverHereEverywhere) {
  const runtime::Explanation e = Explain(PodBuilder("p").Gpus(1, "H100").Build());
  EXPECT_FALSE(e.fits_now());
  for (const auto& n : e.nodes) {
    EXPECT_TRUE(n.unresolvable) << n.node.str();
    EXPECT_THAT(n.reason, HasSubstr("H100")) << n.node.str();
  }
  const auto* other = Find(e, "other-model");
  ASSERT_NE(other, nullptr);
  EXPECT_EQ(other->fits_on.size(), 2u);
  EXPECT_EQ(Find(e, "wait"), nullptr) << "no departure makes room for a model that is not here";
}

}  // namespace
}  // namespace gpusched::testing
