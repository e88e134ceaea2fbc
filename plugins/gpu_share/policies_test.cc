#include "plugins/gpu_share/policies.h"

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/random/bit_gen_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "common/metrics/in_memory_metrics.h"
#include "common/sim_clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "plugins/gpu_share/fragmentation.h"
#include "scheduler/api/cycle_state.h"
#include "scheduler/api/handle.h"
#include "scheduler/api/node_info.h"
#include "scheduler/api/plugin.h"
#include "scheduler/api/plugin_args.h"
#include "scheduler/api/pod_info.h"
#include "test/fakes/builders.h"
#include "test/fakes/fake_handle.h"

namespace gpusched::plugins::gpu_share {
namespace {

using framework::ArgValue;
using framework::Code;
using framework::CycleState;
using framework::DeviceAssignment;
using framework::GpuRequest;
using framework::GpuShare;
using framework::kDeviceAssignmentKey;
using framework::NodeInfo;
using framework::NodeScore;
using framework::NodeScoreList;
using framework::NodeSpec;
using framework::PluginArgs;
using framework::PodInfo;
using framework::Status;
using testing::NodeBuilder;
using testing::PodBuilder;
using ::testing::HasSubstr;

// ---------------------------------------------------------------------------------------------
// Fakes and helpers

using testing::FakeHandle;

constexpr int64_t kMemMiB = 81920;  // NodeBuilder's default device memory

NodeInfo MakeNode(NodeSpec spec) {
  absl::StatusOr<NodeInfo> node = NodeInfo::Create(std::move(spec));
  EXPECT_TRUE(node.ok()) << node.status();
  return *std::move(node);
}

// Puts a share of `milli` milli-GPU and `mem` MiB on device `gpu` (no CPU).
void AddShare(NodeInfo& node, int32_t gpu, int64_t milli, int64_t mem = 1024) {
  framework::PodResources req;
  req.gpu = GpuRequest::Share(GpuMilli(milli), GpuMemMiB(mem));
  absl::Status s = node.AddPod(req, {GpuShare{DeviceIndex(gpu), GpuMilli(milli), GpuMemMiB(mem)}});
  ASSERT_TRUE(s.ok()) << s;
}

// Puts a pod of `gpus.size()` whole GPUs on those devices, with `cpu` milli-CPU.
void AddWhole(NodeInfo& node, std::vector<int32_t> gpus, int64_t cpu = 0) {
  framework::PodResources req;
  req.cpu = MilliCpu(cpu);
  req.gpu = GpuRequest::Whole(static_cast<int32_t>(gpus.size()));
  std::vector<GpuShare> shares;
  for (int32_t g : gpus) shares.push_back(GpuShare{DeviceIndex(g), kOneGpu, GpuMemMiB(kMemMiB)});
  absl::Status s = node.AddPod(req, shares);
  ASSERT_TRUE(s.ok()) << s;
}

void AddCpu(NodeInfo& node, int64_t cpu) {
  framework::PodResources req;
  req.cpu = MilliCpu(cpu);
  absl::Status s = node.AddPod(req, {});
  ASSERT_TRUE(s.ok()) << s;
}

PodInfo SharePod(int64_t milli, int64_t mem = 1024) {
  return PodBuilder("share").GpuShare(milli, mem).Build();
}
PodInfo WholePod(int32_t count) { return PodBuilder("whole").Gpus(count).Build(); }
PodInfo CpuPod(int64_t cpu = 1000) { return PodBuilder("cpu").Cpu(cpu).Build(); }

TypicalPod Typical(int64_t cpu, int32_t count, int64_t milli, double weight,
                   std::vector<std::string> models = {}) {
  TypicalPod p;
  p.cpu = MilliCpu(cpu);
  p.gpu_count = count;
  p.gpu_milli = GpuMilli(milli);
  p.models = std::move(models);
  p.weight = weight;
  return p;
}

int64_t ScoreOf(const framework::ScorePlugin& plugin, const CycleState& state, const PodInfo& pod,
                const NodeInfo& node) {
  int64_t score = -1;
  Status s = plugin.Score(state, pod, node, score);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return score;
}

const DeviceAssignment* AssignmentOf(const CycleState& state) {
  absl::StatusOr<const DeviceAssignment*> a = state.Read(kDeviceAssignmentKey);
  return a.ok() ? *a : nullptr;
}

std::vector<GpuShare> SharesOf(const CycleState& state) {
  const DeviceAssignment* a = AssignmentOf(state);
  return a == nullptr ? std::vector<GpuShare>{} : a->shares;
}

GpuShare Share(int32_t gpu, int64_t milli, int64_t mem) {
  return GpuShare{DeviceIndex(gpu), GpuMilli(milli), GpuMemMiB(mem)};
}

// ---------------------------------------------------------------------------------------------
// FGD

TEST(FgdPlugin, PrefersFillingAPartiallyUsedGpuThatWouldOtherwiseBeAFragment) {
  // Typical pods: 1 whole GPU (p = 1). A 500m share arrives.
  //   partial: L = {1000, 500}. F before = 500 (device 1 is too small for a whole GPU).
  //     on device 1 -> {1000, 0}: F = 0, x = +0.5, 100 * sigmoid(0.5) = 62.2 -> 62
  //     on device 0 -> {500, 500}: no whole GPU left, F = 1000, x = -0.5 -> 37
  //   free: L = {1000, 1000}, F before = 0; either device -> {500, 1000}: F = 500, x = -0.5 -> 37
  Fgd fgd({Typical(0, 1, 1000, 1.0)});
  NodeInfo partial = MakeNode(NodeBuilder("partial").Gpus(2).Build());
  AddShare(partial, 1, 500);
  NodeInfo free = MakeNode(NodeBuilder("free").Gpus(2).Build());
  const PodInfo pod = SharePod(500);

  const Fgd::Choice on_partial = fgd.Evaluate(pod, partial);
  EXPECT_EQ(on_partial.score, 62);
  EXPECT_EQ(on_partial.device_free, 500);
  const Fgd::Choice on_free = fgd.Evaluate(pod, free);
  EXPECT_EQ(on_free.score, 37);
  EXPECT_EQ(on_free.device_free, 1000);

  CycleState state;
  ASSERT_TRUE(fgd.PreScore(state, pod, {&free, &partial}).ok());
  EXPECT_EQ(ScoreOf(fgd, state, pod, partial), 62);
  EXPECT_EQ(ScoreOf(fgd, state, pod, free), 37);

  ASSERT_TRUE(fgd.Reserve(state, pod, partial).ok());
  const DeviceAssignment* a = AssignmentOf(state);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->chosen_by, "FGD");
  EXPECT_EQ(a->shares, std::vector<GpuShare>{Share(1, 500, 1024)});
}

TEST(FgdPlugin, PlacesAShareWhereItCreatesNoFragmentEvenWhereBestFitWouldNot) {
  // Typical pods: a 500m share (p = 1). A 200m share on L = {1000, 600, 1000}: F before = 0.
  //   on device 1 (600, best fit) -> {1000, 400, 1000}: 400 < 500, F = 400, x = -0.4 -> 40
  //   on device 0 or 2 (1000)     -> {800, 600, 1000}: F = 0, x = 0 -> 50
  // FGD takes the lowest-indexed device with 1000 free: device 0.
  Fgd fgd({Typical(0, 1, 500, 1.0)});
  NodeInfo node = MakeNode(NodeBuilder("n").Gpus(3).Build());
  AddShare(node, 1, 400);
  const PodInfo pod = SharePod(200);

  const Fgd::Choice c = fgd.Evaluate(pod, node);
  EXPECT_EQ(c.score, 50);
  EXPECT_EQ(c.device_free, 1000);

  std::optional<std::vector<GpuShare>> best_fit = framework::TryAllocate(node, pod.requests.gpu);
  ASSERT_TRUE(best_fit.has_value());
  EXPECT_EQ(best_fit->at(0).gpu, DeviceIndex(1));  // what best fit would do

  CycleState state;
  ASSERT_TRUE(fgd.Reserve(state, pod, node).ok());
  EXPECT_EQ(SharesOf(state), std::vector<GpuShare>{Share(0, 200, 1024)});
}

TEST(FgdPlugin, ConsolidatesAOneGpuPodRatherThanBreakingAFreeEightGpuNode) {
  // Typical pods: 1 whole GPU (p = 0.5), 8 whole GPUs (p = 0.5). A 1-GPU pod arrives.
  //   used: 8 GPUs, device 0 taken. idle 7000; F before = 0.5*0 + 0.5*7000 = 3500.
  //     after (device 1 taken): idle 6000, F = 3000, x = +0.5 -> 62
  //   free: 8 free GPUs, F before = 0; after: 7 free, the 8-GPU pod no longer fits:
  //     F = 0.5*7000 = 3500, x = -3.5, 100 / (1 + e^3.5) = 2.9 -> 2
  Fgd fgd({Typical(0, 1, 1000, 0.5), Typical(0, 8, 1000, 0.5)});
  NodeInfo used = MakeNode(NodeBuilder("used").Gpus(8).Build());
  AddWhole(used, {0});
  NodeInfo free = MakeNode(NodeBuilder("free").Gpus(8).Build());
  const PodInfo pod = WholePod(1);

  CycleState state;
  ASSERT_TRUE(fgd.PreScore(state, pod, {&free, &used}).ok());
  EXPECT_EQ(ScoreOf(fgd, state, pod, used), 62);
  EXPECT_EQ(ScoreOf(fgd, state, pod, free), 2);
  EXPECT_EQ(fgd.Evaluate(pod, used).device_free, -1);  // not a share

  ASSERT_TRUE(fgd.Reserve(state, pod, used).ok());
  EXPECT_EQ(SharesOf(state), std::vector<GpuShare>{Share(1, 1000, kMemMiB)});
  EXPECT_EQ(AssignmentOf(state)->chosen_by, "FGD");
}

TEST(FgdPlugin, PenalizesTakingTheCpuATypicalGpuPodNeeds) {
  // Typical pods: 1 whole GPU with 8000m CPU (p = 1). A CPU-only pod of 4000m.
  //   tight: 10000m CPU, 2 free GPUs: F before = 0; after, 6000m < 8000m: F = 2000, x = -2,
  //     100 / (1 + e^2) = 11.9 -> 11
  //   roomy: 64000m CPU: F stays 0, x = 0 -> 50
  Fgd fgd({Typical(8000, 1, 1000, 1.0)});
  NodeInfo tight = MakeNode(NodeBuilder("tight").Cpu(10000).Gpus(2).Build());
  NodeInfo roomy = MakeNode(NodeBuilder("roomy").Cpu(64000).Gpus(2).Build());
  const PodInfo pod = CpuPod(4000);
  EXPECT_EQ(fgd.Evaluate(pod, tight).score, 11);
  EXPECT_EQ(fgd.Evaluate(pod, roomy).score, 50);

  // Reserve writes no assignment for a pod without GPUs.
  CycleState state;
  ASSERT_TRUE(fgd.Reserve(state, pod, roomy).ok());
  EXPECT_FALSE(state.Contains(kDeviceAssignmentKey));
}

TEST(FgdPlugin, EvaluateScoresStayWithin0And100AndPreScoreAgrees) {
  Fgd fgd({Typical(2000, 0, 0, 3), Typical(1000, 1, 250, 2), Typical(4000, 1, 500, 4),
           Typical(8000, 1, 1000, 2), Typical(16000, 2, 1000, 1), Typical(32000, 8, 1000, 1)});
  std::mt19937_64 rng(5);
  std::vector<NodeInfo> nodes;
  for (int i = 0; i < 60; ++i) {
    const int gpus = std::uniform_int_distribution<int>(0, 8)(rng);
    NodeInfo n = MakeNode(NodeBuilder(absl::StrCat("n", i)).Cpu(64000).Gpus(gpus).Build());
    for (int g = 0; g < gpus; ++g) {
      const int64_t used = 10 * std::uniform_int_distribution<int64_t>(0, 100)(rng);
      if (used > 0) AddShare(n, g, used);
    }
    AddCpu(n, 1000 * std::uniform_int_distribution<int64_t>(0, 64)(rng));
    nodes.push_back(std::move(n));
  }
  std::vector<const NodeInfo*> feasible;
  for (const NodeInfo& n : nodes) feasible.push_back(&n);
  const std::vector<PodInfo> pods = {CpuPod(2000),  SharePod(100), SharePod(250), SharePod(500),
                                     SharePod(990), WholePod(1),   WholePod(2),   WholePod(8)};
  for (const PodInfo& pod : pods) {
    SCOPED_TRACE(absl::StrCat("pod gpu ", pod.requests.gpu.count, " x ",
                              pod.requests.gpu.milli_per_gpu.value()));
    CycleState state;
    ASSERT_TRUE(fgd.PreScore(state, pod, feasible).ok());
    for (const NodeInfo& n : nodes) {
      SCOPED_TRACE(n.name().str());
      const Fgd::Choice c = fgd.Evaluate(pod, n);
      EXPECT_GE(c.score, framework::kMinNodeScore);
      EXPECT_LE(c.score, framework::kMaxNodeScore);
      EXPECT_EQ(ScoreOf(fgd, state, pod, n), c.score);
      if (!pod.requests.gpu.empty() && !pod.requests.gpu.whole() && c.device_free >= 0) {
        // The chosen amount is that of a device that fits the share.
        bool found = false;
        for (const framework::GpuSlot& s : n.gpus()) {
          found |= s.milli_free.value() == c.device_free &&
                   s.milli_free >= pod.requests.gpu.milli_per_gpu;
        }
        EXPECT_TRUE(found) << c.device_free;
      }
    }
  }
}

// Live FGD: the typical pods come from the pods it sees, decayed, on top of a weak prior.
TEST(FgdPlugin, ObservedPodsBecomeTheTypicalPodsAndARetryCountsOnce) {
  FgdObserve observe;
  observe.half_life = 50;
  observe.refresh_every = 10;
  observe.prior_weight = 5;
  Fgd fgd({Typical(4000, 1, 1000, 1.0)}, observe);
  NodeInfo node = MakeNode(NodeBuilder("n").Cpu(64000).Gpus(4).Build());
  auto see = [&](const PodInfo& pod) {
    CycleState state;
    ASSERT_TRUE(fgd.PreScore(state, pod, {&node}).ok());
  };
  // Before any refresh: the prior alone.
  ASSERT_EQ(fgd.typical_pods().size(), 1u);
  // 40 shares of 250m: after the refreshes they dominate.
  for (int i = 0; i < 40; ++i) {
    PodInfo p = SharePod(250);
    p.uid = PodUid(absl::StrCat("share-", i));
    see(p);
  }
  std::vector<TypicalPod> t = fgd.typical_pods();
  ASSERT_FALSE(t.empty());
  EXPECT_EQ(t[0].gpu_milli, GpuMilli(250));
  EXPECT_GT(t[0].weight, 0.8);
  // Then the workload changes to whole GPUs: with a half-life of 50 pods it follows.
  for (int i = 0; i < 200; ++i) {
    PodInfo p = WholePod(2);
    p.uid = PodUid(absl::StrCat("whole-", i));
    see(p);
  }
  t = fgd.typical_pods();
  ASSERT_FALSE(t.empty());
  EXPECT_EQ(t[0].gpu_count, 2);
  // The same pod scored again (kube-scheduler retrying it) is not a new observation.
  PodInfo retry = SharePod(100);
  retry.uid = PodUid("retry");
  for (int i = 0; i < 30; ++i) see(retry);
  for (const TypicalPod& p : fgd.typical_pods()) EXPECT_NE(p.gpu_milli, GpuMilli(100));
}

TEST(FgdPlugin, ObservationArgsAreValidated) {
  auto with = [](const char* key, framework::ArgValue v) {
    return PluginArgs({{"typicalPods", EncodeTypicalPods({Typical(0, 1, 1000, 1.0)})},
                       {key, std::move(v)}});
  };
  EXPECT_FALSE(DecodeFgdObserve(with("observedHalfLife", framework::ArgValue(int64_t{-1}))).ok());
  EXPECT_FALSE(DecodeFgdObserve(with("observedRefresh", framework::ArgValue(int64_t{0}))).ok());
  EXPECT_FALSE(DecodeFgdObserve(with("priorWeight", framework::ArgValue(0.0))).ok());
  absl::StatusOr<FgdObserve> ok =
      DecodeFgdObserve(with("observedHalfLife", framework::ArgValue(int64_t{500})));
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->half_life, 500);
  EXPECT_TRUE(DecodeTypicalPods(with("observedHalfLife", framework::ArgValue(int64_t{500}))).ok());
}

