#pragma once

// What users write on a Kubernetes pod, turned into the scheduler's GpuRequest (pod_info.h).
//
//   // A pod with limits gpusched.io/gpu-milli: "250" and gpusched.io/gpu-memory: "4Gi", and the
//   // annotation gpusched.io/gpu-model: "A100-SXM4-80GB|H100":
//   ASSIGN_OR_RETURN(GpuRequest gpu, GpuRequestFromPod(
//       {{"gpusched.io/gpu-milli", "250"}, {"gpusched.io/gpu-memory", "4Gi"}},
//       {{"gpusched.io/gpu-model", "A100-SXM4-80GB|H100"}}));
//   // gpu == {count 1, 250m, 4096 MiB, models {"A100-SXM4-80GB", "H100"}}: a quarter of one GPU
//
//   GpuRequestFromPod({{"nvidia.com/gpu", "1"}, {"nvidia.com/gpumem", "3000"},
//                      {"nvidia.com/gpucores", "30"}}, {})      // HAMi: share 300m / 3000 MiB
//   GpuRequestFromPod({{"aliyun.com/gpu-mem", "3"}}, {})        // Aliyun gpushare: 0m / 3072 MiB
//   GpuRequestFromPod({{"nvidia.com/gpu", "1.5"}}, {})
//     -> InvalidArgument: resources["nvidia.com/gpu"]: "1.5" is not a whole number of GPUs
//
// `resources` holds the pod's GPU-related resource amounts by name (limits, summed over
// containers) as Kubernetes quantity strings ("1", "500m", "16Gi", "3k"); other names (cpu,
// memory, ...) may be present and are ignored. `annotations` holds the pod's annotations; only the
// ones below are read. All arithmetic is exact (common/quantity.h); nothing is rounded.
//
// The mapping (on: R = resource, A = annotation; N = the value of nvidia.com/gpu):
//
// | key                    | on  | value                           | meaning                      |
// |------------------------|-----|---------------------------------|------------------------------|
// | nvidia.com/gpu         | R   | whole number >= 0 ("2")         | N devices. Alone: N whole    |
// |                        |     |                                 | GPUs; "0" alone: no GPU      |
// | gpusched.io/gpu-milli  | R,A | whole number of milli-GPU,      | compute per device. Without  |
// |                        |     | 1..1000 ("250" = a quarter GPU; | nvidia.com/gpu: a share of 1 |
// |                        |     | "1k" = 1000); not "0.25"/"250m" | device; N > 1: only 1000     |
// | gpusched.io/gpu-memory | R,A | plain number = MiB ("4096");    | memory per device. Alone: a  |
// |                        |     | with a suffix = bytes, whole    | share of 1 device, 0 milli.  |
// |                        |     | MiB ("4Gi", "512Mi"; "1G" is    | With nvidia.com/gpu and no   |
// |                        |     | not whole MiB: an error)        | milli: N whole GPUs, each of |
// |                        |     |                                 | at least that memory         |
// | gpusched.io/gpu-model  | A   | names split by a bar or a comma | allowed device models (exact |
// |                        |     | ("A100-SXM4-80GB|H100")         | names; any of them)          |
// | nvidia.com/gpumem      | R   | whole number of MiB ("3000",    | HAMi: memory per vGPU; makes |
// |                        |     | "3k"); no binary suffix         | the request a share          |
// | nvidia.com/gpucores    | R   | percent of one GPU, 1..100      | HAMi: milli = 10 x percent;  |
// |                        |     |                                 | 100 = the whole device       |
// | aliyun.com/gpu-mem     | R   | whole number of GiB ("3"); no   | Aliyun gpushare: a share of  |
// |                        |     | binary suffix                   | 1 device, G x 1024 MiB,      |
// |                        |     |                                 | 0 milli                      |
//
// How the parts combine:
//   - count: N if nvidia.com/gpu is given, else 1 if any other GPU key is given, else 0 (an empty
//     request). HAMi and Aliyun pods without nvidia.com/gpu get 1 device (HAMi's defaultGPUNum).
//   - milli per device: gpusched.io/gpu-milli, or 10 x nvidia.com/gpucores; if neither: 0 when the
//     memory comes from nvidia.com/gpumem or aliyun.com/gpu-mem (those ask for a share), else 1000
//     when nvidia.com/gpu is given (whole GPUs), else 0 (a memory-only share).
//   - memory per device: gpusched.io/gpu-memory, nvidia.com/gpumem or aliyun.com/gpu-mem (MiB).
//   - The result is whole GPUs when milli is 1000 (memory is then a minimum device size), else a
//     share of one device. A share on each of N > 1 devices is not supported yet (HAMi allows N
//     partial vGPUs on different cards): InvalidArgument, ask for whole GPUs or N = 1.
//
// Errors (all InvalidArgument; each names the key and quotes the value, e.g.
// `resources["nvidia.com/gpucores"]: "150" must be in 1..100`):
//   - malformed, negative or fractional values ("abc", "-1", "1.5" GPUs, "0.25" milli: write
//     "250"), an "m" suffix on gpusched.io/gpu-milli ("250m", "1000m": the value already counts
//     milli), out-of-range values, memory that is not a whole number of MiB ("1G", "1Ki"; the
//     message says when "8k" is the API server's spelling of a plain 8000: write "8000Mi"),
//     binary suffixes on nvidia.com/gpumem and aliyun.com/gpu-mem (plain MiB / GiB counts);
//   - conflicts, naming both keys: two compute keys (gpusched.io/gpu-milli, nvidia.com/gpucores);
//     two memory keys (gpusched.io/gpu-memory, nvidia.com/gpumem, aliyun.com/gpu-mem); a resource
//     and an annotation of the same gpusched.io name with different values;
//   - nvidia.com/gpu: 0 together with other GPU keys; gpusched.io/gpu-model without a GPU request;
//     an empty entry in the model list;
//   - keys that would otherwise be dropped silently: nvidia.com/gpumem-percentage (use
//     nvidia.com/gpumem), HAMi's nvidia.com/use-gputype, nouse-gputype, use-gpuuuid, nouse-gpuuuid
//     annotations (use gpusched.io/gpu-model), and unknown gpusched.io/ resource names.
// The result always passes ValidateGpuRequest (pod_info.h).
//
// The plugin-facing guide with the same table is plugins/gpu_share/README.md.
//
// Stateless; safe to call from any thread.

