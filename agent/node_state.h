#pragma once

// The node's state as the agent streams it (agent.proto NodeState): the inventory found at
// start, then probe results, NVML samples, health and the reservation book's entries as they
// change. Every change, and every heartbeat, is a new message with the next sequence number.
//
//   AgentState state("node-7", inventory, "3f2a…", clock, absl::Seconds(5));
//   state.SetProbe(0, probe);                 // sequence 2
//   pb::NodeState now = state.Current();
//   std::optional<pb::NodeState> next = state.WaitNewer(now.sequence(), absl::Seconds(1));
//
// Thread-safety: every method may be called from any thread. One Mutex guards the message;
// WaitNewer waits on a CondVar signalled by every change (with a timeout). Shutdown wakes every
// waiter for good.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"
#include "agent/inventory.h"
#include "agent/wire.h"
#include "common/clock.h"
#include "common/mutex.h"

namespace gpusched::agent {

class AgentState {
 public:
  AgentState(std::string node_name, const Inventory& inventory, std::string incarnation,
             Clock& clock, absl::Duration heartbeat);

  void SetProbe(int gpu, const pb::Probe& probe) ABSL_LOCKS_EXCLUDED(mu_);
  void SetUsage(int gpu, const pb::Usage& usage) ABSL_LOCKS_EXCLUDED(mu_);
  // An unhealthy GPU stays unhealthy until SetHealth(gpu, true, "").
  void SetHealth(int gpu, bool healthy, std::string reason) ABSL_LOCKS_EXCLUDED(mu_);
  void SetAllocations(std::vector<pb::Allocation> allocations) ABSL_LOCKS_EXCLUDED(mu_);
  // A new message with nothing changed but the sequence and time (the stream's heartbeat).
  void Heartbeat() ABSL_LOCKS_EXCLUDED(mu_);

  pb::NodeState Current() const ABSL_LOCKS_EXCLUDED(mu_);
  uint64_t sequence() const ABSL_LOCKS_EXCLUDED(mu_);
  // The state once its sequence is above `after`; nullopt after `timeout` or Shutdown.
  std::optional<pb::NodeState> WaitNewer(uint64_t after, absl::Duration timeout) ABSL_LOCKS_EXCLUDED(mu_);
  void Shutdown() ABSL_LOCKS_EXCLUDED(mu_);
  bool shut_down() const ABSL_LOCKS_EXCLUDED(mu_);

  const std::string& node_name() const { return node_name_; }  // constant
  int gpu_count() const { return gpu_count_; }
  absl::Duration heartbeat() const { return heartbeat_; }

 private:
  void BumpLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Clock& clock_;
  const absl::Duration heartbeat_;
  const std::string node_name_;
  const int gpu_count_;
  mutable Mutex mu_;
  CondVar changed_;  // signalled after every change and at Shutdown
  pb::NodeState state_ ABSL_GUARDED_BY(mu_);
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace gpusched::agent
