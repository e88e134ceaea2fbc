#include "plugins/node_resources_fit/node_resources_fit.h"

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/random/bit_gen_ref.h"
#include "absl/strings/str_cat.h"
#include "common/metrics/in_memory_metrics.h"
#include "common/sim_clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "plugins/registry.h"
#include "scheduler/api/cycle_state.h"
#include "scheduler/api/handle.h"
#include "scheduler/api/node_info.h"
#include "scheduler/api/plugin.h"
#include "scheduler/api/plugin_args.h"
#include "scheduler/api/pod_info.h"
#include "test/fakes/builders.h"
#include "test/fakes/fake_handle.h"

namespace gpusched::plugins::node_resources_fit {
namespace {

using framework::ArgValue;
using framework::Code;
using framework::CycleState;
using framework::DeviceAssignment;
using framework::GpuRequest;
using framework::GpuShare;
using framework::kDeviceAssignmentKey;
using framework::NodeInfo;
using framework::NodeSpec;
using framework::PluginArgs;
using framework::PodInfo;
using framework::PreFilterResult;
using framework::Status;
using testing::NodeBuilder;
using testing::PodBuilder;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// ---------------------------------------------------------------------------------------------
// Helpers

ArgValue Str(std::string s) { return ArgValue(std::move(s)); }
ArgValue Int(int64_t v) { return ArgValue(v); }
ArgValue MapOf(ArgValue::Map m) { return ArgValue(std::move(m)); }

using testing::FakeHandle;

// Builds a node and places `running` on it (devices chosen by TryAllocate).
NodeInfo MakeNode(NodeSpec spec, const std::vector<PodInfo>& running = {}) {
  absl::StatusOr<NodeInfo> node = NodeInfo::Create(std::move(spec));
  EXPECT_TRUE(node.ok()) << node.status();
  for (const PodInfo& p : running) {
    std::optional<std::vector<GpuShare>> gpus = framework::TryAllocate(*node, p.requests.gpu);
    EXPECT_TRUE(gpus.has_value()) << "running pod " << p.name << " does not fit";
    if (!gpus.has_value()) continue;
    absl::Status s = node->AddPod(p.requests, *gpus);
    EXPECT_TRUE(s.ok()) << s;
  }
  return *std::move(node);
}

NodeResourcesFit MakeFit(ScoringStrategy strategy, int64_t cpu, int64_t memory, int64_t gpu) {
  FitArgs args;
  args.strategy = strategy;
  args.cpu_weight = cpu;
  args.memory_weight = memory;
  args.gpu_weight = gpu;
  return NodeResourcesFit(args);
}

PodInfo CpuPod(std::string name, int64_t cpu_milli) {
  PodInfo p = PodBuilder(std::move(name)).Cpu(cpu_milli).Build();
  p.requests.memory = MemoryBytes(0);
  return p;
}

int64_t ScoreOf(const NodeResourcesFit& fit, const PodInfo& pod, const NodeInfo& node) {
  CycleState state;
  int64_t score = -1;
  Status s = fit.Score(state, pod, node, score);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return score;
}

// ---------------------------------------------------------------------------------------------
// DecodeArgs / New

TEST(NodeResourcesFitArgs, EmptyArgsGiveLeastAllocatedWithUnitWeights) {
  absl::StatusOr<FitArgs> args = DecodeArgs(PluginArgs());
  ASSERT_TRUE(args.ok()) << args.status();
  EXPECT_EQ(args->strategy, ScoringStrategy::kLeastAllocated);
  EXPECT_EQ(args->cpu_weight, 1);
  EXPECT_EQ(args->memory_weight, 1);
  EXPECT_EQ(args->gpu_weight, 1);
}

TEST(NodeResourcesFitArgs, DecodesMostAllocatedAndWeights) {
  absl::StatusOr<FitArgs> args = DecodeArgs(PluginArgs(
      {{"scoringStrategy", Str("MostAllocated")},
       {"resources", MapOf({{"cpu", Int(2)}, {"memory", Int(0)}, {"gpu", Int(100)}})}}));
  ASSERT_TRUE(args.ok()) << args.status();
  EXPECT_EQ(args->strategy, ScoringStrategy::kMostAllocated);
  EXPECT_EQ(args->cpu_weight, 2);
  EXPECT_EQ(args->memory_weight, 0);
  EXPECT_EQ(args->gpu_weight, 100);
}

TEST(NodeResourcesFitArgs, PartialResourcesKeepDefaultsForTheOthers) {
  absl::StatusOr<FitArgs> args = DecodeArgs(PluginArgs({{"resources", MapOf({{"gpu", Int(5)}})}}));
  ASSERT_TRUE(args.ok()) << args.status();
  EXPECT_EQ(args->strategy, ScoringStrategy::kLeastAllocated);
  EXPECT_EQ(args->cpu_weight, 1);
  EXPECT_EQ(args->memory_weight, 1);
  EXPECT_EQ(args->gpu_weight, 5);
}

TEST(NodeResourcesFitArgs, RejectsInvalidArgsNamingTheField) {
  struct Case {
    std::string name;
    ArgValue::Map fields;
    std::vector<std::string> want_in_message;
  };
  const std::vector<Case> cases = {
      {"unknown strategy",
       {{"scoringStrategy", Str("Balanced")}},
       {"args.scoringStrategy", "LeastAllocated or MostAllocated", "Balanced"}},
      {"strategy is case sensitive",
       {{"scoringStrategy", Str("leastallocated")}},
       {"args.scoringStrategy"}},
      {"strategy of wrong type",
       {{"scoringStrategy", Int(1)}},
       {"args.scoringStrategy", "expected a string", "integer"}},
      {"resources of wrong type",
       {{"resources", Str("cpu")}},
       {"args.resources", "expected a map", "string"}},
      {"weight of wrong type",
       {{"resources", MapOf({{"cpu", Str("1")}})}},
       {"args.resources.cpu", "expected an integer", "string"}},
      {"fractional weight",
       {{"resources", MapOf({{"memory", ArgValue(1.5)}})}},
       {"args.resources.memory", "expected an integer", "number"}},
      {"gpu weight above 100",
       {{"resources", MapOf({{"gpu", Int(101)}})}},
       {"args.resources.gpu", "0..100", "101"}},
      {"negative cpu weight",
       {{"resources", MapOf({{"cpu", Int(-1)}})}},
       {"args.resources.cpu", "0..100", "-1"}},
      {"negative memory weight",
       {{"resources", MapOf({{"memory", Int(-5)}})}},
       {"args.resources.memory", "0..100"}},
      {"unknown top-level key", {{"foo", Int(1)}}, {"args.foo", "unknown field"}},
      {"unknown resource", {{"resources", MapOf({{"tpu", Int(1)}})}}, {"args.resources.tpu"}},
      {"all weights zero",
       {{"resources", MapOf({{"cpu", Int(0)}, {"memory", Int(0)}, {"gpu", Int(0)}})}},
       {"args.resources", "at least one weight"}},
  };
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.name);
    absl::StatusOr<FitArgs> args = DecodeArgs(PluginArgs(tc.fields));
    ASSERT_FALSE(args.ok());
    EXPECT_EQ(args.status().code(), absl::StatusCode::kInvalidArgument);
    for (const std::string& want : tc.want_in_message) {
      EXPECT_THAT(std::string(args.status().message()), HasSubstr(want));
    }
  }
}

