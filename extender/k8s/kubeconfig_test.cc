#include "extender/k8s/kubeconfig.h"

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gpusched::extender::k8s {
namespace {

using ::testing::HasSubstr;

constexpr char kCaPem[] = "-----BEGIN CERTIFICATE-----\nMIIBca\n-----END CERTIFICATE-----\n";
constexpr char kCertPem[] = "-----BEGIN CERTIFICATE-----\nMIIBcert\n-----END CERTIFICATE-----\n";
constexpr char kKeyPem[] = "-----BEGIN PRIVATE KEY-----\nMIIBkey\n-----END PRIVATE KEY-----\n";

class KubeconfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "kubeconfig_test.XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& rel, const std::string& content) {
    std::filesystem::path p = std::filesystem::path(dir_) / rel;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p) << content;
    return p.string();
  }
  std::string Path(const std::string& rel) { return (std::filesystem::path(dir_) / rel).string(); }

  std::string dir_;
};

std::string B64(const std::string& s) { return absl::Base64Escape(s); }

TEST_F(KubeconfigTest, DataFields) {
  std::string path = Write("config", absl::StrCat(R"(apiVersion: v1
kind: Config
current-context: prod
clusters:
- name: c1
  cluster:
    server: https://10.0.0.1:6443/
    certificate-authority-data: )", B64(kCaPem), R"(
    tls-server-name: kubernetes.default
contexts:
- name: prod
  context: {cluster: c1, user: admin, namespace: ml}
users:
- name: admin
  user:
    token: abc.def
    client-certificate-data: )", B64(kCertPem), R"(
    client-key-data: )", B64(kKeyPem), "\n"));
  absl::StatusOr<http::ClientOptions> o = LoadKubeconfig(path);
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->base_url, "https://10.0.0.1:6443");
  EXPECT_EQ(o->ca_data, kCaPem);
  EXPECT_EQ(o->ca_file, "");
  EXPECT_EQ(o->server_name, "kubernetes.default");
  EXPECT_FALSE(o->insecure);
  EXPECT_EQ(o->bearer_token, "abc.def");
  EXPECT_EQ(o->cert_data, kCertPem);
  EXPECT_EQ(o->key_data, kKeyPem);
  EXPECT_EQ(o->cert_file, "");
}

TEST_F(KubeconfigTest, FileFieldsResolveRelativeToTheKubeconfig) {
  Write("kube/certs/ca.crt", kCaPem);
  Write("kube/certs/client.crt", kCertPem);
  Write("kube/certs/client.key", kKeyPem);
  Write("kube/token", "  tok-from-file\n");
  std::string path = Write("kube/config", R"(
current-context: dev
clusters:
- name: c1
  cluster:
    server: https://api.example.com
    certificate-authority: certs/ca.crt
contexts:
- name: dev
  context: {cluster: c1, user: u1}
users:
- name: u1
  user:
    tokenFile: token
    client-certificate: certs/client.crt
    client-key: )" + Path("kube/certs/client.key") + "\n");
  absl::StatusOr<http::ClientOptions> o = LoadKubeconfig(path);
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->ca_file, Path("kube/certs/ca.crt"));
  EXPECT_EQ(o->cert_file, Path("kube/certs/client.crt"));
  EXPECT_EQ(o->key_file, Path("kube/certs/client.key"));
  EXPECT_EQ(o->bearer_token, "tok-from-file");
  EXPECT_EQ(o->bearer_token_file, Path("kube/token"));  // followed when it is rewritten
  EXPECT_EQ(o->ca_data, "");
}

TEST_F(KubeconfigTest, ContextSelection) {
  std::string path = Write("config", R"(
current-context: a
clusters:
- {name: ca, cluster: {server: "https://a:6443"}}
- {name: cb, cluster: {server: "http://127.0.0.1:8080", insecure-skip-tls-verify: true}}
contexts:
- {name: a, context: {cluster: ca, user: ua}}
- {name: b, context: {cluster: cb}}
users:
- {name: ua, user: {token: ta}}
)");
  absl::StatusOr<http::ClientOptions> a = LoadKubeconfig(path);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->base_url, "https://a:6443");
  EXPECT_EQ(a->bearer_token, "ta");
  absl::StatusOr<http::ClientOptions> b = LoadKubeconfig(path, "b");
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->base_url, "http://127.0.0.1:8080");  // plain http is allowed
  EXPECT_TRUE(b->insecure);
  EXPECT_EQ(b->bearer_token, "");  // no user: anonymous

  absl::StatusOr<http::ClientOptions> c = LoadKubeconfig(path, "nope");
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(c.status().message(), "kubeconfig " + path + ": context \"nope\" not found");
}

TEST_F(KubeconfigTest, BareHostPortMeansHttps) {
  std::string path = Write("config", R"(
current-context: a
clusters: [{name: c, cluster: {server: "10.1.2.3:443"}}]
contexts: [{name: a, context: {cluster: c}}]
)");
  absl::StatusOr<http::ClientOptions> o = LoadKubeconfig(path);
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->base_url, "https://10.1.2.3:443");
}

