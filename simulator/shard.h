#pragma once

// Sweeps split across machines. A sweep is the ordered list of runs `gpusched sim` makes: every
// (policy, seed) pair in RunMany's order, position p = policy_index * seeds + seed_index. Shard
// I of N takes the positions p with p % N == I (balanced; the N shards together are the sweep).
// `gpusched sim --shard I/N` writes its runs to a shard file; `gpusched sim merge` reads the N
// files back, checks that they are one complete sweep, and hands the runs, in sweep order, to
// the ordinary report writer (report.h), so the merged report is the unsharded run's report.
//
//   Shard s{.index = 1, .count = 3, .sweep = identity, .runs = runs_at_1_4_7};
//   RETURN_IF_ERROR(WriteShardFile(dir, s));                    // dir/shard-1-of-3.json
//   ASSIGN_OR_RETURN(Shard back, ParseShard(text, "dir/shard-1-of-3.json"));
//   ASSIGN_OR_RETURN(MergedSweep all, MergeShards({{"a.json", s0}, {"b.json", s1}, ...}));
//
// The file (JSON, format version 1):
//   {"format": "gpusched-sim-shard", "version": 1,
//    "shard": {"index": 1, "count": 3},
//    "sweep": {"policies": ["fgd", "random"], "seeds": [1, 2, 3], "title": "...",
//              "warnings": [...], "bandwidth_table": false,
//              "settings": {"inputs": "...", "mode": "inflation", ...}},   // strings, in order
//    "runs": [{"position": 1, "policy": "fgd", "seed": 2, "mode": "inflation", "nodes": 8, ...
//              every RunResult field ...,
//              "min_bandwidth_by_gpu_count": [{"gpus": 2, "pods": 5, "mean_gbps": 25.0}],
//              "curve": [{"arrived_pct": 0, "unallocated_pct": 100.0, ...}, ...]}, ...]}
// Doubles read back bit for bit: nlohmann writes the shortest form that round-trips, and NaN,
// +inf and -inf (which JSON lacks) are the strings "nan", "inf" and "-inf"; a missing KPI is
// null. So merged reports are byte-identical to those of one process doing the same runs.
//
// Reading is strict, since a shard that reads wrong would silently change a paper's table: every
// field is required and typed, unknown keys and repeated keys are refused, and each run must be
// the one its position names. Errors name the file and the field path
// ("s/shard-1-of-3.json: runs[0].curve[4].failed_pods: expected an integer, got string").
// Stateless; thread-safe.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "simulator/results.h"

namespace gpusched::simulator {

inline constexpr char kShardFormat[] = "gpusched-sim-shard";
inline constexpr int kShardFormatVersion = 1;
// At most this many shards in a sweep (a bound on --shard's N and on the files a merge reads).
inline constexpr int kMaxShards = 100'000;

// Which sweep a shard belongs to. Shards merge only when their identities are equal in every
// field; everything that decides a run's result or the report's text is here.
struct SweepIdentity {
  std::vector<std::string> policies;  // in sweep order
  std::vector<uint64_t> seeds;        // in sweep order
  std::string title;                  // the report's title
  std::vector<std::string> warnings;  // about the inputs, printed with the results
  bool bandwidth_table = false;       // the table also shows multi-GPU bandwidth (--topology)
  // The inputs (names, sizes and digests of their bytes) and the options, as text, in a fixed
  // order: compared, never interpreted, so a new option needs no format change.
  std::vector<std::pair<std::string, std::string>> settings;

  size_t total_runs() const { return policies.size() * seeds.size(); }
};

struct Shard {
  int index = 0;  // I
  int count = 1;  // N
  SweepIdentity sweep;
  std::vector<RunResult> runs;  // the runs at ShardPositions(...), in that order
};

// "shard-1-of-3.json".
std::string ShardFileName(int index, int count);
// Whether `name` (a file name, no directory) is ShardFileName of some index and count.
bool IsShardFileName(std::string_view name);

// Sweep positions of shard `index` of `count`: index, index + count, ... below `total`.
std::vector<size_t> ShardPositions(size_t total, int index, int count);

// FNV-1a 64 of `bytes` as 16 hex digits: a fingerprint of an input file, to tell sweeps apart
// (not a defence against someone forging a shard).
std::string Fnv1a64Hex(std::string_view bytes);

// The file's text. InvalidArgument when the runs are not those the shard's position list names.
absl::StatusOr<std::string> ShardJson(const Shard& shard);
// Writes dir/ShardFileName(...) through a temporary file and a rename, so that a reader (the
// merge, possibly on another machine sharing the volume) never sees half a file. Returns the path.
absl::StatusOr<std::string> WriteShardFile(const std::string& dir, const Shard& shard);

// Parses and checks one shard file's text; `source` names it in errors.
absl::StatusOr<Shard> ParseShard(std::string_view text, std::string_view source);

struct NamedShard {
  std::string source;  // the file it came from, for messages
  Shard shard;
};

struct MergedSweep {
  SweepIdentity sweep;
  std::vector<RunResult> runs;  // every run of the sweep, in sweep order
};

// Checks that `shards` are the N shards of one sweep, each exactly once, and puts their runs in
// sweep order. InvalidArgument naming the files otherwise: shards of different sweeps (and the
// first field that differs), a shard given twice, shards missing.
absl::StatusOr<MergedSweep> MergeShards(const std::vector<NamedShard>& shards);

}  // namespace gpusched::simulator