TEST(NodeResourcesFitArgs, NewBuildsThePluginOrReportsBadArgs) {
  FakeHandle handle;
  absl::StatusOr<std::unique_ptr<framework::Plugin>> ok =
      NodeResourcesFit::New(PluginArgs({{"scoringStrategy", Str("MostAllocated")}}), handle);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ((*ok)->Name(), "NodeResourcesFit");
  EXPECT_NE(dynamic_cast<framework::ReservePlugin*>(ok->get()), nullptr);

  absl::StatusOr<std::unique_ptr<framework::Plugin>> bad =
      NodeResourcesFit::New(PluginArgs({{"scoringStrategy", Str("Nope")}}), handle);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("args.scoringStrategy"));
}

// ---------------------------------------------------------------------------------------------
// PreFilter

TEST(NodeResourcesFitPreFilter, RejectsInvalidRequestsAsUnresolvable) {
  struct Case {
    std::string name;
    PodInfo pod;
    Code want;
    std::string want_in_reason;
  };
  PodInfo share_of_two = PodBuilder("share-of-two").Build();
  share_of_two.requests.gpu = GpuRequest{2, GpuMilli(500), GpuMemMiB(0), {}};
  PodInfo too_much_milli = PodBuilder("too-much-milli").Build();
  too_much_milli.requests.gpu = GpuRequest{1, GpuMilli(1500), GpuMemMiB(0), {}};
  PodInfo empty_share = PodBuilder("empty-share").Build();
  empty_share.requests.gpu = GpuRequest{1, GpuMilli(0), GpuMemMiB(0), {}};
  PodInfo negative_cpu = PodBuilder("negative-cpu").Cpu(-1).Build();
  const std::vector<Case> cases = {
      {"cpu-only pod", PodBuilder("cpu").Cpu(1000).Build(), Code::kSuccess, ""},
      {"whole gpus", PodBuilder("whole").Gpus(4, "A100").Build(), Code::kSuccess, ""},
      {"gpu share", PodBuilder("share").GpuShare(250, 4096).Build(), Code::kSuccess, ""},
      {"share spread over two devices", share_of_two, Code::kUnschedulableAndUnresolvable,
       "invalid GPU request: gpu.count"},
      {"more than one GPU per device", too_much_milli, Code::kUnschedulableAndUnresolvable,
       "gpu.milli_per_gpu"},
      {"share of nothing", empty_share, Code::kUnschedulableAndUnresolvable, "invalid GPU request"},
      {"negative cpu", negative_cpu, Code::kUnschedulableAndUnresolvable, "negative"},
  };
  NodeResourcesFit fit(FitArgs{});
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.name);
    CycleState state;
    PreFilterResult result;
    Status s = fit.PreFilter(state, tc.pod, result);
    EXPECT_EQ(s.code(), tc.want) << s.ToString();
    EXPECT_FALSE(result.nodes.has_value());
    if (!tc.want_in_reason.empty()) {
      EXPECT_THAT(s.Message(), HasSubstr(tc.want_in_reason));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Filter

TEST(NodeResourcesFitFilter, SeparatesFitsBusyAndNever) {
  struct Case {
    std::string name;
    NodeSpec node;
    std::vector<PodInfo> running;
    PodInfo pod;
    Code want;
    std::string want_reason;  // the single reason; empty for success
  };
  PodInfo big_whole_mem = PodBuilder("big-mem-gpu").Gpus(1).Build();
  big_whole_mem.requests.gpu.memory_per_gpu = GpuMemMiB(40960);
  const std::vector<Case> cases = {
      {"fits on an empty node", NodeBuilder("n").Cpu(4000).Build(), {},
       PodBuilder("p").Cpu(1000).Build(), Code::kSuccess, ""},
      {"cpu exactly filling what is free fits", NodeBuilder("n").Cpu(4000).Build(),
       {PodBuilder("r").Cpu(3000).Build()}, PodBuilder("p").Cpu(1000).Build(), Code::kSuccess,
       ""},
      {"cpu above node capacity never fits", NodeBuilder("n").Cpu(4000).Build(), {},
       PodBuilder("p").Cpu(5000).Build(), Code::kUnschedulableAndUnresolvable,
       "Insufficient cpu"},
      {"cpu in use now is only unschedulable", NodeBuilder("n").Cpu(4000).Build(),
       {PodBuilder("r").Cpu(3500).Build()}, PodBuilder("p").Cpu(1000).Build(),
       Code::kUnschedulable, "Insufficient cpu"},
      {"memory above node capacity never fits", NodeBuilder("n").MemoryGi(8).Build(), {},
       PodBuilder("p").MemoryGi(16).Build(), Code::kUnschedulableAndUnresolvable,
       "Insufficient memory"},
      {"memory in use now is only unschedulable", NodeBuilder("n").MemoryGi(8).Build(),
       {PodBuilder("r").MemoryGi(6).Build()}, PodBuilder("p").MemoryGi(4).Build(),
       Code::kUnschedulable, "Insufficient memory"},
      {"max pods reached", NodeBuilder("n").MaxPods(2).Build(),
       {PodBuilder("r1").Build(), PodBuilder("r2").Build()}, PodBuilder("p").Build(),
       Code::kUnschedulable, "Too many pods"},
      {"node admitting no pods", NodeBuilder("n").MaxPods(0).Build(), {},
       PodBuilder("p").Build(), Code::kUnschedulableAndUnresolvable, "Too many pods"},
      {"whole GPUs of another model", NodeBuilder("n").Gpus(2, "A100").Build(), {},
       PodBuilder("p").Gpus(1, "H100").Build(), Code::kUnschedulableAndUnresolvable,
       "node(s) had no GPU of model H100"},
      {"fewer GPUs than requested", NodeBuilder("n").Gpus(2).Build(), {},
       PodBuilder("p").Gpus(4).Build(), Code::kUnschedulableAndUnresolvable,
       "node(s) had fewer than 4 matching GPUs"},
      {"GPU pod on a node without GPUs", NodeBuilder("n").Build(), {},
       PodBuilder("p").Gpus(1).Build(), Code::kUnschedulableAndUnresolvable,
       "node(s) had no GPUs"},
      {"whole GPU needing more memory than any device", NodeBuilder("n").Gpus(2, "T4", 16384).Build(),
       {}, big_whole_mem, Code::kUnschedulableAndUnresolvable,
       "node(s) had no GPU with enough memory"},
      {"whole GPUs in use now", NodeBuilder("n").Gpus(2).Build(),
       {PodBuilder("r").Gpus(1).Build()}, PodBuilder("p").Gpus(2).Build(),
       Code::kUnschedulable, "Insufficient free GPUs: needs 2, 1 free here"},
      {"a shared GPU is not free for a whole request", NodeBuilder("n").Gpus(1).Build(),
       {PodBuilder("r").GpuShare(100, 1024).Build()}, PodBuilder("p").Gpus(1).Build(),
       Code::kUnschedulable, "Insufficient free GPUs: needs 1, 0 free here"},
      {"unhealthy GPUs still count as capacity", NodeBuilder("n").Gpus(2).Unhealthy(1).Build(),
       {}, PodBuilder("p").Gpus(2).Build(), Code::kUnschedulable, "Insufficient free GPUs: needs 2, 1 free here"},
      {"whole GPU fits beside an unhealthy one", NodeBuilder("n").Gpus(2).Unhealthy(0).Build(),
       {}, PodBuilder("p").Gpus(1).Build(), Code::kSuccess, ""},
      {"share fits on a partially used GPU", NodeBuilder("n").Gpus(1, "T4", 16384).Build(),
       {PodBuilder("r").GpuShare(500, 8192).Build()}, PodBuilder("p").GpuShare(250, 4096).Build(),
       Code::kSuccess, ""},
      {"share exactly filling the rest of a GPU fits", NodeBuilder("n").Gpus(1, "T4", 16384).Build(),
       {PodBuilder("r").GpuShare(750, 12288).Build()},
       PodBuilder("p").GpuShare(250, 4096).Build(), Code::kSuccess, ""},
      {"share larger than the free part", NodeBuilder("n").Gpus(1, "T4", 16384).Build(),
       {PodBuilder("r").GpuShare(900, 1024).Build()}, PodBuilder("p").GpuShare(250, 1024).Build(),
       Code::kUnschedulable, "Insufficient GPU share: needs 250m and 1024 MiB of one GPU, none free enough here"},
      {"share with more memory than free now", NodeBuilder("n").Gpus(1, "T4", 16384).Build(),
       {PodBuilder("r").GpuShare(100, 12288).Build()},
       PodBuilder("p").GpuShare(100, 8192).Build(), Code::kUnschedulable,
       "Insufficient GPU share: needs 100m and 8192 MiB of one GPU, none free enough here"},
      {"share with more memory than the device", NodeBuilder("n").Gpus(1, "T4", 16384).Build(), {},
       PodBuilder("p").GpuShare(250, 32768).Build(), Code::kUnschedulableAndUnresolvable,
       "node(s) had no GPU with enough memory"},
      {"share of another model", NodeBuilder("n").Gpus(1, "T4", 16384).Build(), {},
       PodBuilder("p").GpuShare(250, 1024, "A100").Build(), Code::kUnschedulableAndUnresolvable,
       "node(s) had no GPU of model A100"},
      {"share only on an unhealthy GPU", NodeBuilder("n").Gpus(1, "T4", 16384).Unhealthy(0).Build(),
       {}, PodBuilder("p").GpuShare(250, 1024).Build(), Code::kUnschedulable,
       "Insufficient GPU share: needs 250m and 1024 MiB of one GPU, none free enough here"},
      {"cpu-only pod on a GPU node", NodeBuilder("n").Gpus(8).Build(),
       {PodBuilder("r").Gpus(8).Build()}, PodBuilder("p").Cpu(1000).Build(), Code::kSuccess,
       ""},
      {"capacity is checked before what is free", NodeBuilder("n").Cpu(4000).Gpus(1).Build(),
       {PodBuilder("r").Gpus(1).Build()}, PodBuilder("p").Cpu(8000).Gpus(1).Build(),
       Code::kUnschedulableAndUnresolvable, "Insufficient cpu"},
  };
  NodeResourcesFit fit(FitArgs{});
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.name);
    const NodeInfo node = MakeNode(tc.node, tc.running);
    CycleState state;
    Status s = fit.Filter(state, tc.pod, node);
    EXPECT_EQ(s.code(), tc.want) << s.ToString();
    if (tc.want_reason.empty()) {
      EXPECT_THAT(s.reasons(), ::testing::IsEmpty());
    } else {
      EXPECT_THAT(s.reasons(), ElementsAre(tc.want_reason));
    }
  }
}

