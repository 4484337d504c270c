"""Logistic regression in passes (ml.logreg_start / ml.logreg_step / ml.logreg_model):
the same coefficients as the in-memory ml.logreg_fit on the same rows (1e-6 relative),
in a handful of passes, serial and parallel; ml.train picks it beyond
pgscore.max_training_memory and records which fit it used; bad states and changing rows
give clear errors, never a crash."""
import json
import threading
import time

import psycopg
import pytest

from conftest import watched_database


@pytest.fixture(scope="module")
def db():
    with watched_database("pgscore_passes") as url:
        yield url


@pytest.fixture
def conn(db):
    with psycopg.connect(db, autocommit=True) as c:
        yield c


def pass_fit(conn, source, features, label, options="{}", max_passes=60):
    """Runs passes until done, as a client-side driver would; (model, passes)."""
    state = conn.execute("SELECT ml.logreg_start(%s::jsonb)", (options,)).fetchone()[0]
    for _ in range(max_passes):
        state = conn.execute(f"SELECT ml.logreg_step({features}, {label}, %s::bytea) FROM {source}",
                             (state,)).fetchone()[0]
        info = conn.execute("SELECT ml.logreg_fit_info(%s::bytea)", (state,)).fetchone()[0]
        if info["phase"] == "done":
            return conn.execute("SELECT ml.logreg_model(%s::bytea)", (state,)).fetchone()[0], info["passes"]
    raise AssertionError(f"no convergence in {max_passes} passes: {info}")


def parameters(conn, model):
    d = conn.execute("SELECT ml.describe(%s::ml.model)", (model,)).fetchone()[0]
    return d["intercepts"], d["coefficients"], d


def assert_same(a, b, rel=1e-6):
    flat_a = [v for row in a for v in (row if isinstance(row, list) else [row])]
    flat_b = [v for row in b for v in (row if isinstance(row, list) else [row])]
    assert len(flat_a) == len(flat_b)
    scale = max(1.0, max(abs(v) for v in flat_b))
    for x, y in zip(flat_a, flat_b):
        assert abs(x - y) <= rel * scale, (x, y)


TABLES = {
    # binary, boolean labels
    "bin": ("SELECT ARRAY[sin(i) * 10, cos(i * 0.3), (i % 7)::float8] AS x, "
            "sin(i * 1.7) + 0.1 * (i % 7) > 0.2 AS y FROM generate_series(1, 6000) i"),
    # four text classes (softmax)
    "multi": ("SELECT ARRAY[sin(i), cos(i * 0.7), sin(i * 0.11) * 100] AS x, "
              "(ARRAY['a', 'b', 'c', 'd'])[1 + (floor(abs(sin(i * 1.3) * 3.9 + cos(i))))::int % 4] AS y "
              "FROM generate_series(1, 5000) i"),
    # integer labels, three classes
    "ints": ("SELECT ARRAY[sin(i), (i % 5)::float8] AS x, ((i * 7919) % 3)::bigint AS y "
             "FROM generate_series(1, 3000) i"),
    # a table for ml.train: numbers and a category
    "source": ("SELECT sin(i) * 3 AS a, cos(i * 0.3) AS b, (i % 9)::float8 AS c, "
               "(ARRAY['x', 'y', 'z'])[1 + i % 3] AS kind, sin(i * 1.7) + 0.1 * (i % 9) > 0.3 AS y "
               "FROM generate_series(1, 40000) i"),
}


@pytest.fixture(scope="module", autouse=True)
def tables(db):
    with psycopg.connect(db, autocommit=True) as c:
        for name, sql in TABLES.items():
            c.execute(f"DROP TABLE IF EXISTS pass_{name}")
            c.execute(f"CREATE TABLE pass_{name} AS {sql}")
            c.execute(f"ANALYZE pass_{name}")


