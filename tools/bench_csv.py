#!/usr/bin/env python3
"""CSV benchmark for pgscore (issue 17, part 4): training straight from a CSV file
through file_fdw, against one `SELECT count(*)` scan of the same foreign table.

Run through tools/bench_csv.sh (which starts the private cluster and exports PGHOST/...),
or directly with the PG* variables set.

Environment (or the matching options):
  ROWS        rows of the large file                    (default 100000000, about 9.3 GB)
  BASE_ROWS   rows of the small file, the memory baseline (default 1000000)
  CSV_DIR     where the files are generated            (default /tmp/pgscore-bench-csv)
  GBT_ROWS    rows the boosted trees train on           (default 1000000)
  FITS        which fits to run, comma-separated        (default linreg,nb,logreg,gbt;
              the scan always runs)

Each file has id, 8 features x1..x8 (uniform in [-1, 1], 6 decimals), a float label y
(linear in the features plus noise) and a boolean label c (a noisy linear rule): about
93 bytes a row. It is written by the server itself (COPY ... TO from
generate_series with setseed, so the same ROWS give the same file) and reused when
present. For each file, on a fresh connection each, with a serial plan and JIT off:

  scan     SELECT count(*) FROM csv_N
  linreg   SELECT ml.linreg_fit(ARRAY[x1..x8], y) FROM csv_N
  nb       SELECT ml.nb_fit(ARRAY[x1..x8], c) FROM csv_N
  logreg   SELECT ml.train('bench_csv_N', 'csv_N', 'c', 'logistic_regression', exclude => {id, y})
  gbt      SELECT ml.gbt_fit(ARRAY[x1..x8], c, 20 trees depth 6) FROM csv_N
           WHERE hashint8(id) % m = 0  (m = ROWS / GBT_ROWS: a reproducible hash sample
           of about GBT_ROWS rows; ml.gbt_fit has no max_rows option yet, so the sample
           is written out, and the whole file is still read)

Each timing is one run (the large file is read once per measurement); peak memory is
the backend's largest private resident set (RssAnon, sampled every 20 ms) minus its
size before the statement. The RATIO block compares each fit with the scan of the large
file, and the peak memory of the large file with that of the small one. The benchmark
reports; it never fails on a target (a missed one is marked MISS).
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time

try:
    import psycopg
except ImportError:  # pragma: no cover
    sys.exit("bench_csv: psycopg is missing; run tools/install_deps.sh")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_foundation import env_int, log  # noqa: E402  (shared harness helpers)

DATA_VERSION = "v1"  # bump when the generator below changes
FEATURES = "ARRAY[x1, x2, x3, x4, x5, x6, x7, x8]"
COLUMNS = ("id int8, x1 float8, x2 float8, x3 float8, x4 float8, x5 float8, x6 float8, x7 float8, x8 float8,"
           " y float8, c boolean")
SIX = "round(random() * 2e6 - 1e6) / 1e6"
GENERATOR = f"""
SELECT g, x1, x2, x3, x4, x5, x6, x7, x8,
       round((1.5 * x1 - 2 * x2 + 0.5 * x3 + x4 - x5 + 0.25 * x6 + 0.1 * x7 - 0.3 * x8 + 0.5 * n) * 1e6) / 1e6,
       x1 - x2 + 0.5 * x3 + 0.5 * n > 0
