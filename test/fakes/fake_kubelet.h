#pragma once

// A fake kubelet for device-plugin tests: the kubelet's side of the device-plugin API (v1beta1)
// and of the pod resources API (v1), over real gRPC on Unix sockets in a temporary folder.
//
//   FakeKubelet kubelet;
//   ASSERT_TRUE(kubelet.Start().ok());
//   ... start the plugin with plugin_dir = kubelet.plugin_dir(),
//       pod_resources_socket = kubelet.pod_resources_socket() ...
//   ASSERT_TRUE(kubelet.WaitForDevices("gpusched.io/gpu-milli", 2000, absl::Seconds(10)));
//   absl::StatusOr<AdmitResult> a = kubelet.Admit("ml", "a", "gpusched.io/gpu-milli", 250);
//   a->envs["NVIDIA_VISIBLE_DEVICES"];
//   kubelet.Restart();  // like a kubelet restart: the plugin must serve and register again
//
// What it does, as the kubelet's device manager does:
//   * Registration (<plugin_dir>/kubelet.sock): accepts version "v1beta1" (INVALID_ARGUMENT
//     otherwise), records the endpoint, resource and options, then connects to
//     <plugin_dir>/<endpoint> and consumes ListAndWatch on its own thread. A new registration of
//     the same resource replaces the old connection.
//   * Admit(pod, resource, count) (one at a time, like pod admission): the available IDs are the
//     resource's Healthy IDs no pod holds; fewer than count: RESOURCE_EXHAUSTED. When the plugin
//     offers GetPreferredAllocation it is asked, and an answer of exactly `count` distinct
//     available IDs is used (unless honour_preferred is off); otherwise the kubelet picks the
//     first (or, with pick_from_end, the last) available IDs in sorted order. Then Allocate; on
//     success the IDs are recorded for the pod (what PodResources List reports) and
//     PreStartContainer is called when the plugin asked for it.
//   * AllocateExact sends an Allocate with exactly the given IDs (malformed-request tests); the
//     IDs are recorded for the pod only when the plugin accepts them.
//   * Pod resources (<root>/pod-resources/kubelet.sock): List reports each pod with one
//     container "main" and its IDs per resource; GetAllocatableResources every known device; Get
//     one pod.
//   * Restart(): stops Registration, drops plugin connections, deletes every socket file in
//     plugin_dir (a starting kubelet does) and serves a new kubelet.sock. Pod allocations survive
//     (the kubelet's checkpoint).
//
// Thread-safety: every method may be called from any thread; Admit/AllocateExact serialize.
// Locks: mu_ guards all recorded state; never held during an RPC or while joining a thread.

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/mutex.h"

namespace grpc {
class Server;
}

namespace gpusched::testing {

struct FakeKubeletOptions {
  bool honour_preferred = true;  // use a valid GetPreferredAllocation answer
  bool pick_from_end = false;    // without a preference, take the last available IDs
};

struct AdmitResult {
  std::vector<std::string> device_ids;  // sorted
  std::map<std::string, std::string> envs;
  std::map<std::string, std::string> annotations;
  std::vector<std::string> cdi_devices;
  bool used_preferred = false;  // the plugin's preferred allocation was taken
};

struct FakeDevice {
  std::string health;
  std::vector<int64_t> numa_nodes;
};

struct FakeRegistration {
  std::string version, endpoint, resource_name;
  bool pre_start_required = false;
  bool get_preferred_allocation_available = false;
};

class FakeKubelet {
 public:
  explicit FakeKubelet(FakeKubeletOptions options = {});
  ~FakeKubelet();
  FakeKubelet(const FakeKubelet&) = delete;
  FakeKubelet& operator=(const FakeKubelet&) = delete;

  // Creates the temporary root and serves Registration and PodResources.
  absl::Status Start();
  // Stops everything and removes the temporary root. Idempotent.
  void Stop();
  absl::Status Restart();

  std::string plugin_dir() const { return root_ + "/device-plugins"; }
  std::string kubelet_socket() const { return plugin_dir() + "/kubelet.sock"; }
  std::string pod_resources_socket() const { return root_ + "/pod-resources/kubelet.sock"; }

  // Accepted Register calls so far, and the current registration of a resource.
  int registrations() const;
  std::optional<FakeRegistration> registration(const std::string& resource) const;
  // The resource's devices as the latest ListAndWatch message said (ID -> device), and how many
  // messages have come.
  std::map<std::string, FakeDevice> Devices(const std::string& resource) const;
  int list_and_watch_messages(const std::string& resource) const;
  int pre_start_calls() const;
  // Waits until the resource is registered and ListAndWatch listed `count` devices.
  bool WaitForDevices(const std::string& resource, size_t count, absl::Duration timeout) const;
  // Polls `done` every few milliseconds until true or the timeout.
  static bool WaitFor(const std::function<bool()>& done, absl::Duration timeout);

  absl::StatusOr<AdmitResult> Admit(const std::string& pod_namespace, const std::string& pod_name,
                                    const std::string& resource, int count);
  absl::StatusOr<AdmitResult> AllocateExact(const std::string& pod_namespace,
                                            const std::string& pod_name,
                                            const std::string& resource,
                                            const std::vector<std::string>& ids);
  // Forgets the pod (it ended): its IDs are available again, PodResources no longer lists it.
  void Remove(const std::string& pod_namespace, const std::string& pod_name);
  // The IDs the pod holds per resource.
  std::map<std::string, std::vector<std::string>> PodDevices(const std::string& pod_namespace,
                                                             const std::string& pod_name) const;

  struct Connection;
  class RegistrationService;
  class PodResourcesService;

 private:
  friend class RegistrationService;
  friend class PodResourcesService;

  absl::Status StartRegistration();
  void StopRegistration();
  void Connect(FakeRegistration registration);
  void DropConnections();
  absl::StatusOr<AdmitResult> DoAllocate(const std::shared_ptr<Connection>& conn,
                                         const std::string& pod_namespace,
                                         const std::string& pod_name,
                                         const std::string& resource,
                                         std::vector<std::string> ids, bool used_preferred);

  // Constant after construction.
  const FakeKubeletOptions options_;
  std::string root_;  // set by Start

  std::unique_ptr<RegistrationService> registration_service_;
  std::unique_ptr<PodResourcesService> pod_resources_service_;
  Mutex servers_mu_;  // Start/Stop/Restart
  std::unique_ptr<grpc::Server> registration_server_ ABSL_GUARDED_BY(servers_mu_);
  std::unique_ptr<grpc::Server> pod_resources_server_ ABSL_GUARDED_BY(servers_mu_);
  bool stopped_ ABSL_GUARDED_BY(servers_mu_) = false;

  Mutex admit_mu_;  // one admission at a time

  mutable Mutex mu_;
  int registrations_ ABSL_GUARDED_BY(mu_) = 0;
  int pre_start_calls_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::string, std::shared_ptr<Connection>> connections_ ABSL_GUARDED_BY(mu_);
  // Pod "namespace/name" -> resource -> IDs.
  std::map<std::pair<std::string, std::string>, std::map<std::string, std::vector<std::string>>>
      pods_ ABSL_GUARDED_BY(mu_);
};

}  // namespace gpusched::testing
