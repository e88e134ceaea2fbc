#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/backend.h"
#include "kernels/probe.h"

namespace gpusched::kernels {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr int64_t k64MiB = int64_t{64} << 20;

FakeGpu H100(double load = 0) {
  absl::StatusOr<FakeGpu> gpu = FakeGpuModel("h100");
  EXPECT_TRUE(gpu.ok()) << gpu.status();
  gpu->load = load;
  return *gpu;
}

// Two H100s joined at 450 GB/s one way and 400 the other, and a T4 with no peer access.
FakeSpec ThreeGpuSpec(double noise = 0) {
  absl::StatusOr<FakeGpu> t4 = FakeGpuModel("t4");
  EXPECT_TRUE(t4.ok()) << t4.status();
  FakeSpec spec;
  spec.gpus = {H100(), H100(), *t4};
  spec.p2p_gbps = {{0, 450, 0}, {400, 0, 0}, {0, 0, 0}};
  spec.noise = noise;
  spec.p2p_latency_us = 2.5;
  return spec;
}

std::unique_ptr<FakeBackend> MustCreate(FakeSpec spec) {
  absl::StatusOr<std::unique_ptr<FakeBackend>> backend = NewFakeBackend(std::move(spec));
  EXPECT_TRUE(backend.ok()) << backend.status();
  return backend.ok() ? std::move(*backend) : nullptr;
}

// ---------------------------------------------------------------------------------------------
// Models and spec validation.

TEST(FakeGpuModelTest, KnownModelsAreValidAndCaseInsensitive) {
  EXPECT_THAT(FakeGpuModelNames(), ElementsAre("v100", "a100", "h100", "b200", "t4", "a10"));
  FakeSpec spec;
  for (const std::string& name : FakeGpuModelNames()) {
    absl::StatusOr<FakeGpu> gpu = FakeGpuModel(name);
    ASSERT_TRUE(gpu.ok()) << gpu.status();
    EXPECT_EQ(gpu->load, 0.0);
    spec.gpus.push_back(*gpu);
  }
  EXPECT_TRUE(ValidateFakeSpec(spec).ok()) << ValidateFakeSpec(spec);
  absl::StatusOr<FakeGpu> upper = FakeGpuModel("H100");
  ASSERT_TRUE(upper.ok()) << upper.status();
  EXPECT_EQ(upper->name, "NVIDIA H100 80GB HBM3");
  EXPECT_EQ(upper->sm_count, 132);
}

TEST(FakeGpuModelTest, UnknownModelIsNotFoundListingTheNames) {
  absl::StatusOr<FakeGpu> gpu = FakeGpuModel("h1000");
  EXPECT_EQ(gpu.status().code(), absl::StatusCode::kNotFound) << gpu.status();
  EXPECT_THAT(gpu.status().message(), HasSubstr("h1000"));
  EXPECT_THAT(gpu.status().message(), HasSubstr("v100, a100, h100"));
}

TEST(FakeSpecTest, InvalidSpecsNameTheBadField) {
  struct Case {
    std::string name;
    std::function<void(FakeSpec&)> mutate;
    std::string field;
  };
  const std::vector<Case> cases = {
      {"empty name", [](FakeSpec& s) { s.gpus[1].name = ""; }, "gpus[1].name"},
      {"no SMs", [](FakeSpec& s) { s.gpus[0].sm_count = 0; }, "gpus[0].sm_count"},
      {"too many SMs", [](FakeSpec& s) { s.gpus[0].sm_count = 1025; }, "gpus[0].sm_count"},
      {"no memory", [](FakeSpec& s) { s.gpus[2].memory_bytes = 0; }, "gpus[2].memory_bytes"},
      {"NaN peak", [](FakeSpec& s) { s.gpus[0].peak_gflops = std::nan(""); },
       "gpus[0].peak_gflops"},
      {"zero peak", [](FakeSpec& s) { s.gpus[0].peak_gflops = 0; }, "gpus[0].peak_gflops"},
      {"negative d2d", [](FakeSpec& s) { s.gpus[1].d2d_gbps = -1; }, "gpus[1].d2d_gbps"},
      {"infinite h2d", [](FakeSpec& s) { s.gpus[1].h2d_gbps = INFINITY; }, "gpus[1].h2d_gbps"},
      {"zero d2h", [](FakeSpec& s) { s.gpus[1].d2h_gbps = 0; }, "gpus[1].d2h_gbps"},
      {"load above 1", [](FakeSpec& s) { s.gpus[0].load = 1.5; }, "gpus[0].load"},
      {"negative load", [](FakeSpec& s) { s.gpus[0].load = -0.01; }, "gpus[0].load"},
      {"NaN load", [](FakeSpec& s) { s.gpus[0].load = std::nan(""); }, "gpus[0].load"},
      {"compute 0.x", [](FakeSpec& s) { s.gpus[0].compute_major = 0; }, "compute capability"},
      {"threads not a warp multiple", [](FakeSpec& s) { s.gpus[0].max_threads_per_sm = 1000; },
       "gpus[0].max_threads_per_sm"},
      {"too few threads", [](FakeSpec& s) { s.gpus[0].max_threads_per_sm = 128; },
       "gpus[0].max_threads_per_sm"},
      {"no blocks", [](FakeSpec& s) { s.gpus[2].max_blocks_per_sm = 0; },
       "gpus[2].max_blocks_per_sm"},
      {"duplicate bus id",
       [](FakeSpec& s) {
         s.gpus[0].pci_bus_id = "0000:3b:00.0";
         s.gpus[2].pci_bus_id = "0000:3b:00.0";
       },
       "gpus[2].pci_bus_id 0000:3b:00.0 is not unique"},
      {"given id equals an assigned one",
       [](FakeSpec& s) { s.gpus[0].pci_bus_id = "0000:11:00.0"; }, "gpus[1].pci_bus_id"},
      {"p2p rows", [](FakeSpec& s) { s.p2p_gbps.pop_back(); }, "p2p_gbps must be empty or have 3"},
      {"p2p columns", [](FakeSpec& s) { s.p2p_gbps[1].push_back(1); }, "p2p_gbps[1] must have 3"},
      {"p2p negative", [](FakeSpec& s) { s.p2p_gbps[2][0] = -5; }, "p2p_gbps[2][0]"},
      {"p2p NaN", [](FakeSpec& s) { s.p2p_gbps[0][1] = std::nan(""); }, "p2p_gbps[0][1]"},
      {"noise above 0.5", [](FakeSpec& s) { s.noise = 0.6; }, "noise"},
      {"negative noise", [](FakeSpec& s) { s.noise = -0.1; }, "noise"},
      {"zero latency", [](FakeSpec& s) { s.p2p_latency_us = 0; }, "p2p_latency_us"},
  };
  ASSERT_TRUE(ValidateFakeSpec(ThreeGpuSpec()).ok());
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.name);
    FakeSpec spec = ThreeGpuSpec();
    tc.mutate(spec);
    absl::Status status = ValidateFakeSpec(spec);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
    EXPECT_THAT(status.message(), HasSubstr(tc.field));
    absl::StatusOr<std::unique_ptr<FakeBackend>> backend = NewFakeBackend(spec);
    EXPECT_EQ(backend.status(), status);
  }
}

