#include "agent/handoff/reservations.h"

#include <algorithm>
#include <set>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace gpusched::agent {
namespace {

// Synthetic keys of identity-less entries start with a byte no Kubernetes UID contains.
constexpr char kSyntheticPrefix = '\x01';

bool SameShape(const std::vector<ShareSpec>& a, const std::vector<ShareSpec>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].gpu != b[i].gpu || a[i].milli != b[i].milli) return false;
  }
  return true;
}

void SortShares(std::vector<ShareSpec>& shares) {
  std::sort(shares.begin(), shares.end(),
            [](const ShareSpec& a, const ShareSpec& b) { return a.gpu < b.gpu; });
}

// "InvalidArgument" checks shared by Reserve and Allocate: milli range, memory sign, one share per
// GPU. `field` prefixes each message ("shares", "claims[0].shape"). A reservation may be a
// memory-only share (milli 0, memory > 0: the scheduler's gpusched.io/gpu-memory alone); a claim
// from device IDs always has milli >= 1.
absl::Status ValidateShares(const std::vector<ShareSpec>& shares, const std::string& field,
                            bool memory_only_allowed = false) {
  if (shares.empty()) return absl::InvalidArgumentError(absl::StrCat(field, ": empty"));
  std::set<int> seen;
  for (size_t i = 0; i < shares.size(); ++i) {
    const ShareSpec& s = shares[i];
    const bool memory_only = memory_only_allowed && s.milli == 0 && s.memory_mib > 0;
    if (!memory_only && (s.milli < 1 || s.milli > 1000)) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, "[", i, "].milli: ", s.milli, " is outside 1..1000",
                       memory_only_allowed ? " (0 only with memory: a memory-only share)" : ""));
    }
    if (s.memory_mib < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, "[", i, "].memory_mib: ", s.memory_mib, " is negative"));
    }
    if (!seen.insert(s.gpu).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, "[", i, "].gpu: GPU ", s.gpu, " appears more than once"));
    }
  }
  return absl::OkStatus();
}

std::string PodName(const std::string& ns, const std::string& name) {
  if (ns.empty() && name.empty()) return "an unnamed pod";
  return absl::StrCat(ns, "/", name);
}

}  // namespace

std::string_view AllocStateName(AllocState state) {
  switch (state) {
    case AllocState::kReserved:
      return "reserved";
    case AllocState::kAllocated:
      return "allocated";
    case AllocState::kConfirmed:
      return "confirmed";
  }
  return "unknown";
}

ReservationBook::ReservationBook(std::vector<GpuRef> gpus, Clock& clock,
                                 ReservationBookOptions options)
    : clock_(clock), options_(std::move(options)), gpus_(std::move(gpus)) {}

const GpuRef* ReservationBook::FindGpuLocked(int index) const {
  for (const GpuRef& g : gpus_) {
    if (g.index == index) return &g;
  }
  return nullptr;
}

std::string ReservationBook::DescribeGpuLocked(int index) const {
  const GpuRef* g = FindGpuLocked(index);
  if (g == nullptr) return absl::StrCat("GPU ", index);
  return absl::StrCat("GPU ", index, " (", g->uuid, ")");
}

std::map<int, ReservationBook::Totals> ReservationBook::UsageLocked(bool allocated_only,
                                                                    std::string_view skip_key) const {
  std::map<int, Totals> used;
  for (const auto& [key, e] : entries_) {
    if (key == skip_key) continue;
    if (allocated_only && e.payload.state == AllocState::kReserved) continue;
    for (const ShareSpec& s : e.payload.shares) {
      used[s.gpu].milli += s.milli;
      used[s.gpu].memory_mib += s.memory_mib;
    }
  }
  return used;
}

