#pragma once

// The inside of one node as a graph (Boost.Graph): GPUs, NVSwitches, PCIe switches, host
// bridges, CPU sockets (NUMA nodes) and NICs, joined by typed links with a bandwidth each.
//
//   ASSIGN_OR_RETURN(GpuTopology t, Preset("dgx-a100"));
//   t.Bandwidth(0, 1);   // GB/s between GPU 0 and GPU 1 (NVSwitch: 300 on A100)
//   t.Hops(0, 5);        // links on the best path
//   t.NumaOf(3);         // the socket GPU 3 hangs off
//
// Bandwidth between two GPUs is their direct link's bandwidth (NVLink: links x per-link rate)
// when they have one; otherwise the bottleneck of the widest path through switches, bridges and
// sockets. A GPU never forwards traffic for others: no path passes through a third GPU. Two GPUs
// with neither have bandwidth 0. All pairs are computed once, at Create.
//
// Immutable after Create; safe to share between threads (std::shared_ptr<const GpuTopology>).
//
// Limits and physical checks (Create rejects, naming the link or device index):
//   * at most kMaxGpus GPUs, kMaxDevices devices and kMaxLinks links
//     ("topology \"x\": 5000 GPUs, more than the limit of 1024");
//   * numa in -1..kMaxNuma-1;
//   * NVLink only between GPU-GPU, GPU-NVSwitch, NVSwitch-NVSwitch and GPU-CPU socket (NVLink-C2C
//     on Grace); generation 0 (unknown) or 1..5; at most kMaxNvLinksPerPair (18) links in one
//     GPU-GPU or GPU-switch bond; at most kMaxNvLinkGbpsPerLink (53.125 GB/s, NVLink5's per-link
//     rate per direction) per link; per GPU, the NVLinks to GPUs and switches add up to at most
//     the generation's count (NVLink1 P100 4, NVLink2 V100 6, NVLink3 A100 12, NVLink4 H100 18,
//     NVLink5 B200 18; unknown 18); a C2C link at most kMaxC2cGbps (450 GB/s per direction);
//   * PCIe generation 0..6, width 1..32, at most kMaxPcieGbps per link; inter-socket at most
//     kMaxInterSocketGbps; count 1..64 for non-NVLink links;
//   * with more than one GPU, every GPU has at least one link.
// Oddities that still give a usable topology are TopologyWarnings (below), not errors.
//
// Cost of Create: G GPUs, V devices, E links, W distinct bonded link bandwidths:
// O(G * (E log V + W' * (V + E))) time where W' <= W is the number of distinct GPU-pair
// bandwidths seen from one GPU (a BFS each, for Hops), and O(G^2 + V + E) memory. An nvidia-smi
// matrix of 1,000 GPUs builds in well under a second (bench/topology_benchmark.cc).

#include <cstdint>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace gpusched::topology {

inline constexpr int kMaxGpus = 1024;
inline constexpr int kMaxDevices = 8192;
inline constexpr int kMaxLinks = 65536;
inline constexpr int kMaxNuma = 1024;  // NUMA node ids 0..1023
inline constexpr int kMaxNvLinksPerPair = 18;
inline constexpr double kMaxNvLinkGbpsPerLink = 53.125;
inline constexpr double kMaxC2cGbps = 450;
inline constexpr double kMaxPcieGbps = 256;
inline constexpr double kMaxInterSocketGbps = 1024;

enum class DeviceKind : uint8_t { kGpu, kNvSwitch, kPcieSwitch, kHostBridge, kCpuSocket, kNic };

struct Device {
  DeviceKind kind = DeviceKind::kGpu;
  std::string name;     // "GPU0", "NVSwitch2", "PLX0", "CPU1", "mlx5_0"
  int32_t numa = -1;    // socket index for CPU sockets and the devices under them; -1 unknown
};

enum class LinkKind : uint8_t { kNvLink, kPcie, kInterSocket };

struct Link {
  int32_t a = 0;  // device indices into the device list
  int32_t b = 0;
  LinkKind kind = LinkKind::kPcie;
  int32_t count = 1;       // NVLink: number of links bonded; PCIe/inter-socket: 1
  int32_t generation = 0;  // NVLink 2/3/4/5 or PCIe 3/4/5; 0 unknown
  int32_t width = 16;      // PCIe lanes
  double gbps = 0;         // unidirectional GB/s of the whole link; derived if 0 (see .cc)
};

class GpuTopology {
 public:
  // Validates (indices in range, no self links, positive bandwidth, at least one GPU) and
  // computes all GPU pairs. GPUs are numbered in device-list order of kind kGpu: the first
  // kGpu device is GPU 0. Errors name the link or device index.
  static absl::StatusOr<GpuTopology> Create(std::string name, std::vector<Device> devices,
                                            std::vector<Link> links);

  const std::string& name() const { return name_; }
  // Unique per Create() over the process's life (copies share it: they have the same wiring), so
  // memos keyed by it cannot be confused by an address a freed topology left behind.
  uint64_t id() const { return id_; }
  int gpu_count() const { return gpu_count_; }
  double Bandwidth(int gpu_a, int gpu_b) const;  // GB/s; 0 for a == b
  // The slowest pair among `gpus` (GB/s): what collective communication waits on; 0 for fewer
  // than two GPUs.
  double MinBandwidth(const std::vector<int>& gpus) const;
  int Hops(int gpu_a, int gpu_b) const;          // links on the chosen path; 0 for a == b
  int NumaOf(int gpu) const;                     // -1 unknown
  // Whether two GPUs share a direct NVLink (count > 0 links of kind kNvLink).
  int NvLinks(int gpu_a, int gpu_b) const;
  const std::vector<Device>& devices() const { return devices_; }
  const std::vector<Link>& links() const { return links_; }

 private:
  GpuTopology() = default;
  std::string name_;
  uint64_t id_ = 0;
  std::vector<Device> devices_;
  std::vector<Link> links_;
  int gpu_count_ = 0;
  std::vector<double> bw_;     // gpu_count x gpu_count
  std::vector<int> hops_;      // gpu_count x gpu_count
  std::vector<int> nvlinks_;   // gpu_count x gpu_count
  std::vector<int> numa_;      // per GPU
};

// Per-link GB/s for NVLink generations (2: 25, 3: 25, 4: 25, 5: 50 per link per direction) and
// PCIe (gen3 ~0.985, gen4 ~1.97, gen5 ~3.94 GB/s per lane); inter-socket 40 GB/s when unset.
double DefaultLinkGbps(const Link& link);

// The most NVLinks one GPU has in a generation (0 unknown: 18); 0 for a generation that does not
// exist.
int MaxNvLinksPerGpu(int generation);

// Things that are odd but usable, for the CLI to print (empty when none), each naming the GPUs:
//   "GPU3 and GPU7: no path between them (bandwidth 0)" (at most 8 such lines, then a count),
//   "GPU2: NUMA node unknown while other GPUs have one",
//   "GPU0: NVLinks of mixed generations (2 and 3)".
// O(G^2 + E).
std::vector<std::string> TopologyWarnings(const GpuTopology& topology);

// `s` for an error message: printable ASCII kept, other bytes as \xNN, cut to `max` bytes with
// "..." after. Never echoes raw binary.
std::string Printable(std::string_view s, size_t max = 40);

}  // namespace gpusched::topology
