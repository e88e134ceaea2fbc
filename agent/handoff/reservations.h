#pragma once

// ReservationBook: the node agent's record of which pod may have which GPU share, from the
// scheduler's choice (Reserve) through the kubelet's Allocate to the pod that really holds the
// devices (Reconcile against the kubelet's PodResources). Pure logic: no gRPC, no I/O, no real
// time; the device plugin (agent/deviceplugin/) and the agent's NodeAgent service drive it.
//
//   ReservationBook book({{0, "GPU-a", 81920}, {1, "GPU-b", 81920}}, clock,
//                        {.reserved_ttl = absl::Minutes(10), .on_change = [&] { Publish(); }});
//   // The extender chose a quarter of GPU 1 with 8 GiB for pod ml/a:
//   RETURN_IF_ERROR(book.Reserve({"uid-a", "ml", "a", {{.gpu = 1, .milli = 250,
//                                                       .memory_mib = 8192}}}));
//   // The kubelet's Allocate handed out 250 milli IDs of GPU 1 (which pod: the API does not say):
//   ASSIGN_OR_RETURN(auto views, book.Allocate({{.shape = {{1, 250, 0}}, .device_ids = ids,
//                                               .what = "250 gpusched.io/gpu-milli"}}));
//   // views[0].reservation.pod_uid == "uid-a" (provisional), state kAllocated
//   // Later, the kubelet's PodResources says ml/a holds those IDs:
//   book.Reconcile({{"ml", "a", ids, {{1, 250, 0}}}}, absl::Minutes(1));   // -> kConfirmed
//
// Life of an entry (one per pod):
//   kReserved   Reserve recorded the scheduler's shares; they count against capacity at once.
//               Dropped when still kReserved after `reserved_ttl` (the pod never arrived).
//   kAllocated  an Allocate whose devices have this entry's exact shape (same GPUs, same milli per
//               GPU) was matched to it, oldest reservation first. Which pod really received the
//               devices is not known yet: two pods of one shape may be admitted in the other order.
//   kConfirmed  Reconcile saw, in the kubelet's PodResources, the pod of this entry holding the
//               entry's devices. When it sees pod B holding the devices matched to pod A's
//               reservation, the two entries swap what they hold (A gets B's reservation or
//               allocation, B gets A's devices, confirmed), so each entry's shares are what its pod
//               really has or will get. Released when its pod is gone from PodResources for
//               `grace`, or by Release.
//
// Capacity: on each GPU, the milli of all entries (every state) sums to <= 1000 and their memory
// to <= the GPU's memory_mib; Reserve refuses what would exceed it, Allocate re-checks it over the
// allocated entries. The one exception is Reconcile adopting devices the kubelet already handed
// out that the book did not know (after an agent restart): that is what the node really runs.
//
// Identity-less entries: devices whose reservation was released while allocated but not yet
// confirmed stay counted (pod_uid, pod_namespace and pod_name empty, kAllocated) until Reconcile
// finds their holder or their grace passes; devices held by a pod that has no reservation (not
// scheduled by gpusched, or adopted after a restart) appear with that pod's namespace and name, an
// empty pod_uid, kConfirmed, memory 0 when adopted.
//
// Limits (what the kubelet API allows; agent/README.md, "How the hand-off works"): one allocation per pod (a
// pod whose containers each take gpusched devices is counted, never confirmed or swapped); memory
// is not part of a shape, so a swap between pods of one milli but different memory leaves each
// container with the memory limit of the reservation it was matched to, and the book records
// that as what the pod holds.
//
// Thread-safety: every method may be called from any thread. One internal lock; no callback runs
// under it. `on_change` runs after every change that mutated the book, on the calling thread,
// after the lock is released; it may call back into the book, and may run on several threads at
// once when several threads change the book. Methods do not call the Clock's timers: expiry is
// lazy (each mutating call first drops expired reservations) plus ExpireReservations() for a
// periodic sweep, so a SimClock driven by a test thread works.

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/mutex.h"

