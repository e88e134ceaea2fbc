#include "extender/app.h"

#include <malloc.h>

#include <optional>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/log.h"
#include "common/metrics/prometheus_metrics.h"
#include "common/real_clock.h"
#include "common/status_macros.h"
#include "extender/agents/agent_hub.h"
#include "extender/agents/handoff_binder.h"
#include "extender/agents/node_merger.h"
#include "extender/cluster_state.h"
#include "extender/k8s/binder.h"
#include "extender/k8s/informer.h"
#include "extender/k8s/kubeconfig.h"
#include "extender/service.h"
#include "plugins/gpu_share/policies.h"
#include "plugins/registry.h"
#include "scheduler/cache/snapshot_store.h"
#include "scheduler/runtime/framework.h"
#include "scheduler/runtime/live_scheduler.h"
#include "scheduler/runtime/profile.h"

namespace gpusched::extender {
namespace {

// Without Kubernetes access, Bind only updates the model (a local run, the demo).
class ModelOnlyBinder final : public framework::Binder {
 public:
  absl::Status Bind(const framework::PodInfo&, const NodeId&,
                    absl::Span<const framework::GpuShare>) override {
    return absl::OkStatus();
  }
};

// The profile to run: a built-in one by name, or the first (or `profileName`) of a file. The
// Gang plugin is dropped (its Permit stage does not exist under kube-scheduler; LiveScheduler
// does gangs itself) and FGD without typical pods learns them from the pods it sees.
absl::StatusOr<runtime::Profile> ChooseProfile(const ExtenderConfig& c) {
  std::vector<runtime::Profile> profiles;
  const bool file = c.profile.find('/') != std::string::npos ||
                    c.profile.find(".yaml") != std::string::npos ||
                    c.profile.find(".yml") != std::string::npos;
  if (file) {
    ASSIGN_OR_RETURN(profiles, runtime::LoadProfilesFile(c.profile));
  } else {
    ASSIGN_OR_RETURN(profiles, runtime::ParseProfiles(plugins::kBuiltinProfiles, "built-in"));
  }
  runtime::Profile p;
  if (!file || !c.profile_name.empty()) {
    ASSIGN_OR_RETURN(p, runtime::FindProfile(profiles, file ? c.profile_name : c.profile));
  } else {
    if (profiles.empty()) return absl::InvalidArgumentError(c.profile + ": no profiles");
    p = profiles.front();
  }
  std::vector<runtime::PluginConfig> kept;
  for (runtime::PluginConfig& pc : p.plugins) {
    if (pc.name == "Gang") continue;
    if (pc.name == plugins::gpu_share::Fgd::kName && pc.args.empty()) {
      pc.args = plugins::gpu_share::ObservedFgdArgs();
    }
    kept.push_back(std::move(pc));
  }
  p.plugins = std::move(kept);
  return p;
}

class App final : public ExtenderApp {
 public:
  ~App() override { Stop(); }
  uint16_t port() const override { return server_->port(); }
  void Stop() override {
    if (server_) server_->Stop();
    if (informer_) informer_->Stop();
    hub_.reset();  // its callbacks reach the merger and the model: gone before they are
  }

