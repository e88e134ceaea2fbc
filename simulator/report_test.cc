#include "simulator/report.h"

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <algorithm>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "simulator/results.h"

namespace gpusched::simulator {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

RunResult MakeRun(const std::string& policy, uint64_t seed, std::optional<double> u100,
                  std::optional<double> u130, int64_t failed = 0, double wall = 1.0) {
  RunResult r;
  r.policy = policy;
  r.seed = seed;
  r.mode = "inflation";
  r.nodes = 4;
  r.gpu_capacity_milli = 16000;
  r.pods_arrived = 100;
  r.pods_failed = failed;
  r.pods_scheduled = 100 - failed;
  r.unallocated_at_100 = u100;
  r.unallocated_at_130 = u130;
  r.empty_frag_amount_pct = 13.9;
  r.decision_log_digest = "d" + std::to_string(seed);
  r.wall_seconds = wall;
  return r;
}

// A short curve: ideal until 95 %, then flat at `plateau`.
std::vector<CurvePoint> MakeCurve(double plateau, int from = 90, int to = 131) {
  std::vector<CurvePoint> curve;
  for (int x = from; x <= to; ++x) {
    CurvePoint p;
    p.arrived_pct = x;
    p.unallocated_pct = std::max(plateau, 100.0 - x);
    p.frag_amount_pct = 0.8 * p.unallocated_pct;
    p.frag_ratio_pct = 80;
    p.failed_pods = x > 95 ? (x - 95) * 3 : 0;
    curve.push_back(p);
  }
  return curve;
}

std::string ReadAll(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::stringstream ss(text);
  std::string line;
  while (std::getline(ss, line)) lines.push_back(line);
  return lines;
}

// A fresh, empty directory path (not yet created) under the test temp dir.
fs::path FreshDir(const std::string& name) {
  fs::path dir = fs::path(::testing::TempDir()) / ("gpusched_report_test_" + name);
  fs::remove_all(dir);
  return dir;
}

// Display column of the first "±" (counting UTF-8 code points), or npos.
size_t PlusMinusColumn(const std::string& line) {
  const size_t byte = line.find("±");
  if (byte == std::string::npos) return byte;
  size_t col = 0;
  for (size_t i = 0; i < byte; ++i) {
    if ((static_cast<unsigned char>(line[i]) & 0xC0) != 0x80) ++col;
  }
  return col;
}

// ---------------------------------------------------------------------------------------------
// Summarize

TEST(Summarize, ComputesMeanAndSampleSdOverSeeds) {
  const std::vector<RunResult> runs = {
      MakeRun("fgd", 42, 4.0, 3.0, 10, 1.0),
      MakeRun("fgd", 43, 5.0, 4.0, 20, 2.0),
      MakeRun("fgd", 44, 6.0, 8.0, 30, 3.0),
  };
  const std::vector<PolicySummary> s = Summarize(runs);
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].policy, "fgd");
  EXPECT_EQ(s[0].runs, 3);
  EXPECT_DOUBLE_EQ(s[0].mean_unalloc_100, 5.0);
  EXPECT_DOUBLE_EQ(s[0].sd_unalloc_100, 1.0);  // sqrt((1 + 0 + 1) / 2)
  EXPECT_DOUBLE_EQ(s[0].mean_unalloc_130, 5.0);
  EXPECT_DOUBLE_EQ(s[0].sd_unalloc_130, std::sqrt(7.0));  // sqrt((4 + 1 + 9) / 2)
  EXPECT_DOUBLE_EQ(s[0].mean_failed_pods, 20.0);
  EXPECT_DOUBLE_EQ(s[0].mean_wall_seconds, 2.0);
}

TEST(Summarize, SingleRunHasZeroSd) {
  const std::vector<PolicySummary> s = Summarize({MakeRun("bestfit", 42, 7.25, 6.5)});
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].runs, 1);
  EXPECT_DOUBLE_EQ(s[0].mean_unalloc_100, 7.25);
  EXPECT_DOUBLE_EQ(s[0].sd_unalloc_100, 0.0);
  EXPECT_DOUBLE_EQ(s[0].mean_unalloc_130, 6.5);
  EXPECT_DOUBLE_EQ(s[0].sd_unalloc_130, 0.0);
}