TEST(FakeSpecTest, EmptyBusIdsAreFilledAndGivenOnesKept) {
  FakeSpec spec = ThreeGpuSpec();
  spec.gpus[1].pci_bus_id = "0000:b3:00.0";
  std::unique_ptr<FakeBackend> backend = MustCreate(spec);
  ASSERT_NE(backend, nullptr);
  std::vector<std::string> ids;
  for (int d = 0; d < 3; ++d) {
    absl::StatusOr<DeviceInfo> info = backend->Describe(d);
    ASSERT_TRUE(info.ok()) << info.status();
    ids.push_back(info->pci_bus_id);
  }
  EXPECT_THAT(ids, ElementsAre("0000:10:00.0", "0000:b3:00.0", "0000:12:00.0"));
  EXPECT_EQ(backend->spec().gpus[0].pci_bus_id, "0000:10:00.0");
}

TEST(FakeSpecTest, SpecWithoutGpusIsANodeWithoutDevices) {
  std::unique_ptr<FakeBackend> backend = MustCreate(FakeSpec{});
  ASSERT_NE(backend, nullptr);
  EXPECT_EQ(backend->name(), "fake");
  absl::StatusOr<int> count = backend->DeviceCount();
  ASSERT_TRUE(count.ok());
  EXPECT_EQ(*count, 0);
  absl::StatusOr<PeerMatrix> matrix = backend->ProbePeerMatrix(k64MiB);
  ASSERT_TRUE(matrix.ok()) << matrix.status();
  EXPECT_TRUE(matrix->empty());
  absl::Status status = backend->ProbeThroughput(0, absl::Milliseconds(2)).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("device 0 is out of range: 0 fake device(s)"));
}

