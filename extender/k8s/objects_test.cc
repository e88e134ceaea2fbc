#include "extender/k8s/objects.h"

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "plugins/gang/declaration.h"

namespace gpusched::extender::k8s {
namespace {

using framework::GangRef;
using framework::PodInfo;
using plugins::gang::PodGroupInfo;
using plugins::gang::PodGroupSet;
using ::testing::HasSubstr;
using Api = PodGroupInfo::Api;

// A scheduler-plugins PodGroup as `kubectl get podgroup -o json` prints it.
constexpr char kSchedulerPluginsGroup[] = R"({
  "apiVersion": "scheduling.x-k8s.io/v1alpha1",
  "kind": "PodGroup",
  "metadata": {
    "creationTimestamp": "2026-03-01T10:00:00Z",
    "generation": 1,
    "name": "llama-ft",
    "namespace": "ml",
    "resourceVersion": "48213",
    "uid": "5c1f2b0e-8a43-4d55-9a0c-2f7f6f0b7d11"
  },
  "spec": {
    "minMember": 4,
    "minResources": {
      "cpu": "16",
      "memory": "64Gi",
      "nvidia.com/gpu": "8",
      "ephemeral-storage": "100Gi"
    },
    "scheduleTimeoutSeconds": 120
  },
  "status": {"phase": "Pending", "running": 0, "succeeded": 0, "failed": 0}
})";

// An upstream PodGroup (scheduling.k8s.io/v1alpha2, KEP-4671) with the gang policy.
constexpr char kUpstreamGroup[] = R"({
  "apiVersion": "scheduling.k8s.io/v1alpha2",
  "kind": "PodGroup",
  "metadata": {"name": "training-worker-0", "namespace": "ml", "uid": "0d9e"},
  "spec": {"schedulingPolicy": {"gang": {"minCount": 8}}},
  "status": {}
})";

constexpr char kUpstreamBetaGroup[] = R"({
  "apiVersion": "scheduling.k8s.io/v1beta1",
  "kind": "PodGroup",
  "metadata": {"name": "training-worker-1", "namespace": "ml"},
  "spec": {"schedulingPolicy": {"gang": {"minCount": 4}}}
})";

constexpr char kWorkload[] = R"({
  "apiVersion": "scheduling.k8s.io/v1alpha1",
  "kind": "Workload",
  "metadata": {"name": "training-job-workload", "namespace": "ml"},
  "spec": {
    "controllerRef": {"apiGroup": "batch", "kind": "Job", "name": "training-job"},
    "podGroups": [
      {"name": "workers", "policy": {"gang": {"minCount": 4}}},
      {"name": "driver", "policy": {"basic": {}}}
    ]
  }
})";

constexpr char kUpstreamBasicGroup[] = R"({
  "apiVersion": "scheduling.k8s.io/v1alpha2",
  "kind": "PodGroup",
  "metadata": {"name": "web", "namespace": "ml"},
  "spec": {"schedulingPolicy": {"basic": {}}}
})";

// A Volcano PodGroup as its job controller creates it.
constexpr char kVolcanoGroup[] = R"({
  "apiVersion": "scheduling.volcano.sh/v1beta1",
  "kind": "PodGroup",
  "metadata": {"name": "mpi-job-7f3a", "namespace": "ml",
               "ownerReferences": [{"apiVersion": "batch.volcano.sh/v1alpha1", "kind": "Job",
                                    "name": "mpi-job", "uid": "7f3a"}]},
  "spec": {"minMember": 3, "minResources": {"cpu": "3", "nvidia.com/gpu": "3"},
           "queue": "default", "priorityClassName": "high"},
  "status": {"phase": "Inqueue"}
})";

// A pod with every field DecodePodMeta reads; `extra` goes into metadata (labels/annotations).
std::string PodJson(const std::string& name, const std::string& extra,
                    const std::string& spec_extra = "") {
  return R"({
  "apiVersion": "v1",
  "kind": "Pod",
  "metadata": {
    "name": ")" + name + R"(",
    "namespace": "ml",
    "uid": "uid-)" + name + R"(",
    "creationTimestamp": "2026-03-01T10:00:05Z",
    "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": "j", "uid": "u"}])" +
         extra + R"(
  },
  "spec": {
    "priority": 1000,
    "schedulerName": "gpusched",
    "containers": [{"name": "main", "image": "trainer:v1",
                    "resources": {"limits": {"nvidia.com/gpu": "2"}}}])" +
         spec_extra + R"(
  },
  "status": {"phase": "Pending"}
})";
}

TEST(DecodePodGroup, SchedulerPlugins) {
  absl::StatusOr<PodGroupInfo> g = DecodePodGroup(kSchedulerPluginsGroup);
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->api, Api::kSchedulerPlugins);
  EXPECT_EQ(g->namespace_name, "ml");
  EXPECT_EQ(g->name, "llama-ft");
  EXPECT_EQ(g->min_member, 4);
  EXPECT_EQ(g->timeout, absl::Seconds(120));
  EXPECT_TRUE(g->gang);
  EXPECT_EQ(g->min_resources.cpu, MilliCpu(16000));
  EXPECT_EQ(g->min_resources.memory, MemoryBytes(int64_t{64} << 30));
  EXPECT_EQ(g->min_resources.gpu, framework::GpuRequest::Whole(8));
}

TEST(DecodePodGroup, SchedulerPluginsMinimal) {
  absl::StatusOr<PodGroupInfo> g = DecodePodGroup(
      R"({"apiVersion": "scheduling.x-k8s.io/v1alpha1", "kind": "PodGroup",
          "metadata": {"name": "pg"}, "spec": {"minMember": 2, "minResources": null}})");
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->namespace_name, "default");
  EXPECT_EQ(g->min_member, 2);
  EXPECT_EQ(g->timeout, std::nullopt);
  EXPECT_EQ(g->min_resources, framework::PodResources{});
}

