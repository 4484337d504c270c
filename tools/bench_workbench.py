#!/usr/bin/env python3
"""Workbench benchmark: pgscore.Client.predict on a 100,000-row DataFrame (one COPY into
a temporary table and one SELECT, the answer back on the frame's index) against the SQL
it stands for, `SELECT ml.predict('project', t) FROM t` over a table already holding the
same rows, fetched by the same client library. Best of 5 each, the runs alternating;
prints the client's breakdown in its best run (pack: DataFrame -> COPY bytes; copy: the
COPY into the temporary table, pack included; select: ml.predict and its answer; series:
the answer -> Series on the frame's index), the load average, and
`RATIO name value target` (target: at most 2). Not a test: these machines are shared.

    tools/bench_workbench.sh [--rows N]
"""
import argparse
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg

import pgscore
from pgscore import frames

ROOT = Path(__file__).resolve().parent.parent
NAMES = ["age", "sex", "cp", "trestbps", "chol", "fbs", "restecg", "thalach", "exang", "oldpeak",
         "slope", "ca", "thal", "num"]
DB = "pgscore_bench_workbench"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    with psycopg.connect("dbname=postgres", autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {DB}")
    try:
        with pgscore.connect(f"dbname={DB}") as client:
            conn = client.connection
            conn.execute("CREATE EXTENSION pgscore")
            heart = pd.read_csv(ROOT / "data" / "heart" / "processed.cleveland.data", header=None,
                                names=NAMES, na_values="?")
            heart["thal"] = heart.thal.map({3.0: "normal", 6.0: "fixed", 7.0: "reversible"})
            heart["sick"] = heart.num > 0
            client.train("bench", heart.drop(columns="num"), "sick")
            frame = heart.drop(columns=["num", "sick"]).sample(args.rows, replace=True, random_state=1)
            frame.index = np.arange(len(frame)) * 3 + 7          # not a RangeIndex: alignment is real work
            # the same rows as a table, for the SQL baseline
            with conn.transaction(), conn.cursor() as cur:
                frames.send(cur, frame, "bench_rows")
                cur.execute("CREATE TABLE bench_rows AS SELECT * FROM pg_temp.bench_rows")
            conn.execute("ANALYZE bench_rows")

            def by_sql():
                rows = conn.execute("SELECT ml.predict('bench', t) FROM bench_rows t").fetchall()
                assert len(rows) == args.rows

            def by_client():
                assert len(client.predict("bench", frame)) == args.rows

            by_sql(), by_client()                              # warm-up
            sql_s = client_s = float("inf")
            breakdown = {}
            for _ in range(5):
                start = time.perf_counter()
                by_sql()
                sql_s = min(sql_s, time.perf_counter() - start)
                client.timings = {}
                start = time.perf_counter()
                by_client()
                took = time.perf_counter() - start
                if took < client_s:
                    client_s, breakdown = took, client.timings
            client.timings = None
            print(f"{args.rows} rows: SQL over a table {sql_s * 1000:.0f} ms, "
                  f"Client.predict on a DataFrame {client_s * 1000:.0f} ms")
            print("  Client.predict: " + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in breakdown.items())
                  + f", other {(client_s - sum(v for k, v in breakdown.items() if k != 'pack')) * 1000:.0f} ms")
            print("  load average: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
            ratio = client_s / sql_s
            print("\nRATIO name value target")
            print(f"RATIO client_predict_vs_sql {ratio:.3f} <=2{'' if ratio <= 2 else ' MISSED'}")
    finally:
        with psycopg.connect("dbname=postgres", autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")


if __name__ == "__main__":
    main()
