#pragma once

// gpusched-agent's kubelet device plugin: hands the scheduler's GPU choice (the ReservationBook)
// to the container, as far as the kubelet's device-plugin API allows (agent/README.md, "How the hand-off works").
//
//   ReservationBook book(gpus, clock, {.on_change = publish, .node_name = "node-1"});
//   ASSIGN_OR_RETURN(auto plugin, GpuDevicePlugin::Start(
//       {.node_name = "node-1", .numa_nodes = {{0, 0}, {1, 1}}, .logger = &logger}, book));
//   ...
//   book.SetGpus(gpus_with_new_health);  // ListAndWatch resends within list_watch_poll_interval
//   plugin->GpusChanged();               // ... or at once
//   plugin->Stop();                      // also done by the destructor
//
// What it serves, per resource (one gRPC server on its own Unix socket in plugin_dir each, one
// registration with the kubelet each, API version "v1beta1"):
//   milli_resource ("gpusched.io/gpu-milli"): 1000 device IDs per GPU (device_ids.h);
//   whole_resource ("nvidia.com/gpu"; "" to not serve it): one ID per GPU, its uuid.
// Options: PreStartRequired and GetPreferredAllocationAvailable. ListAndWatch: every GPU's IDs,
// Unhealthy for an unhealthy GPU, TopologyInfo with the GPU's NUMA node where known.
//   GetPreferredAllocation: steers the kubelet to the oldest pending (kReserved) reservation of
//     the request's shape whose GPUs can take it from the available IDs (milli: one GPU with that
//     milli; whole: that many GPUs), keeping must_include; no preference when none fits.
//   Allocate: ReservationBook::Allocate (exact shape, never over capacity, a clear refusal
//     without a reservation); the response sets NVIDIA_VISIBLE_DEVICES, for gpu-milli shares
//     GPUSCHED_GPU_MILLI and, with memory, CUDA_DEVICE_MEMORY_LIMIT ("<MiB>m", HAMi-core) and
//     GPUSCHED_MEMORY_LIMIT_MIB, and GPUSCHED_POD_UID of the matched reservation (provisional:
//     the kubelet does not say which pod asks); the same as annotations; CDI device names
//     "<cdi_kind>=<index>" when cdi_devices is set.
//   PreStartContainer: asks for a PodResources reconcile at once (asynchronously).
// A background thread re-registers when the kubelet restarts (kubelet.sock replaced, or our
// sockets deleted: servers are recreated first), and reconciles with the kubelet's PodResources
// List every reconcile_interval (ReservationBook::Reconcile, then ExpireReservations).
//
// Thread-safety: Start/Stop/destructor from one owner thread; GpusChanged, RequestReconcile,
// ReconcileNow and the accessors from any thread. gRPC runs the handlers on its threads. Lock
// order: this plugin's mu_ is never held while calling the book or gRPC.

#include <condition_variable>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <sys/types.h>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent/deviceplugin/device_ids.h"
#include "agent/handoff/reservations.h"
#include "common/log.h"
#include "common/mutex.h"

