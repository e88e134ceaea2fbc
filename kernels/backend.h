#pragma once

// The probes of probe.h behind one interface, so the node agent runs the same code on a GPU node
// (NewCudaBackend) and on a machine without a GPU (NewFakeBackend: a deterministic CPU model of a
// set of GPUs, with a load share per GPU that other tenants take).
//
//   std::unique_ptr<ProbeBackend> backend;
//   if (fake) {
//     ASSIGN_OR_RETURN(FakeGpu h100, FakeGpuModel("h100"));
//     FakeSpec spec{.gpus = {h100, h100}, .p2p_gbps = {{0, 450}, {450, 0}}};
//     ASSIGN_OR_RETURN(backend, NewFakeBackend(std::move(spec)));
//   } else {
//     backend = NewCudaBackend();
//   }
//   ASSIGN_OR_RETURN(int n, backend->DeviceCount());
//   ASSIGN_OR_RETURN(ThroughputResult t, backend->ProbeThroughput(0, absl::Milliseconds(2)));
//
// Both backends check arguments with the same code (internal/validate.h), so a bad argument gives
// the same InvalidArgument message from either; a device index past DeviceCount() is
// InvalidArgument "... is out of range ..." from both.
//
// Thread safety: ProbeBackend is thread-compatible (one prober thread uses it). The CUDA backend
// is in fact thread-safe (probe.h), and FakeBackend is thread-safe (an internal mutex), so a
// control thread may SetLoad while the prober thread probes.

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/mutex.h"
#include "kernels/probe.h"

namespace gpusched::kernels {

class ProbeBackend {
 public:
  virtual ~ProbeBackend() = default;

  virtual std::string name() const = 0;  // "cuda", "fake"
  // 0 on a node without a usable GPU (CUDA) or for a spec without GPUs (fake).
  virtual absl::StatusOr<int> DeviceCount() = 0;
  virtual absl::StatusOr<DeviceInfo> Describe(int device) = 0;
  virtual absl::StatusOr<OccupancyResult> ProbeOccupancy(int device, int block_size) = 0;
  virtual absl::StatusOr<ThroughputResult> ProbeThroughput(int device, absl::Duration budget) = 0;
  virtual absl::StatusOr<BandwidthResult> ProbeBandwidth(int device, int64_t bytes) = 0;
  virtual absl::StatusOr<P2PResult> ProbePeerToPeer(int src, int dst, int64_t bytes) = 0;
  // Proves the backend's kernels run (CUDA: RunSaxpyCheck; fake: argument checks only).
  virtual absl::Status RunSaxpyCheck(int device, int n) = 0;

