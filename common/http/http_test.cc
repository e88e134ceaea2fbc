#include "common/http/http.h"

#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio.hpp>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/fakes/tls_certs.h"

// Options are written with designated initializers that leave most fields at their defaults.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace gpusched::http {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;
namespace certs = ::gpusched::testing;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string BaseUrl(const Server& server, std::string_view scheme = "http") {
  return absl::StrCat(std::string(scheme), "://127.0.0.1:", server.port());
}

Response Echo(const Request& r) {
  Response res;
  res.status = 200;
  res.body = absl::StrCat(r.method, " ", r.target, " ", r.body);
  res.headers = {{"X-Content-Type-Seen", std::string(r.Header("content-type"))},
                 {"X-User-Agent-Seen", std::string(r.Header("User-Agent"))},
                 {"X-Auth-Seen", std::string(r.Header("Authorization"))}};
  return res;
}

std::unique_ptr<Server> StartServer(ServerOptions options, Handler handler = Echo) {
  auto server = Server::Start(std::move(options), std::move(handler));
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? *std::move(server) : nullptr;
}

std::unique_ptr<Client> MakeClient(ClientOptions options) {
  auto client = Client::Create(std::move(options));
  EXPECT_TRUE(client.ok()) << client.status();
  return client.ok() ? *std::move(client) : nullptr;
}

// Sends raw bytes on a fresh connection and returns everything the server sends until it closes
// the connection (or 5 s pass).
std::string RawExchange(uint16_t port, const std::string& bytes,
                        std::function<void(tcp::socket&)> after_write = nullptr) {
  net::io_context ioc;
  tcp::socket socket(ioc);
  boost::system::error_code ec;
  socket.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port), ec);
  if (ec) return "connect failed: " + ec.message();
  timeval tv{.tv_sec = 5, .tv_usec = 0};
  ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  net::write(socket, net::buffer(bytes), ec);
  if (after_write) after_write(socket);
  std::string out;
  char buf[4096];
  for (;;) {
    size_t n = socket.read_some(net::buffer(buf), ec);
    out.append(buf, n);
    if (ec) break;
  }
  return out;
}

int CountOccurrences(std::string_view haystack, std::string_view needle) {
  int count = 0;
  for (size_t pos = haystack.find(needle); pos != std::string_view::npos;
       pos = haystack.find(needle, pos + 1)) {
    ++count;
  }
  return count;
}

TEST(HttpTest, PlainRoundTrip) {
  auto server = StartServer({});
  ASSERT_NE(server, nullptr);
  auto client = MakeClient({.base_url = BaseUrl(*server) + "/prefix/", .bearer_token = "tok"});
  ASSERT_NE(client, nullptr);

  auto r = client->Do("POST", "/filter", R"({"a":1})", {{"X-Extra", "1"}});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, R"(POST /prefix/filter {"a":1})");
  EXPECT_EQ(r->content_type, "application/json");
  EXPECT_EQ(r->Header("x-content-type-seen"), "application/json");
  EXPECT_EQ(r->Header("X-User-Agent-Seen"), "gpusched");
  EXPECT_EQ(r->Header("X-Auth-Seen"), "Bearer tok");

  auto patch = client->Do("PATCH", "/x", "{}", {{"Content-Type", "application/merge-patch+json"}});
  ASSERT_TRUE(patch.ok()) << patch.status();
  EXPECT_EQ(patch->Header("X-Content-Type-Seen"), "application/merge-patch+json");

  auto get = client->Do("GET", "/metrics");
  ASSERT_TRUE(get.ok()) << get.status();
  EXPECT_EQ(get->body, "GET /prefix/metrics ");
  EXPECT_EQ(get->Header("X-Content-Type-Seen"), "");
}

