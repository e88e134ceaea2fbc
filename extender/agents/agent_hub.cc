#include "extender/agents/agent_hub.h"

#include <algorithm>
#include <utility>

#include "common/file.h"
#include "common/status_macros.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/grpcpp.h"

namespace gpusched::extender {
namespace {

absl::Status FromGrpc(const grpc::Status& s, std::string_view what) {
  if (s.ok()) return absl::OkStatus();
  const std::string m = absl::StrCat(std::string(what), ": ", s.error_message());
  switch (s.error_code()) {
    case grpc::StatusCode::INVALID_ARGUMENT: return absl::InvalidArgumentError(m);
    case grpc::StatusCode::FAILED_PRECONDITION: return absl::FailedPreconditionError(m);
    case grpc::StatusCode::NOT_FOUND: return absl::NotFoundError(m);
    case grpc::StatusCode::DEADLINE_EXCEEDED: return absl::DeadlineExceededError(m);
    default: return absl::UnavailableError(m);
  }
}

}  // namespace

// Everything about one node's agent. Fields are guarded by the hub's mu_; cb_mu serializes the
// callbacks for this node.
struct AgentHub::Link {
  std::string node;
  std::string address;
  std::unique_ptr<pb::NodeAgent::Stub> stub;
  Reader* reader = nullptr;  // the open stream, if any
  bool closed = false;       // removed from the hub
  std::string incarnation;
  uint64_t last_seq = 0;
  absl::Time last_heard = absl::InfinitePast();
  absl::Time added;
  bool heard = false;  // at least one message accepted (ever)
  bool stale = false;
  int failures = 0;
  Clock::TimerId reconnect = 0;
  std::map<std::string, bool> warned;  // kinds of rejection already logged
  std::string topology_bytes;          // the last accepted topology, serialized
  std::shared_ptr<const topology::GpuTopology> topology;  // built from topology_bytes
  Mutex cb_mu;
};

class AgentHub::Reader final : public grpc::ClientReadReactor<pb::NodeState> {
 public:
  Reader(AgentHub* hub, std::shared_ptr<Link> link, const std::string& subscriber)
      : hub_(hub), link_(std::move(link)) {
    req_.set_subscriber(subscriber);
    req_.set_node_name(link_->node);
  }
  void Begin(pb::NodeAgent::Stub* stub) {
    stub->async()->Watch(&ctx_, &req_, this);
    StartRead(&msg_);
    StartCall();
  }
  void Cancel() { ctx_.TryCancel(); }
  void OnReadDone(bool ok) override {
    if (!ok) return;  // OnDone follows
    hub_->OnMessage(link_, msg_);
    StartRead(&msg_);
  }
  void OnDone(const grpc::Status& s) override {
    // Everything this reader holds (its ClientContext keeps a reference to the channel) goes
    // before the hub hears that the stream is done: the hub's destructor waits for that, then
    // drops the channels itself. Dropping the last reference to a channel here, on gRPC's own
    // callback thread, would make that thread shut down its own completion queue (grpc#32584).
    AgentHub* hub = hub_;
    hub->DetachReader(*link_, this);  // before the delete: a Cancel now would use freed memory
    std::shared_ptr<Link> link = std::move(link_);
    const std::string why = s.ok() ? "the agent closed the stream" : s.error_message();
    delete this;
    hub->OnStreamDone(std::move(link), why);
  }