#include <map>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "scheduler/api/pod_info.h"

namespace gpusched::framework {

// gpusched's own names.
inline constexpr std::string_view kNvidiaGpu = "nvidia.com/gpu";
inline constexpr std::string_view kGpuMilli = "gpusched.io/gpu-milli";
inline constexpr std::string_view kGpuMemory = "gpusched.io/gpu-memory";
inline constexpr std::string_view kGpuModel = "gpusched.io/gpu-model";
// HAMi (Project-HAMi/HAMi) resource names.
inline constexpr std::string_view kHamiGpuMem = "nvidia.com/gpumem";
inline constexpr std::string_view kHamiGpuCores = "nvidia.com/gpucores";
inline constexpr std::string_view kHamiGpuMemPercentage = "nvidia.com/gpumem-percentage";
// Aliyun gpushare-scheduler-extender resource name (GiB, the device plugin's default unit).
inline constexpr std::string_view kAliyunGpuMem = "aliyun.com/gpu-mem";

// The GPU request of a pod; see the table above. An empty GpuRequest (count 0) when the pod names
// no GPU key. Errors are InvalidArgument and name the offending key(s) and value(s).
absl::StatusOr<GpuRequest> GpuRequestFromPod(const std::map<std::string, std::string>& resources,
                                             const std::map<std::string, std::string>& annotations);

}  // namespace gpusched::framework
