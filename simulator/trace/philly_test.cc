#include "simulator/trace/philly.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gpusched::simulator::trace {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

// A table with real v100 values (simulation_throughputs.json) for the job types of kRealLines,
// plus two co-location entries that must be ignored.
constexpr char kSmallTableJson[] = R"json({
  "v100": {
    "('Transformer (batch size 128)', 8)": {"null": 30.88352104398441,
                                              "('A3C', 1)": [1.0, 2.0]},
    "('Transformer (batch size 256)', 8)": {"null": 9.71702368412533},
    "('Recommendation (batch size 8192)', 1)": {"null": 2.841510364354536},
    "('ResNet-18 (batch size 32)', 1)": {"null": 29.947157347732464,
                                           "('ResNet-18 (batch size 32)', 1)": [3.0, 3.0]},
    "('ResNet-18 (batch size 32)', 2)": {"null": 50.0},
    "('ResNet-18 (batch size 32)', 8)": {"null": 160.0}
  },
  "k80": {}
})json";

// seed=0/925e2b.trace of the shared data, verbatim (the command of the last line ends in a space).
constexpr char kRealLines[] =
    "Transformer (batch size 128)\tcd %s/gpusched/workloads/pytorch/translation && python3 "
    "train.py -data %s/data/translation/multi30k.atok.low.pt -batch_size 128 "
    "-proj_share_weight\t-step\t1\t51427\t0.000000\t8\n"
    "Recommendation (batch size 8192)\tcd %s/gpusched/workloads/pytorch/recommendation/scripts/"
    "ml-20m && python3 train.py --data_dir %s/data/ml-20m/pro_sg/ --batch_size 8192\t-n\t1\t1033"
    "\t9357.000000\t8\n"
    "Transformer (batch size 256)\tcd %s/gpusched/workloads/pytorch/translation && python3 "
    "train.py -data %s/data/translation/multi30k.atok.low.pt -batch_size 256 "
    "-proj_share_weight\t-step\t1\t695566\t11109.000000\t8\n"
    "ResNet-18 (batch size 32)\tcd %s/gpusched/workloads/pytorch/image_classification/cifar10 "
    "&& python3 main.py --data_dir=%s/data/cifar10 --batch_size 32 \t--num_steps\t1\t684310\t"
    "12313.000000\t1\n";

ThroughputTable SmallTable() {
  absl::StatusOr<ThroughputTable> t = ThroughputTable::Parse(kSmallTableJson, "v100");
  EXPECT_TRUE(t.ok()) << t.status();
  return t.ok() ? *std::move(t) : ThroughputTable::Synthetic();
}

// The duration ParsePhillyTrace derives: total_steps / throughput, to the microsecond.
absl::Duration Expected(double steps, double steps_per_second) {
  return absl::Microseconds(std::llround(steps / steps_per_second * 1e6));
}

bool SameJobs(const std::vector<JobRecord>& a, const std::vector<JobRecord>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].id != b[i].id || a[i].job_type != b[i].job_type ||
        a[i].total_steps != b[i].total_steps || a[i].arrival != b[i].arrival ||
        a[i].duration != b[i].duration || a[i].gpus != b[i].gpus) {
      return false;
    }
  }
  return true;
}

std::string ReadFileOrEmpty(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A fresh directory under the test temp dir, removed at the end of the test.
class TempDir {
 public:
  explicit TempDir(const std::string& name) {
    const char* tmp = std::getenv("TEST_TMPDIR");
    const std::filesystem::path base = (tmp != nullptr && *tmp != '\0')
                                           ? std::filesystem::path(tmp)
                                           : std::filesystem::temp_directory_path();
    path_ = base / absl::StrCat("philly_test_", name, "_", ::getpid());
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }
  void Write(const std::string& name, const std::string& text) const {
    std::ofstream(path_ / name, std::ios::binary) << text;
  }

 private:
  std::filesystem::path path_;
};

// ---------------------------------------------------------------------------------------------
// ThroughputTable

TEST(ThroughputTableTest, ParsesTupleKeysAndIgnoresCoLocationEntries) {
  const ThroughputTable t = SmallTable();
  EXPECT_EQ(t.gpu_type(), "v100");
  EXPECT_EQ(t.job_types(), 4u);
  absl::StatusOr<double> sps = t.StepsPerSecond("Transformer (batch size 128)", 8);
  ASSERT_TRUE(sps.ok()) << sps.status();
  EXPECT_DOUBLE_EQ(*sps, 30.88352104398441);
  sps = t.StepsPerSecond("ResNet-18 (batch size 32)", 2);
  ASSERT_TRUE(sps.ok()) << sps.status();
  EXPECT_DOUBLE_EQ(*sps, 50.0);
}

TEST(ThroughputTableTest, AcceptsDoubleQuotedNamesAndSpacing) {
  absl::StatusOr<ThroughputTable> t = ThroughputTable::Parse(
      R"j({"x": {"(\"it's\", 4)": {"null": 2}, "('B',1)": {"null": 0.5}}})j", "x");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(*t->StepsPerSecond("it's", 4), 2.0);
  EXPECT_EQ(*t->StepsPerSecond("B", 1), 0.5);
}

TEST(ThroughputTableTest, FallsBackLinearlyFromTheLargestListedScaleBelow) {
  const ThroughputTable t = SmallTable();  // ResNet-18 (batch size 32): 1, 2, 8 listed
  const std::string type = "ResNet-18 (batch size 32)";
  EXPECT_DOUBLE_EQ(*t.StepsPerSecond(type, 3), 50.0 * 3 / 2);
  EXPECT_DOUBLE_EQ(*t.StepsPerSecond(type, 4), 50.0 * 4 / 2);
  EXPECT_DOUBLE_EQ(*t.StepsPerSecond(type, 7), 50.0 * 7 / 2);
  EXPECT_DOUBLE_EQ(*t.StepsPerSecond(type, 8), 160.0);
  EXPECT_DOUBLE_EQ(*t.StepsPerSecond(type, 64), 160.0 * 8);
  EXPECT_DOUBLE_EQ(*t.StepsPerSecond(type, kMaxScale), 160.0 * 128);
  // A type listed at scale 1 only scales from 1.
  EXPECT_DOUBLE_EQ(*t.StepsPerSecond("Recommendation (batch size 8192)", 8), 2.841510364354536 * 8);
}

