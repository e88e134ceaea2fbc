// The topology readers against hostile or broken input: one test per class of problem (size,
// physics, impossible links, reachability, NUMA, JSON keys/positions, BOM, binary bytes).

#include <algorithm>
#include <numeric>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "topology/device_set_search.h"
#include "topology/gpu_topology.h"
#include "topology/nvidia_smi.h"
#include "topology/nvidia_smi_testing.h"
#include "topology/presets.h"
#include "topology/topology_json.h"

namespace gpusched::topology {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

std::string Message(const absl::Status& s) { return std::string(s.message()); }

// Every byte of an error message is printable ASCII.
bool PrintableAscii(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    return static_cast<unsigned char>(c) >= 0x20 && static_cast<unsigned char>(c) < 0x7f;
  });
}

std::vector<int> Iota(int n) {
  std::vector<int> v(n);
  std::iota(v.begin(), v.end(), 0);
  return v;
}

const std::string kTwoGpus =
    "\tGPU0\tGPU1\tCPU Affinity\tNUMA Affinity\n"
    "GPU0\t X \tPIX\t0-7\t0\n"
    "GPU1\tPIX\t X \t0-7\t0\n";

std::string TwoGpuJson(const std::string& link) {
  return absl::StrCat(R"({"devices": [{"kind": "gpu"}, {"kind": "gpu"}, {"kind": "pcie_switch"}],
 "links": [)", link, "]}");
}

TEST(HostileInput, SizeIsCappedWithTheLimitInTheError) {
  std::string header;
  for (int g = 0; g <= kMaxGpus; ++g) absl::StrAppend(&header, "\tGPU", g);
  auto text = ParseNvidiaSmiTopo(header + "\n");
  ASSERT_FALSE(text.ok());
  EXPECT_THAT(Message(text.status()), HasSubstr("line 1: more than 1024 GPU columns"));

  std::vector<Device> devices(kMaxGpus + 1);
  auto create = GpuTopology::Create("huge", devices, {});
  ASSERT_FALSE(create.ok());
  EXPECT_THAT(Message(create.status()), HasSubstr("1025 GPUs, more than the limit of 1024"));

  std::string json = R"({"devices": [)";
  for (int d = 0; d <= kMaxDevices; ++d) absl::StrAppend(&json, d ? "," : "", R"({"kind":"nic"})");
  json += R"(], "links": []})";
  auto j = ParseTopologyJson(json);
  ASSERT_FALSE(j.ok());
  EXPECT_THAT(Message(j.status()), HasSubstr("devices: 8193 devices, more than the limit of 8192"));
}

TEST(HostileInput, ThousandGpuMatricesParseBuildAndSearch) {
  auto pcie = ParseNvidiaSmiTopo(testing::SyntheticPcieMatrix(1000));
  ASSERT_TRUE(pcie.ok()) << pcie.status();
  ASSERT_EQ(pcie->gpu_count(), 1000);
  EXPECT_LT(pcie->Hops(0, 1), pcie->Hops(0, 4));              // PIX: fewer hops than PHB
  EXPECT_GT(pcie->Bandwidth(0, 4), pcie->Bandwidth(0, 8));    // PHB > NODE
  EXPECT_GT(pcie->Bandwidth(0, 8), pcie->Bandwidth(0, 999));  // NODE > SYS
  EXPECT_EQ(pcie->NumaOf(0), 0);
  EXPECT_EQ(pcie->NumaOf(999), 7);
  EXPECT_THAT(TopologyWarnings(*pcie), IsEmpty());

  auto nv = ParseNvidiaSmiTopo(testing::SyntheticNvidiaSmiMatrix(1000));
  ASSERT_TRUE(nv.ok()) << nv.status();
  ASSERT_EQ(nv->gpu_count(), 1000);
  EXPECT_EQ(nv->NvLinks(0, 999), 18);

  const std::vector<int> all = Iota(1000);
  for (int k : {1, 4, 500, 999, 1000}) {
    SCOPED_TRACE(k);
    auto s = BestDeviceSet(*pcie, all, k);
    ASSERT_TRUE(s.ok()) << s.status();
    EXPECT_EQ(static_cast<int>(s->gpus.size()), k);
    EXPECT_TRUE(std::is_sorted(s->gpus.begin(), s->gpus.end()));
  }
  auto quad = BestDeviceSet(*pcie, all, 4);
  ASSERT_TRUE(quad.ok());
  EXPECT_EQ(quad->gpus[0] / 4, quad->gpus[3] / 4);  // one PIX group
  auto every = BestDeviceSet(*nv, all, 1000);
  ASSERT_TRUE(every.ok());
  EXPECT_EQ(every->sockets, 8);
}

