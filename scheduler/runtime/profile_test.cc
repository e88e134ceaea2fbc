#include "scheduler/runtime/profile.h"

#include <unistd.h>

#include <cstdio>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
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

// ---- Hostile input: each class of bad document is refused with source:line:col.

// True when every byte of `message` is printable ASCII.
bool Printable(std::string_view message) {
  for (char c : message) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) return false;
  }
  return true;
}

TEST(ProfileHostileTest, BillionLaughsIsRefusedAtTheFirstAnchor) {
  std::string doc = "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n";
  for (int i = 1; i < 10; ++i) {
    doc += absl::StrCat("a", i, ": &a", i, " [");
    for (int j = 0; j < 9; ++j) absl::StrAppend(&doc, j ? ", " : "", "*a", i - 1);
    doc += "]\n";
  }
  doc += "profiles: [{name: p, plugins: [{name: X, args: {k: *a9}}]}]\n";
  ASSERT_LT(doc.size(), 1024u);
  auto p = ParseProfiles(doc, "laughs.yaml");
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(p.status().message()), HasSubstr("laughs.yaml:1:5: YAML anchor"));
}

TEST(ProfileHostileTest, AnchorsAndAliasesAnywhereAreRefused) {
  const char* docs[] = {
      "profiles: [{name: p, plugins: [&x {name: X}, *x]}]\n",
      "profiles:\n  - name: &n p\n    plugins: [{name: *n}]\n",
      "{\"profiles\": [{\"name\": \"p\", \"plugins\": [{\"name\": \"X\", \"args\": &a {}}]}]}",
  };
  for (const char* doc : docs) {
    SCOPED_TRACE(doc);
    auto p = ParseProfiles(doc, "a.yaml");
    ASSERT_FALSE(p.ok());
    EXPECT_THAT(std::string(p.status().message()), HasSubstr("are not supported here"));
    EXPECT_THAT(std::string(p.status().message()), ::testing::StartsWith("a.yaml:"));
  }
}

TEST(ProfileHostileTest, DeepNestingIsRefusedWithTheLimit) {
  for (const bool json : {false, true}) {
    std::string doc = "profiles: [{name: p, plugins: [{name: X, args: {k: ";
    for (int i = 0; i < 5000; ++i) doc += json ? "[" : "{a: ";
    for (int i = 0; i < 5000; ++i) doc += json ? "]" : "}";
    doc += "}}]}]\n";
    auto p = ParseProfiles(doc, "deep.yaml");
    ASSERT_FALSE(p.ok());
    EXPECT_THAT(std::string(p.status().message()),
                HasSubstr(absl::StrCat("nested deeper than ", kMaxProfileDepth)));
  }
}

TEST(ProfileHostileTest, TooManyNodesIsRefusedWithTheLimit) {
  std::string doc = "profiles: [{name: p, plugins: [{name: X, args: {k: [";
  for (int64_t i = 0; i < kMaxProfileNodes; ++i) doc += "1,";
  doc += "1]}}]}]\n";
  auto p = ParseProfiles(doc, "big.yaml");
  ASSERT_FALSE(p.ok());
  EXPECT_THAT(std::string(p.status().message()),
              HasSubstr(absl::StrCat("more than ", kMaxProfileNodes, " YAML nodes")));
}

TEST(ProfileHostileTest, SecondDocumentIsAnError) {
  const char* one = "profiles: [{name: a, plugins: [{name: X}]}]\n";
  EXPECT_TRUE(ParseProfiles(absl::StrCat("---\n", one), "d.yaml").ok());
  EXPECT_TRUE(ParseProfiles(absl::StrCat("---\n", one, "...\n"), "d.yaml").ok());
  for (const std::string& doc : {absl::StrCat(one, "---\n", one), absl::StrCat(one, "---\n"),
                                 absl::StrCat(one, "--- {foo: 1}\n")}) {
    SCOPED_TRACE(doc);
    auto p = ParseProfiles(doc, "d.yaml");
    ASSERT_FALSE(p.ok());
    EXPECT_THAT(std::string(p.status().message()), HasSubstr("d.yaml:2:"));
    EXPECT_THAT(std::string(p.status().message()), HasSubstr("a second YAML document"));
  }
}

