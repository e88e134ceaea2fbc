#include "scheduler/api/status.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gpusched::framework {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

TEST(StatusTest, DefaultIsSuccessWithNothingAttached) {
  const Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.code(), Code::kSuccess);
  EXPECT_THAT(s.reasons(), IsEmpty());
  EXPECT_EQ(s.plugin(), "");
  EXPECT_EQ(s.Message(), "");
  EXPECT_EQ(s.ToString(), "Success");
  EXPECT_EQ(s, Status::Success());
}

TEST(StatusTest, FactoriesSetCodeAndReason) {
  struct Case {
    std::string name;
    Status status;
    Code want_code;
    std::vector<std::string> want_reasons;
    bool ok;
    bool rejection;
    bool skip;
    bool wait;
  };
  const std::vector<Case> cases = {
      {"success", Status::Success(), Code::kSuccess, {}, true, false, false, false},
      {"error", Status::Error("boom"), Code::kError, {"boom"}, false, false, false, false},
      {"unschedulable", Status::Unschedulable("Insufficient cpu"), Code::kUnschedulable,
       {"Insufficient cpu"}, false, true, false, false},
      {"unresolvable", Status::UnschedulableAndUnresolvable("node(s) had no GPUs"),
       Code::kUnschedulableAndUnresolvable, {"node(s) had no GPUs"}, false, true, false, false},
      {"wait", Status::Wait(), Code::kWait, {}, false, false, false, true},
      {"skip", Status::Skip(), Code::kSkip, {}, false, false, true, false},
      {"pending", Status(Code::kPending, {"waiting on quota"}), Code::kPending,
       {"waiting on quota"}, false, false, false, false},
  };
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.name);
    EXPECT_EQ(tc.status.code(), tc.want_code);
    EXPECT_EQ(tc.status.reasons(), tc.want_reasons);
    EXPECT_EQ(tc.status.ok(), tc.ok);
    EXPECT_EQ(tc.status.IsRejection(), tc.rejection);
    EXPECT_EQ(tc.status.IsSkip(), tc.skip);
    EXPECT_EQ(tc.status.IsWait(), tc.wait);
  }
}

TEST(StatusTest, CodeNameNamesEveryCode) {
  struct Case {
    std::string name;
    Code code;
    std::string want;
  };
  const std::vector<Case> cases = {
      {"success", Code::kSuccess, "Success"},
      {"error", Code::kError, "Error"},
      {"unschedulable", Code::kUnschedulable, "Unschedulable"},
      {"unresolvable", Code::kUnschedulableAndUnresolvable, "UnschedulableAndUnresolvable"},
      {"wait", Code::kWait, "Wait"},
      {"skip", Code::kSkip, "Skip"},
      {"pending", Code::kPending, "Pending"},
  };
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.name);
    EXPECT_EQ(CodeName(tc.code), tc.want);
  }
}

TEST(StatusTest, FromErrorMapsOkToSuccess) {
  const Status s = Status::FromError(absl::OkStatus());
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.code(), Code::kSuccess);
  EXPECT_THAT(s.reasons(), IsEmpty());
}

TEST(StatusTest, FromErrorMapsEveryErrorToErrorKeepingItsMessage) {
  struct Case {
    std::string name;
    absl::Status error;
  };
  const std::vector<Case> cases = {
      {"internal", absl::InternalError("disk on fire")},
      {"not found", absl::NotFoundError("no such node")},
      {"invalid argument", absl::InvalidArgumentError("args.x: expected an integer")},
      {"unavailable", absl::UnavailableError("apiserver down")},
  };
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.name);
    const Status s = Status::FromError(tc.error);
    EXPECT_EQ(s.code(), Code::kError);
    EXPECT_FALSE(s.ok());
    EXPECT_FALSE(s.IsRejection());
    EXPECT_THAT(s.reasons(), ElementsAre(std::string(tc.error.message())));
  }
}

TEST(StatusTest, MessageJoinsReasonsWithCommas) {
  struct Case {
    std::string name;
    std::vector<std::string> reasons;
    std::string want;
  };
  const std::vector<Case> cases = {
      {"none", {}, ""},
      {"one", {"Insufficient cpu"}, "Insufficient cpu"},
      {"three", {"Insufficient cpu", "Insufficient memory", "Insufficient GPU share"},
       "Insufficient cpu, Insufficient memory, Insufficient GPU share"},
  };
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.name);
    EXPECT_EQ(Status(Code::kUnschedulable, tc.reasons).Message(), tc.want);
  }
}

TEST(StatusTest, ToStringIncludesCodePluginAndReasons) {
  struct Case {
    std::string name;
    Status status;
    std::string want;
  };
  const std::vector<Case> cases = {
      {"with plugin and reason",
       Status::Unschedulable("Insufficient cpu").WithPlugin("NodeResourcesFit"),
       "Unschedulable (NodeResourcesFit): Insufficient cpu"},
      {"without plugin", Status::Unschedulable("Insufficient cpu"),
       "Unschedulable: Insufficient cpu"},
      {"plugin without reasons", Status::Skip().WithPlugin("GpuTopology"), "Skip (GpuTopology)"},
      {"several reasons",
       Status(Code::kUnschedulableAndUnresolvable, {"a", "b"}).WithPlugin("TaintToleration"),
       "UnschedulableAndUnresolvable (TaintToleration): a, b"},
      {"error", Status::Error("boom"), "Error: boom"},
  };
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.name);
    EXPECT_EQ(tc.status.ToString(), tc.want);
  }
}

TEST(StatusTest, SetPluginRecordsThePlugin) {
  Status s = Status::Unschedulable("Insufficient cpu");
  s.set_plugin("NodeResourcesFit");
  EXPECT_EQ(s.plugin(), "NodeResourcesFit");
  EXPECT_THAT(s.ToString(), HasSubstr("NodeResourcesFit"));
  EXPECT_THAT(s.ToString(), HasSubstr("Insufficient cpu"));
}

TEST(StatusTest, EqualityComparesCodeAndReasons) {
  EXPECT_EQ(Status::Unschedulable("x"), Status(Code::kUnschedulable, {"x"}));
  EXPECT_NE(Status::Unschedulable("x"), Status::Unschedulable("y"));
  EXPECT_NE(Status::Unschedulable("x"), Status::UnschedulableAndUnresolvable("x"));
  EXPECT_NE(Status::Success(), Status::Skip());
}

}  // namespace
}  // namespace gpusched::framework
