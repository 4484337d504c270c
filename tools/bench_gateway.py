#!/usr/bin/env python3
"""Gateway benchmark (run by tools/bench_gateway.sh, which starts the cluster and the
daemon): the heart model, the bracelet's JSON body, loopback only, bounded in time.

  A. saturation throughput of POST /v1/projects/heart/predict (wrk, C connections)
     vs pgbench running the statement the gateway sends per request (its prepared
     statement, read from the daemon's source: score and log, guarded by the deployed
     version, then the SELECT 1 that confirms its commit) with the same parameters
     bound, same concurrency: the floor without HTTP.
     Target: gateway / pgbench >= 0.5.
  B. a fixed 200 requests/s for DURATION seconds: p50/p99 latency. Target p99 <= 5 ms.
  C. 10 projects served at once (wrk rotating over 10 project paths): report.
  D. what logging each prediction costs (pgbench): scoring alone vs scoring and logging,
     with synchronous_commit on (the default) and off (`pgscore serve --synchronous-commit off`).
"""
import http.client
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time

import psycopg

PORT = int(os.environ["GATEWAY_PORT"])
CONNECTIONS = int(os.environ.get("CONNECTIONS", "8"))
DURATION = int(os.environ.get("DURATION", "15"))
RATE = int(os.environ.get("RATE", "200"))
ROUNDS = int(os.environ.get("ROUNDS", "3"))
BODY = {"age": 63, "sex": 1, "cp": 1, "trestbps": 145, "chol": 233, "fbs": 1, "restecg": 2,
        "thalach": 150, "exang": 0, "oldpeak": 2.3, "slope": 3, "ca": "0", "thal": "6"}
COLUMNS = ("age float8, sex float8, cp float8, trestbps float8, chol float8, fbs float8, restecg float8, "
           "thalach float8, exang float8, oldpeak float8, slope float8, ca text, thal text")


def log(msg=""):
    print(msg, flush=True)


def setup():
    with psycopg.connect(autocommit=True) as c:
        c.execute("CREATE EXTENSION IF NOT EXISTS pgscore")
        if c.execute("SELECT to_regclass('bench_heart')").fetchone()[0] is None:
            c.execute(f"CREATE TABLE bench_heart ({COLUMNS}, num int)")
            with open("data/heart/processed.cleveland.data", "rb") as f, \
                    c.cursor().copy("COPY bench_heart FROM STDIN WITH (FORMAT csv)") as cp:
                cp.write(f.read())
            c.execute("CREATE VIEW bench_heart_labelled AS SELECT *, num > 0 AS sick FROM bench_heart")
        for i in range(10):
            name = "heart" if i == 0 else f"heart_{i}"
            if c.execute("SELECT ml.deployed_version(%s) IS NULL FROM ml.projects WHERE name = %s",
                         (name, name)).fetchone() is None:
                c.execute("SELECT ml.train(%s, 'bench_heart_labelled', 'sick', exclude => ARRAY['num'], seed => %s)",
                          (name, 42 + i))


# The request's values, bound as the gateway binds them: pgbench -M prepared sends each
# :variable as a parameter of its prepared statement, so the JSON body is parsed per
# execution as in the gateway (literals would be parsed once, when preparing).
PARAMETERS = {"project": "heart", "version": "1", "body": json.dumps(BODY), "batch": "false",
              "request": "pgbench", "elapsed": "0", "proba": "true"}


def pgbench_script():
    """The statement the gateway runs per request (PredictionQueries.ScoreAndLog in
    Sources/PgScoreServe/Database/PredictionQueries.swift), its $n as pgbench variables."""
    sql = SCORE_AND_LOG
    for n, name in enumerate(PARAMETERS, start=1):
        sql = re.sub(rf"\${n}(?![0-9])", ":" + name, sql)
    return sql + ";\n"


def gateway_script():
    """What the gateway sends per prediction: the statement, then the `SELECT 1` that
    waits for its commit to be confirmed (Database.withSingleWrite)."""
    return pgbench_script() + "SELECT 1;\n"


def read_score_and_log():
    """The SQL text of the gateway's prepared statement, read from its source."""
    with open("Sources/PgScoreServe/Database/PredictionQueries.swift") as f:
        source = f.read()
    m = re.search(r'static let sql = """\n(.*?)\n\s*"""', source, re.S)
    if not m:
        sys.exit("could not find the gateway's statement in PredictionQueries.swift")
    return "\n".join(line.strip() for line in m.group(1).splitlines())


SCORE_AND_LOG = read_score_and_log()


def score_only_script():
    """The scoring of that statement without logging the prediction."""
    return "SELECT ml.predict(:project::text, :body::jsonb), ml.predict_proba(:project::text, :body::jsonb);\n"


def run_pgbench(script=None):
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
        f.write(script or pgbench_script())
        path = f.name
    bindir = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True).stdout.strip()
    defines = [arg for name, value in PARAMETERS.items() for arg in ("-D", f"{name}={value}")]
    out = subprocess.run([os.path.join(bindir, "pgbench"), "-n", "-M", "prepared", "-c", str(CONNECTIONS),
                          "-j", "2", "-T", str(DURATION), *defines, "-f", path], capture_output=True, text=True)
    m = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", out.stdout)
    if not m:
        sys.exit("pgbench failed:\n" + out.stdout + out.stderr)
    return float(m.group(1))


