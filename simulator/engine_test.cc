#include "simulator/engine.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/metrics/in_memory_metrics.h"
#include "common/sim_clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "plugins/registry.h"
#include "scheduler/cache/cluster_cache.h"
#include "scheduler/runtime/framework.h"
#include "scheduler/runtime/profile.h"
#include "test/fakes/builders.h"
#include "simulator/kube_scheduler.h"
#include "simulator/results.h"
#include "simulator/trace/openb.h"
#include "simulator/trace/sample.h"

// AddressSanitizer (+UBSan) builds are Debug and about 10x slower: the paper check runs a reduced
// version there. GCC defines __SANITIZE_ADDRESS__; clang answers __has_feature.
#if defined(__SANITIZE_ADDRESS__)
#define GPUSCHED_ENGINE_TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GPUSCHED_ENGINE_TEST_SANITIZED 1
#endif
#endif
#ifndef GPUSCHED_ENGINE_TEST_SANITIZED
#define GPUSCHED_ENGINE_TEST_SANITIZED 0
#endif

namespace gpusched::simulator {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing::NodeBuilder;
using testing::PodBuilder;

constexpr std::string_view kPolicies[] = {"fgd",        "bestfit", "packing",
                                          "clustering", "dotprod", "random"};

// A built-in profile (plugins/registry.cc) by name.
runtime::Profile Builtin(std::string_view name) {
  static const std::vector<runtime::Profile>* profiles = [] {
    absl::StatusOr<std::vector<runtime::Profile>> p =
        runtime::ParseProfiles(plugins::kBuiltinProfiles, "built-in profiles");
    EXPECT_TRUE(p.ok()) << p.status();
    return new std::vector<runtime::Profile>(p.ok() ? *std::move(p)
                                                    : std::vector<runtime::Profile>{});
  }();
  absl::StatusOr<runtime::Profile> p = runtime::FindProfile(*profiles, name);
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? *std::move(p) : runtime::Profile{};
}

std::vector<runtime::Profile> AllBuiltins() {
  std::vector<runtime::Profile> out;
  for (std::string_view p : kPolicies) out.push_back(Builtin(p));
  return out;
}

Workload SampleWorkload() {
  trace::Sample s = trace::GenerateSample({});
  return Workload{std::move(s.nodes), std::move(s.pods)};
}

trace::OpenbNode Node(std::string name, int32_t gpus, std::string model = "T4") {
  trace::OpenbNode n;
  n.name = std::move(name);
  n.cpu = MilliCpu(64000);
  n.memory = MemoryBytes(int64_t{256} << 30);
  n.gpus = gpus;
  n.model = gpus > 0 ? std::move(model) : "";
  return n;
}

// A pod of `num_gpu` GPUs of `milli` each (a share when num_gpu is 1 and milli < 1000).
trace::OpenbPod Pod(std::string name, int32_t num_gpu, int64_t milli,
                    std::optional<int64_t> created = std::nullopt,
                    std::optional<int64_t> deleted = std::nullopt) {
  trace::OpenbPod p;
  p.name = std::move(name);
  p.cpu = MilliCpu(1000);
  p.memory = MemoryBytes(int64_t{1} << 30);
  p.num_gpu = num_gpu;
  p.gpu_milli = GpuMilli(num_gpu == 0 ? 0 : milli);
  p.creation_time = created;
  p.deletion_time = deleted;
  return p;
}

RunResult MustRun(const Workload& w, const runtime::Profile& profile, uint64_t seed,
                  const SimOptions& options = {}) {
  absl::StatusOr<RunResult> r = RunOnce(w, profile, seed, options);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *std::move(r) : RunResult{};
}

void ExpectSameCurve(const std::vector<CurvePoint>& a, const std::vector<CurvePoint>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    SCOPED_TRACE(absl::StrCat("curve point ", i));
    EXPECT_EQ(a[i].arrived_pct, b[i].arrived_pct);
    EXPECT_EQ(a[i].unallocated_pct, b[i].unallocated_pct);
    EXPECT_EQ(a[i].frag_amount_pct, b[i].frag_amount_pct);
    EXPECT_EQ(a[i].frag_ratio_pct, b[i].frag_ratio_pct);
    EXPECT_EQ(a[i].failed_pods, b[i].failed_pods);
  }
}

// Everything in a result but the wall time.
void ExpectSameRun(const RunResult& a, const RunResult& b) {
  EXPECT_EQ(a.policy, b.policy);
  EXPECT_EQ(a.seed, b.seed);
  EXPECT_EQ(a.mode, b.mode);
  EXPECT_EQ(a.nodes, b.nodes);
  EXPECT_EQ(a.gpu_capacity_milli, b.gpu_capacity_milli);
  EXPECT_EQ(a.pods_arrived, b.pods_arrived);
  EXPECT_EQ(a.pods_scheduled, b.pods_scheduled);
  EXPECT_EQ(a.pods_failed, b.pods_failed);
  EXPECT_EQ(a.unallocated_at_100, b.unallocated_at_100);
  EXPECT_EQ(a.unallocated_at_130, b.unallocated_at_130);
  EXPECT_EQ(a.empty_frag_amount_pct, b.empty_frag_amount_pct);
  EXPECT_EQ(a.decision_log_digest, b.decision_log_digest);
  ExpectSameCurve(a.curve, b.curve);
}

