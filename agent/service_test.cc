#include "agent/service.h"

#include <stdlib.h>

#include <atomic>
#include <fstream>
#include <functional>
#include <thread>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/synchronization/mutex.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "agent/app.h"
#include "agent/handoff/reservations.h"
#include "agent/inventory.h"
#include "agent/node_state.h"
#include "agent/proto/agent.grpc.pb.h"
#include "common/http/http.h"
#include "common/sim_clock.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "test/fakes/tls_certs.h"

namespace gpusched::agent {
namespace {

using ::testing::HasSubstr;

// The agent's allocations as the app publishes them (app.cc PublishAllocations).
std::vector<pb::Allocation> ToProto(const std::vector<AllocationView>& views) {
  std::vector<pb::Allocation> out;
  for (const AllocationView& v : views) {
    pb::Allocation a;
    a.set_pod_uid(v.reservation.pod_uid);
    a.set_pod_namespace(v.reservation.pod_namespace);
    a.set_pod_name(v.reservation.pod_name);
    a.set_state(v.state == AllocState::kReserved    ? pb::Allocation::RESERVED
                : v.state == AllocState::kAllocated ? pb::Allocation::ALLOCATED
                                                    : pb::Allocation::CONFIRMED);
    for (const ShareSpec& s : v.reservation.shares) {
      pb::Share* p = a.add_shares();
      p->set_gpu(s.gpu);
      p->set_milli(s.milli);
      p->set_memory_mib(s.memory_mib);
    }
    out.push_back(std::move(a));
  }
  return out;
}

pb::ReserveRequest Request(const std::string& uid, std::vector<std::vector<int64_t>> shares,
                           const std::string& node = "n1") {
  pb::ReserveRequest r;
  r.set_node_name(node);
  r.set_pod_uid(uid);
  r.set_pod_namespace("ml");
  r.set_pod_name("pod-" + uid);
  for (const std::vector<int64_t>& s : shares) {
    pb::Share* p = r.add_shares();
    p->set_gpu(static_cast<int32_t>(s[0]));
    p->set_milli(static_cast<int32_t>(s[1]));
    p->set_memory_mib(s[2]);
  }
  return r;
}

const pb::Allocation* FindAllocation(const pb::NodeState& s, const std::string& uid) {
  for (const pb::Allocation& a : s.allocations()) {
    if (a.pod_uid() == uid) return &a;
  }
  return nullptr;
}

// One Watch stream, read on the calling thread (every Read is bounded by the call's deadline).
class WatchStream {
 public:
  WatchStream(pb::NodeAgent::Stub& stub, const std::string& node_name = "",
              absl::Duration deadline = absl::Seconds(20)) {
    ctx_.set_deadline(absl::ToChronoTime(absl::Now() + deadline));
    pb::WatchRequest req;
    req.set_subscriber("service_test");
    req.set_node_name(node_name);
    reader_ = stub.Watch(&ctx_, req);
  }
  ~WatchStream() {
    if (finished_) return;
    ctx_.TryCancel();
    pb::NodeState ignored;
    while (reader_->Read(&ignored)) {
    }
    reader_->Finish().ok();
  }

  std::optional<pb::NodeState> Next() {
    pb::NodeState s;
    if (!reader_->Read(&s)) return std::nullopt;
    return s;
  }
  // Reads until a message satisfies `pred` (nullopt when the stream ends first).
  std::optional<pb::NodeState> NextUntil(const std::function<bool(const pb::NodeState&)>& pred) {
    while (std::optional<pb::NodeState> s = Next()) {
      if (pred(*s)) return s;
    }
    return std::nullopt;
  }
  // Once the stream ended (Next gave nullopt).
  grpc::Status Finish() {
    finished_ = true;
    return reader_->Finish();
  }

 private:
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReader<pb::NodeState>> reader_;
  bool finished_ = false;
};

class ServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<Inventory> inv = FakeInventory("n1", "dgx-a100");
    ASSERT_TRUE(inv.ok()) << inv.status();
    inventory_ = *std::move(inv);
    state_ = std::make_unique<AgentState>("n1", inventory_, "inc-1", clock_, absl::Seconds(5));
    std::vector<GpuRef> refs;
    for (const GpuInventory& g : inventory_.gpus) refs.push_back(GpuRef{g.index, g.uuid, g.memory_mib, true});
    // As app.cc wires it: every change of the book becomes the stream's allocations.
    book_ = std::make_unique<ReservationBook>(
        refs, clock_,
        ReservationBookOptions{.on_change =
                                   [this] {
                                     absl::MutexLock l(&publish_mu_);
                                     state_->SetAllocations(ToProto(book_->Snapshot()));
                                   },
                               .node_name = "n1"});
    service_ = std::make_unique<NodeAgentService>(*state_, *book_);
  }

