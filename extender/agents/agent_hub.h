#pragma once

// The extender's side of the node agents: one gRPC Watch stream per node, kept open across agent
// restarts and network failures, plus the Reserve/Release calls of the bind path.
//
//   AgentHub hub(clock, metrics, AgentHubOptions{.stale_after = absl::Seconds(15)},
//                AgentHub::Callbacks{
//                    .on_state = [&](const NodeId& n, AgentInventory inv, const pb::NodeState& s) {...},
//                    .on_stale = [&](const NodeId& n, std::string_view why) {...}});
//   hub.SetAgents({{"node-7", "10.0.3.7:9444"}});          // static list, or from the informer
//   RETURN_IF_ERROR(hub.Reserve(NodeId("node-7"), pod, gpus));   // before the Binding
//
// What each stream does:
//   - Every message is checked (agent/wire.h ValidateNodeState) and must name the node the
//     stream is for, and, within one agent incarnation, carry a higher sequence than the last
//     one accepted. A message that fails is rejected, counted and logged (the first of each
//     kind per node, to keep logs bounded) and the stream goes on: one bad message does not
//     cost the node its state.
//   - A node whose agent has been silent for `stale_after` (no message: heartbeats count) is
//     stale: on_stale is called once, a counter and a warning record it. The next accepted
//     message makes it fresh again (on_state, a "recovered" log line).
//   - A stream that ends (agent killed, network) is reopened after a backoff that doubles from
//     `reconnect_min` up to `reconnect_max`, on the Clock; success resets it.
//
// Reserve: NotFound when the node has no agent (the caller then binds without a hand-off);
// Unavailable when its agent is stale or does not answer within `call_timeout`;
// FailedPrecondition/InvalidArgument with the agent's message when it refuses.
//
// Metrics: gpusched_agent_streams{state="fresh"|"stale"|"connecting"},
// gpusched_agent_messages_total{result="applied"|"invalid"|"out_of_order"|"wrong_node"},
// gpusched_agent_stale_total, gpusched_agent_reconnects_total,
// gpusched_agent_reserve_total{result}.
//
// Thread-safety: every public method may be called from any thread. Callbacks run on gRPC's
// threads (on_state) or the Clock's timer thread (on_stale), never under the hub's lock, and
// never twice at once for one node. Lock order: mu_ only; callbacks are called without it.
// Destroying the hub cancels every stream and waits until their callbacks have returned.

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "agent/proto/agent.grpc.pb.h"
#include "agent/wire.h"
#include "common/clock.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/metrics/metrics_scope.h"
#include "common/mutex.h"
#include "scheduler/api/node_info.h"
#include "scheduler/api/pod_info.h"

namespace grpc {
class Channel;
class ChannelCredentials;
}

namespace gpusched::extender {

namespace pb = ::gpusched::agent::v1;

struct AgentHubOptions {
  absl::Duration stale_after = absl::Seconds(15);
  absl::Duration reconnect_min = absl::Milliseconds(200);
  absl::Duration reconnect_max = absl::Seconds(10);
  absl::Duration call_timeout = absl::Seconds(2);  // Reserve / Release
  // TLS to the agents: a CA to verify them; with cert and key, mutual TLS.
  std::string ca_file, cert_file, key_file;
  std::string subscriber = "gpusched-extender";
  log::Logger* logger = nullptr;
};

class AgentHub {
 public:
  struct Callbacks {
    // An accepted message: the node's GPUs as the agent sees them, and the message itself (its
    // allocations carry the kubelet's final device mapping).
    std::function<void(const NodeId&, agent::AgentInventory, const pb::NodeState&)> on_state;
    std::function<void(const NodeId&, std::string_view why)> on_stale;
  };

  // InvalidArgument/FailedPrecondition when the TLS files are wrong.
  static absl::StatusOr<std::unique_ptr<AgentHub>> Create(Clock& clock, metrics::MetricsScope& metrics,
                                                          AgentHubOptions options, Callbacks callbacks);
  ~AgentHub();
  AgentHub(const AgentHub&) = delete;
  AgentHub& operator=(const AgentHub&) = delete;