// ---------------------------------------------------------------------------------------------
// 1. Determinism.

TEST(RunOnce, SameSeedGivesIdenticalDecisionLogDigestAndCurve) {
  const Workload w = SampleWorkload();
  for (std::string_view policy : {"fgd", "random"}) {  // random also draws from the rng
    SCOPED_TRACE(policy);
    std::string log1, log2;
    SimOptions o1, o2;
    o1.decision_log = &log1;
    o2.decision_log = &log2;
    const RunResult a = MustRun(w, Builtin(policy), 42, o1);
    const RunResult b = MustRun(w, Builtin(policy), 42, o2);
    EXPECT_FALSE(log1.empty());
    EXPECT_EQ(log1, log2);
    // One line per scheduling attempt (inflation: one attempt per arrived pod).
    EXPECT_EQ(static_cast<int64_t>(std::count(log1.begin(), log1.end(), '\n')), a.pods_arrived);
    EXPECT_EQ(a.decision_log_digest.size(), 16u);
    ExpectSameRun(a, b);
  }
}

TEST(RunOnce, DecisionLogDoesNotChangeTheRun) {
  const Workload w = SampleWorkload();
  std::string log;
  SimOptions with_log;
  with_log.decision_log = &log;
  ExpectSameRun(MustRun(w, Builtin("bestfit"), 7, with_log), MustRun(w, Builtin("bestfit"), 7));
}

TEST(RunOnce, DifferentSeedGivesDifferentDigest) {
  const Workload w = SampleWorkload();
  for (std::string_view policy : kPolicies) {
    SCOPED_TRACE(policy);
    std::string log1, log2;
    SimOptions o1, o2;
    o1.decision_log = &log1;
    o2.decision_log = &log2;
    const RunResult a = MustRun(w, Builtin(policy), 42, o1);
    const RunResult b = MustRun(w, Builtin(policy), 43, o2);
    EXPECT_NE(a.decision_log_digest, b.decision_log_digest);
    EXPECT_NE(log1, log2);
  }
}

TEST(RunOnce, RandomTieBreakIsDeterministicForASeed) {
  const Workload w = SampleWorkload();
  SimOptions opt;
  opt.tie_break = "random";
  const RunResult a = MustRun(w, Builtin("bestfit"), 5, opt);
  ExpectSameRun(a, MustRun(w, Builtin("bestfit"), 5, opt));
  EXPECT_NE(a.decision_log_digest, MustRun(w, Builtin("bestfit"), 5).decision_log_digest);
}

// Golden digests (G22): the built-in sample, seed 42, default options. A change that only makes
// the simulator or the plugins faster must leave these alone; a deliberate change of behaviour
// updates them (`gpusched sim --seeds 42` prints the digests in out/sim/runs.csv).
TEST(RunOnce, GoldenDigestsOnTheBuiltInSample) {
  const Workload w = SampleWorkload();
  const std::map<std::string, std::string> golden = {
      {"fgd", "68f2b790f65efcb5"},     {"bestfit", "7dc443fc55c11361"},
      {"packing", "5ca92c0308d6134e"}, {"clustering", "bda3c5fd21b7fc3b"},
      {"dotprod", "676c56fe79a8bf40"}, {"random", "5c6eac78b5e0945c"},
  };
  for (const auto& [policy, digest] : golden) {
    SCOPED_TRACE(policy);
    EXPECT_EQ(MustRun(w, Builtin(policy), 42).decision_log_digest, digest);
  }
}

// The per-verb path (filter, prioritize, kube-scheduler's own combination with its in-tree
// scores and random ties, bind, the informer's confirmation) makes the same decisions as the
// framework's own cycle when the extender weight outweighs the in-tree scores: same digests, so
// the same unallocated figures and failed pods, for all six policies, in both modes.
TEST(RunOnce, ExtenderPathMakesTheFrameworkPathsDecisions) {
  const Workload w = SampleWorkload();
  for (const char* policy : {"fgd", "bestfit", "packing", "clustering", "dotprod", "random"}) {
    for (const char* mode : {"inflation", "replay"}) {
      for (const char* tie_break : {"first", "random"}) {
        SCOPED_TRACE(absl::StrCat(policy, " ", mode, " ", tie_break));
        SimOptions opt;
        opt.mode = mode;
        opt.tie_break = tie_break;
        const RunResult a = MustRun(w, Builtin(policy), 42, opt);
        opt.path = "extender";
        const RunResult b = MustRun(w, Builtin(policy), 42, opt);
        EXPECT_EQ(a.decision_log_digest, b.decision_log_digest);
        EXPECT_EQ(a.pods_failed, b.pods_failed);
        EXPECT_EQ(a.unallocated_at_100, b.unallocated_at_100);
        EXPECT_EQ(a.curve.size(), b.curve.size());
      }
    }
  }
}

