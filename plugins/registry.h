#pragma once

// The in-tree plugins, listed in one place (design G6), and the profiles that ship with gpusched.
//
//   framework::Registry registry = NewInTreeRegistry();
//   ASSIGN_OR_RETURN(auto profiles, runtime::ParseProfiles(kBuiltinProfiles, "built-in"));

#include <string_view>

#include "scheduler/api/registry.h"

namespace gpusched::plugins {

framework::Registry NewInTreeRegistry();

// Profiles available without a config file:
//   baseline: spread (LeastAllocated) with taints, node selectors and whole/shared GPU fit;
//   binpack:  the same plugins, MostAllocated, GPU weighted highest (keeps GPUs free whole);
//   random, dotprod, clustering, packing, bestfit, fgd: the GPU-sharing policies of the FGD
//     paper (plugins/gpu_share), NodeResourcesFit for fit only. "fgd" needs the FGD plugin's
//     typicalPods args, which the simulator fills in from the workload.
//   fgd-headroom: fgd plus GpuHeadroom (weight 1): shares go to GPUs with measured headroom.
extern const std::string_view kBuiltinProfiles;

}  // namespace gpusched::plugins
