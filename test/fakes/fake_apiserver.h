#pragma once

// A fake kube-apiserver for tests of the extender's Kubernetes client: real HTTP/1.1 over
// loopback (Boost.Beast, synchronous, one thread per connection, keep-alive), speaking the wire
// format kube-apiserver speaks, backed by an in-memory object store with an etcd-like global
// resourceVersion and a bounded event history per resource.
//
//   FakeApiServer api;                       // FakeApiServerOptions{.bearer_token = "t"} for auth
//   ASSERT_TRUE(api.Start().ok());
//   api.Apply(FakeApiServer::kNodes, {{"metadata", {{"name", "n1"}}}});
//   api.Apply(FakeApiServer::kPods, PodJson("ml", "w-0"));
//   ... point the client at api.base_url() ("http://127.0.0.1:PORT") ...
//   EXPECT_EQ(api.Bindings().back().node, "n1");
//
// Served (group "" is the core API, /api/v1; the others are /apis/{group}/{version}):
//   GET    .../{plural}                           LIST (limit, continue, fieldSelector)
//   GET    .../{plural}?watch=1|true              WATCH (resourceVersion, allowWatchBookmarks,
//                                                 timeoutSeconds, fieldSelector)
//   POST   .../{plural}                           create (201; 409 AlreadyExists)
//   GET    .../{plural}/{name}[/status]           get
//   PATCH  .../{plural}/{name}[/status]           merge-patch+json, strategic-merge-patch+json
//                                                 (treated as a JSON merge patch, see below),
//                                                 json-patch+json; others 415
//   DELETE .../{plural}/{name}                    immediate delete (200 with the last state)
//   POST   /api/v1/namespaces/{ns}/pods/{name}/binding, POST /api/v1/namespaces/{ns}/bindings
// where "..." is /api/v1[/namespaces/{ns}] or /apis/{g}/{v}[/namespaces/{ns}] (namespaced kinds
// may be listed across all namespaces; cluster-scoped kinds have no namespaces/ segment).
// Registered by default: core v1 pods (namespaced) and nodes (cluster-scoped),
// scheduling.x-k8s.io/v1alpha1 podgroups, scheduling.k8s.io/v1alpha2 podgroups,
// scheduling.k8s.io/v1beta1 podgroups, scheduling.volcano.sh/v1beta1 podgroups,
// scheduling.k8s.io/v1alpha1 workloads (all namespaced). Each group/version/plural is its own
// store (no conversion between versions).
//
// Wire format, as kube-apiserver:
//   * Errors are a Status object: {"kind":"Status","apiVersion":"v1","metadata":{},
//     "status":"Failure","message":...,"reason":"NotFound",("details":{...},)"code":404};
//     unknown paths and uninstalled resources: 404 "the server could not find the requested
//     resource"; missing objects: 404 `pods "x" not found` with details {name, (group,) kind}.
//   * LIST: {"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"N"(,"continue":
//     "...","remainingItemCount":K)},"items":[...]}; core items carry no kind/apiVersion, custom
//     resource items do (they are unstructured on the real server too). GET of one object,
//     watch event objects, PATCH/create/DELETE replies carry kind/apiVersion.
//   * WATCH: 200, Content-Type application/json, Transfer-Encoding chunked, one chunk per event,
//     each `{"type":"ADDED|MODIFIED|DELETED|BOOKMARK|ERROR","object":{...}}\n`. resourceVersion
//     "" or "0": a synthetic ADDED per current object first. resourceVersion N: the retained
//     events with rv > N, then live ones; N older than the history: one ERROR event carrying a
//     410 Expired Status ("too old resource version: N (M)") and the end of the response.
//     With a fieldSelector, MODIFIED events become ADDED/DELETED when the object enters/leaves
//     the selection (as the watch cache does). BOOKMARK objects are
//     {"kind":K,"apiVersion":V,"metadata":{"resourceVersion":"N"}}. The stream ends (last chunk,
//     connection kept alive) at timeoutSeconds, on CloseWatches(), when the resource is
//     uninstalled, or on Stop() (the connection is then closed).
//   * Strings are escaped as Go's encoding/json does: < > & U+2028 U+2029 as \u003c \u003e
//     \u0026 \u2028 \u2029, so clients must decode \u escapes.
//   * Stored objects get metadata.uid, metadata.creationTimestamp (RFC 3339, UTC) if missing, a
//     namespace ("default") if namespaced and missing, and metadata.resourceVersion (a decimal
//     string) on every write; a DELETED event carries the deletion's resourceVersion.
//
// Simplifications: LIST ignores resourceVersion/resourceVersionMatch and always serves the
// latest state; a continue token remembers its snapshot rv (returned as the page's
// resourceVersion; 410 Expired once compacted) and the last key, but the later pages show the
// current objects after that key, not the snapshot. Strategic merge patch is a JSON merge patch
// (right for maps such as metadata.annotations/labels; lists are replaced, not merged by key).
// A "resourceVersion" in a patch's metadata is a precondition (409 on mismatch). No
// labelSelector, no generateName, no graceful deletion, no admission/validation beyond the
// Binding rules of shared/docs/k8s-extender-protocol.md §4; .../status is the same object (a
// status PATCH may change anything, a main-resource PATCH may change status). No-op patches keep
// the resourceVersion and send no event, as the real server does.
//
// Thread-safety and locking contract: every public method may be called from any thread at any
// time (Start() once; Stop() any number of times, not from a callback of this server).
//   * mu_ (gpusched::Mutex) guards the whole store: resources, objects, histories, the global
//     resourceVersion, recorded bindings/patches and the injected faults. Never held while doing
//     socket I/O or sleeping.
//   * notify_mu_ (std::mutex) + notify_cv_ wake watch streams: writers bump event_gen_ after
//     releasing mu_; SendBookmarks()/CloseWatches() bump their own counters. mu_ and notify_mu_
//     are never held together.
//   * conn_mu_ (std::mutex) guards the connection table and threads; taken alone.
// Each connection thread owns its socket; Stop() shuts the sockets down (shutdown(2)) to wake
// blocked reads, then joins every thread.

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/mutex.h"