// Live FGD (typical pods learnt from the pods seen) runs the same on both paths, and differs
// from the trace-counted model it replaces.
TEST(RunOnce, ObservedTypicalPodsAreTheSameOnBothPaths) {
  const Workload w = SampleWorkload();
  SimOptions opt;
  opt.typical_pods = "observed";
  const RunResult a = MustRun(w, Builtin("fgd"), 42, opt);
  opt.path = "extender";
  const RunResult b = MustRun(w, Builtin("fgd"), 42, opt);
  EXPECT_EQ(a.decision_log_digest, b.decision_log_digest);
  EXPECT_NE(a.decision_log_digest, MustRun(w, Builtin("fgd"), 42, SimOptions{}).decision_log_digest);
  opt.typical_pods = "future";
  EXPECT_FALSE(RunOnce(w, Builtin("fgd"), 42, opt).ok());
}

// With weight 1 kube-scheduler's own LeastAllocated spreading overturns the policy: the
// decisions differ (the reason deploy/ sets a large weight).
TEST(RunOnce, ExtenderPathWithWeightOneLosesThePolicysChoice) {
  const Workload w = SampleWorkload();
  SimOptions opt;
  const RunResult a = MustRun(w, Builtin("bestfit"), 42, opt);
  opt.path = "extender";
  opt.extender_weight = 1;
  EXPECT_NE(a.decision_log_digest, MustRun(w, Builtin("bestfit"), 42, opt).decision_log_digest);
}

// KubeSchedulerPick skips the nodes whose extender part trails the best by more than the
// in-tree scores can make up, the best taken among the nodes really in the model: here the top
// one is unknown, and a skip measured from it would have left "a" (7) and lost "b" (3), whose
// spreading scores (87 + 99 against 48 + 4) beat a's lead of 4 * 30.
TEST(KubeSchedulerPick, ScoresEveryNodeWhenTheTopPriorityNodeIsUnknown) {
  cache::ClusterCache model;
  ASSERT_TRUE(model.AddNode(NodeBuilder("a").Cpu(8000).MemoryGi(1024).Build()).ok());
  ASSERT_TRUE(model.AddNode(NodeBuilder("b").Cpu(64000).MemoryGi(256).Build()).ok());
  const framework::PodInfo pod = PodBuilder("p").Cpu(7900).MemoryGi(31).Build();
  std::mt19937_64 rng(1);
  const std::vector<NodeId> names = {NodeId("ghost"), NodeId("a"), NodeId("b")};
  EXPECT_EQ(KubeSchedulerPick(model, pod, names, {10, 7, 3}, 3, rng), NodeId("b"));
  // With the top node there, a node trailing by 7 * 30 is skipped, and rightly: it cannot win.
  const std::vector<NodeId> known = {NodeId("b"), NodeId("a")};
  EXPECT_EQ(KubeSchedulerPick(model, pod, known, {10, 3}, 3, rng), NodeId("b"));
  EXPECT_EQ(KubeSchedulerPick(model, pod, known, {3, 10}, 3, rng), NodeId("a"));
  // Weight 1: a lead of 7 * 10 is within the in-tree range, so b's spreading wins.
  EXPECT_EQ(KubeSchedulerPick(model, pod, known, {3, 10}, 1, rng), NodeId("b"));
}

TEST(RunMany, ThreadCountDoesNotChangeResultsOrOrder) {
  const Workload w = SampleWorkload();
  const std::vector<runtime::Profile> profiles = {Builtin("fgd"), Builtin("bestfit"),
                                                  Builtin("random")};
  const std::vector<uint64_t> seeds = {7, 8, 9};
  std::vector<int> done_values;
  auto progress = [&](int done, int total, const RunResult&) {
    EXPECT_EQ(total, 9);
    done_values.push_back(done);
  };
  absl::StatusOr<std::vector<RunResult>> one = RunMany(w, profiles, seeds, {}, 1, progress);
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_THAT(done_values, ::testing::ElementsAre(1, 2, 3, 4, 5, 6, 7, 8, 9));
  done_values.clear();
  absl::StatusOr<std::vector<RunResult>> three = RunMany(w, profiles, seeds, {}, 3, progress);
  ASSERT_TRUE(three.ok()) << three.status();
  std::sort(done_values.begin(), done_values.end());
  EXPECT_THAT(done_values, ::testing::ElementsAre(1, 2, 3, 4, 5, 6, 7, 8, 9));

  ASSERT_EQ(one->size(), 9u);
  ASSERT_EQ(three->size(), 9u);
  std::set<std::string> digests;
  for (size_t i = 0; i < one->size(); ++i) {
    SCOPED_TRACE(i);
    // (profile, seed) order, profile-major.
    EXPECT_EQ((*one)[i].policy, profiles[i / seeds.size()].name);
    EXPECT_EQ((*one)[i].seed, seeds[i % seeds.size()]);
    ExpectSameRun((*one)[i], (*three)[i]);
    digests.insert((*one)[i].decision_log_digest);
  }
  EXPECT_EQ(digests.size(), 9u);
  // And equal to a run on its own.
  ExpectSameRun((*three)[4], MustRun(w, Builtin("bestfit"), 8));
}

