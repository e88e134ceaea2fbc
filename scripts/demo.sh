#!/usr/bin/env bash
# The README's demo command: installs what is missing, builds the gpusched tool and runs its demo
# on embedded defaults. Extra arguments go to `gpusched demo` (e.g. --profile binpack).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh normal gpusched >/dev/null
exec build/cli/gpusched demo "$@"
