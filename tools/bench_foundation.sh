#!/usr/bin/env bash
# Foundation benchmark: ml.predict / ml.*_fit against plain-SQL baselines.
#
#   tools/bench_foundation.sh [--rows N] [--repeat N] [--no-create-extension]
#
# Starts the private cluster (tools/pgcluster.sh start) if needed, then runs
# tools/bench_foundation.py, which creates the extension (IF NOT EXISTS), the
# data (ROWS rows, default 1,000,000; reused when present) and prints best-of-N
# times (BENCH_REPEAT, default 5), ratios to the baselines and a final
# 'RATIO name value target [MISS]' block. Exits 0 whatever the ratios.
set -euo pipefail

TOOLS=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")
. "$TOOLS/bench_lib.sh"
BENCH_PY=$TOOLS/bench_foundation.py
bench_help "$@"

"$TOOLS/pgcluster.sh" start >/dev/null 2>&1 || "$TOOLS/pgcluster.sh" start
eval "$("$TOOLS/pgcluster.sh" env)"

bench_check_installed bench_foundation

exec python3 "$TOOLS/bench_foundation.py" "$@"
