#!/usr/bin/env bash
# Gateway benchmark: builds the daemon, starts the private cluster, runs
# tools/bench_gateway.py (which starts and stops the daemons it measures) in the
# database pgscore_bench_gateway. Environment: CONNECTIONS, DURATION, RATE, ROUNDS,
# PREFILL, WRK_THREADS (see tools/bench_gateway.py).
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."
command -v wrk >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y wrk >/dev/null
swift build -c release --product pgscore >/dev/null
tools/pgcluster.sh start >/dev/null 2>&1 || tools/pgcluster.sh start
eval "$(tools/pgcluster.sh env)"
export PGDATABASE=pgscore_bench_gateway
psql -X -q -d postgres -tc "SELECT 1 FROM pg_database WHERE datname = 'pgscore_bench_gateway'" | grep -q 1 \
  || psql -X -q -d postgres -c "CREATE DATABASE pgscore_bench_gateway"
psql -X -q -c "CREATE EXTENSION IF NOT EXISTS pgscore"
python3 tools/bench_gateway.py "$@"
