#include "demo/workload.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gpusched::demo {
namespace {

using ::testing::HasSubstr;

TEST(Workload, TheShippedSampleExpandsIntoThePodsItsControllersWouldCreate) {
  absl::StatusOr<Workload> w = LoadWorkload(std::string(GPUSCHED_SOURCE_DIR) + "/demo/workload.yaml");
  ASSERT_TRUE(w.ok()) << w.status();
  // 4 llama + 2 resnet + 6 chat + 1 vllm + 4 notebooks + 3 finetune + 1 legacy + 4 moe.
  EXPECT_EQ(w->pods.size(), 25u);
  ASSERT_EQ(w->groups.size(), 3u);
  EXPECT_EQ(w->groups[0].resource, "scheduling.x-k8s.io/v1alpha1/podgroups");
  EXPECT_EQ(w->groups[0].object["spec"]["minMember"], 4);
  const nlohmann::json& first = w->pods[0];
  EXPECT_EQ(first["metadata"]["name"], "llama-pretrain-0");
  EXPECT_EQ(first["metadata"]["namespace"], "research");
  EXPECT_EQ(first["metadata"]["labels"]["scheduling.x-k8s.io/pod-group"], "llama-pretrain");
  EXPECT_EQ(first["metadata"]["labels"]["batch.kubernetes.io/job-completion-index"], "0");
  // Quantities are strings as the API server stores them, whatever the YAML said.
  EXPECT_EQ(first["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"], "4");
  EXPECT_EQ(first["status"]["phase"], "Pending");
  EXPECT_EQ(w->pods[6]["metadata"]["name"], "chat-0");
  EXPECT_EQ(w->pods[6]["spec"]["containers"][0]["resources"]["limits"]["gpusched.io/gpu-memory"], "5Gi");
  EXPECT_EQ(w->pods.back()["metadata"]["name"], "moe-pretrain-3");
}

TEST(Workload, QuotedScalarsStayStringsAndDefaultsApply) {
  absl::StatusOr<Workload> w = ParseWorkload(R"(apiVersion: v1
kind: Pod
metadata: {name: p, labels: {tier: 1, on: true}}
spec: {containers: [{name: c, resources: {limits: {nvidia.com/gpu: "2"}}}]}
)", "w.yaml");
  ASSERT_TRUE(w.ok()) << w.status();
  ASSERT_EQ(w->pods.size(), 1u);
  EXPECT_EQ(w->pods[0]["metadata"]["namespace"], "default");
  EXPECT_EQ(w->pods[0]["metadata"]["labels"]["tier"], "1");
  EXPECT_EQ(w->pods[0]["metadata"]["labels"]["on"], "true");
}

TEST(Workload, BadDocumentsAreNamedWithTheirField) {
  struct Case {
    const char* yaml;
    const char* error;
  } cases[] = {
      {"apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {}\n",
       "w.yaml: document 1 (Pod default/p): spec.containers: missing"},
      {"apiVersion: v1\nkind: Pod\nspec: {}\n", "w.yaml: document 1 (Pod): metadata: missing"},
      {"kind: Pod\nmetadata: {name: p}\n", "apiVersion: missing"},
      {"apiVersion: v1\nkind: Service\nmetadata: {name: s}\n", "kind Service (v1) is not one"},
      {"apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {replicas: -1, "
       "template: {spec: {containers: [{name: c}]}}}\n",
       "spec.replicas: not a whole number"},
      {"apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c}]}\n---\n"
       "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c}]}\n",
       "document 2 (Pod default/p): pod default/p is defined twice"},
      {"a: &x [1]\nb: *x\n", "w.yaml document 1"},
      {"apiVersion: v1\nkind: Pod\nmetadata: {name: [\n", "w.yaml document 1"},
      {"# only a comment\n", "no pods"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<Workload> w = ParseWorkload(c.yaml, "w.yaml");
    ASSERT_FALSE(w.ok()) << c.yaml;
    EXPECT_EQ(w.status().code(), absl::StatusCode::kInvalidArgument) << c.yaml;
    EXPECT_THAT(std::string(w.status().message()), HasSubstr(c.error)) << c.yaml;
  }
}

TEST(Workload, AMissingFileSaysSo) {
  absl::StatusOr<Workload> w = LoadWorkload("/nonexistent/workload.yaml");
  ASSERT_FALSE(w.ok());
  EXPECT_THAT(std::string(w.status().message()), HasSubstr("/nonexistent/workload.yaml"));
}

}  // namespace
}  // namespace gpusched::demo
