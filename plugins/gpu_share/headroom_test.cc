#include "plugins/gpu_share/headroom.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "plugins/gpu_share/fragmentation.h"
#include "plugins/gpu_share/policies.h"
#include "plugins/node_resources_fit/node_resources_fit.h"
#include "plugins/registry.h"
#include "scheduler/api/cycle_state.h"
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
using testing::FakeHandle;
using ::testing::HasSubstr;
using testing::NodeBuilder;
using testing::PodBuilder;

constexpr int64_t kMemMiB = 81920;  // NodeBuilder's default device memory

// A node of `headroom.size()` GPUs with those measured headrooms.
NodeInfo MakeNode(const std::string& name, std::vector<double> headroom) {
  NodeSpec spec = NodeBuilder(name).Cpu(64000).Gpus(static_cast<int>(headroom.size())).Build();
  for (size_t i = 0; i < headroom.size(); ++i) spec.gpus[i].headroom = headroom[i];
  absl::StatusOr<NodeInfo> node = NodeInfo::Create(std::move(spec));
  EXPECT_TRUE(node.ok()) << node.status();
  return *std::move(node);
}

// Puts a share of `milli` milli-GPU and `mem` MiB on device `gpu`.
void AddShare(NodeInfo& node, int32_t gpu, int64_t milli, int64_t mem = 1024) {
  framework::PodResources req;
  req.gpu = GpuRequest::Share(GpuMilli(milli), GpuMemMiB(mem));
  absl::Status s = node.AddPod(req, {GpuShare{DeviceIndex(gpu), GpuMilli(milli), GpuMemMiB(mem)}});
  ASSERT_TRUE(s.ok()) << s;
}

PodInfo SharePod(int64_t milli, int64_t mem = 1024) {
  return PodBuilder("share").GpuShare(milli, mem).Build();
}
PodInfo WholePod(int32_t count) { return PodBuilder("whole").Gpus(count).Build(); }

TypicalPod Typical(int64_t cpu, int32_t count, int64_t milli, double weight) {
  TypicalPod p;
  p.cpu = MilliCpu(cpu);
  p.gpu_count = count;
  p.gpu_milli = GpuMilli(milli);
  p.weight = weight;
  return p;
}

GpuHeadroom Plugin(double min_headroom = 0.8, double whole_gpu_weight = 0) {
  return GpuHeadroom(GpuHeadroomArgs{min_headroom, whole_gpu_weight});
}

// Runs PreScore, Score on every node and NormalizeScore; nullopt when PreScore skips.
std::optional<std::vector<int64_t>> Scores(GpuHeadroom& plugin, const PodInfo& pod,
                                           const std::vector<const NodeInfo*>& nodes) {
  CycleState state;
  Status pre = plugin.PreScore(state, pod, nodes);
  if (pre.IsSkip()) return std::nullopt;
  EXPECT_TRUE(pre.ok()) << pre.ToString();
  NodeScoreList list;
  for (const NodeInfo* n : nodes) {
    NodeScore s{n, -1};
    Status st = plugin.Score(state, pod, *n, s.score);
    EXPECT_TRUE(st.ok()) << st.ToString();
    EXPECT_GE(s.score, framework::kMinNodeScore);
    EXPECT_LE(s.score, framework::kMaxNodeScore);
    list.push_back(s);
  }
  Status norm = plugin.NormalizeScore(state, pod, list);
  EXPECT_TRUE(norm.ok()) << norm.ToString();
  std::vector<int64_t> out;
  for (const NodeScore& s : list) {
    EXPECT_GE(s.score, framework::kMinNodeScore);
    EXPECT_LE(s.score, framework::kMaxNodeScore);
    out.push_back(s.score);
  }
  return out;
}

std::vector<GpuShare> Reserved(framework::ReservePlugin& plugin, const PodInfo& pod,
                               const NodeInfo& node) {
  CycleState state;
  Status s = plugin.Reserve(state, pod, node);
  EXPECT_TRUE(s.ok()) << s.ToString();
  absl::StatusOr<const DeviceAssignment*> a = state.Read(kDeviceAssignmentKey);
  return a.ok() ? (*a)->shares : std::vector<GpuShare>{};
}

