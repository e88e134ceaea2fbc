#pragma once

// How much of a PCIe x16 link's rate GPU peer-to-peer traffic gets when it crosses a CPU, for the
// presets (presets.cc) and for wiring read from `nvidia-smi topo -m` (nvidia_smi.cc) alike:
//   - through one socket's host bridge (PHB / NODE): 0.8 x the x16 rate;
//   - across the inter-socket link (SYS): 0.5 x the x16 rate.

namespace gpusched::topology {

inline constexpr double kIntraSocketP2pFactor = 0.8;
inline constexpr double kInterSocketP2pFactor = 0.5;

}  // namespace gpusched::topology
