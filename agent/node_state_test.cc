#include "agent/node_state.h"

#include <atomic>
#include <optional>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "agent/inventory.h"
#include "agent/wire.h"
#include "common/sim_clock.h"
#include "gtest/gtest.h"

namespace gpusched::agent {
namespace {

class NodeStateTest : public ::testing::Test {
 protected:
  NodeStateTest() : clock_(absl::FromUnixMillis(1700000000123)) {
    absl::StatusOr<Inventory> inv = FakeInventory("n1", "pcie-4gpu-t4");
    EXPECT_TRUE(inv.ok()) << inv.status();
    inventory_ = *std::move(inv);
    state_ = std::make_unique<AgentState>("n1", inventory_, "inc-7", clock_, absl::Seconds(5));
  }

  static pb::Probe ProbeWithHeadroom(double h) {
    pb::Probe p;
    p.set_headroom(h);
    p.set_available_sm_fraction(h);
    return p;
  }

  SimClock clock_;
  Inventory inventory_;
  std::unique_ptr<AgentState> state_;
};

TEST_F(NodeStateTest, InitialStateDescribesTheInventory) {
  const pb::NodeState s = state_->Current();
  EXPECT_EQ(s.node_name(), "n1");
  EXPECT_EQ(s.incarnation(), "inc-7");
  EXPECT_EQ(s.sequence(), 1u);
  EXPECT_EQ(s.heartbeat_ms(), 5000);
  EXPECT_EQ(s.observed_unix_ms(), 1700000000123);
  EXPECT_EQ(s.discovery(), "fake:pcie-4gpu-t4");
  ASSERT_EQ(s.gpus_size(), 4);
  EXPECT_EQ(state_->gpu_count(), 4);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(s.gpus(i).index(), i);
    EXPECT_EQ(s.gpus(i).uuid(), inventory_.gpus[i].uuid);
    EXPECT_EQ(s.gpus(i).pci_bus_id(), inventory_.gpus[i].pci_bus_id);
    EXPECT_TRUE(s.gpus(i).healthy());
    EXPECT_FALSE(s.gpus(i).has_probe());
    EXPECT_FALSE(s.gpus(i).has_usage());
  }
  EXPECT_TRUE(s.has_topology());
  EXPECT_TRUE(ValidateNodeState(s).ok()) << ValidateNodeState(s);
}

TEST_F(NodeStateTest, EveryChangeBumpsTheSequence) {
  uint64_t seq = state_->sequence();
  ASSERT_EQ(seq, 1u);

  clock_.Advance(absl::Milliseconds(250));
  state_->SetProbe(2, ProbeWithHeadroom(0.4));
  EXPECT_EQ(state_->sequence(), ++seq);
  pb::NodeState s = state_->Current();
  EXPECT_DOUBLE_EQ(s.gpus(2).probe().headroom(), 0.4);
  EXPECT_EQ(s.observed_unix_ms(), 1700000000373);

  pb::Usage u;
  u.set_gpu_util_percent(55);
  state_->SetUsage(1, u);
  EXPECT_EQ(state_->sequence(), ++seq);
  EXPECT_DOUBLE_EQ(state_->Current().gpus(1).usage().gpu_util_percent(), 55);

  state_->SetHealth(3, false, "XID 79");
  EXPECT_EQ(state_->sequence(), ++seq);
  EXPECT_FALSE(state_->Current().gpus(3).healthy());
  EXPECT_EQ(state_->Current().gpus(3).health_reason(), "XID 79");

  pb::Allocation a;
  a.set_pod_uid("uid-1");
  pb::Share* sh = a.add_shares();
  sh->set_gpu(0);
  sh->set_milli(500);
  state_->SetAllocations({a});
  EXPECT_EQ(state_->sequence(), ++seq);
  ASSERT_EQ(state_->Current().allocations_size(), 1);
  state_->SetAllocations({});
  EXPECT_EQ(state_->sequence(), ++seq);
  EXPECT_EQ(state_->Current().allocations_size(), 0);

  clock_.Advance(absl::Seconds(5));
  state_->Heartbeat();
  EXPECT_EQ(state_->sequence(), ++seq);
  EXPECT_EQ(state_->Current().observed_unix_ms(), 1700000005373);

  // Everything the state holds is still a valid message.
  EXPECT_TRUE(ValidateNodeState(state_->Current()).ok()) << ValidateNodeState(state_->Current());
}

TEST_F(NodeStateTest, UnchangedHealthDoesNotBump) {
  const uint64_t seq = state_->sequence();
  state_->SetHealth(0, true, "");
  EXPECT_EQ(state_->sequence(), seq);
  state_->SetHealth(0, false, "XID 48");
  EXPECT_EQ(state_->sequence(), seq + 1);
  state_->SetHealth(0, false, "XID 48");
  EXPECT_EQ(state_->sequence(), seq + 1);
  state_->SetHealth(0, false, "XID 79");  // a new reason is a change
  EXPECT_EQ(state_->sequence(), seq + 2);
  state_->SetHealth(0, true, "");
  EXPECT_EQ(state_->sequence(), seq + 3);
  EXPECT_TRUE(state_->Current().gpus(0).healthy());
  EXPECT_EQ(state_->Current().gpus(0).health_reason(), "");
}

TEST_F(NodeStateTest, OutOfRangeGpusAreIgnored) {
  const uint64_t seq = state_->sequence();
  state_->SetProbe(4, ProbeWithHeadroom(0.1));
  state_->SetProbe(-1, ProbeWithHeadroom(0.1));
  state_->SetUsage(99, pb::Usage());
  state_->SetHealth(4, false, "x");
  EXPECT_EQ(state_->sequence(), seq);
}

TEST_F(NodeStateTest, WaitNewerReturnsAtOnceWhenNewer) {
  state_->SetProbe(0, ProbeWithHeadroom(0.9));
  const absl::Time start = absl::Now();
  std::optional<pb::NodeState> s = state_->WaitNewer(1, absl::Seconds(10));
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->sequence(), 2u);
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
}

