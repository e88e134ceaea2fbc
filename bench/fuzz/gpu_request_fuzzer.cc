// Fuzzes GpuRequestFromPod (scheduler/api/resource_names.h). The input is lines of KEY=VALUE;
// lines starting with '@' are annotations, the others resources. Every result must pass
// ValidateGpuRequest, and every error must quote what was wrong.

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "bench/fuzz/fuzz_check.h"
#include "scheduler/api/pod_info.h"
#include "scheduler/api/resource_names.h"

namespace framework = gpusched::framework;
using gpusched::fuzz::CheckError;
using gpusched::fuzz::CheckOk;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::map<std::string, std::string> resources, annotations;
  while (!in.empty()) {
    const size_t nl = in.find('\n');
    std::string_view line = in.substr(0, nl);
    in = nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1);
    bool annotation = false;
    if (!line.empty() && line[0] == '@') {
      annotation = true;
      line.remove_prefix(1);
    }
    const size_t eq = line.find('=');
    if (eq == std::string_view::npos) continue;
    (annotation ? annotations : resources)[std::string(line.substr(0, eq))] =
        std::string(line.substr(eq + 1));
  }

  absl::StatusOr<framework::GpuRequest> req = framework::GpuRequestFromPod(resources, annotations);
  CheckError(req.status());
  if (!req.ok()) return 0;
  CheckOk(framework::ValidateGpuRequest(*req), "GpuRequestFromPod result");
  FUZZ_CHECK(req->count >= 0 && req->count <= 1024);
  FUZZ_CHECK(req->whole() || req->empty() || req->count == 1);
  for (const std::string& m : req->models) FUZZ_CHECK(!m.empty());
  return 0;
}
