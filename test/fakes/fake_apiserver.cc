#include "test/fakes/fake_apiserver.h"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <exception>
#include <utility>

#include <boost/asio.hpp>
#include <boost/beast.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"

namespace gpusched::testing {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
using tcp = boost::asio::ip::tcp;
using json = nlohmann::json;
using ojson = nlohmann::ordered_json;

// ---------------------------------------------------------------------------------------------
// Internal types.

struct FakeApiServer::Event {
  std::string type;  // ADDED, MODIFIED, DELETED
  json object;       // stored form (no kind/apiVersion); for DELETED the last state
  json prev;         // the state before (null for ADDED)
  int64_t rv = 0;
};

struct FakeApiServer::Resource {
  ResourceType type;
  bool installed = true;
  std::map<std::string, json> objects;  // key: "ns/name" (namespaced) or "name"
  std::deque<Event> history;            // increasing rv
  // New watches / continue tokens from an rv below `floor` are too old.
  int64_t floor = 0;
  // The newest rv among dropped events: an open watch that has not seen it must get 410.
  int64_t dropped_max = 0;
};

namespace fake_apiserver_internal {

struct Term {
  std::string path;  // "spec.nodeName"
  bool equal = true;
  std::string value;
};
using Selector = std::vector<Term>;

struct Route {
  std::string kind_id;  // resource identifier
  bool has_ns = false;
  std::string ns;
  std::string name;
  std::string sub;  // "", "status", "binding"
  bool legacy_bindings = false;
};

struct Incoming {
  std::string method;
  std::string target;
  std::string path;
  std::map<std::string, std::string> query;
  std::string authorization;
  std::string content_type;
  std::string body;

  std::string Query(const std::string& key) const {
    auto it = query.find(key);
    return it == query.end() ? std::string() : it->second;
  }
  bool Has(const std::string& key) const { return query.count(key) > 0; }
};

struct WatchSpec {
  bool initial = false;  // resourceVersion "" or "0": synthetic ADDED events first
  int64_t from_rv = 0;
  bool bookmarks = false;
  std::optional<absl::Duration> timeout;
  Selector selector;
};

struct Reply {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  // Set for a valid watch request: the connection streams it instead of sending `body`.
  std::optional<Route> watch_route;
  std::optional<WatchSpec> watch;
};

}  // namespace fake_apiserver_internal

using fake_apiserver_internal::Selector;
using fake_apiserver_internal::Term;
using fake_apiserver_internal::WatchSpec;
using Reply = fake_apiserver_internal::Reply;

struct FakeApiServer::Connection {
  std::thread thread;
  std::atomic<bool> done{false};
};

struct FakeApiServer::Net {
  net::io_context ioc;
  tcp::acceptor acceptor{ioc};
};

namespace {

// Go's encoding/json escapes these in every string; they can only occur inside strings.
std::string GoEscape(std::string s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '<') {
      out += "\\u003c";
    } else if (c == '>') {
      out += "\\u003e";
    } else if (c == '&') {
      out += "\\u0026";
    } else if (c == '\xE2' && i + 2 < s.size() && s[i + 1] == '\x80' &&
               (s[i + 2] == '\xA8' || s[i + 2] == '\xA9')) {
      out += s[i + 2] == '\xA8' ? "\\u2028" : "\\u2029";
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

template <typename J>
std::string Dump(const J& j) {
  return GoEscape(j.dump(-1, ' ', false, J::error_handler_t::replace));
}

// `object` (without kind/apiVersion) with kind and apiVersion first, as Go marshals typed objects.
std::string DumpWithKind(const json& object, const ResourceType& t) {
  json copy = object;
  if (copy.is_object()) {
    copy.erase("kind");
    copy.erase("apiVersion");
  }
  std::string rest = Dump(copy);
  std::string head = absl::StrCat("{\"kind\":", Dump(json(t.kind)),
                                  ",\"apiVersion\":", Dump(json(t.api_version())));
  if (rest == "{}" || rest.size() < 2 || rest[0] != '{') return head + "}";
  return absl::StrCat(head, ",", rest.substr(1));
}

json WithKind(json object, const ResourceType& t) {
  object["kind"] = t.kind;
  object["apiVersion"] = t.api_version();
  return object;
}

std::string_view ReasonFor(int code) {
  switch (code) {
    case 400: return "BadRequest";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "NotFound";
    case 405: return "MethodNotAllowed";
    case 406: return "NotAcceptable";
    case 409: return "Conflict";
    case 410: return "Expired";
    case 413: return "RequestEntityTooLarge";
    case 415: return "UnsupportedMediaType";
    case 422: return "Invalid";
    case 429: return "TooManyRequests";
    case 500: return "InternalError";
    case 503: return "ServiceUnavailable";
    case 504: return "Timeout";
    default: return "";
  }
}

ojson StatusJson(int code, std::string_view message, std::string_view reason = "",
                 const ojson& details = nullptr) {
  ojson s;
  s["kind"] = "Status";
  s["apiVersion"] = "v1";
  s["metadata"] = ojson::object();
  s["status"] = "Failure";
  s["message"] = std::string(message);
  s["reason"] = std::string(reason.empty() ? ReasonFor(code) : reason);
  if (!details.is_null()) s["details"] = details;
  s["code"] = code;
  return s;
}

Reply StatusReply(int code, std::string_view message, std::string_view reason = "",
                                 const ojson& details = nullptr) {
  Reply r;
  r.status = code;
  r.body = Dump(StatusJson(code, message, reason, details));
  return r;
}

Reply NoSuchPath() {
  return StatusReply(404, "the server could not find the requested resource", "NotFound",
                     ojson::object());
}

// `pods` or `podgroups.scheduling.x-k8s.io`, as kube-apiserver names resources in messages.
std::string QualifiedName(const ResourceType& t) {
  return t.group.empty() ? t.plural : absl::StrCat(t.plural, ".", t.group);
}

ojson Details(const ResourceType& t, std::string_view name, std::string_view kind = "") {
  ojson d;
  d["name"] = std::string(name);
  if (!t.group.empty()) d["group"] = t.group;
  d["kind"] = kind.empty() ? t.plural : std::string(kind);
  return d;
}

Reply NotFound(const ResourceType& t, std::string_view name) {
  return StatusReply(404, absl::StrFormat("%s \"%s\" not found", QualifiedName(t), name),
                     "NotFound", Details(t, name));
}

std::string Now3339() {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::Now(), absl::UTCTimeZone());
}

std::string PercentDecode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      int v = 0;
      if (std::sscanf(std::string(s.substr(i + 1, 2)).c_str(), "%2x", &v) == 1) {
        out += static_cast<char>(v);
        i += 2;
        continue;
      }
    }
    out += s[i] == '+' ? ' ' : s[i];
  }
  return out;
}