TEST(DecodePodGroup, Upstream) {
  absl::StatusOr<PodGroupInfo> g = DecodePodGroup(kUpstreamGroup);
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->api, Api::kUpstream);
  EXPECT_EQ(g->name, "training-worker-0");
  EXPECT_EQ(g->min_member, 8);
  EXPECT_TRUE(g->gang);
  EXPECT_EQ(g->timeout, absl::Minutes(5));

  g = DecodePodGroup(kUpstreamBasicGroup);
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_FALSE(g->gang);
  EXPECT_EQ(g->min_member, 0);
}

TEST(DecodePodGroup, UpstreamBeta) {
  absl::StatusOr<PodGroupInfo> g = DecodePodGroup(kUpstreamBetaGroup);
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->api, Api::kUpstreamBeta);
  EXPECT_EQ(g->min_member, 4);
  EXPECT_EQ(g->timeout, absl::Minutes(5));
}

TEST(DecodeWorkload, OnePodGroupInfoPerPodGroup) {
  absl::StatusOr<std::vector<PodGroupInfo>> w = DecodeWorkload(kWorkload);
  ASSERT_TRUE(w.ok()) << w.status();
  ASSERT_EQ(w->size(), 2u);
  EXPECT_EQ((*w)[0].api, Api::kWorkload);
  EXPECT_EQ((*w)[0].namespace_name, "ml");
  EXPECT_EQ((*w)[0].name, "training-job-workload/workers");
  EXPECT_EQ((*w)[0].min_member, 4);
  EXPECT_TRUE((*w)[0].gang);
  EXPECT_EQ((*w)[1].name, "training-job-workload/driver");
  EXPECT_FALSE((*w)[1].gang);
}

TEST(DecodeWorkload, MalformedInputsNameThePath) {
  struct Case {
    std::string name, spec, error;
  };
  const std::vector<Case> cases = {
      {"no pod groups", R"({})", "spec.podGroups: required"},
      {"empty list", R"({"podGroups": []})", "spec.podGroups: must be a non-empty list"},
      {"no name", R"({"podGroups": [{"policy": {"basic": {}}}]})", "spec.podGroups[0].name"},
      {"duplicate", R"({"podGroups": [{"name": "a", "policy": {"basic": {}}},
                                      {"name": "a", "policy": {"basic": {}}}]})",
       "spec.podGroups[1].name: duplicate pod group \"a\""},
      {"both policies", R"({"podGroups": [{"name": "a", "policy": {"basic": {}, "gang": {"minCount": 2}}}]})",
       "spec.podGroups[0].policy: exactly one of basic, gang"},
      {"zero min", R"({"podGroups": [{"name": "a", "policy": {"gang": {"minCount": 0}}}]})",
       "spec.podGroups[0].policy.gang.minCount: must be an integer in 1..2147483647"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string doc = absl::StrCat(
        R"({"apiVersion": "scheduling.k8s.io/v1alpha1", "kind": "Workload",
            "metadata": {"name": "w", "namespace": "ml"}, "spec": )", c.spec, "}");
    absl::StatusOr<std::vector<PodGroupInfo>> w = DecodeWorkload(doc);
    ASSERT_FALSE(w.ok());
    EXPECT_EQ(w.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(w.status().message(), HasSubstr("Workload ml/w: "));
    EXPECT_THAT(w.status().message(), HasSubstr(c.error));
  }
  EXPECT_FALSE(DecodeWorkload(kUpstreamGroup).ok());  // a PodGroup is not a Workload
}

TEST(DecodePodMeta, ReadsTheWorkloadReference) {
  absl::StatusOr<PodInfo> pod = DecodePodMeta(PodJson(
      "w-0", "",
      R"(, "workloadRef": {"name": "training-job-workload", "podGroup": "workers",
                           "podGroupReplicaKey": "1"})"));
  ASSERT_TRUE(pod.ok()) << pod.status();
  ASSERT_TRUE(pod->workload_ref.has_value());
  EXPECT_EQ(pod->workload_ref->name, "training-job-workload");
  EXPECT_EQ(pod->workload_ref->pod_group, "workers");
  EXPECT_EQ(pod->workload_ref->replica_key, "1");

  PodGroupSet groups;
  absl::StatusOr<std::vector<PodGroupInfo>> workload = DecodeWorkload(kWorkload);
  ASSERT_TRUE(workload.ok()) << workload.status();
  for (PodGroupInfo& g : *workload) groups.Upsert(std::move(g));
  absl::StatusOr<std::optional<framework::GangRef>> ref = plugins::gang::ResolveGang(*pod, groups);
  ASSERT_TRUE(ref.ok()) << ref.status();
  ASSERT_TRUE(ref->has_value());
  EXPECT_EQ((*ref)->id, GangId("ml/training-job-workload/workers/1"));
  EXPECT_EQ((*ref)->min_member, 4);
  EXPECT_EQ((*ref)->source, "scheduling.k8s.io/v1alpha1 Workload");

  absl::StatusOr<PodInfo> bad =
      DecodePodMeta(PodJson("w-1", "", R"(, "workloadRef": {"name": "training-job-workload"})"));
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("spec.workloadRef.podGroup: required"));
}

