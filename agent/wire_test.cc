#include "agent/wire.h"

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "agent/inventory.h"
#include "agent/node_state.h"
#include "common/sim_clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "topology/presets.h"

namespace gpusched::agent {
namespace {

using ::testing::HasSubstr;

// A NodeState as the agent streams it: the dgx-a100 fake preset (8 GPUs with topology).
pb::NodeState ValidState() {
  absl::StatusOr<Inventory> inv = FakeInventory("n1", "dgx-a100");
  EXPECT_TRUE(inv.ok()) << inv.status();
  SimClock clock(absl::FromUnixSeconds(1700000000));
  AgentState state("n1", *inv, "inc-1", clock, absl::Seconds(5));
  return state.Current();
}

pb::Allocation* AddAllocation(pb::NodeState& s, int gpu, int milli, int64_t memory) {
  pb::Allocation* a = s.add_allocations();
  a->set_pod_uid("uid-a");
  a->set_pod_namespace("ml");
  a->set_pod_name("a");
  pb::Share* sh = a->add_shares();
  sh->set_gpu(gpu);
  sh->set_milli(milli);
  sh->set_memory_mib(memory);
  return a;
}

TEST(WireTest, ValidNodeStatePasses) {
  pb::NodeState s = ValidState();
  ASSERT_EQ(s.gpus_size(), 8);
  ASSERT_TRUE(s.has_topology());
  EXPECT_EQ(s.sequence(), 1u);
  EXPECT_TRUE(ValidateNodeState(s).ok()) << ValidateNodeState(s);
  // With probes, usage and a reservation, still valid.
  pb::Probe* p = s.mutable_gpus(3)->mutable_probe();
  p->set_available_sm_fraction(0.5);
  p->set_headroom(0.4);
  p->set_occupancy(1.0);
  p->set_throughput_gflops(9000);
  s.mutable_gpus(3)->mutable_usage()->set_gpu_util_percent(100);
  AddAllocation(s, 3, 1000, 81920);
  EXPECT_TRUE(ValidateNodeState(s).ok()) << ValidateNodeState(s);
}

struct BadCase {
  std::string name;
  std::function<void(pb::NodeState&)> mutate;
  std::string field;  // must appear in the message
};

TEST(WireTest, MalformedMessagesAreRejectedNamingTheField) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const std::vector<BadCase> cases = {
      {"index mismatch", [](pb::NodeState& s) { s.mutable_gpus(2)->set_index(5); }, "gpus[2].index"},
      {"empty uuid", [](pb::NodeState& s) { s.mutable_gpus(1)->set_uuid(""); }, "gpus[1].uuid"},
      {"empty model", [](pb::NodeState& s) { s.mutable_gpus(0)->set_model(""); }, "gpus[0].model"},
      {"memory 0", [](pb::NodeState& s) { s.mutable_gpus(4)->set_memory_mib(0); }, "gpus[4].memory_mib"},
      {"memory too big",
       [](pb::NodeState& s) { s.mutable_gpus(4)->set_memory_mib(kMaxMemoryMiB + 1); }, "gpus[4].memory_mib"},
      {"NaN sm fraction",
       [nan](pb::NodeState& s) { s.mutable_gpus(0)->mutable_probe()->set_available_sm_fraction(nan); },
       "gpus[0].probe.available_sm_fraction"},
      {"negative headroom",
       [](pb::NodeState& s) { s.mutable_gpus(1)->mutable_probe()->set_headroom(-0.1); },
       "gpus[1].probe.headroom"},
      {"headroom over 1",
       [](pb::NodeState& s) { s.mutable_gpus(1)->mutable_probe()->set_headroom(1.01); },
       "gpus[1].probe.headroom"},
      {"occupancy infinite",
       [](pb::NodeState& s) {
         s.mutable_gpus(6)->mutable_probe()->set_occupancy(std::numeric_limits<double>::infinity());
       },
       "gpus[6].probe.occupancy"},
      {"negative gflops",
       [](pb::NodeState& s) { s.mutable_gpus(0)->mutable_probe()->set_throughput_gflops(-1); },
       "gpus[0].probe.throughput_gflops"},
      {"negative duration",
       [](pb::NodeState& s) { s.mutable_gpus(0)->mutable_probe()->set_duration_us(-1); },
       "gpus[0].probe.duration_us"},
      {"usage 150 %",
       [](pb::NodeState& s) { s.mutable_gpus(7)->mutable_usage()->set_gpu_util_percent(150); },
       "gpus[7].usage.gpu_util_percent"},
      {"usage NaN power",
       [nan](pb::NodeState& s) { s.mutable_gpus(7)->mutable_usage()->set_power_w(nan); },
       "gpus[7].usage.power_w"},
      {"topology bad link index",
       [](pb::NodeState& s) { s.mutable_topology()->mutable_links(0)->set_b(100000); }, "topology"},
      {"topology unknown device kind",
       [](pb::NodeState& s) {
         s.mutable_topology()->mutable_devices(3)->set_kind(static_cast<pb::TopologyDevice::Kind>(42));
       },
       "topology.devices[3].kind"},
      {"topology unknown link kind",
       [](pb::NodeState& s) {
         s.mutable_topology()->mutable_links(1)->set_kind(static_cast<pb::TopologyLink::Kind>(9));
       },
       "topology.links[1].kind"},
      {"topology NaN gbps",
       [nan](pb::NodeState& s) { s.mutable_topology()->mutable_links(2)->set_gbps(nan); },
       "topology.links[2].gbps"},
      {"topology gpu count mismatch", [](pb::NodeState& s) { s.mutable_gpus()->RemoveLast(); }, "topology"},
      {"allocation on a missing GPU", [](pb::NodeState& s) { AddAllocation(s, 8, 100, 0); },
       "allocations[0].shares[0].gpu"},
      {"allocation milli 1001", [](pb::NodeState& s) { AddAllocation(s, 1, 1001, 0); },
       "allocations[0].shares[0].milli"},
      {"allocation memory above the GPU's", [](pb::NodeState& s) { AddAllocation(s, 1, 100, 81921); },
       "allocations[0].shares[0].memory_mib"},
      {"allocation duplicate GPU",
       [](pb::NodeState& s) {
         pb::Share* dup = AddAllocation(s, 2, 100, 0)->add_shares();
         dup->set_gpu(2);
         dup->set_milli(100);
       },
       "allocations[0].shares[1].gpu"},
      {"allocation without shares",
       [](pb::NodeState& s) { AddAllocation(s, 2, 100, 0)->clear_shares(); }, "allocations[0].shares"},
      {"allocation unknown state",
       [](pb::NodeState& s) { AddAllocation(s, 2, 100, 0)->set_state(static_cast<pb::Allocation::State>(7)); },
       "allocations[0].state"},
      {"too many GPUs",
       [](pb::NodeState& s) {
         s.clear_topology();
         while (s.gpus_size() < kMaxGpus + 1) {
           pb::Gpu* g = s.add_gpus();
           *g = s.gpus(0);
           g->set_index(s.gpus_size() - 1);
         }
       },
       "gpus"},
      {"control character in node name", [](pb::NodeState& s) { s.set_node_name("n1\n"); }, "node_name"},
      {"control character in uuid", [](pb::NodeState& s) { s.mutable_gpus(0)->set_uuid("GPU-\x01"); },
       "gpus[0].uuid"},
      {"DEL in pci bus id", [](pb::NodeState& s) { s.mutable_gpus(0)->set_pci_bus_id("0000\x7f"); },
       "gpus[0].pci_bus_id"},
      {"300-byte model", [](pb::NodeState& s) { s.mutable_gpus(5)->set_model(std::string(300, 'm')); },
       "gpus[5].model"},
      {"300-byte incarnation", [](pb::NodeState& s) { s.set_incarnation(std::string(300, 'i')); },
       "incarnation"},
      {"empty node name", [](pb::NodeState& s) { s.set_node_name(""); }, "node_name"},
      {"sequence 0", [](pb::NodeState& s) { s.set_sequence(0); }, "sequence"},
      {"negative heartbeat", [](pb::NodeState& s) { s.set_heartbeat_ms(-1); }, "heartbeat_ms"},
  };
  for (const BadCase& c : cases) {
    SCOPED_TRACE(c.name);
    pb::NodeState s = ValidState();
    c.mutate(s);
    absl::Status st = ValidateNodeState(s);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
    EXPECT_THAT(std::string(st.message()), HasSubstr(c.field + ":")) << st;
    // InventoryFromState never accepts what ValidateNodeState refuses.
    EXPECT_FALSE(InventoryFromState(s).ok());
  }
}

TEST(WireTest, MessagesAtTheLimitsPass) {
  pb::NodeState s = ValidState();
  s.mutable_gpus(0)->set_model(std::string(kMaxString, 'm'));
  s.mutable_gpus(0)->set_memory_mib(kMaxMemoryMiB);
  s.mutable_gpus(0)->mutable_probe()->set_headroom(0);
  s.mutable_gpus(1)->mutable_probe()->set_headroom(1);
  s.mutable_gpus(1)->mutable_usage()->set_gpu_util_percent(100);
  AddAllocation(s, 7, 1000, 81920);
  EXPECT_TRUE(ValidateNodeState(s).ok()) << ValidateNodeState(s);

  // 64 GPUs without a topology.
  pb::NodeState big = ValidState();
  big.clear_topology();
  while (big.gpus_size() < kMaxGpus) {
    pb::Gpu* g = big.add_gpus();
    *g = big.gpus(0);
    g->set_index(big.gpus_size() - 1);
  }
  EXPECT_TRUE(ValidateNodeState(big).ok()) << ValidateNodeState(big);
}

// The reservation book publishes entries whose pod it does not know (reservations.h:
// identity-less allocated devices, pods adopted after a restart) with an empty pod_uid; the
// extender must still accept such a state, or one such entry blinds it to the whole node.
TEST(WireTest, AllocationsWithoutPodUidAreAcceptedOnceAllocated) {
  for (pb::Allocation::State state : {pb::Allocation::ALLOCATED, pb::Allocation::CONFIRMED}) {
    pb::NodeState s = ValidState();
    pb::Allocation* a = AddAllocation(s, 0, 250, 0);
    a->set_pod_uid("");
    a->set_state(state);
    EXPECT_TRUE(ValidateNodeState(s).ok()) << ValidateNodeState(s);
  }
  // A reservation is always for a known pod.
  pb::NodeState s = ValidState();
  AddAllocation(s, 0, 250, 0)->set_pod_uid("");
  absl::Status st = ValidateNodeState(s);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(st.message()), HasSubstr("allocations[0].pod_uid"));
}

