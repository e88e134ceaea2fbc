#include "cli/demo.h"

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gpusched::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

struct DemoRun {
  int rc = -1;
  std::string out;
  std::string err;
};

DemoRun RunCaptured(const std::vector<std::string>& args) {
  std::ostringstream out;
  std::ostringstream err;
  DemoRun r;
  r.rc = RunDemo(args, out, err);
  r.out = out.str();
  r.err = err.str();
  return r;
}

int Count(const std::string& text, const std::string& needle) {
  int n = 0;
  for (size_t pos = text.find(needle); pos != std::string::npos;
       pos = text.find(needle, pos + needle.size())) {
    ++n;
  }
  return n;
}

// The part of the output for one profile: from its header to the next header (or the end).
std::string Section(const std::string& out, const std::string& profile) {
  const std::string header = "Profile \"" + profile + "\"";
  const size_t begin = out.find(header);
  if (begin == std::string::npos) return "";
  const size_t end = out.find("Profile \"", begin + header.size());
  return out.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
}

// The decision line of `pod` in a section ("  <pod>  <request>  <decision>").
std::string LineFor(const std::string& section, const std::string& pod) {
  for (absl::string_view line : absl::StrSplit(section, '\n')) {
    if (absl::StartsWith(line, "  " + pod + " ")) return std::string(line);
  }
  return "";
}

std::string WriteTempFile(const std::string& name, const std::string& contents) {
  const std::string path = ::testing::TempDir() + "/" + name;
  std::ofstream f(path, std::ios::trunc);
  f << contents;
  return path;
}

TEST(Demo, DefaultRunSchedulesWithBothBuiltinProfiles) {
  const DemoRun r = RunCaptured({});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_THAT(r.out, HasSubstr("Seed 42."));
  EXPECT_THAT(r.out, HasSubstr("Profile \"baseline\": 12 pods in queue order over 6 nodes"));
  EXPECT_THAT(r.out, HasSubstr("Profile \"binpack\": 12 pods in queue order over 6 nodes"));
  EXPECT_LT(r.out.find("Profile \"baseline\""), r.out.find("Profile \"binpack\""));
  for (const std::string profile : {"baseline", "binpack"}) {
    SCOPED_TRACE(profile);
    const std::string section = Section(r.out, profile);
    EXPECT_EQ(Count(section, "  8 of 12 pods bound.\n"), 1);
  }
}

TEST(Demo, H100JobIsRejectedBecauseNoNodeHasThatModel) {
  const DemoRun r = RunCaptured({});
  ASSERT_EQ(r.rc, 0) << r.err;
  for (const std::string profile : {"baseline", "binpack"}) {
    SCOPED_TRACE(profile);
    const std::string line = LineFor(Section(r.out, profile), "h100-job");
    ASSERT_NE(line, "");
    EXPECT_THAT(line, HasSubstr("0/6 nodes are available"));
    EXPECT_THAT(line, HasSubstr("no GPU of model H100-SXM5-80GB"));
    EXPECT_THAT(line, Not(HasSubstr("bound to")));
  }
}

TEST(Demo, InferBertGetsHalfOfAT4) {
  const DemoRun r = RunCaptured({});
  ASSERT_EQ(r.rc, 0) << r.err;
  for (const std::string profile : {"baseline", "binpack"}) {
    SCOPED_TRACE(profile);
    const std::string line = LineFor(Section(r.out, profile), "infer-bert");
    ASSERT_NE(line, "");
    EXPECT_THAT(line, HasSubstr("500m GPU + 8Gi Tesla-T4"));  // the request
    EXPECT_THAT(line, HasSubstr("bound to t4-box-"));
    EXPECT_THAT(line, HasSubstr(": 500m, 8192 MiB)"));        // the share it got
  }
}

TEST(Demo, TaintedCanaryAndOversizedPodsStayPending) {
  const DemoRun r = RunCaptured({});
  ASSERT_EQ(r.rc, 0) << r.err;
  for (const std::string profile : {"baseline", "binpack"}) {
    SCOPED_TRACE(profile);
    const std::string section = Section(r.out, profile);
    EXPECT_THAT(LineFor(section, "canary-test"),
                HasSubstr("node(s) had untolerated taint {gpusched.io/canary: true}"));
    EXPECT_THAT(LineFor(section, "huge-memory"), HasSubstr("Insufficient memory"));
    EXPECT_THAT(LineFor(section, "llm-train-0"), HasSubstr("bound to dgx-a100-"));
  }
}