TEST(ThroughputTableTest, StepsPerSecondErrors) {
  const ThroughputTable t = SmallTable();
  absl::StatusOr<double> s = t.StepsPerSecond("LM (batch size 5)", 1);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.status().message(),
            "job type \"LM (batch size 5)\" is not in the throughput table for v100 "
            "(4 job types)");

  s = t.StepsPerSecond("ResNet-18 (batch size 32)", 0);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.status().message(), "scale 0 is outside 1..1024");
  EXPECT_EQ(t.StepsPerSecond("ResNet-18 (batch size 32)", 1025).status().code(),
            absl::StatusCode::kInvalidArgument);

  // Listed at scale 8 only: nothing to scale 4 from.
  s = t.StepsPerSecond("Transformer (batch size 128)", 4);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.status().message(),
            "job type \"Transformer (batch size 128)\" has no throughput "
            "on v100 at scale 4 or below");

  absl::StatusOr<ThroughputTable> zero = ThroughputTable::Parse(
      R"j({"k80": {"('R', 1)": {"null": 3}, "('R', 2)": {"null": 0.0}}})j", "k80");
  ASSERT_TRUE(zero.ok()) << zero.status();
  s = zero->StepsPerSecond("R", 2);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(s.status().message(),
            "job type \"R\" at scale 2 has throughput 0 on k80 (it does not run there)");
  // The fallback from a zero stays zero: a larger gang of a job that does not fit does not fit.
  EXPECT_EQ(zero->StepsPerSecond("R", 16).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_DOUBLE_EQ(*zero->StepsPerSecond("R", 1), 3.0);

  absl::StatusOr<ThroughputTable> huge =
      ThroughputTable::Parse(R"j({"g": {"('H', 1)": {"null": 1e308}}})j", "g");
  ASSERT_TRUE(huge.ok()) << huge.status();
  EXPECT_DOUBLE_EQ(*huge->StepsPerSecond("H", 1), 1e308);
  EXPECT_THAT(std::string(huge->StepsPerSecond("H", 16).status().message()),
              HasSubstr("throughput overflows"));
}

TEST(ThroughputTableTest, ParseErrorsNameTheKey) {
  struct Case {
    std::string json;
    std::string message;
  };
  const std::vector<Case> cases = {
      {R"j({"v100": )j", "<throughputs json>: invalid JSON: "},
      {R"j([1, 2])j", "<throughputs json>: expected a JSON object of GPU types, got array"},
      {R"j({"k80": {}, "p100": {}})j",
       "<throughputs json>: no GPU type \"v100\" (available: k80, p100)"},
      {R"j({"v100": 3})j", "<throughputs json>: GPU type \"v100\": expected an object, got number"},
      {R"j({"v100": {"ResNet": {"null": 1}}})j",
       "<throughputs json>: v100: key \"ResNet\": expected \"('<job type>', <scale>)\" with "
       "scale in 1..1024"},
      {R"j({"v100": {"('A', 0)": {"null": 1}}})j", "key \"('A', 0)\": expected"},
      {R"j({"v100": {"('A', 2000)": {"null": 1}}})j", "key \"('A', 2000)\": expected"},
      {R"j({"v100": {"('A', x)": {"null": 1}}})j", "key \"('A', x)\": expected"},
      {R"j({"v100": {"('', 1)": {"null": 1}}})j", "key \"('', 1)\": expected"},
      {R"j({"v100": {"('A\", 1)": {"null": 1}}})j", "expected \"('<job type>', <scale>)\""},
      {R"j({"v100": {"'A', 1": {"null": 1}}})j", "expected \"('<job type>', <scale>)\""},
      {R"j({"v100": {"('A', 1)": [1]}})j",
       "<throughputs json>: v100: key \"('A', 1)\": expected an object, got array"},
      {R"j({"v100": {"('A', 1)": {"('B', 1)": [1, 1]}}})j",
       "<throughputs json>: v100: key \"('A', 1)\": no \"null\" entry (the throughput running "
       "alone)"},
      {R"j({"v100": {"('A', 1)": {"null": "fast"}}})j",
       "<throughputs json>: v100: key \"('A', 1)\": \"null\" is a string, expected a number"},
      {R"j({"v100": {"('A', 1)": {"null": -2}}})j",
       "<throughputs json>: v100: key \"('A', 1)\": \"null\" is -2, expected a finite number "
       ">= 0"},
      {R"j({"v100": {"('A', 1)": {"null": 1e999}}})j", "<throughputs json>: invalid JSON: "},
      {R"j({"v100": {"('A', 1)": {"null": NaN}}})j", "<throughputs json>: invalid JSON: "},
      {R"j({"v100": {"('A', 1)": {"null": 1}, "('A',1)": {"null": 2}}})j",
       "repeats job type \"A\" at scale 1"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<ThroughputTable> t = ThroughputTable::Parse(c.json, "v100");
    ASSERT_FALSE(t.ok()) << c.json;
    EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument) << c.json;
    EXPECT_THAT(std::string(t.status().message()), HasSubstr(c.message)) << c.json;
  }
}

TEST(ThroughputTableTest, ReadNamesThePath) {
  TempDir dir("read_table");
  dir.Write("bad.json", R"j({"v100": {"(A)": {"null": 1}}})j");
  const std::string bad = (dir.path() / "bad.json").string();
  absl::StatusOr<ThroughputTable> t = ThroughputTable::Read(bad, "v100");
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(t.status().message()), StartsWith(bad + ": v100: key \"(A)\""));

  dir.Write("syntax.json", "{\n  \"v100\": {,\n}");
  const std::string syntax = (dir.path() / "syntax.json").string();
  t = ThroughputTable::Read(syntax, "v100");
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(t.status().message()), StartsWith(syntax + ": invalid JSON: "));
  EXPECT_THAT(std::string(t.status().message()), HasSubstr("line 2"));

  const std::string missing = (dir.path() / "missing.json").string();
  t = ThroughputTable::Read(missing, "v100");
  EXPECT_EQ(t.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(t.status().message()), HasSubstr(missing));
}

TEST(ThroughputTableTest, SyntheticRunsOneStepPerSecondAtEveryScale) {
  const ThroughputTable t = ThroughputTable::Synthetic();
  EXPECT_EQ(t.gpu_type(), "synthetic");
  for (int scale : {1, 2, 3, 7, 8, 64, 1000, kMaxScale}) {
    absl::StatusOr<double> s = t.StepsPerSecond("Synthetic", scale);
    ASSERT_TRUE(s.ok()) << s.status();
    EXPECT_EQ(*s, 1.0) << scale;
  }
  EXPECT_EQ(t.StepsPerSecond("ResNet-50 (batch size 64)", 1).status().code(),
            absl::StatusCode::kNotFound);
}

// ---------------------------------------------------------------------------------------------
// ParsePhillyTrace