def run_wrk(paths):
    lua = f"""
local paths = {{{", ".join('"' + p + '"' for p in paths)}}}
local i = 0
request = function()
  i = i + 1
  return wrk.format("POST", paths[(i % #paths) + 1], {{["Content-Type"] = "application/json"}}, '{json.dumps(BODY)}')
end
done = function(summary, latency, requests)
  io.write(string.format("NON2XX %d\\n", summary.errors.status))
end
"""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(lua)
        script = f.name
    out = subprocess.run(["wrk", "-t", os.environ.get("WRK_THREADS", "1"), "-c", str(CONNECTIONS), "-d", f"{DURATION}s", "--latency", "-s", script,
                          f"http://127.0.0.1:{PORT}"], capture_output=True, text=True)
    rps = float(re.search(r"Requests/sec:\s+([0-9.]+)", out.stdout).group(1))
    errors = int(re.search(r"NON2XX (\d+)", out.stdout).group(1))
    p99 = re.search(r"99%\s+([0-9.]+)(us|ms|s)", out.stdout)
    return rps, errors, p99.group(0) if p99 else "?"


def fixed_rate():
    """RATE requests/s for DURATION s from 4 threads on keep-alive connections; each
    request is sent at its scheduled time, latency measured from the send."""
    body = json.dumps(BODY)
    latencies, errors = [], []
    lock = threading.Lock()
    threads = 4
    per_thread = RATE / threads
    start = time.perf_counter() + 0.2

    def worker(k):
        conn = http.client.HTTPConnection("127.0.0.1", PORT)
        n = int(per_thread * DURATION)
        for i in range(n):
            due = start + (i + k / threads) / per_thread
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            t0 = time.perf_counter()
            conn.request("POST", "/v1/projects/heart/predict", body, {"Content-Type": "application/json"})
            r = conn.getresponse()
            r.read()
            dt = (time.perf_counter() - t0) * 1000
            with lock:
                latencies.append(dt)
                if r.status != 200:
                    errors.append(r.status)

    ts = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    latencies.sort()
    pct = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))]
    return len(latencies), len(errors), pct(0.5), pct(0.99), latencies[-1]


def main():
    setup()
    log(f"A. saturation, {CONNECTIONS} connections, {ROUNDS} rounds of {DURATION} s each, best of each")
    # Alternating rounds, best of each: both sides commit (and flush WAL) per request, so
    # the disk's moods move both figures; measured side by side they meet the same ones.
    floors, gateways = [], []
    for _ in range(ROUNDS):
        floors.append(run_pgbench(gateway_script()))
        gateways.append(run_wrk(["/v1/projects/heart/predict"]))
        log(f"  pgbench {floors[-1]:7.0f} tps   gateway {gateways[-1][0]:7.0f} req/s (non-2xx {gateways[-1][1]})")
    floor = max(floors)
    rps, errors, p99 = max(gateways)
    log(f"  pgbench (same statements, no HTTP)   {floor:9.0f} tps")
    log(f"  gateway (wrk)                        {rps:9.0f} req/s  non-2xx {errors}  wrk {p99}")
    log(f"\nB. fixed {RATE} requests/s for {DURATION} s")
    n, bad, p50, p99f, worst = fixed_rate()
    log(f"  {n} requests, {bad} errors: p50 {p50:.2f} ms  p99 {p99f:.2f} ms  max {worst:.2f} ms")
    log("\nC. 10 projects at once")
    rps10, errors10, p99_10 = run_wrk(["/v1/projects/heart/predict"] +
                                      [f"/v1/projects/heart_{i}/predict" for i in range(1, 10)])
    log(f"  gateway (wrk, 10 projects)           {rps10:9.0f} req/s  non-2xx {errors10}  wrk {p99_10}")
    log("\nD. the cost of logging every prediction (pgbench, same concurrency)")
    score_only = run_pgbench(score_only_script())
    async_log = run_pgbench("SET synchronous_commit = off;\n" + pgbench_script())
    log(f"  score only                           {score_only:9.0f} tps")
    log(f"  score and log, synchronous_commit on {floor:9.0f} tps  ({floor / score_only:.2f}x score only)")
    log(f"  score and log, synchronous_commit off{async_log:9.0f} tps  ({async_log / score_only:.2f}x score only)")
    log("\nRATIO name value target")
    log(f"RATIO gateway_vs_pgbench {rps / floor:.3f} >=0.5{'' if rps / floor >= 0.5 else ' MISS'}")
    log(f"RATIO p99_ms_at_{RATE}rps {p99f:.2f} <=5{'' if p99f <= 5 else ' MISS'}")
    log(f"RATIO ten_projects_vs_one {rps10 / rps:.3f} -")
    log(f"RATIO logged_vs_score_only {floor / score_only:.3f} -")
    return 0


if __name__ == "__main__":
    sys.exit(main())
