// Fuzzes ParseTopologyJson (the node agent's topology report). Errors must be InvalidArgument with
// a printable message that carries a line and column or a field path; a parsed topology must be
// within the limits and round-trip through TopologyToJson with the same bandwidths.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "bench/fuzz/fuzz_check.h"
#include "bench/fuzz/topology_check.h"
#include "common/printable.h"
#include "topology/gpu_topology.h"
#include "topology/topology_json.h"

using gpusched::fuzz::CheckError;
using gpusched::fuzz::CheckOk;
namespace topo = gpusched::topology;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (1 << 16)) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<topo::GpuTopology> t = topo::ParseTopologyJson(text);
  CheckError(t.status());
  if (!t.ok()) {
    const std::string msg(t.status().message());
    FUZZ_CHECK(gpusched::IsPrintableAscii(msg));
    FUZZ_CHECK(msg.find("line ") != std::string::npos ||
               msg.find("topology") != std::string::npos);
    return 0;
  }
  const int n = t->gpu_count();
  FUZZ_CHECK(n >= 1 && n <= topo::kMaxGpus);
  FUZZ_CHECK(t->devices().size() <= static_cast<size_t>(topo::kMaxDevices));
  for (const std::string& w : topo::TopologyWarnings(*t)) FUZZ_CHECK(gpusched::IsPrintableAscii(w));
  for (int a = 0; a < n; ++a) {
    FUZZ_CHECK(t->NumaOf(a) >= -1 && t->NumaOf(a) < topo::kMaxNuma);
    for (int b = 0; b < n; ++b) {
      FUZZ_CHECK(t->Bandwidth(a, b) >= 0);
      FUZZ_CHECK(t->Bandwidth(a, b) == t->Bandwidth(b, a));
    }
  }
  FUZZ_CHECK(gpusched::fuzz::CheckJsonRoundTrip(*t).name() == t->name());
  return 0;
}