  // Every ordered pair, as the free ProbePeerMatrix in probe.h does (diagonal default, a failing
  // pair's error prefixed with "peer src -> dst: "). The default runs ProbePeerToPeer over the
  // DeviceCount() devices; the CUDA backend calls the free function (Unavailable without CUDA).
  virtual absl::StatusOr<PeerMatrix> ProbePeerMatrix(int64_t bytes);
};

// The free functions of probe.h. name() is "cuda" in both builds; without CUDA compiled in,
// DeviceCount() is 0 and every probe with valid arguments is Unavailable, as in probe.h.
std::unique_ptr<ProbeBackend> NewCudaBackend();

// One fake GPU. The first seven fields are the ones every spec gives; the rest default to an
// H100-like part.
struct FakeGpu {
  std::string name;               // DeviceInfo::name, e.g. "NVIDIA H100 80GB HBM3"
  int sm_count = 0;               // [1, 1024]
  int64_t memory_bytes = 0;       // > 0
  double peak_gflops = 0;         // FP32 GFLOP/s of an idle GPU, > 0
  double d2d_gbps = 0;            // device-to-device copy GB/s (each byte once), > 0
  double load = 0;                // share of the GPU other tenants take, in [0, 1]
  std::string pci_bus_id;         // "" gets "0000:XX:00.0" with XX = 0x10 + index; unique
  double h2d_gbps = 50;           // host-to-device GB/s, > 0
  double d2h_gbps = 50;           // device-to-host GB/s, > 0
  int compute_major = 9;          // >= 1
  int compute_minor = 0;          // >= 0
  int max_threads_per_sm = 2048;  // a multiple of 32 in [256, 4096]
  int max_blocks_per_sm = 32;     // [1, 64]
};

struct FakeSpec {
  std::vector<FakeGpu> gpus;  // may be empty: a node without GPUs
  // Optional: empty, or gpus.size() rows of gpus.size() GB/s values, finite and >= 0.
  // p2p_gbps[src][dst] > 0 means peer access src -> dst at that rate; 0 no peer access. The
  // diagonal is ignored. Empty: no pair has peer access.
  std::vector<std::vector<double>> p2p_gbps;
  uint64_t seed = 1;
  // Relative noise on every measured rate: each is multiplied by a uniform factor in
  // [1 - noise, 1 + noise]. In [0, 0.5].
  double noise = 0.02;
  // 4-byte peer copy latency where peer access exists (noise applies), > 0.
  double p2p_latency_us = 2.0;
};

// InvalidArgument naming the first bad field ("gpus[1].load must be in [0, 1], got 1.5").
absl::Status ValidateFakeSpec(const FakeSpec& spec);

// Approximate published figures for a few GPU models, as a FakeGpu with load 0 and no PCI bus
// id: "v100" (SXM2 32GB), "a100" (SXM4 80GB), "h100" (SXM5 80GB), "b200", "t4", "a10". NotFound
// lists the names. Matching ignores case.
absl::StatusOr<FakeGpu> FakeGpuModel(std::string_view model);
std::vector<std::string> FakeGpuModelNames();

// A CPU model of the GPUs of a FakeSpec. Never sleeps, never reads a clock, and draws its noise
// from its own std::mt19937_64 seeded with spec.seed, so the same spec and the same sequence of
// calls give the same results. What it reports for GPU g with load L (share = max(1 - L,
// 1 / sm_count), what a fully loaded GPU still gives one SM's worth):
//   Describe          the spec's fields; index g
//   ProbeOccupancy    what cudaOccupancyMaxActiveBlocksPerMultiprocessor gives a light kernel:
//                     blocks = min(max_threads_per_sm / block_size, max_blocks_per_sm)
//   ProbeThroughput   sms_reached = round(sm_count * share) in [1, sm_count], gflops =
//                     peak_gflops * share (noisy), duration_us = held_us = budget rounded up to
//                     a microsecond, blocks_per_sm = the occupancy of 256-thread blocks
//   ProbeBandwidth    the spec's h2d/d2h/d2d rates (noisy); ResourceExhausted when 2 * bytes
//                     exceeds memory_bytes, as cudaMalloc would fail
//   ProbePeerToPeer   access where p2p_gbps[src][dst] > 0, with that rate and p2p_latency_us
//                     (noisy); zeros otherwise
//   RunSaxpyCheck     OK once the arguments are valid
class FakeBackend final : public ProbeBackend {
 public:
  // Validates `spec` (ValidateFakeSpec) and fills in empty PCI bus ids.
  static absl::StatusOr<std::unique_ptr<FakeBackend>> Create(FakeSpec spec);

  std::string name() const override { return "fake"; }
  absl::StatusOr<int> DeviceCount() override;
  absl::StatusOr<DeviceInfo> Describe(int device) override;
  absl::StatusOr<OccupancyResult> ProbeOccupancy(int device, int block_size) override;
  absl::StatusOr<ThroughputResult> ProbeThroughput(int device, absl::Duration budget) override;
  absl::StatusOr<BandwidthResult> ProbeBandwidth(int device, int64_t bytes) override;
  absl::StatusOr<P2PResult> ProbePeerToPeer(int src, int dst, int64_t bytes) override;
  absl::Status RunSaxpyCheck(int device, int n) override;

  // Sets the share of GPU `gpu` that other tenants take (in [0, 1]); later probes see it.
  // InvalidArgument for a bad index or load, leaving every load as it was.
  absl::Status SetLoad(int gpu, double load);
  absl::StatusOr<double> GetLoad(int gpu) const;
  // The spec in use: the one given, with PCI bus ids filled in and the present loads.
  FakeSpec spec() const;

 private:
  explicit FakeBackend(FakeSpec spec);

  // `device` >= 0 and below the GPU count, naming `field` in the error.
  absl::Status CheckDevice(std::string_view field, int device) const;
  // `value` times a uniform factor in [1 - noise, 1 + noise].
  double Noisy(double value) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const int gpu_count_;
  mutable Mutex mu_;
  FakeSpec spec_ ABSL_GUARDED_BY(mu_);
  std::mt19937_64 rng_ ABSL_GUARDED_BY(mu_);
};

// FakeBackend::Create; converts to absl::StatusOr<std::unique_ptr<ProbeBackend>>.
absl::StatusOr<std::unique_ptr<FakeBackend>> NewFakeBackend(FakeSpec spec);

}  // namespace gpusched::kernels
