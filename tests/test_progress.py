"""Progress of long fits: ml.fits_in_progress shows a running fit to other sessions (phase,
pass, rows read, elapsed time) and forgets it when the fit ends, also by an error;
pgscore.progress_every adds NOTICEs every N passes and every N million rows."""
import threading
import time

import psycopg
import pytest

from conftest import watched_database


@pytest.fixture(scope="module")
def db():
    with watched_database("pgscore_progress") as url:
        with psycopg.connect(url, autocommit=True) as c:
            c.execute("CREATE TABLE prog_rows AS SELECT sin(i) AS a, cos(i * 0.3) AS b, (i % 9)::float8 AS c, "
                      "sin(i * 1.7) + 0.1 * (i % 9) > 0.3 AS y FROM generate_series(1, 300000) i")
        yield url


def watch(url, busy_pid, stop):
    """Polls the view from another session until `stop`; every row seen for busy_pid."""
    seen = []
    with psycopg.connect(url, autocommit=True) as c:
        while not stop.is_set():
            for row in c.execute("SELECT pid, algorithm, phase, pass, rows_read, rows_per_pass, "
                                 "extract(epoch FROM elapsed), role FROM ml.fits_in_progress").fetchall():
                if row[0] == busy_pid:
                    seen.append(row)
            time.sleep(0.01)
    return seen


def run_watched(url, statement):
    with psycopg.connect(url, autocommit=True) as busy:
        pid = busy.execute("SELECT pg_backend_pid()").fetchone()[0]
        stop = threading.Event()
        result = {}
        t = threading.Thread(target=lambda: result.setdefault("seen", watch(url, pid, stop)))
        t.start()
        try:
            busy.execute(statement)
        finally:
            time.sleep(0.05)
            stop.set()
            t.join()
        with psycopg.connect(url, autocommit=True) as c:
            after = c.execute("SELECT count(*) FROM ml.fits_in_progress WHERE pid = %s", (pid,)).fetchone()[0]
        return result["seen"], after


def test_view_shows_the_passes_of_a_running_train(db):
    seen, after = run_watched(db, "SELECT ml.train('prog', 'prog_rows', 'y', 'logistic_regression', "
                                  "'{\"fit\": \"passes\"}', deploy => 'manual')")
    assert seen, "the fit never showed"
    assert {r[1] for r in seen} == {"logistic_regression"}
    assert {r[7] for r in seen} == {"pgscore"}
    fitting = [r for r in seen if r[2] == "fitting"]
    assert fitting and max(r[3] for r in fitting) >= 2, seen[-5:]
    assert any(r[4] > 0 for r in fitting), "rows read never moved"
    assert max(r[4] for r in fitting) <= 225000
    assert any(r[5] == 225000 for r in fitting if r[3] >= 1)   # the training rows of a pass
    elapsed = [r[6] for r in seen]
    assert elapsed == sorted(elapsed) and elapsed[-1] > 0
    assert after == 0


def test_view_shows_a_training_aggregate_on_its_own(db):
    seen, after = run_watched(db, "SELECT ml.nb_fit(ARRAY[sin(i), cos(i)], i % 3 = 0) FROM generate_series(1, 1500000) i")
    assert seen and {r[1] for r in seen} == {"naive_bayes"} and {r[2] for r in seen} == {"fitting"}
    assert max(r[4] for r in seen) > 0
    assert after == 0


def test_an_error_ends_the_report(db):
    with psycopg.connect(db, autocommit=True) as busy:
        pid = busy.execute("SELECT pg_backend_pid()").fetchone()[0]
        busy.execute("SET statement_timeout = '300ms'")
        with pytest.raises(psycopg.errors.QueryCanceled):
            busy.execute("SELECT ml.logreg_fit(ARRAY[sin(i), cos(i)], i % 3 = 0) FROM generate_series(1, 50000000) i")
        with psycopg.connect(db, autocommit=True) as c:
            assert c.execute("SELECT count(*) FROM ml.fits_in_progress WHERE pid = %s", (pid,)).fetchone()[0] == 0


def test_other_roles_do_not_see_a_fit(db):
    with psycopg.connect(db, autocommit=True) as c:
        c.execute("DROP ROLE IF EXISTS prog_watcher")
        c.execute("CREATE ROLE prog_watcher LOGIN")
        c.execute("SELECT ml.grant_train('prog_watcher')")
    try:
        with psycopg.connect(db, autocommit=True) as busy:
            pid = busy.execute("SELECT pg_backend_pid()").fetchone()[0]
            stop = threading.Event()
            seen = {}

            def look():
                with psycopg.connect(db, autocommit=True) as w:
                    w.execute("SET ROLE prog_watcher")
                    mine = []
                    while not stop.is_set():
                        mine += w.execute("SELECT pid FROM ml.fits_in_progress").fetchall()
                        time.sleep(0.01)
                    seen["watcher"] = mine

            t = threading.Thread(target=look)
            t.start()
            try:
                busy.execute("SELECT ml.nb_fit(ARRAY[sin(i)], i % 2 = 0) FROM generate_series(1, 1000000) i")
            finally:
                stop.set()
                t.join()
        assert (pid,) not in seen["watcher"]
    finally:
        with psycopg.connect(db, autocommit=True) as c:
            c.execute("DROP OWNED BY prog_watcher")
            c.execute("DROP ROLE prog_watcher")


def test_progress_notices(db):
    with psycopg.connect(db, autocommit=True) as c:
        notices = []
        c.add_notice_handler(lambda d: notices.append(d.message_primary))
        c.execute("SET pgscore.progress_every = 1")
        c.execute("SELECT ml.train('prog_notice', '(SELECT * FROM prog_rows LIMIT 5000)', 'y', 'logistic_regression', "
                  "'{\"fit\": \"passes\"}', deploy => 'manual')")
        passes = c.execute("SELECT (fit ->> 'passes')::int FROM ml.versions WHERE project = 'prog_notice'").fetchone()[0]
        done = [n for n in notices if "pass" in n and "done" in n]
        assert len(done) == passes and "pass 1 done" in done[0], notices
        assert "phase" in done[-1] and "done" in done[-1]
        notices.clear()
        c.execute("SELECT ml.linreg_fit(ARRAY[sin(i)], cos(i)) FROM generate_series(1, 2000000) i")
        assert notices == ["ml.linreg_fit: 1 million rows read", "ml.linreg_fit: 2 million rows read"], notices
        c.execute("SET pgscore.progress_every = 2")
        notices.clear()
        c.execute("SELECT ml.linreg_fit(ARRAY[sin(i)], cos(i)) FROM generate_series(1, 2000000) i")
        assert notices == ["ml.linreg_fit: 2 million rows read"], notices
        c.execute("RESET pgscore.progress_every")
        notices.clear()
        c.execute("SELECT ml.linreg_fit(ARRAY[sin(i)], cos(i)) FROM generate_series(1, 2000000) i")
        assert notices == []
