// Tests of the fake kube-apiserver, through a raw Boost.Beast client. They double as a record of
// the wire format the extender's Kubernetes client must handle.

#include "test/fakes/fake_apiserver.h"

#include <sys/socket.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio.hpp>
#include <boost/beast.hpp>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gpusched::testing {
namespace {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
using tcp = boost::asio::ip::tcp;
using json = nlohmann::json;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using namespace std::chrono_literals;

struct HttpResult {
  int status = 0;
  std::string body;
  std::string content_type;
  bool chunked = false;
  json Json() const { return json::parse(body, nullptr, false); }
};

using HeaderList = std::vector<std::pair<std::string, std::string>>;

HttpResult DoOn(tcp::socket& sock, beast::flat_buffer& buf, const std::string& method,
                const std::string& target, const std::string& body, const HeaderList& headers,
                bool keep_alive) {
  bhttp::request<bhttp::string_body> req{bhttp::string_to_verb(method), target, 11};
  req.set(bhttp::field::host, "127.0.0.1");
  for (const auto& [k, v] : headers) req.set(k, v);
  if (!body.empty() && req[bhttp::field::content_type].empty()) {
    req.set(bhttp::field::content_type, "application/json");
  }
  req.body() = body;
  req.keep_alive(keep_alive);
  req.prepare_payload();
  bhttp::write(sock, req);
  bhttp::response<bhttp::string_body> res;
  bhttp::read(sock, buf, res);
  HttpResult out;
  out.status = res.result_int();
  out.body = res.body();
  out.content_type = std::string(res[bhttp::field::content_type]);
  out.chunked = res.chunked();
  return out;
}

// One request on a fresh connection.
HttpResult Do(uint16_t port, const std::string& method, const std::string& target,
              const std::string& body = "", const HeaderList& headers = {}) {
  net::io_context ioc;
  tcp::socket sock(ioc);
  sock.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  beast::flat_buffer buf;
  HttpResult r = DoOn(sock, buf, method, target, body, headers, /*keep_alive=*/false);
  boost::system::error_code ec;
  sock.shutdown(tcp::socket::shutdown_both, ec);
  return r;
}

// A watch request whose chunks are collected by a background thread.
class WatchClient {
 public:
  WatchClient(uint16_t port, const std::string& target, const HeaderList& headers = {})
      : sock_(ioc_) {
    sock_.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
    bhttp::request<bhttp::empty_body> req{bhttp::verb::get, target, 11};
    req.set(bhttp::field::host, "127.0.0.1");
    for (const auto& [k, v] : headers) req.set(k, v);
    bhttp::write(sock_, req);
    parser_.body_limit(boost::none);
    bhttp::read_header(sock_, buf_, parser_);  // the server sends the header at once
    on_chunk_ = [this](std::uint64_t remain, beast::string_view body,
                       boost::system::error_code&) -> std::size_t {
      std::lock_guard<std::mutex> l(mu_);
      current_chunk_.append(body.data(), body.size());
      if (body.size() == remain) {  // the chunk is complete
        chunks_.push_back(current_chunk_);
        std::string_view c = current_chunk_;
        while (!c.empty()) {
          size_t nl = c.find('\n');
          if (nl == std::string_view::npos) {
            partial_line_ += std::string(c);
            break;
          }
          lines_.push_back(partial_line_ + std::string(c.substr(0, nl)));
          partial_line_.clear();
          c.remove_prefix(nl + 1);
        }
        current_chunk_.clear();
        cv_.notify_all();
      }
      return body.size();
    };
    parser_.on_chunk_body(on_chunk_);
    reader_ = std::thread([this] {
      boost::system::error_code ec;
      while (!parser_.is_done() && !ec) bhttp::read_some(sock_, buf_, parser_, ec);
      std::lock_guard<std::mutex> l(mu_);
      ended_ = true;
      clean_end_ = parser_.is_done();
      cv_.notify_all();
    });
  }
  ~WatchClient() {
    ::shutdown(sock_.native_handle(), SHUT_RDWR);
    reader_.join();
  }

  int status() { return parser_.get().result_int(); }
  bool chunked() { return parser_.get().chunked(); }
  std::string content_type() { return std::string(parser_.get()[bhttp::field::content_type]); }

  // The next event, or nullopt if none comes within `timeout` (or the stream ended).
  std::optional<json> Next(std::chrono::milliseconds timeout = 5s) {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait_for(l, timeout, [&] { return !lines_.empty() || ended_; });
    if (lines_.empty()) return std::nullopt;
    std::string line = std::move(lines_.front());
    lines_.pop_front();
    return json::parse(line, nullptr, false);
  }
  // The next event that is not a BOOKMARK.
  std::optional<json> NextNonBookmark(std::chrono::milliseconds timeout = 5s) {
    while (true) {
      std::optional<json> e = Next(timeout);
      if (!e || (*e)["type"] != "BOOKMARK") return e;
    }
  }
  // True if the response ended with the last chunk within `timeout`.
  bool WaitCleanEnd(std::chrono::milliseconds timeout = 5s) {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait_for(l, timeout, [&] { return ended_; });
    return ended_ && clean_end_;
  }
  std::vector<std::string> chunks() {
    std::lock_guard<std::mutex> l(mu_);
    return chunks_;
  }