@pytest.mark.parametrize("table,options", [
    ("bin", "{}"), ("bin", '{"l2": 0}'), ("bin", '{"l2": 0.01, "intercept": false}'),
    ("multi", "{}"), ("multi", '{"l2": 0}'), ("ints", '{"l2": 5}'),
])
def test_passes_match_the_in_memory_fit(conn, table, options):
    model, passes = pass_fit(conn, f"pass_{table}", "x", "y", options)
    reference = conn.execute(f"SELECT ml.logreg_fit(x, y, %s::jsonb) FROM pass_{table}", (options,)).fetchone()[0]
    b, w, d = parameters(conn, model)
    rb, rw, rd = parameters(conn, reference)
    assert_same(w, rw)
    assert_same(b, rb)
    assert d["classes"] == rd["classes"] and d["training_rows"] == rd["training_rows"]
    assert d["options"] == rd["options"]
    assert passes <= 15, f"{passes} passes"
    # the models score alike
    diff = conn.execute(f"SELECT max(abs((ml.predict_proba(%s::ml.model, x))[1] - (ml.predict_proba(%s::ml.model, x))[1])) "
                        f"FROM pass_{table}", (model, reference)).fetchone()[0]
    assert diff < 1e-6


def test_parallel_passes_combine_to_the_same_model(conn):
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS dummy ()")
    conn.execute("DROP TABLE IF EXISTS pass_big")
    conn.execute("CREATE TABLE pass_big AS SELECT ARRAY[sin(i), cos(i * 0.3), (i % 11)::float8] AS x, "
                 "(ARRAY['p', 'q', 'r'])[1 + (i * 31 + floor(sin(i) * 5)::int) % 3] AS y FROM generate_series(1, 60000) i")
    conn.execute("ANALYZE pass_big")
    serial, _ = pass_fit(conn, "pass_big", "x", "y")
    for setting in ("parallel_setup_cost = 0", "parallel_tuple_cost = 0", "min_parallel_table_scan_size = 0",
                    "max_parallel_workers_per_gather = 2"):
        conn.execute(f"SET {setting}")
    try:
        state = conn.execute("SELECT ml.logreg_start('{}')").fetchone()[0]
        plan = "\n".join(r[0] for r in conn.execute(
            "EXPLAIN SELECT ml.logreg_step(x, y, %s::bytea) FROM pass_big", (state,)).fetchall())
        assert "Partial Aggregate" in plan, plan
        parallel, _ = pass_fit(conn, "pass_big", "x", "y")
    finally:
        conn.execute("RESET ALL")
    _, w, _ = parameters(conn, parallel)
    _, rw, _ = parameters(conn, serial)
    assert_same(w, rw, rel=1e-9)


def train(conn, project, table, hyperparams):
    conn.execute("SELECT ml.train(%s, %s, 'y', 'logistic_regression', %s::jsonb, deploy => 'manual')",
                 (project, table, json.dumps(hyperparams)))
    return conn.execute("SELECT m.fit, m.model, m.score, m.hyperparams FROM ml.models m JOIN ml.projects p "
                        "ON p.id = m.project_id WHERE p.name = %s ORDER BY m.version DESC LIMIT 1", (project,)).fetchone()


