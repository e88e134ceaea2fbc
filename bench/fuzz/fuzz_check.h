#pragma once

// Invariant checks shared by the libFuzzer targets in this folder. A broken invariant aborts with
// __builtin_trap() after printing what broke, so libFuzzer records a crash and keeps the input.

#include <cstdio>
#include <initializer_list>
#include <string>
#include <string_view>

#include "absl/status/status.h"

#define FUZZ_CHECK(cond)                                                                \
  do {                                                                                  \
    if (!(cond)) {                                                                      \
      std::fprintf(stderr, "FUZZ_CHECK failed at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
      __builtin_trap();                                                                 \
    }                                                                                   \
  } while (0)

namespace gpusched::fuzz {

[[noreturn]] inline void Fail(std::string_view what, const absl::Status& status) {
  std::fprintf(stderr, "FUZZ invariant broken: %.*s: %s\n", static_cast<int>(what.size()),
               what.data(), status.ToString().c_str());
  __builtin_trap();
}

// A decoder's error: a clear message (non-empty) with one of the documented codes.
inline void CheckError(const absl::Status& status,
                       std::initializer_list<absl::StatusCode> allowed = {
                           absl::StatusCode::kInvalidArgument}) {
  if (status.ok()) return;
  if (status.message().empty()) Fail("error with an empty message", status);
  for (absl::StatusCode c : allowed) {
    if (status.code() == c) return;
  }
  Fail("error with an undocumented code", status);
}

// Must succeed (a value the decoder produced must be usable).
inline void CheckOk(const absl::Status& status, std::string_view what) {
  if (!status.ok()) Fail(what, status);
}

}  // namespace gpusched::fuzz
