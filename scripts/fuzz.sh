#!/usr/bin/env bash
# Builds and runs the libFuzzer targets of bench/fuzz/ (one per decoder of outside input), under
# AddressSanitizer and UndefinedBehaviorSanitizer, with Debian's clang.
#
#   scripts/fuzz.sh build                 configures build-fuzz/ and builds only the fuzzers
#   scripts/fuzz.sh run SECONDS [NAME...] runs each fuzzer (all by default) for SECONDS
#   scripts/fuzz.sh long [NAME...]        600 s each: the "at least 10 minutes each" check to run
#                                         before a release or after changing a decoder
#   scripts/fuzz.sh list                  the fuzzer names
#
# NAME is the part before _fuzzer: pod, node, config, ... Each fuzzer starts from a temporary
# copy of bench/fuzz/corpus/<NAME>/ (the repository's seeds are never written to) and uses
# bench/fuzz/<NAME>.dict when there is one. Crash, leak and timeout inputs go to a temporary
# directory whose path is printed; reproduce one with build-fuzz/bench/fuzz/<NAME>_fuzzer FILE.
# Exits non-zero when any fuzzer failed.
set -uo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR=${FUZZ_BUILD_DIR:-build-fuzz}  # another folder for a second fuzz build beside this one
FUZZ_DIR=bench/fuzz

names() {
  for f in "$FUZZ_DIR"/*_fuzzer.cc; do
    f=${f##*/}
    echo "${f%_fuzzer.cc}"
  done
}

build() {
  local launcher=() gen=()
  command -v ccache >/dev/null 2>&1 && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  command -v ninja >/dev/null 2>&1 && gen=(-G Ninja)
  if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
    CC=clang CXX=clang++ cmake -S . -B "$BUILD_DIR" "${gen[@]}" "${launcher[@]}" \
      -DGPUSCHED_FUZZ=ON -DGPUSCHED_BUILD_TESTS=OFF -DGPUSCHED_BUILD_BENCHMARKS=OFF \
      -DGPUSCHED_WITH_CUDA=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo || return 1
  fi
  cmake --build "$BUILD_DIR" --parallel "${FUZZ_JOBS:-2}" --target gpusched_fuzzers
}

# run SECONDS NAME...: one fuzzer at a time; a summary line per fuzzer.
run() {
  local seconds=$1
  shift
  [[ "$seconds" =~ ^[0-9]+$ ]] || { echo "fuzz.sh: SECONDS must be a number, got '$seconds'" >&2; return 2; }
  [ $# -eq 0 ] && set -- $(names)
  local work
  work=$(mktemp -d "${TMPDIR:-/tmp}/gpusched-fuzz.XXXXXX")
  local failed=0 passed=0 name
  export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}:abort_on_error=1:symbolize=1"
  export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}:halt_on_error=1"
  for name in "$@"; do
    local bin="$BUILD_DIR/$FUZZ_DIR/${name}_fuzzer"
    if [ ! -x "$bin" ]; then
      echo "FUZZ $name: FAILED (no $bin; run scripts/fuzz.sh build)"
      failed=$((failed + 1))
      continue
    fi
    local corpus="$work/$name/corpus" artifacts="$work/$name/artifacts/" log="$work/$name/log"
    mkdir -p "$corpus" "$artifacts"
    [ -d "$FUZZ_DIR/corpus/$name" ] && cp -r "$FUZZ_DIR/corpus/$name/." "$corpus/"
    local dict=()
    [ -f "$FUZZ_DIR/$name.dict" ] && dict=(-dict="$FUZZ_DIR/$name.dict")
    "$bin" "$corpus" "${dict[@]}" -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 \
      -timeout=10 -print_final_stats=1 -artifact_prefix="$artifacts" >"$log" 2>&1
    local rc=$?
    local done_line
    done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1)
    local execs
    execs=$(echo "$done_line" | grep -Eo '^#[0-9]+' | tr -d '#')
    if [ "$rc" -eq 0 ] && [ -n "$done_line" ]; then
      echo "FUZZ $name: ok, ${execs} execs in ${seconds}s (${done_line})"
      passed=$((passed + 1))
      rm -rf "${work:?}/$name"  # keep only what a failure left
    else
      echo "FUZZ $name: FAILED (exit $rc); log: $log"
      grep -E 'ERROR: |SUMMARY: |FUZZ_CHECK|FUZZ invariant|runtime error|Test unit written to' "$log" \
        | head -n 20 | sed 's/^/    /'
      for a in "$artifacts"*; do
        [ -e "$a" ] && echo "    artifact: $a (reproduce: $bin $a)"
      done
      failed=$((failed + 1))
    fi
  done
  if [ "$failed" -eq 0 ]; then
    rm -rf "$work"
    echo "fuzz: $passed passed, 0 failed"
    return 0
  fi
  echo "fuzz: $passed passed, $failed failed (logs and crash inputs in $work)"
  return 1
}

cmd="${1:-}"
shift || true
case "$cmd" in
  build) build ;;
  run)
    [ $# -ge 1 ] || { echo "usage: scripts/fuzz.sh run SECONDS [NAME...]" >&2; exit 2; }
    run "$@" ;;
  long) run 600 "$@" ;;
  list) names ;;
  *) echo "usage: scripts/fuzz.sh build | run SECONDS [NAME...] | long [NAME...] | list" >&2
     exit 2 ;;
esac
