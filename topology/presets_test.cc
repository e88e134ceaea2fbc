#include "topology/presets.h"

#include <string>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gpusched::topology {
namespace {

using ::testing::HasSubstr;

TEST(Preset, EveryPresetBuildsAndEveryGpuPairIsConnected) {
  ASSERT_GE(PresetNames().size(), 7u);
  for (const std::string& name : PresetNames()) {
    SCOPED_TRACE(name);
    auto t = Preset(name);
    ASSERT_TRUE(t.ok()) << t.status();
    EXPECT_EQ(t->name(), name);
    ASSERT_GE(t->gpu_count(), 2);
    for (int a = 0; a < t->gpu_count(); ++a) {
      EXPECT_GE(t->NumaOf(a), 0) << "GPU" << a;
      for (int b = 0; b < t->gpu_count(); ++b) {
        if (a == b) continue;
        EXPECT_GT(t->Bandwidth(a, b), 0) << a << "-" << b;
        EXPECT_DOUBLE_EQ(t->Bandwidth(a, b), t->Bandwidth(b, a)) << a << "-" << b;
        EXPECT_EQ(t->Hops(a, b), t->Hops(b, a)) << a << "-" << b;
        EXPECT_GE(t->Hops(a, b), 1);
      }
    }
  }
}

TEST(Preset, UnknownNameListsTheKnownOnes) {
  auto t = Preset("dgx-9000");
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(t.status().message()), HasSubstr("dgx1-v100"));
  EXPECT_THAT(std::string(t.status().message()), HasSubstr("dgx-9000"));
}

TEST(Preset, Dgx1V100HybridCubeMesh) {
  auto t = Preset("dgx1-v100");
  ASSERT_TRUE(t.ok()) << t.status();
  ASSERT_EQ(t->gpu_count(), 8);
  // Double link > single link > no NVLink (PCIe across sockets).
  EXPECT_DOUBLE_EQ(t->Bandwidth(0, 3), 50);
  EXPECT_DOUBLE_EQ(t->Bandwidth(0, 1), 25);
  EXPECT_GT(t->Bandwidth(0, 3), t->Bandwidth(0, 1));
  EXPECT_GT(t->Bandwidth(0, 1), t->Bandwidth(0, 5));
  EXPECT_GT(t->Bandwidth(0, 5), 0);
  EXPECT_LT(t->Bandwidth(0, 5), 16);
  // Each GPU: 6 NVLinks to 4 peers; the quads are fully connected.
  for (int a = 0; a < 8; ++a) {
    int links = 0, peers = 0;
    for (int b = 0; b < 8; ++b) {
      if (a == b) continue;
      links += t->NvLinks(a, b);
      peers += t->NvLinks(a, b) > 0;
      EXPECT_EQ(t->NvLinks(a, b), t->NvLinks(b, a));
      if (a / 4 == b / 4) {
        EXPECT_GT(t->NvLinks(a, b), 0) << a << "-" << b;
      }
    }
    EXPECT_EQ(links, 6) << "GPU" << a;
    EXPECT_EQ(peers, 4) << "GPU" << a;
    EXPECT_EQ(t->NumaOf(a), a < 4 ? 0 : 1);
    EXPECT_GT(t->NvLinks(a, (a + 4) % 8), 0);
  }
  EXPECT_EQ(t->NvLinks(0, 4), 2);
  EXPECT_EQ(t->NvLinks(1, 5), 2);
  EXPECT_EQ(t->NvLinks(2, 6), 1);
  EXPECT_EQ(t->NvLinks(3, 7), 1);
  EXPECT_EQ(t->NvLinks(0, 5), 0);
}

TEST(Preset, Pcie8GpuSwitchBeatsSocketBeatsCrossSocket) {
  auto t = Preset("pcie-8gpu");
  ASSERT_TRUE(t.ok()) << t.status();
  ASSERT_EQ(t->gpu_count(), 8);
  const double same_switch = t->Bandwidth(0, 1);
  const double same_socket = t->Bandwidth(0, 2);
  const double cross_socket = t->Bandwidth(0, 4);
  EXPECT_NEAR(same_switch, 31.5, 0.01);
  EXPECT_GT(same_switch, same_socket);
  EXPECT_GT(same_socket, cross_socket);
  EXPECT_GT(cross_socket, 0);
  EXPECT_LT(t->Hops(0, 1), t->Hops(0, 2));
  EXPECT_LT(t->Hops(0, 2), t->Hops(0, 4));
  EXPECT_EQ(t->NvLinks(0, 1), 0);
  EXPECT_EQ(t->NumaOf(1), 0);
  EXPECT_EQ(t->NumaOf(6), 1);
}

TEST(Preset, NvSwitchSystemsGiveEveryPairTheFullGpuBandwidth) {
  struct Case {
    std::string name;
    int gpus;
    double gbps;
    int nvlinks;
  };
  for (const Case& c : {Case{"dgx-a100", 8, 300, 12}, Case{"hgx-h100", 8, 450, 18},
                        Case{"gb200-nvl72", 4, 900, 18}}) {
    SCOPED_TRACE(c.name);
    auto t = Preset(c.name);
    ASSERT_TRUE(t.ok()) << t.status();
    ASSERT_EQ(t->gpu_count(), c.gpus);
    for (int a = 0; a < c.gpus; ++a) {
      for (int b = 0; b < c.gpus; ++b) {
        if (a == b) continue;
        EXPECT_DOUBLE_EQ(t->Bandwidth(a, b), c.gbps);
        EXPECT_EQ(t->NvLinks(a, b), c.nvlinks);
        EXPECT_EQ(t->Hops(a, b), 2);
      }
      EXPECT_EQ(t->NumaOf(a), a < c.gpus / 2 ? 0 : 1);
    }
  }
}

TEST(Preset, NicsWhereTheHeaderSaysSo) {
  for (const auto& [name, nics] :
       {std::pair<std::string, int>{"dgx-a100", 8}, {"hgx-h100", 8}, {"dgx1-v100", 4}}) {
    SCOPED_TRACE(name);
    auto t = Preset(name);
    ASSERT_TRUE(t.ok()) << t.status();
    int count = 0;
    for (const Device& d : t->devices()) count += d.kind == DeviceKind::kNic;
    EXPECT_EQ(count, nics);
  }
}

TEST(Preset, PcieSmallBoxes) {
  auto t4 = Preset("pcie-4gpu-t4");
  ASSERT_TRUE(t4.ok()) << t4.status();
  EXPECT_EQ(t4->gpu_count(), 4);
  EXPECT_GT(t4->Bandwidth(0, 1), t4->Bandwidth(0, 2));
  EXPECT_NEAR(t4->Bandwidth(0, 1), 15.76, 0.01);
  EXPECT_EQ(t4->NumaOf(3), 1);
  auto a10 = Preset("pcie-2gpu-a10");
  ASSERT_TRUE(a10.ok()) << a10.status();
  EXPECT_EQ(a10->gpu_count(), 2);
  EXPECT_GT(a10->Bandwidth(0, 1), 0);
  EXPECT_LT(a10->Bandwidth(0, 1), 31.5);  // through the root complex, below x16 gen4
  EXPECT_EQ(a10->NumaOf(1), 0);
}

}  // namespace
}  // namespace gpusched::topology