TEST(Summarize, RunsMissingAKpiAreLeftOutOfThatKpi) {
  const std::vector<RunResult> runs = {
      MakeRun("fgd", 42, 4.0, std::nullopt, 0, 1.0),
      MakeRun("fgd", 43, 6.0, 5.0, 0, 1.0),
      MakeRun("fgd", 44, 5.0, 7.0, 0, 1.0),
      MakeRun("replayed", 1, std::nullopt, std::nullopt, 4, 1.0),
  };
  const std::vector<PolicySummary> s = Summarize(runs);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].runs, 3);
  EXPECT_DOUBLE_EQ(s[0].mean_unalloc_100, 5.0);
  EXPECT_DOUBLE_EQ(s[0].mean_unalloc_130, 6.0);  // (5 + 7) / 2, the missing run left out
  EXPECT_DOUBLE_EQ(s[0].sd_unalloc_130, std::sqrt(2.0));
  // No run reached the KPI: it is absent (NaN), not a made-up 0.
  EXPECT_EQ(s[1].runs, 1);
  EXPECT_TRUE(std::isnan(s[1].mean_unalloc_100));
  EXPECT_TRUE(std::isnan(s[1].mean_unalloc_130));
  EXPECT_DOUBLE_EQ(s[1].mean_failed_pods, 4.0);
}

TEST(Summarize, KeepsFirstAppearanceOrder) {
  const std::vector<RunResult> runs = {
      MakeRun("random", 1, 13.0, 12.0), MakeRun("fgd", 1, 4.0, 4.0),
      MakeRun("random", 2, 14.0, 13.0), MakeRun("bestfit", 1, 7.0, 7.0),
      MakeRun("fgd", 2, 5.0, 5.0),
  };
  const std::vector<PolicySummary> s = Summarize(runs);
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s[0].policy, "random");
  EXPECT_EQ(s[1].policy, "fgd");
  EXPECT_EQ(s[2].policy, "bestfit");
  EXPECT_EQ(s[0].runs, 2);
  EXPECT_EQ(s[1].runs, 2);
  EXPECT_EQ(s[2].runs, 1);
}

TEST(Summarize, EmptyInputGivesNoSummaries) { EXPECT_TRUE(Summarize({}).empty()); }

// ---------------------------------------------------------------------------------------------
// WriteReport

std::vector<RunResult> SmallRuns() {
  std::vector<RunResult> runs = {
      MakeRun("fgd", 42, 4.8, 4.6, 100, 0.5), MakeRun("fgd", 43, 4.9, 4.7, 110, 0.6),
      MakeRun("bestfit", 42, 7.1, 6.9, 150, 0.4), MakeRun("bestfit", 43, 7.2, 7.0, 160, 0.5)};
  runs[0].curve = MakeCurve(4.8);
  runs[1].curve = MakeCurve(4.9);
  runs[2].curve = MakeCurve(7.1);
  runs[3].curve = MakeCurve(7.2, 90, 120);  // a shorter run
  return runs;
}

TEST(WriteReport, WritesAllFourFilesIntoANewDirectory) {
  const fs::path dir = FreshDir("all_files") / "nested" / "out";
  const std::vector<RunResult> runs = SmallRuns();
  ASSERT_TRUE(WriteReport(dir.string(), runs, "unit test").ok());
  for (const char* name : {"summary.json", "runs.csv", "curves.csv", "report.html"}) {
    SCOPED_TRACE(name);
    EXPECT_TRUE(fs::is_regular_file(dir / name));
    EXPECT_GT(fs::file_size(dir / name), 0u);
  }
}

TEST(WriteReport, CsvFilesHaveTheDocumentedHeadersAndOneRowPerItem) {
  const fs::path dir = FreshDir("csv");
  const std::vector<RunResult> runs = SmallRuns();
  ASSERT_TRUE(WriteReport(dir.string(), runs, "csv").ok());

  const std::vector<std::string> run_lines = Lines(ReadAll(dir / "runs.csv"));
  ASSERT_EQ(run_lines.size(), 1 + runs.size());
  EXPECT_EQ(run_lines[0],
            "policy,seed,mode,pods_arrived,pods_scheduled,pods_failed,unalloc_100,unalloc_130,"
            "empty_frag_pct,digest,wall_seconds");
  EXPECT_EQ(run_lines[1], "fgd,42,inflation,100,0,100,4.800,4.600,13.900,d42,0.500");

  size_t points = 0;
  for (const RunResult& r : runs) points += r.curve.size();
  const std::vector<std::string> curve_lines = Lines(ReadAll(dir / "curves.csv"));
  ASSERT_EQ(curve_lines.size(), 1 + points);
  EXPECT_EQ(curve_lines[0],
            "policy,seed,arrived_pct,unallocated_pct,frag_amount_pct,frag_ratio_pct,failed");
  EXPECT_EQ(curve_lines[1], "fgd,42,90,10.000,8.000,80.000,0");
}

