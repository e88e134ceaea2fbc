#include "kernels/internal/first_wave.h"

#include <algorithm>
#include <cstdint>
#include <unordered_set>
#include <vector>

namespace gpusched::kernels::internal {

FirstWave SummarizeFirstWave(const std::vector<BlockRecord>& blocks) {
  FirstWave wave;
  if (blocks.empty()) return wave;
  uint64_t first_start = blocks.front().start_ns;
  std::vector<uint64_t> durations;
  durations.reserve(blocks.size());
  for (const BlockRecord& b : blocks) {
    first_start = std::min(first_start, b.start_ns);
    durations.push_back(b.end_ns > b.start_ns ? b.end_ns - b.start_ns : 0);
  }
  const auto mid = durations.begin() + static_cast<std::ptrdiff_t>(durations.size() / 2);
  std::nth_element(durations.begin(), mid, durations.end());
  wave.median_block_ns = *mid;
  wave.window_ns = std::max(wave.median_block_ns / 2, kMinFirstWaveWindowNs);
  std::unordered_set<uint32_t> sms;
  for (const BlockRecord& b : blocks) {
    if (b.start_ns - first_start <= wave.window_ns) {
      ++wave.blocks;
      sms.insert(b.sm);
    }
  }
  wave.sms_reached = static_cast<int>(sms.size());
  return wave;
}

}  // namespace gpusched::kernels::internal
