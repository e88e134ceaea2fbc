#include "extender/wire/wire.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gpusched::extender::wire {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// kube-scheduler's own serialisation (extender/v1 types_test.go TestCompatibility).
constexpr std::string_view kUpstreamArgs =
    R"({"Pod":{"metadata":{"name":"podname","creationTimestamp":null},"spec":{"containers":null},"status":{}},)"
    R"("Nodes":{"metadata":{},"items":[{"metadata":{"name":"nodename","creationTimestamp":null},"spec":{},)"
    R"("status":{"daemonEndpoints":{"kubeletEndpoint":{"Port":0}},"nodeInfo":{"machineID":"","systemUUID":"",)"
    R"("bootID":"","kernelVersion":"","osImage":"","containerRuntimeVersion":"","kubeletVersion":"",)"
    R"("kubeProxyVersion":"","operatingSystem":"","architecture":""}}}]},"NodeNames":["node1"]})";

TEST(ExtenderArgs, NamesWinWhenBothAreSet) {
  auto args = DecodeExtenderArgs(kUpstreamArgs);
  ASSERT_TRUE(args.ok()) << args.status();
  EXPECT_TRUE(args->node_cache_capable);
  EXPECT_THAT(args->node_names, ElementsAre(NodeId("node1")));
  EXPECT_EQ(args->pod["metadata"]["name"], "podname");
}

TEST(ExtenderArgs, NodeListModeKeepsTheObjectsForTheReply) {
  auto args = DecodeExtenderArgs(
      R"({"Pod":{"metadata":{"name":"p"}},"Nodes":{"metadata":{},"items":[)"
      R"({"metadata":{"name":"a"},"status":{"daemonEndpoints":{"kubeletEndpoint":{"Port":10250}}}},)"
      R"({"metadata":{"name":"b"}},{"metadata":{"name":"c"}}]},"NodeNames":null})");
  ASSERT_TRUE(args.ok()) << args.status();
  EXPECT_FALSE(args->node_cache_capable);
  EXPECT_THAT(args->node_names, ElementsAre(NodeId("a"), NodeId("b"), NodeId("c")));
  FilterReply reply;
  reply.feasible = {0, 2};  // a and c
  reply.failed = {{"b", "needs 2 GPUs"}};
  const std::string out = EncodeFilterReply(reply, *args);
  // Nodes carries the objects untouched (the capital-P Port included), in request order;
  // NodeNames is null because kube-scheduler ignores it in this mode.
  EXPECT_EQ(out,
            R"({"Error":"","FailedAndUnresolvableNodes":{},"FailedNodes":{"b":"needs 2 GPUs"},)"
            R"("NodeNames":null,"Nodes":{"items":[{"metadata":{"name":"a"},"status":{"daemonEndpoints":)"
            R"({"kubeletEndpoint":{"Port":10250}}}},{"metadata":{"name":"c"}}],"metadata":{}}})");
}

TEST(ExtenderArgs, EmptyNodeListIsItemsNull) {
  auto args = DecodeExtenderArgs(R"({"Pod":{},"Nodes":{"metadata":{},"items":null},"NodeNames":null})");
  ASSERT_TRUE(args.ok()) << args.status();
  EXPECT_TRUE(args->node_names.empty());
  auto names = DecodeExtenderArgs(R"({"Pod":{},"Nodes":null,"NodeNames":[]})");
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(EncodeFilterReply(FilterReply{}, *names),
            R"({"Error":"","FailedAndUnresolvableNodes":{},"FailedNodes":{},"NodeNames":[],"Nodes":null})");
}

// kube-scheduler < 1.21 reads only FailedNodes: unresolvable reasons are repeated there (1.21+
// lets FailedAndUnresolvableNodes win for a node in both).
TEST(ExtenderArgs, UnresolvableNodesAreAlsoFailedNodesForOldSchedulers) {
  auto names = DecodeExtenderArgs(R"({"Pod":{},"Nodes":null,"NodeNames":["a","b","c"]})");
  ASSERT_TRUE(names.ok());
  FilterReply reply;
  reply.feasible = {2};  // c
  reply.failed = {{"b", "busy"}};
  reply.unresolvable = {{"a", "no such GPU"}};
  EXPECT_EQ(EncodeFilterReply(reply, *names),
            R"({"Error":"","FailedAndUnresolvableNodes":{"a":"no such GPU"},)"
            R"("FailedNodes":{"a":"no such GPU","b":"busy"},"NodeNames":["c"],"Nodes":null})");
}

TEST(ExtenderArgs, KeysMatchIgnoringCaseAsGoDoes) {
  auto args = DecodeExtenderArgs(R"({"pod":{"metadata":{"name":"p"}},"nodenames":["x"],"Extra":1})");
  ASSERT_TRUE(args.ok()) << args.status();
  EXPECT_THAT(args->node_names, ElementsAre(NodeId("x")));
}

