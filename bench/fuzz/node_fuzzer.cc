// Fuzzes DecodeNode (v1 Node JSON from the informer). A decoded NodeSpec must be one the model
// accepts (NodeInfo::Create) and behave: a whole GPU and a share placed and removed again.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "bench/fuzz/fuzz_check.h"
#include "common/quantity.h"
#include "extender/k8s/objects.h"
#include "scheduler/api/node_info.h"
#include "scheduler/api/pod_info.h"

namespace k8s = gpusched::extender::k8s;
namespace framework = gpusched::framework;
using gpusched::fuzz::CheckError;
using gpusched::fuzz::CheckOk;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view json(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<k8s::NodeObject> node = k8s::DecodeNode(json);
  CheckError(node.status());
  if (!node.ok()) return 0;

  const framework::NodeSpec& spec = node->spec;
  FUZZ_CHECK(!spec.name.str().empty());
  FUZZ_CHECK(spec.cpu.value() >= 0 && spec.cpu.value() <= gpusched::kMaxAmount);
  FUZZ_CHECK(spec.memory.value() >= 0 && spec.memory.value() <= gpusched::kMaxAmount);
  FUZZ_CHECK(spec.max_pods >= 0);
  FUZZ_CHECK(spec.gpus.size() <= 1024);
  for (const framework::GpuDevice& d : spec.gpus) FUZZ_CHECK(d.memory.value() > 0);
  FUZZ_CHECK(!node->memory_unknown || !spec.gpus.empty());
  if (spec.topology != nullptr) {
    FUZZ_CHECK(static_cast<size_t>(spec.topology->gpu_count()) == spec.gpus.size());
  }

  absl::StatusOr<framework::NodeInfo> info = framework::NodeInfo::Create(spec);
  CheckOk(info.status(), "NodeInfo::Create rejects a decoded node");
  FUZZ_CHECK(info->gpus().size() == spec.gpus.size());

  for (const framework::GpuRequest& gpu :
       {framework::GpuRequest::Whole(1), framework::GpuRequest::Whole(2),
        framework::GpuRequest::Share(gpusched::GpuMilli(250), gpusched::GpuMemMiB(1))}) {
    framework::PodResources req;
    req.cpu = gpusched::MilliCpu(0);
    req.gpu = gpu;
    (void)framework::CheckGpuFit(*info, gpu);
    std::optional<std::vector<framework::GpuShare>> shares = framework::TryAllocate(*info, gpu);
    if (!shares.has_value()) continue;
    framework::NodeInfo n = *info;
    if (!n.AddPod(req, *shares).ok()) {
      FUZZ_CHECK(n == *info);
      continue;
    }
    CheckOk(n.RemovePod(req, *shares), "RemovePod after AddPod");
    FUZZ_CHECK(n == *info);
  }
  return 0;
}