std::string StringAt(const json& j, std::initializer_list<const char*> path) {
  const json* cur = &j;
  for (const char* key : path) {
    if (!cur->is_object()) return "";
    auto it = cur->find(key);
    if (it == cur->end()) return "";
    cur = &*it;
  }
  return cur->is_string() ? cur->get<std::string>() : "";
}

// The value at a dotted path as a field selector sees it: strings as is, other scalars as JSON,
// missing or null as "".
std::string FieldValue(const json& j, const std::string& dotted) {
  const json* cur = &j;
  for (absl::string_view key : absl::StrSplit(dotted, '.')) {
    if (!cur->is_object()) return "";
    auto it = cur->find(std::string(key));
    if (it == cur->end()) return "";
    cur = &*it;
  }
  if (cur->is_null()) return "";
  if (cur->is_string()) return cur->get<std::string>();
  return cur->dump();
}

bool ParseSelector(const std::string& text, Selector* out, std::string* error) {
  out->clear();
  if (text.empty()) return true;
  for (absl::string_view term : absl::StrSplit(text, ',')) {
    Term t;
    size_t p;
    if ((p = term.find("!=")) != absl::string_view::npos) {
      t.equal = false;
      t.path = std::string(term.substr(0, p));
      t.value = std::string(term.substr(p + 2));
    } else if ((p = term.find("==")) != absl::string_view::npos) {
      t.path = std::string(term.substr(0, p));
      t.value = std::string(term.substr(p + 2));
    } else if ((p = term.find('=')) != absl::string_view::npos) {
      t.path = std::string(term.substr(0, p));
      t.value = std::string(term.substr(p + 1));
    } else {
      *error = absl::StrFormat("invalid selector: '%s'; can't understand '%s'", text, term);
      return false;
    }
    if (t.path.empty()) {
      *error = absl::StrFormat("invalid selector: '%s'; can't understand '%s'", text, term);
      return false;
    }
    out->push_back(std::move(t));
  }
  return true;
}

bool Matches(const Selector& sel, const json& object) {
  for (const Term& t : sel) {
    if ((FieldValue(object, t.path) == t.value) != t.equal) return false;
  }
  return true;
}

std::string EventLine(std::string_view type, const std::string& object_json) {
  return absl::StrCat("{\"type\":\"", std::string(type), "\",\"object\":", object_json, "}\n");
}

std::string ExpiredEventLine(int64_t asked, int64_t oldest) {
  return EventLine(
      "ERROR",
      Dump(StatusJson(410, absl::StrFormat("too old resource version: %d (%d)", asked, oldest),
                      "Expired")));
}

bool PeerClosed(int fd) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, 0) <= 0) return false;
  if (p.revents & (POLLERR | POLLHUP | POLLNVAL)) return true;
  if (p.revents & POLLIN) {
    char c;
    ssize_t n = ::recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0;
  }
  return false;
}

std::string ObjectKey(const ResourceType& t, std::string_view ns, std::string_view name) {
  return t.namespaced ? absl::StrCat(std::string(ns), "/", std::string(name)) : std::string(name);
}

}  // namespace

std::string ResourceType::id() const {
  return group.empty() ? plural : absl::StrCat(group, "/", version, "/", plural);
}

std::string ResourceType::api_version() const {
  return group.empty() ? version : absl::StrCat(group, "/", version);
}

// ---------------------------------------------------------------------------------------------
// Construction, start, stop.

FakeApiServer::FakeApiServer(FakeApiServerOptions options)
    : options_(std::move(options)), net_(std::make_unique<Net>()) {
  RegisterResource({"", "v1", "pods", "Pod", true});
  RegisterResource({"", "v1", "nodes", "Node", false});
  RegisterResource({"scheduling.x-k8s.io", "v1alpha1", "podgroups", "PodGroup", true});
  RegisterResource({"scheduling.k8s.io", "v1alpha2", "podgroups", "PodGroup", true});
  RegisterResource({"scheduling.k8s.io", "v1beta1", "podgroups", "PodGroup", true});
  RegisterResource({"scheduling.volcano.sh", "v1beta1", "podgroups", "PodGroup", true});
  RegisterResource({"scheduling.k8s.io", "v1alpha1", "workloads", "Workload", true});
}

FakeApiServer::~FakeApiServer() { Stop(); }

absl::Status FakeApiServer::Start() {
  if (started_.exchange(true)) return absl::FailedPreconditionError("FakeApiServer: started twice");
  boost::system::error_code ec;
  tcp::endpoint ep(net::ip::make_address("127.0.0.1"), 0);
  net_->acceptor.open(ep.protocol(), ec);
  if (!ec) net_->acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) net_->acceptor.bind(ep, ec);
  if (!ec) net_->acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) return absl::UnavailableError(absl::StrCat("FakeApiServer: listen: ", ec.message()));
  port_ = net_->acceptor.local_endpoint().port();
  acceptor_thread_ = std::thread([this] { AcceptLoop(); });
  return absl::OkStatus();
}

std::string FakeApiServer::base_url() const { return absl::StrCat("http://127.0.0.1:", port()); }

void FakeApiServer::Stop() {
  if (!started_.load() || stopping_.exchange(true)) return;
  {
    std::lock_guard<std::mutex> l(notify_mu_);
    ++close_gen_;
  }
  notify_cv_.notify_all();
  ::shutdown(net_->acceptor.native_handle(), SHUT_RDWR);
  if (acceptor_thread_.joinable()) acceptor_thread_.join();
  std::vector<std::unique_ptr<Connection>> conns;
  {
    std::lock_guard<std::mutex> l(conn_mu_);
    for (const auto& [id, fd] : conn_fds_) ::shutdown(fd, SHUT_RDWR);
    conns = std::move(conns_);
  }
  for (auto& c : conns) {
    if (c->thread.joinable()) c->thread.join();
  }
  boost::system::error_code ec;
  net_->acceptor.close(ec);
}