TEST(NodeResourcesFitFilter, ReasonNamesMemoryWhenTheModelExistsButIsTooSmall) {
  // The node has the requested model; only device memory is short. The verdict must say so rather
  // than claim the model is missing (which sends an operator looking for the wrong problem).
  struct Case {
    std::string name;
    PodInfo pod;
  };
  PodInfo whole = PodBuilder("whole").Gpus(1, "Tesla-T4").Build();
  whole.requests.gpu.memory_per_gpu = GpuMemMiB(32768);
  const std::vector<Case> cases = {
      {"share", PodBuilder("share").GpuShare(250, 32768, "Tesla-T4").Build()},
      {"whole GPU with a memory minimum", whole},
  };
  const NodeInfo node = MakeNode(NodeBuilder("t4").Gpus(2, "Tesla-T4", 16384).Build());
  NodeResourcesFit fit(FitArgs{});
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.name);
    CycleState state;
    Status s = fit.Filter(state, tc.pod, node);
    EXPECT_EQ(s.code(), Code::kUnschedulableAndUnresolvable) << s.ToString();
    EXPECT_THAT(s.reasons(), ElementsAre("node(s) had no GPU with enough memory"));
  }
}

// ---------------------------------------------------------------------------------------------
// Score

TEST(NodeResourcesFitScore, CpuOnlyScoresMatchHandComputedValues) {
  struct Case {
    std::string name;
    int64_t node_cpu;
    int64_t used_cpu;
    int64_t pod_cpu;
    int64_t want_least;
    int64_t want_most;
  };
  const std::vector<Case> cases = {
      // (1000 + 1000) / 4000 = 50% used after placement.
      {"half used after placement", 4000, 1000, 1000, 50, 50},
      // (1000 + 2000) / 4000 = 75%.
      {"three quarters used after placement", 4000, 1000, 2000, 25, 75},
      // 1000 / 4000 = 25%.
      {"empty node", 4000, 0, 1000, 75, 25},
      // 4000 / 4000 = 100%.
      {"pod fills the node", 4000, 3000, 1000, 0, 100},
      // 1000 / 3000 = 33.3% truncates to 33.
      {"utilization truncates", 3000, 0, 1000, 67, 33},
  };
  const NodeResourcesFit least = MakeFit(ScoringStrategy::kLeastAllocated, 1, 0, 0);
  const NodeResourcesFit most = MakeFit(ScoringStrategy::kMostAllocated, 1, 0, 0);
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.name);
    std::vector<PodInfo> running;
    if (tc.used_cpu > 0) running.push_back(CpuPod("r", tc.used_cpu));
    const NodeInfo node = MakeNode(NodeBuilder("n").Cpu(tc.node_cpu).Build(), running);
    const PodInfo pod = CpuPod("p", tc.pod_cpu);
    EXPECT_EQ(ScoreOf(least, pod, node), tc.want_least);
    EXPECT_EQ(ScoreOf(most, pod, node), tc.want_most);
  }
}