  absl::Status Init(const ExtenderConfig& c, const http::ClientOptions* override) {
    ASSIGN_OR_RETURN(log::Level level, log::ParseLevel(c.log_level));
    logger_ = std::make_unique<log::Logger>(log::Options{.level = level, .json = c.log_json});
    ASSIGN_OR_RETURN(runtime::Profile profile, ChooseProfile(c));

    std::optional<http::ClientOptions> api_options;
    if (override != nullptr) {
      api_options = *override;
    } else if (!c.kubeconfig.empty()) {
      ASSIGN_OR_RETURN(api_options, k8s::LoadKubeconfig(c.kubeconfig, c.kube_context));
    } else if (c.in_cluster) {
      ASSIGN_OR_RETURN(api_options, k8s::InClusterConfig());
    }
    if (api_options) {
      ASSIGN_OR_RETURN(api_, http::Client::Create(*api_options));
      auto api_binder = std::make_unique<k8s::ApiBinder>(*api_, metrics_, logger_.get());
      api_binder_ = api_binder.get();
      binder_ = std::move(api_binder);
    } else {
      binder_ = std::make_unique<ModelOnlyBinder>();
    }
    framework::Binder* binder = binder_.get();
    if (c.agents.enabled) {
      ASSIGN_OR_RETURN(hub_, AgentHub::Create(
                                 clock_, metrics_,
                                 AgentHubOptions{.stale_after = c.agents.stale_after,
                                                 .call_timeout = c.agents.call_timeout,
                                                 .ca_file = c.agents.ca_file,
                                                 .cert_file = c.agents.cert_file,
                                                 .key_file = c.agents.key_file,
                                                 .logger = logger_.get()},
                                 AgentHub::Callbacks{
                                     .on_state =
                                         [this](const NodeId& node, agent::AgentInventory inv,
                                                const pb::NodeState& s) {
                                           merger_->OnAgentState(node, std::move(inv));
                                           SyncDeviceMapping(node, s);
                                         },
                                     .on_stale = [this](const NodeId& node,
                                                        std::string_view) { merger_->OnAgentStale(node); }}));
      handoff_ = std::make_unique<AgentHandoffBinder>(*hub_, *binder_, metrics_,
                                                      /*bind_when_stale=*/!c.agents.avoid_when_stale,
                                                      logger_.get());
      binder = handoff_.get();
    }

    rng_ = std::make_unique<runtime::LockedBitGen>(c.seed != 0 ? c.seed : std::random_device{}());
    registry_ = plugins::NewInTreeRegistry();
    ASSIGN_OR_RETURN(fw_, runtime::Framework::Create(
                              registry_, profile,
                              runtime::FrameworkDeps{clock_, *rng_, nullptr, metrics_, *binder},
                              runtime::FrameworkOptions{.parallelism = c.parallelism}));
    live_ = std::make_unique<runtime::LiveScheduler>(
        *fw_, store_, clock_,
        runtime::LiveOptions{.assumed_ttl = c.assumed_pod_ttl,
                             .gang_timeout = c.gang_timeout,
                             .logger = logger_.get()});

    if (hub_) {
      merger_ = std::make_unique<NodeMerger>(
          *live_, metrics_,
          c.agents.avoid_when_stale ? NodeMerger::StaleMode::kAvoid : NodeMerger::StaleMode::kFallback,
          logger_.get());
    }

    ServiceOptions so;
    so.path_prefix = c.path_prefix;
    so.metrics_text = [this] {
      if (hub_) hub_->UpdateGauges();
      return metrics_.Serialize();
    };
    so.logger = logger_.get();
    if (api_) {
      k8s::InformerOptions io{.logger = logger_.get(), .nodes = merger_.get()};
      if (hub_ && c.agents.discover) {
        io.agent_namespace = c.agents.discover_namespace;
        io.agent_labels = c.agents.discover_labels;
        io.agent_port = c.agents.discover_port;
        io.on_agent = [this](const std::string& node, const std::string& address) {
          hub_->SetAgent(node, address);
        };
      }
      informer_ = std::make_unique<k8s::Informer>(*api_, *live_, state_, metrics_, clock_, std::move(io));
      const absl::Duration max_age = c.max_model_age;
      so.readiness = [this, max_age] { return informer_->Ready(max_age); };
      so.fetch_pod = [this](const std::string& ns, const std::string& name) {
        return informer_->FetchPod(ns, name);
      };
    }
    service_ = std::make_unique<ExtenderService>(*live_, state_, metrics_, std::move(so));

    ASSIGN_OR_RETURN(server_, http::Server::Start(
                                  http::ServerOptions{.host = c.host,
                                                      .port = c.port,
                                                      .threads = c.threads,
                                                      .body_limit = static_cast<size_t>(c.body_limit),
                                                      .request_timeout = c.request_timeout,
                                                      .cert_file = c.cert_file,
                                                      .key_file = c.key_file,
                                                      .logger = logger_.get()},
                                  [this](const http::Request& r) { return service_->Handle(r); }));
    if (hub_) {
      for (const auto& [node, address] : c.agents.static_agents) hub_->SetAgent(node, address);
    }
    if (informer_) informer_->Start();
    logger_->Info("gpusched-extender serving",
                  {{"address", absl::StrCat(c.host, ":", server_->port())},
                   {"tls", c.cert_file.empty() ? "off" : "on"},
                   {"profile", profile.name},
                   {"kubernetes", api_ ? api_options->base_url
                                       : "none: empty model, bind updates the model only"}});
    return absl::OkStatus();
  }