TEST(HttpTest, StatusContentTypeAndHeadersFromHandler) {
  auto server = StartServer({}, [](const Request&) {
    return Response{.status = 404, .content_type = "text/plain", .body = "nope",
                    .headers = {{"X-A", "b"}}};
  });
  ASSERT_NE(server, nullptr);
  auto client = MakeClient({.base_url = BaseUrl(*server)});
  auto r = client->Do("GET", "/missing");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(r->content_type, "text/plain");
  EXPECT_EQ(r->body, "nope");
  EXPECT_EQ(r->Header("x-a"), "b");
}

TEST(HttpTest, KeepAliveAnswersRequestsOnOneConnectionInOrder) {
  auto server = StartServer({});
  ASSERT_NE(server, nullptr);
  std::string out = RawExchange(
      server->port(),
      "POST /one HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nA"
      "POST /two HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nB"
      "GET /three HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(CountOccurrences(out, "HTTP/1.1 200 OK"), 3) << out;
  const size_t one = out.find("POST /one A");
  const size_t two = out.find("POST /two B");
  const size_t three = out.find("GET /three ");
  ASSERT_NE(one, std::string::npos) << out;
  ASSERT_NE(two, std::string::npos) << out;
  ASSERT_NE(three, std::string::npos) << out;
  EXPECT_LT(one, two);
  EXPECT_LT(two, three);
}

TEST(HttpTest, ClientRetriesAPooledConnectionTheServerClosed) {
  auto server = StartServer({.idle_timeout = absl::Milliseconds(100)});
  ASSERT_NE(server, nullptr);
  auto client = MakeClient({.base_url = BaseUrl(*server)});
  ASSERT_TRUE(client->Do("GET", "/a").ok());
  absl::SleepFor(absl::Milliseconds(300));  // the server closes the idle connection
  auto r = client->Do("POST", "/b", "x");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->body, "POST /b x");
}

TEST(HttpTest, ConcurrentClients) {
  std::atomic<int> served{0};
  auto server = StartServer({.threads = 3}, [&](const Request& r) {
    served.fetch_add(1);
    return Response{.body = r.body};
  });
  ASSERT_NE(server, nullptr);
  auto shared_client = MakeClient({.base_url = BaseUrl(*server)});
  constexpr int kThreads = 4, kRequests = 25;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto own = MakeClient({.base_url = BaseUrl(*server)});
      for (int i = 0; i < kRequests; ++i) {
        Client& c = i % 2 == 0 ? *own : *shared_client;
        std::string body = absl::StrCat(t, "/", i);
        auto r = c.Do("POST", "/", body);
        if (r.ok() && r->status == 200 && r->body == body) ok.fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), kThreads * kRequests);
  EXPECT_EQ(served.load(), kThreads * kRequests);
}

TEST(HttpTest, BodyOverTheLimitIs413AndTheServerKeepsServing) {
  auto server = StartServer({.body_limit = 1024});
  ASSERT_NE(server, nullptr);
  auto client = MakeClient({.base_url = BaseUrl(*server)});
  auto r = client->Do("POST", "/filter", std::string(2000, 'x'));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(r->body, R"({"Error":"request body exceeds the limit of 1024 bytes"})");
  auto ok = client->Do("POST", "/filter", std::string(1000, 'y'));
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->status, 200);
}

