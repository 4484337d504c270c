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

SELF=$(readlink -f "${BASH_SOURCE[0]}")
TOOLS=$(dirname "$SELF")

case "${1:-}" in
    -h|--help)
        awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$SELF"
        echo
        exec python3 "$TOOLS/bench_trees.py" --help
        ;;
esac

if ! python3 -c "import numpy, xgboost" >/dev/null 2>&1; then
    # the same pip invocation as install_deps.sh (externally-managed Debian python, root)
    "$TOOLS/install_deps.sh" --fixtures
fi

"$TOOLS/pgcluster.sh" start
eval "$("$TOOLS/pgcluster.sh" env)"
# its own database: the extension is created fresh there, whatever version an older
# database still holds
export PGDATABASE=pgscore_bench_trees
psql -X -q -d postgres -tc "SELECT 1 FROM pg_database WHERE datname = 'pgscore_bench_trees'" | grep -q 1 \
  || psql -X -q -d postgres -c "CREATE DATABASE pgscore_bench_trees"

PG_CONFIG=${PG_CONFIG:-pg_config}
if command -v "$PG_CONFIG" >/dev/null 2>&1; then
    control="$("$PG_CONFIG" --sharedir)/extension/pgscore.control"
    if [ ! -f "$control" ]; then
        echo "bench_trees: warning: $control not found; is the extension installed (make install)?" >&2
    fi
fi

exec python3 "$TOOLS/bench_trees.py" "$@"
