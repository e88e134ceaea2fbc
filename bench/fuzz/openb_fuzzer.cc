// Fuzzes ParseOpenbNodes and ParseOpenbPods (simulator/trace/openb.h) on the same input. Errors
// must name the source and never echo a byte that is not printable ASCII; accepted records must be
// within the documented ranges, and writing them back must parse to the same values.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/strings/match.h"
#include "bench/fuzz/fuzz_check.h"
#include "common/printable.h"
#include "common/quantity.h"
#include "simulator/trace/openb.h"

namespace trace = gpusched::simulator::trace;
using gpusched::fuzz::CheckError;

namespace {


void CheckErrorMessage(const absl::Status& s) {
  CheckError(s);
  if (s.ok()) return;
  FUZZ_CHECK(absl::StartsWith(s.message(), "fuzz.csv"));
  FUZZ_CHECK(gpusched::IsPrintableAscii(std::string(s.message())));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  absl::StatusOr<std::vector<trace::OpenbNode>> nodes = trace::ParseOpenbNodes(text, "fuzz.csv");
  CheckErrorMessage(nodes.status());
  if (nodes.ok()) {
    FUZZ_CHECK(nodes->size() <= static_cast<size_t>(trace::kMaxOpenbNodes));
    for (const trace::OpenbNode& n : *nodes) {
      FUZZ_CHECK(!n.name.empty());
      FUZZ_CHECK(n.cpu.value() >= 0 && n.cpu.value() <= gpusched::kMaxAmount);
      FUZZ_CHECK(n.memory.value() >= 0 && n.memory.value() <= gpusched::kMaxAmount);
      FUZZ_CHECK(n.gpus >= 0 && n.gpus <= trace::kMaxGpusPerNode);
      FUZZ_CHECK(n.gpus == 0 || !n.model.empty());
    }
    absl::StatusOr<std::vector<trace::OpenbNode>> again =
        trace::ParseOpenbNodes(trace::WriteOpenbNodes(*nodes), "fuzz.csv");
    // Names or models holding ',' cannot round-trip through the quote-less CSV; the rest must.
    if (again.ok()) {
      FUZZ_CHECK(again->size() == nodes->size());
      for (size_t i = 0; i < again->size(); ++i) {
        FUZZ_CHECK((*again)[i].gpus == (*nodes)[i].gpus);
        FUZZ_CHECK((*again)[i].cpu == (*nodes)[i].cpu);
      }
    }
  }

  absl::StatusOr<std::vector<trace::OpenbPod>> pods = trace::ParseOpenbPods(text, "fuzz.csv");
  CheckErrorMessage(pods.status());
  if (pods.ok()) {
    FUZZ_CHECK(pods->size() <= static_cast<size_t>(trace::kMaxOpenbPods));
    for (const trace::OpenbPod& p : *pods) {
      FUZZ_CHECK(!p.name.empty());
      FUZZ_CHECK(p.cpu.value() >= 0 && p.cpu.value() <= gpusched::kMaxAmount);
      FUZZ_CHECK(p.memory.value() >= 0 && p.memory.value() <= gpusched::kMaxAmount);
      FUZZ_CHECK(p.num_gpu >= 0 && p.num_gpu <= trace::kMaxGpusPerPod);
      const int64_t milli = p.gpu_milli.value();
      FUZZ_CHECK(milli >= 0 && milli <= 1000);
      FUZZ_CHECK(p.num_gpu != 0 || milli == 0);
      FUZZ_CHECK(p.num_gpu != 1 || milli >= 1);
      FUZZ_CHECK(p.num_gpu <= 1 || milli == 1000);
      for (const std::string& m : p.gpu_spec) FUZZ_CHECK(!m.empty());
      for (const auto& t : {p.creation_time, p.deletion_time, p.scheduled_time}) {
        FUZZ_CHECK(!t.has_value() || *t >= 0);
      }
      FUZZ_CHECK(!(p.creation_time && p.deletion_time) || *p.deletion_time >= *p.creation_time);
    }
  }
  return 0;
}
