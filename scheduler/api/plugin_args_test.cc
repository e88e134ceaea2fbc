#include "scheduler/api/plugin_args.h"

#include <cstdint>
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

ArgValue Str(std::string s) { return ArgValue(std::move(s)); }
ArgValue Int(int64_t v) { return ArgValue(v); }
ArgValue Dbl(double v) { return ArgValue(v); }
ArgValue Bool(bool v) { return ArgValue(v); }
ArgValue StrList(std::vector<std::string> items) {
  ArgValue::List l;
  for (std::string& s : items) l.push_back(Str(std::move(s)));
  return ArgValue(std::move(l));
}

TEST(PluginArgsArgValueTest, TypeNameNamesEveryKind) {
  struct Case {
    std::string name;
    ArgValue value;
    std::string want;
  };
  const std::vector<Case> cases = {
      {"null", ArgValue(), "null"},
      {"bool", Bool(true), "boolean"},
      {"int", Int(3), "integer"},
      {"double", Dbl(1.5), "number"},
      {"string", Str("x"), "string"},
      {"list", ArgValue(ArgValue::List{}), "list"},
      {"map", ArgValue(ArgValue::Map{}), "map"},
  };
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.name);
    EXPECT_EQ(tc.value.TypeName(), tc.want);
  }
}

TEST(PluginArgsArgValueTest, AccessorsReturnOnlyTheHeldType) {
  const ArgValue v = Int(4);
  ASSERT_NE(v.as_int(), nullptr);
  EXPECT_EQ(*v.as_int(), 4);
  EXPECT_EQ(v.as_double(), nullptr);
  EXPECT_EQ(v.as_bool(), nullptr);
  EXPECT_EQ(v.as_string(), nullptr);
  EXPECT_EQ(v.as_list(), nullptr);
  EXPECT_EQ(v.as_map(), nullptr);
  EXPECT_FALSE(v.is_null());
  EXPECT_TRUE(ArgValue().is_null());
}

TEST(PluginArgsTest, GettersReadPresentValues) {
  const PluginArgs args(ArgValue::Map{
      {"enabled", Bool(true)},
      {"weight", Int(7)},
      {"ratio", Dbl(0.25)},
      {"strategy", Str("MostAllocated")},
      {"models", StrList({"A100", "H100"})},
  });
  bool enabled = false;
  int64_t weight = 1;
  double ratio = 0;
  std::string strategy = "LeastAllocated";
  std::vector<std::string> models;
  ASSERT_TRUE(args.Get("enabled", enabled).ok());
  ASSERT_TRUE(args.Get("weight", weight).ok());
  ASSERT_TRUE(args.Get("ratio", ratio).ok());
  ASSERT_TRUE(args.Get("strategy", strategy).ok());
  ASSERT_TRUE(args.Get("models", models).ok());
  EXPECT_TRUE(enabled);
  EXPECT_EQ(weight, 7);
  EXPECT_DOUBLE_EQ(ratio, 0.25);
  EXPECT_EQ(strategy, "MostAllocated");
  EXPECT_THAT(models, ElementsAre("A100", "H100"));
}

TEST(PluginArgsTest, GettersLeaveDefaultsWhenAbsentOrNull) {
  struct Case {
    std::string name;
    ArgValue::Map fields;
  };
  const std::vector<Case> cases = {
      {"empty args", {}},
      {"other keys only", {{"unrelated", Int(1)}}},
      {"explicit nulls",
       {{"b", ArgValue()}, {"i", ArgValue()}, {"d", ArgValue()}, {"s", ArgValue()},
        {"l", ArgValue()}}},
  };
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.name);
    const PluginArgs args(tc.fields);
    bool b = true;
    int64_t i = 42;
    double d = 2.5;
    std::string s = "default";
    std::vector<std::string> l = {"keep"};
    EXPECT_TRUE(args.Get("b", b).ok());
    EXPECT_TRUE(args.Get("i", i).ok());
    EXPECT_TRUE(args.Get("d", d).ok());
    EXPECT_TRUE(args.Get("s", s).ok());
    EXPECT_TRUE(args.Get("l", l).ok());
    EXPECT_TRUE(b);
    EXPECT_EQ(i, 42);
    EXPECT_DOUBLE_EQ(d, 2.5);
    EXPECT_EQ(s, "default");
    EXPECT_THAT(l, ElementsAre("keep"));
  }
}