TEST(ParsePhillyTraceTest, ParsesRealLines) {
  const ThroughputTable t = SmallTable();
  absl::StatusOr<std::vector<JobRecord>> jobs =
      ParsePhillyTrace(kRealLines, "seed=0/925e2b.trace", t);
  ASSERT_TRUE(jobs.ok()) << jobs.status();
  ASSERT_EQ(jobs->size(), 4u);
  const JobRecord& a = (*jobs)[0];
  EXPECT_EQ(a.id, "925e2b-1");
  EXPECT_EQ(a.job_type, "Transformer (batch size 128)");
  EXPECT_EQ(a.total_steps, 51427);
  EXPECT_EQ(a.arrival, absl::ZeroDuration());
  EXPECT_EQ(a.duration, Expected(51427, 30.88352104398441));
  EXPECT_EQ(a.gpus, 8);

  // Scale 8 of a type listed at scale 1 only: linear fallback, 8x the 1-GPU throughput.
  const JobRecord& b = (*jobs)[1];
  EXPECT_EQ(b.id, "925e2b-2");
  EXPECT_EQ(b.job_type, "Recommendation (batch size 8192)");
  EXPECT_EQ(b.total_steps, 1033);
  EXPECT_EQ(b.arrival, absl::Seconds(9357));
  EXPECT_EQ(b.duration, Expected(1033, 2.841510364354536 * 8));
  EXPECT_EQ(b.gpus, 8);

  EXPECT_EQ((*jobs)[2].duration, Expected(695566, 9.71702368412533));
  EXPECT_EQ((*jobs)[2].arrival, absl::Seconds(11109));
  const JobRecord& d = (*jobs)[3];
  EXPECT_EQ(d.id, "925e2b-4");
  EXPECT_EQ(d.gpus, 1);
  EXPECT_EQ(d.duration, Expected(684310, 29.947157347732464));
  // 684310 steps at ~29.95 steps/s: about 6.3 hours.
  EXPECT_NEAR(absl::ToDoubleHours(d.duration), 6.347, 0.001);
}

TEST(ParsePhillyTraceTest, BlankLinesCrlfAndLineNumbers) {
  const std::string text =
      "\r\n"
      "Synthetic\t-\t-step\t1\t100\t5\t2\r\n"
      "  \t \n"
      "\n"
      "Synthetic\tcmd with spaces\t-n\t0\t7\t6.5\t1";  // no final newline
  absl::StatusOr<std::vector<JobRecord>> jobs =
      ParsePhillyTrace(text, "dir/x.y.trace", ThroughputTable::Synthetic());
  ASSERT_TRUE(jobs.ok()) << jobs.status();
  ASSERT_EQ(jobs->size(), 2u);
  EXPECT_EQ((*jobs)[0].id, "x.y-2");  // physical line numbers, the stem keeps inner dots
  EXPECT_EQ((*jobs)[0].duration, absl::Seconds(100));
  EXPECT_EQ((*jobs)[0].gpus, 2);
  EXPECT_EQ((*jobs)[1].id, "x.y-5");
  EXPECT_EQ((*jobs)[1].arrival, absl::Milliseconds(6500));
  EXPECT_EQ((*jobs)[1].duration, absl::Seconds(7));

  jobs = ParsePhillyTrace("", "empty.trace", ThroughputTable::Synthetic());
  ASSERT_TRUE(jobs.ok()) << jobs.status();
  EXPECT_TRUE(jobs->empty());
  jobs = ParsePhillyTrace("\n\r\n\n", "blank.trace", ThroughputTable::Synthetic());
  ASSERT_TRUE(jobs.ok()) << jobs.status();
  EXPECT_TRUE(jobs->empty());
}

TEST(ParsePhillyTraceTest, ArrivalsAcceptDecimalForms) {
  const ThroughputTable t = ThroughputTable::Synthetic();
  const std::vector<std::pair<std::string, absl::Duration>> cases = {
      {"0", absl::ZeroDuration()},
      {"0.000", absl::ZeroDuration()},
      {"6.000000", absl::Seconds(6)},
      {"2762344.000000", absl::Seconds(2762344)},
      {"0.000001", absl::Microseconds(1)},
      {"123.456789", absl::Microseconds(123456789)},
      {"1e3", absl::Seconds(1000)},
      {"-0.0", absl::ZeroDuration()},
      {"10000000000", absl::Seconds(10000000000)},
  };
  for (const auto& [text, want] : cases) {
    absl::StatusOr<std::vector<JobRecord>> jobs =
        ParsePhillyTrace(absl::StrCat("Synthetic\t-\t-\t1\t1\t", text, "\t1\n"), "a.trace", t);
    ASSERT_TRUE(jobs.ok()) << text << ": " << jobs.status();
    EXPECT_EQ((*jobs)[0].arrival, want) << text;
  }
}

TEST(ParsePhillyTraceTest, EveryMalformedRowNamesFileLineAndColumn) {
  const ThroughputTable t = ThroughputTable::Synthetic();
  struct Case {
    std::string row;  // written as line 2, after a good line 1
    std::string message;
  };
  const std::vector<Case> cases = {
      {"Synthetic\t-\t-step\t1\t100\t5", "f.trace:2: expected 7 tab-separated fields, got 6"},
      {"Synthetic\t-\t-step\t1\t100\t5\t1\t", "f.trace:2: expected 7 tab-separated fields, got 8"},
      {"Synthetic -  -step 1 100 5 1", "f.trace:2: expected 7 tab-separated fields, got 1"},
      {"\t-\t-step\t1\t100\t5\t1", "f.trace:2: column job_type: empty"},
      {"Synthetic\t-\t-step\t2\t100\t5\t1",
       "f.trace:2: column needs_data_dir: \"2\" is outside 0..1"},
      {"Synthetic\t-\t-step\tyes\t100\t5\t1",
       "f.trace:2: column needs_data_dir: \"yes\" is not an integer"},
      {"Synthetic\t-\t-step\t1\t12x\t5\t1",
       "f.trace:2: column total_steps: \"12x\" is not an integer"},
      {"Synthetic\t-\t-step\t1\t1.5\t5\t1",
       "f.trace:2: column total_steps: \"1.5\" is not an integer"},
      {"Synthetic\t-\t-step\t1\t\t5\t1",
       "f.trace:2: column total_steps: empty, expected an integer"},
      {"Synthetic\t-\t-step\t1\t-\t5\t1", "f.trace:2: column total_steps: \"-\" is not an integer"},
      {"Synthetic\t-\t-step\t1\t0\t5\t1",
       "f.trace:2: column total_steps: \"0\" is outside 1..1000000000000000"},
      {"Synthetic\t-\t-step\t1\t-7\t5\t1",
       "f.trace:2: column total_steps: \"-7\" is outside 1..1000000000000000"},
      {"Synthetic\t-\t-step\t1\t99999999999999999999999\t5\t1",
       "f.trace:2: column total_steps: \"99999999999999999999999\" is outside "
       "1..1000000000000000"},
      {"Synthetic\t-\t-step\t1\t100\tsoon\t1",
       "f.trace:2: column arrival_time: \"soon\" is not a number"},
      {"Synthetic\t-\t-step\t1\t100\t5s\t1",
       "f.trace:2: column arrival_time: \"5s\" is not a number"},
      {"Synthetic\t-\t-step\t1\t100\t 5\t1",
       "f.trace:2: column arrival_time: \" 5\" is not a number"},
      {"Synthetic\t-\t-step\t1\t100\t+5\t1",
       "f.trace:2: column arrival_time: \"+5\" is not a number"},
      {"Synthetic\t-\t-step\t1\t100\t\t1",
       "f.trace:2: column arrival_time: empty, expected a number of seconds"},
      {"Synthetic\t-\t-step\t1\t100\t-1.5\t1",
       "f.trace:2: column arrival_time: \"-1.5\" is negative"},
      {"Synthetic\t-\t-step\t1\t100\tnan\t1",
       "f.trace:2: column arrival_time: \"nan\" is not finite"},
      {"Synthetic\t-\t-step\t1\t100\tNaN\t1",
       "f.trace:2: column arrival_time: \"NaN\" is not finite"},
      {"Synthetic\t-\t-step\t1\t100\tinf\t1",
       "f.trace:2: column arrival_time: \"inf\" is not finite"},
      {"Synthetic\t-\t-step\t1\t100\t-infinity\t1",
       "f.trace:2: column arrival_time: \"-infinity\" is not finite"},
      {"Synthetic\t-\t-step\t1\t100\t1e999\t1",
       "f.trace:2: column arrival_time: \"1e999\" is out of range"},
      {"Synthetic\t-\t-step\t1\t100\t2e10\t1",
       "f.trace:2: column arrival_time: \"2e10\" exceeds the maximum 1e+10 seconds"},
      {"Synthetic\t-\t-step\t1\t100\t5\t0",
       "f.trace:2: column scale_factor: \"0\" is outside 1..1024"},
      {"Synthetic\t-\t-step\t1\t100\t5\t1025",
       "f.trace:2: column scale_factor: \"1025\" is outside 1..1024"},
      {"Synthetic\t-\t-step\t1\t100\t5\t-8",
       "f.trace:2: column scale_factor: \"-8\" is outside 1..1024"},
      {"Synthetic\t-\t-step\t1\t100\t5\t8.0",
       "f.trace:2: column scale_factor: \"8.0\" is not an integer"},
      {"Synthetic\t-\t-step\t1\t100\t5\t",
       "f.trace:2: column scale_factor: empty, expected an integer"},
      {"ResNet-50 (batch size 64)\t-\t-step\t1\t100\t5\t1",
       "f.trace:2: column job_type: job type \"ResNet-50 (batch size 64)\" is not in the "
       "throughput table for synthetic (1 job types)"},
      {"Synthetic\t-\t-step\t1\t100\t\xff\t1",
       "f.trace:2: column arrival_time: \"\\xff\" is not a number"},
  };
  for (const Case& c : cases) {
    const std::string text = absl::StrCat("Synthetic\t-\t-step\t1\t100\t0\t1\n", c.row, "\n");
    absl::StatusOr<std::vector<JobRecord>> jobs = ParsePhillyTrace(text, "f.trace", t);
    ASSERT_FALSE(jobs.ok()) << c.row;
    EXPECT_EQ(jobs.status().code(), absl::StatusCode::kInvalidArgument) << c.row;
    EXPECT_EQ(jobs.status().message(), c.message) << c.row;
  }
}

