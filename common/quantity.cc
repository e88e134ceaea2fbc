#include "common/quantity.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/numeric/int128.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace gpusched {
namespace {

// More significant digits than this may not fit in `Quantity::digits` (10^38 < 2^127).
constexpr int kMaxSignificantDigits = 38;

// Largest magnitude accepted for an explicit e/E exponent ("1e999999999" is an error, not an int32
// overflow). Any such value is far outside kMaxAmount or far too precise for every unit anyway.
constexpr int64_t kMaxExponent = 1000;

// Largest magnitude of the normalized decimal exponent of a parsed value. An input can reach it
// only with thousands of digits ("0.000...1"); the bound keeps `Quantity::exp10` far from int32
// overflow even after callers add a scale to it.
constexpr int64_t kMaxDecimalExponent = 10000;

// A unit suffix of the quantity grammar: the value is multiplied by 10^exp10 * 2^exp2.
struct Suffix {
  std::string_view text;
  int exp10;
  int exp2;
};

// Decimal SI suffixes, largest first (formatting relies on the order). "m" is milli; note that
// kilo is lowercase "k" only, as in Kubernetes.
constexpr Suffix kDecimalSuffixes[] = {
    {"E", 18, 0}, {"P", 15, 0}, {"T", 12, 0}, {"G", 9, 0}, {"M", 6, 0}, {"k", 3, 0}, {"m", -3, 0},
};

// Binary SI suffixes, largest first (formatting relies on the order).
constexpr Suffix kBinarySuffixes[] = {
    {"Ei", 0, 60}, {"Pi", 0, 50}, {"Ti", 0, 40}, {"Gi", 0, 30}, {"Mi", 0, 20}, {"Ki", 0, 10},
};

// Returns the suffix spelled exactly `text`, or nullptr.
const Suffix* FindSuffix(std::string_view text) {
  for (const Suffix& s : kDecimalSuffixes) {
    if (s.text == text) return &s;
  }
  for (const Suffix& s : kBinarySuffixes) {
    if (s.text == text) return &s;
  }
  return nullptr;
}

// absl here may be built with its own absl::string_view rather than std::string_view; this
// converts either way.
absl::string_view AsAbsl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAsciiLetter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// `text` in double quotes, with control and non-ASCII bytes escaped so messages stay readable.
std::string Quote(std::string_view text) {
  return absl::StrCat("\"", absl::CHexEscape(AsAbsl(text)), "\"");
}

absl::Status ParseError(std::string_view text, std::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("invalid quantity ", Quote(text), ": ", AsAbsl(why)));
}

absl::Status UnexpectedChar(std::string_view text, size_t pos, std::string_view expected) {
  return ParseError(
      text, absl::StrCat("unexpected character '", absl::CHexEscape(AsAbsl(text.substr(pos, 1))),
                         "' at offset ", pos, " (expected ", AsAbsl(expected), ")"));
}

// Parses the exponent of an e/E suffix: an optionally signed run of decimal digits spanning
// text[pos, end). Magnitudes above kMaxExponent are rejected.
absl::StatusOr<int64_t> ParseExponent(std::string_view text, size_t pos) {
  bool negative = false;
  if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
    negative = text[pos] == '-';
    ++pos;
  }
  if (pos == text.size()) return ParseError(text, "missing exponent digits after 'e'/'E'");
  int64_t exponent = 0;
  for (; pos < text.size(); ++pos) {
    if (!IsDigit(text[pos])) return UnexpectedChar(text, pos, "a digit of the exponent");
    // Saturate just above the limit: the digits are still validated, and nothing overflows.
    if (exponent <= kMaxExponent) exponent = exponent * 10 + (text[pos] - '0');
  }
  if (exponent > kMaxExponent) {
    return ParseError(
        text, absl::StrCat("exponent out of range (at most ", kMaxExponent, " in magnitude)"));
  }
  return negative ? -exponent : exponent;
}

// Describes a target unit in error messages: "too precise for <name>: it is not a whole number
// of <granule>" and "out of range for <name>".
struct Unit {
  std::string_view name;
  std::string_view granule;
};