TEST(HostileInput, PhysicallyImpossibleValuesAreErrors) {
  struct Case {
    std::string name, text, error;
    bool json;
  };
  const std::string nv19 =
      "\tGPU0\tGPU1\nGPU0\t X \tNV19\nGPU1\tNV19\t X \n";
  // GPU0: NV12 + NV10 = 22 links, not a uniform (switch) group.
  const std::string too_many =
      "\tGPU0\tGPU1\tGPU2\nGPU0\t X \tNV12\tNV10\nGPU1\tNV12\t X \tNV1\nGPU2\tNV10\tNV1\t X \n";
  const std::vector<Case> cases = {
      {"NV19", nv19, "line 2: cell \"NV19\" (column GPU1): more than 18 NVLinks", false},
      {"links per GPU", too_many, "line 2: row GPU0: 22 NVLinks in all", false},
      {"nvlink too fast",
       TwoGpuJson(R"({"a": 0, "b": 1, "kind": "nvlink", "count": 1, "gbps": 1000})"),
       "more than 53.125 GB/s per link", true},
      {"nvlink bond too wide",
       TwoGpuJson(R"({"a": 0, "b": 1, "kind": "nvlink", "count": 19, "generation": 4})"),
       "19 NVLinks in one bond", true},
      {"V100 with 8 links",
       TwoGpuJson(R"({"a": 0, "b": 1, "kind": "nvlink", "count": 8, "generation": 2})"),
       "8 NVLinks in all, more than the 6 a GPU of NVLink generation 2 has", true},
      {"nvlink to a PCIe switch",
       TwoGpuJson(R"({"a": 0, "b": 2, "kind": "nvlink"}, {"a": 1, "b": 2, "kind": "pcie"})"),
       "NVLink joins only GPUs", true},
      {"pcie x64", TwoGpuJson(R"({"a": 0, "b": 2, "kind": "pcie", "width": 64})"),
       "links[0].width: must be in 1..32", true},
      {"pcie generation 9", TwoGpuJson(R"({"a": 0, "b": 2, "kind": "pcie", "generation": 9})"),
       "links[0].generation: must be in 0..6", true},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<GpuTopology> t = c.json ? ParseTopologyJson(c.text) : ParseNvidiaSmiTopo(c.text);
    ASSERT_FALSE(t.ok());
    EXPECT_THAT(Message(t.status()), HasSubstr(c.error));
  }
  // Every preset is physically valid and has nothing to warn about.
  for (const std::string& name : PresetNames()) {
    SCOPED_TRACE(name);
    absl::StatusOr<GpuTopology> p = Preset(name);
    ASSERT_TRUE(p.ok()) << p.status();
    EXPECT_THAT(TopologyWarnings(*p), IsEmpty());
  }
}