 private:
  net::io_context ioc_;
  tcp::socket sock_;
  beast::flat_buffer buf_;
  bhttp::response_parser<bhttp::string_body> parser_;
  std::function<std::size_t(std::uint64_t, beast::string_view, boost::system::error_code&)>
      on_chunk_;
  std::thread reader_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::string current_chunk_, partial_line_;
  std::vector<std::string> chunks_;
  std::deque<std::string> lines_;
  bool ended_ = false;
  bool clean_end_ = false;
};

json Pod(const std::string& ns, const std::string& name, const std::string& uid = "") {
  json p = {{"metadata", {{"name", name}, {"namespace", ns}}},
            {"spec", {{"containers", {{{"name", "c"}, {"image", "busybox"}}}}}},
            {"status", {{"phase", "Pending"}}}};
  if (!uid.empty()) p["metadata"]["uid"] = uid;
  return p;
}

json Node(const std::string& name) {
  return {{"metadata", {{"name", name}}}, {"status", {{"allocatable", {{"nvidia.com/gpu", "8"}}}}}};
}

std::string BindingBody(const std::string& ns, const std::string& name, const std::string& uid,
                        const std::string& node) {
  json b = {{"kind", "Binding"},
            {"apiVersion", "v1"},
            {"metadata", {{"name", name}, {"namespace", ns}}},
            {"target", {{"kind", "Node"}, {"name", node}}}};
  if (!uid.empty()) b["metadata"]["uid"] = uid;
  return b.dump();
}

class FakeApiServerTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(api_.Start().ok()); }
  uint16_t port() { return api_.port(); }
  FakeApiServer api_;
};

void ExpectStatus(const HttpResult& r, int code, const std::string& reason) {
  EXPECT_EQ(r.status, code) << r.body;
  json s = r.Json();
  ASSERT_TRUE(s.is_object()) << r.body;
  EXPECT_EQ(s["kind"], "Status");
  EXPECT_EQ(s["apiVersion"], "v1");
  EXPECT_EQ(s["metadata"], json::object());
  EXPECT_EQ(s["status"], "Failure");
  EXPECT_EQ(s["reason"], reason);
  EXPECT_EQ(s["code"], code);
  EXPECT_TRUE(s["message"].is_string());
}

TEST_F(FakeApiServerTest, BaseUrl) {
  EXPECT_NE(port(), 0);
  EXPECT_EQ(api_.base_url(), "http://127.0.0.1:" + std::to_string(port()));
}

TEST_F(FakeApiServerTest, ListShape) {
  api_.Apply(FakeApiServer::kPods, Pod("a", "p1"));
  api_.Apply(FakeApiServer::kPods, Pod("a", "p2"));
  api_.Apply(FakeApiServer::kPods, Pod("b", "p3"));
  api_.Apply(FakeApiServer::kNodes, Node("n1"));

  HttpResult r = Do(port(), "GET", "/api/v1/namespaces/a/pods");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "application/json");
  // Field order as Go marshals the list type.
  EXPECT_THAT(r.body, StartsWith(R"({"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":")"));
  json list = r.Json();
  EXPECT_EQ(list["metadata"]["resourceVersion"], std::to_string(api_.resource_version()));
  ASSERT_EQ(list["items"].size(), 2u);
  for (const json& item : list["items"]) {
    EXPECT_FALSE(item.contains("kind"));  // built-in list items carry no kind/apiVersion
    EXPECT_FALSE(item.contains("apiVersion"));
    EXPECT_FALSE(item["metadata"]["uid"].get<std::string>().empty());
    EXPECT_FALSE(item["metadata"]["creationTimestamp"].get<std::string>().empty());
    EXPECT_TRUE(item["metadata"]["resourceVersion"].is_string());
  }
  EXPECT_EQ(list["items"][0]["metadata"]["name"], "p1");

  EXPECT_EQ(Do(port(), "GET", "/api/v1/pods").Json()["items"].size(), 3u);

  json nodes = Do(port(), "GET", "/api/v1/nodes").Json();
  EXPECT_EQ(nodes["kind"], "NodeList");
  ASSERT_EQ(nodes["items"].size(), 1u);
  EXPECT_FALSE(nodes["items"][0]["metadata"].contains("namespace"));

  api_.Apply(FakeApiServer::kXK8sPodGroups,
             {{"metadata", {{"name", "g"}, {"namespace", "a"}}}, {"spec", {{"minMember", 2}}}});
  json pgs = Do(port(), "GET", "/apis/scheduling.x-k8s.io/v1alpha1/namespaces/a/podgroups").Json();
  EXPECT_EQ(pgs["kind"], "PodGroupList");
  EXPECT_EQ(pgs["apiVersion"], "scheduling.x-k8s.io/v1alpha1");
  ASSERT_EQ(pgs["items"].size(), 1u);
  // Custom resources are unstructured on the server: their items keep kind/apiVersion.
  EXPECT_EQ(pgs["items"][0]["kind"], "PodGroup");
  EXPECT_EQ(Do(port(), "GET", "/apis/scheduling.x-k8s.io/v1alpha1/podgroups").Json()["items"].size(),
            1u);
  EXPECT_EQ(Do(port(), "GET", "/apis/scheduling.volcano.sh/v1beta1/podgroups").Json()["items"].size(),
            0u);
}

