#!/usr/bin/env python3
"""Tree benchmark for pgscore: gradient boosting inside PostgreSQL vs XGBoost.

Run through tools/bench_trees.sh (which starts the private cluster, exports
PGHOST/PGPORT/... and installs xgboost if missing), or directly with the PG*
variables set.

Environment (or the matching options):
  ROWS          rows in the benchmark table            (default 1000000)
  BENCH_REPEAT  timed runs per measurement; best is reported (default 3)

The data (ROWS rows x 8 features, a binary label from a non-linear logistic model)
is generated with NumPy (fixed seed) and loaded into the table bench_trees with COPY
(reused when present and tagged with the same version and row count); XGBoost gets
the same values as a NumPy array. Both sides train the same model: binary logistic
gradient boosting, 100 trees, depth 6, learning rate 0.1, lambda 1, min child
weight 1, 255 bins (XGBoost max_bin 256, pgscore keeps its 256th bin for missing
values).

  training   SELECT ml.gbt_fit(features, c, options) FROM bench_trees   (serial plan)
             vs XGBClassifier(tree_method="hist").fit(X, y) on the NumPy array
  scoring    SELECT count(ml.predict((SELECT m FROM bench_trees_model), features))
             vs XGBClassifier.predict(X) with the XGBoost model

XGBoost runs with nthread = 1 (the ratios) and with all threads (reported). Every
measurement runs once untimed (warm-up), then BENCH_REPEAT times; the best
wall-clock time counts (PostgreSQL: client side, including the one-row result).
Plans are serial (max_parallel_workers_per_gather = 0) and JIT is off.

The benchmark reports; it never fails on a target. A missed target is marked MISS in
the final RATIO block. Exit status is non-zero only when the benchmark could not run
at all (no server, no extension, no xgboost).
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time

try:
    import psycopg
except ImportError:  # pragma: no cover
    sys.exit("bench_trees: psycopg is missing; run tools/install_deps.sh")
try:
    import numpy as np
    import xgboost
except ImportError:  # pragma: no cover
    sys.exit("bench_trees: numpy and xgboost are needed; run tools/install_deps.sh --fixtures")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_foundation import Result, env_int, log  # noqa: E402  (shared harness helpers)

TABLE = "bench_trees"
MODEL_TABLE = "bench_trees_model"
DATA_VERSION = "v1"  # bump when the generator below changes
NFEAT = 8
SEED = 20240611

N_TREES, MAX_DEPTH, LEARNING_RATE = 100, 6, 0.1
PG_OPTIONS = ('{"n_trees": %d, "max_depth": %d, "learning_rate": %s, "lambda": 1, '
              '"min_child_weight": 1, "max_bins": 255}' % (N_TREES, MAX_DEPTH, LEARNING_RATE))
XGB_PARAMS = dict(n_estimators=N_TREES, max_depth=MAX_DEPTH, learning_rate=LEARNING_RATE,
                  reg_lambda=1.0, min_child_weight=1.0, tree_method="hist", max_bin=256,
                  random_state=0)

SERIAL_SETTINGS = [
    "SET max_parallel_workers_per_gather = 0",
    "SET jit = off",
]


# --------------------------------------------------------------------- data
def make_data(rows: int) -> tuple[np.ndarray, np.ndarray]:
    """8 features (4 uniform(-1, 1), 2 normal, 2 with a few discrete levels); the
    label drawn from a logistic model with interactions and thresholds."""
    g = np.random.default_rng(SEED)
    x = np.empty((rows, NFEAT))
    x[:, 0:4] = g.uniform(-1, 1, size=(rows, 4))
    x[:, 4:6] = g.normal(size=(rows, 2))
    x[:, 6] = g.integers(0, 5, size=rows)
    x[:, 7] = np.round(g.exponential(2.0, size=rows), 1)
    z = (1.5 * x[:, 0] - x[:, 1] + 2 * x[:, 2] * x[:, 3] + np.sin(2 * x[:, 4])
         + 0.5 * (x[:, 5] > 0.5) - 0.3 * x[:, 6] + 0.6 * np.minimum(x[:, 7], 3) - 0.2)
    y = g.random(rows) < 1 / (1 + np.exp(-2 * z))
    return x, y


def ensure_data(conn: psycopg.Connection, x: np.ndarray, y: np.ndarray) -> None:
    rows = len(y)
    tag = f"pgscore-bench-trees {DATA_VERSION} rows={rows} seed={SEED}"
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass(%s) IS NOT NULL", (TABLE,))
        reuse = False
        if cur.fetchone()[0]:
            cur.execute("SELECT obj_description(%s::regclass, 'pg_class')", (TABLE,))
            if cur.fetchone()[0] == tag:
                cur.execute(f"SELECT count(*) FROM {TABLE}")
                reuse = cur.fetchone()[0] == rows
        if reuse:
            log(f"data: reusing table {TABLE} ({rows:,} rows)")
        else:
            log(f"data: loading {rows:,} rows into {TABLE} with COPY ...")
            t0 = time.perf_counter()
            cur.execute(f"DROP TABLE IF EXISTS {TABLE} CASCADE")
            cur.execute(f"CREATE TABLE {TABLE} (id int, features float8[], c boolean)")
            # repr() is the shortest text that reads back as the same double: the table
            # holds exactly the NumPy values.
            with cur.copy(f"COPY {TABLE} (id, features, c) FROM STDIN") as cp:
                xs, ys = x.tolist(), y.tolist()
                step = 50_000
                for start in range(0, rows, step):
                    buf = io.StringIO()
                    for i in range(start, min(start + step, rows)):
                        buf.write(f"{i + 1}\t{{{','.join(map(repr, xs[i]))}}}\t{'t' if ys[i] else 'f'}\n")
                    cp.write(buf.getvalue())
            cur.execute(f"COMMENT ON TABLE {TABLE} IS '{tag}'")
            log(f"data: loaded in {time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        cur.execute(f"VACUUM ANALYZE {TABLE}")
        cur.execute("SELECT pg_size_pretty(pg_table_size(%s::regclass))", (TABLE,))
        log(f"data: VACUUM ANALYZE in {time.perf_counter() - t0:.1f} s; table size {cur.fetchone()[0]}")


# --------------------------------------------------------------------- timing
def report(r: Result) -> Result:
    status = (f"best {r.best:9.1f} ms  median {r.median:9.1f} ms"
              if r.error is None else f"ERROR: {r.error}")
    log(f"  {r.name:<28} {status}")
    return r


def measure_sql(conn: psycopg.Connection, name: str, sql: str, repeat: int,
                warmup_sql: str | None = None) -> Result:
    r = Result(name)
    try:
        with conn.cursor() as cur:
            cur.execute(warmup_sql or sql)
            for _ in range(repeat):
                t0 = time.perf_counter()
                cur.execute(sql)
                rows = cur.fetchall()
                r.times.append((time.perf_counter() - t0) * 1000.0)
                r.value = rows[0][0] if rows and rows[0] else None
    except psycopg.Error as e:
        r.error = (str(e).strip().splitlines() or ["error"])[0]
    return report(r)


def measure_py(name: str, fn, repeat: int) -> Result:
    r = Result(name)
    r.value = fn()
    for _ in range(repeat):
        t0 = time.perf_counter()
        r.value = fn()
        r.times.append((time.perf_counter() - t0) * 1000.0)
    return report(r)


# --------------------------------------------------------------------- main
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=env_int("ROWS", 1_000_000))
    ap.add_argument("--repeat", type=int, default=env_int("BENCH_REPEAT", 3))
    ap.add_argument("--dsn", default="", help="libpq connection string (default: PG* environment)")
    args = ap.parse_args()
    if args.rows <= 0 or args.repeat <= 0:
        ap.error("--rows and --repeat must be positive")

    try:
        conn = psycopg.connect(args.dsn, autocommit=True)
    except psycopg.Error as e:
        log(f"bench_trees: cannot connect: {e}")
        return 2
    with conn.cursor() as cur:
        try:
            cur.execute("CREATE EXTENSION IF NOT EXISTS pgscore")
        except psycopg.Error as e:
            log(f"bench_trees: CREATE EXTENSION pgscore failed: {str(e).strip()}")
            log("bench_trees: build and install it first (make install)")
            return 2
        cur.execute("SHOW server_version")
        server = cur.fetchone()[0]
        cur.execute("SELECT extversion FROM pg_extension WHERE extname = 'pgscore'")
        ext = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM pg_proc WHERE proname = 'gbt_fit' AND pronamespace = 'ml'::regnamespace")
        if cur.fetchone()[0] == 0:
            log(f"bench_trees: the pgscore extension ({ext}) in this database has no ml.gbt_fit; "
                "it predates tree models: use a fresh database (tools/bench_trees.sh uses pgscore_bench_trees) "
                "or DROP and CREATE the extension")
            return 2
    all_threads = os.cpu_count() or 1
    log(f"pgscore tree benchmark: server {server}, pgscore {ext}, xgboost {xgboost.__version__}, "
        f"numpy {np.__version__}, rows={args.rows:,} x {NFEAT} features, best of {args.repeat} (+1 warm-up), "
        f"{all_threads} CPUs")
    log(f"model: binary logistic boosting, {N_TREES} trees, depth {MAX_DEPTH}, learning rate {LEARNING_RATE}")
    log(f"  pgscore options {PG_OPTIONS}")
    log(f"  XGBClassifier({', '.join(f'{k}={v!r}' for k, v in XGB_PARAMS.items())}, n_jobs=1 | {all_threads})")

    t0 = time.perf_counter()
    x, y = make_data(args.rows)
    log(f"data: generated with NumPy in {time.perf_counter() - t0:.1f} s; positive rate {y.mean():.3f}")
    for s in SERIAL_SETTINGS:
        conn.execute(s)
    try:
        ensure_data(conn, x, y)
    except psycopg.Error as e:
        log(f"bench_trees: could not prepare the data: {e}")
        return 2

    results: dict[str, Result] = {}

    log("")
    log("A. training (PostgreSQL: serial plan)")
    results["scan_floor"] = measure_sql(conn, "scan_floor", f"SELECT count(features) FROM {TABLE}", args.repeat)
    fit = f"ml.gbt_fit(features, c, '{PG_OPTIONS}')"
    results["pg_gbt_fit"] = measure_sql(
        conn, "pg_gbt_fit", f"SELECT {fit} IS NOT NULL FROM {TABLE}", args.repeat,
        # the warm-up run keeps its model for the scoring measurements
        warmup_sql=f"DROP TABLE IF EXISTS {MODEL_TABLE}; CREATE TABLE {MODEL_TABLE} AS SELECT {fit} AS m FROM {TABLE}")
    xgb_models = {}

    def xgb_fit(threads):
        def run():
            m = xgboost.XGBClassifier(**XGB_PARAMS, n_jobs=threads)
            m.fit(x, y)
            xgb_models[threads] = m
            return m
        return run

    results["xgb_fit_1thread"] = measure_py("xgb_fit_1thread", xgb_fit(1), args.repeat)
    results["xgb_fit_all"] = measure_py(f"xgb_fit_{all_threads}threads", xgb_fit(all_threads), args.repeat)

    log("")
    log("B. scoring with the 100-tree model")
    results["pg_predict"] = measure_sql(
        conn, "pg_predict", f"SELECT count(ml.predict((SELECT m FROM {MODEL_TABLE}), features)) FROM {TABLE}",
        args.repeat)
    model = xgb_models[1]
    model.set_params(n_jobs=1)
    results["xgb_predict_1thread"] = measure_py("xgb_predict_1thread", lambda: model.predict(x), args.repeat)
    model.set_params(n_jobs=all_threads)
    results["xgb_predict_all"] = measure_py(f"xgb_predict_{all_threads}threads", lambda: model.predict(x),
                                            args.repeat)
    model.set_params(n_jobs=1)

    # Both sides must have learnt the same thing (untimed).
    log("")
    log("C. check: training-set accuracy and model shape")
    try:
        acc_pg, nodes, leaves = conn.execute(f"""
            SELECT (SELECT avg((ml.predict(m, features)::boolean = c)::int) FROM {TABLE}),
                   (ml.describe(m)->>'nodes')::int, (ml.describe(m)->>'leaves')::int
              FROM {MODEL_TABLE}""").fetchone()
        log(f"  pgscore accuracy {float(acc_pg):.4f}  ({nodes} nodes, {leaves} leaves)")
    except psycopg.Error as e:
        log(f"  pgscore accuracy ERROR: {str(e).strip().splitlines()[0]}")
    acc_xgb = float((results["xgb_predict_1thread"].value == y).mean())
    xgb_leaves = sum(tree.count("leaf=") for tree in model.get_booster().get_dump())
    log(f"  XGBoost accuracy {acc_xgb:.4f}  ({xgb_leaves} leaves)")

    def ms(name: str) -> float | None:
        r = results.get(name)
        return r.best if r and r.error is None else None

    log("")
    log(f"{'measurement':<28} {'best ms':>10} {'median ms':>10}")
    log("-" * 50)
    for r in results.values():
        if r.error is not None:
            log(f"{r.name:<28} {'ERROR':>10}  {r.error[:60]}")
        else:
            log(f"{r.name:<28} {r.best:10.1f} {r.median:10.1f}")

    ratios = [
        # name, numerator, denominator, target (ratio must be <= target) or None
        ("gbt_fit_vs_xgboost_1thread", "pg_gbt_fit", "xgb_fit_1thread", 3.0),
        (f"gbt_fit_vs_xgboost_{all_threads}threads", "pg_gbt_fit", "xgb_fit_all", None),
        ("predict_vs_xgboost_1thread", "pg_predict", "xgb_predict_1thread", 2.0),
        (f"predict_vs_xgboost_{all_threads}threads", "pg_predict", "xgb_predict_all", None),
        ("gbt_fit_vs_scan_floor", "pg_gbt_fit", "scan_floor", None),
        ("predict_vs_scan_floor", "pg_predict", "scan_floor", None),
    ]
    log("")
    log("RATIO name value target")
    for name, num, den, target in ratios:
        a, b = ms(num), ms(den)
        tgt = f"<={target}" if target is not None else "-"
        if a is None or b is None:
            log(f"RATIO {name} ERROR {tgt}" + (" MISS" if target is not None else ""))
            continue
        v = a / b
        log(f"RATIO {name} {v:.3f} {tgt}" + (" MISS" if target is not None and v > target else ""))
    conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
