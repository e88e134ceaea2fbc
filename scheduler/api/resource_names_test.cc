#include "scheduler/api/resource_names.h"

#include <cstdint>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gpusched::framework {

// Readable failure output (found by ADL; internal linkage keeps it to this file).
static void PrintTo(const GpuRequest& r, std::ostream* os) {
  *os << "{count " << r.count << ", " << r.milli_per_gpu << "m, " << r.memory_per_gpu
      << " MiB, models \"" << r.ModelList() << "\"}";
}

namespace {

using ::testing::HasSubstr;
using Map = std::map<std::string, std::string>;

static_assert(kNvidiaGpu == "nvidia.com/gpu");
static_assert(kGpuMilli == "gpusched.io/gpu-milli");
static_assert(kGpuMemory == "gpusched.io/gpu-memory");
static_assert(kGpuModel == "gpusched.io/gpu-model");
static_assert(kHamiGpuMem == "nvidia.com/gpumem");
static_assert(kHamiGpuCores == "nvidia.com/gpucores");
static_assert(kAliyunGpuMem == "aliyun.com/gpu-mem");

GpuRequest Req(int32_t count, int64_t milli, int64_t mem_mib,
               std::vector<std::string> models = {}) {
  return GpuRequest{count, GpuMilli(milli), GpuMemMiB(mem_mib), std::move(models)};
}

struct ValidCase {
  std::string name;
  Map resources;
  Map annotations;
  GpuRequest want;
};

TEST(ResourceNames, GpuRequestFromPodMapsEveryRowOfTheTable) {
  const std::vector<ValidCase> cases = {
      // No GPU.
      {"no keys", {}, {}, GpuRequest{}},
      {"other resources are ignored",
       {{"cpu", "4"}, {"memory", "16Gi"}, {"nvidia.com/priority", "1"}},
       {{"gpusched.io/other", "x"}},
       GpuRequest{}},
      {"nvidia.com/gpu 0 alone", {{"nvidia.com/gpu", "0"}}, {}, GpuRequest{}},
      // nvidia.com/gpu alone: whole GPUs.
      {"one whole GPU", {{"nvidia.com/gpu", "1"}}, {}, Req(1, 1000, 0)},
      {"eight whole GPUs", {{"nvidia.com/gpu", "8"}}, {}, Req(8, 1000, 0)},
      {"count as a quantity", {{"nvidia.com/gpu", "2000m"}}, {}, Req(2, 1000, 0)},
      // gpusched.io/gpu-milli.
      {"milli resource alone: a share of one GPU",
       {{"gpusched.io/gpu-milli", "250"}},
       {},
       Req(1, 250, 0)},
      {"milli annotation alone", {}, {{"gpusched.io/gpu-milli", "250"}}, Req(1, 250, 0)},
      {"milli resource and annotation agree",
       {{"gpusched.io/gpu-milli", "250"}},
       {{"gpusched.io/gpu-milli", "250"}},
       Req(1, 250, 0)},
      {"milli 1000 alone is one whole GPU",
       {{"gpusched.io/gpu-milli", "1000"}},
       {},
       Req(1, 1000, 0)},
      {"milli in the API server's canonical form",
       {{"gpusched.io/gpu-milli", "1k"}},
       {},
       Req(1, 1000, 0)},
      {"milli 1", {{"gpusched.io/gpu-milli", "1"}}, {}, Req(1, 1, 0)},
      {"nvidia.com/gpu 1 with milli 500",
       {{"nvidia.com/gpu", "1"}, {"gpusched.io/gpu-milli", "500"}},
       {},
       Req(1, 500, 0)},
      {"nvidia.com/gpu 4 with milli 1000",
       {{"nvidia.com/gpu", "4"}, {"gpusched.io/gpu-milli", "1000"}},
       {},
       Req(4, 1000, 0)},
      // gpusched.io/gpu-memory.
      {"memory as plain MiB", {{"gpusched.io/gpu-memory", "4096"}}, {}, Req(1, 0, 4096)},
      {"memory with Gi", {{"gpusched.io/gpu-memory", "4Gi"}}, {}, Req(1, 0, 4096)},
      {"memory annotation with Mi", {}, {{"gpusched.io/gpu-memory", "512Mi"}}, Req(1, 0, 512)},
      {"memory 1.5Gi is exact", {{"gpusched.io/gpu-memory", "1.5Gi"}}, {}, Req(1, 0, 1536)},
      {"memory resource and annotation agree in different spellings",
       {{"gpusched.io/gpu-memory", "4096"}},
       {{"gpusched.io/gpu-memory", "4Gi"}},
       Req(1, 0, 4096)},
      {"milli and memory",
       {{"gpusched.io/gpu-milli", "250"}, {"gpusched.io/gpu-memory", "4Gi"}},
       {},
       Req(1, 250, 4096)},
      {"whole GPUs with a memory minimum",
       {{"nvidia.com/gpu", "2"}, {"gpusched.io/gpu-memory", "40Gi"}},
       {},
       Req(2, 1000, 40960)},
      // gpusched.io/gpu-model.
      {"models split by a bar",
       {{"gpusched.io/gpu-milli", "250"}, {"gpusched.io/gpu-memory", "4Gi"}},
       {{"gpusched.io/gpu-model", "A100-SXM4-80GB|H100"}},
       Req(1, 250, 4096, {"A100-SXM4-80GB", "H100"})},
      {"models split by commas, blanks trimmed",
       {{"nvidia.com/gpu", "2"}},
       {{"gpusched.io/gpu-model", "A100, H100 ,V100M32"}},
       Req(2, 1000, 0, {"A100", "H100", "V100M32"})},
      {"mixed separators, duplicates dropped, inner spaces kept",
       {{"nvidia.com/gpu", "1"}},
       {{"gpusched.io/gpu-model", "NVIDIA A100-SXM4-80GB|Tesla T4,NVIDIA A100-SXM4-80GB"}},
       Req(1, 1000, 0, {"NVIDIA A100-SXM4-80GB", "Tesla T4"})},
      {"one model",
       {{"nvidia.com/gpu", "1"}},
       {{"gpusched.io/gpu-model", "V100M16"}},
       Req(1, 1000, 0, {"V100M16"})},
      // HAMi.
      {"HAMi docs example: 1 vGPU, 3000 MiB, 30 %",
       {{"nvidia.com/gpu", "1"}, {"nvidia.com/gpumem", "3000"}, {"nvidia.com/gpucores", "30"}},
       {},
       Req(1, 300, 3000)},
      {"HAMi memory only",
       {{"nvidia.com/gpu", "1"}, {"nvidia.com/gpumem", "1024"}},
       {},
       Req(1, 0, 1024)},
      {"HAMi memory in canonical form",
       {{"nvidia.com/gpu", "1"}, {"nvidia.com/gpumem", "3k"}},
       {},
       Req(1, 0, 3000)},
      {"HAMi cores only",
       {{"nvidia.com/gpu", "1"}, {"nvidia.com/gpucores", "50"}},
       {},
       Req(1, 500, 0)},
      {"HAMi without nvidia.com/gpu gets one device",
       {{"nvidia.com/gpumem", "3000"}},
       {},
       Req(1, 0, 3000)},
      {"HAMi cores 100 is a whole GPU",
       {{"nvidia.com/gpu", "1"}, {"nvidia.com/gpucores", "100"}},
       {},
       Req(1, 1000, 0)},
      {"HAMi 2 GPUs at 100 % are whole GPUs",
       {{"nvidia.com/gpu", "2"}, {"nvidia.com/gpucores", "100"}},
       {},
       Req(2, 1000, 0)},
      {"HAMi 2 GPUs at 100 % with memory: whole GPUs with a memory minimum",
       {{"nvidia.com/gpu", "2"}, {"nvidia.com/gpucores", "100"}, {"nvidia.com/gpumem", "3000"}},
       {},
       Req(2, 1000, 3000)},
      // Aliyun gpushare.
      {"Aliyun example: 3 GiB", {{"aliyun.com/gpu-mem", "3"}}, {}, Req(1, 0, 3072)},
      {"Aliyun with nvidia.com/gpu 1",
       {{"nvidia.com/gpu", "1"}, {"aliyun.com/gpu-mem", "16"}},
       {},
       Req(1, 0, 16384)},
      // Compute from one family, memory from another: no key is given twice.
      {"gpusched milli with HAMi memory",
       {{"gpusched.io/gpu-milli", "300"}, {"nvidia.com/gpumem", "3000"}},
       {},
       Req(1, 300, 3000)},
      {"HAMi cores with gpusched memory",
       {{"nvidia.com/gpucores", "30"}, {"gpusched.io/gpu-memory", "4Gi"}},
       {},
       Req(1, 300, 4096)},
      {"gpusched milli annotation with Aliyun memory",
       {{"aliyun.com/gpu-mem", "2"}},
       {{"gpusched.io/gpu-milli", "250"}},
       Req(1, 250, 2048)},
  };
  for (const ValidCase& tc : cases) {
    SCOPED_TRACE(tc.name);
    absl::StatusOr<GpuRequest> got = GpuRequestFromPod(tc.resources, tc.annotations);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(*got, tc.want);
    EXPECT_TRUE(ValidateGpuRequest(*got).ok()) << ValidateGpuRequest(*got);
  }
}

struct ErrorCase {
  std::string name;
  Map resources;
  Map annotations;
  std::string want;  // a substring of the message
};

void ExpectErrors(const std::vector<ErrorCase>& cases) {
  for (const ErrorCase& tc : cases) {
    SCOPED_TRACE(tc.name);
    absl::StatusOr<GpuRequest> got = GpuRequestFromPod(tc.resources, tc.annotations);
    ASSERT_FALSE(got.ok()) << "got a request instead of an error";
    EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument) << got.status();
    EXPECT_THAT(std::string(got.status().message()), HasSubstr(tc.want));
  }
}