TEST_F(FakeApiServerTest, ListPagingAndExpiredContinue) {
  for (int i = 0; i < 5; ++i) api_.Apply(FakeApiServer::kPods, Pod("a", "p" + std::to_string(i)));
  const std::string rv = std::to_string(api_.resource_version());
  json page = Do(port(), "GET", "/api/v1/pods?limit=2").Json();
  ASSERT_EQ(page["items"].size(), 2u);
  EXPECT_EQ(page["metadata"]["resourceVersion"], rv);
  EXPECT_EQ(page["metadata"]["remainingItemCount"], 3);
  std::string token = page["metadata"]["continue"];
  api_.Apply(FakeApiServer::kNodes, Node("n1"));  // moves the global rv
  json page2 = Do(port(), "GET", "/api/v1/pods?limit=2&continue=" + token).Json();
  ASSERT_EQ(page2["items"].size(), 2u);
  EXPECT_EQ(page2["items"][0]["metadata"]["name"], "p2");
  EXPECT_EQ(page2["metadata"]["resourceVersion"], rv);  // the snapshot's
  json page3 =
      Do(port(), "GET", "/api/v1/pods?limit=2&continue=" + page2["metadata"]["continue"].get<std::string>())
          .Json();
  ASSERT_EQ(page3["items"].size(), 1u);
  EXPECT_FALSE(page3["metadata"].contains("continue"));

  api_.Compact();
  ExpectStatus(Do(port(), "GET", "/api/v1/pods?limit=2&continue=" + token), 410, "Expired");
  ExpectStatus(Do(port(), "GET", "/api/v1/pods?continue=garbage!"), 400, "BadRequest");
}

TEST_F(FakeApiServerTest, FieldSelectorOnList) {
  json bound = Pod("a", "bound");
  bound["spec"]["nodeName"] = "n1";
  api_.Apply(FakeApiServer::kPods, bound);
  api_.Apply(FakeApiServer::kPods, Pod("a", "pending"));
  json r = Do(port(), "GET", "/api/v1/pods?fieldSelector=spec.nodeName%3Dn1").Json();
  ASSERT_EQ(r["items"].size(), 1u);
  EXPECT_EQ(r["items"][0]["metadata"]["name"], "bound");
  r = Do(port(), "GET", "/api/v1/pods?fieldSelector=spec.nodeName%3D").Json();
  ASSERT_EQ(r["items"].size(), 1u);
  EXPECT_EQ(r["items"][0]["metadata"]["name"], "pending");
}

TEST_F(FakeApiServerTest, GetAndNotFound) {
  api_.Apply(FakeApiServer::kPods, Pod("a", "p1", "uid-1"));
  HttpResult r = Do(port(), "GET", "/api/v1/namespaces/a/pods/p1");
  ASSERT_EQ(r.status, 200);
  EXPECT_THAT(r.body, StartsWith(R"({"kind":"Pod","apiVersion":"v1",)"));
  EXPECT_EQ(r.Json()["metadata"]["uid"], "uid-1");

  r = Do(port(), "GET", "/api/v1/namespaces/a/pods/nope");
  ExpectStatus(r, 404, "NotFound");
  EXPECT_EQ(r.Json()["message"], "pods \"nope\" not found");
  EXPECT_EQ(r.Json()["details"], json({{"name", "nope"}, {"kind", "pods"}}));

  r = Do(port(), "GET", "/apis/scheduling.x-k8s.io/v1alpha1/namespaces/a/podgroups/nope");
  ExpectStatus(r, 404, "NotFound");
  EXPECT_EQ(r.Json()["message"], "podgroups.scheduling.x-k8s.io \"nope\" not found");

  r = Do(port(), "GET", "/api/v1/foos");
  ExpectStatus(r, 404, "NotFound");
  EXPECT_EQ(r.Json()["message"], "the server could not find the requested resource");
  ExpectStatus(Do(port(), "GET", "/apis/example.com/v1/widgets"), 404, "NotFound");
  ExpectStatus(Do(port(), "GET", "/healthz"), 404, "NotFound");
  ExpectStatus(Do(port(), "GET", "/api/v1/namespaces/a/nodes"), 404, "NotFound");
  ExpectStatus(Do(port(), "GET", "/apis/scheduling.x-k8s.io/v1/podgroups"), 404, "NotFound");
}

