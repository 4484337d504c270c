"""The prediction log (ml.predictions, ml.feedback) partitioned by day with a retention:
the daemon makes the partitions ahead, ml.maintain_prediction_log drops those past
ml.set_retention while the gateway writes, windows read recent partitions only, and
every row survives pg_dump | pg_restore. Real daemon, real HTTP, the private cluster.
"""
import subprocess
import threading
import time

import psycopg
import pytest
import requests

from conftest import drop_database, dsn, pg_bin
from daemon_helpers import PATIENT, daemon_starter, make_database

LOG_DB = "pgscore_prediction_log"
PREDICT = "/v1/projects/heart/predict"


@pytest.fixture(scope="module")
def log_db():
    yield make_database(LOG_DB)
    drop_database(LOG_DB)


@pytest.fixture
def start_daemon(tmp_path, log_db):
    with daemon_starter(tmp_path, LOG_DB) as (start, _):
        yield start


def partitions(c):
    return {name: bound for name, bound in c.execute(
        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'ml.predictions'::regclass").fetchall()}


def test_the_daemon_makes_the_partitions_of_today_and_the_next_two_days(start_daemon, log_db):
    start_daemon("--open-predict")
    with psycopg.connect(log_db, autocommit=True) as c:
        days = [d for (d,) in c.execute(
            "SELECT 'predictions_' || to_char((now() AT TIME ZONE 'UTC')::date + i, 'YYYYMMDD') "
            "FROM generate_series(0, 2) i").fetchall()]
        deadline = time.monotonic() + 20
        while not set(days) <= set(partitions(c)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert set(days) <= set(partitions(c)), partitions(c)
        assert "predictions_default" in partitions(c)
        # a recent window reads the recent partitions only
        plan = "\n".join(r for (r,) in c.execute(
            "EXPLAIN (ANALYZE, COSTS OFF) SELECT count(*) FROM ml.predictions "
            "WHERE created_at > now() - interval '5 minutes'").fetchall())
        assert "predictions_default" in plan and days[0] in plan, plan
        older = c.execute("SELECT ml.maintain_prediction_log(now() - interval '20 days')").fetchone()
        assert older is not None
        plan = "\n".join(r for (r,) in c.execute(
            "EXPLAIN (COSTS OFF) SELECT count(*) FROM ml.predictions "
            "WHERE created_at > now() - interval '5 minutes'").fetchall())
        assert "Subplans Removed" in plan, plan


def test_retention_drops_old_partitions_while_the_gateway_writes(start_daemon, log_db):
    d = start_daemon("--open-predict")
    with psycopg.connect(log_db, autocommit=True) as c:
        c.execute("SELECT ml.maintain_prediction_log(now() - interval '10 days')")
        # old predictions with feedback: in the old partitions, and some in the default one
        c.execute("""INSERT INTO ml.predictions (project, version, features, prediction, request_id, created_at)
                     SELECT 'heart', 1, '{}', 'true', 'old', now() - interval '10 days' + g * interval '1 second'
                       FROM generate_series(1, 500) g""")
        old_partition = c.execute("SELECT DISTINCT tableoid::regclass::text FROM ml.predictions "
                                  "WHERE request_id = 'old'").fetchall()
        assert len(old_partition) == 1 and old_partition[0][0] != "ml.predictions_default", old_partition
        c.execute("""INSERT INTO ml.predictions (project, version, features, prediction, request_id, created_at)
                     SELECT 'heart', 1, '{}', 'true', 'old-default', now() - interval '40 days' FROM generate_series(1, 20)""")
        c.execute("INSERT INTO ml.feedback (prediction_id, label) SELECT id, 'true' FROM ml.predictions "
                  "WHERE request_id LIKE 'old%'")
        recent_before = c.execute("SELECT count(*) FROM ml.predictions WHERE request_id NOT LIKE 'old%'").fetchone()[0]

    answered, failures, stop = [], [], threading.Event()

    def load():
        with requests.Session() as s:
            while not stop.is_set():
                r = s.post(d.url + PREDICT, json=PATIENT, timeout=10)
                (answered if r.status_code == 200 else failures).append(r)

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        time.sleep(1)
        with psycopg.connect(log_db, autocommit=True) as c:
            c.execute("SELECT ml.set_retention('3 days')")
            created, dropped, deleted = c.execute("SELECT * FROM ml.maintain_prediction_log()").fetchone()
        time.sleep(1)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert not failures, [(r.status_code, r.text) for r in failures[:3]]
    assert len(answered) > 20
    assert old_partition[0][0].split(".")[1] in dropped, dropped
    assert deleted == 20
    with psycopg.connect(log_db, autocommit=True) as c:
        assert c.execute("SELECT count(*) FROM ml.predictions WHERE request_id LIKE 'old%'").fetchone()[0] == 0
        assert c.execute("SELECT count(*) FROM ml.feedback f WHERE NOT EXISTS "
                         "(SELECT 1 FROM ml.predictions p WHERE p.id = f.prediction_id)").fetchone()[0] == 0
        ids = [r.json()["prediction_id"] for r in answered]
        found = c.execute("SELECT count(*) FROM ml.predictions WHERE public_id = ANY(%s::uuid[])", (ids,)).fetchone()[0]
        assert found == len(ids)                           # every acknowledged prediction is kept
        assert c.execute("SELECT count(*) FROM ml.predictions WHERE request_id NOT LIKE 'old%'").fetchone()[0] \
            == recent_before + len(ids)
        c.execute("SELECT ml.set_retention(NULL)")


def test_the_log_is_guarded(log_db):
    with psycopg.connect(log_db, autocommit=True) as c:
        with pytest.raises(psycopg.errors.InvalidParameterValue):
            c.execute("SELECT ml.maintain_prediction_log(now() + interval '1 year')")
        with pytest.raises(psycopg.errors.CheckViolation):
            c.execute("SELECT ml.set_retention('-1 day')")
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            c.execute("INSERT INTO ml.feedback (prediction_id, label) VALUES (-1, 'true')")
        c.execute("DROP ROLE IF EXISTS log_scorer")
        c.execute("CREATE ROLE log_scorer LOGIN")
        c.execute("SELECT ml.grant_predict('log_scorer')")
    try:
        with psycopg.connect(log_db, user="log_scorer", autocommit=True) as c:
            for sql in ("SELECT ml.maintain_prediction_log()", "SELECT ml.set_retention('1 day')"):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    c.execute(sql)
    finally:
        with psycopg.connect(log_db, autocommit=True) as c:
            c.execute("DROP OWNED BY log_scorer")
            c.execute("DROP ROLE log_scorer")


def test_partitions_and_feedback_survive_dump_and_restore(log_db, tmp_path):
    with psycopg.connect(log_db, autocommit=True) as c:
        c.execute("SELECT ml.maintain_prediction_log()")
        c.execute("INSERT INTO ml.predictions (project, version, features, prediction, request_id) "
                  "SELECT 'heart', 1, '{\"age\": 1}', 'true', 'dump' FROM generate_series(1, 30)")
        c.execute("INSERT INTO ml.feedback (prediction_id, label) SELECT id, 'false' FROM ml.predictions "
                  "WHERE request_id = 'dump'")
        c.execute("SELECT ml.set_retention('90 days')")
        before = c.execute("SELECT tableoid::regclass::text, count(*) FROM ml.predictions GROUP BY 1 ORDER BY 1").fetchall()
        feedback = c.execute("SELECT count(*) FROM ml.feedback").fetchone()[0]
    dump = tmp_path / "log.dump"
    subprocess.run([pg_bin("pg_dump"), "-Fc", "-d", log_db, "-f", str(dump)], check=True)
    restored = "pgscore_prediction_log_restored"
    drop_database(restored)
    with psycopg.connect(dsn("postgres"), autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {restored}")
    try:
        out = subprocess.run([pg_bin("pg_restore"), "-d", dsn(restored), str(dump)], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        with psycopg.connect(dsn(restored), autocommit=True) as c:
            assert c.execute("SELECT tableoid::regclass::text, count(*) FROM ml.predictions GROUP BY 1 ORDER BY 1"
                             ).fetchall() == before
            assert c.execute("SELECT count(*) FROM ml.feedback").fetchone()[0] == feedback
            assert c.execute("SELECT retention FROM ml.prediction_log").fetchone()[0].days == 90
            # the restored log keeps working
            c.execute("SELECT ml.maintain_prediction_log()")
            c.execute("INSERT INTO ml.predictions (project, version, features) VALUES ('heart', 1, '{}')")
    finally:
        with psycopg.connect(log_db, autocommit=True) as c:
            c.execute("SELECT ml.set_retention(NULL)")
        drop_database(restored)
