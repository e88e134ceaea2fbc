// gpusched-extender end to end, over real loopback HTTP: the extender (ExtenderApp, as
// gpusched-extender runs it) lists and watches a Kubernetes-API-shaped server (FakeApiServer), and
// the test plays kube-scheduler: filter, prioritize and bind for a mixed workload, exactly as
// kube-scheduler's HTTPExtender sends them (nodeCacheCapable: true). It then checks what the API
// server received: the Bindings and the device assignments written on the pods.

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "extender/app.h"
#include "extender/config.h"
#include "common/http/http.h"
#include "extender/k8s/objects.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "test/fakes/fake_apiserver.h"
#include "test/fakes/k8s_objects.h"
#include "test/fakes/tls_certs.h"

namespace gpusched::extender {
namespace {

using Json = nlohmann::json;
using ::gpusched::testing::GpuNodeJson;
using ::gpusched::testing::GpuPodJson;
using ::testing::HasSubstr;

class ExtenderE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(api_.Start().ok());
    for (int i = 0; i < 3; ++i) {
      api_.Apply(FakeApiServer::kNodes,
                 GpuNodeJson(absl::StrCat("a100-", i), 8, "NVIDIA-A100-SXM4-80GB", 81920, "dgx-a100"));
    }
    api_.Apply(FakeApiServer::kNodes, GpuNodeJson("l4-0", 4, "NVIDIA-L4", 23034));
    StartExtender();
  }

  // TLS material for the extender's server: the certificate and key files it is given, and the
  // CA kube-scheduler trusts (its extender tlsConfig.caData).
  struct Tls {
    std::string cert_file, key_file, ca_pem;
  };

  void StartExtender(absl::Duration max_model_age = absl::Seconds(120),
                     const Tls* tls = nullptr) {
    ExtenderConfig config;
    config.max_model_age = max_model_age;
    config.host = "127.0.0.1";
    config.port = 0;
    config.profile = "binpack";
    config.seed = 7;
    config.log_level = "warn";
    if (tls != nullptr) {
      config.cert_file = tls->cert_file;
      config.key_file = tls->key_file;
    }
    http::ClientOptions to_api{.base_url = api_.base_url()};
    auto app = ExtenderApp::Start(config, &to_api);
    ASSERT_TRUE(app.ok()) << app.status();
    app_ = std::move(*app);
    auto client = http::Client::Create(http::ClientOptions{
        .base_url = absl::StrCat(tls != nullptr ? "https" : "http", "://127.0.0.1:", app_->port()),
        .ca_data = tls != nullptr ? tls->ca_pem : ""});
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = std::move(*client);
    WaitFor([&] { return Get("/readyz").status == 200; }, "the extender to become ready");
  }

  template <class F>
  void WaitFor(F ready, std::string_view what) {
    const absl::Time deadline = absl::Now() + absl::Seconds(20);
    while (!ready()) {
      ASSERT_LT(absl::Now(), deadline) << "timed out waiting for " << what;
      absl::SleepFor(absl::Milliseconds(20));
    }
  }

  http::Response Get(const std::string& path) {
    auto r = client_->Do("GET", path);
    return r.ok() ? *r : http::Response{.status = 0, .body = std::string(r.status().message())};
  }
  http::Response Post(const std::string& path, const std::string& body) {
    auto r = client_->Do("POST", path, body);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : http::Response{.status = 0};
  }

  std::vector<std::string> NodeNames() {
    std::vector<std::string> out;
    for (const Json& n : api_.List(FakeApiServer::kNodes)) out.push_back(n["metadata"]["name"]);
    return out;
  }