TEST(FgdPlugin, ScoreWithoutPreScoreIsAnErrorNotACrash) {
  Fgd fgd({Typical(0, 1, 1000, 1.0)});
  NodeInfo node = MakeNode(NodeBuilder("n").Gpus(2).Build());
  NodeInfo other = MakeNode(NodeBuilder("other").Gpus(2).Build());
  const PodInfo pod = WholePod(1);
  CycleState state;
  int64_t score = 0;
  Status s = fgd.Score(state, pod, node, score);
  EXPECT_EQ(s.code(), Code::kError);
  EXPECT_THAT(s.Message(), HasSubstr("PreScore did not run"));

  // A node that PreScore did not see is an error too.
  ASSERT_TRUE(fgd.PreScore(state, pod, {&node}).ok());
  s = fgd.Score(state, pod, other, score);
  EXPECT_EQ(s.code(), Code::kError);
  EXPECT_THAT(s.Message(), HasSubstr("not scored"));
}

TEST(FgdPlugin, ReserveFailsWhenNoDeviceFitsTheShareAnyMore) {
  Fgd fgd({Typical(0, 1, 500, 1.0)});
  NodeInfo node = MakeNode(NodeBuilder("gpu-1").Gpus(2).Build());
  AddShare(node, 0, 800);
  AddShare(node, 1, 900);
  CycleState state;
  Status s = fgd.Reserve(state, SharePod(300), node);
  EXPECT_EQ(s.code(), Code::kUnschedulable);
  EXPECT_THAT(s.Message(), HasSubstr("gpu-1"));
  EXPECT_FALSE(state.Contains(kDeviceAssignmentKey));
}

