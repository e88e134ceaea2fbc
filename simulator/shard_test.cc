#include "simulator/shard.h"

#include <bit>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "simulator/results.h"

namespace gpusched::simulator {
namespace {

using ::testing::HasSubstr;

// Bit-for-bit, so NaN equals NaN and -0.0 differs from 0.0: what "reads back exactly" means.
bool Same(double a, double b) { return std::bit_cast<uint64_t>(a) == std::bit_cast<uint64_t>(b); }
bool Same(const std::optional<double>& a, const std::optional<double>& b) {
  return a.has_value() == b.has_value() && (!a.has_value() || Same(*a, *b));
}

void ExpectSameRun(const RunResult& a, const RunResult& b) {
  EXPECT_EQ(a.policy, b.policy);
  EXPECT_EQ(a.seed, b.seed);
  EXPECT_EQ(a.mode, b.mode);
  EXPECT_EQ(a.nodes, b.nodes);
  EXPECT_EQ(a.gpu_capacity_milli, b.gpu_capacity_milli);
  EXPECT_EQ(a.pods_arrived, b.pods_arrived);
  EXPECT_EQ(a.pods_scheduled, b.pods_scheduled);
  EXPECT_EQ(a.pods_failed, b.pods_failed);
  EXPECT_TRUE(Same(a.unallocated_at_100, b.unallocated_at_100));
  EXPECT_TRUE(Same(a.unallocated_at_130, b.unallocated_at_130));
  EXPECT_TRUE(Same(a.empty_frag_amount_pct, b.empty_frag_amount_pct));
  EXPECT_EQ(a.multi_gpu_pods_on_topology, b.multi_gpu_pods_on_topology);
  EXPECT_TRUE(Same(a.mean_multi_gpu_min_bandwidth_gbps, b.mean_multi_gpu_min_bandwidth_gbps));
  ASSERT_EQ(a.min_bandwidth_by_gpu_count.size(), b.min_bandwidth_by_gpu_count.size());
  for (const auto& [k, v] : a.min_bandwidth_by_gpu_count) {
    ASSERT_TRUE(b.min_bandwidth_by_gpu_count.count(k)) << k;
    EXPECT_EQ(v.first, b.min_bandwidth_by_gpu_count.at(k).first);
    EXPECT_TRUE(Same(v.second, b.min_bandwidth_by_gpu_count.at(k).second));
  }
  EXPECT_EQ(a.decision_log_digest, b.decision_log_digest);
  EXPECT_TRUE(Same(a.wall_seconds, b.wall_seconds));
  ASSERT_EQ(a.curve.size(), b.curve.size());
  for (size_t i = 0; i < a.curve.size(); ++i) {
    EXPECT_EQ(a.curve[i].arrived_pct, b.curve[i].arrived_pct) << i;
    EXPECT_TRUE(Same(a.curve[i].unallocated_pct, b.curve[i].unallocated_pct)) << i;
    EXPECT_TRUE(Same(a.curve[i].frag_amount_pct, b.curve[i].frag_amount_pct)) << i;
    EXPECT_TRUE(Same(a.curve[i].frag_ratio_pct, b.curve[i].frag_ratio_pct)) << i;
    EXPECT_EQ(a.curve[i].failed_pods, b.curve[i].failed_pods) << i;
  }
}

SweepIdentity Identity(std::vector<std::string> policies, std::vector<uint64_t> seeds) {
  SweepIdentity s;
  s.policies = std::move(policies);
  s.seeds = std::move(seeds);
  s.title = "t";
  s.warnings = {"w"};
  s.settings = {{"mode", "inflation"}, {"trace_fnv1a64", "00112233"}};
  return s;
}

// A run whose fields all differ from the defaults; `x` varies the doubles.
RunResult MakeRun(const std::string& policy, uint64_t seed, double x) {
  RunResult r;
  r.policy = policy;
  r.seed = seed;
  r.mode = "inflation";
  r.nodes = 8;
  r.gpu_capacity_milli = 32'000;
  r.pods_arrived = 100;
  r.pods_scheduled = 90;
  r.pods_failed = 10;
  r.unallocated_at_100 = 4.75 + x;
  r.unallocated_at_130 = std::nullopt;
  r.empty_frag_amount_pct = 13.9 + x;
  r.multi_gpu_pods_on_topology = 3;
  r.mean_multi_gpu_min_bandwidth_gbps = 1.0 / 3.0 + x;
  r.min_bandwidth_by_gpu_count = {{2, {2, 25.0}}, {4, {1, 1.0 / 7.0}}};
  r.decision_log_digest = "0123456789abcdef";
  r.wall_seconds = 0.1 + x;
  for (int a = 0; a < 5; ++a) {
    r.curve.push_back({a, 100.0 - a / 3.0 - x, a * 0.1, a / 7.0, a});
  }
  return r;
}

// Every run of a sweep, in sweep order.
std::vector<RunResult> Sweep(const SweepIdentity& s) {
  std::vector<RunResult> runs;
  for (const std::string& p : s.policies) {
    for (uint64_t seed : s.seeds) runs.push_back(MakeRun(p, seed, 0.001 * runs.size()));
  }
  return runs;
}

Shard MakeShard(const SweepIdentity& s, int index, int count) {
  const std::vector<RunResult> all = Sweep(s);
  Shard shard{index, count, s, {}};
  for (size_t p : ShardPositions(all.size(), index, count)) shard.runs.push_back(all[p]);
  return shard;
}

std::string Text(const Shard& s) {
  absl::StatusOr<std::string> t = ShardJson(s);
  EXPECT_TRUE(t.ok()) << t.status();
  return t.ok() ? *t : "";
}

TEST(ShardPositions, PartitionTheSweepInBalancedShards) {
  for (size_t total = 0; total <= 25; ++total) {
    for (int count = 1; count <= 30; ++count) {
      std::vector<int> seen(total, 0);
      size_t smallest = total + 1, largest = 0;
      for (int index = 0; index < count; ++index) {
        const std::vector<size_t> p = ShardPositions(total, index, count);
        smallest = std::min(smallest, p.size());
        largest = std::max(largest, p.size());
        for (size_t k = 0; k < p.size(); ++k) {
          ASSERT_LT(p[k], total);
          EXPECT_EQ(p[k] % count, static_cast<size_t>(index));
          if (k > 0) {
            EXPECT_LT(p[k - 1], p[k]);  // in sweep order
          }
          ++seen[p[k]];
        }
      }
      for (size_t i = 0; i < total; ++i) EXPECT_EQ(seen[i], 1) << total << " " << count << " " << i;
      EXPECT_LE(largest - smallest, 1u) << total << " / " << count;
    }
  }
  EXPECT_TRUE(ShardPositions(5, 5, 5).empty());
  EXPECT_TRUE(ShardPositions(5, -1, 5).empty());
  EXPECT_TRUE(ShardPositions(5, 0, 0).empty());
}

TEST(ShardFileName, NamesAndRecognises) {
  EXPECT_EQ(ShardFileName(1, 3), "shard-1-of-3.json");
  EXPECT_TRUE(IsShardFileName("shard-0-of-1.json"));
  EXPECT_TRUE(IsShardFileName("shard-12-of-100.json"));
  for (const char* no : {"shard-1-of-3.json.tmp", ".shard-1-of-3.json.h.1.tmp", "shard-1-of-.json",
                         "shard--of-3.json", "shard-a-of-3.json", "summary.json", "shard-1-of-3",
                         "xshard-1-of-3.json"}) {
    EXPECT_FALSE(IsShardFileName(no)) << no;
  }
}

TEST(ShardFile, RoundTripsEveryFieldBitForBit) {
  const SweepIdentity s = Identity({"fgd", "odd \"name\", with comma"}, {0, UINT64_MAX});
  Shard shard = MakeShard(s, 1, 2);
  ASSERT_EQ(shard.runs.size(), 2u);
  // Values JSON cannot say plainly, and ones that lose bits in a short decimal form.
  RunResult& r = shard.runs[0];
  r.unallocated_at_100 = std::numeric_limits<double>::quiet_NaN();
  r.unallocated_at_130 = -0.0;
  r.empty_frag_amount_pct = std::numeric_limits<double>::infinity();
  r.mean_multi_gpu_min_bandwidth_gbps = -std::numeric_limits<double>::infinity();
  r.wall_seconds = std::numeric_limits<double>::denorm_min();
  r.curve[0].unallocated_pct = std::numeric_limits<double>::max();
  r.curve[1].frag_ratio_pct = std::numeric_limits<double>::quiet_NaN();
  r.curve[2].frag_amount_pct = 0.1 + 0.2;
  r.nodes = INT64_MAX;
  r.pods_failed = INT64_MIN;
  shard.runs[1].curve.clear();
  shard.runs[1].min_bandwidth_by_gpu_count.clear();

  const std::string text = Text(shard);
  absl::StatusOr<Shard> back = ParseShard(text, "s.json");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->index, 1);
  EXPECT_EQ(back->count, 2);
  EXPECT_EQ(back->sweep.policies, s.policies);
  EXPECT_EQ(back->sweep.seeds, s.seeds);
  EXPECT_EQ(back->sweep.title, s.title);
  EXPECT_EQ(back->sweep.warnings, s.warnings);
  EXPECT_EQ(back->sweep.settings, s.settings);
  ASSERT_EQ(back->runs.size(), 2u);
  ExpectSameRun(back->runs[0], shard.runs[0]);
  ExpectSameRun(back->runs[1], shard.runs[1]);
  // And writing it again gives the same bytes.
  EXPECT_EQ(Text(*back), text);
}

TEST(ShardFile, EmptyShardIsValid) {
  const SweepIdentity s = Identity({"fgd"}, {1, 2});
  const Shard shard = MakeShard(s, 5, 7);  // N > runs
  ASSERT_TRUE(shard.runs.empty());
  absl::StatusOr<Shard> back = ParseShard(Text(shard), "e.json");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(back->runs.empty());
}

TEST(ShardFile, WriteIsAtomicAndNamed) {
  const std::string dir = (std::filesystem::path(::testing::TempDir()) / "shard-write").string();
  std::filesystem::remove_all(dir);
  const Shard shard = MakeShard(Identity({"fgd", "random"}, {1, 2, 3}), 2, 3);
  absl::StatusOr<std::string> path = WriteShardFile(dir, shard);
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_EQ(std::filesystem::path(*path).filename(), "shard-2-of-3.json");
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    ++files;
    EXPECT_EQ(e.path().filename(), "shard-2-of-3.json");  // no temporary left behind
  }
  EXPECT_EQ(files, 1);
  std::ifstream in(*path);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(), Text(shard));
  // Writing a shard whose run list does not match its position list is refused.
  Shard wrong = shard;
  wrong.runs.pop_back();
  EXPECT_FALSE(WriteShardFile(dir, wrong).ok());
}