TEST(DecodePodGroup, Volcano) {
  absl::StatusOr<PodGroupInfo> g = DecodePodGroup(kVolcanoGroup);
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->api, Api::kVolcano);
  EXPECT_EQ(g->name, "mpi-job-7f3a");
  EXPECT_EQ(g->min_member, 3);
  EXPECT_EQ(g->timeout, std::nullopt);
  EXPECT_EQ(g->min_resources.cpu, MilliCpu(3000));
  EXPECT_EQ(g->min_resources.gpu, framework::GpuRequest::Whole(3));
}

TEST(DecodePodMeta, ReadsIdentityAndGangFields) {
  absl::StatusOr<PodInfo> pod = DecodePodMeta(PodJson(
      "w-0", R"(, "labels": {"app": "llama"}, "annotations": {"note": "x"})",
      R"(, "schedulingGroup": {"podGroupName": "training-worker-0"})"));
  ASSERT_TRUE(pod.ok()) << pod.status();
  EXPECT_EQ(pod->uid, PodUid("uid-w-0"));
  EXPECT_EQ(pod->name, "w-0");
  EXPECT_EQ(pod->namespace_name, "ml");
  EXPECT_EQ(pod->priority, 1000);
  EXPECT_EQ(pod->created, absl::FromUnixSeconds(1772359205));  // 2026-03-01T10:00:05Z
  EXPECT_EQ(pod->labels, (std::map<std::string, std::string>{{"app", "llama"}}));
  EXPECT_EQ(pod->annotations, (std::map<std::string, std::string>{{"note", "x"}}));
  EXPECT_EQ(pod->scheduling_group, "training-worker-0");
  EXPECT_EQ(pod->gang, std::nullopt);
}

TEST(DecodePodMeta, Defaults) {
  // A list item: no apiVersion/kind, no namespace, uid, timestamps or spec fields.
  absl::StatusOr<PodInfo> pod = DecodePodMeta(R"({"metadata": {"name": "p"}, "spec": {}})");
  ASSERT_TRUE(pod.ok()) << pod.status();
  EXPECT_EQ(pod->namespace_name, "default");
  EXPECT_EQ(pod->uid, PodUid("default/p"));
  EXPECT_EQ(pod->priority, 0);
  EXPECT_EQ(pod->created, absl::UnixEpoch());
  EXPECT_TRUE(pod->labels.empty());
  EXPECT_TRUE(pod->scheduling_group.empty());

  pod = DecodePodMeta(R"({"metadata": {"name": "p", "labels": null}, "spec": {"priority": -5,
                         "schedulingGroup": null}})");
  ASSERT_TRUE(pod.ok()) << pod.status();
  EXPECT_EQ(pod->priority, -5);

  pod = DecodePodMeta(R"({"metadata": {"name": "p",
                         "creationTimestamp": "2026-03-01T11:00:05.25+01:00"}})");
  ASSERT_TRUE(pod.ok()) << pod.status();
  EXPECT_EQ(pod->created, absl::FromUnixSeconds(1772359205) + absl::Milliseconds(250));
}

struct EndToEndCase {
  std::string name;
  std::string pod_json;
  std::optional<GangRef> want;
};

GangRef Gang(std::string id, int32_t min, int32_t total, std::optional<absl::Duration> timeout,
             std::string source, framework::PodResources min_resources = {}) {
  GangRef g;
  g.id = GangId(std::move(id));
  g.min_member = min;
  g.total_member = total;
  g.timeout = timeout;
  g.source = std::move(source);
  g.min_resources = std::move(min_resources);
  return g;
}