 private:
  AgentHub* const hub_;
  std::shared_ptr<Link> link_;
  grpc::ClientContext ctx_;
  pb::WatchRequest req_;
  pb::NodeState msg_;
};

absl::StatusOr<std::unique_ptr<AgentHub>> AgentHub::Create(Clock& clock, metrics::MetricsScope& metrics,
                                                           AgentHubOptions options, Callbacks callbacks) {
  std::shared_ptr<grpc::ChannelCredentials> creds = grpc::InsecureChannelCredentials();
  if (!options.ca_file.empty() || !options.cert_file.empty() || !options.key_file.empty()) {
    if (options.ca_file.empty()) return absl::InvalidArgumentError("agents TLS: a CA file is needed");
    if (options.cert_file.empty() != options.key_file.empty()) {
      return absl::InvalidArgumentError("agents TLS: give both a client certificate and its key");
    }
    grpc::SslCredentialsOptions ssl;
    absl::StatusOr<std::string> ca = ReadSmallFile(options.ca_file);
    if (!ca.ok()) return ca.status();
    ssl.pem_root_certs = *ca;
    if (!options.cert_file.empty()) {
      absl::StatusOr<std::string> cert = ReadSmallFile(options.cert_file);
      if (!cert.ok()) return cert.status();
      absl::StatusOr<std::string> key = ReadSmallFile(options.key_file);
      if (!key.ok()) return key.status();
      ssl.pem_cert_chain = *cert;
      ssl.pem_private_key = *key;
    }
    creds = grpc::SslCredentials(ssl);
  }
  if (options.stale_after <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("agents.staleAfter must be positive");
  }
  return std::unique_ptr<AgentHub>(
      new AgentHub(clock, metrics, std::move(options), std::move(callbacks), std::move(creds)));
}

AgentHub::AgentHub(Clock& clock, metrics::MetricsScope& metrics, AgentHubOptions options,
                   Callbacks callbacks, std::shared_ptr<grpc::ChannelCredentials> creds)
    : clock_(clock),
      metrics_(metrics),
      options_(std::move(options)),
      callbacks_(std::move(callbacks)),
      creds_(std::move(creds)),
      alive_(std::make_shared<Alive>()),
      applied_counter_(metrics.GetCounter("gpusched_agent_messages_total",
                                          "Messages from node agents, by outcome.", {{"result", "applied"}})) {
  alive_->hub = this;
  MutexLock l(&mu_);
  ArmSweepLocked();
}

AgentHub::~AgentHub() {
  {
    MutexLock a(&alive_->mu);  // waits for a timer callback in progress
    alive_->hub = nullptr;
  }
  MutexLock l(&mu_);
  stopping_ = true;
  if (sweep_timer_ != 0) clock_.Cancel(sweep_timer_);
  for (auto& [node, link] : links_) CloseLocked(link);
  while (readers_ > 0) readers_done_.Wait(&mu_);
}

// Runs `fn` on the hub from a Clock timer, unless the hub is gone.
template <class Fn>
void AgentHub::After(absl::Duration delay, Clock::TimerId* id, Fn fn) {
  std::shared_ptr<Alive> alive = alive_;
  *id = clock_.ScheduleAfter(delay, [alive, fn = std::move(fn)]() mutable {
    MutexLock a(&alive->mu);
    if (alive->hub != nullptr) fn(alive->hub);
  });
}

void AgentHub::ArmSweepLocked() {
  if (stopping_) return;
  const absl::Duration every = std::max(options_.stale_after / 4, absl::Milliseconds(20));
  After(every, &sweep_timer_, [](AgentHub* hub) {
    hub->Sweep();
    MutexLock l(&hub->mu_);
    hub->ArmSweepLocked();
  });
}

std::shared_ptr<grpc::Channel> AgentHub::ChannelFor(const std::string& address) {
  auto it = channels_.find(address);
  if (it != channels_.end()) return it->second;
  grpc::ChannelArguments args;
  // No HTTP/2 keepalive pings: the agents' own heartbeats already prove a stream alive, and a
  // stream silent past staleAfter is cancelled and reopened (Sweep). With 5,000 agents, pings
  // every few seconds would cost more than the messages themselves.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS,
              static_cast<int>(absl::ToInt64Milliseconds(options_.reconnect_min)));
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
              static_cast<int>(absl::ToInt64Milliseconds(options_.reconnect_max)));
  // No bandwidth-delay-product probing: it pings the agent on incoming data to size the flow
  // control window, which a stream of small messages once a second does not need.
  args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  // Our own messages are small; a bigger one is an error, not a reason to allocate.
  args.SetMaxReceiveMessageSize(4 << 20);
  std::shared_ptr<grpc::Channel> ch = grpc::CreateCustomChannel(address, creds_, args);
  channels_[address] = ch;
  return ch;
}

