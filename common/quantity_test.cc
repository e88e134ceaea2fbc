#include "common/quantity.h"

#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "absl/numeric/int128.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gpusched {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kPi = int64_t{1} << 50;  // 1Pi == kMaxAmount.

std::string Quoted(std::string_view s) { return absl::StrCat("\"", std::string(s), "\""); }

// ---------------------------------------------------------------------------------------------
// Amount type safety.

template <class A, class B>
concept Addable = requires(A a, B b) {
  a + b;
};

static_assert(Addable<MilliCpu, MilliCpu>);
static_assert(!Addable<MilliCpu, GpuMilli>);
static_assert(!Addable<MemoryBytes, GpuMemMiB>);
static_assert(!std::is_convertible_v<int64_t, MilliCpu>);
static_assert(!std::is_convertible_v<GpuMilli, MilliCpu>);
static_assert(kMaxAmount == kPi);

// ---------------------------------------------------------------------------------------------
// Quantity::Parse: the grammar.

struct ParseCase {
  std::string name;
  std::string input;
  bool negative;
  absl::uint128 digits;
  int32_t exp10;
  int32_t exp2;
};

TEST(QuantityParseTest, ValidInputs) {
  // 12345678901234567890123456789012345678, built independently of the parser.
  const absl::uint128 k38 =
      absl::uint128(1234567890123456789ULL) * 10000000000000000000ULL + 123456789012345678ULL;

  const std::vector<ParseCase> cases = {
      // Plain numbers.
      {"zero", "0", false, 0, 0, 0},
      {"one", "1", false, 1, 0, 0},
      {"integer", "42", false, 42, 0, 0},
      {"trailing zeros fold into exp10", "1000", false, 1, 3, 0},
      {"leading zeros", "007", false, 7, 0, 0},
      {"leading and trailing zeros", "00.0100", false, 1, -2, 0},
      {"decimal", "0.5", false, 5, -1, 0},
      {"decimal with trailing zero", "1.50", false, 15, -1, 0},
      {"digits then point", "1.", false, 1, 0, 0},
      {"point then digits", ".5", false, 5, -1, 0},
      {"explicit plus", "+1", false, 1, 0, 0},
      {"minus", "-1", true, 1, 0, 0},
      {"minus zero is zero", "-0", false, 0, 0, 0},
      {"zero with fraction", "0.000", false, 0, 0, 0},
      {"zero with suffix", "-0.0Gi", false, 0, 0, 0},
      {"zero with exponent", "0e5", false, 0, 0, 0},
      {"38 significant digits", "12345678901234567890123456789012345678", false, k38, 0, 0},
      {"38 significant digits after a point", "1234567890123456789.0123456789012345678", false, k38,
       -19, 0},
      {"trailing zeros are not significant", "1" + std::string(49, '0'), false, 1, 49, 0},
      {"leading zeros are not significant", std::string(60, '0') + "3", false, 3, 0, 0},
      {"long fraction", "0." + std::string(50, '0') + "1", false, 1, -51, 0},
      // Decimal SI suffixes.
      {"milli", "100m", false, 1, -1, 0},
      {"milli 1500m", "1500m", false, 15, 2 - 3, 0},
      {"milli fraction", "0.5m", false, 5, -4, 0},
      {"kilo", "12k", false, 12, 3, 0},
      {"mega", "500M", false, 5, 8, 0},
      {"giga", "1G", false, 1, 9, 0},
      {"tera", "2T", false, 2, 12, 0},
      {"peta", "3P", false, 3, 15, 0},
      {"exa", "1E", false, 1, 18, 0},
      {"exa fraction", "1.5E", false, 15, 17, 0},
      // Binary SI suffixes.
      {"kibi", "1Ki", false, 1, 0, 10},
      {"mebi", "500Mi", false, 5, 2, 20},
      {"gibi", "16Gi", false, 16, 0, 30},
      {"tebi", "1Ti", false, 1, 0, 40},
      {"pebi", "1Pi", false, 1, 0, 50},
      {"exbi", "1Ei", false, 1, 0, 60},
      {"half gibi", "0.5Gi", false, 5, -1, 30},
      {"negative binary", "-1.5Gi", true, 15, -1, 30},
      // Decimal exponents.
      {"exponent e", "1e3", false, 1, 3, 0},
      {"exponent E", "1E3", false, 1, 3, 0},
      {"negative exponent", "5e-3", false, 5, -3, 0},
      {"plus exponent", "2e+2", false, 2, 2, 0},
      {"negative E exponent", "1E-3", false, 1, -3, 0},
      {"zero exponent", "5e0", false, 5, 0, 0},
      {"exponent leading zeros", "1e003", false, 1, 3, 0},
      {"fraction and exponent", "1.5e2", false, 15, 1, 0},
      {"point only and exponent", "1.e1", false, 1, 1, 0},
      {"point first and exponent", ".5e1", false, 5, 0, 0},
      {"signed number and exponent", "-25e-1", true, 25, -1, 0},
      {"largest exponent", "1e1000", false, 1, 1000, 0},
      {"smallest exponent", "1e-1000", false, 1, -1000, 0},
  };
  for (const ParseCase& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<Quantity> q = Quantity::Parse(c.input);
    ASSERT_TRUE(q.ok()) << q.status();
    EXPECT_EQ(q->negative, c.negative);
    EXPECT_EQ(q->digits, c.digits);
    EXPECT_EQ(q->exp10, c.exp10);
    EXPECT_EQ(q->exp2, c.exp2);
  }
}