// Manifests of every gang form, decoded and resolved against the decoded PodGroups.
TEST(Objects, EveryGangFormEndToEnd) {
  PodGroupSet groups;
  for (const char* json :
       {kSchedulerPluginsGroup, kUpstreamGroup, kUpstreamBasicGroup, kVolcanoGroup}) {
    absl::StatusOr<PodGroupInfo> g = DecodePodGroup(json);
    ASSERT_TRUE(g.ok()) << g.status();
    groups.Upsert(*std::move(g));
  }
  const std::vector<EndToEndCase> cases = {
      {"plain pod", PodJson("p", ""), std::nullopt},
      {"scheduler-plugins label",
       PodJson("w-0", R"(, "labels": {"scheduling.x-k8s.io/pod-group": "llama-ft"})"),
       Gang("ml/llama-ft", 4, 0, absl::Seconds(120), "scheduling.x-k8s.io/v1alpha1 PodGroup",
            framework::PodResources{MilliCpu(16000), MemoryBytes(int64_t{64} << 30),
                                    framework::GpuRequest::Whole(8)})},
      {"upstream schedulingGroup",
       PodJson("w-0", "", R"(, "schedulingGroup": {"podGroupName": "training-worker-0"})"),
       Gang("ml/training-worker-0", 8, 0, absl::Minutes(5), "scheduling.k8s.io/v1alpha2 PodGroup")},
      {"upstream basic policy",
       PodJson("w-0", "", R"(, "schedulingGroup": {"podGroupName": "web"})"), std::nullopt},
      {"volcano",
       PodJson("mpi-job-worker-0",
               R"(, "annotations": {"scheduling.k8s.io/group-name": "mpi-job-7f3a",
                                    "volcano.sh/job-name": "mpi-job"})"),
       Gang("ml/mpi-job-7f3a", 3, 0, std::nullopt, "scheduling.volcano.sh/v1beta1 PodGroup",
            framework::PodResources{MilliCpu(3000), MemoryBytes(0),
                                    framework::GpuRequest::Whole(3)})},
      {"koordinator",
       PodJson("w-0", R"(, "annotations": {
                 "gang.scheduling.koordinator.sh/name": "gang-a",
                 "gang.scheduling.koordinator.sh/min-available": "2",
                 "gang.scheduling.koordinator.sh/total-number": "3",
                 "gang.scheduling.koordinator.sh/waiting-time": "10m"})"),
       Gang("ml/gang-a", 2, 3, absl::Minutes(10), "koordinator annotations")},
      {"kueue plain pods",
       PodJson("w-0", R"(, "labels": {"kueue.x-k8s.io/pod-group-name": "group-a",
                                      "kueue.x-k8s.io/queue-name": "user-queue"},
                         "annotations": {"kueue.x-k8s.io/pod-group-total-count": "4"})"),
       Gang("ml/group-a", 4, 4, std::nullopt, "kueue pod group")},
      {"gpusched",
       PodJson("w-0", R"(, "annotations": {"gpusched.io/gang-name": "g",
                                           "gpusched.io/gang-min-member": "3",
                                           "gpusched.io/gang-total-member": "5",
                                           "gpusched.io/gang-timeout-seconds": "300"})"),
       Gang("ml/g", 3, 5, absl::Seconds(300), "gpusched.io annotations")},
  };
  for (const EndToEndCase& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<PodInfo> pod = DecodePodMeta(c.pod_json);
    ASSERT_TRUE(pod.ok()) << pod.status();
    absl::StatusOr<std::optional<GangRef>> gang = plugins::gang::ResolveGang(*pod, groups);
    ASSERT_TRUE(gang.ok()) << gang.status();
    EXPECT_EQ(*gang, c.want);
  }

  // Conflicts and missing groups surface through the same path.
  absl::StatusOr<PodInfo> pod = DecodePodMeta(
      PodJson("w-0", R"(, "labels": {"scheduling.x-k8s.io/pod-group": "llama-ft"})",
              R"(, "schedulingGroup": {"podGroupName": "training-worker-0"})"));
  ASSERT_TRUE(pod.ok()) << pod.status();
  EXPECT_THAT(plugins::gang::ResolveGang(*pod, groups).status().message(),
              HasSubstr("pod ml/w-0 declares two gangs"));
  pod = DecodePodMeta(PodJson("w-0", R"(, "labels": {"scheduling.x-k8s.io/pod-group": "nope"})"));
  ASSERT_TRUE(pod.ok()) << pod.status();
  EXPECT_EQ(plugins::gang::ResolveGang(*pod, groups).status().code(),
            absl::StatusCode::kNotFound);
}

struct BadCase {
  std::string name;
  std::string json;
  std::string want;  // a substring of the InvalidArgument message
};

std::string Sp(const std::string& spec) {
  return R"({"apiVersion": "scheduling.x-k8s.io/v1alpha1", "kind": "PodGroup",
             "metadata": {"name": "pg", "namespace": "ml"}, "spec": )" +
         spec + "}";
}
std::string Up(const std::string& spec) {
  return R"({"apiVersion": "scheduling.k8s.io/v1alpha2", "kind": "PodGroup",
             "metadata": {"name": "pg", "namespace": "ml"}, "spec": )" +
         spec + "}";
}

