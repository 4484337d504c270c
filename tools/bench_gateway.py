#!/usr/bin/env python3
"""Gateway benchmark (run by tools/bench_gateway.sh, which starts the cluster and the
daemons): the heart model and nine copies, the bracelet's JSON body, loopback only,
bounded in time, on a database pre-filled with PREFILL (default 1,000,000) logged
predictions and a monitor on 'heart' checking every 2 s (run by the daemon).

  A. saturation throughput of POST /v1/projects/heart/predict (wrk, C connections),
     the daemon with its default flags (group commit on), vs pgbench at the same
     concurrency running (1) the gateway's own statement for one prediction (read from
     PredictionQueries.swift, one-element arrays bound as the gateway binds them) and
     the SELECT 1 that confirms its commit: one transaction per prediction, the floor
     without HTTP and without shared commits; (2) scoring alone, no log.
     The gateway is also measured with SATURATION_CONNECTIONS (64) connections, its
     saturation is the better figure: with C closed-loop clients at most C requests can
     share one commit (pgbench's 8 clients share WAL flushes in PostgreSQL as well).
     Targets: gateway / (1) >= 1.5 (only possible by sharing commits),
              gateway / (2) >= 0.4.
  B. a fixed RATE (default 2,000) requests/s for DURATION s spread over the 10 projects,
     open loop (tools/http_open_loop.c: each request due at its scheduled time, latency
     counted from then): p50/p99.
     Target p99 <= 5 ms.
  C. default flags vs the best of a few tuned ones (pool size, threads, lanes), TUNED_ROUNDS
     (2) alternating rounds, best of each (one round moved by the load said little):
     Target default >= 0.9 x best.
  D. what logging each prediction costs (pgbench): scoring alone vs scoring and logging,
     with synchronous_commit on and off.
"""
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager

import psycopg

BIN = os.environ.get("PGSCORE_BIN", ".build/release/pgscore")
CONNECTIONS = int(os.environ.get("CONNECTIONS", "8"))
DURATION = int(os.environ.get("DURATION", "15"))
RATE = int(os.environ.get("RATE", "2000"))
ROUNDS = int(os.environ.get("ROUNDS", "3"))
# the gateway's saturation: also measured with this many connections (more requests
# queue behind each commit, so more share it); pgbench keeps CONNECTIONS clients
SATURATION_CONNECTIONS = int(os.environ.get("SATURATION_CONNECTIONS", "64"))
TUNED_ROUNDS = int(os.environ.get("TUNED_ROUNDS", "2"))
PREFILL = int(os.environ.get("PREFILL", "1000000"))
PROJECTS = ["heart"] + [f"heart_{i}" for i in range(1, 10)]
BODY = {"age": 63, "sex": 1, "cp": 1, "trestbps": 145, "chol": 233, "fbs": 1, "restecg": 2,
        "thalach": 150, "exang": 0, "oldpeak": 2.3, "slope": 3, "ca": "0", "thal": "6"}
COLUMNS = ("age float8, sex float8, cp float8, trestbps float8, chol float8, fbs float8, restecg float8, "
           "thalach float8, exang float8, oldpeak float8, slope float8, ca text, thal text")


def log(msg=""):
    print(msg, flush=True)


def create_bench_heart(c):
    """The heart data as bench_heart and the view bench_heart_labelled (label: sick), once."""
    if c.execute("SELECT to_regclass('bench_heart')").fetchone()[0] is None:
        c.execute(f"CREATE TABLE bench_heart ({COLUMNS}, num int)")
        with open("data/heart/processed.cleveland.data", "rb") as f, \
                c.cursor().copy("COPY bench_heart FROM STDIN WITH (FORMAT csv)") as cp:
            cp.write(f.read())
        c.execute("CREATE VIEW bench_heart_labelled AS SELECT *, num > 0 AS sick FROM bench_heart")


def setup():
    with psycopg.connect(autocommit=True) as c:
        c.execute("CREATE EXTENSION IF NOT EXISTS pgscore")
        create_bench_heart(c)
        for i, name in enumerate(PROJECTS):
            if c.execute("SELECT ml.deployed_version(%s) IS NULL FROM ml.projects WHERE name = %s",
                         (name, name)).fetchone() is None:
                c.execute("SELECT ml.train(%s, 'bench_heart_labelled', 'sick', exclude => ARRAY['num'], seed => %s)",
                          (name, 42 + i))
        have = c.execute("SELECT count(*) FROM ml.predictions").fetchone()[0]
        if have < PREFILL:
            log(f"pre-filling ml.predictions with {PREFILL - have} logged predictions ...")
            c.execute("""INSERT INTO ml.predictions (project, version, features, prediction, probabilities, request_id, latency_ms)
                         SELECT 'heart', 1, %s::jsonb, (g %% 2 = 0)::text, ARRAY[0.4, 0.6], 'prefill', 1
                           FROM generate_series(1, %s) g""", (json.dumps(BODY), PREFILL - have))
            c.execute("VACUUM ANALYZE ml.predictions")
        if c.execute("SELECT count(*) FROM ml.monitors WHERE project = 'heart'").fetchone()[0] == 0:
            c.execute("SELECT ml.monitor('heart', every => interval '2 seconds')")