// ---------------------------------------------------------------------------------------------
// What the probes report.

TEST(FakeBackendTest, DescribeReportsTheSpec) {
  std::unique_ptr<FakeBackend> backend = MustCreate(ThreeGpuSpec());
  ASSERT_NE(backend, nullptr);
  absl::StatusOr<DeviceInfo> info = backend->Describe(2);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->index, 2);
  EXPECT_EQ(info->name, "Tesla T4");
  EXPECT_EQ(info->compute_major, 7);
  EXPECT_EQ(info->compute_minor, 5);
  EXPECT_EQ(info->sm_count, 40);
  EXPECT_EQ(info->memory_bytes, int64_t{15} << 30);
  EXPECT_EQ(info->max_threads_per_sm, 1024);
}

// The numbers cudaOccupancyMaxActiveBlocksPerMultiprocessor gives a kernel that registers and
// shared memory do not limit (like the SAXPY probe kernel).
TEST(FakeBackendTest, OccupancyFollowsThreadAndBlockLimitsPerSm) {
  absl::StatusOr<FakeGpu> a10 = FakeGpuModel("a10");
  ASSERT_TRUE(a10.ok());
  FakeSpec spec = ThreeGpuSpec();
  spec.gpus.push_back(*a10);
  spec.p2p_gbps.clear();
  std::unique_ptr<FakeBackend> backend = MustCreate(spec);
  ASSERT_NE(backend, nullptr);
  struct Case {
    int device;
    int block_size;
    int blocks;
    int max_warps;
    double occupancy;
  };
  const std::vector<Case> cases = {
      {0, 256, 8, 64, 1.0},                                // H100: 2048 threads per SM
      {0, 32, 32, 64, 0.5},                                // ... but at most 32 blocks
      {0, 96, 21, 64, 63.0 / 64},                          // 21 blocks of 3 warps
      {0, 1024, 2, 64, 1.0},       {2, 1024, 1, 32, 1.0},  // T4: 1024 threads per SM
      {2, 32, 16, 32, 0.5},                                // ... at most 16 blocks
      {3, 1024, 1, 48, 32.0 / 48},                         // A10: 1536 threads per SM
      {3, 512, 3, 48, 1.0},
  };
  for (const Case& tc : cases) {
    SCOPED_TRACE(std::to_string(tc.device) + "/" + std::to_string(tc.block_size));
    absl::StatusOr<OccupancyResult> r = backend->ProbeOccupancy(tc.device, tc.block_size);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->block_size, tc.block_size);
    EXPECT_EQ(r->active_blocks_per_sm, tc.blocks);
    EXPECT_EQ(r->max_warps_per_sm, tc.max_warps);
    EXPECT_DOUBLE_EQ(r->occupancy, tc.occupancy);
  }
}

TEST(FakeBackendTest, ThroughputFollowsTheLoadExactlyWithoutNoise) {
  std::unique_ptr<FakeBackend> backend = MustCreate(ThreeGpuSpec(/*noise=*/0));
  ASSERT_NE(backend, nullptr);
  struct Case {
    double load;
    int sms;
    double gflops;
  };
  const std::vector<Case> cases = {
      {0.0, 132, 66900},         {0.25, 99, 66900 * 0.75}, {0.5, 66, 66900 * 0.5},
      {0.999, 1, 66900.0 / 132},  // a fully loaded GPU still gives one SM's worth
      {1.0, 1, 66900.0 / 132},
  };
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.load);
    ASSERT_TRUE(backend->SetLoad(0, tc.load).ok());
    absl::StatusOr<ThroughputResult> r = backend->ProbeThroughput(0, absl::Milliseconds(2));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->sm_count, 132);
    EXPECT_EQ(r->sms_reached, tc.sms);
    EXPECT_DOUBLE_EQ(r->available_sm_fraction, tc.sms / 132.0);
    EXPECT_DOUBLE_EQ(r->gflops, tc.gflops);
    EXPECT_EQ(r->duration_us, 2000);
    EXPECT_EQ(r->held_us, 2000);
    EXPECT_EQ(r->blocks_per_sm, 8);  // 256-thread blocks on 2048 threads per SM
  }
}

