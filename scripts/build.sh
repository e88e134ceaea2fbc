#!/usr/bin/env bash
# Configures and builds one configuration.
#   scripts/build.sh            -> build/       (RelWithDebInfo; CUDA kernels when nvcc exists)
#   scripts/build.sh asan       -> build-asan/  (AddressSanitizer + UBSan, CPU only)
#   scripts/build.sh tsan       -> build-tsan/  (ThreadSanitizer; only the concurrency tests)
#   scripts/build.sh demo       -> build-demo/  (the live demo's four programs, built fast)
#   scripts/build.sh normal TARGET...   builds only the given targets
set -euo pipefail
cd "$(dirname "$0")/.."

config="${1:-normal}"
shift || true
# The tests that exercise concurrent requests; the tsan configuration builds only these.
TSAN_TESTS="live_concurrency_test live_scheduler_test scheduler_cache_test http_test extender_e2e_test agent_test agent_reservations_test agent_deviceplugin_test agent_e2e_test"
case "$config" in
  tsan-list) echo "$TSAN_TESTS"; exit 0 ;;  # what test.sh runs under ThreadSanitizer
  normal) dir=build; flags=() ;;
  asan) dir=build-asan; flags=(-DGPUSCHED_SANITIZE=ON -DGPUSCHED_WITH_CUDA=OFF
                               -DGPUSCHED_BUILD_BENCHMARKS=OFF -DCMAKE_BUILD_TYPE=Debug) ;;
  # The live demo's programs, built for speed of building (scripts/demo.sh): unity batches of 16
  # sources, -O1 without debug info, no CUDA (its agents have fake GPUs). About 3.5 minutes on 2
  # cores from nothing, against 12-14 for the same targets in the normal configuration.
  demo) dir=build-demo; flags=(-DCMAKE_BUILD_TYPE=Release "-DCMAKE_CXX_FLAGS_RELEASE=-O1 -DNDEBUG"
                               -DGPUSCHED_WITH_CUDA=OFF -DGPUSCHED_BUILD_BENCHMARKS=OFF
                               -DCMAKE_UNITY_BUILD=ON -DCMAKE_UNITY_BUILD_BATCH_SIZE=16)
        [ $# -eq 0 ] && set -- gpusched gpusched-extender gpusched-agent gpusched-demo ;;
  tsan) dir=build-tsan; flags=(-DGPUSCHED_SANITIZE_THREAD=ON -DGPUSCHED_WITH_CUDA=OFF
                               -DGPUSCHED_BUILD_BENCHMARKS=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo)
        [ $# -eq 0 ] && set -- $TSAN_TESTS ;;
  *) echo "build.sh: unknown configuration '$config' (normal|asan|tsan|demo)" >&2; exit 2 ;;
esac

gen=()
command -v ninja >/dev/null 2>&1 && gen=(-G Ninja)
launcher=()
command -v ccache >/dev/null 2>&1 && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)

if [ ! -f "$dir/CMakeCache.txt" ]; then
  cmake -S . -B "$dir" "${gen[@]}" "${launcher[@]}" "${flags[@]}"
fi
cmake --build "$dir" --parallel "$(nproc)" ${1:+--target "$@"}