// ---------------------------------------------------------------------------------------------
// 2. Inflation semantics, by hand: 2 nodes x 2 T4 GPUs = 4000 milli of capacity.

TEST(RunOnceInflation, ArrivalsFailuresAndKpisMatchHandArithmetic) {
  struct Case {
    std::string name;
    std::vector<trace::OpenbPod> pods;
    double inflation;
    int64_t arrived, scheduled, failed;
    std::optional<double> unalloc_100;
  };
  const std::vector<Case> cases = {
      // 3 x 1000 = 3000; one resample gives 4000 <= 4000; a fifth would be 5000 > 4000.
      {"whole GPUs to 100%",
       {Pod("a", 1, 1000), Pod("b", 1, 1000), Pod("c", 1, 1000)},
       1.0,
       4,
       4,
       0,
       0.0},
      // Target 5200: 5 pods (5000), the sixth would reach 6000. The fifth has no GPU left.
      {"whole GPUs to 130%",
       {Pod("a", 1, 1000), Pod("b", 1, 1000), Pod("c", 1, 1000)},
       1.3,
       5,
       4,
       1,
       0.0},
      {"whole GPUs to 150%",
       {Pod("a", 1, 1000), Pod("b", 1, 1000), Pod("c", 1, 1000)},
       1.5,
       6,
       4,
       2,
       0.0},
      // Shares: 3 x 500 = 1500, resampled up to exactly 4000 = 8 pods, all fit (2 per GPU).
      {"half-GPU shares",
       {Pod("a", 1, 500), Pod("b", 1, 500), Pod("c", 1, 500)},
       1.0,
       8,
       8,
       0,
       0.0},
      // Originals alone exceed the target: all arrive, none is resampled; 2-GPU pods, 2 fit.
      {"originals over target",
       {Pod("a", 2, 1000), Pod("b", 2, 1000), Pod("c", 2, 1000)},
       1.0,
       3,
       2,
       1,
       0.0},
  };
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.name);
    const Workload w{{Node("n0", 2), Node("n1", 2)}, tc.pods};
    SimOptions opt;
    opt.inflation = tc.inflation;
    std::string log;
    opt.decision_log = &log;
    for (std::string_view policy : kPolicies) {
      SCOPED_TRACE(policy);
      log.clear();
      const RunResult r = MustRun(w, Builtin(policy), 3, opt);
      EXPECT_EQ(r.mode, "inflation");
      EXPECT_EQ(r.nodes, 2);
      EXPECT_EQ(r.gpu_capacity_milli, 4000);
      EXPECT_EQ(r.pods_arrived, tc.arrived);
      EXPECT_EQ(r.pods_scheduled, tc.scheduled);
      EXPECT_EQ(r.pods_failed, tc.failed);
      EXPECT_EQ(r.pods_scheduled + r.pods_failed, r.pods_arrived);
      EXPECT_EQ(r.unallocated_at_100, tc.unalloc_100);
      EXPECT_FALSE(r.unallocated_at_130.has_value());  // arrived % never lands on 129..131
      // One decision line per arrival; the failed ones end in " -".
      const std::vector<std::string> lines = absl::StrSplit(log, '\n', absl::SkipEmpty());
      EXPECT_EQ(static_cast<int64_t>(lines.size()), tc.arrived);
      int64_t failed_lines = 0;
      for (const std::string& l : lines) failed_lines += absl::EndsWith(l, " -");
      EXPECT_EQ(failed_lines, tc.failed);
      if (!r.curve.empty()) {
        EXPECT_EQ(r.curve.back().failed_pods, tc.failed);
      }
    }
  }
}

