#include "plugins/gang/declaration.h"

#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/fakes/builders.h"

namespace gpusched::framework {

// Readable failure output (found by ADL; internal linkage keeps it to this file).
static void PrintTo(const GangRef& g, std::ostream* os) {
  *os << "{" << g.id << ", min " << g.min_member << ", total " << g.total_member << ", timeout "
      << (g.timeout.has_value() ? absl::FormatDuration(*g.timeout) : "none") << ", \"" << g.source
      << "\"}";
}

}  // namespace gpusched::framework

namespace gpusched::plugins::gang {
namespace {

using framework::GangRef;
using framework::PodInfo;
using ::testing::HasSubstr;
using Api = PodGroupInfo::Api;
using Map = std::map<std::string, std::string>;

static_assert(kPodGroupLabel == "scheduling.x-k8s.io/pod-group");
static_assert(kLegacyPodGroupLabel == "pod-group.scheduling.sigs.k8s.io");
static_assert(kVolcanoGroupNameAnnotation == "scheduling.k8s.io/group-name");
static_assert(kKoordGangName == "gang.scheduling.koordinator.sh/name");
static_assert(kKoordMinAvailable == "gang.scheduling.koordinator.sh/min-available");
static_assert(kKoordWaitingTime == "gang.scheduling.koordinator.sh/waiting-time");
static_assert(kKoordTotalNumber == "gang.scheduling.koordinator.sh/total-number");
static_assert(kKueuePodGroupName == "kueue.x-k8s.io/pod-group-name");
static_assert(kKueuePodGroupTotalCount == "kueue.x-k8s.io/pod-group-total-count");
static_assert(kGangName == "gpusched.io/gang-name");
static_assert(kGangMinMember == "gpusched.io/gang-min-member");
static_assert(kGangTotalMember == "gpusched.io/gang-total-member");
static_assert(kGangTimeoutSeconds == "gpusched.io/gang-timeout-seconds");

PodInfo Pod(Map labels, Map annotations, std::string scheduling_group = "") {
  PodInfo pod = testing::PodBuilder("w-0").Build();
  pod.namespace_name = "ml";
  pod.labels = std::move(labels);
  pod.annotations = std::move(annotations);
  pod.scheduling_group = std::move(scheduling_group);
  return pod;
}

GangRef Ref(std::string id, int32_t min, int32_t total, std::optional<absl::Duration> timeout,
            std::string source) {
  GangRef ref;
  ref.id = GangId(std::move(id));
  ref.min_member = min;
  ref.total_member = total;
  ref.timeout = timeout;
  ref.source = std::move(source);
  return ref;
}

PodGroupInfo Group(Api api, std::string name, int32_t min,
                   std::optional<absl::Duration> timeout = std::nullopt) {
  PodGroupInfo g;
  g.api = api;
  g.namespace_name = "ml";
  g.name = std::move(name);
  g.min_member = min;
  g.timeout = timeout;
  return g;
}

// Every PodGroup the form tests refer to.
PodGroupSet Groups() {
  PodGroupSet set;
  set.Upsert(Group(Api::kSchedulerPlugins, "sp", 4, absl::Seconds(90)));
  set.Upsert(Group(Api::kSchedulerPlugins, "sp-no-timeout", 3));
  set.Upsert(Group(Api::kUpstream, "up", 8));
  PodGroupInfo basic = Group(Api::kUpstream, "up-basic", 0);
  basic.gang = false;
  set.Upsert(basic);
  set.Upsert(Group(Api::kVolcano, "vc", 2));
  return set;
}

struct FormCase {
  std::string name;
  PodInfo pod;
  std::optional<GangRef> want;
};

TEST(ResolveGang, PodGroupMinResourcesReachTheGang) {
  PodGroupSet set;
  PodGroupInfo g = Group(Api::kSchedulerPlugins, "sized", 2);
  g.min_resources.cpu = MilliCpu(8000);
  g.min_resources.gpu = framework::GpuRequest::Whole(16);
  set.Upsert(g);
  auto ref = ResolveGang(Pod({{"scheduling.x-k8s.io/pod-group", "sized"}}, {}), set);
  ASSERT_TRUE(ref.ok()) << ref.status();
  ASSERT_TRUE(ref->has_value());
  EXPECT_EQ((*ref)->min_resources.cpu, MilliCpu(8000));
  EXPECT_EQ((*ref)->min_resources.gpu, framework::GpuRequest::Whole(16));
}

TEST(ResolveGang, EveryFormResolvesToOneModel) {
  const std::string sp = "scheduling.x-k8s.io/v1alpha1 PodGroup";
  const std::string koord = "koordinator annotations";
  const std::string ours = "gpusched.io annotations";
  const std::vector<FormCase> cases = {
      {"no declaration", Pod({{"app", "x"}}, {{"other", "y"}}), std::nullopt},
      {"scheduler-plugins with timeout", Pod({{"scheduling.x-k8s.io/pod-group", "sp"}}, {}),
       Ref("ml/sp", 4, 0, absl::Seconds(90), sp)},
      {"scheduler-plugins without timeout",
       Pod({{"scheduling.x-k8s.io/pod-group", "sp-no-timeout"}}, {}),
       Ref("ml/sp-no-timeout", 3, 0, std::nullopt, sp)},
      {"scheduler-plugins legacy label", Pod({{"pod-group.scheduling.sigs.k8s.io", "sp"}}, {}),
       Ref("ml/sp", 4, 0, absl::Seconds(90), sp)},
      {"scheduler-plugins both labels agreeing",
       Pod({{"scheduling.x-k8s.io/pod-group", "sp"}, {"pod-group.scheduling.sigs.k8s.io", "sp"}},
           {}),
       Ref("ml/sp", 4, 0, absl::Seconds(90), sp)},
      {"upstream gang policy: fixed 5 minutes", Pod({}, {}, "up"),
       Ref("ml/up", 8, 0, absl::Minutes(5), "scheduling.k8s.io/v1alpha2 PodGroup")},
      {"upstream basic policy: not a gang", Pod({}, {}, "up-basic"), std::nullopt},
      {"volcano", Pod({}, {{"scheduling.k8s.io/group-name", "vc"}}),
       Ref("ml/vc", 2, 0, std::nullopt, "scheduling.volcano.sh/v1beta1 PodGroup")},
      {"koordinator minimal: default waiting time",
       Pod({}, {{"gang.scheduling.koordinator.sh/name", "kg"},
                {"gang.scheduling.koordinator.sh/min-available", "5"}}),
       Ref("ml/kg", 5, 0, absl::Seconds(600), koord)},
      {"koordinator full",
       Pod({}, {{"gang.scheduling.koordinator.sh/name", "kg"},
                {"gang.scheduling.koordinator.sh/min-available", "5"},
                {"gang.scheduling.koordinator.sh/waiting-time", "1h30m"},
                {"gang.scheduling.koordinator.sh/total-number", "6"},
                {"gang.scheduling.koordinator.sh/mode", "StrictMode"}}),
       Ref("ml/kg", 5, 6, absl::Minutes(90), koord)},
      {"koordinator waiting time in seconds",
       Pod({}, {{"gang.scheduling.koordinator.sh/name", "kg"},
                {"gang.scheduling.koordinator.sh/min-available", "1"},
                {"gang.scheduling.koordinator.sh/waiting-time", "30s"}}),
       Ref("ml/kg", 1, 0, absl::Seconds(30), koord)},
      {"kueue: every pod is needed",
       Pod({{"kueue.x-k8s.io/pod-group-name", "kq"}},
           {{"kueue.x-k8s.io/pod-group-total-count", "3"}}),
       Ref("ml/kq", 3, 3, std::nullopt, "kueue pod group")},
      {"gpusched minimal",
       Pod({}, {{"gpusched.io/gang-name", "g"}, {"gpusched.io/gang-min-member", "2"}}),
       Ref("ml/g", 2, 0, std::nullopt, ours)},
      {"gpusched full",
       Pod({}, {{"gpusched.io/gang-name", "g"},
                {"gpusched.io/gang-min-member", "2"},
                {"gpusched.io/gang-total-member", "4"},
                {"gpusched.io/gang-timeout-seconds", "120"}}),
       Ref("ml/g", 2, 4, absl::Seconds(120), ours)},
      {"gpusched min equal to total",
       Pod({}, {{"gpusched.io/gang-name", "g"},
                {"gpusched.io/gang-min-member", "4"},
                {"gpusched.io/gang-total-member", "4"}}),
       Ref("ml/g", 4, 4, std::nullopt, ours)},
  };
  const PodGroupSet groups = Groups();
  for (const FormCase& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<std::optional<GangRef>> got = ResolveGang(c.pod, groups);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(*got, c.want);
  }
}

TEST(ResolveGang, GangIdUsesThePodsNamespace) {
  PodInfo pod = Pod({}, {{"gpusched.io/gang-name", "g"}, {"gpusched.io/gang-min-member", "2"}});
  pod.namespace_name = "team-b";
  absl::StatusOr<std::optional<GangRef>> got = ResolveGang(pod, PodGroupSet());
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ((*got)->id, GangId("team-b/g"));

  // A PodGroup of the same name in another namespace is not this pod's.
  PodGroupSet groups = Groups();
  pod = Pod({{"scheduling.x-k8s.io/pod-group", "sp"}}, {});
  pod.namespace_name = "team-b";
  EXPECT_EQ(ResolveGang(pod, groups).status().code(), absl::StatusCode::kNotFound);
}

// One declaration of each form, naming group `name`, with its required companions.
struct Decl {
  std::string form;
  Map labels;
  Map annotations;
  std::string scheduling_group;
  std::string where;  // how the error message names it
};

std::vector<Decl> AllForms(const std::string& name) {
  return {
      {"scheduler-plugins", {{"scheduling.x-k8s.io/pod-group", name}}, {}, "",
       "label scheduling.x-k8s.io/pod-group=\"" + name + "\""},
      {"legacy", {{"pod-group.scheduling.sigs.k8s.io", name}}, {}, "",
       "label pod-group.scheduling.sigs.k8s.io=\"" + name + "\""},
      {"upstream", {}, {}, name, "spec.schedulingGroup.podGroupName=\"" + name + "\""},
      {"volcano", {}, {{"scheduling.k8s.io/group-name", name}}, "",
       "annotation scheduling.k8s.io/group-name=\"" + name + "\""},
      {"koordinator", {},
       {{"gang.scheduling.koordinator.sh/name", name},
        {"gang.scheduling.koordinator.sh/min-available", "2"}},
       "", "annotation gang.scheduling.koordinator.sh/name=\"" + name + "\""},
      {"kueue", {{"kueue.x-k8s.io/pod-group-name", name}},
       {{"kueue.x-k8s.io/pod-group-total-count", "2"}}, "",
       "label kueue.x-k8s.io/pod-group-name=\"" + name + "\""},
      {"gpusched", {},
       {{"gpusched.io/gang-name", name}, {"gpusched.io/gang-min-member", "2"}}, "",
       "annotation gpusched.io/gang-name=\"" + name + "\""},
  };
}

PodInfo Combine(const Decl& a, const Decl& b) {
  PodInfo pod = Pod(a.labels, a.annotations, a.scheduling_group);
  for (const auto& [k, v] : b.labels) pod.labels[k] = v;
  for (const auto& [k, v] : b.annotations) pod.annotations[k] = v;
  if (!b.scheduling_group.empty()) pod.scheduling_group = b.scheduling_group;
  return pod;
}

TEST(ResolveGang, EveryPairOfFormsNamingDifferentGroupsIsRejected) {
  const std::vector<Decl> as = AllForms("a");
  const std::vector<Decl> bs = AllForms("b");
  // Groups exist under both names so that only the conflict can fail.
  PodGroupSet groups;
  for (const char* n : {"a", "b"}) {
    for (Api api : {Api::kSchedulerPlugins, Api::kUpstream, Api::kVolcano}) {
      groups.Upsert(Group(api, n, 2));
    }
  }
  int pairs = 0;
  for (size_t i = 0; i < as.size(); ++i) {
    for (size_t j = 0; j < bs.size(); ++j) {
      if (i == j) continue;
      SCOPED_TRACE(as[i].form + " + " + bs[j].form);
      absl::Status s = ResolveGang(Combine(as[i], bs[j]), groups).status();
      EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
      EXPECT_THAT(s.message(), HasSubstr("pod ml/w-0 declares two gangs: "));
      EXPECT_THAT(s.message(), HasSubstr(as[i].where));
      EXPECT_THAT(s.message(), HasSubstr(bs[j].where));
      ++pairs;
    }
  }
  EXPECT_EQ(pairs, 42);
}

TEST(ResolveGang, TwoFormsNamingTheSameGroupAreRejectedToo) {
  const std::vector<Decl> forms = AllForms("same");
  PodGroupSet groups;
  for (Api api : {Api::kSchedulerPlugins, Api::kUpstream, Api::kVolcano}) {
    groups.Upsert(Group(api, "same", 2));
  }
  for (size_t i = 0; i < forms.size(); ++i) {
    for (size_t j = i + 1; j < forms.size(); ++j) {
      // The two scheduler-plugins labels with one value are one declaration (tested above).
      if (forms[i].form == "scheduler-plugins" && forms[j].form == "legacy") continue;
      SCOPED_TRACE(forms[i].form + " + " + forms[j].form);
      absl::Status s = ResolveGang(Combine(forms[i], forms[j]), groups).status();
      EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
      EXPECT_THAT(s.message(), HasSubstr("pod ml/w-0 declares its gang twice: "));
      EXPECT_THAT(s.message(), HasSubstr(forms[i].where));
      EXPECT_THAT(s.message(), HasSubstr(forms[j].where));
    }
  }
}

TEST(ResolveGang, ConflictMessageIsExact) {
  PodInfo pod = Pod({{"scheduling.x-k8s.io/pod-group", "a"}},
                    {{"gang.scheduling.koordinator.sh/name", "b"},
                     {"gang.scheduling.koordinator.sh/min-available", "2"}});
  EXPECT_EQ(ResolveGang(pod, Groups()).status(),
            absl::InvalidArgumentError(
                "pod ml/w-0 declares two gangs: label scheduling.x-k8s.io/pod-group=\"a\" and "
                "annotation gang.scheduling.koordinator.sh/name=\"b\"; keep exactly one "
                "declaration (gpusched does not merge them)"));

  pod.annotations["gpusched.io/gang-name"] = "c";
  pod.annotations["gpusched.io/gang-min-member"] = "2";
  absl::Status s = ResolveGang(pod, Groups()).status();
  EXPECT_THAT(s.message(), HasSubstr("declares 3 gangs: label scheduling.x-k8s.io/pod-group=\"a\", "
                                     "annotation gang.scheduling.koordinator.sh/name=\"b\" and "
                                     "annotation gpusched.io/gang-name=\"c\""));
}

TEST(ResolveGang, SchedulerPluginsLabelsThatDisagreeConflict) {
  PodInfo pod = Pod(
      {{"scheduling.x-k8s.io/pod-group", "sp"}, {"pod-group.scheduling.sigs.k8s.io", "other"}},
      {});
  absl::Status s = ResolveGang(pod, Groups()).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("declares two gangs"));
  EXPECT_THAT(s.message(), HasSubstr("pod-group.scheduling.sigs.k8s.io=\"other\""));
}

struct BadCase {
  std::string name;
  PodInfo pod;
  std::string want;  // a substring of the InvalidArgument message
};

TEST(ResolveGang, MalformedValuesNameTheKeyAndValue) {
  const std::string kg = "gang.scheduling.koordinator.sh/";
  const std::vector<BadCase> cases = {
      {"empty scheduler-plugins name", Pod({{"scheduling.x-k8s.io/pod-group", ""}}, {}),
       "label scheduling.x-k8s.io/pod-group=\"\": the group name must not be empty"},
      {"name with a slash", Pod({}, {{"gpusched.io/gang-name", "other-ns/g"},
                                     {"gpusched.io/gang-min-member", "2"}}),
       "annotation gpusched.io/gang-name=\"other-ns/g\": the group name must be an object name"},
      {"empty volcano name", Pod({}, {{"scheduling.k8s.io/group-name", ""}}),
       "must not be empty"},
      {"missing koordinator min", Pod({}, {{kg + "name", "kg"}}),
       "annotation gang.scheduling.koordinator.sh/min-available is required with annotation "
       "gang.scheduling.koordinator.sh/name=\"kg\""},
      {"non-integer koordinator min",
       Pod({}, {{kg + "name", "kg"}, {kg + "min-available", "four"}}),
       "annotation gang.scheduling.koordinator.sh/min-available=\"four\": must be a whole number "
       "in 1..2147483647"},
      {"zero min", Pod({}, {{kg + "name", "kg"}, {kg + "min-available", "0"}}),
       "min-available=\"0\": must be a whole number"},
      {"negative min", Pod({}, {{kg + "name", "kg"}, {kg + "min-available", "-2"}}),
       "min-available=\"-2\": must be a whole number"},
      {"signed min", Pod({}, {{kg + "name", "kg"}, {kg + "min-available", "+2"}}),
       "min-available=\"+2\": must be a whole number"},
      {"fractional min", Pod({}, {{kg + "name", "kg"}, {kg + "min-available", "1.5"}}),
       "min-available=\"1.5\""},
      {"overflowing min", Pod({}, {{kg + "name", "kg"}, {kg + "min-available", "2147483648"}}),
       "min-available=\"2147483648\""},
      {"huge min", Pod({}, {{kg + "name", "kg"}, {kg + "min-available", "99999999999999"}}),
       "min-available=\"99999999999999\""},
      {"koordinator min above total",
       Pod({}, {{kg + "name", "kg"}, {kg + "min-available", "5"}, {kg + "total-number", "4"}}),
       "annotation gang.scheduling.koordinator.sh/min-available=\"5\" is more than annotation "
       "gang.scheduling.koordinator.sh/total-number=\"4\""},
      {"bad koordinator total",
       Pod({}, {{kg + "name", "kg"}, {kg + "min-available", "5"}, {kg + "total-number", "x"}}),
       "total-number=\"x\""},
      {"waiting time without a unit",
       Pod({}, {{kg + "name", "kg"}, {kg + "min-available", "2"}, {kg + "waiting-time", "600"}}),
       "annotation gang.scheduling.koordinator.sh/waiting-time=\"600\": must be a positive Go "
       "duration"},
      {"negative waiting time",
       Pod({}, {{kg + "name", "kg"}, {kg + "min-available", "2"}, {kg + "waiting-time", "-5s"}}),
       "waiting-time=\"-5s\""},
      {"zero waiting time",
       Pod({}, {{kg + "name", "kg"}, {kg + "min-available", "2"}, {kg + "waiting-time", "0s"}}),
       "waiting-time=\"0s\""},
      {"infinite waiting time",
       Pod({}, {{kg + "name", "kg"}, {kg + "min-available", "2"}, {kg + "waiting-time", "inf"}}),
       "waiting-time=\"inf\""},
      {"missing kueue count", Pod({{"kueue.x-k8s.io/pod-group-name", "kq"}}, {}),
       "annotation kueue.x-k8s.io/pod-group-total-count is required with label "
       "kueue.x-k8s.io/pod-group-name=\"kq\""},
      {"bad kueue count",
       Pod({{"kueue.x-k8s.io/pod-group-name", "kq"}},
           {{"kueue.x-k8s.io/pod-group-total-count", "0"}}),
       "pod-group-total-count=\"0\""},
      {"missing gpusched min", Pod({}, {{"gpusched.io/gang-name", "g"}}),
       "annotation gpusched.io/gang-min-member is required with annotation "
       "gpusched.io/gang-name=\"g\""},
      {"gpusched min above total",
       Pod({}, {{"gpusched.io/gang-name", "g"},
                {"gpusched.io/gang-min-member", "3"},
                {"gpusched.io/gang-total-member", "2"}}),
       "annotation gpusched.io/gang-min-member=\"3\" is more than annotation "
       "gpusched.io/gang-total-member=\"2\""},
      {"bad gpusched timeout",
       Pod({}, {{"gpusched.io/gang-name", "g"},
                {"gpusched.io/gang-min-member", "3"},
                {"gpusched.io/gang-timeout-seconds", "10m"}}),
       "annotation gpusched.io/gang-timeout-seconds=\"10m\": must be a whole number"},
      {"value with a quote is escaped",
       Pod({}, {{"gpusched.io/gang-name", "g"}, {"gpusched.io/gang-min-member", "2\"x"}}),
       "gpusched.io/gang-min-member=\"2\\\"x\""},
      // A form's other keys without its name key.
      {"gpusched min without a name", Pod({}, {{"gpusched.io/gang-min-member", "4"}}),
       "pod ml/w-0: annotation gpusched.io/gang-min-member=\"4\" needs annotation "
       "gpusched.io/gang-name (the gang's name); without it the pod would be scheduled alone"},
      {"gpusched timeout without a name", Pod({}, {{"gpusched.io/gang-timeout-seconds", "4"}}),
       "needs annotation gpusched.io/gang-name"},
      {"koordinator min without a name", Pod({}, {{kg + "min-available", "4"}}),
       "needs annotation gang.scheduling.koordinator.sh/name"},
      {"kueue count without a name", Pod({}, {{"kueue.x-k8s.io/pod-group-total-count", "4"}}),
       "needs label kueue.x-k8s.io/pod-group-name"},
      {"gpusched min beside a volcano name",
       Pod({}, {{"scheduling.k8s.io/group-name", "vc"}, {"gpusched.io/gang-min-member", "4"}}),
       "needs annotation gpusched.io/gang-name"},
  };
  const PodGroupSet groups = Groups();
  for (const BadCase& c : cases) {
    SCOPED_TRACE(c.name);
    absl::Status s = ResolveGang(c.pod, groups).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    EXPECT_THAT(s.message(), HasSubstr(c.want));
  }
}

TEST(ResolveGang, MissingPodGroupIsNotFound) {
  const PodGroupSet groups = Groups();
  EXPECT_EQ(ResolveGang(Pod({{"scheduling.x-k8s.io/pod-group", "x"}}, {}), groups).status(),
            absl::NotFoundError("PodGroup ml/x (scheduling.x-k8s.io/v1alpha1) not found (named "
                                "by label scheduling.x-k8s.io/pod-group=\"x\" of pod ml/w-0)"));
  absl::Status s = ResolveGang(Pod({}, {}, "x"), groups).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(s.message(), HasSubstr("PodGroup ml/x (scheduling.k8s.io/v1alpha2) not found"));
  s = ResolveGang(Pod({}, {{"scheduling.k8s.io/group-name", "x"}}), groups).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(s.message(), HasSubstr("PodGroup ml/x (scheduling.volcano.sh/v1beta1) not found"));

  // The same name under another API does not count: "sp" is a scheduler-plugins PodGroup.
  s = ResolveGang(Pod({}, {}, "sp"), groups).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
}

TEST(ResolveGang, PodGroupWithAnInvalidMinimumIsRejected) {
  PodGroupSet groups;
  groups.Upsert(Group(Api::kSchedulerPlugins, "zero", 0));
  absl::Status s =
      ResolveGang(Pod({{"scheduling.x-k8s.io/pod-group", "zero"}}, {}), groups).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("PodGroup ml/zero (scheduling.x-k8s.io/v1alpha1): min "
                                     "member 0 must be >= 1"));
}

