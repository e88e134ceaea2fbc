#!/usr/bin/env bash
# The README's demo command: installs what is missing, builds the gpusched tool and runs the
# simulator on its built-in openb-like sample: six GPU-sharing policies x 10 seeds, the FGD
# paper's experiment in miniature. Prints the comparison table and where the report is.
# Extra arguments go to `gpusched sim` (e.g. --policy fgd,bestfit --seeds 1-3).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh normal gpusched >/dev/null
exec build/cli/gpusched sim --seeds 42-51 --out out/demo "$@"
