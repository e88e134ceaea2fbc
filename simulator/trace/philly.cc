#include "simulator/trace/philly.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <iterator>
#include <map>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "common/file.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"
#include "simulator/trace/text.h"

namespace gpusched::simulator::trace {
namespace {

constexpr int kColumns = 7;
constexpr std::string_view kColumnNames[kColumns] = {
    "job_type",    "command",      "num_steps_arg", "needs_data_dir",
    "total_steps", "arrival_time", "scale_factor"};
enum Column { kJobType, kCommand, kNumStepsArg, kNeedsDataDir, kTotalSteps, kArrival, kScale };

constexpr std::string_view kSyntheticJobType = "Synthetic";

// Nesting limit of simulation_throughputs.json (it has 3 levels).
constexpr int kMaxJsonDepth = 16;

std::string_view StripBom(std::string_view text) {
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  return text;
}


// A value quoted for an error message, cut if very long; bytes that are not printable ASCII are
// escaped. Like absl::CHexEscape, but it leaves "'" alone: the throughput table's keys are full
// of them.
std::string Quote(std::string_view v) { return QuoteForMessage(v); }

// Errors for one row of one file, in the form "<file>:<line>: column <name>: <what>".
struct RowContext {
  std::string_view file;
  int64_t line = 0;

  absl::Status ColumnError(Column column, std::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat(std::string(file), ":", line, ": column ",
                                                   std::string(kColumnNames[column]), ": ",
                                                   std::string(what)));
  }
  absl::Status LineError(std::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(file), ":", line, ": ", std::string(what)));
  }
};