TEST(RunOnceInflation, ResampledPodsAreNamedAndTheCurveFollowsTheIdealLine) {
  const Workload w{{Node("n0", 2), Node("n1", 2)},
                   {Pod("a", 1, 1000), Pod("b", 1, 1000), Pod("c", 1, 1000)}};
  SimOptions opt;
  opt.inflation = 1.5;
  std::string log;
  opt.decision_log = &log;
  const RunResult r = MustRun(w, Builtin("bestfit"), 11, opt);
  const std::vector<std::string> lines = absl::StrSplit(log, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 6u);
  // The three originals first (shuffled), then resampled copies named "<original>#<index>".
  std::set<std::string> originals;
  for (int i = 0; i < 3; ++i) originals.insert(lines[i].substr(0, lines[i].find(' ')));
  EXPECT_THAT(originals, ::testing::ElementsAre("a", "b", "c"));
  for (int i = 3; i < 6; ++i) {
    EXPECT_THAT(lines[i], ::testing::MatchesRegex(absl::StrCat("[abc]#", i, " .*")));
  }
  EXPECT_THAT(lines[4], ::testing::EndsWith(" -"));
  EXPECT_THAT(lines[5], ::testing::EndsWith(" -"));
  // Arrived 25/50/75/100/125/150 %; unallocated = 100 - arrived until full, then 0.
  ASSERT_EQ(r.curve.size(), 6u);
  const int xs[] = {25, 50, 75, 100, 125, 150};
  const double unalloc[] = {75, 50, 25, 0, 0, 0};
  const int64_t failed[] = {0, 0, 0, 0, 1, 2};
  for (size_t i = 0; i < 6; ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(r.curve[i].arrived_pct, xs[i]);
    EXPECT_DOUBLE_EQ(r.curve[i].unallocated_pct, unalloc[i]);
    EXPECT_EQ(r.curve[i].failed_pods, failed[i]);
  }
  // A full cluster has no idle GPU: no fragment.
  EXPECT_DOUBLE_EQ(r.curve[3].frag_amount_pct, 0);
}

// ---------------------------------------------------------------------------------------------
// 3. Replay mode on one node with one GPU.

TEST(RunOnceReplay, WaitingPodIsPlacedWhenTheGpuFrees) {
  // a holds the GPU over [0, 100); b arrives at 10 and waits; c arrives at 20 and leaves at 50
  // before anything frees (failed); d arrives at 30. At 100 the queue (creation order) gives the
  // GPU to b, d is retried and waits again; at 200 b leaves and d gets it.
  const Workload w{{Node("n0", 1)},
                   {Pod("a", 1, 1000, 0, 100), Pod("b", 1, 1000, 10, 200),
                    Pod("c", 1, 1000, 20, 50), Pod("d", 1, 1000, 30, 300)}};
  SimOptions opt;
  opt.mode = "replay";
  std::string log;
  opt.decision_log = &log;
  const RunResult r = MustRun(w, Builtin("bestfit"), 1, opt);
  EXPECT_EQ(log,
            "a n0 0:1000\n"
            "b -\n"
            "c -\n"
            "d -\n"
            "b n0 0:1000\n"
            "d -\n"
            "d n0 0:1000\n");
  EXPECT_EQ(r.mode, "replay");
  EXPECT_EQ(r.pods_arrived, 4);
  EXPECT_EQ(r.pods_scheduled, 3);
  EXPECT_EQ(r.pods_failed, 1);  // c
}

TEST(RunOnceReplay, PodsThatNeverWaitAllSchedule) {
  const Workload w{
      {Node("n0", 1)},
      {Pod("a", 1, 500, 0, 100), Pod("b", 1, 500, 10, 50), Pod("c", 1, 1000, 100, 150)}};
  SimOptions opt;
  opt.mode = "replay";
  std::string log;
  opt.decision_log = &log;
  const RunResult r = MustRun(w, Builtin("fgd"), 1, opt);
  EXPECT_EQ(log, "a n0 0:500\nb n0 0:500\nc n0 0:1000\n");
  EXPECT_EQ(r.pods_arrived, 3);
  EXPECT_EQ(r.pods_scheduled, 3);
  EXPECT_EQ(r.pods_failed, 0);
}

TEST(RunOnceReplay, PodsWithoutTimesAreInvalidArgumentNamingThePod) {
  // The 5-column (multigpu) files have no creation/deletion times.
  const Workload w{{Node("n0", 1)}, {Pod("timed", 1, 1000, 0, 10), Pod("untimed-7", 1, 1000)}};
  SimOptions opt;
  opt.mode = "replay";
  absl::StatusOr<RunResult> r = RunOnce(w, Builtin("bestfit"), 1, opt);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("untimed-7"));
  // Inflation mode does not need times.
  EXPECT_TRUE(RunOnce(w, Builtin("bestfit"), 1, SimOptions{}).ok());
}

// ---------------------------------------------------------------------------------------------
// 4. Errors.

TEST(RunOnce, BadOptionsAndEmptyClusterAreInvalidArgument) {
  const Workload sample = SampleWorkload();
  struct Case {
    std::string name;
    Workload workload;
    SimOptions options;
    std::string message;
  };
  std::vector<Case> cases;
  {
    Case c{"unknown mode", sample, {}, "mode"};
    c.options.mode = "bogus";
    cases.push_back(c);
  }
  {
    Case c{"tie_break other than first/random", sample, {}, "tie_break"};
    c.options.tie_break = "last";
    cases.push_back(c);
  }
  cases.push_back(Case{"empty cluster", Workload{{}, sample.pods}, {}, "no nodes"});
  {
    Case c{"empty cluster in replay", Workload{{}, sample.pods}, {}, "no nodes"};
    c.options.mode = "replay";
    cases.push_back(c);
  }
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.name);
    for (std::string_view policy : {"fgd", "random"}) {
      SCOPED_TRACE(policy);
      absl::StatusOr<RunResult> r = RunOnce(tc.workload, Builtin(policy), 1, tc.options);
      ASSERT_FALSE(r.ok());
      EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
      EXPECT_THAT(r.status().message(), HasSubstr(tc.message));
    }
    absl::StatusOr<std::vector<RunResult>> many =
        RunMany(tc.workload, AllBuiltins(), {1, 2}, tc.options, 2, {});
    ASSERT_FALSE(many.ok());
    EXPECT_EQ(many.status().code(), absl::StatusCode::kInvalidArgument);
  }
}

