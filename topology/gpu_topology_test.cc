#include "topology/gpu_topology.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gpusched::topology {
namespace {

using ::testing::HasSubstr;

Device Dev(DeviceKind kind, std::string name, int numa = -1) {
  return Device{kind, std::move(name), numa};
}

Link Nv(int a, int b, int count, int gen = 3) {
  Link l;
  l.a = a;
  l.b = b;
  l.kind = LinkKind::kNvLink;
  l.count = count;
  l.generation = gen;
  return l;
}

Link Pcie(int a, int b, int gen = 4, int width = 16) {
  Link l;
  l.a = a;
  l.b = b;
  l.kind = LinkKind::kPcie;
  l.generation = gen;
  l.width = width;
  return l;
}

Link Gbps(int a, int b, double gbps, LinkKind kind = LinkKind::kPcie) {
  Link l;
  l.a = a;
  l.b = b;
  l.kind = kind;
  l.gbps = gbps;
  return l;
}

TEST(DefaultLinkGbps, NvLinkPerGenerationTimesCount) {
  EXPECT_DOUBLE_EQ(DefaultLinkGbps(Nv(0, 1, 1, 2)), 25);
  EXPECT_DOUBLE_EQ(DefaultLinkGbps(Nv(0, 1, 12, 3)), 300);
  EXPECT_DOUBLE_EQ(DefaultLinkGbps(Nv(0, 1, 18, 4)), 450);
  EXPECT_DOUBLE_EQ(DefaultLinkGbps(Nv(0, 1, 18, 5)), 900);
}

TEST(DefaultLinkGbps, PciePerLaneTimesWidth) {
  EXPECT_NEAR(DefaultLinkGbps(Pcie(0, 1, 3, 16)), 15.76, 0.01);
  EXPECT_NEAR(DefaultLinkGbps(Pcie(0, 1, 4, 16)), 31.5, 0.01);
  EXPECT_NEAR(DefaultLinkGbps(Pcie(0, 1, 5, 16)), 63.0, 0.01);
  EXPECT_NEAR(DefaultLinkGbps(Pcie(0, 1, 4, 8)), 15.75, 0.01);
}

TEST(DefaultLinkGbps, InterSocketDefaultsTo40AndExplicitWins) {
  Link l;
  l.kind = LinkKind::kInterSocket;
  EXPECT_DOUBLE_EQ(DefaultLinkGbps(l), 40);
  l.gbps = 12.5;
  EXPECT_DOUBLE_EQ(DefaultLinkGbps(l), 12.5);
}

// A -NV- B -NV- C, all three on one PCIe switch: A-C must not borrow B's NVLinks.
TEST(GpuTopology, BandwidthNeverRoutesThroughAThirdGpu) {
  std::vector<Device> d = {Dev(DeviceKind::kGpu, "A"), Dev(DeviceKind::kGpu, "B"),
                           Dev(DeviceKind::kGpu, "C"), Dev(DeviceKind::kPcieSwitch, "SW"),
                           Dev(DeviceKind::kCpuSocket, "CPU0", 0)};
  std::vector<Link> l = {Nv(0, 1, 4), Nv(1, 2, 4), Pcie(0, 3), Pcie(1, 3), Pcie(2, 3), Pcie(3, 4)};
  auto t = GpuTopology::Create("chain", d, l);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_DOUBLE_EQ(t->Bandwidth(0, 1), 100);
  EXPECT_DOUBLE_EQ(t->Bandwidth(1, 2), 100);
  EXPECT_NEAR(t->Bandwidth(0, 2), 31.5, 0.01);  // PCIe, not 100 via B
  EXPECT_EQ(t->Hops(0, 2), 2);
  EXPECT_EQ(t->NvLinks(0, 2), 0);
  EXPECT_EQ(t->NvLinks(0, 1), 4);
}

TEST(GpuTopology, ChainWithoutAnyOtherPathHasZeroBandwidth) {
  std::vector<Device> d = {Dev(DeviceKind::kGpu, "A"), Dev(DeviceKind::kGpu, "B"),
                           Dev(DeviceKind::kGpu, "C")};
  auto t = GpuTopology::Create("chain", d, {Nv(0, 1, 1), Nv(1, 2, 1)});
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_DOUBLE_EQ(t->Bandwidth(0, 2), 0);
  EXPECT_EQ(t->Hops(0, 2), -1);
  EXPECT_EQ(t->NumaOf(0), -1);
}

TEST(GpuTopology, WidestPathPicksTheWiderOfTwoRoutes) {
  // A - S1 - B narrow (10 then 50), A - S2 - S3 - B wide (30, 30, 30).
  std::vector<Device> d = {Dev(DeviceKind::kGpu, "A"), Dev(DeviceKind::kGpu, "B"),
                           Dev(DeviceKind::kPcieSwitch, "S1"), Dev(DeviceKind::kPcieSwitch, "S2"),
                           Dev(DeviceKind::kPcieSwitch, "S3")};
  std::vector<Link> l = {Gbps(0, 2, 10), Gbps(2, 1, 50), Gbps(0, 3, 30), Gbps(3, 4, 30),
                         Gbps(4, 1, 30)};
  auto t = GpuTopology::Create("two-routes", d, l);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_DOUBLE_EQ(t->Bandwidth(0, 1), 30);
  EXPECT_DOUBLE_EQ(t->Bandwidth(1, 0), 30);
  EXPECT_EQ(t->Hops(0, 1), 3);  // the wide route, though longer
}

TEST(GpuTopology, HopsBreakTiesBetweenEquallyWideRoutes) {
  std::vector<Device> d = {Dev(DeviceKind::kGpu, "A"), Dev(DeviceKind::kGpu, "B"),
                           Dev(DeviceKind::kPcieSwitch, "S1"), Dev(DeviceKind::kPcieSwitch, "S2"),
                           Dev(DeviceKind::kPcieSwitch, "S3")};
  std::vector<Link> l = {Gbps(0, 3, 30), Gbps(3, 4, 30), Gbps(4, 1, 30), Gbps(0, 2, 30),
                         Gbps(2, 1, 30)};
  auto t = GpuTopology::Create("ties", d, l);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_DOUBLE_EQ(t->Bandwidth(0, 1), 30);
  EXPECT_EQ(t->Hops(0, 1), 2);
}

TEST(GpuTopology, ParallelLinksBond) {
  std::vector<Device> d = {Dev(DeviceKind::kGpu, "A"), Dev(DeviceKind::kGpu, "B"),
                           Dev(DeviceKind::kPcieSwitch, "S")};
  // Two NV1 links between A and B make an NV2; two x8 PCIe links to the switch make an x16.
  std::vector<Link> l = {Nv(0, 1, 1, 2), Nv(1, 0, 1, 2), Pcie(0, 2, 4, 8), Pcie(0, 2, 4, 8),
                         Pcie(1, 2)};
  auto t = GpuTopology::Create("bond", d, l);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_DOUBLE_EQ(t->Bandwidth(0, 1), 50);
  EXPECT_EQ(t->NvLinks(0, 1), 2);
  EXPECT_EQ(t->Hops(0, 1), 1);
}

TEST(GpuTopology, DirectNvLinkWinsOverAWiderSwitchPath) {
  std::vector<Device> d = {Dev(DeviceKind::kGpu, "A"), Dev(DeviceKind::kGpu, "B"),
                           Dev(DeviceKind::kPcieSwitch, "S")};
  auto t = GpuTopology::Create("direct", d, {Nv(0, 1, 1, 2), Gbps(0, 2, 60), Gbps(1, 2, 60)});
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_DOUBLE_EQ(t->Bandwidth(0, 1), 25);
}

TEST(GpuTopology, NvSwitchForwardsAndCountsAsNvLinks) {
  std::vector<Device> d = {Dev(DeviceKind::kGpu, "A"), Dev(DeviceKind::kGpu, "B"),
                           Dev(DeviceKind::kGpu, "C"), Dev(DeviceKind::kNvSwitch, "NVS")};
  auto t = GpuTopology::Create("nvs", d, {Nv(0, 3, 12), Nv(1, 3, 12), Nv(2, 3, 6)});
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_DOUBLE_EQ(t->Bandwidth(0, 1), 300);
  EXPECT_DOUBLE_EQ(t->Bandwidth(0, 2), 150);
  EXPECT_EQ(t->Hops(0, 1), 2);
  EXPECT_EQ(t->NvLinks(0, 1), 12);
  EXPECT_EQ(t->NvLinks(2, 0), 6);
}

TEST(GpuTopology, NicsDoNotForward) {
  std::vector<Device> d = {Dev(DeviceKind::kGpu, "A"), Dev(DeviceKind::kGpu, "B"),
                           Dev(DeviceKind::kNic, "mlx5_0")};
  auto t = GpuTopology::Create("nic", d, {Pcie(0, 2), Pcie(1, 2)});
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_DOUBLE_EQ(t->Bandwidth(0, 1), 0);
}

TEST(GpuTopology, NumaFromDeviceElseNearestSocket) {
  std::vector<Device> d = {
      Dev(DeviceKind::kGpu, "G0", 5),       Dev(DeviceKind::kGpu, "G1"),
      Dev(DeviceKind::kGpu, "G2"),          Dev(DeviceKind::kCpuSocket, "C0", 0),
      Dev(DeviceKind::kCpuSocket, "C1", 1), Dev(DeviceKind::kPcieSwitch, "S")};
  // G1 under S under C1 (2 hops to C1, 3 to C0); G2 directly on C0.
  std::vector<Link> l = {Pcie(0, 3), Pcie(1, 5), Pcie(5, 4), Pcie(2, 3),
                         Gbps(3, 4, 40, LinkKind::kInterSocket)};
  auto t = GpuTopology::Create("numa", d, l);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->NumaOf(0), 5);
  EXPECT_EQ(t->NumaOf(1), 1);
  EXPECT_EQ(t->NumaOf(2), 0);
  EXPECT_EQ(t->NumaOf(3), -1);
}