namespace gpusched::agent::deviceplugin {

struct DevicePluginOptions {
  std::string node_name;  // for messages
  // Where the kubelet looks for plugin sockets, and its Registration socket in it.
  std::string plugin_dir = "/var/lib/kubelet/device-plugins/";
  std::string kubelet_socket;  // "": <plugin_dir>/kubelet.sock
  // The kubelet's PodResources socket; "": no reconcile (identities stay provisional).
  std::string pod_resources_socket = "/var/lib/kubelet/pod-resources/kubelet.sock";
  std::string milli_resource = "gpusched.io/gpu-milli";
  std::string whole_resource = "nvidia.com/gpu";  // "": whole GPUs not served
  // Socket file names: "<prefix>-milli.sock", "<prefix>-whole.sock".
  std::string socket_prefix = "gpusched";
  std::map<int, int> numa_nodes;  // GPU index -> NUMA node, where known
  bool cdi_devices = false;       // also name CDI devices in Allocate
  std::string cdi_kind = "nvidia.com/gpu";
  absl::Duration kubelet_poll_interval = absl::Seconds(1);
  absl::Duration list_watch_poll_interval = absl::Seconds(1);
  absl::Duration reconcile_interval = absl::Seconds(10);
  // An allocation no pod holds in PodResources for this long is released.
  absl::Duration release_grace = absl::Minutes(1);
  absl::Duration rpc_timeout = absl::Seconds(5);
  log::Logger* logger = nullptr;  // not owned; may be null
};

// InvalidArgument naming the field: empty plugin_dir or milli_resource, resource names without a
// "domain/" prefix or equal to each other, non-positive intervals, negative grace.
absl::Status ValidateDevicePluginOptions(const DevicePluginOptions& options);

class ResourceService;

class GpuDevicePlugin {
 public:
  // Serves every resource on its socket (stale socket files are replaced) and starts the
  // background thread, which registers with the kubelet as soon as kubelet.sock answers.
  // InvalidArgument for bad options, Unavailable when a socket cannot be served.
  static absl::StatusOr<std::unique_ptr<GpuDevicePlugin>> Start(DevicePluginOptions options,
                                                                ReservationBook& book);
  ~GpuDevicePlugin();
  GpuDevicePlugin(const GpuDevicePlugin&) = delete;
  GpuDevicePlugin& operator=(const GpuDevicePlugin&) = delete;

  // Stops the thread and the servers (open ListAndWatch streams end) and removes the sockets.
  // Idempotent.
  void Stop();

  // The book's GPUs changed (health): resend ListAndWatch now rather than at the next poll.
  void GpusChanged();

  // Reconcile with PodResources soon (on the background thread).
  void RequestReconcile();

  // Reconcile with PodResources now, on this thread (one reconcile at a time). Unavailable when
  // List fails (the book is then left as it is); FailedPrecondition without pod_resources_socket.
  absl::StatusOr<ReconcileReport> ReconcileNow();

  // Successful Register calls so far (one per resource per (re-)registration).
  int registrations() const;
  // Whether the last registration round succeeded for every resource and kubelet.sock is the
  // same since.
  bool registered() const;

 private:
  struct Endpoint;
  struct FileKey {
    dev_t dev = 0;
    ino_t ino = 0;
    int64_t mtime_ns = 0;
    int64_t ctime_ns = 0;
    friend bool operator==(const FileKey&, const FileKey&) = default;
  };
  friend class ResourceService;

  GpuDevicePlugin(DevicePluginOptions options, ReservationBook& book);
  absl::Status StartEndpoint(Endpoint& endpoint);
  void StopEndpoint(Endpoint& endpoint);
  void Loop();
  void MaintainRegistration();
  absl::Status Register(const Endpoint& endpoint);
  void Log(log::Level level, std::string_view message, log::Fields fields = {}) const;

  // Constant after construction.
  const DevicePluginOptions options_;
  const std::string kubelet_socket_;
  ReservationBook& book_;

  // Owned by the background thread once it runs (and by Start/Stop around it).
  std::vector<std::unique_ptr<Endpoint>> endpoints_;
  std::optional<FileKey> registered_key_;
  std::thread thread_;

  // Held across one reconcile (List, then the book), so that an older List is never applied
  // after a newer one. Taken before the book's lock; never with mu_.
  Mutex reconcile_mu_;

  mutable Mutex mu_;
  // Wakes ListAndWatch streams and the background thread; used with mu_.
  std::condition_variable_any cv_;
  // Guarded by mu_.
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  bool reconcile_requested_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t gpus_generation_ ABSL_GUARDED_BY(mu_) = 0;  // bumped by GpusChanged
  int registrations_ ABSL_GUARDED_BY(mu_) = 0;
  bool registered_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace gpusched::agent::deviceplugin
