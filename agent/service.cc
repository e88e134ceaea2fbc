#include "agent/service.h"

#include <utility>

#include "common/file.h"
#include "common/status_macros.h"
#include "absl/strings/str_cat.h"
#include "agent/wire.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/security/server_credentials.h"

namespace gpusched::agent {
namespace {

grpc::Status ToGrpc(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  grpc::StatusCode code = grpc::StatusCode::INTERNAL;
  switch (s.code()) {
    case absl::StatusCode::kInvalidArgument: code = grpc::StatusCode::INVALID_ARGUMENT; break;
    case absl::StatusCode::kFailedPrecondition: code = grpc::StatusCode::FAILED_PRECONDITION; break;
    case absl::StatusCode::kNotFound: code = grpc::StatusCode::NOT_FOUND; break;
    case absl::StatusCode::kResourceExhausted: code = grpc::StatusCode::RESOURCE_EXHAUSTED; break;
    case absl::StatusCode::kUnavailable: code = grpc::StatusCode::UNAVAILABLE; break;
    default: break;
  }
  return grpc::Status(code, std::string(s.message()));
}


}  // namespace

grpc::Status NodeAgentService::Watch(grpc::ServerContext* context, const pb::WatchRequest* request,
                                     grpc::ServerWriter<pb::NodeState>* writer) {
  const std::string who = request->subscriber().substr(0, kMaxString);
  const std::string peer = context->peer();
  if (!request->node_name().empty() && request->node_name() != state_.node_name()) {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        absl::StrCat("this is the agent of node ", state_.node_name(), ", not ",
                                     request->node_name().substr(0, kMaxString)));
  }
  watchers_.fetch_add(1);
  if (logger_) logger_->Info("subscriber connected", {{"subscriber", who}, {"peer", peer}});
  // The topology goes out on the first message and whenever it changes; in between the
  // messages say `topology_unchanged` instead of repeating it.
  std::string last_topology;
  bool first = true;
  auto write = [&](pb::NodeState& msg) {
    std::string bytes;
    if (msg.has_topology()) msg.topology().SerializeToString(&bytes);
    if (!first && msg.has_topology() && bytes == last_topology) {
      msg.clear_topology();
      msg.set_topology_unchanged(true);
    } else {
      last_topology = std::move(bytes);
    }
    first = false;
    return writer->Write(msg);
  };
  pb::NodeState current = state_.Current();
  bool ok = write(current);
  uint64_t sent = current.sequence();
  // Wait in short slices so a cancelled call or a stopping server ends the stream promptly.
  while (ok && !context->IsCancelled() && !state_.shut_down()) {
    std::optional<pb::NodeState> next = state_.WaitNewer(sent, absl::Milliseconds(200));
    if (!next) continue;
    ok = write(*next);
    sent = next->sequence();
  }
  watchers_.fetch_sub(1);
  if (logger_) logger_->Info("subscriber gone", {{"subscriber", who}, {"peer", peer}});
  return grpc::Status::OK;
}

grpc::Status NodeAgentService::Reserve(grpc::ServerContext*, const pb::ReserveRequest* request,
                                       pb::ReserveReply* reply) {
  absl::Status s = ValidateReserveRequest(*request);
  const std::string& node = state_.node_name();
  if (s.ok() && request->node_name() != node) {
    s = absl::FailedPreconditionError(absl::StrCat("reservation for node ", request->node_name(),
                                                   " sent to the agent of node ", node));
  }
  if (s.ok()) {
    Reservation r{request->pod_uid(), request->pod_namespace(), request->pod_name(), {}};
    for (const pb::Share& sh : request->shares()) {
      r.shares.push_back(ShareSpec{sh.gpu(), sh.milli(), sh.memory_mib()});
    }
    s = book_.Reserve(std::move(r));
  }
  if (!s.ok()) {
    reserves_refused_.fetch_add(1);
    if (logger_) {
      logger_->Warn("reservation refused",
                    {{"pod", absl::StrCat(request->pod_namespace().substr(0, kMaxString), "/",
                                          request->pod_name().substr(0, kMaxString))},
                     {"error", MessageOf(s)}});
    }
    return ToGrpc(s);
  }
  reserves_ok_.fetch_add(1);
  reply->set_sequence(state_.sequence());
  return grpc::Status::OK;
}

grpc::Status NodeAgentService::Release(grpc::ServerContext*, const pb::ReleaseRequest* request,
                                       pb::ReleaseReply*) {
  if (request->pod_uid().empty() || request->pod_uid().size() > kMaxString) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "pod_uid: must be set (at most 256 bytes)");
  }
  // As for Reserve: a release meant for another node's agent (a stale address now reused) must
  // not drop this node's reservation of the same pod.
  if (const std::string node = state_.node_name();
      !request->node_name().empty() && request->node_name() != node) {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        absl::StrCat("release for node ", request->node_name().substr(0, kMaxString),
                                     " sent to the agent of node ", node));
  }
  return ToGrpc(book_.Release(request->pod_uid()));
}

absl::StatusOr<std::unique_ptr<AgentServer>> AgentServer::Start(const AgentServerOptions& o,
                                                                grpc::Service* service) {
  std::shared_ptr<grpc::ServerCredentials> creds = grpc::InsecureServerCredentials();
  if (!o.cert_file.empty() || !o.key_file.empty()) {
    if (o.cert_file.empty() || o.key_file.empty()) {
      return absl::InvalidArgumentError("TLS needs both a certificate and a key file");
    }
    grpc::SslServerCredentialsOptions ssl;
    grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
    absl::StatusOr<std::string> cert = ReadSmallFile(o.cert_file);
    if (!cert.ok()) return cert.status();
    absl::StatusOr<std::string> key = ReadSmallFile(o.key_file);
    if (!key.ok()) return key.status();
    pair.cert_chain = *cert;
    pair.private_key = *key;
    ssl.pem_key_cert_pairs.push_back(std::move(pair));
    if (!o.client_ca_file.empty()) {
      absl::StatusOr<std::string> ca = ReadSmallFile(o.client_ca_file);
      if (!ca.ok()) return ca.status();
      ssl.pem_root_certs = *ca;
      ssl.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
    }
    creds = grpc::SslServerCredentials(ssl);
  }
  auto out = std::unique_ptr<AgentServer>(new AgentServer());
  grpc::ServerBuilder builder;
  builder.AddListeningPort(o.address, creds, &out->port_);
  builder.RegisterService(service);
  out->server_ = builder.BuildAndStart();
  if (!out->server_ || out->port_ == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", o.address,
                                               " (address in use, or malformed host:port?)"));
  }
  return out;
}

AgentServer::~AgentServer() { Stop(); }

void AgentServer::Stop(absl::Duration grace) {
  if (!server_) return;
  server_->Shutdown(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(grace));
  server_->Wait();
  server_.reset();
}

}  // namespace gpusched::agent