void AgentHub::OpenLocked(const std::shared_ptr<Link>& link) {
  if (stopping_ || link->closed || link->reader != nullptr) return;
  if (!link->stub) link->stub = pb::NodeAgent::NewStub(ChannelFor(link->address));
  link->reader = new Reader(this, link, options_.subscriber);
  ++readers_;
  link->reader->Begin(link->stub.get());
}

void AgentHub::CloseLocked(const std::shared_ptr<Link>& link) {
  link->closed = true;
  if (link->reconnect != 0) clock_.Cancel(link->reconnect);
  link->reconnect = 0;
  if (link->reader != nullptr) link->reader->Cancel();
}

void AgentHub::SetAgents(const std::map<std::string, std::string>& agents) {
  std::vector<std::string> gone;
  {
    MutexLock l(&mu_);
    for (const auto& [node, link] : links_) {
      if (!agents.count(node)) gone.push_back(node);
    }
  }
  for (const std::string& node : gone) SetAgent(node, "");
  for (const auto& [node, address] : agents) SetAgent(node, address);
}

void AgentHub::SetAgent(const std::string& node, const std::string& address) {
  MutexLock l(&mu_);
  if (stopping_) return;
  auto it = links_.find(node);
  if (it != links_.end()) {
    if (it->second->address == address) return;
    CloseLocked(it->second);
    links_.erase(it);
    if (options_.logger) {
      options_.logger->Info(address.empty() ? "node agent removed" : "node agent moved",
                            {{"node", node}, {"address", address}});
    }
  }
  if (address.empty()) return;
  auto link = std::make_shared<Link>();
  link->node = node;
  link->address = address;
  link->added = clock_.Now();
  links_[node] = link;
  OpenLocked(link);
}

std::shared_ptr<AgentHub::Link> AgentHub::Find(const NodeId& node) const {
  MutexLock l(&mu_);
  auto it = links_.find(node.str());
  return it == links_.end() ? nullptr : it->second;
}

bool AgentHub::HasAgent(const NodeId& node) const { return Find(node) != nullptr; }

bool AgentHub::Fresh(const NodeId& node) const {
  std::shared_ptr<Link> link = Find(node);
  if (!link) return false;
  MutexLock l(&mu_);
  return link->heard && !link->stale;
}

void AgentHub::Reject(const std::shared_ptr<Link>& link, std::string_view kind, std::string_view why) {
  rejected_.fetch_add(1);
  metrics_.GetCounter("gpusched_agent_messages_total", "Messages from node agents, by outcome.",
                      {{"result", std::string(kind)}})
      .Increment();
  bool first;
  {
    MutexLock l(&mu_);
    first = !link->warned[std::string(kind)];
    link->warned[std::string(kind)] = true;
  }
  if (options_.logger) {
    (first ? options_.logger->Warn("agent message rejected; the stream goes on", {{"node", link->node}, {"kind", kind}, {"error", why}})
           : options_.logger->Debug("agent message rejected", {{"node", link->node}, {"kind", kind}, {"error", why}}));
  }
}

