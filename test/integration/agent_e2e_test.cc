// gpusched-extender with node agents, end to end over real loopback gRPC and HTTP: fake-mode
// agents (AgentApp, as gpusched-agent runs it) stream their GPUs to the extender (ExtenderApp),
// which lists and watches a Kubernetes-API-shaped server; the test plays kube-scheduler.
//   - the model follows the agent's inventory, not the Node object's labels;
//   - an agent killed goes stale within staleAfter (GPU pods avoid its node), and recovers when
//     it is restarted on the same address;
//   - a bind hands the reservation to the agent before the Binding, and an agent that refuses
//     it fails the bind without leaving anything held;
//   - malformed, out-of-order and misaddressed messages are rejected and counted while the
//     stream goes on.

#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "agent/app.h"
#include "agent/proto/agent.grpc.pb.h"
#include "common/http/http.h"
#include "extender/app.h"
#include "extender/config.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "test/fakes/fake_apiserver.h"
#include "test/fakes/k8s_objects.h"
#include "test/fakes/fake_kubelet.h"
#include "test/fakes/tls_certs.h"

namespace gpusched::extender {
namespace {

using Json = nlohmann::json;
using ::gpusched::testing::GpuNodeJson;
using ::testing::HasSubstr;
namespace pb = ::gpusched::agent::v1;

Json GpuPod(const std::string& name, Json limits, const std::string& model) {
  return {{"metadata", {{"name", name}, {"namespace", "ml"},
                        {"annotations", {{"gpusched.io/gpu-model", model}}}}},
          {"spec", {{"schedulerName", "gpusched"},
                    {"containers", Json::array({{{"name", "main"},
                                                 {"resources", {{"limits", limits}}}}})}}},
          {"status", {{"phase", "Pending"}}}};
}

// An agent that says what the test scripts, then keeps the stream open.
class ScriptedAgent final : public pb::NodeAgent::Service {
 public:
  explicit ScriptedAgent(std::vector<pb::NodeState> script) : script_(std::move(script)) {}
  grpc::Status Watch(grpc::ServerContext* ctx, const pb::WatchRequest*,
                     grpc::ServerWriter<pb::NodeState>* w) override {
    for (const pb::NodeState& s : script_) {
      if (!w->Write(s)) return grpc::Status::OK;
    }
    while (!ctx->IsCancelled()) absl::SleepFor(absl::Milliseconds(20));
    return grpc::Status::OK;
  }

 private:
  std::vector<pb::NodeState> script_;
};

pb::NodeState A10State(uint64_t seq, int gpus, const std::string& node = "n3") {
  pb::NodeState s;
  s.set_node_name(node);
  s.set_incarnation("rogue-1");
  s.set_sequence(seq);
  s.set_heartbeat_ms(1000);
  for (int i = 0; i < gpus; ++i) {
    pb::Gpu* g = s.add_gpus();
    g->set_index(i);
    g->set_uuid(absl::StrCat("GPU-a10-", i));
    g->set_model("NVIDIA-A10");
    g->set_memory_mib(23028);
    g->set_healthy(true);
    g->set_numa(-1);
  }
  return s;
}

class AgentE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(api_.Start().ok());
    // What the Node objects say; the agent of n1 knows better (8 A100s).
    api_.Apply(FakeApiServer::kNodes, GpuNodeJson("n1", 4, "Tesla-T4", 15360));
    api_.Apply(FakeApiServer::kNodes, GpuNodeJson("n2", 4, "NVIDIA-L4", 23034));
    api_.Apply(FakeApiServer::kNodes, GpuNodeJson("n3", 1, "NVIDIA-A10", 23028));
    StartAgent(0);
  }

  void TearDown() override {
    if (app_) app_->Stop();
    if (agent_) agent_->Stop();
  }

