#include "kernels/probe.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/internal/first_wave.h"

namespace gpusched::kernels {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;

constexpr char kNoGpuReason[] =
    "no CUDA device visible (cudaGetDeviceCount reported none); GPU probe tests need a GPU";
constexpr int64_t k64MiB = int64_t{64} << 20;

// ---------------------------------------------------------------------------------------------
// Tests that run everywhere: with or without CUDA compiled in, with or without a GPU.

TEST(ProbeTest, CudaCompiledInMatchesBuild) {
#ifdef GPUSCHED_WITH_CUDA
  EXPECT_TRUE(CudaCompiledIn());
#else
  EXPECT_FALSE(CudaCompiledIn());
#endif
}

TEST(ProbeTest, DeviceCountSucceedsAndIsNonNegativeWithOrWithoutGpu) {
  absl::StatusOr<int> count = DeviceCount();
  ASSERT_TRUE(count.ok()) << count.status();
  EXPECT_GE(*count, 0);
  if (!CudaCompiledIn()) {
    EXPECT_EQ(*count, 0);
  }
}

TEST(ProbeTest, OccupancyRejectsBlockSizeOutsideWarpMultiplesUpTo1024) {
  for (int block_size : {0, 33, 2048, -32, 1056, 16}) {
    SCOPED_TRACE(block_size);
    absl::StatusOr<OccupancyResult> result = ProbeOccupancy(0, block_size);
    EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument) << result.status();
    EXPECT_THAT(result.status().message(), HasSubstr("block_size"));
  }
}

TEST(ProbeTest, BandwidthRejectsNonPositiveOrOversizedByteCounts) {
  for (int64_t bytes : {int64_t{0}, int64_t{-1}, kMaxProbeBytes + 1}) {
    SCOPED_TRACE(bytes);
    absl::StatusOr<BandwidthResult> result = ProbeBandwidth(0, bytes);
    EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument) << result.status();
    EXPECT_THAT(result.status().message(), HasSubstr("bytes"));
  }
}

TEST(ProbeTest, PeerToPeerRejectsSameDeviceNegativeDeviceAndZeroBytes) {
  struct Case {
    std::string name;
    int src;
    int dst;
    int64_t bytes;
    std::string field;
  };
  const std::vector<Case> cases = {
      {"same device", 0, 0, k64MiB, "src and dst"},
      {"negative src", -1, 0, k64MiB, "src"},
      {"negative dst", 0, -3, k64MiB, "dst"},
      {"zero bytes", 0, 1, 0, "bytes"},
  };
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.name);
    absl::StatusOr<P2PResult> result = ProbePeerToPeer(tc.src, tc.dst, tc.bytes);
    EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument) << result.status();
    EXPECT_THAT(result.status().message(), HasSubstr(tc.field));
  }
}

TEST(ProbeTest, SaxpyRejectsElementCountOutOfRange) {
  for (int n : {0, -5, kMaxSaxpyElements + 1}) {
    SCOPED_TRACE(n);
    absl::Status status = RunSaxpyCheck(0, n);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
    EXPECT_THAT(status.message(), HasSubstr("n must be"));
  }
}

TEST(ProbeTest, ThroughputRejectsBudgetOutsideZeroToOneSecond) {
  for (absl::Duration budget :
       {absl::ZeroDuration(), absl::Milliseconds(-2), absl::Seconds(1) + absl::Nanoseconds(1),
        absl::Minutes(1), absl::InfiniteDuration(), -absl::InfiniteDuration()}) {
    SCOPED_TRACE(absl::FormatDuration(budget));
    absl::StatusOr<ThroughputResult> result = ProbeThroughput(0, budget);
    EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument) << result.status();
    EXPECT_THAT(result.status().message(), HasSubstr("budget must be in (0, 1s]"));
  }
}

TEST(ProbeTest, PeerMatrixRejectsNonPositiveOrOversizedByteCounts) {
  for (int64_t bytes : {int64_t{0}, int64_t{-7}, kMaxProbeBytes + 1}) {
    SCOPED_TRACE(bytes);
    absl::StatusOr<PeerMatrix> result = ProbePeerMatrix(bytes);
    EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument) << result.status();
    EXPECT_THAT(result.status().message(), HasSubstr("bytes"));
  }
}