struct InvalidCase {
  std::string name;
  std::string input;
  std::string message;  // Expected in the error besides the quoted input.
};

TEST(QuantityParseTest, InvalidInputs) {
  const std::vector<InvalidCase> cases = {
      {"empty", "", "empty"},
      {"leading space", " 1", "unexpected character ' ' at offset 0"},
      {"trailing space", "1 ", "unexpected character ' ' at offset 1"},
      {"inner space", "1 k", "unexpected character ' ' at offset 1"},
      {"tab", "1\t", "at offset 1"},
      {"suffix only", "K", "unexpected character 'K' at offset 0"},
      {"uppercase kilo", "1K", "unknown suffix \"K\""},
      {"bytes suffix", "1Kb", "unknown suffix \"Kb\""},
      {"lowercase mebi", "1mi", "unknown suffix \"mi\""},
      {"micro", "1u", "unknown suffix \"u\""},
      {"suffix then digits", "1Ki5", "unknown suffix \"Ki5\""},
      {"two points", "1.2.3", "unexpected character '.' at offset 3"},
      {"exponent without number", "e3", "unexpected character 'e' at offset 0"},
      {"exponent without digits", "1e", "missing exponent digits"},
      {"E exponent sign without digits", "1E+", "missing exponent digits"},
      {"fractional exponent", "1e3.5", "unexpected character '.' at offset 3"},
      {"double e", "1ee3", "unexpected character 'e' at offset 2"},
      {"exponent then suffix", "1e3k", "unexpected character 'k' at offset 3"},
      {"double sign", "--1", "unexpected character '-' at offset 1"},
      {"sign only", "-", "no digits"},
      {"plus only", "+", "no digits"},
      {"point only", ".", "no digits"},
      {"signed point", "-.", "no digits"},
      {"point and suffix", ".Gi", "no digits"},
      {"letters", "abc", "unexpected character 'a' at offset 0"},
      {"hex", "0x10", "unknown suffix \"x10\""},
      {"digit separator", "1_000", "unexpected character '_' at offset 1"},
      {"comma", "1,5", "unexpected character ',' at offset 1"},
      {"sign after number", "1-", "unexpected character '-' at offset 1"},
      {"39 significant digits", "123456789012345678901234567890123456789", "too many digits"},
      {"50 digits", std::string(50, '9'), "too many digits"},
      {"many digits after point", "0." + std::string(45, '7'), "too many digits"},
      {"huge exponent", "1e999999999", "exponent out of range"},
      {"exponent overflowing int64", "1e99999999999999999999999", "exponent out of range"},
      {"huge negative exponent", "1e-999999999", "exponent out of range"},
      {"exponent just above limit", "1e1001", "exponent out of range"},
      {"huge exponent with zero", "0e1001", "exponent out of range"},
      {"value exponent out of range", "1" + std::string(10001, '0'), "out of range"},
  };
  for (const InvalidCase& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<Quantity> q = Quantity::Parse(c.input);
    ASSERT_FALSE(q.ok()) << "parsed " << c.input;
    EXPECT_EQ(q.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(q.status().message(), HasSubstr(c.message));
    if (c.input.size() < 100 && c.input.find('\t') == std::string::npos) {
      EXPECT_THAT(q.status().message(), HasSubstr(Quoted(c.input)));
    }
  }
}

TEST(QuantityParseTest, ControlCharactersAreEscapedInMessages) {
  const absl::StatusOr<Quantity> q = Quantity::Parse(std::string_view("1\0", 2));
  ASSERT_FALSE(q.ok());
  EXPECT_THAT(q.status().message(), HasSubstr("\"1\\x00\""));
  const absl::StatusOr<Quantity> tab = Quantity::Parse("1\t");
  ASSERT_FALSE(tab.ok());
  EXPECT_THAT(tab.status().message(), HasSubstr("\"1\\t\""));
}

// ---------------------------------------------------------------------------------------------
// Quantity::ToScaled and Quantity::ToBinaryScaled.

struct ScaleCase {
  std::string name;
  std::string input;
  int32_t scale;
  absl::StatusCode code;  // kOk: `want` is the result.
  int64_t want;
};

absl::StatusOr<int64_t> ParseAndScale(std::string_view input, int32_t scale10) {
  absl::StatusOr<Quantity> q = Quantity::Parse(input);
  if (!q.ok()) return q.status();
  return q->ToScaled(scale10, input);
}

absl::StatusOr<int64_t> ParseAndBinaryScale(std::string_view input, int32_t shift2) {
  absl::StatusOr<Quantity> q = Quantity::Parse(input);
  if (!q.ok()) return q.status();
  return q->ToBinaryScaled(shift2, input);
}

void CheckScaleCase(const ScaleCase& c, const absl::StatusOr<int64_t>& got) {
  if (c.code == absl::StatusCode::kOk) {
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(*got, c.want);
  } else {
    ASSERT_FALSE(got.ok()) << "got " << *got;
    EXPECT_EQ(got.status().code(), c.code) << got.status();
    EXPECT_THAT(got.status().message(), HasSubstr(Quoted(c.input)));
  }
}

constexpr absl::StatusCode kOk = absl::StatusCode::kOk;
constexpr absl::StatusCode kInvalid = absl::StatusCode::kInvalidArgument;
constexpr absl::StatusCode kOutOfRange = absl::StatusCode::kOutOfRange;
constexpr int32_t kInt32Max = std::numeric_limits<int32_t>::max();
constexpr int32_t kInt32Min = std::numeric_limits<int32_t>::min();

TEST(QuantityScaleTest, ToScaled) {
  const std::vector<ScaleCase> cases = {
      {"units", "5", 0, kOk, 5},
      {"milli", "1.5", 3, kOk, 1500},
      {"negative values are allowed", "-1.5", 3, kOk, -1500},
      {"zero", "0", 3, kOk, 0},
      {"zero at any scale", "0", kInt32Max, kOk, 0},
      {"zero at any negative scale", "0", kInt32Min, kOk, 0},
      {"negative scale", "2000", -3, kOk, 2},
      {"negative scale not whole", "1501", -3, kInvalid, 0},
      {"binary suffix", "1Ki", 0, kOk, 1024},
      {"binary suffix fraction", "0.5Ki", 0, kOk, 512},
      {"binary suffix times milli", "1Ki", 3, kOk, 1024000},
      {"fraction of binary not whole", "0.001Ki", 0, kInvalid, 0},
      {"fraction of binary made whole by 2s", "0.0009765625Ki", 0, kOk, 1},
      {"too precise", "0.0001", 3, kInvalid, 0},
      {"too precise milli", "0.5m", 0, kInvalid, 0},
      {"exactly the limit", "1125899906842624", 0, kOk, kMaxAmount},
      {"exactly minus the limit", "-1125899906842624", 0, kOk, -kMaxAmount},
      {"one above the limit", "1125899906842625", 0, kOutOfRange, 0},
      {"one below minus the limit", "-1125899906842625", 0, kOutOfRange, 0},
      {"limit as Pi", "1Pi", 0, kOk, kMaxAmount},
      {"above the limit as Pi", "1.5Pi", 0, kOutOfRange, 0},
      {"huge", "1e1000", 0, kOutOfRange, 0},
      {"huge scale", "1", kInt32Max, kOutOfRange, 0},
      {"tiny", "1e-1000", 0, kInvalid, 0},
      {"tiny scale", "1", kInt32Min, kInvalid, 0},
      {"tiny quantity at a huge scale", "1e-1000", kInt32Max, kOutOfRange, 0},
      {"38 digits too large", "12345678901234567890123456789012345678", 0, kOutOfRange, 0},
      {"38 digits scaled down not whole", "12345678901234567890123456789012345678", -37, kInvalid,
       0},
      {"38 digits scaled down whole", "10000000000000000000000000000000000000", -37, kOk, 1},
      {"long fraction", "0." + std::string(50, '0') + "1", 3, kInvalid, 0},
      {"long fraction scaled up", "0." + std::string(50, '0') + "7", 51, kOk, 7},
      {"large mantissa, large negative exponent", "99999999999999999999999999999999999999e-37", 1,
       kInvalid, 0},
      {"large mantissa made whole", "99999999999999999999999999999999999999e-37", 37, kOutOfRange,
       0},
      {"large mantissa with factors of 5", "152587890625e-16", 16, kOk, 152587890625},
  };
  for (const ScaleCase& c : cases) {
    SCOPED_TRACE(c.name);
    CheckScaleCase(c, ParseAndScale(c.input, c.scale));
  }
}

TEST(QuantityScaleTest, ToBinaryScaled) {
  const std::vector<ScaleCase> cases = {
      {"MiB from Mi", "500Mi", 20, kOk, 500},
      {"MiB from Gi", "16Gi", 20, kOk, 16384},
      {"MiB from bytes", "1048576", 20, kOk, 1},
      {"MiB from G not whole", "1G", 20, kInvalid, 0},
      {"negative", "-1Ki", 10, kOk, -1},
      {"zero shift", "7", 0, kOk, 7},
      {"negative shift multiplies", "0.5", -1, kOk, 1},
      {"negative shift by 3", "0.125", -3, kOk, 1},
      {"negative shift not whole", "0.1", -3, kInvalid, 0},
      {"odd not whole", "1", 1, kInvalid, 0},
      {"decimal with enough factors of two", "1.024k", 10, kOk, 1},
      {"limit", "1024Ei", 20, kOk, kMaxAmount},
      {"above the limit", "1025Ei", 20, kOutOfRange, 0},
      {"huge decimal", "1e40", 20, kOutOfRange, 0},
      {"huge shift", "1", kInt32Max, kInvalid, 0},
      {"huge negative shift", "1", kInt32Min, kOutOfRange, 0},
  };
  for (const ScaleCase& c : cases) {
    SCOPED_TRACE(c.name);
    CheckScaleCase(c, ParseAndBinaryScale(c.input, c.scale));
  }
}

TEST(QuantityScaleTest, WorksOnUnnormalizedQuantities) {
  // Hand-built values need not follow Parse's normal form.
  Quantity q;
  q.digits = 1000;
  q.exp10 = -3;
  absl::StatusOr<int64_t> v = q.ToScaled(0, "1.000");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(*v, 1);

  q.digits = 3;
  q.exp10 = 0;
  q.exp2 = -1;  // 1.5
  v = q.ToScaled(1, "1.5");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(*v, 15);
  v = q.ToScaled(0, "1.5");
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument);

  q.negative = true;
  q.digits = 0;  // Zero ignores sign and exponents.
  q.exp10 = -100;
  v = q.ToScaled(0, "-0");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(*v, 0);
}