TEST(NodeResourcesFitScore, WeightsAverageCpuAndMemory) {
  // cpu: (1000 + 2000) / 4000 = 75% used; memory: (2Gi + 2Gi) / 8Gi = 50% used.
  // Least: (25 * 1 + 50 * 3) / 4 = 43 (175 / 4); Most: (75 * 1 + 50 * 3) / 4 = 56 (225 / 4).
  PodInfo running = PodBuilder("r").Cpu(1000).MemoryGi(2).Build();
  const NodeInfo node = MakeNode(NodeBuilder("n").Cpu(4000).MemoryGi(8).Build(), {running});
  const PodInfo pod = PodBuilder("p").Cpu(2000).MemoryGi(2).Build();
  EXPECT_EQ(ScoreOf(MakeFit(ScoringStrategy::kLeastAllocated, 1, 3, 0), pod, node), 43);
  EXPECT_EQ(ScoreOf(MakeFit(ScoringStrategy::kMostAllocated, 1, 3, 0), pod, node), 56);
}

TEST(NodeResourcesFitScore, LeastAllocatedPrefersEmptierNodeAndMostAllocatedFuller) {
  const NodeInfo empty = MakeNode(NodeBuilder("empty").Cpu(8000).MemoryGi(16).Build());
  const NodeInfo busy = MakeNode(NodeBuilder("busy").Cpu(8000).MemoryGi(16).Build(),
                                 {PodBuilder("r").Cpu(6000).MemoryGi(12).Build()});
  const PodInfo pod = PodBuilder("p").Cpu(1000).MemoryGi(2).Build();
  const NodeResourcesFit least = MakeFit(ScoringStrategy::kLeastAllocated, 1, 1, 1);
  const NodeResourcesFit most = MakeFit(ScoringStrategy::kMostAllocated, 1, 1, 1);
  // empty: cpu 12%, memory 12% -> Least 88, Most 12. busy: cpu 87%, memory 87% -> 13 and 87.
  EXPECT_EQ(ScoreOf(least, pod, empty), 88);
  EXPECT_EQ(ScoreOf(least, pod, busy), 13);
  EXPECT_EQ(ScoreOf(most, pod, empty), 12);
  EXPECT_EQ(ScoreOf(most, pod, busy), 87);
  EXPECT_GT(ScoreOf(least, pod, empty), ScoreOf(least, pod, busy));
  EXPECT_GT(ScoreOf(most, pod, busy), ScoreOf(most, pod, empty));
}