  // One scheduling attempt, as kube-scheduler makes it: the node bound, or "" with the reasons.
  std::string Schedule(const std::string& name, std::string* why = nullptr) {
    std::optional<Json> pod = api_.Get(FakeApiServer::kPods, "ml", name);
    EXPECT_TRUE(pod.has_value()) << name;
    if (!pod) return "";
    const Json args = {{"Pod", *pod}, {"Nodes", nullptr}, {"NodeNames", NodeNames()}};
    http::Response f = Post("/filter", args.dump());
    EXPECT_EQ(f.status, 200) << f.body;
    const Json filter = Json::parse(f.body);
    EXPECT_EQ(filter["Error"], "");
    std::vector<std::string> feasible = filter["NodeNames"].get<std::vector<std::string>>();
    if (feasible.empty()) {
      if (why != nullptr) *why = filter["FailedNodes"].dump() + filter["FailedAndUnresolvableNodes"].dump();
      return "";
    }
    std::string chosen = feasible[0];
    if (feasible.size() > 1) {  // kube-scheduler prioritizes only when two or more nodes pass
      const Json pargs = {{"Pod", *pod}, {"Nodes", nullptr}, {"NodeNames", feasible}};
      http::Response p = Post("/prioritize", pargs.dump());
      EXPECT_EQ(p.status, 200) << p.body;
      int64_t best = -1;
      for (const Json& hp : Json::parse(p.body)) {
        if (hp["Score"].get<int64_t>() > best) {
          best = hp["Score"].get<int64_t>();
          chosen = hp["Host"].get<std::string>();
        }
      }
    }
    const Json bind = {{"PodName", name}, {"PodNamespace", "ml"},
                       {"PodUID", (*pod)["metadata"]["uid"]}, {"Node", chosen}};
    http::Response b = Post("/bind", bind.dump());
    EXPECT_EQ(b.status, 200) << b.body;
    const std::string error = Json::parse(b.body)["Error"];
    if (!error.empty()) {
      if (why != nullptr) *why = error;
      return "";
    }
    return chosen;
  }

  // Every device share handed out, from the assignments on the pods the API server holds:
  // (node, gpu) -> milli. Fails the test if a pod's annotation disagrees with its binding.
  std::map<std::pair<std::string, int>, int64_t> DeviceUse() {
    std::map<std::pair<std::string, int>, int64_t> use;
    for (const Json& p : api_.List(FakeApiServer::kPods)) {
      const std::string node = p["spec"].value("nodeName", "");
      const Json& ann = p["metadata"].value("annotations", Json::object());
      if (node.empty()) continue;
      if (!ann.contains(std::string(k8s::kAssignmentAnnotation))) {
        ADD_FAILURE() << p["metadata"]["name"] << " bound without an assignment";
        continue;
      }
      auto a = k8s::DecodeAssignment(ann[std::string(k8s::kAssignmentAnnotation)].get<std::string>());
      EXPECT_TRUE(a.ok()) << a.status();
      if (!a.ok()) continue;
      EXPECT_EQ(a->node.str(), node) << p["metadata"]["name"];
      for (const framework::GpuShare& g : a->gpus) use[{node, g.gpu.value()}] += g.milli.value();
    }
    for (const auto& [key, milli] : use) {
      EXPECT_LE(milli, 1000) << "GPU " << key.second << " of " << key.first << " handed out twice";
    }
    return use;
  }

  FakeApiServer api_;
  std::unique_ptr<ExtenderApp> app_;
  std::unique_ptr<http::Client> client_;
};

