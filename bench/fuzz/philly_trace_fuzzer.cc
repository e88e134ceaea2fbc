// Fuzzes ParsePhillyTrace (simulator/trace/philly.h) with the synthetic throughput table and a
// small real-shaped one. Errors must name the file and never echo a byte that is not printable
// ASCII; accepted jobs must be within the documented ranges, and FormatPhillyTrace of them must
// read back to the same jobs.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/strings/match.h"
#include "absl/time/time.h"
#include "bench/fuzz/fuzz_check.h"
#include "common/printable.h"
#include "simulator/trace/philly.h"

namespace trace = gpusched::simulator::trace;
using gpusched::fuzz::CheckError;

namespace {


const trace::ThroughputTable& SmallTable() {
  static const trace::ThroughputTable* table = [] {
    auto t = trace::ThroughputTable::Parse(
        R"json({"v100": {"('LM (batch size 5)', 1)": {"null": 2.5},
                     "('LM (batch size 5)', 4)": {"null": 9.0},
                     "('A', 1)": {"null": 0},
                     "('A', 2)": {"null": 1e300}}})json",
        "v100");
    if (!t.ok()) gpusched::fuzz::Fail("the fuzzer's table", t.status());
    return new trace::ThroughputTable(*std::move(t));
  }();
  return *table;
}

void CheckJobs(std::string_view text, const trace::ThroughputTable& table, bool round_trip) {
  absl::StatusOr<std::vector<trace::JobRecord>> jobs =
      trace::ParsePhillyTrace(text, "dir/fuzz.trace", table);
  CheckError(jobs.status());
  if (!jobs.ok()) {
    FUZZ_CHECK(absl::StartsWith(jobs.status().message(), "dir/fuzz.trace:"));
    FUZZ_CHECK(gpusched::IsPrintableAscii(std::string(jobs.status().message())));
    return;
  }
  FUZZ_CHECK(jobs->size() <= static_cast<size_t>(trace::kMaxTraceJobs));
  const absl::Duration max = absl::Seconds(trace::kMaxTraceSeconds);
  for (const trace::JobRecord& j : *jobs) {
    FUZZ_CHECK(absl::StartsWith(j.id, "fuzz-"));
    FUZZ_CHECK(!j.job_type.empty());
    FUZZ_CHECK(j.total_steps >= 1 && j.total_steps <= trace::kMaxTotalSteps);
    FUZZ_CHECK(j.gpus >= 1 && j.gpus <= trace::kMaxScale);
    FUZZ_CHECK(j.arrival >= absl::ZeroDuration() && j.arrival <= max);
    FUZZ_CHECK(j.duration >= absl::ZeroDuration() && j.duration <= max);
  }
  if (!round_trip) return;
  // Job types with a TAB/CR/LF cannot occur here (they split the line), so the text written
  // reads back to the same records (ids are per line, and FormatPhillyTrace writes no blank ones).
  absl::StatusOr<std::vector<trace::JobRecord>> again =
      trace::ParsePhillyTrace(trace::FormatPhillyTrace(*jobs), "dir/fuzz.trace", table);
  if (!again.ok()) gpusched::fuzz::Fail("reading FormatPhillyTrace's output", again.status());
  FUZZ_CHECK(again->size() == jobs->size());
  for (size_t i = 0; i < jobs->size(); ++i) {
    FUZZ_CHECK((*again)[i].job_type == (*jobs)[i].job_type);
    FUZZ_CHECK((*again)[i].total_steps == (*jobs)[i].total_steps);
    FUZZ_CHECK((*again)[i].arrival == (*jobs)[i].arrival);
    FUZZ_CHECK((*again)[i].gpus == (*jobs)[i].gpus);
    FUZZ_CHECK((*again)[i].duration == (*jobs)[i].duration);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const trace::ThroughputTable synthetic = trace::ThroughputTable::Synthetic();
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  CheckJobs(text, synthetic, /*round_trip=*/true);
  CheckJobs(text, SmallTable(), /*round_trip=*/true);
  return 0;
}