TEST(PluginArgsTest, WrongTypeErrorsNameTheFieldAndTheTypes) {
  const PluginArgs args(ArgValue::Map{
      {"str", Str("x")},
      {"int", Int(3)},
      {"dbl", Dbl(1.5)},
      {"flag", Bool(false)},
      {"list", StrList({"a"})},
      {"map", ArgValue(ArgValue::Map{{"k", Int(1)}})},
  });
  struct Case {
    std::string name;
    absl::Status got;
    std::string want;
  };
  bool b = true;
  int64_t i = 42;
  double d = 2.5;
  std::string s = "default";
  std::vector<std::string> l = {"keep"};
  PluginArgs nested;
  const std::vector<Case> cases = {
      {"int from string", args.Get("str", i), "args.str: expected an integer, got string"},
      {"int from double", args.Get("dbl", i), "args.dbl: expected an integer, got number"},
      {"int from bool", args.Get("flag", i), "args.flag: expected an integer, got boolean"},
      {"bool from int", args.Get("int", b), "args.int: expected a boolean, got integer"},
      {"bool from string", args.Get("str", b), "args.str: expected a boolean, got string"},
      {"double from string", args.Get("str", d), "args.str: expected a number, got string"},
      {"double from bool", args.Get("flag", d), "args.flag: expected a number, got boolean"},
      {"string from int", args.Get("int", s), "args.int: expected a string, got integer"},
      {"string from list", args.Get("list", s), "args.list: expected a string, got list"},
      {"list from string", args.Get("str", l),
       "args.str: expected a list of strings, got string"},
      {"list from map", args.Get("map", l), "args.map: expected a list of strings, got map"},
      {"map from list", args.Get("list", nested), "args.list: expected a map, got list"},
  };
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.name);
    EXPECT_EQ(tc.got.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(tc.got.message(), tc.want);
  }
  // Failed reads leave the outputs alone.
  EXPECT_TRUE(b);
  EXPECT_EQ(i, 42);
  EXPECT_DOUBLE_EQ(d, 2.5);
  EXPECT_EQ(s, "default");
  EXPECT_THAT(l, ElementsAre("keep"));
}

TEST(PluginArgsTest, DoubleGetterAcceptsIntegers) {
  const PluginArgs args(ArgValue::Map{{"w", Int(3)}, {"neg", Int(-2)}});
  double w = 0;
  double neg = 0;
  ASSERT_TRUE(args.Get("w", w).ok());
  ASSERT_TRUE(args.Get("neg", neg).ok());
  EXPECT_DOUBLE_EQ(w, 3.0);
  EXPECT_DOUBLE_EQ(neg, -2.0);
}

TEST(PluginArgsTest, StringListWithBadElementNamesItsIndex) {
  ArgValue::List items;
  items.push_back(Str("A100"));
  items.push_back(Int(7));
  items.push_back(Str("H100"));
  const PluginArgs args(ArgValue::Map{{"k", ArgValue(std::move(items))}});
  std::vector<std::string> out = {"keep"};
  const absl::Status s = args.Get("k", out);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "args.k[1]: expected a string, got integer");
  EXPECT_THAT(out, ElementsAre("keep"));  // nothing partially assigned
}

TEST(PluginArgsTest, EmptyListReplacesTheDefault) {
  const PluginArgs args(ArgValue::Map{{"k", ArgValue(ArgValue::List{})}});
  std::vector<std::string> out = {"keep"};
  ASSERT_TRUE(args.Get("k", out).ok());
  EXPECT_THAT(out, IsEmpty());
}

