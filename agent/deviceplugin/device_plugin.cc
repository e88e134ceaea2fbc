#include "agent/deviceplugin/device_plugin.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>
#include <set>
#include <utility>

#include <grpcpp/grpcpp.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/deviceplugin/proto/deviceplugin.grpc.pb.h"
#include "agent/deviceplugin/proto/podresources.grpc.pb.h"

namespace gpusched::agent::deviceplugin {
namespace {

constexpr char kApiVersion[] = "v1beta1";
constexpr char kHealthy[] = "Healthy";
constexpr char kUnhealthy[] = "Unhealthy";

// std::condition_variable_any needs lock()/unlock(); the annotated Mutex spells them Lock/Unlock.
// Used only to wait while a MutexLock holds mu_.
class CvLock {
 public:
  explicit CvLock(Mutex& mu) : mu_(mu) {}
  void lock() ABSL_NO_THREAD_SAFETY_ANALYSIS { mu_.Lock(); }
  void unlock() ABSL_NO_THREAD_SAFETY_ANALYSIS { mu_.Unlock(); }

 private:
  Mutex& mu_;
};

std::string JoinPath(const std::string& dir, const std::string& file) {
  if (!dir.empty() && dir.back() == '/') return absl::StrCat(dir, file);
  return absl::StrCat(dir, "/", file);
}

grpc::Status ToGrpc(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

std::chrono::system_clock::time_point DeadlineAfter(absl::Duration d) {
  return std::chrono::system_clock::now() + absl::ToChronoMilliseconds(d);
}

bool ValidResourceName(std::string_view name) {
  const size_t slash = name.find('/');
  return slash != std::string_view::npos && slash > 0 && slash + 1 < name.size() &&
         name.find('/', slash + 1) == std::string_view::npos;
}

// A GPU's part of ListAndWatch, for change detection.
struct GpuListing {
  std::string uuid;
  bool healthy;
  int numa;
  friend bool operator==(const GpuListing&, const GpuListing&) = default;
};

}  // namespace

absl::Status ValidateDevicePluginOptions(const DevicePluginOptions& o) {
  if (o.plugin_dir.empty()) return absl::InvalidArgumentError("plugin_dir: empty");
  if (!ValidResourceName(o.milli_resource)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "milli_resource: \"", o.milli_resource, "\" is not a resource name like domain/name"));
  }
  if (!o.whole_resource.empty() && !ValidResourceName(o.whole_resource)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "whole_resource: \"", o.whole_resource, "\" is not a resource name like domain/name"));
  }
  if (o.whole_resource == o.milli_resource) {
    return absl::InvalidArgumentError("whole_resource: must differ from milli_resource");
  }
  if (o.socket_prefix.empty() || absl::StrContains(o.socket_prefix, "/")) {
    return absl::InvalidArgumentError("socket_prefix: must be a non-empty file name");
  }
  if (o.cdi_devices && o.cdi_kind.empty()) {
    return absl::InvalidArgumentError("cdi_kind: empty while cdi_devices is set");
  }
  for (const auto& [name, d] :
       {std::pair<const char*, absl::Duration>{"kubelet_poll_interval", o.kubelet_poll_interval},
        {"list_watch_poll_interval", o.list_watch_poll_interval},
        {"reconcile_interval", o.reconcile_interval},
        {"rpc_timeout", o.rpc_timeout}}) {
    if (d <= absl::ZeroDuration()) {
      return absl::InvalidArgumentError(absl::StrCat(name, ": must be > 0"));
    }
  }
  if (o.release_grace < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("release_grace: must be >= 0");
  }
  return absl::OkStatus();
}

// ------------------------------------------------------------------------------------------------
// One resource's DevicePlugin service.

class ResourceService final : public v1beta1::DevicePlugin::Service {
 public:
  ResourceService(GpuDevicePlugin& plugin, ResourceKind kind, std::string resource)
      : plugin_(plugin), kind_(kind), resource_(std::move(resource)) {}

