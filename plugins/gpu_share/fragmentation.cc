#include "plugins/gpu_share/fragmentation.h"

#include <algorithm>
#include <tuple>

namespace gpusched::plugins::gpu_share {

std::vector<TypicalPod> TypicalPodsFromCounts(std::vector<ShapeCount> counts, double threshold) {
  std::vector<TypicalPod> shapes;
  shapes.reserve(counts.size());
  for (ShapeCount& c : counts) {
    shapes.push_back(std::move(c.shape));
    shapes.back().weight = static_cast<double>(c.count);
  }
  return TypicalPodsFromWeights(std::move(shapes), threshold);
}

std::vector<TypicalPod> TypicalPodsFromWeights(std::vector<TypicalPod> shapes, double threshold) {
  auto key = [](const TypicalPod& p) {
    return std::make_tuple(p.cpu.value(), p.gpu_count, p.gpu_milli.value(), p.models);
  };
  std::sort(shapes.begin(), shapes.end(), [&](const TypicalPod& a, const TypicalPod& b) {
    if (a.weight != b.weight) return a.weight > b.weight;
    return key(a) < key(b);
  });
  double total = 0;
  for (const TypicalPod& p : shapes) total += std::max(0.0, p.weight);
  std::vector<TypicalPod> out;
  if (total <= 0) return out;
  double cumulative = 0;
  for (TypicalPod& p : shapes) {
    if (p.weight <= 0) continue;
    cumulative += p.weight;
    out.push_back(std::move(p));
    if (cumulative >= threshold * total) break;
  }
  double kept = 0;
  for (const TypicalPod& p : out) kept += p.weight;
  for (TypicalPod& p : out) p.weight /= kept;
  return out;
}

FragmentationModel::FragmentationModel(std::vector<TypicalPod> pods) : pods_(std::move(pods)) {
  double sum = 0;
  for (const TypicalPod& p : pods_) sum += p.weight;
  for (const TypicalPod& p : pods_) {
    compiled_.push_back(Compiled{p.cpu.value(), p.gpu_count, static_cast<int32_t>(p.gpu_milli.value()),
                                p.models, sum > 0 ? p.weight / sum : 0});
  }
}

double FragmentationModel::NodeFrag(std::string_view model, MilliCpu cpu_free,
                                    absl::Span<const int32_t> free_milli) const {
  int64_t idle = 0;
  for (int32_t l : free_milli) idle += l;
  if (idle == 0) return 0;
  double f = 0;
  for (const Compiled& m : compiled_) {
    int64_t frag = idle;
    bool allowed = m.models.empty() ||
                   std::find(m.models.begin(), m.models.end(), model) != m.models.end();
    if (m.gpu_count > 0 && allowed && m.cpu <= cpu_free.value()) {
      int32_t usable = 0;
      int64_t too_small = 0;
      for (int32_t l : free_milli) {
        if (l >= m.milli) {
          ++usable;
        } else {
          too_small += l;
        }
      }
      if (usable >= m.gpu_count) frag = too_small;
    }
    f += m.weight * static_cast<double>(frag);
  }
  return f;
}

void FreeMilli(const framework::NodeInfo& node, std::vector<int32_t>& out) {
  out.clear();
  for (const framework::GpuSlot& s : node.gpus()) {
    if (s.device.healthy) out.push_back(static_cast<int32_t>(s.milli_free.value()));
  }
}

size_t FreeMilli(const framework::NodeInfo& node, int32_t (&out)[kMaxKeyedGpus]) {
  size_t n = 0;
  for (const framework::GpuSlot& s : node.gpus()) {
    if (!s.device.healthy) continue;
    if (n < kMaxKeyedGpus) out[n] = static_cast<int32_t>(s.milli_free.value());
    ++n;
  }
  return n;
}

std::string_view NodeModel(const framework::NodeInfo& node) {
  return node.gpus().empty() ? std::string_view() : std::string_view(node.gpus()[0].device.model);
}

double FragmentationModel::NodeFrag(const framework::NodeInfo& node) const {
  std::vector<int32_t> free;
  FreeMilli(node, free);
  return NodeFrag(NodeModel(node), node.cpu_free(), free);
}

NodeStateKey FragCache::Key(std::string_view model, MilliCpu cpu_free,
                            absl::Span<const int32_t> free_milli) {
  NodeStateKey k;
  if (free_milli.size() > 8 || cpu_free.value() < 0 || cpu_free.value() >= (int64_t{1} << 30)) {
    return k;
  }
  auto it = model_ids_.find(absl::string_view(model.data(), model.size()));
  if (it == model_ids_.end()) {
    const uint32_t id = static_cast<uint32_t>(model_ids_.size() + 1);
    it = model_ids_.emplace(std::string(model), id).first;
  }
  if (it->second >= (1u << 12)) return k;
  int32_t sorted[8];
  const size_t n = free_milli.size();
  std::copy(free_milli.begin(), free_milli.end(), sorted);
  std::sort(sorted, sorted + n);
  // 12 bits model id | 30 bits cpu | 4 bits count | 8 x 10 bits milli (0..1000 fits in 10 bits)
  absl::uint128 bits = it->second;
  bits = (bits << 30) | static_cast<uint64_t>(cpu_free.value());
  bits = (bits << 4) | n;
  for (size_t i = 0; i < 8; ++i) {
    bits = (bits << 10) | static_cast<uint64_t>(i < n ? std::clamp(sorted[i], 0, 1023) : 0);
  }
  k.bits = bits;
  k.valid = true;
  return k;
}

double FragCache::Frag(std::string_view model, MilliCpu cpu_free,
                       absl::Span<const int32_t> free_milli) {
  const NodeStateKey k = Key(model, cpu_free, free_milli);
  if (!k.valid) return model_.NodeFrag(model, cpu_free, free_milli);
  auto it = frag_.find(k);
  if (it != frag_.end()) return it->second;
  if (frag_.size() >= max_entries_) frag_.clear();
  const double f = model_.NodeFrag(model, cpu_free, free_milli);
  frag_.emplace(k, f);
  return f;
}

double FragCache::Frag(const framework::NodeInfo& node) {
  int32_t buf[kMaxKeyedGpus];
  const size_t n = FreeMilli(node, buf);
  if (n > kMaxKeyedGpus) return model_.NodeFrag(node);
  return Frag(NodeModel(node), node.cpu_free(), absl::MakeConstSpan(buf, n));
}

}  // namespace gpusched::plugins::gpu_share
