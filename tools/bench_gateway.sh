#!/usr/bin/env bash
# Gateway benchmark: builds the daemon, starts the private cluster and the daemon
# (open predict, loopback, a free port), runs tools/bench_gateway.py, stops the daemon.
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
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# Tuned for this 2-core machine shared by wrk, the daemon and PostgreSQL: 4 pooled
# connections and one event-loop thread served the most (see tools/README.md).
echo "pgscore serve --pool-size ${POOL_SIZE:-4} --threads ${THREADS:-1}; wrk with ${WRK_THREADS:-1} thread(s)"
.build/release/pgscore serve --port "$PORT" --open-predict --pool-size "${POOL_SIZE:-4}" --threads "${THREADS:-1}" \
  --log-level warning \
  > /tmp/pgscore-bench-gateway.log 2>&1 &
DAEMON=$!
trap 'kill -TERM $DAEMON 2>/dev/null; wait $DAEMON 2>/dev/null || true' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done
GATEWAY_PORT=$PORT python3 tools/bench_gateway.py "$@"
