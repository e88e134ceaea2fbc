#pragma once

// Exact resource amounts (design G9) and the Kubernetes quantity grammar.
//
// Every amount is an integer in its own unit, wrapped in a type of its own, so that CPU and GPU
// amounts never mix by accident:
//
//   ASSIGN_OR_RETURN(MilliCpu cpu, ParseMilliCpu("1500m"));      // 1500
//   ASSIGN_OR_RETURN(MemoryBytes mem, ParseMemoryBytes("16Gi"));  // 17179869184
//   ASSIGN_OR_RETURN(GpuMilli g, ParseGpuMilli("0.25"));          // 250
//   ParseGpuMilli("0.0001")   -> InvalidArgument: too precise, never rounded to 0
//   ParseGpuMemMiB("1G")      -> InvalidArgument: 1e9 bytes is not a whole number of MiB
//   cpu + g;                  // does not compile
//
// The grammar is Kubernetes' resource.Quantity:
//   <quantity> ::= <sign><number><suffix>
//   <number>   ::= <digits> | <digits>.<digits> | <digits>. | .<digits>
//   <suffix>   ::= "" | m | k | M | G | T | P | E            (decimal SI)
//                | Ki | Mi | Gi | Ti | Pi | Ei                 (binary SI)
//                | e<signed int> | E<signed int>              (decimal exponent)
// Parsing keeps the value exact (decimal digits, a power of ten and a power of two) and converts
// it to the target unit only if the result is a whole number that fits in the bounds below.

#include <cstdint>
#include <compare>
#include <ostream>
#include <string>
#include <string_view>

#include "absl/numeric/int128.h"
#include "absl/status/statusor.h"

namespace gpusched {

// Every parsed amount is at most this (2^50, about 1.1e15): sums of thousands of amounts still
// fit in int64, so adding amounts of one node or one cluster never overflows.
inline constexpr int64_t kMaxAmount = int64_t{1} << 50;

// An integer amount in one unit. `Tag` distinguishes units; there is no implicit conversion and no
// arithmetic between different tags.
template <class Tag>
class Amount {
 public:
  constexpr Amount() = default;
  constexpr explicit Amount(int64_t v) : v_(v) {}
  constexpr int64_t value() const { return v_; }

  constexpr Amount operator+(Amount o) const { return Amount(v_ + o.v_); }
  constexpr Amount operator-(Amount o) const { return Amount(v_ - o.v_); }
  constexpr Amount& operator+=(Amount o) { v_ += o.v_; return *this; }
  constexpr Amount& operator-=(Amount o) { v_ -= o.v_; return *this; }
  constexpr Amount operator*(int64_t k) const { return Amount(v_ * k); }
  friend constexpr auto operator<=>(Amount, Amount) = default;
  friend std::ostream& operator<<(std::ostream& os, Amount a) { return os << a.v_; }

 private:
  int64_t v_ = 0;
};

struct MilliCpuTag {};
struct MemoryBytesTag {};
struct GpuMilliTag {};
struct GpuMemMiBTag {};

using MilliCpu = Amount<MilliCpuTag>;        // 1 CPU = 1000
using MemoryBytes = Amount<MemoryBytesTag>;  // bytes
using GpuMilli = Amount<GpuMilliTag>;        // 1 GPU = 1000
using GpuMemMiB = Amount<GpuMemMiBTag>;      // MiB of GPU memory

inline constexpr GpuMilli kOneGpu{1000};

// A parsed quantity, kept exact: value = sign * digits * 10^exp10 * 2^exp2.
// `digits` has no trailing zeros (they are folded into exp10) unless it is 0.
struct Quantity {
  bool negative = false;
  absl::uint128 digits = 0;
  int32_t exp10 = 0;
  int32_t exp2 = 0;

  // Parses the Kubernetes quantity grammar above. Errors (InvalidArgument) quote the input and
  // say what is wrong: empty, bad character at a position, unknown suffix, too many digits.
  static absl::StatusOr<Quantity> Parse(std::string_view text);

  // value * 10^scale10 as an exact int64: ToScaled(3) gives milli-units, ToScaled(0) units.
  // Fails (InvalidArgument, quoting `what`) when the result is not a whole number, or
  // (OutOfRange) when its magnitude exceeds kMaxAmount.
  absl::StatusOr<int64_t> ToScaled(int32_t scale10, std::string_view what) const;
  // value / 2^shift2 as an exact int64 (shift2 = 20 gives MiB from bytes), same errors.
  absl::StatusOr<int64_t> ToBinaryScaled(int32_t shift2, std::string_view what) const;
};

// Typed parsers. All reject negative values, values not exact in the unit, and values above
// kMaxAmount; the error message quotes the input.
absl::StatusOr<MilliCpu> ParseMilliCpu(std::string_view text);        // "2", "1500m", "0.5"
absl::StatusOr<MemoryBytes> ParseMemoryBytes(std::string_view text);  // "16Gi", "500M", "1e9"
absl::StatusOr<GpuMilli> ParseGpuMilli(std::string_view text);        // "1", "0.25", "250m"
// GPU memory: the quantity is in bytes ("16Gi", "500Mi") and must be a whole number of MiB.
absl::StatusOr<GpuMemMiB> ParseGpuMemMiB(std::string_view text);

// Canonical Kubernetes-style text; Parse of the result gives the same amount back.
//   FormatMilliCpu(MilliCpu(1500)) == "1500m", FormatMilliCpu(MilliCpu(2000)) == "2"
//   FormatMemoryBytes(MemoryBytes(17179869184)) == "16Gi", (1000000) == "1M", (1234) == "1234"
//   FormatGpuMilli(GpuMilli(250)) == "250m", (1000) == "1"
//   FormatGpuMemMiB(GpuMemMiB(16384)) == "16Gi", (500) == "500Mi"
std::string FormatMilliCpu(MilliCpu v);
std::string FormatMemoryBytes(MemoryBytes v);
std::string FormatGpuMilli(GpuMilli v);
std::string FormatGpuMemMiB(GpuMemMiB v);

}  // namespace gpusched
