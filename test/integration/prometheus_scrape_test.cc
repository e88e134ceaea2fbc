// A real Prometheus (Debian's prometheus package) scrapes gpusched-extender's /metrics over
// loopback, and promtool lints what the extender exports. Skips, saying so, when the binaries
// are not installed.

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "extender/app.h"
#include "common/http/http.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

extern char** environ;

namespace gpusched::extender {
namespace {

using Json = nlohmann::json;

// A port nothing listens on right now (bound, read, released).
int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

class PrometheusScrapeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ExtenderConfig config;
    config.host = "127.0.0.1";
    config.port = 0;
    config.log_level = "warn";
    auto app = ExtenderApp::Start(config);
    ASSERT_TRUE(app.ok()) << app.status();
    app_ = std::move(*app);
    auto client = http::Client::Create(
        http::ClientOptions{.base_url = absl::StrCat("http://127.0.0.1:", app_->port())});
    ASSERT_TRUE(client.ok());
    client_ = std::move(*client);
    // One request of each kind, so that the request metrics exist.
    ASSERT_TRUE(client_->Do("POST", "/filter", R"({"Pod":{"metadata":{"name":"p"}},"NodeNames":["n"]})").ok());
    ASSERT_TRUE(client_->Do("POST", "/filter", "{bad").ok());
    dir_ = std::filesystem::temp_directory_path() /
           absl::StrCat("gpusched-prom-", getpid(), "-", absl::ToUnixNanos(absl::Now()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  std::unique_ptr<ExtenderApp> app_;
  std::unique_ptr<http::Client> client_;
  std::filesystem::path dir_;
  pid_t pid_ = -1;
};

TEST_F(PrometheusScrapeTest, PromtoolAcceptsTheExtendersMetrics) {
  if (access("/usr/bin/promtool", X_OK) != 0) GTEST_SKIP() << "promtool not installed (Debian package prometheus)";
  auto r = client_->Do("GET", "/metrics");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200);
  EXPECT_THAT(r->body, ::testing::HasSubstr("gpusched_extender_requests_total{code=\"400\",verb=\"filter\"} 1"));
  const std::string file = (dir_ / "metrics.txt").string();
  std::ofstream(file) << r->body;
  const std::string out = (dir_ / "promtool.out").string();
  const int rc = std::system(absl::StrCat("/usr/bin/promtool check metrics < ", file, " > ", out, " 2>&1").c_str());
  std::ifstream in(out);
  const std::string complaints((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(rc, 0) << complaints;
  EXPECT_EQ(complaints, "");
}

TEST_F(PrometheusScrapeTest, ARealPrometheusScrapesTheEndpoint) {
  if (access("/usr/bin/prometheus", X_OK) != 0) GTEST_SKIP() << "prometheus not installed (Debian package prometheus)";
  const int port = FreePort();
  const std::string config = (dir_ / "prometheus.yml").string();
  std::ofstream(config) << "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
                        << "scrape_configs:\n"
                        << "- job_name: gpusched-extender\n"
                        << "  static_configs: [{targets: ['127.0.0.1:" << app_->port() << "']}]\n";
  const std::string a1 = "--config.file=" + config;
  const std::string a2 = "--storage.tsdb.path=" + (dir_ / "data").string();
  const std::string a3 = absl::StrCat("--web.listen-address=127.0.0.1:", port);
  const std::string log = (dir_ / "prometheus.log").string();
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  const char* argv[] = {"/usr/bin/prometheus", a1.c_str(), a2.c_str(), a3.c_str(),
                        "--log.level=warn", nullptr};
  ASSERT_EQ(posix_spawn(&pid_, argv[0], &fa, nullptr, const_cast<char**>(argv), environ), 0);
  posix_spawn_file_actions_destroy(&fa);

  auto prom = http::Client::Create(http::ClientOptions{.base_url = absl::StrCat("http://127.0.0.1:", port),
                                                       .timeout = absl::Seconds(2)});
  ASSERT_TRUE(prom.ok());
  // The target is up, and a sample of ours arrived with the value the extender counted.
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  std::string last;
  for (;;) {
    ASSERT_LT(absl::Now(), deadline) << "Prometheus never scraped the extender; last answer: " << last;
    absl::SleepFor(absl::Milliseconds(300));
    auto r = (*prom)->Do("GET", "/api/v1/query?query=gpusched_extender_requests_total%7Bcode%3D%22400%22%7D");
    if (!r.ok() || r->status != 200) continue;
    last = r->body;
    Json j = Json::parse(r->body, nullptr, false);
    if (j.is_discarded() || !j.contains("data") || j["data"]["result"].empty()) continue;
    EXPECT_EQ(j["data"]["result"][0]["metric"]["verb"], "filter");
    EXPECT_EQ(j["data"]["result"][0]["value"][1], "1");
    break;
  }
  auto targets = (*prom)->Do("GET", "/api/v1/targets");
  ASSERT_TRUE(targets.ok());
  Json t = Json::parse(targets->body);
  ASSERT_FALSE(t["data"]["activeTargets"].empty());
  EXPECT_EQ(t["data"]["activeTargets"][0]["health"], "up");
  EXPECT_EQ(t["data"]["activeTargets"][0]["lastError"], "");
}

}  // namespace
}  // namespace gpusched::extender
