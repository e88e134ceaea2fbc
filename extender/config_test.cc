#include "extender/config.h"

#include <cstdlib>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "yaml-cpp/yaml.h"

namespace gpusched::extender {
namespace {

using ::testing::HasSubstr;

TEST(Config, EmptyIsDefaults) {
  auto c = ParseConfig("", "x.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->host, "0.0.0.0");
  EXPECT_EQ(c->port, 8888);
  EXPECT_EQ(c->profile, "fgd");
  EXPECT_FALSE(c->kubernetes());
  EXPECT_EQ(c->body_limit, int64_t{64} << 20);
}

TEST(Config, EveryKey) {
  auto c = ParseConfig(R"(
listen: "127.0.0.1:9000"
pathPrefix: scheduler/
threads: 4
parallelism: 0
tls: {certFile: /c.pem, keyFile: /k.pem}
profile: /etc/p.yaml
profileName: mine
kubernetes: {kubeconfig: /kc, context: dev}
logLevel: debug
logJson: true
bodyLimitBytes: 1048576
requestTimeout: 5s
maxModelAge: 2m
assumedPodTtl: 45s
gangTimeout: 1h30m
seed: 42
)", "x.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->host, "127.0.0.1");
  EXPECT_EQ(c->port, 9000);
  EXPECT_EQ(c->path_prefix, "/scheduler");
  EXPECT_EQ(c->threads, 4);
  EXPECT_EQ(c->parallelism, 0);
  EXPECT_EQ(c->cert_file, "/c.pem");
  EXPECT_EQ(c->kubeconfig, "/kc");
  EXPECT_EQ(c->kube_context, "dev");
  EXPECT_TRUE(c->log_json);
  EXPECT_EQ(c->max_model_age, absl::Minutes(2));
  EXPECT_EQ(c->gang_timeout, absl::Minutes(90));
  EXPECT_EQ(c->seed, 42u);
}

TEST(Config, MistakesNameTheLineAndKey) {
  struct Case {
    std::string text, want;
  } cases[] = {
      {"listn: x", "x.yaml:1:1: listn: unknown key"},
      {"threads: 0", "threads: must be a whole number in 1..256"},
      {"maxModelAge: 10", "must be a positive duration"},
      {"tls: {certFile: a}", "certFile and keyFile go together"},
      {"kubernetes: {inCluster: yes please}", "must be true or false"},
      {"kubernetes: {inCluster: true, kubeconfig: /x}", "exclude each other"},
      {"listen: nowhere", "must be HOST:PORT"},
      {"listen: \"h:99999\"", "0..65535"},
      {"logLevel: loud", "debug, info, warn or error"},
      {"agents: []", "agents: must be a map"},
      {"agents: {staleAfter: 5s}", "name the agents (static) or how to find them (discover)"},
      {"agents: {static: {n1: nowhere}}", "agents.static.n1: must be HOST:PORT"},
      {"agents: {static: {n1: \"h:1\"}, onStale: ignore}", "must be avoid or fallback"},
      {"agents: {static: {n1: \"h:1\"}, staleAfter: 1ms}", "at least 100ms"},
      {"agents: {discover: {port: 0}}", "agents.discover.port"},
      {"agents: {discover: {}, tls: {certFile: a, keyFile: b}}", "caFile is needed"},
      {"agents: {discover: {}, push: true}", "agents.push: unknown key"},
      {"a: [", "x.yaml:1"},
      {"kubernetes: {server: x}", "kubernetes.server: unknown key"},
  };
  for (const Case& c : cases) {
    auto r = ParseConfig(c.text, "x.yaml");
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_THAT(r.status().message(), HasSubstr(c.want)) << c.text;
  }
}

TEST(Config, AgentsSection) {
  auto c = ParseConfig(R"(
agents:
  static: {gpu-1: "10.0.0.5:9444"}
  discover: {namespace: gs, labels: {app: agent}, port: 9555}
  staleAfter: 3s
  onStale: fallback
  callTimeout: 500ms
  tls: {caFile: /ca.pem}
)", "x.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->agents.enabled);
  EXPECT_EQ(c->agents.static_agents.at("gpu-1"), "10.0.0.5:9444");
  EXPECT_TRUE(c->agents.discover);
  EXPECT_EQ(c->agents.discover_namespace, "gs");
  EXPECT_EQ(c->agents.discover_labels, (std::map<std::string, std::string>{{"app", "agent"}}));
  EXPECT_EQ(c->agents.discover_port, 9555);
  EXPECT_EQ(c->agents.stale_after, absl::Seconds(3));
  EXPECT_FALSE(c->agents.avoid_when_stale);
  EXPECT_EQ(c->agents.call_timeout, absl::Milliseconds(500));
  EXPECT_EQ(c->agents.ca_file, "/ca.pem");
  auto none = ParseConfig("threads: 2", "x.yaml");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->agents.enabled);
}

TEST(Config, ListenForms) {
  ExtenderConfig c;
  ASSERT_TRUE(SetListen(":7000", c).ok());
  EXPECT_EQ(c.host, "0.0.0.0");
  EXPECT_EQ(c.port, 7000);
  ASSERT_TRUE(SetListen("[::1]:7001", c).ok());
  EXPECT_EQ(c.host, "::1");
}

// The configuration deploy/ ships is one this program accepts.
TEST(Config, TheShippedConfigParses) {
  const char* root = std::getenv("GPUSCHED_SOURCE_DIR");
  ASSERT_NE(root, nullptr);
  const std::string path = std::string(root) + "/deploy/base/scheduler-config.yaml";
  bool found = false;
  for (const YAML::Node& doc : YAML::LoadAllFromFile(path)) {
    if (!doc["data"] || !doc["data"]["extender.yaml"]) continue;
    found = true;
    auto c = ParseConfig(doc["data"]["extender.yaml"].as<std::string>(), path + " extender.yaml");
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_TRUE(c->in_cluster);
  }
  EXPECT_TRUE(found) << "no extender.yaml in " << path;
}

}  // namespace
}  // namespace gpusched::extender