TEST_F(KubeconfigTest, MissingPieces) {
  auto load = [&](const std::string& yaml, std::string_view ctx = "") {
    return LoadKubeconfig(Write("config", yaml), ctx).status();
  };
  const std::string file = Path("config");

  absl::Status s = load(R"(
current-context: dev
clusters: [{name: c1, cluster: {server: "https://x"}}]
contexts: [{name: dev, context: {cluster: c2, user: u}}]
)");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "kubeconfig " + file + ": contexts[name=dev]: cluster \"c2\" not found");

  s = load(R"(
current-context: dev
clusters: [{name: c1, cluster: {server: "https://x"}}]
contexts: [{name: dev, context: {cluster: c1, user: u}}]
users: [{name: other, user: {token: t}}]
)");
  EXPECT_EQ(s.message(), "kubeconfig " + file + ": contexts[name=dev]: user \"u\" not found");

  s = load(R"(
current-context: dev
clusters: [{name: c1, cluster: {certificate-authority-data: ""}}]
contexts: [{name: dev, context: {cluster: c1}}]
)");
  EXPECT_EQ(s.message(), "kubeconfig " + file + ": clusters[name=c1].cluster.server: missing");

  s = load(R"(
clusters: [{name: c1, cluster: {server: "https://x"}}]
contexts: [{name: dev, context: {cluster: c1}}]
)");
  EXPECT_THAT(s.message(), HasSubstr("current-context is not set"));
  EXPECT_TRUE(load("clusters: []\n", "dev").message() ==
              "kubeconfig " + file + ": context \"dev\" not found");

  s = load(R"(
current-context: dev
contexts: [{name: dev, context: {user: u}}]
)");
  EXPECT_EQ(s.message(), "kubeconfig " + file + ": contexts[name=dev].context.cluster: missing");

  s = load(R"(
current-context: dev
clusters: [{name: c1, cluster: {server: "https://x", certificate-authority: nope/ca.crt}}]
contexts: [{name: dev, context: {cluster: c1}}]
)");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("clusters[name=c1].cluster.certificate-authority: cannot read \"" +
                                     Path("nope/ca.crt") + "\""));

  s = load(R"(
current-context: dev
clusters: [{name: c1, cluster: {server: "https://x"}}]
contexts: [{name: dev, context: {cluster: c1, user: u}}]
users: [{name: u, user: {client-certificate-data: )" + B64(kCertPem) + "}}]\n");
  EXPECT_THAT(s.message(), HasSubstr("users[name=u].user: client-certificate(-data) is set but "
                                     "client-key(-data) is not"));

  s = load(R"(
current-context: dev
clusters: [{name: c1, cluster: {server: "https://x"}}]
contexts: [{name: dev, context: {cluster: c1, user: u}}]
users: [{name: u, user: {tokenFile: missing-token}}]
)");
  EXPECT_THAT(s.message(), HasSubstr("users[name=u].user.tokenFile: cannot read"));

  s = load(R"(
current-context: dev
clusters: [{name: c1, cluster: {server: "ftp://x"}}]
contexts: [{name: dev, context: {cluster: c1}}]
)");
  EXPECT_THAT(s.message(), HasSubstr("clusters[name=c1].cluster.server: unsupported scheme"));

  s = load(R"(
current-context: dev
clusters: [{name: c1, cluster: {server: "https://x", insecure-skip-tls-verify: maybe}}]
contexts: [{name: dev, context: {cluster: c1}}]
)");
  EXPECT_THAT(s.message(),
              HasSubstr("clusters[name=c1].cluster.insecure-skip-tls-verify: must be true or false"));

  s = load(R"(
current-context: dev
clusters: [{name: c1, cluster: {server: "https://x", insecure-skip-tls-verify: true,
            certificate-authority-data: )" + B64(kCaPem) + R"(}}]
contexts: [{name: dev, context: {cluster: c1}}]
)");
  EXPECT_THAT(s.message(), HasSubstr("insecure-skip-tls-verify together with a certificate"));
}

TEST_F(KubeconfigTest, ExecAuthProviderAndBasicAuthAreUnimplemented) {
  const std::string head = R"(
current-context: dev
clusters: [{name: c1, cluster: {server: "https://x"}}]
contexts: [{name: dev, context: {cluster: c1, user: u}}]
)";
  absl::Status s = LoadKubeconfig(Write("config", head + R"(
users:
- name: u
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: aws
      args: [eks, get-token]
)")).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(s.message(), HasSubstr("users[name=u].user.exec: exec credential plugins are not "
                                     "supported (command \"aws\")"));

  s = LoadKubeconfig(Write("config", head + R"(
users: [{name: u, user: {auth-provider: {name: gcp, config: {}}}}]
)")).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(s.message(), HasSubstr("auth provider plugins are not supported (name \"gcp\")"));

  s = LoadKubeconfig(Write("config", head + R"(
users: [{name: u, user: {username: admin, password: hunter2}}]
)")).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(s.message(), HasSubstr("basic authentication"));
}