void FakeApiServer::AcceptLoop() {
  while (!stopping_.load()) {
    tcp::socket sock(net_->ioc);
    boost::system::error_code ec;
    net_->acceptor.accept(sock, ec);
    if (stopping_.load()) break;
    if (ec) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      continue;
    }
    sock.set_option(tcp::no_delay(true), ec);
    std::lock_guard<std::mutex> l(conn_mu_);
    if (stopping_.load()) break;
    // Reap finished connection threads.
    for (auto it = conns_.begin(); it != conns_.end();) {
      if ((*it)->done.load()) {
        (*it)->thread.join();
        it = conns_.erase(it);
      } else {
        ++it;
      }
    }
    uint64_t id = next_conn_id_++;
    conn_fds_[id] = sock.native_handle();
    auto conn = std::make_unique<Connection>();
    Connection* c = conn.get();
    auto* owned = new tcp::socket(std::move(sock));
    c->thread = std::thread([this, id, owned, c] {
      ServeConnection(id, owned);
      c->done.store(true);
    });
    conns_.push_back(std::move(conn));
  }
}

void FakeApiServer::ServeConnection(uint64_t id, void* raw) {
  std::unique_ptr<tcp::socket> sock(static_cast<tcp::socket*>(raw));
  beast::flat_buffer buffer;
  while (!stopping_.load()) {
    bhttp::request_parser<bhttp::string_body> parser;
    parser.body_limit(options_.body_limit);
    boost::system::error_code ec;
    bhttp::read(*sock, buffer, parser, ec);
    if (ec) break;
    auto& req = parser.get();
    Incoming in;
    in.method = std::string(req.method_string());
    in.target = std::string(req.target());
    size_t q = in.target.find('?');
    in.path = PercentDecode(std::string_view(in.target).substr(0, q));
    if (q != std::string::npos) {
      for (absl::string_view kv :
           absl::StrSplit(absl::string_view(in.target).substr(q + 1), '&', absl::SkipEmpty())) {
        size_t eq = kv.find('=');
        std::string k = PercentDecode(std::string(kv.substr(0, eq)));
        in.query[k] =
            eq == absl::string_view::npos ? "" : PercentDecode(std::string(kv.substr(eq + 1)));
      }
    }
    in.authorization = std::string(req[bhttp::field::authorization]);
    in.content_type = std::string(req[bhttp::field::content_type]);
    in.body = std::move(req.body());
    const bool keep_alive = req.keep_alive();
    const unsigned version = req.version();

    Reply reply;
    try {
      reply = Handle(in);
    } catch (const std::exception& e) {
      reply = StatusReply(500, absl::StrCat("fake apiserver: ", e.what()));
    }
    ++requests_served_;
    if (reply.watch.has_value()) {
      if (!ServeWatch(reply, sock.get()) || !keep_alive) break;
      continue;
    }
    bhttp::response<bhttp::string_body> res{static_cast<bhttp::status>(reply.status), version};
    res.set(bhttp::field::content_type, reply.content_type);
    res.keep_alive(keep_alive);
    res.body() = std::move(reply.body);
    res.prepare_payload();
    bhttp::write(*sock, res, ec);
    if (ec || !keep_alive) break;
  }
  boost::system::error_code ec;
  sock->shutdown(tcp::socket::shutdown_send, ec);
  {
    std::lock_guard<std::mutex> l(conn_mu_);
    conn_fds_.erase(id);
  }
  sock->close(ec);
}

// ---------------------------------------------------------------------------------------------
// Store.

void FakeApiServer::RegisterResource(ResourceType type) {
  MutexLock l(&mu_);
  std::string id = type.id();
  auto it = resources_.find(id);
  if (it != resources_.end()) {
    it->second->type = std::move(type);
    it->second->installed = true;
    return;
  }
  auto res = std::make_unique<Resource>();
  res->type = std::move(type);
  resources_.emplace(std::move(id), std::move(res));
}

void FakeApiServer::UninstallResource(std::string_view kind) {
  {
    MutexLock l(&mu_);
    MustFindLocked(kind).installed = false;
  }
  NotifyWatchers();
}

void FakeApiServer::InstallResource(std::string_view kind) {
  MutexLock l(&mu_);
  MustFindLocked(kind).installed = true;
}

FakeApiServer::Resource* FakeApiServer::FindLocked(std::string_view kind) const {
  auto it = resources_.find(kind);
  return it == resources_.end() ? nullptr : it->second.get();
}

FakeApiServer::Resource& FakeApiServer::MustFindLocked(std::string_view kind) const {
  Resource* r = FindLocked(kind);
  if (r == nullptr) {
    std::fprintf(stderr, "FakeApiServer: unknown resource \"%.*s\" (register it first)\n",
                 static_cast<int>(kind.size()), kind.data());
    std::abort();
  }
  return *r;
}

void FakeApiServer::FillDefaultsLocked(Resource& res, json& object, const json* existing) {
  if (!object.is_object()) object = json::object();
  object.erase("kind");
  object.erase("apiVersion");
  json& meta = object["metadata"];
  if (!meta.is_object()) meta = json::object();
  if (res.type.namespaced) {
    if (!meta.contains("namespace") || !meta["namespace"].is_string() ||
        meta["namespace"].get<std::string>().empty()) {
      meta["namespace"] = "default";
    }
  } else {
    meta.erase("namespace");
  }
  auto keep_or_make = [&](const char* key, auto make) {
    if (meta.contains(key) && meta[key].is_string() && !meta[key].get<std::string>().empty()) {
      return;
    }
    if (existing != nullptr) {
      std::string old = StringAt(*existing, {"metadata", key});
      if (!old.empty()) {
        meta[key] = old;
        return;
      }
    }
    meta[key] = make();
  };
  const uint64_t serial = ++uid_counter_;
  keep_or_make("uid", [serial] { return absl::StrFormat("fa4e5e4e-0000-4000-8000-%012d", serial); });
  keep_or_make("creationTimestamp", [] { return Now3339(); });
}