TEST(HttpTest, MalformedRequestIs400AndTheServerKeepsServing) {
  auto server = StartServer({});
  ASSERT_NE(server, nullptr);
  std::string out = RawExchange(server->port(), "this is not HTTP at all\r\n\r\n");
  EXPECT_TRUE(absl::StartsWith(out, "HTTP/1.1 400")) << out;
  EXPECT_THAT(out, HasSubstr(R"({"Error":"malformed HTTP request)"));
  auto client = MakeClient({.base_url = BaseUrl(*server)});
  auto r = client->Do("GET", "/");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
}

TEST(HttpTest, StalledClientGets408AndIsDisconnectedWhileOthersAreServed) {
  auto server = StartServer({.request_timeout = absl::Milliseconds(300)});
  ASSERT_NE(server, nullptr);
  auto client = MakeClient({.base_url = BaseUrl(*server)});
  const absl::Time start = absl::Now();
  std::string out = RawExchange(
      server->port(), "POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc",
      [&](tcp::socket&) {
        // Others are served while this request stalls.
        auto r = client->Do("GET", "/fast");
        EXPECT_TRUE(r.ok() && r->status == 200);
      });
  const absl::Duration took = absl::Now() - start;
  EXPECT_TRUE(absl::StartsWith(out, "HTTP/1.1 408")) << out;
  EXPECT_THAT(out, HasSubstr("\"Error\""));
  EXPECT_GE(took, absl::Milliseconds(250));
  EXPECT_LT(took, absl::Seconds(3));
}

TEST(HttpTest, IdleConnectionIsClosed) {
  auto server = StartServer({.idle_timeout = absl::Milliseconds(200)});
  ASSERT_NE(server, nullptr);
  const absl::Time start = absl::Now();
  std::string out = RawExchange(server->port(), "");
  EXPECT_EQ(out, "");
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
}

TEST(HttpTest, HandlerExceptionIs500) {
  auto server = StartServer({}, [](const Request& r) -> Response {
    if (r.target == "/throw") throw std::runtime_error("boom");
    return Response{.body = "fine"};
  });
  ASSERT_NE(server, nullptr);
  auto client = MakeClient({.base_url = BaseUrl(*server)});
  auto r = client->Do("GET", "/throw");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 500);
  EXPECT_THAT(r->body, HasSubstr("\"Error\""));
  EXPECT_THAT(r->body, HasSubstr("boom"));
  auto fine = client->Do("GET", "/");
  ASSERT_TRUE(fine.ok()) << fine.status();
  EXPECT_EQ(fine->body, "fine");
}

TEST(HttpTest, ClientTimeoutIsDeadlineExceeded) {
  auto server = StartServer({}, [](const Request&) {
    absl::SleepFor(absl::Milliseconds(400));
    return Response{};
  });
  ASSERT_NE(server, nullptr);
  auto client = MakeClient({.base_url = BaseUrl(*server), .timeout = absl::Milliseconds(100)});
  const absl::Time start = absl::Now();
  auto r = client->Do("GET", "/");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded) << r.status();
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(350));
  // A per-call timeout overrides the client's.
  auto slow = client->Do("GET", "/", {}, {}, absl::Seconds(5));
  EXPECT_TRUE(slow.ok()) << slow.status();
}

// A projected service-account token is rewritten by the kubelet: the client follows the file,
// and a 401 makes it look at once and send the request again with the new token.
TEST(HttpTest, BearerTokenFileIsFollowedAndA401RetriesWithTheRotatedToken) {
  std::atomic<int> requests{0};
  static constexpr const char* kAccepted[] = {"Bearer first", "Bearer second-token",
                                              "Bearer nobody-has-this"};
  std::atomic<int> stage{0};  // which token the server takes now
  auto server = StartServer({}, [&](const Request& r) {
    ++requests;
    Response res;
    res.status = r.Header("Authorization") == kAccepted[stage.load()] ? 200 : 401;
    res.body = std::string(r.Header("Authorization"));
    return res;
  });
  ASSERT_NE(server, nullptr);
  const std::string file = absl::StrCat(::testing::TempDir(), "/http_token_", ::getpid());
  auto write = [&](const std::string& token) {
    std::FILE* f = std::fopen(file.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs(token.c_str(), f);
    std::fclose(f);
  };
  write("first\n");
  auto client = MakeClient({.base_url = BaseUrl(*server), .bearer_token = "stale",
                            .bearer_token_file = file});
  auto r = client->Do("GET", "/");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "Bearer first");  // the file wins over the token given by value
  EXPECT_EQ(requests.load(), 1);

  // Rotated (a longer token, so the file's size changes even within one mtime tick).
  stage = 1;
  write("second-token\n");
  r = client->Do("GET", "/");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "Bearer second-token");
  EXPECT_EQ(requests.load(), 3);  // a 401 with the old token, then once more with the new one

  // A 401 the token file cannot fix is answered as it is, without a loop.
  stage = 2;
  r = client->Do("GET", "/");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 401);
  EXPECT_EQ(requests.load(), 4);
  std::remove(file.c_str());
}

