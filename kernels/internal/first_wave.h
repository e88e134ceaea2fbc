#pragma once

// Which SMs the first wave of a persistent probe launch reached, from the per-block records the
// throughput probe kernel writes (internal/cuda_probe.h). Pure C++, no CUDA: compiled in every
// build and unit-tested on the CPU (probe_test.cc, FirstWaveTest).
//
//   std::vector<BlockRecord> blocks = ...;   // one per block: %smid, %globaltimer at start / end
//   FirstWave wave = SummarizeFirstWave(blocks);
//   wave.sms_reached;                        // distinct SMs among the first-wave blocks
//
// A launch of sm_count * blocks_per_sm blocks fits the GPU at once when it is idle: every block
// starts within a few microseconds of the first. A block whose SM is held by other work cannot
// start until some earlier block of the launch ends, i.e. about one block time after the first
// start. So the first wave is the blocks that started within half the median block time of the
// earliest start (at least kMinFirstWaveWindowNs, the order of the timer's resolution), and the
// SMs it reached are the SMs that were free when the probe launched.
//
// Thread safety: a pure function.

#include <cstdint>
#include <vector>

namespace gpusched::kernels::internal {

// One block of a probe launch.
struct BlockRecord {
  uint32_t sm = 0;        // %smid of the SM it ran on
  uint64_t start_ns = 0;  // %globaltimer when its first thread began
  uint64_t end_ns = 0;    // %globaltimer after all its threads finished
};

// The smallest first-wave window: %globaltimer ticks every 1 us or so on current GPUs.
inline constexpr uint64_t kMinFirstWaveWindowNs = 2000;

struct FirstWave {
  int sms_reached = 0;     // distinct SM ids among the first-wave blocks
  int blocks = 0;          // blocks in the first wave
  uint64_t window_ns = 0;  // first-wave window after the earliest start
  uint64_t median_block_ns = 0;
};

// Zeros for no blocks. A record with end_ns < start_ns counts as a zero-length block.
FirstWave SummarizeFirstWave(const std::vector<BlockRecord>& blocks);

}  // namespace gpusched::kernels::internal