json FakeApiServer::CommitLocked(Resource& res, const std::string& key, json object,
                                 std::string_view type) {
  json prev;
  auto it = res.objects.find(key);
  if (it != res.objects.end()) prev = it->second;
  ++rv_;
  object["metadata"]["resourceVersion"] = std::to_string(rv_);
  if (type == "DELETED") {
    res.objects.erase(key);
  } else {
    res.objects[key] = object;
  }
  res.history.push_back(Event{std::string(type), object, std::move(prev), rv_});
  while (res.history.size() > options_.history_window) {
    res.floor = std::max(res.floor, res.history.front().rv);
    res.dropped_max = std::max(res.dropped_max, res.history.front().rv);
    res.history.pop_front();
  }
  return object;
}

void FakeApiServer::NotifyWatchers() {
  {
    std::lock_guard<std::mutex> l(notify_mu_);
    ++event_gen_;
  }
  notify_cv_.notify_all();
}

json FakeApiServer::Apply(std::string_view kind, json object) {
  json stored;
  {
    MutexLock l(&mu_);
    Resource& res = MustFindLocked(kind);
    std::string name = StringAt(object, {"metadata", "name"});
    if (name.empty()) {
      std::fprintf(stderr, "FakeApiServer::Apply(%.*s): object without metadata.name: %s\n",
                   static_cast<int>(kind.size()), kind.data(), object.dump().c_str());
      std::abort();
    }
    std::string ns = res.type.namespaced ? StringAt(object, {"metadata", "namespace"}) : "";
    if (res.type.namespaced && ns.empty()) ns = "default";
    std::string key = ObjectKey(res.type, ns, name);
    auto it = res.objects.find(key);
    const json* existing = it == res.objects.end() ? nullptr : &it->second;
    FillDefaultsLocked(res, object, existing);
    stored = CommitLocked(res, key, std::move(object), existing ? "MODIFIED" : "ADDED");
    stored = WithKind(std::move(stored), res.type);
  }
  NotifyWatchers();
  return stored;
}

bool FakeApiServer::Delete(std::string_view kind, std::string_view ns, std::string_view name) {
  {
    MutexLock l(&mu_);
    Resource& res = MustFindLocked(kind);
    std::string key = ObjectKey(res.type, ns, name);
    auto it = res.objects.find(key);
    if (it == res.objects.end()) return false;
    CommitLocked(res, key, it->second, "DELETED");
  }
  NotifyWatchers();
  return true;
}

std::optional<json> FakeApiServer::Get(std::string_view kind, std::string_view ns,
                                       std::string_view name) const {
  ReaderMutexLock l(&mu_);
  Resource& res = MustFindLocked(kind);
  auto it = res.objects.find(ObjectKey(res.type, ns, name));
  if (it == res.objects.end()) return std::nullopt;
  return WithKind(it->second, res.type);
}

std::vector<json> FakeApiServer::List(std::string_view kind) const {
  ReaderMutexLock l(&mu_);
  Resource& res = MustFindLocked(kind);
  std::vector<json> out;
  for (const auto& [key, obj] : res.objects) out.push_back(WithKind(obj, res.type));
  return out;
}

int64_t FakeApiServer::resource_version() const {
  ReaderMutexLock l(&mu_);
  return rv_;
}

void FakeApiServer::Compact() {
  {
    MutexLock l(&mu_);
    for (auto& [id, res] : resources_) {
      if (!res->history.empty()) {
        res->dropped_max = std::max(res->dropped_max, res->history.back().rv);
      }
      res->history.clear();
      res->floor = rv_;
    }
  }
  NotifyWatchers();
}

void FakeApiServer::SendBookmarks() {
  {
    std::lock_guard<std::mutex> l(notify_mu_);
    ++bookmark_gen_;
  }
  notify_cv_.notify_all();
}

void FakeApiServer::CloseWatches() {
  {
    std::lock_guard<std::mutex> l(notify_mu_);
    ++close_gen_;
  }
  notify_cv_.notify_all();
}

void FakeApiServer::FailNextRequests(int n, int code, std::string path_prefix) {
  if (n <= 0) return;
  MutexLock l(&mu_);
  failures_.push_back(Failure{n, code, std::move(path_prefix)});
}

void FakeApiServer::SetLatency(absl::Duration latency) {
  MutexLock l(&mu_);
  latency_ = latency;
}

void FakeApiServer::HangNextBinding(absl::Duration delay) {
  MutexLock l(&mu_);
  binding_hang_ = delay;
}

std::vector<RecordedBinding> FakeApiServer::Bindings() const {
  ReaderMutexLock l(&mu_);
  return bindings_;
}

std::vector<RecordedPatch> FakeApiServer::Patches() const {
  ReaderMutexLock l(&mu_);
  return patches_;
}

// ---------------------------------------------------------------------------------------------
// HTTP handling.

