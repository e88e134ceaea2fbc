#include "scheduler/api/status.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace gpusched::framework {

std::string_view CodeName(Code code) {
  switch (code) {
    case Code::kSuccess: return "Success";
    case Code::kError: return "Error";
    case Code::kUnschedulable: return "Unschedulable";
    case Code::kUnschedulableAndUnresolvable: return "UnschedulableAndUnresolvable";
    case Code::kWait: return "Wait";
    case Code::kSkip: return "Skip";
    case Code::kPending: return "Pending";
  }
  return "Unknown";
}

Status Status::FromError(const absl::Status& error) {
  if (error.ok()) return Success();
  return Error(std::string(error.message()));
}

std::string Status::Message() const {
  std::string out;
  for (size_t i = 0; i < reason_count(); ++i) {
    if (i > 0) out += ", ";
    out += reason(i);
  }
  return out;
}

std::string Status::ToString() const {
  std::string out(CodeName(code_));
  if (!plugin_.empty()) absl::StrAppend(&out, " (", std::string(plugin_), ")");
  if (reason_count() > 0) absl::StrAppend(&out, ": ", Message());
  return out;
}

}  // namespace gpusched::framework
