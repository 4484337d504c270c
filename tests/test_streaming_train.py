"""ml.train reads its source in passes, never as a copy (issue 17, part 3).

Each step of a training is one aggregate statement over the source, run as the source's
role under one snapshot: a source too large for temp_file_limit to hold a copy trains,
rows other sessions commit meanwhile change nothing, and the trust boundary holds.
"""
import threading
import time

import psycopg
import pytest

from conftest import create_database, drop_database

DB = "pgscore_streaming"


@pytest.fixture(scope="module")
def db():
    dsn = create_database(DB)
    yield dsn
    drop_database(DB)


def version_row(c, project, version):
    return c.execute(
        "SELECT m.train_rows, m.test_rows, m.fingerprint, ml.describe(m.model) -> 'coefficients', m.score"
        "  FROM ml.models m JOIN ml.projects p ON p.id = m.project_id WHERE p.name = %s AND m.version = %s",
        (project, version)).fetchone()


def test_a_source_larger_than_temp_file_limit_allows_for_a_copy_trains(db):
    with psycopg.connect(db, autocommit=True) as c:
        # about 65 MB: 60,000 rows of 1 kB (a text column the training excludes)
        c.execute("CREATE TABLE wide AS SELECT g AS id, (g % 97)::float8 AS x1, (g % 89)::float8 / 7 AS x2, "
                  "((g * 7) % 83)::float8 AS x3, (g % 97) + (g % 89) / 7.0 > 55 AS y, "
                  "repeat(md5(g::text), 31) AS pad FROM generate_series(1, 60000) g")
        assert c.execute("SELECT pg_table_size('wide')").fetchone()[0] > 60e6
        c.execute("SET temp_file_limit = '2MB'")
        c.execute("SET work_mem = '16MB'")
        # what a copy with the split of whole rows needed: a sort of every row
        with pytest.raises(psycopg.Error) as e:
            c.execute("CREATE TEMP TABLE copied AS SELECT s.*, row_number() OVER w AS r FROM wide s "
                      "WINDOW w AS (PARTITION BY s.y ORDER BY hashtextextended((s.*)::text, 42), (s.*)::text)")
        assert e.value.sqlstate == "53400" and "temp_file_limit" in str(e.value)
        r = c.execute("SELECT version, score FROM ml.train('wide', 'wide', 'y', 'logistic_regression', "
                      "exclude => ARRAY['id', 'pad'])").fetchone()
        assert r[0] == 1 and r[1] > 0.9
        train_rows, test_rows, *_ = version_row(c, "wide", 1)
        assert (train_rows, test_rows) == (45000, 15000)


def test_rows_committed_by_another_session_during_a_training_change_nothing(db):
    with psycopg.connect(db, autocommit=True) as c:
        c.execute("CREATE TABLE growing AS SELECT g AS id, (g % 11)::float8 AS x1, (g % 13)::float8 AS x2, "
                  "(g % 11) + (g % 13) > 11 AS y FROM generate_series(1, 2000) g")
        c.execute("CREATE TABLE frozen AS SELECT * FROM growing")
        # the same rows, frozen: the model the training must give
        c.execute("SELECT ml.train('frozen', '(SELECT * FROM frozen)', 'y', 'logistic_regression', "
                  "hyperparams => '{\"fit\": \"passes\"}', exclude => ARRAY['id'])")
        expected = version_row(c, "frozen", 1)

        # every pass of this source waits 0.2 s once (an InitPlan), so the training runs
        # for seconds; another session commits 1,000 rows of another pattern meanwhile
        inserted = {}

        def insert_meanwhile():
            time.sleep(1.0)
            with psycopg.connect(db, autocommit=True) as other:
                other.execute("INSERT INTO growing SELECT g, g % 3, g % 2, g % 3 = 0 FROM generate_series(2001, 3000) g")
            inserted["at"] = time.monotonic()

        writer = threading.Thread(target=insert_meanwhile)
        started = time.monotonic()
        writer.start()
        c.execute("SELECT ml.train('growing', '(SELECT * FROM growing WHERE (SELECT count(*) FROM pg_sleep(0.2)) = 1)', "
                  "'y', 'logistic_regression', hyperparams => '{\"fit\": \"passes\"}', exclude => ARRAY['id'])")
        finished = time.monotonic()
        writer.join()
        assert started < inserted["at"] < finished, "the insert must commit while the training runs"
        assert c.execute("SELECT count(*) FROM growing").fetchone()[0] == 3000
        assert version_row(c, "growing", 1) == expected
        # a training now sees the new rows
        c.execute("SELECT ml.train('growing', 'growing', 'y', 'logistic_regression', exclude => ARRAY['id'])")
        assert sum(version_row(c, "growing", 2)[:2]) == 3000


@pytest.fixture
def trainer(db):
    with psycopg.connect(db, autocommit=True) as su:
        su.execute("DROP ROLE IF EXISTS stream_trainer")
        su.execute("CREATE ROLE stream_trainer LOGIN")
        su.execute("SELECT ml.grant_train('stream_trainer')")
        su.execute("CREATE TABLE IF NOT EXISTS secret AS SELECT g AS x, g % 2 = 0 AS y FROM generate_series(1, 100) g")
        su.execute("CREATE TABLE IF NOT EXISTS open_rows AS SELECT g AS x, g % 2 = 0 AS y FROM generate_series(1, 100) g")
        su.execute("GRANT SELECT ON open_rows TO stream_trainer")
    with psycopg.connect(db + " user=stream_trainer", autocommit=True) as t:
        yield t
    with psycopg.connect(db, autocommit=True) as su:
        su.execute("DELETE FROM ml.training_runs")
        su.execute("DROP OWNED BY stream_trainer CASCADE")
        su.execute("DROP ROLE stream_trainer")


@pytest.mark.parametrize("source, sqlstate", [
    # a table only the definer may read, directly and behind the passes' own subqueries
    ("(SELECT * FROM secret)", "42501"),
    ("(SELECT o.* FROM open_rows o WHERE EXISTS (SELECT 1 FROM secret))", "42501"),
    # becoming someone else from inside a pass
    ("(SELECT o.*, set_config('role', 'pgscore', true) AS r FROM open_rows o)", "42501"),
    ("(SELECT o.*, set_config('session_authorization', 'pgscore', true) AS r FROM open_rows o)", "42501"),
])
def test_every_pass_runs_with_the_trainers_rights_only(db, trainer, source, sqlstate):
    with pytest.raises(psycopg.Error) as e:
        trainer.execute("SELECT ml.train('stream_attack', %s, 'y', exclude => ARRAY['r'])", (source,))
    assert e.value.sqlstate == sqlstate, str(e.value)
    assert trainer.execute("SELECT current_user").fetchone()[0] == "stream_trainer"
    # and the trainer's own readable rows still train, in the same session
    assert trainer.execute("SELECT version FROM ml.train('stream_ok', 'open_rows', 'y')").fetchone()[0] >= 1
