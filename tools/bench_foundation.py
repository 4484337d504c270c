#!/usr/bin/env python3
"""Foundation benchmark for pgscore: scoring and training vs plain-SQL baselines.

Run through tools/bench_foundation.sh (which starts the private cluster and
exports PGHOST/PGPORT/...), or directly with the PG* variables set.

Environment (or the matching options):
  ROWS          rows in the benchmark table            (default 1000000)
  BENCH_REPEAT  timed runs per query; best is reported (default 5)

Every query runs once untimed (warm-up), then BENCH_REPEAT times; the best
wall-clock time (client side, including fetching the one-row result) counts.
Plans are serial (max_parallel_workers_per_gather = 0) and JIT is off, except
for the explicit parallel-training measurement.

The benchmark reports; it never fails on a target. A missed target is marked
MISS in the final RATIO block. Exit status is non-zero only when the benchmark
could not run at all (no server, no extension, no data).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time

try:
    import psycopg
except ImportError:  # pragma: no cover
    sys.exit("bench_foundation: psycopg is missing; run tools/install_deps.sh")

TABLE = "bench"
MODEL_TABLE = "bench_model"
DATA_VERSION = "v1"  # bump when the generator below changes
NFEAT = 8
COLS = [f"x{i}" for i in range(1, NFEAT + 1)]

SERIAL_SETTINGS = [
    "SET max_parallel_workers_per_gather = 0",
    "SET jit = off",
]
PARALLEL_SETTINGS = [
    "SET max_parallel_workers_per_gather = 2",
    "SET parallel_setup_cost = 0",
    "SET parallel_tuple_cost = 0",
    "SET min_parallel_table_scan_size = 0",
    "SET parallel_leader_participation = on",
    "SET jit = off",
]
RESET_PARALLEL = [
    "RESET parallel_setup_cost",
    "RESET parallel_tuple_cost",
    "RESET min_parallel_table_scan_size",
    "RESET parallel_leader_participation",
]


def log(msg: str = "") -> None:
    print(msg, flush=True)


def env_int(name: str, default: int) -> int:
    v = os.environ.get(name, "").strip()
    if not v:
        return default
    try:
        n = int(v.replace("_", ""))
    except ValueError:
        sys.exit(f"bench_foundation: {name} must be an integer, got {v!r}")
    if n <= 0:
        sys.exit(f"bench_foundation: {name} must be positive, got {n}")
    return n


# --------------------------------------------------------------------- data
def data_sql(rows: int) -> str:
    """The benchmark table: 8 uniform(-1,1) features, as columns and as an array;
    y linear in x plus gaussian noise; c drawn from a logistic model of x."""
    xs = ", ".join(f"random() * 2 - 1 AS {c}" for c in COLS)
    arr = ", ".join(COLS)
    lin = " + ".join(
        f"({w}) * {c}" for w, c in zip([2.0, -1.0, 0.5, 0.25, -0.75, 1.25, -0.5, 0.1], COLS)
    )
    logit = " + ".join(
        f"({w}) * {c}" for w, c in zip([1.0, -0.8, 0.6, -0.4, 0.3, -0.2, 0.1, 0.05], COLS)
    )
    return f"""
        CREATE TABLE {TABLE} AS
        SELECT id, {arr},
               ARRAY[{arr}]::float8[] AS features,
               (1.5 + {lin}
                + 0.3 * sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()))::float8 AS y,
               random() < 1 / (1 + exp(-(0.2 + {logit}))) AS c
        FROM (SELECT g AS id, {xs}
              FROM generate_series(1, {rows}) AS g
              OFFSET 0) AS s
    """


def ensure_data(conn: psycopg.Connection, rows: int) -> None:
    tag = f"pgscore-bench {DATA_VERSION} rows={rows}"
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass(%s) IS NOT NULL", (TABLE,))
        exists = cur.fetchone()[0]
        reuse = False
        if exists:
            cur.execute(
                "SELECT obj_description(%s::regclass, 'pg_class')", (TABLE,)
            )
            comment = cur.fetchone()[0]
            if comment == tag:
                cur.execute(f"SELECT count(*) FROM {TABLE}")
                reuse = cur.fetchone()[0] == rows
        if reuse:
            log(f"data: reusing table {TABLE} ({rows:,} rows)")
        else:
            log(f"data: creating table {TABLE} with {rows:,} rows ...")
            t0 = time.perf_counter()
            cur.execute(f"DROP TABLE IF EXISTS {TABLE} CASCADE")
            cur.execute("SELECT setseed(0.4242)")
            cur.execute(data_sql(rows))
            cur.execute(f"COMMENT ON TABLE {TABLE} IS '{tag}'")
            log(f"data: created in {time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        cur.execute(f"VACUUM ANALYZE {TABLE}")
        cur.execute(
            "SELECT pg_size_pretty(pg_table_size(%s::regclass))", (TABLE,)
        )
        size = cur.fetchone()[0]
        log(f"data: VACUUM ANALYZE in {time.perf_counter() - t0:.1f} s; table size {size}")


# --------------------------------------------------------------------- timing
class Result:
    def __init__(self, name: str, sql: str = ""):
        self.name = name
        self.sql = sql
        self.times: list[float] = []
        self.value = None
        self.error: str | None = None

    @property
    def best(self) -> float | None:
        return min(self.times) if self.times else None

    @property
    def median(self) -> float | None:
        return statistics.median(self.times) if self.times else None


def run_once(conn: psycopg.Connection, sql: str):
    with conn.cursor() as cur:
        t0 = time.perf_counter()
        cur.execute(sql)
        rows = cur.fetchall()
        dt = (time.perf_counter() - t0) * 1000.0
    return dt, rows


def measure(conn: psycopg.Connection, name: str, sql: str, repeat: int,
            warmup: int = 1) -> Result:
    r = Result(name, sql)
    try:
        for _ in range(warmup):
            _, rows = run_once(conn, sql)
            r.value = rows[0][0] if rows and rows[0] else None
        for _ in range(repeat):
            dt, rows = run_once(conn, sql)
            r.times.append(dt)
            r.value = rows[0][0] if rows and rows[0] else None
    except psycopg.Error as e:
        r.error = (str(e).strip().splitlines() or ["error"])[0]
    status = (
        f"best {r.best:9.1f} ms  median {r.median:9.1f} ms"
        if r.error is None else f"ERROR: {r.error}"
    )
    log(f"  {name:<26} {status}")
    return r


def execute_all(conn: psycopg.Connection, stmts: list[str]) -> None:
    with conn.cursor() as cur:
        for s in stmts:
            cur.execute(s)


# --------------------------------------------------------------------- model
def sql_float(v) -> str:
    f = float(v)
    if not math.isfinite(f):
        raise ValueError(f"non-finite coefficient {v!r}")
    return f"float8 '{f!r}'"


def label_text(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def baseline_predict_sql(desc: dict) -> str:
    """The logistic decision of the stored model as plain SQL over x1..x8,
    evaluated in the scorer's order: ((b0 + w1*x1) + w2*x2) + ..."""
    intercepts = desc["intercepts"]
    coefs = desc["coefficients"]
    if coefs and isinstance(coefs[0], list):
        if len(coefs) != 1 or len(intercepts) != 1:
            raise ValueError("expected a binary logistic model (one row of coefficients)")
        coefs = coefs[0]
    if len(coefs) != NFEAT:
        raise ValueError(f"expected {NFEAT} coefficients, got {len(coefs)}")
    classes = desc.get("classes", [False, True])
    neg, pos = (label_text(classes[0]), label_text(classes[1]))
    z = " + ".join([sql_float(intercepts[0])] + [f"{sql_float(w)} * {c}" for w, c in zip(coefs, COLS)])
    return (f"SELECT sum(length(CASE WHEN {z} > 0 THEN '{pos}' ELSE '{neg}' END)) "
            f"FROM {TABLE}")