TEST(DecodePodGroup, MalformedInputsNameThePath) {
  const std::vector<BadCase> cases = {
      {"empty", "", "PodGroup: invalid JSON at byte 1: "},
      {"truncated", R"({"apiVersion": "scheduling.x-k8s.io/v1alpha1", "ki)",
       "PodGroup: invalid JSON at byte"},
      {"trailing garbage", Sp(R"({"minMember": 1})") + "x", "invalid JSON at byte"},
      {"number too large for a double", Sp(R"({"minMember": 1e999})"),
       "PodGroup: invalid JSON: number overflow parsing '1e999'"},
      {"invalid UTF-8", "{\"metadata\": {\"name\": \"p\xff\"}}", "PodGroup: invalid JSON at byte"},
      {"not an object", "[1, 2]", "PodGroup: must be a JSON object, got [1,2]"},
      {"no metadata", R"({"apiVersion": "scheduling.x-k8s.io/v1alpha1", "kind": "PodGroup"})",
       "PodGroup: metadata.name: required"},
      {"metadata not an object", R"({"metadata": "pg"})",
       "PodGroup: metadata: must be an object, got \"pg\""},
      {"empty name", R"({"metadata": {"name": ""}})", "PodGroup: metadata.name: required"},
      {"name not a string", R"({"metadata": {"name": 7}})",
       "PodGroup: metadata.name: must be a string, got 7"},
      {"namespace not a string", R"({"metadata": {"name": "pg", "namespace": ["ml"]}})",
       "metadata.namespace: must be a string"},
      {"missing kind",
       R"({"apiVersion": "scheduling.x-k8s.io/v1alpha1", "metadata": {"name": "pg"}})",
       "PodGroup default/pg: kind: required"},
      {"wrong kind",
       R"({"apiVersion": "scheduling.x-k8s.io/v1alpha1", "kind": "Pod",
           "metadata": {"name": "pg", "namespace": "ml"}})",
       "PodGroup ml/pg: kind: must be \"PodGroup\", got \"Pod\""},
      {"missing apiVersion", R"({"kind": "PodGroup", "metadata": {"name": "pg"}})",
       "PodGroup default/pg: apiVersion: required"},
      {"wrong apiVersion",
       R"({"apiVersion": "scheduling.sigs.k8s.io/v1alpha1", "kind": "PodGroup",
           "metadata": {"name": "pg"}})",
       "apiVersion: must be one of scheduling.x-k8s.io/v1alpha1, scheduling.k8s.io/v1alpha2, "
       "scheduling.k8s.io/v1beta1, scheduling.volcano.sh/v1beta1, got \"scheduling.sigs.k8s.io/v1alpha1\""},
      {"no spec", R"({"apiVersion": "scheduling.x-k8s.io/v1alpha1", "kind": "PodGroup",
                      "metadata": {"name": "pg", "namespace": "ml"}})",
       "PodGroup ml/pg: spec.minMember: required"},
      {"spec not an object", Sp("3"), "PodGroup ml/pg: spec: must be an object, got 3"},
      {"minMember string", Sp(R"({"minMember": "x"})"),
       "PodGroup ml/pg: spec.minMember: must be an integer in 1..2147483647, got \"x\""},
      {"minMember zero", Sp(R"({"minMember": 0})"), "spec.minMember: must be an integer"},
      {"minMember negative", Sp(R"({"minMember": -3})"), "got -3"},
      {"minMember float", Sp(R"({"minMember": 2.5})"), "got 2.5"},
      {"minMember integral float", Sp(R"({"minMember": 2.0})"), "got 2.0"},
      {"minMember too big", Sp(R"({"minMember": 2147483648})"), "got 2147483648"},
      {"minMember huge", Sp(R"({"minMember": 18446744073709551615})"),
       "got 18446744073709551615"},
      {"minMember bool", Sp(R"({"minMember": true})"), "got true"},
      {"timeout zero", Sp(R"({"minMember": 1, "scheduleTimeoutSeconds": 0})"),
       "spec.scheduleTimeoutSeconds: must be an integer in 1..2147483647, got 0"},
      {"timeout string", Sp(R"({"minMember": 1, "scheduleTimeoutSeconds": "60s"})"),
       "spec.scheduleTimeoutSeconds: must be an integer"},
      {"minResources not a map", Sp(R"({"minMember": 1, "minResources": ["cpu"]})"),
       "spec.minResources: must be an object"},
      {"bad cpu", Sp(R"({"minMember": 1, "minResources": {"cpu": "lots"}})"),
       "PodGroup ml/pg: spec.minResources[\"cpu\"]: invalid quantity \"lots\""},
      {"negative memory", Sp(R"({"minMember": 1, "minResources": {"memory": "-1Gi"}})"),
       "spec.minResources[\"memory\"]: quantity \"-1Gi\" must not be negative"},
      {"fractional gpu", Sp(R"({"minMember": 1, "minResources": {"nvidia.com/gpu": "1.5"}})"),
       "spec.minResources[\"nvidia.com/gpu\"]: must be a whole number of GPUs, got \"1.5\""},
      {"quantity object", Sp(R"({"minMember": 1, "minResources": {"cpu": {"v": 1}}})"),
       "spec.minResources[\"cpu\"]: must be a quantity string"},
      {"upstream without policy", Up("{}"),
       "PodGroup ml/pg: spec.schedulingPolicy: required (one of basic, gang)"},
      {"upstream v1alpha1 field name", Up(R"({"policy": {"gang": {"minCount": 2}}})"),
       "spec.schedulingPolicy: required (spec.policy is the v1alpha1 Workload field"},
      {"upstream both policies",
       Up(R"({"schedulingPolicy": {"gang": {"minCount": 2}, "basic": {}}})"),
       "spec.schedulingPolicy: exactly one of basic, gang must be set"},
      {"upstream empty policy", Up(R"({"schedulingPolicy": {}})"), "exactly one of basic, gang"},
      {"upstream gang not an object", Up(R"({"schedulingPolicy": {"gang": 4}})"),
       "spec.schedulingPolicy.gang: must be an object, got 4"},
      {"upstream missing minCount", Up(R"({"schedulingPolicy": {"gang": {}}})"),
       "spec.schedulingPolicy.gang.minCount: required"},
      {"upstream bad minCount", Up(R"({"schedulingPolicy": {"gang": {"minCount": "4"}}})"),
       "spec.schedulingPolicy.gang.minCount: must be an integer in 1..2147483647, got \"4\""},
      {"volcano missing minMember",
       R"({"apiVersion": "scheduling.volcano.sh/v1beta1", "kind": "PodGroup",
           "metadata": {"name": "pg", "namespace": "ml"}, "spec": {"queue": "default"}})",
       "PodGroup ml/pg: spec.minMember: required"},
  };
  for (const BadCase& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<PodGroupInfo> g = DecodePodGroup(c.json);
    ASSERT_FALSE(g.ok());
    EXPECT_EQ(g.status().code(), absl::StatusCode::kInvalidArgument) << g.status();
    EXPECT_THAT(g.status().message(), HasSubstr(c.want));
  }
}