TEST(WriteReport, CsvQuotesFieldsWithCommasAndLeavesMissingKpisEmpty) {
  const fs::path dir = FreshDir("csv_quote");
  ASSERT_TRUE(
      WriteReport(dir.string(), {MakeRun("a,\"b\"", 7, std::nullopt, 3.0)}, "quote").ok());
  const std::vector<std::string> lines = Lines(ReadAll(dir / "runs.csv"));
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[1], "\"a,\"\"b\"\"\",7,inflation,100,100,0,,3.000,13.900,d7,1.000");
}

TEST(WriteReport, SummaryJsonParsesBackWithTheValues) {
  const fs::path dir = FreshDir("json");
  ASSERT_TRUE(WriteReport(dir.string(), SmallRuns(), "json title").ok());
  const nlohmann::json j = nlohmann::json::parse(ReadAll(dir / "summary.json"));
  EXPECT_EQ(j["title"], "json title");
  ASSERT_EQ(j["policies"].size(), 2u);
  const nlohmann::json& fgd = j["policies"][0];
  EXPECT_EQ(fgd["policy"], "fgd");
  EXPECT_EQ(fgd["runs"], 2);
  EXPECT_NEAR(fgd["unallocated_at_100"]["mean"].get<double>(), 4.85, 1e-9);
  EXPECT_NEAR(fgd["unallocated_at_100"]["sd"].get<double>(), 0.071, 1e-9);  // 0.0707 rounded
  EXPECT_NEAR(fgd["unallocated_at_130"]["mean"].get<double>(), 4.65, 1e-9);
  EXPECT_NEAR(fgd["failed_pods"].get<double>(), 105.0, 1e-9);
  EXPECT_EQ(j["policies"][1]["policy"], "bestfit");

  ASSERT_EQ(j["runs"].size(), 4u);
  EXPECT_EQ(j["runs"][0]["policy"], "fgd");
  EXPECT_EQ(j["runs"][0]["seed"], 42u);
  EXPECT_EQ(j["runs"][0]["digest"], "d42");
  EXPECT_NEAR(j["runs"][2]["unallocated_at_100"].get<double>(), 7.1, 1e-9);
}

TEST(WriteReport, HtmlIsSelfContainedWithChartsLegendAndEveryPolicy) {
  const fs::path dir = FreshDir("html");
  ASSERT_TRUE(WriteReport(dir.string(), SmallRuns(), "html title").ok());
  const std::string html = ReadAll(dir / "report.html");
  EXPECT_THAT(html, HasSubstr("<!DOCTYPE html>"));
  EXPECT_THAT(html, HasSubstr("<h1>html title</h1>"));
  EXPECT_THAT(html, HasSubstr("<svg"));
  EXPECT_THAT(html, HasSubstr("<polyline"));
  EXPECT_THAT(html, HasSubstr(">fgd<"));
  EXPECT_THAT(html, HasSubstr(">bestfit<"));
  EXPECT_THAT(html, HasSubstr("class=\"legend\""));
  EXPECT_THAT(html, HasSubstr("ideal (100 − arrived)"));
  EXPECT_THAT(html, HasSubstr("4.77 ± 0.11"));  // the paper's reference
  EXPECT_THAT(html, HasSubstr("7.14 ± 0.14"));
  EXPECT_THAT(html, HasSubstr("4.85 ± 0.07"));  // this run's summary
  EXPECT_THAT(html, HasSubstr("100 %</text>"));  // the 100 % marker
  // Self-contained: nothing fetched from elsewhere.
  EXPECT_THAT(html, Not(HasSubstr("http")));
  EXPECT_THAT(html, Not(HasSubstr("<script")));
  EXPECT_THAT(html, Not(HasSubstr("<link")));
  EXPECT_THAT(html, Not(HasSubstr("@import")));
  EXPECT_THAT(html, Not(HasSubstr("nan")));
}

