#!/usr/bin/env bash
# Tree benchmark: ml.gbt_fit / ml.predict inside PostgreSQL against XGBoost on NumPy.
#
#   tools/bench_trees.sh [--rows N] [--repeat N]
#
# Installs xgboost (and numpy) with pip if missing, starts the private cluster
# (tools/pgcluster.sh start) if needed, then runs tools/bench_trees.py in the database
# pgscore_bench_trees (created if missing), which creates the extension (IF NOT
# EXISTS), the data (ROWS rows x 8 features, default 1,000,000,
# generated with NumPy and loaded with COPY; reused when present) and prints best-of-N
# times (BENCH_REPEAT, default 3) of gradient-boosting training (100 trees, depth 6)
# and of scoring the 1M rows, XGBoost with 1 thread and with all threads, and a final
# 'RATIO name value target [MISS]' block. Exits 0 whatever the ratios.
set -euo pipefail

TOOLS=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")
. "$TOOLS/bench_lib.sh"
BENCH_PY=$TOOLS/bench_trees.py
bench_help "$@"

if ! python3 -c "import numpy, xgboost" >/dev/null 2>&1; then
    # the same pip invocation as install_deps.sh (externally-managed Debian python, root)
    "$TOOLS/install_deps.sh" --fixtures
fi

bench_database pgscore_bench_trees

bench_check_installed bench_trees

exec python3 "$TOOLS/bench_trees.py" "$@"