bool AllDigits(std::string_view v) {
  return !v.empty() && std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Parses a decimal integer (an optional '-' and digits only) in min..max. The bounds are far
// below 2^63 / 10, so the accumulation cannot overflow before the range check stops it.
absl::StatusOr<int64_t> ParseIntInRange(const RowContext& ctx, Column column, std::string_view v,
                                        int64_t min, int64_t max) {
  if (v.empty()) return ctx.ColumnError(column, "empty, expected an integer");
  const bool negative = v.front() == '-';
  const std::string_view digits = negative ? v.substr(1) : v;
  if (!AllDigits(digits)) {
    return ctx.ColumnError(column, absl::StrCat(Quote(v), " is not an integer"));
  }
  auto out_of_range = [&] {
    return ctx.ColumnError(column, absl::StrCat(Quote(v), " is outside ", min, "..", max));
  };
  int64_t value = 0;
  for (char c : digits) {
    value = value * 10 + (c - '0');
    if (value > max && !negative) return out_of_range();
    if (value > -min && negative) return out_of_range();
  }
  if (negative) value = -value;
  if (value < min) return out_of_range();
  return value;
}

// Parses a finite decimal number of seconds in 0..kMaxTraceSeconds (exponents allowed, as
// Python may write them). std::from_chars is locale-independent and takes no leading '+' or
// spaces, which keeps the accepted syntax narrow.
absl::StatusOr<double> ParseSeconds(const RowContext& ctx, Column column, std::string_view v) {
  if (v.empty()) return ctx.ColumnError(column, "empty, expected a number of seconds");
  double x = 0;
  const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
  if (ec == std::errc::result_out_of_range) {
    return ctx.ColumnError(column, absl::StrCat(Quote(v), " is out of range"));
  }
  if (ec != std::errc() || end != v.data() + v.size()) {
    return ctx.ColumnError(column, absl::StrCat(Quote(v), " is not a number"));
  }
  if (!std::isfinite(x)) return ctx.ColumnError(column, absl::StrCat(Quote(v), " is not finite"));
  if (x < 0) return ctx.ColumnError(column, absl::StrCat(Quote(v), " is negative"));
  if (x > kMaxTraceSeconds) {
    return ctx.ColumnError(
        column, absl::StrCat(Quote(v), " exceeds the maximum ", kMaxTraceSeconds, " seconds"));
  }
  return x;
}

// Seconds in 0..kMaxTraceSeconds to a Duration quantized to microseconds. Quantizing (rather
// than absl::Seconds(double), which keeps the binary fraction) makes "6.000001" exactly 6 s + 1 us
// and so lets FormatPhillyTrace's 6 decimals round-trip.
absl::Duration SecondsToDuration(double seconds) {
  return absl::Microseconds(std::llround(seconds * 1e6));
}

// A key of simulation_throughputs.json, "('<job type>', <scale>)": the repr() of a Python tuple.
// Python quotes with '"' when the name holds a "'", so either quote is accepted; escapes inside
// the name are not interpreted (Gavel's names have none).
bool ParseTupleKey(std::string_view key, std::string* job_type, int* scale) {
  if (key.size() < 2 || key.front() != '(' || key.back() != ')') return false;
  const std::string_view inner = key.substr(1, key.size() - 2);
  const size_t comma = inner.rfind(',');
  if (comma == std::string_view::npos) return false;
  auto trim = [](std::string_view s) {
    const size_t b = s.find_first_not_of(' ');
    if (b == std::string_view::npos) return std::string_view();
    return s.substr(b, s.find_last_not_of(' ') - b + 1);
  };
  const std::string_view name = trim(inner.substr(0, comma));
  const std::string_view number = trim(inner.substr(comma + 1));
  if (name.size() < 3 || (name.front() != '\'' && name.front() != '"') ||
      name.back() != name.front()) {
    return false;
  }
  if (!AllDigits(number) || number.size() > 4) return false;
  int value = 0;
  for (char c : number) value = value * 10 + (c - '0');
  if (value < 1 || value > kMaxScale) return false;
  *job_type = std::string(name.substr(1, name.size() - 2));
  *scale = value;
  return true;
}

// Only std::mt19937_64's raw output is used: the standard fixes its sequence, while the
// std::*_distribution classes differ between standard libraries. The transcendental functions
// below (log, exp, cos, sqrt) may differ in the last ulp between C libraries, which is why the
// generator rounds every value it draws to whole seconds.
class Rng {
 public:
  explicit Rng(uint64_t seed) : gen_(seed) {}

  // Uniform in (0, 1], 53 random bits: never 0, so that log() is finite.
  double UnitOpenBelow() {
    return static_cast<double>((gen_() >> 11) + 1) * (1.0 / 9007199254740992.0);  // 2^-53
  }

  // Uniform in [0, n), n > 0, by rejection so that every residue is equally likely.
  uint64_t Below(uint64_t n) {
    const uint64_t threshold = (uint64_t{0} - n) % n;
    while (true) {
      const uint64_t x = gen_();
      if (x >= threshold) return x % n;
    }
  }

  // Exponential with mean 1, by inversion.
  double Exponential() { return -std::log(UnitOpenBelow()); }

  // Standard normal by Box-Muller; the second value of the pair is dropped, so that each call
  // takes exactly two draws whatever came before.
  double Normal() {
    const double r = std::sqrt(-2.0 * std::log(UnitOpenBelow()));
    const double theta = 2.0 * 3.14159265358979323846 * UnitOpenBelow();
    return r * std::cos(theta);
  }

 private:
  std::mt19937_64 gen_;
};

// Gang sizes of seed=0 of the Philly traces (all 15 files, 15,264 jobs) with their job counts.
// (Seeds 1-4 have the same histogram: they keep each line's arrival and gang size and redraw
// the job type and steps.)
struct GangSize {
  int gpus;
  int64_t jobs;
};
constexpr GangSize kGangSizes[] = {{1, 10480}, {2, 463}, {4, 2044}, {7, 2},   {8, 1916}, {12, 6},
                                   {16, 255},  {20, 1},  {24, 5},   {32, 91}, {64, 1}};

// Durations of seed=0 with v100 throughputs and the linear fallback of the header (Python over
// all 15,264 jobs): p1 25 s, p10 480 s, p25 2,380 s, median 8,802 s, p75 52,172 s,
// p90 171,589 s, p99 2,642,533 s (30.6 days), max 11,337,573 s (131 days); ln(seconds) has
// sd 2.36. A lognormal with that median and sigma reproduces the quantiles within ~25 % (p10
// 428 s, p25 1,794 s, p75 43,180 s, p90 181,000 s). The clamp drops the extremes that would make
// a 200-job sample depend on one or two outliers: 2.5 % of the real jobs run under a minute and
// 1 % over 30 days.
constexpr double kMedianDurationS = 8802;
constexpr double kSigmaLnDuration = 2.36;
constexpr double kMinDurationS = 60;
constexpr double kMaxDurationS = 30 * 86400;

}  // namespace