// --- FGD args --------------------------------------------------------------------------------

ArgValue Int(int64_t v) { return ArgValue(v); }
ArgValue Num(double v) { return ArgValue(v); }
ArgValue Str(std::string s) { return ArgValue(std::move(s)); }
ArgValue List(ArgValue::List l) { return ArgValue(std::move(l)); }
ArgValue Map(ArgValue::Map m) { return ArgValue(std::move(m)); }

ArgValue::Map ValidItem() {
  return {{"cpuMilli", Int(1000)}, {"gpuCount", Int(1)}, {"gpuMilli", Int(500)},
          {"weight", Num(0.5)}};
}
ArgValue::Map ItemWith(std::string key, ArgValue v) {
  ArgValue::Map m = ValidItem();
  for (auto& [k, old] : m) {
    if (k == key) {
      old = std::move(v);
      return m;
    }
  }
  m.emplace_back(std::move(key), std::move(v));
  return m;
}
ArgValue::Map ItemWithout(std::string_view key) {
  ArgValue::Map m = ValidItem();
  std::erase_if(m, [&](const auto& kv) { return kv.first == key; });
  return m;
}

TEST(FgdArgs, DecodeErrorsNameTheField) {
  struct Case {
    std::string name;
    ArgValue::Map args;
    std::string want;  // substring of the message
  };
  const std::vector<Case> cases = {
      {"no typicalPods", {}, "args.typicalPods: required"},
      {"empty list", {{"typicalPods", List({})}}, "args.typicalPods: required"},
      {"not a list", {{"typicalPods", Str("x")}}, "args.typicalPods: required"},
      {"unknown top-level key",
       {{"typicalPods", List({Map(ValidItem())})}, {"typicalPod", Int(1)}},
       "args.typicalPod: unknown field"},
      {"item not a map", {{"typicalPods", List({Int(1)})}}, "args.typicalPods[0]: expected a map"},
      {"missing weight",
       {{"typicalPods", List({Map(ItemWithout("weight"))})}},
       "args.typicalPods[0].weight: required"},
      {"zero weight on the second item",
       {{"typicalPods", List({Map(ValidItem()), Map(ItemWith("weight", Num(0)))})}},
       "args.typicalPods[1].weight"},
      {"negative weight",
       {{"typicalPods", List({Map(ItemWith("weight", Int(-1)))})}},
       "args.typicalPods[0].weight"},
      {"unknown item key",
       {{"typicalPods", List({Map(ItemWith("colour", Str("red")))})}},
       "args.typicalPods[0].colour: unknown field"},
      {"gpuMilli above 1000",
       {{"typicalPods", List({Map(ItemWith("gpuMilli", Int(1001)))})}},
       "args.typicalPods[0].gpuMilli"},
      {"negative cpuMilli",
       {{"typicalPods", List({Map(ItemWith("cpuMilli", Int(-1)))})}},
       "args.typicalPods[0].cpuMilli"},
      {"gpuCount above 128",
       {{"typicalPods", List({Map(ItemWith("gpuCount", Int(129)))})}},
       "args.typicalPods[0].gpuCount"},
      {"cpuMilli of the wrong type",
       {{"typicalPods", List({Map(ItemWith("cpuMilli", Str("1")))})}},
       "args.typicalPods[0].cpuMilli: expected an integer"},
      {"models not a list of strings",
       {{"typicalPods", List({Map(ItemWith("models", Int(3)))})}},
       "args.typicalPods[0].models"},
  };
  FakeHandle handle;
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.name);
    absl::StatusOr<std::vector<TypicalPod>> got = DecodeTypicalPods(PluginArgs(tc.args));
    ASSERT_FALSE(got.ok());
    EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(got.status().message()), HasSubstr(tc.want));
    absl::StatusOr<std::unique_ptr<framework::Plugin>> plugin =
        Fgd::New(PluginArgs(tc.args), handle);
    ASSERT_FALSE(plugin.ok());
    EXPECT_THAT(std::string(plugin.status().message()), HasSubstr(tc.want));
  }
}

