#include "scheduler/runtime/framework.h"

#include <random>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "common/metrics/in_memory_metrics.h"
#include "common/sim_clock.h"
#include "test/fakes/builders.h"

namespace gpusched::runtime {
namespace {

using framework::ArgValue;
using framework::Code;
using framework::CycleState;
using framework::NodeScoreList;
using framework::PluginArgs;
using framework::Status;
using testing::FakeBinder;
using testing::NodeBuilder;
using testing::PodBuilder;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

using Log = std::vector<std::string>;

// Records every extension point it passes through. Behaviour per instance is configurable.
class Recorder final : public framework::PreFilterPlugin,
                       public framework::FilterPlugin,
                       public framework::PostFilterPlugin,
                       public framework::PreScorePlugin,
                       public framework::ScorePlugin,
                       public framework::ReservePlugin,
                       public framework::PermitPlugin,
                       public framework::PreBindPlugin,
                       public framework::PostBindPlugin {
 public:
  Recorder(std::string name, Log& log) : name_(std::move(name)), log_(log) {}
  std::string_view Name() const override { return name_; }

  Status PreFilter(CycleState&, const framework::PodInfo&, framework::PreFilterResult& r) override {
    Add("PreFilter");
    if (only_nodes) r.nodes = only_nodes;
    return prefilter_status;
  }
  Status Filter(const CycleState&, const framework::PodInfo&,
                const framework::NodeInfo& node) const override {
    filter_calls.fetch_add(1);
    auto it = filter_reject.find(node.name().str());
    return it == filter_reject.end() ? Status::Success() : it->second;
  }
  Status PostFilter(CycleState&, const framework::PodInfo&, const std::vector<framework::NodeVerdict>&,
                    framework::PostFilterResult&) override {
    Add("PostFilter");
    return Status::Unschedulable("cannot help");
  }
  Status PreScore(CycleState&, const framework::PodInfo&,
                  const std::vector<const framework::NodeInfo*>&) override {
    Add("PreScore");
    return Status::Success();
  }
  Status Score(const CycleState&, const framework::PodInfo&, const framework::NodeInfo& node,
               int64_t& score) const override {
    auto it = scores.find(node.name().str());
    score = it == scores.end() ? 0 : it->second;
    return Status::Success();
  }
  Status NormalizeScore(const CycleState&, const framework::PodInfo&,
                        NodeScoreList& list) const override {
    const_cast<Recorder*>(this)->Add("NormalizeScore");
    if (normalize) framework::DefaultNormalizeScore(framework::kMaxNodeScore, false, list);
    return Status::Success();
  }
  Status Reserve(CycleState&, const framework::PodInfo&, const framework::NodeInfo& n) override {
    Add("Reserve:" + n.name().str());
    return reserve_status;
  }
  void Unreserve(CycleState&, const framework::PodInfo&, const NodeId&) override {
    Add("Unreserve");
  }
  Status Permit(CycleState&, const framework::PodInfo&, const NodeId&,
                absl::Duration& timeout) override {
    Add("Permit");
    timeout = permit_timeout;
    return permit_status;
  }
  Status PreBind(CycleState&, const framework::PodInfo&, const NodeId&) override {
    Add("PreBind");
    return Status::Success();
  }
  void PostBind(CycleState&, const framework::PodInfo&, const NodeId&) override {
    Add("PostBind");
  }

  // Knobs.
  Status prefilter_status;
  std::optional<std::vector<NodeId>> only_nodes;
  std::map<std::string, Status> filter_reject;
  std::map<std::string, int64_t> scores;
  bool normalize = false;
  Status reserve_status;
  Status permit_status;
  absl::Duration permit_timeout = absl::Seconds(10);
  mutable std::atomic<int> filter_calls{0};

 private:
  void Add(const std::string& what) { log_.push_back(name_ + "." + what); }
  const std::string name_;
  Log& log_;
};

// Binds through the Binder port; logs.
class TestBinder final : public framework::BindPlugin {
 public:
  TestBinder(framework::Binder& b, Log& log) : binder_(b), log_(log) {}
  std::string_view Name() const override { return "TestBinder"; }
  Status Bind(CycleState& state, const framework::PodInfo& pod, const NodeId& node) override {
    log_.push_back("TestBinder.Bind");
    std::vector<framework::GpuShare> gpus;
    if (auto a = state.Read(framework::kDeviceAssignmentKey); a.ok()) gpus = (*a)->shares;
    return Status::FromError(binder_.Bind(pod, node, gpus));
  }