GpuShare Share(int32_t gpu, int64_t milli, int64_t mem) {
  return GpuShare{DeviceIndex(gpu), GpuMilli(milli), GpuMemMiB(mem)};
}
GpuShare Whole(int32_t gpu) { return GpuShare{DeviceIndex(gpu), kOneGpu, GpuMemMiB(kMemMiB)}; }

// ---------------------------------------------------------------------------------------------
// Score

TEST(GpuHeadroomPlugin, SameFreeShareOnAFasterGpuWins) {
  // Both nodes have 500m free on one GPU (the other GPU is full); on "fast" that GPU has headroom
  // 1, on "slow" 0.4 (other tenants take 60 %). Raw: 100 and 100 * 0.4 / 0.8 = 50; normalized by
  // subtracting the lowest: 50 and 0.
  NodeInfo fast = MakeNode("fast", {0.3, 1.0});
  NodeInfo slow = MakeNode("slow", {1.0, 0.4});
  AddShare(fast, 0, 1000);
  AddShare(fast, 1, 500);
  AddShare(slow, 0, 1000);
  AddShare(slow, 1, 500);
  GpuHeadroom plugin = Plugin();
  const PodInfo pod = SharePod(500);
  EXPECT_EQ(plugin.RawScore(pod, fast), 100);
  EXPECT_EQ(plugin.RawScore(pod, slow), 50);
  EXPECT_EQ(Scores(plugin, pod, {&fast, &slow}), (std::vector<int64_t>{50, 0}));
  EXPECT_EQ(Scores(plugin, pod, {&slow, &fast}), (std::vector<int64_t>{0, 50}));
}

TEST(GpuHeadroomPlugin, OnlyGpusThatCanTakeTheShareCount) {
  // The node's idle GPU 0 has 300m free only; the 600m share fits only the slow GPU 1.
  NodeInfo node = MakeNode("n", {1.0, 0.5});
  AddShare(node, 0, 700);
  GpuHeadroom plugin = Plugin();
  EXPECT_EQ(plugin.RawScore(SharePod(600), node), 63);   // 100 * 0.5 / 0.8 = 62.5, rounded
  EXPECT_EQ(plugin.RawScore(SharePod(300), node), 100);  // fits GPU 0 as well
  // Memory counts too: GPU 0 has 80 GiB - 1 GiB free; a 80 GiB share fits only GPU 1.
  EXPECT_EQ(plugin.RawScore(SharePod(100, kMemMiB), node), 63);
  // Nothing fits: 0 (Filter rejects such a node anyway).
  NodeInfo full = MakeNode("full", {1.0});
  AddShare(full, 0, 500);
  EXPECT_EQ(plugin.RawScore(SharePod(900), full), 0);
}

TEST(GpuHeadroomPlugin, GpusAtOrAboveMinHeadroomAllCountAsFast) {
  struct Case {
    std::string name;
    double min_headroom;
    double headroom;
    int64_t raw;
  };
  const std::vector<Case> cases = {
      {"idle", 0.8, 1.0, 100},
      {"probe noise on an idle GPU", 0.8, 0.95, 100},
      {"exactly at the threshold", 0.8, 0.8, 100},
      {"below: linear", 0.8, 0.6, 75},
      {"slow", 0.8, 0.2, 25},
      {"fully taken", 0.8, 0.0, 0},
      {"minHeadroom 1: 100 x headroom", 1.0, 0.95, 95},
      {"clamped above 1", 1.0, 1.7, 100},
      {"clamped below 0", 0.8, -0.3, 0},
      {"NaN counts as not measured", 0.8, std::numeric_limits<double>::quiet_NaN(), 100},
  };
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.name);
    GpuHeadroom plugin = Plugin(tc.min_headroom);
    EXPECT_EQ(plugin.RawScore(SharePod(250), MakeNode("n", {tc.headroom})), tc.raw);
  }
}

TEST(GpuHeadroomPlugin, MemoryOnlyShareIsScoredLikeAShare) {
  NodeInfo fast = MakeNode("fast", {1.0});
  NodeInfo slow = MakeNode("slow", {0.4});
  GpuHeadroom plugin = Plugin();
  EXPECT_EQ(Scores(plugin, SharePod(0, 4096), {&fast, &slow}), (std::vector<int64_t>{50, 0}));
}

