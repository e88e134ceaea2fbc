#include "simulator/trace/openb.h"

#include <chrono>
#include <cstdio>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/quantity.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gpusched::simulator::trace {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr int64_t kMib = int64_t{1} << 20;

// ---------------------------------------------------------------------------------------------
// Field-by-field equality, reporting the first difference.

std::string Str(const std::optional<int64_t>& t) {
  return t.has_value() ? absl::StrCat(*t) : std::string("(none)");
}

std::string Describe(const OpenbNode& n) {
  return absl::StrCat("{", n.name, " cpu=", n.cpu.value(), " mem=", n.memory.value(),
                      " gpus=", n.gpus, " model=", n.model, "}");
}

std::string Describe(const OpenbPod& p) {
  std::string spec;
  for (const std::string& m : p.gpu_spec) absl::StrAppend(&spec, "[", m, "]");
  return absl::StrCat("{", p.name, " cpu=", p.cpu.value(), " mem=", p.memory.value(),
                      " num_gpu=", p.num_gpu, " milli=", p.gpu_milli.value(), " spec=", spec,
                      " qos=", p.qos, " phase=", p.phase, " created=", Str(p.creation_time),
                      " deleted=", Str(p.deletion_time), " scheduled=", Str(p.scheduled_time),
                      "}");
}

bool SameNode(const OpenbNode& a, const OpenbNode& b) {
  return a.name == b.name && a.cpu == b.cpu && a.memory == b.memory && a.gpus == b.gpus &&
         a.model == b.model;
}

bool SamePod(const OpenbPod& a, const OpenbPod& b) {
  return a.name == b.name && a.cpu == b.cpu && a.memory == b.memory && a.num_gpu == b.num_gpu &&
         a.gpu_milli == b.gpu_milli && a.gpu_spec == b.gpu_spec && a.qos == b.qos &&
         a.phase == b.phase && a.creation_time == b.creation_time &&
         a.deletion_time == b.deletion_time && a.scheduled_time == b.scheduled_time;
}