TEST(ParsePhillyTraceTest, ThroughputProblemsNameTheLine) {
  absl::StatusOr<ThroughputTable> t = ThroughputTable::Parse(
      R"j({"k80": {"('R', 1)": {"null": 2}, "('R', 2)": {"null": 0},
                   "('S', 1)": {"null": 1e-9}}})j",
      "k80");
  ASSERT_TRUE(t.ok()) << t.status();
  absl::StatusOr<std::vector<JobRecord>> jobs =
      ParsePhillyTrace("R\t-\t-\t1\t10\t0\t1\nR\t-\t-\t1\t10\t0\t4\n", "z.trace", *t);
  ASSERT_FALSE(jobs.ok());
  EXPECT_EQ(jobs.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(jobs.status().message(),
            "z.trace:2: column job_type: job type \"R\" at scale 4 has throughput 0 on k80 (it "
            "does not run there)");

  jobs = ParsePhillyTrace("S\t-\t-\t1\t100000000000\t0\t1\n", "z.trace", *t);
  ASSERT_FALSE(jobs.ok());
  EXPECT_THAT(std::string(jobs.status().message()),
              StartsWith("z.trace:1: column total_steps: \"100000000000\" steps at 1e-09 steps/s "
                         "take 1e+20 s, over the maximum 1e+10 s"));
}

// ---------------------------------------------------------------------------------------------
// ReadPhillyTrace

TEST(ReadPhillyTraceTest, DirectoryMergesTraceFilesSortedByNameThenArrival) {
  TempDir dir("read_dir");
  // b's jobs tie with a's at 10 s: a (earlier by name) comes first, then file line order.
  dir.Write("b.trace",
            "Synthetic\t-\t-\t1\t1\t10\t1\nSynthetic\t-\t-\t1\t2\t3\t1\n"
            "Synthetic\t-\t-\t1\t3\t10\t2\n");
  dir.Write("a.trace", "Synthetic\t-\t-\t1\t4\t10\t4\nSynthetic\t-\t-\t1\t5\t20\t8\n");
  dir.Write("notes.txt", "not a trace\n");
  dir.Write("c.trace.bak", "not a trace either\n");
  std::filesystem::create_directories(dir.path() / "sub.trace");  // a directory: skipped

  absl::StatusOr<std::vector<JobRecord>> jobs =
      ReadPhillyTrace(dir.path().string(), ThroughputTable::Synthetic());
  ASSERT_TRUE(jobs.ok()) << jobs.status();
  std::vector<std::string> ids;
  for (const JobRecord& j : *jobs) ids.push_back(j.id);
  EXPECT_THAT(ids, ::testing::ElementsAre("b-2", "a-1", "b-1", "b-3", "a-2"));

  // A single file by path: its own order, no sorting needed.
  jobs = ReadPhillyTrace((dir.path() / "b.trace").string(), ThroughputTable::Synthetic());
  ASSERT_TRUE(jobs.ok()) << jobs.status();
  ASSERT_EQ(jobs->size(), 3u);
  EXPECT_EQ((*jobs)[1].id, "b-2");
}

TEST(ReadPhillyTraceTest, ErrorsNameTheFile) {
  TempDir dir("read_errors");
  const ThroughputTable t = ThroughputTable::Synthetic();
  absl::StatusOr<std::vector<JobRecord>> jobs = ReadPhillyTrace(dir.path().string(), t);
  EXPECT_EQ(jobs.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(jobs.status().message()), HasSubstr("no *.trace files in"));

  const std::string missing = (dir.path() / "missing.trace").string();
  jobs = ReadPhillyTrace(missing, t);
  EXPECT_EQ(jobs.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(jobs.status().message()), HasSubstr(missing));

  dir.Write("a.trace", "Synthetic\t-\t-\t1\t4\t10\t4\n");
  dir.Write("b.trace", "Synthetic\t-\t-\t1\t4\t10\t4\n\nSynthetic\t-\t-\t1\tfour\t10\t4\n");
  jobs = ReadPhillyTrace(dir.path().string(), t);
  EXPECT_EQ(jobs.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(jobs.status().message(),
            absl::StrCat((dir.path() / "b.trace").string(),
                         ":3: column total_steps: \"four\" is not an integer"));
}

// ---------------------------------------------------------------------------------------------
// The real data (../shared/data/philly-gavel relative to the repository root).

std::optional<std::filesystem::path> PhillyDir(std::string* why) {
  const char* root = std::getenv("GPUSCHED_SOURCE_DIR");
  if (root == nullptr || *root == '\0') {
    *why =
        "GPUSCHED_SOURCE_DIR is not set (ctest sets it to the repository root); the Philly "
        "traces are expected at $GPUSCHED_SOURCE_DIR/../shared/data/philly-gavel";
    return std::nullopt;
  }
  std::filesystem::path dir =
      std::filesystem::path(root) / ".." / "shared" / "data" / "philly-gavel";
  if (!std::filesystem::is_directory(dir)) {
    *why = absl::StrCat("no Philly traces at ", dir.string(),
                        " (expected $GPUSCHED_SOURCE_DIR/../shared/data/philly-gavel)");
    return std::nullopt;
  }
  return dir;
}

#define GPUSCHED_PHILLY_DIR_OR_SKIP(var)          \
  std::string why_skipped;                        \
  const auto var##_opt = PhillyDir(&why_skipped); \
  if (!var##_opt) GTEST_SKIP() << why_skipped;    \
  const std::filesystem::path var = *var##_opt

// ---------------------------------------------------------------------------------------------
// Hostile input, by class.

bool PrintableAscii(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    return static_cast<unsigned char>(c) >= 0x20 && static_cast<unsigned char>(c) < 0x7f;
  });
}