TEST(PodGroupSet, UpsertReplacesAndRemoveForgets) {
  PodGroupSet set;
  set.Upsert(Group(Api::kSchedulerPlugins, "g", 2));
  set.Upsert(Group(Api::kUpstream, "g", 3));  // same name, other API: a different object
  EXPECT_EQ(set.size(), 2u);
  set.Upsert(Group(Api::kSchedulerPlugins, "g", 5));
  EXPECT_EQ(set.size(), 2u);
  ASSERT_NE(set.Find(Api::kSchedulerPlugins, "ml", "g"), nullptr);
  EXPECT_EQ(set.Find(Api::kSchedulerPlugins, "ml", "g")->min_member, 5);
  EXPECT_EQ(set.Find(Api::kUpstream, "ml", "g")->min_member, 3);
  EXPECT_EQ(set.Find(Api::kSchedulerPlugins, "other", "g"), nullptr);
  EXPECT_TRUE(set.Remove(Api::kSchedulerPlugins, "ml", "g"));
  EXPECT_FALSE(set.Remove(Api::kSchedulerPlugins, "ml", "g"));
  EXPECT_EQ(set.Find(Api::kSchedulerPlugins, "ml", "g"), nullptr);
  EXPECT_EQ(set.size(), 1u);
}

TEST(PodGroupSet, ApiVersionNamesEachApi) {
  EXPECT_EQ(ApiVersion(Api::kSchedulerPlugins), "scheduling.x-k8s.io/v1alpha1");
  EXPECT_EQ(ApiVersion(Api::kUpstream), "scheduling.k8s.io/v1alpha2");
  EXPECT_EQ(ApiVersion(Api::kVolcano), "scheduling.volcano.sh/v1beta1");
}

