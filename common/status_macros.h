#pragma once

// RETURN_IF_ERROR / ASSIGN_OR_RETURN for absl::Status and absl::StatusOr (absl ships its own only
// from LTS 20260526; our baseline is 20220623).
//
//   absl::StatusOr<int> Half(int x);
//   absl::Status Use() {
//     ASSIGN_OR_RETURN(int h, Half(4));
//     RETURN_IF_ERROR(Check(h));
//     return absl::OkStatus();
//   }

#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace gpusched {
// A status's message as a std::string_view, for log fields and std string functions (Debian's
// Abseil has its own string_view type, so message() does not convert by itself).
inline std::string_view MessageOf(const absl::Status& s) { return {s.message().data(), s.message().size()}; }
}  // namespace gpusched

#define GPUSCHED_CONCAT_INNER_(a, b) a##b
#define GPUSCHED_CONCAT_(a, b) GPUSCHED_CONCAT_INNER_(a, b)

#define RETURN_IF_ERROR(expr)                        \
  do {                                               \
    ::absl::Status gpusched_status_ = (expr);        \
    if (!gpusched_status_.ok()) return gpusched_status_; \
  } while (0)

#define GPUSCHED_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                    \
  if (!tmp.ok()) return std::move(tmp).status();        \
  lhs = std::move(tmp).value()

#define ASSIGN_OR_RETURN(lhs, expr) \
  GPUSCHED_ASSIGN_OR_RETURN_IMPL_(GPUSCHED_CONCAT_(gpusched_statusor_, __LINE__), lhs, expr)
