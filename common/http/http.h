#pragma once

// HTTP/1.1 on Boost.Beast: a server (kube-scheduler calls the extender through it; Prometheus
// scrapes the extender and the agent) and a client (the extender calls the Kubernetes API; tests
// and the load driver call the extender). Plain TCP or TLS (OpenSSL) on both sides.
//
//   ASSIGN_OR_RETURN(auto server, Server::Start(ServerOptions{.port = 0}, [](const Request& r) {
//     return Response{.status = 200, .body = "{}"};
//   }));
//   ASSIGN_OR_RETURN(auto client, Client::Create(ClientOptions{
//       .base_url = absl::StrCat("http://127.0.0.1:", server->port())}));
//   ASSIGN_OR_RETURN(Response r, client->Do("POST", "/filter", body));
//
// Errors are absl::Status (Unavailable: cannot connect / connection lost; DeadlineExceeded: timed
// out; InvalidArgument: a bad URL or option; FailedPrecondition: TLS files unreadable), and the
// message names the peer and what failed. Nothing here throws.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace gpusched::log {
class Logger;
}

namespace gpusched::http {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct Request {
  std::string method;  // "GET", "POST", ...
  std::string target;  // path and query, as sent ("/filter", "/api/v1/pods?watch=1")
  Headers headers;
  std::string body;
  // The value of the first header named `name` (case-insensitive); "" if absent.
  std::string_view Header(std::string_view name) const;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  Headers headers;  // extra headers (Content-Type and Content-Length are set from the fields)
  std::string_view Header(std::string_view name) const;
};

// Called on a server worker thread, possibly on several at once; must not throw.
using Handler = std::function<Response(const Request&)>;

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;  // 0: any free port (Server::port() tells which)
  int threads = 2;    // worker threads running the connections
  // Requests whose body is larger get 413 with a JSON {"Error": ...} naming the limit.
  size_t body_limit = size_t{64} << 20;
  // A request must arrive whole within this time once its first byte came (slow or stalled
  // clients get 408 and are disconnected); a kept-alive connection idle this long is closed.
  absl::Duration request_timeout = absl::Seconds(30);
  absl::Duration idle_timeout = absl::Seconds(90);
  // TLS when both are set (PEM files). The files are re-read when their modification time
  // changes (checked at most once a second, on accept), so a rotated certificate takes effect
  // for new connections without a restart; a broken new pair is logged and the old one kept.
  std::string cert_file;
  std::string key_file;
  log::Logger* logger = nullptr;  // null: silent
};

// Keep-alive HTTP/1.1 server: any number of connections, `threads` workers, requests on one
// connection answered in order. Errors in one connection never affect others.
// Thread-safety: port() any time; Stop() from any thread other than a worker, once or more.
class Server {
 public:
  // Binds and listens before returning (a port in use is an error), then serves on its threads.
  static absl::StatusOr<std::unique_ptr<Server>> Start(ServerOptions options, Handler handler);
  virtual ~Server() = default;  // stops
  virtual uint16_t port() const = 0;
  // Stops accepting, closes every connection and joins the workers.
  virtual void Stop() = 0;
};

struct ClientOptions {
  // "http://host:port" or "https://host:port", optionally with a path prefix that is prepended to
  // every target ("https://10.0.0.1:6443", "http://127.0.0.1:8888/scheduler").
  std::string base_url;
  // TLS: CA bundle (PEM, file or data; none: the system's default paths), client certificate
  // and key (PEM, file or data; data wins over file), verification off, SNI / verified name
  // (default: the URL's host).
  std::string ca_file, ca_data;
  std::string cert_file, cert_data, key_file, key_data;
  bool insecure = false;
  std::string server_name;
  // Sent as "Authorization: Bearer <token>" when set.
  std::string bearer_token;
  // A file holding the bearer token (wins over bearer_token while it can be read): re-read when
  // it changes, checked at most every 10 s and at once when the server answers 401, after which
  // the request is sent again once with the new token. Projected service-account tokens are
  // rotated by the kubelet about hourly; client-go re-reads the file the same way.
  std::string bearer_token_file;
  // Per call (connect, send, whole reply) unless the call gives its own.
  absl::Duration timeout = absl::Seconds(10);
  // Responses larger than this are an error (ResourceExhausted).
  size_t body_limit = size_t{256} << 20;
};

// A keep-alive client: each call takes an idle connection from a small pool (or opens one) and
// returns it afterwards, so concurrent calls use several connections.
// Thread-safety: every method may be called from any thread concurrently.
class Client {
 public:
  static absl::StatusOr<std::unique_ptr<Client>> Create(ClientOptions options);
  virtual ~Client() = default;

  // One request; `extra` headers are added (e.g. {"Content-Type", "application/merge-patch+json"};
  // the default Content-Type for a non-empty body is application/json). Any HTTP status is a
  // successful call: the caller reads Response::status.
  virtual absl::StatusOr<Response> Do(std::string_view method, std::string_view target,
                                      std::string_view body = {}, const Headers& extra = {},
                                      absl::Duration timeout = absl::ZeroDuration()) = 0;

  // A GET whose response body is a stream of newline-separated records (a Kubernetes watch,
  // Transfer-Encoding: chunked or not): calls `on_line` for each complete line (without the
  // newline) as it arrives. Returns when the server ends the response (OK), when `on_line`
  // returns false (OK), when `stop` becomes true (Cancelled; checked at least every 200 ms), when
  // nothing arrives for `idle_timeout` (DeadlineExceeded), or on a connection error. A non-200
  // status is returned in `status` with the body in `error_body` (and OK). Uses its own
  // connection, closed afterwards.
  virtual absl::Status Stream(std::string_view target,
                              const std::function<bool(std::string_view line)>& on_line,
                              absl::Duration idle_timeout, const std::atomic<bool>* stop,
                              int* status, std::string* error_body) = 0;
};

}  // namespace gpusched::http