TEST_F(FakeApiServerTest, UninstalledCustomResourceIs404) {
  const std::string path = "/apis/scheduling.x-k8s.io/v1alpha1/podgroups";
  EXPECT_EQ(Do(port(), "GET", path).status, 200);
  api_.UninstallResource(FakeApiServer::kXK8sPodGroups);
  ExpectStatus(Do(port(), "GET", path), 404, "NotFound");
  ExpectStatus(Do(port(), "GET", path + "?watch=1"), 404, "NotFound");
  api_.InstallResource(FakeApiServer::kXK8sPodGroups);
  EXPECT_EQ(Do(port(), "GET", path).status, 200);
}

TEST_F(FakeApiServerTest, WatchFromResourceVersionInOrderWithChunkedFraming) {
  api_.Apply(FakeApiServer::kPods, Pod("a", "old"));  // before the watch's rv: not replayed
  const int64_t rv0 = api_.resource_version();
  api_.Apply(FakeApiServer::kPods, Pod("a", "early"));  // after rv0, before the watch: replayed

  WatchClient w(port(), "/api/v1/namespaces/a/pods?watch=1&resourceVersion=" +
                            std::to_string(rv0));
  EXPECT_EQ(w.status(), 200);
  EXPECT_TRUE(w.chunked());
  EXPECT_EQ(w.content_type(), "application/json");

  std::optional<json> e = w.Next();
  ASSERT_TRUE(e);
  EXPECT_EQ((*e)["type"], "ADDED");
  EXPECT_EQ((*e)["object"]["metadata"]["name"], "early");

  json p = Pod("a", "p1");
  api_.Apply(FakeApiServer::kPods, p);
  api_.Apply(FakeApiServer::kPods, Pod("other", "elsewhere"));  // other namespace: filtered
  p["metadata"]["labels"] = {{"x", "y"}};
  api_.Apply(FakeApiServer::kPods, p);
  ASSERT_TRUE(api_.Delete(FakeApiServer::kPods, "a", "p1"));

  int64_t last = rv0;
  for (const char* type : {"ADDED", "MODIFIED", "DELETED"}) {
    e = w.Next();
    ASSERT_TRUE(e) << type;
    EXPECT_EQ((*e)["type"], type);
    const json& obj = (*e)["object"];
    EXPECT_EQ(obj["kind"], "Pod");  // watch objects carry kind/apiVersion
    EXPECT_EQ(obj["apiVersion"], "v1");
    EXPECT_EQ(obj["metadata"]["name"], "p1");
    int64_t rv = std::stoll(obj["metadata"]["resourceVersion"].get<std::string>());
    EXPECT_GT(rv, last);
    last = rv;
  }
  EXPECT_EQ(last, api_.resource_version());  // DELETED carries the deletion's rv
  // One event per chunk, each one JSON object and a newline, "type" first.
  for (const std::string& chunk : w.chunks()) {
    EXPECT_THAT(chunk, StartsWith("{\"type\":\""));
    ASSERT_FALSE(chunk.empty());
    EXPECT_EQ(chunk.back(), '\n');
    EXPECT_EQ(chunk.find('\n'), chunk.size() - 1);
  }
  EXPECT_EQ(w.chunks().size(), 4u);
  EXPECT_EQ(api_.open_watches(), 1);
}

TEST_F(FakeApiServerTest, WatchFromZeroStartsWithSyntheticAdds) {
  api_.Apply(FakeApiServer::kNodes, Node("n1"));
  api_.Apply(FakeApiServer::kNodes, Node("n2"));
  WatchClient w(port(), "/api/v1/nodes?watch=true&resourceVersion=0");
  for (const char* name : {"n1", "n2"}) {
    std::optional<json> e = w.Next();
    ASSERT_TRUE(e);
    EXPECT_EQ((*e)["type"], "ADDED");
    EXPECT_EQ((*e)["object"]["kind"], "Node");
    EXPECT_EQ((*e)["object"]["metadata"]["name"], name);
  }
  api_.Apply(FakeApiServer::kNodes, Node("n3"));
  std::optional<json> e = w.Next();
  ASSERT_TRUE(e);
  EXPECT_EQ((*e)["object"]["metadata"]["name"], "n3");
}

