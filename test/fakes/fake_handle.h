#pragma once

// A framework::Handle backed by in-memory fakes, for plugin unit tests that must not depend on
// the runtime: a SimClock, a seeded random source, a settable node list, in-memory metrics, a
// FakeBinder and no waiting pods.
//
//   FakeHandle handle(/*seed=*/7);
//   handle.SetNodes({&node_a, &node_b});
//   auto plugin = MyPlugin::New(args, handle);

#include <random>
#include <vector>

#include "common/metrics/in_memory_metrics.h"
#include "common/sim_clock.h"
#include "scheduler/api/handle.h"
#include "test/fakes/builders.h"

namespace gpusched::testing {

using framework::NodeInfo;

class FakeSnapshot final : public framework::ClusterSnapshot {
 public:
  const std::vector<const NodeInfo*>& Nodes() const override { return nodes_; }
  const NodeInfo* FindNode(const NodeId& name) const override {
    for (const NodeInfo* n : nodes_) {
      if (n->name() == name) return n;
    }
    return nullptr;
  }
  const framework::PlacedPod* FindPod(const PodUid& uid) const override {
    for (const framework::PlacedPod& p : pods_) {
      if (p.pod.uid == uid) return &p;
    }
    return nullptr;
  }
  void ForEachPod(absl::FunctionRef<void(const framework::PlacedPod&)> fn) const override {
    for (const framework::PlacedPod& p : pods_) fn(p);
  }
  void ForEachGangMember(const GangId& gang,
                         absl::FunctionRef<void(const framework::PlacedPod&)> fn) const override {
    for (const framework::PlacedPod& p : pods_) {
      if (p.pod.gang && p.pod.gang->id == gang) fn(p);
    }
  }
  std::vector<const NodeInfo*> nodes_;
  std::vector<framework::PlacedPod> pods_;
};

class FakeWaitingPods final : public framework::WaitingPods {
 public:
  bool Allow(const PodUid&, std::string_view) override { return false; }
  bool Reject(const PodUid&, std::string_view, std::string_view) override { return false; }
  bool IsWaiting(const PodUid&) const override { return false; }
  std::vector<PodUid> List() const override { return {}; }
};

// A Handle with a settable snapshot and a seeded random source.
class FakeHandle final : public framework::Handle {
 public:
  explicit FakeHandle(uint64_t seed = 1) : rng_(seed) {}
  Clock& clock() override { return clock_; }
  absl::BitGenRef rng() override { return absl::BitGenRef(rng_); }
  const framework::ClusterSnapshot& snapshot() const override { return snapshot_; }
  metrics::MetricsScope& metrics() override { return metrics_; }
  framework::WaitingPods& waiting_pods() override { return waiting_; }
  framework::Binder& binder() override { return binder_; }
  framework::Evictor* evictor() override { return nullptr; }

  void SetNodes(std::vector<const NodeInfo*> nodes) { snapshot_.nodes_ = std::move(nodes); }

 private:
  SimClock clock_;
  std::mt19937_64 rng_;
  FakeSnapshot snapshot_;
  metrics::InMemoryMetrics metrics_;
  FakeWaitingPods waiting_;
  FakeBinder binder_;
};

}  // namespace gpusched::testing