TEST(ExtenderArgs, BadInputNamesThePath) {
  struct Case {
    std::string body, want;
  } cases[] = {
      {"", "invalid JSON"},
      {"{\"Pod\":{,}, \"NodeNames\":[]}", "invalid JSON"},
      {R"({"Pod":{"metadata":{"name":"p"}},"NodeNames":["a\u0000"],"NodeNames":"x"})", "NodeNames: must be a list"},
      {"[1]", "must be a JSON object"},
      {R"({"NodeNames":["a"]})", "Pod: required"},
      {R"({"Pod":"x","NodeNames":["a"]})", "Pod: must be a v1.Pod object"},
      {R"({"Pod":{},"NodeNames":["a",7]})", "NodeNames[1]: must be a string"},
      {R"({"Pod":{},"NodeNames":null,"Nodes":null})", "one of NodeNames"},
      {R"({"Pod":{},"Nodes":{"items":[{"metadata":{}}]}})", "Nodes.items[0].metadata.name"},
      {R"({"Pod":{},"Nodes":{"items":{}}})", "Nodes.items: must be a list"},
      {R"({"Pod":{},"NodeNames":["a"]} trailing)", "invalid JSON"},
  };
  for (const Case& c : cases) {
    auto args = DecodeExtenderArgs(c.body);
    ASSERT_FALSE(args.ok()) << c.body;
    EXPECT_EQ(args.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(args.status().message(), HasSubstr(c.want)) << c.body;
  }
}

TEST(Prioritize, ABareArrayOfHostAndScore) {
  EXPECT_EQ(EncodePrioritizeReply({NodeId("n1"), NodeId("n2")}, {10, 3}),
            R"([{"Host":"n1","Score":10},{"Host":"n2","Score":3}])");
  EXPECT_EQ(EncodePrioritizeReply({}, {}), "[]");
}

// Names are escaped eight bytes at a time: every special byte, at every position of names of
// every length up to 20, must come back as it went in, and UTF-8 must pass untouched.
TEST(Prioritize, EveryNameRoundTripsWhereverItsSpecialCharactersSit) {
  std::vector<NodeId> hosts;
  for (size_t len = 1; len <= 20; ++len) {
    for (size_t at = 0; at < len; ++at) {
      for (char special : {'"', '\\', '\x01', '\x1f', '\n', ' ', '\x7f'}) {
        std::string name(len, 'n');
        name[at] = special;
        hosts.emplace_back(name);
      }
    }
  }
  hosts.emplace_back("gpu-\xc3\xa9t\xc3\xa9-node-0001");  // UTF-8
  const std::vector<int64_t> scores(hosts.size(), 1);
  const nlohmann::json doc = nlohmann::json::parse(EncodePrioritizeReply(hosts, scores));
  ASSERT_EQ(doc.size(), hosts.size());
  for (size_t i = 0; i < hosts.size(); ++i) {
    EXPECT_EQ(doc[i]["Host"].get<std::string>(), hosts[i].str()) << "name " << i;
  }
}

TEST(Binding, UpstreamBytesDecode) {
  auto b = DecodeBindingArgs(
      R"({"PodName":"mypodname","PodNamespace":"mypodnamespace","PodUID":"mypoduid","Node":"mynode"})");
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->pod_name, "mypodname");
  EXPECT_EQ(b->pod_namespace, "mypodnamespace");
  EXPECT_EQ(b->pod_uid, "mypoduid");
  EXPECT_EQ(b->node, "mynode");
  EXPECT_EQ(EncodeBindingReply(""), R"({"Error":""})");
  auto bad = DecodeBindingArgs(R"({"PodName":"p","PodUID":"u"})");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("Node: required"));
  auto wrong = DecodeBindingArgs(R"({"PodName":1,"PodUID":"u","Node":"n"})");
  EXPECT_THAT(wrong.status().message(), HasSubstr("PodName: must be a string, got 1"));
}

TEST(Preemption, MetaVictimsInAndOut) {
  auto p = DecodePreemptionArgs(
      R"({"Pod":{"metadata":{"name":"hi"}},"NodeNameToVictims":null,"NodeNameToMetaVictims":)"
      R"({"foo":{"Pods":[{"UID":"a"},{"UID":"b"}],"NumPDBViolations":1}}})");
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_EQ(p->nodes.count("foo"), 1u);
  EXPECT_THAT(p->nodes["foo"].uids, ElementsAre("a", "b"));
  EXPECT_EQ(p->nodes["foo"].pdb_violations, 1);
  // kube-scheduler's own serialisation of the reply.
  EXPECT_EQ(EncodePreemptionReply({{"foo", {{"myuid"}, 1}}, {"empty", {}}}),
            R"({"NodeNameToMetaVictims":{"foo":{"NumPDBViolations":1,"Pods":[{"UID":"myuid"}]}}})");
}

TEST(Preemption, FullVictimsAreReducedToUids) {
  auto p = DecodePreemptionArgs(
      R"({"Pod":{},"NodeNameToVictims":{"n":{"Pods":[{"metadata":{"name":"v","uid":"u1"}}],)"
      R"("NumPDBViolations":0}},"NodeNameToMetaVictims":null})");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_THAT(p->nodes["n"].uids, ElementsAre("u1"));
  auto bad = DecodePreemptionArgs(R"({"Pod":{},"NodeNameToMetaVictims":{"n":{"Pods":[{}]}}})");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr(R"(NodeNameToMetaVictims["n"].Pods[0].UID)"));
}

TEST(FilterReply, EscapesNamesAndReasons) {
  auto args = DecodeExtenderArgs(R"({"Pod":{},"NodeNames":["a\"b"]})");
  ASSERT_TRUE(args.ok()) << args.status();
  EXPECT_EQ(args->node_names[0], NodeId("a\"b"));
  FilterReply reply;
  reply.feasible = {0};
  reply.failed = {{"n\\1", "line\nbreak"}};
  const std::string out = EncodeFilterReply(reply, *args);
  EXPECT_EQ(out, R"({"Error":"","FailedAndUnresolvableNodes":{},"FailedNodes":{"n\\1":"line\u000abreak"},)"
                 R"("NodeNames":["a\"b"],"Nodes":null})");
  EXPECT_EQ(nlohmann::json::parse(out)["FailedNodes"]["n\\1"], "line\nbreak");
}

TEST(Errors, AreJsonWithAnErrorField) {
  EXPECT_EQ(EncodeError("bad \"thing\""), R"({"Error":"bad \"thing\""})");
}

}  // namespace
}  // namespace gpusched::extender::wire