TEST_F(FakeApiServerTest, WatchFromCompactedResourceVersionGets410Error) {
  api_.Apply(FakeApiServer::kPods, Pod("a", "p1"));
  const int64_t old_rv = api_.resource_version();
  api_.Apply(FakeApiServer::kPods, Pod("a", "p2"));
  api_.Compact();
  WatchClient w(port(), "/api/v1/pods?watch=1&resourceVersion=" + std::to_string(old_rv));
  EXPECT_EQ(w.status(), 200);  // the error is an event, not the HTTP status
  std::optional<json> e = w.Next();
  ASSERT_TRUE(e);
  EXPECT_EQ((*e)["type"], "ERROR");
  const json& s = (*e)["object"];
  EXPECT_EQ(s["kind"], "Status");
  EXPECT_EQ(s["apiVersion"], "v1");
  EXPECT_EQ(s["status"], "Failure");
  EXPECT_EQ(s["reason"], "Expired");
  EXPECT_EQ(s["code"], 410);
  EXPECT_EQ(s["message"], "too old resource version: " + std::to_string(old_rv) + " (" +
                              std::to_string(api_.resource_version()) + ")");
  EXPECT_TRUE(w.WaitCleanEnd());

  // From the current rv it is fine.
  WatchClient ok(port(), "/api/v1/pods?watch=1&resourceVersion=" +
                             std::to_string(api_.resource_version()));
  api_.Apply(FakeApiServer::kPods, Pod("a", "p3"));
  e = ok.Next();
  ASSERT_TRUE(e);
  EXPECT_EQ((*e)["type"], "ADDED");
}

TEST(FakeApiServerHistoryTest, WatchOlderThanTheHistoryWindowGets410) {
  FakeApiServerOptions options;
  options.history_window = 2;
  FakeApiServer api(options);
  ASSERT_TRUE(api.Start().ok());
  api.Apply(FakeApiServer::kNodes, Node("n1"));
  const int64_t rv0 = api.resource_version();  // 1 ("0" would mean "the current state")
  for (int i = 0; i < 4; ++i) api.Apply(FakeApiServer::kPods, Pod("a", "p" + std::to_string(i)));
  WatchClient w(api.port(), "/api/v1/pods?watch=1&resourceVersion=" + std::to_string(rv0));
  std::optional<json> e = w.Next();
  ASSERT_TRUE(e);
  EXPECT_EQ((*e)["type"], "ERROR");
  EXPECT_EQ((*e)["object"]["code"], 410);
  // Two events back is still in the window.
  WatchClient w2(api.port(), "/api/v1/pods?watch=1&resourceVersion=" +
                                 std::to_string(api.resource_version() - 2));
  e = w2.Next();
  ASSERT_TRUE(e);
  EXPECT_EQ((*e)["type"], "ADDED");
  EXPECT_EQ((*e)["object"]["metadata"]["name"], "p2");
}

TEST(FakeApiServerBookmarkTest, BookmarksOnRequestAndPeriodically) {
  FakeApiServerOptions options;
  options.bookmark_interval = absl::ZeroDuration();
  FakeApiServer api(options);
  ASSERT_TRUE(api.Start().ok());
  api.Apply(FakeApiServer::kPods, Pod("a", "p1"));
  const std::string rv = std::to_string(api.resource_version());
  WatchClient w(api.port(),
                "/api/v1/pods?watch=1&allowWatchBookmarks=true&resourceVersion=" + rv);
  WatchClient no(api.port(), "/api/v1/pods?watch=1&resourceVersion=" + rv);
  api.Apply(FakeApiServer::kNodes, Node("n1"));  // bumps the global rv only
  api.SendBookmarks();
  std::optional<json> e = w.Next();
  ASSERT_TRUE(e);
  EXPECT_EQ((*e)["type"], "BOOKMARK");
  EXPECT_EQ((*e)["object"], json({{"kind", "Pod"},
                                  {"apiVersion", "v1"},
                                  {"metadata", {{"resourceVersion", std::to_string(api.resource_version())}}}}));
  EXPECT_FALSE(no.Next(300ms));  // did not ask for bookmarks

  options.bookmark_interval = absl::Milliseconds(100);
  FakeApiServer periodic(options);
  ASSERT_TRUE(periodic.Start().ok());
  WatchClient pw(periodic.port(), "/api/v1/nodes?watch=1&allowWatchBookmarks=1&resourceVersion=0");
  for (int i = 0; i < 2; ++i) {
    e = pw.Next(2s);
    ASSERT_TRUE(e);
    EXPECT_EQ((*e)["type"], "BOOKMARK");
    EXPECT_EQ((*e)["object"]["kind"], "Node");
  }
}

