// Fuzzes DecodeBindingArgs (POST /bind bodies) and the reply encoder.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "bench/fuzz/fuzz_check.h"
#include "extender/wire/wire.h"
#include "nlohmann/json.hpp"

namespace wire = gpusched::extender::wire;
using gpusched::fuzz::CheckError;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<wire::BindingArgs> args = wire::DecodeBindingArgs(body);
  CheckError(args.status());
  if (!args.ok()) {
    // The error goes back to kube-scheduler as {"Error": message}: valid JSON whatever it quotes.
    nlohmann::json err = nlohmann::json::parse(wire::EncodeError(std::string(args.status().message())),
                                                     nullptr, false);
    FUZZ_CHECK(err.is_object() && err["Error"].is_string());
    return 0;
  }
  FUZZ_CHECK(!args->pod_name.empty());
  FUZZ_CHECK(!args->node.empty());
  FUZZ_CHECK(!args->pod_namespace.empty());
  nlohmann::json reply =
      nlohmann::json::parse(wire::EncodeBindingReply(args->pod_name), nullptr, false);
  FUZZ_CHECK(reply.is_object() && reply["Error"] == args->pod_name);
  return 0;
}