TEST(QuantityScaleTest, MessagesQuoteWhat) {
  absl::StatusOr<Quantity> q = Quantity::Parse("0.0001");
  ASSERT_TRUE(q.ok());
  absl::StatusOr<int64_t> v = q->ToScaled(3, "my-input");
  ASSERT_FALSE(v.ok());
  EXPECT_THAT(v.status().message(), HasSubstr("\"my-input\""));
  EXPECT_THAT(v.status().message(), HasSubstr("too precise"));

  q = Quantity::Parse("2Pi");
  ASSERT_TRUE(q.ok());
  v = q->ToBinaryScaled(0, "other-input");
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(v.status().message(), HasSubstr("\"other-input\""));
  EXPECT_THAT(v.status().message(), HasSubstr("out of range"));
}

// ---------------------------------------------------------------------------------------------
// Typed parsers.

struct TypedCase {
  std::string name;
  std::string input;
  absl::StatusCode code;  // kOk: `want` is the value.
  int64_t want;
  std::string message;  // Expected in the error besides the quoted input.
};

template <class A>
void CheckTyped(const std::vector<TypedCase>& cases, absl::StatusOr<A> (*parse)(std::string_view)) {
  for (const TypedCase& c : cases) {
    SCOPED_TRACE(c.name);
    const absl::StatusOr<A> got = parse(c.input);
    if (c.code == absl::StatusCode::kOk) {
      ASSERT_TRUE(got.ok()) << got.status();
      EXPECT_EQ(got->value(), c.want);
    } else {
      ASSERT_FALSE(got.ok()) << "got " << *got;
      EXPECT_EQ(got.status().code(), c.code) << got.status();
      EXPECT_THAT(got.status().message(), HasSubstr(Quoted(c.input)));
      EXPECT_THAT(got.status().message(), HasSubstr(c.message));
    }
  }
}