TEST(PhillyHostileTest, SpecialFilesAndSizeLimitsAreRefusedByName) {
  const ThroughputTable table = ThroughputTable::Synthetic();
  for (const char* path : {"/dev/zero", "/dev/null"}) {
    absl::StatusOr<std::vector<JobRecord>> jobs = ReadPhillyTrace(path, table);
    ASSERT_FALSE(jobs.ok()) << path;
    EXPECT_EQ(jobs.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(std::string(jobs.status().message()), HasSubstr("a character device"));
    absl::StatusOr<ThroughputTable> t = ThroughputTable::Read(path, "v100");
    ASSERT_FALSE(t.ok());
    EXPECT_EQ(t.status().code(), absl::StatusCode::kFailedPrecondition);
  }
  TempDir dir("hostile_size");
  absl::StatusOr<ThroughputTable> t = ThroughputTable::Read(dir.path().string(), "v100");
  ASSERT_FALSE(t.ok());
  EXPECT_THAT(std::string(t.status().message()), HasSubstr("is a directory, not a file"));
  const std::string line = "Synthetic\t-\t-step\t1\t10\t0\t1\n";
  dir.Write("a.trace", line + line);
  dir.Write("b.trace", line + line);
  EXPECT_TRUE(ReadPhillyTrace((dir.path() / "a.trace").string(), table, line.size() * 2).ok());
  absl::StatusOr<std::vector<JobRecord>> one =
      ReadPhillyTrace((dir.path() / "a.trace").string(), table, line.size());
  ASSERT_FALSE(one.ok());
  EXPECT_THAT(std::string(one.status().message()), HasSubstr("raise it with --max-input-mb"));
  // A directory's limit holds for its files together.
  EXPECT_TRUE(ReadPhillyTrace(dir.path().string(), table, line.size() * 4).ok());
  absl::StatusOr<std::vector<JobRecord>> both =
      ReadPhillyTrace(dir.path().string(), table, line.size() * 3);
  ASSERT_FALSE(both.ok());
  EXPECT_THAT(std::string(both.status().message()), HasSubstr("b.trace"));
}

TEST(PhillyHostileTest, Utf8BomIsAcceptedInTracesAndJson) {
  absl::StatusOr<std::vector<JobRecord>> jobs = ParsePhillyTrace(
      "\xEF\xBB\xBFSynthetic\t-\t-step\t1\t10\t0\t1\n", "bom.trace", ThroughputTable::Synthetic());
  ASSERT_TRUE(jobs.ok()) << jobs.status();
  EXPECT_EQ((*jobs)[0].job_type, "Synthetic");
  absl::StatusOr<ThroughputTable> t =
      ThroughputTable::Parse("\xEF\xBB\xBF{\"v100\": {\"('A', 1)\": {\"null\": 2}}}", "v100");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_DOUBLE_EQ(*t->StepsPerSecond("A", 1), 2.0);
}

TEST(PhillyHostileTest, DuplicateJsonKeysAndDeepNestingAreErrors) {
  struct Case {
    std::string json;
    std::string error;
  };
  const Case cases[] = {
      {R"json({"v100": {"('A', 1)": {"null": 2}, "('A', 1)": {"null": 3}}})json",
       "duplicate key \"('A', 1)\" in \"v100\""},
      {R"json({"v100": {}, "v100": {"('A', 1)": {"null": 3}}})json", "duplicate key \"v100\""},
      {R"json({"v100": {"('A', 1)": {"null": 2, "null": 0}}})json", "duplicate key \"null\""},
      {absl::StrCat("{\"v100\": ", std::string(100000, '['), std::string(100000, ']'), "}"),
       "nested deeper than 16 levels"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.json.substr(0, 80));
    absl::StatusOr<ThroughputTable> t = ThroughputTable::Parse(c.json, "v100");
    ASSERT_FALSE(t.ok());
    EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(t.status().message()), HasSubstr(c.error));
  }
}

TEST(PhillyHostileTest, BinaryBytesAreNeverEchoed) {
  std::string garbage;
  for (int i = 0; i < 512; ++i) garbage.push_back(static_cast<char>((i * 131 + 7) & 0xff));
  const ThroughputTable synthetic = ThroughputTable::Synthetic();
  for (const std::string& text :
       {garbage, std::string("Synth\xff\x01tic\t-\t-step\t1\t10\t0\t1\n"),
        std::string("Synthetic\t-\t-step\t1\t1\x80\x00x\t0\t1\n", 28),
        std::string("Synthetic\t-\t-step\t1\t10\t0\t1\t\xfe\n")}) {
    absl::StatusOr<std::vector<JobRecord>> jobs = ParsePhillyTrace(text, "bin.trace", synthetic);
    ASSERT_FALSE(jobs.ok());
    EXPECT_TRUE(PrintableAscii(std::string(jobs.status().message()))) << jobs.status();
    EXPECT_THAT(std::string(jobs.status().message()), StartsWith("bin.trace:"));
  }
  for (const std::string& json :
       {garbage, std::string("{\"v\xff\x01\": {}}"), std::string("{\"v100\": {\"\xc3\x28\": 1}}"),
        std::string("{\"v100\": \"\xff\xfe\"}"), std::string("[\"\x01\"]")}) {
    absl::StatusOr<ThroughputTable> t = ThroughputTable::Parse(json, "v100");
    ASSERT_FALSE(t.ok());
    EXPECT_TRUE(PrintableAscii(std::string(t.status().message()))) << t.status();
  }
}

TEST(PhillyHostileTest, LongLinesOfSeparatorsCostNoMemoryPerField) {
  // 2 M TABs on one line: the error counts the fields without storing them.
  const std::string text = std::string("Synthetic") + std::string(2'000'000, '\t') + "\n";
  absl::StatusOr<std::vector<JobRecord>> jobs =
      ParsePhillyTrace(text, "tabs.trace", ThroughputTable::Synthetic());
  ASSERT_FALSE(jobs.ok());
  EXPECT_THAT(std::string(jobs.status().message()),
              HasSubstr("tabs.trace:1: expected 7 tab-separated fields, got 2000001"));
}