// ---------------------------------------------------------------------------------------------
// ThroughputTable

absl::StatusOr<ThroughputTable> ThroughputTable::Parse(std::string_view json_text,
                                                       std::string_view gpu_type) {
  return ParseFrom(json_text, "<throughputs json>", gpu_type);
}

absl::StatusOr<ThroughputTable> ThroughputTable::Read(const std::string& path,
                                                      std::string_view gpu_type,
                                                      size_t max_bytes) {
  ASSIGN_OR_RETURN(std::string text, ReadInputFile(path, max_bytes, kMaxInputHint));
  return ParseFrom(text, path, gpu_type);
}

absl::StatusOr<ThroughputTable> ThroughputTable::ParseFrom(std::string_view json_text,
                                                           std::string_view source,
                                                           std::string_view gpu_type) {
  const std::string src(source);
  const std::string gpu(gpu_type);
  nlohmann::json root;
  // Keys seen in each open object, to refuse a repeated key (nlohmann would keep the last one);
  // nesting is capped so that a hostile "[[[[..." costs no deep recursion when destroyed.
  struct Refused {
    std::string what;
  };
  std::vector<std::set<std::string>> open_objects;
  std::vector<std::string> path;  // the keys leading to the current value
  auto guard = [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    using E = nlohmann::json::parse_event_t;
    if (depth > kMaxJsonDepth) {
      throw Refused{absl::StrCat("nested deeper than ", kMaxJsonDepth, " levels, the limit")};
    }
    switch (event) {
      case E::object_start:
        open_objects.emplace_back();
        break;
      case E::object_end:
        if (!open_objects.empty()) open_objects.pop_back();
        break;
      case E::key: {
        std::string key = parsed.get<std::string>();
        if (!open_objects.empty() && !open_objects.back().insert(key).second) {
          std::string where;
          if (open_objects.size() >= 2 && path.size() >= open_objects.size() - 1) {
            where = absl::StrCat(" in ", Quote(path[open_objects.size() - 2]));
          }
          throw Refused{absl::StrCat("duplicate key ", Quote(key), where)};
        }
        if (path.size() < open_objects.size()) path.resize(open_objects.size());
        if (!path.empty()) path[open_objects.size() - 1] = std::move(key);
        break;
      }
      default:
        break;
    }
    return true;
  };
  try {
    root = nlohmann::json::parse(StripBom(json_text).begin(), StripBom(json_text).end(), guard);
  } catch (const Refused& r) {
    return absl::InvalidArgumentError(absl::StrCat(src, ": ", r.what));
  } catch (const std::exception& e) {  // nlohmann parse/out_of_range errors, allocation failures
    return absl::InvalidArgumentError(
        absl::StrCat(src, ": invalid JSON: ", QuoteForMessage(e.what(), 300)));
  }
  if (!root.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(src, ": expected a JSON object of GPU types, got ", root.type_name()));
  }
  const auto it = root.find(gpu);
  if (it == root.end()) {
    std::string have;
    size_t shown = 0;
    for (const auto& [key, value] : root.items()) {
      if (++shown > 32) {
        absl::StrAppend(&have, ", ... (", root.size(), " keys)");
        break;
      }
      absl::StrAppend(&have, shown > 1 ? ", " : "", NameForMessage(key));
    }
    return absl::InvalidArgumentError(
        absl::StrCat(src, ": no GPU type ", Quote(gpu), " (available: ", have, ")"));
  }
  if (!it->is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(src, ": GPU type ", Quote(gpu),
                                                   ": expected an object, got ", it->type_name()));
  }

  ThroughputTable table;
  table.gpu_type_ = gpu;
  for (const auto& [key, value] : it->items()) {
    const std::string where = absl::StrCat(src, ": ", NameForMessage(gpu), ": key ", Quote(key));
    std::string job_type;
    int scale = 0;
    if (!ParseTupleKey(key, &job_type, &scale)) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": expected \"('<job type>', <scale>)\" with scale in 1..", kMaxScale));
    }
    if (!value.is_object()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": expected an object, got ", value.type_name()));
    }
    const auto alone = value.find("null");
    if (alone == value.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": no \"null\" entry (the throughput running alone)"));
    }
    if (!alone->is_number()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": \"null\" is a ", alone->type_name(), ", expected a number"));
    }
    const double steps_per_second = alone->get<double>();
    if (!std::isfinite(steps_per_second) || steps_per_second < 0) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": \"null\" is ", steps_per_second,
                                                     ", expected a finite number >= 0"));
    }
    auto [pos, inserted] = table.steps_per_second_[job_type].emplace(scale, steps_per_second);
    if (!inserted) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": repeats job type ", Quote(job_type), " at scale ", scale));
    }
  }
  return table;
}

