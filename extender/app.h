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

// Process-wide settings for a long-running extender process; main() calls it first, and so do
// the load benchmarks that run the extender in-process.
//  - Debian's Abseil records every lock-order edge to detect deadlocks (a debug aid, on in that
//    build); with one stream per node agent it costs a quarter of the CPU. The concurrency tests
//    keep it, and ThreadSanitizer checks the lock order.
//  - glibc serves allocations over 128 KiB with mmap and gives the heap's top back to the
//    kernel when it is freed. A request with 5,000 node names allocates a few such buffers
//    (the body, the names, the reply), so every request paid page faults on fresh pages: 40 %
//    of a 5,000-name Prioritize. Fixed thresholds (mmap above 32 MiB, trim above 128 MiB) keep
//    that memory in the heap for the next request; the resident size stays flat
//    (bench/extender_load_benchmark.cc reports it).
void TuneProcessForServing();

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