// Returns value(q) * 10^shift10 * 2^shift2 exactly, or an error when that is not a whole number
// (InvalidArgument) or its magnitude exceeds kMaxAmount (OutOfRange). `what` is the input text.
absl::StatusOr<int64_t> ScaleExact(const Quantity& q, int64_t shift10, int64_t shift2,
                                   std::string_view what, const Unit& unit) {
  if (q.digits == 0) return 0;

  // value = digits * 10^e10 * 2^e2 = m * 2^p2 * 5^p5 once every factor 2 and 5 is moved from m
  // into the exponents. Then m is coprime to 10, so the value is a whole number exactly when
  // neither exponent is negative. This is exact for any exponents, however large.
  absl::uint128 m = q.digits;
  int64_t p5 = int64_t{q.exp10} + shift10;
  int64_t p2 = p5 + q.exp2 + shift2;
  while ((m & 1) == 0) {
    m >>= 1;
    ++p2;
  }
  while (m % 5 == 0) {
    m /= 5;
    ++p5;
  }
  if (p2 < 0 || p5 < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("quantity ", Quote(what), " is too precise for ", AsAbsl(unit.name),
                     ": it is not a whole number of ", AsAbsl(unit.granule)));
  }

  // m >= 1 and each step at least doubles it, so the loops end within ~50 steps of the limit;
  // checking after every step keeps m <= 5 * 2^50, far from uint128 overflow.
  const absl::uint128 limit = static_cast<uint64_t>(kMaxAmount);
  bool in_range = m <= limit;
  for (; in_range && p2 > 0; --p2) {
    m <<= 1;
    in_range = m <= limit;
  }
  for (; in_range && p5 > 0; --p5) {
    m *= 5;
    in_range = m <= limit;
  }
  if (!in_range) {
    return absl::OutOfRangeError(absl::StrCat("quantity ", Quote(what), " is out of range for ",
                                              AsAbsl(unit.name), ": its magnitude exceeds ",
                                              kMaxAmount, " (2^50)"));
  }
  const int64_t v = static_cast<int64_t>(absl::Uint128Low64(m));
  return q.negative ? -v : v;
}

// Parses `text` as a non-negative amount of `unit`, which is value * 10^shift10 * 2^shift2.
absl::StatusOr<int64_t> ParseAmount(std::string_view text, int64_t shift10, int64_t shift2,
                                    const Unit& unit) {
  ASSIGN_OR_RETURN(const Quantity q, Quantity::Parse(text));
  // Parse normalizes "-0" to a non-negative zero, so only truly negative values fail here.
  if (q.negative) {
    return absl::InvalidArgumentError(
        absl::StrCat("quantity ", Quote(text), " must not be negative (", AsAbsl(unit.name), ")"));
  }
  return ScaleExact(q, shift10, shift2, text, unit);
}

constexpr Unit kMilliCpuUnit = {"milli-CPU", "1/1000 CPU"};
constexpr Unit kBytesUnit = {"bytes", "bytes"};
constexpr Unit kMilliGpuUnit = {"milli-GPU", "1/1000 GPU"};
constexpr Unit kGpuMemMiBUnit = {"GPU memory in MiB", "MiB (1048576 bytes)"};

// "<n>" for whole units, else "<milli>m".
std::string FormatMilli(int64_t milli) {
  if (milli % 1000 == 0) return absl::StrCat(milli / 1000);
  return absl::StrCat(milli, "m");
}

// Formats `v` units of 2^unit_shift bytes with the largest binary suffix that divides it exactly,
// else (only reachable for unit_shift == 0) the largest decimal suffix, else no suffix. Works on
// `v` directly rather than on bytes so that large MiB amounts cannot overflow.
std::string FormatMemory(int64_t v, int unit_shift) {
  if (v == 0) return "0";
  for (const Suffix& s : kBinarySuffixes) {
    const int bits = s.exp2 - unit_shift;
    if (bits < 0) continue;
    const int64_t divisor = int64_t{1} << bits;
    if (v % divisor == 0) return absl::StrCat(v / divisor, AsAbsl(s.text));
  }
  for (const Suffix& s : kDecimalSuffixes) {
    if (s.exp10 <= 0) continue;  // Never "m": bytes are whole.
    int64_t divisor = 1;
    for (int i = 0; i < s.exp10; ++i) divisor *= 10;
    if (v % divisor == 0) return absl::StrCat(v / divisor, AsAbsl(s.text));
  }
  return absl::StrCat(v);
}

}  // namespace