ThroughputTable ThroughputTable::Synthetic() {
  ThroughputTable table;
  table.gpu_type_ = "synthetic";
  // Every scale is listed, so the linear fallback never applies: a gang of any size runs a
  // Synthetic job at 1 step/s.
  std::map<int, double>& scales = table.steps_per_second_[std::string(kSyntheticJobType)];
  for (int s = 1; s <= kMaxScale; ++s) scales.emplace_hint(scales.end(), s, 1.0);
  return table;
}

absl::StatusOr<double> ThroughputTable::StepsPerSecond(const std::string& job_type,
                                                       int scale) const {
  if (scale < 1 || scale > kMaxScale) {
    return absl::InvalidArgumentError(absl::StrCat("scale ", scale, " is outside 1..", kMaxScale));
  }
  const auto type = steps_per_second_.find(job_type);
  if (type == steps_per_second_.end()) {
    return absl::NotFoundError(absl::StrCat("job type ", Quote(job_type),
                                            " is not in the throughput table for ", gpu_type_, " (",
                                            steps_per_second_.size(), " job types)"));
  }
  const std::map<int, double>& scales = type->second;
  auto at = scales.lower_bound(scale);
  double steps_per_second = 0;
  if (at != scales.end() && at->first == scale) {
    steps_per_second = at->second;
  } else if (at == scales.begin()) {
    return absl::NotFoundError(absl::StrCat("job type ", Quote(job_type), " has no throughput on ",
                                            gpu_type_, " at scale ", scale, " or below"));
  } else {
    --at;  // the largest listed scale below `scale`: linear weak scaling from it
    steps_per_second = at->second * scale / at->first;
  }
  if (steps_per_second == 0) {
    return absl::FailedPreconditionError(absl::StrCat("job type ", Quote(job_type), " at scale ",
                                                      scale, " has throughput 0 on ", gpu_type_,
                                                      " (it does not run there)"));
  }
  if (!std::isfinite(steps_per_second)) {  // a huge table value times scale / k
    return absl::InvalidArgumentError(
        absl::StrCat("job type ", Quote(job_type), " at scale ", scale, ": throughput overflows"));
  }
  return steps_per_second;
}

// ---------------------------------------------------------------------------------------------
// Traces

