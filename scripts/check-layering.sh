#!/usr/bin/env bash
# Include-graph check for the layering rule of shared/design.md, plus the ban on real time in the
# scheduler core and plugins. Run by ctest as `layering_check`; prints each violation.
set -uo pipefail
root="${1:-$(cd "$(dirname "$0")/.." && pwd)}"
cd "$root"
fail=0

# folder -> project include prefixes it may use (besides its own).
declare -A ALLOWED=(
  [common]="common/"
  [topology]="common/ topology/"
  [kernels]="common/ kernels/"
  [scheduler/api]="common/ topology/ scheduler/api/"
  [scheduler/cache]="common/ topology/ scheduler/api/ scheduler/cache/"
  [scheduler/runtime]="common/ topology/ scheduler/api/ scheduler/cache/ scheduler/runtime/"
  [plugins]="common/ topology/ scheduler/api/ plugins/"
)
PROJECT_DIRS="common/|topology/|kernels/|scheduler/|plugins/|extender/|agent/|simulator/|cli/|test/|bench/"

for dir in "${!ALLOWED[@]}"; do
  [ -d "$dir" ] || continue
  while IFS= read -r file; do
    case "$file" in *_test.cc|*_benchmark.cc) continue ;; esac
    while IFS= read -r inc; do
      ok=0
      for prefix in ${ALLOWED[$dir]}; do
        [[ "$inc" == "$prefix"* ]] && ok=1
      done
      if [ $ok -eq 0 ]; then
        echo "layering: $file includes \"$inc\" (allowed for $dir/: ${ALLOWED[$dir]})"
        fail=1
      fi
    done < <(grep -hoE '^#include "('"$PROJECT_DIRS"')[^"]*"' "$file" | sed -E 's/#include "(.*)"/\1/')
  done < <(find "$dir" -name '*.h' -o -name '*.cc' -o -name '*.cu')
done

# scheduler/api is pure: no I/O, serialization, RPC or CUDA headers.
bad=$(grep -rnE '#include *[<"](yaml-cpp|nlohmann|grpc|grpcpp|google/protobuf|cuda|boost/beast|fstream|iostream)' scheduler/api 2>/dev/null)
[ -n "$bad" ] && { echo "layering: scheduler/api must stay free of I/O and codecs:"; echo "$bad"; fail=1; }

# No real time in the scheduler core and plugins (design G13).
bad=$(grep -rnE '(system_clock|steady_clock|high_resolution_clock)::now|absl::Now\(|sleep_for|usleep\(|absl::SleepFor' \
      scheduler plugins 2>/dev/null | grep -v '_test\.cc')
[ -n "$bad" ] && { echo "layering: real time read in scheduler/ or plugins/ (inject a Clock):"; echo "$bad"; fail=1; }

# Nothing but tests and benchmarks depends on test/, except the live demo, whose Kubernetes API
# is the tests' in-memory API server (demo/live_demo.h says why).
bad=$(grep -rlE '#include "test/' --include='*.h' --include='*.cc' . 2>/dev/null \
      | grep -vE '_test\.cc$|_benchmark\.cc$|^\./test/|^\./build' \
      | grep -vxF './demo/live_demo.cc' )
[ -n "$bad" ] && { echo "layering: only tests and benchmarks may include test/:"; echo "$bad"; fail=1; }

if [ $fail -eq 0 ]; then echo "layering: ok"; fi
exit $fail
