#include "cli/sim.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli/sim_testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace gpusched::cli {
namespace {

using ::testing::HasSubstr;

std::string TempDir(const std::string& name) {
  return (std::filesystem::path(::testing::TempDir()) / name).string();
}

TEST(SimCommand, BuiltinSampleWritesReportAndTable) {
  const std::string dir = TempDir("sim-table");
  SimRun r = Sim({"--policy", "fgd,random", "--seeds", "1-2", "--threads", "2", "--out", dir});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("built-in openb-like sample"));
  EXPECT_THAT(r.out, HasSubstr("fgd"));
  EXPECT_THAT(r.out, HasSubstr("random"));
  EXPECT_THAT(r.out, HasSubstr("Report: " + dir + "/report.html"));
  EXPECT_THAT(r.err, HasSubstr("[4/4]"));  // progress
  for (const char* f : {"report.html", "summary.json", "runs.csv", "curves.csv"}) {
    EXPECT_TRUE(std::filesystem::exists(std::filesystem::path(dir) / f)) << f;
  }
}

TEST(SimCommand, JsonSummaryHasMeanAndSdPerPolicy) {
  SimRun r = Sim({"--policy", "bestfit", "--seeds", "3,5", "--json", "--out", TempDir("sim-json")});
  ASSERT_EQ(r.rc, 0) << r.err;
  nlohmann::json j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["policies"].size(), 1u);
  EXPECT_EQ(j["policies"][0]["policy"], "bestfit");
  EXPECT_EQ(j["policies"][0]["runs"], 2);
  EXPECT_TRUE(j["policies"][0]["unallocated_at_100"]["mean"].is_number());
  EXPECT_TRUE(j["policies"][0]["unallocated_at_100"]["sd"].is_number());
}

TEST(SimCommand, SameSeedsGiveIdenticalSummaries) {
  SimRun a = Sim({"--policy", "fgd", "--seeds", "7", "--json", "--threads", "1", "--out",
               TempDir("sim-a")});
  SimRun b = Sim({"--policy", "fgd", "--seeds", "7", "--json", "--threads", "2", "--out",
               TempDir("sim-b")});
  ASSERT_EQ(a.rc, 0);
  EXPECT_EQ(a.out, b.out);
}

TEST(SimCommand, BadInputIsAClearErrorNotACrash) {
  struct Case {
    std::string name;
    std::vector<std::string> args;
    std::string error;
    int rc;
  };
  const std::string bad_csv = TempDir("bad_nodes.csv");
  std::ofstream(bad_csv) << "sn,cpu_milli,memory_mib,gpu,model\nn1,64000,262144,x2,G2\n";
  const std::vector<Case> cases = {
      {"unknown flag", {"--frobnicate"}, "not expected: --frobnicate", 2},
      {"bad seeds", {"--seeds", "9-1"}, "--seeds: \"9-1\" is not like 42-51", 2},
      {"unknown policy", {"--policy", "fastest"}, "no profile named \"fastest\"", 2},
      {"only cluster", {"--cluster", "x.csv"}, "--cluster requires --trace", 2},
      {"missing file", {"--cluster", "/nonexistent/n.csv", "--trace", "/nonexistent/p.csv"},
       "/nonexistent/n.csv", 1},
      {"bad row", {"--cluster", bad_csv, "--trace", bad_csv}, "bad_nodes.csv:2: column gpu", 1},
      {"bad mode", {"--mode", "fast", "--seeds", "1", "--policy", "random"},
       "--mode: fast not in {inflation,replay}", 2},
      {"bad threads", {"--threads", "0"}, "--threads: Value 0 not in range 1 to 256", 2},
      {"bad tie-break", {"--tie-break", "last", "--seeds", "1", "--policy", "random"},
       "--tie-break: last not in {first,random}", 2},
  };
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.name);
    std::vector<std::string> args = tc.args;
    args.push_back("--out");
    args.push_back(TempDir("sim-bad"));
    SimRun r = Sim(args);
    EXPECT_EQ(r.rc, tc.rc);
    EXPECT_THAT(r.err, HasSubstr(tc.error));
  }
}

}  // namespace
}  // namespace gpusched::cli