TEST(GpuTopology, GpusNumberedInDeviceOrderAndSymmetric) {
  std::vector<Device> d = {Dev(DeviceKind::kPcieSwitch, "S"), Dev(DeviceKind::kGpu, "X"),
                           Dev(DeviceKind::kNic, "N"), Dev(DeviceKind::kGpu, "Y")};
  auto t = GpuTopology::Create("order", d, {Pcie(1, 0, 3), Pcie(3, 0, 4), Pcie(2, 0)});
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->gpu_count(), 2);
  EXPECT_NEAR(t->Bandwidth(0, 1), 15.76, 0.01);  // gen3 side is the bottleneck
  EXPECT_DOUBLE_EQ(t->Bandwidth(0, 1), t->Bandwidth(1, 0));
  EXPECT_DOUBLE_EQ(t->Bandwidth(0, 0), 0);
  EXPECT_EQ(t->Hops(1, 1), 0);
  EXPECT_EQ(t->name(), "order");
  EXPECT_EQ(t->devices().size(), 4u);
  EXPECT_GT(t->links()[0].gbps, 0);  // derived bandwidth is stored
}

TEST(GpuTopology, OutOfRangeQueriesAreNeutral) {
  auto t = GpuTopology::Create("one", {Dev(DeviceKind::kGpu, "A")}, {});
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_DOUBLE_EQ(t->Bandwidth(0, 7), 0);
  EXPECT_EQ(t->Hops(-1, 0), -1);
  EXPECT_EQ(t->NumaOf(3), -1);
  EXPECT_EQ(t->NvLinks(0, 9), 0);
}