TEST(ParseMilliCpuTest, Table) {
  CheckTyped<MilliCpu>(
      {
          {"one CPU", "1", kOk, 1000, ""},
          {"two CPUs", "2", kOk, 2000, ""},
          {"milli", "100m", kOk, 100, ""},
          {"milli above one", "1500m", kOk, 1500, ""},
          {"half", "0.5", kOk, 500, ""},
          {"point five", ".5", kOk, 500, ""},
          {"quarter", "0.25", kOk, 250, ""},
          {"exponent", "1e3", kOk, 1000000, ""},
          {"negative exponent", "5e-3", kOk, 5, ""},
          {"kilo", "2k", kOk, 2000000, ""},
          {"binary", "1Ki", kOk, 1024000, ""},
          {"zero", "0", kOk, 0, ""},
          {"minus zero", "-0", kOk, 0, ""},
          {"minus zero milli", "-0m", kOk, 0, ""},
          {"one milli", "1m", kOk, 1, ""},
          {"one milli as decimal", "0.001", kOk, 1, ""},
          {"limit", "1125899906842624m", kOk, kMaxAmount, ""},
          {"limit as decimal", "1125899906842.624", kOk, kMaxAmount, ""},
          {"sub-milli", "0.0001", kInvalid, 0, "too precise for milli-CPU"},
          {"sub-milli suffix", "0.5m", kInvalid, 0, "1/1000 CPU"},
          {"sub-milli exponent", "1e-4", kInvalid, 0, "too precise"},
          {"micro suffix", "1u", kInvalid, 0, "unknown suffix"},
          {"negative", "-1", kInvalid, 0, "must not be negative"},
          {"negative milli", "-100m", kInvalid, 0, "must not be negative"},
          {"negative and too precise", "-0.0001", kInvalid, 0, "must not be negative"},
          {"above the limit", "1125899906843", kOutOfRange, 0, "out of range for milli-CPU"},
          {"huge", "1E", kOutOfRange, 0, "out of range"},
          {"empty", "", kInvalid, 0, "empty"},
          {"space", "1 ", kInvalid, 0, "unexpected character"},
      },
      &ParseMilliCpu);
}