TEST(ResourceNames, GpuRequestFromPodRejectsMalformedValues) {
  ExpectErrors({
      // nvidia.com/gpu
      {"negative count",
       {{"nvidia.com/gpu", "-1"}},
       {},
       R"(resources["nvidia.com/gpu"]: "-1" must not be negative)"},
      {"fractional count",
       {{"nvidia.com/gpu", "1.5"}},
       {},
       R"(resources["nvidia.com/gpu"]: "1.5" is not a whole number of GPUs)"},
      {"part of one GPU as a count",
       {{"nvidia.com/gpu", "0.5"}},
       {},
       R"(resources["nvidia.com/gpu"]: "0.5" is not a whole number of GPUs; for part of one GPU use gpusched.io/gpu-milli: "500")"},
      {"not a number",
       {{"nvidia.com/gpu", "abc"}},
       {},
       R"(resources["nvidia.com/gpu"]: "abc" is not a whole number of GPUs (invalid quantity "abc")"},
      {"empty count",
       {{"nvidia.com/gpu", ""}},
       {},
       R"(resources["nvidia.com/gpu"]: "" is not a whole number of GPUs (invalid quantity "": empty string))"},
      {"count above the limit",
       {{"nvidia.com/gpu", "2000"}},
       {},
       R"(resources["nvidia.com/gpu"]: "2000" must be in 0..1024)"},
      {"count out of range",
       {{"nvidia.com/gpu", "2E"}},
       {},
       R"(resources["nvidia.com/gpu"]: "2E" is too large)"},
      // gpusched.io/gpu-milli
      {"milli as a fraction of a GPU",
       {{"gpusched.io/gpu-milli", "0.25"}},
       {},
       R"(resources["gpusched.io/gpu-milli"]: "0.25" is not a whole number of milli-GPU; the value counts milli-GPU (1000 = one GPU): write "250")"},
      {"milli with the m suffix",
       {{"gpusched.io/gpu-milli", "250m"}},
       {},
       R"(resources["gpusched.io/gpu-milli"]: "250m" must not have the "m" suffix; the value counts milli-GPU (1000 = one GPU): write "250")"},
      {"1000m is not one GPU here",
       {},
       {{"gpusched.io/gpu-milli", "1000m"}},
       R"(annotations["gpusched.io/gpu-milli"]: "1000m" must not have the "m" suffix; the value counts milli-GPU (1000 = one GPU): write "1000")"},
      {"milli 0",
       {{"gpusched.io/gpu-milli", "0"}},
       {},
       R"(resources["gpusched.io/gpu-milli"]: "0" must be in 1..1000)"},
      {"milli above one GPU",
       {{"gpusched.io/gpu-milli", "1500"}},
       {},
       R"(resources["gpusched.io/gpu-milli"]: "1500" must be in 1..1000)"},
      {"negative milli",
       {{"gpusched.io/gpu-milli", "-250"}},
       {},
       R"(resources["gpusched.io/gpu-milli"]: "-250" must not be negative)"},
      {"milli annotation not a number",
       {},
       {{"gpusched.io/gpu-milli", "a quarter"}},
       R"(annotations["gpusched.io/gpu-milli"]: "a quarter" is not a whole number of milli-GPU (invalid quantity)"},
      // gpusched.io/gpu-memory
      {"1G is not whole MiB",
       {{"gpusched.io/gpu-memory", "1G"}},
       {},
       R"(resources["gpusched.io/gpu-memory"]: "1G" is 1000000000 bytes, not a whole number of MiB; write MiB as a plain number ("4096") or bytes with a binary suffix ("4Gi", "512Mi"))"},
      {"1Ki is not whole MiB",
       {{"gpusched.io/gpu-memory", "1Ki"}},
       {},
       R"(resources["gpusched.io/gpu-memory"]: "1Ki" is 1024 bytes, not a whole number of MiB)"},
      {"8k: the API server's spelling of a plain 8000",
       {{"gpusched.io/gpu-memory", "8k"}},
       {},
       R"(if you meant 8000 MiB, write "8000Mi" (Kubernetes rewrites a plain 8000 as "8k"))"},
      {"fractional plain MiB",
       {{"gpusched.io/gpu-memory", "4096.5"}},
       {},
       R"(resources["gpusched.io/gpu-memory"]: "4096.5" is not a whole number of MiB (a plain number counts MiB))"},
      {"zero memory",
       {},
       {{"gpusched.io/gpu-memory", "0Gi"}},
       R"(annotations["gpusched.io/gpu-memory"]: "0Gi" must be at least 1 MiB)"},
      {"negative memory",
       {{"gpusched.io/gpu-memory", "-4Gi"}},
       {},
       R"(resources["gpusched.io/gpu-memory"]: "-4Gi" must not be negative)"},
      {"memory not a quantity",
       {{"gpusched.io/gpu-memory", "lots"}},
       {},
       R"(resources["gpusched.io/gpu-memory"]: "lots" is not GPU memory (a plain number of MiB, or bytes with a binary suffix like "4Gi"): invalid quantity "lots")"},
      // HAMi
      {"cores above 100",
       {{"nvidia.com/gpu", "1"}, {"nvidia.com/gpucores", "150"}},
       {},
       R"(resources["nvidia.com/gpucores"]: "150" must be in 1..100)"},
      {"cores 0",
       {{"nvidia.com/gpu", "1"}, {"nvidia.com/gpucores", "0"}},
       {},
       R"(resources["nvidia.com/gpucores"]: "0" must be in 1..100)"},
      {"fractional cores",
       {{"nvidia.com/gpucores", "30.5"}},
       {},
       R"(resources["nvidia.com/gpucores"]: "30.5" is not a whole number of percent)"},
      {"HAMi memory with a binary suffix",
       {{"nvidia.com/gpumem", "4Gi"}},
       {},
       R"(resources["nvidia.com/gpumem"]: "4Gi" counts MiB as a plain number (HAMi's unit), so a binary suffix is wrong: write "4096")"},
      {"HAMi memory 0",
       {{"nvidia.com/gpumem", "0"}},
       {},
       R"(resources["nvidia.com/gpumem"]: "0" must be at least 1 (MiB))"},
      {"HAMi memory fractional",
       {{"nvidia.com/gpumem", "1.5"}},
       {},
       R"(resources["nvidia.com/gpumem"]: "1.5" is not a whole number of MiB)"},
      {"HAMi memory percentage",
       {{"nvidia.com/gpu", "1"}, {"nvidia.com/gpumem-percentage", "50"}},
       {},
       R"(resources["nvidia.com/gpumem-percentage"]: "50" is not supported; use nvidia.com/gpumem)"},
      // Aliyun
      {"Aliyun memory with a binary suffix",
       {{"aliyun.com/gpu-mem", "3Gi"}},
       {},
       R"(resources["aliyun.com/gpu-mem"]: "3Gi" counts GiB as a plain number (gpushare's unit), so a binary suffix is wrong: write "3")"},
      {"Aliyun memory 0",
       {{"aliyun.com/gpu-mem", "0"}},
       {},
       R"(resources["aliyun.com/gpu-mem"]: "0" must be at least 1 (GiB))"},
      {"Aliyun memory fractional",
       {{"aliyun.com/gpu-mem", "1.5"}},
       {},
       R"(resources["aliyun.com/gpu-mem"]: "1.5" is not a whole number of GiB)"},
      // Models
      {"empty model list",
       {{"nvidia.com/gpu", "1"}},
       {{"gpusched.io/gpu-model", ""}},
       R"(annotations["gpusched.io/gpu-model"]: "" is empty; list the allowed models)"},
      {"empty entry in the middle",
       {{"nvidia.com/gpu", "1"}},
       {{"gpusched.io/gpu-model", "A100||H100"}},
       R"(annotations["gpusched.io/gpu-model"]: "A100||H100" has an empty model name (entry 2))"},
      {"trailing separator",
       {{"nvidia.com/gpu", "1"}},
       {{"gpusched.io/gpu-model", "A100,"}},
       R"(annotations["gpusched.io/gpu-model"]: "A100," has an empty model name (entry 2))"},
      {"blank entry",
       {{"nvidia.com/gpu", "1"}},
       {{"gpusched.io/gpu-model", "A100| |H100"}},
       R"(has an empty model name (entry 2))"},
      {"models without a GPU",
       {},
       {{"gpusched.io/gpu-model", "A100"}},
       R"(annotations["gpusched.io/gpu-model"]: "A100" names GPU models but the pod asks for no GPU)"},
      {"models with nvidia.com/gpu 0",
       {{"nvidia.com/gpu", "0"}},
       {{"gpusched.io/gpu-model", "A100"}},
       R"(names GPU models but the pod asks for no GPU)"},
      // Keys in the wrong place or not supported.
      {"model as a resource",
       {{"gpusched.io/gpu-model", "1"}},
       {},
       R"(resources["gpusched.io/gpu-model"]: "1" is an annotation, not a resource)"},
      {"unknown gpusched resource",
       {{"gpusched.io/gpu-mem", "4Gi"}},
       {},
       R"(resources["gpusched.io/gpu-mem"]: "4Gi" is not a gpusched resource name (known: gpusched.io/gpu-milli, gpusched.io/gpu-memory)"},
      {"HAMi use-gputype",
       {{"nvidia.com/gpu", "1"}},
       {{"nvidia.com/use-gputype", "A100"}},
       R"(annotations["nvidia.com/use-gputype"]: "A100" is not supported (gpusched matches models exactly); use gpusched.io/gpu-model)"},
      {"HAMi nouse-gputype",
       {{"nvidia.com/gpu", "1"}},
       {{"nvidia.com/nouse-gputype", "T4"}},
       R"(annotations["nvidia.com/nouse-gputype"]: "T4" is not supported)"},
      {"HAMi use-gpuuuid",
       {{"nvidia.com/gpu", "1"}},
       {{"nvidia.com/use-gpuuuid", "GPU-1"}},
       R"(annotations["nvidia.com/use-gpuuuid"]: "GPU-1" is not supported (gpusched chooses the devices itself))"},
      {"HAMi nouse-gpuuuid",
       {{"nvidia.com/gpu", "1"}},
       {{"nvidia.com/nouse-gpuuuid", "GPU-1"}},
       R"(annotations["nvidia.com/nouse-gpuuuid"]: "GPU-1" is not supported)"},
      {"control bytes are escaped",
       {{"nvidia.com/gpu", "1\n"}},
       {},
       R"(resources["nvidia.com/gpu"]: "1\n" is not a whole number of GPUs)"},
  });
}