TEST(FakeBackendTest, ThroughputDurationIsTheBudgetRoundedUpToAMicrosecond) {
  std::unique_ptr<FakeBackend> backend = MustCreate(ThreeGpuSpec());
  ASSERT_NE(backend, nullptr);
  absl::StatusOr<ThroughputResult> tiny = backend->ProbeThroughput(0, absl::Nanoseconds(1));
  absl::StatusOr<ThroughputResult> odd = backend->ProbeThroughput(0, absl::Nanoseconds(1500));
  absl::StatusOr<ThroughputResult> max = backend->ProbeThroughput(0, kMaxThroughputBudget);
  ASSERT_TRUE(tiny.ok() && odd.ok() && max.ok());
  EXPECT_EQ(tiny->duration_us, 1);
  EXPECT_EQ(odd->duration_us, 2);
  EXPECT_EQ(max->duration_us, 1000000);
}

TEST(FakeBackendTest, NoiseStaysWithinItsBoundsAndIsNotConstant) {
  FakeSpec spec = ThreeGpuSpec(/*noise=*/0.05);
  spec.gpus[0].load = 0.5;
  std::unique_ptr<FakeBackend> backend = MustCreate(spec);
  ASSERT_NE(backend, nullptr);
  const double expected = 66900 * 0.5;
  double lo = 2;
  double hi = 0;
  double sum = 0;
  constexpr int kDraws = 2000;
  for (int i = 0; i < kDraws; ++i) {
    absl::StatusOr<ThroughputResult> r = backend->ProbeThroughput(0, absl::Milliseconds(1));
    ASSERT_TRUE(r.ok());
    const double factor = r->gflops / expected;
    lo = std::min(lo, factor);
    hi = std::max(hi, factor);
    sum += factor;
    EXPECT_EQ(r->sms_reached, 66);  // noise is on rates only
  }
  EXPECT_GE(lo, 0.95 - 1e-12);
  EXPECT_LE(hi, 1.05 + 1e-12);
  EXPECT_LT(lo, 0.96);  // uniform over the whole range, not a constant
  EXPECT_GT(hi, 1.04);
  EXPECT_NEAR(sum / kDraws, 1.0, 0.005);
}

TEST(FakeBackendTest, SameSeedGivesTheSameResultsAndAnotherSeedDifferent) {
  auto run = [](uint64_t seed) {
    FakeSpec spec = ThreeGpuSpec(/*noise=*/0.02);
    spec.seed = seed;
    std::unique_ptr<FakeBackend> backend = MustCreate(spec);
    std::vector<double> values;
    if (backend == nullptr) return values;
    for (int i = 0; i < 5; ++i) {
      values.push_back(backend->ProbeThroughput(i % 3, absl::Milliseconds(2))->gflops);
      BandwidthResult bw = *backend->ProbeBandwidth(i % 3, k64MiB);
      values.push_back(bw.host_to_device_gbps);
      values.push_back(bw.device_to_host_gbps);
      values.push_back(bw.device_to_device_gbps);
      P2PResult p2p = *backend->ProbePeerToPeer(0, 1, k64MiB);
      values.push_back(p2p.gbps);
      values.push_back(p2p.latency_us);
    }
    return values;
  };
  const std::vector<double> a = run(42);
  const std::vector<double> b = run(42);
  const std::vector<double> c = run(43);
  ASSERT_EQ(a.size(), 30u);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  int differing = 0;
  for (size_t i = 0; i < a.size(); ++i) differing += a[i] != c[i] ? 1 : 0;
  EXPECT_GT(differing, 25);
}

