#pragma once

// The agent's gRPC service (agent.proto NodeAgent) and the server it runs in.
//
//   NodeAgentService service(state, book, ServiceHooks{.logger = &logger});
//   ASSIGN_OR_RETURN(auto server, AgentServer::Start({.address = "0.0.0.0:9444"}, &service));
//   server->port();
//
// Watch sends the current state at once, then every newer one (each change and each
// heartbeat), until the subscriber goes away or the server stops. Reserve validates the request
// (agent/wire.h), checks it is for this node, and records it in the ReservationBook; its errors
// keep the book as it was. Release forgets a reservation.
//
// TLS: with cert and key files the port is TLS; with a client CA too it is mutual TLS (the
// extender must present a certificate signed by that CA).
//
// Thread-safety: gRPC calls the handlers on its own threads, any number at once; the service
// keeps no state of its own beyond atomic counters, AgentState and ReservationBook lock
// themselves.

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "agent/handoff/reservations.h"
#include "agent/node_state.h"
#include "agent/proto/agent.grpc.pb.h"
#include "common/log.h"

namespace grpc {
class Server;
}

namespace gpusched::agent {

class NodeAgentService final : public pb::NodeAgent::Service {
 public:
  NodeAgentService(AgentState& state, ReservationBook& book, log::Logger* logger = nullptr)
      : state_(state), book_(book), logger_(logger) {}

  grpc::Status Watch(grpc::ServerContext* context, const pb::WatchRequest* request,
                     grpc::ServerWriter<pb::NodeState>* writer) override;
  grpc::Status Reserve(grpc::ServerContext* context, const pb::ReserveRequest* request,
                       pb::ReserveReply* reply) override;
  grpc::Status Release(grpc::ServerContext* context, const pb::ReleaseRequest* request,
                       pb::ReleaseReply* reply) override;

  int watchers() const { return watchers_.load(); }
  uint64_t reserves_ok() const { return reserves_ok_.load(); }
  uint64_t reserves_refused() const { return reserves_refused_.load(); }

 private:
  AgentState& state_;
  ReservationBook& book_;
  log::Logger* logger_;
  std::atomic<int> watchers_{0};
  std::atomic<uint64_t> reserves_ok_{0};
  std::atomic<uint64_t> reserves_refused_{0};
};

struct AgentServerOptions {
  std::string address = "0.0.0.0:9444";  // host:port; port 0 picks a free one
  std::string cert_file, key_file;       // TLS when both are set
  std::string client_ca_file;            // mutual TLS when set (with cert and key)
};

class AgentServer {
 public:
  static absl::StatusOr<std::unique_ptr<AgentServer>> Start(const AgentServerOptions& options,
                                                            grpc::Service* service);
  ~AgentServer();
  int port() const { return port_; }
  // Stops accepting, cancels open streams (after `grace`), waits for handlers. Idempotent.
  void Stop(absl::Duration grace = absl::Milliseconds(200));

 private:
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace gpusched::agent
