#include "cli/topo.h"

#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace gpusched::cli {
namespace {

using ::testing::HasSubstr;

struct TopoRun {
  int rc;
  std::string out, err;
};

TopoRun Topo(std::vector<std::string> args) {
  std::ostringstream out, err;
  const int rc = RunTopo(args, out, err);
  return {rc, out.str(), err.str()};
}

TEST(TopoCommand, ListsThePresets) {
  TopoRun r = Topo({"list"});
  ASSERT_EQ(r.rc, 0) << r.err;
  for (const char* name : {"dgx1-v100", "dgx-a100", "hgx-h100", "pcie-8gpu", "gb200-nvl72"}) {
    EXPECT_THAT(r.out, HasSubstr(name));
  }
}

TEST(TopoCommand, ShowPrintsTheBandwidthMatrixWithNvLinkCounts) {
  TopoRun r = Topo({"show", "--preset", "dgx1-v100"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("8 GPUs"));
  EXPECT_THAT(r.out, HasSubstr("[2]"));  // double NVLink pairs
  EXPECT_THAT(r.out, HasSubstr("[1]"));
  EXPECT_THAT(r.out, HasSubstr("NUMA"));
}

TEST(TopoCommand, BestFourOfDgx1IsAFullyConnectedQuadInJson) {
  TopoRun r = Topo({"best", "--preset", "dgx1-v100", "--count", "4", "--json"});
  ASSERT_EQ(r.rc, 0) << r.err;
  nlohmann::json j = nlohmann::json::parse(r.out);
  std::vector<int> gpus = j["gpus"].get<std::vector<int>>();
  EXPECT_TRUE(gpus == std::vector<int>({0, 1, 2, 3}) || gpus == std::vector<int>({4, 5, 6, 7}))
      << r.out;
  EXPECT_GT(j["min_bandwidth_gbps"].get<double>(), 0);
  EXPECT_EQ(j["count"], 4);
}

TEST(TopoCommand, BestRespectsTheFreeList) {
  TopoRun r = Topo({"best", "--preset", "dgx1-v100", "--count", "2", "--free", "4,5,6,7",
                    "--json"});
  ASSERT_EQ(r.rc, 0) << r.err;
  nlohmann::json j = nlohmann::json::parse(r.out);
  for (int g : j["gpus"].get<std::vector<int>>()) {
    EXPECT_GE(g, 4);
  }
}

TEST(TopoCommand, BadInputIsAClearError) {
  struct Case {
    std::string name;
    std::vector<std::string> args;
    std::string error;
  };
  const std::vector<Case> cases = {
      {"unknown subcommand", {"draw"}, "not understood: \"draw\""},
      {"unknown preset", {"show", "--preset", "dgx-9000"}, "dgx-9000"},
      {"no source", {"show"}, "Exactly 1 option from [--preset,--topology] is required"},
      {"both sources", {"show", "--preset", "dgx1-v100", "--topology", "x"},
       "--preset excludes --topology"},
      {"missing file", {"show", "--topology", "/nonexistent/topo.txt"}, "/nonexistent/topo.txt"},
      {"no count", {"best", "--preset", "dgx1-v100"}, "--count is required"},
      {"bad count", {"best", "--preset", "dgx1-v100", "--count", "-1"}, "--count"},
      {"bad free", {"best", "--preset", "dgx1-v100", "--count", "1", "--free", "0,x"},
       "\"x\" is not a GPU index"},
      {"too many", {"best", "--preset", "dgx1-v100", "--count", "3", "--free", "0,1"}, ""},
      {"out of range", {"best", "--preset", "dgx1-v100", "--count", "1", "--free", "9"},
       "GPU 9 is not on this node"},
      {"empty free list is not all free", {"best", "--preset", "dgx1-v100", "--count", "1", "--free", ""},
       "--free: an empty value"},
      {"GPU twice", {"best", "--preset", "dgx1-v100", "--count", "2", "--free", "1,1"},
       "GPU 1 is given twice"},
      {"flag of another subcommand", {"show", "--preset", "dgx1-v100", "--count", "2"},
       "--count"},
      {"the next flag as a value", {"show", "--topology", "--preset", "dgx1-v100"},
       "\"--preset\" is a flag, not a value"},
      {"directory as file", {"show", "--topology", "/"}, "is a directory, not a file"},
      {"device as file", {"show", "--topology", "/dev/zero"}, "is a character device"},
  };
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.name);
    TopoRun r = Topo(tc.args);
    EXPECT_NE(r.rc, 0);
    EXPECT_FALSE(r.err.empty());
    if (!tc.error.empty()) EXPECT_THAT(r.err, HasSubstr(tc.error));
  }
}

}  // namespace
}  // namespace gpusched::cli