  grpc::Status GetDevicePluginOptions(grpc::ServerContext*, const v1beta1::Empty*,
                                      v1beta1::DevicePluginOptions* reply) override {
    reply->set_pre_start_required(true);
    reply->set_get_preferred_allocation_available(true);
    return grpc::Status::OK;
  }

  grpc::Status ListAndWatch(grpc::ServerContext* context, const v1beta1::Empty*,
                            grpc::ServerWriter<v1beta1::ListAndWatchResponse>* writer) override;
  grpc::Status GetPreferredAllocation(grpc::ServerContext* context,
                                      const v1beta1::PreferredAllocationRequest* request,
                                      v1beta1::PreferredAllocationResponse* reply) override;
  grpc::Status Allocate(grpc::ServerContext* context, const v1beta1::AllocateRequest* request,
                        v1beta1::AllocateResponse* reply) override;
  grpc::Status PreStartContainer(grpc::ServerContext*, const v1beta1::PreStartContainerRequest*,
                                 v1beta1::PreStartContainerResponse*) override {
    plugin_.RequestReconcile();
    return grpc::Status::OK;
  }

 private:
  std::vector<GpuListing> Listing() const;
  // The IDs a preferred allocation would give for reservation `r`, or empty when it cannot.
  std::vector<std::string> PreferFor(const Reservation& r, const std::vector<GpuRef>& gpus,
                                     const DecodedDevices& available,
                                     const DecodedDevices& must, int size) const;
  void FillAllocation(const AllocationView& view, const std::vector<GpuRef>& gpus,
                      v1beta1::ContainerAllocateResponse* out) const;

  GpuDevicePlugin& plugin_;
  const ResourceKind kind_;
  const std::string resource_;
};

std::vector<GpuListing> ResourceService::Listing() const {
  std::vector<GpuListing> out;
  for (const GpuRef& g : plugin_.book_.Gpus()) {
    auto it = plugin_.options_.numa_nodes.find(g.index);
    out.push_back(GpuListing{g.uuid, g.healthy, it == plugin_.options_.numa_nodes.end() ? -1 : it->second});
  }
  return out;
}

grpc::Status ResourceService::ListAndWatch(
    grpc::ServerContext* context, const v1beta1::Empty*,
    grpc::ServerWriter<v1beta1::ListAndWatchResponse>* writer) {
  std::optional<std::vector<GpuListing>> sent;
  uint64_t seen_generation = 0;
  const auto poll = absl::ToChronoMilliseconds(plugin_.options_.list_watch_poll_interval);
  // Short waits so a cancelled stream (kubelet gone, server shutting down) ends promptly.
  const auto step = std::min<std::chrono::milliseconds>(poll, std::chrono::milliseconds(100));
  auto next_poll = std::chrono::steady_clock::now();
  while (true) {
    if (context->IsCancelled()) return grpc::Status::CANCELLED;
    {
      MutexLock l(&plugin_.mu_);
      if (plugin_.stopping_) return grpc::Status::OK;
      if (sent.has_value() && plugin_.gpus_generation_ == seen_generation &&
          std::chrono::steady_clock::now() < next_poll) {
        CvLock cv_lock(plugin_.mu_);
        plugin_.cv_.wait_for(cv_lock, step);
        continue;
      }
      seen_generation = plugin_.gpus_generation_;
    }
    next_poll = std::chrono::steady_clock::now() + poll;
    std::vector<GpuListing> listing = Listing();
    if (sent.has_value() && *sent == listing) continue;
    v1beta1::ListAndWatchResponse response;
    for (const GpuListing& g : listing) {
      for (std::string& id : DeviceIdsOf(kind_, g.uuid)) {
        v1beta1::Device* d = response.add_devices();
        d->set_id(std::move(id));
        d->set_health(g.healthy ? kHealthy : kUnhealthy);
        if (g.numa >= 0) d->mutable_topology()->add_nodes()->set_id(g.numa);
      }
    }
    if (!writer->Write(response)) return grpc::Status::CANCELLED;
    plugin_.Log(log::Level::kInfo, "ListAndWatch sent",
                {{"resource", resource_}, {"gpus", absl::StrCat(listing.size())}});
    sent = std::move(listing);
  }
}