  void StartAgent(int port, const testing::FakeKubelet* kubelet = nullptr,
                  const std::string& tls_dir = "") {
    if (agent_) agent_->Stop();
    agent::AgentConfig c;
    if (!tls_dir.empty()) {  // mutual TLS: the agent's pair, and the CA its clients must have
      c.tls_cert = tls_dir + "/agent.crt";
      c.tls_key = tls_dir + "/agent.key";
      c.tls_client_ca = tls_dir + "/ca.crt";
    }
    if (kubelet != nullptr) {
      c.device_plugin_dir = kubelet->plugin_dir();
      c.pod_resources_socket = kubelet->pod_resources_socket();
      c.reconcile_every = absl::Milliseconds(100);
    }
    c.node_name = "n1";
    c.fake_preset = "dgx-a100";
    c.listen = absl::StrCat("127.0.0.1:", port);
    c.metrics_listen = "";
    c.heartbeat = absl::Milliseconds(100);
    c.log_level = "error";
    auto a = agent::AgentApp::Start(c);
    ASSERT_TRUE(a.ok()) << a.status();
    agent_ = std::move(*a);
    agent_port_ = agent_->grpc_port();
  }

  void StartExtender(std::map<std::string, std::string> agents, const std::string& tls_dir = "",
                     bool client_cert = true) {
    ExtenderConfig config;
    if (!tls_dir.empty()) {
      config.agents.ca_file = tls_dir + "/ca.crt";
      if (client_cert) {
        config.agents.cert_file = tls_dir + "/extender.crt";
        config.agents.key_file = tls_dir + "/extender.key";
      }
    }
    config.host = "127.0.0.1";
    config.port = 0;
    config.profile = "binpack";
    config.seed = 7;
    config.log_level = "error";
    config.agents.enabled = true;
    config.agents.static_agents = std::move(agents);
    config.agents.stale_after = absl::Milliseconds(600);
    http::ClientOptions to_api{.base_url = api_.base_url()};
    auto app = ExtenderApp::Start(config, &to_api);
    ASSERT_TRUE(app.ok()) << app.status();
    app_ = std::move(*app);
    auto client = http::Client::Create(
        http::ClientOptions{.base_url = absl::StrCat("http://127.0.0.1:", app_->port())});
    ASSERT_TRUE(client.ok());
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
    return r.ok() ? *r : http::Response{.status = 0};
  }

  // The nodes /filter lets the pod onto.
  std::vector<std::string> Feasible(const std::string& pod, std::string* why = nullptr) {
    std::optional<Json> p = api_.Get(FakeApiServer::kPods, "ml", pod);
    EXPECT_TRUE(p.has_value());
    if (!p) return {};
    const Json args = {{"Pod", *p}, {"Nodes", nullptr}, {"NodeNames", {"n1", "n2", "n3"}}};
    auto r = client_->Do("POST", "/filter", args.dump());
    EXPECT_TRUE(r.ok());
    if (!r.ok()) return {};
    const Json f = Json::parse(r->body);
    if (why != nullptr) *why = f["FailedNodes"].dump() + f["FailedAndUnresolvableNodes"].dump();
    return f["NodeNames"].is_null() ? std::vector<std::string>{} : f["NodeNames"].get<std::vector<std::string>>();
  }

  std::string Bind(const std::string& pod, const std::string& node) {
    std::optional<Json> p = api_.Get(FakeApiServer::kPods, "ml", pod);
    const Json bind = {{"PodName", pod}, {"PodNamespace", "ml"}, {"PodUID", (*p)["metadata"]["uid"]}, {"Node", node}};
    auto r = client_->Do("POST", "/bind", bind.dump());
    EXPECT_TRUE(r.ok());
    return r.ok() ? Json::parse(r->body)["Error"].get<std::string>() : "no answer";
  }

  double Metric(const std::string& text, const std::string& series) {
    for (size_t at = text.find(series); at != std::string::npos; at = text.find(series, at + 1)) {
      if (at > 0 && text[at - 1] != '\n') continue;
      const size_t sp = text.find(' ', at + series.size());
      if (text.compare(at, series.size(), series) != 0 || sp != at + series.size()) continue;
      return std::stod(text.substr(sp + 1, text.find('\n', sp) - sp - 1));
    }
    return -1;
  }

  FakeApiServer api_;
  std::unique_ptr<agent::AgentApp> agent_;
  int agent_port_ = 0;
  std::unique_ptr<ExtenderApp> app_;
  std::unique_ptr<http::Client> client_;
};

