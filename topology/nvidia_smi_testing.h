#pragma once

// Synthetic `nvidia-smi topo -m` matrices for tests, benchmarks and fuzz seeds.
//
//   SyntheticNvidiaSmiMatrix(1000): 1,000 GPUs, all pairs NV18 (one NVSwitch fabric), PCIe in
//   groups of 4 GPUs on a switch (PIX), 2 groups per host bridge (PHB), host bridges of one of
//   8 sockets NODE to each other, SYS across sockets; CPU and NUMA Affinity columns.

#include <string>

#include "absl/strings/str_cat.h"

namespace gpusched::topology::testing {

namespace internal {

// Either machine: every pair NV18, or the PCIe relation of the pair in every cell.
inline std::string Matrix(int gpus, int sockets, bool nvlink) {
  const int host_bridges = (gpus + 7) / 8;
  const auto socket_of = [&](int g) { return (g / 8) * sockets / host_bridges; };
  std::string out;
  out.reserve(static_cast<size_t>(gpus) * (gpus + 2) * 6);
  for (int g = 0; g < gpus; ++g) absl::StrAppend(&out, "\tGPU", g);
  out += "\tCPU Affinity\tNUMA Affinity\n";
  for (int a = 0; a < gpus; ++a) {
    absl::StrAppend(&out, "GPU", a);
    for (int b = 0; b < gpus; ++b) {
      const char* cell = a == b                         ? " X "
                         : nvlink                       ? "NV18"
                         : a / 4 == b / 4               ? "PIX"
                         : a / 8 == b / 8               ? "PHB"
                         : socket_of(a) == socket_of(b) ? "NODE"
                                                        : "SYS";
      absl::StrAppend(&out, "\t", cell);
    }
    const int s = socket_of(a);
    absl::StrAppend(&out, "\t", s * 16, "-", s * 16 + 15, "\t", s, "\n");
  }
  if (nvlink) out += "\nLegend:\n\n  X    = Self\n";
  return out;
}

}  // namespace internal

inline std::string SyntheticNvidiaSmiMatrix(int gpus, int sockets = 8) {
  return internal::Matrix(gpus, sockets, /*nvlink=*/true);
}

// The same machine without NVLink: the PCIe relations show in every cell.
inline std::string SyntheticPcieMatrix(int gpus, int sockets = 8) {
  return internal::Matrix(gpus, sockets, /*nvlink=*/false);
}

}  // namespace gpusched::topology::testing
