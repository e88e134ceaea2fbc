// Fuzzes DecodeExtenderArgs (POST /filter and /prioritize bodies from kube-scheduler), then does
// what the service does with a decoded request: decodes the pod and (nodeCacheCapable false)
// the Node objects, and encodes a filter reply that must be valid JSON naming the same nodes.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "bench/fuzz/fuzz_check.h"
#include "extender/k8s/objects.h"
#include "extender/wire/wire.h"
#include "nlohmann/json.hpp"

namespace wire = gpusched::extender::wire;
namespace k8s = gpusched::extender::k8s;
using gpusched::fuzz::CheckError;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<wire::ExtenderArgs> args = wire::DecodeExtenderArgs(body);
  CheckError(args.status());
  if (!args.ok()) return 0;

  FUZZ_CHECK(args->pod.is_object());
  if (!args->node_cache_capable) {
    FUZZ_CHECK(args->node_items.is_array());
    FUZZ_CHECK(args->node_items.size() == args->node_names.size());
    for (const gpusched::NodeId& n : args->node_names) FUZZ_CHECK(!n.empty());
    for (const nlohmann::json& item : args->node_items) {
      CheckError(k8s::DecodeNodeJson(item).status());
    }
  }
  CheckError(k8s::DecodePodJson(args->pod).status());

  // Every other node feasible, the rest failed or unresolvable.
  wire::FilterReply reply;
  for (size_t i = 0; i < args->node_names.size(); ++i) {
    const std::string& n = args->node_names[i].str();
    if (i % 2 == 0) {
      reply.feasible.push_back(static_cast<uint32_t>(i));
    } else if (i % 4 == 1) {
      reply.failed[n] = "fuzz: failed";
    } else {
      reply.unresolvable[n] = "fuzz: unresolvable";
    }
  }
  const std::string out = wire::EncodeFilterReply(reply, *args);
  nlohmann::json doc = nlohmann::json::parse(out, nullptr, /*allow_exceptions=*/false);
  FUZZ_CHECK(doc.is_object());
  if (args->node_cache_capable) {
    FUZZ_CHECK(doc["Nodes"].is_null());
    FUZZ_CHECK(doc["NodeNames"].is_array());
    FUZZ_CHECK(doc["NodeNames"].size() == reply.feasible.size());
  } else {
    FUZZ_CHECK(doc["NodeNames"].is_null());
    FUZZ_CHECK(doc["Nodes"]["items"].is_array());
    // Exactly the feasible items, duplicates or not.
    FUZZ_CHECK(doc["Nodes"]["items"].size() == reply.feasible.size());
  }
  return 0;
}