TEST_F(AgentE2eTest, ModelFollowsTheAgentThenGoesStaleAndRecovers) {
  StartExtender({{"n1", absl::StrCat("127.0.0.1:", agent_port_)}});
  api_.Apply(FakeApiServer::kPods, GpuPod("eight-a100", {{"nvidia.com/gpu", "8"}}, "NVIDIA-A100-SXM4-80GB"));
  // The Node object says 4 T4s; the agent's 8 A100s make the pod fit.
  WaitFor([&] { return Feasible("eight-a100") == std::vector<std::string>{"n1"}; },
          "n1's GPUs to come from its agent");

  const absl::Time killed = absl::Now();
  agent_->Stop();
  agent_.reset();
  std::string why;
  WaitFor([&] { return Feasible("eight-a100", &why).empty(); }, "n1 to go stale");
  EXPECT_LT(absl::Now() - killed, absl::Seconds(3)) << "staleAfter is 600ms";
  EXPECT_THAT(why, HasSubstr("n1"));
  const std::string metrics = Get("/metrics").body;
  EXPECT_GE(Metric(metrics, "gpusched_agent_stale_total"), 1) << metrics;
  EXPECT_EQ(Metric(metrics, "gpusched_agent_streams{state=\"stale\"}"), 1) << metrics;

  StartAgent(agent_port_);  // the DaemonSet restarts it on the same address
  WaitFor([&] { return Feasible("eight-a100") == std::vector<std::string>{"n1"}; }, "n1 to recover");
  EXPECT_EQ(Metric(Get("/metrics").body, "gpusched_agent_streams{state=\"fresh\"}"), 1);
}

TEST_F(AgentE2eTest, BindHandsTheReservationToTheAgent) {
  StartExtender({{"n1", absl::StrCat("127.0.0.1:", agent_port_)}});
  api_.Apply(FakeApiServer::kPods,
             GpuPod("quarter", {{"gpusched.io/gpu-milli", "250"}, {"gpusched.io/gpu-memory", "8Gi"}},
                    "NVIDIA-A100-SXM4-80GB"));
  WaitFor([&] { return Feasible("quarter") == std::vector<std::string>{"n1"}; }, "the agent's inventory");
  EXPECT_EQ(Bind("quarter", "n1"), "");
  const std::string m = agent_->MetricsText();
  EXPECT_EQ(Metric(m, "gpusched_agent_reservations{state=\"reserved\"}"), 1) << m;
  // The Binding was posted after the reservation, with the same devices on the annotation.
  std::optional<Json> pod = api_.Get(FakeApiServer::kPods, "ml", "quarter");
  ASSERT_TRUE(pod.has_value());
  EXPECT_EQ((*pod)["spec"]["nodeName"], "n1");
  const std::string assignment = (*pod)["metadata"]["annotations"]["gpusched.io/assignment"];
  EXPECT_THAT(assignment, HasSubstr("\"milli\":250"));
  EXPECT_THAT(assignment, HasSubstr("\"memoryMiB\":8192"));
}

TEST_F(AgentE2eTest, AnAgentThatRefusesFailsTheBindAndNothingStaysHeld) {
  StartExtender({{"n1", absl::StrCat("127.0.0.1:", agent_port_)}});
  // Someone else holds every GPU of n1 on the agent (the extender's model does not know).
  auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", agent_port_), grpc::InsecureChannelCredentials());
  auto stub = pb::NodeAgent::NewStub(channel);
  pb::ReserveRequest req;
  req.set_node_name("n1");
  req.set_pod_uid("out-of-band");
  for (int i = 0; i < 8; ++i) {
    pb::Share* s = req.add_shares();
    s->set_gpu(i);
    s->set_milli(1000);
    s->set_memory_mib(81920);
  }
  grpc::ClientContext ctx;
  pb::ReserveReply reply;
  ASSERT_TRUE(stub->Reserve(&ctx, req, &reply).ok());

  api_.Apply(FakeApiServer::kPods, GpuPod("one", {{"nvidia.com/gpu", "1"}}, "NVIDIA-A100-SXM4-80GB"));
  WaitFor([&] { return Feasible("one") == std::vector<std::string>{"n1"}; }, "the agent's inventory");
  EXPECT_THAT(Bind("one", "n1"), HasSubstr("node agent did not take the device reservation"));
  std::optional<Json> pod = api_.Get(FakeApiServer::kPods, "ml", "one");
  EXPECT_FALSE((*pod)["spec"].contains("nodeName")) << "no Binding without the reservation";
  // The model released the devices: after the out-of-band holder goes, the pod binds.
  grpc::ClientContext ctx2;
  pb::ReleaseRequest rel;
  rel.set_node_name("n1");
  rel.set_pod_uid("out-of-band");
  pb::ReleaseReply rr;
  ASSERT_TRUE(stub->Release(&ctx2, rel, &rr).ok());
  EXPECT_EQ(Bind("one", "n1"), "");
}