TEST(WriteReport, HeatMapShowsEveryNodeOfEachPolicysFirstRun) {
  std::vector<RunResult> runs = SmallRuns();
  runs[0].node_gpu_alloc_milli = {-1, 0, 500, 1000};
  runs[1].node_gpu_alloc_milli = {-1, 1000, 1000, 1000};  // fgd's second seed: not drawn
  runs[2].node_gpu_alloc_milli = {-1, 250, 250, 0};
  const fs::path dir = FreshDir("heat");
  ASSERT_TRUE(WriteReport(dir.string(), runs, "heat").ok());
  const std::string html = ReadAll(dir / "report.html");
  EXPECT_THAT(html, HasSubstr("<h2>GPU allocation per node at the end of the run</h2>"));
  EXPECT_THAT(html, HasSubstr("fgd (seed 42)"));
  EXPECT_THAT(html, HasSubstr("bestfit (seed 42)"));
  EXPECT_THAT(html, HasSubstr("1 nodes full, 1 partly allocated, 1 idle"));
  EXPECT_THAT(html, HasSubstr("0 nodes full, 2 partly allocated, 1 idle"));
  EXPECT_THAT(html, Not(HasSubstr("3 nodes full")));
  EXPECT_THAT(html, HasSubstr("<title>node 0: no GPUs</title>"));
  EXPECT_THAT(html, HasSubstr("fill=\"#08306b\"><title>node 3: 100 % allocated</title>"));
  EXPECT_THAT(html, HasSubstr("fill=\"#ffffff\"><title>node 1: 0 % allocated</title>"));
}

TEST(WriteReport, EscapesPolicyNamesAndTitleInHtml) {
  const fs::path dir = FreshDir("escape");
  std::vector<RunResult> runs = {MakeRun("<b>&", 1, 5.0, 4.0)};
  runs[0].curve = MakeCurve(5.0);
  ASSERT_TRUE(WriteReport(dir.string(), runs, "a<script>\"x\"").ok());
  const std::string html = ReadAll(dir / "report.html");
  EXPECT_THAT(html, HasSubstr("&lt;b&gt;&amp;"));
  EXPECT_THAT(html, Not(HasSubstr("<b>&")));
  EXPECT_THAT(html, HasSubstr("a&lt;script&gt;&quot;x&quot;"));
  EXPECT_THAT(html, Not(HasSubstr("<script")));
  // The JSON keeps the name verbatim.
  const nlohmann::json j = nlohmann::json::parse(ReadAll(dir / "summary.json"));
  EXPECT_EQ(j["policies"][0]["policy"], "<b>&");
}

TEST(WriteReport, SameInputGivesByteIdenticalFiles) {
  const fs::path a = FreshDir("det_a"), b = FreshDir("det_b");
  ASSERT_TRUE(WriteReport(a.string(), SmallRuns(), "det").ok());
  ASSERT_TRUE(WriteReport(b.string(), SmallRuns(), "det").ok());
  for (const char* name : {"summary.json", "runs.csv", "curves.csv", "report.html"}) {
    SCOPED_TRACE(name);
    EXPECT_EQ(ReadAll(a / name), ReadAll(b / name));
  }
}

TEST(WriteReport, HandlesRunsWithoutCurvesOrRuns) {
  const fs::path a = FreshDir("no_curve"), b = FreshDir("no_runs");
  ASSERT_TRUE(WriteReport(a.string(), {MakeRun("fgd", 1, std::nullopt, std::nullopt)}, "t").ok());
  EXPECT_THAT(ReadAll(a / "report.html"), HasSubstr("n/a"));
  ASSERT_TRUE(WriteReport(b.string(), {}, "t").ok());
  EXPECT_EQ(Lines(ReadAll(b / "runs.csv")).size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(ReadAll(b / "summary.json"))["policies"].size(), 0u);
}

TEST(WriteReport, DirectoryUnderARegularFileIsAnErrorNamingThePath) {
  const fs::path base = FreshDir("blocked");
  fs::create_directories(base);
  const fs::path file = base / "plain_file";
  std::ofstream(file) << "x";
  const std::string dir = (file / "out").string();
  const absl::Status st = WriteReport(dir, SmallRuns(), "t");
  EXPECT_FALSE(st.ok());
  EXPECT_THAT(std::string(st.message()), HasSubstr(dir));
}