TEST(RunOnce, ProfileErrorsAreReturnedNotFatal) {
  runtime::Profile p = Builtin("bestfit");
  runtime::PluginConfig bad;
  bad.name = "NoSuchPlugin";
  p.plugins.push_back(bad);
  absl::StatusOr<RunResult> r = RunOnce(SampleWorkload(), p, 1, SimOptions{});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("NoSuchPlugin"));
}

// The built-in FGD profile carries no typicalPods: on its own it does not build, and the engine
// fills them from the workload.
TEST(RunOnce, FgdProfileBuildsBecauseTheEngineFillsTypicalPods) {
  const Workload w = SampleWorkload();
  SimClock clock;
  std::mt19937_64 rng(1);
  cache::ClusterCache cache;
  metrics::InMemoryMetrics metrics;
  class NullBinder final : public framework::Binder {
   public:
    absl::Status Bind(const framework::PodInfo&, const NodeId&,
                      absl::Span<const framework::GpuShare>) override {
      return absl::OkStatus();
    }
  } binder;
  auto bare = runtime::Framework::Create(
      plugins::NewInTreeRegistry(), Builtin("fgd"), runtime::FrameworkDeps{clock, rng, &cache, metrics, binder});
  ASSERT_FALSE(bare.ok());
  EXPECT_THAT(bare.status().message(), HasSubstr("typicalPods"));

  const RunResult r = MustRun(w, Builtin("fgd"), 1);
  EXPECT_EQ(r.policy, "fgd");
  EXPECT_GT(r.pods_scheduled, 0);
  EXPECT_NE(r.decision_log_digest, MustRun(w, Builtin("bestfit"), 1).decision_log_digest);
}

// ---------------------------------------------------------------------------------------------
// 5. Empty-cluster fragmentation.

TEST(RunOnce, EmptyClusterFragmentationIsPositiveAndTheSameForEveryPolicy) {
  const Workload w = SampleWorkload();
  const double fgd = MustRun(w, Builtin("fgd"), 1).empty_frag_amount_pct;
  EXPECT_GT(fgd, 0);  // CPU-only typical pods count all idle GPU milli as fragment
  EXPECT_LT(fgd, 100);
  for (std::string_view policy : kPolicies) {
    SCOPED_TRACE(policy);
    EXPECT_EQ(MustRun(w, Builtin(policy), 1).empty_frag_amount_pct, fgd);
  }
  // Nor does the seed change it (it only changes the order the nodes are summed in).
  EXPECT_NEAR(MustRun(w, Builtin("random"), 99).empty_frag_amount_pct, fgd, 1e-9);
}

TEST(RunOnce, EmptyClusterFragmentationByHand) {
  // Typical pods: {CPU-only, 1 whole GPU}, half each. On an empty 2-GPU node the CPU-only pod
  // makes all 2000 idle milli fragment and the GPU pod none: 0.5 * 2000 / 2000 = 50 %.
  const Workload w{{Node("n0", 2)}, {Pod("cpu", 0, 0), Pod("gpu", 1, 1000)}};
  EXPECT_DOUBLE_EQ(MustRun(w, Builtin("fgd"), 1).empty_frag_amount_pct, 50.0);
}

// Regression (found by this test, fixed in engine.cc): in inflation mode a workload whose pods
// request no GPU can never reach the target, and RunOnce resampled forever (the order vector grew
// until memory ran out). It must return promptly, either with only the originals arrived or with
// an InvalidArgument. A death test, so that a regression fails instead of hanging the suite.
//
// Runs in the death-test child: exits 0 if RunOnce returns as expected, 3 if it returns something
// else; a hang ends in SIGALRM and a runaway allocation in std::bad_alloc (abort).
[[noreturn]] void RunCpuOnlyInflationAndExit() {
#if GPUSCHED_ENGINE_TEST_SANITIZED
  alarm(3);
#else
  alarm(20);
  const rlim_t two_gib = rlim_t{2} << 30;
  const rlimit limit{two_gib, two_gib};  // address space, so that a runaway vector fails fast
  setrlimit(RLIMIT_AS, &limit);
#endif
  const Workload w{{Node("n0", 2)}, {Pod("p0", 0, 0), Pod("p1", 0, 0)}};
  absl::StatusOr<RunResult> r = RunOnce(w, Builtin("bestfit"), 1, SimOptions{});
  const bool good = r.ok() ? r->pods_arrived == 2 && r->pods_failed == 0
                           : r.status().code() == absl::StatusCode::kInvalidArgument;
  std::_Exit(good ? 0 : 3);
}