# The request's values, bound as the gateway binds them (one-element arrays: a batch of
# one request): pgbench -M prepared sends each :variable as a parameter of its prepared
# statement, so the JSON body is parsed per execution as in the gateway.
def array_literal(value):
    return '{"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"}'


PARAMETERS = {"projects": "{heart}", "versions": "{1}", "bodies": array_literal(json.dumps(BODY)),
              "batch": "{false}", "request": "{pgbench}", "elapsed": "{0}", "proba": "{true}", "key": "{0}"}


def read_score_and_log():
    """The SQL text of the gateway's prepared statement, read from its source."""
    with open("Sources/PgScoreServe/Database/PredictionQueries.swift") as f:
        source = f.read()
    m = re.search(r'static let sql = """\n(.*?)\n\s*"""', source, re.S)
    if not m:
        sys.exit("could not find the gateway's statement in PredictionQueries.swift")
    return "\n".join(line.strip() for line in m.group(1).splitlines())


def pgbench_script():
    """The statement the gateway runs (PredictionQueries.ScoreAndLog), its $n as pgbench variables."""
    sql = read_score_and_log()
    for n, name in enumerate(PARAMETERS, start=1):
        sql = re.sub(rf"\${n}(?![0-9])", ":" + name, sql)
    return sql + ";\n"


def gateway_script():
    """What the gateway sends for one prediction alone: the statement, then the `SELECT 1`
    that waits for its commit to be confirmed (Database.withSingleWrite)."""
    return pgbench_script() + "SELECT 1;\n"


SCORE_ONLY = ("SELECT ml.predict('heart', :body::jsonb), ml.predict_proba('heart', :body::jsonb);\n")


def run_pgbench(script):
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
        f.write(script)
        path = f.name
    bindir = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True).stdout.strip()
    params = dict(PARAMETERS, body=json.dumps(BODY))
    defines = [arg for name, value in params.items() for arg in ("-D", f"{name}={value}")]
    out = subprocess.run([os.path.join(bindir, "pgbench"), "-n", "-M", "prepared", "-c", str(CONNECTIONS),
                          "-j", "2", "-T", str(DURATION), *defines, "-f", path], capture_output=True, text=True)
    m = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", out.stdout)
    if not m:
        sys.exit("pgbench failed:\n" + out.stdout + out.stderr)
    return float(m.group(1))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def daemon(*flags):
    """`pgscore serve --open-predict` with `flags` on a free loopback port."""
    port = free_port()
    url = "postgres://{}@{}:{}/{}?sslmode=disable".format(
        os.environ.get("PGUSER", "pgscore"), os.environ.get("PGHOST", "127.0.0.1"), os.environ["PGPORT"],
        os.environ["PGDATABASE"])
    with open(f"/tmp/pgscore-bench-gateway-{port}.log", "w") as out:
        proc = subprocess.Popen([BIN, "serve", "--port", str(port), "--open-predict", "--log-level", "warning",
                                 "--monitor-interval-ms", "1000", *flags],
                                stdout=out, stderr=subprocess.STDOUT, env=dict(os.environ, PGSCORE_DATABASE_URL=url))
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        # warm up: the spec cache and every pooled connection's prepared statement
        run_wrk(port, ["/v1/projects/" + p + "/predict" for p in PROJECTS], seconds=2)
        yield port
    finally:
        proc.terminate()
        proc.wait(30)


def run_wrk(port, paths, seconds=None, connections=None):
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
    out = subprocess.run(["wrk", "-t", os.environ.get("WRK_THREADS", "1"), "-c", str(connections or CONNECTIONS),
                          "-d", f"{seconds or DURATION}s", "--latency", "-s", script, f"http://127.0.0.1:{port}"],
                         capture_output=True, text=True)
    rps = float(re.search(r"Requests/sec:\s+([0-9.]+)", out.stdout).group(1))
    errors = int(re.search(r"NON2XX (\d+)", out.stdout).group(1))
    return rps, errors


OPEN_LOOP = os.environ.get("OPEN_LOOP_BIN", ".build/http_open_loop")


def build_open_loop():
    """tools/http_open_loop.c, compiled once: an open loop in C, so the generator does not
    take the CPU it measures (a Python one took about a core at 2,000 requests/s)."""
    source = "tools/http_open_loop.c"
    if not os.path.exists(OPEN_LOOP) or os.path.getmtime(OPEN_LOOP) < os.path.getmtime(source):
        os.makedirs(os.path.dirname(OPEN_LOOP), exist_ok=True)
        subprocess.run(["cc", "-O2", "-o", OPEN_LOOP, source], check=True)