TEST(ResourceNames, GpuRequestFromPodRejectsConflicts) {
  ExpectErrors({
      {"gpusched milli resource with HAMi cores",
       {{"gpusched.io/gpu-milli", "250"}, {"nvidia.com/gpucores", "30"}},
       {},
       R"(resources["gpusched.io/gpu-milli"]: "250" conflicts with resources["nvidia.com/gpucores"]: "30": both set the compute share per GPU; keep one)"},
      {"gpusched milli annotation with HAMi cores",
       {{"nvidia.com/gpucores", "30"}},
       {{"gpusched.io/gpu-milli", "300"}},
       R"(annotations["gpusched.io/gpu-milli"]: "300" conflicts with resources["nvidia.com/gpucores"]: "30")"},
      {"gpusched memory with HAMi memory",
       {{"gpusched.io/gpu-memory", "3000"}, {"nvidia.com/gpumem", "3000"}},
       {},
       R"(resources["gpusched.io/gpu-memory"]: "3000" conflicts with resources["nvidia.com/gpumem"]: "3000": both set the GPU memory per GPU; keep one)"},
      {"gpusched memory annotation with Aliyun memory",
       {{"aliyun.com/gpu-mem", "3"}},
       {{"gpusched.io/gpu-memory", "3Gi"}},
       R"(annotations["gpusched.io/gpu-memory"]: "3Gi" conflicts with resources["aliyun.com/gpu-mem"]: "3": both set the GPU memory per GPU)"},
      {"HAMi memory with Aliyun memory",
       {{"nvidia.com/gpumem", "3072"}, {"aliyun.com/gpu-mem", "3"}},
       {},
       R"(resources["nvidia.com/gpumem"]: "3072" conflicts with resources["aliyun.com/gpu-mem"]: "3": both set the GPU memory per GPU)"},
      {"milli resource and annotation disagree",
       {{"gpusched.io/gpu-milli", "250"}},
       {{"gpusched.io/gpu-milli", "500"}},
       R"(resources["gpusched.io/gpu-milli"]: "250" conflicts with annotations["gpusched.io/gpu-milli"]: "500": the resource and the annotation disagree)"},
      {"memory resource and annotation disagree",
       {{"gpusched.io/gpu-memory", "4Gi"}},
       {{"gpusched.io/gpu-memory", "4000"}},
       R"(resources["gpusched.io/gpu-memory"]: "4Gi" conflicts with annotations["gpusched.io/gpu-memory"]: "4000": the resource and the annotation disagree)"},
      {"nvidia.com/gpu 0 with milli",
       {{"nvidia.com/gpu", "0"}, {"gpusched.io/gpu-milli", "250"}},
       {},
       R"(resources["nvidia.com/gpu"]: "0" conflicts with resources["gpusched.io/gpu-milli"]: "250": nvidia.com/gpu: 0 asks for no GPU)"},
      {"nvidia.com/gpu 0 with HAMi memory",
       {{"nvidia.com/gpu", "0"}, {"nvidia.com/gpumem", "3000"}},
       {},
       R"(resources["nvidia.com/gpu"]: "0" conflicts with resources["nvidia.com/gpumem"]: "3000")"},
      {"nvidia.com/gpu 0 with a memory annotation",
       {{"nvidia.com/gpu", "0"}},
       {{"gpusched.io/gpu-memory", "4Gi"}},
       R"(resources["nvidia.com/gpu"]: "0" conflicts with annotations["gpusched.io/gpu-memory"]: "4Gi")"},
  });
}

