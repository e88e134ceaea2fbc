#include "topology/device_set_search.h"

#include <algorithm>
#include <bit>
#include <cstdint>
#include <numeric>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "topology/gpu_topology.h"
#include "topology/presets.h"
#include "test/fakes/topologies.h"

namespace gpusched::topology {
namespace {

using ::testing::AnyOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::vector<int> Iota(int n) {
  std::vector<int> v(n);
  std::iota(v.begin(), v.end(), 0);
  return v;
}

GpuTopology MustPreset(const std::string& name) {
  absl::StatusOr<GpuTopology> t = Preset(name);
  EXPECT_TRUE(t.ok()) << t.status();
  return *std::move(t);
}

DeviceSet MustBest(const GpuTopology& t, const std::vector<int>& free, int k,
                   const SearchOptions& options = {}) {
  absl::StatusOr<DeviceSet> s = BestDeviceSet(t, free, k, options);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *std::move(s) : DeviceSet{};
}

using Builder = ::gpusched::testing::TopologyBuilder;
using ::gpusched::testing::NvlDomain;
using ::gpusched::testing::TwoCubeMeshes;

// `gpus` GPUs behind PCIe switches of `per_switch` GPUs each, `switches_per_socket` switches per
// socket, sockets joined by one inter-socket link. Same-switch 24 GB/s, switch uplinks 12 GB/s.
GpuTopology PcieBox(int gpus, int per_switch, int switches_per_socket) {
  Builder b;
  for (int g = 0; g < gpus; ++g) b.Add(DeviceKind::kGpu, absl::StrCat("GPU", g));
  const int switches = gpus / per_switch;
  const int sockets = switches / switches_per_socket;
  std::vector<int> cpu;
  for (int s = 0; s < sockets; ++s)
    cpu.push_back(b.Add(DeviceKind::kCpuSocket, absl::StrCat("CPU", s), s));
  for (int s = 1; s < sockets; ++s) b.Connect(cpu[0], cpu[s], LinkKind::kInterSocket, 8);
  for (int w = 0; w < switches; ++w) {
    const int sw = b.Add(DeviceKind::kPcieSwitch, absl::StrCat("PLX", w));
    b.Connect(sw, cpu[w / switches_per_socket], LinkKind::kPcie, 12);
    for (int g = w * per_switch; g < (w + 1) * per_switch; ++g)
      b.Connect(g, sw, LinkKind::kPcie, 24);
  }
  return b.Build("pcie-box");
}

// ---------------------------------------------------------------------------------------------
// dgx1-v100: hybrid cube-mesh.

void ExpectAllPairsNvLinked(const GpuTopology& t, const std::vector<int>& gpus) {
  for (size_t a = 0; a < gpus.size(); ++a)
    for (size_t b = a + 1; b < gpus.size(); ++b)
      EXPECT_GT(t.NvLinks(gpus[a], gpus[b]), 0) << "GPU" << gpus[a] << "-GPU" << gpus[b];
}

TEST(BestDeviceSet, Dgx1FourOfEightIsAFullyNvLinkedQuad) {
  const GpuTopology t = MustPreset("dgx1-v100");
  const DeviceSet s = MustBest(t, Iota(8), 4);
  EXPECT_THAT(s.gpus, AnyOf(ElementsAre(0, 1, 2, 3), ElementsAre(4, 5, 6, 7)));
  ExpectAllPairsNvLinked(t, s.gpus);
  EXPECT_EQ(s.sockets, 1);
  EXPECT_GT(s.min_bandwidth, 0);
  EXPECT_GE(s.ring_bandwidth, s.min_bandwidth);
}

TEST(BestDeviceSet, Dgx1PairUsesADoubleNvLink) {
  const GpuTopology t = MustPreset("dgx1-v100");
  struct Case {
    std::string name;
    std::vector<int> free;
  };
  const std::vector<Case> cases = {
      {"all free", Iota(8)},
      {"GPUs 0 and 4 busy", {1, 2, 3, 5, 6, 7}},
      {"only GPU 3 of the first quad busy", {0, 1, 2, 4, 5, 6, 7}},
  };
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.name);
    const DeviceSet s = MustBest(t, tc.free, 2);
    ASSERT_EQ(s.gpus.size(), 2u);
    EXPECT_EQ(t.NvLinks(s.gpus[0], s.gpus[1]), 2);
    EXPECT_EQ(s.min_bandwidth, t.Bandwidth(s.gpus[0], s.gpus[1]));
    for (int g : s.gpus) EXPECT_NE(std::find(tc.free.begin(), tc.free.end(), g), tc.free.end());
  }
}

