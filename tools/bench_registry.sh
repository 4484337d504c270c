#!/usr/bin/env bash
# Registry benchmark (ml.predict by project, row form, scoring trigger); see bench_registry.py.
set -euo pipefail
TOOLS=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")
"$TOOLS/pgcluster.sh" start >/dev/null 2>&1 || "$TOOLS/pgcluster.sh" start
eval "$("$TOOLS/pgcluster.sh" env)"
exec python3 "$TOOLS/bench_registry.py" "$@"