TEST(ResourceNames, GpuRequestFromPodRejectsSharesOfSeveralGpus) {
  ExpectErrors({
      {"HAMi README example: 2 vGPUs of 3000 MiB and 30 %",
       {{"nvidia.com/gpu", "2"}, {"nvidia.com/gpumem", "3000"}, {"nvidia.com/gpucores", "30"}},
       {},
       R"(resources["nvidia.com/gpu"]: "2" conflicts with resources["nvidia.com/gpucores"]: "30": shares of more than one GPU are not supported (HAMi can place several partial vGPUs on different cards; gpusched does not model that yet); ask for whole GPUs or nvidia.com/gpu: 1)"},
      {"HAMi memory on 2 vGPUs",
       {{"nvidia.com/gpu", "2"}, {"nvidia.com/gpumem", "3000"}},
       {},
       R"(resources["nvidia.com/gpu"]: "2" conflicts with resources["nvidia.com/gpumem"]: "3000": shares of more than one GPU are not supported)"},
      {"gpusched milli on 2 GPUs",
       {{"nvidia.com/gpu", "2"}, {"gpusched.io/gpu-milli", "500"}},
       {},
       R"(resources["nvidia.com/gpu"]: "2" conflicts with resources["gpusched.io/gpu-milli"]: "500": shares of more than one GPU are not supported (a share is of one GPU, so with several GPUs gpusched.io/gpu-milli must be 1000))"},
      {"Aliyun memory on 2 GPUs",
       {{"nvidia.com/gpu", "2"}, {"aliyun.com/gpu-mem", "3"}},
       {},
       R"(resources["nvidia.com/gpu"]: "2" conflicts with resources["aliyun.com/gpu-mem"]: "3": shares of more than one GPU are not supported (gpushare shares one GPU per pod))"},
  });
}

}  // namespace
}  // namespace gpusched::framework
