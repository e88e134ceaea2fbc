#include "simulator/trace/sample.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <random>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_format.h"
#include "common/quantity.h"

namespace gpusched::simulator::trace {
namespace {

// Only std::mt19937_64's raw output is used: the standard fixes its sequence, while the
// std::*_distribution classes differ between standard libraries. Everything else is integer
// arithmetic here, so a seed gives the same sample everywhere.
class Rng {
 public:
  explicit Rng(uint64_t seed) : gen_(seed) {}

  // Uniform in [0, n), n > 0, by rejection: values below 2^64 mod n are redrawn so that every
  // residue is equally likely.
  uint64_t Below(uint64_t n) {
    const uint64_t threshold = (uint64_t{0} - n) % n;
    while (true) {
      const uint64_t x = gen_();
      if (x >= threshold) return x % n;
    }
  }

  // An index into `weights` (non-negative, positive sum), chosen with probability proportional
  // to its weight.
  size_t Weighted(std::span<const int64_t> weights) {
    int64_t total = 0;
    for (int64_t w : weights) total += w;
    int64_t r = static_cast<int64_t>(Below(static_cast<uint64_t>(total)));
    for (size_t i = 0; i < weights.size(); ++i) {
      if (r < weights[i]) return i;
      r -= weights[i];
    }
    return weights.size() - 1;  // not reached
  }

