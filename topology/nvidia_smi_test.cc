#include "topology/nvidia_smi.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "topology/presets.h"

namespace gpusched::topology {
namespace {

using ::testing::HasSubstr;

std::string ReadTestdata(const std::string& file) {
  std::filesystem::path dir;
  if (const char* src = std::getenv("GPUSCHED_SOURCE_DIR"); src != nullptr && *src != '\0') {
    dir = std::filesystem::path(src) / "topology" / "testdata";
  } else {
    dir = std::filesystem::path(__FILE__).parent_path() / "testdata";
  }
  std::ifstream in(dir / file);
  EXPECT_TRUE(in.good()) << "cannot open " << (dir / file);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int CountKind(const GpuTopology& t, DeviceKind kind) {
  int n = 0;
  for (const Device& d : t.devices()) n += d.kind == kind;
  return n;
}

TEST(ParseNvidiaSmiTopo, Dgx1V100MatchesThePreset) {
  auto t = ParseNvidiaSmiTopo(ReadTestdata("dgx1_v100.txt"), "dgx1");
  ASSERT_TRUE(t.ok()) << t.status();
  auto preset = Preset("dgx1-v100");
  ASSERT_TRUE(preset.ok());
  EXPECT_EQ(t->name(), "dgx1");
  ASSERT_EQ(t->gpu_count(), 8);
  EXPECT_EQ(CountKind(*t, DeviceKind::kNic), 4);
  EXPECT_EQ(CountKind(*t, DeviceKind::kNvSwitch), 0);
  EXPECT_EQ(CountKind(*t, DeviceKind::kCpuSocket), 2);
  for (int a = 0; a < 8; ++a) {
    // No NUMA Affinity column: sockets inferred from SYS and the PCIe cells.
    EXPECT_EQ(t->NumaOf(a), a < 4 ? 0 : 1) << "GPU" << a;
    for (int b = 0; b < 8; ++b) {
      if (a == b) continue;
      EXPECT_EQ(t->NvLinks(a, b), preset->NvLinks(a, b)) << a << "-" << b;
      EXPECT_GT(t->Bandwidth(a, b), 0);
    }
  }
  EXPECT_GT(t->Bandwidth(0, 3), t->Bandwidth(0, 1));  // NV2 > NV1
  EXPECT_GT(t->Bandwidth(0, 1), t->Bandwidth(0, 5));  // NV1 > SYS
  EXPECT_DOUBLE_EQ(t->Bandwidth(0, 3), 50);
}

TEST(ParseNvidiaSmiTopo, DgxA100NvSwitchNicsAndNumaAffinity) {
  auto t = ParseNvidiaSmiTopo(ReadTestdata("dgx_a100.txt"));
  ASSERT_TRUE(t.ok()) << t.status();
  ASSERT_EQ(t->gpu_count(), 8);
  EXPECT_EQ(t->name(), "nvidia-smi");
  EXPECT_EQ(CountKind(*t, DeviceKind::kNic), 8);
  EXPECT_EQ(CountKind(*t, DeviceKind::kNvSwitch), 1);   // NV12 x 7 peers > 12 links: a switch
  EXPECT_EQ(CountKind(*t, DeviceKind::kCpuSocket), 4);  // NUMA Affinity 3, 1, 7, 5
  const int numa[] = {3, 3, 1, 1, 7, 7, 5, 5};
  for (int a = 0; a < 8; ++a) {
    EXPECT_EQ(t->NumaOf(a), numa[a]) << "GPU" << a;
    for (int b = 0; b < 8; ++b) {
      if (a == b) continue;
      EXPECT_EQ(t->NvLinks(a, b), 12);
      EXPECT_DOUBLE_EQ(t->Bandwidth(a, b), 300);
    }
  }
  // NIC names come from the NIC Legend.
  bool found = false;
  for (const Device& d : t->devices()) found = found || d.name == "mlx5_7";
  EXPECT_TRUE(found);
}

TEST(ParseNvidiaSmiTopo, DgxH100WithGpuNumaIdColumn) {
  auto t = ParseNvidiaSmiTopo(ReadTestdata("dgx_h100.txt"));
  ASSERT_TRUE(t.ok()) << t.status();
  ASSERT_EQ(t->gpu_count(), 8);
  EXPECT_EQ(CountKind(*t, DeviceKind::kNic), 8);
  EXPECT_EQ(CountKind(*t, DeviceKind::kCpuSocket), 2);
  for (int a = 0; a < 8; ++a) {
    EXPECT_EQ(t->NumaOf(a), a < 4 ? 0 : 1);
    for (int b = 0; b < 8; ++b) {
      if (a != b) {
        EXPECT_EQ(t->NvLinks(a, b), 18);
      }
    }
  }
  EXPECT_DOUBLE_EQ(t->Bandwidth(0, 7), 450);
}

TEST(ParseNvidiaSmiTopo, T4PixPxbSysAndNumaInferredFromSys) {
  auto t = ParseNvidiaSmiTopo(ReadTestdata("t4_4gpu.txt"));
  ASSERT_TRUE(t.ok()) << t.status();
  ASSERT_EQ(t->gpu_count(), 4);
  EXPECT_EQ(t->NvLinks(0, 1), 0);
  // NUMA Affinity is N/A: sockets from SYS.
  EXPECT_EQ(t->NumaOf(0), 0);
  EXPECT_EQ(t->NumaOf(1), 0);
  EXPECT_EQ(t->NumaOf(2), 1);
  EXPECT_EQ(t->NumaOf(3), 1);
  EXPECT_GT(t->Bandwidth(0, 1), t->Bandwidth(0, 2));  // PIX > SYS
  EXPECT_GT(t->Bandwidth(2, 3), t->Bandwidth(1, 3));  // PXB > SYS
  EXPECT_EQ(t->Hops(0, 1), 2);                        // GPU - switch - GPU
  EXPECT_EQ(t->Hops(2, 3), 4);                        // GPU - leaf - upper - leaf - GPU
  EXPECT_GT(t->Hops(0, 2), t->Hops(2, 3));
}

TEST(ParseNvidiaSmiTopo, NvPairsBeatPciePairs) {
  for (const char* file : {"dgx1_v100.txt", "dgx_a100.txt", "dgx_h100.txt"}) {
    SCOPED_TRACE(file);
    auto t = ParseNvidiaSmiTopo(ReadTestdata(file));
    ASSERT_TRUE(t.ok()) << t.status();
    double min_nv = 1e9, max_pcie = 0;
    for (int a = 0; a < t->gpu_count(); ++a) {
      for (int b = 0; b < t->gpu_count(); ++b) {
        if (a == b) continue;
        if (t->NvLinks(a, b) > 0) {
          min_nv = std::min(min_nv, t->Bandwidth(a, b));
        } else {
          max_pcie = std::max(max_pcie, t->Bandwidth(a, b));
        }
      }
    }
    EXPECT_GT(min_nv, max_pcie);
  }
}

TEST(ParseNvidiaSmiTopo, RelationsOrderPixPhbNodeSys) {
  // The header's own example layout, space separated, no NICs; every PCIe relation present.
  const std::string text =
      "        GPU0  GPU1  GPU2  GPU3  GPU4  CPU Affinity  NUMA Affinity\n"
      "GPU0     X    PIX   PHB   NODE  SYS   0-7           0\n"
      "GPU1    PIX    X    PHB   NODE  SYS   0-7           0\n"
      "GPU2    PHB   PHB    X    NODE  SYS   0-7           0\n"
      "GPU3    NODE  NODE  NODE   X    SYS   0-7           0\n"
      "GPU4    SYS   SYS   SYS   SYS    X    8-15          1\n";
  auto t = ParseNvidiaSmiTopo(text);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_GE(t->Bandwidth(0, 1), t->Bandwidth(0, 2));  // PIX >= PHB (both PCIe rate)
  EXPECT_LT(t->Hops(0, 1), t->Hops(0, 2) + 1);
  EXPECT_GT(t->Bandwidth(0, 2), t->Bandwidth(0, 3));  // PHB > NODE
  EXPECT_GT(t->Bandwidth(0, 3), t->Bandwidth(0, 4));  // NODE > SYS
  EXPECT_EQ(t->NumaOf(4), 1);
}

TEST(ParseNvidiaSmiTopo, GpuOnlyDgx1InfersSocketsFromSys) {
  const std::string text =
      "\tGPU0\tGPU1\tGPU2\tGPU3\tGPU4\tGPU5\tGPU6\tGPU7\tCPU Affinity\tNUMA Affinity\n"
      "GPU0\t X \tNV1\tNV1\tNV2\tNV2\tSYS\tSYS\tSYS\t0-19,40-59\tN/A\n"
      "GPU1\tNV1\t X \tNV2\tNV1\tSYS\tNV2\tSYS\tSYS\t0-19,40-59\tN/A\n"
      "GPU2\tNV1\tNV2\t X \tNV2\tSYS\tSYS\tNV1\tSYS\t0-19,40-59\tN/A\n"
      "GPU3\tNV2\tNV1\tNV2\t X \tSYS\tSYS\tSYS\tNV1\t0-19,40-59\tN/A\n"
      "GPU4\tNV2\tSYS\tSYS\tSYS\t X \tNV1\tNV1\tNV2\t20-39,60-79\tN/A\n"
      "GPU5\tSYS\tNV2\tSYS\tSYS\tNV1\t X \tNV2\tNV1\t20-39,60-79\tN/A\n"
      "GPU6\tSYS\tSYS\tNV1\tSYS\tNV1\tNV2\t X \tNV2\t20-39,60-79\tN/A\n"
      "GPU7\tSYS\tSYS\tSYS\tNV1\tNV2\tNV1\tNV2\t X \t20-39,60-79\tN/A\n";
  auto t = ParseNvidiaSmiTopo(text);
  ASSERT_TRUE(t.ok()) << t.status();
  for (int a = 0; a < 8; ++a) EXPECT_EQ(t->NumaOf(a), a < 4 ? 0 : 1) << "GPU" << a;
  EXPECT_GT(t->Bandwidth(0, 5), 0);
  EXPECT_LT(t->Bandwidth(0, 5), t->Bandwidth(0, 1));
}

TEST(ParseNvidiaSmiTopo, AcceptsAnsiHeaderCrLfAndSoc) {
  const std::string text =
      "\x1b[4m\tGPU0\tGPU1\tCPU Affinity\x1b[0m\r\n"
      "GPU0\t X \tSOC\t0-7\r\n"
      "GPU1\tSOC\t X \t8-15\r\n"
      "\r\n"
      "Legend:\r\n"
      "  X   = Self\r\n";
  auto t = ParseNvidiaSmiTopo(text);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->gpu_count(), 2);
  EXPECT_NE(t->NumaOf(0), t->NumaOf(1));
}

TEST(ParseNvidiaSmiTopo, SmallNvMeshStaysDirect) {
  // 4 GPUs pairwise NV4 (12 links each): direct links, not a switch.
  const std::string text =
      "      GPU0  GPU1  GPU2  GPU3\n"
      "GPU0   X    NV4   NV4   NV4\n"
      "GPU1  NV4    X    NV4   NV4\n"
      "GPU2  NV4   NV4    X    NV4\n"
      "GPU3  NV4   NV4   NV4    X\n";
  auto t = ParseNvidiaSmiTopo(text);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(CountKind(*t, DeviceKind::kNvSwitch), 0);
  EXPECT_EQ(t->NvLinks(0, 3), 4);
  EXPECT_DOUBLE_EQ(t->Bandwidth(0, 3), 100);
  EXPECT_EQ(t->Hops(0, 3), 1);
}

struct BadCase {
  std::string name;
  std::string text;
  std::string message;
};

TEST(ParseNvidiaSmiTopo, ErrorsNameTheLineAndToken) {
  const std::string hdr = "\tGPU0\tGPU1\tGPU2\tNIC0\tCPU Affinity\tNUMA Affinity\n";
  const std::vector<BadCase> cases = {
      {"unknown cell", hdr + "GPU0\t X \tNV1\tNV\tPIX\t0-7\t0\n",
       "line 2: unknown cell \"NV\" (column GPU2)"},
      {"garbage cell", "\n" + hdr + "GPU0\t X \tNV1\tFOO\tPIX\t0-7\t0\n",
       "line 3: unknown cell \"FOO\" (column GPU2)"},
      {"short row", hdr + "GPU0\t X \tNV1\n", "line 2: row \"GPU0\" has 2 cells, expected 4"},
      {"unknown row", hdr + "GPU9\t X \tNV1\tSYS\tPIX\n", "line 2: row \"GPU9\""},
      {"missing row", hdr + "GPU0\t X \tNV1\tSYS\tPIX\t0-7\t0\n",
       "line 1: no row for column \"GPU1\""},
      {"bad numa", hdr + "GPU0\t X \tNV1\tSYS\tPIX\t0-7\tzero\n",
       "line 2: bad NUMA Affinity \"zero\""},
      {"diagonal", hdr + "GPU0\tPIX\tNV1\tSYS\tPIX\t0-7\t0\n", "should be X on the diagonal"},
      {"nv to nic", hdr + "GPU0\t X \tNV1\tSYS\tNV2\t0-7\t0\n", "NVLink between non-GPU devices"},
      {"empty", "\n\n", "empty"},
      {"no gpu", "\tNIC0\n NIC0\t X \n", "header names no GPU column"},
      {"asymmetric",
       "\tGPU0\tGPU1\n"
       "GPU0\t X \tPIX\n"
       "GPU1\tPXB\t X \n",
       "line 3: cell \"PXB\" (column GPU0) differs from \"PIX\" at line 2"},
      {"contradiction",
       // 0 PIX 1, 1 PIX 2, but 0 SYS 2.
       "\tGPU0\tGPU1\tGPU2\n"
       "GPU0\t X \tPIX\tSYS\n"
       "GPU1\tPIX\t X \tPIX\n"
       "GPU2\tSYS\tPIX\t X \n",
       "line 4: cell \"SYS\" (column GPU0) contradicts the other cells, which imply PIX"},
      {"numa contradiction",
       "\tGPU0\tGPU1\tCPU Affinity\tNUMA Affinity\n"
       "GPU0\t X \tPIX\t0-7\t0\n"
       "GPU1\tPIX\t X \t8-15\t1\n",
       "line 3: NUMA Affinity \"1\" of GPU1 contradicts the cells"},
      {"trailing token",
       "\tGPU0\tGPU1\tCPU Affinity\n"
       "GPU0\t X \tPIX\t0-7\textra\n"
       "GPU1\tPIX\t X \t0-7\n",
       "line 2: unexpected token \"extra\""},
  };
  for (const BadCase& c : cases) {
    SCOPED_TRACE(c.name);
    auto t = ParseNvidiaSmiTopo(c.text);
    ASSERT_FALSE(t.ok());
    EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(t.status().message()), HasSubstr(c.message));
  }
}

}  // namespace
}  // namespace gpusched::topology
