#include "simulator/job_report.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace gpusched::simulator {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

std::vector<JobSimResult> Results() {
  JobSimResult gang;
  gang.label = "gang/fifo";
  gang.mode = "gang";
  gang.order = "fifo";
  gang.jobs = 10;
  gang.finished = 10;
  gang.avg_jct_hours = 2.5;
  gang.utilization_pct = 71.25;
  gang.busy_curve = {{0, 50}, {1, 100}, {2, 25}};
  JobSimResult naive = gang;
  naive.label = "naive/fifo";
  naive.mode = "naive";
  naive.finished = 4;
  naive.avg_jct_hours = 1.0;  // shorter only because it stopped: must not be ranked best
  naive.partial_gangs = 3;
  naive.deadlocked = true;
  naive.deadlock_at_hours = 1.5;
  naive.stuck_jobs = 2;
  naive.stuck_gpus_held = 8;
  return {gang, naive};
}

std::string Read(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(JobReportTest, TableShowsEveryRunAndTheDeadlock) {
  std::ostringstream out;
  PrintJobTable(out, Results());
  EXPECT_THAT(out.str(), HasSubstr("gang/fifo"));
  EXPECT_THAT(out.str(), HasSubstr("at 1.5 h: 2 jobs stuck, 8 GPUs held"));
  EXPECT_THAT(out.str(), HasSubstr("avg JCT h"));
}

TEST(JobReportTest, WritesJsonCsvAndHtml) {
  const fs::path dir = fs::path(::testing::TempDir()) / "job_report_test";
  fs::remove_all(dir);
  ASSERT_TRUE(WriteJobReport(dir.string(), Results(), "tiny <test>").ok());
  auto json = nlohmann::json::parse(Read(dir / "summary.json"));
  ASSERT_EQ(json["runs"].size(), 2u);
  EXPECT_EQ(json["runs"][1]["deadlocked"], true);
  EXPECT_EQ(json["runs"][1]["stuck_gpus_held"], 8);
  EXPECT_EQ(json["runs"][0]["avg_jct_hours"], 2.5);
  const std::string csv = Read(dir / "runs.csv");
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 3);
  const std::string html = Read(dir / "report.html");
  EXPECT_THAT(html, HasSubstr("tiny &lt;test&gt;"));
  EXPECT_THAT(html, HasSubstr("<svg"));
  EXPECT_THAT(html, HasSubstr("<td class=\"bad\">3</td>"));  // partial gangs flagged
  // The deadlocked run's shorter JCT is not marked best; the gang run's is.
  EXPECT_THAT(html, HasSubstr("<td class=\"best\">2.50</td>"));
  EXPECT_THAT(html, ::testing::Not(HasSubstr("<td class=\"best\">1.00</td>")));
}

TEST(JobReportTest, TheTakeawayComparesTheBestGangRunWithPerPodScheduling) {
  std::vector<JobSimResult> r = Results();
  EXPECT_EQ(JobTakeaway(r),
            "per-pod scheduling (naive/fifo) held 0.0 GPU-hours idle in 3 partly placed gangs and "
            "deadlocked at 1.5 h with 8 GPUs held by 2 stuck jobs; gang/fifo holds none idle and "
            "averages 2.5 h per job at 71.2 % utilization.");
  r.pop_back();
  EXPECT_EQ(JobTakeaway(r), "") << "nothing to compare without a naive run";
}

TEST(JobReportTest, ChartsTheBusyWindowAndTheJctDistribution) {
  std::vector<JobSimResult> r = Results();
  // A long quiet tail: one small job runs alone from 3 h to 100 h.
  for (JobSimResult& x : r) {
    x.busy_curve = {{0, 50}, {1, 100}, {2, 60}, {3, 2}, {100, 2}};
    x.jct_hours = {0.5, 1, 1.5, 2, 100};
  }
  const fs::path dir = fs::path(::testing::TempDir()) / "job_report_window";
  fs::remove_all(dir);
  ASSERT_TRUE(WriteJobReport(dir.string(), r, "t").ok());
  const std::string html = Read(dir / "report.html");
  EXPECT_THAT(html, HasSubstr("What to look at:"));
  EXPECT_THAT(html, HasSubstr("Drawn up to 2.1 h"));
  EXPECT_THAT(html, HasSubstr("the last job ends at 100.0 h"));
  EXPECT_THAT(html, HasSubstr("<h2>Job completion times</h2>"));
  EXPECT_THAT(html, HasSubstr("distribution of job completion times"));
}

TEST(JobReportTest, UnwritableDirectoryIsAClearError) {
  const fs::path file = fs::path(::testing::TempDir()) / "job_report_file";
  std::ofstream(file) << "x";
  absl::Status s = WriteJobReport((file / "sub").string(), Results(), "t");
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("cannot create report directory"));
}

}  // namespace
}  // namespace gpusched::simulator
