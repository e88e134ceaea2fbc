// Fuzzes ParseNvidiaSmiTopo (`nvidia-smi topo -m` text). Errors must be InvalidArgument with a
// printable message; a parsed topology must be within the limits, have no unreachable-by-design
// state (every GPU with a NUMA node or none), and survive TopologyToJson -> ParseTopologyJson
// with the same GPU count, bandwidths and NVLink counts.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "bench/fuzz/fuzz_check.h"
#include "bench/fuzz/topology_check.h"
#include "common/printable.h"
#include "topology/gpu_topology.h"
#include "topology/nvidia_smi.h"
#include "topology/topology_json.h"

using gpusched::fuzz::CheckError;
using gpusched::fuzz::CheckOk;
namespace topo = gpusched::topology;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (1 << 16)) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> warnings;
  absl::StatusOr<topo::GpuTopology> t = topo::ParseNvidiaSmiTopo(text, "fuzz", &warnings);
  CheckError(t.status());
  if (!t.ok()) {
    FUZZ_CHECK(gpusched::IsPrintableAscii(std::string(t.status().message())));
    return 0;
  }
  for (const std::string& w : warnings) FUZZ_CHECK(gpusched::IsPrintableAscii(w));
  const int n = t->gpu_count();
  FUZZ_CHECK(n >= 1 && n <= topo::kMaxGpus);
  for (int a = 0; a < n; ++a) {
    FUZZ_CHECK(t->NumaOf(a) >= -1 && t->NumaOf(a) < topo::kMaxNuma);
    for (int b = 0; b < n; ++b) {
      FUZZ_CHECK(t->Bandwidth(a, b) == t->Bandwidth(b, a));
      FUZZ_CHECK(t->NvLinks(a, b) >= 0 && t->NvLinks(a, b) <= topo::kMaxNvLinksPerPair);
    }
  }
  for (const std::string& w : topo::TopologyWarnings(*t)) FUZZ_CHECK(gpusched::IsPrintableAscii(w));

  gpusched::fuzz::CheckJsonRoundTrip(*t);
  return 0;
}