TEST(Demo, OutputIsDeterministic) {
  const DemoRun first = RunCaptured({});
  const DemoRun second = RunCaptured({});
  ASSERT_EQ(first.rc, 0) << first.err;
  ASSERT_EQ(second.rc, 0) << second.err;
  EXPECT_EQ(first.out, second.out);
  const DemoRun seeded1 = RunCaptured({"--seed", "7"});
  const DemoRun seeded2 = RunCaptured({"--seed", "7"});
  ASSERT_EQ(seeded1.rc, 0) << seeded1.err;
  EXPECT_THAT(seeded1.out, HasSubstr("Seed 7."));
  EXPECT_EQ(seeded1.out, seeded2.out);
}

TEST(Demo, ProfileFlagRunsOnlyThatProfile) {
  const DemoRun r = RunCaptured({"--profile", "binpack"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("Profile \"binpack\""));
  EXPECT_THAT(r.out, Not(HasSubstr("Profile \"baseline\"")));
  EXPECT_EQ(Count(r.out, "8 of 12 pods bound."), 1);
  // The same profile gives the same decisions alone as after the other one.
  EXPECT_EQ(Section(r.out, "binpack"), Section(RunCaptured({}).out, "binpack"));
}

TEST(Demo, BadArgumentsFailWithAMessage) {
  struct Case {
    std::string name;
    std::vector<std::string> args;
    int want_rc;
    std::vector<std::string> want_in_err;
  };
  const std::vector<Case> cases = {
      {"seed not a number", {"--seed", "abc"}, 2, {"--seed", "abc"}},
      {"negative seed", {"--seed", "-1"}, 2, {"--seed", "-1"}},
      {"seed without value", {"--seed"}, 2, {"--seed: 1 required", "--help"}},
      {"unknown flag", {"--bogus"}, 2, {"--bogus", "--help"}},
      {"positional argument", {"baseline"}, 2, {"not expected: baseline", "--help"}},
      {"profile without value", {"--profile"}, 2, {"--profile", "--help"}},
      {"profile given twice", {"--profile", "a", "--profile", "b"}, 2, {"--profile"}},
      {"next flag taken as the value", {"--profile", "--seed", "3"}, 2,
       {"\"--seed\" is a flag, not a value"}},
      {"unknown profile", {"--profile", "nope"}, 1,
       {"no profile named \"nope\"", "baseline, binpack"}},
      {"missing profiles file", {"--profiles", "/nonexistent/gpusched/profiles.yaml"}, 1,
       {"/nonexistent/gpusched/profiles.yaml"}},
  };
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.name);
    const DemoRun r = RunCaptured(tc.args);
    EXPECT_EQ(r.rc, tc.want_rc);
    EXPECT_THAT(r.err, HasSubstr("demo: "));
    for (const std::string& want : tc.want_in_err) EXPECT_THAT(r.err, HasSubstr(want));
    EXPECT_THAT(r.out, Not(HasSubstr("pods bound")));
  }
}

TEST(Demo, ProfilesFileSuppliesCustomProfiles) {
  const std::string path = WriteTempFile("demo_test_profiles.yaml", R"yaml(
profiles:
  - name: fit-only
    plugins:
      - name: PrioritySort
      - name: NodeResourcesFit
        args: {scoringStrategy: MostAllocated}
      - name: DefaultBinder
)yaml");
  const DemoRun r = RunCaptured({"--profiles", path, "--profile", "fit-only"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("Profile \"fit-only\": 12 pods"));
  EXPECT_THAT(r.out, Not(HasSubstr("Profile \"baseline\"")));
  // Without TaintToleration the tainted canary node takes any GPU pod: finetune (2 GPUs of any
  // model) lands there, and no decision mentions a taint.
  EXPECT_THAT(LineFor(Section(r.out, "fit-only"), "finetune"), HasSubstr("bound to a10-canary"));
  EXPECT_THAT(r.out, Not(HasSubstr("untolerated taint")));
}

TEST(Demo, InvalidProfilesFileFailsNamingThePath) {
  struct Case {
    std::string name;
    std::string file;
    std::string contents;
    std::string want_in_err;
  };
  const std::vector<Case> cases = {
      {"not yaml", "demo_test_bad_yaml.yaml", "profiles: [ {name: x\n", "not valid YAML"},
      {"no profiles key", "demo_test_no_profiles.yaml", "other: 1\n", "profiles"},
      {"unknown plugin", "demo_test_unknown_plugin.yaml",
       "profiles:\n  - name: baseline\n    plugins:\n      - name: NoSuchPlugin\n",
       "NoSuchPlugin"},
  };
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.name);
    const std::string path = WriteTempFile(tc.file, tc.contents);
    const DemoRun r = RunCaptured({"--profiles", path, "--profile", "baseline"});
    EXPECT_NE(r.rc, 0);
    EXPECT_THAT(r.err, HasSubstr(tc.want_in_err));
    EXPECT_THAT(r.err, HasSubstr(path));
    EXPECT_THAT(r.out, Not(HasSubstr("pods bound")));
  }
}

}  // namespace
}  // namespace gpusched::cli