TEST(HostileInput, AsymmetricOrImpossibleLinksNameTheCell) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"\tGPU0\tGPU1\nGPU0\t X \tNV1\nGPU1\tNV2\t X \n",
       "line 3: cell \"NV2\" (column GPU0) differs from \"NV1\" at line 2"},
      {"\tGPU0\tGPU1\nGPU0\t X \t X \nGPU1\tPIX\t X \n", "line 2: cell \"X\" (column GPU1) X off"},
      {"\tGPU0\tGPU1\nGPU0\t X \tNVX\nGPU1\tPIX\t X \n", "line 2: unknown cell \"NVX\""},
      {"\tGPU0\tNIC0\nGPU0\t X \tNV2\nNIC0\tNV2\t X \n", "NVLink between non-GPU devices"},
  };
  for (const auto& [text, error] : cases) {
    auto t = ParseNvidiaSmiTopo(text);
    ASSERT_FALSE(t.ok()) << text;
    EXPECT_THAT(Message(t.status()), HasSubstr(error));
  }
  auto self = ParseTopologyJson(TwoGpuJson(R"({"a": 1, "b": 1, "kind": "nvlink"})"));
  ASSERT_FALSE(self.ok());
  EXPECT_THAT(Message(self.status()), HasSubstr("links[0]: self link on device 1"));
}

TEST(HostileInput, UnreachableGpusAreErrorsOrWarnings) {
  // A GPU with no links at all: an error.
  auto lonely = ParseTopologyJson(
      R"({"devices": [{"kind": "gpu"}, {"kind": "gpu"}, {"kind": "gpu", "name": "G2"},
                      {"kind": "pcie_switch"}],
          "links": [{"a": 0, "b": 3, "kind": "pcie"}, {"a": 1, "b": 3, "kind": "pcie"}]})");
  ASSERT_FALSE(lonely.ok());
  EXPECT_THAT(Message(lonely.status()), HasSubstr("devices[2] (G2): a GPU with no links at all"));
  // Two islands: usable, but a warning names the pairs.
  auto islands = ParseTopologyJson(
      R"({"devices": [{"kind": "gpu", "name": "A"}, {"kind": "gpu", "name": "B"},
                      {"kind": "gpu", "name": "C"}, {"kind": "gpu", "name": "D"}],
          "links": [{"a": 0, "b": 1, "kind": "nvlink"}, {"a": 2, "b": 3, "kind": "nvlink"}]})");
  ASSERT_TRUE(islands.ok()) << islands.status();
  EXPECT_THAT(TopologyWarnings(*islands),
              ::testing::Contains(HasSubstr("A and C: no path between them")));
}

TEST(HostileInput, NumaAndCpuAffinityOutOfRange) {
  const std::string hdr = "\tGPU0\tGPU1\tCPU Affinity\tNUMA Affinity\n";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {hdr + "GPU0\t X \tSYS\t0-7\t99999\nGPU1\tSYS\t X \t0-7\t1\n",
       "line 2: NUMA Affinity 99999 (row GPU0) out of range 0..1023"},
      {hdr + "GPU0\t X \tSYS\t0-7\t-1\nGPU1\tSYS\t X \t0-7\t1\n",
       "line 2: NUMA Affinity \"-1\" (row GPU0) is negative"},
      {hdr + "GPU0\t X \tSYS\t7-0\t0\nGPU1\tSYS\t X \t0-7\t1\n",
       "line 2: bad CPU Affinity \"7-0\" (row GPU0): range 7-0 is descending"},
      {hdr + "GPU0\t X \tSYS\t0-x\t0\nGPU1\tSYS\t X \t0-7\t1\n", "bad CPU Affinity \"0-x\""},
      {hdr + "GPU0\t X \tSYS\t0-99999999\t0\nGPU1\tSYS\t X \t0-7\t1\n",
       "99999999 is out of range 0..65535"},
  };
  for (const auto& [text, error] : cases) {
    auto t = ParseNvidiaSmiTopo(text);
    ASSERT_FALSE(t.ok()) << text;
    EXPECT_THAT(Message(t.status()), HasSubstr(error));
  }
  std::vector<std::string> warnings;
  auto set = ParseNvidiaSmiTopo(hdr + "GPU0\t X \tSYS\t0-7\t0-1\nGPU1\tSYS\t X \tN/A\t1\n",
                                "box", &warnings);
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_THAT(warnings, ::testing::ElementsAre(HasSubstr("line 2: NUMA Affinity \"0-1\" of GPU0")));

  auto json = ParseTopologyJson(R"({"devices": [{"kind": "gpu", "numa": 5000}], "links": []})");
  ASSERT_FALSE(json.ok());
  EXPECT_THAT(Message(json.status()), HasSubstr("devices[0].numa: must be in -1..1023"));
}