TEST(FgdArgs, DecodesAValidList) {
  absl::StatusOr<std::vector<TypicalPod>> got = DecodeTypicalPods(PluginArgs(
      {{"typicalPods",
        List({Map(ValidItem()),
              Map({{"cpuMilli", Int(0)}, {"gpuCount", Int(0)}, {"weight", Int(2)}}),
              Map(ItemWith("models", List({Str("V100M16"), Str("V100M32")})))})}}));
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 3u);
  EXPECT_EQ((*got)[0], Typical(1000, 1, 500, 0.5));
  EXPECT_EQ((*got)[1], Typical(0, 0, 0, 2.0));  // an integer weight is accepted
  EXPECT_EQ((*got)[2], Typical(1000, 1, 500, 0.5, {"V100M16", "V100M32"}));
}

TEST(FgdArgs, EncodeThenDecodeRoundTrips) {
  const std::vector<TypicalPod> pods = {
      Typical(3152, 1, 810, 0.13), Typical(0, 0, 0, 0.2), Typical(64000, 8, 1000, 1e-3),
      Typical(12000, 1, 1000, 0.3333333333333333, {"V100M16", "V100M32"}),
      Typical(500, 2, 1000, 7.0, {"A100"})};
  const ArgValue encoded = EncodeTypicalPods(pods);
  ASSERT_NE(encoded.as_list(), nullptr);
  EXPECT_EQ(encoded.as_list()->size(), pods.size());
  const PluginArgs args({{"typicalPods", encoded}});
  absl::StatusOr<std::vector<TypicalPod>> decoded = DecodeTypicalPods(args);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(*decoded, pods);

  FakeHandle handle;
  absl::StatusOr<std::unique_ptr<framework::Plugin>> plugin = Fgd::New(args, handle);
  ASSERT_TRUE(plugin.ok()) << plugin.status();
  EXPECT_EQ((*plugin)->Name(), "FGD");
}

// ---------------------------------------------------------------------------------------------
// BestFit

TEST(BestFitPlugin, TighterNodeScoresHigher) {
  // Cluster max: 32000m CPU, 8 GPUs (8000m). Pod: 4000m CPU, 1 whole GPU.
  //   loose: 32000m and 8 GPUs free: waste = 0.5*(28000/32000) + 0.5*(7000/8000) = 0.875 -> 12
  //   tight: 8000m and 2 GPUs free: waste = 0.5*(4000/32000) + 0.5*(1000/8000) = 0.125 -> 87
  FakeHandle handle;
  NodeInfo loose = MakeNode(NodeBuilder("loose").Cpu(32000).Gpus(8).Build());
  NodeInfo tight = MakeNode(NodeBuilder("tight").Cpu(32000).Gpus(8).Build());
  AddWhole(tight, {0, 1, 2, 3, 4, 5}, /*cpu=*/24000);
  handle.SetNodes({&loose, &tight});
  BestFit plugin(handle);
  const PodInfo pod = PodBuilder("p").Cpu(4000).Gpus(1).Build();

  CycleState state;
  ASSERT_TRUE(plugin.PreScore(state, pod, {&loose, &tight}).ok());
  EXPECT_EQ(ScoreOf(plugin, state, pod, loose), 12);
  EXPECT_EQ(ScoreOf(plugin, state, pod, tight), 87);

  NodeScoreList scores = {{&loose, 12}, {&tight, 87}};
  ASSERT_TRUE(plugin.NormalizeScore(state, pod, scores).ok());
  EXPECT_EQ(scores[0].score, 0);
  EXPECT_EQ(scores[1].score, 100);
}

TEST(BestFitPlugin, ScoreWithoutPreScoreIsAnError) {
  FakeHandle handle;
  BestFit plugin(handle);
  NodeInfo node = MakeNode(NodeBuilder("n").Gpus(1).Build());
  CycleState state;
  int64_t score = 0;
  Status s = plugin.Score(state, WholePod(1), node, score);
  EXPECT_EQ(s.code(), Code::kError);
  EXPECT_THAT(s.Message(), HasSubstr("PreScore did not run"));
}

TEST(BestFitPlugin, NormalizeScoreMapsMinTo0AndMaxTo100) {
  struct Case {
    std::string name;
    std::vector<int64_t> in;
    std::vector<int64_t> want;
  };
  const std::vector<Case> cases = {
      // (50 - 12) * 100 / (87 - 12) = 3800 / 75 = 50.67 -> 50
      {"three scores", {12, 87, 50}, {0, 100, 50}},
      {"all equal", {40, 40, 40}, {0, 0, 0}},
      {"one node", {73}, {0}},
      {"empty", {}, {}},
      {"already 0..100", {0, 100, 25}, {0, 100, 25}},
  };
  FakeHandle handle;
  BestFit plugin(handle);
  CycleState state;
  NodeInfo node = MakeNode(NodeBuilder("n").Build());
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.name);
    NodeScoreList scores;
    for (int64_t s : tc.in) scores.push_back(NodeScore{&node, s});
    ASSERT_TRUE(plugin.NormalizeScore(state, WholePod(1), scores).ok());
    std::vector<int64_t> got;
    for (const NodeScore& s : scores) got.push_back(s.score);
    EXPECT_EQ(got, tc.want);
  }
}