TEST(WriteReport, UnwritableFileIsAnErrorNamingTheFile) {
  const fs::path dir = FreshDir("unwritable");
  fs::create_directories(dir / "runs.csv");  // a directory where the file should go
  const absl::Status st = WriteReport(dir.string(), SmallRuns(), "t");
  EXPECT_FALSE(st.ok());
  EXPECT_THAT(std::string(st.message()), HasSubstr((dir / "runs.csv").string()));
}

TEST(WriteReport, EmptyDirectoryIsInvalidArgument) {
  EXPECT_EQ(WriteReport("", SmallRuns(), "t").code(), absl::StatusCode::kInvalidArgument);
}

// ---------------------------------------------------------------------------------------------
// A realistic input: six policies × three seeds on openb-like curves. The HTML stays compact.
// With GPUSCHED_REPORT_PREVIEW_DIR set, the report is also written there to look at.

double Softplus(double v) { return v > 30 ? v : std::log1p(std::exp(v)); }

std::vector<RunResult> RealisticRuns() {
  struct P {
    const char* name;
    double plateau, sd;
  };
  const P policies[] = {{"fgd", 4.8, 0.11},        {"bestfit", 7.1, 0.14},
                        {"packing", 8.2, 0.5},     {"clustering", 8.4, 0.6},
                        {"dotprod", 9.4, 0.19},    {"random", 13.7, 0.33}};
  std::vector<RunResult> runs;
  for (const P& p : policies) {
    for (int k = 0; k < 3; ++k) {
      const double level = p.plateau + (k - 1) * p.sd;
      RunResult r = MakeRun(p.name, 42 + k, std::nullopt, std::nullopt, 0, 0.6 + 0.05 * k);
      r.nodes = 1213;
      r.gpu_capacity_milli = 6212000;
      r.empty_frag_amount_pct = 13.9;
      r.pods_arrived = 10800;
      for (int x = 1; x <= 130; ++x) {
        CurvePoint c;
        c.arrived_pct = x;
        const double ideal = 100.0 - x;
        double u = level + 1.5 * Softplus((ideal - level) / 1.5);
        if (x > 100) u -= 0.007 * (x - 100);
        c.unallocated_pct = u;
        c.frag_amount_pct = std::min(0.9 * u, 13.9 + 0.1 * x * (1 - x / 105.0));
        c.frag_ratio_pct = 100.0 * c.frag_amount_pct / u;
        const double knee = 100.0 - level - 2;
        c.failed_pods = x > knee ? static_cast<int64_t>(3.6 * std::pow(x - knee, 1.5)) : 0;
        r.curve.push_back(c);
        if (x == 100) r.unallocated_at_100 = u;
        if (x == 130) r.unallocated_at_130 = u;
      }
      r.pods_failed = r.curve.back().failed_pods;
      r.pods_scheduled = r.pods_arrived - r.pods_failed;
      runs.push_back(std::move(r));
    }
  }
  return runs;
}

TEST(WriteReport, RealisticInputGivesACompactPage) {
  const fs::path dir = FreshDir("realistic");
  const std::vector<RunResult> runs = RealisticRuns();
  const std::string title = "openb default, inflation 130 % (synthetic curves)";
  ASSERT_TRUE(WriteReport(dir.string(), runs, title).ok());
  const std::string html = ReadAll(dir / "report.html");
  EXPECT_LT(html.size(), 200u * 1024u);
  for (const char* name : {"fgd", "bestfit", "packing", "clustering", "dotprod", "random"}) {
    EXPECT_THAT(html, HasSubstr(std::string(">") + name + "<"));
  }
  EXPECT_THAT(html, Not(HasSubstr("http")));
  if (const char* preview = std::getenv("GPUSCHED_REPORT_PREVIEW_DIR")) {
    ASSERT_TRUE(WriteReport(preview, runs, title).ok());
    PrintSummaryTable(std::cout, Summarize(runs));
  }
}

// ---------------------------------------------------------------------------------------------
// PrintSummaryTable and SummaryJson