  void TearDown() override {
    if (state_) state_->Shutdown();
    if (server_) server_->Stop();
  }

  void StartServer(AgentServerOptions o = {}) {
    o.address = "127.0.0.1:0";
    absl::StatusOr<std::unique_ptr<AgentServer>> s = AgentServer::Start(o, service_.get());
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = *std::move(s);
    ASSERT_GT(server_->port(), 0);
  }

  std::unique_ptr<pb::NodeAgent::Stub> InsecureStub() {
    return pb::NodeAgent::NewStub(grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->port()),
                                                      grpc::InsecureChannelCredentials()));
  }

  static grpc::Status Reserve(pb::NodeAgent::Stub& stub, const pb::ReserveRequest& r,
                              pb::ReserveReply* reply = nullptr) {
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    pb::ReserveReply ignored;
    return stub.Reserve(&ctx, r, reply != nullptr ? reply : &ignored);
  }

  static grpc::Status Release(pb::NodeAgent::Stub& stub, const std::string& uid,
                              const std::string& node = "n1") {
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    pb::ReleaseRequest r;
    r.set_node_name(node);
    r.set_pod_uid(uid);
    pb::ReleaseReply reply;
    return stub.Release(&ctx, r, &reply);
  }

  static pb::Probe Probe(double headroom) {
    pb::Probe p;
    p.set_headroom(headroom);
    p.set_available_sm_fraction(headroom);
    return p;
  }

  SimClock clock_{absl::FromUnixSeconds(1700000000)};
  Inventory inventory_;
  std::unique_ptr<AgentState> state_;
  absl::Mutex publish_mu_;
  std::unique_ptr<ReservationBook> book_;
  std::unique_ptr<NodeAgentService> service_;
  std::unique_ptr<AgentServer> server_;
};

TEST_F(ServiceTest, WatchSendsTheCurrentStateThenEveryChange) {
  StartServer();
  auto stub = InsecureStub();
  state_->SetProbe(0, Probe(0.9));  // sequence 2 before anyone watches
  WatchStream watch(*stub, "n1");
  std::optional<pb::NodeState> first = watch.Next();
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->node_name(), "n1");
  EXPECT_EQ(first->sequence(), 2u);
  EXPECT_EQ(first->gpus_size(), 8);
  EXPECT_DOUBLE_EQ(first->gpus(0).probe().headroom(), 0.9);
  EXPECT_TRUE(ValidateNodeState(*first).ok());

  state_->SetProbe(3, Probe(0.25));
  std::optional<pb::NodeState> second = watch.Next();
  ASSERT_TRUE(second.has_value());
  EXPECT_GT(second->sequence(), first->sequence());
  EXPECT_DOUBLE_EQ(second->gpus(3).probe().headroom(), 0.25);

  state_->Heartbeat();
  std::optional<pb::NodeState> third = watch.Next();
  ASSERT_TRUE(third.has_value());
  EXPECT_GT(third->sequence(), second->sequence());
  EXPECT_EQ(service_->watchers(), 1);

  // The wiring goes once per stream: the first message carries it, the others say unchanged.
  EXPECT_TRUE(first->has_topology());
  EXPECT_FALSE(first->topology_unchanged());
  for (const pb::NodeState* m : {&*second, &*third}) {
    EXPECT_FALSE(m->has_topology());
    EXPECT_TRUE(m->topology_unchanged());
    EXPECT_TRUE(ValidateNodeState(*m).ok());
  }
  // A new stream starts with the topology again.
  WatchStream again(*stub, "n1");
  std::optional<pb::NodeState> restart = again.Next();
  ASSERT_TRUE(restart.has_value());
  EXPECT_TRUE(restart->has_topology());
  EXPECT_FALSE(restart->topology_unchanged());
}

TEST_F(ServiceTest, WatchOfAnotherNodeIsRefused) {
  StartServer();
  auto stub = InsecureStub();
  WatchStream watch(*stub, "n2");
  EXPECT_FALSE(watch.Next().has_value());
  grpc::Status st = watch.Finish();
  EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(st.error_message(), HasSubstr("n1"));
  EXPECT_THAT(st.error_message(), HasSubstr("n2"));
}

