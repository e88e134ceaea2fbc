#include "plugins/taint_toleration/taint_toleration.h"

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "scheduler/api/cycle_state.h"
#include "scheduler/api/node_info.h"
#include "scheduler/api/pod_info.h"
#include "test/fakes/builders.h"

namespace gpusched::plugins::taint_toleration {
namespace {

using framework::Code;
using framework::CycleState;
using framework::NodeInfo;
using framework::NodeSpec;
using framework::PodInfo;
using framework::Status;
using framework::Taint;
using framework::TaintEffect;
using framework::Toleration;
using testing::NodeBuilder;
using testing::PodBuilder;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

Toleration Equal(std::string key, std::string value,
                 std::optional<TaintEffect> effect = std::nullopt) {
  return Toleration{std::move(key), false, std::move(value), effect};
}
Toleration Exists(std::string key, std::optional<TaintEffect> effect = std::nullopt) {
  return Toleration{std::move(key), true, "", effect};
}

PodInfo PodTolerating(std::vector<Toleration> tolerations) {
  PodInfo p = PodBuilder("p").Build();
  p.tolerations = std::move(tolerations);
  return p;
}

NodeInfo MakeNode(NodeSpec spec) {
  absl::StatusOr<NodeInfo> node = NodeInfo::Create(std::move(spec));
  EXPECT_TRUE(node.ok()) << node.status();
  return *std::move(node);
}

TEST(TaintToleration, ToleratesFollowsKubernetesMatching) {
  struct Case {
    std::string name;
    Toleration toleration;
    Taint taint;
    bool want;
  };
  const Taint gpu_no_schedule{"nvidia.com/gpu", "present", TaintEffect::kNoSchedule};
  const std::vector<Case> cases = {
      {"Equal with same key and value", Equal("nvidia.com/gpu", "present"), gpu_no_schedule, true},
      {"Equal with another value", Equal("nvidia.com/gpu", "absent"), gpu_no_schedule, false},
      {"Equal with another key", Equal("dedicated", "present"), gpu_no_schedule, false},
      {"Equal with empty value against non-empty value", Equal("nvidia.com/gpu", ""),
       gpu_no_schedule, false},
      {"Equal with empty value against empty value", Equal("dedicated", ""),
       Taint{"dedicated", "", TaintEffect::kNoSchedule}, true},
      {"Exists with the same key, any value", Exists("nvidia.com/gpu"), gpu_no_schedule, true},
      {"Exists ignores a value it carries", Toleration{"nvidia.com/gpu", true, "other", std::nullopt},
       gpu_no_schedule, true},
      {"Exists with another key", Exists("dedicated"), gpu_no_schedule, false},
      {"empty key with Exists matches every taint", Exists(""),
       Taint{"anything/at-all", "x", TaintEffect::kNoExecute}, true},
      {"empty key without Exists tolerates nothing", Equal("", "present"), gpu_no_schedule, false},
      {"effect must match when set", Equal("nvidia.com/gpu", "present", TaintEffect::kNoExecute),
       gpu_no_schedule, false},
      {"same effect matches", Equal("nvidia.com/gpu", "present", TaintEffect::kNoSchedule),
       gpu_no_schedule, true},
      {"empty key Exists still respects the effect", Exists("", TaintEffect::kNoSchedule),
       Taint{"k", "v", TaintEffect::kNoExecute}, false},
      {"no effect matches NoExecute", Equal("k", "v"), Taint{"k", "v", TaintEffect::kNoExecute},
       true},
      {"no effect matches PreferNoSchedule", Equal("k", "v"),
       Taint{"k", "v", TaintEffect::kPreferNoSchedule}, true},
  };
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.name);
    EXPECT_EQ(Tolerates(tc.toleration, tc.taint), tc.want);
  }
}

