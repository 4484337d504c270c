"""Training and scoring many times in one session does not grow the backend's private
memory: aggregate state lives in the aggregate's memory context and Swift model handles
are released with the query's memory."""
import psycopg
import pytest

from conftest import backend_rss_anon_kb


def test_repeated_training_does_not_grow_backend(conn):
    conn.execute("""
        CREATE TEMP TABLE mem_rows AS
        SELECT ARRAY[sin(i), cos(i), sin(i * 0.3), cos(i * 0.7)] AS f, sin(i * 5.0) > 0 AS c,
               (i % 3)::text AS s, sin(i) + cos(i * 0.7) AS y
          FROM generate_series(1, 100000) i""")
    workload = """
        SELECT count(ml.predict(m.lr, f)), count(ml.predict_proba(m.nb, f)), count(ml.predict(m.lin, f))
          FROM mem_rows,
               (SELECT ml.logreg_fit(f, c) lr, ml.nb_fit(f, s) nb, ml.linreg_fit(f, y) lin FROM mem_rows) m"""
    for _ in range(5):  # warm up: caches, plans, allocator high-water marks
        conn.execute(workload)
    before = backend_rss_anon_kb(conn)
    for _ in range(40):
        conn.execute(workload)
    after = backend_rss_anon_kb(conn)
    assert after - before < 4096, f"backend private memory grew by {after - before} kB over 40 runs"


def test_errors_do_not_leak(conn):
    """Failing trainings (errors raised after Swift returns) free their state too."""
    conn.execute("CREATE TEMP TABLE bad_rows AS SELECT ARRAY[i::float8, 1.0] AS f, i % 2 = 0 AS c "
                 "FROM generate_series(1, 50000) i")
    def fail():
        try:
            conn.execute("SELECT ml.logreg_fit(f, c, '{\"l2\": 0}') FROM bad_rows")
        except Exception as e:  # constant column without penalty
            assert "constant" in str(e)
        else:
            raise AssertionError("expected an error")
    for _ in range(5):
        fail()
    before = backend_rss_anon_kb(conn)
    for _ in range(40):
        fail()
    after = backend_rss_anon_kb(conn)
    assert after - before < 4096, f"backend private memory grew by {after - before} kB"


def test_tree_fits_count_their_scratch_against_max_training_memory(conn):
    """Boosting keeps scores, gradients and hessians per row and class: with 200 classes
    that is ~240x the rows it holds. The fit is refused (54000) before it allocates them,
    not after the backend grew past the limit; with fewer classes it trains."""
    conn.execute("SET pgscore.max_training_memory = 100")
    try:
        before = backend_rss_anon_kb(conn)
        with pytest.raises(psycopg.errors.ProgramLimitExceeded, match="scratch"):
            conn.execute("SELECT ml.gbt_fit(ARRAY[random(), random()], (g % 200)::text, '{\"n_trees\": 2}') "
                         "FROM generate_series(1, 100000) g")
        assert backend_rss_anon_kb(conn) - before < 100 * 1024
        for fit in ("ml.gbt_fit", "ml.forest_fit", "ml.tree_fit"):
            options = '{"n_trees": 2}' if fit != "ml.tree_fit" else '{}'
            conn.execute(f"SELECT {fit}(ARRAY[random(), random()], (g % 2)::text, '{options}') "
                         "FROM generate_series(1, 20000) g")
    finally:
        conn.execute("RESET pgscore.max_training_memory")