TEST_F(ExtenderE2eTest, MixedWorkloadIsBoundWithDeviceAssignments) {
  // Whole GPUs, shares of one GPU, and a gang of 4 that needs 16 GPUs.
  api_.Apply(FakeApiServer::kPods, GpuPodJson("whole-0", {{"nvidia.com/gpu", "2"}}));
  api_.Apply(FakeApiServer::kPods, GpuPodJson("whole-1", {{"nvidia.com/gpu", "2"}}));
  for (int i = 0; i < 3; ++i) {
    api_.Apply(FakeApiServer::kPods, GpuPodJson(absl::StrCat("share-", i),
                                            {{"gpusched.io/gpu-milli", "250"},
                                             {"gpusched.io/gpu-memory", "4Gi"}}));
  }
  api_.Apply(FakeApiServer::kXK8sPodGroups,
             {{"apiVersion", "scheduling.x-k8s.io/v1alpha1"}, {"kind", "PodGroup"},
              {"metadata", {{"name", "llm"}, {"namespace", "ml"}}}, {"spec", {{"minMember", 4}}}});
  for (int i = 0; i < 4; ++i) {
    api_.Apply(FakeApiServer::kPods, GpuPodJson(absl::StrCat("llm-", i), {{"nvidia.com/gpu", "4"}},
                                            {{"scheduling.x-k8s.io/pod-group", "llm"}}));
  }
  // The extender must have seen the PodGroup before the first member is filtered.
  WaitFor([&] { return Get("/metrics").body.find("podgroups") != std::string::npos; },
          "the PodGroup list");

  std::map<std::string, std::string> placed;
  for (const std::string name : {"whole-0", "whole-1", "share-0", "share-1", "share-2", "llm-0",
                                 "llm-1", "llm-2", "llm-3"}) {
    std::string why;
    placed[name] = Schedule(name, &why);
    EXPECT_FALSE(placed[name].empty()) << name << ": " << why;
  }
  // Shares of one GPU: bin-packed onto the same device.
  const std::vector<Json> pods = api_.List(FakeApiServer::kPods);
  std::set<std::pair<std::string, int>> share_devices;
  for (const Json& p : pods) {
    const std::string name = p["metadata"]["name"];
    if (name.rfind("share-", 0) != 0) continue;
    auto a = k8s::DecodeAssignment(
        p["metadata"]["annotations"][std::string(k8s::kAssignmentAnnotation)].get<std::string>());
    ASSERT_TRUE(a.ok()) << a.status();
    ASSERT_EQ(a->gpus.size(), 1u);
    EXPECT_EQ(a->gpus[0].milli.value(), 250);
    EXPECT_EQ(a->gpus[0].memory.value(), 4096);
    share_devices.insert({a->node.str(), a->gpus[0].gpu.value()});
  }
  EXPECT_EQ(share_devices.size(), 1u);
  // Every Binding carried the pod's UID and was accepted; the gang is whole.
  const auto bindings = api_.Bindings();
  EXPECT_EQ(bindings.size(), 9u);
  for (const auto& b : bindings) {
    EXPECT_EQ(b.code, 201) << b.name << ": " << b.body;
    EXPECT_FALSE(b.uid.empty());
  }
  const auto use = DeviceUse();
  int64_t whole = 0;
  for (const auto& [key, milli] : use) whole += milli == 1000;
  EXPECT_EQ(whole, 2 * 2 + 4 * 4);
  // The model's GPU use per pool, on /metrics.
  const std::string metrics = Get("/metrics").body;
  EXPECT_THAT(metrics, HasSubstr("gpusched_gpus{pool=\"NVIDIA-A100-SXM4-80GB\"} 24"));
  EXPECT_THAT(metrics, HasSubstr("gpusched_gpus{pool=\"NVIDIA-L4\"} 4"));
  EXPECT_THAT(metrics, HasSubstr("gpusched_model_nodes 4"));
  EXPECT_THAT(metrics, HasSubstr("gpusched_api_binding_total{result=\"created\"} 9"));
}