TEST_F(ServiceTest, WatchWithoutANodeNameIsServed) {
  StartServer();
  auto stub = InsecureStub();
  WatchStream watch(*stub);
  std::optional<pb::NodeState> first = watch.Next();
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->node_name(), "n1");
}

TEST_F(ServiceTest, ReserveShowsInTheStream) {
  StartServer();
  auto stub = InsecureStub();
  WatchStream watch(*stub, "n1");
  std::optional<pb::NodeState> first = watch.Next();
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->allocations_size(), 0);

  pb::ReserveReply reply;
  grpc::Status st = Reserve(*stub, Request("uid-a", {{1, 250, 8192}, {2, 1000, 0}}), &reply);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_GT(reply.sequence(), first->sequence());
  EXPECT_EQ(service_->reserves_ok(), 1u);

  // The message of the reply's sequence is the first to show it.
  std::optional<pb::NodeState> s =
      watch.NextUntil([&](const pb::NodeState& m) { return m.sequence() >= reply.sequence(); });
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->sequence(), reply.sequence());
  const pb::Allocation* a = FindAllocation(*s, "uid-a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->state(), pb::Allocation::RESERVED);
  EXPECT_EQ(a->pod_namespace(), "ml");
  EXPECT_EQ(a->pod_name(), "pod-uid-a");
  ASSERT_EQ(a->shares_size(), 2);
  EXPECT_EQ(a->shares(0).gpu(), 1);
  EXPECT_EQ(a->shares(0).milli(), 250);
  EXPECT_EQ(a->shares(0).memory_mib(), 8192);
  EXPECT_EQ(a->shares(1).gpu(), 2);
  EXPECT_TRUE(ValidateNodeState(*s).ok()) << ValidateNodeState(*s);

  // Idempotent: the same reservation again is OK and changes nothing.
  const uint64_t seq = state_->sequence();
  pb::ReserveReply again;
  st = Reserve(*stub, Request("uid-a", {{1, 250, 8192}, {2, 1000, 0}}), &again);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(state_->sequence(), seq);
  EXPECT_EQ(again.sequence(), seq);
}

TEST_F(ServiceTest, ReserveForAnotherNodeIsRefused) {
  StartServer();
  auto stub = InsecureStub();
  grpc::Status st = Reserve(*stub, Request("uid-a", {{1, 250, 0}}, "n2"));
  EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(st.error_message(), HasSubstr("n2"));
  EXPECT_TRUE(book_->Snapshot().empty());
  EXPECT_EQ(service_->reserves_refused(), 1u);
}