template <class T, class Eq>
::testing::AssertionResult SameList(const std::vector<T>& a, const std::vector<T>& b, Eq eq) {
  if (a.size() != b.size()) {
    return ::testing::AssertionFailure() << "sizes differ: " << a.size() << " vs " << b.size();
  }
  for (size_t i = 0; i < a.size(); ++i) {
    if (!eq(a[i], b[i])) {
      return ::testing::AssertionFailure()
             << "row " << i << " differs: " << Describe(a[i]) << " vs " << Describe(b[i]);
    }
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult SameNodes(const std::vector<OpenbNode>& a,
                                     const std::vector<OpenbNode>& b) {
  return SameList(a, b, SameNode);
}
::testing::AssertionResult SamePods(const std::vector<OpenbPod>& a,
                                    const std::vector<OpenbPod>& b) {
  return SameList(a, b, SamePod);
}

OpenbPod Pod(std::string name, int64_t cpu, int64_t mib, int32_t num_gpu, int64_t milli) {
  OpenbPod p;
  p.name = std::move(name);
  p.cpu = MilliCpu(cpu);
  p.memory = MemoryBytes(mib * kMib);
  p.num_gpu = num_gpu;
  p.gpu_milli = GpuMilli(milli);
  return p;
}

OpenbPod WithTrace(OpenbPod p, std::vector<std::string> spec, std::string qos, std::string phase,
                   std::optional<int64_t> created, std::optional<int64_t> deleted,
                   std::optional<int64_t> scheduled) {
  p.gpu_spec = std::move(spec);
  p.qos = std::move(qos);
  p.phase = std::move(phase);
  p.creation_time = created;
  p.deletion_time = deleted;
  p.scheduled_time = scheduled;
  return p;
}

OpenbNode Node(std::string name, int64_t cpu, int64_t mib, int32_t gpus, std::string model) {
  OpenbNode n;
  n.name = std::move(name);
  n.cpu = MilliCpu(cpu);
  n.memory = MemoryBytes(mib * kMib);
  n.gpus = gpus;
  n.model = std::move(model);
  return n;
}

constexpr std::string_view kPodHeader =
    "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,"
    "deletion_time,scheduled_time\n";

// ---------------------------------------------------------------------------------------------
// Valid pod files.

struct ValidPodsCase {
  std::string name;
  std::string text;
  std::vector<OpenbPod> want;
};

TEST(ParseOpenbPodsTest, AcceptsValidFiles) {
  const OpenbPod share = WithTrace(Pod("p0", 3152, 5600, 1, 810), {"T4", "P100"}, "LS",
                                   "Running", 10, 20, 12);
  const OpenbPod cpu_pending = WithTrace(Pod("p1", 12500, 57344, 0, 0), {}, "BE", "Pending", 30,
                                         40, std::nullopt);
  const OpenbPod multi = WithTrace(Pod("p2", 88000, 327680, 8, 1000), {"G2"}, "LS", "Failed", 50,
                                   50, 51);
  const std::string rows =
      "p0,3152,5600,1,810,T4|P100,LS,Running,10,20,12\n"
      "p1,12500,57344,0,0,,BE,Pending,30,40,\n"
      "p2,88000,327680,8,1000,G2,LS,Failed,50,50,51\n";

  const std::vector<ValidPodsCase> cases = {
      {"eleven_columns", absl::StrCat(std::string(kPodHeader), rows), {share, cpu_pending, multi}},
      {"header_only", std::string(kPodHeader), {}},
      {"five_columns",
       "name,cpu_milli,memory_mib,num_gpu,gpu_milli\n"
       "a,12000,16384,1,1000\n"
       "b,6000,12288,1,460\n"
       "c,64200,263168,8,1000\n",
       {Pod("a", 12000, 16384, 1, 1000), Pod("b", 6000, 12288, 1, 460),
        Pod("c", 64200, 263168, 8, 1000)}},
      {"reordered_columns_and_an_unknown_column",
       "gpu_milli,scheduled_time,name,extra,qos,num_gpu,memory_mib,pod_phase,cpu_milli,"
       "creation_time,gpu_spec,deletion_time\n"
       "810,12,p0,whatever,LS,1,5600,Running,3152,10,T4|P100,20\n"
       "0,,p1,x,BE,0,57344,Pending,12500,30,,40\n",
       {share, cpu_pending}},
      {"crlf_line_ends",
       "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,"
       "deletion_time,scheduled_time\r\n"
       "p0,3152,5600,1,810,T4|P100,LS,Running,10,20,12\r\n"
       "p1,12500,57344,0,0,,BE,Pending,30,40,\r\n",
       {share, cpu_pending}},
      {"blank_lines_anywhere",
       absl::StrCat("\n", std::string(kPodHeader), "\n",
                    "p0,3152,5600,1,810,T4|P100,LS,Running,10,20,12\n", "  \n\r\n",
                    "p1,12500,57344,0,0,,BE,Pending,30,40,\n\n\n"),
       {share, cpu_pending}},
      {"no_trailing_newline",
       absl::StrCat(std::string(kPodHeader), "p0,3152,5600,1,810,T4|P100,LS,Running,10,20,12"),
       {share}},
      {"utf8_byte_order_mark",
       absl::StrCat("\xEF\xBB\xBF", std::string(kPodHeader),
                    "p0,3152,5600,1,810,T4|P100,LS,Running,10,20,12\n"),
       {share}},
      {"readme_spelling_pod_phrase",
       "name,cpu_milli,memory_mib,num_gpu,gpu_milli,pod_phrase\n"
       "p,1000,1024,1,1000,Running\n",
       {WithTrace(Pod("p", 1000, 1024, 1, 1000), {}, "", "Running", std::nullopt, std::nullopt,
                  std::nullopt)}},
      {"largest_values",
       absl::StrCat(std::string(kPodHeader),
                    "big,1125899906842624,1073741824,128,1000,,,,1125899906842624,"
                    "1125899906842624,0\n"),
       {WithTrace(Pod("big", kMaxAmount, kMaxAmount >> 20, 128, 1000), {}, "", "", kMaxAmount,
                  kMaxAmount, 0)}},
      {"leading_zeros_are_decimal",
       "name,cpu_milli,memory_mib,num_gpu,gpu_milli\n"
       "z,0010,08,01,0900\n",
       {Pod("z", 10, 8, 1, 900)}},
  };
  for (const ValidPodsCase& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<std::vector<OpenbPod>> got = ParseOpenbPods(c.text, "pods.csv");
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_TRUE(SamePods(*got, c.want));
  }
}

// ---------------------------------------------------------------------------------------------
// Invalid pod files: each error names the file, the line and the column (or the line's shape).

struct InvalidCase {
  std::string name;
  std::string text;
  std::string want_prefix;  // the exact start of the message
  std::string want_substr = "";
};

std::string PodRows(std::string_view rows) {
  return absl::StrCat(std::string(kPodHeader), std::string(rows));
}

TEST(ParseOpenbPodsTest, RejectsInvalidFilesNamingLineAndColumn) {
  const std::string ok_row = "ok,1000,1024,1,1000,,LS,Running,1,2,1\n";
  const std::vector<InvalidCase> cases = {
      {"non_integer_cpu", PodRows("p,12x,1024,1,1000,,LS,Running,1,2,1\n"),
       "pods.csv:2: column cpu_milli: \"12x\" is not an integer"},
      {"decimal_point", PodRows("p,1.5,1024,1,1000,,LS,Running,1,2,1\n"),
       "pods.csv:2: column cpu_milli: \"1.5\" is not an integer"},
      {"space_around_number", PodRows("p, 1000,1024,1,1000,,LS,Running,1,2,1\n"),
       "pods.csv:2: column cpu_milli: \" 1000\" is not an integer"},
      {"plus_sign", PodRows("p,+1000,1024,1,1000,,LS,Running,1,2,1\n"),
       "pods.csv:2: column cpu_milli: \"+1000\" is not an integer"},
      {"empty_number", PodRows("p,1000,,1,1000,,LS,Running,1,2,1\n"),
       "pods.csv:2: column memory_mib: empty"},
      {"negative_memory", absl::StrCat(std::string(kPodHeader), ok_row,
                                       "p,1000,-5,1,1000,,LS,Running,1,2,1\n"),
       "pods.csv:3: column memory_mib: \"-5\" is negative"},
      {"lone_minus", PodRows("p,1000,-,1,1000,,LS,Running,1,2,1\n"),
       "pods.csv:2: column memory_mib: \"-\" is not an integer"},
      {"cpu_above_max_amount", PodRows("p,1125899906842625,1024,1,1000,,LS,Running,1,2,1\n"),
       "pods.csv:2: column cpu_milli: \"1125899906842625\" exceeds the maximum 1125899906842624"},
      {"many_digits_do_not_overflow",
       PodRows("p,99999999999999999999999999999999,1024,1,1000,,LS,Running,1,2,1\n"),
       "pods.csv:2: column cpu_milli: \"99999999999999999999999999999999\" exceeds the maximum"},
      {"memory_bytes_above_max_amount", PodRows("p,1000,1073741825,1,1000,,LS,Running,1,2,1\n"),
       "pods.csv:2: column memory_mib: \"1073741825\" exceeds the maximum 1073741824 MiB"},
      {"gpu_milli_1001", PodRows("p,1000,1024,1,1001,,LS,Running,1,2,1\n"),
       "pods.csv:2: column gpu_milli: \"1001\" exceeds the maximum 1000"},
      {"num_gpu_129", PodRows("p,1000,1024,129,1000,,LS,Running,1,2,1\n"),
       "pods.csv:2: column num_gpu: \"129\" exceeds the maximum 128"},
      {"share_with_num_gpu_2", PodRows("p,1000,1024,2,250,,LS,Running,1,2,1\n"),
       "pods.csv:2: column gpu_milli: \"250\" but num_gpu is 2", "multi-GPU pod takes whole GPUs"},
      {"multi_gpu_with_gpu_milli_500", PodRows("p,1000,1024,8,500,,LS,Running,1,2,1\n"),
       "pods.csv:2: column gpu_milli: \"500\" but num_gpu is 8"},
      {"cpu_only_with_gpu_milli", PodRows("p,1000,1024,0,500,,LS,Running,1,2,1\n"),
       "pods.csv:2: column gpu_milli: \"500\" but num_gpu is 0"},
      {"one_gpu_with_zero_milli", PodRows("p,1000,1024,1,0,,LS,Running,1,2,1\n"),
       "pods.csv:2: column gpu_milli: \"0\" but num_gpu is 1"},
      {"empty_name", PodRows(",1000,1024,1,1000,,LS,Running,1,2,1\n"),
       "pods.csv:2: column name: empty name"},
      {"duplicate_name",
       absl::StrCat(std::string(kPodHeader), "a,1000,1024,1,1000,,LS,Running,1,2,1\n", ok_row,
                    "\n", "a,2000,1024,1,1000,,LS,Running,1,2,1\n"),
       "pods.csv:5: column name: \"a\" duplicates the name on line 2"},
      {"missing_required_column",
       "name,cpu_milli,memory_mib,num_gpu,qos\np,1000,1024,1,LS\n",
       "pods.csv:1: column gpu_milli: missing from the header",
       "(columns: name,cpu_milli,memory_mib,num_gpu,qos)"},
      {"missing_name_column", "cpu_milli,memory_mib,num_gpu,gpu_milli\n1,1,1,1000\n",
       "pods.csv:1: column name: missing from the header"},
      {"header_column_twice",
       "name,cpu_milli,memory_mib,num_gpu,gpu_milli,cpu_milli\np,1,1,1,1000,2\n",
       "pods.csv:1: column cpu_milli: appears twice in the header"},
      {"quote_in_field", PodRows("\"p\",1000,1024,1,1000,,LS,Running,1,2,1\n"),
       "pods.csv:2: column name: \"\\\"p\\\"\" contains a double quote",
       "quoted CSV is not supported"},
      {"quoted_field_with_a_comma", PodRows("\"p,q\",1000,1024,1,1000,,LS,Running,1,2,1\n"),
       "pods.csv:2: column name: \"\\\"p\" contains a double quote"},
      {"quote_in_field_beyond_the_header",
       "name,cpu_milli,memory_mib,num_gpu,gpu_milli\np,1,1,1,1000,\"x\"\n",
       "pods.csv:2: field 6: \"\\\"x\\\"\" contains a double quote"},
      {"quote_in_ignored_column",
       "name,cpu_milli,memory_mib,num_gpu,gpu_milli,note\np,1,1,1,1000,\"a\"\n",
       "pods.csv:2: column note: ", "double quote"},
      {"quote_in_header", "name,\"cpu_milli\",memory_mib,num_gpu,gpu_milli\n",
       "pods.csv:1: header field", "double quote"},
      {"too_few_fields",
       absl::StrCat(std::string(kPodHeader), ok_row, "p,1000,1024,1,1000,,LS,Running,1\n"),
       "pods.csv:3: expected 11 fields as in the header, got 9"},
      {"too_many_fields", PodRows("p,1000,1024,1,1000,,LS,Running,1,2,1,extra\n"),
       "pods.csv:2: expected 11 fields as in the header, got 12"},
      {"deletion_before_creation", PodRows("p,1000,1024,1,1000,,LS,Running,10,5,10\n"),
       "pods.csv:2: column deletion_time: \"5\" is before creation_time 10"},
      {"non_integer_time", PodRows("p,1000,1024,1,1000,,LS,Running,1.5,2,1\n"),
       "pods.csv:2: column creation_time: \"1.5\" is not an integer"},
      {"negative_time", PodRows("p,1000,1024,1,1000,,LS,Running,1,2,-1\n"),
       "pods.csv:2: column scheduled_time: \"-1\" is negative"},
      {"empty_model_inside_spec", PodRows("p,1000,1024,1,1000,A||B,LS,Running,1,2,1\n"),
       "pods.csv:2: column gpu_spec: \"A||B\" has an empty model name"},
      {"trailing_bar_in_spec", PodRows("p,1000,1024,1,1000,A|,LS,Running,1,2,1\n"),
       "pods.csv:2: column gpu_spec: \"A|\" has an empty model name"},
      {"line_numbers_count_blank_lines",
       absl::StrCat(std::string(kPodHeader), "\n\r\n", ok_row, "q,1000,x,1,1000,,LS,Running,1,2,1"),
       "pods.csv:5: column memory_mib: \"x\" is not an integer"},
      {"crlf_does_not_shift_line_numbers",
       absl::StrCat("name,cpu_milli,memory_mib,num_gpu,gpu_milli\r\n", "a,1,1,1,1000\r\n",
                    "b,1,1,1,1x\r\n"),
       "pods.csv:3: column gpu_milli: \"1x\" is not an integer"},
      {"empty_file", "", "pods.csv: empty file"},
      {"only_blank_lines", "\n\r\n  \n", "pods.csv: empty file"},
  };
  for (const InvalidCase& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<std::vector<OpenbPod>> got = ParseOpenbPods(c.text, "pods.csv");
    ASSERT_FALSE(got.ok());
    EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(got.status().message()), StartsWith(c.want_prefix));
    EXPECT_THAT(std::string(got.status().message()), HasSubstr(c.want_substr));
  }
}

// ---------------------------------------------------------------------------------------------
// Node files.

TEST(ParseOpenbNodesTest, AcceptsValidFiles) {
  struct Case {
    std::string name;
    std::string text;
    std::vector<OpenbNode> want;
  };
  const std::vector<Case> cases = {
      {"gpu_cpu_only_and_zero_gpu_with_model",
       "sn,cpu_milli,memory_mib,gpu,model\n"
       "n0,64000,262144,2,P100\n"
       "n1,32000,262144,0,\n"
       "n2,8000,61440,0,P100\n",
       {Node("n0", 64000, 262144, 2, "P100"), Node("n1", 32000, 262144, 0, ""),
        Node("n2", 8000, 61440, 0, "P100")}},
      {"reordered_columns_crlf_blank_lines_no_trailing_newline",
       "model,gpu,sn,extra,memory_mib,cpu_milli\r\n\r\nG2,8,n0,x,393216,96000\r\n\r\n"
       "T4,2,n1,y,524288,104000",
       {Node("n0", 96000, 393216, 8, "G2"), Node("n1", 104000, 524288, 2, "T4")}},
      {"header_only", "sn,cpu_milli,memory_mib,gpu,model\n", {}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<std::vector<OpenbNode>> got = ParseOpenbNodes(c.text, "nodes.csv");
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_TRUE(SameNodes(*got, c.want));
  }
}

TEST(ParseOpenbNodesTest, RejectsInvalidFilesNamingLineAndColumn) {
  const std::string h = "sn,cpu_milli,memory_mib,gpu,model\n";
  const std::vector<InvalidCase> cases = {
      {"gpus_without_model", h + "n0,1000,1024,2,\n",
       "nodes.csv:2: column model: empty, but the node has 2 GPUs"},
      {"non_integer_gpu", h + "n0,1000,1024,two,T4\n",
       "nodes.csv:2: column gpu: \"two\" is not an integer"},
      {"negative_cpu", h + "n0,-1000,1024,2,T4\n",
       "nodes.csv:2: column cpu_milli: \"-1000\" is negative"},
      {"gpu_129", h + "n0,1000,1024,129,T4\n",
       "nodes.csv:2: column gpu: \"129\" exceeds the maximum 64"},
      {"duplicate_sn", h + "n0,1000,1024,2,T4\nn1,1,1,0,\nn0,1000,1024,2,T4\n",
       "nodes.csv:4: column sn: \"n0\" duplicates the name on line 2"},
      {"empty_sn", h + ",1000,1024,2,T4\n", "nodes.csv:2: column sn: empty name"},
      {"missing_model_column", "sn,cpu_milli,memory_mib,gpu\nn0,1,1,0\n",
       "nodes.csv:1: column model: missing from the header"},
      {"too_few_fields", h + "n0,1000,1024,2,T4\nn1,1000,1024\n",
       "nodes.csv:3: expected 5 fields as in the header, got 3"},
      {"quote_in_model", h + "n0,1000,1024,2,\"T4\"\n",
       "nodes.csv:2: column model: ", "double quote"},
  };
  for (const InvalidCase& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<std::vector<OpenbNode>> got = ParseOpenbNodes(c.text, "nodes.csv");
    ASSERT_FALSE(got.ok());
    EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(got.status().message()), StartsWith(c.want_prefix));
    EXPECT_THAT(std::string(got.status().message()), HasSubstr(c.want_substr));
  }
}

TEST(ReadOpenbTest, MissingFileIsNotFoundNamingThePath) {
  const std::string path = "/nonexistent-dir/no-such-file.csv";
  absl::StatusOr<std::vector<OpenbNode>> nodes = ReadOpenbNodes(path);
  ASSERT_FALSE(nodes.ok());
  EXPECT_EQ(nodes.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(nodes.status().message()), HasSubstr(path));
  absl::StatusOr<std::vector<OpenbPod>> pods = ReadOpenbPods(path);
  ASSERT_FALSE(pods.ok());
  EXPECT_EQ(pods.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(pods.status().message()), HasSubstr(path));
}

TEST(ReadOpenbTest, ErrorsNameTheFilePath) {
  const std::string path =
      (std::filesystem::path(::testing::TempDir()) / "openb_read_test_pods.csv").string();
  {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    const std::string text = "name,cpu_milli,memory_mib,num_gpu,gpu_milli\np,1,1,1,1000\nq,1,1,x,1\n";
    std::fwrite(text.data(), 1, text.size(), f);
    std::fclose(f);
  }
  absl::StatusOr<std::vector<OpenbPod>> pods = ReadOpenbPods(path);
  ASSERT_FALSE(pods.ok());
  EXPECT_THAT(std::string(pods.status().message()),
              StartsWith(absl::StrCat(path, ":3: column num_gpu: \"x\" is not an integer")));
  std::filesystem::remove(path);
}

// ---------------------------------------------------------------------------------------------
// Writing.

TEST(WriteOpenbTest, RoundTripsNodes) {
  const std::vector<OpenbNode> nodes = {Node("n0", 96000, 393216, 8, "G2"),
                                        Node("n1", 32000, 262144, 0, ""),
                                        Node("n2", 8000, 61440, 0, "P100"),
                                        Node("n3", kMaxAmount, kMaxAmount >> 20, 64, "X")};
  const std::string text = WriteOpenbNodes(nodes);
  EXPECT_THAT(text, StartsWith("sn,cpu_milli,memory_mib,gpu,model\nn0,96000,393216,8,G2\n"));
  absl::StatusOr<std::vector<OpenbNode>> back = ParseOpenbNodes(text, "written");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(SameNodes(*back, nodes));
  EXPECT_EQ(WriteOpenbNodes({}), "sn,cpu_milli,memory_mib,gpu,model\n");
}

TEST(WriteOpenbTest, RoundTripsPodsWithAndWithoutOptionalFields) {
  const std::vector<OpenbPod> pods = {
      WithTrace(Pod("p0", 3152, 5600, 1, 810), {"T4", "P100"}, "LS", "Running", 10, 20, 12),
      WithTrace(Pod("p1", 12500, 57344, 0, 0), {}, "BE", "Pending", 30, 40, std::nullopt),
      Pod("p2", 88000, 327680, 8, 1000),
      WithTrace(Pod("p3", 1, 1, 1, 1), {"G2"}, "", "", 0, 0, 0),
  };
  const std::string text = WriteOpenbPods(pods);
  EXPECT_EQ(text,
            absl::StrCat(std::string(kPodHeader),
                         "p0,3152,5600,1,810,T4|P100,LS,Running,10,20,12\n"
                         "p1,12500,57344,0,0,,BE,Pending,30,40,\n"
                         "p2,88000,327680,8,1000,,,,,,\n"
                         "p3,1,1,1,1,G2,,,0,0,0\n"));
  absl::StatusOr<std::vector<OpenbPod>> back = ParseOpenbPods(text, "written");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(SamePods(*back, pods));
}

// ---------------------------------------------------------------------------------------------
// The real trace (../shared/data/openb relative to the repository root).

std::optional<std::filesystem::path> OpenbDir(std::string* why) {
  const char* root = std::getenv("GPUSCHED_SOURCE_DIR");
  if (root == nullptr || *root == '\0') {
    *why = "GPUSCHED_SOURCE_DIR is not set (ctest sets it to the repository root); the openb "
           "trace is expected at $GPUSCHED_SOURCE_DIR/../shared/data/openb";
    return std::nullopt;
  }
  std::filesystem::path dir = std::filesystem::path(root) / ".." / "shared" / "data" / "openb";
  if (!std::filesystem::is_directory(dir)) {
    *why = absl::StrCat("no openb trace at ", dir.string(),
                        " (expected $GPUSCHED_SOURCE_DIR/../shared/data/openb)");
    return std::nullopt;
  }
  return dir;
}

#define GPUSCHED_OPENB_DIR_OR_SKIP(var)     \
  std::string why_skipped;                  \
  const auto var##_opt = OpenbDir(&why_skipped); \
  if (!var##_opt) GTEST_SKIP() << why_skipped; \
  const std::filesystem::path var = *var##_opt

// ---------------------------------------------------------------------------------------------
// Hostile input, by class.

bool PrintableAscii(const std::string& s) {
  for (char c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) return false;
  }
  return true;
}

TEST(OpenbHostileTest, SpecialFilesAndSizeLimitsAreRefusedByName) {
  for (const char* path : {"/dev/zero", "/dev/null"}) {
    absl::StatusOr<std::vector<OpenbPod>> pods = ReadOpenbPods(path);
    ASSERT_FALSE(pods.ok());
    EXPECT_EQ(pods.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(std::string(pods.status().message()), HasSubstr("a character device"));
  }
  const std::string dir = ::testing::TempDir();
  absl::StatusOr<std::vector<OpenbNode>> nodes = ReadOpenbNodes(dir);
  ASSERT_FALSE(nodes.ok());
  EXPECT_THAT(std::string(nodes.status().message()), HasSubstr("is a directory, not a file"));
  EXPECT_THAT(std::string(nodes.status().message()), Not(HasSubstr("empty")));

  const std::string path = (std::filesystem::path(dir) / "openb_hostile_nodes.csv").string();
  const std::string text = "sn,cpu_milli,memory_mib,gpu,model\nn0,1,1,8,G2\n";
  {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    std::fwrite(text.data(), 1, text.size(), f);
    std::fclose(f);
  }
  EXPECT_TRUE(ReadOpenbNodes(path, text.size()).ok());
  nodes = ReadOpenbNodes(path, text.size() - 1);
  ASSERT_FALSE(nodes.ok());
  EXPECT_THAT(std::string(nodes.status().message()), HasSubstr("raise it with --max-input-mb"));
  std::filesystem::remove(path);
}

TEST(OpenbHostileTest, BinaryBytesAreNeverEchoed) {
  std::string garbage;
  for (int i = 0; i < 512; ++i) garbage.push_back(static_cast<char>((i * 131 + 7) & 0xff));
  const std::string texts[] = {
      garbage,
      "sn,cpu\xff\x01,memory_mib,gpu\n",  // missing column: the header is listed, escaped
      "sn,cpu_milli,memory_mib,gpu,model,\x80,\x80\n",  // duplicate column
      "sn,cpu_milli,memory_mib,gpu,model\nn\x01,1\xfe,1,1,M\n",
      "sn,cpu_milli,memory_mib,gpu,model\nn,\"\x01\",1,1,M\n",
  };
  for (const std::string& text : texts) {
    absl::StatusOr<std::vector<OpenbNode>> nodes = ParseOpenbNodes(text, "bin.csv");
    ASSERT_FALSE(nodes.ok());
    EXPECT_TRUE(PrintableAscii(std::string(nodes.status().message()))) << nodes.status();
    EXPECT_THAT(std::string(nodes.status().message()), StartsWith("bin.csv"));
    absl::StatusOr<std::vector<OpenbPod>> pods = ParseOpenbPods(text, "bin.csv");
    ASSERT_FALSE(pods.ok());
    EXPECT_TRUE(PrintableAscii(std::string(pods.status().message()))) << pods.status();
  }
}

TEST(OpenbHostileTest, CountLimitsAreErrorsNamingTheLimit) {
  std::string text = "sn,cpu_milli,memory_mib,gpu,model\n";
  for (int64_t i = 0; i <= kMaxOpenbNodes; ++i) absl::StrAppend(&text, "n", i, ",1,1,0,\n");
  absl::StatusOr<std::vector<OpenbNode>> nodes = ParseOpenbNodes(text, "nodes.csv");
  ASSERT_FALSE(nodes.ok());
  EXPECT_EQ(std::string(nodes.status().message()),
            absl::StrCat("nodes.csv:", kMaxOpenbNodes + 2, ": more than ", kMaxOpenbNodes,
                         " nodes, the limit"));
  // The header's column count is bounded too, and a row of many commas stores none of them.
  const std::string wide = absl::StrCat(std::string(5000, ','), "\n");
  nodes = ParseOpenbNodes(wide, "wide.csv");
  ASSERT_FALSE(nodes.ok());
  EXPECT_THAT(std::string(nodes.status().message()),
              HasSubstr(absl::StrCat("more than ", kMaxCsvColumns, " columns")));
  absl::StatusOr<std::vector<OpenbPod>> pods = ParseOpenbPods(
      absl::StrCat("name,cpu_milli,memory_mib,num_gpu,gpu_milli\n", std::string(1'000'000, ',')),
      "pods.csv");
  ASSERT_FALSE(pods.ok());
  EXPECT_THAT(std::string(pods.status().message()),
              HasSubstr("pods.csv:2: expected 5 fields as in the header, got 1000001"));
  EXPECT_EQ(kMaxOpenbPods, 10'000'000);
}

TEST(OpenbHostileTest, BlankLinesReserveNothing) {
  // 20 M newlines once reserved 20 M records (~4 GB); now the result is just empty.
  absl::StatusOr<std::vector<OpenbPod>> pods = ParseOpenbPods(
      absl::StrCat("name,cpu_milli,memory_mib,num_gpu,gpu_milli\n", std::string(20'000'000, '\n')),
      "pods.csv");
  ASSERT_TRUE(pods.ok());
  EXPECT_TRUE(pods->empty());
  EXPECT_EQ(pods->capacity(), 0u);
}

TEST(OpenbHostileTest, MeaninglessValuesAreErrors) {
  struct Case {
    const char* row;
    const char* error;
  };
  const Case node_cases[] = {
      {"n,1,1,65,M", "column gpu: \"65\" exceeds the maximum 64"},
      {"n,-1,1,1,M", "column cpu_milli: \"-1\" is negative"},
      {"n,1,nan,1,M", "column memory_mib: \"nan\" is not an integer"},
      {"n,1,1,1e3,M", "column gpu: \"1e3\" is not an integer"},
      {"n,1,1,8,", "column model: empty, but the node has 8 GPUs"},
  };
  for (const Case& c : node_cases) {
    SCOPED_TRACE(c.row);
    absl::StatusOr<std::vector<OpenbNode>> nodes =
        ParseOpenbNodes(absl::StrCat("sn,cpu_milli,memory_mib,gpu,model\n", c.row), "n.csv");
    ASSERT_FALSE(nodes.ok());
    EXPECT_THAT(std::string(nodes.status().message()), HasSubstr(c.error));
  }
  const Case pod_cases[] = {
      {"p,1,1,129,1000", "column num_gpu: \"129\" exceeds the maximum 128"},
      {"p,1,1,1,1001", "column gpu_milli: \"1001\" exceeds the maximum 1000"},
      {"p,1,1,2,500", "a multi-GPU pod takes whole GPUs"},
      {"p,inf,1,0,0", "column cpu_milli: \"inf\" is not an integer"},
  };
  for (const Case& c : pod_cases) {
    SCOPED_TRACE(c.row);
    absl::StatusOr<std::vector<OpenbPod>> pods =
        ParseOpenbPods(absl::StrCat("name,cpu_milli,memory_mib,num_gpu,gpu_milli\n", c.row), "p.csv");
    ASSERT_FALSE(pods.ok());
    EXPECT_THAT(std::string(pods.status().message()), HasSubstr(c.error));
  }
}

TEST(OpenbHostileTest, BigGeneratedPodFileIsReadWhole) {
  constexpr int kRows = 500'000;
  std::string text =
      "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,"
      "deletion_time,scheduled_time\n";
  for (int i = 0; i < kRows; ++i) {
    absl::StrAppend(&text, "pod-", i, ",4000,16384,1,", 100 + i % 900, ",V100M16|T4,LS,Running,",
                    i, ",", i + 60, ",", i, "\n");
  }
  absl::StatusOr<std::vector<OpenbPod>> pods = ParseOpenbPods(text, "big.csv");
  ASSERT_TRUE(pods.ok()) << pods.status();
  ASSERT_EQ(pods->size(), static_cast<size_t>(kRows));
  EXPECT_EQ(pods->back().name, absl::StrCat("pod-", kRows - 1));
  EXPECT_EQ(*pods->back().deletion_time, kRows - 1 + 60);
}

TEST(OpenbRealTraceTest, EveryFileParses) {
  GPUSCHED_OPENB_DIR_OR_SKIP(dir);
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".csv") continue;
    const std::string path = entry.path().string();
    const std::string file = entry.path().filename().string();
    SCOPED_TRACE(file);
    ++files;
    const auto start = std::chrono::steady_clock::now();
    size_t rows = 0;
    if (file.find("node_list") != std::string::npos) {
      absl::StatusOr<std::vector<OpenbNode>> nodes = ReadOpenbNodes(path);
      ASSERT_TRUE(nodes.ok()) << nodes.status();
      rows = nodes->size();
    } else {
      absl::StatusOr<std::vector<OpenbPod>> pods = ReadOpenbPods(path);
      ASSERT_TRUE(pods.ok()) << pods.status();
      rows = pods->size();
    }
    EXPECT_GT(rows, 1000u);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - start)
                        .count();
    // Generous: parsing ~0.6 MB takes a few milliseconds; this only catches a quadratic blow-up.
    EXPECT_LT(ms, 2000) << "parsing " << file << " took " << ms << " ms";
  }
  EXPECT_EQ(files, 13) << "expected the 13 openb files under " << dir.string();
}