absl::Status ReservationBook::CheckFitsLocked(const std::vector<ShareSpec>& shares,
                                              const std::map<int, Totals>& used,
                                              const std::string& what) const {
  for (const ShareSpec& s : shares) {
    const GpuRef* g = FindGpuLocked(s.gpu);
    if (g == nullptr) {
      return absl::FailedPreconditionError(
          absl::StrCat(what, ": GPU ", s.gpu, " is not on node ",
                       options_.node_name.empty() ? "(this node)" : options_.node_name));
    }
    if (!g->healthy) {
      return absl::FailedPreconditionError(
          absl::StrCat(what, ": ", DescribeGpuLocked(s.gpu), " is unhealthy"));
    }
    Totals t;
    if (auto it = used.find(s.gpu); it != used.end()) t = it->second;
    if (t.milli + s.milli > 1000) {
      return absl::FailedPreconditionError(absl::StrCat(
          what, ": ", DescribeGpuLocked(s.gpu), " has ", 1000 - t.milli, " milli-GPU free (",
          t.milli, " of 1000 taken), ", s.milli, " asked"));
    }
    if (t.memory_mib + s.memory_mib > g->memory_mib) {
      return absl::FailedPreconditionError(absl::StrCat(
          what, ": ", DescribeGpuLocked(s.gpu), " has ", g->memory_mib - t.memory_mib,
          " MiB free (", t.memory_mib, " of ", g->memory_mib, " taken), ", s.memory_mib,
          " MiB asked"));
    }
  }
  return absl::OkStatus();
}

int ReservationBook::ExpireLocked() {
  const absl::Time now = clock_.Now();
  int dropped = 0;
  for (auto it = entries_.begin(); it != entries_.end();) {
    const Payload& p = it->second.payload;
    if (p.state == AllocState::kReserved && now - p.reserved_at >= options_.reserved_ttl) {
      it = entries_.erase(it);
      ++dropped;
    } else {
      ++it;
    }
  }
  return dropped;
}

std::string ReservationBook::NewSyntheticKeyLocked() {
  return absl::StrCat(std::string(1, kSyntheticPrefix), next_synthetic_++);
}

void ReservationBook::NotifyChanged() const {
  if (options_.on_change) options_.on_change();
}

absl::Status ReservationBook::Reserve(Reservation r) {
  if (r.pod_uid.empty()) return absl::InvalidArgumentError("pod_uid: empty");
  if (r.pod_uid[0] == kSyntheticPrefix) {
    return absl::InvalidArgumentError("pod_uid: starts with a control character");
  }
  if (absl::Status s = ValidateShares(r.shares, "shares", /*memory_only_allowed=*/true); !s.ok()) return s;
  // Unknown or unhealthy GPUs are named with the field that referred to them.
  bool changed = false;
  absl::Status result = absl::OkStatus();
  {
    MutexLock l(&mu_);
    changed = ExpireLocked() > 0;
    for (size_t i = 0; i < r.shares.size(); ++i) {
      const GpuRef* g = FindGpuLocked(r.shares[i].gpu);
      if (g == nullptr) {
        result = absl::FailedPreconditionError(absl::StrCat(
            "shares[", i, "].gpu: GPU ", r.shares[i].gpu, " is not on node ",
            options_.node_name.empty() ? "(this node)" : options_.node_name));
        break;
      }
      if (!g->healthy) {
        result = absl::FailedPreconditionError(absl::StrCat(
            "shares[", i, "].gpu: ", DescribeGpuLocked(g->index), " is unhealthy"));
        break;
      }
    }
    SortShares(r.shares);
    const std::string what = absl::StrCat("reservation of pod ", r.pod_uid);
    auto it = entries_.find(r.pod_uid);
    if (!result.ok()) {
      // fall through to the notification below
    } else if (it != entries_.end()) {
      Entry& e = it->second;
      if (e.payload.shares == r.shares) {
        // Idempotent; refresh the identity.
        if (e.pod_namespace != r.pod_namespace || e.pod_name != r.pod_name) {
          e.pod_namespace = r.pod_namespace;
          e.pod_name = r.pod_name;
          changed = true;
        }
      } else if (e.payload.state != AllocState::kReserved) {
        result = absl::FailedPreconditionError(absl::StrCat(
            "pod ", r.pod_uid, " is already ", std::string(AllocStateName(e.payload.state)),
            " with other shares; release it first"));
      } else {
        result = CheckFitsLocked(r.shares, UsageLocked(false, r.pod_uid), what);
        if (result.ok()) {
          e.pod_namespace = r.pod_namespace;
          e.pod_name = r.pod_name;
          e.payload.shares = r.shares;
          e.payload.reserved_at = clock_.Now();
          changed = true;
        }
      }
    } else {
      // A pod adopted from PodResources (after an agent restart) that the extender reserves again
      // with the same GPUs and milli: it gets its uid and memory back, still confirmed.
      std::string adopted_key;
      if (!r.pod_namespace.empty() || !r.pod_name.empty()) {
        for (const auto& [key, e] : entries_) {
          if (e.pod_uid.empty() && e.pod_namespace == r.pod_namespace &&
              e.pod_name == r.pod_name && e.payload.state == AllocState::kConfirmed &&
              SameShape(e.payload.shares, r.shares)) {
            adopted_key = key;
            break;
          }
        }
      }
      result = CheckFitsLocked(r.shares, UsageLocked(false, adopted_key), what);
      if (result.ok()) {
        Entry e;
        if (!adopted_key.empty()) {
          e = std::move(entries_[adopted_key]);
          entries_.erase(adopted_key);
        } else {
          e.payload.state = AllocState::kReserved;
          e.payload.reserved_at = clock_.Now();
          e.payload.seq = next_seq_++;
        }
        e.pod_uid = r.pod_uid;
        e.pod_namespace = r.pod_namespace;
        e.pod_name = r.pod_name;
        e.payload.shares = r.shares;
        entries_.emplace(r.pod_uid, std::move(e));
        changed = true;
      }
    }
  }
  if (changed) NotifyChanged();
  return result;
}