// ---------------------------------------------------------------------------------------------
// GpuPacking

TEST(GpuPackingPlugin, ScoresTheThreeTiersExactly) {
  struct Case {
    std::string name;
    NodeInfo node;
    PodInfo pod;
    int64_t want;
  };
  auto node = [](int gpus) { return MakeNode(NodeBuilder("n").Gpus(gpus).Build()); };
  std::vector<Case> cases;
  {
    // Best fit takes device 0 (500m free, 50 %): 100 - 50/10 = 95.
    NodeInfo n = node(2);
    AddShare(n, 0, 500);
    cases.push_back({"share reuses a half-used GPU", std::move(n), SharePod(250), 95});
  }
  {
    // Device 0 has 300m free (30 %): 100 - 3 = 97.
    NodeInfo n = node(2);
    AddShare(n, 0, 700);
    cases.push_back({"share fills a nearly full GPU", std::move(n), SharePod(300), 97});
  }
  {
    // Least free first: device 0 (200m) is too small, device 1 (900m, 90 %) fits: 100 - 9 = 91.
    NodeInfo n = node(3);
    AddShare(n, 0, 800);
    AddShare(n, 1, 100);
    cases.push_back({"share skips a GPU it does not fit", std::move(n), SharePod(300), 91});
  }
  {
    // Device 0 has 100m free, too small; the share takes a free GPU of a used node: 50 - 1 = 49.
    NodeInfo n = node(2);
    AddShare(n, 0, 900);
    cases.push_back({"share takes a free GPU on a used node", std::move(n), SharePod(250), 49});
  }
  {
    NodeInfo n = node(4);
    AddWhole(n, {0});
    cases.push_back({"1 whole GPU on a used node", std::move(n), WholePod(1), 49});
  }
  {
    NodeInfo n = node(4);
    AddWhole(n, {0});
    cases.push_back({"2 whole GPUs on a used node", std::move(n), WholePod(2), 48});
  }
  {
    // max(50 - 20, 33) = 33: the floor of the middle tier.
    NodeInfo n = node(24);
    AddWhole(n, {0});
    cases.push_back({"20 whole GPUs on a used node", std::move(n), WholePod(20), 33});
  }
  // Idle nodes: max(33 - free GPUs, free GPUs).
  cases.push_back({"idle 8-GPU node, whole pod", node(8), WholePod(1), 25});
  cases.push_back({"idle 2-GPU node, whole pod", node(2), WholePod(1), 31});
  cases.push_back({"idle 2-GPU node, share", node(2), SharePod(250), 31});
  cases.push_back({"idle 1-GPU node, share", node(1), SharePod(250), 32});
  {
    NodeInfo n = node(2);
    AddWhole(n, {0});
    cases.push_back({"does not fit", std::move(n), WholePod(2), 0});
  }
  {
    NodeInfo n = node(2);
    AddShare(n, 0, 500);
    cases.push_back({"CPU-only pod", std::move(n), CpuPod(), 0});
  }
  cases.push_back({"CPU-only pod on an idle node", node(2), CpuPod(), 0});

  GpuPacking plugin;
  CycleState state;  // GpuPacking needs no PreScore
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.name);
    EXPECT_EQ(ScoreOf(plugin, state, tc.pod, tc.node), tc.want);
  }
}

TEST(GpuPackingPlugin, RanksSharedGpuAboveUsedNodeAboveIdleNode) {
  NodeInfo shared = MakeNode(NodeBuilder("shared").Gpus(8).Build());
  AddShare(shared, 3, 600);
  AddWhole(shared, {0, 1});
  NodeInfo used = MakeNode(NodeBuilder("used").Gpus(8).Build());
  AddWhole(used, {0, 1, 2, 3, 4, 5, 6});
  NodeInfo idle = MakeNode(NodeBuilder("idle").Gpus(8).Build());
  GpuPacking plugin;
  CycleState state;
  const PodInfo pod = SharePod(400);
  const int64_t s_shared = ScoreOf(plugin, state, pod, shared);  // 100 - 40/10 = 96
  const int64_t s_used = ScoreOf(plugin, state, pod, used);      // 50 - 1 = 49
  const int64_t s_idle = ScoreOf(plugin, state, pod, idle);      // max(33 - 8, 8) = 25
  EXPECT_EQ(s_shared, 96);
  EXPECT_EQ(s_used, 49);
  EXPECT_EQ(s_idle, 25);
}

TEST(GpuPackingPlugin, NodeWithAnUnhealthyGpuAndNoPodsIsStillAnIdleNode) {
  // No pod runs on `broken`; only its device 0 is unhealthy. It is an idle node (tier 3, at most
  // kMaxNodeScore / 3 = 33), so it must rank below a node that already runs a GPU pod.
  // KNOWN BUG (policies.cc, GpuPacking::Score, the idle check): `fully_free` counts healthy fully
  // free devices but is compared with gpus().size(), which includes the unhealthy one, so the
  // node falls through to the "free GPU on a used node" tier and scores 50 - 1 = 49.
  NodeInfo broken = MakeNode(NodeBuilder("broken").Gpus(8).Unhealthy(0).Build());
  NodeInfo used = MakeNode(NodeBuilder("used").Gpus(8).Build());
  AddWhole(used, {0});
  GpuPacking plugin;
  CycleState state;
  const PodInfo pod = WholePod(1);
  const int64_t s_broken = ScoreOf(plugin, state, pod, broken);
  const int64_t s_used = ScoreOf(plugin, state, pod, used);  // 49
  EXPECT_EQ(s_used, 49);
  EXPECT_LE(s_broken, framework::kMaxNodeScore / 3);
  EXPECT_LT(s_broken, s_used);
}

// ---------------------------------------------------------------------------------------------
// GpuClustering

class GpuClusteringTest : public ::testing::Test {
 protected:
  GpuClusteringTest()
      : same_(MakeNode(NodeBuilder("same").Gpus(4).Build())),
        same2_(MakeNode(NodeBuilder("same2").Gpus(4).Build())),
        mixed_(MakeNode(NodeBuilder("mixed").Gpus(4).Build())),
        idle_(MakeNode(NodeBuilder("idle").Gpus(4).Build())),
        other_(MakeNode(NodeBuilder("other").Gpus(4).Build())) {
    AddWhole(same_, {0});
    AddWhole(same2_, {0});
    AddWhole(same2_, {1});
    AddWhole(mixed_, {0});
    AddShare(mixed_, 1, 500);
    AddWhole(other_, {0, 1});
    handle_.SetNodes({&same_, &same2_, &mixed_, &idle_, &other_});
  }
  std::vector<const NodeInfo*> All() { return {&same_, &same2_, &mixed_, &idle_, &other_}; }

