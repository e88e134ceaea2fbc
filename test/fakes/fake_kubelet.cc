#include "test/fakes/fake_kubelet.h"

#include <dirent.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <thread>
#include <utility>

#include <grpcpp/grpcpp.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "agent/deviceplugin/proto/deviceplugin.grpc.pb.h"
#include "agent/deviceplugin/proto/podresources.grpc.pb.h"

namespace gpusched::testing {
namespace {

absl::Status FromGrpc(const grpc::Status& s, std::string_view what) {
  if (s.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                      absl::StrCat(std::string(what), ": ", s.error_message()));
}

std::chrono::system_clock::time_point Deadline() {
  return std::chrono::system_clock::now() + std::chrono::seconds(10);
}

}  // namespace

// One registered plugin: the client side and the ListAndWatch reader.
struct FakeKubelet::Connection {
  FakeRegistration registration;
  std::unique_ptr<v1beta1::DevicePlugin::Stub> stub;
  grpc::ClientContext stream_context;
  std::thread reader;

  mutable Mutex mu;
  std::map<std::string, FakeDevice> devices ABSL_GUARDED_BY(mu);
  int messages ABSL_GUARDED_BY(mu) = 0;

  void Read() {
    v1beta1::Empty empty;
    auto stream = stub->ListAndWatch(&stream_context, empty);
    v1beta1::ListAndWatchResponse response;
    while (stream->Read(&response)) {
      std::map<std::string, FakeDevice> now;
      for (const v1beta1::Device& d : response.devices()) {
        FakeDevice& f = now[d.id()];
        f.health = d.health();
        for (const v1beta1::NUMANode& n : d.topology().nodes()) f.numa_nodes.push_back(n.id());
      }
      MutexLock l(&mu);
      devices = std::move(now);
      ++messages;
    }
    (void)stream->Finish();
  }

  // Ends the stream and joins the reader.
  void Close() {
    stream_context.TryCancel();
    if (reader.joinable()) reader.join();
  }
};

class FakeKubelet::RegistrationService final : public v1beta1::Registration::Service {
 public:
  explicit RegistrationService(FakeKubelet& kubelet) : kubelet_(kubelet) {}

  grpc::Status Register(grpc::ServerContext*, const v1beta1::RegisterRequest* request,
                        v1beta1::Empty*) override {
    if (request->version() != "v1beta1") {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          absl::StrCat("unsupported version \"", request->version(), "\""));
    }
    if (request->resource_name().empty() || request->endpoint().empty()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "empty resource_name or endpoint");
    }
    FakeRegistration r{request->version(), request->endpoint(), request->resource_name(),
                       request->options().pre_start_required(),
                       request->options().get_preferred_allocation_available()};
    kubelet_.Connect(std::move(r));
    return grpc::Status::OK;
  }

 private:
  FakeKubelet& kubelet_;
};

class FakeKubelet::PodResourcesService final : public v1::PodResourcesLister::Service {
 public:
  explicit PodResourcesService(FakeKubelet& kubelet) : kubelet_(kubelet) {}

  grpc::Status List(grpc::ServerContext*, const v1::ListPodResourcesRequest*,
                    v1::ListPodResourcesResponse* reply) override {
    ReaderMutexLock l(&kubelet_.mu_);
    for (const auto& [pod, resources] : kubelet_.pods_) Fill(pod, resources, reply->add_pod_resources());
    return grpc::Status::OK;
  }

  grpc::Status GetAllocatableResources(grpc::ServerContext*, const v1::AllocatableResourcesRequest*,
                                       v1::AllocatableResourcesResponse* reply) override {
    std::map<std::string, std::shared_ptr<Connection>> connections;
    {
      ReaderMutexLock l(&kubelet_.mu_);
      connections = kubelet_.connections_;
    }
    for (const auto& [resource, conn] : connections) {
      v1::ContainerDevices* d = reply->add_devices();
      d->set_resource_name(resource);
      ReaderMutexLock l(&conn->mu);
      for (const auto& [id, device] : conn->devices) d->add_device_ids(id);
    }
    return grpc::Status::OK;
  }