TEST(NodeResourcesFitScore, IncludesGpuUtilizationWhenNodeHasGpus) {
  // cpu: 1000 / 4000 = 25% used; gpu: (1000 + 1000) / 4000 milli = 50% used.
  // Least: (75 + 50) / 2 = 62; Most: (25 + 50) / 2 = 37.
  const NodeInfo node = MakeNode(NodeBuilder("n").Cpu(4000).Gpus(4).Build(),
                                 {PodBuilder("r").Cpu(0).Gpus(1).Build()});
  PodInfo pod = PodBuilder("p").Cpu(1000).Gpus(1).Build();
  EXPECT_EQ(ScoreOf(MakeFit(ScoringStrategy::kLeastAllocated, 1, 0, 1), pod, node), 62);
  EXPECT_EQ(ScoreOf(MakeFit(ScoringStrategy::kMostAllocated, 1, 0, 1), pod, node), 37);

  // A share counts its milli-GPU: (1000 + 250) / 4000 = 31% used. gpu weight only.
  PodInfo share = PodBuilder("s").Cpu(1000).GpuShare(250, 1024).Build();
  EXPECT_EQ(ScoreOf(MakeFit(ScoringStrategy::kLeastAllocated, 0, 0, 1), share, node), 69);
  EXPECT_EQ(ScoreOf(MakeFit(ScoringStrategy::kMostAllocated, 0, 0, 1), share, node), 31);
}

TEST(NodeResourcesFitScore, CpuOnlyPodIsNotScoredOnGpuUtilization) {
  // cpu: 1000 / 4000 = 25% used after placement; the node's GPUs are 50% used. A CPU-only pod is
  // scored on cpu alone (25), not on the mean with the GPU dimension ((25 + 50) / 2 = 37).
  const NodeInfo node = MakeNode(NodeBuilder("n").Cpu(4000).Gpus(4).Build(),
                                 {PodBuilder("r").Cpu(0).Gpus(2).Build()});
  const PodInfo pod = CpuPod("p", 1000);
  EXPECT_EQ(ScoreOf(MakeFit(ScoringStrategy::kMostAllocated, 1, 0, 1), pod, node), 25);
  // A GPU pod on the same node sees both: cpu 25%, gpu (2000 + 1000) / 4000 = 75% -> 50.
  const PodInfo gpu_pod = PodBuilder("g").Cpu(1000).Gpus(1).Build();
  EXPECT_EQ(ScoreOf(MakeFit(ScoringStrategy::kMostAllocated, 1, 0, 1), gpu_pod, node), 50);
}

