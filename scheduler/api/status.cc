#include "scheduler/api/status.h"

#include <cstring>

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

namespace {
uint32_t ReadU32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
void WriteU32(char* p, uint32_t v) { std::memcpy(p, &v, sizeof v); }
}  // namespace

std::unique_ptr<char[]> Status::Pack(const std::vector<std::string_view>& reasons) {
  if (reasons.empty()) return nullptr;
  size_t bytes = 8;
  for (std::string_view r : reasons) bytes += 4 + r.size();
  auto block = std::make_unique_for_overwrite<char[]>(bytes);
  WriteU32(block.get(), static_cast<uint32_t>(bytes));
  WriteU32(block.get() + 4, static_cast<uint32_t>(reasons.size()));
  char* at = block.get() + 8;
  for (std::string_view r : reasons) {
    WriteU32(at, static_cast<uint32_t>(r.size()));
    if (!r.empty()) std::memcpy(at + 4, r.data(), r.size());
    at += 4 + r.size();
  }
  return block;
}

std::unique_ptr<char[]> Status::Copy(const char* block) {
  if (block == nullptr) return nullptr;
  const uint32_t bytes = ReadU32(block);
  auto out = std::make_unique_for_overwrite<char[]>(bytes);
  std::memcpy(out.get(), block, bytes);
  return out;
}

size_t Status::OwnedCount() const { return owned_ ? ReadU32(owned_.get() + 4) : 0; }

std::string_view Status::Owned(size_t i) const {
  const char* at = owned_.get() + 8;
  for (;; --i) {
    const uint32_t len = ReadU32(at);
    if (i == 0) return std::string_view(at + 4, len);
    at += 4 + len;
  }
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