TEST_F(FakeApiServerTest, CloseWatchesEndsStreamsCleanlyAndKeepsTheConnection) {
  WatchClient w(port(), "/api/v1/pods?watch=1");
  WatchClient w2(port(), "/apis/scheduling.x-k8s.io/v1alpha1/podgroups?watch=1");
  api_.CloseWatches();
  EXPECT_TRUE(w.WaitCleanEnd());
  EXPECT_TRUE(w2.WaitCleanEnd());
  // A watch opened afterwards is not affected.
  WatchClient w3(port(), "/api/v1/pods?watch=1");
  api_.Apply(FakeApiServer::kPods, Pod("a", "p1"));
  EXPECT_TRUE(w3.Next());
}

TEST_F(FakeApiServerTest, WatchTimeoutSecondsEndsTheStream) {
  WatchClient w(port(), "/api/v1/pods?watch=1&timeoutSeconds=1");
  auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(w.WaitCleanEnd(5s));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 900ms);
}

TEST_F(FakeApiServerTest, UninstallEndsOpenWatches) {
  WatchClient w(port(), "/apis/scheduling.k8s.io/v1alpha1/workloads?watch=1");
  api_.UninstallResource(FakeApiServer::kK8sWorkloads);
  EXPECT_TRUE(w.WaitCleanEnd());
}

TEST_F(FakeApiServerTest, FieldSelectorWatchTurnsBindingIntoAdded) {
  api_.Apply(FakeApiServer::kPods, Pod("a", "p1", "u1"));
  WatchClient w(port(), "/api/v1/pods?watch=1&fieldSelector=spec.nodeName%3Dn1&resourceVersion=" +
                            std::to_string(api_.resource_version()));
  ASSERT_EQ(Do(port(), "POST", "/api/v1/namespaces/a/pods/p1/binding",
               BindingBody("a", "p1", "u1", "n1"))
                .status,
            201);
  std::optional<json> e = w.Next();
  ASSERT_TRUE(e);
  EXPECT_EQ((*e)["type"], "ADDED");  // entered the selection
  EXPECT_EQ((*e)["object"]["spec"]["nodeName"], "n1");
}

TEST_F(FakeApiServerTest, Binding) {
  api_.Apply(FakeApiServer::kPods, Pod("a", "p1", "u1"));
  WatchClient w(port(), "/api/v1/namespaces/a/pods?watch=1&resourceVersion=" +
                            std::to_string(api_.resource_version()));
  json body = json::parse(BindingBody("a", "p1", "u1", "n1"));
  body["metadata"]["annotations"] = {{"gpusched.io/gpus", "0,1"}};
  HttpResult r = Do(port(), "POST", "/api/v1/namespaces/a/pods/p1/binding", body.dump());
  EXPECT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(r.body, R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Success","code":201})");

  json pod = *api_.Get(FakeApiServer::kPods, "a", "p1");
  EXPECT_EQ(pod["spec"]["nodeName"], "n1");
  EXPECT_EQ(pod["metadata"]["annotations"]["gpusched.io/gpus"], "0,1");
  ASSERT_EQ(pod["status"]["conditions"].size(), 1u);
  EXPECT_EQ(pod["status"]["conditions"][0]["type"], "PodScheduled");
  EXPECT_EQ(pod["status"]["conditions"][0]["status"], "True");
  std::optional<json> e = w.Next();
  ASSERT_TRUE(e);
  EXPECT_EQ((*e)["type"], "MODIFIED");
  EXPECT_EQ((*e)["object"]["spec"]["nodeName"], "n1");

  // Already assigned.
  r = Do(port(), "POST", "/api/v1/namespaces/a/pods/p1/binding", BindingBody("a", "p1", "u1", "n2"));
  ExpectStatus(r, 409, "Conflict");
  EXPECT_THAT(r.Json()["message"].get<std::string>(),
              HasSubstr("pod p1 is already assigned to node \"n1\""));

  // UID precondition.
  api_.Apply(FakeApiServer::kPods, Pod("a", "p2", "u2"));
  r = Do(port(), "POST", "/api/v1/namespaces/a/pods/p2/binding",
         BindingBody("a", "p2", "stale-uid", "n1"));
  ExpectStatus(r, 409, "Conflict");
  EXPECT_THAT(r.Json()["message"].get<std::string>(), HasSubstr("Precondition failed: UID"));

  // Missing pod, name mismatch, malformed, no target.
  ExpectStatus(Do(port(), "POST", "/api/v1/namespaces/a/pods/gone/binding",
                  BindingBody("a", "gone", "", "n1")),
               404, "NotFound");
  r = Do(port(), "POST", "/api/v1/namespaces/a/pods/p2/binding", BindingBody("a", "p3", "", "n1"));
  ExpectStatus(r, 400, "BadRequest");
  EXPECT_EQ(r.Json()["message"], "name in URL does not match name in Binding object");
  ExpectStatus(Do(port(), "POST", "/api/v1/namespaces/a/pods/p2/binding", "{not json"), 400,
               "BadRequest");
  ExpectStatus(Do(port(), "POST", "/api/v1/namespaces/a/pods/p2/binding",
                  BindingBody("a", "p2", "u2", "")),
               400, "BadRequest");

  // Being deleted.
  json deleting = Pod("a", "p4");
  deleting["metadata"]["deletionTimestamp"] = "2025-01-01T00:00:00Z";
  api_.Apply(FakeApiServer::kPods, deleting);
  ExpectStatus(Do(port(), "POST", "/api/v1/namespaces/a/pods/p4/binding",
                  BindingBody("a", "p4", "", "n1")),
               409, "Conflict");

  // Legacy path: the name comes from the body.
  r = Do(port(), "POST", "/api/v1/namespaces/a/bindings", BindingBody("a", "p2", "u2", "n3"));
  EXPECT_EQ(r.status, 201) << r.body;
  EXPECT_EQ((*api_.Get(FakeApiServer::kPods, "a", "p2"))["spec"]["nodeName"], "n3");

  std::vector<RecordedBinding> bs = api_.Bindings();
  ASSERT_EQ(bs.size(), 9u);
  EXPECT_EQ(bs[0].seq, 1u);
  EXPECT_EQ(bs[0].ns, "a");
  EXPECT_EQ(bs[0].name, "p1");
  EXPECT_EQ(bs[0].uid, "u1");
  EXPECT_EQ(bs[0].node, "n1");
  EXPECT_EQ(bs[0].code, 201);
  EXPECT_EQ(bs[0].annotations["gpusched.io/gpus"], "0,1");
  EXPECT_EQ(bs[1].code, 409);
  EXPECT_EQ(bs[8].name, "p2");
  EXPECT_EQ(bs[8].path, "/api/v1/namespaces/a/bindings");
  EXPECT_EQ(bs[8].code, 201);
}