// kube-scheduler's extender config with enableHTTPS: true and tlsConfig.caData: the same
// verbs over TLS, and a caller that does not trust the certificate is refused while the
// extender keeps serving.
TEST_F(ExtenderE2eTest, KubeSchedulerOverHttps) {
  const std::string dir = absl::StrCat(::testing::TempDir(), "/extender_tls_", ::getpid());
  ASSERT_EQ(std::system(absl::StrCat("mkdir -p ", dir).c_str()), 0);
  const testing::Pem ca = testing::MakeCa("extender test CA");
  const testing::Pem leaf = testing::MakeCert(ca, "gpusched-extender");
  ASSERT_FALSE(leaf.cert.empty());
  const Tls tls{.cert_file = dir + "/tls.crt", .key_file = dir + "/tls.key", .ca_pem = ca.cert};
  ASSERT_TRUE(testing::WriteFile(tls.cert_file, leaf.cert));
  ASSERT_TRUE(testing::WriteFile(tls.key_file, leaf.key));
  app_.reset();
  StartExtender(absl::Seconds(120), &tls);

  api_.Apply(FakeApiServer::kPods, GpuPodJson("whole-0", {{"nvidia.com/gpu", "2"}}));
  api_.Apply(FakeApiServer::kPods, GpuPodJson("share-0", {{"gpusched.io/gpu-milli", "500"}}));
  EXPECT_FALSE(Schedule("whole-0").empty());
  EXPECT_FALSE(Schedule("share-0").empty());
  ASSERT_EQ(api_.Bindings().size(), 2u);
  for (const auto& b : api_.Bindings()) EXPECT_EQ(b.code, 201) << b.name << ": " << b.body;
  DeviceUse();

  // Not trusted: another CA. Plain HTTP to the TLS port: no answer either.
  const testing::Pem other = testing::MakeCa("someone else");
  auto untrusted = http::Client::Create(http::ClientOptions{
      .base_url = absl::StrCat("https://127.0.0.1:", app_->port()), .ca_data = other.cert,
      .timeout = absl::Seconds(2)});
  ASSERT_TRUE(untrusted.ok()) << untrusted.status();
  auto refused = (*untrusted)->Do("GET", "/healthz");
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable) << refused.status();
  auto plain = http::Client::Create(http::ClientOptions{
      .base_url = absl::StrCat("http://127.0.0.1:", app_->port()), .timeout = absl::Seconds(2)});
  ASSERT_TRUE(plain.ok());
  auto garbled = (*plain)->Do("GET", "/healthz");
  EXPECT_FALSE(garbled.ok() && garbled->status == 200);
  EXPECT_EQ(Get("/healthz").status, 200);  // still serving the trusted caller
  std::system(absl::StrCat("rm -rf ", dir).c_str());
}

TEST_F(ExtenderE2eTest, ReasonsForAPersonAndBadRequestsChangeNothing) {
  api_.Apply(FakeApiServer::kPods, GpuPodJson("huge", {{"nvidia.com/gpu", "16"}}));
  std::string why;
  EXPECT_EQ(Schedule("huge", &why), "");
  EXPECT_THAT(why, HasSubstr("a100-0"));
  // Malformed requests: 4xx with a JSON Error naming the problem; the service keeps serving.
  struct Case {
    std::string path, body;
    int status;
    std::string want;
  } cases[] = {
      {"/filter", "{not json", 400, "invalid JSON"},
      {"/filter", R"({"NodeNames":["a100-0"]})", 400, "Pod: required"},
      {"/filter", R"({"Pod":{"metadata":{"name":"p"},"spec":{"containers":[{"resources":{"limits":{"cpu":"x"}}}]}},"NodeNames":[]})",
       400, "spec.containers[0].resources"},
      {"/prioritize", R"({"Pod":{},"NodeNames":[1]})", 400, "NodeNames[0]"},
      {"/bind", R"({"PodName":"p"})", 400, "PodUID: required"},
      {"/preempt", "[]", 400, "must be a JSON object"},
      {"/nosuchverb", "{}", 404, "no such endpoint"},
  };
  for (const Case& c : cases) {
    http::Response r = Post(c.path, c.body);
    EXPECT_EQ(r.status, c.status) << c.path << " " << c.body;
    EXPECT_THAT(Json::parse(r.body)["Error"].get<std::string>(), HasSubstr(c.want)) << c.body;
  }
  // A GPU request that cannot be honoured is a verdict for kubectl describe, not a 400.
  api_.Apply(FakeApiServer::kPods, GpuPodJson("typo", {{"gpusched.io/gpu-milli", "250m"}}));
  EXPECT_EQ(Schedule("typo", &why), "");
  EXPECT_THAT(why, HasSubstr("gpusched.io/gpu-milli"));
  // The model is as before: a normal pod still gets 8 GPUs on one node.
  api_.Apply(FakeApiServer::kPods, GpuPodJson("full", {{"nvidia.com/gpu", "8"}}));
  EXPECT_NE(Schedule("full"), "");
  EXPECT_TRUE(api_.Bindings().size() == 1);
}