TEST(PhillyHostileTest, ValuesOutsideTheirRangesAreErrors) {
  const ThroughputTable synthetic = ThroughputTable::Synthetic();
  struct Case {
    std::string row;
    std::string error;
  };
  const Case cases[] = {
      {"Synthetic\t-\t-step\t1\t10\tnan\t1", "column arrival_time: \"nan\" is not finite"},
      {"Synthetic\t-\t-step\t1\t10\tinf\t1", "column arrival_time: \"inf\" is not finite"},
      {"Synthetic\t-\t-step\t1\t10\t-1\t1", "column arrival_time: \"-1\" is negative"},
      {"Synthetic\t-\t-step\t1\t10\t1e11\t1", "exceeds the maximum"},
      {"Synthetic\t-\t-step\t1\t0\t0\t1", "column total_steps: \"0\" is outside 1.."},
      {"Synthetic\t-\t-step\t1\t-5\t0\t1", "column total_steps: \"-5\" is outside 1.."},
      {"Synthetic\t-\t-step\t1\t10\t0\t0", "column scale_factor: \"0\" is outside 1..1024"},
      {"Synthetic\t-\t-step\t1\t10\t0\t1025", "column scale_factor: \"1025\" is outside 1..1024"},
      {"Synthetic\t-\t-step\t2\t10\t0\t1", "column needs_data_dir: \"2\" is outside 0..1"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.row);
    absl::StatusOr<std::vector<JobRecord>> jobs = ParsePhillyTrace(c.row, "r.trace", synthetic);
    ASSERT_FALSE(jobs.ok());
    EXPECT_THAT(std::string(jobs.status().message()), HasSubstr(c.error));
  }
  absl::StatusOr<ThroughputTable> t =
      ThroughputTable::Parse(R"json({"v100": {"('A', 1)": {"null": -1}}})json", "v100");
  ASSERT_FALSE(t.ok());
  EXPECT_THAT(std::string(t.status().message()), HasSubstr("expected a finite number >= 0"));
}

TEST(PhillyHostileTest, BigGeneratedTraceIsReadWhole) {
  // 1.2 M rows (the size the benchmark times): every row is read, in order, with its line number.
  constexpr int kRows = 1'200'000;
  std::string text;
  text.reserve(static_cast<size_t>(kRows) * 40);
  for (int i = 0; i < kRows; ++i) {
    absl::StrAppend(&text, "Synthetic\t-\t-step\t1\t", 60 + i % 1000, "\t", i, ".5\t",
                    1 << (i % 4), "\n");
  }
  absl::StatusOr<std::vector<JobRecord>> jobs =
      ParsePhillyTrace(text, "big.trace", ThroughputTable::Synthetic());
  ASSERT_TRUE(jobs.ok()) << jobs.status();
  ASSERT_EQ(jobs->size(), static_cast<size_t>(kRows));
  EXPECT_EQ(jobs->back().id, absl::StrCat("big-", kRows));
  EXPECT_EQ(jobs->back().arrival, absl::Seconds(kRows - 1) + absl::Milliseconds(500));
  EXPECT_EQ((*jobs)[7].gpus, 8);
}

TEST(PhillyHostileTest, JobCountLimitIsStated) {
  EXPECT_EQ(kMaxTraceJobs, 10'000'000);
  // The limit is checked per row (a real limit-sized input would be ~140 MB); an empty trace and
  // a trace of blank lines are fine and reserve nothing for the blank lines.
  absl::StatusOr<std::vector<JobRecord>> blank =
      ParsePhillyTrace(std::string(5'000'000, '\n'), "blank.trace", ThroughputTable::Synthetic());
  ASSERT_TRUE(blank.ok());
  EXPECT_TRUE(blank->empty());
}

TEST(PhillyRealDataTest, ThroughputTable) {
  GPUSCHED_PHILLY_DIR_OR_SKIP(dir);
  const std::string json = (dir / "simulation_throughputs.json").string();
  absl::StatusOr<ThroughputTable> v100 = ThroughputTable::Read(json, "v100");
  ASSERT_TRUE(v100.ok()) << v100.status();
  EXPECT_EQ(v100->job_types(), 26u);
  EXPECT_DOUBLE_EQ(*v100->StepsPerSecond("ResNet-50 (batch size 64)", 8), 17.303172756892167);
  EXPECT_DOUBLE_EQ(*v100->StepsPerSecond("A3C", 4), 7.175767179667988 * 4);
  EXPECT_DOUBLE_EQ(*v100->StepsPerSecond("ResNet-50 (batch size 64)", 32), 17.303172756892167 * 4);

  absl::StatusOr<ThroughputTable> k80 = ThroughputTable::Read(json, "k80");
  ASSERT_TRUE(k80.ok()) << k80.status();
  EXPECT_DOUBLE_EQ(*k80->StepsPerSecond("ResNet-50 (batch size 128)", 1), 0.3472236920519382);
  // Gavel marks this job as not fitting 2+ K80s with a throughput of 0.
  EXPECT_EQ(k80->StepsPerSecond("ResNet-50 (batch size 128)", 2).status().code(),
            absl::StatusCode::kFailedPrecondition);

  for (const char* gpu : {"p100", "v100_unconsolidated"}) {
    absl::StatusOr<ThroughputTable> t = ThroughputTable::Read(json, gpu);
    EXPECT_TRUE(t.ok()) << gpu << ": " << t.status();
  }
  absl::StatusOr<ThroughputTable> h100 = ThroughputTable::Read(json, "h100");
  EXPECT_EQ(h100.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(h100.status().message()),
              HasSubstr("no GPU type \"h100\" (available: k80, k80_unconsolidated, p100, "));
}