TEST(GpuHeadroomPlugin, WholeGpuAndCpuOnlyPodsAreNeutralByDefault) {
  NodeInfo fast = MakeNode("fast", {1.0, 1.0});
  NodeInfo slow = MakeNode("slow", {0.3, 0.3});
  GpuHeadroom plugin = Plugin();
  // PreScore skips: the runtime runs no Score for this plugin, so it adds nothing to any node.
  EXPECT_EQ(Scores(plugin, WholePod(1), {&fast, &slow}), std::nullopt);
  EXPECT_EQ(Scores(plugin, WholePod(2), {&fast, &slow}), std::nullopt);
  EXPECT_EQ(Scores(plugin, PodBuilder("cpu").Cpu(1000).Build(), {&fast, &slow}), std::nullopt);
  EXPECT_EQ(plugin.RawScore(WholePod(1), fast), plugin.RawScore(WholePod(1), slow));
}

TEST(GpuHeadroomPlugin, WholeGpuWeightScoresTheWorstGpuOfTheBestFreeSet) {
  // GPUs: 0 busy (a share), 1 at 0.4, 2 at 0.6, 3 idle. A 2-GPU pod would take 3 and 2 (the most
  // headroom), so h = 0.6: 100 * 0.6 / 0.8 = 75; with weight 0.5: 100 - 0.5 * 25 = 87.5 -> 88.
  NodeInfo node = MakeNode("n", {1.0, 0.4, 0.6, 1.0});
  AddShare(node, 0, 100);
  NodeInfo idle = MakeNode("idle", {1.0, 1.0, 1.0, 1.0});
  EXPECT_EQ(Plugin(0.8, 1.0).RawScore(WholePod(2), node), 75);
  EXPECT_EQ(Plugin(0.8, 0.5).RawScore(WholePod(2), node), 88);
  EXPECT_EQ(Plugin(0.8, 1.0).RawScore(WholePod(1), node), 100);
  EXPECT_EQ(Plugin(0.8, 1.0).RawScore(WholePod(3), node), 50);  // 3, 2 and 1: h = 0.4
  EXPECT_EQ(Plugin(0.8, 1.0).RawScore(WholePod(4), node), 0);   // does not fit
  GpuHeadroom half = Plugin(0.8, 0.5);
  EXPECT_EQ(Scores(half, WholePod(2), {&node, &idle}), (std::vector<int64_t>{0, 12}));
}

TEST(GpuHeadroomPlugin, NormalizeSubtractsTheLowestScore) {
  GpuHeadroom plugin = Plugin();
  NodeInfo a = MakeNode("a", {1.0});
  NodeInfo b = MakeNode("b", {1.0});
  NodeInfo c = MakeNode("c", {1.0});
  NodeScoreList list = {{&a, 100}, {&b, 40}, {&c, 70}};
  CycleState state;
  ASSERT_TRUE(plugin.NormalizeScore(state, SharePod(100), list).ok());
  EXPECT_EQ(list[0].score, 60);
  EXPECT_EQ(list[1].score, 0);
  EXPECT_EQ(list[2].score, 30);
  NodeScoreList empty;
  EXPECT_TRUE(plugin.NormalizeScore(state, SharePod(100), empty).ok());
}

// ---------------------------------------------------------------------------------------------
// Args

TEST(GpuHeadroomArgs, DefaultsWhenAbsent) {
  absl::StatusOr<GpuHeadroomArgs> a = DecodeGpuHeadroomArgs(PluginArgs());
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_DOUBLE_EQ(a->min_headroom, 0.8);
  EXPECT_DOUBLE_EQ(a->whole_gpu_weight, 0.0);
  EXPECT_TRUE(ValidateGpuHeadroomArgs(*a).ok());
}

TEST(GpuHeadroomArgs, DecodesGivenValues) {
  absl::StatusOr<GpuHeadroomArgs> a = DecodeGpuHeadroomArgs(
      PluginArgs({{"minHeadroom", ArgValue(int64_t{1})}, {"wholeGpuWeight", ArgValue(0.25)}}));
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_DOUBLE_EQ(a->min_headroom, 1.0);
  EXPECT_DOUBLE_EQ(a->whole_gpu_weight, 0.25);
}

