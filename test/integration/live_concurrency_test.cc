// The per-verb path under concurrency, as the extender runs it: four threads filter and
// prioritize while one binds and one applies informer events (confirmations, deletions, node
// updates), 10,000 pods on 500 nodes. Built and run under ThreadSanitizer by the test command
// (scripts/test.sh, configuration "tsan"); in the other builds it checks the same invariants.
//
// Invariants checked on the snapshots the readers hold, while everything runs:
//  - no GPU gives out more than 1000 milli-GPU or more memory than it has;
//  - every device's free amount equals its capacity minus what the pods on it hold;
//  - no pod is bound twice.

#include <atomic>
#include <iostream>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "test/fakes/live_world.h"

namespace gpusched::testing {
namespace {

using framework::GpuShare;
using framework::NodeInfo;
using framework::PodInfo;

constexpr int kNodes = 500;
constexpr int kPods = 10000;

// Checks one snapshot; returns a description of the first violation, or "".
std::string CheckSnapshot(const cache::ClusterCache& snap) {
  std::map<std::pair<std::string, int>, std::pair<int64_t, int64_t>> held;  // (node, gpu) -> used
  std::string error;
  snap.ForEachPod([&](const framework::PlacedPod& p) {
    for (const GpuShare& g : p.gpus) {
      auto& [milli, mem] = held[{p.node.str(), g.gpu.value()}];
      milli += g.milli.value();
      mem += g.memory.value();
    }
  });
  for (const NodeInfo* n : snap.Nodes()) {
    for (size_t i = 0; i < n->gpus().size(); ++i) {
      const framework::GpuSlot& s = n->gpus()[i];
      const auto used = held[{n->name().str(), static_cast<int>(i)}];
      if (s.milli_free.value() < 0 || s.milli_free.value() > 1000 || s.memory_free.value() < 0 ||
          s.memory_free > s.device.memory) {
        return absl::StrCat(n->name().str(), " gpu ", i, " out of range");
      }
      if (1000 - s.milli_free.value() != used.first ||
          s.device.memory.value() - s.memory_free.value() != used.second) {
        return absl::StrCat(n->name().str(), " gpu ", i, ": free ", s.milli_free.value(),
                            "m but pods hold ", used.first, "m");
      }
    }
  }
  return "";
}

PodInfo MakePod(int i) {
  PodBuilder b(absl::StrCat("pod-", i));
  b.Cpu(1000 + 500 * (i % 4)).MemoryGi(1 + i % 8);
  switch (i % 5) {
    case 0: b.Gpus(1); break;
    case 1: b.Gpus(2); break;
    case 2: b.GpuShare(250, 8192); break;
    case 3: b.GpuShare(500, 20480); break;
    default: break;  // CPU only
  }
  return b.Build();
}

TEST(LiveConcurrency, FourReadersOneBinderOneInformerKeepTheModelConsistent) {
  LiveWorld w;
  ASSERT_TRUE(w.Start("binpack", {.parallelism = 2, .chunk_size = 64}).ok());
  runtime::LiveScheduler& live = *w.live;
  std::vector<NodeId> names;
  for (int i = 0; i < kNodes; ++i) {
    names.emplace_back(absl::StrCat("node-", i));
    ASSERT_TRUE(live.OnNodeAdd(NodeBuilder(names.back().str()).Cpu(64000).MemoryGi(512).Gpus(8)
                                   .Label("rack", absl::StrCat(i % 20)).Build()).ok());
  }
  std::vector<PodInfo> pods;
  for (int i = 0; i < kPods; ++i) {
    pods.push_back(MakePod(i));
    // Every 200 pods a gang of 4 arrives too: its plans and slot swaps run against the others.
    if (i % 200 == 0) {
      for (int m = 0; m < 4; ++m) {
        pods.push_back(PodBuilder(absl::StrCat("gang-", i, "-", m)).Gpus(1)
                           .Gang(absl::StrCat("ml/gang-", i), 4).Build());
      }
    }
  }
  const int total_pods = static_cast<int>(pods.size());

  std::atomic<bool> done{false};
  std::atomic<int> next_read{0};
  std::atomic<int> violations{0};
  std::mutex first_mu;
  std::string first_violation;
  auto report = [&](const std::string& what) {
    violations.fetch_add(1);
    std::lock_guard<std::mutex> l(first_mu);
    if (first_violation.empty()) first_violation = what;
  };

  // Informer queue: pods the binder bound, for confirmation and later deletion.
  std::mutex q_mu;
  std::condition_variable q_cv;
  std::deque<std::pair<PodInfo, NodeId>> bound_q;
  std::atomic<bool> binder_done{false};

  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      int ops = 0;
      while (!done.load()) {
        const PodInfo& pod = pods[next_read.fetch_add(1) % total_pods];
        runtime::Framework::FilterVerdicts v = live.Filter(pod, names);
        if (!v.error.ok()) report("filter error: " + v.error.ToString());
        if (v.feasible.size() + v.failed.size() + v.unresolvable.size() != names.size()) {
          report("filter lost nodes");
        }
        if (!v.feasible.empty()) {
          auto p = live.Prioritize(pod, v.FeasibleNames(names));
          if (!p.ok()) report("prioritize error: " + std::string(p.status().message()));
        }
        if (++ops % 64 == t) {
          cache::SnapshotRef snap = live.Snapshot();
          if (std::string e = CheckSnapshot(*snap); !e.empty()) report(e);
        }
        // Requests arrive, they do not spin: leave the 2 cores' time mostly to the writers, so
        // the run (and its ThreadSanitizer build) finishes in reasonable time.
        std::this_thread::sleep_for(std::chrono::microseconds(300));
      }
    });
  }
  std::map<PodUid, int> binds;  // binder thread only until joined
  threads.emplace_back([&] {
    for (const PodInfo& pod : pods) {
      runtime::Framework::FilterVerdicts v = live.Filter(pod, names);
      if (v.feasible.empty()) continue;
      auto p = live.Prioritize(pod, v.FeasibleNames(names));
      if (!p.ok()) continue;
      runtime::LiveScheduler::BindResult r = live.Bind(pod, p->chosen);
      if (!r.status.ok()) continue;  // the model moved since Filter: a normal refusal
      ++binds[pod.uid];
      {
        std::lock_guard<std::mutex> l(q_mu);
        bound_q.emplace_back(pod, p->chosen);
      }
      q_cv.notify_one();
    }
    binder_done.store(true);
    q_cv.notify_one();
  });
  threads.emplace_back([&] {
    std::mt19937_64 rng(7);
    std::deque<PodUid> running;
    int events = 0;
    for (;;) {
      std::optional<std::pair<PodInfo, NodeId>> item;
      {
        std::unique_lock<std::mutex> l(q_mu);
        q_cv.wait_for(l, std::chrono::milliseconds(10),
                      [&] { return !bound_q.empty() || binder_done.load(); });
        if (!bound_q.empty()) {
          item = std::move(bound_q.front());
          bound_q.pop_front();
        }
      }
      if (!item) {
        if (binder_done.load()) break;
        continue;
      }
      if (absl::Status s = live.OnPodBound(item->first, item->second, {}); !s.ok()) {
        report("confirm failed: " + std::string(s.message()));
      }
      running.push_back(item->first.uid);
      // Pods finish: keep about 2,000 running so the cluster stays busy but never full.
      while (running.size() > 2000) {
        if (absl::Status s = live.OnPodDeleted(running.front()); !s.ok()) {
          report("delete failed: " + std::string(s.message()));
        }
        running.pop_front();
      }
      if (++events % 97 == 0) {
        const int n = static_cast<int>(rng() % kNodes);
        if (absl::Status s = live.OnNodeUpdate(NodeBuilder(names[n].str()).Cpu(64000).MemoryGi(512)
                                                   .Gpus(8).Label("rack", absl::StrCat(events))
                                                   .Build());
            !s.ok()) {
          report("node update failed: " + std::string(s.message()));
        }
      }
    }
    done.store(true);
  });
  for (std::thread& t : threads) t.join();

  EXPECT_EQ(violations.load(), 0) << first_violation;
  for (const auto& [uid, n] : binds) EXPECT_EQ(n, 1) << uid;
  EXPECT_GT(binds.size(), static_cast<size_t>(kPods / 2));
  EXPECT_EQ(w.binder.bound().size(), binds.size());
  cache::SnapshotRef final_snap = live.Snapshot();
  EXPECT_EQ(CheckSnapshot(*final_snap), "");
  // At most the 2,000 running pods, plus placeholders of gang plans (readers filter members of
  // gangs the informer has partly deleted, which plans their lost quorum again).
  size_t real = 0;
  final_snap->ForEachPod([&](const framework::PlacedPod& p) {
    real += !runtime::LiveScheduler::IsPlaceholder(p.pod.uid);
  });
  EXPECT_LE(real, 2000u);
  // Readers held snapshots throughout; replicas are reused, rarely cloned.
  std::cout << "replicas " << w.store.replica_count() << ", clones " << w.store.clone_count()
            << ", binds " << binds.size() << "\n";
}

}  // namespace
}  // namespace gpusched::testing
