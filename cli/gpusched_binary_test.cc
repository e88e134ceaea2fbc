// The real `gpusched` binary under hostile arguments and inputs: whatever it is given, it exits
// with 0, 1 or 2 (never a signal: no crash, no abort, no bad_alloc), within a stated bound (no
// hang on an endless input), with a message on stderr for 1 and 2, and never writes raw control
// bytes to the terminal. Each case runs the binary in a child process with a deadline.

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#ifndef GPUSCHED_BINARY
#error "GPUSCHED_BINARY must name the gpusched executable"
#endif

namespace {

using ::testing::HasSubstr;

constexpr auto kDeadline = std::chrono::seconds(60);  // the bound every case must meet

struct Outcome {
  bool exited = false;  // false: killed by a signal, or by us at the deadline
  int code = -1;
  int signal = 0;
  bool timed_out = false;
  std::string out, err;
};

// Unique per process: ctest runs the tests of this file as parallel processes.
std::string Temp(const std::string& name) {
  return (std::filesystem::path(::testing::TempDir()) /
          ("binary_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Outcome RunGpusched(const std::vector<std::string>& args) {
  const std::string out_path = Temp("stdout"), err_path = Temp("stderr");
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const int in = ::open("/dev/null", O_RDONLY);
    ::dup2(out, 1);
    ::dup2(err, 2);
    ::dup2(in, 0);
    std::vector<char*> argv;
    std::string binary = GPUSCHED_BINARY;
    argv.push_back(binary.data());
    std::vector<std::string> copy = args;
    for (std::string& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(binary.c_str(), argv.data());
    ::_exit(127);
  }
  Outcome o;
  const auto start = std::chrono::steady_clock::now();
  int status = 0;
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() - start > kDeadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      o.timed_out = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (!o.timed_out && WIFEXITED(status)) {
    o.exited = true;
    o.code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    o.signal = WTERMSIG(status);
  }
  o.out = Slurp(out_path);
  o.err = Slurp(err_path);
  return o;
}

void ExpectCleanFailure(const Outcome& o, int code, const std::string& want) {
  EXPECT_FALSE(o.timed_out) << "ran past the deadline";
  ASSERT_TRUE(o.exited) << "killed by signal " << o.signal << "; stderr: " << o.err;
  EXPECT_EQ(o.code, code) << o.err;
  EXPECT_THAT(o.err, HasSubstr(want));
  for (unsigned char c : o.err + o.out) {
    ASSERT_TRUE(c == '\n' || c == '\t' || (c >= 0x20 && c != 0x7f))
        << "raw byte " << int{c} << " written to the terminal";
  }
}

TEST(GpuschedBinary, HelpAndListSucceed) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"--help"}, {"demo", "--help"}, {"sim", "--help"},
        {"jobs", "--help"}, {"topo", "--help"}, {"topo", "best", "--help"}, {"topo", "list"}}) {
    const Outcome o = RunGpusched(args);
    ASSERT_TRUE(o.exited) << args[0];
    EXPECT_EQ(o.code, 0) << args[0] << ": " << o.err;
    EXPECT_FALSE(o.out.empty());
  }
}

TEST(GpuschedBinary, UsageErrorsExitTwo) {
  const std::string out = Temp("out");
  struct Case {
    std::vector<std::string> args;
    std::string want;
  };
  for (const Case& c : std::vector<Case>{
           {{}, "A subcommand is required"},
           {{"frobnicate"}, "frobnicate"},
           {{"sim", "--out", "--json"}, "\"--json\" is a flag"},
           {{"sim", "--seeds", "18446744073709551615-18446744073709551615,0-18446744073709551615"},
            "more than 10000 seeds"},
           {{"demo", "--seed", "99999999999999999999999"}, "--seed"},
           {{"topo", "best", "--preset", "dgx1-v100", "--count", "2", "--free", ""}, "--free"},
           {{"jobs", "--nodes", "-5", "--out", out}, "--nodes"},
       }) {
    SCOPED_TRACE(c.args.empty() ? "(none)" : c.args[0]);
    ExpectCleanFailure(RunGpusched(c.args), 2, c.want);
  }
}

TEST(GpuschedBinary, HostileInputFilesFailCleanlyWithinTheBound) {
  // Inputs of every kind the tools read: special files, garbage, endless and oversized files.
  const std::string fifo = Temp("fifo");
  std::filesystem::remove(fifo);
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  std::string garbage;
  for (int i = 0; i < 4096; ++i) garbage += static_cast<char>((i * 131 + 7) & 0xff);
  const std::string bin = Temp("garbage.bin");
  std::ofstream(bin, std::ios::binary) << garbage;
  const std::string big = Temp("big.csv");
  {
    std::ofstream f(big, std::ios::binary);
    const std::string row(1023, 'x');
    for (int i = 0; i < 3 * 1024; ++i) f << row << "\n";  // 3 MiB
  }
  const std::string bomb = Temp("bomb.yaml");
  std::ofstream(bomb) << "a: &a [x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a]\n"
                         "c: &c [*b,*b,*b,*b,*b,*b,*b,*b]\nprofiles: [{name: p, plugins: [*c]}]\n";
  const std::string out = Temp("out");
  struct Case {
    std::vector<std::string> args;
    std::string want;
  };
  for (const Case& c : std::vector<Case>{
           {{"sim", "--cluster", "/dev/zero", "--trace", "/dev/zero", "--out", out},
            "character device"},
           {{"sim", "--cluster", "/dev/urandom", "--trace", bin, "--out", out}, "character device"},
           {{"sim", "--cluster", fifo, "--trace", fifo, "--out", out}, "pipe"},
           {{"sim", "--cluster", bin, "--trace", bin, "--out", out}, "garbage.bin"},
           {{"sim", "--cluster", big, "--trace", big, "--max-input-mb", "1", "--out", out},
            "over the input limit"},
           {{"sim", "--policy", bomb, "--out", out}, "bomb.yaml"},
           {{"sim", "--cluster", ::testing::TempDir(), "--trace", bin, "--out", out},
            "is a directory"},
           {{"jobs", "--trace", fifo, "--out", out}, "pipe"},
           {{"jobs", "--trace", bin, "--out", out}, "garbage.bin"},
           {{"jobs", "--trace", bin, "--throughputs", bin, "--out", out}, "garbage.bin"},
           {{"topo", "show", "--topology", "/dev/zero"}, "character device"},
           {{"topo", "show", "--topology", bin}, "garbage.bin"},
           {{"topo", "best", "--topology", big, "--count", "1", "--max-input-mb", "1"},
            "over the input limit"},
           {{"demo", "--profiles", bomb}, "bomb.yaml"},
           {{"demo", "--profiles", fifo}, "pipe"},
           {{"sim", "--out", "/dev/null/x", "--policy", "random", "--seeds", "1"}, "--out"},
       }) {
    SCOPED_TRACE(c.args[0] + " " + c.args[1] + " " + c.args[2]);
    ExpectCleanFailure(RunGpusched(c.args), 1, c.want);
  }
}

}  // namespace
