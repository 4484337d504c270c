#!/usr/bin/env python3
"""Dashboard benchmark (run by tools/bench_dashboard.sh, which builds the daemon and
starts the cluster): server time of each dashboard page on a project with VERSIONS
(default 100) versions and PREFILL (default 1,000,000) logged predictions spread over
the last DAYS (default 7) days in their daily partitions, plus a history of monitor
checks (EVALUATIONS, default 5,000, each with drift rows for 13 features), 100
deployments and 500 training runs.

Server time is the daemon's own `duration_ms` of each request (its access log: from
the request's arrival to the response), over REQUESTS (default 30) requests per page
after 3 warm-up ones. Target: every page's median and p95 <= 100 ms.
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import psycopg
import requests

from bench_gateway import BODY, create_bench_heart, log

BIN = os.environ.get("PGSCORE_BIN", ".build/release/pgscore")
VERSIONS = int(os.environ.get("VERSIONS", "100"))
PREFILL = int(os.environ.get("PREFILL", "1000000"))
DAYS = int(os.environ.get("DAYS", "7"))
EVALUATIONS = int(os.environ.get("EVALUATIONS", "5000"))
REQUESTS = int(os.environ.get("REQUESTS", "30"))
TARGET_MS = 100.0
FEATURES = ["age", "sex", "cp", "trestbps", "chol", "fbs", "restecg", "thalach", "exang", "oldpeak", "slope", "ca", "thal"]


def setup():
    with psycopg.connect(autocommit=True) as c:
        c.execute("CREATE EXTENSION IF NOT EXISTS pgscore")
        create_bench_heart(c)
        have = c.execute("SELECT count(*) FROM ml.models m JOIN ml.projects p ON p.id = m.project_id "
                         "WHERE p.name = 'heart'").fetchone()[0]
        if have < VERSIONS:
            log(f"training {VERSIONS - have} versions of heart ...")
        for i in range(have, VERSIONS):
            c.execute("SELECT ml.train('heart', 'bench_heart_labelled', 'sick', exclude => ARRAY['num'], "
                      "hyperparams => %s, seed => %s)", (json.dumps({"l2": 0.01 * (i + 1)}), 42 + i))
        for d in range(DAYS, -1, -1):
            c.execute("SELECT ml.maintain_prediction_log(now() - %s * interval '1 day')", (d,))
        have = c.execute("SELECT count(*) FROM ml.predictions WHERE project = 'heart'").fetchone()[0]
        if have < PREFILL:
            log(f"logging {PREFILL - have} predictions over the last {DAYS} days ...")
            c.execute("""INSERT INTO ml.predictions (project, version, features, prediction, probabilities,
                                                     request_id, latency_ms, created_at)
                         SELECT 'heart', ml.deployed_version('heart'), %s::jsonb, (g %% 2 = 0)::text, ARRAY[0.4, 0.6],
                                'prefill', 1, now() - (g::float8 / %s) * %s * interval '1 day'
                           FROM generate_series(1, %s) g""", (json.dumps(BODY), PREFILL - have, DAYS, PREFILL - have))
            c.execute("VACUUM ANALYZE ml.predictions")
        if c.execute("SELECT count(*) FROM ml.evaluations WHERE project = 'heart'").fetchone()[0] < EVALUATIONS:
            log(f"recording {EVALUATIONS} monitor checks, 100 deployments and 500 runs ...")
            c.execute("SELECT ml.monitor('heart', window_size => '1 hour', drift_threshold => 0.2, every => '1 day')")
            c.execute("""INSERT INTO ml.evaluations (project, version, window_start, window_end, metric, value, n,
                                                     baseline, threshold, degraded)
                         SELECT 'heart', 1 + g %% %s, w - interval '1 hour', w, 'accuracy', 0.7 + (g %% 17) / 100.0, 200,
                                0.82, 0.72, false
                           FROM generate_series(1, %s) g, LATERAL (SELECT now() - g * interval '2 minutes' AS w) t""",
                      (VERSIONS, EVALUATIONS))
            c.execute("""INSERT INTO ml.drift (project, version, window_start, window_end, feature, kind, psi, n,
                                               threshold, drifted)
                         SELECT 'heart', 1, w - interval '1 hour', w, f, 'numeric', (g %% 23) / 100.0, 200, 0.2, false
                           FROM generate_series(1, %s) g, unnest(%s::text[]) f,
                                LATERAL (SELECT now() - g * interval '2 minutes' AS w) t""", (EVALUATIONS, FEATURES))
            c.execute("""INSERT INTO ml.monitor_actions (project, version, action, reason)
                         SELECT 'heart', 1, 'alert', 'drift of ' || g FROM generate_series(1, 500) g""")
            for i in range(100):
                c.execute("SELECT ml.deploy('heart', 'version', %s)", (1 + (i * 37) % VERSIONS,))
            c.execute("""INSERT INTO ml.training_runs (project, kind, status, params, created_at, started_at, finished_at)
                         SELECT 'heart', 'manual', 'succeeded', '{}', now() - g * interval '1 hour', now() - g * interval '1 hour', now() - g * interval '1 hour' + interval '2 seconds'
                           FROM generate_series(1, 500) g""")
            c.execute("ANALYZE")


def page_times(port, key, paths):
    """{path: [server ms]} from the daemon's access log."""
    headers = {"Authorization": f"Bearer {key}"}
    for path in paths:
        for _ in range(3):
            r = requests.get(f"http://127.0.0.1:{port}{path}", headers=headers, timeout=30)
            assert r.status_code == 200, (path, r.status_code, r.text[:300])
        for _ in range(REQUESTS):
            requests.get(f"http://127.0.0.1:{port}{path}", headers=headers, timeout=30)