FakeApiServer::Reply FakeApiServer::Handle(const Incoming& in) {
  absl::Duration latency;
  {
    ReaderMutexLock l(&mu_);
    latency = latency_;
  }
  if (latency > absl::ZeroDuration()) {
    std::unique_lock<std::mutex> l(notify_mu_);
    notify_cv_.wait_for(l, absl::ToChronoMilliseconds(latency), [&] { return stopping_.load(); });
  }
  if (!options_.bearer_token.empty() &&
      in.authorization != absl::StrCat("Bearer ", options_.bearer_token)) {
    return StatusReply(401, "Unauthorized", "Unauthorized");
  }
  {
    MutexLock l(&mu_);
    for (auto it = failures_.begin(); it != failures_.end(); ++it) {
      if (!absl::StartsWith(in.path, it->prefix)) continue;
      int code = it->code;
      if (--it->remaining <= 0) failures_.erase(it);
      std::string message = code == 410 ? "The resourceVersion for the provided list is too old."
                                        : "fake apiserver: injected failure";
      return StatusReply(code, message);
    }
  }

  // Route: /api/v1/... or /apis/{group}/{version}/...
  std::vector<std::string> segs = absl::StrSplit(in.path, '/', absl::SkipEmpty());
  std::string group, version;
  size_t i;
  if (segs.size() >= 2 && segs[0] == "api" && segs[1] == "v1") {
    version = "v1";
    i = 2;
  } else if (segs.size() >= 3 && segs[0] == "apis") {
    group = segs[1];
    version = segs[2];
    i = 3;
  } else {
    return NoSuchPath();
  }
  std::vector<std::string> rest(segs.begin() + i, segs.end());
  Route route;
  if (rest.size() >= 3 && rest[0] == "namespaces") {
    route.has_ns = true;
    route.ns = rest[1];
    rest.erase(rest.begin(), rest.begin() + 2);
  }
  if (rest.empty() || rest.size() > 3) return NoSuchPath();
  if (group.empty() && route.has_ns && rest.size() == 1 && rest[0] == "bindings") {
    if (in.method != "POST") {
      return StatusReply(405, "the server does not allow this method on the requested resource");
    }
    route.legacy_bindings = true;
    route.kind_id = "pods";
    return HandleBinding(route, in);
  }
  route.kind_id = group.empty() ? rest[0] : absl::StrCat(group, "/", version, "/", rest[0]);
  if (rest.size() > 1) route.name = rest[1];
  if (rest.size() > 2) route.sub = rest[2];

  ResourceType type;
  {
    ReaderMutexLock l(&mu_);
    Resource* res = FindLocked(route.kind_id);
    if (res == nullptr || !res->installed) return NoSuchPath();
    type = res->type;
  }
  if (type.version != version) return NoSuchPath();
  if (type.namespaced != route.has_ns && !(type.namespaced && route.name.empty())) {
    return NoSuchPath();
  }
  if (type.namespaced && !route.has_ns && in.method != "GET") return NoSuchPath();
  if (!route.sub.empty() && route.sub != "status" &&
      !(route.sub == "binding" && type.id() == "pods")) {
    return NoSuchPath();
  }
  auto not_allowed = [] {
    return StatusReply(405, "the server does not allow this method on the requested resource");
  };

  if (route.name.empty()) {
    if (in.method == "GET") {
      std::string w = in.Query("watch");
      if (w == "1" || w == "true") {
        WatchSpec spec;
        std::string rv = in.Query("resourceVersion");
        if (rv.empty() || rv == "0") {
          spec.initial = true;
        } else if (!absl::SimpleAtoi(rv, &spec.from_rv) || spec.from_rv < 0) {
          return StatusReply(400, absl::StrFormat("invalid resource version: \"%s\"", rv),
                             "BadRequest");
        }
        std::string b = in.Query("allowWatchBookmarks");
        spec.bookmarks = b == "true" || b == "1";
        if (in.Has("timeoutSeconds")) {
          int64_t t;
          if (!absl::SimpleAtoi(in.Query("timeoutSeconds"), &t) || t < 0) {
            return StatusReply(400, "invalid timeoutSeconds", "BadRequest");
          }
          if (t > 0) spec.timeout = absl::Seconds(t);
        }
        std::string error;
        if (!ParseSelector(in.Query("fieldSelector"), &spec.selector, &error)) {
          return StatusReply(400, error, "BadRequest");
        }
        Reply r;
        r.watch = std::move(spec);
        r.watch_route = route;
        return r;
      }
      return HandleList(route, in);
    }
    if (in.method == "POST") return HandleCreate(route, in);
    return not_allowed();
  }
  if (route.sub == "binding") {
    if (in.method != "POST") return not_allowed();
    return HandleBinding(route, in);
  }
  if (in.method == "GET") return HandleGet(route);
  if (in.method == "PATCH") return HandlePatch(route, in);
  if (in.method == "DELETE" && route.sub.empty()) return HandleDelete(route);
  return not_allowed();
}

FakeApiServer::Reply FakeApiServer::HandleList(const Route& route, const Incoming& in) {
  int64_t limit = 0;
  if (in.Has("limit") && (!absl::SimpleAtoi(in.Query("limit"), &limit) || limit < 0)) {
    return StatusReply(400, "invalid limit", "BadRequest");
  }
  Selector selector;
  std::string error;
  if (!ParseSelector(in.Query("fieldSelector"), &selector, &error)) {
    return StatusReply(400, error, "BadRequest");
  }
  std::string token = in.Query("continue");

  ReaderMutexLock l(&mu_);
  Resource& res = MustFindLocked(route.kind_id);
  int64_t snapshot_rv = rv_;
  std::string start;
  if (!token.empty()) {
    std::string raw;
    json t;
    if (absl::WebSafeBase64Unescape(token, &raw)) t = json::parse(raw, nullptr, false);
    if (!t.is_object() || !t.contains("rv") || !t["rv"].is_number_integer() ||
        !t.contains("start") || !t["start"].is_string()) {
      return StatusReply(400, "continue key is not valid: invalid continue token", "BadRequest");
    }
    snapshot_rv = t["rv"].get<int64_t>();
    start = t["start"].get<std::string>();
    if (snapshot_rv < res.floor) {
      return StatusReply(
          410,
          "The provided continue parameter is too old to display a consistent list result. You "
          "can start a new list without the continue parameter, or use the continue token in "
          "this response to retrieve the remainder of the results. Continuing with the provided "
          "token results in an inconsistent list - objects that were created, modified, or "
          "deleted between the time the first chunk was returned and now may show up in the "
          "list.",
          "Expired");
    }
  }
  std::vector<std::pair<const std::string*, const json*>> matched;
  auto it = start.empty() ? res.objects.begin() : res.objects.upper_bound(start);
  for (; it != res.objects.end(); ++it) {
    if (route.has_ns && StringAt(it->second, {"metadata", "namespace"}) != route.ns) continue;
    if (!Matches(selector, it->second)) continue;
    matched.emplace_back(&it->first, &it->second);
  }
  size_t n = matched.size();
  if (limit > 0 && static_cast<size_t>(limit) < n) n = static_cast<size_t>(limit);

  ojson meta;
  meta["resourceVersion"] = std::to_string(snapshot_rv);
  if (n < matched.size()) {
    meta["continue"] = absl::WebSafeBase64Escape(
        json{{"rv", snapshot_rv}, {"start", *matched[n - 1].first}}.dump());
    meta["remainingItemCount"] = matched.size() - n;
  }
  // Custom resources are unstructured on the server: their list items keep kind/apiVersion.
  const bool custom = !res.type.group.empty();
  std::string items;
  for (size_t k = 0; k < n; ++k) {
    if (k > 0) items += ",";
    items += custom ? DumpWithKind(*matched[k].second, res.type) : Dump(*matched[k].second);
  }
  Reply r;
  r.body = absl::StrCat("{\"kind\":\"", res.type.kind, "List\",\"apiVersion\":\"",
                        res.type.api_version(), "\",\"metadata\":", Dump(meta), ",\"items\":[",
                        items, "]}");
  return r;
}