TEST(GpuHeadroomArgs, ErrorsNameTheField) {
  struct Case {
    std::string name;
    PluginArgs args;
    std::string error;
  };
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const std::vector<Case> cases = {
      {"minHeadroom 0", PluginArgs({{"minHeadroom", ArgValue(0.0)}}),
       "args.minHeadroom: must be in (0, 1]"},
      {"minHeadroom above 1", PluginArgs({{"minHeadroom", ArgValue(1.5)}}),
       "args.minHeadroom: must be in (0, 1]"},
      {"minHeadroom negative", PluginArgs({{"minHeadroom", ArgValue(-0.5)}}), "args.minHeadroom"},
      {"minHeadroom NaN", PluginArgs({{"minHeadroom", ArgValue(nan)}}), "args.minHeadroom"},
      {"minHeadroom a string", PluginArgs({{"minHeadroom", ArgValue(std::string("high"))}}),
       "args.minHeadroom"},
      {"wholeGpuWeight above 1", PluginArgs({{"wholeGpuWeight", ArgValue(2.0)}}),
       "args.wholeGpuWeight: must be in [0, 1]"},
      {"wholeGpuWeight negative", PluginArgs({{"wholeGpuWeight", ArgValue(-0.1)}}),
       "args.wholeGpuWeight"},
      {"wholeGpuWeight a bool", PluginArgs({{"wholeGpuWeight", ArgValue(true)}}),
       "args.wholeGpuWeight"},
      {"typo", PluginArgs({{"minHeadrom", ArgValue(0.5)}}), "minHeadrom"},
  };
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.name);
    absl::StatusOr<GpuHeadroomArgs> a = DecodeGpuHeadroomArgs(tc.args);
    ASSERT_FALSE(a.ok());
    EXPECT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(a.status().message(), HasSubstr(tc.error));
    // The factory reports the same error.
    FakeHandle handle;
    absl::StatusOr<std::unique_ptr<framework::Plugin>> p = GpuHeadroom::New(tc.args, handle);
    ASSERT_FALSE(p.ok());
    EXPECT_THAT(p.status().message(), HasSubstr(tc.error));
  }
  EXPECT_THAT(ValidateGpuHeadroomArgs({0.0, 0.0}).message(), HasSubstr("minHeadroom: must be"));
  EXPECT_THAT(ValidateGpuHeadroomArgs({0.5, 1.5}).message(), HasSubstr("wholeGpuWeight: must be"));
}

TEST(GpuHeadroomPlugin, IsInTheInTreeRegistry) {
  const framework::Registry r = NewInTreeRegistry();
  const framework::PluginFactory* f = r.Find(GpuHeadroom::kName);
  ASSERT_NE(f, nullptr);
  FakeHandle handle;
  absl::StatusOr<std::unique_ptr<framework::Plugin>> p = (*f)(PluginArgs(), handle);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ((*p)->Name(), "GpuHeadroom");
  EXPECT_NE(dynamic_cast<framework::ScorePlugin*>(p->get()), nullptr);
  EXPECT_NE(kBuiltinProfiles.find("- name: fgd-headroom"), std::string_view::npos);
}

// ---------------------------------------------------------------------------------------------
// Device choice: headroom breaks the choosers' ties, and only their ties.

TEST(HeadroomTieBreak, FgdTakesTheFastestOfEquallyGoodGpus) {
  // Four idle GPUs leave the same fragmentation; the fastest (GPU 2) takes the share.
  Fgd fgd({Typical(0, 1, 1000, 1.0)});
  NodeInfo node = MakeNode("n", {0.5, 0.9, 1.0, 0.7});
  EXPECT_EQ(Reserved(fgd, SharePod(300), node), std::vector<GpuShare>{Share(2, 300, 1024)});
  // Equal headroom: the lowest index, as before.
  NodeInfo flat = MakeNode("flat", {0.6, 0.6, 0.6});
  EXPECT_EQ(Reserved(fgd, SharePod(300), flat), std::vector<GpuShare>{Share(0, 300, 1024)});
}

TEST(HeadroomTieBreak, FgdKeepsAStrictlyBetterFitOverHeadroom) {
  // Typical pods: whole GPUs. A 500m share: on GPU 0 (500m free, slow) it leaves {0, 1000}:
  // no fragment; on GPU 1 (idle, fast) it leaves {500, 500}: two fragments. FGD keeps GPU 0.
  Fgd fgd({Typical(0, 1, 1000, 1.0)});
  NodeInfo node = MakeNode("n", {0.3, 1.0});
  AddShare(node, 0, 500);
  EXPECT_EQ(Reserved(fgd, SharePod(500), node), std::vector<GpuShare>{Share(0, 500, 1024)});
}