TEST_F(ServiceTest, MalformedReservationsAreRefusedNamingTheFieldAndTheStreamGoesOn) {
  StartServer();
  auto stub = InsecureStub();
  WatchStream watch(*stub, "n1");
  ASSERT_TRUE(watch.Next().has_value());

  struct Case {
    std::string name;
    pb::ReserveRequest request;
    std::vector<grpc::StatusCode> codes;
    std::string field;
  };
  pb::ReserveRequest no_uid = Request("", {{0, 100, 0}});
  const std::vector<Case> cases = {
      {"milli 2000", Request("uid-x", {{0, 2000, 0}}), {grpc::StatusCode::INVALID_ARGUMENT}, "shares[0].milli"},
      {"empty uid", no_uid, {grpc::StatusCode::INVALID_ARGUMENT}, "pod_uid"},
      {"GPU 99", Request("uid-x", {{99, 100, 0}}),
       {grpc::StatusCode::INVALID_ARGUMENT, grpc::StatusCode::FAILED_PRECONDITION}, "shares[0].gpu"},
      {"GPU 8 of 8", Request("uid-x", {{0, 100, 0}, {8, 100, 0}}),
       {grpc::StatusCode::INVALID_ARGUMENT, grpc::StatusCode::FAILED_PRECONDITION}, "shares[1].gpu"},
      {"neither milli nor memory", Request("uid-x", {{0, 0, 0}}),
       {grpc::StatusCode::INVALID_ARGUMENT}, "shares[0]"},
      {"GPU twice", Request("uid-x", {{0, 100, 0}, {0, 100, 0}}),
       {grpc::StatusCode::INVALID_ARGUMENT}, "shares[1].gpu"},
      {"no shares", Request("uid-x", {}), {grpc::StatusCode::INVALID_ARGUMENT}, "shares"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    grpc::Status st = Reserve(*stub, c.request);
    EXPECT_THAT(c.codes, ::testing::Contains(st.error_code())) << st.error_code() << " " << st.error_message();
    EXPECT_THAT(st.error_message(), HasSubstr(c.field));
  }
  EXPECT_TRUE(book_->Snapshot().empty());
  EXPECT_EQ(service_->reserves_refused(), cases.size());

  // The stream still delivers.
  state_->SetProbe(5, Probe(0.5));
  std::optional<pb::NodeState> s =
      watch.NextUntil([](const pb::NodeState& m) { return m.gpus(5).has_probe(); });
  ASSERT_TRUE(s.has_value());
  EXPECT_DOUBLE_EQ(s->gpus(5).probe().headroom(), 0.5);
  EXPECT_EQ(s->allocations_size(), 0);
}

TEST_F(ServiceTest, OverCapacityIsRefusedNamingTheGpu) {
  StartServer();
  auto stub = InsecureStub();
  ASSERT_TRUE(Reserve(*stub, Request("uid-a", {{4, 600, 40000}})).ok());
  grpc::Status st = Reserve(*stub, Request("uid-b", {{3, 100, 0}, {4, 500, 0}}));
  EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(st.error_message(), HasSubstr("GPU 4"));
  st = Reserve(*stub, Request("uid-c", {{4, 100, 50000}}));  // memory: 41920 MiB left
  EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(st.error_message(), HasSubstr("GPU 4"));
  // Nothing of the refused ones was kept; what fits still does.
  ASSERT_EQ(book_->Snapshot().size(), 1u);
  EXPECT_TRUE(Reserve(*stub, Request("uid-d", {{4, 400, 41920}})).ok());

  // An unhealthy GPU takes nothing.
  std::vector<GpuRef> gpus = book_->Gpus();
  gpus[6].healthy = false;
  book_->SetGpus(gpus);
  st = Reserve(*stub, Request("uid-e", {{6, 100, 0}}));
  EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(st.error_message(), HasSubstr("GPU 6"));
}

TEST_F(ServiceTest, ReleaseIsIdempotent) {
  StartServer();
  auto stub = InsecureStub();
  WatchStream watch(*stub, "n1");
  ASSERT_TRUE(Reserve(*stub, Request("uid-a", {{0, 500, 0}})).ok());
  ASSERT_TRUE(watch.NextUntil([](const pb::NodeState& m) { return FindAllocation(m, "uid-a") != nullptr; }));

  grpc::Status st = Release(*stub, "uid-a");
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_TRUE(book_->Snapshot().empty());
  ASSERT_TRUE(watch.NextUntil([](const pb::NodeState& m) { return m.allocations_size() == 0; }));
  st = Release(*stub, "uid-a");
  EXPECT_TRUE(st.ok()) << st.error_message();
  st = Release(*stub, "never-reserved");
  EXPECT_TRUE(st.ok()) << st.error_message();

  st = Release(*stub, "");
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(st.error_message(), HasSubstr("pod_uid"));

  // Released capacity is free again.
  EXPECT_TRUE(Reserve(*stub, Request("uid-b", {{0, 1000, 0}})).ok());

  // A release for another node leaves this node's reservation alone.
  st = Release(*stub, "uid-b", "n2");
  EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(st.error_message(), HasSubstr("n2"));
  EXPECT_EQ(book_->Snapshot().size(), 1u);
  // Without a node name, any agent takes it.
  st = Release(*stub, "uid-b", "");
  EXPECT_TRUE(st.ok()) << st.error_message();
  EXPECT_TRUE(book_->Snapshot().empty());
}

TEST_F(ServiceTest, StoppingTheServerEndsOpenStreams) {
  StartServer();
  auto stub = InsecureStub();
  WatchStream watch(*stub, "n1");
  ASSERT_TRUE(watch.Next().has_value());
  const absl::Time start = absl::Now();
  state_->Shutdown();
  server_->Stop();
  EXPECT_FALSE(watch.Next().has_value());
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  EXPECT_EQ(service_->watchers(), 0);
}

TEST_F(ServiceTest, StartRefusesHalfATlsConfiguration) {
  absl::StatusOr<std::unique_ptr<AgentServer>> s =
      AgentServer::Start(AgentServerOptions{.address = "127.0.0.1:0", .cert_file = "/x.crt"}, service_.get());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  s = AgentServer::Start(
      AgentServerOptions{.address = "127.0.0.1:0", .cert_file = "/nonexistent.crt", .key_file = "/nonexistent.key"},
      service_.get());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("/nonexistent.crt"));
}