void AgentHub::OnMessage(const std::shared_ptr<Link>& link, const pb::NodeState& msg) {
  // The wiring rarely changes: the same bytes as last time reuse the topology built then
  // (building one is most of what checking a message costs). Only this stream's callbacks
  // touch topology_bytes/topology (gRPC runs one reaction of a stream at a time).
  // Agents send the topology once per stream and then `topology_unchanged` (agent.proto).
  std::string bytes;
  if (msg.has_topology()) msg.topology().SerializeToString(&bytes);
  std::shared_ptr<const topology::GpuTopology> known;
  {
    MutexLock l(&mu_);
    if (msg.topology_unchanged() || (!bytes.empty() && bytes == link->topology_bytes)) {
      known = link->topology;
    }
  }
  absl::StatusOr<agent::AgentInventory> inv = agent::InventoryFromState(msg, known);
  if (!inv.ok()) {
    Reject(link, "invalid", MessageOf(inv.status()));
    return;
  }
  if (!known && inv->topology) {
    MutexLock l(&mu_);
    link->topology_bytes = std::move(bytes);
    link->topology = inv->topology;
  }
  if (msg.node_name() != link->node) {
    Reject(link, "wrong_node", absl::StrCat("the agent reports node ", msg.node_name()));
    return;
  }
  bool recovered = false;
  bool in_order = false;
  {
    MutexLock l(&mu_);
    if (link->closed) return;
    in_order = msg.incarnation() != link->incarnation || msg.sequence() > link->last_seq;
    if (in_order) {
      link->incarnation = msg.incarnation();
      link->last_seq = msg.sequence();
      link->last_heard = clock_.Now();
      recovered = link->stale || !link->heard;
      link->heard = true;
      link->stale = false;
      link->failures = 0;
    }
  }
  if (!in_order) {
    Reject(link, "out_of_order",
           absl::StrCat("sequence ", msg.sequence(), " of incarnation ", msg.incarnation(),
                        " is not after the last accepted one"));
    return;
  }
  applied_.fetch_add(1);
  applied_counter_.Increment();
  if (recovered && options_.logger) {
    options_.logger->Info("node agent streaming", {{"node", link->node}, {"address", link->address},
                                                   {"incarnation", msg.incarnation()}});
  }
  MutexLock cb(&link->cb_mu);
  {
    MutexLock l(&mu_);
    if (link->closed || link->last_seq != msg.sequence() || link->incarnation != msg.incarnation()) return;
  }
  if (callbacks_.on_state) callbacks_.on_state(NodeId(link->node), *std::move(inv), msg);
}

void AgentHub::DetachReader(Link& link, const Reader* reader) {
  MutexLock l(&mu_);
  if (link.reader == reader) link.reader = nullptr;
}

void AgentHub::OnStreamDone(std::shared_ptr<Link> link, std::string why) {
  MutexLock l(&mu_);
  if (stopping_ || link->closed) {
    link.reset();  // under mu_, before the destructor may go on
    --readers_;
    readers_done_.SignalAll();
    return;
  }
  --readers_;
  readers_done_.SignalAll();
  ++link->failures;
  if (link->failures == 1 && options_.logger) {
    options_.logger->Warn("node agent stream ended; reconnecting",
                          {{"node", link->node}, {"address", link->address}, {"error", why}});
  }
  absl::Duration delay = options_.reconnect_min;
  for (int i = 1; i < link->failures && delay < options_.reconnect_max; ++i) delay *= 2;
  delay = std::min(delay, options_.reconnect_max);
  std::weak_ptr<Link> weak = link;
  After(delay, &link->reconnect, [weak](AgentHub* hub) {
    std::shared_ptr<Link> l = weak.lock();
    if (!l) return;
    MutexLock lock(&hub->mu_);
    l->reconnect = 0;
    if (l->closed || hub->stopping_) return;
    hub->reconnects_.fetch_add(1);
    hub->OpenLocked(l);
  });
}