TEST(HttpTest, ClosedPortIsUnavailable) {
  auto server = StartServer({});
  ASSERT_NE(server, nullptr);
  const uint16_t port = server->port();
  server->Stop();
  server->Stop();  // twice is fine
  auto client = MakeClient({.base_url = absl::StrCat("http://127.0.0.1:", port)});
  auto r = client->Do("GET", "/");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
  EXPECT_THAT(r.status().message(), HasSubstr(absl::StrCat("127.0.0.1:", port)));
}

TEST(HttpTest, PortInUseIsAnError) {
  auto server = StartServer({});
  ASSERT_NE(server, nullptr);
  auto second = Server::Start({.port = server->port()}, Echo);
  EXPECT_FALSE(second.ok());
}

TEST(HttpTest, BadUrlsAreInvalidArgument) {
  for (const char* url : {"", "127.0.0.1:80", "ftp://x", "http://", "http://:80", "http://h:0",
                          "http://h:99999", "http://h:8x", "http://::1:80", "http://[::1",
                          "http://u@h:80", "http://h:80?q=1"}) {
    SCOPED_TRACE(url);
    auto client = Client::Create({.base_url = url});
    EXPECT_EQ(client.status().code(), absl::StatusCode::kInvalidArgument) << client.status();
  }
  for (const char* url : {"http://h", "https://h", "http://[::1]:8080/x", "HTTP://h:1/a/b/"}) {
    SCOPED_TRACE(url);
    EXPECT_TRUE(Client::Create({.base_url = url}).ok());
  }
}

TEST(HttpTest, IPv6Literal) {
  auto server = Server::Start({.host = "::1"}, Echo);
  if (!server.ok()) GTEST_SKIP() << "no IPv6 loopback: " << server.status();
  auto client = MakeClient({.base_url = absl::StrCat("http://[::1]:", (*server)->port())});
  auto r = client->Do("GET", "/six");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->body, "GET /six ");
}

// --- TLS ---

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = absl::StrCat(::testing::TempDir(), "/http_tls_", ::getpid(), "_",
                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    ASSERT_EQ(std::system(absl::StrCat("mkdir -p '", dir_, "'").c_str()), 0);
    ca_ = certs::MakeCa("CA A");
    leaf_ = certs::MakeCert(ca_, "server A");
    ASSERT_FALSE(leaf_.cert.empty());
    ASSERT_TRUE(certs::WriteFile(cert_file(), leaf_.cert));
    ASSERT_TRUE(certs::WriteFile(key_file(), leaf_.key));
  }

  std::string cert_file() const { return dir_ + "/tls.crt"; }
  std::string key_file() const { return dir_ + "/tls.key"; }

  std::unique_ptr<Server> StartTls() {
    return StartServer({.cert_file = cert_file(), .key_file = key_file()});
  }

  std::string dir_;
  certs::Pem ca_, leaf_;
};

TEST_F(TlsTest, RoundTrip) {
  auto server = StartTls();
  ASSERT_NE(server, nullptr);
  auto client = MakeClient({.base_url = BaseUrl(*server, "https"), .ca_data = ca_.cert});
  for (int i = 0; i < 3; ++i) {
    auto r = client->Do("POST", "/tls", "hi");
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->body, "POST /tls hi");
  }
  // The CA from a file, and a DNS name verified through server_name.
  ASSERT_TRUE(certs::WriteFile(dir_ + "/ca.crt", ca_.cert));
  auto by_name = MakeClient({.base_url = BaseUrl(*server, "https"),
                             .ca_file = dir_ + "/ca.crt", .server_name = "localhost"});
  auto r = by_name->Do("GET", "/");
  EXPECT_TRUE(r.ok()) << r.status();
}