namespace gpusched::testing {

namespace fake_apiserver_internal {
struct Route;
struct Incoming;
struct Reply;
}  // namespace fake_apiserver_internal

struct FakeApiServerOptions {
  // When set, every request must carry "Authorization: Bearer <token>" (else 401 Unauthorized).
  std::string bearer_token;
  // Events kept per resource for watches from an older resourceVersion (older: 410 Expired).
  size_t history_window = 1000;
  // Period of BOOKMARK events on watches that asked for them; zero: only SendBookmarks().
  absl::Duration bookmark_interval = absl::Seconds(1);
  // A request with a larger body is not answered: the connection is closed.
  size_t body_limit = size_t{64} << 20;
};

// A served resource. Its identifier (the `kind` argument of the C++ API) is the plural for the
// core group ("pods", "nodes") and "group/version/plural" otherwise.
struct ResourceType {
  std::string group;    // "" for core
  std::string version;  // "v1", "v1alpha1", ...
  std::string plural;   // "pods", "podgroups"
  std::string kind;     // "Pod", "PodGroup" (lists are kind + "List")
  bool namespaced = true;

  std::string id() const;           // "pods", "scheduling.x-k8s.io/v1alpha1/podgroups"
  std::string api_version() const;  // "v1", "scheduling.x-k8s.io/v1alpha1"
};

// One POST to a binding endpoint, in arrival order, whatever its outcome.
struct RecordedBinding {
  uint64_t seq = 0;         // arrival order among bindings (1, 2, ...)
  std::string path;         // request path
  std::string ns, name;     // from the URL (name from the body for the legacy path)
  std::string uid;          // metadata.uid of the Binding ("" if absent)
  std::string node;         // target.name
  nlohmann::json annotations = nlohmann::json::object();  // metadata.annotations of the Binding
  std::string body;         // the raw request body
  int code = 0;             // the HTTP status answered (201 on success)
};

// One PATCH request, whatever its outcome.
struct RecordedPatch {
  std::string path;
  std::string content_type;
  std::string body;
  int code = 0;
};

class FakeApiServer {
 public:
  static constexpr std::string_view kPods = "pods";
  static constexpr std::string_view kNodes = "nodes";
  static constexpr std::string_view kXK8sPodGroups = "scheduling.x-k8s.io/v1alpha1/podgroups";
  static constexpr std::string_view kK8sV1alpha2PodGroups = "scheduling.k8s.io/v1alpha2/podgroups";
  static constexpr std::string_view kK8sV1beta1PodGroups = "scheduling.k8s.io/v1beta1/podgroups";
  static constexpr std::string_view kVolcanoPodGroups = "scheduling.volcano.sh/v1beta1/podgroups";
  static constexpr std::string_view kK8sWorkloads = "scheduling.k8s.io/v1alpha1/workloads";