TEST(FakeBackendTest, SetLoadChangesLaterProbesAndRejectsBadValuesUnchanged) {
  std::unique_ptr<FakeBackend> backend = MustCreate(ThreeGpuSpec());
  ASSERT_NE(backend, nullptr);
  ASSERT_TRUE(backend->SetLoad(1, 0.75).ok());
  EXPECT_EQ(*backend->GetLoad(1), 0.75);
  EXPECT_EQ(*backend->GetLoad(0), 0.0);
  EXPECT_EQ(backend->ProbeThroughput(1, absl::Milliseconds(2))->sms_reached, 33);
  EXPECT_EQ(backend->ProbeThroughput(0, absl::Milliseconds(2))->sms_reached, 132);

  struct Case {
    int gpu;
    double load;
    std::string message;
  };
  const std::vector<Case> cases = {
      {-1, 0.5, "gpu must be a device index >= 0, got -1"},
      {3, 0.5, "gpu 3 is out of range: 3 fake device(s)"},
      {1, -0.1, "load must be in [0, 1], got -0.1"},
      {1, 1.01, "load must be in [0, 1], got 1.01"},
      {1, std::nan(""), "load must be in [0, 1], got nan"},
  };
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.message);
    absl::Status status = backend->SetLoad(tc.gpu, tc.load);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
    EXPECT_THAT(status.message(), HasSubstr(tc.message));
  }
  EXPECT_EQ(*backend->GetLoad(1), 0.75);
  EXPECT_EQ(backend->GetLoad(5).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(FakeBackendTest, BandwidthReportsTheSpecAndRunsOutOfMemoryLikeCudaMalloc) {
  std::unique_ptr<FakeBackend> backend = MustCreate(ThreeGpuSpec(/*noise=*/0));
  ASSERT_NE(backend, nullptr);
  absl::StatusOr<BandwidthResult> bw = backend->ProbeBandwidth(2, k64MiB);
  ASSERT_TRUE(bw.ok()) << bw.status();
  EXPECT_EQ(bw->bytes, k64MiB);
  EXPECT_EQ(bw->host_to_device_gbps, 12);
  EXPECT_EQ(bw->device_to_host_gbps, 12);
  EXPECT_EQ(bw->device_to_device_gbps, 120);
  // The probe needs two device buffers of `bytes`: a 6 GiB GPU takes 3 GiB, not a byte more.
  FakeSpec small = ThreeGpuSpec();
  small.gpus[2].memory_bytes = int64_t{6} << 30;
  std::unique_ptr<FakeBackend> tiny = MustCreate(small);
  ASSERT_NE(tiny, nullptr);
  EXPECT_TRUE(tiny->ProbeBandwidth(2, int64_t{3} << 30).ok());
  absl::Status status = tiny->ProbeBandwidth(2, (int64_t{3} << 30) + 1).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted) << status;
  EXPECT_THAT(status.message(), HasSubstr("fake device 2"));
}

TEST(FakeBackendTest, PeerToPeerFollowsTheMatrixPerDirection) {
  std::unique_ptr<FakeBackend> backend = MustCreate(ThreeGpuSpec(/*noise=*/0));
  ASSERT_NE(backend, nullptr);
  absl::StatusOr<P2PResult> forward = backend->ProbePeerToPeer(0, 1, k64MiB);
  absl::StatusOr<P2PResult> back = backend->ProbePeerToPeer(1, 0, k64MiB);
  absl::StatusOr<P2PResult> none = backend->ProbePeerToPeer(0, 2, k64MiB);
  ASSERT_TRUE(forward.ok() && back.ok() && none.ok());
  EXPECT_TRUE(forward->access_supported);
  EXPECT_EQ(forward->gbps, 450);
  EXPECT_EQ(forward->latency_us, 2.5);
  EXPECT_TRUE(back->access_supported);
  EXPECT_EQ(back->gbps, 400);
  EXPECT_FALSE(none->access_supported);
  EXPECT_EQ(none->gbps, 0);
  EXPECT_EQ(none->latency_us, 0);

  FakeSpec no_matrix = ThreeGpuSpec();
  no_matrix.p2p_gbps.clear();
  std::unique_ptr<FakeBackend> isolated = MustCreate(no_matrix);
  ASSERT_NE(isolated, nullptr);
  EXPECT_FALSE(isolated->ProbePeerToPeer(0, 1, k64MiB)->access_supported);
}

TEST(FakeBackendTest, PeerMatrixHoldsEveryOrderedPairAndAnEmptyDiagonal) {
  std::unique_ptr<FakeBackend> backend = MustCreate(ThreeGpuSpec(/*noise=*/0));
  ASSERT_NE(backend, nullptr);
  ProbeBackend& base = *backend;
  absl::StatusOr<PeerMatrix> m = base.ProbePeerMatrix(k64MiB);
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_EQ(m->size(), 3u);
  for (int src = 0; src < 3; ++src) {
    ASSERT_EQ((*m)[src].size(), 3u);
    for (int dst = 0; dst < 3; ++dst) {
      SCOPED_TRACE(std::to_string(src) + " -> " + std::to_string(dst));
      const P2PResult& p = (*m)[src][dst];
      const bool linked = (src == 0 && dst == 1) || (src == 1 && dst == 0);
      EXPECT_EQ(p.access_supported, linked);
      EXPECT_EQ(p.gbps, linked ? (src == 0 ? 450 : 400) : 0);
      EXPECT_EQ(p.latency_us, linked ? 2.5 : 0);
    }
  }
  absl::Status status = base.ProbePeerMatrix(0).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(status.message(), HasSubstr("bytes"));
}

