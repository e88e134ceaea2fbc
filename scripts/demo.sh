#!/usr/bin/env bash
# The README's demo command: installs what is missing, builds the gpusched tool and runs the
# simulator on its built-in samples:
#  1. the openb-like sample through six GPU-sharing policies x 10 seeds, the FGD paper's
#     experiment in miniature;
#  2. the 200-job Philly-like sample with gangs on 16 nodes x 8 GPUs: gang vs naive per-pod
#     scheduling, FIFO / greedy / smallest-first / backfill.
# Prints both comparison tables and where the reports are.
# Extra arguments go to `gpusched sim` (e.g. --policy fgd,bestfit --seeds 1-3).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh normal gpusched >/dev/null
build/cli/gpusched sim --seeds 42-51 --out out/demo "$@"
echo
exec build/cli/gpusched jobs --nodes 16 --out out/demo/jobs