TEST(PluginArgsTest, NestedMapErrorsCarryTheFullPath) {
  const PluginArgs args(ArgValue::Map{
      {"resources", ArgValue(ArgValue::Map{{"cpu", Str("lots")}, {"gpu", Int(2)}})},
  });
  PluginArgs resources;
  ASSERT_TRUE(args.Get("resources", resources).ok());
  EXPECT_FALSE(resources.empty());

  int64_t gpu = 0;
  ASSERT_TRUE(resources.Get("gpu", gpu).ok());
  EXPECT_EQ(gpu, 2);

  int64_t cpu = 0;
  const absl::Status s = resources.Get("cpu", cpu);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "args.resources.cpu: expected an integer, got string");

  const absl::Status unknown = resources.RejectUnknown({"gpu"});
  EXPECT_THAT(unknown.message(), HasSubstr("args.resources.cpu"));
  EXPECT_EQ(resources.FieldError("memory", "bad").message(), "args.resources.memory: bad");
}

TEST(PluginArgsTest, AbsentNestedMapGivesEmptyArgsWithTheExtendedPath) {
  const PluginArgs args(ArgValue::Map{{"other", Int(1)}, {"nullmap", ArgValue()}});
  for (const std::string key : {"resources", "nullmap"}) {
    SCOPED_TRACE(key);
    PluginArgs nested(ArgValue::Map{{"stale", Int(1)}});
    ASSERT_TRUE(args.Get(key, nested).ok());
    EXPECT_TRUE(nested.empty());
    EXPECT_EQ(nested.FieldError("x", "bad").message(), "args." + key + ".x: bad");
  }
}

TEST(PluginArgsTest, CustomPathPrefixesErrors) {
  const PluginArgs args(ArgValue::Map{{"w", Str("x")}}, "profiles[0].plugins.Fit.args");
  int64_t w = 0;
  EXPECT_EQ(args.Get("w", w).message(),
            "profiles[0].plugins.Fit.args.w: expected an integer, got string");
}

TEST(PluginArgsTest, RejectUnknownNamesTheUnknownKey) {
  const PluginArgs args(ArgValue::Map{
      {"scoringStrategy", Str("LeastAllocated")},
      {"gpuWieght", Int(2)},  // typo
  });
  const absl::Status s = args.RejectUnknown({"scoringStrategy", "gpuWeight"});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("args.gpuWieght"));
  EXPECT_THAT(s.message(), HasSubstr("unknown"));
  EXPECT_THAT(s.message(), HasSubstr("gpuWeight"));  // lists what is known
}

TEST(PluginArgsTest, RejectUnknownAcceptsKnownKeys) {
  struct Case {
    std::string name;
    ArgValue::Map fields;
  };
  const std::vector<Case> cases = {
      {"empty", {}},
      {"all known", {{"a", Int(1)}, {"b", Int(2)}}},
      {"subset of known", {{"b", Int(2)}}},
  };
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.name);
    EXPECT_TRUE(PluginArgs(tc.fields).RejectUnknown({"a", "b", "c"}).ok());
  }
  EXPECT_TRUE(PluginArgs().empty());
}

TEST(PluginArgsTest, FieldErrorUsesTheGetterFormat) {
  const PluginArgs args;
  const absl::Status s = args.FieldError("gpuWeight", "must be positive");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "args.gpuWeight: must be positive");
}

TEST(PluginArgsTest, FieldsKeepDocumentOrder) {
  const PluginArgs args(ArgValue::Map{{"z", Int(1)}, {"a", Int(2)}, {"m", Int(3)}});
  std::vector<std::string> keys;
  for (const auto& [k, v] : args.fields()) keys.push_back(k);
  EXPECT_THAT(keys, ElementsAre("z", "a", "m"));
}

}  // namespace
}  // namespace gpusched::framework