// TLS -------------------------------------------------------------------------------------------

class TlsTest : public ServiceTest {
 protected:
  void SetUp() override {
    ServiceTest::SetUp();
    std::string tmpl = ::testing::TempDir() + "agent_tls_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    ca_ = testing::MakeCa("agent test CA");
    ASSERT_FALSE(ca_.cert.empty());
    testing::Pem server = testing::MakeCert(ca_, "gpusched-agent", "IP:127.0.0.1,DNS:localhost");
    client_ = testing::MakeCert(ca_, "gpusched-extender", "DNS:extender");
    other_ca_ = testing::MakeCa("another CA");
    stranger_ = testing::MakeCert(other_ca_, "stranger", "DNS:stranger");
    ASSERT_FALSE(server.cert.empty());
    ASSERT_FALSE(client_.cert.empty());
    ASSERT_FALSE(stranger_.cert.empty());
    ASSERT_TRUE(testing::WriteFile(dir_ + "/ca.crt", ca_.cert));
    ASSERT_TRUE(testing::WriteFile(dir_ + "/tls.crt", server.cert));
    ASSERT_TRUE(testing::WriteFile(dir_ + "/tls.key", server.key));
  }
  void TearDown() override {
    ServiceTest::TearDown();
    for (const char* f : {"/ca.crt", "/tls.crt", "/tls.key"}) std::remove((dir_ + f).c_str());
    rmdir(dir_.c_str());
  }

  std::unique_ptr<pb::NodeAgent::Stub> TlsStub(const testing::Pem* client_cert) {
    grpc::SslCredentialsOptions o;
    o.pem_root_certs = ca_.cert;
    if (client_cert != nullptr) {
      o.pem_cert_chain = client_cert->cert;
      o.pem_private_key = client_cert->key;
    }
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride("localhost");
    return pb::NodeAgent::NewStub(grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", server_->port()),
                                                            grpc::SslCredentials(o), args));
  }

  // A Watch's first message, or the call's error.
  static grpc::Status FirstMessage(pb::NodeAgent::Stub& stub, pb::NodeState* out) {
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    pb::WatchRequest req;
    req.set_node_name("n1");
    std::unique_ptr<grpc::ClientReader<pb::NodeState>> reader = stub.Watch(&ctx, req);
    if (reader->Read(out)) {
      ctx.TryCancel();
      while (reader->Read(out)) {
      }
      reader->Finish().ok();
      return grpc::Status::OK;
    }
    grpc::Status st = reader->Finish();
    return st.ok() ? grpc::Status(grpc::StatusCode::UNKNOWN, "stream ended without a message") : st;
  }

  std::string dir_;
  testing::Pem ca_, client_, other_ca_, stranger_;
};

TEST_F(TlsTest, ServerTls) {
  StartServer({.cert_file = dir_ + "/tls.crt", .key_file = dir_ + "/tls.key"});
  auto stub = TlsStub(nullptr);
  pb::NodeState s;
  grpc::Status st = FirstMessage(*stub, &s);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(s.node_name(), "n1");
  EXPECT_TRUE(Reserve(*stub, Request("uid-a", {{0, 100, 0}})).ok());

  // A plaintext client gets nowhere.
  auto plain = InsecureStub();
  st = Reserve(*plain, Request("uid-b", {{0, 100, 0}}));
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(book_->Snapshot().size(), 1u);
}

TEST_F(TlsTest, MutualTlsRefusesAClientWithoutACertificate) {
  StartServer({.cert_file = dir_ + "/tls.crt", .key_file = dir_ + "/tls.key", .client_ca_file = dir_ + "/ca.crt"});

  auto anonymous = TlsStub(nullptr);
  pb::NodeState s;
  grpc::Status st = FirstMessage(*anonymous, &s);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE) << st.error_message();
  st = Reserve(*anonymous, Request("uid-a", {{0, 100, 0}}));
  EXPECT_FALSE(st.ok());

  // A certificate of another CA is refused too.
  auto stranger = TlsStub(&stranger_);
  st = Reserve(*stranger, Request("uid-a", {{0, 100, 0}}));
  EXPECT_FALSE(st.ok());
  EXPECT_TRUE(book_->Snapshot().empty());

  auto extender = TlsStub(&client_);
  st = FirstMessage(*extender, &s);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(s.node_name(), "n1");
  st = Reserve(*extender, Request("uid-a", {{0, 100, 0}}));
  EXPECT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(book_->Snapshot().size(), 1u);
}

