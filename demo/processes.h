#pragma once

// The child processes of the live demo: gpusched-agent and gpusched-extender, started with their
// output in a log file and stopped so that none is left behind.
//
//   ProcessGroup procs;
//   ASSIGN_OR_RETURN(pid_t pid, procs.Spawn("extender", {"build/extender/gpusched-extender", ...},
//                                           "out/live-demo/logs/extender.log"));
//   ...
//   procs.StopAll(absl::Seconds(5));   // newest first: SIGTERM, SIGKILL after the grace; reaps all
//
// Each child runs in its own process group, so a Ctrl-C in the terminal reaches only the demo,
// which then stops its children in order; each child also asks the kernel for SIGTERM when the
// demo dies (PR_SET_PDEATHSIG), so even a SIGKILLed demo leaves no process behind.
//
// Thread-safety: one thread (the demo's) owns a ProcessGroup.

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace gpusched::demo {

class ProcessGroup {
 public:
  ProcessGroup() = default;
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;
  ~ProcessGroup() { StopAll(absl::Seconds(5)); }

  // Starts argv[0] (a path) with stdout and stderr written to `log_path` (truncated first). An executable that is
  // missing or cannot run is an error here, not a silent exit later.
  absl::StatusOr<pid_t> Spawn(const std::string& name, const std::vector<std::string>& argv,
                              const std::string& log_path);
  // "" while every child runs; otherwise "NAME exited with status N (see LOG)" for the first
  // that ended on its own.
  std::string FirstExited();
  // Waits for `pid` (one of ours) to exit: its exit status (128 + N when killed by signal N), or
  // Cancelled when `interrupted` is set first (the child is then left to StopAll).
  absl::StatusOr<int> Wait(pid_t pid, const std::atomic<bool>& interrupted);
  // Stops the running children newest first: SIGTERM, up to `grace` to exit, then SIGKILL; every
  // child is reaped. Returns how many needed SIGKILL.
  int StopAll(absl::Duration grace);
  // Children still running (not reaped).
  int running() const;

 private:
  struct Child {
    std::string name, log;
    pid_t pid = -1;
    bool reaped = false;
    int status = 0;
  };
  std::vector<Child> children_;
};

// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, then closed). The demo
// hands such ports to the processes it starts; another process could take one in between, which
// the start-up check then reports.
absl::StatusOr<uint16_t> FreeLoopbackPort();

}  // namespace gpusched::demo