namespace gpusched::agent {

// A GPU of the node as the book sees it. `index` is the node's GPU index (agent.proto Gpu.index).
struct GpuRef {
  int index;
  std::string uuid;
  int64_t memory_mib;
  bool healthy = true;
};

// A share of one GPU: milli-GPU in 1..1000 and MiB of memory (>= 0).
struct ShareSpec {
  int gpu;
  int milli;
  int64_t memory_mib;
  friend bool operator==(const ShareSpec&, const ShareSpec&) = default;
};

struct Reservation {
  std::string pod_uid, pod_namespace, pod_name;
  std::vector<ShareSpec> shares;
};

enum class AllocState { kReserved, kAllocated, kConfirmed };

// "reserved", "allocated", "confirmed".
std::string_view AllocStateName(AllocState state);

// One entry of the book. reservation.shares are the devices the pod really holds once known
// (kConfirmed), the devices matched to its reservation before that.
struct AllocationView {
  Reservation reservation;
  AllocState state;
};

struct ReservationBookOptions {
  absl::Duration reserved_ttl = absl::Minutes(10);
  // Called after every change, outside the lock.
  std::function<void()> on_change = nullptr;
  // For messages ("no gpusched reservation on node <node_name> for ...").
  std::string node_name = "";
};

// What one container's Allocate asks for, decoded by the device plugin.
struct DeviceClaim {
  // The GPUs and the milli the device IDs stand for (memory is not known from IDs; ignored): one
  // share for gpu-milli IDs, one 1000-milli share per GPU for whole-GPU IDs.
  std::vector<ShareSpec> shape;
  // The kubelet's device IDs, unique across resources; Reconcile finds the pod holding them.
  std::vector<std::string> device_ids;
  // For messages: "250 gpusched.io/gpu-milli", "2 nvidia.com/gpu".
  std::string what;
};

// The devices one pod holds according to the kubelet's PodResources (every container, every
// gpusched resource), decoded by the device plugin.
struct HeldDevices {
  std::string pod_namespace, pod_name;
  std::vector<std::string> device_ids;
  std::vector<ShareSpec> shape;  // as in DeviceClaim; used when adopting unknown devices
};

// What one Reconcile did (for logs and tests).
struct ReconcileReport {
  int confirmed = 0;   // entries newly kConfirmed in place
  int swapped = 0;     // entries confirmed by taking the devices matched to another entry
  int adopted = 0;     // pods holding devices the book did not know, now recorded
  int released = 0;    // allocated/confirmed entries whose devices no pod held for `grace`
  int stolen = 0;      // reservations whose devices a pod without a reservation took: dropped
  int unsupported = 0; // pods holding several allocations, or known and unknown devices at once
  friend bool operator==(const ReconcileReport&, const ReconcileReport&) = default;
};

class ReservationBook {
 public:
  ReservationBook(std::vector<GpuRef> gpus, Clock& clock, ReservationBookOptions options = {});
  ReservationBook(const ReservationBook&) = delete;
  ReservationBook& operator=(const ReservationBook&) = delete;

  // Records the scheduler's choice for a pod. Idempotent for the same uid and shares (the pod's
  // namespace/name are updated). Errors:
  //   InvalidArgument: empty pod_uid, no shares, milli outside 1..1000, negative memory_mib, the
  //     same GPU twice; the message names the field ("shares[1].milli: 0 is outside 1..1000").
  //   FailedPrecondition: a GPU unknown or unhealthy, or its milli (sum <= 1000) or memory (sum <=
  //     memory_mib) would be exceeded, naming the GPU; or the uid is already allocated with other
  //     shares (a different shape replaces an existing entry only while it is kReserved).
  absl::Status Reserve(Reservation r);

  // Forgets the pod's entry. Idempotent. An entry still kAllocated (its devices may be held by
  // another pod of the same shape) keeps its devices counted, identity-less, until Reconcile.
  absl::Status Release(std::string_view pod_uid);

