#pragma once

// Node and Pod objects as the API server serves them, for the tests that run the extender
// against FakeApiServer (test/fakes/fake_apiserver.h).
//
//   api.Apply(FakeApiServer::kNodes, GpuNodeJson("n1", 8, "NVIDIA-A100-SXM4-80GB", 81920));
//   api.Apply(FakeApiServer::kPods, GpuPodJson("p", {{"nvidia.com/gpu", "2"}}));

#include <string>

#include "nlohmann/json.hpp"

namespace gpusched::testing {

// A GPU node as GPU Feature Discovery labels it (product, memory, count), with allocatable
// nvidia.com/gpu, 64 CPUs and 512Gi; `preset` sets gpusched.io/topology-preset (NVLink wiring).
inline nlohmann::json GpuNodeJson(const std::string& name, int gpus, const std::string& product,
                                  int memory_mib, const std::string& preset = "") {
  nlohmann::json labels = {{"nvidia.com/gpu.product", product},
                           {"nvidia.com/gpu.memory", std::to_string(memory_mib)},
                           {"nvidia.com/gpu.count", std::to_string(gpus)}};
  if (!preset.empty()) labels["gpusched.io/topology-preset"] = preset;
  return {{"metadata", {{"name", name}, {"labels", labels}}},
          {"status", {{"allocatable", {{"cpu", "64"}, {"memory", "512Gi"}, {"pods", "110"},
                                       {"nvidia.com/gpu", std::to_string(gpus)}}}}}};
}

// A pending pod in namespace "ml" for scheduler "gpusched": one container requesting 1 CPU with
// `limits` (the GPU resources), and the given labels and annotations.
inline nlohmann::json GpuPodJson(const std::string& name, nlohmann::json limits,
                                 nlohmann::json labels = nlohmann::json::object(),
                                 nlohmann::json annotations = nlohmann::json::object()) {
  nlohmann::json metadata = {{"name", name}, {"namespace", "ml"}, {"labels", labels}};
  if (!annotations.empty()) metadata["annotations"] = annotations;
  return {{"metadata", metadata},
          {"spec", {{"schedulerName", "gpusched"},
                    {"containers", nlohmann::json::array(
                                       {{{"name", "main"},
                                         {"resources", {{"requests", {{"cpu", "1"}}},
                                                        {"limits", limits}}}}})}}},
          {"status", {{"phase", "Pending"}}}};
}

}  // namespace gpusched::testing