std::vector<std::string> ResourceService::PreferFor(const Reservation& r,
                                                    const std::vector<GpuRef>& gpus,
                                                    const DecodedDevices& available,
                                                    const DecodedDevices& must, int size) const {
  std::set<int> reserved_gpus;
  for (const ShareSpec& s : r.shares) reserved_gpus.insert(s.gpu);
  // must_include has to be on the reserved GPUs.
  for (const auto& [gpu, ids] : must.ids_by_gpu) {
    if (reserved_gpus.count(gpu) == 0) return {};
  }
  std::vector<std::string> out;
  if (kind_ == ResourceKind::kMilli) {
    if (r.shares.size() != 1 || r.shares[0].milli != size) return {};
    const int gpu = r.shares[0].gpu;
    std::set<std::string> chosen;
    if (auto it = must.ids_by_gpu.find(gpu); it != must.ids_by_gpu.end()) {
      for (const std::string& id : it->second) chosen.insert(id);
    }
    if (auto it = available.ids_by_gpu.find(gpu); it != available.ids_by_gpu.end()) {
      for (const std::string& id : it->second) {
        if (static_cast<int>(chosen.size()) >= size) break;
        chosen.insert(id);
      }
    }
    if (static_cast<int>(chosen.size()) != size) return {};
    out.assign(chosen.begin(), chosen.end());
    return out;
  }
  // Whole GPUs: exactly the reserved GPUs, each available (or required).
  if (static_cast<int>(r.shares.size()) != size) return {};
  for (const ShareSpec& s : r.shares) {
    if (s.milli != kMilliPerGpu) return {};
    if (available.ids_by_gpu.count(s.gpu) == 0 && must.ids_by_gpu.count(s.gpu) == 0) return {};
    for (const GpuRef& g : gpus) {
      if (g.index == s.gpu) out.push_back(g.uuid);
    }
  }
  if (static_cast<int>(out.size()) != size) return {};
  return out;
}

grpc::Status ResourceService::GetPreferredAllocation(
    grpc::ServerContext*, const v1beta1::PreferredAllocationRequest* request,
    v1beta1::PreferredAllocationResponse* reply) {
  const std::vector<GpuRef> gpus = plugin_.book_.Gpus();
  const std::vector<Reservation> pending = plugin_.book_.Pending();
  std::set<std::string> used;  // reservations already proposed to an earlier container
  for (const auto& container : request->container_requests()) {
    v1beta1::ContainerPreferredAllocationResponse* out = reply->add_container_responses();
    const int size = container.allocation_size();
    if (size <= 0) continue;
    const std::vector<std::string> available_ids(container.available_deviceids().begin(),
                                                 container.available_deviceids().end());
    const std::vector<std::string> must_ids(container.must_include_deviceids().begin(),
                                            container.must_include_deviceids().end());
    const DecodedDevices available = DecodeKnownDevices(kind_, gpus, available_ids);
    const DecodedDevices must = DecodeKnownDevices(kind_, gpus, must_ids);
    size_t must_known = 0;
    for (const auto& [gpu, ids] : must.ids_by_gpu) must_known += ids.size();
    if (must_known != std::set<std::string>(must_ids.begin(), must_ids.end()).size()) {
      continue;  // must_include names IDs we do not know: let the kubelet choose
    }
    for (const Reservation& r : pending) {
      if (used.count(r.pod_uid) > 0) continue;
      std::vector<std::string> ids = PreferFor(r, gpus, available, must, size);
      if (ids.empty()) continue;
      used.insert(r.pod_uid);
      for (std::string& id : ids) out->add_deviceids(std::move(id));
      plugin_.Log(log::Level::kDebug, "preferred allocation",
                  {{"resource", resource_}, {"size", absl::StrCat(size)},
                   {"reservation", r.pod_uid}});
      break;
    }
  }
  return grpc::Status::OK;
}

