// The offline tools under hostile input, one test per class of problem (issue: "the offline
// tools under hostile input"): flags, lost work, inputs that are usable but odd (warnings), and
// unbounded inputs. Each case runs the command in-process as `gpusched <command>` would.
// Crashes and hangs of the real binary are covered by gpusched_binary_test.cc.

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli/demo.h"
#include "cli/jobs.h"
#include "cli/sim.h"
#include "cli/topo.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace gpusched::cli {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

struct Result {
  int rc;
  std::string out, err;
};

template <typename Fn>
Result Capture(Fn fn, const std::vector<std::string>& args) {
  std::ostringstream out, err;
  const int rc = fn(args, out, err);
  return {rc, out.str(), err.str()};
}
Result Sim(const std::vector<std::string>& args) { return Capture(RunSim, args); }
Result Jobs(const std::vector<std::string>& args) { return Capture(RunJobs, args); }
Result Topo(const std::vector<std::string>& args) { return Capture(RunTopo, args); }
Result Demo(const std::vector<std::string>& args) { return Capture(RunDemo, args); }

// Unique per process: ctest runs each test as its own process, several at a time.
std::string Temp(const std::string& name) {
  return (std::filesystem::path(::testing::TempDir()) /
          ("hostile_" + std::to_string(::getpid()) + "_" + name))
      .string();
}
std::string Write(const std::string& name, const std::string& text) {
  const std::string path = Temp(name);
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

constexpr char kNodes[] =
    "sn,cpu_milli,memory_mib,gpu,model\n"
    "n1,64000,262144,8,G2\n"
    "n2,64000,262144,4,T4\n";
constexpr char kPodsHeader[] =
    "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,"
    "deletion_time,scheduled_time\n";

// ---------------------------------------------------------------------------------------------
// Flags: usage errors are exit 2 with a message naming the flag, before any work.

TEST(HostileFlags, EveryUsageErrorIsExit2AndNamesTheFlag) {
  struct Case {
    std::string name;
    Result (*cmd)(const std::vector<std::string>&);
    std::vector<std::string> args;
    std::string want;
  };
  const std::string out = Temp("flags-out");
  const std::vector<Case> cases = {
      {"the next flag taken as --out's value", Sim, {"--out", "--json"}, "\"--json\" is a flag"},
      {"empty --out", Sim, {"--out", ""}, "--out: an empty value"},
      {"missing value at the end", Sim, {"--out", Temp("flags-out"), "--seeds"},
       "--seeds: 1 required"},
      {"a flag given twice", Sim, {"--mode", "replay", "--mode", "inflation"}, "--mode"},
      {"--inflation without inflation mode", Sim, {"--mode", "replay", "--inflation", "2"},
       "--inflation applies to --mode inflation only"},
      {"--extender-weight without the extender path", Sim, {"--extender-weight", "5"},
       "--extender-weight applies to --path extender only"},
      {"--inflation out of range", Sim, {"--inflation", "0"}, "--inflation"},
      {"seed given twice", Sim, {"--seeds", "1-3,2"}, "seed 2 is given twice"},
      {"seed range to the top of uint64", Sim, {"--seeds", "1-18446744073709551615"},
       "more than 10000 seeds"},
      {"seed that is not a number", Sim, {"--seeds", "x"}, "--seeds"},
      {"policy given twice", Sim, {"--policy", "fgd,bestfit,fgd"}, "\"fgd\" is given twice"},
      {"topology model mapped twice", Sim, {"--topology", "G2=dgx1-v100,G2=dgx-a100"},
       "model G2 is mapped twice"},
      {"unknown topology preset", Sim, {"--topology", "G2=dgx-9000"}, "dgx-9000"},
      {"--gpu without --throughputs", Jobs, {"--gpu", "k80"}, "--gpu requires --throughputs"},
      {"--throughputs without --trace", Jobs, {"--throughputs", "t.json"},
       "--throughputs requires --trace"},
      {"--nvlink-domain-nodes without --gang-topology", Jobs, {"--nvlink-domain-nodes", "4"},
       "requires --gang-topology"},
      {"run given twice", Jobs, {"--runs", "gang/fifo,gang/fifo"}, "gang/fifo is given twice"},
      {"gpus per pod that does not divide 8", Jobs, {"--gpus-per-pod", "3"}, "--gpus-per-pod"},
      {"negative demo seed", Demo, {"--seed", "-1"}, "--seed"},
      {"a best flag on show", Topo, {"show", "--preset", "dgx1-v100", "--numa", "0"}, "--numa"},
      {"count over the limit", Topo, {"best", "--preset", "dgx1-v100", "--count", "5000"},
       "--count"},
  };
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.name);
    std::vector<std::string> args = tc.args;
    if (tc.cmd == Sim || tc.cmd == Jobs) {
      if (std::find(args.begin(), args.end(), "--out") == args.end()) {
        args.insert(args.end(), {"--out", out});
      }
    }
    const Result r = tc.cmd(args);
    EXPECT_EQ(r.rc, 2) << r.err;
    EXPECT_THAT(r.err, HasSubstr(tc.want));
    EXPECT_THAT(r.out, IsEmpty());
    EXPECT_FALSE(std::filesystem::exists("--json"));
  }
}