TEST(NodeResourcesFitScore, ResourceWithWeightZeroIsIgnored) {
  // Same cpu use (50%), very different memory use: with memory weight 0 both score 50.
  const NodeInfo low_mem = MakeNode(NodeBuilder("low").Cpu(4000).MemoryGi(100).Build(),
                                    {PodBuilder("r").Cpu(1000).MemoryGi(1).Build()});
  const NodeInfo high_mem = MakeNode(NodeBuilder("high").Cpu(4000).MemoryGi(100).Build(),
                                     {PodBuilder("r").Cpu(1000).MemoryGi(90).Build()});
  const PodInfo pod = PodBuilder("p").Cpu(1000).MemoryGi(1).Build();
  for (ScoringStrategy strategy :
       {ScoringStrategy::kLeastAllocated, ScoringStrategy::kMostAllocated}) {
    SCOPED_TRACE(strategy == ScoringStrategy::kLeastAllocated ? "least" : "most");
    const NodeResourcesFit fit = MakeFit(strategy, 1, 0, 0);
    EXPECT_EQ(ScoreOf(fit, pod, low_mem), 50);
    EXPECT_EQ(ScoreOf(fit, pod, high_mem), 50);
  }
  // And with the memory weight set, the two nodes differ.
  const NodeResourcesFit with_memory = MakeFit(ScoringStrategy::kLeastAllocated, 1, 1, 0);
  EXPECT_NE(ScoreOf(with_memory, pod, low_mem), ScoreOf(with_memory, pod, high_mem));
}

TEST(NodeResourcesFitScore, NodeWithoutGpusIgnoresTheGpuWeight) {
  // cpu 1000 / 4000 = 25% used. Were the GPU counted (0% used, weight 100), Least would be
  // (75 + 100 * 100) / 101 = 99 and Most (25 + 0) / 101 = 0.
  const NodeInfo node = MakeNode(NodeBuilder("cpu-only").Cpu(4000).Build());
  const PodInfo pod = CpuPod("p", 1000);
  EXPECT_EQ(ScoreOf(MakeFit(ScoringStrategy::kLeastAllocated, 1, 0, 100), pod, node), 75);
  EXPECT_EQ(ScoreOf(MakeFit(ScoringStrategy::kMostAllocated, 1, 0, 100), pod, node), 25);
}

TEST(NodeResourcesFitScore, NodeWithNoWeightedResourceScoresZero) {
  // Only the gpu weight is set and the node has no GPUs: nothing to average.
  const NodeInfo node = MakeNode(NodeBuilder("cpu-only").Cpu(4000).Build());
  EXPECT_EQ(ScoreOf(MakeFit(ScoringStrategy::kLeastAllocated, 0, 0, 1), CpuPod("p", 1000), node),
            0);
}

