#include "plugins/registry.h"

#include "plugins/default_binder/default_binder.h"
#include "plugins/gang/gang_plugin.h"
#include "plugins/gpu_share/headroom.h"
#include "plugins/gpu_share/policies.h"
#include "plugins/gpu_topology/gpu_topology_plugin.h"
#include "plugins/node_resources_fit/node_resources_fit.h"
#include "plugins/node_selector/node_selector.h"
#include "plugins/queue_sort/priority_sort.h"
#include "plugins/taint_toleration/taint_toleration.h"

namespace gpusched::plugins {

framework::Registry NewInTreeRegistry() {
  framework::Registry r;
  // Names are unique by construction, so Register cannot fail here.
  (void)r.Register(std::string(queue_sort::kName), &queue_sort::PrioritySort::New);
  (void)r.Register(std::string(node_resources_fit::kName),
                   &node_resources_fit::NodeResourcesFit::New);
  (void)r.Register(std::string(taint_toleration::kName),
                   &taint_toleration::TaintToleration::New);
  (void)r.Register(std::string(node_selector::kName), &node_selector::NodeSelector::New);
  (void)r.Register(std::string(default_binder::kName), &default_binder::DefaultBinder::New);
  (void)r.Register(std::string(gpu_share::RandomFit::kName), &gpu_share::RandomFit::New);
  (void)r.Register(std::string(gpu_share::DotProduct::kName), &gpu_share::DotProduct::New);
  (void)r.Register(std::string(gpu_share::GpuClustering::kName), &gpu_share::GpuClustering::New);
  (void)r.Register(std::string(gpu_share::GpuPacking::kName), &gpu_share::GpuPacking::New);
  (void)r.Register(std::string(gpu_share::BestFit::kName), &gpu_share::BestFit::New);
  (void)r.Register(std::string(gpu_share::Fgd::kName), &gpu_share::Fgd::New);
  (void)r.Register(std::string(gpu_share::GpuHeadroom::kName), &gpu_share::GpuHeadroom::New);
  (void)r.Register(std::string(gpu_topology::kName), &gpu_topology::GpuTopologyPlugin::New);
  (void)r.Register(std::string(gang::kName), &gang::GangPlugin::New);
  return r;
}

const std::string_view kBuiltinProfiles = R"yaml(
profiles:
  - name: baseline
    plugins:
      - name: PrioritySort
      - name: NodeSelector
      - name: TaintToleration
      - name: NodeResourcesFit
        weight: 1
        args:
          scoringStrategy: LeastAllocated
          resources: {cpu: 1, memory: 1, gpu: 1}
      - name: DefaultBinder
  - name: binpack
    plugins:
      - name: PrioritySort
      - name: NodeSelector
      - name: TaintToleration
      - name: NodeResourcesFit
        weight: 1
        args:
          scoringStrategy: MostAllocated
          resources: {cpu: 1, memory: 1, gpu: 3}
      - name: DefaultBinder
  - name: random
    plugins:
      - name: PrioritySort
      - name: NodeSelector
      - name: TaintToleration
      - name: RandomFit
      - name: NodeResourcesFit
        points: [PreFilter, Filter, Reserve]
      - name: DefaultBinder
  - name: dotprod
    plugins:
      - name: PrioritySort
      - name: NodeSelector
      - name: TaintToleration
      - name: DotProduct
      - name: NodeResourcesFit
        points: [PreFilter, Filter, Reserve]
      - name: DefaultBinder
  - name: clustering
    plugins:
      - name: PrioritySort
      - name: NodeSelector
      - name: TaintToleration
      - name: GpuClustering
      - name: NodeResourcesFit
        points: [PreFilter, Filter, Reserve]
      - name: DefaultBinder
  - name: packing
    plugins:
      - name: PrioritySort
      - name: NodeSelector
      - name: TaintToleration
      - name: GpuPacking
      - name: NodeResourcesFit
        points: [PreFilter, Filter, Reserve]
      - name: DefaultBinder
  - name: bestfit
    plugins:
      - name: PrioritySort
      - name: NodeSelector
      - name: TaintToleration
      - name: BestFit
      - name: NodeResourcesFit
        points: [PreFilter, Filter, Reserve]
      - name: DefaultBinder
  - name: fgd
    plugins:
      - name: PrioritySort
      - name: NodeSelector
      - name: TaintToleration
      - name: FGD
      - name: NodeResourcesFit
        points: [PreFilter, Filter, Reserve]
      - name: DefaultBinder
  - name: fgd-headroom
    plugins:
      - name: PrioritySort
      - name: NodeSelector
      - name: TaintToleration
      - name: FGD
      - name: GpuHeadroom
        weight: 1
      - name: NodeResourcesFit
        points: [PreFilter, Filter, Reserve]
      - name: DefaultBinder
  - name: fgd-topology
    plugins:
      - name: PrioritySort
      - name: NodeSelector
      - name: TaintToleration
      - name: GpuTopology
      - name: FGD
      - name: NodeResourcesFit
        points: [PreFilter, Filter, Reserve]
      - name: DefaultBinder
  - name: gang
    plugins:
      - name: Gang
      - name: NodeSelector
      - name: TaintToleration
      - name: NodeResourcesFit
        weight: 1
        args:
          scoringStrategy: MostAllocated
          resources: {cpu: 1, memory: 1, gpu: 3}
      - name: DefaultBinder
  - name: gang-topology
    plugins:
      - name: Gang
      - name: NodeSelector
      - name: TaintToleration
      - name: GpuTopology
      - name: NodeResourcesFit
        weight: 1
        args:
          scoringStrategy: MostAllocated
          resources: {cpu: 1, memory: 1, gpu: 3}
      - name: DefaultBinder
)yaml";

}  // namespace gpusched::plugins