def test_train_picks_passes_beyond_max_training_memory(conn):
    fit, memory_model, memory_score, hp = train(conn, "passes_auto", "pass_source", {})
    assert fit["fit"] == "memory" and hp["fit"] == "auto"
    # 30000 training rows x 6 features = 1.4 MB: beyond a 1 MB limit
    conn.execute("SET pgscore.max_training_memory = 1")
    try:
        with pytest.raises(psycopg.errors.ProgramLimitExceeded):
            conn.execute("SELECT ml.logreg_fit(ARRAY[a, b, c], y) FROM pass_source")
        fit, pass_model, pass_score, hp = train(conn, "passes_auto", "pass_source", {})
        assert fit["fit"] == "passes" and 3 <= fit["passes"] <= 15, fit
        assert fit["memory_in_memory_fit"] > fit["max_training_memory"] * 0.9
        # forcing the in-memory fit is refused at this limit
        with pytest.raises(psycopg.errors.ProgramLimitExceeded):
            train(conn, "passes_auto", "pass_source", {"fit": "memory"})
    finally:
        conn.execute("RESET pgscore.max_training_memory")
    _, w, _ = parameters(conn, pass_model)
    _, rw, _ = parameters(conn, memory_model)
    assert_same(w, rw)
    assert pass_score == pytest.approx(memory_score, abs=1e-12)
    fit, forced, _, hp = train(conn, "passes_auto", "pass_source", {"fit": "passes", "l2": 0.5})
    assert fit["fit"] == "passes" and hp["fit"] == "passes" and hp["l2"] == 0.5
    # ml.versions shows it
    shown = conn.execute("SELECT fit ->> 'fit' FROM ml.versions WHERE project = 'passes_auto' ORDER BY version").fetchall()
    assert [r[0] for r in shown] == ["memory", "passes", "passes"]


def test_train_refuses_bad_fit_choices(conn):
    with pytest.raises(psycopg.errors.InvalidParameterValue, match='"fit" must be'):
        train(conn, "passes_bad", "pass_source", {"fit": "disk"})
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="for logistic_regression"):
        conn.execute("SELECT ml.train('passes_bad', 'pass_source', 'y', 'naive_bayes', '{\"fit\": \"passes\"}')")


def test_bad_states_and_inputs(conn):
    start = conn.execute("SELECT ml.logreg_start('{}')").fetchone()[0]
    with pytest.raises(psycopg.errors.InvalidParameterValue):
        conn.execute("SELECT ml.logreg_start('{\"bogus\": 1}')")
    with pytest.raises(psycopg.errors.NullValueNotAllowed, match="fit state is NULL"):
        conn.execute("SELECT ml.logreg_step(x, y, NULL::bytea) FROM pass_bin")
    for damaged in (b"", b"PGLP", bytes(start[:-1]), bytes(start) + b"x", b"\x00" * 64):
        with pytest.raises(psycopg.errors.InvalidBinaryRepresentation):
            conn.execute("SELECT ml.logreg_step(x, y, %s::bytea) FROM pass_bin", (damaged,))
        with pytest.raises(psycopg.errors.InvalidBinaryRepresentation):
            conn.execute("SELECT ml.logreg_fit_info(%s::bytea)", (damaged,))
    # an unfinished fit has no model; a finished one takes no more passes
    first = conn.execute("SELECT ml.logreg_step(x, y, %s::bytea) FROM pass_bin", (start,)).fetchone()[0]
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="not finished"):
        conn.execute("SELECT ml.logreg_model(%s::bytea)", (first,))
    # a pass on other features or labels than the first pass saw
    with pytest.raises(psycopg.errors.ArraySubscriptError, match="3 features"):
        conn.execute("SELECT ml.logreg_step(x[1:2], y, %s::bytea) FROM pass_bin", (first,))
    with pytest.raises(psycopg.errors.DatatypeMismatch, match="text here, boolean in the first pass"):
        conn.execute("SELECT ml.logreg_step(x, y::text, %s::bytea) FROM pass_bin", (first,))
    with pytest.raises(psycopg.errors.DataException, match="not one of the 3 classes"):
        conn.execute("SELECT ml.logreg_step(x, y + 1, %s::bytea) FROM pass_ints",
                     (conn.execute("SELECT ml.logreg_step(x, y, ml.logreg_start()) FROM pass_ints").fetchone()[0],))
    # rows that change between passes
    with pytest.raises(psycopg.errors.DataException, match="changed between passes"):
        conn.execute("SELECT ml.logreg_step(x, y, %s::bytea) FROM pass_bin WHERE x[3] > 0", (first,))
    # NaN and NULL elements, one class only
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="NaN"):
        conn.execute("SELECT ml.logreg_step(ARRAY[1, 'NaN'::float8], true, %s::bytea)", (start,))
    with pytest.raises(psycopg.errors.NullValueNotAllowed):
        conn.execute("SELECT ml.logreg_step(ARRAY[1, NULL]::float8[], true, %s::bytea)", (start,))
    with pytest.raises(psycopg.errors.DataException, match="one class"):
        conn.execute("SELECT ml.logreg_step(x, true, %s::bytea) FROM pass_bin", (start,))
    model, _ = pass_fit(conn, "pass_bin", "x", "y")
    done = conn.execute("SELECT ml.logreg_start('{}')").fetchone()[0]
    state = done
    while conn.execute("SELECT ml.logreg_fit_info(%s::bytea) ->> 'phase'", (state,)).fetchone()[0] != "done":
        state = conn.execute("SELECT ml.logreg_step(x, y, %s::bytea) FROM pass_bin", (state,)).fetchone()[0]
    with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState, match="finished"):
        conn.execute("SELECT ml.logreg_step(x, y, %s::bytea) FROM pass_bin", (state,))
    # a pass over no rows gives NULL; skipped NULL rows with {"nulls": "skip"}
    assert conn.execute("SELECT ml.logreg_step(x, y, %s::bytea) FROM pass_bin WHERE false", (start,)).fetchone()[0] is None
    skip = conn.execute("SELECT ml.logreg_start('{\"nulls\": \"skip\"}')").fetchone()[0]
    first = conn.execute("SELECT ml.logreg_step(CASE WHEN i %% 10 = 0 THEN ARRAY[NULL, 1]::float8[] ELSE ARRAY[sin(i), cos(i)] END, "
                         "i %% 3 = 0, %s::bytea) FROM generate_series(1, 100) i", (skip,)).fetchone()[0]
    info = conn.execute("SELECT ml.logreg_fit_info(%s::bytea)", (first,)).fetchone()[0]
    assert info["rows"] == 90 and info["phase"] == "evaluate" and info["features"] == 2