TEST(DecodePodMeta, MalformedInputsNameThePath) {
  const std::vector<BadCase> cases = {
      {"empty", "", "Pod: invalid JSON at byte 1"},
      {"not an object", "\"pod\"", "Pod: must be a JSON object, got \"pod\""},
      {"no name", R"({"metadata": {"namespace": "ml"}})", "Pod: metadata.name: required"},
      {"wrong kind", R"({"kind": "Node", "metadata": {"name": "p", "namespace": "ml"}})",
       "Pod ml/p: kind: must be \"Pod\", got \"Node\""},
      {"wrong apiVersion", R"({"apiVersion": "v2", "metadata": {"name": "p"}})",
       "Pod default/p: apiVersion: must be \"v1\", got \"v2\""},
      {"uid not a string", R"({"metadata": {"name": "p", "uid": 5}})",
       "metadata.uid: must be a string, got 5"},
      {"labels not a map", R"({"metadata": {"name": "p", "labels": ["a"]}})",
       "metadata.labels: must be an object, got [\"a\"]"},
      {"label value not a string", R"({"metadata": {"name": "p", "labels": {"app": 3}}})",
       "Pod default/p: metadata.labels[\"app\"]: must be a string, got 3"},
      {"annotation value null",
       R"({"metadata": {"name": "p", "annotations": {"gpusched.io/gang-name": null}}})",
       "metadata.annotations[\"gpusched.io/gang-name\"]: must be a string, got null"},
      {"bad timestamp", R"({"metadata": {"name": "p", "creationTimestamp": "yesterday"}})",
       "metadata.creationTimestamp: must be an RFC 3339 time"},
      {"timestamp not a string", R"({"metadata": {"name": "p", "creationTimestamp": 1}})",
       "metadata.creationTimestamp: must be a string, got 1"},
      {"spec not an object", R"({"metadata": {"name": "p"}, "spec": []})",
       "Pod default/p: spec: must be an object, got []"},
      {"priority string", R"({"metadata": {"name": "p"}, "spec": {"priority": "high"}})",
       "spec.priority: must be an integer in -2147483648..2147483647, got \"high\""},
      {"priority too big", R"({"metadata": {"name": "p"}, "spec": {"priority": 3000000000}})",
       "spec.priority: must be an integer"},
      {"priority too small", R"({"metadata": {"name": "p"}, "spec": {"priority": -3000000000}})",
       "spec.priority: must be an integer"},
      {"schedulingGroup not an object",
       R"({"metadata": {"name": "p"}, "spec": {"schedulingGroup": "g"}})",
       "spec.schedulingGroup: must be an object, got \"g\""},
      {"podGroupName not a string",
       R"({"metadata": {"name": "p"}, "spec": {"schedulingGroup": {"podGroupName": 1}}})",
       "spec.schedulingGroup.podGroupName: must be a string, got 1"},
  };
  for (const BadCase& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<PodInfo> p = DecodePodMeta(c.json);
    ASSERT_FALSE(p.ok());
    EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument) << p.status();
    EXPECT_THAT(p.status().message(), HasSubstr(c.want));
  }
}

// Feeds `doc` to both decoders. Whatever the bytes, they return a status (never Internal: that
// is the backstop for a decoder path that threw) and never crash.
void ExpectNoCrash(const std::string& doc) {
  absl::StatusOr<PodGroupInfo> g = DecodePodGroup(doc);
  EXPECT_NE(g.status().code(), absl::StatusCode::kInternal) << g.status();
  absl::StatusOr<std::vector<PodGroupInfo>> w = DecodeWorkload(doc);
  EXPECT_NE(w.status().code(), absl::StatusCode::kInternal) << w.status();
  absl::StatusOr<PodInfo> p = DecodePodMeta(doc);
  EXPECT_NE(p.status().code(), absl::StatusCode::kInternal) << p.status();
  if (p.ok()) {
    // A decoded pod must also be safe to resolve.
    (void)plugins::gang::ResolveGang(*p, PodGroupSet());
  }
}

TEST(Objects, TruncatedAndCorruptedDocumentsNeverCrash) {
  const std::vector<std::string> docs = {
      kSchedulerPluginsGroup, kUpstreamGroup, kVolcanoGroup, kWorkload,
      PodJson("w-0", R"(, "labels": {"scheduling.x-k8s.io/pod-group": "llama-ft"},
                        "annotations": {"gang.scheduling.koordinator.sh/name": "g",
                                        "gang.scheduling.koordinator.sh/min-available": "2"})",
              R"(, "schedulingGroup": {"podGroupName": "x"})")};
  int runs = 0;
  for (const std::string& doc : docs) {
    for (size_t n = 0; n < doc.size(); ++n) {
      ExpectNoCrash(doc.substr(0, n));
      ++runs;
    }
  }
  std::mt19937 rng(20260301);  // fixed: failures reproduce
  std::uniform_int_distribution<int> byte(0, 255);
  for (const std::string& doc : docs) {
    std::uniform_int_distribution<size_t> pos(0, doc.size() - 1);
    std::uniform_int_distribution<int> flips(1, 4);
    for (int i = 0; i < 1500; ++i) {
      std::string bad = doc;
      for (int f = flips(rng); f > 0; --f) bad[pos(rng)] = static_cast<char>(byte(rng));
      ExpectNoCrash(bad);
      ++runs;
    }
  }
  // Structural swaps that keep the JSON valid but change types.
  for (const std::string& doc : docs) {
    for (const char* from : {"\"", "{", "[", "1", ":"}) {
      for (const char* to : {"null", "0", "[]", "{}", "\"s\"", "-1", "1e999", "\"\\u0000\""}) {
        std::string bad = doc;
        for (size_t p = bad.find(from); p != std::string::npos; p = bad.find(from, p + 7)) {
          std::string mutated = bad;
          mutated.replace(p, 1, to);
          ExpectNoCrash(mutated);
          ++runs;
        }
      }
    }
  }
  EXPECT_GT(runs, 6000);
}

// ---- Whole pods, nodes and the assignment annotation.

