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
#include <initializer_list>
#include <memory>
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
  // success. User-provided (not "= default"), so that "return Status();" does not zero the whole
  // object before the member initializers run: Filter returns one per node and plugin.
  Status() {}
  Status(Code code, std::vector<std::string> reasons) : code_(code) {
    std::vector<std::string_view> views(reasons.begin(), reasons.end());
    owned_ = Pack(views);
  }
  Status(const Status& o)
      : code_(o.code_), literal_(o.literal_), owned_(Copy(o.owned_.get())), plugin_(o.plugin_) {}
  Status(Status&&) noexcept = default;
  Status& operator=(const Status& o) {
    if (this != &o) *this = Status(o);
    return *this;
  }
  Status& operator=(Status&&) noexcept = default;

  static Status Success() { return Status(); }
  static Status Error(std::string_view reason) { return Status(Code::kError, OneTag{}, reason); }
  static Status Unschedulable(std::string_view reason) {
    return Status(Code::kUnschedulable, OneTag{}, reason);
  }
  static Status UnschedulableAndUnresolvable(std::string_view reason) {
    return Status(Code::kUnschedulableAndUnresolvable, OneTag{}, reason);
  }
  // String literals are kept by pointer and allocate nothing: Filter rejects most nodes in a
  // full cluster, so its common verdicts ("Insufficient cpu") must be cheap.
  // A reason with static storage duration that is not a literal (an interned reason).
  static Status WithStaticReason(Code code, const char* reason) {
    return Status(code, LiteralTag{}, reason);
  }
  template <size_t N>
  static Status Unschedulable(const char (&literal)[N]) {
    return Status(Code::kUnschedulable, LiteralTag{}, literal);
  }
  template <size_t N>
  static Status UnschedulableAndUnresolvable(const char (&literal)[N]) {
    return Status(Code::kUnschedulableAndUnresolvable, LiteralTag{}, literal);
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
  size_t reason_count() const { return (literal_ != nullptr ? 1 : 0) + OwnedCount(); }
  std::string_view reason(size_t i) const {
    if (literal_ != nullptr) {
      if (i == 0) return literal_;
      --i;
    }
    return Owned(i);
  }
  std::vector<std::string> reasons() const {
    std::vector<std::string> out;
    for (size_t i = 0; i < reason_count(); ++i) out.emplace_back(reason(i));
    return out;
  }
  // The plugin that produced this verdict; set by the framework runtime.
  std::string_view plugin() const { return plugin_; }
  Status&& WithPlugin(std::string_view plugin) && {
    plugin_ = plugin;
    return std::move(*this);
  }
  void set_plugin(std::string_view plugin) { plugin_ = plugin; }

  // Reasons joined with ", ".
  std::string Message() const;
  // "Unschedulable (NodeResourcesFit): Insufficient cpu".
  std::string ToString() const;

  friend bool operator==(const Status& a, const Status& b) {
    return a.code_ == b.code_ && a.reasons() == b.reasons();
  }

 private:
  struct LiteralTag {};
  Status(Code code, LiteralTag, const char* literal) : code_(code), literal_(literal) {}
  struct OneTag {};
  Status(Code code, OneTag, std::string_view reason) : code_(code), owned_(Pack({reason})) {}

  // Owned reasons live in one heap block: [uint32 bytes in all][uint32 count], then per reason
  // [uint32 length][its characters]. A verdict costs one allocation whatever its reasons (Filter
  // makes one per rejected node), and a Status is 40 bytes, cheap to return per node and plugin.
  static std::unique_ptr<char[]> Pack(std::initializer_list<std::string_view> reasons) {
    return Pack(std::vector<std::string_view>(reasons));
  }
  static std::unique_ptr<char[]> Pack(const std::vector<std::string_view>& reasons);
  static std::unique_ptr<char[]> Copy(const char* block);
  size_t OwnedCount() const;
  std::string_view Owned(size_t i) const;

  Code code_ = Code::kSuccess;
  const char* literal_ = nullptr;  // a string literal (static storage), or null
  std::unique_ptr<char[]> owned_;  // null: no owned reasons
  // Plugin names are the plugins' own constants (Name() returns a view of static storage).
  std::string_view plugin_;
};

}  // namespace gpusched::framework