absl::Status ReservationBook::Release(std::string_view pod_uid) {
  bool changed = false;
  {
    MutexLock l(&mu_);
    changed = ExpireLocked() > 0;
    auto it = entries_.find(std::string(pod_uid));
    if (!pod_uid.empty() && it != entries_.end()) {
      if (it->second.payload.state == AllocState::kAllocated) {
        // Possibly held by another pod of the same shape: keep the devices counted until
        // Reconcile finds their holder (or nobody holds them for the grace).
        Entry orphan = std::move(it->second);
        orphan.pod_uid.clear();
        entries_.erase(it);
        entries_.emplace(NewSyntheticKeyLocked(), std::move(orphan));
      } else {
        entries_.erase(it);
      }
      changed = true;
    }
  }
  if (changed) NotifyChanged();
  return absl::OkStatus();
}

std::vector<AllocationView> ReservationBook::Snapshot() const {
  std::vector<std::pair<uint64_t, AllocationView>> rows;
  {
    ReaderMutexLock l(&mu_);
    rows.reserve(entries_.size());
    for (const auto& [key, e] : entries_) {
      rows.push_back({e.payload.seq,
                      AllocationView{Reservation{e.pod_uid, e.pod_namespace, e.pod_name,
                                                 e.payload.shares},
                                     e.payload.state}});
    }
  }
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) {
    const Reservation& x = a.second.reservation;
    const Reservation& y = b.second.reservation;
    return std::tie(x.pod_uid, x.pod_namespace, x.pod_name, a.first) <
           std::tie(y.pod_uid, y.pod_namespace, y.pod_name, b.first);
  });
  std::vector<AllocationView> out;
  out.reserve(rows.size());
  for (auto& row : rows) out.push_back(std::move(row.second));
  return out;
}

void ReservationBook::SetGpus(std::vector<GpuRef> gpus) {
  {
    MutexLock l(&mu_);
    gpus_ = std::move(gpus);
  }
  NotifyChanged();
}

std::vector<GpuRef> ReservationBook::Gpus() const {
  ReaderMutexLock l(&mu_);
  return gpus_;
}