  grpc::Status Get(grpc::ServerContext*, const v1::GetPodResourcesRequest* request,
                   v1::GetPodResourcesResponse* reply) override {
    ReaderMutexLock l(&kubelet_.mu_);
    auto it = kubelet_.pods_.find({request->pod_namespace(), request->pod_name()});
    if (it == kubelet_.pods_.end()) {
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "pod not found");
    }
    Fill(it->first, it->second, reply->mutable_pod_resources());
    return grpc::Status::OK;
  }

 private:
  static void Fill(const std::pair<std::string, std::string>& pod,
                   const std::map<std::string, std::vector<std::string>>& resources,
                   v1::PodResources* out) {
    out->set_namespace_(pod.first);
    out->set_name(pod.second);
    v1::ContainerResources* c = out->add_containers();
    c->set_name("main");
    for (const auto& [resource, ids] : resources) {
      v1::ContainerDevices* d = c->add_devices();
      d->set_resource_name(resource);
      for (const std::string& id : ids) d->add_device_ids(id);
    }
  }

  FakeKubelet& kubelet_;
};

FakeKubelet::FakeKubelet(FakeKubeletOptions options)
    : options_(options),
      registration_service_(std::make_unique<RegistrationService>(*this)),
      pod_resources_service_(std::make_unique<PodResourcesService>(*this)) {}

FakeKubelet::~FakeKubelet() { Stop(); }

absl::Status FakeKubelet::Start() {
  char tmpl[] = "/tmp/fkubelet-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) return absl::InternalError("mkdtemp failed");
  root_ = tmpl;
  std::error_code ec;
  std::filesystem::create_directories(plugin_dir(), ec);
  std::filesystem::create_directories(root_ + "/pod-resources", ec);
  if (ec) return absl::InternalError(absl::StrCat("creating folders: ", ec.message()));
  {
    MutexLock l(&servers_mu_);
    grpc::ServerBuilder builder;
    builder.AddListeningPort("unix:" + pod_resources_socket(), grpc::InsecureServerCredentials());
    builder.RegisterService(pod_resources_service_.get());
    pod_resources_server_ = builder.BuildAndStart();
    if (pod_resources_server_ == nullptr) {
      return absl::UnavailableError("cannot serve pod resources");
    }
  }
  return StartRegistration();
}

absl::Status FakeKubelet::StartRegistration() {
  MutexLock l(&servers_mu_);
  grpc::ServerBuilder builder;
  builder.AddListeningPort("unix:" + kubelet_socket(), grpc::InsecureServerCredentials());
  builder.RegisterService(registration_service_.get());
  registration_server_ = builder.BuildAndStart();
  if (registration_server_ == nullptr) return absl::UnavailableError("cannot serve kubelet.sock");
  return absl::OkStatus();
}

void FakeKubelet::StopRegistration() {
  std::unique_ptr<grpc::Server> server;
  {
    MutexLock l(&servers_mu_);
    server = std::move(registration_server_);
  }
  if (server != nullptr) {
    server->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(100));
    server->Wait();
  }
}

void FakeKubelet::DropConnections() {
  std::map<std::string, std::shared_ptr<Connection>> connections;
  {
    MutexLock l(&mu_);
    connections.swap(connections_);
  }
  for (auto& [resource, conn] : connections) conn->Close();
}

void FakeKubelet::Stop() {
  {
    MutexLock l(&servers_mu_);
    if (stopped_) return;
    stopped_ = true;
  }
  StopRegistration();
  DropConnections();
  std::unique_ptr<grpc::Server> pod_resources;
  {
    MutexLock l(&servers_mu_);
    pod_resources = std::move(pod_resources_server_);
  }
  if (pod_resources != nullptr) {
    pod_resources->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(100));
    pod_resources->Wait();
  }
  if (!root_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }
}

absl::Status FakeKubelet::Restart() {
  StopRegistration();
  DropConnections();
  // A starting kubelet removes every socket in the folder, its own included.
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(plugin_dir(), ec)) {
    if (entry.is_socket(ec)) std::filesystem::remove(entry.path(), ec);
  }
  return StartRegistration();
}

