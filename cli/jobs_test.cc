#include "cli/jobs.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace gpusched::cli {
namespace {

using ::testing::HasSubstr;

struct JobsRun {
  int rc;
  std::string out, err;
};

JobsRun Jobs(std::vector<std::string> args) {
  std::ostringstream out, err;
  const int rc = RunJobs(args, out, err);
  return {rc, out.str(), err.str()};
}

std::string TempDir(const std::string& name) {
  return (std::filesystem::path(::testing::TempDir()) / name).string();
}

TEST(JobsCommand, BuiltinSampleComparesTheDefaultRuns) {
  const std::string dir = TempDir("jobs-default");
  JobsRun r = Jobs({"--nodes", "16", "--out", dir});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("built-in 200-job sample: 200 jobs on 16 nodes x 8 GPUs"));
  for (const char* run : {"gang/fifo", "gang/greedy", "gang/smallest-first", "gang/backfill",
                          "naive/greedy"}) {
    EXPECT_THAT(r.out, HasSubstr(run));
  }
  for (const char* f : {"report.html", "summary.json", "runs.csv"}) {
    EXPECT_TRUE(std::filesystem::exists(std::filesystem::path(dir) / f)) << f;
  }
}

TEST(JobsCommand, TheLoadedSampleShowsWhereGangsAndPerPodSchedulingDiffer) {
  const std::string dir = TempDir("jobs-loaded");
  JobsRun r = Jobs({"--sample", "loaded", "--nodes", "16", "--out", dir});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("built-in loaded sample"));
  EXPECT_THAT(r.out, HasSubstr("What to look at: per-pod scheduling (naive/greedy) held "));
  EXPECT_THAT(Jobs({"--sample", "busy"}).rc, kExitUsage);
  EXPECT_THAT(Jobs({"--sample", "loaded", "--trace", dir}).rc, kExitUsage);
}

TEST(JobsCommand, JsonOutputHasEveryRunAndGangRunsHaveNoPartialGangs) {
  JobsRun r = Jobs({"--nodes", "8", "--runs", "gang/fifo,gang/backfill", "--json", "--out",
                    TempDir("jobs-json")});
  ASSERT_EQ(r.rc, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["runs"].size(), 2u);
  for (const auto& run : j["runs"]) {
    EXPECT_EQ(run["partial_gangs"], 0);
    EXPECT_EQ(run["deadlocked"], false);
    EXPECT_EQ(run["finished"].get<int>() + run["never_fits"].get<int>(), 200);
  }
}

TEST(JobsCommand, ReadsATraceFileAndReportsBadRowsWithTheirLine) {
  const std::string path = TempDir("jobs.trace");
  std::ofstream(path) << "Synthetic\t-\t-step\t1\t3600\t0.000000\t4\n"
                         "Synthetic\t-\t-step\t1\t7200\t10.000000\t16\n";
  JobsRun ok = Jobs({"--trace", path, "--nodes", "2", "--runs", "gang/fifo", "--out",
                     TempDir("jobs-file")});
  ASSERT_EQ(ok.rc, 0) << ok.err;
  EXPECT_THAT(ok.out, HasSubstr("2 jobs on 2 nodes"));
  std::ofstream(path) << "Synthetic\t-\t-step\t1\tlots\t0.000000\t4\n";
  JobsRun bad = Jobs({"--trace", path, "--out", TempDir("jobs-bad")});
  EXPECT_EQ(bad.rc, 1);
  EXPECT_THAT(bad.err, HasSubstr(":1: column total_steps"));
}

TEST(JobsCommand, BadFlagsAreRejectedWithUsage) {
  EXPECT_EQ(Jobs({"--nodes", "0"}).rc, 2);
  JobsRun run = Jobs({"--runs", "gang/lifo"});
  EXPECT_EQ(run.rc, 2);
  EXPECT_THAT(run.err, HasSubstr("order: \"lifo\""));
  JobsRun unknown = Jobs({"--frobnicate"});
  EXPECT_EQ(unknown.rc, 2);
  EXPECT_THAT(unknown.err, HasSubstr("not expected: --frobnicate"));
  EXPECT_THAT(unknown.err, HasSubstr("gpusched jobs --help"));
}

}  // namespace
}  // namespace gpusched::cli
