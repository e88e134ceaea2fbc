#include "agent/prober.h"

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "agent/inventory.h"
#include "agent/wire.h"
#include "common/sim_clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/backend.h"

namespace gpusched::agent {
namespace {

using ::testing::HasSubstr;

class ProberTest : public ::testing::Test {
 protected:
  // A dgx-a100 fake whose GPU 2 is 60 % taken by others.
  void SetUp() override {
    absl::StatusOr<Inventory> inv = FakeInventory("n1", "dgx-a100");
    ASSERT_TRUE(inv.ok()) << inv.status();
    inventory_ = *std::move(inv);
    std::vector<double> loads(inventory_.gpus.size(), 0);
    loads[2] = 0.6;
    absl::StatusOr<kernels::FakeSpec> spec = FakeProbeSpec(inventory_, loads, 3);
    ASSERT_TRUE(spec.ok()) << spec.status();
    absl::StatusOr<std::unique_ptr<kernels::FakeBackend>> b = kernels::NewFakeBackend(*std::move(spec));
    ASSERT_TRUE(b.ok()) << b.status();
    backend_ = *std::move(b);
  }

  // What the agent passes: the idle figure of each GPU under the headroom baseline.
  ProberOptions Options() const {
    ProberOptions o;
    for (const GpuInventory& g : inventory_.gpus) o.reference_gflops.push_back(g.peak_gflops);
    return o;
  }

  std::unique_ptr<Prober> MakeProber(ProberOptions o, int gpus = -1) {
    return std::make_unique<Prober>(*backend_, gpus < 0 ? static_cast<int>(inventory_.gpus.size()) : gpus,
                                    clock_, std::move(o), [this](int gpu, const pb::Probe& p) {
                                      published_[gpu].push_back(p);
                                    });
  }

