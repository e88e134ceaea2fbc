#pragma once

// Hand-built GPU topologies shared by the topology tests and benchmarks: a small builder (GPUs
// first, so GPU i is device i) and two synthetic 16+-GPU machines.
//
//   TopologyBuilder b;
//   const int g0 = b.Add(DeviceKind::kGpu, "GPU0", 0);
//   ...
//   GpuTopology t = b.Build("my-box");   // aborts on an invalid fixture

#include <cstdlib>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "topology/gpu_topology.h"

namespace gpusched::testing {

using topology::Device;
using topology::DeviceKind;
using topology::GpuTopology;
using topology::Link;
using topology::LinkKind;

struct TopologyBuilder {
  std::vector<Device> devices;
  std::vector<Link> links;
  int Add(DeviceKind kind, std::string name, int numa = -1) {
    devices.push_back(Device{kind, std::move(name), numa});
    return static_cast<int>(devices.size()) - 1;
  }
  void Connect(int a, int b, LinkKind kind, double gbps, int count = 1) {
    Link l;
    l.a = a;
    l.b = b;
    l.kind = kind;
    l.count = count;
    l.gbps = gbps;
    links.push_back(l);
  }
  // A fixture that does not build is a bug in the fixture: stop with the reason.
  GpuTopology Build(std::string name) {
    absl::StatusOr<GpuTopology> t = GpuTopology::Create(std::move(name), devices, links);
    if (!t.ok()) {
      std::cerr << "invalid topology fixture: " << t.status() << "\n";
      std::abort();
    }
    return *std::move(t);
  }
};

// Two DGX-1 cube-meshes (GPUs 0-7, 8-15) in one box: one socket per quad, a PCIe switch per GPU
// pair, host bridge <-> socket 12 GB/s, sockets chained at 8 GB/s.
inline GpuTopology TwoCubeMeshes() {
  TopologyBuilder b;
  for (int g = 0; g < 16; ++g) b.Add(DeviceKind::kGpu, absl::StrCat("GPU", g));
  std::vector<int> cpu;
  for (int s = 0; s < 4; ++s) {
    cpu.push_back(b.Add(DeviceKind::kCpuSocket, absl::StrCat("CPU", s), s));
    if (s > 0) b.Connect(cpu[s - 1], cpu[s], LinkKind::kInterSocket, 8);
    const int hb = b.Add(DeviceKind::kHostBridge, absl::StrCat("HB", s), s);
    b.Connect(hb, cpu[s], LinkKind::kPcie, 12);
    for (int w = 0; w < 2; ++w) {
      const int sw = b.Add(DeviceKind::kPcieSwitch, absl::StrCat("PLX", 2 * s + w), s);
      b.Connect(sw, hb, LinkKind::kPcie, 16);
      b.Connect(4 * s + 2 * w, sw, LinkKind::kPcie, 16);
      b.Connect(4 * s + 2 * w + 1, sw, LinkKind::kPcie, 16);
    }
  }
  const int nv[][3] = {{0, 1, 1}, {0, 2, 1}, {0, 3, 2}, {0, 4, 2}, {1, 2, 2}, {1, 3, 1},
                       {1, 5, 2}, {2, 3, 2}, {2, 6, 1}, {3, 7, 1}, {4, 5, 1}, {4, 6, 1},
                       {4, 7, 2}, {5, 6, 2}, {5, 7, 1}, {6, 7, 2}};
  for (int base : {0, 8}) {
    for (const auto& e : nv) {
      b.Connect(base + e[0], base + e[1], LinkKind::kNvLink, 25.0 * e[2], e[2]);
    }
  }
  return b.Build("two-cube-meshes");
}

// `gpus` GPUs on one NVSwitch fabric, 18 NVLink5 links each except `thin` GPUs (gpu, links) with
// fewer; `per_socket` GPUs per socket.
inline GpuTopology NvlDomain(int gpus, const std::vector<std::pair<int, int>>& thin,
                             int per_socket = 4) {
  TopologyBuilder b;
  for (int g = 0; g < gpus; ++g) b.Add(DeviceKind::kGpu, absl::StrCat("GPU", g), g / per_socket);
  const int sw = b.Add(DeviceKind::kNvSwitch, "NVSwitch0");
  for (int g = 0; g < gpus; ++g) {
    int links = 18;
    for (const auto& [gpu, n] : thin) {
      if (gpu == g) links = n;
    }
    b.Connect(g, sw, LinkKind::kNvLink, 50.0 * links, links);
  }
  return b.Build("nvl-domain");
}

}  // namespace gpusched::testing
