#include "topology/topology_json.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "topology/presets.h"

namespace gpusched::topology {
namespace {

using ::testing::HasSubstr;

TEST(TopologyJson, EveryPresetRoundTripsWithTheSameBandwidths) {
  for (const std::string& name : PresetNames()) {
    SCOPED_TRACE(name);
    absl::StatusOr<GpuTopology> t = Preset(name);
    ASSERT_TRUE(t.ok());
    absl::StatusOr<GpuTopology> back = ParseTopologyJson(TopologyToJson(*t));
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(back->name(), t->name());
    ASSERT_EQ(back->gpu_count(), t->gpu_count());
    for (int a = 0; a < t->gpu_count(); ++a) {
      for (int b = 0; b < t->gpu_count(); ++b) {
        EXPECT_DOUBLE_EQ(back->Bandwidth(a, b), t->Bandwidth(a, b));
        EXPECT_EQ(back->NvLinks(a, b), t->NvLinks(a, b));
      }
      EXPECT_EQ(back->NumaOf(a), t->NumaOf(a));
    }
  }
}

TEST(TopologyJson, SmallAgentReport) {
  auto t = ParseTopologyJson(R"({"name": "box", "devices": [
      {"kind": "gpu", "name": "GPU0"}, {"kind": "gpu", "name": "GPU1"},
      {"kind": "pcie_switch", "name": "PLX0", "numa": 0}],
    "links": [{"a": 0, "b": 1, "kind": "nvlink", "count": 2, "generation": 3},
              {"a": 0, "b": 2, "kind": "pcie", "generation": 4},
              {"a": 1, "b": 2, "kind": "pcie", "generation": 4}]})");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->gpu_count(), 2);
  EXPECT_EQ(t->NvLinks(0, 1), 2);
  EXPECT_GT(t->Bandwidth(0, 1), 0);
}

TEST(TopologyJson, BadReportsNameTheField) {
  struct Case {
    std::string name, text, error;
  };
  const std::vector<Case> cases = {
      {"not json", "{", "not valid JSON"},
      {"not an object", "[]", "expected an object"},
      {"no devices", R"({"links": []})", "devices: required"},
      {"bad device kind", R"({"devices": [{"kind": "tpu"}], "links": []})",
       "devices[0].kind: unknown \"tpu\""},
      {"bad link kind",
       R"({"devices": [{"kind": "gpu"}, {"kind": "gpu"}], "links": [{"a": 0, "b": 1, "kind": "nvlnk"}]})",
       "links[0].kind: unknown \"nvlnk\""},
      {"index out of range",
       R"({"devices": [{"kind": "gpu"}], "links": [{"a": 0, "b": 7, "kind": "pcie"}]})",
       "links[0].b: must be in 0..0"},
      {"negative bandwidth",
       R"({"devices": [{"kind": "gpu"}, {"kind": "gpu"}], "links": [{"a": 0, "b": 1, "kind": "pcie", "gbps": -1}]})",
       "links[0].gbps: expected a positive number"},
      {"string count",
       R"({"devices": [{"kind": "gpu"}, {"kind": "gpu"}], "links": [{"a": 0, "b": 1, "kind": "nvlink", "count": "2"}]})",
       "links[0].count: expected an integer"},
      {"no gpu", R"({"devices": [{"kind": "nic"}], "links": []})", ""},
  };
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.name);
    auto t = ParseTopologyJson(tc.text);
    ASSERT_FALSE(t.ok());
    EXPECT_THAT(std::string(t.status().message()), HasSubstr(tc.error));
  }
}

}  // namespace
}  // namespace gpusched::topology