TEST(ParseMemoryBytesTest, Table) {
  CheckTyped<MemoryBytes>(
      {
          {"gibi", "16Gi", kOk, 17179869184, ""},
          {"mebi", "500Mi", kOk, 524288000, ""},
          {"kibi", "1Ki", kOk, 1024, ""},
          {"tebi", "2Ti", kOk, int64_t{2} << 40, ""},
          {"pebi is the limit", "1Pi", kOk, kMaxAmount, ""},
          {"mega", "500M", kOk, 500000000, ""},
          {"giga", "1G", kOk, 1000000000, ""},
          {"kilo", "12k", kOk, 12000, ""},
          {"tera", "3T", kOk, 3000000000000, ""},
          {"peta", "1P", kOk, 1000000000000000, ""},
          {"exponent", "1e3", kOk, 1000, ""},
          {"big exponent", "1e9", kOk, 1000000000, ""},
          {"plain", "1234", kOk, 1234, ""},
          {"half gibi", "0.5Gi", kOk, 536870912, ""},
          {"fractional kilo", "1.5k", kOk, 1500, ""},
          {"thousand milli", "1000m", kOk, 1, ""},
          {"zero", "0", kOk, 0, ""},
          {"minus zero", "-0Gi", kOk, 0, ""},
          {"limit", "1125899906842624", kOk, kMaxAmount, ""},
          {"fractional byte", "1.5", kInvalid, 0, "too precise for bytes"},
          {"milli byte", "100m", kInvalid, 0, "not a whole number of bytes"},
          {"fraction of Ki", "0.1Ki", kInvalid, 0, "too precise"},
          {"negative", "-1Gi", kInvalid, 0, "must not be negative"},
          {"above the limit", "1125899906842625", kOutOfRange, 0, "out of range for bytes"},
          {"two pebi", "2Pi", kOutOfRange, 0, "out of range"},
          {"exbi", "1Ei", kOutOfRange, 0, "out of range"},
          {"exa", "1E", kOutOfRange, 0, "out of range"},
          {"peta above the limit", "1.2P", kOutOfRange, 0, "out of range"},
          {"uppercase kilo", "1K", kInvalid, 0, "unknown suffix"},
          {"bytes suffix", "1Kb", kInvalid, 0, "unknown suffix"},
      },
      &ParseMemoryBytes);
}