TEST_F(FakeApiServerTest, MergePatchOfAnnotations) {
  json p = Pod("a", "p1");
  p["metadata"]["annotations"] = {{"keep", "1"}, {"drop", "2"}};
  api_.Apply(FakeApiServer::kPods, p);
  const int64_t rv0 = api_.resource_version();
  WatchClient w(port(), "/api/v1/pods?watch=1&resourceVersion=" + std::to_string(rv0));

  const std::string patch = R"({"metadata":{"annotations":{"gpusched.io/gpus":"0","drop":null}}})";
  HttpResult r = Do(port(), "PATCH", "/api/v1/namespaces/a/pods/p1", patch,
                    {{"Content-Type", "application/merge-patch+json"}});
  ASSERT_EQ(r.status, 200) << r.body;
  json pod = r.Json();
  EXPECT_EQ(pod["kind"], "Pod");
  EXPECT_EQ(pod["metadata"]["annotations"], json({{"keep", "1"}, {"gpusched.io/gpus", "0"}}));
  EXPECT_EQ(pod["metadata"]["resourceVersion"], std::to_string(rv0 + 1));
  EXPECT_EQ(pod["spec"]["containers"][0]["name"], "c");  // untouched
  std::optional<json> e = w.Next();
  ASSERT_TRUE(e);
  EXPECT_EQ((*e)["type"], "MODIFIED");
  EXPECT_EQ((*e)["object"]["metadata"]["annotations"]["gpusched.io/gpus"], "0");

  r = Do(port(), "PATCH", "/api/v1/namespaces/a/pods/p1",
         R"({"metadata":{"annotations":{"s":"1"}}})",
         {{"Content-Type", "application/strategic-merge-patch+json"}});
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.Json()["metadata"]["annotations"]["s"], "1");

  ExpectStatus(Do(port(), "PATCH", "/api/v1/namespaces/a/pods/p1", patch,
                  {{"Content-Type", "application/json"}}),
               415, "UnsupportedMediaType");
  ExpectStatus(Do(port(), "PATCH", "/api/v1/namespaces/a/pods/nope", patch,
                  {{"Content-Type", "application/merge-patch+json"}}),
               404, "NotFound");
  // A resourceVersion in the patch is a precondition.
  ExpectStatus(Do(port(), "PATCH", "/api/v1/namespaces/a/pods/p1",
                  R"({"metadata":{"resourceVersion":"1","annotations":{"x":"y"}}})",
                  {{"Content-Type", "application/merge-patch+json"}}),
               409, "Conflict");

  std::vector<RecordedPatch> ps = api_.Patches();
  ASSERT_EQ(ps.size(), 5u);
  EXPECT_EQ(ps[0].path, "/api/v1/namespaces/a/pods/p1");
  EXPECT_EQ(ps[0].body, patch);
  EXPECT_EQ(ps[0].content_type, "application/merge-patch+json");
  EXPECT_EQ(ps[0].code, 200);
  EXPECT_EQ(ps[2].code, 415);
}