TEST_F(ExtenderE2eTest, RestartMidWorkloadNeverGivesAGpuTwice) {
  // Fill two A100 nodes with 4 pods of 4 GPUs, and one GPU with shares.
  for (int i = 0; i < 4; ++i) {
    api_.Apply(FakeApiServer::kPods, GpuPodJson(absl::StrCat("a-", i), {{"nvidia.com/gpu", "4"}}));
    ASSERT_NE(Schedule(absl::StrCat("a-", i)), "");
  }
  for (int i = 0; i < 2; ++i) {
    api_.Apply(FakeApiServer::kPods, GpuPodJson(absl::StrCat("s-", i), {{"gpusched.io/gpu-milli", "500"}}));
    ASSERT_NE(Schedule(absl::StrCat("s-", i)), "");
  }
  // Kill the extender and start a new one: its model comes back from the assignments.
  app_->Stop();
  app_.reset();
  StartExtender();
  // Everything that is left: 28 - 16 - 1 = 11 whole GPUs. Ask for more than that.
  int bound = 0;
  for (int i = 0; i < 6; ++i) {
    api_.Apply(FakeApiServer::kPods, GpuPodJson(absl::StrCat("b-", i), {{"nvidia.com/gpu", "2"}}));
    bound += !Schedule(absl::StrCat("b-", i)).empty();
  }
  for (int i = 0; i < 3; ++i) {
    api_.Apply(FakeApiServer::kPods, GpuPodJson(absl::StrCat("t-", i), {{"gpusched.io/gpu-milli", "500"}}));
    bound += !Schedule(absl::StrCat("t-", i)).empty();
  }
  const auto use = DeviceUse();  // fails on any GPU over 1000 milli
  int64_t total = 0;
  for (const auto& [key, milli] : use) total += milli;
  EXPECT_LE(total, 28 * 1000);
  // 2-GPU pods: the remaining whole GPUs allow 5 (8 on a100-2 gives 4, l4-0 gives 2, minus the
  // shared GPU's node); the model after the restart must not offer more than there is.
  EXPECT_GE(bound, 5);
}

TEST_F(ExtenderE2eTest, SurvivesTheApiServerClosingWatchesAndExpiringVersions) {
  api_.CloseWatches();
  api_.Compact();
  api_.FailNextRequests(3, 500);
  api_.Apply(FakeApiServer::kNodes, GpuNodeJson("late", 8, "NVIDIA-H100-80GB-HBM3", 81559));
  api_.Apply(FakeApiServer::kPods, GpuPodJson("h100", {{"nvidia.com/gpu", "8"}}));
  // The pod fits only on the new node; the extender learns about it after recovering.
  std::string node;
  WaitFor([&] {
    std::optional<Json> pod = api_.Get(FakeApiServer::kPods, "ml", "h100");
    const Json args = {{"Pod", *pod}, {"Nodes", nullptr}, {"NodeNames", {"late"}}};
    http::Response f = Post("/filter", args.dump());
    return f.status == 200 && Json::parse(f.body)["NodeNames"].size() == 1;
  }, "the new node after watch failures");
  EXPECT_EQ(Get("/readyz").status, 200);
  const std::string metrics = Get("/metrics").body;
  EXPECT_THAT(metrics, HasSubstr("gpusched_informer_restarts_total"));
  EXPECT_THAT(metrics, HasSubstr("gpusched_extender_request_duration_seconds_bucket"));
}

TEST_F(ExtenderE2eTest, ExplainSaysWhyAPodWaitsAndRefusesBadQuestions) {
  api_.Apply(FakeApiServer::kPods, GpuPodJson("huge", {{"nvidia.com/gpu", "16"}}));
  WaitFor([&] { return Get("/explain?pod=ml%2Fhuge").status == 200; }, "the pod in the model");
  const Json a = Json::parse(Get("/explain?pod=ml/huge").body);
  EXPECT_EQ(a["pod"], "ml/huge");
  EXPECT_EQ(a["fitsNow"], false);
  ASSERT_EQ(a["nodes"].size(), 4u);
  for (const Json& n : a["nodes"]) {
    EXPECT_EQ(n["fits"], false);
    EXPECT_THAT(n["reason"].get<std::string>(), HasSubstr("fewer than 16")) << n.dump();
  }
  ASSERT_GE(a["changes"].size(), 1u);
  EXPECT_EQ(a["changes"][0]["kind"], "fewer-gpus");
  EXPECT_EQ(a["changes"][0]["change"], "ask for 8 GPUs instead of 16");
  EXPECT_EQ(a["changes"][0]["fitsOn"].size(), 3u);
  // A bound pod says where.
  api_.Apply(FakeApiServer::kPods, GpuPodJson("small", {{"nvidia.com/gpu", "1"}}));
  WaitFor([&] { return Get("/explain?pod=ml/small").status == 200; }, "the small pod");
  ASSERT_NE(Schedule("small"), "");
  WaitFor([&] { return Json::parse(Get("/explain?pod=ml/small").body)["boundTo"] != ""; },
          "the bound pod in the model");
  // Bad questions: 4xx with a JSON Error, and nothing changes.
  EXPECT_EQ(Get("/explain").status, 400);
  EXPECT_THAT(Get("/explain?pod=huge").body, HasSubstr("needs ?pod=NAMESPACE/NAME"));
  const http::Response unknown = Get("/explain?pod=ml/nope");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_THAT(Json::parse(unknown.body)["Error"].get<std::string>(), HasSubstr("ml/nope is not known"));
  EXPECT_EQ(Post("/explain", "{}").status, 405);
}