  explicit FakeApiServer(FakeApiServerOptions options = {});
  ~FakeApiServer();  // Stop()s
  FakeApiServer(const FakeApiServer&) = delete;
  FakeApiServer& operator=(const FakeApiServer&) = delete;

  // Listens on 127.0.0.1, port 0 (any free port), and serves on background threads.
  absl::Status Start();
  // Ends every watch, closes every connection, joins every thread. Idempotent.
  void Stop();
  uint16_t port() const { return port_.load(); }
  std::string base_url() const;  // "http://127.0.0.1:PORT"

  // ---- Resources ----
  // Adds (or re-installs) a resource type; its store starts empty if new.
  void RegisterResource(ResourceType type);
  // Uninstalled: every path of the resource answers 404 (a CRD that is not installed) and its
  // open watches end; the store is kept (Apply etc. still work) and comes back with Install.
  void UninstallResource(std::string_view kind);
  void InstallResource(std::string_view kind);

  // ---- Store (test side; same effects as the HTTP verbs, watch events included) ----
  // Creates or replaces the object (ADDED or MODIFIED); kind/apiVersion in `object` are ignored.
  // A replacement without metadata.uid / creationTimestamp keeps the stored ones. Returns the
  // stored object as a GET shows it (with kind/apiVersion). An unknown kind or an object without
  // metadata.name is a test bug: it aborts with a message.
  nlohmann::json Apply(std::string_view kind, nlohmann::json object);
  // Removes the object (DELETED event with its last state); false if it did not exist. `ns` is
  // ignored for cluster-scoped kinds.
  bool Delete(std::string_view kind, std::string_view ns, std::string_view name);
  std::optional<nlohmann::json> Get(std::string_view kind, std::string_view ns,
                                    std::string_view name) const;
  std::vector<nlohmann::json> List(std::string_view kind) const;  // key order, with kind
  int64_t resource_version() const;  // the global counter (last write)

  // ---- Fault injection and watch control ----
  // Drops every resource's event history: watches (and continue tokens) from any resourceVersion
  // older than the current one get 410 Expired. Open watches that had not yet received a dropped
  // event get a 410 ERROR event too.
  void Compact();
  // Every open watch that asked for bookmarks gets a BOOKMARK now (after any pending events).
  void SendBookmarks();
  // Ends every open watch stream cleanly (last chunk), as an apiserver restart would.
  void CloseWatches();
  // The next `n` requests whose path starts with `path_prefix` ("" matches all) are answered
  // `code` with a Status body (reason from the code: 500 InternalError, 503 ServiceUnavailable,
  // 410 Expired, 429 TooManyRequests, ...) without being served. Checked after authentication;
  // several calls queue up and are consumed in order of registration.
  void FailNextRequests(int n, int code, std::string path_prefix = "");
  // Every request waits this long before being served.
  void SetLatency(absl::Duration latency);
  // The next binding request waits this long (outside all locks) before being served.
  void HangNextBinding(absl::Duration delay);

