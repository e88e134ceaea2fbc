#!/usr/bin/env bash
# The README's test command: installs what is missing, builds the normal configuration and the
# AddressSanitizer + UndefinedBehaviorSanitizer one, and runs every test in both with ctest.
# Tests that need a GPU skip without one and say so. Ends with ctest's summaries.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh || exit 1

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

summaries=()
total_pass=0
total_fail=0
status=0
for config in normal asan; do
  dir=build; [ "$config" = asan ] && dir=build-asan
  echo "=== [$config] build"
  if ! bash scripts/build.sh "$config"; then
    echo "=== [$config] BUILD FAILED"
    status=1
    summaries+=("[$config] build failed")
    continue
  fi
  echo "=== [$config] ctest"
  log=$(mktemp)
  (cd "$dir" && ctest --output-on-failure --timeout 600 -j "$(nproc)") 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  [ "$rc" -ne 0 ] && status=1
  line=$(grep -E 'tests passed, [0-9]+ tests failed out of [0-9]+' "$log" | tail -n 1)
  if [[ "$line" =~ ([0-9]+)\ tests\ failed\ out\ of\ ([0-9]+) ]]; then
    failed=${BASH_REMATCH[1]}; all=${BASH_REMATCH[2]}
    total_fail=$((total_fail + failed)); total_pass=$((total_pass + all - failed))
  else
    status=1
  fi
  summaries+=("[$config] ${line:-ctest did not finish}")
  rm -f "$log"
done

echo
echo "=== summary (normal + asan/ubsan builds)"
echo "gpusched: $total_pass passed, $total_fail failed"
for s in "${summaries[@]}"; do echo "$s"; done
exit $status
