#pragma once

// The live scheduling core in memory, for tests and benchmarks of the per-verb path: a SimClock,
// a LockedBitGen, the snapshot store, in-memory metrics, a FakeBinder, a Framework without an
// owner's model, and the LiveScheduler over them.
//
//   testing::LiveWorld w;
//   ASSERT_TRUE(w.Start("binpack").ok());
//   (void)w.live->OnNodeAdd(NodeBuilder("n1").Gpus(8).Build());
//   auto verdicts = w.live->Filter(pod, {NodeId("n1")});
//
// Needs gpusched_scheduler_runtime and gpusched_plugins_registry.

#include <memory>
#include <string_view>

#include "absl/status/status.h"
#include "common/metrics/in_memory_metrics.h"
#include "common/sim_clock.h"
#include "common/status_macros.h"
#include "plugins/registry.h"
#include "scheduler/cache/snapshot_store.h"
#include "scheduler/runtime/framework.h"
#include "scheduler/runtime/live_scheduler.h"
#include "scheduler/runtime/profile.h"
#include "test/fakes/builders.h"

namespace gpusched::testing {

struct LiveWorld {
  explicit LiveWorld(uint64_t seed = 42) : rng(seed) {}
  ~LiveWorld() {
    live.reset();  // before the framework, store and clock it uses
    fw.reset();
  }

  // Builds the framework for a built-in profile (plugins::kBuiltinProfiles) and the scheduler.
  absl::Status Start(std::string_view builtin_profile, runtime::FrameworkOptions options = {},
                     runtime::LiveOptions live_options = {}) {
    ASSIGN_OR_RETURN(std::vector<runtime::Profile> profiles,
                     runtime::ParseProfiles(plugins::kBuiltinProfiles, "built-in"));
    ASSIGN_OR_RETURN(runtime::Profile profile, runtime::FindProfile(profiles, builtin_profile));
    return Start(profile, options, live_options);
  }
  absl::Status Start(const runtime::Profile& profile, runtime::FrameworkOptions options = {},
                     runtime::LiveOptions live_options = {}) {
    ASSIGN_OR_RETURN(fw, runtime::Framework::Create(
                             registry, profile,
                             runtime::FrameworkDeps{clock, rng, nullptr, metrics, binder},
                             options));
    live = std::make_unique<runtime::LiveScheduler>(*fw, store, clock, live_options);
    return absl::OkStatus();
  }

  const framework::Registry registry = plugins::NewInTreeRegistry();
  SimClock clock;
  runtime::LockedBitGen rng;
  cache::SnapshotStore store;
  metrics::InMemoryMetrics metrics;
  FakeBinder binder;
  std::unique_ptr<runtime::Framework> fw;
  std::unique_ptr<runtime::LiveScheduler> live;
};

}  // namespace gpusched::testing