  // The agents to watch, node -> "host:port". Streams of nodes not listed are closed (their
  // nodes go stale as any silent agent would); new ones are opened; a changed address reopens.
  void SetAgents(const std::map<std::string, std::string>& agents) ABSL_LOCKS_EXCLUDED(mu_);
  // Adds or changes one agent (the informer saw an agent pod), or removes it (address "").
  void SetAgent(const std::string& node, const std::string& address) ABSL_LOCKS_EXCLUDED(mu_);

  bool HasAgent(const NodeId& node) const ABSL_LOCKS_EXCLUDED(mu_);
  bool Fresh(const NodeId& node) const ABSL_LOCKS_EXCLUDED(mu_);

  absl::Status Reserve(const NodeId& node, const framework::PodInfo& pod,
                       absl::Span<const framework::GpuShare> gpus) ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status Release(const NodeId& node, const PodUid& uid) ABSL_LOCKS_EXCLUDED(mu_);

  // Counts, for tests and metrics.
  struct Counts {
    int agents = 0, fresh = 0, stale = 0;
    uint64_t applied = 0, rejected = 0, stale_events = 0, reconnects = 0;
  };
  Counts counts() const ABSL_LOCKS_EXCLUDED(mu_);
  // Publishes the stream gauges (call before serializing metrics).
  void UpdateGauges() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  class Reader;
  struct Link;
  // Timer callbacks reach the hub through this, so one that fires during destruction finds null.
  struct Alive {
    Mutex mu;
    AgentHub* hub ABSL_GUARDED_BY(mu) = nullptr;
  };
  template <class Fn>
  void After(absl::Duration delay, Clock::TimerId* id, Fn fn);
  AgentHub(Clock& clock, metrics::MetricsScope& metrics, AgentHubOptions options, Callbacks callbacks,
           std::shared_ptr<grpc::ChannelCredentials> creds);
  std::shared_ptr<grpc::Channel> ChannelFor(const std::string& address) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OpenLocked(const std::shared_ptr<Link>& link) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void CloseLocked(const std::shared_ptr<Link>& link) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnMessage(const std::shared_ptr<Link>& link, const pb::NodeState& msg) ABSL_LOCKS_EXCLUDED(mu_);
  // A reader whose stream ended, in two steps: Detach before it deletes itself (from then on
  // nothing in the hub reaches it: no Cancel on a reader being deleted), OnStreamDone after
  // (counts it gone, reconnects). The hub's destructor waits for the second.
  void DetachReader(Link& link, const Reader* reader) ABSL_LOCKS_EXCLUDED(mu_);
  void OnStreamDone(std::shared_ptr<Link> link, std::string why) ABSL_LOCKS_EXCLUDED(mu_);
  void Sweep() ABSL_LOCKS_EXCLUDED(mu_);
  void ArmSweepLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Reject(const std::shared_ptr<Link>& link, std::string_view kind, std::string_view why)
      ABSL_LOCKS_EXCLUDED(mu_);
  std::shared_ptr<Link> Find(const NodeId& node) const ABSL_LOCKS_EXCLUDED(mu_);

  Clock& clock_;
  metrics::MetricsScope& metrics_;
  const AgentHubOptions options_;
  const Callbacks callbacks_;
  const std::shared_ptr<grpc::ChannelCredentials> creds_;
  const std::shared_ptr<Alive> alive_;

  mutable Mutex mu_;
  CondVar readers_done_;  // signalled when readers_ drops
  std::map<std::string, std::shared_ptr<Link>> links_ ABSL_GUARDED_BY(mu_);  // by node
  std::map<std::string, std::shared_ptr<grpc::Channel>> channels_ ABSL_GUARDED_BY(mu_);  // by address
  int readers_ ABSL_GUARDED_BY(mu_) = 0;  // streams whose OnDone has not run yet
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  Clock::TimerId sweep_timer_ ABSL_GUARDED_BY(mu_) = 0;

  std::atomic<uint64_t> applied_{0}, rejected_{0}, stale_events_{0}, reconnects_{0};
  metrics::Counter& applied_counter_;  // looked up once: it counts every message
};

}  // namespace gpusched::extender