TEST(WireTest, ReserveRequestValidation) {
  pb::ReserveRequest r;
  r.set_node_name("n1");
  r.set_pod_uid("uid-1");
  r.set_pod_namespace("ml");
  r.set_pod_name("a");
  pb::Share* sh = r.add_shares();
  sh->set_gpu(1);
  sh->set_milli(250);
  sh->set_memory_mib(8192);
  EXPECT_TRUE(ValidateReserveRequest(r).ok());

  struct Case {
    std::string name;
    std::function<void(pb::ReserveRequest&)> mutate;
    std::string field;
  };
  const std::vector<Case> cases = {
      {"no node", [](pb::ReserveRequest& r) { r.clear_node_name(); }, "node_name:"},
      {"no uid", [](pb::ReserveRequest& r) { r.clear_pod_uid(); }, "pod_uid:"},
      {"long name", [](pb::ReserveRequest& r) { r.set_pod_name(std::string(300, 'x')); }, "pod_name:"},
      {"no shares", [](pb::ReserveRequest& r) { r.clear_shares(); }, "shares:"},
      {"milli 2000", [](pb::ReserveRequest& r) { r.mutable_shares(0)->set_milli(2000); }, "shares[0].milli:"},
      {"gpu 99", [](pb::ReserveRequest& r) { r.mutable_shares(0)->set_gpu(99); }, "shares[0].gpu:"},
      {"gpu -1", [](pb::ReserveRequest& r) { r.mutable_shares(0)->set_gpu(-1); }, "shares[0].gpu:"},
      {"negative memory", [](pb::ReserveRequest& r) { r.mutable_shares(0)->set_memory_mib(-1); },
       "shares[0].memory_mib:"},
      {"empty share",
       [](pb::ReserveRequest& r) {
         r.mutable_shares(0)->set_milli(0);
         r.mutable_shares(0)->set_memory_mib(0);
       },
       "shares[0]:"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    pb::ReserveRequest bad = r;
    c.mutate(bad);
    absl::Status st = ValidateReserveRequest(bad);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
    EXPECT_THAT(std::string(st.message()), HasSubstr(c.field)) << st;
  }
}

TEST(WireTest, ShareRoundTrip) {
  framework::GpuShare share{DeviceIndex(3), GpuMilli(250), GpuMemMiB(8192)};
  pb::Share p;
  ShareToProto(share, &p);
  EXPECT_EQ(p.gpu(), 3);
  EXPECT_EQ(p.milli(), 250);
  EXPECT_EQ(p.memory_mib(), 8192);
  EXPECT_EQ(ShareFromProto(p), share);
}

TEST(WireTest, TopologyRoundTripKeepsEveryBandwidth) {
  for (const std::string& name : topology::PresetNames()) {
    SCOPED_TRACE(name);
    absl::StatusOr<topology::GpuTopology> t = topology::Preset(name);
    ASSERT_TRUE(t.ok()) << t.status();
    pb::Topology p;
    TopologyToProto(*t, &p);
    EXPECT_EQ(p.devices_size(), static_cast<int>(t->devices().size()));
    EXPECT_EQ(p.links_size(), static_cast<int>(t->links().size()));
    absl::StatusOr<topology::GpuTopology> back = TopologyFromProto(p);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(back->name(), t->name());
    ASSERT_EQ(back->gpu_count(), t->gpu_count());
    bool some_positive = false;
    for (int a = 0; a < t->gpu_count(); ++a) {
      EXPECT_EQ(back->NumaOf(a), t->NumaOf(a)) << "GPU " << a;
      for (int b = 0; b < t->gpu_count(); ++b) {
        EXPECT_DOUBLE_EQ(back->Bandwidth(a, b), t->Bandwidth(a, b)) << a << " -> " << b;
        EXPECT_EQ(back->Hops(a, b), t->Hops(a, b)) << a << " -> " << b;
        EXPECT_EQ(back->NvLinks(a, b), t->NvLinks(a, b)) << a << " -> " << b;
        some_positive |= a != b && t->Bandwidth(a, b) > 0;
      }
    }
    if (t->gpu_count() > 1) EXPECT_TRUE(some_positive);
  }
}

TEST(WireTest, TopologyFromProtoLimits) {
  pb::Topology p;
  for (int i = 0; i <= kMaxTopologyDevices; ++i) p.add_devices()->set_name("GPU");
  absl::StatusOr<topology::GpuTopology> t = TopologyFromProto(p);
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(t.status().message()), HasSubstr("topology.devices"));

  pb::Topology empty;
  EXPECT_FALSE(TopologyFromProto(empty).ok());  // no GPU at all
}