TEST(PrintSummaryTable, PrintsAlignedRowsAndNaForMissingKpis) {
  const std::vector<RunResult> runs = {
      MakeRun("fgd", 42, 4.81, 4.60, 812, 0.71), MakeRun("fgd", 43, 4.93, 4.69, 800, 0.70),
      MakeRun("a-much-longer-policy", 1, 13.7, std::nullopt, 1200, 1.25)};
  std::ostringstream out;
  PrintSummaryTable(out, Summarize(runs));
  const std::vector<std::string> lines = Lines(out.str());
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_THAT(lines[0], HasSubstr("policy"));
  EXPECT_THAT(lines[0], HasSubstr("unalloc@100 (mean ± sd)"));
  EXPECT_THAT(lines[0], HasSubstr("unalloc@130 (mean ± sd)"));
  EXPECT_THAT(lines[0], HasSubstr("failed pods"));
  EXPECT_THAT(lines[0], HasSubstr("s/run"));
  EXPECT_THAT(lines[1], HasSubstr("4.87 ± 0.08"));
  EXPECT_THAT(lines[1], HasSubstr("806.0"));
  EXPECT_THAT(lines[2], HasSubstr("13.70 ± 0.00"));
  EXPECT_THAT(lines[2], HasSubstr("n/a"));
  // Aligned: the "±" of each row sits under the header's, and every line ends at one column.
  const size_t col = PlusMinusColumn(lines[0]);
  ASSERT_NE(col, std::string::npos);
  EXPECT_EQ(PlusMinusColumn(lines[1]), col);
  EXPECT_EQ(PlusMinusColumn(lines[2]), col);
  EXPECT_EQ(lines[1].find("fgd"), 0u);
  EXPECT_EQ(lines[0].find("runs"), lines[1].find("   2") + 0);  // right-aligned under "runs"
  EXPECT_EQ(lines[0].size() - lines[0].rfind("s/run"), 5u);
  EXPECT_EQ(lines[1].substr(lines[1].size() - 4), "0.70");
  EXPECT_EQ(lines[2].substr(lines[2].size() - 4), "1.25");
}

TEST(SummaryJson, HasTheDocumentedStructureInAFixedKeyOrder) {
  const std::vector<RunResult> runs = {MakeRun("fgd", 42, 4.81234, std::nullopt, 7, 1.0),
                                       MakeRun("fgd", 43, 4.81234, std::nullopt, 9, 1.0)};
  const std::string text = SummaryJson(Summarize(runs), "t");
  const nlohmann::ordered_json j = nlohmann::ordered_json::parse(text);
  ASSERT_TRUE(j.is_object());
  std::vector<std::string> keys;
  for (const auto& [k, v] : j.items()) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"title", "policies", "warnings"}));
  EXPECT_EQ(j["title"], "t");
  ASSERT_EQ(j["policies"].size(), 1u);
  const auto& p = j["policies"][0];
  keys.clear();
  for (const auto& [k, v] : p.items()) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"policy", "runs", "unallocated_at_100",
                                            "unallocated_at_130", "failed_pods"}));
  EXPECT_EQ(p["runs"], 2);
  EXPECT_DOUBLE_EQ(p["unallocated_at_100"]["mean"].get<double>(), 4.812);  // 3 decimals
  EXPECT_DOUBLE_EQ(p["unallocated_at_100"]["sd"].get<double>(), 0.0);
  EXPECT_TRUE(p["unallocated_at_130"]["mean"].is_null());  // no run reached 130 %
  EXPECT_TRUE(p["unallocated_at_130"]["sd"].is_null());
  EXPECT_DOUBLE_EQ(p["failed_pods"].get<double>(), 8.0);
  EXPECT_THAT(text, HasSubstr("4.812"));
  EXPECT_THAT(text, Not(HasSubstr("4.8123")));
}

TEST(SummaryJson, SameInputGivesIdenticalString) {
  const std::vector<PolicySummary> s = Summarize(SmallRuns());
  EXPECT_EQ(SummaryJson(s, "x"), SummaryJson(s, "x"));
  EXPECT_EQ(SummaryJson(s, "x"), SummaryJson(Summarize(SmallRuns()), "x"));
}

TEST(SummaryJson, InvalidUtf8InANameDoesNotThrow) {
  PolicySummary s;
  s.policy = std::string("bad\xff", 4);
  s.runs = 1;
  const std::string text = SummaryJson({s}, "t");
  EXPECT_TRUE(nlohmann::json::accept(text));
}

}  // namespace
}  // namespace gpusched::simulator