  FakeHandle handle_;
  NodeInfo same_, same2_, mixed_, idle_, other_;
};

TEST_F(GpuClusteringTest, ScoresFourBandsForAOneGpuPod) {
  // Cluster max GPU = 4000m. within = 25 * (4000 - free) / 4000 (integer), + 25 * band.
  struct Case {
    std::string name;
    const NodeInfo* node;
    int64_t want;
  };
  const std::vector<Case> cases = {
      {"only 1-GPU pods, 3000 free: 75 + 6", &same_, 81},
      {"only 1-GPU pods, 2000 free: 75 + 12", &same2_, 87},
      {"a 1-GPU pod and a share, 2500 free: 50 + 9", &mixed_, 59},
      {"idle, 4000 free: 25 + 0", &idle_, 25},
      {"only a 2-GPU pod, 2000 free: 0 + 12", &other_, 12},
  };
  GpuClustering plugin(handle_);
  const PodInfo pod = WholePod(1);
  CycleState state;
  ASSERT_TRUE(plugin.PreScore(state, pod, All()).ok());
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.name);
    EXPECT_EQ(ScoreOf(plugin, state, pod, *tc.node), tc.want);
  }
}

TEST_F(GpuClusteringTest, ASharePodPrefersNodesHostingShares) {
  // Shape of a share = 0. mixed hosts a share and a 1-GPU pod: band 2, 50 + 9 = 59. same hosts
  // only a 1-GPU pod: another shape, band 0: 0 + 6 = 6. idle: 25.
  GpuClustering plugin(handle_);
  const PodInfo pod = SharePod(300);
  CycleState state;
  ASSERT_TRUE(plugin.PreScore(state, pod, All()).ok());
  EXPECT_EQ(ScoreOf(plugin, state, pod, mixed_), 59);
  EXPECT_EQ(ScoreOf(plugin, state, pod, same_), 6);
  EXPECT_EQ(ScoreOf(plugin, state, pod, idle_), 25);
}

TEST_F(GpuClusteringTest, CpuOnlyPodSkipsAndScoreWithoutPreScoreIsAnError) {
  GpuClustering plugin(handle_);
  CycleState state;
  EXPECT_TRUE(plugin.PreScore(state, CpuPod(), All()).IsSkip());
  int64_t score = 0;
  Status s = plugin.Score(state, WholePod(1), idle_, score);
  EXPECT_EQ(s.code(), Code::kError);
  EXPECT_THAT(s.Message(), HasSubstr("PreScore did not run"));
}

// ---------------------------------------------------------------------------------------------
// DotProduct

TEST(DotProductPlugin, ScoresExactValuesForAShareAndAWholePod) {
  // Cluster max: 32000m CPU, 3 GPUs (3000m). Node: 32000m free, devices free {1000, 300, 600}.
  // Pod: 100m CPU and a 250m share. Per fitting device, v = 1 - (cpu term + gpu term) / 2 with
  // cpu term = 1 * 100/32000 = 0.003125 and gpu term = free/1000 * 0.25. Device 1 (300m) has the
  // best: 1 - (0.003125 + 0.075)/2 = 0.9609 -> 96.
  FakeHandle handle;
  NodeInfo node = MakeNode(NodeBuilder("n").Cpu(32000).Gpus(3).Build());
  AddShare(node, 1, 700);
  AddShare(node, 2, 400);
  handle.SetNodes({&node});
  DotProduct plugin(handle);
  const PodInfo share = SharePod(250);
  CycleState state;
  ASSERT_TRUE(plugin.PreScore(state, share, {&node}).ok());
  EXPECT_EQ(ScoreOf(plugin, state, share, node), 96);

  // A whole GPU: node gpu term = 1900/3000, pod gpu term = 1000/3000:
  // 1 - (0.003125 + 0.2111)/2 = 0.8929 -> 89.
  const PodInfo whole = WholePod(1);
  CycleState state2;
  ASSERT_TRUE(plugin.PreScore(state2, whole, {&node}).ok());
  EXPECT_EQ(ScoreOf(plugin, state2, whole, node), 89);
}

TEST(DotProductPlugin, ReservePicksTheGpuWithTheBestScoreForAShare) {
  // Devices free {1000, 300, 600}, 250m share: the least free fitting device scores best
  // (device 1). A 400m share does not fit device 1 and takes device 2 (600m).
  FakeHandle handle;
  NodeInfo node = MakeNode(NodeBuilder("n").Gpus(3).Build());
  AddShare(node, 1, 700);
  AddShare(node, 2, 400);
  handle.SetNodes({&node});
  DotProduct plugin(handle);
  {
    CycleState state;
    ASSERT_TRUE(plugin.Reserve(state, SharePod(250), node).ok());
    EXPECT_EQ(SharesOf(state), std::vector<GpuShare>{Share(1, 250, 1024)});
    EXPECT_EQ(AssignmentOf(state)->chosen_by, "DotProduct");
  }
  {
    CycleState state;
    ASSERT_TRUE(plugin.Reserve(state, SharePod(400), node).ok());
    EXPECT_EQ(SharesOf(state), std::vector<GpuShare>{Share(2, 400, 1024)});
  }
  {
    // Whole GPUs: the lowest-indexed fully free device.
    CycleState state;
    ASSERT_TRUE(plugin.Reserve(state, WholePod(1), node).ok());
    EXPECT_EQ(SharesOf(state), std::vector<GpuShare>{Share(0, 1000, kMemMiB)});
  }
}