TEST(ResolveGang, UpstreamFormsOfKubernetes135To137) {
  PodGroupSet groups;
  groups.Upsert(Group(Api::kUpstreamBeta, "beta", 3));
  PodGroupInfo workers = Group(Api::kWorkload, "job/workers", 4);
  groups.Upsert(workers);
  PodGroupInfo driver = Group(Api::kWorkload, "job/driver", 0);
  driver.gang = false;
  groups.Upsert(driver);

  // 1.37: spec.schedulingGroup.podGroupName names a v1beta1 PodGroup.
  absl::StatusOr<std::optional<GangRef>> r = ResolveGang(Pod({}, {}, "beta"), groups);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(r->has_value());
  EXPECT_EQ((*r)->min_member, 3);
  EXPECT_EQ((*r)->timeout, kUpstreamGangTimeout);
  EXPECT_EQ((*r)->source, "scheduling.k8s.io/v1beta1 PodGroup");

  // 1.35: spec.workloadRef names a pod group of a Workload; replica keys split it.
  PodInfo pod = Pod({}, {});
  pod.workload_ref = PodInfo::WorkloadRef{"job", "workers", ""};
  r = ResolveGang(pod, groups);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(r->has_value());
  EXPECT_EQ((*r)->id, GangId("ml/job/workers"));
  EXPECT_EQ((*r)->min_member, 4);
  pod.workload_ref->replica_key = "7";
  EXPECT_EQ((*ResolveGang(pod, groups))->id, GangId("ml/job/workers/7"));
  pod.workload_ref = PodInfo::WorkloadRef{"job", "driver", ""};
  r = ResolveGang(pod, groups);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->has_value());  // the basic policy: no gang
  pod.workload_ref = PodInfo::WorkloadRef{"job", "missing", ""};
  EXPECT_EQ(ResolveGang(pod, groups).status().code(), absl::StatusCode::kNotFound);

  // Both upstream forms on one pod are two declarations.
  PodInfo both = Pod({}, {}, "beta");
  both.workload_ref = PodInfo::WorkloadRef{"job", "workers", ""};
  r = ResolveGang(both, groups);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("spec.workloadRef"));
  EXPECT_THAT(r.status().message(), HasSubstr("spec.schedulingGroup.podGroupName"));
}

}  // namespace
}  // namespace gpusched::plugins::gang