struct BadCase {
  std::string name;
  std::vector<Device> devices;
  std::vector<Link> links;
  std::string message;
};

TEST(GpuTopology, ValidationErrorsNameTheIndex) {
  const std::vector<Device> two = {Dev(DeviceKind::kGpu, "A"), Dev(DeviceKind::kGpu, "B")};
  Link bad_nv_gen = Nv(0, 1, 1, 9);
  Link zero_count = Nv(0, 1, 0);
  Link negative = Gbps(0, 1, -3);
  Link zero_width = Pcie(0, 1, 4, 0);
  const std::vector<BadCase> cases = {
      {"out of range",
       two,
       {Pcie(0, 1), Pcie(0, 1), Pcie(0, 1), Pcie(0, 12)},
       "links[3]: device 12 out of range"},
      {"negative index", two, {Pcie(-1, 1)}, "links[0]: device -1 out of range"},
      {"self link", two, {Pcie(0, 1), Pcie(1, 1)}, "links[1]: self link"},
      {"negative bandwidth", two, {negative}, "links[0]: non-positive bandwidth"},
      {"unknown generation", two, {bad_nv_gen}, "links[0]: non-positive bandwidth"},
      {"zero count", two, {zero_count}, "links[0]: count 0"},
      {"zero width", two, {zero_width}, "links[0]: PCIe width 0"},
      {"no gpu", {Dev(DeviceKind::kCpuSocket, "C")}, {}, "no GPU"},
      {"bad numa", {Dev(DeviceKind::kGpu, "A", -4)}, {}, "devices[0]: numa -4"},
  };
  for (const BadCase& c : cases) {
    SCOPED_TRACE(c.name);
    auto t = GpuTopology::Create("bad", c.devices, c.links);
    ASSERT_FALSE(t.ok());
    EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(t.status().message()), HasSubstr(c.message));
  }
}

}  // namespace
}  // namespace gpusched::topology
