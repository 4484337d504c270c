#!/usr/bin/env bash
# Gateway benchmark: builds the daemon, starts the private cluster, runs
# tools/bench_gateway.py (which starts and stops the daemons it measures) in the
# database pgscore_bench_gateway. Environment: CONNECTIONS, DURATION, RATE, ROUNDS,
# PREFILL, WRK_THREADS (see tools/bench_gateway.py).
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."
command -v wrk >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y wrk >/dev/null
swift build -c release --product pgscore >/dev/null
. tools/bench_lib.sh
bench_database pgscore_bench_gateway
psql -X -q -c "CREATE EXTENSION IF NOT EXISTS pgscore"
python3 tools/bench_gateway.py "$@"