void ResourceService::FillAllocation(const AllocationView& view, const std::vector<GpuRef>& gpus,
                                     v1beta1::ContainerAllocateResponse* out) const {
  std::vector<std::string> uuids, indices;
  for (const ShareSpec& s : view.reservation.shares) {
    indices.push_back(absl::StrCat(s.gpu));
    for (const GpuRef& g : gpus) {
      if (g.index == s.gpu) uuids.push_back(g.uuid);
    }
    if (plugin_.options_.cdi_devices) {
      out->add_cdi_devices()->set_name(absl::StrCat(plugin_.options_.cdi_kind, "=", s.gpu));
    }
  }
  auto& envs = *out->mutable_envs();
  auto& notes = *out->mutable_annotations();
  envs["NVIDIA_VISIBLE_DEVICES"] = absl::StrJoin(uuids, ",");
  envs["GPUSCHED_POD_UID"] = view.reservation.pod_uid;
  notes["gpusched.io/reservation-pod-uid"] = view.reservation.pod_uid;
  notes["gpusched.io/allocated-gpus"] = absl::StrJoin(indices, ",");
  if (kind_ == ResourceKind::kMilli && view.reservation.shares.size() == 1) {
    const ShareSpec& s = view.reservation.shares[0];
    envs["GPUSCHED_GPU_MILLI"] = absl::StrCat(s.milli);
    notes["gpusched.io/allocated-milli"] = absl::StrCat(s.milli);
    if (s.memory_mib > 0) {
      envs["CUDA_DEVICE_MEMORY_LIMIT"] = absl::StrCat(s.memory_mib, "m");
      envs["GPUSCHED_MEMORY_LIMIT_MIB"] = absl::StrCat(s.memory_mib);
      notes["gpusched.io/allocated-memory-mib"] = absl::StrCat(s.memory_mib);
    }
  }
}

grpc::Status ResourceService::Allocate(grpc::ServerContext*,
                                       const v1beta1::AllocateRequest* request,
                                       v1beta1::AllocateResponse* reply) {
  const std::vector<GpuRef> gpus = plugin_.book_.Gpus();
  std::vector<DeviceClaim> claims;
  for (int i = 0; i < request->container_requests_size(); ++i) {
    const auto& ids = request->container_requests(i).devices_ids();
    absl::StatusOr<DecodedDevices> decoded =
        DecodeDevices(kind_, gpus, std::vector<std::string>(ids.begin(), ids.end()));
    if (!decoded.ok()) {
      const std::string message =
          absl::StrCat(resource_, ": container_requests[", i, "].", decoded.status().message());
      plugin_.Log(log::Level::kWarn, "Allocate refused", {{"reason", message}});
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, message);
    }
    DeviceClaim claim;
    claim.shape = decoded->shape;
    for (auto& [gpu, list] : decoded->ids_by_gpu) {
      for (std::string& id : list) claim.device_ids.push_back(std::move(id));
    }
    claim.what = absl::StrCat(ids.size(), " ", resource_);
    claims.push_back(std::move(claim));
  }
  absl::StatusOr<std::vector<AllocationView>> views = plugin_.book_.Allocate(std::move(claims));
  if (!views.ok()) {
    plugin_.Log(log::Level::kWarn, "Allocate refused",
                {{"resource", resource_}, {"reason", std::string(views.status().message())}});
    return ToGrpc(views.status());
  }
  for (const AllocationView& view : *views) {
    FillAllocation(view, gpus, reply->add_container_responses());
    std::vector<std::string> shares;
    for (const ShareSpec& s : view.reservation.shares) {
      shares.push_back(absl::StrCat(s.gpu, ":", s.milli, "m/", s.memory_mib, "MiB"));
    }
    plugin_.Log(log::Level::kInfo, "Allocate matched",
                {{"resource", resource_}, {"reservation", view.reservation.pod_uid},
                 {"pod", absl::StrCat(view.reservation.pod_namespace, "/",
                                      view.reservation.pod_name)},
                 {"shares", absl::StrJoin(shares, ",")}});
  }
  return grpc::Status::OK;
}

// ------------------------------------------------------------------------------------------------
// The plugin.