TEST(OpenbRealTraceTest, GpuNodeFileHasDocumentedCounts) {
  GPUSCHED_OPENB_DIR_OR_SKIP(dir);
  absl::StatusOr<std::vector<OpenbNode>> nodes =
      ReadOpenbNodes((dir / "openb_node_list_gpu_node.csv").string());
  ASSERT_TRUE(nodes.ok()) << nodes.status();
  EXPECT_EQ(nodes->size(), 1213u);
  int64_t gpus = 0;
  for (const OpenbNode& n : *nodes) {
    gpus += n.gpus;
    EXPECT_GT(n.gpus, 0) << n.name;
    EXPECT_FALSE(n.model.empty()) << n.name;
  }
  EXPECT_EQ(gpus, 6212);
}

TEST(OpenbRealTraceTest, AllNodeFileHasDocumentedCounts) {
  GPUSCHED_OPENB_DIR_OR_SKIP(dir);
  absl::StatusOr<std::vector<OpenbNode>> nodes =
      ReadOpenbNodes((dir / "openb_node_list_all_node.csv").string());
  ASSERT_TRUE(nodes.ok()) << nodes.status();
  EXPECT_EQ(nodes->size(), 1523u);
  int zero_gpu = 0;
  for (const OpenbNode& n : *nodes) zero_gpu += (n.gpus == 0);
  EXPECT_EQ(zero_gpu, 310);
}

