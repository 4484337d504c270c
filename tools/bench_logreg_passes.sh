#!/usr/bin/env bash
# Logistic regression in passes vs in memory: tools/bench_logreg_passes.py on the private
# cluster, in the database pgscore_bench_passes (created if missing).
#
#   tools/bench_logreg_passes.sh [--rows N] [--repeat N]
#
# Prints the time of ml.logreg_fit (rows in memory), of the pass fit (ml.logreg_step
# until done), of one SELECT count(*) scan, the number of passes, and a final
# 'RATIO name value target [MISS]' block. Exits 0 whatever the ratios.
set -euo pipefail

TOOLS=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")
. "$TOOLS/bench_lib.sh"
BENCH_PY=$TOOLS/bench_logreg_passes.py
bench_help "$@"

bench_database pgscore_bench_passes
exec python3 "$TOOLS/bench_logreg_passes.py" "$@"