// Without a visible GPU: an empty matrix in the CUDA build (no pairs to probe), Unavailable in
// the build without CUDA, like every other probe there.
TEST(ProbeTest, PeerMatrixWithoutDevicesIsEmptyOrUnavailable) {
  absl::StatusOr<int> count = DeviceCount();
  ASSERT_TRUE(count.ok()) << count.status();
  if (*count > 0) GTEST_SKIP() << "a GPU is visible; GpuProbeTest covers the matrix";
  absl::StatusOr<PeerMatrix> result = ProbePeerMatrix(k64MiB);
  if (CudaCompiledIn()) {
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_TRUE(result->empty());
  } else {
    EXPECT_EQ(result.status().code(), absl::StatusCode::kUnavailable) << result.status();
    EXPECT_THAT(result.status().message(), HasSubstr("ProbePeerMatrix"));
  }
}

TEST(ProbeTest, NegativeDeviceIndexIsInvalidArgumentForEveryProbe) {
  const std::vector<absl::Status> statuses = {
      DescribeDevice(-1).status(),
      ProbeOccupancy(-1, 256).status(),
      ProbeBandwidth(-1, k64MiB).status(),
      ProbeThroughput(-1, absl::Milliseconds(2)).status(),
      RunSaxpyCheck(-1, 1024),
  };
  for (size_t i = 0; i < statuses.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(statuses[i].code(), absl::StatusCode::kInvalidArgument) << statuses[i];
    EXPECT_THAT(statuses[i].message(), HasSubstr(">= 0"));
  }
}

// A device index at or past DeviceCount() never reaches CUDA: InvalidArgument with the visible
// count in the CUDA build, Unavailable naming the missing CUDA support otherwise.
TEST(ProbeTest, DeviceIndexPastDeviceCountFailsCleanly) {
  absl::StatusOr<int> count = DeviceCount();
  ASSERT_TRUE(count.ok()) << count.status();
  const int past_end = *count;
  const std::vector<absl::Status> statuses = {
      DescribeDevice(past_end).status(),
      ProbeOccupancy(past_end, 256).status(),
      ProbeBandwidth(past_end, k64MiB).status(),
      ProbeThroughput(past_end, absl::Milliseconds(2)).status(),
      ProbePeerToPeer(0, past_end + 1, k64MiB).status(),
      RunSaxpyCheck(past_end, 1024),
  };
  for (size_t i = 0; i < statuses.size(); ++i) {
    SCOPED_TRACE(i);
    if (CudaCompiledIn()) {
      EXPECT_EQ(statuses[i].code(), absl::StatusCode::kInvalidArgument) << statuses[i];
      EXPECT_THAT(statuses[i].message(), HasSubstr("out of range"));
    } else {
      EXPECT_EQ(statuses[i].code(), absl::StatusCode::kUnavailable) << statuses[i];
      EXPECT_THAT(statuses[i].message(), HasSubstr("gpusched was built without CUDA"));
    }
  }
}