struct GpuDevicePlugin::Endpoint {
  ResourceKind kind;
  std::string resource;
  std::string socket_name;  // relative to plugin_dir, as registered
  std::string socket_path;
  std::unique_ptr<ResourceService> service;
  std::unique_ptr<grpc::Server> server;
};

GpuDevicePlugin::GpuDevicePlugin(DevicePluginOptions options, ReservationBook& book)
    : options_(std::move(options)),
      kubelet_socket_(options_.kubelet_socket.empty()
                          ? JoinPath(options_.plugin_dir, "kubelet.sock")
                          : options_.kubelet_socket),
      book_(book) {}

absl::StatusOr<std::unique_ptr<GpuDevicePlugin>> GpuDevicePlugin::Start(
    DevicePluginOptions options, ReservationBook& book) {
  if (absl::Status s = ValidateDevicePluginOptions(options); !s.ok()) return s;
  std::unique_ptr<GpuDevicePlugin> plugin(new GpuDevicePlugin(std::move(options), book));
  const DevicePluginOptions& o = plugin->options_;
  auto add = [&](ResourceKind kind, const std::string& resource, const char* suffix) {
    auto e = std::make_unique<Endpoint>();
    e->kind = kind;
    e->resource = resource;
    e->socket_name = absl::StrCat(o.socket_prefix, "-", suffix, ".sock");
    e->socket_path = JoinPath(o.plugin_dir, e->socket_name);
    e->service = std::make_unique<ResourceService>(*plugin, kind, resource);
    plugin->endpoints_.push_back(std::move(e));
  };
  add(ResourceKind::kMilli, o.milli_resource, "milli");
  if (!o.whole_resource.empty()) add(ResourceKind::kWhole, o.whole_resource, "whole");
  for (auto& e : plugin->endpoints_) {
    if (absl::Status s = plugin->StartEndpoint(*e); !s.ok()) {
      plugin->Stop();
      return s;
    }
  }
  plugin->thread_ = std::thread([p = plugin.get()] { p->Loop(); });
  return plugin;
}

GpuDevicePlugin::~GpuDevicePlugin() { Stop(); }

absl::Status GpuDevicePlugin::StartEndpoint(Endpoint& e) {
  if (::unlink(e.socket_path.c_str()) != 0 && errno != ENOENT) {
    return absl::UnavailableError(
        absl::StrCat("cannot remove stale socket ", e.socket_path, ": ", std::strerror(errno)));
  }
  grpc::ServerBuilder builder;
  builder.AddListeningPort("unix:" + e.socket_path, grpc::InsecureServerCredentials());
  builder.RegisterService(e.service.get());
  e.server = builder.BuildAndStart();
  if (e.server == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("cannot serve ", e.resource, " on unix:", e.socket_path));
  }
  Log(log::Level::kInfo, "device plugin serving",
      {{"resource", e.resource}, {"socket", e.socket_path}});
  return absl::OkStatus();
}

void GpuDevicePlugin::StopEndpoint(Endpoint& e) {
  if (e.server == nullptr) return;
  // Open ListAndWatch streams see the cancellation within their short wait.
  e.server->Shutdown(DeadlineAfter(absl::Milliseconds(100)));
  e.server->Wait();
  e.server.reset();
  ::unlink(e.socket_path.c_str());
}