def fixed_rate(port):
    """RATE requests/s for DURATION s over the 10 projects, each due at its scheduled time
    (latency counted from then: coordinated omission included)."""
    build_open_loop()
    out = subprocess.run([OPEN_LOOP, "-p", str(port), "-r", str(RATE), "-d", str(DURATION), "-b", json.dumps(BODY),
                          *["/v1/projects/" + p + "/predict" for p in PROJECTS]], capture_output=True, text=True)
    m = re.search(r"requests (\d+) errors (\d+) p50 ([0-9.]+) p99 ([0-9.]+) max ([0-9.]+)", out.stdout)
    if not m:
        sys.exit("http_open_loop failed:\n" + out.stdout + out.stderr)
    return int(m.group(1)), int(m.group(2)), float(m.group(3)), float(m.group(4)), float(m.group(5))


def target(name, value, op, bound):
    ok = value >= bound if op == ">=" else value <= bound
    log(f"RATIO {name} {value:.3f} {op}{bound}{'' if ok else ' MISS'}")


def main():
    setup()
    log(f"A. saturation, {CONNECTIONS} connections, {ROUNDS} alternating rounds of {DURATION} s, best of each")
    # Alternating rounds, best of each: every side commits (and flushes WAL), so the
    # disk's moods move all figures; measured side by side they meet the same ones.
    # The gateway's saturation is the better of CONNECTIONS and SATURATION_CONNECTIONS
    # connections: with CONNECTIONS closed-loop clients at most that many requests can
    # share a commit, so both sides wait for about the same WAL flushes.
    singles, scores, gateways, saturated = [], [], [], []
    with daemon() as port:
        for _ in range(ROUNDS):
            singles.append(run_pgbench(gateway_script()))
            scores.append(run_pgbench(SCORE_ONLY))
            gateways.append(run_wrk(port, ["/v1/projects/heart/predict"]))
            saturated.append(run_wrk(port, ["/v1/projects/heart/predict"], connections=SATURATION_CONNECTIONS))
            log(f"  pgbench one prediction per commit {singles[-1]:7.0f} tps   scoring alone {scores[-1]:7.0f} tps   "
                f"gateway {gateways[-1][0]:7.0f} req/s (non-2xx {gateways[-1][1]}), "
                f"with {SATURATION_CONNECTIONS} connections {saturated[-1][0]:7.0f} req/s (non-2xx {saturated[-1][1]})")
        single, score_only = max(singles), max(scores)
        at_connections = max(gateways)[0]
        rps = max(at_connections, max(saturated)[0])
        log(f"\nB. fixed {RATE} requests/s for {DURATION} s over {len(PROJECTS)} projects (open loop)")
        n, bad, p50, p99, worst = fixed_rate(port)
        log(f"  {n} requests, {bad} errors: p50 {p50:.2f} ms  p99 {p99:.2f} ms  max {worst:.2f} ms")
    log(f"\nC. default flags vs tuned ones (10 projects, wrk), {TUNED_ROUNDS} alternating rounds, best of each")
    tuned = {}
    for _ in range(TUNED_ROUNDS):
        for flags in ([], ["--pool-size", "4", "--threads", "1"], ["--threads", "1"], ["--batch-lanes", "1"],
                      ["--batch-lanes", "2"], ["--batch-lanes", "4"], ["--batch-max-size", "1"]):
            name = " ".join(flags) or "(defaults)"
            with daemon(*flags) as port:
                rate = run_wrk(port, ["/v1/projects/" + p + "/predict" for p in PROJECTS])[0]
            tuned[name] = max(tuned.get(name, 0), rate)
            log(f"  {name:40s} {rate:8.0f} req/s")
    best = max(v for k, v in tuned.items() if k != "--batch-max-size 1")
    log("\nD. the cost of logging every prediction (pgbench, same concurrency)")
    async_log = run_pgbench("SET synchronous_commit = off;\n" + pgbench_script())
    log(f"  score only                           {score_only:9.0f} tps")
    log(f"  score and log, synchronous_commit on {single:9.0f} tps  ({single / score_only:.2f}x score only)")
    log(f"  score and log, synchronous_commit off{async_log:9.0f} tps  ({async_log / score_only:.2f}x score only)")
    log("\nRATIO name value target")
    log(f"RATIO gateway_at_{CONNECTIONS}_connections_vs_pgbench_one_per_commit {at_connections / single:.3f} -")
    target("gateway_vs_pgbench_one_per_commit", rps / single, ">=", 1.5)
    target("gateway_vs_pgbench_scoring_alone", rps / score_only, ">=", 0.4)
    target(f"p99_ms_at_{RATE}rps_10_projects", p99, "<=", 5)
    target("defaults_vs_best_tuned", tuned["(defaults)"] / best, ">=", 0.9)
    log(f"RATIO group_commit_vs_off {tuned['(defaults)'] / tuned['--batch-max-size 1']:.3f} -")
    return 0


if __name__ == "__main__":
    sys.exit(main())