absl::StatusOr<std::vector<JobRecord>> ParsePhillyTrace(std::string_view text,
                                                        std::string_view file_label,
                                                        const ThroughputTable& table) {
  const std::string stem = std::filesystem::path(std::string(file_label)).stem().string();
  std::vector<JobRecord> jobs;
  // Reserve from the newline count, capped at what the bytes can hold (a row is >= 14 bytes) and
  // at kMaxTraceJobs, so that blank lines cannot make it reserve more than the text justifies.
  jobs.reserve(std::min({CountOf(text, '\n') + 1, text.size() / 14 + 1,
                         static_cast<size_t>(kMaxTraceJobs)}));
  LineReader reader(text);
  std::vector<std::string_view> f;
  std::string_view line;
  RowContext ctx{file_label, 0};
  while (reader.Next(&line, &ctx.line)) {
    // One field more than kColumns is enough to tell a wrong count; more are not stored.
    if (!SplitOn(line, '\t', &f, kColumns + 1) || f.size() != kColumns) {
      return ctx.LineError(absl::StrCat("expected ", kColumns, " tab-separated fields, got ",
                                        CountOf(line, '\t') + 1));
    }
    if (jobs.size() >= static_cast<size_t>(kMaxTraceJobs)) {
      return ctx.LineError(absl::StrCat("more than ", kMaxTraceJobs, " jobs, the limit"));
    }
    JobRecord job;
    job.id = absl::StrCat(stem, "-", ctx.line);
    if (f[kJobType].empty()) return ctx.ColumnError(kJobType, "empty");
    job.job_type = std::string(f[kJobType]);
    // Checked although unused: a 0/1 flag anywhere else means the columns are shifted.
    RETURN_IF_ERROR(ParseIntInRange(ctx, kNeedsDataDir, f[kNeedsDataDir], 0, 1).status());
    ASSIGN_OR_RETURN(job.total_steps,
                     ParseIntInRange(ctx, kTotalSteps, f[kTotalSteps], 1, kMaxTotalSteps));
    ASSIGN_OR_RETURN(const double arrival_s, ParseSeconds(ctx, kArrival, f[kArrival]));
    job.arrival = SecondsToDuration(arrival_s);
    ASSIGN_OR_RETURN(const int64_t gpus, ParseIntInRange(ctx, kScale, f[kScale], 1, kMaxScale));
    job.gpus = static_cast<int32_t>(gpus);

    absl::StatusOr<double> steps_per_second = table.StepsPerSecond(job.job_type, job.gpus);
    if (!steps_per_second.ok()) {
      return ctx.ColumnError(kJobType, std::string(steps_per_second.status().message()));
    }
    const double duration_s = static_cast<double>(job.total_steps) / *steps_per_second;
    if (!(duration_s <= kMaxTraceSeconds)) {
      return ctx.ColumnError(
          kTotalSteps,
          absl::StrCat(Quote(f[kTotalSteps]), " steps at ", *steps_per_second, " steps/s take ",
                       duration_s, " s, over the maximum ", kMaxTraceSeconds, " s"));
    }
    job.duration = SecondsToDuration(duration_s);
    jobs.push_back(std::move(job));
  }
  return jobs;
}

absl::StatusOr<std::vector<JobRecord>> ReadPhillyTrace(const std::string& path_or_dir,
                                                       const ThroughputTable& table,
                                                       size_t max_bytes) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(path_or_dir, ec)) {
    ASSIGN_OR_RETURN(std::string text, ReadInputFile(path_or_dir, max_bytes, kMaxInputHint));
    return ParsePhillyTrace(text, path_or_dir, table);
  }

  std::vector<fs::path> files;
  fs::directory_iterator it(path_or_dir, ec);
  if (ec) return absl::NotFoundError(absl::StrCat("cannot list ", path_or_dir, ": ", ec.message()));
  for (const fs::directory_iterator end; it != end; it.increment(ec)) {
    if (ec) break;
    std::error_code file_ec;
    if (it->path().extension() == ".trace" && it->is_regular_file(file_ec)) {
      if (files.size() >= static_cast<size_t>(kMaxTraceFiles)) {
        return absl::FailedPreconditionError(absl::StrCat(
            path_or_dir, ": more than ", kMaxTraceFiles, " *.trace files, the limit"));
      }
      files.push_back(it->path());
    }
  }
  if (ec) return absl::DataLossError(absl::StrCat("listing ", path_or_dir, ": ", ec.message()));
  if (files.empty()) {
    return absl::NotFoundError(absl::StrCat("no *.trace files in ", path_or_dir));
  }
  std::sort(files.begin(), files.end(),
            [](const fs::path& a, const fs::path& b) { return a.filename() < b.filename(); });

  std::vector<JobRecord> all;
  uint64_t total_bytes = 0;
  for (const fs::path& file : files) {
    // The limit holds for the directory as a whole: each file gets what the others left.
    const size_t left = max_bytes - std::min<uint64_t>(total_bytes, max_bytes);
    ASSIGN_OR_RETURN(std::string text, ReadInputFile(file.string(), left, kMaxInputHint));
    total_bytes += text.size();
    ASSIGN_OR_RETURN(std::vector<JobRecord> jobs, ParsePhillyTrace(text, file.string(), table));
    if (all.size() + jobs.size() > static_cast<size_t>(kMaxTraceJobs)) {
      return absl::InvalidArgumentError(absl::StrCat(path_or_dir, ": more than ", kMaxTraceJobs,
                                                     " jobs in all, the limit (at ",
                                                     file.filename().string(), ")"));
    }
    if (all.empty()) {
      all = std::move(jobs);
    } else {
      all.insert(all.end(), std::make_move_iterator(jobs.begin()),
                 std::make_move_iterator(jobs.end()));
    }
  }
  // Each file is one virtual cluster's queue in arrival order; merging them keeps, for equal
  // arrivals, the file order and then the line order, so the result does not depend on the sort.
  std::stable_sort(all.begin(), all.end(),
                   [](const JobRecord& a, const JobRecord& b) { return a.arrival < b.arrival; });
  return all;
}