 private:
  framework::Binder& binder_;
  Log& log_;
};

// Chooses GPUs at Reserve the way the baseline does.
class GpuChooser final : public framework::ReservePlugin {
 public:
  std::string_view Name() const override { return "GpuChooser"; }
  Status Reserve(CycleState& state, const framework::PodInfo& pod,
                 const framework::NodeInfo& node) override {
    if (pod.requests.gpu.empty()) return Status::Success();
    auto gpus = framework::TryAllocate(node, pod.requests.gpu);
    if (!gpus) return Status::Unschedulable("no GPUs");
    auto a = std::make_unique<framework::DeviceAssignment>();
    a->shares = *gpus;
    state.Write(framework::kDeviceAssignmentKey, std::move(a));
    return Status::Success();
  }
  void Unreserve(CycleState& state, const framework::PodInfo&, const NodeId&) override {
    state.Erase(framework::kDeviceAssignmentKey);
  }
};

class FrameworkTest : public ::testing::Test {
 protected:
  FrameworkTest() : rng_(7) {}

  void AddNodes(int n, int gpus = 0) {
    for (int i = 0; i < n; ++i) {
      ASSERT_TRUE(cache_.AddNode(NodeBuilder("n" + std::to_string(i)).Gpus(gpus).Build()).ok());
    }
  }

  // Registers a Recorder under `name` that the test can configure through recorders_[name].
  void RegisterRecorder(const std::string& name) {
    ASSERT_TRUE(registry_
                    .Register(name,
                              [this, name](const PluginArgs&, framework::Handle&)
                                  -> absl::StatusOr<std::unique_ptr<framework::Plugin>> {
                                auto r = std::make_unique<Recorder>(name, log_);
                                recorders_[name] = r.get();
                                return r;
                              })
                    .ok());
  }

  std::unique_ptr<Framework> Make(std::vector<std::pair<std::string, std::optional<int32_t>>> plugins,
                                  int parallelism = 1) {
    if (registry_.Find("TestBinder") == nullptr) {
      (void)registry_.Register("TestBinder", [this](const PluginArgs&, framework::Handle& h)
                                                 -> absl::StatusOr<std::unique_ptr<framework::Plugin>> {
        return std::make_unique<TestBinder>(h.binder(), log_);
      });
      (void)registry_.Register("GpuChooser", [](const PluginArgs&, framework::Handle&)
                                                 -> absl::StatusOr<std::unique_ptr<framework::Plugin>> {
        return std::make_unique<GpuChooser>();
      });
    }
    Profile p;
    p.name = "test";
    for (auto& [name, weight] : plugins) p.plugins.push_back({name, weight, {}, {}, ""});
    auto fw = Framework::Create(registry_, p, FrameworkDeps{clock_, rng_, &cache_, metrics_, binder_},
                                FrameworkOptions{.parallelism = parallelism, .chunk_size = 2});
    EXPECT_TRUE(fw.ok()) << fw.status();
    return fw.ok() ? *std::move(fw) : nullptr;
  }

