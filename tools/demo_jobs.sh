#!/usr/bin/env bash
# The second half of make demo: `pgscore serve` (REST gateway, training jobs, monitors)
# on the database tools/demo.sh just filled, driven by tools/demo_jobs.py. Run by
# tools/demo.sh after the SQL demo; needs the daemon built (make daemon).
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(tools/pgcluster.sh env)"
export PGDATABASE=pgscore_demo
# the daemon connects as a role of its own, given only what ml.grant_gateway gives and
# SELECT on the data it may train on: not the superuser that set the database up
psql -X -q -o /dev/null -v ON_ERROR_STOP=1 <<'SQL'
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pgscore_daemon') THEN CREATE ROLE pgscore_daemon LOGIN; END IF;
END $$;
SELECT ml.grant_gateway('pgscore_daemon');
GRANT SELECT ON heart_raw, heart_labelled TO pgscore_daemon;
SQL
export PGSCORE_DATABASE_URL="postgres://pgscore_daemon@$PGHOST:$PGPORT/$PGDATABASE?sslmode=disable"
BIN=${PGSCORE_BIN:-.build/release/pgscore}
LOG=out/pgscore-demo.log
if [ ! -x "$BIN" ]; then
    echo "demo_jobs.sh: $BIN is missing: run make daemon" >&2
    exit 1
fi
mkdir -p out

fail() {
    echo "demo_jobs.sh: $*" >&2
    echo "--- last lines of $LOG:" >&2
    tail -n 20 "$LOG" >&2 || true
    exit 1
}

# a local demo: predictions and feedback need no key (--open-predict); short poll and
# monitor periods so that the story fits in a minute or two
SERVE=("$BIN" serve --host 127.0.0.1 --port 0 --open-predict --jobs-poll-ms 200 --monitor-interval-ms 500
       --worker-id demo)
"${SERVE[@]}" >"$LOG" 2>&1 &
PID=$!

stop_daemon() {
    kill -0 "$PID" 2>/dev/null || return 0
    kill -TERM "$PID"
    # a graceful stop takes well under a second; do not hang the demo on it
    for _ in $(seq 100); do
        kill -0 "$PID" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$PID" 2>/dev/null && kill -KILL "$PID"
    wait "$PID" 2>/dev/null || true
}
trap stop_daemon EXIT
trap 'exit 130' INT TERM

# --port 0 picks a free port; the daemon logs it as {"msg":"pgscore serve listening","address":"127.0.0.1:N",...}
PORT=
for _ in $(seq 300); do
    PORT=$(grep -F '"msg":"pgscore serve listening"' "$LOG" | grep -o '"address":"[^"]*"' | head -n 1 |
           sed 's/.*:\([0-9]*\)"$/\1/') || true
    [ -n "$PORT" ] && break
    kill -0 "$PID" 2>/dev/null || fail "pgscore serve exited at start"
    sleep 0.1
done
[ -n "$PORT" ] || fail "pgscore serve did not start listening within 30 s"
export PGSCORE_URL="http://127.0.0.1:$PORT"

# the monitors' and jobs' endpoints need a key; keys are stored hashed in the database
KEY=$("$BIN" keys create --scope admin --name demo | awk '$1 == "key:" { print $2 }')
[ -n "$KEY" ] || fail "pgscore keys create printed no key"
export PGSCORE_KEY=$KEY

echo
echo "== 12. pgscore serve: the REST gateway, the training jobs and the monitors in one process =="
echo "    ${SERVE[*]}"
echo "    listening on $PGSCORE_URL (log: $LOG)"
echo "    admin key for the endpoints that need one: ${KEY:0:8}... (pgscore keys create --scope admin --name demo)"

python3 tools/demo_jobs.py || fail "tools/demo_jobs.py failed"

stop_daemon
grep -qF '"msg":"pgscore serve stopped"' "$LOG" || fail "pgscore serve did not stop cleanly on SIGTERM"
echo
echo "    pgscore serve stopped (SIGTERM); its log is in $LOG"
