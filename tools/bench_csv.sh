#!/usr/bin/env bash
# CSV benchmark: training from a generated CSV file through file_fdw, each fit against
# one `SELECT count(*)` scan of the same foreign table, and peak backend memory from
# BASE_ROWS (1 M) to ROWS rows.
#
#   tools/bench_csv.sh [--rows N] [--base-rows N] [--gbt-rows N] [--dir PATH] [--fits linreg,nb,logreg,gbt]
#
# ROWS defaults to 100,000,000 (a 9.5 GB file, written by tools/bench_csv_gen.c in a few minutes,
# and each measurement one read of the file on this 2-core machine); ROWS=5000000 is a
# quick run of a few minutes. Files are generated once into CSV_DIR
# (/tmp/pgscore-bench-csv) and reused; delete them afterwards. Starts the private
# cluster (tools/pgcluster.sh start) if needed and runs tools/bench_csv.py in the
# database pgscore_bench_csv (created if missing). Prints per-size times and peak
# memory, then a 'RATIO name value target [MISS]' block. Exits 0 whatever the ratios.
set -euo pipefail

TOOLS=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")
. "$TOOLS/bench_lib.sh"
BENCH_PY=$TOOLS/bench_csv.py
bench_help "$@"

bench_database pgscore_bench_csv

exec python3 "$TOOLS/bench_csv.py" "$@"