TEST(TaintToleration, FilterRejectsUntoleratedHardTaintsAndCordonedNodes) {
  struct Case {
    std::string name;
    NodeSpec node;
    std::vector<Toleration> tolerations;
    Code want;
    std::string want_reason;  // empty for success
  };
  const std::vector<Case> cases = {
      {"untainted node", NodeBuilder("n").Build(), {}, Code::kSuccess, ""},
      {"untolerated NoSchedule", NodeBuilder("n").Taint("nvidia.com/gpu", "present").Build(), {},
       Code::kUnschedulableAndUnresolvable,
       "node(s) had untolerated taint {nvidia.com/gpu: present}"},
      {"untolerated NoExecute",
       NodeBuilder("n").Taint("node.kubernetes.io/not-ready", "", TaintEffect::kNoExecute).Build(),
       {}, Code::kUnschedulableAndUnresolvable,
       "node(s) had untolerated taint {node.kubernetes.io/not-ready}"},
      {"PreferNoSchedule is ignored",
       NodeBuilder("n").Taint("spot", "true", TaintEffect::kPreferNoSchedule).Build(), {},
       Code::kSuccess, ""},
      {"tolerated NoSchedule", NodeBuilder("n").Taint("nvidia.com/gpu", "present").Build(),
       {Equal("nvidia.com/gpu", "present")}, Code::kSuccess, ""},
      {"tolerated NoExecute by Exists",
       NodeBuilder("n").Taint("maintenance", "soon", TaintEffect::kNoExecute).Build(),
       {Exists("maintenance")}, Code::kSuccess, ""},
      {"toleration for another effect does not help",
       NodeBuilder("n").Taint("nvidia.com/gpu", "present").Build(),
       {Equal("nvidia.com/gpu", "present", TaintEffect::kNoExecute)},
       Code::kUnschedulableAndUnresolvable,
       "node(s) had untolerated taint {nvidia.com/gpu: present}"},
      {"every hard taint must be tolerated",
       NodeBuilder("n").Taint("a", "1").Taint("b", "2", TaintEffect::kNoExecute).Build(),
       {Equal("a", "1")}, Code::kUnschedulableAndUnresolvable,
       "node(s) had untolerated taint {b: 2}"},
      {"tolerate-everything passes every taint",
       NodeBuilder("n").Taint("a", "1").Taint("b", "2", TaintEffect::kNoExecute).Build(),
       {Exists("")}, Code::kSuccess, ""},
      {"cordoned node", NodeBuilder("n").Cordoned().Build(), {},
       Code::kUnschedulableAndUnresolvable, "node(s) were unschedulable"},
      {"cordoned node tolerated by Exists",
       NodeBuilder("n").Cordoned().Build(), {Exists("node.kubernetes.io/unschedulable")},
       Code::kSuccess, ""},
      {"cordoned node tolerated by Equal with empty value", NodeBuilder("n").Cordoned().Build(),
       {Equal("node.kubernetes.io/unschedulable", "", TaintEffect::kNoSchedule)}, Code::kSuccess,
       ""},
      {"cordon toleration for NoExecute only does not help", NodeBuilder("n").Cordoned().Build(),
       {Exists("node.kubernetes.io/unschedulable", TaintEffect::kNoExecute)},
       Code::kUnschedulableAndUnresolvable, "node(s) were unschedulable"},
      {"cordoned node tolerated by tolerate-everything", NodeBuilder("n").Cordoned().Build(),
       {Exists("")}, Code::kSuccess, ""},
      {"tolerating the cordon does not tolerate other taints",
       NodeBuilder("n").Cordoned().Taint("gpu", "yes").Build(),
       {Exists("node.kubernetes.io/unschedulable")}, Code::kUnschedulableAndUnresolvable,
       "node(s) had untolerated taint {gpu: yes}"},
  };
  TaintToleration plugin;
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.name);
    const NodeInfo node = MakeNode(tc.node);
    CycleState state;
    Status s = plugin.Filter(state, PodTolerating(tc.tolerations), node);
    EXPECT_EQ(s.code(), tc.want) << s.ToString();
    if (tc.want_reason.empty()) {
      EXPECT_THAT(s.reasons(), ::testing::IsEmpty());
    } else {
      EXPECT_THAT(s.reasons(), ElementsAre(tc.want_reason));
    }
  }
}

TEST(TaintToleration, ToleratesBuilderTolerationWithEqualValue) {
  // PodBuilder::Tolerate makes an Equal toleration for every effect.
  const NodeInfo node = MakeNode(NodeBuilder("n").Taint("dedicated", "ml").Build());
  TaintToleration plugin;
  CycleState state;
  EXPECT_TRUE(plugin.Filter(state, PodBuilder("p").Tolerate("dedicated", "ml").Build(), node).ok());
  Status s = plugin.Filter(state, PodBuilder("p").Tolerate("dedicated", "web").Build(), node);
  EXPECT_EQ(s.code(), Code::kUnschedulableAndUnresolvable);
  EXPECT_THAT(s.Message(), HasSubstr("dedicated"));
}

}  // namespace
}  // namespace gpusched::plugins::taint_toleration
