// Fuzzes the Kubernetes quantity grammar (common/quantity.h): Quantity::Parse and the typed
// parsers. Accepted amounts must be within bounds, and their canonical text must parse back to the
// same amount.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "bench/fuzz/fuzz_check.h"
#include "common/quantity.h"

using gpusched::fuzz::CheckError;
using gpusched::fuzz::CheckOk;

namespace {

// Not whole in the unit: InvalidArgument; beyond kMaxAmount: OutOfRange.
void CheckParseError(const absl::Status& s) {
  CheckError(s, {absl::StatusCode::kInvalidArgument, absl::StatusCode::kOutOfRange});
}

template <class T, class ParseFn, class FormatFn>
void CheckTyped(std::string_view text, ParseFn parse, FormatFn format) {
  absl::StatusOr<T> v = parse(text);
  CheckParseError(v.status());
  if (!v.ok()) return;
  FUZZ_CHECK(v->value() >= 0 && v->value() <= gpusched::kMaxAmount);
  const std::string canonical = format(*v);
  absl::StatusOr<T> back = parse(canonical);
  CheckOk(back.status(), "canonical text does not parse");
  FUZZ_CHECK(*back == *v);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<gpusched::Quantity> q = gpusched::Quantity::Parse(text);
  CheckError(q.status());
  if (q.ok()) {
    FUZZ_CHECK(!text.empty());
    FUZZ_CHECK(q->digits == 0 || q->digits % 10 != 0);  // trailing zeros folded into exp10
    FUZZ_CHECK(q->digits != 0 || !q->negative);
    for (int32_t scale : {-3, 0, 3, 9}) {
      absl::StatusOr<int64_t> v = q->ToScaled(scale, text);
      CheckParseError(v.status());
      if (v.ok()) FUZZ_CHECK(v.value() >= -gpusched::kMaxAmount && *v <= gpusched::kMaxAmount);
    }
    for (int32_t shift : {0, 10, 20}) {
      absl::StatusOr<int64_t> v = q->ToBinaryScaled(shift, text);
      CheckParseError(v.status());
      if (v.ok()) FUZZ_CHECK(v.value() >= -gpusched::kMaxAmount && *v <= gpusched::kMaxAmount);
    }
  }
  CheckTyped<gpusched::MilliCpu>(text, gpusched::ParseMilliCpu, gpusched::FormatMilliCpu);
  CheckTyped<gpusched::MemoryBytes>(text, gpusched::ParseMemoryBytes, gpusched::FormatMemoryBytes);
  CheckTyped<gpusched::GpuMilli>(text, gpusched::ParseGpuMilli, gpusched::FormatGpuMilli);
  CheckTyped<gpusched::GpuMemMiB>(text, gpusched::ParseGpuMemMiB, gpusched::FormatGpuMemMiB);
  return 0;
}
