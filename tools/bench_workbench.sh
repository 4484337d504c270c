#!/usr/bin/env bash
# Workbench benchmark (pgscore.Client.predict on a DataFrame vs SQL); see bench_workbench.py.
set -euo pipefail
TOOLS=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")
"$TOOLS/pgcluster.sh" start >/dev/null 2>&1 || "$TOOLS/pgcluster.sh" start
eval "$("$TOOLS/pgcluster.sh" env)"
exec python3 "$TOOLS/bench_workbench.py" "$@"