absl::StatusOr<Quantity> Quantity::Parse(std::string_view text) {
  if (text.empty()) return ParseError(text, "empty string");

  size_t pos = 0;
  bool negative = false;
  if (text[pos] == '+' || text[pos] == '-') {
    negative = text[pos] == '-';
    ++pos;
  }

  // <number>: integer digits, then optionally '.' and fraction digits; one digit at least.
  const size_t int_begin = pos;
  while (pos < text.size() && IsDigit(text[pos])) ++pos;
  const std::string_view int_digits = text.substr(int_begin, pos - int_begin);
  std::string_view frac_digits;
  bool has_point = false;
  if (pos < text.size() && text[pos] == '.') {
    has_point = true;
    const size_t frac_begin = ++pos;
    while (pos < text.size() && IsDigit(text[pos])) ++pos;
    frac_digits = text.substr(frac_begin, pos - frac_begin);
  }
  if (int_digits.empty() && frac_digits.empty()) {
    if (pos < text.size() && !has_point) return UnexpectedChar(text, pos, "a digit or '.'");
    return ParseError(text, "the number has no digits");
  }

  // <suffix>: an exact SI suffix first (so "E" is exa, "Ei" exbi), then an e/E exponent.
  int64_t exp10 = -static_cast<int64_t>(frac_digits.size());
  int32_t exp2 = 0;
  const std::string_view suffix = text.substr(pos);
  if (!suffix.empty()) {
    if (const Suffix* s = FindSuffix(suffix); s != nullptr) {
      exp10 += s->exp10;
      exp2 = s->exp2;
    } else if (suffix[0] == 'e' || suffix[0] == 'E') {
      ASSIGN_OR_RETURN(const int64_t exponent, ParseExponent(text, pos + 1));
      exp10 += exponent;
    } else if (IsAsciiLetter(suffix[0])) {
      std::string why = absl::StrCat("unknown suffix ", Quote(suffix),
                                     " (expected m, k, M, G, T, P, E, Ki, Mi, Gi, Ti, Pi, Ei or an "
                                     "e/E exponent)");
      return ParseError(text, why);
    } else {
      return UnexpectedChar(text, pos, "a suffix or the end");
    }
  }

  // Significant digits: the mantissa without leading and trailing zeros (trailing zeros are
  // folded into exp10).
  const std::string mantissa = std::string(int_digits).append(frac_digits);
  const size_t first = mantissa.find_first_not_of('0');
  if (first == std::string::npos) return Quantity{};  // Zero, including "-0" and "0.000Gi".
  const size_t last = mantissa.find_last_not_of('0');
  exp10 += static_cast<int64_t>(mantissa.size() - 1 - last);
  const size_t significant = last - first + 1;
  if (significant > kMaxSignificantDigits) {
    return ParseError(
        text, absl::StrCat("too many digits (", significant, " significant digits, at most ",
                           kMaxSignificantDigits, ")"));
  }
  if (exp10 > kMaxDecimalExponent || exp10 < -kMaxDecimalExponent) {
    return ParseError(text, absl::StrCat("magnitude out of range (decimal exponent ", exp10,
                                         ", at most ", kMaxDecimalExponent, " in magnitude)"));
  }

  Quantity q;
  q.negative = negative;
  for (size_t i = first; i <= last; ++i) q.digits = q.digits * 10 + (mantissa[i] - '0');
  q.exp10 = static_cast<int32_t>(exp10);
  q.exp2 = exp2;
  return q;
}

absl::StatusOr<int64_t> Quantity::ToScaled(int32_t scale10, std::string_view what) const {
  const std::string name = absl::StrCat("scale 10^", scale10);
  const std::string granule = absl::StrCat("10^", -int64_t{scale10});
  return ScaleExact(*this, scale10, 0, what, Unit{name, granule});
}

absl::StatusOr<int64_t> Quantity::ToBinaryScaled(int32_t shift2, std::string_view what) const {
  const std::string name = absl::StrCat("scale 2^", -int64_t{shift2});
  const std::string granule = absl::StrCat("2^", shift2);
  return ScaleExact(*this, 0, -int64_t{shift2}, what, Unit{name, granule});
}

absl::StatusOr<MilliCpu> ParseMilliCpu(std::string_view text) {
  ASSIGN_OR_RETURN(const int64_t v, ParseAmount(text, 3, 0, kMilliCpuUnit));
  return MilliCpu(v);
}

absl::StatusOr<MemoryBytes> ParseMemoryBytes(std::string_view text) {
  ASSIGN_OR_RETURN(const int64_t v, ParseAmount(text, 0, 0, kBytesUnit));
  return MemoryBytes(v);
}

absl::StatusOr<GpuMilli> ParseGpuMilli(std::string_view text) {
  ASSIGN_OR_RETURN(const int64_t v, ParseAmount(text, 3, 0, kMilliGpuUnit));
  return GpuMilli(v);
}

absl::StatusOr<GpuMemMiB> ParseGpuMemMiB(std::string_view text) {
  ASSIGN_OR_RETURN(const int64_t v, ParseAmount(text, 0, -20, kGpuMemMiBUnit));
  return GpuMemMiB(v);
}

std::string FormatMilliCpu(MilliCpu v) { return FormatMilli(v.value()); }

std::string FormatMemoryBytes(MemoryBytes v) { return FormatMemory(v.value(), 0); }

std::string FormatGpuMilli(GpuMilli v) { return FormatMilli(v.value()); }

// MiB always divide by "Mi" (bits 0), so the result always carries a binary suffix.
std::string FormatGpuMemMiB(GpuMemMiB v) { return FormatMemory(v.value(), 20); }

}  // namespace gpusched