TEST(HeadroomTieBreak, FgdGivesWholeGpuPodsTheFastestFreeGpus) {
  Fgd fgd({Typical(0, 1, 1000, 1.0)});
  NodeInfo node = MakeNode("n", {1.0, 0.4, 0.9, 0.95});
  AddShare(node, 0, 100);
  EXPECT_EQ(Reserved(fgd, WholePod(2), node), (std::vector<GpuShare>{Whole(2), Whole(3)}));
  EXPECT_EQ(Reserved(fgd, WholePod(3), node),
            (std::vector<GpuShare>{Whole(1), Whole(2), Whole(3)}));
}

TEST(HeadroomTieBreak, NodeResourcesFitBreaksBestFitTiesByHeadroom) {
  node_resources_fit::NodeResourcesFit binpack({});
  // GPUs 1 and 3 both have 400m free (the tightest for a 300m share); GPU 3 is faster.
  NodeInfo node = MakeNode("n", {1.0, 0.5, 1.0, 0.8});
  AddShare(node, 1, 600);
  AddShare(node, 3, 600);
  EXPECT_EQ(Reserved(binpack, SharePod(300), node), std::vector<GpuShare>{Share(3, 300, 1024)});
  // A strictly tighter GPU still wins over a faster one: GPU 1 has 200m free now.
  AddShare(node, 1, 200);
  EXPECT_EQ(Reserved(binpack, SharePod(150), node), std::vector<GpuShare>{Share(1, 150, 1024)});
  // Spread: GPUs 0 and 2 are the emptiest (idle); GPU 2 is faster.
  node_resources_fit::FitArgs spread_args;
  spread_args.gpu_selection = framework::GpuSelection::kSpread;
  node_resources_fit::NodeResourcesFit spread(spread_args);
  NodeInfo two_idle = MakeNode("two-idle", {0.7, 1.0, 0.9, 1.0});
  AddShare(two_idle, 1, 600);
  AddShare(two_idle, 3, 600);
  EXPECT_EQ(Reserved(spread, SharePod(300), two_idle), std::vector<GpuShare>{Share(2, 300, 1024)});
  // Whole GPUs: the fastest free ones (all four are free).
  NodeInfo four = MakeNode("four", {0.5, 0.6, 1.0, 0.9});
  EXPECT_EQ(Reserved(binpack, WholePod(2), four), (std::vector<GpuShare>{Whole(2), Whole(3)}));
}

// ---------------------------------------------------------------------------------------------
// No effect when nothing is measured

// The old FGD device choice (before headroom): the lowest-indexed fitting GPU with the chosen free
// milli; whole GPUs by TryAllocate.
std::vector<GpuShare> OldFgdChoice(Fgd& fgd, const PodInfo& pod, const NodeInfo& node) {
  const GpuRequest& req = pod.requests.gpu;
  if (req.whole()) return *framework::TryAllocate(node, req);
  const Fgd::Choice c = fgd.Evaluate(pod, node);
  for (size_t i = 0; i < node.gpus().size(); ++i) {
    const framework::GpuSlot& s = node.gpus()[i];
    if (ShareFitsNow(s, req) && s.milli_free.value() == c.device_free) {
      return {
          GpuShare{DeviceIndex(static_cast<int32_t>(i)), req.milli_per_gpu, req.memory_per_gpu}};
    }
  }
  return {};
}

// One scheduling cycle as the runtime runs it (PreScore, Score, NormalizeScore, weights, the
// first highest node, Reserve by the first chooser), for a profile of FGD and, optionally,
// GpuHeadroom with weight 1.
struct Decision {
  size_t node = 0;
  int64_t score = 0;
  std::vector<GpuShare> gpus;
  friend bool operator==(const Decision&, const Decision&) = default;
};
Decision Cycle(Fgd& fgd, GpuHeadroom* headroom, const PodInfo& pod,
               const std::vector<const NodeInfo*>& nodes) {
  CycleState state;
  EXPECT_TRUE(fgd.PreScore(state, pod, nodes).ok());
  std::vector<int64_t> total(nodes.size(), 0);
  for (size_t i = 0; i < nodes.size(); ++i) {
    int64_t s = 0;
    EXPECT_TRUE(fgd.Score(state, pod, *nodes[i], s).ok());
    total[i] += s;
  }
  if (headroom != nullptr) {
    std::optional<std::vector<int64_t>> h = Scores(*headroom, pod, nodes);
    if (h) {
      for (size_t i = 0; i < nodes.size(); ++i) total[i] += (*h)[i];
    }
  }
  Decision d;
  for (size_t i = 1; i < nodes.size(); ++i) {
    if (total[i] > total[d.node]) d.node = i;
  }
  d.score = total[d.node];
  d.gpus = Reserved(fgd, pod, *nodes[d.node]);
  return d;
}