TEST(OpenbRealTraceTest, DefaultPodsHaveDocumentedDistribution) {
  GPUSCHED_OPENB_DIR_OR_SKIP(dir);
  absl::StatusOr<std::vector<OpenbPod>> pods =
      ReadOpenbPods((dir / "openb_pod_list_default.csv").string());
  ASSERT_TRUE(pods.ok()) << pods.status();
  EXPECT_EQ(pods->size(), 8152u);
  std::map<int32_t, int> by_num_gpu;
  int sharing = 0;
  for (const OpenbPod& p : *pods) {
    ++by_num_gpu[p.num_gpu];
    sharing += (p.num_gpu == 1 && p.gpu_milli < kOneGpu);
    EXPECT_TRUE(p.creation_time.has_value()) << p.name;
  }
  EXPECT_EQ(by_num_gpu, (std::map<int32_t, int>{{0, 1088}, {1, 6989}, {2, 16}, {4, 15}, {8, 44}}));
  EXPECT_EQ(sharing, 3078);
}

TEST(OpenbRealTraceTest, Multigpu20ParsesInFiveColumnForm) {
  GPUSCHED_OPENB_DIR_OR_SKIP(dir);
  absl::StatusOr<std::vector<OpenbPod>> pods =
      ReadOpenbPods((dir / "openb_pod_list_multigpu20.csv").string());
  ASSERT_TRUE(pods.ok()) << pods.status();
  EXPECT_EQ(pods->size(), 8324u);
  for (const OpenbPod& p : *pods) {
    EXPECT_FALSE(p.creation_time.has_value()) << p.name;
    EXPECT_FALSE(p.deletion_time.has_value()) << p.name;
    EXPECT_FALSE(p.scheduled_time.has_value()) << p.name;
    EXPECT_TRUE(p.gpu_spec.empty()) << p.name;
    EXPECT_TRUE(p.qos.empty()) << p.name;
    if (::testing::Test::HasFailure()) break;
  }
}