TEST_F(ExtenderE2eTest, BindFailuresReleaseTheReservation) {
  // The pod is deleted between Filter and Bind: the API answers 404, the bind fails, and the 8
  // GPUs it would have taken are free for the next pod at once.
  api_.Apply(FakeApiServer::kPods, GpuPodJson("gone", {{"nvidia.com/gpu", "8"}}));
  const Json pod = *api_.Get(FakeApiServer::kPods, "ml", "gone");
  const Json args = {{"Pod", pod}, {"Nodes", nullptr}, {"NodeNames", {"a100-0"}}};
  ASSERT_EQ(Json::parse(Post("/filter", args.dump()).body)["NodeNames"].size(), 1u);
  ASSERT_TRUE(api_.Delete(FakeApiServer::kPods, "ml", "gone"));
  const Json bind = {{"PodName", "gone"}, {"PodNamespace", "ml"},
                     {"PodUID", pod["metadata"]["uid"]}, {"Node", "a100-0"}};
  const std::string error = Json::parse(Post("/bind", bind.dump()).body)["Error"];
  EXPECT_THAT(error, HasSubstr("no longer exists"));
  // A pod bound elsewhere meanwhile (409 from the API server): refused, nothing held.
  api_.Apply(FakeApiServer::kPods, GpuPodJson("taken", {{"nvidia.com/gpu", "8"}}));
  Json taken = *api_.Get(FakeApiServer::kPods, "ml", "taken");
  const Json targs = {{"Pod", taken}, {"Nodes", nullptr}, {"NodeNames", {"a100-0"}}};
  ASSERT_EQ(Json::parse(Post("/filter", targs.dump()).body)["NodeNames"].size(), 1u);
  taken["spec"]["nodeName"] = "l4-0";  // someone else bound it (the model sees it there later)
  api_.Apply(FakeApiServer::kPods, taken);
  const Json tbind = {{"PodName", "taken"}, {"PodNamespace", "ml"},
                      {"PodUID", taken["metadata"]["uid"]}, {"Node", "a100-0"}};
  // The API server's 409 ("already assigned"), or the model's own refusal when the informer
  // already showed the pod bound: either way an error, and nothing held on a100-0.
  EXPECT_NE(Json::parse(Post("/bind", tbind.dump()).body)["Error"].get<std::string>(), "");
  // a100-0 is whole again: an 8-GPU pod binds there.
  api_.Apply(FakeApiServer::kPods, GpuPodJson("next", {{"nvidia.com/gpu", "8"}}));
  const Json next = *api_.Get(FakeApiServer::kPods, "ml", "next");
  const Json nbind = {{"PodName", "next"}, {"PodNamespace", "ml"},
                      {"PodUID", next["metadata"]["uid"]}, {"Node", "a100-0"}};
  const Json nargs = {{"Pod", next}, {"Nodes", nullptr}, {"NodeNames", {"a100-0"}}};
  ASSERT_EQ(Json::parse(Post("/filter", nargs.dump()).body)["NodeNames"].size(), 1u);
  EXPECT_EQ(Json::parse(Post("/bind", nbind.dump()).body)["Error"], "");
  // The assignment written before the refused Binding was taken back.
  const Json after = *api_.Get(FakeApiServer::kPods, "ml", "taken");
  EXPECT_FALSE(after["metadata"].value("annotations", Json::object())
                   .contains(std::string(k8s::kAssignmentAnnotation)));
}

