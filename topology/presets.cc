#include "topology/presets.h"
#include "topology/p2p_factors.h"

// Topology presets. Each preset names where its wiring comes from; where a number is a modelling
// choice rather than a published figure, it says so.
//
// Modelling conventions shared by all presets (and by nvidia_smi.cc):
//
// * NVSwitch fabric. The GPUs of an NVSwitch system are linked to ONE logical kNvSwitch device
//   standing for the whole switch fabric, each GPU with count = its total NVLinks (A100: 12 x 25;
//   H100: 18 x 25; GB200: 18 x 50 GB/s per direction). Physically each GPU spreads its links over
//   6 (A100) or 4 (H100) switch chips; a widest-path search over the chips as parallel single paths
//   would see only one chip's share, so the fabric is collapsed into one device. Every GPU pair
//   then gets the GPU's full NVLink bandwidth over 2 hops, and NvLinks() reports the per-GPU link
//   count, as `nvidia-smi topo -m` does (NV12 / NV18).
//
// * PCIe beyond a switch. PCIe links are the published generation and width. A CPU socket's root
//   complex is split into host bridges (kHostBridge, one per PCIe root port stack: Intel IIO stack,
//   AMD NBIO); devices under one host bridge reach each other at PCIe rate ("PHB"). Two things are
//   modelling assumptions, not vendor figures, chosen so that GPU peer-to-peer bandwidth orders
//   as it is commonly measured (same switch > same socket > across sockets):
//     - host bridge <-> socket: kIntraSocketP2pFactor (0.8) x the x16 rate of the PCIe generation
//       (P2P traffic crossing between root port stacks of one socket, "NODE");
//     - socket <-> socket: kInterSocketP2pFactor (0.5) x the x16 rate (GPU P2P across the
//       inter-socket link, "SYS", is often not supported by the driver and is staged through host
//       memory). This is the GPU-to-GPU figure, not the raw UPI/QPI/xGMI rate.
//
// * NUMA. GPUs carry the index of the socket they hang off (0, 1, ...), not the OS NUMA node
//   numbering of any particular BIOS setting.

#include <algorithm>
#include <functional>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace gpusched::topology {
namespace {

double X16Gbps(int pcie_generation) {
  Link l;
  l.kind = LinkKind::kPcie;
  l.generation = pcie_generation;
  l.width = 16;
  return DefaultLinkGbps(l);
}

class Builder {
 public:
  int Add(DeviceKind kind, std::string name, int numa) {
    devices_.push_back(Device{kind, std::move(name), numa});
    return static_cast<int>(devices_.size()) - 1;
  }
  int Gpu(int numa) { return Add(DeviceKind::kGpu, absl::StrCat("GPU", gpus_++), numa); }
  int Nic(int numa) { return Add(DeviceKind::kNic, absl::StrCat("mlx5_", nics_++), numa); }
  int Socket(int numa) { return Add(DeviceKind::kCpuSocket, absl::StrCat("CPU", numa), numa); }
  // A root port stack of `socket`, joined to it at the modelled intra-socket P2P rate.
  int HostBridge(int socket, int pcie_generation) {
    const int numa = devices_[socket].numa;
    const int hb = Add(DeviceKind::kHostBridge, absl::StrCat("HB", host_bridges_++), numa);
    Explicit(hb, socket, LinkKind::kPcie, kIntraSocketP2pFactor * X16Gbps(pcie_generation));
    return hb;
  }
  int PcieSwitch(int numa) {
    return Add(DeviceKind::kPcieSwitch, absl::StrCat("PLX", switches_++), numa);
  }
  int NvSwitch() { return Add(DeviceKind::kNvSwitch, "NVSwitch", -1); }

  void Pcie(int a, int b, int generation, int width = 16) {
    Link l;
    l.a = a;
    l.b = b;
    l.kind = LinkKind::kPcie;
    l.generation = generation;
    l.width = width;
    links_.push_back(l);
  }
  void NvLink(int a, int b, int count, int generation) {
    Link l;
    l.a = a;
    l.b = b;
    l.kind = LinkKind::kNvLink;
    l.count = count;
    l.generation = generation;
    links_.push_back(l);
  }
  void InterSocket(int a, int b, int pcie_generation) {
    Explicit(a, b, LinkKind::kInterSocket, kInterSocketP2pFactor * X16Gbps(pcie_generation));
  }
  void Explicit(int a, int b, LinkKind kind, double gbps) {
    Link l;
    l.a = a;
    l.b = b;
    l.kind = kind;
    l.gbps = gbps;
    links_.push_back(l);
  }