FakeApiServer::Reply FakeApiServer::HandleGet(const Route& route) {
  ReaderMutexLock l(&mu_);
  Resource& res = MustFindLocked(route.kind_id);
  auto it = res.objects.find(ObjectKey(res.type, route.ns, route.name));
  if (it == res.objects.end()) return NotFound(res.type, route.name);
  Reply r;
  r.body = DumpWithKind(it->second, res.type);
  return r;
}

FakeApiServer::Reply FakeApiServer::HandleCreate(const Route& route, const Incoming& in) {
  json obj = json::parse(in.body, nullptr, false);
  ResourceType type;
  {
    ReaderMutexLock l(&mu_);
    type = MustFindLocked(route.kind_id).type;
  }
  if (!obj.is_object()) {
    return StatusReply(400, absl::StrFormat("%s in version \"%s\" cannot be handled as a %s: "
                                            "invalid JSON",
                                            type.kind, type.version, type.kind),
                       "BadRequest");
  }
  std::string name = StringAt(obj, {"metadata", "name"});
  if (name.empty()) {
    return StatusReply(
        422, absl::StrFormat("%s \"\" is invalid: metadata.name: Required value: name or "
                             "generateName is required",
                             type.kind),
        "Invalid");
  }
  if (type.namespaced) {
    std::string ns = StringAt(obj, {"metadata", "namespace"});
    if (!ns.empty() && ns != route.ns) {
      return StatusReply(400,
                         "the namespace of the provided object does not match the namespace "
                         "sent on the request",
                         "BadRequest");
    }
    obj["metadata"]["namespace"] = route.ns;
  }
  Reply r;
  {
    MutexLock l(&mu_);
    Resource& res = MustFindLocked(route.kind_id);
    std::string key = ObjectKey(type, route.ns, name);
    if (res.objects.count(key)) {
      return StatusReply(409, absl::StrFormat("%s \"%s\" already exists", QualifiedName(type),
                                              name),
                         "AlreadyExists", Details(type, name));
    }
    FillDefaultsLocked(res, obj, nullptr);
    r.status = 201;
    r.body = DumpWithKind(CommitLocked(res, key, std::move(obj), "ADDED"), type);
  }
  NotifyWatchers();
  return r;
}

FakeApiServer::Reply FakeApiServer::HandlePatch(const Route& route, const Incoming& in) {
  std::string ct = absl::AsciiStrToLower(absl::StripAsciiWhitespace(
      absl::string_view(in.content_type).substr(0, in.content_type.find(';'))));
  Reply r = [&]() -> Reply {
    const bool merge = ct == "application/merge-patch+json" ||
                       ct == "application/strategic-merge-patch+json";
    const bool json_patch = ct == "application/json-patch+json";
    if (!merge && !json_patch) {
      return StatusReply(415,
                         "the body of the request was in an unknown format - accepted media "
                         "types include: application/json-patch+json, "
                         "application/merge-patch+json, application/apply-patch+yaml, "
                         "application/strategic-merge-patch+json",
                         "UnsupportedMediaType");
    }
    json patch = json::parse(in.body, nullptr, false);
    if ((merge && !patch.is_object()) || (json_patch && !patch.is_array())) {
      return StatusReply(400, "error decoding patch: invalid JSON document for this patch type",
                         "BadRequest");
    }
    Reply ok;
    {
      MutexLock l(&mu_);
      Resource& res = MustFindLocked(route.kind_id);
      std::string key = ObjectKey(res.type, route.ns, route.name);
      auto it = res.objects.find(key);
      if (it == res.objects.end()) return NotFound(res.type, route.name);
      const json& current = it->second;
      const json& current_meta = current.at("metadata");
      json patched;
      if (merge) {
        std::string want_rv = StringAt(patch, {"metadata", "resourceVersion"});
        if (!want_rv.empty() && want_rv != StringAt(current, {"metadata", "resourceVersion"})) {
          return StatusReply(
              409,
              absl::StrFormat("Operation cannot be fulfilled on %s \"%s\": the object has been "
                              "modified; please apply your changes to the latest version and "
                              "try again",
                              QualifiedName(res.type), route.name),
              "Conflict", Details(res.type, route.name));
        }
        patched = current;
        patched.merge_patch(patch);
      } else {
        try {
          patched = current.patch(patch);
        } catch (const std::exception& e) {
          return StatusReply(422, absl::StrCat("the server rejected our request due to an error "
                                               "in our request: ",
                                               e.what()),
                             "Invalid");
        }
      }
      if (!patched.is_object()) patched = json::object();
      patched.erase("kind");
      patched.erase("apiVersion");
      // Identity fields are immutable.
      json& meta = patched["metadata"];
      if (!meta.is_object()) meta = json::object();
      for (const char* k : {"name", "namespace", "uid", "creationTimestamp", "resourceVersion"}) {
        if (current_meta.contains(k)) {
          meta[k] = current_meta.at(k);
        } else {
          meta.erase(k);
        }
      }
      if (patched == current) {  // no-op patches do not bump the resourceVersion
        ok.body = DumpWithKind(current, res.type);
        return ok;
      }
      ok.body = DumpWithKind(CommitLocked(res, key, std::move(patched), "MODIFIED"), res.type);
    }
    NotifyWatchers();
    return ok;
  }();
  MutexLock l(&mu_);
  patches_.push_back(RecordedPatch{in.path, in.content_type, in.body, r.status});
  return r;
}

FakeApiServer::Reply FakeApiServer::HandleDelete(const Route& route) {
  Reply r;
  {
    MutexLock l(&mu_);
    Resource& res = MustFindLocked(route.kind_id);
    std::string key = ObjectKey(res.type, route.ns, route.name);
    auto it = res.objects.find(key);
    if (it == res.objects.end()) return NotFound(res.type, route.name);
    r.body = DumpWithKind(CommitLocked(res, key, it->second, "DELETED"), res.type);
  }
  NotifyWatchers();
  return r;
}