TEST(WireTest, InventoryFromStateCarriesHeadroom) {
  pb::NodeState s = ValidState();
  s.mutable_gpus(2)->mutable_probe()->set_headroom(0.4);
  s.mutable_gpus(2)->mutable_probe()->set_available_sm_fraction(0.5);
  s.mutable_gpus(5)->set_healthy(false);
  absl::StatusOr<AgentInventory> inv = InventoryFromState(s);
  ASSERT_TRUE(inv.ok()) << inv.status();
  ASSERT_EQ(inv->gpus.size(), 8u);
  for (int i = 0; i < 8; ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(inv->gpus[i].model, "NVIDIA-A100-SXM4-80GB");
    EXPECT_EQ(inv->gpus[i].memory.value(), 81920);
    EXPECT_DOUBLE_EQ(inv->gpus[i].headroom, i == 2 ? 0.4 : 1.0);
    EXPECT_EQ(inv->gpus[i].healthy, i != 5);
  }
  ASSERT_NE(inv->topology, nullptr);
  absl::StatusOr<topology::GpuTopology> preset = topology::Preset("dgx-a100");
  ASSERT_TRUE(preset.ok());
  EXPECT_EQ(inv->topology->gpu_count(), 8);
  EXPECT_DOUBLE_EQ(inv->topology->Bandwidth(0, 7), preset->Bandwidth(0, 7));

  s.clear_topology();
  inv = InventoryFromState(s);
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_EQ(inv->topology, nullptr);
}