  framework::Registry registry_;
  std::map<std::string, Recorder*> recorders_;
  Log log_;
  SimClock clock_;
  std::mt19937_64 rng_;
  cache::ClusterCache cache_;
  metrics::InMemoryMetrics metrics_;
  FakeBinder binder_;
};

TEST_F(FrameworkTest, ExtensionPointsRunInKubernetesOrder) {
  AddNodes(3);
  RegisterRecorder("A");
  auto fw = Make({{"A", std::nullopt}, {"TestBinder", std::nullopt}});
  ScheduleResult r = fw->SchedulePod(PodBuilder("p").Build());
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_THAT(log_, ElementsAre("A.PreFilter", "A.PreScore", "A.NormalizeScore",
                                "A.Reserve:" + r.node.str(), "A.Permit", "A.PreBind",
                                "TestBinder.Bind", "A.PostBind"));
  EXPECT_EQ(recorders_["A"]->filter_calls.load(), 3);  // Filter once per node
  ASSERT_EQ(binder_.bound().size(), 1u);
  ASSERT_NE(cache_.FindPod(PodUid("p")), nullptr);
  EXPECT_EQ(cache_.FindPod(PodUid("p"))->state, cache::PodState::kBound);
}

TEST_F(FrameworkTest, PostFilterRunsOnlyWhenNoNodeFits) {
  AddNodes(2);
  RegisterRecorder("A");
  auto fw = Make({{"A", std::nullopt}, {"TestBinder", std::nullopt}});
  recorders_["A"]->filter_reject = {{"n0", Status::Unschedulable("Insufficient cpu")},
                                    {"n1", Status::UnschedulableAndUnresolvable("wrong zone")}};
  ScheduleResult r = fw->SchedulePod(PodBuilder("p").Build());
  EXPECT_EQ(r.status.code(), Code::kUnschedulable);  // one node may free up
  EXPECT_THAT(log_, ElementsAre("A.PreFilter", "A.PostFilter"));
  EXPECT_EQ(r.Explain(), "0/2 nodes are available: 1 Insufficient cpu, 1 wrong zone.");
  EXPECT_EQ(r.rejections.at("Insufficient cpu"), 1);
  EXPECT_TRUE(binder_.bound().empty());
}

TEST_F(FrameworkTest, AllNodesUnresolvableGivesUnresolvable) {
  AddNodes(2);
  RegisterRecorder("A");
  auto fw = Make({{"A", std::nullopt}, {"TestBinder", std::nullopt}});
  recorders_["A"]->filter_reject = {{"n0", Status::UnschedulableAndUnresolvable("x")},
                                    {"n1", Status::UnschedulableAndUnresolvable("x")}};
  EXPECT_EQ(fw->SchedulePod(PodBuilder("p").Build()).status.code(),
            Code::kUnschedulableAndUnresolvable);
}

TEST_F(FrameworkTest, FilterErrorAbortsTheCycle) {
  AddNodes(2);
  RegisterRecorder("A");
  auto fw = Make({{"A", std::nullopt}, {"TestBinder", std::nullopt}});
  recorders_["A"]->filter_reject = {{"n1", Status::Error("agent data missing")}};
  ScheduleResult r = fw->SchedulePod(PodBuilder("p").Build());
  EXPECT_EQ(r.status.code(), Code::kError);
  EXPECT_THAT(r.status.Message(), HasSubstr("node n1: agent data missing"));
  EXPECT_EQ(r.status.plugin(), "A");
  EXPECT_EQ(cache_.pod_count(), 0u);
}

TEST_F(FrameworkTest, PreFilterRejectionSkipsFilter) {
  AddNodes(2);
  RegisterRecorder("A");
  auto fw = Make({{"A", std::nullopt}, {"TestBinder", std::nullopt}});
  recorders_["A"]->prefilter_status = Status::UnschedulableAndUnresolvable("bad request");
  ScheduleResult r = fw->SchedulePod(PodBuilder("p").Build());
  EXPECT_EQ(r.status.code(), Code::kUnschedulableAndUnresolvable);
  EXPECT_EQ(r.Explain(), "0/2 nodes are available: 2 bad request.");
  EXPECT_EQ(recorders_["A"]->filter_calls.load(), 0);
}

TEST_F(FrameworkTest, PreFilterSkipSkipsOnlyThatPluginsFilter) {
  AddNodes(2);
  RegisterRecorder("A");
  RegisterRecorder("B");
  auto fw = Make({{"A", std::nullopt}, {"B", std::nullopt}, {"TestBinder", std::nullopt}});
  recorders_["A"]->prefilter_status = Status::Skip();
  ASSERT_TRUE(fw->SchedulePod(PodBuilder("p").Build()).status.ok());
  EXPECT_EQ(recorders_["A"]->filter_calls.load(), 0);
  EXPECT_EQ(recorders_["B"]->filter_calls.load(), 2);
  // The skip lasts one cycle only.
  recorders_["A"]->prefilter_status = Status::Success();
  ASSERT_TRUE(fw->SchedulePod(PodBuilder("q").Build()).status.ok());
  EXPECT_EQ(recorders_["A"]->filter_calls.load(), 2);
}

TEST_F(FrameworkTest, PreFilterNodeSubsetsAreIntersected) {
  AddNodes(4);
  RegisterRecorder("A");
  RegisterRecorder("B");
  auto fw = Make({{"A", std::nullopt}, {"B", std::nullopt}, {"TestBinder", std::nullopt}});
  recorders_["A"]->only_nodes = std::vector<NodeId>{NodeId("n1"), NodeId("n2"), NodeId("n3")};
  recorders_["B"]->only_nodes = std::vector<NodeId>{NodeId("n0"), NodeId("n2")};
  ScheduleResult r = fw->SchedulePod(PodBuilder("p").Build());
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(r.node, NodeId("n2"));
  EXPECT_EQ(r.nodes_evaluated, 1u);
}

TEST_F(FrameworkTest, ReserveFailureUnreservesEveryReservePluginInReverse) {
  AddNodes(1);
  RegisterRecorder("A");
  RegisterRecorder("B");
  auto fw = Make({{"A", std::nullopt}, {"B", std::nullopt}, {"TestBinder", std::nullopt}});
  recorders_["B"]->reserve_status = Status::Unschedulable("quota");
  const framework::NodeInfo before = *cache_.FindNode(NodeId("n0"));
  ScheduleResult r = fw->SchedulePod(PodBuilder("p").Cpu(2000).Build());
  EXPECT_EQ(r.status.code(), Code::kUnschedulable);
  EXPECT_EQ(r.status.plugin(), "B");
  EXPECT_THAT(log_, ::testing::IsSupersetOf({"A.Reserve:n0", "B.Reserve:n0"}));
  const Log tail(log_.end() - 2, log_.end());
  EXPECT_THAT(tail, ElementsAre("B.Unreserve", "A.Unreserve"));
  EXPECT_EQ(*cache_.FindNode(NodeId("n0")), before);
  EXPECT_EQ(cache_.pod_count(), 0u);
}

TEST_F(FrameworkTest, PermitRejectionUnreservesAndForgetsTheAssumedPod) {
  AddNodes(1, /*gpus=*/4);
  RegisterRecorder("A");
  RegisterRecorder("B");
  auto fw = Make({{"GpuChooser", std::nullopt},
                  {"A", std::nullopt},
                  {"B", std::nullopt},
                  {"TestBinder", std::nullopt}});
  recorders_["B"]->permit_status = Status::Unschedulable("gang incomplete");
  const framework::NodeInfo before = *cache_.FindNode(NodeId("n0"));
  ScheduleResult r = fw->SchedulePod(PodBuilder("p").Gpus(2).Build());
  EXPECT_EQ(r.status.code(), Code::kUnschedulable);
  EXPECT_EQ(r.status.plugin(), "B");
  const Log tail(log_.end() - 2, log_.end());
  EXPECT_THAT(tail, ElementsAre("B.Unreserve", "A.Unreserve"));
  EXPECT_EQ(*cache_.FindNode(NodeId("n0")), before);  // GPUs free again, exactly
  EXPECT_EQ(cache_.FindPod(PodUid("p")), nullptr);
  EXPECT_TRUE(binder_.bound().empty());
}

TEST_F(FrameworkTest, BindFailureUnreservesAndForgets) {
  AddNodes(1, /*gpus=*/2);
  RegisterRecorder("A");
  auto fw = Make({{"GpuChooser", std::nullopt}, {"A", std::nullopt}, {"TestBinder", std::nullopt}});
  binder_.FailNext(absl::UnavailableError("API server down"));
  const framework::NodeInfo before = *cache_.FindNode(NodeId("n0"));
  ScheduleResult r = fw->SchedulePod(PodBuilder("p").Gpus(1).Build());
  EXPECT_EQ(r.status.code(), Code::kError);
  EXPECT_THAT(r.status.Message(), HasSubstr("API server down"));
  EXPECT_EQ(log_.back(), "A.Unreserve");
  EXPECT_EQ(*cache_.FindNode(NodeId("n0")), before);
  // The next attempt succeeds and records the device choice.
  ScheduleResult ok = fw->SchedulePod(PodBuilder("p").Gpus(1).Build());
  ASSERT_TRUE(ok.status.ok());
  ASSERT_EQ(ok.gpus.size(), 1u);
  EXPECT_EQ(binder_.bound().at(0).gpus, ok.gpus);
}

TEST_F(FrameworkTest, GpuPodWithoutDeviceChoiceIsAnError) {
  AddNodes(1, /*gpus=*/2);
  RegisterRecorder("A");
  auto fw = Make({{"A", std::nullopt}, {"TestBinder", std::nullopt}});
  ScheduleResult r = fw->SchedulePod(PodBuilder("p").Gpus(1).Build());
  EXPECT_EQ(r.status.code(), Code::kError);
  EXPECT_THAT(r.status.Message(), HasSubstr("no Reserve plugin chose devices"));
  EXPECT_EQ(log_.back(), "A.Unreserve");
  EXPECT_EQ(cache_.pod_count(), 0u);
}

TEST_F(FrameworkTest, WeightsMultiplyNormalizedScores) {
  AddNodes(3);
  RegisterRecorder("A");
  RegisterRecorder("B");
  auto fw = Make({{"A", 1}, {"B", 3}, {"TestBinder", std::nullopt}});
  // A: raw 0/10/20, normalized to 0/50/100. B: 40/0/0 as is, weight 3 -> 120/0/0.
  recorders_["A"]->scores = {{"n0", 0}, {"n1", 10}, {"n2", 20}};
  recorders_["A"]->normalize = true;
  recorders_["B"]->scores = {{"n0", 40}, {"n1", 0}, {"n2", 0}};
  CycleState state;
  auto scores = fw->RunScore(state, PodBuilder("p").Build(), cache_.Nodes());
  ASSERT_TRUE(scores.ok()) << scores.status();
  ASSERT_EQ(scores->size(), 3u);
  EXPECT_EQ((*scores)[0].score, 120);
  EXPECT_EQ((*scores)[1].score, 50);
  EXPECT_EQ((*scores)[2].score, 100);
  ScheduleResult r = fw->SchedulePod(PodBuilder("p").Build());
  EXPECT_EQ(r.node, NodeId("n0"));
  EXPECT_EQ(r.score, 120);
}

TEST_F(FrameworkTest, OutOfRangeScoreIsAnError) {
  AddNodes(2);
  RegisterRecorder("A");
  auto fw = Make({{"A", std::nullopt}, {"TestBinder", std::nullopt}});
  recorders_["A"]->scores = {{"n1", 150}};
  ScheduleResult r = fw->SchedulePod(PodBuilder("p").Build());
  EXPECT_EQ(r.status.code(), Code::kError);
  EXPECT_THAT(r.status.Message(), HasSubstr("scored node n1 150, outside [0, 100]"));
  EXPECT_EQ(cache_.pod_count(), 0u);
}

TEST_F(FrameworkTest, TiesAreBrokenByTheInjectedRandomSourceReproducibly) {
  AddNodes(8);
  auto run = [&](uint64_t seed) {
    rng_.seed(seed);
    auto fw = Make({{"TestBinder", std::nullopt}});
    std::vector<std::string> picks;
    for (int i = 0; i < 16; ++i) {
      ScheduleResult r = fw->SchedulePod(PodBuilder("p" + std::to_string(i)).Cpu(1).Build());
      picks.push_back(r.node.str());
    }
    for (int i = 0; i < 16; ++i) (void)cache_.RemovePod(PodUid("p" + std::to_string(i)));
    return picks;
  };
  const auto a = run(1);
  const auto b = run(1);
  EXPECT_EQ(a, b);
  std::set<std::string> distinct(a.begin(), a.end());
  EXPECT_GT(distinct.size(), 2u);  // ties are spread, not always the first node
}

TEST_F(FrameworkTest, PermitWaitThenAllowBindsAndReportsOutcome) {
  AddNodes(1, 2);
  RegisterRecorder("A");
  auto fw = Make({{"GpuChooser", std::nullopt}, {"A", std::nullopt}, {"TestBinder", std::nullopt}});
  std::vector<std::pair<std::string, Code>> outcomes;
  fw->SetOutcomeCallback([&](const framework::PodInfo& p, const ScheduleResult& r) {
    outcomes.emplace_back(p.name, r.status.code());
  });
  recorders_["A"]->permit_status = Status::Wait();
  ScheduleResult r = fw->SchedulePod(PodBuilder("p").Gpus(1).Build());
  ASSERT_TRUE(r.status.IsWait());
  EXPECT_TRUE(fw->waiting_pods().IsWaiting(PodUid("p")));
  EXPECT_EQ(cache_.FindPod(PodUid("p"))->state, cache::PodState::kAssumed);  // capacity held
  EXPECT_FALSE(fw->waiting_pods().Allow(PodUid("p"), "NotHolding"));
  EXPECT_TRUE(fw->waiting_pods().Allow(PodUid("p"), "A"));
  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_EQ(outcomes[0].second, Code::kSuccess);
  EXPECT_EQ(cache_.FindPod(PodUid("p"))->state, cache::PodState::kBound);
  EXPECT_EQ(binder_.bound().size(), 1u);
  EXPECT_EQ(clock_.pending_timers(), 0u);  // the timeout was cancelled
}

TEST_F(FrameworkTest, PermitTimeoutRejectsAndReleasesEverything) {
  AddNodes(1, 2);
  RegisterRecorder("A");
  auto fw = Make({{"GpuChooser", std::nullopt}, {"A", std::nullopt}, {"TestBinder", std::nullopt}});
  std::vector<std::string> reasons;
  fw->SetOutcomeCallback([&](const framework::PodInfo&, const ScheduleResult& r) {
    reasons.push_back(r.status.Message());
  });
  recorders_["A"]->permit_status = Status::Wait();
  recorders_["A"]->permit_timeout = absl::Seconds(30);
  const framework::NodeInfo before = *cache_.FindNode(NodeId("n0"));
  ASSERT_TRUE(fw->SchedulePod(PodBuilder("p").Gpus(2).Build()).status.IsWait());
  clock_.Advance(absl::Seconds(29));
  EXPECT_TRUE(reasons.empty());
  clock_.Advance(absl::Seconds(1));
  ASSERT_EQ(reasons.size(), 1u);
  EXPECT_THAT(reasons[0], HasSubstr("timed out after 30s waiting for permit from A"));
  EXPECT_EQ(log_.back(), "A.Unreserve");
  EXPECT_EQ(*cache_.FindNode(NodeId("n0")), before);
  EXPECT_FALSE(fw->waiting_pods().IsWaiting(PodUid("p")));
  EXPECT_TRUE(binder_.bound().empty());
}

TEST_F(FrameworkTest, WaitingPodRejectedByPlugin) {
  AddNodes(1);
  RegisterRecorder("A");
  auto fw = Make({{"A", std::nullopt}, {"TestBinder", std::nullopt}});
  Code got = Code::kSuccess;
  fw->SetOutcomeCallback([&](const framework::PodInfo&, const ScheduleResult& r) {
    got = r.status.code();
  });
  recorders_["A"]->permit_status = Status::Wait();
  ASSERT_TRUE(fw->SchedulePod(PodBuilder("p").Build()).status.IsWait());
  EXPECT_TRUE(fw->waiting_pods().Reject(PodUid("p"), "A", "gang timed out"));
  EXPECT_EQ(got, Code::kUnschedulable);
  EXPECT_EQ(cache_.pod_count(), 0u);
  EXPECT_FALSE(fw->waiting_pods().Reject(PodUid("p"), "A", "again"));  // no longer waiting
}

TEST_F(FrameworkTest, RecordsAttemptsAndPluginTimings) {
  AddNodes(2);
  RegisterRecorder("A");
  auto fw = Make({{"A", std::nullopt}, {"TestBinder", std::nullopt}});
  ASSERT_TRUE(fw->SchedulePod(PodBuilder("p").Build()).status.ok());
  recorders_["A"]->filter_reject = {{"n0", Status::Unschedulable("full")},
                                    {"n1", Status::Unschedulable("full")}};
  ASSERT_FALSE(fw->SchedulePod(PodBuilder("q").Build()).status.ok());
  EXPECT_EQ(metrics_.CounterValue("gpusched_schedule_attempts_total",
                                  {{"profile", "test"}, {"result", "scheduled"}}),
            1.0);
  EXPECT_EQ(metrics_.CounterValue("gpusched_schedule_attempts_total",
                                  {{"profile", "test"}, {"result", "unschedulable"}}),
            1.0);
  EXPECT_EQ(metrics_.HistogramCount(
                "gpusched_plugin_execution_duration_seconds",
                {{"plugin", "A"}, {"extension_point", "Filter"}, {"status", "Success"}}),
            2u);
  EXPECT_EQ(metrics_.HistogramCount("gpusched_framework_extension_point_duration_seconds",
                                    {{"profile", "test"},
                                     {"extension_point", "Bind"},
                                     {"status", "Success"}}),
            1u);
}

TEST_F(FrameworkTest, QueueOrderFallsBackToPriorityThenAge) {
  auto fw = Make({{"TestBinder", std::nullopt}});
  auto hi = PodBuilder("hi").Priority(10).CreatedAt(200).Build();
  auto old = PodBuilder("old").CreatedAt(100).Build();
  auto young = PodBuilder("young").CreatedAt(300).Build();
  EXPECT_TRUE(fw->Less(hi, old));
  EXPECT_TRUE(fw->Less(old, young));
  EXPECT_FALSE(fw->Less(young, old));
}

struct CreateCase {
  std::string name;
  std::vector<std::pair<std::string, std::optional<int32_t>>> plugins;
  std::string error;
};

TEST_F(FrameworkTest, CreateRejectsBadProfilesNamingTheEntry) {
  RegisterRecorder("A");
  (void)registry_.Register("Sort1", [](const PluginArgs&, framework::Handle&)
                                        -> absl::StatusOr<std::unique_ptr<framework::Plugin>> {
    struct S final : framework::QueueSortPlugin {
      std::string_view Name() const override { return "Sort1"; }
      bool Less(const framework::PodInfo&, const framework::PodInfo&) const override {
        return false;
      }
    };
    return std::make_unique<S>();
  });
  (void)registry_.Register("Picky", [](const PluginArgs& args, framework::Handle&)
                                        -> absl::StatusOr<std::unique_ptr<framework::Plugin>> {
    return args.FieldError("depth", "must be > 0");
  });
  (void)Make({{"TestBinder", std::nullopt}});  // registers TestBinder
  const std::vector<CreateCase> cases = {
      {"unknown plugin", {{"Nope", std::nullopt}, {"TestBinder", std::nullopt}},
       "plugins[0] (Nope): unknown plugin (registered: A, GpuChooser, Picky, Sort1, TestBinder)"},
      {"weight on a non-score plugin", {{"TestBinder", 2}},
       "plugins[0] (TestBinder): weight: the plugin has no Score extension point"},
      {"no bind plugin", {{"A", std::nullopt}}, "no Bind plugin"},
      {"args error carries the path",
       {{"Picky", std::nullopt}, {"TestBinder", std::nullopt}},
       "plugins[0] (Picky): args.depth: must be > 0"},
  };
  for (const CreateCase& tc : cases) {
    SCOPED_TRACE(tc.name);
    Profile p;
    p.name = "bad";
    for (auto& [name, weight] : tc.plugins) p.plugins.push_back({name, weight, {}, {}, ""});
    auto fw = Framework::Create(registry_, p, FrameworkDeps{clock_, rng_, &cache_, metrics_, binder_});
    ASSERT_FALSE(fw.ok());
    EXPECT_THAT(std::string(fw.status().message()), HasSubstr(tc.error));
    EXPECT_THAT(std::string(fw.status().message()), HasSubstr("profile \"bad\""));
  }
  // Two QueueSort plugins: the profile must say which one was first.
  Profile p;
  p.name = "bad";
  p.plugins = {{"Sort1", std::nullopt, {}, {}, ""}, {"Sort1", std::nullopt, {}, {}, ""},
               {"TestBinder", std::nullopt, {}, {}, ""}};
  auto fw = Framework::Create(registry_, p, FrameworkDeps{clock_, rng_, &cache_, metrics_, binder_});
  ASSERT_FALSE(fw.ok());
  EXPECT_THAT(std::string(fw.status().message()), HasSubstr("a second QueueSort plugin"));
}

TEST_F(FrameworkTest, PointsLimitWhereAPluginRuns) {
  AddNodes(2);
  RegisterRecorder("A");
  (void)Make({{"TestBinder", std::nullopt}});
  Profile p;
  p.name = "limited";
  p.plugins = {{"A", std::nullopt, {}, {"Filter", "Reserve"}, ""},
               {"TestBinder", std::nullopt, {}, {}, ""}};
  auto fw = Framework::Create(registry_, p, FrameworkDeps{clock_, rng_, &cache_, metrics_, binder_});
  ASSERT_TRUE(fw.ok()) << fw.status();
  recorders_["A"]->scores = {{"n1", 100}};  // would pick n1 if Score ran
  ScheduleResult r = (*fw)->SchedulePod(PodBuilder("p").Build());
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(recorders_["A"]->filter_calls.load(), 2);
  EXPECT_THAT(log_, ElementsAre("A.Reserve:" + r.node.str(), "TestBinder.Bind"));

  p.plugins[0].points = {"Filtre"};
  auto bad = Framework::Create(registry_, p, FrameworkDeps{clock_, rng_, &cache_, metrics_, binder_});
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()),
              HasSubstr("points: unknown extension point \"Filtre\""));
  p.plugins[0].points = {"Bind"};
  bad = Framework::Create(registry_, p, FrameworkDeps{clock_, rng_, &cache_, metrics_, binder_});
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("points: the plugin has no Bind"));
  p.plugins[0].points = {"Filter"};
  p.plugins[0].weight = 2;
  bad = Framework::Create(registry_, p, FrameworkDeps{clock_, rng_, &cache_, metrics_, binder_});
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("weight: the plugin has no Score"));
}

}  // namespace
}  // namespace gpusched::runtime
