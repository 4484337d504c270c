#!/usr/bin/env bash
# Dashboard benchmark: builds the daemon, starts the private cluster, runs
# tools/bench_dashboard.py in the database pgscore_bench_dashboard (filled once, kept
# for the next run). Environment: VERSIONS, PREFILL, DAYS, EVALUATIONS, REQUESTS
# (see tools/bench_dashboard.py).
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."
swift build -c release --product pgscore >/dev/null
tools/pgcluster.sh start >/dev/null 2>&1 || tools/pgcluster.sh start
eval "$(tools/pgcluster.sh env)"
export PGDATABASE=pgscore_bench_dashboard
psql -X -q -d postgres -tc "SELECT 1 FROM pg_database WHERE datname = 'pgscore_bench_dashboard'" | grep -q 1 \
  || psql -X -q -d postgres -c "CREATE DATABASE pgscore_bench_dashboard"
python3 tools/bench_dashboard.py "$@"
