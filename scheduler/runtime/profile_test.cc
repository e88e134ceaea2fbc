#include "scheduler/runtime/profile.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gpusched::runtime {
namespace {

using ::testing::HasSubstr;

TEST(ProfileTest, ParsesYamlWithWeightsAndArgs) {
  auto p = ParseProfiles(R"(
profiles:
  - name: spread
    plugins:
      - name: PrioritySort
      - name: NodeResourcesFit
        weight: 3
        args:
          scoringStrategy: MostAllocated
          resources: {cpu: 1, gpu: 2}
          labels: [a, "b"]
          quoted: "42"
      - name: DefaultBinder
        points: [Bind]
)",
                         "p.yaml");
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_EQ(p->size(), 1u);
  const Profile& prof = (*p)[0];
  EXPECT_EQ(prof.name, "spread");
  ASSERT_EQ(prof.plugins.size(), 3u);
  EXPECT_EQ(prof.plugins[0].weight, std::nullopt);
  EXPECT_EQ(prof.plugins[2].points, (std::vector<std::string>{"Bind"}));
  EXPECT_EQ(prof.plugins[1].weight, 3);
  EXPECT_EQ(prof.plugins[1].location, "p.yaml:6:9");  // the text starts with a newline
  const framework::PluginArgs& args = prof.plugins[1].args;
  std::string strategy;
  ASSERT_TRUE(args.Get("scoringStrategy", strategy).ok());
  EXPECT_EQ(strategy, "MostAllocated");
  framework::PluginArgs res;
  ASSERT_TRUE(args.Get("resources", res).ok());
  int64_t gpu = 0;
  ASSERT_TRUE(res.Get("gpu", gpu).ok());
  EXPECT_EQ(gpu, 2);
  std::vector<std::string> labels;
  ASSERT_TRUE(args.Get("labels", labels).ok());
  EXPECT_EQ(labels, (std::vector<std::string>{"a", "b"}));
  std::string quoted;
  EXPECT_TRUE(args.Get("quoted", quoted).ok()) << "a quoted scalar stays a string";
  EXPECT_EQ(quoted, "42");
  // Errors from args keep the document path.
  int64_t wrong = 0;
  EXPECT_THAT(std::string(args.Get("scoringStrategy", wrong).message()),
              HasSubstr("profiles[0].plugins[1].args.scoringStrategy: expected an integer"));
}

TEST(ProfileTest, ParsesJson) {
  auto p = ParseProfiles(
      R"({"profiles": [{"name": "a", "plugins": [{"name": "X", "weight": 2,
          "args": {"n": 1.5, "on": true}}]}, {"name": "b", "plugins": [{"name": "Y"}]}]})",
      "p.json");
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_EQ(p->size(), 2u);
  EXPECT_EQ((*p)[0].plugins[0].weight, 2);
  double n = 0;
  bool on = false;
  ASSERT_TRUE((*p)[0].plugins[0].args.Get("n", n).ok());
  ASSERT_TRUE((*p)[0].plugins[0].args.Get("on", on).ok());
  EXPECT_EQ(n, 1.5);
  EXPECT_TRUE(on);
  EXPECT_EQ((*p)[1].name, "b");
}

struct BadCase {
  std::string name;
  std::string text;
  std::string error;
};

TEST(ProfileTest, RejectsBadDocumentsNamingLineAndField) {
  const std::vector<BadCase> cases = {
      {"not yaml", "profiles: [\n  - {name: a", "p.yaml:"},
      {"no profiles key", "plugins: []\n", "profiles: required"},
      {"unknown top-level field", "profiles: [{name: a, plugins: [{name: X}]}]\nextra: 1\n",
       "p.yaml:2:1: extra: unknown field (known: profiles)"},
      {"empty profiles", "profiles: []\n", "profiles: expected a non-empty list"},
      {"profile without name", "profiles:\n  - plugins: [{name: X}]\n",
       "profiles[0].name: required"},
      {"profile without plugins", "profiles:\n  - name: a\n", "profiles[0].plugins: expected"},
      {"unknown profile field", "profiles:\n  - name: a\n    pluginz: []\n",
       "p.yaml:3:5: profiles[0].pluginz: unknown field (known: name, plugins)"},
      {"weight zero", "profiles:\n  - name: a\n    plugins:\n      - name: X\n        weight: 0\n",
       "p.yaml:5:17: profiles[0].plugins[0].weight: must be in 1..100, got 0"},
      {"weight too big",
       "profiles:\n  - name: a\n    plugins:\n      - name: X\n        weight: 101\n",
       "must be in 1..100, got 101"},
      {"weight not a number",
       "profiles:\n  - name: a\n    plugins:\n      - name: X\n        weight: heavy\n",
       "profiles[0].plugins[0].weight: expected an integer"},
      {"plugin listed twice", "profiles:\n  - name: a\n    plugins: [{name: X}, {name: X}]\n",
       "profiles[0].plugins[1].name: plugin \"X\" is listed twice"},
      {"duplicate profile", "profiles:\n  - {name: a, plugins: [{name: X}]}\n"
                            "  - {name: a, plugins: [{name: X}]}\n",
       "profiles[1].name: duplicate profile name \"a\""},
      {"args not a map", "profiles:\n  - name: a\n    plugins: [{name: X, args: [1]}]\n",
       "profiles[0].plugins[0].args: expected a map"},
      {"unknown plugin field", "profiles:\n  - name: a\n    plugins: [{name: X, wieght: 2}]\n",
       "profiles[0].plugins[0].wieght: unknown field (known: name, weight, args, points)"},
      {"points not a list", "profiles:\n  - name: a\n    plugins: [{name: X, points: Filter}]\n",
       "profiles[0].plugins[0].points: expected a non-empty list of names"},
      {"duplicate args key",
       "profiles:\n  - name: a\n    plugins: [{name: X, args: {k: 1, k: 2}}]\n",
       "profiles[0].plugins[0].args.k: duplicate key"},
  };
  for (const BadCase& tc : cases) {
    SCOPED_TRACE(tc.name);
    auto p = ParseProfiles(tc.text, "p.yaml");
    ASSERT_FALSE(p.ok());
    EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(p.status().message()), HasSubstr(tc.error));
  }
}

TEST(ProfileTest, LoadFileReportsMissingPath) {
  auto p = LoadProfilesFile("/nonexistent/profiles.yaml");
  ASSERT_FALSE(p.ok());
  EXPECT_THAT(std::string(p.status().message()), HasSubstr("/nonexistent/profiles.yaml"));
}

TEST(ProfileTest, FindProfileListsKnownNames) {
  auto p = ParseProfiles("profiles: [{name: a, plugins: [{name: X}]}, {name: b, plugins: [{name: X}]}]",
                         "p");
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(FindProfile(*p, "b").ok());
  auto missing = FindProfile(*p, "c");
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("(profiles: a, b)"));
}

}  // namespace
}  // namespace gpusched::runtime