TEST(OpenbRealTraceTest, WriteThenParseGivesTheSameRecords) {
  GPUSCHED_OPENB_DIR_OR_SKIP(dir);
  absl::StatusOr<std::vector<OpenbNode>> nodes =
      ReadOpenbNodes((dir / "openb_node_list_all_node.csv").string());
  ASSERT_TRUE(nodes.ok()) << nodes.status();
  absl::StatusOr<std::vector<OpenbNode>> nodes_back =
      ParseOpenbNodes(WriteOpenbNodes(*nodes), "written");
  ASSERT_TRUE(nodes_back.ok()) << nodes_back.status();
  EXPECT_TRUE(SameNodes(*nodes_back, *nodes));

  for (const char* file : {"openb_pod_list_default.csv", "openb_pod_list_multigpu20.csv"}) {
    SCOPED_TRACE(file);
    absl::StatusOr<std::vector<OpenbPod>> pods = ReadOpenbPods((dir / file).string());
    ASSERT_TRUE(pods.ok()) << pods.status();
    absl::StatusOr<std::vector<OpenbPod>> back = ParseOpenbPods(WriteOpenbPods(*pods), "written");
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_TRUE(SamePods(*back, *pods));
  }
}

TEST(OpenbRealTraceTest, WritingElevenColumnFilesReproducesTheirBytes) {
  GPUSCHED_OPENB_DIR_OR_SKIP(dir);
  auto read = [](const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
  };
  const std::filesystem::path node_file = dir / "openb_node_list_gpu_node.csv";
  absl::StatusOr<std::vector<OpenbNode>> nodes = ReadOpenbNodes(node_file.string());
  ASSERT_TRUE(nodes.ok()) << nodes.status();
  EXPECT_TRUE(WriteOpenbNodes(*nodes) == read(node_file));
  const std::filesystem::path pod_file = dir / "openb_pod_list_default.csv";
  absl::StatusOr<std::vector<OpenbPod>> pods = ReadOpenbPods(pod_file.string());
  ASSERT_TRUE(pods.ok()) << pods.status();
  EXPECT_TRUE(WriteOpenbPods(*pods) == read(pod_file));
}

}  // namespace
}  // namespace gpusched::simulator::trace
