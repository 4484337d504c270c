"""Query cancel and statement_timeout stop a long training within 100 ms, both while
rows are scanned and while the Swift core fits (it polls PostgreSQL's interrupt flags
and returns so C can run CHECK_FOR_INTERRUPTS)."""
import threading
import time

import psycopg
import pytest

LIMIT_S = 0.100
# softmax with 5 classes: the fit phase (Newton passes in Swift) dominates the scan
TRAIN = "SELECT ml.logreg_fit(f, k) FROM interrupt_rows"


@pytest.fixture(scope="module")
def rows(database):
    with psycopg.connect(database, autocommit=True) as c:
        c.execute("""
            CREATE TABLE IF NOT EXISTS interrupt_rows AS
            SELECT ARRAY[sin(i), cos(i), sin(i * 0.3), cos(i * 0.7), sin(i * 1.1), cos(i * 1.7),
                         sin(i * 2.3), cos(i * 2.9)] AS f,
                   (abs(floor(sin(i) * 2 + cos(i * 0.7) * 2 + sin(i * 13.0)))::bigint % 5) AS k
              FROM generate_series(1, 300000) i""")
        c.execute("ANALYZE interrupt_rows")
        c.execute("SET max_parallel_workers_per_gather = 0")
        # the fastest of two warm runs: an interrupt planned at a fraction of it must
        # still land before the training ends
        full = float("inf")
        for _ in range(2):
            start = time.monotonic()
            c.execute(TRAIN)
            full = min(full, time.monotonic() - start)
        start = time.monotonic()
        c.execute("SELECT count(f) FROM interrupt_rows")
        scan = time.monotonic() - start
    assert full > 1.0, f"training must last long enough to interrupt (took {full:.2f}s)"
    return full, scan


def _elapsed_until_error(conn, sql):
    start = time.monotonic()
    with pytest.raises(psycopg.errors.QueryCanceled) as info:
        conn.execute(sql)
    return time.monotonic() - start, info.value


@pytest.mark.parametrize("fraction", [0.5, 0.75])
def test_statement_timeout_stops_training(database, rows, fraction):
    full, scan = rows
    timeout_ms = int(full * fraction * 1000)
    with psycopg.connect(database, autocommit=True) as c:
        c.execute("SET max_parallel_workers_per_gather = 0")
        c.execute(f"SET statement_timeout = {timeout_ms}")
        elapsed, err = _elapsed_until_error(c, TRAIN)
        assert "statement timeout" in str(err)
        late = elapsed - timeout_ms / 1000
        assert late < LIMIT_S, f"stopped {late * 1000:.0f} ms after the timeout"
        c.execute("SELECT 1")  # the backend survives


@pytest.mark.parametrize("fraction", [0.05, 0.5, 0.75])
def test_cancel_stops_training(database, rows, fraction):
    full, scan = rows
    with psycopg.connect(database, autocommit=True) as c:
        c.execute("SET max_parallel_workers_per_gather = 0")
        pid = c.execute("SELECT pg_backend_pid()").fetchone()[0]
        delay = full * fraction
        sent = {}

        def cancel():
            time.sleep(delay)
            with psycopg.connect(database, autocommit=True) as other:
                sent["at"] = time.monotonic()
                other.execute("SELECT pg_cancel_backend(%s)", (pid,))

        t = threading.Thread(target=cancel)
        t.start()
        with pytest.raises(psycopg.errors.QueryCanceled):
            c.execute(TRAIN)
        stopped = time.monotonic()
        t.join()
        late = stopped - sent["at"]
        assert late < LIMIT_S, f"stopped {late * 1000:.0f} ms after the cancel"
        assert c.execute("SELECT 'alive'").fetchone()[0] == "alive"