FakeApiServer::Reply FakeApiServer::HandleBinding(const Route& route, const Incoming& in) {
  RecordedBinding rec;
  rec.path = in.path;
  rec.ns = route.ns;
  rec.name = route.name;
  rec.body = in.body;
  auto record = [&](Reply r) {
    rec.code = r.status;
    MutexLock l(&mu_);
    rec.seq = bindings_.size() + 1;
    bindings_.push_back(rec);
    return r;
  };

  json b = json::parse(in.body, nullptr, false);
  if (!b.is_object() || (b.contains("metadata") && !b["metadata"].is_object()) ||
      (b.contains("target") && !b["target"].is_object())) {
    return record(StatusReply(
        400, "Binding in version \"v1\" cannot be handled as a Binding: malformed JSON body",
        "BadRequest"));
  }
  std::string body_name = StringAt(b, {"metadata", "name"});
  std::string body_ns = StringAt(b, {"metadata", "namespace"});
  rec.uid = StringAt(b, {"metadata", "uid"});
  rec.node = StringAt(b, {"target", "name"});
  if (b.contains("metadata") && b["metadata"].contains("annotations") &&
      b["metadata"]["annotations"].is_object()) {
    rec.annotations = b["metadata"]["annotations"];
  }
  if (route.legacy_bindings) rec.name = body_name;
  if (route.legacy_bindings && body_name.empty()) {
    return record(StatusReply(
        422, "Binding \"\" is invalid: metadata.name: Required value: name or generateName is "
             "required",
        "Invalid"));
  }
  if (body_name != rec.name) {
    return record(StatusReply(400, "name in URL does not match name in Binding object",
                              "BadRequest"));
  }
  if (!body_ns.empty() && body_ns != route.ns) {
    return record(StatusReply(
        400, "the namespace of the provided object does not match the namespace sent on the request",
        "BadRequest"));
  }
  std::string target_kind = StringAt(b, {"target", "kind"});
  if (rec.node.empty()) {
    return record(StatusReply(
        400, absl::StrFormat("Binding \"%s\" is invalid: target.name: Required value", rec.name),
        "BadRequest"));
  }
  if (!target_kind.empty() && target_kind != "Node") {
    return record(StatusReply(
        400,
        absl::StrFormat("Binding \"%s\" is invalid: target.kind: Invalid value: \"%s\": must be "
                        "empty or 'Node'",
                        rec.name, target_kind),
        "BadRequest"));
  }

  absl::Duration hang;
  {
    MutexLock l(&mu_);
    hang = binding_hang_;
    binding_hang_ = absl::ZeroDuration();
  }
  if (hang > absl::ZeroDuration()) {
    std::unique_lock<std::mutex> l(notify_mu_);
    notify_cv_.wait_for(l, absl::ToChronoMilliseconds(hang), [&] { return stopping_.load(); });
  }

  bool committed = false;
  Reply r = [&]() -> Reply {
    MutexLock l(&mu_);
    Resource& res = MustFindLocked("pods");
    std::string key = ObjectKey(res.type, route.ns, rec.name);
    auto it = res.objects.find(key);
    if (it == res.objects.end()) return (NotFound(res.type, rec.name));
    const json& pod = it->second;
    auto conflict = [&](std::string_view resource, const std::string& why) {
      ojson d;
      d["name"] = rec.name;
      d["kind"] = std::string(resource);
      return StatusReply(409,
                         absl::StrFormat("Operation cannot be fulfilled on %s \"%s\": %s",
                                         resource, rec.name, why),
                         "Conflict", d);
    };
    std::string pod_uid = StringAt(pod, {"metadata", "uid"});
    if (!rec.uid.empty() && rec.uid != pod_uid) {
      return (conflict("pods", absl::StrFormat("Precondition failed: UID in precondition: "
                                                     "%s, UID in object meta: %s",
                                                     rec.uid, pod_uid)));
    }
    std::string want_rv = StringAt(b, {"metadata", "resourceVersion"});
    if (!want_rv.empty() && want_rv != StringAt(pod, {"metadata", "resourceVersion"})) {
      return (conflict("pods", "the object has been modified; please apply your changes "
                                     "to the latest version and try again"));
    }
    if (!StringAt(pod, {"metadata", "deletionTimestamp"}).empty()) {
      return (conflict(
          "pods/binding",
          absl::StrFormat("pod %s is being deleted, cannot be assigned to a host", rec.name)));
    }
    std::string assigned = StringAt(pod, {"spec", "nodeName"});
    if (!assigned.empty()) {
      return (conflict(
          "pods/binding",
          absl::StrFormat("pod %s is already assigned to node \"%s\"", rec.name, assigned)));
    }
    if (pod.contains("spec") && pod["spec"].is_object() && pod["spec"].contains("schedulingGates") &&
        pod["spec"]["schedulingGates"].is_array() && !pod["spec"]["schedulingGates"].empty()) {
      return (conflict(
          "pods/binding", absl::StrFormat("pod %s has non-empty .spec.schedulingGates", rec.name)));
    }
    json updated = pod;
    if (!updated["spec"].is_object()) updated["spec"] = json::object();
    updated["spec"]["nodeName"] = rec.node;
    for (const auto& [k, v] : rec.annotations.items()) {
      if (!updated["metadata"]["annotations"].is_object()) {
        updated["metadata"]["annotations"] = json::object();
      }
      updated["metadata"]["annotations"][k] = v;
    }
    json& status = updated["status"];
    if (!status.is_object()) status = json::object();
    json& conditions = status["conditions"];
    if (!conditions.is_array()) conditions = json::array();
    bool found = false;
    for (json& c : conditions) {
      if (c.is_object() && c.value("type", "") == "PodScheduled") {
        found = true;
        if (c.value("status", "") != "True") c["lastTransitionTime"] = Now3339();
        c["status"] = "True";
        c.erase("reason");
        c.erase("message");
      }
    }
    if (!found) {
      conditions.push_back({{"type", "PodScheduled"},
                            {"status", "True"},
                            {"lastProbeTime", nullptr},
                            {"lastTransitionTime", Now3339()}});
    }
    CommitLocked(res, key, std::move(updated), "MODIFIED");
    ojson ok;
    ok["kind"] = "Status";
    ok["apiVersion"] = "v1";
    ok["metadata"] = ojson::object();
    ok["status"] = "Success";
    ok["code"] = 201;
    committed = true;
    Reply created;
    created.status = 201;
    created.body = Dump(ok);
    return created;
  }();
  if (committed) NotifyWatchers();
  return record(std::move(r));
}

