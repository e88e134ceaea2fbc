// The runtime with the in-tree plugins and the built-in profiles, end to end.

#include <random>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "common/metrics/in_memory_metrics.h"
#include "common/sim_clock.h"
#include "plugins/registry.h"
#include "scheduler/cache/cluster_cache.h"
#include "scheduler/runtime/framework.h"
#include "scheduler/runtime/profile.h"
#include "test/fakes/builders.h"
#include "test/fakes/framework_world.h"

namespace gpusched {
namespace {

using ::testing::HasSubstr;

struct World : testing::FrameworkWorld {
  explicit World(uint64_t seed) : FrameworkWorld(seed) {}
  std::unique_ptr<runtime::Framework> fw;

  void Build(std::string_view profile_name, int parallelism) {
    auto made = FrameworkWorld::Build(
        profile_name, runtime::FrameworkOptions{.parallelism = parallelism, .chunk_size = 16});
    ASSERT_TRUE(made.ok()) << made.status();
    fw = *std::move(made);
  }
};

// A mixed cluster and a mixed workload, generated from a seed.
void Populate(cache::ClusterCache& cache, int nodes) {
  for (int i = 0; i < nodes; ++i) {
    testing::NodeBuilder b("n" + std::to_string(i));
    b.Cpu(64000).MemoryGi(512);
    if (i % 4 != 3) b.Gpus(i % 2 ? 8 : 4, i % 3 ? "A100" : "T4", i % 3 ? 81920 : 16384);
    if (i % 17 == 0) b.Taint("dedicated", "x");
    ASSERT_TRUE(cache.AddNode(b.Build()).ok());
  }
}

std::vector<framework::PodInfo> Workload(int count, uint64_t seed) {
  std::mt19937_64 g(seed);
  std::vector<framework::PodInfo> pods;
  for (int i = 0; i < count; ++i) {
    testing::PodBuilder b("p" + std::to_string(i));
    b.Cpu(1000 * (1 + g() % 16)).MemoryGi(1 + g() % 64);
    switch (g() % 4) {
      case 0: b.Gpus(1 + static_cast<int>(g() % 4)); break;
      case 1: b.GpuShare(100 * (1 + g() % 9), 1024 * (1 + g() % 8)); break;
      case 2: b.Gpus(1, "A100"); break;
      default: break;  // CPU only
    }
    pods.push_back(b.Build());
  }
  return pods;
}

std::vector<std::string> Decisions(World& w, const std::vector<framework::PodInfo>& pods) {
  std::vector<std::string> out;
  for (const auto& p : pods) {
    runtime::ScheduleResult r = w.fw->SchedulePod(p);
    out.push_back(p.name + " -> " + r.Explain());
  }
  return out;
}

TEST(FrameworkIntegration, BuiltinProfilesBuild) {
  for (std::string_view name : {"baseline", "binpack"}) {
    World w(1);
    w.Build(name, 2);
    ASSERT_NE(w.fw, nullptr) << name;
  }
}

TEST(FrameworkIntegration, ParallelFilterAndScoreDecideExactlyLikeSerial) {
  const auto pods = Workload(300, 5);
  World serial(42), parallel(42);
  Populate(serial.cache, 200);
  Populate(parallel.cache, 200);
  serial.Build("baseline", 1);
  parallel.Build("baseline", 4);
  EXPECT_EQ(Decisions(serial, pods), Decisions(parallel, pods));
}

TEST(FrameworkIntegration, SameSeedSameDecisions) {
  const auto pods = Workload(200, 9);
  World a(7), b(7);
  Populate(a.cache, 100);
  Populate(b.cache, 100);
  a.Build("binpack", 2);
  b.Build("binpack", 2);
  EXPECT_EQ(Decisions(a, pods), Decisions(b, pods));
}

TEST(FrameworkIntegration, ModelNeverOversubscribesAnyDevice) {
  World w(3);
  Populate(w.cache, 40);
  w.Build("binpack", 2);
  int bound = 0;
  for (const auto& p : Workload(600, 11)) bound += w.fw->SchedulePod(p).status.ok();
  EXPECT_GT(bound, 100);
  for (const framework::NodeInfo* n : w.cache.Nodes()) {
    EXPECT_GE(n->cpu_free(), MilliCpu(0));
    EXPECT_GE(n->memory_free(), MemoryBytes(0));
    for (const auto& g : n->gpus()) {
      EXPECT_GE(g.milli_free, GpuMilli(0));
      EXPECT_GE(g.memory_free, GpuMemMiB(0));
    }
  }
  // Every binder call carried a device assignment consistent with the request.
  for (const auto& b : w.binder.bound()) {
    const cache::PodRecord* rec = w.cache.FindPod(b.pod);
    ASSERT_NE(rec, nullptr);
    EXPECT_EQ(static_cast<int>(b.gpus.size()), rec->pod.requests.gpu.count);
    EXPECT_EQ(b.gpus, rec->gpus);
  }
}

TEST(FrameworkIntegration, BinpackSharesOneGpuSpreadUsesEmptierNodes) {
  World pack(1), spread(1);
  for (World* w : {&pack, &spread}) {
    ASSERT_TRUE(w->cache.AddNode(testing::NodeBuilder("a").Gpus(2).Build()).ok());
    ASSERT_TRUE(w->cache.AddNode(testing::NodeBuilder("b").Gpus(2).Build()).ok());
  }
  pack.Build("binpack", 1);
  spread.Build("baseline", 1);
  std::set<std::pair<std::string, int>> pack_gpus, spread_nodes;
  for (int i = 0; i < 4; ++i) {
    auto pod = testing::PodBuilder("s" + std::to_string(i)).GpuShare(250, 4096).Build();
    auto r1 = pack.fw->SchedulePod(pod);
    auto r2 = spread.fw->SchedulePod(pod);
    ASSERT_TRUE(r1.status.ok() && r2.status.ok());
    pack_gpus.insert({r1.node.str(), r1.gpus[0].gpu.value()});
    spread_nodes.insert({r2.node.str(), 0});
  }
  EXPECT_EQ(pack_gpus.size(), 1u) << "four quarter-GPU pods fill one GPU under binpack";
  EXPECT_EQ(spread_nodes.size(), 2u) << "spread alternates between the two nodes";
}

TEST(FrameworkIntegration, ExplainsWhyNothingFits) {
  World w(1);
  Populate(w.cache, 8);
  w.Build("baseline", 2);
  auto r = w.fw->SchedulePod(testing::PodBuilder("h").Gpus(8, "H100").Build());
  EXPECT_EQ(r.status.code(), framework::Code::kUnschedulableAndUnresolvable);
  EXPECT_THAT(r.Explain(), HasSubstr("0/8 nodes are available:"));
  EXPECT_THAT(r.Explain(), HasSubstr("node(s) had no GPU of model H100"));
}

}  // namespace
}  // namespace gpusched
