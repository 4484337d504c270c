#!/usr/bin/env bash
# Dashboard benchmark: builds the daemon, starts the private cluster, runs
# tools/bench_dashboard.py in the database pgscore_bench_dashboard (filled once, kept
# for the next run). Environment: VERSIONS, PREFILL, DAYS, EVALUATIONS, REQUESTS
# (see tools/bench_dashboard.py).
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."
swift build -c release --product pgscore >/dev/null
. tools/bench_lib.sh
bench_database pgscore_bench_dashboard
python3 tools/bench_dashboard.py "$@"