 private:
  std::mt19937_64 gen_;
};

// ---------------------------------------------------------------------------------------------
// Node mix: the GPU models of openb_node_list_gpu_node.csv by node count (openb-fgd.md §1.1),
// and for each model the node shapes (GPUs, milli-CPU, MiB) seen there with their counts.

struct NodeShape {
  int64_t weight;
  int32_t gpus;
  int64_t cpu_milli;
  int64_t memory_mib;
};

struct ModelMix {
  const char* model;
  int64_t weight;  // nodes per 1000
  std::span<const NodeShape> shapes;
};

constexpr NodeShape kG2[] = {{549, 8, 96000, 393216}};
constexpr NodeShape kT4[] = {{387, 2, 104000, 524288}, {17, 4, 96000, 393216}};
constexpr NodeShape kP100[] = {{107, 2, 16000, 122880}, {22, 2, 64000, 262144}};
constexpr NodeShape kV100M16[] = {{28, 4, 32000, 131072}};
constexpr NodeShape kG3[] = {{39, 8, 128000, 786432}};
constexpr NodeShape kV100M32[] = {{21, 8, 96000, 786432}};

constexpr ModelMix kNodeMix[] = {
    {"G2", 450, kG2},          {"T4", 330, kT4}, {"P100", 110, kP100},
    {"V100M16", 45, kV100M16}, {"G3", 32, kG3},  {"V100M32", 25, kV100M32},
};

// ---------------------------------------------------------------------------------------------
// Pod mix: pod classes with their counts in openb_pod_list_default.csv, and inside each class the
// most common (num_gpu, gpu_milli, cpu_milli, memory_mib) specs with their counts.

struct PodSpec {
  int64_t weight;
  int32_t num_gpu;
  int64_t gpu_milli;
  int64_t cpu_milli;
  int64_t memory_mib;
};

struct PodClass {
  int64_t weight;
  std::span<const PodSpec> specs;
};

// CPU-only: 1,088 of 8,152 pods (13.3 %).
constexpr PodSpec kCpuOnly[] = {
    {364, 0, 0, 12500, 57344}, {284, 0, 0, 32000, 49152}, {163, 0, 0, 8000, 30517},
    {120, 0, 0, 15400, 51200}, {95, 0, 0, 16500, 51200},
};
// GPU-sharing (num_gpu 1, gpu_milli < 1000): 3,078 pods (37.8 %).
constexpr PodSpec kSharing[] = {
    {1047, 1, 810, 3152, 5600}, {388, 1, 470, 11908, 47104}, {360, 1, 470, 8000, 30517},
    {237, 1, 650, 11908, 47104}, {111, 1, 320, 4000, 22888}, {84, 1, 230, 4000, 30517},
    {78, 1, 320, 4000, 15258},   {75, 1, 590, 3152, 5600},    {72, 1, 320, 8000, 30517},
    {72, 1, 550, 4152, 10600},   {53, 1, 160, 4000, 15258},   {51, 1, 460, 6000, 6144},
    {45, 1, 370, 4152, 10600},   {31, 1, 810, 4152, 10600},   {24, 1, 220, 4000, 15258},
    {24, 1, 110, 4000, 15258},
};
// One whole GPU: 3,911 pods (48.0 %).
constexpr PodSpec kOneWholeGpu[] = {
    {857, 1, 1000, 11300, 49152}, {534, 1, 1000, 11400, 48128}, {470, 1, 1000, 3152, 5600},
    {255, 1, 1000, 18708, 64512}, {195, 1, 1000, 9810, 41560},  {158, 1, 1000, 12000, 24576},
    {158, 1, 1000, 15700, 58368}, {153, 1, 1000, 11908, 47104}, {108, 1, 1000, 16000, 32768},
    {104, 1, 1000, 8000, 16384},  {104, 1, 1000, 4000, 24576},  {99, 1, 1000, 12000, 16384},
    {93, 1, 1000, 14200, 58368},  {84, 1, 1000, 24200, 93184},
};
// Multi-GPU: 75 pods (0.9 %).
constexpr PodSpec kMultiGpu[] = {
    {18, 8, 1000, 88000, 327680}, {18, 8, 1000, 64200, 263168}, {9, 4, 1000, 32200, 132096},
    {7, 2, 1000, 16200, 66560},   {3, 2, 1000, 6000, 65536},    {3, 4, 1000, 32000, 131072},
    {3, 8, 1000, 64000, 262144},
};

constexpr PodClass kPodMix[] = {
    {1088, kCpuOnly}, {3078, kSharing}, {3911, kOneWholeGpu}, {75, kMultiGpu}};

// QoS classes with their counts in the default trace, and the phases seen for each. Pending is
// left out so that every sample pod has scheduled_time == creation_time.
struct PhaseWeight {
  const char* phase;
  int64_t weight;
};

struct QosMix {
  const char* qos;
  int64_t weight;
  std::span<const PhaseWeight> phases;
};

constexpr PhaseWeight kLsPhases[] = {{"Running", 3837}, {"Failed", 203}, {"Succeeded", 153}};
constexpr PhaseWeight kBePhases[] = {{"Failed", 1627}, {"Running", 1330}};
constexpr PhaseWeight kBurstablePhases[] = {{"Failed", 40}, {"Succeeded", 39}, {"Running", 19}};
constexpr PhaseWeight kGuaranteedPhases[] = {{"Running", 7}};

constexpr QosMix kQosMix[] = {
    {"LS", 4647, kLsPhases},
    {"BE", 3398, kBePhases},
    {"Burstable", 100, kBurstablePhases},
    {"Guaranteed", 7, kGuaranteedPhases},
};

constexpr int64_t kMib = int64_t{1} << 20;
// Auto-sized workloads stop once the GPU request reaches this share (per mille) of capacity.
constexpr int64_t kTargetPerMille = 975;
// Share of GPU pods (percent) that carry a gpu_spec constraint.
constexpr uint64_t kConstrainedPercent = 5;

bool Fits(const OpenbNode& n, int32_t num_gpu, int64_t cpu_milli, int64_t memory_mib) {
  return n.gpus >= num_gpu && n.cpu.value() >= cpu_milli && n.memory.value() >= memory_mib * kMib;
}

std::vector<OpenbNode> GenerateNodes(int count, Rng& rng) {
  const std::span<const ModelMix> mix = kNodeMix;
  // Exact apportionment by largest remainder, so that even a small cluster has the mix.
  int64_t total_weight = 0;
  for (const ModelMix& m : mix) total_weight += m.weight;
  std::vector<int64_t> per_model(mix.size());
  std::vector<std::pair<int64_t, size_t>> remainders;  // (remainder, model), larger first
  int64_t assigned = 0;
  for (size_t i = 0; i < mix.size(); ++i) {
    const int64_t q = int64_t{count} * mix[i].weight;
    per_model[i] = q / total_weight;
    assigned += per_model[i];
    remainders.emplace_back(q % total_weight, i);
  }
  std::stable_sort(remainders.begin(), remainders.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  for (size_t k = 0; assigned < count; ++k, ++assigned) ++per_model[remainders[k].second];

  std::vector<size_t> models;
  models.reserve(count);
  for (size_t i = 0; i < mix.size(); ++i) models.insert(models.end(), per_model[i], i);
  // Fisher-Yates shuffle.
  for (size_t i = models.size(); i > 1; --i) std::swap(models[i - 1], models[rng.Below(i)]);

  std::vector<OpenbNode> nodes;
  nodes.reserve(count);
  for (size_t i = 0; i < models.size(); ++i) {
    const ModelMix& m = mix[models[i]];
    std::vector<int64_t> weights;
    for (const NodeShape& s : m.shapes) weights.push_back(s.weight);
    const NodeShape& shape = m.shapes[rng.Weighted(weights)];
    OpenbNode n;
    n.name = absl::StrFormat("sample-node-%04d", i);
    n.cpu = MilliCpu(shape.cpu_milli);
    n.memory = MemoryBytes(shape.memory_mib * kMib);
    n.gpus = shape.gpus;
    n.model = m.model;
    nodes.push_back(std::move(n));
  }
  return nodes;
}

// The pod specs that fit some node of `nodes`, with their weights zeroed otherwise, so that a
// tiny cluster never gets a pod it cannot hold.
struct FittingMix {
  std::vector<int64_t> class_weights;
  std::vector<std::vector<int64_t>> spec_weights;
};

FittingMix FitMix(const std::vector<OpenbNode>& nodes) {
  FittingMix fm;
  for (const PodClass& c : kPodMix) {
    std::vector<int64_t> w;
    int64_t sum = 0;
    for (const PodSpec& s : c.specs) {
      const bool fits = std::any_of(nodes.begin(), nodes.end(), [&](const OpenbNode& n) {
        return Fits(n, s.num_gpu, s.cpu_milli, s.memory_mib);
      });
      w.push_back(fits ? s.weight : 0);
      sum += w.back();
    }
    fm.class_weights.push_back(sum > 0 ? c.weight : 0);
    fm.spec_weights.push_back(std::move(w));
  }
  return fm;
}

}  // namespace

Sample GenerateSample(const SampleOptions& options) {
  Rng rng(options.seed);
  Sample sample;
  sample.nodes = GenerateNodes(std::max(options.nodes, 0), rng);
  if (sample.nodes.empty()) return sample;

  // Models present, in order of first appearance, for gpu_spec constraints.
  std::vector<std::string> models;
  int64_t capacity_milli = 0;
  for (const OpenbNode& n : sample.nodes) {
    capacity_milli += int64_t{n.gpus} * kOneGpu.value();
    if (std::find(models.begin(), models.end(), n.model) == models.end()) {
      models.push_back(n.model);
    }
  }

  // With the default pod count the workload is sized to the cluster instead: pods are drawn until
  // their GPU request reaches 97.5 % of capacity. A pod that would take the request above 100 %
  // ends the workload once it is at 90 %, and below that is dropped for another draw (this
  // matters only for clusters of a few nodes, where one 8-GPU pod is a large share).
  const bool auto_size = options.pods == SampleOptions{}.pods;
  const int64_t target_milli = capacity_milli * kTargetPerMille / 1000;
  const int64_t pod_count = auto_size ? std::numeric_limits<int64_t>::max()
                                      : std::max<int64_t>(options.pods, 0);
  constexpr int64_t kMaxDrops = 1'000'000;  // a safety net; never reached in practice

  const FittingMix fit = FitMix(sample.nodes);
  if (std::none_of(fit.class_weights.begin(), fit.class_weights.end(),
                   [](int64_t w) { return w > 0; })) {
    return sample;  // not reached with the node shapes above: small CPU-only pods fit anywhere
  }
  std::vector<int64_t> qos_weights;
  for (const QosMix& q : kQosMix) qos_weights.push_back(q.weight);

  int64_t requested_milli = 0;
  int64_t now = 0;
  int64_t drops = 0;
  for (int64_t i = 0; i < pod_count;) {
    if (auto_size && (requested_milli >= target_milli || drops >= kMaxDrops)) break;
    const size_t c = rng.Weighted(fit.class_weights);
    const PodSpec& spec = kPodMix[c].specs[rng.Weighted(fit.spec_weights[c])];
    const int64_t pod_milli = int64_t{spec.num_gpu} * spec.gpu_milli;
    if (auto_size && requested_milli + pod_milli > capacity_milli) {
      if (requested_milli * 10 >= capacity_milli * 9) break;
      ++drops;
      continue;
    }
    requested_milli += pod_milli;

    OpenbPod p;
    p.name = absl::StrFormat("sample-pod-%04d", i);
    p.cpu = MilliCpu(spec.cpu_milli);
    p.memory = MemoryBytes(spec.memory_mib * kMib);
    p.num_gpu = spec.num_gpu;
    p.gpu_milli = GpuMilli(spec.gpu_milli);

    if (spec.num_gpu > 0 && rng.Below(100) < kConstrainedPercent) {
      // The model of a node that holds the pod, and sometimes a second model of the cluster.
      std::vector<size_t> hosts;
      for (size_t k = 0; k < sample.nodes.size(); ++k) {
        if (Fits(sample.nodes[k], spec.num_gpu, spec.cpu_milli, spec.memory_mib)) {
          hosts.push_back(k);
        }
      }
      const std::string& first = sample.nodes[hosts[rng.Below(hosts.size())]].model;
      p.gpu_spec.push_back(first);
      if (models.size() > 1 && rng.Below(2) == 0) {
        std::vector<const std::string*> others;
        for (const std::string& m : models) {
          if (m != first) others.push_back(&m);
        }
        p.gpu_spec.push_back(*others[rng.Below(others.size())]);
      }
    }

    const QosMix& q = kQosMix[rng.Weighted(qos_weights)];
    std::vector<int64_t> phase_weights;
    for (const PhaseWeight& pw : q.phases) phase_weights.push_back(pw.weight);
    p.qos = q.qos;
    p.phase = q.phases[rng.Weighted(phase_weights)].phase;

    // Arrivals every 1..60 s; failed pods live 1 min to 1 h, others 10 min to 2 days, so that a
    // time-based replay of the sample loads the cluster.
    if (i > 0) now += 1 + static_cast<int64_t>(rng.Below(60));
    const int64_t lifetime = p.phase == "Failed"
                                 ? 60 + static_cast<int64_t>(rng.Below(3600))
                                 : 600 + static_cast<int64_t>(rng.Below(2 * 86400));
    p.creation_time = now;
    p.scheduled_time = now;
    p.deletion_time = now + lifetime;
    sample.pods.push_back(std::move(p));
    ++i;
  }
  return sample;
}

}  // namespace gpusched::simulator::trace