TEST(BestDeviceSet, Dgx1ThreeStayInsideOneQuad) {
  const GpuTopology t = MustPreset("dgx1-v100");
  const DeviceSet s = MustBest(t, Iota(8), 3);
  ASSERT_EQ(s.gpus.size(), 3u);
  const bool low = s.gpus.back() <= 3;
  const bool high = s.gpus.front() >= 4;
  EXPECT_TRUE(low || high) << s.gpus[0] << "," << s.gpus[1] << "," << s.gpus[2];
  ExpectAllPairsNvLinked(t, s.gpus);
}

TEST(BestDeviceSet, Dgx1SingleGpuDoesNotBreakAFreeQuad) {
  const GpuTopology t = MustPreset("dgx1-v100");
  // Quad 0-3 is whole; GPU 5 is loose. Taking any of 0-3 would leave no NVLink quad.
  EXPECT_THAT(MustBest(t, {0, 1, 2, 3, 5}, 1).gpus, ElementsAre(5));
  EXPECT_THAT(MustBest(t, {5, 3, 2, 1, 0}, 1).gpus, ElementsAre(5));  // order of `free` is free
  // The same on the other quad, loose GPU 2.
  EXPECT_THAT(MustBest(t, {2, 4, 5, 6, 7}, 1).gpus, ElementsAre(2));
}

TEST(BestDeviceSet, Dgx1PairLeavesTheOtherQuadWhole) {
  const GpuTopology t = MustPreset("dgx1-v100");
  // GPU 0 is busy: the pair should come out of the broken quad 1-3, keeping 4-7 whole.
  const DeviceSet s = MustBest(t, {1, 2, 3, 4, 5, 6, 7}, 2);
  ASSERT_EQ(s.gpus.size(), 2u);
  EXPECT_EQ(t.NvLinks(s.gpus[0], s.gpus[1]), 2);
  EXPECT_LE(s.gpus[1], 3);
}

TEST(BestDeviceSet, Dgx1AllEightSpanBothSockets) {
  const GpuTopology t = MustPreset("dgx1-v100");
  const DeviceSet s = MustBest(t, Iota(8), 8);
  EXPECT_EQ(s.gpus, Iota(8));
  EXPECT_EQ(s.sockets, 2);
  // Every GPU has 4 NVLink peers, so an all-NVLink ring of 8 exists.
  double slowest_nvlink = 1e300;
  for (int a = 0; a < 8; ++a)
    for (int b = a + 1; b < 8; ++b)
      if (t.NvLinks(a, b) > 0) slowest_nvlink = std::min(slowest_nvlink, t.Bandwidth(a, b));
  EXPECT_GE(s.ring_bandwidth, slowest_nvlink);
  EXPECT_LT(s.min_bandwidth, s.ring_bandwidth);
}

// ---------------------------------------------------------------------------------------------
// pcie-8gpu: two PCIe switches per socket, two GPUs per switch.

TEST(BestDeviceSet, PciePairStaysUnderOneSwitch) {
  const GpuTopology t = MustPreset("pcie-8gpu");
  double best_pair = 0;
  for (int a = 0; a < 8; ++a)
    for (int b = a + 1; b < 8; ++b) best_pair = std::max(best_pair, t.Bandwidth(a, b));
  struct Case {
    std::string name;
    std::vector<int> free;
  };
  const std::vector<Case> cases = {
      {"all free", Iota(8)},
      {"one GPU of each switch busy but the last", {1, 3, 5, 6, 7}},
  };
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.name);
    const DeviceSet s = MustBest(t, tc.free, 2);
    ASSERT_EQ(s.gpus.size(), 2u);
    EXPECT_EQ(t.Bandwidth(s.gpus[0], s.gpus[1]), best_pair);
    EXPECT_EQ(t.Hops(s.gpus[0], s.gpus[1]), 2);  // GPU - PCIe switch - GPU
    EXPECT_EQ(s.min_bandwidth, best_pair);
    EXPECT_EQ(s.sockets, 1);
  }
}

