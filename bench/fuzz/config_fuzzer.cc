// Fuzzes ParseConfig (gpusched-extender's YAML configuration). Errors must name the source;
// accepted values must be within the documented ranges.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "absl/strings/match.h"
#include "absl/time/time.h"
#include "bench/fuzz/fuzz_check.h"
#include "extender/config.h"

using gpusched::extender::ExtenderConfig;
using gpusched::fuzz::CheckError;

namespace {

void CheckDuration(absl::Duration d) {
  FUZZ_CHECK(d > absl::ZeroDuration() && d <= absl::Hours(24 * 365));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<ExtenderConfig> c = gpusched::extender::ParseConfig(text, "fuzz");
  CheckError(c.status());
  if (!c.ok()) {
    FUZZ_CHECK(absl::StartsWith(c.status().message(), "fuzz"));
    return 0;
  }
  FUZZ_CHECK(!c->host.empty());
  FUZZ_CHECK(c->threads >= 1 && c->threads <= 256);
  FUZZ_CHECK(c->body_limit >= 1024 && c->body_limit <= (int64_t{1} << 32));
  FUZZ_CHECK(c->cert_file.empty() == c->key_file.empty());
  FUZZ_CHECK(!(c->in_cluster && !c->kubeconfig.empty()));
  FUZZ_CHECK(c->log_level == "debug" || c->log_level == "info" || c->log_level == "warn" ||
             c->log_level == "error");
  FUZZ_CHECK(c->path_prefix.empty() ||
             (c->path_prefix.front() == '/' && c->path_prefix.back() != '/'));
  CheckDuration(c->request_timeout);
  CheckDuration(c->max_model_age);
  CheckDuration(c->assumed_pod_ttl);
  CheckDuration(c->gang_timeout);
  return 0;
}