TEST(DecodePod, ResourcesSelectorsAndBinding) {
  auto pod = DecodePod(R"({"metadata":{"name":"train-0","namespace":"ml","uid":"u1",
      "annotations":{"gpusched.io/gpu-model":"H100"}},
    "spec":{"nodeName":"gpu-3","schedulerName":"gpusched","nodeSelector":{"pool":"a"},
      "tolerations":[{"key":"gpu","operator":"Exists","effect":"NoSchedule"}],
      "containers":[{"name":"a","resources":{"requests":{"cpu":"1500m","memory":"2Gi"},
                                             "limits":{"nvidia.com/gpu":"1"}}},
                    {"name":"b","resources":{"limits":{"cpu":"500m","memory":"1Gi","nvidia.com/gpu":1}}}],
      "initContainers":[{"name":"i","resources":{"requests":{"cpu":"4"}}}]},
    "status":{"phase":"Running"}})");
  ASSERT_TRUE(pod.ok()) << pod.status();
  EXPECT_EQ(pod->info.uid, PodUid("u1"));
  EXPECT_EQ(pod->node_name, "gpu-3");
  EXPECT_EQ(pod->scheduler_name, "gpusched");
  EXPECT_EQ(pod->phase, "Running");
  EXPECT_FALSE(pod->finished());
  EXPECT_EQ(pod->info.requests.cpu, MilliCpu(4000));  // the init container is larger than 2000m
  EXPECT_EQ(pod->info.requests.memory, MemoryBytes(3LL << 30));
  EXPECT_EQ(pod->info.requests.gpu, framework::GpuRequest::Whole(2, "H100"));  // 1 + 1 GPUs
  EXPECT_EQ(pod->info.node_selector.at("pool"), "a");
  ASSERT_EQ(pod->info.tolerations.size(), 1u);
  EXPECT_TRUE(pod->info.tolerations[0].exists);
  EXPECT_TRUE(pod->request_error.ok());
}

TEST(DecodePod, ABrokenGpuRequestIsAVerdictNotABadObject) {
  auto pod = DecodePod(R"({"metadata":{"name":"p"},"spec":{"containers":[
      {"resources":{"limits":{"gpusched.io/gpu-milli":"250m"}}}]}})");
  ASSERT_TRUE(pod.ok()) << pod.status();
  EXPECT_THAT(pod->request_error.message(), HasSubstr("gpusched.io/gpu-milli"));
  EXPECT_TRUE(pod->info.requests.gpu.empty());
  auto bad = DecodePod(R"({"metadata":{"name":"p"},"spec":{"containers":[{"resources":{"requests":{"cpu":"lots"}}}]}})");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("spec.containers[0].resources.requests[\"cpu\"]"));
}

TEST(DecodePod, AssignmentRoundTripsAndIsChecked) {
  Assignment a{NodeId("n7"), {{DeviceIndex(0), GpuMilli(1000), GpuMemMiB(81920)},
                              {DeviceIndex(3), GpuMilli(250), GpuMemMiB(4096)}}};
  const std::string text = EncodeAssignment(a);
  EXPECT_EQ(text, R"({"gpus":[{"index":0,"memoryMiB":81920,"milli":1000},{"index":3,"memoryMiB":4096,"milli":250}],"node":"n7"})");
  auto back = DecodeAssignment(text);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->node, a.node);
  EXPECT_EQ(back->gpus, a.gpus);
  for (std::string_view bad : {R"({"gpus":[]})", R"({"node":"n","gpus":[{"index":0,"milli":2000}]})",
                               R"({"node":"n","gpus":[{"index":1,"milli":1},{"index":1,"milli":1}]})",
                               "not json"}) {
    EXPECT_FALSE(DecodeAssignment(bad).ok()) << bad;
  }
  nlohmann::json pod = {{"metadata", {{"name", "p"}, {"annotations", {{"gpusched.io/assignment", "{}"}}}}}};
  auto p = DecodePodJson(pod);
  ASSERT_FALSE(p.ok());
  EXPECT_THAT(p.status().message(), HasSubstr("gpusched.io/assignment"));
}

TEST(DecodeNode, GpuFeatureDiscoveryLabels) {
  auto node = DecodeNode(R"({"metadata":{"name":"g1","labels":{"nvidia.com/gpu.product":"NVIDIA-H100-80GB-HBM3",
      "nvidia.com/gpu.memory":"81559","nvidia.com/gpu.count":"8"}},
    "spec":{"taints":[{"key":"gpu","value":"true","effect":"NoSchedule"}]},
    "status":{"allocatable":{"cpu":"96","memory":"1Ti","pods":"250","nvidia.com/gpu":"8"}}})");
  ASSERT_TRUE(node.ok()) << node.status();
  const framework::NodeSpec& s = node->spec;
  EXPECT_EQ(s.name, NodeId("g1"));
  EXPECT_EQ(s.cpu, MilliCpu(96000));
  EXPECT_EQ(s.max_pods, 250);
  ASSERT_EQ(s.gpus.size(), 8u);
  EXPECT_EQ(s.gpus[0].model, "NVIDIA-H100-80GB-HBM3");
  EXPECT_EQ(s.gpus[0].memory, GpuMemMiB(81559));
  ASSERT_EQ(s.taints.size(), 1u);
  EXPECT_FALSE(node->memory_unknown);
}

TEST(DecodeNode, MemoryFromTheProductNameOrUnknown) {
  auto named = DecodeNode(R"({"metadata":{"name":"a","labels":{"nvidia.com/gpu.product":"NVIDIA-A100-SXM4-40GB"}},
    "status":{"allocatable":{"nvidia.com/gpu":"4"}}})");
  ASSERT_TRUE(named.ok()) << named.status();
  EXPECT_EQ(named->spec.gpus.size(), 4u);
  EXPECT_EQ(named->spec.gpus[0].memory, GpuMemMiB(40 * 1024));
  auto bare = DecodeNode(R"({"metadata":{"name":"b"},"status":{"allocatable":{"nvidia.com/gpu":"2"}}})");
  ASSERT_TRUE(bare.ok()) << bare.status();
  EXPECT_TRUE(bare->memory_unknown);
  auto none = DecodeNode(R"({"metadata":{"name":"c"},"status":{"allocatable":{"cpu":"4"}}})");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->spec.gpus.empty());
}

