// Fuzzes DecodePod and DecodePodMeta (v1 Pod JSON from the informer and kube-scheduler), then uses
// a decoded pod as the scheduler does: its GPU request must be valid (or request_error set), its
// assignment annotation must survive an encode/decode round trip, ResolveGang must answer with a
// documented status, and placing it on a GPU node and removing it again must leave the node as it
// was.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "bench/fuzz/fuzz_check.h"
#include "common/quantity.h"
#include "extender/k8s/objects.h"
#include "plugins/gang/declaration.h"
#include "scheduler/api/node_info.h"
#include "scheduler/api/pod_info.h"

namespace k8s = gpusched::extender::k8s;
namespace framework = gpusched::framework;
namespace gang = gpusched::plugins::gang;
using gpusched::fuzz::CheckError;
using gpusched::fuzz::CheckOk;

namespace {

const framework::NodeInfo& GpuNode() {
  static const framework::NodeInfo* node = [] {
    framework::NodeSpec spec;
    spec.name = gpusched::NodeId("gpu-0");
    spec.cpu = gpusched::MilliCpu(64000);
    spec.memory = gpusched::MemoryBytes(int64_t{512} << 30);
    for (int i = 0; i < 8; ++i) {
      spec.gpus.push_back(
          framework::GpuDevice{"NVIDIA-A100-SXM4-80GB", gpusched::GpuMemMiB(81920), true, -1});
    }
    absl::StatusOr<framework::NodeInfo> n = framework::NodeInfo::Create(std::move(spec));
    CheckOk(n.status(), "fixture node");
    return new framework::NodeInfo(std::move(*n));
  }();
  return *node;
}

const gang::PodGroupSet& Groups() {
  static const gang::PodGroupSet* groups = [] {
    auto* set = new gang::PodGroupSet();
    gang::PodGroupInfo a;
    a.namespace_name = "ml";
    a.name = "llama-ft";
    a.min_member = 4;
    set->Upsert(a);
    gang::PodGroupInfo b;
    b.api = gang::PodGroupInfo::Api::kUpstream;
    b.namespace_name = "ml";
    b.name = "training-worker-0";
    b.min_member = 2;
    set->Upsert(b);
    return set;
  }();
  return *groups;
}

void CheckAssignment(const k8s::Assignment& a) {
  FUZZ_CHECK(!a.node.str().empty());
  absl::StatusOr<k8s::Assignment> back = k8s::DecodeAssignment(k8s::EncodeAssignment(a));
  CheckOk(back.status(), "an encoded assignment does not decode");
  FUZZ_CHECK(back->node == a.node);
  FUZZ_CHECK(back->gpus == a.gpus);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view json(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<framework::PodInfo> meta = k8s::DecodePodMeta(json);
  CheckError(meta.status());
  absl::StatusOr<k8s::PodObject> pod = k8s::DecodePod(json);
  CheckError(pod.status());
  if (!pod.ok()) return 0;

  // DecodePod reads a superset of DecodePodMeta's fields: those must agree.
  CheckOk(meta.status(), "DecodePod accepts what DecodePodMeta rejects");
  const framework::PodInfo& info = pod->info;
  FUZZ_CHECK(!info.name.empty());
  FUZZ_CHECK(!info.namespace_name.empty());
  FUZZ_CHECK(!info.uid.str().empty());
  FUZZ_CHECK(info.uid == meta->uid && info.name == meta->name &&
             info.namespace_name == meta->namespace_name && info.priority == meta->priority &&
             info.created == meta->created && info.labels == meta->labels &&
             info.annotations == meta->annotations && info.workload_ref == meta->workload_ref &&
             info.scheduling_group == meta->scheduling_group);
  FUZZ_CHECK(!info.gang.has_value());

  const framework::PodResources& req = info.requests;
  FUZZ_CHECK(req.cpu.value() >= 0 && req.cpu.value() <= gpusched::kMaxAmount);
  FUZZ_CHECK(req.memory.value() >= 0 && req.memory.value() <= gpusched::kMaxAmount);
  if (pod->request_error.ok()) {
    CheckOk(framework::ValidateGpuRequest(req.gpu), "decoded GPU request");
  } else {
    CheckError(pod->request_error);
    FUZZ_CHECK(req.gpu.empty());
  }
  if (pod->assignment.has_value()) CheckAssignment(*pod->assignment);

  absl::StatusOr<std::optional<framework::GangRef>> g = gang::ResolveGang(info, Groups());
  CheckError(g.status(), {absl::StatusCode::kInvalidArgument, absl::StatusCode::kNotFound});

  // Place it and take it away again.
  const framework::NodeInfo& fixture = GpuNode();
  (void)framework::CheckGpuFit(fixture, req.gpu);
  for (framework::GpuSelection sel : {framework::GpuSelection::kBinpack,
                                      framework::GpuSelection::kSpread}) {
    std::optional<std::vector<framework::GpuShare>> shares =
        framework::TryAllocate(fixture, req.gpu, sel);
    if (!shares.has_value()) continue;
    framework::NodeInfo node = fixture;
    if (!node.AddPod(req, *shares).ok()) {
      FUZZ_CHECK(node == fixture);  // all-or-nothing
      continue;
    }
    CheckOk(node.RemovePod(req, *shares), "RemovePod after AddPod");
    FUZZ_CHECK(node == fixture);
  }
  return 0;
}