TEST(DotProductPlugin, ScoresStayWithin0And100) {
  FakeHandle handle;
  std::mt19937_64 rng(11);
  std::vector<NodeInfo> nodes;
  for (int i = 0; i < 40; ++i) {
    const int gpus = std::uniform_int_distribution<int>(0, 8)(rng);
    NodeInfo n = MakeNode(NodeBuilder(absl::StrCat("n", i))
                              .Cpu(1000 * std::uniform_int_distribution<int64_t>(1, 96)(rng))
                              .Gpus(gpus)
                              .Build());
    for (int g = 0; g < gpus; ++g) {
      const int64_t used = 10 * std::uniform_int_distribution<int64_t>(0, 100)(rng);
      if (used > 0) AddShare(n, g, used);
    }
    nodes.push_back(std::move(n));
  }
  std::vector<const NodeInfo*> all;
  for (const NodeInfo& n : nodes) all.push_back(&n);
  handle.SetNodes(all);
  DotProduct plugin(handle);
  const std::vector<PodInfo> pods = {CpuPod(500), CpuPod(96000), SharePod(10), SharePod(990),
                                     WholePod(1), WholePod(8)};
  for (const PodInfo& pod : pods) {
    CycleState state;
    ASSERT_TRUE(plugin.PreScore(state, pod, all).ok());
    for (const NodeInfo& n : nodes) {
      SCOPED_TRACE(n.name().str());
      const int64_t s = ScoreOf(plugin, state, pod, n);
      EXPECT_GE(s, 0);
      EXPECT_LE(s, 100);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// RandomFit

std::vector<NodeInfo> FiveNodes() {
  std::vector<NodeInfo> nodes;
  for (int i = 0; i < 5; ++i) nodes.push_back(MakeNode(NodeBuilder(absl::StrCat("n", i)).Gpus(2).Build()));
  return nodes;
}

// The index (in `nodes`) of the node scoring 100; -1 if none; -2 if more than one.
int Chosen(const RandomFit& plugin, const CycleState& state, const PodInfo& pod,
           const std::vector<NodeInfo>& nodes) {
  int chosen = -1;
  for (size_t i = 0; i < nodes.size(); ++i) {
    const int64_t s = ScoreOf(plugin, state, pod, nodes[i]);
    EXPECT_TRUE(s == 0 || s == 100) << s;
    if (s == 100) chosen = chosen == -1 ? static_cast<int>(i) : -2;
  }
  return chosen;
}

TEST(RandomFitPlugin, ExactlyOneFeasibleNodeScores100) {
  std::vector<NodeInfo> nodes = FiveNodes();
  std::set<int> seen;
  for (uint64_t seed = 1; seed <= 100; ++seed) {
    SCOPED_TRACE(seed);
    FakeHandle handle(seed);
    RandomFit plugin(handle);
    const PodInfo pod = WholePod(1);
    CycleState state;
    // Node 4 is not feasible.
    ASSERT_TRUE(plugin.PreScore(state, pod, {&nodes[0], &nodes[1], &nodes[2], &nodes[3]}).ok());
    const int chosen = Chosen(plugin, state, pod, nodes);
    ASSERT_GE(chosen, 0);
    EXPECT_LT(chosen, 4);
    seen.insert(chosen);
  }
  EXPECT_EQ(seen, (std::set<int>{0, 1, 2, 3}));  // every feasible node gets picked sometimes
}

TEST(RandomFitPlugin, IsDeterministicForAFixedSeed) {
  std::vector<NodeInfo> nodes = FiveNodes();
  std::vector<const NodeInfo*> feasible;
  for (const NodeInfo& n : nodes) feasible.push_back(&n);
  auto run = [&](uint64_t seed) {
    FakeHandle handle(seed);
    RandomFit plugin(handle);
    std::vector<int> out;
    for (int cycle = 0; cycle < 30; ++cycle) {
      CycleState state;
      EXPECT_TRUE(plugin.PreScore(state, WholePod(1), feasible).ok());
      out.push_back(Chosen(plugin, state, WholePod(1), nodes));
      EXPECT_TRUE(plugin.Reserve(state, SharePod(100), nodes[0]).ok());
      out.push_back(SharesOf(state).at(0).gpu.value());
    }
    return out;
  };
  EXPECT_EQ(run(42), run(42));
  EXPECT_NE(run(42), run(43));
}

TEST(RandomFitPlugin, NoFeasibleNodeScoresEveryNode0AndScoreWithoutPreScoreIsAnError) {
  std::vector<NodeInfo> nodes = FiveNodes();
  FakeHandle handle;
  RandomFit plugin(handle);
  CycleState state;
  int64_t score = 0;
  Status s = plugin.Score(state, WholePod(1), nodes[0], score);
  EXPECT_EQ(s.code(), Code::kError);
  EXPECT_THAT(s.Message(), HasSubstr("PreScore did not run"));

  ASSERT_TRUE(plugin.PreScore(state, WholePod(1), {}).ok());
  EXPECT_EQ(Chosen(plugin, state, WholePod(1), nodes), -1);
}

TEST(RandomFitPlugin, ReservePicksOnlyGpusTheShareFits) {
  // Device 0 unhealthy (fully free), 1: 100m free, 2: 400m free, 3: free, 4: 500m free but only
  // 512 MiB of memory. A 300m / 1024 MiB share fits devices 2 and 3 only.
  NodeInfo node = MakeNode(NodeBuilder("n").Gpus(5).Unhealthy(0).Build());
  AddShare(node, 1, 900);
  AddShare(node, 2, 600);
  AddShare(node, 4, 500, kMemMiB - 512);
  std::set<int32_t> seen;
  for (uint64_t seed = 1; seed <= 200; ++seed) {
    SCOPED_TRACE(seed);
    FakeHandle handle(seed);
    RandomFit plugin(handle);
    CycleState state;
    ASSERT_TRUE(plugin.Reserve(state, SharePod(300), node).ok());
    const std::vector<GpuShare> shares = SharesOf(state);
    ASSERT_EQ(shares.size(), 1u);
    EXPECT_TRUE(shares[0].gpu == DeviceIndex(2) || shares[0].gpu == DeviceIndex(3))
        << shares[0].gpu;
    EXPECT_EQ(shares[0].milli, GpuMilli(300));
    EXPECT_EQ(shares[0].memory, GpuMemMiB(1024));
    EXPECT_EQ(AssignmentOf(state)->chosen_by, "RandomFit");
    seen.insert(shares[0].gpu.value());
  }
  EXPECT_EQ(seen, (std::set<int32_t>{2, 3}));
}

TEST(RandomFitPlugin, WholeGpuPodsGetDistinctFreeGpus) {
  // Device 0 unhealthy, device 1 holds a share: a 2-GPU pod draws 2 of {2, 3, 4, 5}.
  NodeInfo node = MakeNode(NodeBuilder("n").Gpus(6).Unhealthy(0).Build());
  AddShare(node, 1, 100);
  std::set<std::pair<int32_t, int32_t>> seen;
  for (uint64_t seed = 1; seed <= 300; ++seed) {
    SCOPED_TRACE(seed);
    FakeHandle handle(seed);
    RandomFit plugin(handle);
    CycleState state;
    ASSERT_TRUE(plugin.Reserve(state, WholePod(2), node).ok());
    const std::vector<GpuShare> shares = SharesOf(state);
    ASSERT_EQ(shares.size(), 2u);
    EXPECT_LT(shares[0].gpu, shares[1].gpu);  // distinct, in index order
    for (const GpuShare& s : shares) {
      EXPECT_GE(s.gpu.value(), 2);
      EXPECT_LE(s.gpu.value(), 5);
      EXPECT_EQ(s.milli, kOneGpu);
      EXPECT_EQ(s.memory, GpuMemMiB(kMemMiB));
    }
    seen.insert({shares[0].gpu.value(), shares[1].gpu.value()});
  }
  EXPECT_EQ(seen.size(), 6u);  // all C(4, 2) pairs occur

  // 4 free GPUs cannot host 5.
  FakeHandle handle;
  RandomFit plugin(handle);
  CycleState state;
  Status s = plugin.Reserve(state, WholePod(5), node);
  EXPECT_EQ(s.code(), Code::kUnschedulable);
  EXPECT_FALSE(state.Contains(kDeviceAssignmentKey));
}

// ---------------------------------------------------------------------------------------------
// DeviceChoosingPlugin, for each plugin that chooses devices.

struct ChooserCase {
  std::string name;
  std::function<std::unique_ptr<framework::ReservePlugin>(framework::Handle&)> make;
};

class DeviceChoosingPluginTest : public ::testing::TestWithParam<ChooserCase> {
 protected:
  DeviceChoosingPluginTest() : node_(MakeNode(NodeBuilder("gpu-1").Gpus(4).Build())) {
    handle_.SetNodes({&node_});
    plugin_ = GetParam().make(handle_);
  }
  FakeHandle handle_;
  NodeInfo node_;
  std::unique_ptr<framework::ReservePlugin> plugin_;
};

TEST_P(DeviceChoosingPluginTest, KeepsAnAssignmentWrittenByAnotherPlugin) {
  CycleState state;
  auto other = std::make_unique<DeviceAssignment>();
  other->shares = {Share(3, 250, 1024)};
  other->chosen_by = "NodeResourcesFit";
  state.Write(kDeviceAssignmentKey, std::move(other));

  ASSERT_TRUE(plugin_->Reserve(state, SharePod(250), node_).ok());
  ASSERT_NE(AssignmentOf(state), nullptr);
  EXPECT_EQ(AssignmentOf(state)->chosen_by, "NodeResourcesFit");
  EXPECT_EQ(SharesOf(state), std::vector<GpuShare>{Share(3, 250, 1024)});

  // Unreserve leaves another plugin's choice alone, however often it runs.
  plugin_->Unreserve(state, SharePod(250), node_.name());
  plugin_->Unreserve(state, SharePod(250), node_.name());
  ASSERT_NE(AssignmentOf(state), nullptr);
  EXPECT_EQ(AssignmentOf(state)->chosen_by, "NodeResourcesFit");
}

TEST_P(DeviceChoosingPluginTest, UnreserveRemovesItsOwnChoiceAndIsIdempotent) {
  CycleState state;
  plugin_->Unreserve(state, SharePod(250), node_.name());  // Reserve never ran: no-op
  EXPECT_FALSE(state.Contains(kDeviceAssignmentKey));

  ASSERT_TRUE(plugin_->Reserve(state, SharePod(250), node_).ok());
  ASSERT_NE(AssignmentOf(state), nullptr);
  EXPECT_EQ(AssignmentOf(state)->chosen_by, plugin_->Name());
  ASSERT_EQ(SharesOf(state).size(), 1u);
  EXPECT_EQ(SharesOf(state)[0].milli, GpuMilli(250));

  plugin_->Unreserve(state, SharePod(250), node_.name());
  EXPECT_FALSE(state.Contains(kDeviceAssignmentKey));
  plugin_->Unreserve(state, SharePod(250), node_.name());
  EXPECT_FALSE(state.Contains(kDeviceAssignmentKey));

  // Reserve again after Unreserve works as the first time.
  ASSERT_TRUE(plugin_->Reserve(state, WholePod(2), node_).ok());
  EXPECT_EQ(SharesOf(state).size(), 2u);
}

TEST_P(DeviceChoosingPluginTest, WritesNothingForACpuOnlyPod) {
  CycleState state;
  ASSERT_TRUE(plugin_->Reserve(state, CpuPod(), node_).ok());
  EXPECT_FALSE(state.Contains(kDeviceAssignmentKey));
}

TEST_P(DeviceChoosingPluginTest, ReserveIsUnschedulableWhenTheGpusNoLongerFit) {
  NodeInfo full = MakeNode(NodeBuilder("gpu-full").Gpus(2).Build());
  AddWhole(full, {0});
  AddShare(full, 1, 900);
  CycleState state;
  Status s = plugin_->Reserve(state, SharePod(250), full);
  EXPECT_EQ(s.code(), Code::kUnschedulable);
  EXPECT_THAT(s.Message(), HasSubstr("gpu-full"));
  EXPECT_FALSE(state.Contains(kDeviceAssignmentKey));
  s = plugin_->Reserve(state, WholePod(2), full);
  EXPECT_EQ(s.code(), Code::kUnschedulable);
  EXPECT_FALSE(state.Contains(kDeviceAssignmentKey));
}

INSTANTIATE_TEST_SUITE_P(
    GpuSharePolicies, DeviceChoosingPluginTest,
    ::testing::Values(
        ChooserCase{"RandomFit",
                    [](framework::Handle& h) -> std::unique_ptr<framework::ReservePlugin> {
                      return std::make_unique<RandomFit>(h);
                    }},
        ChooserCase{"DotProduct",
                    [](framework::Handle& h) -> std::unique_ptr<framework::ReservePlugin> {
                      return std::make_unique<DotProduct>(h);
                    }},
        ChooserCase{"Fgd",
                    [](framework::Handle&) -> std::unique_ptr<framework::ReservePlugin> {
                      return std::make_unique<Fgd>(std::vector<TypicalPod>{
                          Typical(0, 1, 1000, 0.5), Typical(0, 1, 500, 0.5)});
                    }}),
    [](const ::testing::TestParamInfo<ChooserCase>& info) { return info.param.name; });

// ---------------------------------------------------------------------------------------------
// New: the plugins without args reject unknown keys.

TEST(GpuSharePolicyArgs, PluginsWithoutArgsRejectUnknownKeysForRandomFitDotProductBestFitPackingClustering) {
  FakeHandle handle;
  const PluginArgs bad({{"typo", Int(1)}});
  using Factory = absl::StatusOr<std::unique_ptr<framework::Plugin>> (*)(const PluginArgs&,
                                                                         framework::Handle&);
  const std::vector<std::pair<std::string, Factory>> factories = {
      {"RandomFit", &RandomFit::New},   {"DotProduct", &DotProduct::New},
      {"BestFit", &BestFit::New},       {"GpuPacking", &GpuPacking::New},
      {"GpuClustering", &GpuClustering::New}};
  for (const auto& [name, make] : factories) {
    SCOPED_TRACE(name);
    absl::StatusOr<std::unique_ptr<framework::Plugin>> bad_plugin = make(bad, handle);
    ASSERT_FALSE(bad_plugin.ok());
    EXPECT_THAT(std::string(bad_plugin.status().message()), HasSubstr("args.typo"));
    absl::StatusOr<std::unique_ptr<framework::Plugin>> ok = make(PluginArgs(), handle);
    ASSERT_TRUE(ok.ok()) << ok.status();
    EXPECT_EQ((*ok)->Name(), name);
  }
}

}  // namespace
}  // namespace gpusched::plugins::gpu_share