// The kubelet admits two pods of one shape in the other order than they were bound: each gets
// the devices reserved for the other. The agent learns who really holds what from PodResources,
// and the extender's model and the pods' annotations follow; no GPU is ever over capacity.
TEST_F(AgentE2eTest, KubeletAdmitsInAnotherOrderAndTheModelFollows) {
  testing::FakeKubelet kubelet;
  ASSERT_TRUE(kubelet.Start().ok());
  StartAgent(0, &kubelet);
  ASSERT_TRUE(kubelet.WaitForDevices("gpusched.io/gpu-milli", 8000, absl::Seconds(10)));
  StartExtender({{"n1", absl::StrCat("127.0.0.1:", agent_port_)}});

  const std::vector<std::string> names = {"a", "b", "c"};
  for (const std::string& n : names) {
    api_.Apply(FakeApiServer::kPods,
               GpuPod(n, {{"gpusched.io/gpu-milli", "600"}, {"gpusched.io/gpu-memory", "8Gi"}},
                      "NVIDIA-A100-SXM4-80GB"));
  }
  WaitFor([&] { return Feasible("a") == std::vector<std::string>{"n1"}; }, "the agent's inventory");
  auto gpu_of = [&](const std::string& pod) {
    std::optional<Json> p = api_.Get(FakeApiServer::kPods, "ml", pod);
    const Json a = Json::parse((*p)["metadata"]["annotations"]["gpusched.io/assignment"].get<std::string>());
    return a["gpus"][0]["index"].get<int>();
  };
  std::map<std::string, int> bound;
  for (const std::string& n : names) {
    ASSERT_EQ(Bind(n, "n1"), "") << n;
    bound[n] = gpu_of(n);
  }
  // 600m each: three different GPUs.
  ASSERT_EQ(std::set<int>({bound["a"], bound["b"], bound["c"]}).size(), 3u);

  // Admission order c, b, a: the plugin steers each to the oldest pending reservation of its
  // shape (a's, then b's, then c's), so c and a swap and b keeps its own.
  std::map<std::string, int> admitted;
  for (const std::string& n : {"c", "b", "a"}) {
    absl::StatusOr<testing::AdmitResult> r = kubelet.Admit("ml", n, "gpusched.io/gpu-milli", 600);
    ASSERT_TRUE(r.ok()) << n << ": " << r.status();
    const std::string uuid = r->envs["NVIDIA_VISIBLE_DEVICES"];
    ASSERT_EQ(uuid.rfind("GPU-fake-n1-", 0), 0u) << uuid;
    admitted[n] = std::stoi(uuid.substr(std::string("GPU-fake-n1-").size()));
  }
  EXPECT_EQ(admitted["c"], bound["a"]);
  EXPECT_EQ(admitted["a"], bound["c"]);
  EXPECT_EQ(admitted["b"], bound["b"]);
  // Never over capacity: three 600m pods, three GPUs.
  EXPECT_EQ(std::set<int>({admitted["a"], admitted["b"], admitted["c"]}).size(), 3u);

  // The model and the annotations follow the kubelet.
  WaitFor([&] { return gpu_of("a") == admitted["a"] && gpu_of("c") == admitted["c"]; },
          "the annotations to name the devices the kubelet gave");
  EXPECT_EQ(gpu_of("b"), admitted["b"]);
  EXPECT_EQ(Metric(Get("/metrics").body, "gpusched_agent_remapped_pods_total"), 2);
  // And the model agrees: a fourth 600m pod goes to a GPU none of them holds.
  api_.Apply(FakeApiServer::kPods,
             GpuPod("d", {{"gpusched.io/gpu-milli", "600"}, {"gpusched.io/gpu-memory", "8Gi"}},
                    "NVIDIA-A100-SXM4-80GB"));
  ASSERT_EQ(Bind("d", "n1"), "");
  EXPECT_EQ(std::set<int>({admitted["a"], admitted["b"], admitted["c"], gpu_of("d")}).size(), 4u);
  agent_->Stop();
  agent_.reset();
}