TEST(PhillyRealDataTest, WholeSeed0Directory) {
  GPUSCHED_PHILLY_DIR_OR_SKIP(dir);
  absl::StatusOr<ThroughputTable> v100 =
      ThroughputTable::Read((dir / "simulation_throughputs.json").string(), "v100");
  ASSERT_TRUE(v100.ok()) << v100.status();
  absl::StatusOr<std::vector<JobRecord>> jobs =
      ReadPhillyTrace((dir / "traces" / "msr" / "seed=0").string(), *v100);
  ASSERT_TRUE(jobs.ok()) << jobs.status();
  ASSERT_EQ(jobs->size(), 15264u);

  std::map<int, int> by_gpus;
  std::set<std::string> ids;
  std::vector<double> durations;
  for (size_t i = 0; i < jobs->size(); ++i) {
    const JobRecord& j = (*jobs)[i];
    ++by_gpus[j.gpus];
    ids.insert(j.id);
    durations.push_back(absl::ToDoubleSeconds(j.duration));
    if (i > 0) {
      EXPECT_LE((*jobs)[i - 1].arrival, j.arrival) << j.id;
    }
  }
  EXPECT_EQ(ids.size(), jobs->size());
  const std::map<int, int> want = {{1, 10480}, {2, 463}, {4, 2044}, {7, 2},   {8, 1916}, {12, 6},
                                   {16, 255},  {20, 1},  {24, 5},   {32, 91}, {64, 1}};
  EXPECT_EQ(by_gpus, want);
  EXPECT_EQ(jobs->front().arrival, absl::ZeroDuration());
  EXPECT_EQ(jobs->back().arrival, absl::Seconds(10817570));  // 125 days

  // The figures quoted in philly.cc for the generator's duration fit.
  std::sort(durations.begin(), durations.end());
  const double median = (durations[7631] + durations[7632]) / 2;
  EXPECT_NEAR(median, 8802, 1);
  EXPECT_NEAR(durations.back(), 11337573, 1);

  // K80 cannot run some of these gangs at all; the error names the line.
  absl::StatusOr<ThroughputTable> k80 =
      ThroughputTable::Read((dir / "simulation_throughputs.json").string(), "k80");
  ASSERT_TRUE(k80.ok()) << k80.status();
  jobs = ReadPhillyTrace((dir / "traces" / "msr" / "seed=0").string(), *k80);
  EXPECT_EQ(jobs.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(jobs.status().message()),
              ::testing::MatchesRegex(".*/[0-9a-f]+\\.trace:[0-9]+: column job_type: job type "
                                      "\"ResNet-50 \\(batch size 128\\)\" at scale [0-9]+ has "
                                      "throughput 0 on k80.*"));
}

// ---------------------------------------------------------------------------------------------
// GenerateJobSample / FormatPhillyTrace

TEST(GenerateJobSampleTest, IsDeterministicForASeed) {
  const std::vector<JobRecord> a = GenerateJobSample({});
  const std::vector<JobRecord> b = GenerateJobSample({});
  ASSERT_EQ(a.size(), 200u);
  EXPECT_TRUE(SameJobs(a, b));
  EXPECT_EQ(FormatPhillyTrace(a), FormatPhillyTrace(b));
  const std::vector<JobRecord> c = GenerateJobSample({.seed = 2});
  EXPECT_NE(FormatPhillyTrace(a), FormatPhillyTrace(c));
}

TEST(GenerateJobSampleTest, ShapeOfTheSample) {
  const std::vector<JobRecord> jobs = GenerateJobSample({.jobs = 500, .seed = 3});
  ASSERT_EQ(jobs.size(), 500u);
  EXPECT_EQ(jobs.front().arrival, absl::ZeroDuration());
  for (size_t i = 0; i < jobs.size(); ++i) {
    const JobRecord& j = jobs[i];
    EXPECT_EQ(j.id, absl::StrCat("philly_sample-", i + 1));
    EXPECT_EQ(j.job_type, "Synthetic");
    EXPECT_EQ(j.duration, absl::Seconds(j.total_steps));
    EXPECT_GE(j.duration, absl::Seconds(60));
    EXPECT_LE(j.duration, absl::Hours(24 * 30));
    EXPECT_EQ(j.arrival, absl::Seconds(absl::ToInt64Seconds(j.arrival)));  // whole seconds
    EXPECT_GE(j.gpus, 1);
    EXPECT_LE(j.gpus, 64);
    if (i > 0) {
      EXPECT_LE(jobs[i - 1].arrival, j.arrival);
    }
  }
}

TEST(GenerateJobSampleTest, MixFollowsTheRealTrace) {
  constexpr int kJobs = 40000;
  const std::vector<JobRecord> jobs = GenerateJobSample({.jobs = kJobs, .seed = 11});
  std::map<int, int> by_gpus;
  std::vector<double> durations;
  for (const JobRecord& j : jobs) {
    ++by_gpus[j.gpus];
    durations.push_back(absl::ToDoubleSeconds(j.duration));
  }
  // Shares of seed=0's 15,264 jobs; a binomial sd at 40k jobs is at most 0.25 points.
  const std::map<int, double> share = {{1, 10480}, {2, 463},  {4, 2044},
                                       {8, 1916},  {16, 255}, {32, 91}};
  for (const auto& [gpus, count] : share) {
    EXPECT_NEAR(by_gpus[gpus] / double{kJobs}, count / 15264.0, 0.01) << gpus;
  }
  std::set<int> sizes;
  for (const auto& [gpus, count] : by_gpus) sizes.insert(gpus);
  EXPECT_TRUE(std::includes(std::set<int>{1, 2, 4, 7, 8, 12, 16, 20, 24, 32, 64}.begin(),
                            std::set<int>{1, 2, 4, 7, 8, 12, 16, 20, 24, 32, 64}.end(),
                            sizes.begin(), sizes.end()));
  EXPECT_TRUE(sizes.count(12) && sizes.count(24)) << "odd sizes drawn at ~1 in 3000";

  // Lognormal, median 8,802 s, sigma 2.36: quantiles as in the trace, clamped at 60 s / 30 d.
  std::sort(durations.begin(), durations.end());
  auto quantile = [&](double p) { return durations[static_cast<size_t>(p * (kJobs - 1))]; };
  EXPECT_NEAR(quantile(0.5), 8802, 8802 * 0.06);
  EXPECT_NEAR(quantile(0.1), 428, 428 * 0.15);
  EXPECT_NEAR(quantile(0.9), 181000, 181000 * 0.15);
  EXPECT_EQ(durations.front(), 60);
  EXPECT_EQ(durations.back(), 30 * 86400);

  // Exponential gaps with mean 60 s.
  const double mean_gap = absl::ToDoubleSeconds(jobs.back().arrival) / (kJobs - 1);
  EXPECT_NEAR(mean_gap, 60, 1.5);
}

TEST(GenerateJobSampleTest, TheLoadedSampleIsShortBusyAndCapped) {
  const JobSampleOptions o = LoadedJobSampleOptions();
  const std::vector<JobRecord> jobs = GenerateJobSample(o);
  ASSERT_EQ(jobs.size(), 200u);
  int capped = 0;
  for (const JobRecord& j : jobs) {
    EXPECT_LE(j.duration, absl::Hours(8)) << j.id;
    EXPECT_GE(j.duration, absl::Seconds(60)) << j.id;
    EXPECT_LE(j.gpus, 32) << j.id;
    capped += j.duration == absl::Hours(8) ? 1 : 0;
  }
  EXPECT_GT(capped, 0) << "the cap is what keeps one job from setting the makespan";
  // A cap beyond the sampler's own 30-day bound, or not finite, changes nothing.
  JobSampleOptions wide = o;
  wide.max_duration_s = 1e12;
  JobSampleOptions nan = o;
  nan.max_duration_s = std::nan("");
  JobSampleOptions month = o;
  month.max_duration_s = 30 * 86400;
  EXPECT_EQ(GenerateJobSample(wide).back().duration, GenerateJobSample(month).back().duration);
  EXPECT_EQ(GenerateJobSample(nan).size(), 200u);
}