TEST(HostileFlags, FlagsAreCheckedBeforeAnyInputIsRead) {
  // A bad --mode with missing input files: the mode is the error, not the files.
  const Result r = Sim({"--mode", "fast", "--cluster", "/nonexistent/n.csv", "--trace",
                     "/nonexistent/p.csv", "--out", Temp("before")});
  EXPECT_EQ(r.rc, 2);
  EXPECT_THAT(r.err, AllOf(HasSubstr("--mode"), Not(HasSubstr("nonexistent"))));
}

TEST(HostileFlags, HelpWorksForEveryCommand) {
  for (auto* cmd : {Sim, Jobs, Demo}) {
    const Result r = cmd({"--help"});
    EXPECT_EQ(r.rc, 0);
    EXPECT_THAT(r.out, HasSubstr("Usage:"));
  }
  for (const char* sub : {"list", "show", "best"}) {
    const Result r = Topo({sub, "--help"});
    EXPECT_EQ(r.rc, 0) << sub;
    EXPECT_THAT(r.out, HasSubstr("Usage:"));
  }
}

TEST(HostileFlags, EveryBuiltinProfileOfferedByDemoRuns) {
  for (const char* profile : {"baseline", "binpack", "random", "dotprod", "clustering",
                              "packing", "bestfit", "fgd", "fgd-headroom", "fgd-topology",
                              "gang", "gang-topology"}) {
    const Result r = Demo({"--profile", profile});
    EXPECT_EQ(r.rc, 0) << profile << ": " << r.err;
    EXPECT_THAT(r.out, HasSubstr("pods bound.")) << profile;
  }
}

// ---------------------------------------------------------------------------------------------
// Lost work: the output directory is checked before any work, and a failure says why.

TEST(HostileOutput, AnUnusableOutDirStopsBeforeAnyWork) {
  const std::string file = Write("a-file", "x");
  for (const std::string& out : {file, file + "/sub"}) {
    SCOPED_TRACE(out);
    const Result sim = Sim({"--policy", "random", "--seeds", "1", "--out", out});
    EXPECT_EQ(sim.rc, 1);
    EXPECT_THAT(sim.err, HasSubstr("--out " + out));
    EXPECT_THAT(sim.err, Not(HasSubstr("[1/1]")));  // no run was made
    const Result jobs = Jobs({"--runs", "gang/fifo", "--out", out});
    EXPECT_EQ(jobs.rc, 1);
    EXPECT_THAT(jobs.err, HasSubstr("--out " + out));
    EXPECT_THAT(jobs.out, IsEmpty());
  }
}

