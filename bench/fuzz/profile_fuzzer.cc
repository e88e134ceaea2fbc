// Fuzzes ParseProfiles (scheduler/runtime/profile.h), YAML and JSON. Errors must name the source
// and never echo a byte that is not printable ASCII; no exception may escape; accepted profiles
// must be non-empty, uniquely named, with weights in 1..kMaxPluginWeight.

#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "absl/strings/match.h"
#include "bench/fuzz/fuzz_check.h"
#include "common/printable.h"
#include "scheduler/runtime/profile.h"

using gpusched::fuzz::CheckError;
namespace runtime = gpusched::runtime;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<std::vector<runtime::Profile>> p = runtime::ParseProfiles(text, "fuzz.yaml");
  CheckError(p.status(),
             {absl::StatusCode::kInvalidArgument, absl::StatusCode::kResourceExhausted});
  if (!p.ok()) {
    FUZZ_CHECK(absl::StartsWith(p.status().message(), "fuzz.yaml"));
    FUZZ_CHECK(gpusched::IsPrintableAscii(std::string(p.status().message())));
    return 0;
  }
  FUZZ_CHECK(!p->empty());
  std::set<std::string> names;
  for (const runtime::Profile& profile : *p) {
    FUZZ_CHECK(!profile.name.empty());
    FUZZ_CHECK(names.insert(profile.name).second);
    FUZZ_CHECK(!profile.plugins.empty());
    std::set<std::string> plugins;
    for (const runtime::PluginConfig& pc : profile.plugins) {
      FUZZ_CHECK(!pc.name.empty());
      FUZZ_CHECK(plugins.insert(pc.name).second);
      FUZZ_CHECK(!pc.weight || (*pc.weight >= 1 && *pc.weight <= runtime::kMaxPluginWeight));
      FUZZ_CHECK(absl::StartsWith(pc.location, "fuzz.yaml:"));
    }
  }
  return 0;
}
