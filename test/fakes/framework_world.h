#pragma once

// Everything a Framework needs, in memory, for integration tests and benchmarks: a SimClock, a
// seeded random source, the cluster cache, in-memory metrics and a FakeBinder.
//
//   testing::FrameworkWorld w;
//   (void)w.cache.AddNode(...);
//   ASSIGN_OR_RETURN(auto fw, w.Build("gang", {.parallelism = 1}));   // a built-in profile
//   fw->SchedulePod(pod);
//
// Needs gpusched_scheduler_runtime and gpusched_plugins_registry.

#include <memory>
#include <random>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/metrics/in_memory_metrics.h"
#include "common/sim_clock.h"
#include "common/status_macros.h"
#include "plugins/registry.h"
#include "scheduler/cache/cluster_cache.h"
#include "scheduler/runtime/framework.h"
#include "scheduler/runtime/profile.h"
#include "test/fakes/builders.h"

namespace gpusched::testing {

struct FrameworkWorld {
  explicit FrameworkWorld(uint64_t seed = 42) : rng(seed) {}

  // A framework for `profile` over this world's clock, cache, metrics and binder.
  absl::StatusOr<std::unique_ptr<runtime::Framework>> Build(
      const runtime::Profile& profile, runtime::FrameworkOptions options = {},
      framework::Evictor* evictor = nullptr) {
    return runtime::Framework::Create(
        registry, profile, runtime::FrameworkDeps{clock, rng, &cache, metrics, binder, evictor},
        options);
  }
  // The same for a built-in profile (plugins::kBuiltinProfiles) by name.
  absl::StatusOr<std::unique_ptr<runtime::Framework>> Build(
      std::string_view builtin_profile, runtime::FrameworkOptions options = {},
      framework::Evictor* evictor = nullptr) {
    ASSIGN_OR_RETURN(std::vector<runtime::Profile> profiles,
                     runtime::ParseProfiles(plugins::kBuiltinProfiles, "built-in"));
    ASSIGN_OR_RETURN(runtime::Profile profile, runtime::FindProfile(profiles, builtin_profile));
    return Build(profile, options, evictor);
  }

  const framework::Registry registry = plugins::NewInTreeRegistry();
  SimClock clock;
  std::mt19937_64 rng;
  cache::ClusterCache cache;
  metrics::InMemoryMetrics metrics;
  FakeBinder binder;
};

}  // namespace gpusched::testing
