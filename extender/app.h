#pragma once

// gpusched-extender assembled: configuration -> logger, profile, framework, snapshot store,
// LiveScheduler, Kubernetes client, informer, binder, service and HTTP server. main.cc runs one
// until SIGTERM; tests run one in-process against the fake API server.
//
//   ASSIGN_OR_RETURN(auto app, ExtenderApp::Start(config));
//   app->port();              // where it listens
//   app->Stop();              // or destroy it
//
// Thread-safety: Start/Stop from one thread; the parts serve on their own threads.

#include <memory>

#include "absl/status/statusor.h"
#include "extender/config.h"
#include "common/http/http.h"

namespace gpusched::extender {

class ExtenderApp {
 public:
  // With `kubernetes_override` set, the API is reached with these client options instead of
  // the configured ones (tests: the fake API server).
  static absl::StatusOr<std::unique_ptr<ExtenderApp>> Start(
      const ExtenderConfig& config, const http::ClientOptions* kubernetes_override = nullptr);
  virtual ~ExtenderApp() = default;
  virtual uint16_t port() const = 0;
  virtual void Stop() = 0;
};

}  // namespace gpusched::extender