TEST(ParseGpuMilliTest, Table) {
  CheckTyped<GpuMilli>(
      {
          {"one GPU", "1", kOk, 1000, ""},
          {"quarter", "0.25", kOk, 250, ""},
          {"milli", "250m", kOk, 250, ""},
          {"several", "8", kOk, 8000, ""},
          {"exponent", "25e-2", kOk, 250, ""},
          {"zero", "0", kOk, 0, ""},
          {"minus zero", "-0", kOk, 0, ""},
          {"one milli", "1m", kOk, 1, ""},
          {"sub-milli", "0.0001", kInvalid, 0, "too precise for milli-GPU"},
          {"sub-milli message", "0.0005", kInvalid, 0, "not a whole number of 1/1000 GPU"},
          {"half milli", "0.5m", kInvalid, 0, "too precise"},
          {"negative", "-1", kInvalid, 0, "must not be negative"},
          {"negative milli", "-250m", kInvalid, 0, "must not be negative"},
          {"above the limit", "2e12", kOutOfRange, 0, "out of range for milli-GPU"},
          {"unknown suffix", "1gpu", kInvalid, 0, "unknown suffix"},
      },
      &ParseGpuMilli);
}

TEST(ParseGpuMemMiBTest, Table) {
  CheckTyped<GpuMemMiB>(
      {
          {"gibi", "16Gi", kOk, 16384, ""},
          {"mebi", "500Mi", kOk, 500, ""},
          {"half gibi", "0.5Gi", kOk, 512, ""},
          {"bytes", "1048576", kOk, 1, ""},
          {"kibi", "1024Ki", kOk, 1, ""},
          {"tebi", "80Ti", kOk, 80 * 1024 * 1024, ""},
          {"exbi", "1Ei", kOk, int64_t{1} << 40, ""},
          {"limit", "1024Ei", kOk, kMaxAmount, ""},
          {"decimal that happens to be whole", "1.048576M", kOk, 1, ""},
          {"zero", "0", kOk, 0, ""},
          {"minus zero", "-0Mi", kOk, 0, ""},
          {"giga", "1G", kInvalid, 0, "not a whole number of MiB"},
          {"half mebi", "0.5Mi", kInvalid, 0, "too precise for GPU memory in MiB"},
          {"one kibi", "1Ki", kInvalid, 0, "too precise"},
          {"one byte", "1", kInvalid, 0, "too precise"},
          {"negative", "-16Gi", kInvalid, 0, "must not be negative"},
          {"above the limit", "1025Ei", kOutOfRange, 0, "out of range for GPU memory in MiB"},
          {"huge", "1e30", kOutOfRange, 0, "out of range"},
          {"garbage", "16GB", kInvalid, 0, "unknown suffix"},
      },
      &ParseGpuMemMiB);
}

// ---------------------------------------------------------------------------------------------
// Formatters.

TEST(FormatTest, HeaderExamples) {
  EXPECT_EQ(FormatMilliCpu(MilliCpu(1500)), "1500m");
  EXPECT_EQ(FormatMilliCpu(MilliCpu(2000)), "2");
  EXPECT_EQ(FormatMemoryBytes(MemoryBytes(17179869184)), "16Gi");
  EXPECT_EQ(FormatMemoryBytes(MemoryBytes(1000000)), "1M");
  EXPECT_EQ(FormatMemoryBytes(MemoryBytes(1234)), "1234");
  EXPECT_EQ(FormatGpuMilli(GpuMilli(250)), "250m");
  EXPECT_EQ(FormatGpuMilli(GpuMilli(1000)), "1");
  EXPECT_EQ(FormatGpuMemMiB(GpuMemMiB(16384)), "16Gi");
  EXPECT_EQ(FormatGpuMemMiB(GpuMemMiB(500)), "500Mi");
}

struct FormatCase {
  std::string name;
  int64_t value;
  std::string want;
};