TEST(RunOnceDeathTest, InflationWithOnlyCpuPodsTerminates) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(RunCpuOnlyInflationAndExit(), ::testing::ExitedWithCode(0), "");
}

// ---------------------------------------------------------------------------------------------
// 6. The paper's result (../shared/docs/openb-fgd.md, "Target"), on a subset that runs in CI.
//
// The full check (1,213 nodes, 8,152 pods, 6 policies x seeds 42-51) takes 30-70 s on 2
// cores: bench/paper_check.sh runs it. It measured (unallocated GPU % at 100 % arrived, mean ±
// sd; paper in brackets): FGD 4.76 ± 0.13 [4.77 ± 0.11], BestFit 7.18 ± 0.16 [7.14 ± 0.14],
// Packing 8.45 ± 0.34 [8.22 ± 0.53], Clustering 8.52 ± 0.45 [8.35 ± 0.61], DotProd 9.47 ± 0.36
// [9.38 ± 0.19], Random 13.63 ± 0.29 [13.70 ± 0.33].
//
// Here: every 3rd GPU node of openb_node_list_gpu_node.csv (405 nodes, 2,107 of the 6,212 GPUs;
// the file is grouped by model, so each model's share of GPUs stays within 0.5 points) and every
// 3rd pod of
// openb_pod_list_default.csv (2,718 pods, so the originals are about a third of the request too,
// and inflation to 130 % of the subset's capacity resamples as in the full run). 60 runs, about
// 4-10 s on 2 cores. Measured on this subset (policy: mean ± sd over seeds 42-51; in brackets
// the range of the 10-seed means over seeds 1-10, 11-20, ..., 91-100, and the 100-seed mean):
//   FGD         4.73 ± 0.21   [4.59 .. 4.83; 4.74]
//   BestFit     6.57 ± 0.27   [6.49 .. 6.77; 6.65]
//   Packing     7.76 ± 0.45   [7.84 .. 8.25; 8.04]
//   Clustering  7.80 ± 0.51   [7.83 .. 8.30; 8.10]
//   DotProd     9.27 ± 0.39   [9.03 .. 9.66; 9.29]
//   Random     13.89 ± 0.55   [13.40 .. 13.95; 13.66]
// Per seed, over seeds 1-100: FGD was the lowest and Random the highest in all 100; BestFit <
// min(Packing, Clustering) in 96; max(Packing, Clustering) < DotProd in 89. Over 10-seed means
// every ordering below held in 10/10 windows (and in 33/33 windows of 3 seeds).
// Smaller subsets drift: every 8th node puts FGD's 10-seed mean at 5.8 .. 6.3.
constexpr int kSubsetStride = 3;

struct PaperSubset {
  Workload workload;
  std::string dir;
};

// The subset, or a reason to skip.
absl::StatusOr<PaperSubset> LoadPaperSubset() {
  const char* src = std::getenv("GPUSCHED_SOURCE_DIR");
  const std::string dir =
      absl::StrCat(src != nullptr ? src : "<GPUSCHED_SOURCE_DIR unset>", "/../shared/data/openb");
  const std::string nodes_file = dir + "/openb_node_list_gpu_node.csv";
  const std::string pods_file = dir + "/openb_pod_list_default.csv";
  if (src == nullptr || !fs::exists(nodes_file) || !fs::exists(pods_file)) {
    return absl::NotFoundError(absl::StrCat("openb data not found: expected ", nodes_file, " and ",
                                            pods_file,
                                            " ($GPUSCHED_SOURCE_DIR/../shared/data/openb)"));
  }
  absl::StatusOr<std::vector<trace::OpenbNode>> nodes = trace::ReadOpenbNodes(nodes_file);
  if (!nodes.ok()) return nodes.status();
  absl::StatusOr<std::vector<trace::OpenbPod>> pods = trace::ReadOpenbPods(pods_file);
  if (!pods.ok()) return pods.status();
  PaperSubset s;
  s.dir = dir;
  for (size_t i = 0; i < nodes->size(); i += kSubsetStride) s.workload.nodes.push_back((*nodes)[i]);
  for (size_t i = 0; i < pods->size(); i += kSubsetStride) s.workload.pods.push_back((*pods)[i]);
  return s;
}

double Mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? 0 : s / static_cast<double>(v.size());
}