TEST(GenerateJobSampleTest, OptionsAtTheirEdges) {
  EXPECT_TRUE(GenerateJobSample({.jobs = 0}).empty());
  EXPECT_TRUE(GenerateJobSample({.jobs = -5}).empty());
  for (const JobRecord& j : GenerateJobSample({.jobs = 300, .max_gpus = 8})) {
    EXPECT_LE(j.gpus, 8);
  }
  std::map<int, int> capped;
  for (const JobRecord& j : GenerateJobSample({.jobs = 3000, .max_gpus = 4})) ++capped[j.gpus];
  EXPECT_EQ(capped.rbegin()->first, 4);
  EXPECT_GT(capped[4], 3000 * 0.2);  // 4-GPU jobs plus every larger one cut to 4
  for (const JobRecord& j : GenerateJobSample({.jobs = 50, .max_gpus = -3})) {
    EXPECT_EQ(j.gpus, 1);
  }
  for (double mean : {0.0, -1.0, std::nan(""), HUGE_VAL}) {
    const std::vector<JobRecord> jobs =
        GenerateJobSample({.jobs = 20, .mean_interarrival_s = mean});
    ASSERT_EQ(jobs.size(), 20u);
    for (const JobRecord& j : jobs) EXPECT_EQ(j.arrival, absl::ZeroDuration()) << mean;
  }
  const std::vector<JobRecord> far = GenerateJobSample({.jobs = 20, .mean_interarrival_s = 1e300});
  EXPECT_EQ(far.back().arrival, absl::Seconds(10000000000));  // capped at kMaxTraceSeconds
}

TEST(FormatPhillyTraceTest, RoundTripsThroughTheSyntheticTable) {
  const std::vector<JobRecord> jobs = GenerateJobSample({.jobs = 300, .seed = 5});
  const std::string text = FormatPhillyTrace(jobs);
  absl::StatusOr<std::vector<JobRecord>> back =
      ParsePhillyTrace(text, "somewhere/philly_sample.trace", ThroughputTable::Synthetic());
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(SameJobs(*back, jobs));
}

TEST(FormatPhillyTraceTest, WritesSevenColumns) {
  std::vector<JobRecord> jobs(2);
  jobs[0] = {"x-1", "LM (batch size 5)", 374522, absl::Microseconds(2762344000001), absl::Hours(1),
             8};
  jobs[1] = {"x-2", "bad\tname\r\n", 1, absl::ZeroDuration(), absl::Seconds(1), 1};
  EXPECT_EQ(FormatPhillyTrace(jobs),
            "LM (batch size 5)\t-\t-step\t1\t374522\t2762344.000001\t8\n"
            "bad name  \t-\t-step\t1\t1\t0.000000\t1\n");
  EXPECT_EQ(FormatPhillyTrace({}), "");
  // A negative arrival is written as such (and rejected when read back).
  std::vector<JobRecord> negative = {{"n-1", "S", 1, absl::Microseconds(-1500000), {}, 1}};
  EXPECT_EQ(FormatPhillyTrace(negative), "S\t-\t-step\t1\t1\t-1.500000\t1\n");
}

TEST(FormatPhillyTraceTest, ShippedSampleMatchesTheGenerator) {
  const char* root = std::getenv("GPUSCHED_SOURCE_DIR");
  if (root == nullptr || *root == '\0') {
    GTEST_SKIP() << "GPUSCHED_SOURCE_DIR is not set (ctest sets it to the repository root); "
                    "the sample is expected at $GPUSCHED_SOURCE_DIR/simulator/testdata";
  }
  const std::filesystem::path path =
      std::filesystem::path(root) / "simulator" / "testdata" / "philly_sample.trace";
  ASSERT_TRUE(std::filesystem::exists(path)) << path;
  const std::vector<JobRecord> jobs = GenerateJobSample({.jobs = 200, .seed = 1});
  EXPECT_TRUE(ReadFileOrEmpty(path) == FormatPhillyTrace(jobs))
      << path << " differs from FormatPhillyTrace(GenerateJobSample({.jobs = 200, .seed = 1}))";

  absl::StatusOr<std::vector<JobRecord>> read =
      ReadPhillyTrace(path.string(), ThroughputTable::Synthetic());
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_TRUE(SameJobs(*read, jobs));
}

// ---------------------------------------------------------------------------------------------
// Robustness: damaged input gives a value or an InvalidArgument naming the file, never a crash.

void ExpectValueOrLabelledError(const std::string& text, const ThroughputTable& table) {
  absl::StatusOr<std::vector<JobRecord>> jobs = ParsePhillyTrace(text, "fuzz.trace", table);
  if (jobs.ok()) return;
  EXPECT_EQ(jobs.status().code(), absl::StatusCode::kInvalidArgument) << jobs.status();
  EXPECT_THAT(std::string(jobs.status().message()), StartsWith("fuzz.trace:"));
}

TEST(PhillyFuzzTest, TruncationsAndByteFlipsNeverCrash) {
  const ThroughputTable table = SmallTable();
  const std::string valid = kRealLines;
  for (size_t n = 0; n <= valid.size(); ++n) ExpectValueOrLabelledError(valid.substr(0, n), table);

  std::mt19937_64 gen(42);
  constexpr char kInteresting[] = {'\t', '\n', '\r', '-', '.', '0', '9', 'e', 'n', '\0', '\xff'};
  for (int round = 0; round < 4000; ++round) {
    std::string text = valid;
    const int edits = 1 + static_cast<int>(gen() % 4);
    for (int e = 0; e < edits && !text.empty(); ++e) {
      const size_t pos = gen() % text.size();
      switch (gen() % 4) {
        case 0:
          text[pos] = static_cast<char>(gen() & 0xff);
          break;
        case 1:
          text[pos] = kInteresting[gen() % sizeof(kInteresting)];
          break;
        case 2:
          text.erase(pos, 1 + gen() % 8);
          break;
        default:
          text.insert(pos, 1, kInteresting[gen() % sizeof(kInteresting)]);
          break;
      }
    }
    ExpectValueOrLabelledError(text, table);
  }
}

TEST(PhillyFuzzTest, DamagedThroughputJsonNeverCrashes) {
  const std::string valid = kSmallTableJson;
  std::mt19937_64 gen(7);
  for (int round = 0; round < 2000; ++round) {
    std::string text = valid;
    const size_t pos = gen() % text.size();
    if (round % 3 == 0) {
      text.resize(pos);
    } else {
      text[pos] = static_cast<char>(gen() & 0xff);
    }
    absl::StatusOr<ThroughputTable> t = ThroughputTable::Parse(text, "v100");
    if (!t.ok()) {
      EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument) << t.status();
      continue;
    }
    // Whatever survived must answer lookups without crashing.
    for (int scale : {1, 2, 3, 8, 64}) (void)t->StepsPerSecond("ResNet-18 (batch size 32)", scale);
  }
  // Deep nesting is rejected or parsed, not a stack overflow.
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  EXPECT_EQ(ThroughputTable::Parse(deep, "v100").status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace gpusched::simulator::trace