  // ---- Observations ----
  std::vector<RecordedBinding> Bindings() const;
  std::vector<RecordedPatch> Patches() const;
  int64_t requests_served() const { return requests_served_.load(); }
  int open_watches() const { return open_watches_.load(); }

 private:
  struct Resource;
  struct Event;
  struct Connection;
  using Route = fake_apiserver_internal::Route;
  using Incoming = fake_apiserver_internal::Incoming;
  using Reply = fake_apiserver_internal::Reply;

  void AcceptLoop();
  void ServeConnection(uint64_t id, void* socket);  // socket: boost::asio::ip::tcp::socket*
  Reply Handle(const Incoming& in);
  Reply HandleList(const Route& route, const Incoming& in);
  Reply HandleGet(const Route& route);
  Reply HandleCreate(const Route& route, const Incoming& in);
  Reply HandlePatch(const Route& route, const Incoming& in);
  Reply HandleDelete(const Route& route);
  Reply HandleBinding(const Route& route, const Incoming& in);
  // Streams the watch `reply` describes on `socket`; returns false if the connection must be
  // closed.
  bool ServeWatch(const Reply& reply, void* socket);

  Resource* FindLocked(std::string_view kind) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  Resource& MustFindLocked(std::string_view kind) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // Stores (or deletes) `object` under `key`, stamping a fresh resourceVersion, and records the
  // event. Returns the stored object (without kind/apiVersion).
  nlohmann::json CommitLocked(Resource& res, const std::string& key, nlohmann::json object,
                              std::string_view type) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FillDefaultsLocked(Resource& res, nlohmann::json& object, const nlohmann::json* existing)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void NotifyWatchers();

  const FakeApiServerOptions options_;

  mutable Mutex mu_;
  std::map<std::string, std::unique_ptr<Resource>, std::less<>> resources_ ABSL_GUARDED_BY(mu_);
  int64_t rv_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t uid_counter_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<RecordedBinding> bindings_ ABSL_GUARDED_BY(mu_);
  std::vector<RecordedPatch> patches_ ABSL_GUARDED_BY(mu_);
  struct Failure {
    int remaining;
    int code;
    std::string prefix;
  };
  std::vector<Failure> failures_ ABSL_GUARDED_BY(mu_);
  absl::Duration latency_ ABSL_GUARDED_BY(mu_) = absl::ZeroDuration();
  absl::Duration binding_hang_ ABSL_GUARDED_BY(mu_) = absl::ZeroDuration();

  std::mutex notify_mu_;
  std::condition_variable notify_cv_;
  uint64_t event_gen_ = 0;     // guarded by notify_mu_
  uint64_t bookmark_gen_ = 0;  // guarded by notify_mu_
  uint64_t close_gen_ = 0;     // guarded by notify_mu_

  std::mutex conn_mu_;
  std::map<uint64_t, int> conn_fds_;                 // guarded by conn_mu_: open sockets
  std::vector<std::unique_ptr<Connection>> conns_;  // guarded by conn_mu_: threads to join
  uint64_t next_conn_id_ = 0;                       // guarded by conn_mu_

  struct Net;  // Boost.Asio objects (kept out of this header)
  std::unique_ptr<Net> net_;
  std::thread acceptor_thread_;
  std::atomic<bool> started_{false};
  std::atomic<bool> stopping_{false};
  std::atomic<uint16_t> port_{0};
  std::atomic<int64_t> requests_served_{0};
  std::atomic<int> open_watches_{0};
};

}  // namespace gpusched::testing

namespace gpusched {
// Short names for users outside gpusched::testing (test/integration, bench/).
using ::gpusched::testing::FakeApiServer;
using ::gpusched::testing::FakeApiServerOptions;
}  // namespace gpusched
