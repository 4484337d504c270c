#!/usr/bin/env bash
# make demo: the foundation demo on the private cluster (tools/pgcluster.sh).
# Expects the extension installed (make install); safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/pgcluster.sh start >/dev/null 2>&1 || tools/pgcluster.sh start
eval "$(tools/pgcluster.sh env)"
# a fresh database each run, so the story starts from version 1 every time
export PGDATABASE=pgscore_demo
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS pgscore_demo WITH (FORCE)" -c "CREATE DATABASE pgscore_demo"
psql -X -q -f tools/demo.sql
psql -X -q -f tools/demo_registry.sql
mkdir -p out
psql -X -q -At -c "SELECT encode(ml.export('heart', format => 'onnx'), 'base64')" | base64 -d > out/heart.onnx
psql -X -q -At -c "SELECT encode(ml.export('heart', format => 'json'), 'escape')" > out/heart.json
echo
echo "== 11. The deployed model as files for devices that score offline =="
ls -l out/heart.onnx out/heart.json | awk '{print "   ", $5, "bytes", $9}'
cat <<EOT

Connect to the demo database with:
    psql -h $PGHOST -p $PGPORT -U $PGUSER $PGDATABASE
(or: tools/pgcluster.sh psql -d pgscore_demo). Try:
    SELECT * FROM ml.versions;
    SELECT ml.predict('heart', v), risk FROM vitals v;
Stop the server with tools/pgcluster.sh stop.
EOT