void GpuDevicePlugin::Stop() {
  {
    MutexLock l(&mu_);
    if (stopped_) return;
    stopped_ = true;
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  for (auto& e : endpoints_) StopEndpoint(*e);
}

void GpuDevicePlugin::GpusChanged() {
  {
    MutexLock l(&mu_);
    ++gpus_generation_;
  }
  cv_.notify_all();
}

void GpuDevicePlugin::RequestReconcile() {
  {
    MutexLock l(&mu_);
    reconcile_requested_ = true;
  }
  cv_.notify_all();
}

int GpuDevicePlugin::registrations() const {
  ReaderMutexLock l(&mu_);
  return registrations_;
}

bool GpuDevicePlugin::registered() const {
  ReaderMutexLock l(&mu_);
  return registered_;
}

void GpuDevicePlugin::Log(log::Level level, std::string_view message, log::Fields fields) const {
  if (options_.logger == nullptr || !options_.logger->Enabled(level)) return;
  options_.logger->Log(level, message, fields);
}

absl::Status GpuDevicePlugin::Register(const Endpoint& e) {
  auto channel = grpc::CreateChannel("unix:" + kubelet_socket_, grpc::InsecureChannelCredentials());
  auto stub = v1beta1::Registration::NewStub(channel);
  v1beta1::RegisterRequest request;
  request.set_version(kApiVersion);
  request.set_endpoint(e.socket_name);
  request.set_resource_name(e.resource);
  request.mutable_options()->set_pre_start_required(true);
  request.mutable_options()->set_get_preferred_allocation_available(true);
  v1beta1::Empty reply;
  grpc::ClientContext context;
  context.set_deadline(DeadlineAfter(options_.rpc_timeout));
  grpc::Status s = stub->Register(&context, request, &reply);
  if (!s.ok()) {
    return absl::UnavailableError(absl::StrCat("registering ", e.resource, " with the kubelet at ",
                                               kubelet_socket_, ": ", s.error_message()));
  }
  return absl::OkStatus();
}

void GpuDevicePlugin::MaintainRegistration() {
  struct stat st;
  if (::stat(kubelet_socket_.c_str(), &st) != 0) {
    bool was;
    {
      MutexLock l(&mu_);
      was = registered_;
      registered_ = false;
    }
    if (was) Log(log::Level::kWarn, "kubelet socket gone", {{"socket", kubelet_socket_}});
    return;
  }
  const FileKey key{st.st_dev, st.st_ino,
                    static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec,
                    static_cast<int64_t>(st.st_ctim.tv_sec) * 1'000'000'000 + st.st_ctim.tv_nsec};
  bool sockets_present = true;
  for (const auto& e : endpoints_) {
    struct stat own;
    if (e->server == nullptr || ::stat(e->socket_path.c_str(), &own) != 0) sockets_present = false;
  }
  bool was_registered;
  {
    ReaderMutexLock l(&mu_);
    was_registered = registered_;
  }
  if (was_registered && registered_key_ == key && sockets_present) return;

  // A new kubelet (or our sockets were removed, as a starting kubelet does): serve afresh, then
  // register again.
  if ((registered_key_.has_value() && registered_key_ != key) || !sockets_present) {
    Log(log::Level::kInfo, "kubelet restarted: restarting device plugin servers",
        {{"socket", kubelet_socket_}});
    for (auto& e : endpoints_) {
      StopEndpoint(*e);
      if (absl::Status s = StartEndpoint(*e); !s.ok()) {
        Log(log::Level::kError, "device plugin server restart failed",
            {{"resource", e->resource}, {"error", std::string(s.message())}});
        return;
      }
    }
    registered_key_.reset();
  }
  int ok = 0;
  for (const auto& e : endpoints_) {
    absl::Status s = Register(*e);
    if (!s.ok()) {
      Log(log::Level::kWarn, "registration failed (retrying)", {{"error", std::string(s.message())}});
      break;
    }
    ++ok;
    Log(log::Level::kInfo, "registered with the kubelet", {{"resource", e->resource}});
  }
  {
    MutexLock l(&mu_);
    registrations_ += ok;
    registered_ = ok == static_cast<int>(endpoints_.size());
  }
  if (ok == static_cast<int>(endpoints_.size())) registered_key_ = key;
}

absl::StatusOr<ReconcileReport> GpuDevicePlugin::ReconcileNow() {
  if (options_.pod_resources_socket.empty()) {
    return absl::FailedPreconditionError("pod_resources_socket: not configured");
  }
  MutexLock serial(&reconcile_mu_);
  auto channel = grpc::CreateChannel("unix:" + options_.pod_resources_socket,
                                     grpc::InsecureChannelCredentials());
  auto stub = v1::PodResourcesLister::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(DeadlineAfter(options_.rpc_timeout));
  v1::ListPodResourcesRequest request;
  v1::ListPodResourcesResponse response;
  grpc::Status s = stub->List(&context, request, &response);
  if (!s.ok()) {
    return absl::UnavailableError(absl::StrCat("pod resources List at ",
                                               options_.pod_resources_socket, ": ",
                                               s.error_message()));
  }
  const std::vector<GpuRef> gpus = book_.Gpus();
  std::vector<HeldDevices> held;
  for (const v1::PodResources& pod : response.pod_resources()) {
    std::vector<std::string> milli_ids, whole_ids;
    for (const v1::ContainerResources& c : pod.containers()) {
      for (const v1::ContainerDevices& d : c.devices()) {
        if (d.resource_name() == options_.milli_resource) {
          milli_ids.insert(milli_ids.end(), d.device_ids().begin(), d.device_ids().end());
        } else if (!options_.whole_resource.empty() &&
                   d.resource_name() == options_.whole_resource) {
          whole_ids.insert(whole_ids.end(), d.device_ids().begin(), d.device_ids().end());
        }
      }
    }
    if (milli_ids.empty() && whole_ids.empty()) continue;
    HeldDevices h{pod.namespace_(), pod.name(), {}, {}};
    std::map<int, int> milli_by_gpu;
    for (const auto& [kind, ids] : {std::pair{ResourceKind::kMilli, &milli_ids},
                                    std::pair{ResourceKind::kWhole, &whole_ids}}) {
      DecodedDevices d = DecodeKnownDevices(kind, gpus, *ids);
      for (const ShareSpec& share : d.shape) milli_by_gpu[share.gpu] += share.milli;
      for (auto& [gpu, list] : d.ids_by_gpu) {
        h.device_ids.insert(h.device_ids.end(), list.begin(), list.end());
      }
    }
    for (const auto& [gpu, milli] : milli_by_gpu) {
      h.shape.push_back(ShareSpec{gpu, std::min(milli, kMilliPerGpu), 0});
    }
    if (!h.device_ids.empty()) held.push_back(std::move(h));
  }
  ReconcileReport report = book_.Reconcile(held, options_.release_grace);
  book_.ExpireReservations();
  if (!(report == ReconcileReport{})) {
    Log(log::Level::kInfo, "reconciled with pod resources",
        {{"confirmed", absl::StrCat(report.confirmed)},
         {"swapped", absl::StrCat(report.swapped)},
         {"adopted", absl::StrCat(report.adopted)},
         {"released", absl::StrCat(report.released)},
         {"stolen", absl::StrCat(report.stolen)},
         {"unsupported", absl::StrCat(report.unsupported)}});
  }
  return report;
}

void GpuDevicePlugin::Loop() {
  using Clock = std::chrono::steady_clock;
  const auto kubelet_poll = absl::ToChronoMilliseconds(options_.kubelet_poll_interval);
  const auto reconcile_every = absl::ToChronoMilliseconds(options_.reconcile_interval);
  auto next_kubelet = Clock::now();
  auto next_reconcile = Clock::now() + reconcile_every;
  while (true) {
    bool reconcile = false;
    {
      MutexLock l(&mu_);
      if (stopping_) return;
      const auto now = Clock::now();
      if (now < next_kubelet && now < next_reconcile && !reconcile_requested_) {
        CvLock cv_lock(mu_);
        cv_.wait_for(cv_lock, std::min(next_kubelet, next_reconcile) - now);
        continue;
      }
      reconcile = reconcile_requested_ || now >= next_reconcile;
      reconcile_requested_ = false;
    }
    if (Clock::now() >= next_kubelet) {
      MaintainRegistration();
      next_kubelet = Clock::now() + kubelet_poll;
    }
    if (reconcile) {
      if (!options_.pod_resources_socket.empty()) {
        absl::StatusOr<ReconcileReport> r = ReconcileNow();
        if (!r.ok()) {
          Log(log::Level::kWarn, "pod resources reconcile failed",
              {{"error", std::string(r.status().message())}});
        }
      } else {
        book_.ExpireReservations();
      }
      next_reconcile = Clock::now() + reconcile_every;
    }
  }
}

}  // namespace gpusched::agent::deviceplugin