 private:
  // The kubelet admitted pods of one shape in another order than they were bound: the agent
  // reports which pod really holds which devices; the model and the pods' annotations follow.
  void SyncDeviceMapping(const NodeId& node, const pb::NodeState& s) {
    std::vector<std::pair<PodUid, std::vector<framework::GpuShare>>> held;
    std::vector<framework::PodInfo> pods;
    {
      cache::SnapshotRef snap = live_->Snapshot();
      for (const pb::Allocation& a : s.allocations()) {
        if (a.state() != pb::Allocation::CONFIRMED || a.pod_uid().empty()) continue;
        std::vector<framework::GpuShare> gpus;
        for (const pb::Share& sh : a.shares()) gpus.push_back(agent::ShareFromProto(sh));
        const cache::PodRecord* rec = snap->FindPod(PodUid(a.pod_uid()));
        if (rec == nullptr || rec->node != node || rec->gpus == gpus) continue;
        held.emplace_back(rec->pod.uid, std::move(gpus));
        pods.push_back(rec->pod);
      }
    }
    if (held.empty()) return;
    absl::StatusOr<int> changed = live_->OnDevicesReported(node, held);
    if (!changed.ok()) {
      logger_->Warn("device mapping from the node agent not applied",
                    {{"node", node.str()}, {"error", std::string(changed.status().message())}});
      return;
    }
    metrics_.GetCounter("gpusched_agent_remapped_pods_total",
                        "Pods whose devices the node agent reported differently from the bind.", {})
        .Increment(static_cast<double>(*changed));
    for (size_t i = 0; i < held.size(); ++i) {
      logger_->Info("pod's devices follow the kubelet's admission order",
                    {{"pod", pods[i].FullName()}, {"node", node.str()}});
      if (api_binder_ == nullptr) continue;
      absl::Status w = api_binder_->WriteAssignment(pods[i], node, held[i].second);
      if (!w.ok()) {
        logger_->Warn("could not rewrite the device assignment",
                      {{"pod", pods[i].FullName()}, {"error", std::string(w.message())}});
      }
    }
  }

  // Declaration order is destruction order reversed: the server goes first, the clock last.
  RealClock clock_;
  metrics::PrometheusMetrics metrics_;
  std::unique_ptr<log::Logger> logger_;
  std::unique_ptr<runtime::LockedBitGen> rng_;
  framework::Registry registry_;
  std::unique_ptr<http::Client> api_;
  std::unique_ptr<framework::Binder> binder_;
  k8s::ApiBinder* api_binder_ = nullptr;  // binder_ when it is the API binder
  std::unique_ptr<AgentHub> hub_;
  std::unique_ptr<AgentHandoffBinder> handoff_;
  cache::SnapshotStore store_;
  std::unique_ptr<runtime::Framework> fw_;
  std::unique_ptr<runtime::LiveScheduler> live_;
  std::unique_ptr<NodeMerger> merger_;
  ClusterState state_;
  std::unique_ptr<k8s::Informer> informer_;
  std::unique_ptr<ExtenderService> service_;
  std::unique_ptr<http::Server> server_;
};

}  // namespace

void TuneProcessForServing() {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 128 << 20);
}

absl::StatusOr<std::unique_ptr<ExtenderApp>> ExtenderApp::Start(
    const ExtenderConfig& config, const http::ClientOptions* kubernetes_override) {
  auto app = std::make_unique<App>();
  RETURN_IF_ERROR(app->Init(config, kubernetes_override));
  return app;
}

}  // namespace gpusched::extender