TEST_F(FakeApiServerTest, GoStyleEscapingOnTheWire) {
  json p = Pod("a", "p1");
  p["metadata"]["annotations"] = {{"expr", "a<b && c>d"}};
  api_.Apply(FakeApiServer::kPods, p);
  HttpResult r = Do(port(), "GET", "/api/v1/namespaces/a/pods/p1");
  EXPECT_THAT(r.body, HasSubstr(R"("a\u003cb \u0026\u0026 c\u003ed")"));
  EXPECT_EQ(r.Json()["metadata"]["annotations"]["expr"], "a<b && c>d");
}

TEST(FakeApiServerAuthTest, BearerTokenRequired) {
  FakeApiServerOptions options;
  options.bearer_token = "s3cret";
  FakeApiServer api(options);
  ASSERT_TRUE(api.Start().ok());
  HttpResult r = Do(api.port(), "GET", "/api/v1/pods");
  ExpectStatus(r, 401, "Unauthorized");
  EXPECT_EQ(r.Json()["message"], "Unauthorized");
  ExpectStatus(Do(api.port(), "GET", "/api/v1/pods", "", {{"Authorization", "Bearer wrong"}}), 401,
               "Unauthorized");
  EXPECT_EQ(Do(api.port(), "GET", "/api/v1/pods", "", {{"Authorization", "Bearer s3cret"}}).status,
            200);
}

TEST_F(FakeApiServerTest, FailNextRequests) {
  api_.FailNextRequests(2, 503);
  ExpectStatus(Do(port(), "GET", "/api/v1/pods"), 503, "ServiceUnavailable");
  ExpectStatus(Do(port(), "GET", "/api/v1/nodes"), 503, "ServiceUnavailable");
  EXPECT_EQ(Do(port(), "GET", "/api/v1/pods").status, 200);

  api_.FailNextRequests(1, 410, "/api/v1/pods");
  api_.FailNextRequests(1, 500, "/api/v1/nodes");
  EXPECT_EQ(Do(port(), "GET", "/apis/scheduling.x-k8s.io/v1alpha1/podgroups").status, 200);
  ExpectStatus(Do(port(), "GET", "/api/v1/nodes"), 500, "InternalError");
  ExpectStatus(Do(port(), "GET", "/api/v1/pods"), 410, "Expired");
  EXPECT_EQ(Do(port(), "GET", "/api/v1/pods").status, 200);
  EXPECT_EQ(Do(port(), "GET", "/api/v1/nodes").status, 200);
}

TEST_F(FakeApiServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  net::io_context ioc;
  tcp::socket sock(ioc);
  sock.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port()));
  beast::flat_buffer buf;
  const int64_t before = api_.requests_served();
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(DoOn(sock, buf, "GET", "/api/v1/nodes", "", {}, true).status, 200);
  }
  EXPECT_EQ(api_.requests_served() - before, 3);
}

TEST_F(FakeApiServerTest, CreateAndDeleteOverHttp) {
  HttpResult r = Do(port(), "POST", "/api/v1/namespaces/a/pods", Pod("a", "p1").dump());
  EXPECT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(r.Json()["kind"], "Pod");
  ExpectStatus(Do(port(), "POST", "/api/v1/namespaces/a/pods", Pod("a", "p1").dump()), 409,
               "AlreadyExists");
  r = Do(port(), "DELETE", "/api/v1/namespaces/a/pods/p1");
  EXPECT_EQ(r.status, 200);
  EXPECT_FALSE(api_.Get(FakeApiServer::kPods, "a", "p1"));
  ExpectStatus(Do(port(), "DELETE", "/api/v1/namespaces/a/pods/p1"), 404, "NotFound");
}

TEST_F(FakeApiServerTest, HangNextBindingDelaysOneBinding) {
  api_.Apply(FakeApiServer::kPods, Pod("a", "p1"));
  api_.HangNextBinding(absl::Milliseconds(300));
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(Do(port(), "POST", "/api/v1/namespaces/a/pods/p1/binding",
               BindingBody("a", "p1", "", "n1"))
                .status,
            201);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 250ms);
}

TEST(FakeApiServerStopTest, StopWithOpenWatchesReturnsPromptly) {
  auto api = std::make_unique<FakeApiServer>();
  ASSERT_TRUE(api->Start().ok());
  WatchClient w(api->port(), "/api/v1/pods?watch=1");
  WatchClient idle(api->port(), "/api/v1/nodes?watch=1");
  auto start = std::chrono::steady_clock::now();
  api->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  std::optional<json> none = w.Next(1s);
  EXPECT_FALSE(none);
  api.reset();
}

}  // namespace
}  // namespace gpusched::testing