def main():
    setup()
    with psycopg.connect(autocommit=True) as c:
        deployed = c.execute("SELECT ml.deployed_version('heart')").fetchone()[0]
    out = subprocess.run([BIN, "keys", "create", "--scope", "admin", "--name", "bench-dashboard"],
                         capture_output=True, text=True, check=True,
                         env=dict(os.environ, PGSCORE_DATABASE_URL=database_url()))
    key = next(l.split(":", 1)[1].strip() for l in out.stdout.splitlines() if l.startswith("key:"))
    paths = ["/", "/projects/heart", f"/projects/heart/versions/{deployed}"]
    with tempfile.NamedTemporaryFile("w+", suffix=".log") as logfile:
        daemon = subprocess.Popen([BIN, "serve", "--host", "127.0.0.1", "--port", "0", "--no-jobs"],
                                  stdout=logfile, stderr=subprocess.STDOUT, env=dict(os.environ, PGSCORE_DATABASE_URL=database_url()))
        try:
            port = wait_for_port(logfile.name)
            page_times(port, key, paths)
        finally:
            daemon.terminate()
            daemon.wait(timeout=30)
        times = {}
        for line in open(logfile.name):
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("msg") == "request" and entry.get("path") in paths:
                times.setdefault(entry["path"], []).append(float(entry["duration_ms"]))
    log(f"\nserver time per page ({VERSIONS} versions, {PREFILL:,} logged predictions over {DAYS} days, "
        f"{EVALUATIONS:,} evaluations; {REQUESTS} requests each after 3 warm-up)")
    log(f"{'page':<36} {'median ms':>10} {'p95 ms':>8} {'max ms':>8}  target <= {TARGET_MS:.0f} ms")
    ok = True
    for path in paths:
        measured = sorted(times[path][3:])
        median = statistics.median(measured)
        p95 = measured[int(0.95 * (len(measured) - 1))]
        met = p95 <= TARGET_MS
        ok &= met
        log(f"{path:<36} {median:>10.1f} {p95:>8.1f} {measured[-1]:>8.1f}  {'met' if met else 'NOT met'}")
    sys.exit(0 if ok else 1)


def database_url():
    return "postgres://{user}@{host}:{port}/{db}?sslmode=disable".format(
        user=os.environ.get("PGUSER", "pgscore"), host=os.environ.get("PGHOST", "127.0.0.1"),
        port=os.environ.get("PGPORT", "55432"), db=os.environ.get("PGDATABASE", "pgscore_bench_dashboard"))


def wait_for_port(path):
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for line in open(path):
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("msg") == "pgscore serve listening":
                return int(entry["address"].rsplit(":", 1)[1])
        time.sleep(0.1)
    raise SystemExit("pgscore serve did not start:\n" + open(path).read())


if __name__ == "__main__":
    main()