TEST(ProbeTest, ProbesWithoutCudaAreUnavailable) {
  if (CudaCompiledIn()) GTEST_SKIP() << "this build has CUDA compiled in";
  EXPECT_EQ(DescribeDevice(0).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(ProbeOccupancy(0, 256).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(ProbeBandwidth(0, k64MiB).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(ProbePeerToPeer(0, 1, k64MiB).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(ProbeThroughput(0, absl::Milliseconds(2)).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(RunSaxpyCheck(0, 1 << 20).code(), absl::StatusCode::kUnavailable);
}

// ---------------------------------------------------------------------------------------------
// The throughput probe's first-wave rule (internal/first_wave.h), on made-up block records.

using internal::BlockRecord;
using internal::FirstWave;
using internal::kMinFirstWaveWindowNs;
using internal::SummarizeFirstWave;

constexpr uint64_t kMs = 1000000;  // ns

TEST(FirstWaveTest, NoBlocksReachNoSms) {
  const FirstWave wave = SummarizeFirstWave({});
  EXPECT_EQ(wave.sms_reached, 0);
  EXPECT_EQ(wave.blocks, 0);
  EXPECT_EQ(wave.window_ns, 0u);
}

TEST(FirstWaveTest, IdleGpuAllBlocksStartTogetherOnEverySm) {
  std::vector<BlockRecord> blocks;
  for (uint32_t sm = 0; sm < 4; ++sm) {
    for (int b = 0; b < 2; ++b) {
      const uint64_t start = 5 * kMs + sm * 300 + b * 100;      // within ~1 us of each other
      blocks.push_back({sm * 2 + 10, start, start + 2 * kMs});  // ids need not be contiguous
    }
  }
  const FirstWave wave = SummarizeFirstWave(blocks);
  EXPECT_EQ(wave.sms_reached, 4);
  EXPECT_EQ(wave.blocks, 8);
  EXPECT_EQ(wave.median_block_ns, 2 * kMs);
  EXPECT_EQ(wave.window_ns, kMs);
}

// Two of four SMs are held by another tenant: their share of the launch runs as a second wave
// on the free SMs once the first blocks end, and one busy SM frees up late in the run.
TEST(FirstWaveTest, BlocksWaitingForBusySmsAreNotInTheFirstWave) {
  const std::vector<BlockRecord> blocks = {
      {0, 0, kMs},          {0, 200, kMs + 200},      // first wave on SM 0
      {1, 100, kMs + 100},  {1, 300, kMs + 300},      // first wave on SM 1
      {0, kMs, 2 * kMs},    {1, kMs + 100, 2 * kMs},  // second wave, SMs 0 and 1 again
      {3, 800000, 1800000}, {3, 800100, 1800100},     // SM 3 freed at 0.8 ms
  };
  const FirstWave wave = SummarizeFirstWave(blocks);
  EXPECT_EQ(wave.sms_reached, 2);
  EXPECT_EQ(wave.blocks, 4);
}

TEST(FirstWaveTest, WindowIsHalfTheMedianBlockTimeAfterTheEarliestStart) {
  // Median block time 1 ms: window 0.5 ms. The earliest start is not the first record.
  const std::vector<BlockRecord> blocks = {
      {7, 1000 + 400000, 1000 + 1400000},  // 0.4 ms after the earliest: in
      {8, 1000 + 600000, 1000 + 1600000},  // 0.6 ms after: out
      {9, 1000, 1000 + kMs},               // the earliest
      {9, 1000 + 500000, 1000 + 1500000},  // exactly at the window's end: in
  };
  const FirstWave wave = SummarizeFirstWave(blocks);
  EXPECT_EQ(wave.window_ns, 500000u);
  EXPECT_EQ(wave.blocks, 3);
  EXPECT_EQ(wave.sms_reached, 2);  // SMs 7 and 9
}

TEST(FirstWaveTest, ShortBlocksGetTheMinimumWindow) {
  const std::vector<BlockRecord> blocks = {
      {0, 0, 100},
      {1, 1500, 1600},
      {2, 2500, 2600},
      {3, 3000, 2000},  // end before start: a zero-length block
  };
  const FirstWave wave = SummarizeFirstWave(blocks);
  EXPECT_EQ(wave.window_ns, kMinFirstWaveWindowNs);
  EXPECT_EQ(wave.sms_reached, 2);  // SMs 0 and 1; 2500 and 3000 are past 2000 ns
}

// ---------------------------------------------------------------------------------------------
// GPU tests: run the probes for real; skipped (with the reason printed) where no GPU is visible.

class GpuProbeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<int> count = DeviceCount();
    ASSERT_TRUE(count.ok()) << count.status();
    if (*count == 0) GTEST_SKIP() << kNoGpuReason;
    device_count_ = *count;
  }

  int device_count_ = 0;
};

TEST_F(GpuProbeTest, DescribeDeviceReportsSaneFieldsForEveryDevice) {
  for (int d = 0; d < device_count_; ++d) {
    SCOPED_TRACE(d);
    absl::StatusOr<DeviceInfo> info = DescribeDevice(d);
    ASSERT_TRUE(info.ok()) << info.status();
    EXPECT_EQ(info->index, d);
    EXPECT_FALSE(info->name.empty());
    EXPECT_GE(info->compute_major, 7);  // CUDA 13 supports sm_75 and newer.
    EXPECT_GE(info->compute_minor, 0);
    EXPECT_GT(info->sm_count, 0);
    EXPECT_GT(info->memory_bytes, int64_t{1} << 30);
    EXPECT_GT(info->max_threads_per_sm, 0);
    EXPECT_EQ(info->max_threads_per_sm % 32, 0);
    EXPECT_THAT(info->pci_bus_id,
                MatchesRegex("[0-9A-Fa-f]+:[0-9A-Fa-f]+:[0-9A-Fa-f]+\\.[0-9A-Fa-f]+"));
    ::testing::Test::RecordProperty("device" + std::to_string(d), info->name);
  }
}

TEST_F(GpuProbeTest, OccupancyOf256ThreadBlocksIsPositiveAndAtMostOne) {
  absl::StatusOr<OccupancyResult> result = ProbeOccupancy(0, 256);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->block_size, 256);
  EXPECT_GE(result->active_blocks_per_sm, 1);
  EXPECT_GT(result->max_warps_per_sm, 0);
  EXPECT_GT(result->occupancy, 0.0);
  EXPECT_LE(result->occupancy, 1.0);
}

TEST_F(GpuProbeTest, OccupancyStaysWithinZeroAndOneForEveryValidBlockSize) {
  for (int block_size = 32; block_size <= 1024; block_size += 32) {
    SCOPED_TRACE(block_size);
    absl::StatusOr<OccupancyResult> result = ProbeOccupancy(0, block_size);
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_GE(result->occupancy, 0.0);
    EXPECT_LE(result->occupancy, 1.0);
  }
}

TEST_F(GpuProbeTest, BandwidthOf64MiBExceedsOneGBpsInEveryDirection) {
  absl::StatusOr<BandwidthResult> result = ProbeBandwidth(0, k64MiB);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->bytes, k64MiB);
  EXPECT_GT(result->host_to_device_gbps, 1.0);
  EXPECT_GT(result->device_to_host_gbps, 1.0);
  EXPECT_GT(result->device_to_device_gbps, 1.0);
  ::testing::Test::RecordProperty("h2d_gbps", std::to_string(result->host_to_device_gbps));
  ::testing::Test::RecordProperty("d2h_gbps", std::to_string(result->device_to_host_gbps));
  ::testing::Test::RecordProperty("d2d_gbps", std::to_string(result->device_to_device_gbps));
}

TEST_F(GpuProbeTest, PeerToPeerReportsBandwidthOnlyWhenSupported) {
  if (device_count_ < 2) {
    GTEST_SKIP() << "only " << device_count_ << " CUDA device visible; P2P needs 2 or more";
  }
  absl::StatusOr<P2PResult> result = ProbePeerToPeer(0, 1, k64MiB);
  ASSERT_TRUE(result.ok()) << result.status();
  if (result->access_supported) {
    EXPECT_GT(result->gbps, 1.0);
    // A 4-byte peer copy takes microseconds (NVLink ~2, PCIe ~10), never a millisecond.
    EXPECT_GT(result->latency_us, 0.0);
    EXPECT_LT(result->latency_us, 1000.0);
    ::testing::Test::RecordProperty("p2p_latency_us", std::to_string(result->latency_us));
  } else {
    EXPECT_EQ(result->gbps, 0.0);
    EXPECT_EQ(result->latency_us, 0.0);
  }
}

// Every ordered pair is probed and agrees with the pair probe's rules; the diagonal is empty.
// Runs with one GPU too (a 1 x 1 matrix).
TEST_F(GpuProbeTest, PeerMatrixCoversEveryOrderedPairWithAnEmptyDiagonal) {
  absl::StatusOr<PeerMatrix> matrix = ProbePeerMatrix(int64_t{16} << 20);
  ASSERT_TRUE(matrix.ok()) << matrix.status();
  ASSERT_EQ(matrix->size(), static_cast<size_t>(device_count_));
  for (int src = 0; src < device_count_; ++src) {
    ASSERT_EQ((*matrix)[src].size(), static_cast<size_t>(device_count_));
    for (int dst = 0; dst < device_count_; ++dst) {
      SCOPED_TRACE(std::to_string(src) + " -> " + std::to_string(dst));
      const P2PResult& p = (*matrix)[src][dst];
      if (src == dst || !p.access_supported) {
        EXPECT_FALSE(src == dst && p.access_supported);
        EXPECT_EQ(p.gbps, 0.0);
        EXPECT_EQ(p.latency_us, 0.0);
      } else {
        EXPECT_GT(p.gbps, 1.0);
        EXPECT_GT(p.latency_us, 0.0);
        EXPECT_LT(p.latency_us, 1000.0);
      }
    }
  }
}

// On an idle GPU the persistent launch is resident all at once, so its first wave reaches every
// SM; the calibrated launch takes about the budget, and the whole probe at most twice it.
TEST_F(GpuProbeTest, ThroughputOnIdleGpuReachesEverySmWithinTheBudget) {
  absl::StatusOr<DeviceInfo> info = DescribeDevice(0);
  ASSERT_TRUE(info.ok()) << info.status();
  const absl::Duration budget = absl::Milliseconds(2);
  absl::StatusOr<ThroughputResult> result = ProbeThroughput(0, budget);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->sm_count, info->sm_count);
  EXPECT_EQ(result->sms_reached, info->sm_count)
      << "the probe's first wave missed SMs on a GPU that should be idle; is another process "
         "running kernels on it?";
  EXPECT_DOUBLE_EQ(result->available_sm_fraction, 1.0);
  EXPECT_GE(result->blocks_per_sm, 1);
  // Every GPU CUDA 13 supports (T4 and newer) does several TFLOP/s of FP32 FMA; no GPU does a
  // PFLOP/s, which only a miscounted or optimized-away loop would show.
  EXPECT_GT(result->gflops, 1000.0);
  EXPECT_LT(result->gflops, 1e6);
  EXPECT_GE(result->duration_us, 2000 / 4);
  EXPECT_LE(result->duration_us, 2 * 2000);
  EXPECT_GE(result->held_us, result->duration_us);
  EXPECT_LE(result->held_us, 2 * 2000);
  ::testing::Test::RecordProperty("gflops", std::to_string(result->gflops));
  ::testing::Test::RecordProperty("duration_us", std::to_string(result->duration_us));
  ::testing::Test::RecordProperty("held_us", std::to_string(result->held_us));
}