// Replaces the first occurrence of `from` in `text`.
std::string Edit(std::string text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

TEST(ShardFile, BadFilesAreErrorsNamingFileAndField) {
  const std::string good = Text(MakeShard(Identity({"fgd", "random"}, {1, 2, 3}), 1, 2));
  struct Case {
    std::string name, text, error;
  };
  const std::vector<Case> cases = {
      {"empty", "", "x.json: not a shard file: invalid JSON (the file is empty)"},
      {"truncated", good.substr(0, good.size() / 2), "x.json: not a shard file: invalid JSON"},
      {"not json", "shard,1,2\n", "line 1, column 1"},
      {"not an object", "[1, 2]", "x.json: expected an object, got an array"},
      {"other format", Edit(good, "gpusched-sim-shard", "something-else"),
       "x.json: format: expected \"gpusched-sim-shard\", got \"something-else\""},
      {"newer version", Edit(good, "\"version\": 1", "\"version\": 2"),
       "version: this gpusched reads version 1, the file is version 2"},
      {"index out of range", Edit(good, "\"index\": 1", "\"index\": 2"),
       "shard.index: must be in 0..1, got 2"},
      {"count zero", Edit(good, "\"count\": 2", "\"count\": 0"), "shard.count: must be in 1..100000"},
      {"missing field", Edit(good, "\"wall_seconds\"", "\"wall_secs\""),
       "x.json: runs[0].wall_seconds: missing"},
      {"wrong type", Edit(good, "\"failed_pods\": 0", "\"failed_pods\": \"0\""),
       "runs[0].curve[0].failed_pods: expected an integer, got a string"},
      {"fraction for integer", Edit(good, "\"pods_arrived\": 100", "\"pods_arrived\": 100.5"),
       "runs[0].pods_arrived: expected an integer, got a fractional number"},
      {"negative seed", Edit(good, "\"seed\": 2", "\"seed\": -2"),
       "runs[0].seed: must not be negative"},
      {"bad double", Edit(good, "\"mean_gbps\": 25.0", "\"mean_gbps\": \"fast\""),
       "runs[0].min_bandwidth_by_gpu_count[0].mean_gbps: expected a number (or \"nan\", "
       "\"inf\", \"-inf\"), got a string"},
      {"repeated key", Edit(good, "\"nodes\": 8", "\"nodes\": 8, \"nodes\": 9"),
       "x.json: runs[0].nodes: repeated key"},
      {"unknown key", Edit(good, "\"nodes\": 8", "\"nodes\": 8, \"gpus\": 9"),
       "x.json: runs[0].gpus: unknown field"},
      {"run moved", Edit(good, "\"position\": 1", "\"position\": 2"),
       "runs[0].position: expected 1 (shard 1/2's run 0), got 2"},
      {"wrong policy", Edit(good, "\"policy\": \"fgd\"", "\"policy\": \"bestfit\""),
       "runs[0].policy: expected \"fgd\" at position 1, got \"bestfit\""},
      {"wrong seed", Edit(good, "\"seed\": 2", "\"seed\": 3"),
       "runs[0].seed: expected 2 at position 1, got 3"},
      {"seed list edited", Edit(good, "\"seeds\": [\n   1,", "\"seeds\": [\n   1,\n   4,"),
       "runs: 3 runs, but shard 1/2 of this 8-run sweep has 4"},
      {"seed twice", Edit(good, "\"seeds\": [\n   1,", "\"seeds\": [\n   1,\n   1,"),
       "sweep.seeds[1]: seed 1 is listed twice"},
      {"deep nesting", std::string(100, '[') + std::string(100, ']'), "nested deeper than 16"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<Shard> s = ParseShard(c.text, "x.json");
    ASSERT_FALSE(s.ok());
    EXPECT_THAT(std::string(s.status().message()), HasSubstr(c.error));
  }
  // A byte order mark is fine.
  EXPECT_TRUE(ParseShard("\xEF\xBB\xBF" + good, "bom.json").ok());
}

std::vector<NamedShard> AllShards(const SweepIdentity& s, int count) {
  std::vector<NamedShard> out;
  for (int i = 0; i < count; ++i) out.push_back({ShardFileName(i, count), MakeShard(s, i, count)});
  return out;
}

TEST(MergeShards, AnyOrderGivesTheSweepInOrder) {
  const SweepIdentity s = Identity({"fgd", "bestfit", "random"}, {7, 3, 5, 9});
  const std::vector<RunResult> all = Sweep(s);
  for (int count : {1, 2, 3, 5, 12, 20}) {
    SCOPED_TRACE(count);
    std::vector<NamedShard> shards = AllShards(s, count);
    std::reverse(shards.begin(), shards.end());
    absl::StatusOr<MergedSweep> m = MergeShards(shards);
    ASSERT_TRUE(m.ok()) << m.status();
    ASSERT_EQ(m->runs.size(), all.size());
    for (size_t i = 0; i < all.size(); ++i) ExpectSameRun(m->runs[i], all[i]);
    EXPECT_EQ(m->sweep.policies, s.policies);
    EXPECT_EQ(m->sweep.seeds, s.seeds);
  }
}

TEST(MergeShards, RefusesIncompleteRepeatedAndMixedSweeps) {
  const SweepIdentity s = Identity({"fgd", "random"}, {1, 2, 3});
  {
    std::vector<NamedShard> shards = AllShards(s, 3);
    shards.erase(shards.begin() + 1);
    absl::StatusOr<MergedSweep> m = MergeShards(shards);
    ASSERT_FALSE(m.ok());
    EXPECT_THAT(std::string(m.status().message()),
                HasSubstr("1 shard is missing: 1/3 (2 of 3 given)"));
  }
  {
    std::vector<NamedShard> shards = AllShards(s, 3);
    shards.push_back({"copy/shard-2-of-3.json", shards[2].shard});
    absl::StatusOr<MergedSweep> m = MergeShards(shards);
    ASSERT_FALSE(m.ok());
    EXPECT_THAT(std::string(m.status().message()),
                HasSubstr("shard 2/3 is given twice: shard-2-of-3.json and copy/shard-2-of-3.json"));
  }
  {
    std::vector<NamedShard> shards = AllShards(s, 3);
    shards[2].shard.sweep.settings[1].second = "ffffffff";
    shards[2].source = "other/shard-2-of-3.json";
    absl::StatusOr<MergedSweep> m = MergeShards(shards);
    ASSERT_FALSE(m.ok());
    EXPECT_THAT(std::string(m.status().message()),
                HasSubstr("other/shard-2-of-3.json: sweep.settings.trace_fnv1a64 is \"ffffffff\", "
                          "but shard-0-of-3.json has \"00112233\": shards of different sweeps"));
  }
  {
    std::vector<NamedShard> shards = AllShards(s, 2);
    shards[1] = {"b.json", MakeShard(Identity({"fgd", "random"}, {1, 2, 4}), 1, 2)};
    absl::StatusOr<MergedSweep> m = MergeShards(shards);
    ASSERT_FALSE(m.ok());
    EXPECT_THAT(std::string(m.status().message()),
                HasSubstr("b.json: sweep.seeds[2] is 4, but shard-0-of-2.json has 3"));
  }
  {
    std::vector<NamedShard> shards = AllShards(s, 2);
    shards.push_back({"c.json", MakeShard(s, 2, 3)});
    absl::StatusOr<MergedSweep> m = MergeShards(shards);
    ASSERT_FALSE(m.ok());
    EXPECT_THAT(std::string(m.status().message()),
                HasSubstr("c.json: shard.count is 3, but shard-0-of-2.json has 2"));
  }
  EXPECT_FALSE(MergeShards({}).ok());
}

}  // namespace
}  // namespace gpusched::simulator