TEST(BestDeviceSet, PcieFourStayInOneSocket) {
  const GpuTopology t = MustPreset("pcie-8gpu");
  const DeviceSet s = MustBest(t, Iota(8), 4);
  ASSERT_EQ(s.gpus.size(), 4u);
  EXPECT_EQ(s.sockets, 1);
  for (int g : s.gpus) EXPECT_EQ(t.NumaOf(g), t.NumaOf(s.gpus[0]));
}

TEST(BestDeviceSet, PreferredNumaPicksTheSocketWhenOtherwiseTied) {
  const GpuTopology t = MustPreset("pcie-8gpu");
  for (int numa : {0, 1}) {
    SCOPED_TRACE(absl::StrCat("preferred_numa=", numa));
    SearchOptions options;
    options.preferred_numa = numa;
    for (int k : {1, 2, 4}) {
      SCOPED_TRACE(absl::StrCat("k=", k));
      const DeviceSet s = MustBest(t, Iota(8), k, options);
      ASSERT_EQ(static_cast<int>(s.gpus.size()), k);
      for (int g : s.gpus) EXPECT_EQ(t.NumaOf(g), numa) << "GPU" << g;
    }
  }
}

TEST(BestDeviceSet, PreferredNumaNeverBeatsBandwidth) {
  const GpuTopology t = MustPreset("pcie-8gpu");
  // Socket 1 has only GPUs 4 and 6 free (different switches); socket 0 has a same-switch pair.
  SearchOptions options;
  options.preferred_numa = t.NumaOf(4);
  const DeviceSet s = MustBest(t, {0, 1, 4, 6}, 2, options);
  EXPECT_THAT(s.gpus, ElementsAre(0, 1));
}

// ---------------------------------------------------------------------------------------------
// General behaviour.

TEST(BestDeviceSet, IsDeterministic) {
  const GpuTopology t = MustPreset("dgx1-v100");
  const std::vector<int> free = {7, 1, 2, 5, 6, 3};
  for (int k = 1; k <= 6; ++k) {
    SCOPED_TRACE(absl::StrCat("k=", k));
    const DeviceSet a = MustBest(t, free, k);
    const DeviceSet b = MustBest(t, free, k);
    EXPECT_EQ(a.gpus, b.gpus);
    EXPECT_EQ(a.min_bandwidth, b.min_bandwidth);
    EXPECT_EQ(a.ring_bandwidth, b.ring_bandwidth);
    EXPECT_EQ(a.sockets, b.sockets);
    EXPECT_TRUE(std::is_sorted(a.gpus.begin(), a.gpus.end()));
  }
}

TEST(BestDeviceSet, TakingEveryFreeGpuReturnsThemAll) {
  const GpuTopology t = MustPreset("pcie-8gpu");
  EXPECT_THAT(MustBest(t, {6, 2, 3}, 3).gpus, ElementsAre(2, 3, 6));
}

TEST(BestDeviceSet, SingleGpuHasNoPairBandwidth) {
  const GpuTopology t = MustPreset("pcie-8gpu");
  const DeviceSet s = MustBest(t, {3}, 1);
  EXPECT_THAT(s.gpus, ElementsAre(3));
  EXPECT_EQ(s.min_bandwidth, 0);
  EXPECT_EQ(s.ring_bandwidth, 0);
  EXPECT_EQ(s.sockets, 1);
}

TEST(BestDeviceSet, RejectsBadArguments) {
  const GpuTopology t = MustPreset("pcie-8gpu");
  struct Case {
    std::string name;
    std::vector<int> free;
    int k;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"k zero", Iota(8), 0, "k"},
      {"k negative", Iota(8), -2, "k"},
      {"k above free", {0, 1, 2}, 4, "exceeds"},
      {"nothing free", {}, 1, "exceeds"},
      {"index negative", {0, -1, 2}, 2, "out of range"},
      {"index too large", {0, 8}, 1, "out of range"},
      {"index repeated", {0, 2, 2}, 2, "repeated"},
  };
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.name);
    const absl::StatusOr<DeviceSet> s = BestDeviceSet(t, tc.free, tc.k);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(s.status().message()), HasSubstr(tc.message));
  }
}

