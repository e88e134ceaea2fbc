#include "kernels/probe.h"

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

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

TEST(ProbeTest, NegativeDeviceIndexIsInvalidArgumentForEveryProbe) {
  const std::vector<absl::Status> statuses = {
      DescribeDevice(-1).status(),
      ProbeOccupancy(-1, 256).status(),
      ProbeBandwidth(-1, k64MiB).status(),
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
  EXPECT_EQ(RunSaxpyCheck(0, 1 << 20).code(), absl::StatusCode::kUnavailable);
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
  } else {
    EXPECT_EQ(result->gbps, 0.0);
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
