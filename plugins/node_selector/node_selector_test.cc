#include "plugins/node_selector/node_selector.h"

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "scheduler/api/cycle_state.h"
#include "scheduler/api/node_info.h"
#include "scheduler/api/pod_info.h"
#include "test/fakes/builders.h"

namespace gpusched::plugins::node_selector {
namespace {

using framework::Code;
using framework::CycleState;
using framework::NodeInfo;
using framework::NodeSpec;
using framework::PodInfo;
using framework::PreFilterResult;
using framework::Status;
using testing::NodeBuilder;
using testing::PodBuilder;
using ::testing::ElementsAre;

NodeInfo MakeNode(NodeSpec spec) {
  absl::StatusOr<NodeInfo> node = NodeInfo::Create(std::move(spec));
  EXPECT_TRUE(node.ok()) << node.status();
  return *std::move(node);
}

TEST(NodeSelector, PreFilterSkipsPodsWithoutSelector) {
  struct Case {
    std::string name;
    PodInfo pod;
    Code want;
  };
  const std::vector<Case> cases = {
      {"no selector", PodBuilder("p").Build(), Code::kSkip},
      {"labels alone are not a selector", [] {
         PodInfo p = PodBuilder("p").Build();
         p.labels["app"] = "web";
         return p;
       }(), Code::kSkip},
      {"one selector pair", PodBuilder("p").Selector("gpu", "a100").Build(), Code::kSuccess},
      {"two selector pairs",
       PodBuilder("p").Selector("gpu", "a100").Selector("zone", "eu").Build(), Code::kSuccess},
  };
  NodeSelector plugin;
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.name);
    CycleState state;
    PreFilterResult result;
    Status s = plugin.PreFilter(state, tc.pod, result);
    EXPECT_EQ(s.code(), tc.want) << s.ToString();
    EXPECT_FALSE(result.nodes.has_value());
  }
}

TEST(NodeSelector, FilterRequiresEveryPairAsANodeLabel) {
  struct Case {
    std::string name;
    std::map<std::string, std::string> selector;
    Code want;
  };
  const NodeInfo node = MakeNode(
      NodeBuilder("n").Label("gpu", "a100").Label("zone", "eu-west-1a").Label("empty", "").Build());
  const std::vector<Case> cases = {
      {"empty selector matches", {}, Code::kSuccess},
      {"matching label", {{"gpu", "a100"}}, Code::kSuccess},
      {"all pairs match", {{"gpu", "a100"}, {"zone", "eu-west-1a"}}, Code::kSuccess},
      {"empty value matches an empty label", {{"empty", ""}}, Code::kSuccess},
      {"missing label", {{"rack", "r1"}}, Code::kUnschedulableAndUnresolvable},
      {"wrong value", {{"gpu", "h100"}}, Code::kUnschedulableAndUnresolvable},
      {"value compared exactly", {{"gpu", "A100"}}, Code::kUnschedulableAndUnresolvable},
      {"one pair of two missing", {{"gpu", "a100"}, {"rack", "r1"}},
       Code::kUnschedulableAndUnresolvable},
      {"empty value does not match a missing label", {{"rack", ""}},
       Code::kUnschedulableAndUnresolvable},
  };
  NodeSelector plugin;
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.name);
    PodInfo pod = PodBuilder("p").Build();
    pod.node_selector = tc.selector;
    CycleState state;
    Status s = plugin.Filter(state, pod, node);
    EXPECT_EQ(s.code(), tc.want) << s.ToString();
    if (tc.want != Code::kSuccess) {
      EXPECT_THAT(s.reasons(), ElementsAre("node(s) didn't match Pod's node selector"));
    }
  }
}

}  // namespace
}  // namespace gpusched::plugins::node_selector