// The app ---------------------------------------------------------------------------------------

AgentConfig FakeConfig() {
  AgentConfig c;
  c.node_name = "n1";
  c.fake_preset = "hgx-h100";
  c.fake_load = {0, 0, 0, 0.5, 0, 0, 0, 0};
  c.listen = "127.0.0.1:0";
  c.metrics_listen = "127.0.0.1:0";
  c.log_level = "warn";
  return c;
}

// The sample line of `metric` for GPU `gpu` in a Prometheus text exposition, or "".
std::string MetricLine(const std::string& text, const std::string& metric, int gpu) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (absl::StartsWith(line, metric + "{") && absl::StrContains(line, absl::StrCat("gpu=\"", gpu, "\""))) {
      return std::string(line);
    }
  }
  return "";
}

TEST(AgentAppTest, ServesMetricsWithDcgmNames) {
  absl::StatusOr<std::unique_ptr<AgentApp>> app = AgentApp::Start(FakeConfig());
  ASSERT_TRUE(app.ok()) << app.status();
  ASSERT_GT((*app)->grpc_port(), 0);
  ASSERT_GT((*app)->metrics_port(), 0);
  absl::StatusOr<std::unique_ptr<http::Client>> client = http::Client::Create(
      http::ClientOptions{.base_url = absl::StrCat("http://127.0.0.1:", (*app)->metrics_port()),
                          .timeout = absl::Seconds(5)});
  ASSERT_TRUE(client.ok()) << client.status();

  // The first sample and the first probe round run at once on the agent's timer thread.
  std::string body;
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (absl::Now() < deadline) {
    absl::StatusOr<http::Response> r = (*client)->Do("GET", "/metrics");
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_EQ(r->status, 200);
    body = r->body;
    if (!MetricLine(body, "DCGM_FI_DEV_GPU_UTIL", 7).empty() &&
        !MetricLine(body, "gpusched_agent_probe_headroom", 7).empty()) {
      break;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  const std::string util = MetricLine(body, "DCGM_FI_DEV_GPU_UTIL", 3);
  ASSERT_FALSE(util.empty()) << body;
  EXPECT_THAT(util, HasSubstr("UUID=\"GPU-fake-n1-3\""));
  EXPECT_THAT(util, HasSubstr("pci_bus_id=\"0000:40:00.0\""));
  EXPECT_THAT(util, HasSubstr("modelName=\"NVIDIA-H100-80GB-HBM3\""));
  EXPECT_THAT(util, HasSubstr("Hostname=\"n1\""));
  EXPECT_TRUE(absl::EndsWith(util, " 50")) << util;  // 50 % taken by others
  EXPECT_TRUE(absl::EndsWith(MetricLine(body, "DCGM_FI_DEV_GPU_UTIL", 0), " 0"));
  for (const char* m : {"DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_FB_FREE", "DCGM_FI_DEV_GPU_TEMP",
                        "DCGM_FI_DEV_POWER_USAGE", "DCGM_FI_DEV_XID_ERRORS", "gpusched_agent_gpu_healthy"}) {
    EXPECT_FALSE(MetricLine(body, m, 5).empty()) << m;
  }
  const std::string headroom = MetricLine(body, "gpusched_agent_probe_headroom", 7);
  ASSERT_FALSE(headroom.empty()) << body;
  EXPECT_THAT(headroom, HasSubstr("UUID=\"GPU-fake-n1-7\""));
  EXPECT_THAT(body, HasSubstr("gpusched_agent_probe_overhead_ratio"));
  EXPECT_THAT(body, HasSubstr("gpusched_agent_state_sequence"));

  absl::StatusOr<http::Response> health = (*client)->Do("GET", "/healthz");
  ASSERT_TRUE(health.ok());
  EXPECT_EQ(health->status, 200);
  absl::StatusOr<http::Response> missing = (*client)->Do("GET", "/nope");
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(missing->status, 404);
  (*app)->Stop();
}

TEST(AgentAppTest, ServesTheNodeAgentProtocol) {
  AgentConfig c = FakeConfig();
  c.metrics_listen = "";
  absl::StatusOr<std::unique_ptr<AgentApp>> app = AgentApp::Start(c);
  ASSERT_TRUE(app.ok()) << app.status();
  EXPECT_EQ((*app)->metrics_port(), 0);
  auto stub = pb::NodeAgent::NewStub(grpc::CreateChannel(absl::StrCat("127.0.0.1:", (*app)->grpc_port()),
                                                         grpc::InsecureChannelCredentials()));
  WatchStream watch(*stub, "n1");
  std::optional<pb::NodeState> first = watch.Next();
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->gpus_size(), 8);
  EXPECT_EQ(first->discovery(), "fake:hgx-h100");
  EXPECT_TRUE(ValidateNodeState(*first).ok()) << ValidateNodeState(*first);

  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  pb::ReserveReply reply;
  grpc::Status st = stub->Reserve(&ctx, Request("uid-a", {{2, 500, 1024}}), &reply);
  ASSERT_TRUE(st.ok()) << st.error_message();
  std::optional<pb::NodeState> s =
      watch.NextUntil([](const pb::NodeState& m) { return FindAllocation(m, "uid-a") != nullptr; });
  ASSERT_TRUE(s.has_value());
  EXPECT_GE(s->sequence(), reply.sequence());

  (*app)->SetGpuHealth(4, false, "XID 79");
  s = watch.NextUntil([](const pb::NodeState& m) { return !m.gpus(4).healthy(); });
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->gpus(4).health_reason(), "XID 79");
  grpc::ClientContext ctx2;
  ctx2.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  st = stub->Reserve(&ctx2, Request("uid-b", {{4, 100, 0}}), &reply);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT((*app)->MetricsText(), HasSubstr("gpusched_agent_reservations{state=\"reserved\"} 1"));
  (*app)->Stop();
}

