#!/usr/bin/env bash
# make demo: the foundation demo on the private cluster (tools/pgcluster.sh).
# Expects the extension installed (make install); safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/pgcluster.sh start >/dev/null 2>&1 || tools/pgcluster.sh start
eval "$(tools/pgcluster.sh env)"
psql -X -q -f tools/demo.sql
cat <<EOT

Connect to the demo database with:
    psql -h $PGHOST -p $PGPORT -U $PGUSER $PGDATABASE
(or: tools/pgcluster.sh psql). Try:  SELECT name, ml.describe(model) FROM heart_models;
Stop the server with tools/pgcluster.sh stop.
EOT
