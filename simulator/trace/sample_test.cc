#include "simulator/trace/sample.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/quantity.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "simulator/trace/openb.h"

namespace gpusched::simulator::trace {
namespace {

// GPU milli-units requested by all pods.
int64_t RequestedMilli(const Sample& s) {
  int64_t total = 0;
  for (const OpenbPod& p : s.pods) total += int64_t{p.num_gpu} * p.gpu_milli.value();
  return total;
}

int64_t CapacityMilli(const Sample& s) {
  int64_t total = 0;
  for (const OpenbNode& n : s.nodes) total += int64_t{n.gpus} * kOneGpu.value();
  return total;
}

bool PodFitsNode(const OpenbPod& p, const OpenbNode& n) {
  if (n.gpus < p.num_gpu || n.cpu < p.cpu || n.memory < p.memory) return false;
  if (p.num_gpu > 0 && !p.gpu_spec.empty() &&
      std::find(p.gpu_spec.begin(), p.gpu_spec.end(), n.model) == p.gpu_spec.end()) {
    return false;
  }
  return true;
}

struct OptionsCase {
  std::string name;
  SampleOptions options;
};

std::vector<OptionsCase> VariedOptions() {
  return {
      {"default", SampleOptions{}},
      {"default_seed_2", {120, 800, 2}},
      {"default_seed_7", {120, 800, 7}},
      {"large_auto_sized", {500, 800, 3}},
      {"explicit_pods", {120, 300, 1}},
      {"one_node", {1, 40, 5}},
      {"two_nodes", {2, 60, 9}},
      {"three_nodes_auto_sized", {3, 800, 11}},
      {"ten_nodes", {10, 100, 4}},
  };
}

TEST(GenerateSampleTest, IsDeterministicForASeed) {
  const Sample a = GenerateSample({120, 800, 1});
  const Sample b = GenerateSample({120, 800, 1});
  EXPECT_EQ(WriteOpenbNodes(a.nodes), WriteOpenbNodes(b.nodes));
  EXPECT_EQ(WriteOpenbPods(a.pods), WriteOpenbPods(b.pods));

  const Sample c = GenerateSample({120, 800, 2});
  EXPECT_NE(WriteOpenbNodes(a.nodes), WriteOpenbNodes(c.nodes));
  EXPECT_NE(WriteOpenbPods(a.pods), WriteOpenbPods(c.pods));
}

TEST(GenerateSampleTest, NodeMixFollowsOpenbModels) {
  const Sample s = GenerateSample({120, 800, 1});
  ASSERT_EQ(s.nodes.size(), 120u);
  std::map<std::string, int> by_model;
  for (size_t i = 0; i < s.nodes.size(); ++i) {
    const OpenbNode& n = s.nodes[i];
    EXPECT_EQ(n.name, absl::StrFormat("sample-node-%04d", i));
    ++by_model[n.model];
    EXPECT_GT(n.gpus, 0) << n.name;
    EXPECT_EQ(n.memory.value() % (int64_t{1} << 20), 0) << n.name;
  }
  // Largest-remainder apportionment of 45 / 33 / 11 / 4.5 / 3.2 / 2.5 % of 120 nodes.
  EXPECT_EQ(by_model, (std::map<std::string, int>{
                          {"G2", 54}, {"T4", 40}, {"P100", 13}, {"V100M16", 6}, {"G3", 4},
                          {"V100M32", 3}}));
}

TEST(GenerateSampleTest, ExplicitPodCountIsHonoured) {
  for (const SampleOptions& o : {SampleOptions{120, 300, 1}, SampleOptions{10, 50, 7},
                                 SampleOptions{120, 801, 1}, SampleOptions{5, 0, 1}}) {
    SCOPED_TRACE(absl::StrCat(o.nodes, " nodes, ", o.pods, " pods"));
    const Sample s = GenerateSample(o);
    EXPECT_EQ(s.nodes.size(), static_cast<size_t>(o.nodes));
    EXPECT_EQ(s.pods.size(), static_cast<size_t>(o.pods));
  }
}

TEST(GenerateSampleTest, NoNodesGivesAnEmptySample) {
  const Sample s = GenerateSample({0, 100, 1});
  EXPECT_TRUE(s.nodes.empty());
  EXPECT_TRUE(s.pods.empty());
}

TEST(GenerateSampleTest, DefaultPodCountSizesTheWorkloadToTheCluster) {
  for (const OptionsCase& c : VariedOptions()) {
    if (c.options.pods != SampleOptions{}.pods) continue;
    SCOPED_TRACE(c.name);
    const Sample s = GenerateSample(c.options);
    const int64_t requested = RequestedMilli(s);
    const int64_t capacity = CapacityMilli(s);
    ASSERT_GT(capacity, 0);
    // 90-105 % of capacity; the generator stops at 97.5 %, one pod adds at most 8 GPUs.
    EXPECT_GE(requested * 100, capacity * 90) << requested << " of " << capacity;
    EXPECT_LE(requested * 100, capacity * 105) << requested << " of " << capacity;
    EXPECT_GE(requested * 1000, capacity * 975) << requested << " of " << capacity;
  }
  // The shipped default is close to the 800 pods its options name.
  const Sample s = GenerateSample({120, 800, 1});
  EXPECT_GT(s.pods.size(), 650u);
  EXPECT_LT(s.pods.size(), 950u);
}

TEST(GenerateSampleTest, PodClassFractionsAreNearOpenb) {
  for (const OptionsCase& c : VariedOptions()) {
    SCOPED_TRACE(c.name);
    const Sample s = GenerateSample(c.options);
    if (s.pods.size() < 250) continue;  // too few for fractions
    int cpu_only = 0, sharing = 0, multi = 0, gpu_pods = 0, constrained = 0;
    for (const OpenbPod& p : s.pods) {
      cpu_only += (p.num_gpu == 0);
      sharing += (p.num_gpu == 1 && p.gpu_milli < kOneGpu);
      multi += (p.num_gpu > 1);
      gpu_pods += (p.num_gpu > 0);
      constrained += !p.gpu_spec.empty();
      EXPECT_TRUE(p.num_gpu > 0 || p.gpu_spec.empty()) << p.name;
    }
    const double n = static_cast<double>(s.pods.size());
    EXPECT_NEAR(cpu_only / n, 0.133, 0.05);
    EXPECT_NEAR(sharing / n, 0.378, 0.07);
    EXPECT_LE(multi / n, 0.03);
    EXPECT_NEAR(constrained / static_cast<double>(gpu_pods), 0.05, 0.035);
  }
  // Over many pods the multi-GPU share shows up too.
  const Sample big = GenerateSample({500, 5000, 1});
  int multi = 0;
  for (const OpenbPod& p : big.pods) multi += (p.num_gpu > 1);
  EXPECT_GE(multi, 20);
  EXPECT_LE(multi, 90);
}

TEST(GenerateSampleTest, EveryPodFitsSomeNode) {
  for (const OptionsCase& c : VariedOptions()) {
    SCOPED_TRACE(c.name);
    const Sample s = GenerateSample(c.options);
    ASSERT_FALSE(s.pods.empty());
    int32_t max_gpus = 0;
    std::set<std::string> models;
    for (const OpenbNode& n : s.nodes) {
      max_gpus = std::max(max_gpus, n.gpus);
      models.insert(n.model);
    }
    for (const OpenbPod& p : s.pods) {
      EXPECT_LE(p.num_gpu, max_gpus) << p.name;
      EXPECT_LE(p.gpu_spec.size(), 2u) << p.name;
      std::set<std::string> distinct(p.gpu_spec.begin(), p.gpu_spec.end());
      EXPECT_EQ(distinct.size(), p.gpu_spec.size()) << p.name;
      for (const std::string& m : p.gpu_spec) EXPECT_TRUE(models.contains(m)) << p.name << " " << m;
      EXPECT_TRUE(std::any_of(s.nodes.begin(), s.nodes.end(),
                              [&](const OpenbNode& n) { return PodFitsNode(p, n); }))
          << p.name << " fits no node";
    }
  }
}

TEST(GenerateSampleTest, PodsAreWellFormed) {
  const Sample s = GenerateSample({120, 800, 1});
  std::set<std::string> qos_seen;
  for (size_t i = 0; i < s.pods.size(); ++i) {
    const OpenbPod& p = s.pods[i];
    SCOPED_TRACE(p.name);
    EXPECT_EQ(p.name, absl::StrFormat("sample-pod-%04d", i));
    ASSERT_TRUE(p.creation_time && p.deletion_time && p.scheduled_time);
    EXPECT_GT(*p.deletion_time, *p.creation_time);
    EXPECT_EQ(*p.scheduled_time, *p.creation_time);
    if (i > 0) {
      EXPECT_GT(*p.creation_time, *s.pods[i - 1].creation_time);
    }
    EXPECT_THAT(p.qos, ::testing::AnyOf("LS", "BE", "Burstable", "Guaranteed"));
    EXPECT_THAT(p.phase, ::testing::AnyOf("Running", "Failed", "Succeeded"));
    EXPECT_EQ(p.memory.value() % (int64_t{1} << 20), 0);
    qos_seen.insert(p.qos);
  }
  EXPECT_TRUE(qos_seen.contains("LS"));
  EXPECT_TRUE(qos_seen.contains("BE"));
}

TEST(GenerateSampleTest, WrittenSampleParsesBackToTheSameRecords) {
  const Sample s = GenerateSample({120, 800, 1});
  const std::string nodes_text = WriteOpenbNodes(s.nodes);
  const std::string pods_text = WriteOpenbPods(s.pods);
  absl::StatusOr<std::vector<OpenbNode>> nodes = ParseOpenbNodes(nodes_text, "sample_nodes.csv");
  ASSERT_TRUE(nodes.ok()) << nodes.status();
  absl::StatusOr<std::vector<OpenbPod>> pods = ParseOpenbPods(pods_text, "sample_pods.csv");
  ASSERT_TRUE(pods.ok()) << pods.status();
  // Same records: writing them again gives the same bytes, and the fields match one by one.
  EXPECT_EQ(WriteOpenbNodes(*nodes), nodes_text);
  EXPECT_EQ(WriteOpenbPods(*pods), pods_text);
  ASSERT_EQ(pods->size(), s.pods.size());
  for (size_t i = 0; i < s.pods.size(); ++i) {
    const OpenbPod& a = (*pods)[i];
    const OpenbPod& b = s.pods[i];
    EXPECT_TRUE(a.name == b.name && a.cpu == b.cpu && a.memory == b.memory &&
                a.num_gpu == b.num_gpu && a.gpu_milli == b.gpu_milli &&
                a.gpu_spec == b.gpu_spec && a.qos == b.qos && a.phase == b.phase &&
                a.creation_time == b.creation_time && a.deletion_time == b.deletion_time &&
                a.scheduled_time == b.scheduled_time)
        << "pod " << i;
  }
  ASSERT_EQ(nodes->size(), s.nodes.size());
  for (size_t i = 0; i < s.nodes.size(); ++i) {
    const OpenbNode& a = (*nodes)[i];
    const OpenbNode& b = s.nodes[i];
    EXPECT_TRUE(a.name == b.name && a.cpu == b.cpu && a.memory == b.memory &&
                a.gpus == b.gpus && a.model == b.model)
        << "node " << i;
  }
}

std::string ReadFileOrEmpty(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(GenerateSampleTest, ShippedTestdataMatchesTheGenerator) {
  const char* root = std::getenv("GPUSCHED_SOURCE_DIR");
  if (root == nullptr || *root == '\0') {
    GTEST_SKIP() << "GPUSCHED_SOURCE_DIR is not set (ctest sets it to the repository root); "
                    "the sample is expected at $GPUSCHED_SOURCE_DIR/simulator/testdata";
  }
  const std::filesystem::path dir = std::filesystem::path(root) / "simulator" / "testdata";
  const Sample s = GenerateSample({.nodes = 120, .pods = 800, .seed = 1});
  const std::filesystem::path nodes = dir / "sample_nodes.csv";
  const std::filesystem::path pods = dir / "sample_pods.csv";
  ASSERT_TRUE(std::filesystem::exists(nodes)) << nodes;
  ASSERT_TRUE(std::filesystem::exists(pods)) << pods;
  EXPECT_TRUE(ReadFileOrEmpty(nodes) == WriteOpenbNodes(s.nodes))
      << nodes << " differs from WriteOpenbNodes(GenerateSample({120, 800, 1}).nodes)";
  EXPECT_TRUE(ReadFileOrEmpty(pods) == WriteOpenbPods(s.pods))
      << pods << " differs from WriteOpenbPods(GenerateSample({120, 800, 1}).pods)";
}

}  // namespace
}  // namespace gpusched::simulator::trace