def train_model(conn: psycopg.Connection, rows: int, train_rows: int) -> dict | None:
    n = min(rows, train_rows)
    try:
        with conn.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {MODEL_TABLE}")
            cur.execute(f"CREATE TABLE {MODEL_TABLE} (m ml.model)")
            t0 = time.perf_counter()
            cur.execute(f"INSERT INTO {MODEL_TABLE} "
                        f"SELECT ml.logreg_fit(features, c) FROM {TABLE} WHERE id <= {n}")
            dt = time.perf_counter() - t0
            cur.execute(f"SELECT ml.describe(m)::text FROM {MODEL_TABLE}")
            desc = json.loads(cur.fetchone()[0])
        log(f"model: logistic model trained on {n:,} rows in {dt * 1000:.0f} ms, stored in {MODEL_TABLE}")
        log(f"model: intercepts={desc.get('intercepts')} coefficients={desc.get('coefficients')}")
        return desc
    except (psycopg.Error, ValueError, TypeError, KeyError) as e:
        log(f"model: FAILED to train/describe the logistic model: {str(e).strip().splitlines()[0]}")
        return None


# --------------------------------------------------------------------- main
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=env_int("ROWS", 1_000_000))
    ap.add_argument("--repeat", type=int, default=env_int("BENCH_REPEAT", 5))
    ap.add_argument("--train-rows", type=int, default=100_000)
    ap.add_argument("--dsn", default="", help="libpq connection string (default: PG* environment)")
    ap.add_argument("--no-create-extension", action="store_true",
                    help="do not run CREATE EXTENSION IF NOT EXISTS pgscore (use whatever ml schema exists)")
    args = ap.parse_args()
    if args.rows <= 0 or args.repeat <= 0:
        ap.error("--rows and --repeat must be positive")

    try:
        conn = psycopg.connect(args.dsn, autocommit=True)
    except psycopg.Error as e:
        log(f"bench_foundation: cannot connect: {e}")
        return 2

    with conn.cursor() as cur:
        if not args.no_create_extension:
            try:
                cur.execute("CREATE EXTENSION IF NOT EXISTS pgscore")
            except psycopg.Error as e:
                log(f"bench_foundation: CREATE EXTENSION pgscore failed: {str(e).strip()}")
                log("bench_foundation: build and install it first (make install)")
                return 2
        cur.execute("SHOW server_version")
        server = cur.fetchone()[0]
        cur.execute("SELECT extversion FROM pg_extension WHERE extname = 'pgscore'")
        row = cur.fetchone()
        ext = row[0] if row else "(not installed)"
        cur.execute("SELECT count(*) FROM pg_namespace WHERE nspname = 'ml'")
        if cur.fetchone()[0] == 0:
            log("bench_foundation: schema ml does not exist")
            return 2

    log(f"pgscore foundation benchmark: server {server}, pgscore {ext}, "
        f"rows={args.rows:,}, best of {args.repeat} (+1 warm-up)")
    execute_all(conn, SERIAL_SETTINGS)
    try:
        ensure_data(conn, args.rows)
    except psycopg.Error as e:
        log(f"bench_foundation: could not prepare the data: {e}")
        return 2

    desc = train_model(conn, args.rows, args.train_rows)

    results: dict[str, Result] = {}

    def bench(name: str, sql: str) -> None:
        results[name] = measure(conn, name, sql, args.repeat)

    # --- A: scoring vs the same decision as SQL arithmetic
    log("")
    log("A. scoring (serial)")
    bench("predict", f"SELECT sum(length(ml.predict((SELECT m FROM {MODEL_TABLE}), features)::text)) "
                     f"FROM {TABLE}")
    if desc is not None:
        try:
            bench("predict_sql_baseline", baseline_predict_sql(desc))
        except (ValueError, KeyError, IndexError, TypeError) as e:
            log(f"  predict_sql_baseline       cannot build from ml.describe(): {e}")
    a, b = results.get("predict"), results.get("predict_sql_baseline")
    agree = None
    if a and b and a.error is None and b.error is None:
        agree = a.value == b.value
        log(f"  check: sum(length(label)) ml.predict={a.value} sql={b.value} -> "
            f"{'same' if agree else 'DIFFERENT (the SQL baseline does not reproduce the model)'}")

    # --- B: training vs a plain scan computing sum(x_i * y)
    log("")
    log("B. training (serial) and scan floors")
    bench("floor_array", f"SELECT sum(features[{NFEAT}] * y) FROM {TABLE}")
    bench("floor_columns", "SELECT " + " + ".join(f"sum({c} * y)" for c in COLS) + f" FROM {TABLE}")
    bench("linreg_fit", f"SELECT ml.linreg_fit(features, y) FROM {TABLE}")
    bench("logreg_fit", f"SELECT ml.logreg_fit(features, c) FROM {TABLE}")
    bench("nb_fit", f"SELECT ml.nb_fit(features, c) FROM {TABLE}")

    # --- parallel training
    log("")
    log("C. linreg_fit with 2 parallel workers (forced)")
    parallel_plan = None
    workers_launched = None
    par_sql = f"SELECT ml.linreg_fit(features, y) FROM {TABLE}"
    try:
        execute_all(conn, PARALLEL_SETTINGS)
        with conn.cursor() as cur:
            cur.execute("EXPLAIN (COSTS OFF) " + par_sql)
            plan = [r[0] for r in cur.fetchall()]
        parallel_plan = any("Gather" in l for l in plan) and any("Parallel" in l for l in plan)
        for l in plan[:6]:
            log(f"  | {l}")
        log(f"  plan is {'PARALLEL' if parallel_plan else 'NOT parallel (aggregate not parallel-safe or no combine function?)'}")
        bench("linreg_fit_parallel", par_sql)
        if results["linreg_fit_parallel"].error is None:
            with conn.cursor() as cur:
                cur.execute("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) " + par_sql)
                for (l,) in cur.fetchall():
                    if "Workers Launched" in l:
                        workers_launched = int(l.split(":")[1])
                        log(f"  | {l.strip()}")
    except psycopg.Error as e:
        log(f"  ERROR: {str(e).strip().splitlines()[0]}")
    finally:
        execute_all(conn, RESET_PARALLEL + SERIAL_SETTINGS)

    # --- report
    def ms(name: str) -> float | None:
        r = results.get(name)
        return r.best if r and r.error is None else None

    ratios = [
        # name, numerator, denominator, target (ratio must be <= target) or None
        ("predict_vs_sql", "predict", "predict_sql_baseline", 0.8),
        ("linreg_fit_vs_floor_array", "linreg_fit", "floor_array", 1.3),
        ("linreg_fit_vs_floor_columns", "linreg_fit", "floor_columns", None),
        ("logreg_fit_vs_floor_array", "logreg_fit", "floor_array", None),
        ("nb_fit_vs_floor_array", "nb_fit", "floor_array", None),
        ("linreg_parallel_vs_serial", "linreg_fit_parallel", "linreg_fit", None),
    ]

    log("")
    log(f"{'query':<26} {'best ms':>10} {'median ms':>10}  {'vs':<22} {'ratio':>7}")
    log("-" * 82)
    vs = {num: den for _, num, den, _ in ratios if num != "linreg_fit" or den == "floor_array"}
    for name, r in results.items():
        if r.error is not None:
            log(f"{name:<26} {'ERROR':>10} {'':>10}  {r.error[:60]}")
            continue
        den = vs.get(name)
        ratio = ""
        if den and ms(den):
            ratio = f"{r.best / ms(den):7.3f}"
        log(f"{name:<26} {r.best:10.1f} {r.median:10.1f}  {den or '':<22} {ratio:>7}")

    log("")
    if agree is False:
        log("NOTE: predict and its SQL baseline disagree; predict_vs_sql compares unequal work")
    if parallel_plan is False:
        log("NOTE: the forced-parallel linreg_fit plan was not parallel")
    elif workers_launched is not None and workers_launched < 2:
        log(f"NOTE: only {workers_launched} parallel workers were launched")
    log("RATIO name value target")
    for name, num, den, target in ratios:
        a, b = ms(num), ms(den)
        tgt = f"<={target}" if target is not None else "-"
        if a is None or b is None:
            log(f"RATIO {name} ERROR {tgt}" + (" MISS" if target is not None else ""))
            continue
        v = a / b
        miss = target is not None and v > target
        log(f"RATIO {name} {v:.3f} {tgt}" + (" MISS" if miss else ""))
    conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
