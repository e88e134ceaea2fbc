#pragma once

// framework::Status is a scheduling *verdict* (design G2); absl::Status reports infrastructure
// errors (bad config, I/O, RPC). They never mix: "no node fits" is a verdict, not an error.
//
//   Status s = Status::Unschedulable("Insufficient cpu");
//   if (s.IsRejection()) ...;                 // kUnschedulable or kUnschedulableAndUnresolvable
//   return Status::FromError(absl::InternalError("..."));   // -> kError, as K8s AsStatus does
//
// Codes match kube-scheduler's framework codes. A success Status allocates nothing.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"

namespace gpusched::framework {

enum class Code : uint8_t {
  kSuccess,
  kError,                         // an internal error; the pod is retried after backoff
  kUnschedulable,                 // does not fit now; preemption or freed capacity may help
  kUnschedulableAndUnresolvable,  // can never fit on this node; preemption would not help
  kWait,                          // Permit: hold the pod until allowed, rejected or timed out
  kSkip,                          // PreFilter/PreScore: skip this plugin's Filter/Score; Bind: pass
  kPending,                       // waiting on something outside the scheduler
};

std::string_view CodeName(Code code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // success
  Status(Code code, std::vector<std::string> reasons) : code_(code), reasons_(std::move(reasons)) {}

  static Status Success() { return Status(); }
  static Status Error(std::string reason) { return Status(Code::kError, {std::move(reason)}); }
  static Status Unschedulable(std::string reason) {
    return Status(Code::kUnschedulable, {std::move(reason)});
  }
  static Status UnschedulableAndUnresolvable(std::string reason) {
    return Status(Code::kUnschedulableAndUnresolvable, {std::move(reason)});
  }
  static Status Wait() { return Status(Code::kWait, {}); }
  static Status Skip() { return Status(Code::kSkip, {}); }
  // Maps an infrastructure error to kError, keeping its message. OK maps to success.
  static Status FromError(const absl::Status& error);

  Code code() const { return code_; }
  bool ok() const { return code_ == Code::kSuccess; }
  bool IsSkip() const { return code_ == Code::kSkip; }
  bool IsWait() const { return code_ == Code::kWait; }
  bool IsRejection() const {
    return code_ == Code::kUnschedulable || code_ == Code::kUnschedulableAndUnresolvable;
  }
  const std::vector<std::string>& reasons() const { return reasons_; }
  // The plugin that produced this verdict; set by the framework runtime.
  std::string_view plugin() const { return plugin_; }
  Status&& WithPlugin(std::string_view plugin) && {
    plugin_ = std::string(plugin);
    return std::move(*this);
  }
  void set_plugin(std::string_view plugin) { plugin_ = std::string(plugin); }

  // Reasons joined with ", ".
  std::string Message() const;
  // "Unschedulable (NodeResourcesFit): Insufficient cpu".
  std::string ToString() const;

  friend bool operator==(const Status& a, const Status& b) {
    return a.code_ == b.code_ && a.reasons_ == b.reasons_;
  }

 private:
  Code code_ = Code::kSuccess;
  std::vector<std::string> reasons_;
  std::string plugin_;
};

}  // namespace gpusched::framework