TEST(HostileInput, DuplicateJsonKeysNameTheKey) {
  auto t = ParseTopologyJson("{\"devices\": [{\"kind\": \"gpu\", \"kind\": \"nic\"}],\n"
                             " \"links\": []}");
  ASSERT_FALSE(t.ok());
  EXPECT_THAT(Message(t.status()),
              HasSubstr("line 1, column 30: duplicate key \"kind\" (first at line 1, column 23)"));
  auto top = ParseTopologyJson("{\"links\": [],\n\"devices\": [],\n\"links\": []}");
  ASSERT_FALSE(top.ok());
  EXPECT_THAT(Message(top.status()), HasSubstr("line 3, column 1: duplicate key \"links\""));
}

TEST(HostileInput, Utf8BomIsAccepted) {
  auto text = ParseNvidiaSmiTopo("\xEF\xBB\xBF" + kTwoGpus);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(text->gpu_count(), 2);
  absl::StatusOr<GpuTopology> preset = Preset("dgx1-v100");
  ASSERT_TRUE(preset.ok());
  auto json = ParseTopologyJson("\xEF\xBB\xBF" + TopologyToJson(*preset));
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_EQ(json->gpu_count(), 8);
}

TEST(HostileInput, BinaryBytesAreNeverEchoed) {
  const std::string elf("\x7f" "ELF\x02\x01\x01\x00\x00\x00\xff\xfe", 12);
  const std::vector<std::string> inputs = {
      elf,
      "\tGPU0\tGPU1\nGPU0\t X \t\xff\xfe\nGPU1\tPIX\t X \n",
      "\tGPU0\t\x80\x81\n",
      std::string("{\"devices\": [{\"kind\": \"\xc3\x28\"}]}"),
      std::string("{\"devices\": [{\"kind\": \"g\\u0001pu\"}], \"links\": []}"),
      std::string("{\"devices\x00\": 1}", 16),
  };
  for (const std::string& in : inputs) {
    for (bool json : {false, true}) {
      absl::StatusOr<GpuTopology> t = json ? ParseTopologyJson(in) : ParseNvidiaSmiTopo(in);
      ASSERT_FALSE(t.ok());
      EXPECT_TRUE(PrintableAscii(Message(t.status()))) << Message(t.status());
    }
  }
  auto elf_text = ParseNvidiaSmiTopo(elf);
  EXPECT_THAT(Message(elf_text.status()), HasSubstr("line 1: not text (byte \\x7f at column 1)"));
}

TEST(HostileInput, JsonErrorsCarryLineAndColumn) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{\n  \"devices\": [\n    {\"kind\": \"gpu\"}\n    {\"kind\": \"gpu\"}]}",
       "line 4, column 5: not valid JSON: expected ',' or ']'"},
      {"{\"devices\": [], \"links\": [1e999]}", "line 1, column 27: not valid JSON: number out"},
      {"{\"devices\": [{\"kind\": \"gpu\"},\n {\"kind\": \"tpu\"}], \"links\": []}",
       "line 2, column 11: devices[1].kind: unknown \"tpu\""},
      {"{\"devices\": [{\"kind\": \"gpu\"}, {\"kind\": \"gpu\"}],\n"
       " \"links\": [{\"a\": 0, \"b\": 0, \"kind\": \"pcie\"}]}",
       "line 2, column 12: links[0]: self link"},
      {"", "line 1, column 1: not valid JSON: unexpected end of input"},
  };
  for (const auto& [text, error] : cases) {
    auto t = ParseTopologyJson(text);
    ASSERT_FALSE(t.ok()) << text;
    EXPECT_THAT(Message(t.status()), HasSubstr(error));
  }
}

}  // namespace
}  // namespace gpusched::topology