TEST(PaperCheck, FgdBeatsEveryBaselineOnAnOpenbSubset) {
  absl::StatusOr<PaperSubset> subset = LoadPaperSubset();
  if (!subset.ok() && subset.status().code() == absl::StatusCode::kNotFound) {
    GTEST_SKIP() << subset.status().message();
  }
  ASSERT_TRUE(subset.ok()) << subset.status();
  const Workload& w = subset->workload;
  ASSERT_EQ(w.nodes.size(), 405u);
  ASSERT_EQ(w.pods.size(), 2718u);

  std::vector<uint64_t> seeds;
  std::vector<runtime::Profile> profiles;
  if (GPUSCHED_ENGINE_TEST_SANITIZED) {
    // About 30x slower here (6 runs took 28 s): one seed of FGD, BestFit and Random.
    seeds = {42};
    profiles = {Builtin("fgd"), Builtin("bestfit"), Builtin("random")};
  } else {
    for (uint64_t s = 42; s <= 51; ++s) seeds.push_back(s);
    profiles = AllBuiltins();
  }
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<std::vector<RunResult>> runs = RunMany(w, profiles, seeds, SimOptions{}, 2, {});
  ASSERT_TRUE(runs.ok()) << runs.status();
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  // unalloc[policy][seed index]
  std::map<std::string, std::vector<double>> unalloc;
  for (const RunResult& r : *runs) {
    SCOPED_TRACE(absl::StrCat(r.policy, " seed ", r.seed));
    ASSERT_TRUE(r.unallocated_at_100.has_value());
    ASSERT_TRUE(r.unallocated_at_130.has_value());  // inflation reached 130 %
    // About 13.9 % on the full cluster; 14.1 % on this subset.
    EXPECT_NEAR(r.empty_frag_amount_pct, 13.9, 0.5);
    unalloc[r.policy].push_back(*r.unallocated_at_100);
  }
  std::map<std::string, double> mean;
  std::string table;
  for (const runtime::Profile& p : profiles) {
    mean[p.name] = Mean(unalloc[p.name]);
    absl::StrAppend(
        &table, absl::StrFormat("  %-10s %6.2f  [%s]\n", p.name, mean[p.name],
                                absl::StrJoin(unalloc[p.name], " ", [](std::string* out, double d) {
                                  absl::StrAppend(out, absl::StrFormat("%.2f", d));
                                })));
  }
  SCOPED_TRACE(absl::StrCat("unallocated % at 100 % arrived (mean [per seed]):\n", table));
  std::cout << "[ paper    ] every " << kSubsetStride << "rd node and pod of " << subset->dir
            << ", " << runs->size() << " runs in " << absl::StrFormat("%.1f", wall) << " s\n"
            << table;

  // Per seed (all 100 of seeds 1-100 measured): FGD lowest, then BestFit, Random highest.
  for (size_t i = 0; i < seeds.size(); ++i) {
    SCOPED_TRACE(absl::StrCat("seed ", seeds[i]));
    for (const auto& [policy, values] : unalloc) {
      if (policy != "fgd") {
        EXPECT_LT(unalloc["fgd"][i], values[i]) << policy;
      }
      if (policy != "random") {
        EXPECT_LT(values[i], unalloc["random"][i]) << policy;
      }
    }
    EXPECT_LT(unalloc["bestfit"][i], unalloc["random"][i]);
  }

  // (c) FGD's mean within 0.5 of the paper's 4.77. The subset's seed-to-seed sd is about 0.25
  // (the full cluster's 0.11-0.13 times about sqrt(3) for a third of the nodes), so a 10-seed
  // mean has a standard error of about 0.08, and the 10-seed means measured lie in 4.59 .. 4.83;
  // 0.5 leaves room for the subset's own bias and for the single seed of the sanitizer build
  // (single seeds measured 4.27 .. 5.39, seed 42 4.61), while a FGD that lost its edge
  // (BestFit's level, about 6.6 here) fails.
  EXPECT_NEAR(mean["fgd"], 4.77, 0.5);
  // The paper's headline: FGD leaves about a third fewer GPUs unallocated than BestFit (the
  // strongest baseline): 4.77 / 7.14 = 0.67. Measured here 0.68 .. 0.74 over 10-seed windows.
  EXPECT_LT(mean["fgd"], 0.85 * mean["bestfit"]);
  if (GPUSCHED_ENGINE_TEST_SANITIZED) {
    std::cout << "[ paper    ] sanitizer build: reduced check (seed 42, FGD/BestFit/Random); the "
                 "full ordering check runs in the normal build\n";
    return;
  }

  // (a) FGD lowest, BestFit second; (b) Random worst; (d) the paper's ordering of the others:
  // BestFit < {Packing, Clustering} < DotProd < Random. Packing vs Clustering (8.22 vs 8.35 in
  // the paper, within each other's sd) is not asserted.
  const double fgd = mean["fgd"], bestfit = mean["bestfit"], packing = mean["packing"],
               clustering = mean["clustering"], dotprod = mean["dotprod"], random = mean["random"];
  EXPECT_LT(fgd, bestfit);
  EXPECT_LT(bestfit, std::min({packing, clustering, dotprod, random}));
  EXPECT_LT(std::max({fgd, bestfit, packing, clustering, dotprod}), random);
  EXPECT_LT(std::max(packing, clustering), dotprod);
  EXPECT_LT(dotprod, random);
}

}  // namespace
}  // namespace gpusched::simulator
