// `gpusched sim --shard I/N` and `gpusched sim merge`: a sweep split into shards and merged
// gives the unsharded run's results; every bad merge input is an error naming file and field.

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "cli/sim.h"
#include "cli/sim_testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "simulator/shard.h"

namespace gpusched::cli {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

// A fresh directory under the test's temporary directory.
std::string FreshDir(const std::string& name) {
  const fs::path p = fs::path(::testing::TempDir()) / "sim-shard" / name;
  fs::remove_all(p);
  return p.string();
}

std::string Read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// runs.csv without its last column, wall_seconds: the time each run took is measured, so it
// differs between any two executions of a run; every other byte must be equal.
std::string WithoutWallSeconds(const std::string& csv) {
  std::vector<std::string> lines;
  for (const std::string& line : std::vector<std::string>(absl::StrSplit(csv, '\n'))) {
    lines.push_back(line.substr(0, line.rfind(',')));
  }
  return absl::StrJoin(lines, "\n");
}

// The sweep of these tests: 2 policies x 3 seeds on the built-in sample (6 runs, well under a
// second in all).
const std::vector<std::string> kSweep = {"--policy", "fgd,random", "--seeds", "1-3",
                                         "--threads", "2"};

std::vector<std::string> With(std::vector<std::string> args, const std::vector<std::string>& more) {
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

// Runs every shard of `count` into `dir`.
void RunShards(const std::vector<std::string>& sweep, int count, const std::string& dir) {
  for (int i = 0; i < count; ++i) {
    SimRun r = Sim(With(sweep, {"--shard", absl::StrCat(i, "/", count), "--out", dir}));
    ASSERT_EQ(r.rc, 0) << r.err;
    ASSERT_TRUE(fs::exists(fs::path(dir) / simulator::ShardFileName(i, count)));
  }
}

TEST(SimShard, ShardsMergeToTheUnshardedResults) {
  const std::string whole = FreshDir("whole");
  SimRun unsharded = Sim(With(kSweep, {"--json", "--out", whole}));
  ASSERT_EQ(unsharded.rc, 0) << unsharded.err;
  for (int count : {1, 2, 3, 7}) {  // 7 > 6 runs: shard 6 is empty
    SCOPED_TRACE(count);
    const std::string shards = FreshDir(absl::StrCat("shards-", count));
    const std::string merged = FreshDir(absl::StrCat("merged-", count));
    RunShards(kSweep, count, shards);
    // Only the shard files: a report per shard would overwrite the others' on a shared volume.
    for (const auto& e : fs::directory_iterator(shards)) {
      EXPECT_TRUE(simulator::IsShardFileName(e.path().filename().string())) << e.path();
    }
    SimRun m = Sim({"merge", shards, "--out", merged, "--json"});
    ASSERT_EQ(m.rc, 0) << m.err;
    EXPECT_EQ(m.out, unsharded.out);  // the --json summary
    for (const char* f : {"summary.json", "curves.csv"}) {
      EXPECT_EQ(Read(fs::path(merged) / f), Read(fs::path(whole) / f)) << f;
    }
    EXPECT_EQ(WithoutWallSeconds(Read(fs::path(merged) / "runs.csv")),
              WithoutWallSeconds(Read(fs::path(whole) / "runs.csv")));
    EXPECT_TRUE(fs::exists(fs::path(merged) / "report.html"));
  }
}

TEST(SimShard, ShardsPartitionTheSweep) {
  const std::string dir = FreshDir("partition");
  RunShards(kSweep, 4, dir);
  // Sweep order: fgd 1, fgd 2, fgd 3, random 1, random 2, random 3; shard I has p % 4 == I.
  const std::vector<std::vector<std::string>> expected = {
      {"fgd/1", "random/2"}, {"fgd/2", "random/3"}, {"fgd/3"}, {"random/1"}};
  for (int i = 0; i < 4; ++i) {
    nlohmann::json j = nlohmann::json::parse(Read(fs::path(dir) / simulator::ShardFileName(i, 4)));
    std::vector<std::string> runs;
    for (const auto& r : j["runs"]) {
      runs.push_back(absl::StrCat(r["policy"].get<std::string>(), "/", r["seed"].get<uint64_t>()));
    }
    EXPECT_EQ(runs, expected[i]) << i;
    EXPECT_EQ(j["shard"]["index"], i);
    EXPECT_EQ(j["shard"]["count"], 4);
    EXPECT_EQ(j["sweep"]["policies"], nlohmann::json({"fgd", "random"}));
    EXPECT_EQ(j["sweep"]["seeds"], nlohmann::json({1, 2, 3}));
    EXPECT_EQ(j["sweep"]["settings"]["inputs"], "built-in openb-like sample");
    for (const auto& r : j["runs"]) EXPECT_FALSE(r["curve"].empty());  // the report's curves
  }
}

TEST(SimShard, TableOutputNamesTheShardAndTheMerge) {
  const std::string dir = FreshDir("table");
  SimRun r = Sim(With(kSweep, {"--shard", "1/2", "--out", dir}));
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("shard 1/2: 3 of 6 runs"));
  EXPECT_THAT(r.err, HasSubstr("[3/3]"));
  EXPECT_THAT(r.out, HasSubstr("Shard 1/2 (3 of 6 runs): " + dir + "/shard-1-of-2.json"));
  EXPECT_THAT(r.out, HasSubstr("gpusched sim merge " + dir + " --out REPORT_DIR"));
  EXPECT_THAT(r.out, Not(HasSubstr("Report:")));
  EXPECT_FALSE(fs::exists(fs::path(dir) / "report.html"));
}

TEST(SimShard, MergeTableMatchesTheUnshardedTableLayout) {
  const std::string shards = FreshDir("merge-table");
  RunShards(kSweep, 2, shards);
  const std::string out = FreshDir("merge-table-out");
  // Files may be given one by one, in any order.
  SimRun m = Sim({"merge", (fs::path(shards) / "shard-1-of-2.json").string(),
                  (fs::path(shards) / "shard-0-of-2.json").string(), "--out", out});
  ASSERT_EQ(m.rc, 0) << m.err;
  EXPECT_THAT(m.out, HasSubstr("built-in openb-like sample, inflation to 130%"));
  EXPECT_THAT(m.out, HasSubstr("unalloc@100 (mean ± sd)"));
  EXPECT_THAT(m.out, HasSubstr("Report: " + out + "/report.html"));
  EXPECT_THAT(m.err, HasSubstr("sim merge: 2 shards, 2 policies x 3 seeds = 6 runs"));
}

TEST(SimShard, TopologySweepMergesWithItsBandwidthTable) {
  const std::vector<std::string> sweep = {"--policy", "fgd,bestfit", "--seeds",  "1-2",
                                          "--threads", "2", "--topology", "G2=dgx1-v100"};
  const std::string whole = FreshDir("topo-whole");
  SimRun unsharded = Sim(With(sweep, {"--out", whole}));
  ASSERT_EQ(unsharded.rc, 0) << unsharded.err;
  const std::string shards = FreshDir("topo-shards");
  RunShards(sweep, 3, shards);
  const std::string merged = FreshDir("topo-merged");
  SimRun m = Sim({"merge", shards, "--out", merged});
  ASSERT_EQ(m.rc, 0) << m.err;
  // The bandwidth table has no measured times: byte for byte the unsharded run's.
  auto bandwidth = [](const std::string& out) {
    const size_t from = out.find("Multi-GPU pods"), to = out.find("\nReport:");
    return from == std::string::npos || to == std::string::npos ? "" : out.substr(from, to - from);
  };
  EXPECT_THAT(bandwidth(unsharded.out), HasSubstr("2 GPUs"));
  EXPECT_EQ(bandwidth(m.out), bandwidth(unsharded.out));
  EXPECT_EQ(Read(fs::path(merged) / "summary.json"), Read(fs::path(whole) / "summary.json"));
}

// Small openb files of the test's own, so that a changed input can be shown to be refused.
struct Inputs {
  std::string nodes, pods;
};

Inputs WriteInputs(const std::string& dir, int gpu_milli) {
  fs::create_directories(dir);
  Inputs in{(fs::path(dir) / "nodes.csv").string(), (fs::path(dir) / "pods.csv").string()};
  std::ofstream n(in.nodes);
  n << "sn,cpu_milli,memory_mib,gpu,model\n";
  for (int i = 0; i < 4; ++i) n << "node-" << i << ",64000,262144,4,G2\n";
  std::ofstream p(in.pods);
  p << "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,"
       "deletion_time,scheduled_time\n";
  for (int i = 0; i < 24; ++i) {
    p << "pod-" << i << ",4000,16384,1," << (i % 3 == 0 ? gpu_milli : 1000) << ",,LS,Running,"
      << i << "," << (i + 100) << "," << i << "\n";
  }
  return in;
}

TEST(SimShard, FileInputsAreFingerprintedAndForeignShardsRefused) {
  const Inputs a = WriteInputs(FreshDir("inputs-a"), 500);
  const Inputs b = WriteInputs(FreshDir("inputs-b"), 250);
  const std::vector<std::string> sweep_a = {"--cluster", a.nodes, "--trace", a.pods, "--policy",
                                            "bestfit", "--seeds", "1-2", "--threads", "1"};
  const std::string dir = FreshDir("inputs-shards");
  RunShards(sweep_a, 2, dir);
  nlohmann::json j = nlohmann::json::parse(Read(fs::path(dir) / "shard-0-of-2.json"));
  EXPECT_EQ(j["sweep"]["settings"]["cluster"], a.nodes);
  EXPECT_EQ(j["sweep"]["settings"]["trace_bytes"], std::to_string(fs::file_size(a.pods)));
  EXPECT_EQ(j["sweep"]["settings"]["trace_fnv1a64"].get<std::string>().size(), 16u);
  // The same paths, other bytes: shard 1 is run again after the trace changed.
  fs::copy_file(b.pods, a.pods, fs::copy_options::overwrite_existing);
  SimRun r = Sim(With(sweep_a, {"--shard", "1/2", "--out", dir}));
  ASSERT_EQ(r.rc, 0) << r.err;
  const std::string out = FreshDir("inputs-merged");
  SimRun m = Sim({"merge", dir, "--out", out});
  EXPECT_EQ(m.rc, 1);
  EXPECT_THAT(m.err, HasSubstr("shard-1-of-2.json: sweep.settings.trace_fnv1a64 is \""));
  EXPECT_THAT(m.err, HasSubstr("shard-0-of-2.json has \""));
  EXPECT_THAT(m.err, HasSubstr("shards of different sweeps do not merge"));
  EXPECT_FALSE(fs::exists(out)) << "a failed merge writes nothing";
}

TEST(SimShard, BadShardFlagIsAUsageError) {
  struct Case {
    std::string value, error;
  };
  const std::vector<Case> cases = {
      {"3/3", "--shard: \"3/3\" has I = 3; the shards of N = 3 are 0 to 2"},
      {"-1/2", "--shard: \"-1/2\" is not I/N"},
      {"a/b", "--shard: \"a/b\" is not I/N"},
      {"1/0", "--shard: \"1/0\" has N = 0"},
      {"2", "--shard: \"2\" is not I/N"},
      {"1/2/3", "is not I/N"},
      {"+1/2", "is not I/N"},
      {" 1/2", "is not I/N"},
      {"0/100001", "has N over 100000, the limit"},
      {"99999999/99999999", "is not I/N"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.value);
    const std::string dir = FreshDir("bad-flag");
    SimRun r = Sim(With(kSweep, {"--shard", c.value, "--out", dir}));
    EXPECT_EQ(r.rc, 2);
    EXPECT_THAT(r.err, HasSubstr(c.error));
    EXPECT_FALSE(fs::exists(dir)) << "checked before --out is created";
  }
  SimRun missing = Sim({"--shard"});
  EXPECT_EQ(missing.rc, 2);
  EXPECT_THAT(missing.err, HasSubstr("--shard"));
}

// Writes `text` as `name` into `dir`.
std::string Put(const std::string& dir, const std::string& name, const std::string& text) {
  fs::create_directories(dir);
  const std::string path = (fs::path(dir) / name).string();
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

TEST(SimShard, BadMergeInputsAreErrorsThatWriteNothing) {
  const std::string good = FreshDir("good");
  RunShards(kSweep, 3, good);
  const std::string s0 = Read(fs::path(good) / "shard-0-of-3.json");
  const std::string s1 = Read(fs::path(good) / "shard-1-of-3.json");
  const std::string s2 = Read(fs::path(good) / "shard-2-of-3.json");
  // A shard of another sweep: the same policies, other seeds.
  const std::string other = FreshDir("other");
  RunShards({"--policy", "fgd,random", "--seeds", "1-4", "--threads", "2"}, 3, other);
  const std::string foreign = Read(fs::path(other) / "shard-1-of-3.json");

  struct Case {
    std::string name;
    std::vector<std::pair<std::string, std::string>> files;  // name -> text, in one directory
    std::string error;
  };
  std::string edited = s1;  // shard 1/3 holds fgd/2 and random/2
  edited.replace(edited.find("\"seed\": 2"), 9, "\"seed\": \"2\"");
  const std::vector<Case> cases = {
      {"malformed JSON", {{"shard-0-of-3.json", s0}, {"shard-1-of-3.json", "{\"format\": ]"},
                          {"shard-2-of-3.json", s2}},
       "shard-1-of-3.json: not a shard file: invalid JSON: [json.exception.parse_error.101] parse "
       "error at line 1, column 12"},
      {"truncated", {{"shard-0-of-3.json", s0}, {"shard-1-of-3.json", s1.substr(0, s1.size() - 40)},
                     {"shard-2-of-3.json", s2}},
       "shard-1-of-3.json: not a shard file: invalid JSON"},
      {"wrong type", {{"shard-0-of-3.json", s0}, {"shard-1-of-3.json", edited},
                      {"shard-2-of-3.json", s2}},
       "shard-1-of-3.json: runs[0].seed: expected an integer, got a string"},
      {"missing shard", {{"shard-0-of-3.json", s0}, {"shard-2-of-3.json", s2}},
       "1 shard is missing: 1/3 (2 of 3 given)"},
      {"mixed sweeps", {{"shard-0-of-3.json", s0}, {"shard-1-of-3.json", foreign},
                        {"shard-2-of-3.json", s2}},
       "shard-1-of-3.json: sweep.seeds is 4 items, but "},
      {"empty file", {{"shard-0-of-3.json", s0}, {"shard-1-of-3.json", ""},
                      {"shard-2-of-3.json", s2}},
       "shard-1-of-3.json: not a shard file: invalid JSON (the file is empty)"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string dir = FreshDir("bad-in");
    for (const auto& [name, text] : c.files) Put(dir, name, text);
    const std::string out = FreshDir("bad-out");
    SimRun m = Sim({"merge", dir, "--out", out});
    EXPECT_EQ(m.rc, 1);
    EXPECT_THAT(m.err, HasSubstr("sim merge: "));
    EXPECT_THAT(m.err, HasSubstr(c.error));
    EXPECT_FALSE(fs::exists(out)) << "a failed merge writes nothing";
    EXPECT_EQ(m.out, "");
  }

  // The same shard twice: a directory and a copy of one of its files elsewhere.
  const std::string copy = Put(FreshDir("copy"), "shard-2-of-3.json", s2);
  const std::string out = FreshDir("dup-out");
  SimRun dup = Sim({"merge", good, copy, "--out", out});
  EXPECT_EQ(dup.rc, 1);
  EXPECT_THAT(dup.err, HasSubstr("shard 2/3 is given twice: " + good + "/shard-2-of-3.json and " +
                                 copy));
  EXPECT_FALSE(fs::exists(out));

  // Paths that hold no shard.
  SimRun none = Sim({"merge", FreshDir("no-such-dir"), "--out", out});
  EXPECT_EQ(none.rc, 1);
  EXPECT_THAT(none.err, HasSubstr("no-such-dir: no such file"));
  const std::string empty = FreshDir("empty-dir");
  fs::create_directories(empty);
  SimRun nothing = Sim({"merge", empty, "--out", out});
  EXPECT_EQ(nothing.rc, 1);
  EXPECT_THAT(nothing.err, HasSubstr("empty-dir: no shard files (shard-I-of-N.json)"));
  EXPECT_FALSE(fs::exists(out));
}

TEST(SimShard, MergeUsageErrors) {
  struct Case {
    std::vector<std::string> args;
    std::string error;
  };
  const std::vector<Case> cases = {
      {{"merge", "--out", "x"}, "shards is required"},
      {{"merge", "d"}, "--out is required"},
      {{"merge", "d", "--out", "x", "--policy", "fgd"}, "--policy"},
      {{"--policy", "fgd", "merge", "d", "--out", "x"}, "--policy is a flag of sim, not of merge"},
      {{"merge", "d", "--out", "--json"}, "--out"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(absl::StrJoin(c.args, " "));
    SimRun r = Sim(c.args);
    EXPECT_EQ(r.rc, 2);
    EXPECT_THAT(r.err, HasSubstr(c.error));
  }
  SimRun help = Sim({"merge", "--help"});
  EXPECT_EQ(help.rc, 0);
  EXPECT_THAT(help.out, HasSubstr("shard files"));
}

}  // namespace
}  // namespace gpusched::cli