  SimClock clock_{absl::FromUnixSeconds(1700000000)};
  Inventory inventory_;
  std::unique_ptr<kernels::FakeBackend> backend_;
  std::map<int, std::vector<pb::Probe>> published_;
};

TEST_F(ProberTest, RoundPublishesOneProbePerGpu) {
  std::unique_ptr<Prober> prober = MakeProber(Options());
  prober->RunRound();
  EXPECT_EQ(prober->rounds(), 1u);
  EXPECT_EQ(prober->failures(), 0u);
  ASSERT_EQ(published_.size(), 8u);
  for (int g = 0; g < 8; ++g) {
    SCOPED_TRACE(g);
    ASSERT_EQ(published_[g].size(), 1u);
    const pb::Probe& p = published_[g][0];
    EXPECT_EQ(p.at_unix_ms(), 1700000000000);
    EXPECT_GT(p.throughput_gflops(), 0);
    EXPECT_GT(p.occupancy(), 0);
    EXPECT_LE(p.occupancy(), 1);
    EXPECT_GE(p.duration_us(), 2000);  // the 2 ms budget at least
    // The first round measures bandwidth (bandwidth_every = 10: rounds 0, 10, ...).
    EXPECT_GT(p.device_to_device_gbps(), 1000);
    EXPECT_GT(p.host_to_device_gbps(), 0);
    // A state carrying it is valid.
    pb::NodeState s;
    s.set_node_name("n1");
    s.set_incarnation("i");
    s.set_sequence(1);
    pb::Gpu* gpu = s.add_gpus();
    gpu->set_uuid("GPU-x");
    gpu->set_model("m");
    gpu->set_memory_mib(1);
    *gpu->mutable_probe() = p;
    EXPECT_TRUE(ValidateNodeState(s).ok()) << ValidateNodeState(s);
  }
}

TEST_F(ProberTest, HeadroomFollowsTheLoad) {
  std::unique_ptr<Prober> prober = MakeProber(Options());
  for (int i = 0; i < 5; ++i) {
    prober->RunRound();
    clock_.Advance(absl::Seconds(30));
  }
  for (int g = 0; g < 8; ++g) {
    SCOPED_TRACE(g);
    ASSERT_EQ(published_[g].size(), 5u);
    const pb::Probe& p = published_[g].back();
    if (g == 2) {
      EXPECT_NEAR(p.headroom(), 0.4, 0.05);
      EXPECT_NEAR(p.available_sm_fraction(), 0.4, 0.02);
      EXPECT_NEAR(p.throughput_gflops(), 0.4 * inventory_.gpus[g].peak_gflops,
                  0.05 * inventory_.gpus[g].peak_gflops);
    } else {
      EXPECT_NEAR(p.headroom(), 1.0, 0.05);
      EXPECT_DOUBLE_EQ(p.available_sm_fraction(), 1.0);
    }
  }
  // The load moves: the next rounds see it.
  ASSERT_TRUE(backend_->SetLoad(2, 0).ok());
  ASSERT_TRUE(backend_->SetLoad(5, 0.75).ok());
  for (int i = 0; i < 20; ++i) {
    prober->RunRound();
    clock_.Advance(absl::Seconds(30));
  }
  EXPECT_NEAR(published_[2].back().headroom(), 1.0, 0.05);
  EXPECT_NEAR(published_[5].back().headroom(), 0.25, 0.05);
}

TEST_F(ProberTest, DelayRespectsTheDutyCycle) {
  // A long hold (100 ms budget) at 1 % duty: 10 s of pause after a round, above min_interval.
  ProberOptions o = Options();
  o.budget = absl::Milliseconds(100);
  o.duty_cycle = 0.01;
  o.min_interval = absl::Seconds(1);
  o.bandwidth_every = 0;
  std::unique_ptr<Prober> prober = MakeProber(o);
  const absl::Duration d = prober->RunRound();
  EXPECT_GE(d, absl::Milliseconds(100) / 0.01);
  EXPECT_GE(d, o.min_interval);
  EXPECT_LT(d, absl::Seconds(11));
  for (const auto& [g, probes] : published_) EXPECT_EQ(probes.back().duration_us(), 100000);

  // A short hold: the minimum interval rules.
  ProberOptions fast = Options();
  fast.min_interval = absl::Seconds(45);
  fast.bandwidth_every = 0;
  std::unique_ptr<Prober> p2 = MakeProber(fast);
  EXPECT_EQ(p2->RunRound(), absl::Seconds(45));

  // Bandwidth rounds hold longer (three 32 MiB copies, six times each): the pause grows with them.
  ProberOptions bw = Options();
  bw.min_interval = absl::Seconds(1);
  bw.duty_cycle = 0.001;
  bw.bandwidth_every = 2;
  bw.bandwidth_bytes = int64_t{1} << 30;
  std::unique_ptr<Prober> p3 = MakeProber(bw);
  const absl::Duration with_copies = p3->RunRound();   // round 0: bandwidth
  const absl::Duration without = p3->RunRound();       // round 1: none
  EXPECT_GT(with_copies, without);
  EXPECT_GE(without, absl::Milliseconds(2) / 0.001);
}

TEST_F(ProberTest, ScheduledRoundsOverAnHourStayWithinTheDutyCycle) {
  ProberOptions o = Options();  // 0.5 %, 30 s minimum, 2 ms budget
  std::unique_ptr<Prober> prober = MakeProber(o);
  prober->Start();
  EXPECT_EQ(prober->rounds(), 0u);  // the first round is a timer, due now
  clock_.Advance(absl::ZeroDuration());
  EXPECT_EQ(prober->rounds(), 1u);
  clock_.Advance(absl::Hours(1));
  // Rounds at 0, 30 s, ..., 3600 s: 121 (each holds well under 30 s * 0.5 %).
  EXPECT_EQ(prober->rounds(), 121u);
  EXPECT_EQ(published_[0].size(), 121u);
  EXPECT_GT(prober->overhead(), 0);
  EXPECT_LE(prober->overhead(), o.duty_cycle);
  EXPECT_EQ(prober->failures(), 0u);

  prober->Stop();
  clock_.Advance(absl::Hours(1));
  EXPECT_EQ(prober->rounds(), 121u);
  EXPECT_EQ(clock_.pending_timers(), 0u);
}

TEST_F(ProberTest, OverheadStaysWithinTheDutyCycleWhenHoldsAreLong) {
  ProberOptions o = Options();
  o.budget = absl::Milliseconds(100);
  o.duty_cycle = 0.02;
  o.min_interval = absl::Seconds(1);
  o.bandwidth_every = 3;
  std::unique_ptr<Prober> prober = MakeProber(o);
  prober->Start();
  clock_.Advance(absl::Hours(1));
  EXPECT_GT(prober->rounds(), 100u);  // 5 s pauses (longer after bandwidth rounds)
  EXPECT_GT(prober->overhead(), o.duty_cycle / 2);
  EXPECT_LE(prober->overhead(), o.duty_cycle + 1e-9);
}

TEST_F(ProberTest, ValidateProberOptionsNamesTheOption) {
  EXPECT_TRUE(ValidateProberOptions(ProberOptions{}).ok());
  struct Case {
    std::string name;
    std::function<void(ProberOptions&)> mutate;
    std::string what;
  };
  const std::vector<Case> cases = {
      {"duty 0", [](ProberOptions& o) { o.duty_cycle = 0; }, "duty cycle"},
      {"duty 6 %", [](ProberOptions& o) { o.duty_cycle = 0.06; }, "duty cycle"},
      {"duty NaN", [](ProberOptions& o) { o.duty_cycle = std::nan(""); }, "duty cycle"},
      {"budget 0", [](ProberOptions& o) { o.budget = absl::ZeroDuration(); }, "budget"},
      {"budget 1 s", [](ProberOptions& o) { o.budget = absl::Seconds(1); }, "budget"},
      {"interval 500 ms", [](ProberOptions& o) { o.min_interval = absl::Milliseconds(500); }, "interval"},
      {"bandwidth bytes 0", [](ProberOptions& o) { o.bandwidth_bytes = 0; }, "bandwidth bytes"},
      {"bandwidth bytes 5 GiB", [](ProberOptions& o) { o.bandwidth_bytes = int64_t{5} << 30; },
       "bandwidth bytes"},
      {"bandwidth_every -1", [](ProberOptions& o) { o.bandwidth_every = -1; }, "bandwidth_every"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    ProberOptions o;
    c.mutate(o);
    absl::Status s = ValidateProberOptions(o);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(s.message()), HasSubstr(c.what)) << s;
  }
  // The edges are allowed.
  ProberOptions edge;
  edge.duty_cycle = 0.05;
  edge.budget = absl::Milliseconds(100);
  edge.min_interval = absl::Seconds(1);
  edge.bandwidth_bytes = int64_t{4} << 30;
  edge.bandwidth_every = 0;
  EXPECT_TRUE(ValidateProberOptions(edge).ok()) << ValidateProberOptions(edge);
}

TEST_F(ProberTest, BackendFailuresAreCountedAndNotPublished) {
  // Ten GPUs asked of a backend with eight: GPUs 8 and 9 fail every round.
  std::unique_ptr<Prober> prober = MakeProber(Options(), 10);
  prober->RunRound();
  prober->RunRound();
  EXPECT_EQ(prober->failures(), 4u);
  EXPECT_EQ(published_.count(8), 0u);
  EXPECT_EQ(published_.count(9), 0u);
  for (int g = 0; g < 8; ++g) EXPECT_EQ(published_[g].size(), 2u) << g;
}

TEST_F(ProberTest, ABandwidthFailureStillPublishesTheThroughput) {
  // 4 GiB copies need 8 GiB of device memory: on a 6 GiB GPU the bandwidth probe fails, the
  // throughput probe still works.
  ProberOptions o;
  o.bandwidth_bytes = int64_t{4} << 30;
  o.bandwidth_every = 1;
  absl::StatusOr<Inventory> t4 = FakeInventory("n1", "pcie-4gpu-t4");  // 15 GiB GPUs
  ASSERT_TRUE(t4.ok());
  absl::StatusOr<kernels::FakeSpec> spec = FakeProbeSpec(*t4, {}, 1);
  ASSERT_TRUE(spec.ok());
  spec->gpus[1].memory_bytes = int64_t{6} << 30;  // 4 GiB twice does not fit
  absl::StatusOr<std::unique_ptr<kernels::FakeBackend>> b = kernels::NewFakeBackend(*std::move(spec));
  ASSERT_TRUE(b.ok()) << b.status();
  std::map<int, std::vector<pb::Probe>> got;
  Prober prober(**b, 4, clock_, o, [&](int gpu, const pb::Probe& p) { got[gpu].push_back(p); });
  prober.RunRound();
  EXPECT_EQ(prober.failures(), 1u);
  ASSERT_EQ(got[1].size(), 1u);
  EXPECT_GT(got[1][0].throughput_gflops(), 0);
  EXPECT_EQ(got[1][0].device_to_device_gbps(), 0);  // never measured
  EXPECT_GT(got[0][0].device_to_device_gbps(), 0);
}

TEST_F(ProberTest, StopIsIdempotentAndStartTwiceRunsOneSchedule) {
  std::unique_ptr<Prober> prober = MakeProber(Options());
  prober->Start();
  prober->Start();
  clock_.Advance(absl::Seconds(61));  // rounds at 0, 30, 60
  EXPECT_EQ(prober->rounds(), 3u);
  prober->Stop();
  prober->Stop();
  clock_.Advance(absl::Minutes(5));
  EXPECT_EQ(prober->rounds(), 3u);
}

}  // namespace
}  // namespace gpusched::agent