std::string FormatPhillyTrace(const std::vector<JobRecord>& jobs) {
  std::string out;
  out.reserve(jobs.size() * 64);
  for (const JobRecord& job : jobs) {
    std::string type = job.job_type;
    std::replace_if(
        type.begin(), type.end(), [](char c) { return c == '\t' || c == '\r' || c == '\n'; }, ' ');
    // Integer microseconds rather than a double, so that the 6 decimals are exact.
    const int64_t us = absl::ToInt64Microseconds(job.arrival);
    const uint64_t magnitude =
        us < 0 ? uint64_t{0} - static_cast<uint64_t>(us) : static_cast<uint64_t>(us);
    absl::StrAppend(
        &out, type, "\t-\t-step\t1\t", job.total_steps, "\t",
        absl::StrFormat("%s%d.%06d", us < 0 ? "-" : "", magnitude / 1000000, magnitude % 1000000),
        "\t", job.gpus, "\n");
  }
  return out;
}

std::vector<JobRecord> GenerateJobSample(const JobSampleOptions& options) {
  std::vector<JobRecord> jobs;
  if (options.jobs <= 0) return jobs;
  jobs.reserve(options.jobs);
  Rng rng(options.seed);
  const int max_gpus = std::max(1, options.max_gpus);
  const double max_duration =
      std::isfinite(options.max_duration_s)
          ? std::clamp(options.max_duration_s, kMinDurationS, kMaxDurationS)
          : kMaxDurationS;
  const double mean_gap =
      std::isfinite(options.mean_interarrival_s) && options.mean_interarrival_s > 0
          ? options.mean_interarrival_s
          : 0.0;
  int64_t total_weight = 0;
  for (const GangSize& g : kGangSizes) total_weight += g.jobs;
  const double mu = std::log(kMedianDurationS);

  double clock_s = 0;
  for (int i = 0; i < options.jobs; ++i) {
    // Draw order is fixed (gap, gang, duration) so that a seed names one sample.
    if (i > 0) clock_s = std::min(clock_s + mean_gap * rng.Exponential(), kMaxTraceSeconds);

    int64_t pick = static_cast<int64_t>(rng.Below(static_cast<uint64_t>(total_weight)));
    int gpus = kGangSizes[0].gpus;
    for (const GangSize& g : kGangSizes) {
      if (pick < g.jobs) {
        gpus = g.gpus;
        break;
      }
      pick -= g.jobs;
    }
    // Cut rather than redraw: a big gang stays as big as the cluster allows, so the GPU demand
    // of the large-job tail is kept.
    gpus = std::min(gpus, max_gpus);

    const double duration_s =
        std::clamp(std::exp(mu + kSigmaLnDuration * rng.Normal()), kMinDurationS, max_duration);
    JobRecord job;
    job.id = absl::StrCat("philly_sample-", i + 1);
    job.job_type = std::string(kSyntheticJobType);
    job.total_steps = std::llround(duration_s);  // 1 step/s: see ThroughputTable::Synthetic()
    job.arrival = absl::Seconds(std::llround(clock_s));
    job.duration = absl::Seconds(job.total_steps);
    job.gpus = gpus;
    jobs.push_back(std::move(job));
  }
  return jobs;
}

}  // namespace gpusched::simulator::trace
