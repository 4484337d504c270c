#!/usr/bin/env bash
# make demo: the foundation demo on the private cluster (tools/pgcluster.sh), then the
# daemon's half (tools/demo_jobs.sh: REST gateway, monitor, rollback, schedule).
# Expects the extension installed (make install) and the daemon built (make daemon); safe to run again.
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
# the second half: the daemon (REST gateway, jobs, monitors) on the same database
tools/demo_jobs.sh
cat <<EOT

Connect to the demo database with:
    psql -h $PGHOST -p $PGPORT -U $PGUSER $PGDATABASE
(or: tools/pgcluster.sh psql -d pgscore_demo). Try:
    SELECT * FROM ml.versions;
    SELECT ml.predict('heart', v), risk FROM vitals v;
    SELECT * FROM ml.run_history;
    SELECT * FROM ml.evaluation_history;
    SELECT * FROM ml.action_history;
Run the daemon yourself (every option: .build/release/pgscore serve --help):
    export PGSCORE_DATABASE_URL='postgres://$PGUSER@$PGHOST:$PGPORT/$PGDATABASE?sslmode=disable'
    .build/release/pgscore serve --port 8080 --open-predict &
    curl -s localhost:8080/v1/projects/heart/predict -d '{"age": 63, "sex": 1, "cp": 1, "trestbps": 145,
      "chol": 233, "fbs": 1, "restecg": 2, "thalach": 150, "exang": 0, "oldpeak": 2.3, "slope": 3, "ca": "0", "thal": "6"}'
    KEY=\$(.build/release/pgscore keys create --scope admin --name me | awk '\$1 == "key:" { print \$2 }')
    curl -s -H "Authorization: Bearer \$KEY" localhost:8080/v1/projects/heart/actions
Stop the server with tools/pgcluster.sh stop.
EOT