std::vector<Reservation> ReservationBook::Pending() const {
  std::vector<std::pair<uint64_t, Reservation>> rows;
  {
    ReaderMutexLock l(&mu_);
    const absl::Time now = clock_.Now();
    for (const auto& [key, e] : entries_) {
      if (e.payload.state != AllocState::kReserved) continue;
      if (now - e.payload.reserved_at >= options_.reserved_ttl) continue;  // expired
      rows.push_back(
          {e.payload.seq, Reservation{e.pod_uid, e.pod_namespace, e.pod_name, e.payload.shares}});
    }
  }
  std::sort(rows.begin(), rows.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<Reservation> out;
  out.reserve(rows.size());
  for (auto& row : rows) out.push_back(std::move(row.second));
  return out;
}

absl::StatusOr<std::vector<AllocationView>> ReservationBook::Allocate(
    std::vector<DeviceClaim> claims) {
  // Shape checks need no lock.
  std::set<std::string> ids_in_call;
  for (size_t i = 0; i < claims.size(); ++i) {
    DeviceClaim& c = claims[i];
    const std::string field = absl::StrCat("claims[", i, "]");
    for (ShareSpec& s : c.shape) s.memory_mib = 0;
    if (absl::Status s = ValidateShares(c.shape, field + ".shape"); !s.ok()) return s;
    SortShares(c.shape);
    if (c.device_ids.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(field, ".device_ids: empty"));
    }
    std::sort(c.device_ids.begin(), c.device_ids.end());
    for (size_t k = 0; k < c.device_ids.size(); ++k) {
      if (k > 0 && c.device_ids[k] == c.device_ids[k - 1]) {
        return absl::InvalidArgumentError(absl::StrCat(
            field, ".device_ids: \"", c.device_ids[k], "\" appears more than once"));
      }
      if (!ids_in_call.insert(c.device_ids[k]).second) {
        return absl::InvalidArgumentError(absl::StrCat(
            field, ".device_ids: \"", c.device_ids[k], "\" is also in another container's request"));
      }
    }
  }

  bool changed = false;
  absl::StatusOr<std::vector<AllocationView>> result;
  {
    MutexLock l(&mu_);
    changed = ExpireLocked() > 0;
    // Which entry holds each allocated device ID.
    std::map<std::string_view, const std::string*> owner;
    for (const auto& [key, e] : entries_) {
      for (const std::string& id : e.payload.device_ids) owner[id] = &key;
    }
    std::vector<std::string> chosen(claims.size());
    std::vector<bool> retry(claims.size(), false);
    std::set<std::string> taken;
    std::map<int, Totals> used = UsageLocked(/*allocated_only=*/true, "");
    absl::Status err = absl::OkStatus();
    for (size_t i = 0; i < claims.size() && err.ok(); ++i) {
      const DeviceClaim& c = claims[i];
      // A retry of an Allocate that already succeeded (the kubelet timed out, or an app container
      // reusing its init container's devices): the same IDs, the same entry.
      if (auto it = owner.find(c.device_ids.front()); it != owner.end()) {
        const Entry& e = entries_.at(*it->second);
        if (e.payload.device_ids == c.device_ids) {
          chosen[i] = *it->second;
          retry[i] = true;
          continue;
        }
      }
      for (const std::string& id : c.device_ids) {
        if (auto it = owner.find(id); it != owner.end()) {
          const Entry& e = entries_.at(*it->second);
          err = absl::FailedPreconditionError(absl::StrCat(
              "device ", id, " is already allocated",
              e.pod_uid.empty() ? "" : absl::StrCat(" to pod ", e.pod_uid), " (",
              PodName(e.pod_namespace, e.pod_name), ")"));
          break;
        }
      }
      if (!err.ok()) break;
      for (const ShareSpec& s : c.shape) {
        const GpuRef* g = FindGpuLocked(s.gpu);
        if (g == nullptr) {
          err = absl::FailedPreconditionError(absl::StrCat(c.what, ": GPU ", s.gpu,
                                                           " is not on this node"));
          break;
        }
        if (!g->healthy) {
          err = absl::FailedPreconditionError(
              absl::StrCat(c.what, ": ", DescribeGpuLocked(s.gpu), " is unhealthy"));
          break;
        }
      }
      if (!err.ok()) break;
      const std::string* best = nullptr;
      uint64_t best_seq = 0;
      std::vector<std::string> elsewhere;  // same size on other GPUs, for the message
      for (const auto& [key, e] : entries_) {
        if (e.payload.state != AllocState::kReserved || taken.count(key) > 0) continue;
        if (SameShape(e.payload.shares, c.shape)) {
          if (best == nullptr || e.payload.seq < best_seq) {
            best = &key;
            best_seq = e.payload.seq;
          }
        } else if (e.payload.shares.size() == c.shape.size()) {
          bool same_milli = true;
          for (size_t k = 0; k < c.shape.size(); ++k) {
            same_milli = same_milli && e.payload.shares[k].milli == c.shape[k].milli;
          }
          if (same_milli) {
            std::vector<std::string> gpus;
            for (const ShareSpec& s : e.payload.shares) gpus.push_back(absl::StrCat(s.gpu));
            elsewhere.push_back(absl::StrCat(PodName(e.pod_namespace, e.pod_name), " on GPU ",
                                             absl::StrJoin(gpus, "+")));
          }
        }
      }
      if (best == nullptr) {
        std::vector<std::string> gpus;
        for (const ShareSpec& s : c.shape) gpus.push_back(DescribeGpuLocked(s.gpu));
        err = absl::FailedPreconditionError(absl::StrCat(
            "no gpusched reservation on node ",
            options_.node_name.empty() ? "(this node)" : options_.node_name, " for ", c.what,
            " on ", absl::StrJoin(gpus, ", "),
            ": was the pod scheduled by gpusched-extender?",
            elsewhere.empty()
                ? ""
                : absl::StrCat(" (reservations of this size wait for ",
                               absl::StrJoin(elsewhere, "; "),
                               ": the kubelet did not follow the preferred allocation)")));
        break;
      }
      err = CheckFitsLocked(entries_.at(*best).payload.shares, used, c.what);
      if (!err.ok()) break;
      for (const ShareSpec& s : entries_.at(*best).payload.shares) {
        used[s.gpu].milli += s.milli;
        used[s.gpu].memory_mib += s.memory_mib;
      }
      chosen[i] = *best;
      taken.insert(*best);
    }
    if (!err.ok()) {
      result = err;
    } else {
      const absl::Time now = clock_.Now();
      std::vector<AllocationView> views;
      views.reserve(claims.size());
      for (size_t i = 0; i < claims.size(); ++i) {
        Entry& e = entries_.at(chosen[i]);
        if (!retry[i]) {
          e.payload.state = AllocState::kAllocated;
          e.payload.device_ids = claims[i].device_ids;
          e.payload.last_seen = now;
          changed = true;
        }
        views.push_back(AllocationView{
            Reservation{e.pod_uid, e.pod_namespace, e.pod_name, e.payload.shares},
            e.payload.state});
      }
      result = std::move(views);
    }
  }
  if (changed) NotifyChanged();
  return result;
}

