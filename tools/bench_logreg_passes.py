#!/usr/bin/env python3
"""Logistic regression in passes (ml.logreg_step) against the in-memory ml.logreg_fit.

Run through tools/bench_logreg_passes.sh, or directly with the PG* variables set.

The table bench_passes holds ROWS rows (default 1,000,000) of 8 features and a binary
label (reused when present with the same row count). Measured, best of BENCH_REPEAT
(default 3) after one untimed run, serial plans, JIT off:

  scan       SELECT count(*) FROM bench_passes        (reads no array)
  array scan SELECT sum(x[1]) FROM bench_passes       (detoasts every array, as a fit does)
  memory     SELECT ml.logreg_fit(x, y) FROM bench_passes          (keeps 68 bytes a row)
  passes     ml.logreg_start, then SELECT ml.logreg_step(x, y, state) FROM bench_passes
             until ml.logreg_fit_info(state) says done              (keeps 8 x (1 + 9 + 81) bytes)

Ratios: pass fit / in-memory fit (target: passes + 1: each pass reads the rows once
where the in-memory fit reads them once and then evaluates in memory), pass fit / scan
(issue 17's target: passes + 1), the same against the array scan, and the largest coefficient difference between the
two fits (target 1e-6 relative). Exits 0 whatever
the ratios; non-zero only when it could not run.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

try:
    import psycopg
except ImportError:  # pragma: no cover
    sys.exit("bench_logreg_passes: psycopg is missing; run tools/install_deps.sh")


def best(conn, repeat, body):
    body()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = body()
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=int(os.environ.get("ROWS", 1000000)))
    ap.add_argument("--repeat", type=int, default=int(os.environ.get("BENCH_REPEAT", 3)))
    args = ap.parse_args()

    with psycopg.connect(autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pgscore")
        conn.execute("SET max_parallel_workers_per_gather = 0")
        conn.execute("SET jit = off")
        have = conn.execute("SELECT count(*) FROM pg_class WHERE relname = 'bench_passes'").fetchone()[0]
        if not have or conn.execute("SELECT count(*) FROM bench_passes").fetchone()[0] != args.rows:
            conn.execute("DROP TABLE IF EXISTS bench_passes")
            conn.execute(f"""CREATE TABLE bench_passes AS
                SELECT ARRAY[sin(i), cos(i * 0.3), sin(i * 0.7), (i % 13)::float8, cos(i * 1.1), sin(i * 2.3),
                             (i % 7)::float8 - 3, cos(i * 0.05)] AS x,
                       sin(i * 1.7) + 0.05 * (i % 13) - 0.1 * (i % 7) > 0.1 AS y
                  FROM generate_series(1, {args.rows}) i""")
            conn.execute("VACUUM ANALYZE bench_passes")

        scan, _ = best(conn, args.repeat, lambda: conn.execute("SELECT count(*) FROM bench_passes").fetchone())
        read, _ = best(conn, args.repeat, lambda: conn.execute("SELECT sum(x[1]) FROM bench_passes").fetchone())
        memory, model = best(conn, args.repeat,
                             lambda: conn.execute("SELECT ml.logreg_fit(x, y) FROM bench_passes").fetchone()[0])

        def passes_fit():
            state = conn.execute("SELECT ml.logreg_start()").fetchone()[0]
            while True:
                state = conn.execute("SELECT ml.logreg_step(x, y, %s::bytea) FROM bench_passes", (state,)).fetchone()[0]
                info = conn.execute("SELECT ml.logreg_fit_info(%s::bytea)", (state,)).fetchone()[0]
                if info["phase"] == "done":
                    return conn.execute("SELECT ml.logreg_model(%s::bytea)", (state,)).fetchone()[0], info["passes"]

        passes_time, (pass_model, passes) = best(conn, args.repeat, passes_fit)
        a = conn.execute("SELECT ml.describe(%s::ml.model) -> 'coefficients' -> 0", (model,)).fetchone()[0]
        b = conn.execute("SELECT ml.describe(%s::ml.model) -> 'coefficients' -> 0", (pass_model,)).fetchone()[0]
        diff = max(abs(x - y) for x, y in zip(a, b)) / max(1.0, max(abs(x) for x in a))

    print(f"rows {args.rows}, 8 features, best of {args.repeat}")
    print(f"scan        {scan * 1000:9.1f} ms  (count(*): reads no array)")
    print(f"array scan  {read * 1000:9.1f} ms  (sum(x[1]): detoasts every array)")
    print(f"memory fit  {memory * 1000:9.1f} ms")
    print(f"pass fit    {passes_time * 1000:9.1f} ms  ({passes} passes)")
    print()

    def ratio(name, value, target):
        print(f"RATIO {name} {value:.3g} {target:.3g}{'' if value <= target else ' MISS'}")

    ratio("passes_vs_memory", passes_time / memory, passes + 1)
    ratio("passes_vs_scan", passes_time / scan, passes + 1)
    ratio("passes_vs_array_scan", passes_time / read, passes + 1)
    ratio("coefficient_difference", diff, 1e-6)
    print(f"PASSES {passes}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
