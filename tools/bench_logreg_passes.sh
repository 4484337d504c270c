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

SELF=$(readlink -f "${BASH_SOURCE[0]}")
TOOLS=$(dirname "$SELF")

case "${1:-}" in
    -h|--help)
        awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$SELF"
        echo
        exec python3 "$TOOLS/bench_logreg_passes.py" --help
        ;;
esac

"$TOOLS/pgcluster.sh" start
eval "$("$TOOLS/pgcluster.sh" env)"
export PGDATABASE=pgscore_bench_passes
psql -X -q -d postgres -tc "SELECT 1 FROM pg_database WHERE datname = 'pgscore_bench_passes'" | grep -q 1 \
  || psql -X -q -d postgres -c "CREATE DATABASE pgscore_bench_passes"
exec python3 "$TOOLS/bench_logreg_passes.py" "$@"
