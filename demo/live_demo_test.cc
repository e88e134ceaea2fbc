// gpusched-demo end to end: the real binaries (gpusched-demo, gpusched-extender, gpusched-agent,
// gpusched), as scripts/demo.sh runs them. Checks the story the output tells (where each kind of
// pod went and why the others wait), and that no process of the demo is left afterwards, after a
// normal end and after Ctrl-C.

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gpusched::demo {
namespace {

using ::testing::ContainsRegex;
using ::testing::HasSubstr;

// The demo as a child process with its output on a pipe.
class DemoProcess {
 public:
  explicit DemoProcess(std::vector<std::string> args) {
    int fds[2];
    EXPECT_EQ(pipe2(fds, O_CLOEXEC), 0);
    args.insert(args.begin(), GPUSCHED_DEMO_BINARY);
    pid_ = fork();
    if (pid_ == 0) {
      dup2(fds[1], 1);
      dup2(fds[1], 2);
      if (chdir(GPUSCHED_SOURCE_DIR) != 0) _exit(126);
      std::vector<char*> argv;
      for (std::string& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    close(fds[1]);
    fd_ = fds[0];
  }
  ~DemoProcess() {
    if (pid_ > 0 && !exited_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (fd_ >= 0) close(fd_);
  }

  // Reads output until `marker` appears (true) or the stream ends or the deadline passes (false).
  bool ReadUntil(const std::string& marker, absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    while (!absl::StrContains(output_, marker)) {
      const int ms = static_cast<int>(absl::ToInt64Milliseconds(deadline - absl::Now()));
      if (ms <= 0) return false;
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, ms) <= 0) return false;
      char buf[4096];
      const ssize_t n = read(fd_, buf, sizeof buf);
      if (n <= 0) return false;
      output_.append(buf, static_cast<size_t>(n));
    }
    return true;
  }
  // Reads to the end and reaps the process: its exit code (-1 on timeout, then killed).
  int Finish(absl::Duration timeout) {
    ReadUntil("\x01never\x01", timeout);
    const absl::Time deadline = absl::Now() + absl::Seconds(20);
    int status = 0;
    while (waitpid(pid_, &status, WNOHANG) != pid_) {
      if (absl::Now() > deadline) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
        exited_ = true;
        return -1;
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
    exited_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  void Signal(int sig) { kill(pid_, sig); }
  pid_t pid() const { return pid_; }
  const std::string& output() const { return output_; }

 private:
  pid_t pid_ = -1;
  int fd_ = -1;
  bool exited_ = false;
  std::string output_;
};

// The processes whose parent is `parent` (from /proc/PID/stat's fourth field).
std::vector<pid_t> ChildrenOf(pid_t parent) {
  std::vector<pid_t> found;
  DIR* d = opendir("/proc");
  if (d == nullptr) return found;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    std::ifstream in(absl::StrCat("/proc/", e->d_name, "/stat"));
    std::string stat;
    std::getline(in, stat);
    // "PID (comm) S PPID ...": comm may hold spaces, so read after its closing parenthesis.
    const size_t close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(stat.substr(close + 1));
    std::string state;
    pid_t ppid = 0;
    rest >> state >> ppid;
    if (ppid == parent) found.push_back(static_cast<pid_t>(std::stol(e->d_name)));
  }
  closedir(d);
  return found;
}

// Those of `pids` that still run (a zombie has exited: it only waits for its parent to reap it).
std::vector<pid_t> StillThere(const std::vector<pid_t>& pids) {
  std::vector<pid_t> alive;
  for (pid_t p : pids) {
    if (kill(p, 0) != 0 && errno == ESRCH) continue;
    std::ifstream in(absl::StrCat("/proc/", p, "/stat"));
    std::string stat;
    std::getline(in, stat);
    const size_t close = stat.rfind(')');
    if (close != std::string::npos && close + 2 < stat.size() && stat[close + 2] == 'Z') continue;
    alive.push_back(p);
  }
  return alive;
}

std::string TempOut(const std::string& name) {
  const std::string dir = absl::StrCat(::testing::TempDir(), "/gpusched-demo-", name, "-", getpid());
  std::filesystem::remove_all(dir);
  return dir;
}

TEST(LiveDemo, PlacesTheWorkloadExplainsTheRestAndLeavesNoProcess) {
  const std::string out = TempOut("run");
  DemoProcess demo({"--bin-dir", GPUSCHED_BUILD_DIR, "--out", out});
  // Once the stack is up, the demo's children are the five agents and the extender.
  ASSERT_TRUE(demo.ReadUntil("Workload ", absl::Seconds(120))) << demo.output();
  const std::vector<pid_t> children = ChildrenOf(demo.pid());
  EXPECT_EQ(children.size(), 6u);
  const int rc = demo.Finish(absl::Seconds(240));
  const std::string& o = demo.output();
  ASSERT_EQ(rc, 0) << o;
  // The stack came up with every agent streaming.
  EXPECT_THAT(o, ContainsRegex("ready after [0-9.]+ s with 5 agents streaming")) << o;
  // The gang of 4 x 4 H100 went together onto NVSwitch-connected GPUs.
  EXPECT_THAT(o, HasSubstr("gang llama-pretrain: 4 of 4 members bound (all together)")) << o;
  EXPECT_THAT(o, ContainsRegex("research/llama-pretrain-0 +-> dgx-h100-[01]  GPUs [0-7]-[0-7] "
                               "\\(NVSwitch")) << o;
  // On the DGX-1, each 4-GPU worker got a quad joined by NVLink between every pair.
  EXPECT_THAT(o, ContainsRegex("research/resnet-dp-0 +-> dgx1-v100-0  GPUs (0-3|4-7) \\(NVLink, "
                               "at least [0-9]+ GB/s between every pair")) << o;
  // Shares of the L4s, packed: the chat replicas never spread over both GPUs before one is full.
  EXPECT_THAT(o, ContainsRegex("serving/chat-3 +-> l4-pair-0  GPU ([01]): a 250m share \\+ 5 GiB "
                               "\\(GPU now 1000m of 1000m used\\)")) << o;
  // The pods that cannot fit say why, and the impossible gang holds nothing.
  EXPECT_THAT(o, ContainsRegex("research/legacy-a100 +PENDING")) << o;
  EXPECT_THAT(o, HasSubstr("NVIDIA-A100-SXM4-80GB")) << o;
  EXPECT_THAT(o, HasSubstr("gang moe-pretrain: 0 of 4 members bound (none")) << o;
  EXPECT_THAT(o, HasSubstr("20 of 25 pods placed")) << o;
  // `gpusched explain` answers for the pending pods with changes the scheduler checked.
  EXPECT_THAT(o, HasSubstr("$ gpusched explain research/legacy-a100")) << o;
  EXPECT_THAT(o, HasSubstr("  - accept another GPU model (gpusched.io/gpu-model): NVIDIA-L40S  "
                           "(then on pcie-l40s-0)")) << o;
  EXPECT_THAT(o, ContainsRegex("wait: fits on dgx-h100-[01] once research/llama-pretrain-[0-3], "
                               "research/llama-pretrain-[0-3] leave")) << o;
  EXPECT_THAT(o, HasSubstr("at most 2 on an empty cluster (it can never fit")) << o;
  // The metrics addresses, and the simulator's comparison of the six policies.
  EXPECT_THAT(o, ContainsRegex("extender  http://127.0.0.1:[0-9]+/metrics")) << o;
  EXPECT_THAT(o, HasSubstr("fgd")) << o;
  EXPECT_THAT(o, HasSubstr("bestfit")) << o;
  EXPECT_TRUE(std::filesystem::exists(out + "/sim/report.html")) << o;
  // Everything it started is gone.
  EXPECT_THAT(o, HasSubstr("Stopped 6 processes")) << o;
  EXPECT_THAT(o, HasSubstr("0 left running")) << o;
  EXPECT_THAT(StillThere(children), ::testing::IsEmpty());
}

TEST(LiveDemo, CtrlCStopsEveryProcessItStarted) {
  const std::string out = TempOut("interrupt");
  DemoProcess demo({"--bin-dir", GPUSCHED_BUILD_DIR, "--out", out, "--no-sim", "--keep-running"});
  ASSERT_TRUE(demo.ReadUntil("Press Ctrl-C", absl::Seconds(180))) << demo.output();
  // While it runs, the extender and the five agents are up.
  const std::vector<pid_t> children = ChildrenOf(demo.pid());
  EXPECT_EQ(children.size(), 6u);
  demo.Signal(SIGINT);
  const int rc = demo.Finish(absl::Seconds(60));
  EXPECT_EQ(rc, 0) << demo.output();
  EXPECT_THAT(demo.output(), HasSubstr("0 left running")) << demo.output();
  EXPECT_THAT(StillThere(children), ::testing::IsEmpty());
}

TEST(LiveDemo, ADemoKilledOutrightTakesItsProcessesWithIt) {
  // SIGKILL gives the demo no chance to stop anything: its children go because each asked the
  // kernel for SIGTERM when their parent dies (PR_SET_PDEATHSIG).
  // The orphans are re-parented to this test (as they would be to init) so that it can reap them.
  ASSERT_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
  const std::string out = TempOut("kill");
  DemoProcess demo({"--bin-dir", GPUSCHED_BUILD_DIR, "--out", out, "--no-sim", "--keep-running"});
  ASSERT_TRUE(demo.ReadUntil("Press Ctrl-C", absl::Seconds(180))) << demo.output();
  const std::vector<pid_t> children = ChildrenOf(demo.pid());
  EXPECT_EQ(children.size(), 6u);
  demo.Signal(SIGKILL);
  EXPECT_EQ(demo.Finish(absl::Seconds(30)), 128 + SIGKILL);
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (!StillThere(children).empty() && absl::Now() < deadline) {
    while (waitpid(-1, nullptr, WNOHANG) > 0) {
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  while (waitpid(-1, nullptr, WNOHANG) > 0) {
  }
  EXPECT_THAT(StillThere(children), ::testing::IsEmpty());
}

TEST(LiveDemo, AMissingBinaryIsAClearErrorAndStartsNothing) {
  const std::string out = TempOut("missing");
  DemoProcess demo({"--bin-dir", "/nonexistent", "--out", out, "--no-sim"});
  const int rc = demo.Finish(absl::Seconds(60));
  EXPECT_EQ(rc, 1) << demo.output();
  EXPECT_THAT(demo.output(), HasSubstr("/nonexistent/agent/gpusched-agent is not an executable"));
  EXPECT_THAT(demo.output(), HasSubstr("0 left running"));
}

TEST(LiveDemo, ABrokenWorkloadIsRefusedBeforeAnythingStarts) {
  const std::string out = TempOut("broken");
  std::filesystem::create_directories(out);
  {
    std::ofstream w(out + "/w.yaml");
    w << "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {}\n";
  }
  DemoProcess demo({"--bin-dir", GPUSCHED_BUILD_DIR, "--out", out, "--workload", out + "/w.yaml"});
  EXPECT_EQ(demo.Finish(absl::Seconds(60)), 1) << demo.output();
  EXPECT_THAT(demo.output(), HasSubstr("document 1 (Pod default/p): spec.containers: missing"));
  EXPECT_THAT(demo.output(), ::testing::Not(HasSubstr("Starting")));
}

}  // namespace
}  // namespace gpusched::demo