  absl::StatusOr<GpuTopology> Build(std::string name) {
    return GpuTopology::Create(std::move(name), std::move(devices_), std::move(links_));
  }

 private:
  std::vector<Device> devices_;
  std::vector<Link> links_;
  int gpus_ = 0;
  int nics_ = 0;
  int host_bridges_ = 0;
  int switches_ = 0;
};

// NVIDIA DGX-1 with Tesla V100 (NVIDIA DGX-1 System Architecture whitepaper, WP-08437-002, "The
// DGX-1 with Tesla V100" hybrid cube-mesh figure, and `nvidia-smi topo -m` of a DGX-1V):
//   8 V100 SXM2, 6 NVLink2 links each (25 GB/s per link per direction), to 4 peers, 2 doubled:
//     0: 1 NV1, 2 NV1, 3 NV2, 4 NV2     4: 0 NV2, 5 NV1, 6 NV1, 7 NV2
//     1: 0 NV1, 2 NV2, 3 NV1, 5 NV2     5: 1 NV2, 4 NV1, 6 NV2, 7 NV1
//     2: 0 NV1, 1 NV2, 3 NV2, 6 NV1     6: 2 NV1, 4 NV1, 5 NV2, 7 NV2
//     3: 0 NV2, 1 NV1, 2 NV2, 7 NV1     7: 3 NV1, 4 NV2, 5 NV1, 6 NV2
//   {0,1,2,3} and {4,5,6,7} are fully NVLink-connected quads.
//   4 PCIe gen3 x16 switches (PLX0..3), 2 GPUs and 1 EDR InfiniBand NIC each; PLX0/1 on CPU0,
//   PLX2/3 on CPU1 (2x Xeon E5-2698 v4, one root complex per socket, joined by QPI).
absl::StatusOr<GpuTopology> Dgx1V100() {
  Builder b;
  const int cpu0 = b.Socket(0);
  const int cpu1 = b.Socket(1);
  const int hb0 = b.HostBridge(cpu0, 3);
  const int hb1 = b.HostBridge(cpu1, 3);
  b.InterSocket(cpu0, cpu1, 3);
  std::vector<int> gpu(8);
  for (int i = 0; i < 8; ++i) gpu[i] = b.Gpu(i < 4 ? 0 : 1);
  for (int s = 0; s < 4; ++s) {
    const int numa = s < 2 ? 0 : 1;
    const int plx = b.PcieSwitch(numa);
    b.Pcie(plx, numa == 0 ? hb0 : hb1, 3);
    b.Pcie(gpu[2 * s], plx, 3);
    b.Pcie(gpu[2 * s + 1], plx, 3);
    b.Pcie(b.Nic(numa), plx, 3);
  }
  const int nv[][3] = {{0, 1, 1}, {0, 2, 1}, {0, 3, 2}, {0, 4, 2}, {1, 2, 2}, {1, 3, 1},
                       {1, 5, 2}, {2, 3, 2}, {2, 6, 1}, {3, 7, 1}, {4, 5, 1}, {4, 6, 1},
                       {4, 7, 2}, {5, 6, 2}, {5, 7, 1}, {6, 7, 2}};
  for (const auto& e : nv) b.NvLink(gpu[e[0]], gpu[e[1]], e[2], 2);
  return b.Build("dgx1-v100");
}

// An 8-GPU NVSwitch machine (DGX A100, HGX H100): 2 sockets, GPUs 0-3 on socket 0 and 4-7 on
// socket 1, every GPU on one NVSwitch fabric; 8 / gpus_per_switch PCIe switches, each on its own
// host bridge of its socket, with its GPUs and nics_per_switch NICs.
struct NvSwitchBoxShape {
  int pcie_gen;
  int gpus_per_switch;
  int nics_per_switch;
  int nvlinks;
  int nvlink_gen;
};

absl::StatusOr<GpuTopology> NvSwitchBox(std::string name, const NvSwitchBoxShape& shape) {
  Builder b;
  const int cpu[2] = {b.Socket(0), b.Socket(1)};
  b.InterSocket(cpu[0], cpu[1], shape.pcie_gen);
  const int fabric = b.NvSwitch();
  std::vector<int> gpu(8);
  for (int i = 0; i < 8; ++i) gpu[i] = b.Gpu(i < 4 ? 0 : 1);
  const int switches = 8 / shape.gpus_per_switch;
  for (int s = 0; s < switches; ++s) {
    const int numa = s < switches / 2 ? 0 : 1;
    const int hb = b.HostBridge(cpu[numa], shape.pcie_gen);
    const int sw = b.PcieSwitch(numa);
    b.Pcie(sw, hb, shape.pcie_gen);
    for (int k = 0; k < shape.gpus_per_switch; ++k) {
      b.Pcie(gpu[s * shape.gpus_per_switch + k], sw, shape.pcie_gen);
    }
    for (int k = 0; k < shape.nics_per_switch; ++k) b.Pcie(b.Nic(numa), sw, shape.pcie_gen);
  }
  for (int g : gpu) b.NvLink(g, fabric, shape.nvlinks, shape.nvlink_gen);
  return b.Build(std::move(name));
}

// NVIDIA DGX A100 (DGX A100 User Guide, "System topology"; DGX A100 System Architecture
// whitepaper): 8 A100 SXM4, 12 NVLink3 links each (600 GB/s bidirectional per GPU) to 6
// NVSwitches; 2x AMD EPYC 7742; 4 PCIe gen4 switches, each with 2 GPUs and 2 ConnectX-6 HDR
// compute NICs (8 in all); GPUs 0-3 on socket 0, 4-7 on socket 1. The 6 NVSwitches are one
// logical fabric device here (see the top of this file).
absl::StatusOr<GpuTopology> DgxA100() {
  return NvSwitchBox("dgx-a100", {.pcie_gen = 4, .gpus_per_switch = 2, .nics_per_switch = 2,
                                  .nvlinks = 12, .nvlink_gen = 3});
}

// NVIDIA HGX H100 8-GPU (HGX H100 / DGX H100 product pages and DGX H100 User Guide): 8 H100
// SXM5, 18 NVLink4 links each (900 GB/s bidirectional per GPU) to 4 NVSwitches (one logical
// fabric device here); 2 sockets; 8 ConnectX-7 400 Gb/s compute NICs, one per GPU. The PCIe
// switching under HGX is server-specific: modelled as one PCIe gen5 switch per GPU/NIC pair, four
// per socket, each on its own root port stack; GPUs 0-3 on socket 0, 4-7 on socket 1.
absl::StatusOr<GpuTopology> HgxH100() {
  return NvSwitchBox("hgx-h100", {.pcie_gen = 5, .gpus_per_switch = 1, .nics_per_switch = 1,
                                  .nvlinks = 18, .nvlink_gen = 4});
}

// Generic 8-GPU PCIe gen4 server (the common 2-socket layout of 8-GPU PCIe servers: two PCIe
// switches per socket, two x16 GPUs per switch, each switch on a x16 uplink to its own root port
// stack). Not a specific vendor's board.
absl::StatusOr<GpuTopology> Pcie8Gpu() {
  Builder b;
  const int cpu[2] = {b.Socket(0), b.Socket(1)};
  b.InterSocket(cpu[0], cpu[1], 4);
  std::vector<int> gpu(8);
  for (int i = 0; i < 8; ++i) gpu[i] = b.Gpu(i < 4 ? 0 : 1);
  for (int s = 0; s < 4; ++s) {
    const int numa = s < 2 ? 0 : 1;
    const int hb = b.HostBridge(cpu[numa], 4);
    const int sw = b.PcieSwitch(numa);
    b.Pcie(sw, hb, 4);
    b.Pcie(gpu[2 * s], sw, 4);
    b.Pcie(gpu[2 * s + 1], sw, 4);
  }
  return b.Build("pcie-8gpu");
}

// 4x NVIDIA T4 (PCIe gen3 x16, T4 datasheet) in a generic 2-socket server: two T4 behind one
// PCIe gen3 switch per socket. Matches testdata/t4_4gpu.txt (PIX within a socket, SYS across).
absl::StatusOr<GpuTopology> Pcie4GpuT4() {
  Builder b;
  const int cpu[2] = {b.Socket(0), b.Socket(1)};
  b.InterSocket(cpu[0], cpu[1], 3);
  std::vector<int> gpu(4);
  for (int i = 0; i < 4; ++i) gpu[i] = b.Gpu(i < 2 ? 0 : 1);
  for (int s = 0; s < 2; ++s) {
    const int hb = b.HostBridge(cpu[s], 3);
    const int sw = b.PcieSwitch(s);
    b.Pcie(sw, hb, 3);
    b.Pcie(gpu[2 * s], sw, 3);
    b.Pcie(gpu[2 * s + 1], sw, 3);
  }
  return b.Build("pcie-4gpu-t4");
}

// Two PCIe gen4 x16 cards without NVLink (A10 or L4, per their datasheets) on one socket, each on
// its own root port stack (no PCIe switch; `nvidia-smi topo -m` shows NODE between them): the
// common inference box. The wiring is the same for both; the name says what the node holds.
absl::StatusOr<GpuTopology> PcieGpuPair(std::string_view name) {
  Builder b;
  const int cpu = b.Socket(0);
  for (int i = 0; i < 2; ++i) {
    const int g = b.Gpu(0);
    b.Pcie(g, b.HostBridge(cpu, 4), 4);
  }
  return b.Build(std::string(name));
}
absl::StatusOr<GpuTopology> Pcie2GpuA10() { return PcieGpuPair("pcie-2gpu-a10"); }
absl::StatusOr<GpuTopology> Pcie2GpuL4() { return PcieGpuPair("pcie-2gpu-l4"); }

// One compute tray (node) of a GB200 NVL72 rack (NVIDIA GB200 NVL72 product page; GB200 NVL72
// is 36 Grace CPUs + 72 Blackwell GPUs in 18 compute trays, fifth-generation NVLink at 1.8 TB/s
// bidirectional per GPU through the NVLink Switch trays): 2 Grace CPUs and 4 Blackwell GPUs; each
// Grace joined to its 2 GPUs by NVLink-C2C (900 GB/s bidirectional, 450 per direction); each GPU
// 18 NVLink5 links (18 x 50 = 900 GB/s per direction) into the rack-wide switch fabric, modelled
// as one logical kNvSwitch device. Only this node's 4 GPUs are listed; the domain spans 18 nodes.
// The two Grace CPUs are not given a CPU-to-CPU link here (GPU pairs use the NVLink fabric).
absl::StatusOr<GpuTopology> Gb200Nvl72() {
  Builder b;
  const int grace[2] = {b.Socket(0), b.Socket(1)};
  const int fabric = b.NvSwitch();
  for (int i = 0; i < 4; ++i) {
    const int numa = i < 2 ? 0 : 1;
    const int g = b.Gpu(numa);
    b.NvLink(g, fabric, 18, 5);
    b.Explicit(g, grace[numa], LinkKind::kNvLink, 450);  // NVLink-C2C
  }
  return b.Build("gb200-nvl72");
}

struct Entry {
  const char* name;
  absl::StatusOr<GpuTopology> (*build)();
};

constexpr Entry kPresets[] = {
    {"dgx1-v100", Dgx1V100},     {"dgx-a100", DgxA100},        {"hgx-h100", HgxH100},
    {"pcie-8gpu", Pcie8Gpu},     {"pcie-4gpu-t4", Pcie4GpuT4}, {"pcie-2gpu-a10", Pcie2GpuA10},
    {"pcie-2gpu-l4", Pcie2GpuL4},    {"gb200-nvl72", Gb200Nvl72},
};

}  // namespace

absl::StatusOr<GpuTopology> Preset(std::string_view name) {
  for (const Entry& e : kPresets) {
    if (name == e.name) return e.build();
  }
  return absl::NotFoundError(absl::StrCat("unknown topology preset \"", std::string(name),
                                          "\"; known: ", absl::StrJoin(PresetNames(), ", ")));
}

std::vector<std::string> PresetNames() {
  std::vector<std::string> names;
  for (const Entry& e : kPresets) names.emplace_back(e.name);
  return names;
}

}  // namespace gpusched::topology