void AgentHub::Sweep() {
  std::vector<std::pair<std::shared_ptr<Link>, std::string>> now_stale;
  {
    MutexLock l(&mu_);
    const absl::Time now = clock_.Now();
    for (auto& [node, link] : links_) {
      if (link->stale) continue;
      const absl::Time since = link->heard ? link->last_heard : link->added;
      if (now - since < options_.stale_after) continue;
      link->stale = true;
      // A silent stream may be a dead connection TCP has not noticed: start over.
      if (link->reader != nullptr) link->reader->Cancel();
      now_stale.emplace_back(link, link->heard
                                       ? absl::StrCat("no message for ", absl::FormatDuration(now - since))
                                       : absl::StrCat("never heard from ", link->address, " in ",
                                                      absl::FormatDuration(now - since)));
    }
  }
  for (auto& [link, why] : now_stale) {
    stale_events_.fetch_add(1);
    metrics_.GetCounter("gpusched_agent_stale_total", "Times a node's agent went silent past staleAfter.", {})
        .Increment();
    if (options_.logger) options_.logger->Warn("node agent stale", {{"node", link->node}, {"why", why}});
    MutexLock cb(&link->cb_mu);
    {
      MutexLock l(&mu_);
      if (!link->stale || link->closed) continue;
    }
    if (callbacks_.on_stale) callbacks_.on_stale(NodeId(link->node), why);
  }
}

absl::Status AgentHub::Reserve(const NodeId& node, const framework::PodInfo& pod,
                               absl::Span<const framework::GpuShare> gpus) {
  std::shared_ptr<Link> link = Find(node);
  if (!link) return absl::NotFoundError(absl::StrCat("node ", node.str(), " has no agent"));
  pb::NodeAgent::Stub* stub;
  {
    MutexLock l(&mu_);
    if (!link->heard || link->stale) {
      return absl::UnavailableError(absl::StrCat("the agent of node ", node.str(), " at ", link->address,
                                                 link->heard ? " is stale" : " has not been heard from yet"));
    }
    stub = link->stub.get();
  }
  pb::ReserveRequest req;
  req.set_node_name(node.str());
  req.set_pod_uid(pod.uid.str());
  req.set_pod_namespace(pod.namespace_name);
  req.set_pod_name(pod.name);
  for (const framework::GpuShare& g : gpus) agent::ShareToProto(g, req.add_shares());
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(options_.call_timeout));
  pb::ReserveReply reply;
  absl::Status s = FromGrpc(stub->Reserve(&ctx, req, &reply),
                            absl::StrCat("reserving on the agent of node ", node.str()));
  const char* result = s.ok() ? "ok" : absl::IsUnavailable(s) || absl::IsDeadlineExceeded(s) ? "unreachable" : "refused";
  metrics_.GetCounter("gpusched_agent_reserve_total", "Reservations handed to node agents, by result.",
                      {{"result", result}})
      .Increment();
  return s;
}

absl::Status AgentHub::Release(const NodeId& node, const PodUid& uid) {
  std::shared_ptr<Link> link = Find(node);
  if (!link) return absl::OkStatus();
  pb::ReleaseRequest req;
  req.set_node_name(node.str());
  req.set_pod_uid(uid.str());
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(options_.call_timeout));
  pb::ReleaseReply reply;
  return FromGrpc(link->stub->Release(&ctx, req, &reply),
                  absl::StrCat("releasing on the agent of node ", node.str()));
}

AgentHub::Counts AgentHub::counts() const {
  Counts c;
  {
    MutexLock l(&mu_);
    for (const auto& [node, link] : links_) {
      ++c.agents;
      if (link->stale) ++c.stale;
      else if (link->heard) ++c.fresh;
    }
  }
  c.applied = applied_.load();
  c.rejected = rejected_.load();
  c.stale_events = stale_events_.load();
  c.reconnects = reconnects_.load();
  return c;
}

void AgentHub::UpdateGauges() {
  const Counts c = counts();
  metrics_.GetGauge("gpusched_agent_streams", "Node agent streams by state.", {{"state", "fresh"}}).Set(c.fresh);
  metrics_.GetGauge("gpusched_agent_streams", "Node agent streams by state.", {{"state", "stale"}}).Set(c.stale);
  metrics_.GetGauge("gpusched_agent_streams", "Node agent streams by state.", {{"state", "connecting"}})
      .Set(c.agents - c.fresh - c.stale);
  metrics_.GetGauge("gpusched_agent_reconnects", "Streams to node agents reopened.", {}).Set(c.reconnects);
}

}  // namespace gpusched::extender