TEST_F(NodeStateTest, WaitNewerTimesOut) {
  const absl::Time start = absl::Now();
  std::optional<pb::NodeState> s = state_->WaitNewer(state_->sequence(), absl::Milliseconds(50));
  EXPECT_FALSE(s.has_value());
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(45));
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
}

TEST_F(NodeStateTest, AnotherThreadsChangeWakesAWaiter) {
  const uint64_t seq = state_->sequence();
  std::optional<pb::NodeState> got;
  absl::Time woke;
  std::thread waiter([&] {
    got = state_->WaitNewer(seq, absl::Seconds(10));
    woke = absl::Now();
  });
  absl::SleepFor(absl::Milliseconds(20));  // let it block (not required for correctness)
  const absl::Time set_at = absl::Now();
  state_->SetProbe(1, ProbeWithHeadroom(0.3));
  waiter.join();
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->sequence(), seq + 1);
  EXPECT_DOUBLE_EQ(got->gpus(1).probe().headroom(), 0.3);
  EXPECT_LT(woke - set_at, absl::Seconds(2));
}

TEST_F(NodeStateTest, ShutdownWakesAWaiterWithNothing) {
  std::optional<pb::NodeState> got = pb::NodeState();
  absl::Notification done;
  std::thread waiter([&] {
    got = state_->WaitNewer(state_->sequence(), absl::Seconds(30));
    done.Notify();
  });
  absl::SleepFor(absl::Milliseconds(20));
  EXPECT_FALSE(state_->shut_down());
  state_->Shutdown();
  EXPECT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(5)));
  waiter.join();
  EXPECT_FALSE(got.has_value());
  EXPECT_TRUE(state_->shut_down());
  // After Shutdown even a newer state is not handed out: the stream is over.
  state_->Heartbeat();
  EXPECT_FALSE(state_->WaitNewer(0, absl::Seconds(1)).has_value());
}

TEST_F(NodeStateTest, ConcurrentWritersKeepTheSequenceStrict) {
  const uint64_t start = state_->sequence();
  constexpr int kThreads = 4, kEach = 200;
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([this, t] {
      for (int i = 0; i < kEach; ++i) {
        pb::Usage u;
        u.set_gpu_util_percent(i % 100);
        state_->SetUsage(t, u);
      }
    });
  }
  // A reader sees strictly increasing sequences.
  uint64_t last = start;
  int seen = 0;
  while (last < start + kThreads * kEach) {
    std::optional<pb::NodeState> s = state_->WaitNewer(last, absl::Seconds(5));
    ASSERT_TRUE(s.has_value());
    EXPECT_GT(s->sequence(), last);
    last = s->sequence();
    ++seen;
  }
  for (std::thread& w : writers) w.join();
  EXPECT_EQ(state_->sequence(), start + kThreads * kEach);
  EXPECT_GE(seen, 1);
}

}  // namespace
}  // namespace gpusched::agent