TEST(AgentAppTest, SetFakeLoad) {
  AgentConfig c = FakeConfig();
  c.metrics_listen = "";
  c.probes = false;
  absl::StatusOr<std::unique_ptr<AgentApp>> app = AgentApp::Start(c);
  ASSERT_TRUE(app.ok()) << app.status();
  EXPECT_TRUE((*app)->SetFakeLoad(0, 0.5).ok());
  EXPECT_EQ((*app)->SetFakeLoad(8, 0.5).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*app)->SetFakeLoad(-1, 0.5).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*app)->SetFakeLoad(0, 1.5).code(), absl::StatusCode::kInvalidArgument);
  (*app)->Stop();
}

TEST(AgentAppTest, StartRefusesAnUnknownPreset) {
  AgentConfig c = FakeConfig();
  c.fake_preset = "dgx-z900";
  c.fake_load.clear();
  absl::StatusOr<std::unique_ptr<AgentApp>> app = AgentApp::Start(c);
  EXPECT_EQ(app.status().code(), absl::StatusCode::kNotFound);
  // Loads for a preset of another size.
  c = FakeConfig();
  c.fake_load = {0.1, 0.2};
  app = AgentApp::Start(c);
  EXPECT_EQ(app.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(AgentAppTest, ValidateAgentConfig) {
  EXPECT_TRUE(ValidateAgentConfig(FakeConfig()).ok()) << ValidateAgentConfig(FakeConfig());
  struct Case {
    std::string name;
    std::function<void(AgentConfig&)> mutate;
    std::string what;
  };
  const std::vector<Case> cases = {
      {"no node name", [](AgentConfig& c) { c.node_name.clear(); }, "node name"},
      {"long node name", [](AgentConfig& c) { c.node_name = std::string(254, 'n'); }, "node name"},
      {"load 1.0", [](AgentConfig& c) { c.fake_load = {1.0}; }, "fake load"},
      {"negative load", [](AgentConfig& c) { c.fake_load = {-0.1}; }, "fake load"},
      {"load without preset", [](AgentConfig& c) { c.fake_preset.clear(); }, "fake load"},
      {"heartbeat 1ms", [](AgentConfig& c) { c.heartbeat = absl::Milliseconds(1); }, "heartbeat"},
      {"heartbeat 1h", [](AgentConfig& c) { c.heartbeat = absl::Hours(1); }, "heartbeat"},
      {"sample 10ms", [](AgentConfig& c) { c.sample_every = absl::Milliseconds(10); }, "sample"},
      {"cert without key", [](AgentConfig& c) { c.tls_cert = "/tls.crt"; }, "TLS"},
      {"key without cert", [](AgentConfig& c) { c.tls_key = "/tls.key"; }, "TLS"},
      {"client CA without cert", [](AgentConfig& c) { c.tls_client_ca = "/ca.crt"; }, "TLS client CA"},
      {"probe duty cycle", [](AgentConfig& c) { c.probe.duty_cycle = 0.5; }, "duty cycle"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    AgentConfig config = FakeConfig();
    c.mutate(config);
    absl::Status s = ValidateAgentConfig(config);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(s.message()), HasSubstr(c.what)) << s;
    // Start validates too.
    EXPECT_FALSE(AgentApp::Start(config).ok());
  }
}


// Reserve and Release from several threads at once: the stream must end up showing the book as
// it is, not the snapshot of a change that another thread published over a newer one.
TEST(AgentAppTest, ConcurrentReservationsPublishTheLatestBook) {
  AgentConfig c = FakeConfig();
  c.metrics_listen = "";
  c.probes = false;
  absl::StatusOr<std::unique_ptr<AgentApp>> app = AgentApp::Start(c);
  ASSERT_TRUE(app.ok()) << app.status();
  auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", (*app)->grpc_port()),
                                     grpc::InsecureChannelCredentials());
  constexpr int kThreads = 4, kEach = 40;
  std::vector<std::thread> threads;
  std::atomic<int> failed{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto stub = pb::NodeAgent::NewStub(channel);
      for (int i = 0; i < kEach; ++i) {
        const std::string uid = absl::StrCat("uid-", t, "-", i);
        grpc::ClientContext rc;
        pb::ReserveReply reply;
        if (!stub->Reserve(&rc, Request(uid, {{t, 10, 0}}), &reply).ok()) failed.fetch_add(1);
        grpc::ClientContext lc;
        pb::ReleaseRequest rel;
        rel.set_node_name("n1");
        rel.set_pod_uid(uid);
        pb::ReleaseReply ignored;
        if (!stub->Release(&lc, rel, &ignored).ok()) failed.fetch_add(1);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failed.load(), 0);
  auto stub = pb::NodeAgent::NewStub(channel);
  WatchStream watch(*stub, "n1");
  std::optional<pb::NodeState> now = watch.Next();
  ASSERT_TRUE(now.has_value());
  EXPECT_EQ(now->allocations_size(), 0) << now->DebugString().substr(0, 2000);
  (*app)->Stop();
}

// Starting and stopping at once, while the first probe round and NVML sample run on the timer
// thread, must not touch a destroyed agent.
TEST(AgentAppTest, StopRightAfterStart) {
  for (int i = 0; i < 20; ++i) {
    AgentConfig c = FakeConfig();
    c.metrics_listen = "";
    absl::StatusOr<std::unique_ptr<AgentApp>> app = AgentApp::Start(c);
    ASSERT_TRUE(app.ok()) << app.status();
  }
}


// The metrics address is HOST:PORT with the port after the last colon, so IPv6 hosts work.
TEST(AgentAppTest, MetricsOnIpv6) {
  AgentConfig c = FakeConfig();
  c.probes = false;
  c.metrics_listen = "[::1]:0";
  if (std::ifstream("/proc/net/if_inet6").peek() == std::char_traits<char>::eof()) {
    GTEST_SKIP() << "no IPv6 here";
  }
  absl::StatusOr<std::unique_ptr<AgentApp>> app = AgentApp::Start(c);
  ASSERT_TRUE(app.ok()) << app.status();
  EXPECT_GT((*app)->metrics_port(), 0);
  absl::StatusOr<std::unique_ptr<http::Client>> client = http::Client::Create(
      http::ClientOptions{.base_url = absl::StrCat("http://[::1]:", (*app)->metrics_port())});
  ASSERT_TRUE(client.ok()) << client.status();
  absl::StatusOr<http::Response> r = (*client)->Do("GET", "/healthz");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);

  c.metrics_listen = "no-port";
  EXPECT_EQ(AgentApp::Start(c).status().code(), absl::StatusCode::kInvalidArgument);
  c.metrics_listen = "127.0.0.1:http";
  EXPECT_EQ(AgentApp::Start(c).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace gpusched::agent