// The calibration scales the work to the budget: 8x the budget takes about 8x as long at about
// the same rate.
TEST_F(GpuProbeTest, ThroughputWorkScalesWithTheBudgetAtASteadyRate) {
  // A first run, discarded, so that clocks ramping up from idle do not skew the comparison.
  ASSERT_TRUE(ProbeThroughput(0, absl::Milliseconds(8)).ok());
  absl::StatusOr<ThroughputResult> short_run = ProbeThroughput(0, absl::Milliseconds(1));
  absl::StatusOr<ThroughputResult> long_run = ProbeThroughput(0, absl::Milliseconds(8));
  ASSERT_TRUE(short_run.ok()) << short_run.status();
  ASSERT_TRUE(long_run.ok()) << long_run.status();
  const double ratio =
      static_cast<double>(long_run->duration_us) / std::max<int64_t>(short_run->duration_us, 1);
  EXPECT_GT(ratio, 4.0);
  EXPECT_LT(ratio, 16.0);
  EXPECT_NEAR(long_run->gflops / short_run->gflops, 1.0, 0.3);
}

TEST_F(GpuProbeTest, ThroughputRunsOnEveryDevice) {
  for (int d = 0; d < device_count_; ++d) {
    SCOPED_TRACE(d);
    absl::StatusOr<ThroughputResult> result = ProbeThroughput(d, absl::Milliseconds(1));
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_GT(result->sms_reached, 0);
    EXPECT_GT(result->gflops, 1000.0);
  }
}

TEST_F(GpuProbeTest, SaxpyKernelResultMatchesHost) {
  for (int n : {1 << 20, 1, 255, 1000003}) {  // Partial blocks and a grid-stride tail too.
    SCOPED_TRACE(n);
    absl::Status status = RunSaxpyCheck(0, n);
    EXPECT_TRUE(status.ok()) << status;
  }
}

TEST_F(GpuProbeTest, SaxpyRunsOnEveryDevice) {
  for (int d = 0; d < device_count_; ++d) {
    SCOPED_TRACE(d);
    absl::Status status = RunSaxpyCheck(d, 1 << 16);
    EXPECT_TRUE(status.ok()) << status;
  }
}

}  // namespace
}  // namespace gpusched::kernels