// Brute force over every k-subset (rings by permutation): the search's quality 1-3 must match the
// best subset's.
struct Reference {
  double min_bw = -1;
  double ring = -1;
  int sockets = 0;
  int on_preferred = 0;
};

Reference BruteForce(const GpuTopology& t, const std::vector<int>& free, int k,
                     int preferred_numa = -1) {
  Reference best;
  bool have = false;
  const int n = static_cast<int>(free.size());
  for (uint32_t mask = 0; mask < (1u << n); ++mask) {
    if (std::popcount(mask) != k) continue;
    std::vector<int> m;
    for (int i = 0; i < n; ++i)
      if (mask >> i & 1) m.push_back(free[i]);
    double mn = k < 2 ? 0 : 1e300;
    for (int a = 0; a < k; ++a)
      for (int b = a + 1; b < k; ++b) mn = std::min(mn, t.Bandwidth(m[a], m[b]));
    if (have && mn < best.min_bw) continue;
    double ring = 0;
    if (k >= 2) {
      std::vector<int> p(m.begin() + 1, m.end());
      do {
        double hop = t.Bandwidth(m[0], p.front());
        for (size_t i = 0; i + 1 < p.size(); ++i) hop = std::min(hop, t.Bandwidth(p[i], p[i + 1]));
        hop = std::min(hop, t.Bandwidth(p.back(), m[0]));
        ring = std::max(ring, hop);
      } while (std::next_permutation(p.begin(), p.end()));
    }
    std::vector<int> numas;
    int on_preferred = 0;
    for (int g : m) {
      numas.push_back(t.NumaOf(g));
      if (preferred_numa >= 0 && t.NumaOf(g) == preferred_numa) ++on_preferred;
    }
    std::sort(numas.begin(), numas.end());
    const int sockets = static_cast<int>(std::unique(numas.begin(), numas.end()) - numas.begin());
    const Reference r{mn, ring, sockets, on_preferred};
    const auto key = [](const Reference& x) {
      return std::make_tuple(x.min_bw, x.ring, -x.sockets, x.on_preferred);
    };
    if (!have || key(r) > key(best)) best = r;
    have = true;
  }
  return best;
}

void ExpectMatchesBruteForce(const GpuTopology& t, const std::vector<int>& free, int k,
                             int preferred_numa) {
  SearchOptions options;
  options.preferred_numa = preferred_numa;
  const DeviceSet s = MustBest(t, free, k, options);
  const Reference r = BruteForce(t, free, k, preferred_numa);
  EXPECT_EQ(s.min_bandwidth, r.min_bw);
  EXPECT_EQ(s.ring_bandwidth, r.ring);
  EXPECT_EQ(s.sockets, r.sockets);
  int on_preferred = 0;
  for (int g : s.gpus)
    if (preferred_numa >= 0 && t.NumaOf(g) == preferred_numa) ++on_preferred;
  EXPECT_EQ(on_preferred, r.on_preferred);
  EXPECT_EQ(static_cast<int>(s.gpus.size()), k);
}

TEST(BestDeviceSet, MatchesBruteForceOnEveryFreeMaskOfThePresets) {
  for (const std::string name : {"dgx1-v100", "pcie-8gpu", "dgx-a100"}) {
    const GpuTopology t = MustPreset(name);
    for (uint32_t mask = 1; mask < 256; ++mask) {
      std::vector<int> free;
      for (int g = 0; g < 8; ++g)
        if (mask >> g & 1) free.push_back(g);
      for (int k = 1; k <= static_cast<int>(free.size()); ++k) {
        for (int numa : {-1, 1}) {
          SCOPED_TRACE(absl::StrCat(name, " mask=", mask, " k=", k, " preferred_numa=", numa));
          ExpectMatchesBruteForce(t, free, k, numa);
        }
      }
    }
  }
}

