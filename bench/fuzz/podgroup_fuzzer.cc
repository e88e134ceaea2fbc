// Fuzzes DecodePodGroup (the four PodGroup APIs) and DecodeWorkload on the same bytes, and
// resolves a pod of a decoded group's gang through ResolveGang.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bench/fuzz/fuzz_check.h"
#include "common/quantity.h"
#include "extender/k8s/objects.h"
#include "plugins/gang/declaration.h"
#include "scheduler/api/pod_info.h"

namespace k8s = gpusched::extender::k8s;
namespace framework = gpusched::framework;
namespace gang = gpusched::plugins::gang;
using gpusched::fuzz::CheckError;
using gpusched::fuzz::CheckOk;
using Api = gang::PodGroupInfo::Api;

namespace {

void CheckGroup(const gang::PodGroupInfo& g) {
  FUZZ_CHECK(!g.name.empty());
  FUZZ_CHECK(!g.namespace_name.empty());
  FUZZ_CHECK(g.gang ? g.min_member >= 1 : g.min_member == 0);
  if (g.timeout.has_value()) FUZZ_CHECK(*g.timeout > absl::ZeroDuration());
  const framework::PodResources& r = g.min_resources;
  FUZZ_CHECK(r.cpu.value() >= 0 && r.cpu.value() <= gpusched::kMaxAmount);
  FUZZ_CHECK(r.memory.value() >= 0 && r.memory.value() <= gpusched::kMaxAmount);
  CheckOk(framework::ValidateGpuRequest(r.gpu), "minResources GPU request");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view json(reinterpret_cast<const char*>(data), size);

  absl::StatusOr<gang::PodGroupInfo> group = k8s::DecodePodGroup(json);
  CheckError(group.status());
  if (group.ok()) {
    CheckGroup(*group);
    FUZZ_CHECK(group->api != Api::kWorkload);
    FUZZ_CHECK(!gang::ApiVersion(group->api).empty());
    // A pod naming it by the scheduler-plugins label finds it (or is told why not).
    gang::PodGroupSet set;
    set.Upsert(*group);
    framework::PodInfo pod;
    pod.namespace_name = group->namespace_name;
    pod.name = "fuzz-pod";
    pod.uid = gpusched::PodUid("fuzz-uid");
    pod.labels["scheduling.x-k8s.io/pod-group"] = group->name;
    absl::StatusOr<std::optional<framework::GangRef>> ref = gang::ResolveGang(pod, set);
    CheckError(ref.status(), {absl::StatusCode::kInvalidArgument, absl::StatusCode::kNotFound});
  }

  absl::StatusOr<std::vector<gang::PodGroupInfo>> workload = k8s::DecodeWorkload(json);
  CheckError(workload.status());
  if (workload.ok()) {
    FUZZ_CHECK(!workload->empty());
    for (const gang::PodGroupInfo& g : *workload) {
      CheckGroup(g);
      FUZZ_CHECK(g.api == Api::kWorkload);
      FUZZ_CHECK(g.name.find('/') != std::string::npos);
    }
  }
  return 0;
}