TEST(DecodeNode, TopologyPresetMustMatch) {
  auto ok = DecodeNode(R"({"metadata":{"name":"d","labels":{"gpusched.io/topology-preset":"dgx-a100",
      "nvidia.com/gpu.memory":"81920"}},"status":{"allocatable":{"nvidia.com/gpu":"8"}}})");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_NE(ok->spec.topology, nullptr);
  auto wrong = DecodeNode(R"({"metadata":{"name":"d","labels":{"gpusched.io/topology-preset":"dgx-a100"}},
      "status":{"allocatable":{"nvidia.com/gpu":"4"}}})");
  ASSERT_FALSE(wrong.ok());
  EXPECT_THAT(wrong.status().message(), HasSubstr("has 8 GPUs but the node has 4"));
  auto absurd = DecodeNode(R"({"metadata":{"name":"x"},"status":{"allocatable":{"nvidia.com/gpu":"1e9"}}})");
  ASSERT_FALSE(absurd.ok());
  EXPECT_THAT(absurd.status().message(), HasSubstr("status.allocatable[\"nvidia.com/gpu\"]"));
}

TEST(DecodeNode, HamiRegisteredDevicesInBothEncodings) {
  // HAMi up to 2.4: "id,split,memoryMiB,cores,type,numa,healthy:" per device; its allocatable
  // nvidia.com/gpu (20) counts virtual GPUs, so the devices must win over it.
  auto legacy = DecodeNode(R"({"metadata":{"name":"h1","annotations":{"hami.io/node-nvidia-register":
      "GPU-aaa,10,32768,100,NVIDIA-Tesla V100-PCIE-32GB,0,true:GPU-bbb,10,16384,100,NVIDIA-Tesla V100-PCIE-16GB,1,false:"}},
    "status":{"allocatable":{"nvidia.com/gpu":"20"}}})");
  ASSERT_TRUE(legacy.ok()) << legacy.status();
  ASSERT_EQ(legacy->spec.gpus.size(), 2u);
  EXPECT_EQ(legacy->spec.gpus[0].model, "Tesla-V100-PCIE-32GB");
  EXPECT_EQ(legacy->spec.gpus[0].memory, GpuMemMiB(32768));
  EXPECT_TRUE(legacy->spec.gpus[0].healthy);
  EXPECT_EQ(legacy->spec.gpus[1].memory, GpuMemMiB(16384));
  EXPECT_FALSE(legacy->spec.gpus[1].healthy);
  EXPECT_FALSE(legacy->memory_unknown);

  // Later HAMi: a JSON list. GFD's product label, when present, names the model.
  auto json = DecodeNode(R"({"metadata":{"name":"h2","labels":{"nvidia.com/gpu.product":"NVIDIA-A100-SXM4-80GB"},
      "annotations":{"hami.io/node-nvidia-register":
      "[{\"id\":\"GPU-c\",\"count\":4,\"devmem\":81920,\"devcore\":100,\"type\":\"NVIDIA-NVIDIA A100-SXM4-80GB\",\"numa\":0,\"health\":true}]"}},
    "status":{"allocatable":{"nvidia.com/gpu":"4"}}})");
  ASSERT_TRUE(json.ok()) << json.status();
  ASSERT_EQ(json->spec.gpus.size(), 1u);
  EXPECT_EQ(json->spec.gpus[0].model, "NVIDIA-A100-SXM4-80GB");
  EXPECT_EQ(json->spec.gpus[0].memory, GpuMemMiB(81920));
  EXPECT_TRUE(json->spec.gpus[0].healthy);

  // GFD's count label is the node's own word and wins over HAMi's list.
  auto counted = DecodeNode(R"({"metadata":{"name":"h3","labels":{"nvidia.com/gpu.count":"2","nvidia.com/gpu.memory":"40960"},
      "annotations":{"hami.io/node-nvidia-register":"GPU-a,10,32768,100,NVIDIA-Tesla V100-PCIE-32GB,0,true:"}}})");
  ASSERT_TRUE(counted.ok()) << counted.status();
  ASSERT_EQ(counted->spec.gpus.size(), 2u);
  EXPECT_EQ(counted->spec.gpus[0].memory, GpuMemMiB(40960));
}

TEST(DecodeNode, AMalformedHamiDeviceListSaysWhichDevice) {
  for (auto [value, want] : std::vector<std::pair<std::string, std::string>>{
           {"GPU-a,10,32768,100,T,0,true:GPU-b,10,lots,100,T,0,true:", "device 1: memory \"lots\""},
           {"GPU-a,10,32768:", "device 0: expected id,split,memoryMiB"},
           {"GPU-a,10,0,100,T,0,true:", "device 0: memory must be a positive"},
           {R"([{"devmem":"big"}])", "device 0: devmem (MiB) must be an integer"},
           {R"([{"devmem":1024,"health":"yes"}])", "device 0: type must be a string, health a boolean"},
           {R"([{"devmem":1024)", "must be a JSON list of devices"}}) {
    nlohmann::json doc = {{"metadata", {{"name", "h"}, {"annotations", {{"hami.io/node-nvidia-register", value}}}}}};
    auto node = DecodeNodeJson(doc);
    ASSERT_FALSE(node.ok()) << value;
    EXPECT_THAT(node.status().message(), HasSubstr("hami.io/node-nvidia-register")) << value;
    EXPECT_THAT(node.status().message(), HasSubstr(want)) << node.status();
  }
}

}  // namespace
}  // namespace gpusched::extender::k8s