TEST(BestDeviceSet, SixteenGpusMatchBruteForce) {
  struct Case {
    std::string name;
    GpuTopology topology;
    std::vector<int> free;
  };
  const std::vector<Case> cases = {
      {"two cube-meshes, all free", TwoCubeMeshes(), Iota(16)},
      {"two cube-meshes, some busy", TwoCubeMeshes(), {0, 2, 3, 5, 6, 7, 8, 9, 11, 12, 14, 15}},
      {"12 PCIe GPUs, 3 per switch", PcieBox(12, 3, 2), Iota(12)},
      {"NVSwitch, 2 GPUs per socket", NvlDomain(16, {}, 2), Iota(16)},
      {"NVSwitch with thin GPUs", NvlDomain(16, {{1, 12}, {6, 9}, {9, 12}}, 4), Iota(16)},
  };
  for (const Case& tc : cases) {
    for (int k = 1; k <= 5; ++k) {
      for (int numa : {-1, 2}) {
        SCOPED_TRACE(absl::StrCat(tc.name, " k=", k, " preferred_numa=", numa));
        ExpectMatchesBruteForce(tc.topology, tc.free, k, numa);
      }
    }
  }
}

TEST(BestDeviceSet, SixteenGpusEightStayInOneCubeMesh) {
  const GpuTopology t = TwoCubeMeshes();
  const DeviceSet eight = MustBest(t, Iota(16), 8);
  EXPECT_EQ(eight.gpus, Iota(8));
  EXPECT_EQ(eight.ring_bandwidth, 50);  // the doubled links form an 8-ring
  const DeviceSet quad = MustBest(t, Iota(16), 4);
  ExpectAllPairsNvLinked(t, quad.gpus);
  // Mesh 0-7 partly busy: the 8 come from the whole mesh 8-15.
  EXPECT_EQ(MustBest(t, {0, 1, 2, 3, 5, 8, 9, 10, 11, 12, 13, 14, 15}, 8).gpus,
            std::vector<int>({8, 9, 10, 11, 12, 13, 14, 15}));
}

TEST(BestDeviceSet, SixteenGpusOnNvSwitchFillWholeSockets) {
  // Every pair has the same bandwidth: 8 of 16 GPUs take 4 whole sockets of 2.
  const GpuTopology t = NvlDomain(16, {}, 2);
  const DeviceSet s = MustBest(t, Iota(16), 8);
  EXPECT_EQ(s.sockets, 4);
  EXPECT_EQ(s.gpus, Iota(8));
  SearchOptions options;
  options.preferred_numa = 7;
  EXPECT_THAT(MustBest(t, Iota(16), 2, options).gpus, ElementsAre(14, 15));
}

// ---------------------------------------------------------------------------------------------
// Greedy path: more than kExactLimit free GPUs.

TEST(BestDeviceSet, GreedyAvoidsThinGpusInALargeDomain) {
  const GpuTopology t = NvlDomain(72, {{0, 12}, {1, 12}, {5, 9}, {40, 6}});
  const DeviceSet s = MustBest(t, Iota(72), 8);
  ASSERT_EQ(s.gpus.size(), 8u);
  EXPECT_EQ(s.min_bandwidth, 900);
  EXPECT_EQ(s.ring_bandwidth, 900);
  EXPECT_EQ(s.sockets, 2);  // four GPUs per socket: two full sockets
  for (int g : s.gpus) EXPECT_TRUE(g != 0 && g != 1 && g != 5 && g != 40) << g;
}

TEST(BestDeviceSet, GreedyHonoursPreferredNuma) {
  const GpuTopology t = NvlDomain(40, {});
  SearchOptions options;
  options.preferred_numa = 7;
  const DeviceSet s = MustBest(t, Iota(40), 4, options);
  EXPECT_THAT(s.gpus, ElementsAre(28, 29, 30, 31));
  EXPECT_EQ(s.sockets, 1);
}

TEST(BestDeviceSet, GreedyTakesThinGpusOnlyWhenItMust) {
  // Only 2 full GPUs free among thin ones: the best 4 include the two widest thin ones.
  const GpuTopology t =
      NvlDomain(24, {{0, 4},  {1, 4},  {2, 6},  {3, 6},  {4, 6},  {5, 2},  {6, 2},  {7, 2},
                     {8, 2},  {9, 2},  {10, 2}, {11, 2}, {12, 2}, {13, 2}, {14, 2}, {15, 2},
                     {16, 2}, {17, 2}, {18, 2}, {19, 2}, {20, 2}, {21, 2}});
  const DeviceSet s = MustBest(t, Iota(24), 4);
  EXPECT_EQ(s.min_bandwidth, 300);
  for (int g : s.gpus) EXPECT_TRUE(g == 2 || g == 3 || g == 4 || g == 22 || g == 23) << g;
}

}  // namespace
}  // namespace gpusched::topology