  // Every entry, sorted by pod uid (then namespace, name; identity-less entries first).
  std::vector<AllocationView> Snapshot() const;

  // Replaces the GPU list (health or memory changes); existing entries are kept even where they
  // no longer fit (they are the node's reality); new reservations and allocations are checked
  // against the new list.
  void SetGpus(std::vector<GpuRef> gpus);
  std::vector<GpuRef> Gpus() const;

  // kReserved entries, oldest reservation first (GetPreferredAllocation steers to them).
  std::vector<Reservation> Pending() const;

  // Matches each claim (one per container of one Allocate call) to a kReserved entry with exactly
  // its shape (the same GPUs, the same milli on each), oldest reservation first, and marks it
  // kAllocated with the claim's device IDs. All or nothing. Returns the matched entries in claim
  // order. A claim whose device IDs equal an allocated entry's is a retry: that entry is returned
  // again. Errors:
  //   InvalidArgument: an empty or malformed shape (no GPUs, milli outside 1..1000, a GPU twice),
  //     no device IDs or a duplicate ID, the same ID in two claims.
  //   FailedPrecondition: an unknown or unhealthy GPU; a device ID already held by another entry;
  //     no matching reservation ("no gpusched reservation on node n1 for 250
  //     gpusched.io/gpu-milli on GPU 1 (GPU-b): was the pod scheduled by gpusched-extender?");
  //     milli or memory of a GPU over capacity across the allocated entries.
  absl::StatusOr<std::vector<AllocationView>> Allocate(std::vector<DeviceClaim> claims);

  // Brings the book in line with the kubelet's PodResources: `pods` is the complete list of pods
  // holding gpusched devices now (a failed List must not be passed as empty). Confirms, swaps,
  // adopts (see the header comment), and releases allocated/confirmed entries whose devices no pod
  // has held for `grace` (measured from the allocation or the last sighting, so an Allocate that
  // the kubelet has not yet recorded is not lost).
  ReconcileReport Reconcile(const std::vector<HeldDevices>& pods, absl::Duration grace);

  // Drops kReserved entries older than reserved_ttl; returns how many.
  int ExpireReservations();

 private:
  // What an entry holds; swapped between identities by Reconcile.
  struct Payload {
    std::vector<ShareSpec> shares;  // sorted by gpu
    AllocState state = AllocState::kReserved;
    std::vector<std::string> device_ids;  // sorted; empty while kReserved
    absl::Time reserved_at;
    uint64_t seq = 0;        // reservation order: oldest first
    absl::Time last_seen;    // allocation time, then the last Reconcile that saw it held
  };
  struct Entry {
    // Identity: empty pod_uid for identity-less entries (then the key is synthetic).
    std::string pod_uid, pod_namespace, pod_name;
    Payload payload;
  };

  struct Totals {
    int64_t milli = 0;
    int64_t memory_mib = 0;
  };

  // Capacity used on each GPU by entries, optionally only the allocated ones, minus `skip_key`.
  std::map<int, Totals> UsageLocked(bool allocated_only, std::string_view skip_key) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  const GpuRef* FindGpuLocked(int index) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  std::string DescribeGpuLocked(int index) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  absl::Status CheckFitsLocked(const std::vector<ShareSpec>& shares,
                               const std::map<int, Totals>& used, const std::string& what) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  int ExpireLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string NewSyntheticKeyLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string FindIdentityLocked(std::string_view ns, std::string_view name,
                                 std::string_view holder_key) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  void NotifyChanged() const;

  // Constant after construction.
  Clock& clock_;
  const ReservationBookOptions options_;

  mutable Mutex mu_;
  // Guarded by mu_.
  std::vector<GpuRef> gpus_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);  // by pod uid or synthetic key
  uint64_t next_seq_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t next_synthetic_ ABSL_GUARDED_BY(mu_) = 1;
};

}  // namespace gpusched::agent