// ---------------------------------------------------------------------------------------------
// Watch.

bool FakeApiServer::ServeWatch(const Reply& reply, void* raw) {
  auto& sock = *static_cast<tcp::socket*>(raw);
  const Route& route = *reply.watch_route;
  const WatchSpec& spec = *reply.watch;
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  const bool has_deadline = spec.timeout.has_value();
  const Clock::time_point deadline =
      has_deadline ? start + absl::ToChronoMilliseconds(*spec.timeout) : Clock::time_point::max();
  const auto bm_interval = absl::ToChronoMilliseconds(options_.bookmark_interval);

  uint64_t close_gen0, bm_gen_seen;
  {
    std::lock_guard<std::mutex> l(notify_mu_);
    close_gen0 = close_gen_;
    bm_gen_seen = bookmark_gen_;
  }

  auto ns_ok = [&](const json& obj) {
    return !route.has_ns || StringAt(obj, {"metadata", "namespace"}) == route.ns;
  };

  std::vector<std::string> lines;
  ResourceType type;
  int64_t last_rv = 0;
  bool expired = false;
  int64_t expired_floor = 0;
  {
    ReaderMutexLock l(&mu_);
    Resource& res = MustFindLocked(route.kind_id);
    type = res.type;
    if (spec.initial) {
      for (const auto& [key, obj] : res.objects) {
        if (ns_ok(obj) && Matches(spec.selector, obj)) {
          lines.push_back(EventLine("ADDED", DumpWithKind(obj, type)));
        }
      }
      last_rv = rv_;
    } else if (spec.from_rv < res.floor) {
      expired = true;
      expired_floor = res.floor;
    } else {
      last_rv = spec.from_rv;
    }
  }

  ++open_watches_;
  struct Dec {
    std::atomic<int>* n;
    ~Dec() { --*n; }
  } dec{&open_watches_};

  boost::system::error_code ec;
  bhttp::response<bhttp::empty_body> res{bhttp::status::ok, 11};
  res.set(bhttp::field::content_type, "application/json");
  res.keep_alive(true);
  res.chunked(true);
  bhttp::response_serializer<bhttp::empty_body> sr{res};
  bhttp::write_header(sock, sr, ec);
  if (ec) return false;

  auto write = [&](const std::string& line) {
    net::write(sock, bhttp::make_chunk(net::buffer(line)), ec);
    return !ec;
  };
  auto finish = [&] {
    net::write(sock, bhttp::make_chunk_last(), ec);
    return !ec && !stopping_.load();
  };

  if (expired) {
    if (!write(ExpiredEventLine(spec.from_rv, expired_floor))) return false;
    return finish();
  }
  for (const std::string& l : lines) {
    if (!write(l)) return false;
  }

  auto next_bm = Clock::now() + bm_interval;
  const int fd = sock.native_handle();
  while (true) {
    uint64_t seen_event_gen, cur_bm_gen, cur_close_gen;
    {
      std::lock_guard<std::mutex> l(notify_mu_);
      seen_event_gen = event_gen_;
      cur_bm_gen = bookmark_gen_;
      cur_close_gen = close_gen_;
    }
    if (stopping_.load()) return false;
    if (cur_close_gen != close_gen0) break;
    const auto now = Clock::now();
    const bool bm_due = spec.bookmarks && (cur_bm_gen != bm_gen_seen ||
                                           (bm_interval.count() > 0 && now >= next_bm));
    lines.clear();
    bool gone = false;
    int64_t snapshot_rv = last_rv;
    {
      ReaderMutexLock l(&mu_);
      Resource& r = MustFindLocked(route.kind_id);
      if (!r.installed) {
        gone = true;
      } else if (r.dropped_max > last_rv) {
        expired = true;
        expired_floor = r.floor;
      } else {
        auto it = std::upper_bound(r.history.begin(), r.history.end(), last_rv,
                                   [](int64_t v, const Event& e) { return v < e.rv; });
        for (; it != r.history.end(); ++it) {
          const Event& e = *it;
          if (!ns_ok(e.object)) continue;
          const bool now_m = Matches(spec.selector, e.object);
          const bool was_m = !e.prev.is_null() && Matches(spec.selector, e.prev);
          std::string_view t;
          if (e.type == "ADDED") {
            t = now_m ? "ADDED" : "";
          } else if (e.type == "DELETED") {
            t = now_m ? "DELETED" : "";
          } else {
            t = now_m && was_m ? "MODIFIED" : now_m ? "ADDED" : was_m ? "DELETED" : "";
          }
          if (!t.empty()) lines.push_back(EventLine(t, DumpWithKind(e.object, type)));
        }
        snapshot_rv = rv_;
      }
    }
    if (gone) break;
    if (expired) {
      if (!write(ExpiredEventLine(last_rv, expired_floor))) return false;
      break;
    }
    for (const std::string& l : lines) {
      if (!write(l)) return false;
    }
    last_rv = snapshot_rv;
    if (bm_due) {
      ojson meta;
      meta["resourceVersion"] = std::to_string(snapshot_rv);
      std::string obj = absl::StrCat("{\"kind\":\"", type.kind, "\",\"apiVersion\":\"",
                                     type.api_version(), "\",\"metadata\":", Dump(meta), "}");
      if (!write(EventLine("BOOKMARK", obj))) return false;
      bm_gen_seen = cur_bm_gen;
      next_bm = Clock::now() + bm_interval;
    }
    if (has_deadline && Clock::now() >= deadline) break;
    auto wake = Clock::now() + std::chrono::milliseconds(200);
    if (spec.bookmarks && bm_interval.count() > 0) wake = std::min(wake, next_bm);
    if (has_deadline) wake = std::min(wake, deadline);
    {
      std::unique_lock<std::mutex> l(notify_mu_);
      notify_cv_.wait_until(l, wake, [&] {
        return stopping_.load() || event_gen_ != seen_event_gen || bookmark_gen_ != cur_bm_gen ||
               close_gen_ != close_gen0;
      });
    }
    if (PeerClosed(fd)) return false;
  }
  return finish();
}

}  // namespace gpusched::testing