TEST(HostileOutput, AFileArgumentThatIsNotARegularFileIsNamedForWhatItIs) {
  const std::string dir = std::filesystem::path(::testing::TempDir()).string();
  const std::string fifo = Temp("fifo");
  std::filesystem::remove(fifo);
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  struct Case {
    std::string path, want;
  };
  for (const Case& c : {Case{dir, "is a directory, not a file"},
                        Case{"/dev/zero", "is a character device"},
                        Case{fifo, "is a pipe"}}) {
    SCOPED_TRACE(c.path);
    const Result sim = Sim({"--cluster", c.path, "--trace", c.path, "--out", Temp("nrf")});
    EXPECT_EQ(sim.rc, 1);
    EXPECT_THAT(sim.err, HasSubstr(c.want));
    const Result topo = Topo({"show", "--topology", c.path});
    EXPECT_EQ(topo.rc, 1);
    EXPECT_THAT(topo.err, HasSubstr(c.want));
    const Result demo = Demo({"--profiles", c.path});
    EXPECT_EQ(demo.rc, 1);
    EXPECT_THAT(demo.err, HasSubstr(c.want));
  }
  const Result jobs = Jobs({"--trace", "/dev/zero", "--out", Temp("nrf")});
  EXPECT_EQ(jobs.rc, 1);
  EXPECT_THAT(jobs.err, HasSubstr("is a character device"));
}

// ---------------------------------------------------------------------------------------------
// Unbounded inputs: a size limit per file, stated with the flag that raises it.

TEST(HostileSize, AFileOverTheLimitIsRefusedNamingTheLimitAndTheFlag) {
  std::string pods = kPodsHeader;
  while (pods.size() < (size_t{1} << 20) + 1000) {
    pods += "p" + std::to_string(pods.size()) + ",1000,1024,0,0,,BE,Running,0,10,0\n";
  }
  const std::string nodes = Write("limit_nodes.csv", kNodes);
  const std::string big = Write("limit_pods.csv", pods);
  const Result r = Sim({"--cluster", nodes, "--trace", big, "--max-input-mb", "1", "--policy",
                     "random", "--seeds", "1", "--out", Temp("limit")});
  EXPECT_EQ(r.rc, 1);
  EXPECT_THAT(r.err, AllOf(HasSubstr("limit_pods.csv"), HasSubstr("over the input limit of"),
                           HasSubstr("--max-input-mb")));
  // The same file with the limit raised is read.
  const Result ok = Sim({"--cluster", nodes, "--trace", big, "--max-input-mb", "2", "--policy",
                      "random", "--seeds", "1", "--out", Temp("limit")});
  EXPECT_EQ(ok.rc, 0) << ok.err;
}

TEST(HostileSize, AYamlAliasBombIsRefusedNotExpanded) {
  const std::string bomb = Write("bomb.yaml", R"(a: &a ["x","x","x","x","x","x","x","x","x"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
profiles:
  - name: boom
    plugins: [*h]
)");
  const Result sim = Sim({"--policy", bomb, "--out", Temp("bomb")});
  EXPECT_EQ(sim.rc, 1);
  EXPECT_THAT(sim.err, HasSubstr("bomb.yaml"));
  const Result demo = Demo({"--profiles", bomb});
  EXPECT_EQ(demo.rc, 1);
  EXPECT_THAT(demo.err, HasSubstr("bomb.yaml"));
}

// ---------------------------------------------------------------------------------------------
// Usable but odd inputs: warnings in the table and in --json, never silence.

TEST(HostileWarnings, ATopologyMappingThatMatchesNothingIsAWarningInTableAndJson) {
  const std::string nodes = Write("warn_nodes.csv", kNodes);
  const std::string pods = Write("warn_pods.csv", std::string(kPodsHeader) +
                                                      "p1,1000,1024,1,1000,,LS,Running,0,10,0\n");
  for (const bool json : {false, true}) {
    std::vector<std::string> args = {"--cluster", nodes, "--trace", pods, "--policy", "random",
                                     "--seeds", "1", "--topology", "G9=dgx1-v100,T4=dgx1-v100",
                                     "--out", Temp("warn")};
    if (json) args.push_back("--json");
    const Result r = Sim(args);
    ASSERT_EQ(r.rc, 0) << r.err;
    EXPECT_THAT(r.out, HasSubstr("no node has GPU model G9 (models here: G2, T4)"));
    EXPECT_THAT(r.out, HasSubstr("the preset has 8 GPUs but nodes of model T4 have 4"));
    if (json) {
      const nlohmann::json j = nlohmann::json::parse(r.out);
      EXPECT_EQ(j["warnings"].size(), 2u);
    }
  }
}

