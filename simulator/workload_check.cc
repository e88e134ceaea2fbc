#include "simulator/workload_check.h"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "topology/presets.h"

namespace gpusched::simulator {
namespace {

std::vector<std::string> TopologyMappingWarnings(const Workload& workload,
                                                 const SimOptions& options) {
  std::vector<std::string> warnings;
  std::map<std::string, std::set<int32_t>> gpu_counts_by_model;
  for (const trace::OpenbNode& n : workload.nodes) {
    if (!n.model.empty()) gpu_counts_by_model[n.model].insert(n.gpus);
  }
  for (const auto& [model, preset] : options.topology_presets) {
    auto it = gpu_counts_by_model.find(model);
    if (it == gpu_counts_by_model.end()) {
      std::vector<std::string> models;
      for (const auto& [m, counts] : gpu_counts_by_model) models.push_back(m);
      warnings.push_back(absl::StrCat("--topology ", model, "=", preset, ": no node has GPU model ",
                                      model, " (models here: ",
                                      models.empty() ? "none" : absl::StrJoin(models, ", "),
                                      "); the mapping changes nothing"));
      continue;
    }
    absl::StatusOr<topology::GpuTopology> t = topology::Preset(preset);
    if (!t.ok()) continue;  // an unknown preset is an error, reported before this
    if (!it->second.contains(t->gpu_count())) {
      warnings.push_back(absl::StrCat("--topology ", model, "=", preset, ": the preset has ",
                                      t->gpu_count(), " GPUs but nodes of model ", model, " have ",
                                      absl::StrJoin(it->second, " or "),
                                      "; the mapping changes nothing"));
    }
  }
  return warnings;
}

// Whether `pod` fits on `node` when the node is empty.
bool FitsEmpty(const trace::OpenbPod& pod, const trace::OpenbNode& node) {
  if (pod.cpu > node.cpu || pod.memory > node.memory) return false;
  if (pod.num_gpu == 0) return true;
  if (node.gpus < pod.num_gpu) return false;
  return pod.gpu_spec.empty() ||
         std::find(pod.gpu_spec.begin(), pod.gpu_spec.end(), node.model) != pod.gpu_spec.end();
}

std::string DescribePod(const trace::OpenbPod& p) {
  std::string out = absl::StrCat(p.name, " (cpu ", p.cpu.value(), "m, memory ",
                                 p.memory.value() >> 20, " MiB");
  if (p.num_gpu > 0) {
    absl::StrAppend(&out, ", ", p.num_gpu, " GPU", p.num_gpu > 1 ? "s" : "");
    if (p.num_gpu == 1 && p.gpu_milli < kOneGpu) absl::StrAppend(&out, " at ", p.gpu_milli.value(), "m");
    if (!p.gpu_spec.empty()) absl::StrAppend(&out, " of model ", absl::StrJoin(p.gpu_spec, "|"));
  }
  return out + ")";
}

std::vector<std::string> UnfittablePodWarnings(const Workload& workload) {
  // Pods of one shape fit or not together: check each shape once.
  using Shape = std::tuple<int64_t, int64_t, int32_t, std::vector<std::string>>;
  std::map<Shape, bool> fits;
  int64_t never = 0;
  const trace::OpenbPod* example = nullptr;
  for (const trace::OpenbPod& p : workload.pods) {
    const Shape shape{p.cpu.value(), p.memory.value(), p.num_gpu, p.gpu_spec};
    auto [it, inserted] = fits.try_emplace(shape, false);
    if (inserted) {
      it->second = std::any_of(workload.nodes.begin(), workload.nodes.end(),
                               [&](const trace::OpenbNode& n) { return FitsEmpty(p, n); });
    }
    if (!it->second) {
      ++never;
      if (example == nullptr) example = &p;
    }
  }
  if (never == 0) return {};
  return {absl::StrCat(never, " of ", workload.pods.size(),
                       " pods fit no node even on an empty cluster and can only fail (first: ",
                       DescribePod(*example), ")")};
}

}  // namespace

std::vector<std::string> WorkloadWarnings(const Workload& workload, const SimOptions& options) {
  std::vector<std::string> warnings = TopologyMappingWarnings(workload, options);
  for (std::string& w : UnfittablePodWarnings(workload)) warnings.push_back(std::move(w));
  return warnings;
}

}  // namespace gpusched::simulator
