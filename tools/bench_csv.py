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
95 bytes a row. It is written by tools/bench_csv_gen.c (compiled with cc into CSV_DIR;
a seeded generator, so the same ROWS give the same file; 100 M rows in a few minutes,
bounded by the disk) and reused when present. For each file, on a fresh connection
each, with a serial plan and JIT off:

  scan     SELECT count(*) FROM csv_N
  linreg   SELECT ml.linreg_fit(ARRAY[x1..x8], y) FROM csv_N
  nb       SELECT ml.nb_fit(ARRAY[x1..x8], c) FROM csv_N
  logreg   SELECT ml.train('bench_csv_N', 'csv_N', 'c', 'logistic_regression', exclude => {id, y},
                           hyperparams => {"fit": "passes"})  (the fit that scales: in passes)
  gbt      SELECT ml.gbt_fit(ARRAY[x1..x8], c, 20 trees depth 6) FROM csv_N
           WHERE hashint8(id) % m = 0  (m = ROWS / GBT_ROWS: a reproducible hash sample
           of about GBT_ROWS rows; ml.gbt_fit has no max_rows option yet, so the sample
           is written out, and the whole file is still read)

Each timing is one run (the large file is read once per measurement); peak memory is
the backend's peak resident set (VmHWM in /proc/<pid>/status: the kernel's own high-water
mark, shared buffers the backend touched included) at the end of the statement, next to
the growth of its private set (RssAnon, sampled every 20 ms). The RATIO block compares
each fit with the scan of the large file, and VmHWM of the large file with that of the
small one (target 1.2 for every fit); the load average before the first measurement is
printed with it. The benchmark reports; it never fails on a target (a missed one is
marked MISS).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time

try:
    import psycopg
except ImportError:  # pragma: no cover
    sys.exit("bench_csv: psycopg is missing; run tools/install_deps.sh")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_foundation import env_int, log  # noqa: E402  (shared harness helpers)

DATA_VERSION = "v2"  # bump when tools/bench_csv_gen.c changes
GENERATOR_SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench_csv_gen.c")
FEATURES = "ARRAY[x1, x2, x3, x4, x5, x6, x7, x8]"
COLUMNS = ("id int8, x1 float8, x2 float8, x3 float8, x4 float8, x5 float8, x6 float8, x7 float8, x8 float8,"
           " y float8, c boolean")
SESSION = ["SET max_parallel_workers_per_gather = 0", "SET jit = off", "SET client_min_messages = warning"]


def csv_path(directory: str, rows: int) -> str:
    return os.path.join(directory, f"bench-{DATA_VERSION}-{rows}.csv")


def generator(directory: str) -> str:
    binary = os.path.join(directory, "bench_csv_gen")
    if not os.path.exists(binary) or os.path.getmtime(binary) < os.path.getmtime(GENERATOR_SOURCE):
        subprocess.run(["cc", "-O2", "-o", binary, GENERATOR_SOURCE, "-lm"], check=True)
    return binary


def ensure_file(directory: str, rows: int) -> str:
    path = csv_path(directory, rows)
    if os.path.exists(path):
        log(f"reusing {path} ({os.path.getsize(path) / 1e9:.2f} GB)")
        return path
    log(f"generating {path} ({rows:,} rows) ...")
    t0 = time.perf_counter()
    # a half-written file is removed
    try:
        with open(path + ".part", "wb") as out:
            subprocess.run([generator(directory), str(rows)], stdout=out, check=True)
        os.chmod(path + ".part", 0o644)  # the server's user reads it
    except BaseException:
        if os.path.exists(path + ".part"):
            os.remove(path + ".part")
        raise
    os.rename(path + ".part", path)
    log(f"  {os.path.getsize(path) / 1e9:.2f} GB in {time.perf_counter() - t0:.0f} s")
    return path


def status_kb(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not found")


def rss_anon_kb(pid: int) -> int:
    return status_kb(pid, "RssAnon")


def measure(dsn: str, sql: str) -> tuple[float, float, float]:
    """(seconds, peak private MB above the backend's size before, VmHWM MB at the end)
    of one run on a fresh backend."""
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
        hwm = status_kb(pid, "VmHWM")
    return elapsed, (peak[0] - before) / 1024, hwm / 1024


def statements(table: str, rows: int, gbt_rows: int) -> dict[str, str]:
    m = max(1, rows // gbt_rows)
    return {
        "scan": f"SELECT count(*) FROM {table}",
        "linreg": f"SELECT ml.linreg_fit({FEATURES}, y) IS NOT NULL FROM {table}",
        "nb": f"SELECT ml.nb_fit({FEATURES}, c) IS NOT NULL FROM {table}",
        "logreg": (f"SELECT (ml.train('bench_{table}', '{table}', 'c', 'logistic_regression',"
                   f" exclude => ARRAY['id', 'y'], hyperparams => '{{\"fit\": \"passes\"}}')).version"),
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
    results: dict[int, dict[str, tuple[float, float, float]]] = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pgscore")
        conn.execute("CREATE EXTENSION IF NOT EXISTS file_fdw")
        conn.execute("CREATE SERVER IF NOT EXISTS bench_csv FOREIGN DATA WRAPPER file_fdw")
        for rows in sizes:
            path = ensure_file(args.dir, rows)
            conn.execute(f"DROP FOREIGN TABLE IF EXISTS csv_{rows}")
            conn.execute(f"CREATE FOREIGN TABLE csv_{rows} ({COLUMNS}) SERVER bench_csv"
                         f" OPTIONS (filename '{path}', format 'csv')")
    log(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())} (1, 5, 15 min)")
    for rows in sizes:
        results[rows] = {}
        log(f"\n{rows:,} rows ({os.path.getsize(csv_path(args.dir, rows)) / 1e9:.2f} GB)")
        for name, sql in statements(f"csv_{rows}", rows, args.gbt_rows).items():
            if name not in fits:
                continue
            try:
                seconds, peak, hwm = measure(dsn, sql)
            except psycopg.Error as e:
                # e.g. 54000: the in-memory fit of ml.train beyond pgscore.max_training_memory
                log(f"  {name:7s} failed: {e.sqlstate} {str(e).splitlines()[0]}")
                continue
            results[rows][name] = (seconds, peak, hwm)
            log(f"  {name:7s} {seconds:9.2f} s   {seconds / results[rows]['scan'][0] if 'scan' in results[rows] else 0:6.2f}x scan"
                f"   private peak +{peak:8.1f} MB   VmHWM {hwm:8.1f} MB")

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
        for name in ("scan", "linreg", "nb", "logreg", "gbt"):
            if name not in big or name not in base:
                continue
            ratio = big[name][2] / base[name][2]
            mark = "" if ratio <= 1.2 else " MISS"
            log(f"RATIO {name}_vmhwm_{max(sizes)}_vs_{min(sizes)} {ratio:.2f} <= 1.2{mark}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