TEST(WireTest, TopologyUnchangedUsesTheStreamsTopologyAndIsRefusedWithoutOne) {
  pb::NodeState s = ValidState();
  absl::StatusOr<AgentInventory> first = InventoryFromState(s, nullptr);
  ASSERT_TRUE(first.ok()) << first.status();
  s.clear_topology();
  s.set_topology_unchanged(true);
  EXPECT_TRUE(ValidateNodeState(s).ok());
  absl::StatusOr<AgentInventory> next = InventoryFromState(s, first->topology);
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->topology, first->topology);  // the same object: nothing rebuilt

  absl::StatusOr<AgentInventory> orphan = InventoryFromState(s, nullptr);
  EXPECT_FALSE(orphan.ok());
  EXPECT_THAT(std::string(orphan.status().message()),
              HasSubstr("topology_unchanged: no topology was sent earlier on this stream"));

  pb::NodeState both = ValidState();
  both.set_topology_unchanged(true);
  EXPECT_THAT(std::string(ValidateNodeState(both).message()),
              HasSubstr("topology_unchanged: set while topology is present"));

  pb::NodeState fewer = s;
  fewer.mutable_gpus()->RemoveLast();
  EXPECT_FALSE(InventoryFromState(fewer, first->topology).ok());
}

TEST(WireTest, InventoryFromStateReusesAKnownTopology) {
  const pb::NodeState s = ValidState();
  absl::StatusOr<AgentInventory> first = InventoryFromState(s, nullptr);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_NE(first->topology, nullptr);
  // The caller says the message's topology is the one it built before: no new one is built.
  absl::StatusOr<AgentInventory> again = InventoryFromState(s, first->topology);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->topology, first->topology);
  // A known topology of another size is not taken for this message's.
  absl::StatusOr<topology::GpuTopology> t4 = topology::Preset("pcie-4gpu-t4");
  ASSERT_TRUE(t4.ok());
  auto other = std::make_shared<const topology::GpuTopology>(*t4);
  absl::StatusOr<AgentInventory> rebuilt = InventoryFromState(s, other);
  ASSERT_TRUE(rebuilt.ok()) << rebuilt.status();
  EXPECT_NE(rebuilt->topology, other);
  EXPECT_EQ(rebuilt->topology->gpu_count(), 8);
  // The rest of the message is still checked when the topology is known.
  pb::NodeState bad = s;
  bad.mutable_gpus(1)->set_memory_mib(0);
  absl::StatusOr<AgentInventory> refused = InventoryFromState(bad, first->topology);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("gpus[1].memory_mib"));
  // Without a known topology, a broken one is refused.
  pb::NodeState broken = s;
  broken.mutable_topology()->mutable_links(0)->set_a(-5);
  EXPECT_FALSE(InventoryFromState(broken, nullptr).ok());
  EXPECT_TRUE(ValidateNodeState(broken, /*topology_known=*/true).ok());
  EXPECT_FALSE(ValidateNodeState(broken, /*topology_known=*/false).ok());
}

}  // namespace
}  // namespace gpusched::agent
