#!/usr/bin/env bash
# The README's demo command: installs what is missing, builds the four programs and runs the live
# demo (demo/live_demo.h): five fake-GPU node agents (two DGX H100, a DGX-1, a PCIe L40S box, an
# L4 pair) and gpusched-extender on 127.0.0.1, a driver that plays kube-scheduler against them over
# HTTP through demo/workload.yaml, what went where and why, `gpusched explain` for the pods that
# wait, the metrics addresses, and the simulator's policies on the same pods. Everything it starts
# is stopped at the end and on Ctrl-C.
#
#   bash scripts/demo.sh                   the live demo
#   bash scripts/demo.sh --keep-running    ... and keep the stack up (scrape it) until Ctrl-C
#   bash scripts/demo.sh --workload F.yaml your own Pods, Jobs, Deployments and PodGroups
#   bash scripts/demo.sh simulators        the simulator demos: the FGD paper's experiment on a
#                                          built-in openb-like sample, and the job sample (gangs
#                                          against per-pod scheduling on a loaded cluster)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
mkdir -p out

# Builds in one configuration (the whole log in out/demo-build.log).
build() {
  local config="$1"; shift
  echo "Building $* (the first time takes about 4 minutes on 2 cores; later runs reuse it)"
  if ! bash scripts/build.sh "$config" "$@" >out/demo-build.log 2>&1; then
    tail -n 30 out/demo-build.log
    echo "demo: the build failed (whole log: out/demo-build.log)" >&2
    exit 1
  fi
}

if [ "${1:-}" = simulators ]; then
  shift
  build normal gpusched
  build/cli/gpusched sim --seeds 42-51 --out out/demo "$@"
  echo
  exec build/cli/gpusched jobs --sample loaded --nodes 16 --out out/demo/jobs
fi

# build-demo/: the four programs built for a short first build (scripts/build.sh demo).
build demo gpusched gpusched-extender gpusched-agent gpusched-demo
echo
exec build-demo/demo/gpusched-demo --bin-dir build-demo "$@"