TEST(FakeBackendTest, RunSaxpyCheckChecksItsArguments) {
  std::unique_ptr<FakeBackend> backend = MustCreate(ThreeGpuSpec());
  ASSERT_NE(backend, nullptr);
  EXPECT_TRUE(backend->RunSaxpyCheck(2, 1 << 20).ok());
  EXPECT_EQ(backend->RunSaxpyCheck(2, 0).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(backend->RunSaxpyCheck(3, 1).code(), absl::StatusCode::kInvalidArgument);
}

// The fake's argument errors are the real probes' own, word for word (both builds check
// arguments before any CUDA call, so the free functions answer these without a GPU).
TEST(FakeBackendTest, BadArgumentsGiveTheRealProbesErrors) {
  std::unique_ptr<FakeBackend> backend = MustCreate(ThreeGpuSpec());
  ASSERT_NE(backend, nullptr);
  struct Case {
    std::string name;
    absl::Status fake;
    absl::Status real;
  };
  const std::vector<Case> cases = {
      {"describe -1", backend->Describe(-1).status(), DescribeDevice(-1).status()},
      {"occupancy block 33", backend->ProbeOccupancy(0, 33).status(),
       ProbeOccupancy(0, 33).status()},
      {"occupancy block first", backend->ProbeOccupancy(-1, 2048).status(),
       ProbeOccupancy(-1, 2048).status()},
      {"occupancy device -1", backend->ProbeOccupancy(-1, 256).status(),
       ProbeOccupancy(-1, 256).status()},
      {"throughput budget 0", backend->ProbeThroughput(0, absl::ZeroDuration()).status(),
       ProbeThroughput(0, absl::ZeroDuration()).status()},
      {"throughput budget 2s", backend->ProbeThroughput(-1, absl::Seconds(2)).status(),
       ProbeThroughput(-1, absl::Seconds(2)).status()},
      {"throughput device -2", backend->ProbeThroughput(-2, absl::Milliseconds(1)).status(),
       ProbeThroughput(-2, absl::Milliseconds(1)).status()},
      {"bandwidth bytes 0", backend->ProbeBandwidth(0, 0).status(), ProbeBandwidth(0, 0).status()},
      {"bandwidth bytes 4GiB+1", backend->ProbeBandwidth(0, kMaxProbeBytes + 1).status(),
       ProbeBandwidth(0, kMaxProbeBytes + 1).status()},
      {"p2p same", backend->ProbePeerToPeer(1, 1, k64MiB).status(),
       ProbePeerToPeer(1, 1, k64MiB).status()},
      {"p2p src -1", backend->ProbePeerToPeer(-1, 1, k64MiB).status(),
       ProbePeerToPeer(-1, 1, k64MiB).status()},
      {"p2p bytes", backend->ProbePeerToPeer(0, 1, -1).status(),
       ProbePeerToPeer(0, 1, -1).status()},
      {"matrix bytes", backend->ProbePeerMatrix(0).status(), ProbePeerMatrix(0).status()},
      {"saxpy n", backend->RunSaxpyCheck(0, 0), RunSaxpyCheck(0, 0)},
  };
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.name);
    EXPECT_EQ(tc.fake.code(), absl::StatusCode::kInvalidArgument) << tc.fake;
    EXPECT_EQ(tc.fake, tc.real);
  }
}

TEST(FakeBackendTest, DeviceIndexPastTheSpecIsOutOfRangeForEveryProbe) {
  std::unique_ptr<FakeBackend> backend = MustCreate(ThreeGpuSpec());
  ASSERT_NE(backend, nullptr);
  const std::vector<absl::Status> statuses = {
      backend->Describe(3).status(),
      backend->ProbeOccupancy(3, 256).status(),
      backend->ProbeThroughput(3, absl::Milliseconds(2)).status(),
      backend->ProbeBandwidth(3, k64MiB).status(),
      backend->ProbePeerToPeer(0, 3, k64MiB).status(),
      backend->ProbePeerToPeer(3, 0, k64MiB).status(),
      backend->RunSaxpyCheck(3, 16),
  };
  for (size_t i = 0; i < statuses.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(statuses[i].code(), absl::StatusCode::kInvalidArgument) << statuses[i];
    EXPECT_THAT(statuses[i].message(), HasSubstr("3 is out of range: 3 fake device(s) visible"));
  }
}