TEST_F(TlsTest, RejectsACertificateFromAnotherCa) {
  auto server = StartTls();
  ASSERT_NE(server, nullptr);
  certs::Pem other = certs::MakeCa("CA other");
  auto client = MakeClient({.base_url = BaseUrl(*server, "https"), .ca_data = other.cert});
  auto r = client->Do("GET", "/");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
  EXPECT_THAT(r.status().message(), HasSubstr("certificate verify failed"));

  auto insecure = MakeClient(
      {.base_url = BaseUrl(*server, "https"), .ca_data = other.cert, .insecure = true});
  auto ok = insecure->Do("GET", "/");
  EXPECT_TRUE(ok.ok()) << ok.status();
}

TEST_F(TlsTest, RejectsAWrongName) {
  auto server = StartTls();
  ASSERT_NE(server, nullptr);
  auto client = MakeClient({.base_url = BaseUrl(*server, "https"), .ca_data = ca_.cert,
                            .server_name = "not-this-server.example"});
  auto r = client->Do("GET", "/");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
}

TEST_F(TlsTest, PresentsAClientCertificate) {
  auto server = StartTls();
  ASSERT_NE(server, nullptr);
  certs::Pem client_cert = certs::MakeCert(ca_, "client", "DNS:client");
  auto client = MakeClient({.base_url = BaseUrl(*server, "https"), .ca_data = ca_.cert,
                            .cert_data = client_cert.cert, .key_data = client_cert.key});
  auto r = client->Do("GET", "/");
  EXPECT_TRUE(r.ok()) << r.status();
  // A key that does not match the certificate is refused up front.
  auto mismatched = Client::Create({.base_url = BaseUrl(*server, "https"),
                                    .cert_data = client_cert.cert, .key_data = leaf_.key});
  EXPECT_EQ(mismatched.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(TlsTest, UnreadableFilesAreFailedPrecondition) {
  auto server = Server::Start({.cert_file = dir_ + "/missing.crt", .key_file = key_file()}, Echo);
  EXPECT_EQ(server.status().code(), absl::StatusCode::kFailedPrecondition) << server.status();
  auto client = Client::Create({.base_url = "https://127.0.0.1:1", .ca_file = dir_ + "/no.crt"});
  EXPECT_EQ(client.status().code(), absl::StatusCode::kFailedPrecondition) << client.status();
}

TEST_F(TlsTest, ReloadsARotatedCertificateAndKeepsTheOldOneWhenBroken) {
  auto server = StartTls();
  ASSERT_NE(server, nullptr);
  auto trusts_a = MakeClient({.base_url = BaseUrl(*server, "https"), .ca_data = ca_.cert});
  ASSERT_TRUE(trusts_a->Do("GET", "/").ok());

  // A broken pair is ignored.
  absl::SleepFor(absl::Milliseconds(20));
  ASSERT_TRUE(certs::WriteFile(cert_file(), "not a certificate"));
  absl::SleepFor(absl::Milliseconds(1100));
  auto fresh_a = MakeClient({.base_url = BaseUrl(*server, "https"), .ca_data = ca_.cert});
  auto still_a = fresh_a->Do("GET", "/");
  EXPECT_TRUE(still_a.ok()) << still_a.status();

  // A new pair from another CA takes effect for new connections.
  certs::Pem ca_b = certs::MakeCa("CA B");
  certs::Pem leaf_b = certs::MakeCert(ca_b, "server B");
  ASSERT_TRUE(certs::WriteFile(key_file(), leaf_b.key));
  ASSERT_TRUE(certs::WriteFile(cert_file(), leaf_b.cert));
  absl::SleepFor(absl::Milliseconds(1100));
  auto trusts_b = MakeClient({.base_url = BaseUrl(*server, "https"), .ca_data = ca_b.cert});
  auto b = trusts_b->Do("GET", "/");
  EXPECT_TRUE(b.ok()) << b.status();
  auto new_a = MakeClient({.base_url = BaseUrl(*server, "https"), .ca_data = ca_.cert});
  EXPECT_FALSE(new_a->Do("GET", "/").ok());
}

TEST_F(TlsTest, StreamOverTls) {
  auto server = StartServer({.cert_file = cert_file(), .key_file = key_file()},
                            [](const Request&) { return Response{.body = "x\ny\n"}; });
  ASSERT_NE(server, nullptr);
  auto client = MakeClient({.base_url = BaseUrl(*server, "https"), .ca_data = ca_.cert});
  std::vector<std::string> lines;
  int status = 0;
  std::string error_body;
  absl::Status s = client->Stream(
      "/watch", [&](std::string_view l) { lines.emplace_back(l); return true; },
      absl::Seconds(2), nullptr, &status, &error_body);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(status, 200);
  EXPECT_THAT(lines, ElementsAre("x", "y"));
}

// --- Stream ---

// A one-connection server written with plain blocking asio: reads one request's header, then
// runs `script` on the socket (to send chunked responses with pauses).
class RawServer {
 public:
  explicit RawServer(std::function<void(tcp::socket&)> script)
      : acceptor_(ioc_, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0)) {
    thread_ = std::thread([this, script = std::move(script)] {
      boost::system::error_code ec;
      tcp::socket socket(ioc_);
      acceptor_.accept(socket, ec);
      if (ec) return;
      net::streambuf buf;
      net::read_until(socket, buf, "\r\n\r\n", ec);
      if (ec) return;
      script(socket);
      socket.shutdown(tcp::socket::shutdown_both, ec);
      socket.close(ec);
    });
  }
  ~RawServer() { thread_.join(); }
  uint16_t port() const { return acceptor_.local_endpoint().port(); }

  static void Write(tcp::socket& s, std::string_view bytes) {
    boost::system::error_code ec;
    net::write(s, net::buffer(bytes.data(), bytes.size()), ec);
  }
  static std::string Chunk(std::string_view data) {
    char size[32];
    std::snprintf(size, sizeof size, "%zx\r\n", data.size());
    return absl::StrCat(size, std::string(data), "\r\n");
  }
  static constexpr std::string_view kChunkedHeader =
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";

 private:
  net::io_context ioc_;
  tcp::acceptor acceptor_;
  std::thread thread_;
};

struct StreamResult {
  absl::Status status;
  int code = 0;
  std::string error_body;
  std::vector<std::string> lines;
};

StreamResult RunStream(uint16_t port, absl::Duration idle, const std::atomic<bool>* stop = nullptr,
                       int max_lines = 1000, std::function<void()> on_each = nullptr) {
  StreamResult out;
  auto client = MakeClient({.base_url = absl::StrCat("http://127.0.0.1:", port)});
  out.status = client->Stream(
      "/api/v1/pods?watch=1",
      [&](std::string_view line) {
        out.lines.emplace_back(line);
        if (on_each) on_each();
        return static_cast<int>(out.lines.size()) < max_lines;
      },
      idle, stop, &out.code, &out.error_body);
  return out;
}

TEST(StreamTest, LinesOfAWholeBody) {
  auto server = StartServer({}, [](const Request& r) {
    return Response{.body = absl::StrCat("{\"target\":\"", r.target, "\"}\n\nsecond\nlast")};
  });
  ASSERT_NE(server, nullptr);
  StreamResult r = RunStream(server->port(), absl::Seconds(2));
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(r.code, 200);
  // The last line has no newline but the response ended, so it is a line too.
  EXPECT_THAT(r.lines, ElementsAre(R"({"target":"/api/v1/pods?watch=1"})", "", "second", "last"));
}

TEST(StreamTest, ChunkedWithPausesArrivesInOrder) {
  RawServer raw([](tcp::socket& s) {
    RawServer::Write(s, RawServer::kChunkedHeader);
    RawServer::Write(s, RawServer::Chunk("one\ntw"));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    RawServer::Write(s, RawServer::Chunk("o\n"));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    RawServer::Write(s, RawServer::Chunk("three\nfour\nfi"));
    RawServer::Write(s, RawServer::Chunk("ve\n"));
    RawServer::Write(s, "0\r\n\r\n");
  });
  StreamResult r = RunStream(raw.port(), absl::Seconds(2));
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_THAT(r.lines, ElementsAre("one", "two", "three", "four", "five"));
}

TEST(StreamTest, OnLineReturningFalseEndsTheStream) {
  std::atomic<bool> finished{false};
  RawServer raw([&](tcp::socket& s) {
    RawServer::Write(s, RawServer::kChunkedHeader);
    RawServer::Write(s, RawServer::Chunk("a\nb\nc\n"));
    for (int i = 0; i < 100 && !finished.load(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  StreamResult r = RunStream(raw.port(), absl::Seconds(5), nullptr, /*max_lines=*/2);
  finished = true;
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_THAT(r.lines, ElementsAre("a", "b"));
}

TEST(StreamTest, StopCancels) {
  std::atomic<bool> stop{false};
  std::atomic<bool> finished{false};
  RawServer raw([&](tcp::socket& s) {
    RawServer::Write(s, RawServer::kChunkedHeader);
    RawServer::Write(s, RawServer::Chunk("first\npartial"));
    for (int i = 0; i < 150 && !finished.load(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    stop = true;
  });
  const absl::Time start = absl::Now();
  StreamResult r = RunStream(raw.port(), absl::Seconds(10), &stop);
  const absl::Duration took = absl::Now() - start;
  finished = true;
  stopper.join();
  EXPECT_EQ(r.status.code(), absl::StatusCode::kCancelled) << r.status;
  EXPECT_THAT(r.lines, ElementsAre("first"));  // the partial line is not delivered
  EXPECT_LT(took, absl::Milliseconds(1000));
}

TEST(StreamTest, IdleTimeout) {
  std::atomic<bool> finished{false};
  RawServer raw([&](tcp::socket& s) {
    RawServer::Write(s, RawServer::kChunkedHeader);
    RawServer::Write(s, RawServer::Chunk("only\n"));
    for (int i = 0; i < 150 && !finished.load(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  const absl::Time start = absl::Now();
  StreamResult r = RunStream(raw.port(), absl::Milliseconds(300));
  const absl::Duration took = absl::Now() - start;
  finished = true;
  EXPECT_EQ(r.status.code(), absl::StatusCode::kDeadlineExceeded) << r.status;
  EXPECT_THAT(r.lines, ElementsAre("only"));
  EXPECT_GE(took, absl::Milliseconds(250));
  EXPECT_LT(took, absl::Milliseconds(1500));
}

TEST(StreamTest, Non200ReturnsStatusAndBody) {
  auto server = StartServer({}, [](const Request&) {
    return Response{.status = 410, .body = R"({"kind":"Status","reason":"Expired"})"};
  });
  ASSERT_NE(server, nullptr);
  StreamResult r = RunStream(server->port(), absl::Seconds(2));
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(r.code, 410);
  EXPECT_EQ(r.error_body, R"({"kind":"Status","reason":"Expired"})");
  EXPECT_TRUE(r.lines.empty());
}

TEST(StreamTest, ConnectionLostIsAnError) {
  RawServer raw([](tcp::socket& s) {
    RawServer::Write(s, RawServer::kChunkedHeader);
    RawServer::Write(s, RawServer::Chunk("one\n"));
    // Closes without the final chunk.
  });
  StreamResult r = RunStream(raw.port(), absl::Seconds(2));
  EXPECT_FALSE(r.status.ok());
  EXPECT_THAT(r.lines, ElementsAre("one"));
}

}  // namespace
}  // namespace gpusched::http