FROM (SELECT g, {SIX} x1, {SIX} x2, {SIX} x3, {SIX} x4, {SIX} x5, {SIX} x6, {SIX} x7, {SIX} x8,
             random() - 0.5 n FROM generate_series(1, %(rows)s) g) s"""
SESSION = ["SET max_parallel_workers_per_gather = 0", "SET jit = off", "SET client_min_messages = warning"]


def csv_path(directory: str, rows: int) -> str:
    return os.path.join(directory, f"bench-{DATA_VERSION}-{rows}.csv")


def ensure_file(conn: psycopg.Connection, directory: str, rows: int) -> str:
    path = csv_path(directory, rows)
    if os.path.exists(path):
        log(f"reusing {path} ({os.path.getsize(path) / 1e9:.2f} GB)")
        return path
    log(f"generating {path} ({rows:,} rows) ...")
    t0 = time.perf_counter()
    conn.execute("SELECT setseed(0.17)")
    # the server writes it (its own user reads it back); a half-written file is removed
    try:
        conn.execute(f"COPY ({GENERATOR % {'rows': rows}}) TO '{path}.part' WITH (FORMAT csv)")
    except BaseException:
        if os.path.exists(path + ".part"):
            os.remove(path + ".part")
        raise
    os.rename(path + ".part", path)
    log(f"  {os.path.getsize(path) / 1e9:.2f} GB in {time.perf_counter() - t0:.0f} s")
    return path


def rss_anon_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    raise RuntimeError("RssAnon not found")


def measure(dsn: str, sql: str) -> tuple[float, float]:
    """(seconds, peak MB above the backend's size before) of one run on a fresh backend."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        for s in SESSION:
            conn.execute(s)
        pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        before = rss_anon_kb(pid)
        peak = [before]
        done = threading.Event()

        def sample():
            while not done.wait(0.02):
                try:
                    peak[0] = max(peak[0], rss_anon_kb(pid))
                except (OSError, RuntimeError):
                    return

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        t0 = time.perf_counter()
        try:
            conn.execute(sql).fetchall()
        finally:
            elapsed = time.perf_counter() - t0
            done.set()
            sampler.join()
        peak[0] = max(peak[0], rss_anon_kb(pid))
    return elapsed, (peak[0] - before) / 1024


def statements(table: str, rows: int, gbt_rows: int) -> dict[str, str]:
    m = max(1, rows // gbt_rows)
    return {
        "scan": f"SELECT count(*) FROM {table}",
        "linreg": f"SELECT ml.linreg_fit({FEATURES}, y) IS NOT NULL FROM {table}",
        "nb": f"SELECT ml.nb_fit({FEATURES}, c) IS NOT NULL FROM {table}",
        "logreg": (f"SELECT (ml.train('bench_{table}', '{table}', 'c', 'logistic_regression',"
                   f" exclude => ARRAY['id', 'y'])).version"),
        "gbt": (f"SELECT ml.gbt_fit({FEATURES}, c, '{{\"n_trees\": 20, \"max_depth\": 6}}') IS NOT NULL"
                f" FROM {table} WHERE hashint8(id) % {m} = 0"),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description="pgscore CSV benchmark (file_fdw)")
    ap.add_argument("--rows", type=int, default=env_int("ROWS", 100_000_000))
    ap.add_argument("--base-rows", type=int, default=env_int("BASE_ROWS", 1_000_000))
    ap.add_argument("--gbt-rows", type=int, default=env_int("GBT_ROWS", 1_000_000))
    ap.add_argument("--dir", default=os.environ.get("CSV_DIR", "/tmp/pgscore-bench-csv"))
    ap.add_argument("--fits", default=os.environ.get("FITS", "linreg,nb,logreg,gbt"))
    args = ap.parse_args()
    fits = {"scan", *args.fits.split(",")}

    dsn = psycopg.conninfo.make_conninfo("")  # the PG* environment
    os.makedirs(args.dir, exist_ok=True)
    os.chmod(args.dir, 0o777)  # the server's user writes the files
    sizes = sorted({args.base_rows, args.rows})
    results: dict[int, dict[str, tuple[float, float]]] = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pgscore")
        conn.execute("CREATE EXTENSION IF NOT EXISTS file_fdw")
        conn.execute("CREATE SERVER IF NOT EXISTS bench_csv FOREIGN DATA WRAPPER file_fdw")
        for rows in sizes:
            path = ensure_file(conn, args.dir, rows)
            conn.execute(f"DROP FOREIGN TABLE IF EXISTS csv_{rows}")
            conn.execute(f"CREATE FOREIGN TABLE csv_{rows} ({COLUMNS}) SERVER bench_csv"
                         f" OPTIONS (filename '{path}', format 'csv')")
    for rows in sizes:
        results[rows] = {}
        log(f"\n{rows:,} rows ({os.path.getsize(csv_path(args.dir, rows)) / 1e9:.2f} GB)")
        for name, sql in statements(f"csv_{rows}", rows, args.gbt_rows).items():
            if name not in fits:
                continue
            try:
                seconds, peak = measure(dsn, sql)
            except psycopg.Error as e:
                # e.g. 54000: the in-memory fit of ml.train beyond pgscore.max_training_memory
                log(f"  {name:7s} failed: {e.sqlstate} {str(e).splitlines()[0]}")
                continue
            results[rows][name] = (seconds, peak)
            log(f"  {name:7s} {seconds:9.2f} s   peak +{peak:8.1f} MB")

    big, base = results[max(sizes)], results[min(sizes)]
    scan = big["scan"][0]
    log("\nRATIO name value target")
    targets = {"linreg": 1.5, "nb": 1.5, "logreg": None, "gbt": None}
    for name, target in targets.items():
        if name not in fits:
            continue
        if name not in big:
            log(f"RATIO {name}_vs_scan failed {'reported' if target is None else f'<= {target}'} MISS")
            continue
        ratio = big[name][0] / scan
        mark = "" if target is None or ratio <= target else " MISS"
        log(f"RATIO {name}_vs_scan {ratio:.2f} {'reported' if target is None else f'<= {target}'}{mark}")
    if max(sizes) != min(sizes):
        for name in ("linreg", "nb", "logreg", "gbt"):
            if name not in big or name not in base:
                continue
            # below a few MB the sampling noise dominates: compare from a 4 MB floor
            ratio = max(big[name][1], 4) / max(base[name][1], 4)
            target = 1.2 if name in ("linreg", "nb") else None
            mark = "" if target is None or ratio <= target else " MISS"
            log(f"RATIO {name}_peak_memory_{max(sizes)}_vs_{min(sizes)} {ratio:.2f}"
                f" {'reported' if target is None else f'<= {target}'}{mark}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