TEST_F(ExtenderE2eTest, PreemptNamesVictimsThatFreeUsableGpus) {
  // a100-0 full of low-priority 2-GPU pods; a high-priority 4-GPU pod needs two of them gone.
  for (int i = 0; i < 4; ++i) {
    Json p = GpuPodJson(absl::StrCat("low-", i), {{"nvidia.com/gpu", "2"}});
    p["spec"]["priority"] = i;  // low-0 is the least important
    api_.Apply(FakeApiServer::kPods, p);
    const Json pod = *api_.Get(FakeApiServer::kPods, "ml", absl::StrCat("low-", i));
    const Json bind = {{"PodName", absl::StrCat("low-", i)}, {"PodNamespace", "ml"},
                       {"PodUID", pod["metadata"]["uid"]}, {"Node", "a100-0"}};
    const Json args = {{"Pod", pod}, {"Nodes", nullptr}, {"NodeNames", {"a100-0"}}};
    ASSERT_EQ(Json::parse(Post("/filter", args.dump()).body)["NodeNames"].size(), 1u);
    ASSERT_EQ(Json::parse(Post("/bind", bind.dump()).body)["Error"], "");
  }
  Json meta = Json::object();
  Json victims = Json::array();
  for (int i = 0; i < 4; ++i) {
    victims.push_back({{"UID", (*api_.Get(FakeApiServer::kPods, "ml", absl::StrCat("low-", i)))["metadata"]["uid"]}});
  }
  Json high = GpuPodJson("high", {{"nvidia.com/gpu", "4"}});
  high["spec"]["priority"] = 100;
  high = api_.Apply(FakeApiServer::kPods, high);
  const Json args = {{"Pod", high}, {"NodeNameToVictims", nullptr},
                     {"NodeNameToMetaVictims", {{"a100-0", {{"Pods", victims}, {"NumPDBViolations", 0}}}}}};
  http::Response r = Post("/preempt", args.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  const Json reply = Json::parse(r.body)["NodeNameToMetaVictims"];
  ASSERT_TRUE(reply.contains("a100-0")) << r.body;
  const Json& pods = reply["a100-0"]["Pods"];
  ASSERT_EQ(pods.size(), 2u) << r.body;  // two 2-GPU pods free the 4 GPUs needed, not all four
  // The least important go, listed most important first as kube-scheduler reads them.
  EXPECT_EQ(pods[0]["UID"], (*api_.Get(FakeApiServer::kPods, "ml", "low-1"))["metadata"]["uid"]);
  EXPECT_EQ(pods[1]["UID"], (*api_.Get(FakeApiServer::kPods, "ml", "low-0"))["metadata"]["uid"]);
}

TEST_F(ExtenderE2eTest, NotReadyOnlyWhenTheModelIsTooOld) {
  app_->Stop();
  app_.reset();
  StartExtender(absl::Seconds(3));
  // Bookmarks (every second from this server) keep a quiet model fresh.
  absl::SleepFor(absl::Seconds(4));
  EXPECT_EQ(Get("/readyz").status, 200);
  // The API server goes away: the extender keeps answering from its model, and turns not-ready
  // once it has heard nothing for longer than the limit.
  api_.Stop();
  api_.Apply(FakeApiServer::kPods, GpuPodJson("during-outage", {{"nvidia.com/gpu", "1"}}));
  const Json pod = *api_.Get(FakeApiServer::kPods, "ml", "during-outage");
  const Json args = {{"Pod", pod}, {"Nodes", nullptr}, {"NodeNames", {"a100-0"}}};
  EXPECT_EQ(Json::parse(Post("/filter", args.dump()).body)["NodeNames"].size(), 1u);
  WaitFor([&] { return Get("/readyz").status == 503; }, "not-ready after the API server left");
  EXPECT_THAT(Get("/readyz").body, HasSubstr("no news from the API server"));
  EXPECT_EQ(Get("/healthz").status, 200);
}

}  // namespace
}  // namespace gpusched::extender
