// Fuzzes DecodeAssignment (the gpusched.io/assignment annotation, read back after a restart and by
// the node agent): a decoded assignment must be well formed and survive EncodeAssignment.

#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "bench/fuzz/fuzz_check.h"
#include "common/quantity.h"
#include "extender/k8s/objects.h"

namespace k8s = gpusched::extender::k8s;
using gpusched::fuzz::CheckError;
using gpusched::fuzz::CheckOk;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<k8s::Assignment> a = k8s::DecodeAssignment(text);
  CheckError(a.status());
  if (!a.ok()) return 0;

  FUZZ_CHECK(!a->node.str().empty());
  std::set<int32_t> seen;
  for (const auto& g : a->gpus) {
    FUZZ_CHECK(g.gpu.value() >= 0 && g.gpu.value() <= 1023);
    FUZZ_CHECK(seen.insert(g.gpu.value()).second);
    FUZZ_CHECK(g.milli.value() >= 0 && g.milli.value() <= 1000);
    FUZZ_CHECK(g.memory.value() >= 0 && g.memory.value() <= gpusched::kMaxAmount);
  }

  const std::string encoded = k8s::EncodeAssignment(*a);
  absl::StatusOr<k8s::Assignment> back = k8s::DecodeAssignment(encoded);
  CheckOk(back.status(), "an encoded assignment does not decode");
  FUZZ_CHECK(back->node == a->node);
  FUZZ_CHECK(back->gpus == a->gpus);
  FUZZ_CHECK(k8s::EncodeAssignment(*back) == encoded);
  return 0;
}