// A control thread changes the load while the prober thread probes: every result matches one of
// the two loads, never a torn mix (run under GPUSCHED_SANITIZE_THREAD to check for races).
TEST(FakeBackendTest, SetLoadFromAnotherThreadWhileProbing) {
  std::unique_ptr<FakeBackend> backend = MustCreate(ThreeGpuSpec(/*noise=*/0));
  ASSERT_NE(backend, nullptr);
  std::thread control([&] {
    for (int i = 0; i < 2000; ++i) {
      absl::Status s = backend->SetLoad(0, i % 2 == 0 ? 0.5 : 0.0);
      if (!s.ok()) ADD_FAILURE() << s;
    }
  });
  int seen_loaded = 0;
  int seen_idle = 0;
  for (int i = 0; i < 2000; ++i) {
    absl::StatusOr<ThroughputResult> r = backend->ProbeThroughput(0, absl::Milliseconds(1));
    ASSERT_TRUE(r.ok());
    if (r->sms_reached == 66) {
      EXPECT_DOUBLE_EQ(r->gflops, 66900 * 0.5);
      ++seen_loaded;
    } else {
      EXPECT_EQ(r->sms_reached, 132);
      EXPECT_DOUBLE_EQ(r->gflops, 66900);
      ++seen_idle;
    }
  }
  control.join();
  EXPECT_EQ(seen_loaded + seen_idle, 2000);
}

TEST(FakeBackendTest, UsableThroughTheBackendInterface) {
  // As in backend.h's example.
  FakeSpec spec{.gpus = {H100(), H100()}, .p2p_gbps = {{0, 450}, {450, 0}}};
  absl::StatusOr<std::unique_ptr<ProbeBackend>> backend = NewFakeBackend(std::move(spec));
  ASSERT_TRUE(backend.ok()) << backend.status();
  EXPECT_EQ((*backend)->name(), "fake");
  EXPECT_EQ(*(*backend)->DeviceCount(), 2);
  absl::StatusOr<P2PResult> p2p = (*backend)->ProbePeerToPeer(1, 0, k64MiB);
  ASSERT_TRUE(p2p.ok()) << p2p.status();
  EXPECT_NEAR(p2p->gbps, 450, 450 * 0.02);  // the default noise
}

// ---------------------------------------------------------------------------------------------
// The CUDA backend forwards to the free functions (in either build, with or without a GPU).

TEST(CudaBackendTest, ForwardsToTheFreeFunctions) {
  std::unique_ptr<ProbeBackend> backend = NewCudaBackend();
  ASSERT_NE(backend, nullptr);
  EXPECT_EQ(backend->name(), "cuda");
  absl::StatusOr<int> count = backend->DeviceCount();
  absl::StatusOr<int> free_count = DeviceCount();
  ASSERT_TRUE(count.ok() && free_count.ok());
  EXPECT_EQ(*count, *free_count);
  EXPECT_EQ(backend->ProbeOccupancy(0, 33).status(), ProbeOccupancy(0, 33).status());
  EXPECT_EQ(backend->ProbeThroughput(0, absl::Seconds(5)).status(),
            ProbeThroughput(0, absl::Seconds(5)).status());
  EXPECT_EQ(backend->ProbeBandwidth(-1, k64MiB).status(), ProbeBandwidth(-1, k64MiB).status());
  EXPECT_EQ(backend->ProbePeerToPeer(2, 2, k64MiB).status(),
            ProbePeerToPeer(2, 2, k64MiB).status());
  EXPECT_EQ(backend->RunSaxpyCheck(0, -1), RunSaxpyCheck(0, -1));
  EXPECT_EQ(backend->Describe(-3).status(), DescribeDevice(-3).status());
  if (*count == 0) {
    // Without a GPU, answers past the device count match too (out of range or Unavailable).
    EXPECT_EQ(backend->ProbeThroughput(0, absl::Milliseconds(2)).status(),
              ProbeThroughput(0, absl::Milliseconds(2)).status());
    EXPECT_EQ(backend->ProbePeerMatrix(k64MiB).status(), ProbePeerMatrix(k64MiB).status());
  }
}

}  // namespace
}  // namespace gpusched::kernels
