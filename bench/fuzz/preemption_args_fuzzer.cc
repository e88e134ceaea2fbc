// Fuzzes DecodePreemptionArgs (POST /preempt bodies). A decoded request's victims, encoded as the
// reply and decoded again as MetaVictims, must come back the same (less the empty nodes, which
// the reply leaves out).

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "bench/fuzz/fuzz_check.h"
#include "extender/wire/wire.h"
#include "nlohmann/json.hpp"

namespace wire = gpusched::extender::wire;
using gpusched::fuzz::CheckError;
using gpusched::fuzz::CheckOk;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<wire::PreemptionArgs> args = wire::DecodePreemptionArgs(body);
  CheckError(args.status());
  if (!args.ok()) return 0;
  FUZZ_CHECK(args->pod.is_object());
  std::map<std::string, wire::PreemptionArgs::Victims> kept;
  for (const auto& [node, v] : args->nodes) {
    FUZZ_CHECK(v.pdb_violations >= 0);
    for (const std::string& uid : v.uids) FUZZ_CHECK(!uid.empty());
    if (!v.uids.empty()) kept[node] = v;
  }

  nlohmann::json reply = nlohmann::json::parse(wire::EncodePreemptionReply(args->nodes),
                                               nullptr, /*allow_exceptions=*/false);
  FUZZ_CHECK(reply.is_object());
  reply["Pod"] = nlohmann::json::object();
  absl::StatusOr<wire::PreemptionArgs> back = wire::DecodePreemptionArgs(reply.dump());
  CheckOk(back.status(), "the encoded reply does not decode");
  FUZZ_CHECK(back->nodes.size() == kept.size());
  for (const auto& [node, v] : kept) {
    auto it = back->nodes.find(node);
    FUZZ_CHECK(it != back->nodes.end());
    FUZZ_CHECK(it->second.uids == v.uids);
    FUZZ_CHECK(it->second.pdb_violations == v.pdb_violations);
  }
  return 0;
}