void FakeKubelet::Connect(FakeRegistration registration) {
  auto conn = std::make_shared<Connection>();
  conn->registration = registration;
  auto channel = grpc::CreateChannel("unix:" + plugin_dir() + "/" + registration.endpoint,
                                     grpc::InsecureChannelCredentials());
  conn->stub = v1beta1::DevicePlugin::NewStub(channel);
  conn->reader = std::thread([c = conn.get()] { c->Read(); });
  std::shared_ptr<Connection> old;
  {
    MutexLock l(&mu_);
    ++registrations_;
    auto& slot = connections_[registration.resource_name];
    old = std::move(slot);
    slot = std::move(conn);
  }
  if (old != nullptr) old->Close();
}

int FakeKubelet::registrations() const {
  ReaderMutexLock l(&mu_);
  return registrations_;
}

std::optional<FakeRegistration> FakeKubelet::registration(const std::string& resource) const {
  ReaderMutexLock l(&mu_);
  auto it = connections_.find(resource);
  if (it == connections_.end()) return std::nullopt;
  return it->second->registration;
}

std::map<std::string, FakeDevice> FakeKubelet::Devices(const std::string& resource) const {
  std::shared_ptr<Connection> conn;
  {
    ReaderMutexLock l(&mu_);
    auto it = connections_.find(resource);
    if (it == connections_.end()) return {};
    conn = it->second;
  }
  ReaderMutexLock l(&conn->mu);
  return conn->devices;
}

int FakeKubelet::list_and_watch_messages(const std::string& resource) const {
  std::shared_ptr<Connection> conn;
  {
    ReaderMutexLock l(&mu_);
    auto it = connections_.find(resource);
    if (it == connections_.end()) return 0;
    conn = it->second;
  }
  ReaderMutexLock l(&conn->mu);
  return conn->messages;
}

int FakeKubelet::pre_start_calls() const {
  ReaderMutexLock l(&mu_);
  return pre_start_calls_;
}

