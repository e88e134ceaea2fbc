// The extender's wire work, apart from scheduling: decoding what kube-scheduler sends and
// encoding what it reads, at cluster sizes.
//
//   build/bench/extender_benchmark --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
//
// BM_DecodeFilterArgs/N: an ExtenderArgs with a GPU pod and N NodeNames (nodeCacheCapable).
// BM_EncodeFilterReply/N: the reply with N feasible names.
// BM_DecodeNodeList/N: a NodeList of N GPU nodes as the API server sends it on LIST, parsed and
//   every item decoded into a NodeSpec (what the informer does on start and on every re-list).

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "extender/k8s/objects.h"
#include "extender/wire/wire.h"
#include "nlohmann/json.hpp"

namespace gpusched::extender {
namespace {

using Json = nlohmann::json;

Json Pod() {
  return {{"metadata", {{"name", "train-0"}, {"namespace", "ml"}, {"uid", "0f6e2c1a-uid"},
                        {"labels", {{"app", "train"}}}, {"creationTimestamp", "2026-12-01T10:00:00Z"}}},
          {"spec", {{"schedulerName", "gpusched"},
                    {"containers", Json::array({{{"name", "c"}, {"image", "nvcr.io/nvidia/pytorch:24.01-py3"},
                                                 {"resources", {{"requests", {{"cpu", "8"}, {"memory", "64Gi"}}},
                                                                {"limits", {{"nvidia.com/gpu", "1"}}}}}}})}}},
          {"status", {{"phase", "Pending"}}}};
}

std::vector<std::string> Names(int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back(absl::StrCat("gpu-node-", i));
  return out;
}

void BM_DecodeFilterArgs(benchmark::State& state) {
  const std::string body = Json{{"Pod", Pod()}, {"Nodes", nullptr},
                                {"NodeNames", Names(static_cast<int>(state.range(0)))}}.dump();
  for (auto _ : state) {
    auto args = wire::DecodeExtenderArgs(body);
    auto pod = k8s::DecodePodJson(args->pod);
    benchmark::DoNotOptimize(pod);
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(body.size()));
}
BENCHMARK(BM_DecodeFilterArgs)->Arg(1000)->Arg(5000)->Unit(benchmark::kMicrosecond);

void BM_EncodeFilterReply(benchmark::State& state) {
  wire::ExtenderArgs args;
  for (const std::string& n : Names(static_cast<int>(state.range(0)))) args.node_names.emplace_back(n);
  wire::FilterReply reply;
  for (uint32_t i = 0; i < args.node_names.size(); ++i) reply.feasible.push_back(i);
  for (auto _ : state) benchmark::DoNotOptimize(wire::EncodeFilterReply(reply, args));
}
BENCHMARK(BM_EncodeFilterReply)->Arg(1000)->Arg(5000)->Unit(benchmark::kMicrosecond);

void BM_DecodeNodeList(benchmark::State& state) {
  Json items = Json::array();
  for (int i = 0; i < state.range(0); ++i) {
    items.push_back(
        {{"metadata", {{"name", absl::StrCat("gpu-node-", i)}, {"uid", absl::StrCat("uid-", i)},
                       {"resourceVersion", absl::StrCat(1000 + i)},
                       {"labels", {{"kubernetes.io/hostname", absl::StrCat("gpu-node-", i)},
                                   {"nvidia.com/gpu.product", "NVIDIA-H100-80GB-HBM3"},
                                   {"nvidia.com/gpu.memory", "81559"}, {"nvidia.com/gpu.count", "8"},
                                   {"topology.kubernetes.io/zone", "zone-a"}}}}},
         {"spec", {{"podCIDR", "10.0.0.0/24"}, {"taints", Json::array({{{"key", "nvidia.com/gpu"},
                                                                         {"effect", "NoSchedule"}}})}}},
         {"status", {{"capacity", {{"cpu", "96"}, {"memory", "2113412Ki"}, {"pods", "110"}, {"nvidia.com/gpu", "8"}}},
                     {"allocatable", {{"cpu", "95500m"}, {"memory", "2013412Ki"}, {"pods", "110"}, {"nvidia.com/gpu", "8"}}},
                     {"conditions", Json::array({{{"type", "Ready"}, {"status", "True"}}})},
                     {"nodeInfo", {{"kubeletVersion", "v1.31.0"}, {"architecture", "amd64"}}}}}});
  }
  const std::string body = Json{{"kind", "NodeList"}, {"apiVersion", "v1"},
                                {"metadata", {{"resourceVersion", "5000"}}}, {"items", items}}.dump();
  for (auto _ : state) {
    Json list = Json::parse(body);
    for (const Json& item : list["items"]) benchmark::DoNotOptimize(k8s::DecodeNodeJson(item));
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(body.size()));
  state.counters["bytes"] = static_cast<double>(body.size());
}
BENCHMARK(BM_DecodeNodeList)->Arg(1000)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace gpusched::extender

BENCHMARK_MAIN();