std::string ReservationBook::FindIdentityLocked(std::string_view ns, std::string_view name,
                                                std::string_view holder_key) const {
  if (ns.empty() && name.empty()) return "";
  if (auto it = entries_.find(std::string(holder_key)); it != entries_.end()) {
    if (it->second.pod_namespace == ns && it->second.pod_name == name) return it->first;
  }
  // The pod's own reservation (the newest if the name was reused), else an identity-less entry
  // of that name.
  const std::string* best = nullptr;
  uint64_t best_seq = 0;
  const std::string* anonymous = nullptr;
  for (const auto& [key, e] : entries_) {
    if (e.pod_namespace != ns || e.pod_name != name) continue;
    if (e.pod_uid.empty()) {
      if (anonymous == nullptr) anonymous = &key;
    } else if (best == nullptr || e.payload.seq > best_seq) {
      best = &key;
      best_seq = e.payload.seq;
    }
  }
  if (best != nullptr) return *best;
  if (anonymous != nullptr) return *anonymous;
  return "";
}

ReconcileReport ReservationBook::Reconcile(const std::vector<HeldDevices>& pods,
                                           absl::Duration grace) {
  ReconcileReport report;
  bool changed = false;
  {
    MutexLock l(&mu_);
    changed = ExpireLocked() > 0;
    const absl::Time now = clock_.Now();
    std::map<std::string, std::string> owner;  // device ID -> entry key
    for (const auto& [key, e] : entries_) {
      for (const std::string& id : e.payload.device_ids) owner[id] = key;
    }
    std::set<std::string> seen;  // keys whose devices a pod holds now
    auto reindex = [&](const std::string& key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      for (const std::string& id : entries_.at(key).payload.device_ids) owner[id] = key;
    };

    for (const HeldDevices& pod : pods) {
      std::vector<std::string> ids = pod.device_ids;
      std::sort(ids.begin(), ids.end());
      ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
      if (ids.empty()) continue;
      std::set<std::string> keys;
      bool unknown = false;
      for (const std::string& id : ids) {
        if (auto it = owner.find(id); it != owner.end()) {
          keys.insert(it->second);
        } else {
          unknown = true;
        }
      }
      if (keys.size() > 1 || (keys.size() == 1 && unknown)) {
        // Several allocations in one pod (several containers with gpusched devices), or devices
        // the book partly does not know: counted and kept, never confirmed or swapped.
        ++report.unsupported;
        for (const std::string& k : keys) {
          entries_.at(k).payload.last_seen = now;
          seen.insert(k);
        }
        continue;
      }
      if (keys.empty()) {
        // Devices the book never matched (an agent restart lost them): record what runs.
        std::vector<ShareSpec> shape = pod.shape;
        SortShares(shape);
        const std::string y = FindIdentityLocked(pod.pod_namespace, pod.pod_name, "");
        std::string key;
        if (!y.empty() && entries_.at(y).payload.state == AllocState::kReserved &&
            SameShape(entries_.at(y).payload.shares, shape)) {
          key = y;
        } else {
          key = NewSyntheticKeyLocked();
          Entry e;
          e.pod_namespace = pod.pod_namespace;
          e.pod_name = pod.pod_name;
          e.payload.shares = shape;
          e.payload.reserved_at = now;
          e.payload.seq = next_seq_++;
          entries_.emplace(key, std::move(e));
        }
        Payload& p = entries_.at(key).payload;
        p.state = AllocState::kConfirmed;
        p.device_ids = ids;
        p.last_seen = now;
        reindex(key);
        seen.insert(key);
        ++report.adopted;
        changed = true;
        continue;
      }

      const std::string x = *keys.begin();  // the entry the devices were matched to
      const std::string y = FindIdentityLocked(pod.pod_namespace, pod.pod_name, x);
      if (y == x) {
        Payload& p = entries_.at(x).payload;
        if (p.state != AllocState::kConfirmed) {
          p.state = AllocState::kConfirmed;
          ++report.confirmed;
          changed = true;
        }
        p.last_seen = now;
        seen.insert(x);
      } else if (!y.empty()) {
        // The devices matched to x's reservation went to pod y: y takes them, x takes what y had
        // (its pending reservation of the same shape, as a rule).
        std::swap(entries_.at(x).payload, entries_.at(y).payload);
        Payload& py = entries_.at(y).payload;
        py.state = AllocState::kConfirmed;
        py.last_seen = now;
        Payload& px = entries_.at(x).payload;
        if (px.state == AllocState::kConfirmed) px.state = AllocState::kAllocated;
        reindex(y);
        if (entries_.at(x).pod_uid.empty() && px.state == AllocState::kReserved) {
          entries_.erase(x);  // a reservation nobody owns
        } else {
          reindex(x);
        }
        seen.insert(y);
        ++report.swapped;
        changed = true;
      } else if (entries_.at(x).pod_uid.empty()) {
        // Identity-less devices (their reservation was released): now we know who holds them.
        Entry& e = entries_.at(x);
        e.pod_namespace = pod.pod_namespace;
        e.pod_name = pod.pod_name;
        if (e.payload.state != AllocState::kConfirmed) {
          e.payload.state = AllocState::kConfirmed;
          ++report.confirmed;
        }
        e.payload.last_seen = now;
        seen.insert(x);
        changed = true;
      } else if (entries_.at(x).pod_namespace.empty() && entries_.at(x).pod_name.empty()) {
        // The reservation carried no pod name: it cannot be confirmed; keep it allocated.
        entries_.at(x).payload.last_seen = now;
        seen.insert(x);
      } else {
        // A pod without a gpusched reservation holds the devices matched to x's reservation:
        // record the pod; x's pod has lost its place (its own Allocate will be refused).
        Entry e;
        e.pod_namespace = pod.pod_namespace;
        e.pod_name = pod.pod_name;
        e.payload = std::move(entries_.at(x).payload);
        e.payload.state = AllocState::kConfirmed;
        e.payload.last_seen = now;
        entries_.erase(x);
        const std::string key = NewSyntheticKeyLocked();
        entries_.emplace(key, std::move(e));
        reindex(key);
        seen.insert(key);
        ++report.stolen;
        changed = true;
      }
    }

    for (auto it = entries_.begin(); it != entries_.end();) {
      const Payload& p = it->second.payload;
      if (p.state != AllocState::kReserved && seen.count(it->first) == 0 &&
          now - p.last_seen >= grace) {
        it = entries_.erase(it);
        ++report.released;
        changed = true;
      } else {
        ++it;
      }
    }
  }
  if (changed) NotifyChanged();
  return report;
}

int ReservationBook::ExpireReservations() {
  int dropped;
  {
    MutexLock l(&mu_);
    dropped = ExpireLocked();
  }
  if (dropped > 0) NotifyChanged();
  return dropped;
}

}  // namespace gpusched::agent
