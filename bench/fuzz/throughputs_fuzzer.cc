// Fuzzes ThroughputTable::Parse (simulator/trace/philly.h), Gavel's simulation_throughputs.json.
// Errors must name the source and never echo a byte that is not printable ASCII; an accepted
// table must answer StepsPerSecond within the documented codes, with a finite positive value.

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/strings/match.h"
#include "bench/fuzz/fuzz_check.h"
#include "common/printable.h"
#include "simulator/trace/philly.h"

namespace trace = gpusched::simulator::trace;
using gpusched::fuzz::CheckError;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  for (const char* gpu : {"v100", "k80"}) {
    absl::StatusOr<trace::ThroughputTable> t = trace::ThroughputTable::Parse(text, gpu);
    CheckError(t.status());
    if (!t.ok()) {
      FUZZ_CHECK(absl::StartsWith(t.status().message(), "<throughputs json>"));
      FUZZ_CHECK(gpusched::IsPrintableAscii(std::string(t.status().message())));
      continue;
    }
    FUZZ_CHECK(t->gpu_type() == gpu);
    for (const char* type : {"ResNet-50 (batch size 64)", "LM (batch size 5)", "A"}) {
      for (int scale : {0, 1, 2, 3, 8, 64, trace::kMaxScale, trace::kMaxScale + 1}) {
        absl::StatusOr<double> sps = t->StepsPerSecond(type, scale);
        CheckError(sps.status(),
                   {absl::StatusCode::kInvalidArgument, absl::StatusCode::kNotFound,
                    absl::StatusCode::kFailedPrecondition});
        if (scale < 1 || scale > trace::kMaxScale) FUZZ_CHECK(!sps.ok());
        if (sps.ok()) FUZZ_CHECK(std::isfinite(*sps) && *sps > 0);
      }
    }
  }
  return 0;
}