def peak_rss_anon_kb(conn, statement, params=()):
    """Highest private resident memory of the backend while `statement` runs, sampled."""
    pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
    peak = [0]
    done = threading.Event()

    def sample():
        while not done.is_set():
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("RssAnon:"):
                        peak[0] = max(peak[0], int(line.split()[1]))
            time.sleep(0.005)

    t = threading.Thread(target=sample)
    t.start()
    try:
        result = conn.execute(statement, params).fetchone()
    finally:
        done.set()
        t.join()
    return peak[0], result


def test_pass_fit_memory_stays_flat_from_100k_to_1m_rows(conn):
    """The in-memory fit keeps 8 x features + 4 bytes a row; a pass keeps 1 + p + p^2 doubles."""
    conn.execute("DROP TABLE IF EXISTS pass_rows")
    conn.execute("CREATE TABLE pass_rows AS SELECT i, ARRAY[sin(i), cos(i * 0.3), sin(i * 0.7), (i % 13)::float8, "
                 "cos(i * 1.1), sin(i * 2.3)] AS x, sin(i * 1.7) + 0.05 * (i % 13) > 0.3 AS y "
                 "FROM generate_series(1, 1000000) i")
    peaks = {}
    for n in (100000, 1000000):
        source = f"(SELECT * FROM pass_rows WHERE i <= {n}) s"
        state = conn.execute("SELECT ml.logreg_start('{}')").fetchone()[0]
        first, (state,) = peak_rss_anon_kb(conn, f"SELECT ml.logreg_step(x, y, %s::bytea) FROM {source}", (state,))
        evaluation, (state,) = peak_rss_anon_kb(conn, f"SELECT ml.logreg_step(x, y, %s::bytea) FROM {source}", (state,))
        peaks[n] = max(first, evaluation)
    assert peaks[1000000] <= 1.2 * peaks[100000], peaks
    # the in-memory fit of the same rows, for scale: it holds 52 bytes a row (after the
    # passes were measured: malloc keeps what it freed)
    in_memory, _ = peak_rss_anon_kb(conn, "SELECT ml.logreg_fit(x, y) FROM pass_rows")
    assert in_memory - peaks[1000000] > 40 * 1024, (in_memory, peaks)