// agents.tls: the extender verifies the agent against a CA and presents its own certificate;
// an extender without one is refused by an agent that requires it, and the node never turns
// fresh.
TEST_F(AgentE2eTest, MutualTlsBetweenExtenderAndAgent) {
  char tmpl[] = "/tmp/gpusched_agent_tls_XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  const testing::Pem ca = testing::MakeCa();
  const testing::Pem agent_pair = testing::MakeCert(ca, "gpusched-agent");
  const testing::Pem extender_pair = testing::MakeCert(ca, "gpusched-extender");
  ASSERT_FALSE(ca.cert.empty() || agent_pair.cert.empty() || extender_pair.cert.empty());
  ASSERT_TRUE(testing::WriteFile(dir + "/ca.crt", ca.cert));
  ASSERT_TRUE(testing::WriteFile(dir + "/agent.crt", agent_pair.cert));
  ASSERT_TRUE(testing::WriteFile(dir + "/agent.key", agent_pair.key));
  ASSERT_TRUE(testing::WriteFile(dir + "/extender.crt", extender_pair.cert));
  ASSERT_TRUE(testing::WriteFile(dir + "/extender.key", extender_pair.key));
  StartAgent(0, nullptr, dir);
  api_.Apply(FakeApiServer::kPods, GpuPod("eight-a100", {{"nvidia.com/gpu", "8"}}, "NVIDIA-A100-SXM4-80GB"));

  // Without a client certificate: refused, stays away from the agent's GPUs.
  StartExtender({{"n1", absl::StrCat("127.0.0.1:", agent_port_)}}, dir, /*client_cert=*/false);
  absl::SleepFor(absl::Seconds(1));
  EXPECT_TRUE(Feasible("eight-a100").empty()) << "an extender without a client certificate got the agent's state";
  EXPECT_EQ(Metric(Get("/metrics").body, "gpusched_agent_streams{state=\"fresh\"}"), 0);
  app_->Stop();

  StartExtender({{"n1", absl::StrCat("127.0.0.1:", agent_port_)}}, dir);
  WaitFor([&] { return Feasible("eight-a100") == std::vector<std::string>{"n1"}; },
          "the agent's state over mutual TLS");
  std::filesystem::remove_all(dir);
}

TEST_F(AgentE2eTest, BadMessagesAreRejectedAndTheStreamGoesOn) {
  pb::NodeState invalid = A10State(2, 2);
  invalid.mutable_gpus(0)->set_memory_mib(0);
  pb::NodeState wrong_node = A10State(3, 2, "n2");
  ScriptedAgent rogue({A10State(1, 2), invalid, A10State(1, 4) /* replayed sequence */, wrong_node,
                       A10State(4, 2)});
  grpc::ServerBuilder b;
  int port = 0;
  b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  b.RegisterService(&rogue);
  std::unique_ptr<grpc::Server> server = b.BuildAndStart();
  ASSERT_NE(port, 0);
  StartExtender({{"n1", absl::StrCat("127.0.0.1:", agent_port_)}, {"n3", absl::StrCat("127.0.0.1:", port)}});

  api_.Apply(FakeApiServer::kPods, GpuPod("two-a10", {{"nvidia.com/gpu", "2"}}, "NVIDIA-A10"));
  api_.Apply(FakeApiServer::kPods, GpuPod("four-a10", {{"nvidia.com/gpu", "4"}}, "NVIDIA-A10"));
  std::string metrics;
  WaitFor([&] {
    metrics = Get("/metrics").body;
    return Metric(metrics, "gpusched_agent_messages_total{result=\"wrong_node\"}") >= 1;
  }, "the scripted messages");
  EXPECT_EQ(Metric(metrics, "gpusched_agent_messages_total{result=\"invalid\"}"), 1) << metrics;
  EXPECT_EQ(Metric(metrics, "gpusched_agent_messages_total{result=\"out_of_order\"}"), 1) << metrics;
  // The two valid messages made it (2 A10s; the Node object says 1); the replayed 4-GPU one did not.
  WaitFor([&] { return Feasible("two-a10") == std::vector<std::string>{"n3"}; }, "n3's 2 A10s");
  EXPECT_TRUE(Feasible("four-a10").empty());
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(100));
}

}  // namespace
}  // namespace gpusched::extender