TEST(ProfileHostileTest, DuplicateKeysAtEveryLevelNameKeyAndLine) {
  struct Case {
    const char* text;
    const char* error;
  };
  const Case cases[] = {
      {"profiles: []\nprofiles: [{name: a, plugins: [{name: X}]}]\n",
       "d.yaml:2:1: profiles: duplicate key \"profiles\" (first on line 1)"},
      {"profiles:\n  - name: a\n    name: b\n    plugins: [{name: X}]\n",
       "d.yaml:3:5: profiles[0].name: duplicate key \"name\" (first on line 2)"},
      {"profiles:\n  - name: a\n    plugins:\n      - name: X\n        weight: 2\n        weight: 3\n",
       "d.yaml:6:9: profiles[0].plugins[0].weight: duplicate key \"weight\" (first on line 5)"},
      {"{\"profiles\": [{\"name\": \"a\",\n \"plugins\": [{\"name\": \"X\"}],\n \"name\": \"b\"}]}",
       "d.yaml:3:2: profiles[0].name: duplicate key \"name\" (first on line 1)"},
      {"{\"profiles\": [{\"name\": \"a\", \"plugins\": [{\"name\": \"X\",\n"
       "  \"args\": {\"k\": 1, \"k\": 2}}]}]}",
       "profiles[0].plugins[0].args.k: duplicate key \"k\" (first on line 2)"},
  };
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.text);
    auto p = ParseProfiles(tc.text, "d.yaml");
    ASSERT_FALSE(p.ok());
    EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(p.status().message()), HasSubstr(tc.error));
  }
}

TEST(ProfileHostileTest, Utf8BomIsAcceptedInYamlAndJson) {
  for (const char* doc : {"\xEF\xBB\xBFprofiles: [{name: a, plugins: [{name: X}]}]\n",
                          "\xEF\xBB\xBF{\"profiles\": [{\"name\": \"a\", \"plugins\": [{\"name\": \"X\"}]}]}"}) {
    auto p = ParseProfiles(doc, "bom.yaml");
    ASSERT_TRUE(p.ok()) << p.status();
    EXPECT_EQ((*p)[0].name, "a");
  }
}

TEST(ProfileHostileTest, BinaryBytesAreNeverEchoed) {
  std::string garbage;
  for (int i = 0; i < 256; ++i) garbage.push_back(static_cast<char>((i * 37 + 11) & 0xff));
  const std::string docs[] = {
      garbage,
      "profiles: [{name: a, plugins: [{name: X, \xff\xfe\x01: 1}]}]\n",
      "profiles: [{name: a, plugins: [{name: X, weight: \"\xc3\x28\x80\"}]}]\n",
      std::string("profiles: [{name: a, \x01\x02: 1}]\n"),
      "\xff\xfe\x00p\x00r\x00",
  };
  for (const std::string& doc : docs) {
    auto p = ParseProfiles(doc, "bin.yaml");
    ASSERT_FALSE(p.ok());
    EXPECT_TRUE(Printable(std::string(p.status().message()))) << absl::CHexEscape(p.status().message());
    EXPECT_THAT(std::string(p.status().message()), ::testing::StartsWith("bin.yaml"));
  }
}

TEST(ProfileHostileTest, LoadRefusesSpecialFilesAndOversizedFiles) {
  for (const char* path : {"/dev/zero", "/tmp", "/dev/null"}) {
    auto p = LoadProfilesFile(path);
    ASSERT_FALSE(p.ok()) << path;
    EXPECT_EQ(p.status().code(), absl::StatusCode::kFailedPrecondition) << p.status();
    EXPECT_THAT(std::string(p.status().message()), HasSubstr(path));
    EXPECT_THAT(std::string(p.status().message()), ::testing::Not(HasSubstr("empty")));
  }
  const std::string file = absl::StrCat(::testing::TempDir(), "/profile_", getpid(), ".yaml");
  std::FILE* f = std::fopen(file.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  const std::string doc = "profiles: [{name: a, plugins: [{name: X}]}]\n";
  std::fwrite(doc.data(), 1, doc.size(), f);
  std::fclose(f);
  EXPECT_TRUE(LoadProfilesFile(file).ok());
  auto small = LoadProfilesFile(file, 10);
  ASSERT_FALSE(small.ok());
  EXPECT_THAT(std::string(small.status().message()), HasSubstr("raise it with --max-input-mb"));
  std::remove(file.c_str());
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