def test_trees_train_on_a_reproducible_sample_beyond_max_rows(conn):
    """max_rows: the training rows with the smallest hashes; the same sample, the same
    model, every time; recorded in the version. Beyond the memory setting ml.train picks
    a sample by itself."""
    def tree_train(project, hyperparams):
        conn.execute("SELECT ml.train(%s, 'pass_source', 'y', 'decision_tree', %s::jsonb, deploy => 'manual')",
                     (project, json.dumps(hyperparams)))
        return conn.execute("SELECT m.fit, m.model, m.train_rows, m.hyperparams, m.test_rows FROM ml.models m "
                            "JOIN ml.projects p ON p.id = m.project_id WHERE p.name = %s ORDER BY m.version DESC LIMIT 1",
                            (project,)).fetchone()
    full = tree_train("trees_sample", {"max_depth": 4})
    assert full[0] == {"fit": "memory", "passes": 1, "max_rows": None, "sampled": False, "rows": full[2]}
    assert full[2] + full[4] == 40000 and abs(full[2] - 30000) <= 2
    a = tree_train("trees_sample", {"max_depth": 4, "max_rows": 5000})
    b = tree_train("trees_sample", {"max_depth": 4, "max_rows": 5000})
    assert a[0]["sampled"] and a[0]["rows"] == 5000 and a[2] == 5000 and a[3]["max_rows"] == 5000
    assert a[4] == full[4]                      # the held-out rows are all evaluated
    assert a[1] == b[1]                         # reproducible
    assert a[1] != full[1]
    rows = conn.execute("SELECT ml.describe(%s::ml.model) ->> 'training_rows'", (a[1],)).fetchone()[0]
    assert int(rows) == 5000
    big = tree_train("trees_sample", {"max_depth": 4, "max_rows": 10 ** 9})
    assert not big[0]["sampled"] and big[2] == full[2]
    for bad in (0, -1, 1.5, "10", None):
        with pytest.raises(psycopg.errors.InvalidParameterValue, match="max_rows"):
            tree_train("trees_sample", {"max_rows": bad})
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="for the tree algorithms"):
        train(conn, "trees_sample_lr", "pass_source", {"max_rows": 10})
    # 30000 rows x 6 numeric features need 8 x 6 + 8 (the row) + 6 + 72 (the fit's scratch)
    # bytes a row: beyond half of 6 MB
    conn.execute("SET pgscore.max_training_memory = 6")
    try:
        notices = []
        conn.add_notice_handler(lambda d: notices.append(d.message_primary))
        auto = tree_train("trees_sample", {"max_depth": 4})
    finally:
        conn.execute("RESET pgscore.max_training_memory")
    assert auto[0]["sampled"] and auto[0]["max_rows"] == 3 * 1048576 // 134 == auto[2], auto[0]
    assert any("training on a sample" in n for n in notices), notices


def test_a_pass_is_cancelled_promptly(conn):
    state = conn.execute("SELECT ml.logreg_step(x, y, ml.logreg_start()) FROM pass_bin").fetchone()[0]
    conn.execute("SET statement_timeout = '200ms'")
    try:
        started = time.monotonic()
        with pytest.raises(psycopg.errors.QueryCanceled):
            conn.execute("SELECT ml.logreg_step(ARRAY[sin(i), cos(i), (i %% 7)::float8], i %% 3 = 0, %s::bytea) "
                         "FROM generate_series(1, 100000000) i", (state,))
        assert time.monotonic() - started < 5
    finally:
        conn.execute("RESET statement_timeout")
    assert conn.execute("SELECT 1").fetchone()[0] == 1
