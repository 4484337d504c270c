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

SELF=$(readlink -f "${BASH_SOURCE[0]}")
TOOLS=$(dirname "$SELF")

case "${1:-}" in
    -h|--help)
        awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$SELF"
        echo
        exec python3 "$TOOLS/bench_foundation.py" --help
        ;;
esac

"$TOOLS/pgcluster.sh" start
eval "$("$TOOLS/pgcluster.sh" env)"

PG_CONFIG=${PG_CONFIG:-pg_config}
if command -v "$PG_CONFIG" >/dev/null 2>&1; then
    control="$("$PG_CONFIG" --sharedir)/extension/pgscore.control"
    if [ ! -f "$control" ]; then
        echo "bench_foundation: warning: $control not found; is the extension installed (make install)?" >&2
    fi
fi

exec python3 "$TOOLS/bench_foundation.py" "$@"