TEST(NodeResourcesFitScore, ScoreStaysWithinZeroToHundred) {
  const std::vector<NodeInfo> nodes = {
      MakeNode(NodeBuilder("empty").Cpu(1000).MemoryGi(1).Gpus(1).Build()),
      MakeNode(NodeBuilder("full").Cpu(1000).MemoryGi(1).Gpus(1).Build(),
               {PodBuilder("r").Cpu(1000).MemoryGi(1).Gpus(1).Build()}),
      MakeNode(NodeBuilder("zero-cpu").Cpu(0).MemoryGi(0).Build()),
      MakeNode(NodeBuilder("huge").Cpu(int64_t{1} << 40).MemoryGi(int64_t{1} << 19).Gpus(64).Build()),
  };
  const std::vector<PodInfo> pods = {
      CpuPod("tiny", 1),
      PodBuilder("over-node").Cpu(4000).MemoryGi(8).Gpus(2).Build(),
      PodBuilder("share").GpuShare(999, 1).Build(),
      PodBuilder("nothing").Cpu(0).Build(),
  };
  for (ScoringStrategy strategy :
       {ScoringStrategy::kLeastAllocated, ScoringStrategy::kMostAllocated}) {
    for (int64_t w : {0, 1, 100}) {
      const NodeResourcesFit fit = MakeFit(strategy, 1, w, 100 - w);
      for (const NodeInfo& node : nodes) {
        for (const PodInfo& pod : pods) {
          SCOPED_TRACE(absl::StrCat(strategy == ScoringStrategy::kLeastAllocated ? "least" : "most",
                                    " w=", w, " node=", node.name().str(), " pod=", pod.name));
          const int64_t score = ScoreOf(fit, pod, node);
          EXPECT_GE(score, framework::kMinNodeScore);
          EXPECT_LE(score, framework::kMaxNodeScore);
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Reserve / Unreserve

TEST(NodeResourcesFitReserve, WritesTryAllocateResultForWholeGpus) {
  const NodeInfo node = MakeNode(NodeBuilder("n").Gpus(4, "A100", 81920).Build(),
                                 {PodBuilder("r").Gpus(1).Build()});  // takes GPU 0
  const PodInfo pod = PodBuilder("p").Gpus(2, "A100").Build();
  NodeResourcesFit fit(FitArgs{});
  CycleState state;
  Status s = fit.Reserve(state, pod, node);
  ASSERT_TRUE(s.ok()) << s.ToString();
  absl::StatusOr<const DeviceAssignment*> a = state.Read(kDeviceAssignmentKey);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ((*a)->chosen_by, "NodeResourcesFit");
  EXPECT_THAT((*a)->shares,
              ElementsAre(GpuShare{DeviceIndex(1), kOneGpu, GpuMemMiB(81920)},
                          GpuShare{DeviceIndex(2), kOneGpu, GpuMemMiB(81920)}));
  EXPECT_EQ((*a)->shares, *framework::TryAllocate(node, pod.requests.gpu));
}

TEST(NodeResourcesFitReserve, ChoosesTheBestFitDeviceForAShare) {
  // The worked example of TryAllocate: free {0: 1000m/16Gi, 1: 300m/8Gi, 2: 500m/4Gi}; a
  // 250m/2Gi share goes to device 1.
  absl::StatusOr<NodeInfo> node = NodeInfo::Create(NodeBuilder("n").Gpus(3, "T4", 16384).Build());
  ASSERT_TRUE(node.ok()) << node.status();
  framework::PodResources r1{MilliCpu(0), MemoryBytes(0),
                             GpuRequest::Share(GpuMilli(700), GpuMemMiB(8192))};
  ASSERT_TRUE(node->AddPod(r1, {GpuShare{DeviceIndex(1), GpuMilli(700), GpuMemMiB(8192)}}).ok());
  framework::PodResources r2{MilliCpu(0), MemoryBytes(0),
                             GpuRequest::Share(GpuMilli(500), GpuMemMiB(12288))};
  ASSERT_TRUE(node->AddPod(r2, {GpuShare{DeviceIndex(2), GpuMilli(500), GpuMemMiB(12288)}}).ok());

  NodeResourcesFit fit(FitArgs{});
  CycleState state;
  ASSERT_TRUE(fit.Reserve(state, PodBuilder("p").GpuShare(250, 2048).Build(), *node).ok());
  absl::StatusOr<const DeviceAssignment*> a = state.Read(kDeviceAssignmentKey);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_THAT((*a)->shares, ElementsAre(GpuShare{DeviceIndex(1), GpuMilli(250), GpuMemMiB(2048)}));

  CycleState state2;
  ASSERT_TRUE(fit.Reserve(state2, PodBuilder("q").GpuShare(400, 6144).Build(), *node).ok());
  a = state2.Read(kDeviceAssignmentKey);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_THAT((*a)->shares, ElementsAre(GpuShare{DeviceIndex(0), GpuMilli(400), GpuMemMiB(6144)}));
}

TEST(NodeResourcesFitReserve, KeepsAnAssignmentWrittenByAnotherPlugin) {
  const NodeInfo node = MakeNode(NodeBuilder("n").Gpus(4).Build());
  NodeResourcesFit fit(FitArgs{});
  CycleState state;
  auto theirs = std::make_unique<DeviceAssignment>();
  theirs->shares = {GpuShare{DeviceIndex(3), kOneGpu, GpuMemMiB(81920)}};
  theirs->chosen_by = "GpuTopology";
  state.Write(kDeviceAssignmentKey, std::move(theirs));

  const PodInfo pod = PodBuilder("p").Gpus(1).Build();
  ASSERT_TRUE(fit.Reserve(state, pod, node).ok());
  absl::StatusOr<const DeviceAssignment*> a = state.Read(kDeviceAssignmentKey);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ((*a)->chosen_by, "GpuTopology");
  EXPECT_THAT((*a)->shares, ElementsAre(GpuShare{DeviceIndex(3), kOneGpu, GpuMemMiB(81920)}));

  // Unreserve leaves the other plugin's assignment alone.
  fit.Unreserve(state, pod, node.name());
  a = state.Read(kDeviceAssignmentKey);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ((*a)->chosen_by, "GpuTopology");
}

TEST(NodeResourcesFitReserve, CpuOnlyPodWritesNothing) {
  const NodeInfo node = MakeNode(NodeBuilder("n").Gpus(2).Build());
  NodeResourcesFit fit(FitArgs{});
  CycleState state;
  ASSERT_TRUE(fit.Reserve(state, PodBuilder("p").Cpu(1000).Build(), node).ok());
  EXPECT_FALSE(state.Contains(kDeviceAssignmentKey));
}

TEST(NodeResourcesFitReserve, UnreserveErasesItsOwnAssignmentAndIsIdempotent) {
  const NodeInfo node = MakeNode(NodeBuilder("n").Gpus(2).Build());
  const PodInfo pod = PodBuilder("p").Gpus(1).Build();
  NodeResourcesFit fit(FitArgs{});
  CycleState state;
  ASSERT_TRUE(fit.Reserve(state, pod, node).ok());
  ASSERT_TRUE(state.Contains(kDeviceAssignmentKey));
  fit.Unreserve(state, pod, node.name());
  EXPECT_FALSE(state.Contains(kDeviceAssignmentKey));
  fit.Unreserve(state, pod, node.name());  // twice is fine
  EXPECT_FALSE(state.Contains(kDeviceAssignmentKey));

  // Reserve again after Unreserve chooses the same devices.
  ASSERT_TRUE(fit.Reserve(state, pod, node).ok());
  absl::StatusOr<const DeviceAssignment*> a = state.Read(kDeviceAssignmentKey);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_THAT((*a)->shares, ElementsAre(GpuShare{DeviceIndex(0), kOneGpu, GpuMemMiB(81920)}));
}

TEST(NodeResourcesFitReserve, UnreserveWithoutReserveIsANoOp) {
  NodeResourcesFit fit(FitArgs{});
  CycleState state;
  fit.Unreserve(state, PodBuilder("p").Gpus(1).Build(), NodeId("n"));
  EXPECT_FALSE(state.Contains(kDeviceAssignmentKey));
}

TEST(NodeResourcesFitReserve, FailsWhenGpusNoLongerFit) {
  const NodeInfo node = MakeNode(NodeBuilder("gpu-7").Gpus(2).Build(),
                                 {PodBuilder("r").Gpus(1).Build()});
  NodeResourcesFit fit(FitArgs{});
  CycleState state;
  Status s = fit.Reserve(state, PodBuilder("p").Gpus(2).Build(), node);
  EXPECT_EQ(s.code(), Code::kUnschedulable) << s.ToString();
  EXPECT_THAT(s.Message(), HasSubstr("gpu-7"));
  EXPECT_FALSE(state.Contains(kDeviceAssignmentKey));
}

// ---------------------------------------------------------------------------------------------
// The in-tree registry (plugins/registry.h); profile parsing needs the runtime and is tested there.

TEST(InTreeRegistry, ListsExactlyTheInTreePlugins) {
  const framework::Registry registry = NewInTreeRegistry();
  EXPECT_THAT(registry.Names(),
              ElementsAre("BestFit", "DefaultBinder", "DotProduct", "FGD", "Gang",
                          "GpuClustering", "GpuHeadroom", "GpuPacking", "GpuTopology",
                          "NodeResourcesFit",
                          "NodeSelector", "PrioritySort", "RandomFit", "TaintToleration"));
  EXPECT_EQ(registry.Find("GangScheduling"), nullptr);
}

TEST(InTreeRegistry, EveryFactoryBuildsAPluginOfItsOwnName) {
  const framework::Registry registry = NewInTreeRegistry();
  FakeHandle handle;
  for (const std::string& name : registry.Names()) {
    SCOPED_TRACE(name);
    const framework::PluginFactory* factory = registry.Find(name);
    ASSERT_NE(factory, nullptr);
    absl::StatusOr<std::unique_ptr<framework::Plugin>> plugin = (*factory)(PluginArgs(), handle);
    if (name == "FGD") {
      // FGD cannot work without the workload's typical pods and says so.
      ASSERT_FALSE(plugin.ok());
      EXPECT_THAT(std::string(plugin.status().message()), HasSubstr("args.typicalPods: required"));
      continue;
    }
    ASSERT_TRUE(plugin.ok()) << plugin.status();
    EXPECT_EQ((*plugin)->Name(), name);

    absl::StatusOr<std::unique_ptr<framework::Plugin>> bad =
        (*factory)(PluginArgs({{"bogus", Int(1)}}), handle);
    ASSERT_FALSE(bad.ok());
    EXPECT_THAT(std::string(bad.status().message()), HasSubstr("args.bogus"));
  }
}

TEST(NodeResourcesFitReserve, GpuSelectionSpreadPutsASharedPodOnTheEmptiestGpu) {
  // GPU 0 has 300m free, GPU 1 is free: binpack takes GPU 0, spread takes GPU 1.
  const NodeInfo node = MakeNode(NodeBuilder("n").Gpus(2).Build(),
                                 {PodBuilder("r").Cpu(0).GpuShare(700, 1024).Build()});
  ASSERT_EQ(node.gpus()[0].milli_free, GpuMilli(300));
  const PodInfo pod = PodBuilder("p").GpuShare(200, 1024).Build();
  for (auto [selection, want] : {std::pair{"binpack", 0}, std::pair{"spread", 1}}) {
    SCOPED_TRACE(selection);
    auto args = DecodeArgs(PluginArgs({{"gpuSelection", framework::ArgValue(std::string(selection))}}));
    ASSERT_TRUE(args.ok()) << args.status();
    NodeResourcesFit fit(*args);
    CycleState state;
    ASSERT_TRUE(fit.Reserve(state, pod, node).ok());
    auto a = state.Read(framework::kDeviceAssignmentKey);
    ASSERT_TRUE(a.ok());
    EXPECT_EQ((*a)->shares.at(0).gpu, DeviceIndex(want));
  }
  auto bad = DecodeArgs(PluginArgs({{"gpuSelection", framework::ArgValue(std::string("pack"))}}));
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("args.gpuSelection: must be binpack or spread"));
}

}  // namespace
}  // namespace gpusched::plugins::node_resources_fit
