#!/usr/bin/env python3
"""Registry benchmark: scoring by project name, the row form, and the scoring trigger,
each against a baseline measured in the same run (best of BENCH_REPEAT, serial plans,
JIT off). Run through tools/bench_registry.sh, or with the PG* variables set.

  A. ml.predict_encoded('project', features) vs ml.predict(model, features), 1M rows (target <= 1.1)
  B. ml.predict('project', row) on a 13-column table vs ml.predict('project', features), the
     raw array form (both replay the preprocessing; report)
  C. INSERT ... SELECT of 100,000 rows into a table with the scoring trigger vs the same
     table without it (target <= 1.6)
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import psycopg  # noqa: E402

from bench_foundation import Result, env_int, execute_all, log, measure  # noqa: E402

ROWS = env_int("ROWS", 1_000_000)
INSERT_ROWS = env_int("INSERT_ROWS", 100_000)
REPEAT = env_int("BENCH_REPEAT", 5)
COLS = ["age", "sex", "cp", "trestbps", "chol", "fbs", "restecg", "thalach", "exang",
        "oldpeak", "slope", "ca", "thal"]


def setup(conn):
    cols = ", ".join(COLS)
    gen = ", ".join(f"round((random() * 100)::numeric, 2)::float8 AS {c}" for c in COLS)
    tag = f"pgscore-bench-registry rows={ROWS}"
    cur = conn.cursor()
    cur.execute("SELECT obj_description(to_regclass('bench_rows'), 'pg_class')")
    row = cur.fetchone()
    if row is None or row[0] != tag:
        log(f"data: creating bench_rows ({ROWS:,} rows x 13 columns) ...")
        cur.execute("DROP TABLE IF EXISTS bench_rows CASCADE")
        cur.execute("SELECT setseed(0.17)")
        cur.execute(f"""CREATE TABLE bench_rows AS
                        SELECT *, ARRAY[{cols}] AS features,
                               age + chol / 3 - thalach / 2 + random() * 20 > 40 AS sick
                          FROM (SELECT {gen} FROM generate_series(1, {ROWS})) q""")
        cur.execute(f"COMMENT ON TABLE bench_rows IS '{tag}'")
        cur.execute("VACUUM ANALYZE bench_rows")
    cur.execute("SELECT count(*) FROM ml.projects WHERE name = 'bench_registry'")
    if cur.fetchone()[0] == 0:
        log("model: ml.train on 100,000 rows ...")
        cur.execute(f"""SELECT * FROM ml.train('bench_registry',
                          'SELECT {cols}, sick FROM bench_rows LIMIT 100000', 'sick', test_fraction => 0.1)""")
    # a model without preprocessing for the array forms: the same deployed version's
    # coefficients apply to encoded features; raw values cost the same to score
    cur.execute("DROP TABLE IF EXISTS bench_registry_model")
    cur.execute("""CREATE TABLE bench_registry_model AS
                   SELECT m.model FROM ml.models m JOIN ml.projects p ON p.id = m.project_id
                    WHERE p.name = 'bench_registry' AND m.version = ml.deployed_version('bench_registry')""")
    for t in ("vitals_plain", "vitals_scored"):
        cur.execute(f"DROP TABLE IF EXISTS {t}")
        cur.execute(f"CREATE TABLE {t} (id bigserial, {', '.join(c + ' float8' for c in COLS)}, risk boolean, version int)")
    cur.execute("SELECT ml.score_on_insert('vitals_scored', 'bench_registry', 'risk', 'version')")


def timed_inserts(conn, name, table, insert):
    """Best of REPEAT timed INSERT ... SELECT runs into an emptied table (TRUNCATE untimed)."""
    import time
    times = []
    with conn.cursor() as cur:
        for i in range(REPEAT + 1):
            cur.execute(f"TRUNCATE {table}")
            t0 = time.perf_counter()
            cur.execute(insert.format(t=table))
            if i > 0:   # the first run warms up
                times.append((time.perf_counter() - t0) * 1000)
    r = Result(name)
    r.times = times
    log(f"  {name:<26} best {r.best:9.1f} ms  median {r.median:9.1f} ms")
    return r


def main():
    with psycopg.connect(autocommit=True) as conn:
        execute_all(conn, ["SET max_parallel_workers_per_gather = 0", "SET jit = off",
                           "CREATE EXTENSION IF NOT EXISTS pgscore"])
        setup(conn)
        cols = ", ".join(COLS)
        log("\nA. scoring by project name vs by model value")
        by_model = measure(conn, "predict_model_array",
                           "SELECT count(ml.predict((SELECT model FROM bench_registry_model), features)) FROM bench_rows", REPEAT)
        # the encoded form: what this ratio measures is the registry lookup, not preprocessing
        by_project = measure(conn, "predict_project_array",
                             "SELECT count(ml.predict_encoded('bench_registry', features)) FROM bench_rows", REPEAT)
        log("\nB. row form (13 columns) vs raw array form, by project")
        by_raw = measure(conn, "predict_project_raw_array",
                         "SELECT count(ml.predict('bench_registry', features)) FROM bench_rows", REPEAT)
        by_row = measure(conn, "predict_project_row",
                         "SELECT count(ml.predict('bench_registry', b)) FROM bench_rows b", REPEAT)
        log(f"\nC. INSERT ... SELECT {INSERT_ROWS:,} rows, with and without the scoring trigger")
        insert = f"INSERT INTO {{t}} ({cols}) SELECT {cols} FROM bench_rows LIMIT {INSERT_ROWS}"
        plain = timed_inserts(conn, "insert_plain", "vitals_plain", insert)
        scored = timed_inserts(conn, "insert_scored", "vitals_scored", insert)
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FILTER (WHERE risk IS NOT NULL), count(*) FROM vitals_scored")
            filled, total = cur.fetchone()
        log(f"  check: {filled:,} of {total:,} inserted rows scored by the trigger")

        def ratio(a, b):
            return a.best / b.best if a.best and b.best else float("nan")

        rows = [("predict_project_vs_model", ratio(by_project, by_model), 1.1),
                ("predict_row13_vs_array", ratio(by_row, by_raw), None),
                ("insert_trigger_vs_plain", ratio(scored, plain), 1.6)]
        log("\nRATIO name value target")
        for name, value, target in rows:
            mark = "" if target is None or value <= target else " MISS"
            log(f"RATIO {name} {value:.3f} {'<=' + str(target) if target else '-'}{mark}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
