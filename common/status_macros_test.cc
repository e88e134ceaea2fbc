#include "common/status_macros.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gpusched {
namespace {

absl::StatusOr<int> Half(int x) {
  if (x % 2 != 0) return absl::InvalidArgumentError("odd");
  return x / 2;
}

absl::Status Check(bool ok, std::vector<std::string>* trail, std::string step) {
  trail->push_back(std::move(step));
  return ok ? absl::OkStatus() : absl::FailedPreconditionError("check failed");
}

// ---------------------------------------------------------------------------------------------
// RETURN_IF_ERROR

absl::Status TwoChecks(bool first_ok, bool second_ok, std::vector<std::string>* trail) {
  RETURN_IF_ERROR(Check(first_ok, trail, "first"));
  RETURN_IF_ERROR(Check(second_ok, trail, "second"));
  trail->push_back("end");
  return absl::OkStatus();
}

TEST(StatusMacrosTest, ReturnIfErrorContinuesPastOkStatuses) {
  std::vector<std::string> trail;
  EXPECT_TRUE(TwoChecks(true, true, &trail).ok());
  EXPECT_THAT(trail, ::testing::ElementsAre("first", "second", "end"));
}

TEST(StatusMacrosTest, ReturnIfErrorReturnsTheFirstErrorEarly) {
  struct Case {
    std::string name;
    bool first_ok;
    bool second_ok;
    std::vector<std::string> want_trail;
  };
  const std::vector<Case> cases = {
      {"first fails", false, true, {"first"}},
      {"second fails", true, false, {"first", "second"}},
      {"both fail", false, false, {"first"}},
  };
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.name);
    std::vector<std::string> trail;
    const absl::Status s = TwoChecks(tc.first_ok, tc.second_ok, &trail);
    EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_EQ(s.message(), "check failed");
    EXPECT_EQ(trail, tc.want_trail);
  }
}

absl::Status EvaluatesOnce(int* calls) {
  RETURN_IF_ERROR(([calls] {
    ++*calls;
    return absl::OkStatus();
  })());
  return absl::OkStatus();
}

TEST(StatusMacrosTest, ReturnIfErrorEvaluatesTheExpressionOnce) {
  int calls = 0;
  EXPECT_TRUE(EvaluatesOnce(&calls).ok());
  EXPECT_EQ(calls, 1);
}

// Usable in a function returning StatusOr, and as the body of an unbraced if/else.
absl::StatusOr<int> InStatusOr(bool ok) {
  if (ok)
    RETURN_IF_ERROR(absl::OkStatus());
  else
    RETURN_IF_ERROR(absl::NotFoundError("gone"));
  return 7;
}

TEST(StatusMacrosTest, ReturnIfErrorWorksInStatusOrFunctionsAndUnbracedIf) {
  EXPECT_EQ(InStatusOr(true).value(), 7);
  EXPECT_EQ(InStatusOr(false).status().code(), absl::StatusCode::kNotFound);
}

// ---------------------------------------------------------------------------------------------
// ASSIGN_OR_RETURN

absl::StatusOr<int> Quarter(int x) {
  ASSIGN_OR_RETURN(int h, Half(x));
  ASSIGN_OR_RETURN(int q, Half(h));  // two in one function
  return q;
}

TEST(StatusMacrosTest, AssignOrReturnAssignsOnOkAndReturnsTheErrorOtherwise) {
  struct Case {
    std::string name;
    int input;
    absl::StatusCode want_code;
    int want_value;
  };
  const std::vector<Case> cases = {
      {"both halvings succeed", 8, absl::StatusCode::kOk, 2},
      {"first halving fails", 7, absl::StatusCode::kInvalidArgument, 0},
      {"second halving fails", 6, absl::StatusCode::kInvalidArgument, 0},
      {"zero", 0, absl::StatusCode::kOk, 0},
  };
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.name);
    const absl::StatusOr<int> got = Quarter(tc.input);
    EXPECT_EQ(got.status().code(), tc.want_code);
    if (got.ok()) {
      EXPECT_EQ(*got, tc.want_value);
    } else {
      EXPECT_EQ(got.status().message(), "odd");
    }
  }
}

absl::Status AssignToExisting(int x, int* out, bool* reached_end) {
  int value = -1;
  ASSIGN_OR_RETURN(value, Half(x));
  *out = value;
  *reached_end = true;
  return absl::OkStatus();
}

TEST(StatusMacrosTest, AssignOrReturnAssignsToAnExistingVariable) {
  int out = 0;
  bool reached_end = false;
  EXPECT_TRUE(AssignToExisting(10, &out, &reached_end).ok());
  EXPECT_EQ(out, 5);
  EXPECT_TRUE(reached_end);

  out = 0;
  reached_end = false;
  EXPECT_EQ(AssignToExisting(3, &out, &reached_end).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(out, 0);
  EXPECT_FALSE(reached_end);
}

absl::StatusOr<std::unique_ptr<std::string>> MakeBox(bool ok) {
  if (!ok) return absl::ResourceExhaustedError("no box");
  return std::make_unique<std::string>("payload");
}

absl::StatusOr<std::string> Unbox(bool ok) {
  ASSIGN_OR_RETURN(std::unique_ptr<std::string> box, MakeBox(ok));
  ASSIGN_OR_RETURN(auto second, MakeBox(true));
  return *box + "+" + *second;
}

TEST(StatusMacrosTest, AssignOrReturnMovesMoveOnlyValues) {
  const absl::StatusOr<std::string> ok = Unbox(true);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(*ok, "payload+payload");

  const absl::StatusOr<std::string> err = Unbox(false);
  EXPECT_EQ(err.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(err.status().message(), "no box");
}

absl::Status PlainStatusFunction(int x, int* out) {
  ASSIGN_OR_RETURN(*out, Half(x));
  return absl::OkStatus();
}

TEST(StatusMacrosTest, AssignOrReturnWorksInFunctionsReturningPlainStatus) {
  int out = 0;
  EXPECT_TRUE(PlainStatusFunction(4, &out).ok());
  EXPECT_EQ(out, 2);
  EXPECT_EQ(PlainStatusFunction(5, &out).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(out, 2);
}

}  // namespace
}  // namespace gpusched