TEST(GpuHeadroomPlugin, NothingMeasuredDecidesExactlyAsTheProfileWithoutIt) {
  // Two copies of a cluster in varied states, every headroom equal (1: not measured; and a
  // uniform 0.6, where headroom cannot tell GPUs apart either). A stream of shares and whole-GPU
  // pods is placed with FGD alone and with FGD + GpuHeadroom: same node, score and GPUs for every
  // pod, and FGD's device choice is the one it made before headroom existed.
  for (double h : {1.0, 0.6}) {
    SCOPED_TRACE(h);
    std::vector<NodeInfo> a, b;
    for (int n = 0; n < 6; ++n) {
      NodeInfo node = MakeNode("n" + std::to_string(n), std::vector<double>(4, h));
      for (int g = 0; g < 4; ++g) {
        const int64_t used = (n * 7 + g * 3) % 5 * 200;  // 0..800
        if (used > 0) AddShare(node, g, used);
      }
      a.push_back(node);
      b.push_back(node);
    }
    Fgd fgd_a({Typical(0, 1, 1000, 0.5), Typical(0, 1, 500, 0.3), Typical(0, 1, 200, 0.2)});
    Fgd fgd_b({Typical(0, 1, 1000, 0.5), Typical(0, 1, 500, 0.3), Typical(0, 1, 200, 0.2)});
    GpuHeadroom headroom = Plugin();
    const std::vector<PodInfo> pods = {SharePod(500), SharePod(200), WholePod(1),   SharePod(700),
                                       SharePod(100), SharePod(400), WholePod(2),   SharePod(300),
                                       SharePod(600), SharePod(200), SharePod(500), WholePod(1)};
    int placed = 0;
    for (size_t i = 0; i < pods.size(); ++i) {
      SCOPED_TRACE(i);
      // Only nodes where the pod fits (Filter's job).
      std::vector<const NodeInfo*> fa, fb;
      for (size_t n = 0; n < a.size(); ++n) {
        if (framework::CheckGpuFit(a[n], pods[i].requests.gpu).fit == framework::GpuFit::kFits) {
          fa.push_back(&a[n]);
          fb.push_back(&b[n]);
        }
      }
      if (fa.empty()) continue;
      const Decision da = Cycle(fgd_a, nullptr, pods[i], fa);
      const Decision db = Cycle(fgd_b, &headroom, pods[i], fb);
      EXPECT_EQ(da, db);
      EXPECT_EQ(da.gpus, OldFgdChoice(fgd_a, pods[i], *fa[da.node]));
      // Commit on both copies.
      const size_t node_a = static_cast<size_t>(fa[da.node] - a.data());
      const size_t node_b = static_cast<size_t>(fb[db.node] - b.data());
      ASSERT_TRUE(a[node_a].AddPod(pods[i].requests, da.gpus).ok());
      ASSERT_TRUE(b[node_b].AddPod(pods[i].requests, db.gpus).ok());
      ++placed;
    }
    EXPECT_GE(placed, 10);
  }
}

TEST(GpuHeadroomPlugin, NothingMeasuredLeavesNodeResourcesFitsChoiceAsTryAllocates) {
  node_resources_fit::NodeResourcesFit binpack({});
  for (double h : {1.0, 0.6}) {
    SCOPED_TRACE(h);
    NodeInfo node = MakeNode("n", std::vector<double>(4, h));
    AddShare(node, 1, 600);
    AddShare(node, 3, 600);
    for (const PodInfo& pod :
         {SharePod(300), SharePod(400), SharePod(700), WholePod(1), WholePod(2)}) {
      EXPECT_EQ(Reserved(binpack, pod, node), *framework::TryAllocate(node, pod.requests.gpu));
    }
  }
}

}  // namespace
}  // namespace gpusched::plugins::gpu_share