TEST(HostileWarnings, PodsThatFitNoNodeAreAWarningInTableAndJson) {
  const std::string nodes = Write("never_nodes.csv", kNodes);
  const std::string pods =
      Write("never_pods.csv", std::string(kPodsHeader) +
                                  "fits,1000,1024,1,1000,,LS,Running,0,10,0\n"
                                  "too-many-gpus,1000,1024,16,1000,,LS,Running,0,10,0\n"
                                  "no-such-model,1000,1024,1,1000,V100M32,LS,Running,0,10,0\n"
                                  "too-much-cpu,640000,1024,0,0,,LS,Running,0,10,0\n");
  for (const bool json : {false, true}) {
    std::vector<std::string> args = {"--cluster", nodes, "--trace", pods, "--policy", "random",
                                     "--seeds", "1", "--out", Temp("never")};
    if (json) args.push_back("--json");
    const Result r = Sim(args);
    ASSERT_EQ(r.rc, 0) << r.err;
    EXPECT_THAT(r.out, HasSubstr("3 of 4 pods fit no node even on an empty cluster"));
    EXPECT_THAT(r.out, HasSubstr("too-many-gpus"));
  }
}

TEST(HostileWarnings, JobsLargerThanTheClusterAreAWarning) {
  const std::string trace = Write("big.trace",
                                  "Synthetic\t-\t-step\t1\t3600\t0.000000\t4\n"
                                  "Synthetic\t-\t-step\t1\t3600\t1.000000\t64\n");
  const Result r = Jobs({"--trace", trace, "--nodes", "2", "--runs", "gang/fifo", "--json",
                      "--out", Temp("bigjobs")});
  ASSERT_EQ(r.rc, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["warnings"].size(), 1u);
  EXPECT_THAT(j["warnings"][0].get<std::string>(),
              HasSubstr("1 of 2 jobs need more GPUs than the cluster has (16"));
}

TEST(HostileWarnings, AnOddTopologyIsAWarningInTopoTableAndJson) {
  const std::string topo = Write("odd_topo.txt",
                                 "\tGPU0\tGPU1\tCPU Affinity\tNUMA Affinity\n"
                                 "GPU0\t X \tSYS\t0-7\t0-1\n"
                                 "GPU1\tSYS\t X \t8-15\t1\n");
  const Result table = Topo({"best", "--topology", topo, "--count", "1"});
  ASSERT_EQ(table.rc, 0) << table.err;
  EXPECT_THAT(table.out, HasSubstr("warning: line 2: NUMA Affinity \"0-1\" of GPU0"));
  const Result json = Topo({"best", "--topology", topo, "--count", "1", "--json"});
  ASSERT_EQ(json.rc, 0) << json.err;
  const nlohmann::json j = nlohmann::json::parse(json.out);
  ASSERT_GE(j["warnings"].size(), 1u);
  EXPECT_THAT(j["warnings"][0].get<std::string>(), HasSubstr("NUMA Affinity \"0-1\""));
}

// ---------------------------------------------------------------------------------------------
// Messages never echo raw binary bytes.

TEST(HostileMessages, BinaryInputIsNeverEchoedRaw) {
  std::string garbage = "\x7f" "ELF\x02\x01\x01";
  for (int i = 0; i < 300; ++i) garbage += static_cast<char>((i * 37) & 0xff);
  const std::string bin = Write("garbage.bin", garbage);
  const std::vector<Result> runs = {
      Sim({"--cluster", bin, "--trace", bin, "--out", Temp("bin")}),
      Jobs({"--trace", bin, "--out", Temp("bin")}),
      Topo({"show", "--topology", bin}),
      Demo({"--profiles", bin}),
  };
  for (const Result& r : runs) {
    EXPECT_EQ(r.rc, 1) << r.err;
    EXPECT_FALSE(r.err.empty());
    for (unsigned char c : r.err) {
      EXPECT_TRUE(c == '\n' || (c >= 0x20 && c != 0x7f)) << "raw byte " << int{c} << " in: " << r.err;
    }
  }
}

}  // namespace
}  // namespace gpusched::cli