bool FakeKubelet::WaitFor(const std::function<bool()>& done, absl::Duration timeout) {
  const auto until = std::chrono::steady_clock::now() + absl::ToChronoMilliseconds(timeout);
  while (!done()) {
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

bool FakeKubelet::WaitForDevices(const std::string& resource, size_t count,
                                 absl::Duration timeout) const {
  return WaitFor([&] { return Devices(resource).size() == count; }, timeout);
}

absl::StatusOr<AdmitResult> FakeKubelet::Admit(const std::string& pod_namespace,
                                               const std::string& pod_name,
                                               const std::string& resource, int count) {
  MutexLock admission(&admit_mu_);
  std::shared_ptr<Connection> conn;
  std::vector<std::string> available;
  {
    ReaderMutexLock l(&mu_);
    auto it = connections_.find(resource);
    if (it == connections_.end()) {
      return absl::FailedPreconditionError(absl::StrCat("resource ", resource, " not registered"));
    }
    conn = it->second;
    std::set<std::string> held;
    for (const auto& [pod, resources] : pods_) {
      if (auto r = resources.find(resource); r != resources.end()) {
        held.insert(r->second.begin(), r->second.end());
      }
    }
    ReaderMutexLock cl(&conn->mu);
    for (const auto& [id, device] : conn->devices) {
      if (device.health == "Healthy" && held.count(id) == 0) available.push_back(id);
    }
  }
  if (count <= 0 || static_cast<int>(available.size()) < count) {
    return absl::ResourceExhaustedError(
        absl::StrCat("requested number of devices unavailable for ", resource,
                     ". Requested: ", count, ", Available: ", available.size()));
  }
  std::vector<std::string> chosen;
  bool used_preferred = false;
  if (conn->registration.get_preferred_allocation_available) {
    v1beta1::PreferredAllocationRequest request;
    auto* c = request.add_container_requests();
    for (const std::string& id : available) c->add_available_deviceids(id);
    c->set_allocation_size(count);
    v1beta1::PreferredAllocationResponse response;
    grpc::ClientContext context;
    context.set_deadline(Deadline());
    grpc::Status s = conn->stub->GetPreferredAllocation(&context, request, &response);
    if (!s.ok()) return FromGrpc(s, "GetPreferredAllocation");
    if (options_.honour_preferred && response.container_responses_size() == 1) {
      const auto& ids = response.container_responses(0).deviceids();
      std::set<std::string> distinct(ids.begin(), ids.end());
      const bool valid =
          static_cast<int>(distinct.size()) == count && static_cast<int>(ids.size()) == count &&
          std::all_of(distinct.begin(), distinct.end(), [&](const std::string& id) {
            return std::binary_search(available.begin(), available.end(), id);
          });
      if (valid) {
        chosen.assign(distinct.begin(), distinct.end());
        used_preferred = true;
      }
    }
  }
  if (chosen.empty()) {
    if (options_.pick_from_end) {
      chosen.assign(available.end() - count, available.end());
    } else {
      chosen.assign(available.begin(), available.begin() + count);
    }
  }
  return DoAllocate(conn, pod_namespace, pod_name, resource, std::move(chosen), used_preferred);
}

absl::StatusOr<AdmitResult> FakeKubelet::AllocateExact(const std::string& pod_namespace,
                                                       const std::string& pod_name,
                                                       const std::string& resource,
                                                       const std::vector<std::string>& ids) {
  MutexLock admission(&admit_mu_);
  std::shared_ptr<Connection> conn;
  {
    ReaderMutexLock l(&mu_);
    auto it = connections_.find(resource);
    if (it == connections_.end()) {
      return absl::FailedPreconditionError(absl::StrCat("resource ", resource, " not registered"));
    }
    conn = it->second;
  }
  return DoAllocate(conn, pod_namespace, pod_name, resource, ids, false);
}

absl::StatusOr<AdmitResult> FakeKubelet::DoAllocate(const std::shared_ptr<Connection>& conn,
                                                    const std::string& pod_namespace,
                                                    const std::string& pod_name,
                                                    const std::string& resource,
                                                    std::vector<std::string> ids,
                                                    bool used_preferred) {
  v1beta1::AllocateRequest request;
  auto* c = request.add_container_requests();
  for (const std::string& id : ids) c->add_devices_ids(id);
  v1beta1::AllocateResponse response;
  {
    grpc::ClientContext context;
    context.set_deadline(Deadline());
    grpc::Status s = conn->stub->Allocate(&context, request, &response);
    if (!s.ok()) return FromGrpc(s, "Allocate");
  }
  if (response.container_responses_size() != 1) {
    return absl::InternalError(absl::StrCat("Allocate returned ",
                                            response.container_responses_size(),
                                            " container responses for 1 request"));
  }
  AdmitResult result;
  std::sort(ids.begin(), ids.end());
  result.device_ids = ids;
  result.used_preferred = used_preferred;
  const auto& r = response.container_responses(0);
  result.envs.insert(r.envs().begin(), r.envs().end());
  result.annotations.insert(r.annotations().begin(), r.annotations().end());
  for (const auto& cdi : r.cdi_devices()) result.cdi_devices.push_back(cdi.name());
  {
    MutexLock l(&mu_);
    auto& held = pods_[{pod_namespace, pod_name}][resource];
    held.insert(held.end(), ids.begin(), ids.end());
  }
  if (conn->registration.pre_start_required) {
    v1beta1::PreStartContainerRequest pre;
    for (const std::string& id : ids) pre.add_devices_ids(id);
    v1beta1::PreStartContainerResponse pre_reply;
    grpc::ClientContext context;
    context.set_deadline(Deadline());
    grpc::Status s = conn->stub->PreStartContainer(&context, pre, &pre_reply);
    if (!s.ok()) return FromGrpc(s, "PreStartContainer");
    MutexLock l(&mu_);
    ++pre_start_calls_;
  }
  return result;
}

void FakeKubelet::Remove(const std::string& pod_namespace, const std::string& pod_name) {
  MutexLock l(&mu_);
  pods_.erase({pod_namespace, pod_name});
}

std::map<std::string, std::vector<std::string>> FakeKubelet::PodDevices(
    const std::string& pod_namespace, const std::string& pod_name) const {
  ReaderMutexLock l(&mu_);
  auto it = pods_.find({pod_namespace, pod_name});
  if (it == pods_.end()) return {};
  return it->second;
}

}  // namespace gpusched::testing