TEST(FormatTest, Milli) {
  const std::vector<FormatCase> cases = {
      {"zero", 0, "0"},
      {"one milli", 1, "1m"},
      {"almost one", 999, "999m"},
      {"one", 1000, "1"},
      {"just above one", 1001, "1001m"},
      {"many", 64000, "64"},
      {"limit", kMaxAmount, "1125899906842624m"},
      {"negative", -1500, "-1500m"},
      {"negative whole", -2000, "-2"},
  };
  for (const FormatCase& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(FormatMilliCpu(MilliCpu(c.value)), c.want);
    EXPECT_EQ(FormatGpuMilli(GpuMilli(c.value)), c.want);
  }
}

TEST(FormatTest, MemoryBytes) {
  const std::vector<FormatCase> cases = {
      {"zero", 0, "0"},
      {"one", 1, "1"},
      {"plain", 1234, "1234"},
      {"not a multiple of 1024", 1536, "1536"},
      {"kibi", 1024, "1Ki"},
      {"kibi multiple", 3072, "3Ki"},
      {"binary preferred over decimal", 1024000, "1000Ki"},
      {"mebi", int64_t{500} << 20, "500Mi"},
      {"gibi", int64_t{16} << 30, "16Gi"},
      {"1.5 gibi", int64_t{1536} << 20, "1536Mi"},
      {"tebi", int64_t{2} << 40, "2Ti"},
      {"pebi", kMaxAmount, "1Pi"},
      {"exbi", int64_t{1} << 60, "1Ei"},
      {"several exbi", int64_t{7} << 60, "7Ei"},
      {"kilo", 1000, "1k"},
      {"kilo multiple", 12000, "12k"},
      {"mega", 1000000, "1M"},
      {"mega multiple", 500000000, "500M"},
      {"giga", 1000000000, "1G"},
      {"giga multiple", 7000000000, "7G"},
      // 10^n for n >= 10 is a multiple of 2^10, so binary suffixes win from tera upwards.
      {"tera is a multiple of Ki", 1000000000000, "976562500Ki"},
      {"peta is a multiple of Ki", 5000000000000000, "4882812500000Ki"},
      {"exa is a multiple of Ki", 3000000000000000000, "2929687500000000Ki"},
      {"just below the limit", kMaxAmount - 1, "1125899906842623"},
      {"negative", -1024, "-1Ki"},
      {"negative decimal", -2000, "-2k"},
      {"int64 min", std::numeric_limits<int64_t>::min(), "-8Ei"},
  };
  for (const FormatCase& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(FormatMemoryBytes(MemoryBytes(c.value)), c.want);
  }
}

TEST(FormatTest, GpuMemMiB) {
  const std::vector<FormatCase> cases = {
      {"zero", 0, "0"},
      {"one", 1, "1Mi"},
      {"mebi", 500, "500Mi"},
      {"not a multiple of 1024", 1536, "1536Mi"},
      {"gibi", 1024, "1Gi"},
      {"gibi multiple", 16384, "16Gi"},
      {"80 gibi", 81920, "80Gi"},
      {"tebi", int64_t{1} << 20, "1Ti"},
      {"exbi", int64_t{3} << 40, "3Ei"},
      {"limit", kMaxAmount, "1024Ei"},
      {"negative", -2048, "-2Gi"},
      {"int64 max does not overflow", std::numeric_limits<int64_t>::max(), "9223372036854775807Mi"},
  };
  for (const FormatCase& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(FormatGpuMemMiB(GpuMemMiB(c.value)), c.want);
  }
}

// ---------------------------------------------------------------------------------------------
// Round trips: Parse(Format(x)) == x for every unit.

// A deterministic set of amounts in [0, kMaxAmount] that reaches every formatting branch.
std::vector<int64_t> RoundTripValues() {
  std::vector<int64_t> values;
  for (int64_t v = 0; v <= 2100; ++v) values.push_back(v);
  for (int bit = 0; bit <= 50; ++bit) {
    const int64_t p = int64_t{1} << bit;
    for (int64_t k : {1, 3, 5, 7, 1000, 1023, 1024, 1025}) {
      if (k <= kMaxAmount / p) values.push_back(k * p);
    }
    values.push_back(p - 1);
  }
  for (int64_t p = 1; p <= kMaxAmount; p *= 10) {
    for (int64_t k : {1, 2, 9, 12, 999, 1001, 1024}) {
      if (k <= kMaxAmount / p) values.push_back(k * p);
    }
  }
  std::mt19937_64 rng(20240601);  // Fixed seed: the raw engine output is fully specified.
  for (int i = 0; i < 5000; ++i) {
    values.push_back(static_cast<int64_t>(rng() % (static_cast<uint64_t>(kMaxAmount) + 1)));
    // Multiples of large powers of two and ten reach the suffix branches.
    const int64_t mantissa = static_cast<int64_t>(rng() % 1024);
    const int shift = static_cast<int>(rng() % 41);
    values.push_back(mantissa << shift);
    values.push_back(static_cast<int64_t>(rng() % 1000) * 1000000000);
  }
  values.push_back(kMaxAmount);
  return values;
}