TEST_F(KubeconfigTest, Base64Garbage) {
  const std::string head = R"(
current-context: dev
contexts: [{name: dev, context: {cluster: c1, user: u}}]
)";
  absl::Status s = LoadKubeconfig(Write("config", head + R"(
clusters: [{name: c1, cluster: {server: "https://x", certificate-authority-data: "!!not*base64!!"}}]
)")).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(),
              HasSubstr("clusters[name=c1].cluster.certificate-authority-data: not valid base64"));

  s = LoadKubeconfig(Write("config", head + R"(
clusters: [{name: c1, cluster: {server: "https://x"}}]
users: [{name: u, user: {client-certificate-data: )" + B64("just text") + ", client-key-data: " +
                           B64(kKeyPem) + "}}]\n"))
          .status();
  EXPECT_THAT(s.message(), HasSubstr("users[name=u].user.client-certificate-data: does not decode "
                                     "to PEM"));
}

TEST_F(KubeconfigTest, UnreadableOrMalformedFiles) {
  absl::Status s = LoadKubeconfig(Path("absent")).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(s.message(), HasSubstr("kubeconfig " + Path("absent") + ": cannot read the file"));

  s = LoadKubeconfig(Write("config", "clusters: [unclosed\n")).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("invalid YAML"));

  s = LoadKubeconfig(Write("config", "- just\n- a list\n")).status();
  EXPECT_THAT(s.message(), HasSubstr("not a YAML mapping"));

  s = LoadKubeconfig(Write("config", "")).status();
  EXPECT_THAT(s.message(), HasSubstr("empty"));

  s = LoadKubeconfig(Write("config", "current-context: a\ncontexts: {a: b}\n")).status();
  EXPECT_THAT(s.message(), HasSubstr("contexts: must be a list"));

  s = LoadKubeconfig(Write("config", "current-context: [x]\n")).status();
  EXPECT_THAT(s.message(), HasSubstr("current-context: must be a string"));
}

TEST_F(KubeconfigTest, DefaultKubeconfigPath) {
  setenv("KUBECONFIG", "/a/one:/b/two", 1);
  EXPECT_EQ(DefaultKubeconfigPath(), "/a/one");
  unsetenv("KUBECONFIG");
  setenv("HOME", "/home/me", 1);
  EXPECT_EQ(DefaultKubeconfigPath(), "/home/me/.kube/config");
}

class InClusterTest : public KubeconfigTest {
 protected:
  void SetUp() override {
    KubeconfigTest::SetUp();
    setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
    setenv("KUBERNETES_SERVICE_PORT", "443", 1);
  }
  void TearDown() override {
    unsetenv("KUBERNETES_SERVICE_HOST");
    unsetenv("KUBERNETES_SERVICE_PORT");
    KubeconfigTest::TearDown();
  }
};

TEST_F(InClusterTest, ReadsTheServiceAccount) {
  Write("sa/token", "eyJhbGciOi.token\n");
  Write("sa/ca.crt", kCaPem);
  absl::StatusOr<http::ClientOptions> o = InClusterConfig(Path("sa"));
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->base_url, "https://10.96.0.1:443");
  EXPECT_EQ(o->bearer_token, "eyJhbGciOi.token");
  EXPECT_EQ(o->bearer_token_file, Path("sa") + "/token");  // the kubelet rotates it
  EXPECT_EQ(o->ca_file, Path("sa") + "/ca.crt");

  setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
  o = InClusterConfig(Path("sa"));
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->base_url, "https://[fd00::1]:443");
}

TEST_F(InClusterTest, SaysWhatIsMissing) {
  Write("sa/ca.crt", kCaPem);
  absl::Status s = InClusterConfig(Path("sa")).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(s.message(), HasSubstr("service account token " + Path("sa") + "/token"));

  Write("sa/token", "\n");
  s = InClusterConfig(Path("sa")).status();
  EXPECT_THAT(s.message(), HasSubstr("is empty"));

  Write("sa/token", "t");
  std::filesystem::remove(Path("sa/ca.crt"));
  s = InClusterConfig(Path("sa")).status();
  EXPECT_THAT(s.message(), HasSubstr("cluster CA " + Path("sa") + "/ca.crt"));

  unsetenv("KUBERNETES_SERVICE_PORT");
  s = InClusterConfig(Path("sa")).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("KUBERNETES_SERVICE_PORT is not set"));
  unsetenv("KUBERNETES_SERVICE_HOST");
  s = InClusterConfig(Path("sa")).status();
  EXPECT_THAT(s.message(),
              HasSubstr("KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set"));
}

}  // namespace
}  // namespace gpusched::extender::k8s