TEST(RoundTripTest, EveryUnit) {
  const std::vector<int64_t> values = RoundTripValues();
  ASSERT_GT(values.size(), 15000u);
  for (const int64_t v : values) {
    SCOPED_TRACE(absl::StrCat("value ", v));
    ASSERT_GE(v, 0);
    ASSERT_LE(v, kMaxAmount);

    const std::string cpu = FormatMilliCpu(MilliCpu(v));
    const absl::StatusOr<MilliCpu> cpu_back = ParseMilliCpu(cpu);
    ASSERT_TRUE(cpu_back.ok()) << cpu << ": " << cpu_back.status();
    EXPECT_EQ(*cpu_back, MilliCpu(v)) << cpu;

    const std::string mem = FormatMemoryBytes(MemoryBytes(v));
    const absl::StatusOr<MemoryBytes> mem_back = ParseMemoryBytes(mem);
    ASSERT_TRUE(mem_back.ok()) << mem << ": " << mem_back.status();
    EXPECT_EQ(*mem_back, MemoryBytes(v)) << mem;

    const std::string gpu = FormatGpuMilli(GpuMilli(v));
    const absl::StatusOr<GpuMilli> gpu_back = ParseGpuMilli(gpu);
    ASSERT_TRUE(gpu_back.ok()) << gpu << ": " << gpu_back.status();
    EXPECT_EQ(*gpu_back, GpuMilli(v)) << gpu;

    const std::string mib = FormatGpuMemMiB(GpuMemMiB(v));
    const absl::StatusOr<GpuMemMiB> mib_back = ParseGpuMemMiB(mib);
    ASSERT_TRUE(mib_back.ok()) << mib << ": " << mib_back.status();
    EXPECT_EQ(*mib_back, GpuMemMiB(v)) << mib;
  }
}

TEST(RoundTripTest, NegativeAmountsThroughQuantity) {
  // Typed parsers reject negatives, but formatted negatives are still valid quantities.
  for (const int64_t v : {int64_t{-1}, int64_t{-999}, int64_t{-1000}, int64_t{-1536},
                          int64_t{-1024000}, -kMaxAmount}) {
    SCOPED_TRACE(absl::StrCat("value ", v));
    const std::string milli = FormatMilliCpu(MilliCpu(v));
    EXPECT_EQ(ParseAndScale(milli, 3).value_or(0), v) << milli;
    const std::string bytes = FormatMemoryBytes(MemoryBytes(v));
    EXPECT_EQ(ParseAndScale(bytes, 0).value_or(0), v) << bytes;
    const std::string mib = FormatGpuMemMiB(GpuMemMiB(v));
    EXPECT_EQ(ParseAndBinaryScale(mib, 20).value_or(0), v) << mib;
  }
}

TEST(RoundTripTest, FormatIsCanonical) {
  // Different spellings of one amount format identically.
  for (const char* text : {"1Gi", "1024Mi", "1048576Ki", "1073741824", "0.0009765625Ti"}) {
    SCOPED_TRACE(text);
    const absl::StatusOr<MemoryBytes> mem = ParseMemoryBytes(text);
    ASSERT_TRUE(mem.ok()) << mem.status();
    EXPECT_EQ(FormatMemoryBytes(*mem), "1Gi");
  }
  for (const char* text : {"1.5", "1500m", "15e-1", "0.0015k"}) {
    SCOPED_TRACE(text);
    const absl::StatusOr<MilliCpu> cpu = ParseMilliCpu(text);
    ASSERT_TRUE(cpu.ok()) << cpu.status();
    EXPECT_EQ(FormatMilliCpu(*cpu), "1500m");
  }
}

}  // namespace
}  // namespace gpusched
