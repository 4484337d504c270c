"""Group commit of predictions (PredictionBatcher): requests that queue behind the
statements in flight are scored, logged and committed by one statement, each answered
with its own rows, and only after that commit. The built daemon over real HTTP against
the private cluster; a table lock on ml.predictions makes the requests queue.
"""
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
import requests

from conftest import drop_database
from daemon_helpers import BIN, PATIENT, batch_sizes, daemon_starter, make_database

BATCH_DB = "pgscore_batching"
PREDICT = "/v1/projects/heart/predict"


@pytest.fixture(scope="module")
def batch_db():
    yield make_database(BATCH_DB)
    drop_database(BATCH_DB)


@pytest.fixture
def start_daemon(tmp_path, batch_db):
    with daemon_starter(tmp_path, BATCH_DB) as (start, _):
        yield start


def wait_for_waiters(dsn, n, timeout=20):
    deadline = time.monotonic() + timeout
    with psycopg.connect(dsn, autocommit=True) as c:
        while time.monotonic() < deadline:
            if c.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pgscore serve' "
                         "AND wait_event_type = 'Lock'").fetchone()[0] >= n:
                return
            time.sleep(0.02)
    raise AssertionError("the requests did not reach the database")


def queue_behind_a_lock(dsn, url, bodies, *, request_ids):
    """One request in flight on the only lane (blocked by a lock on ml.predictions), then
    `bodies` queued behind it; the lock is released once they all wait. Answers in order."""
    lock = psycopg.connect(dsn)
    lock.execute("LOCK TABLE ml.predictions IN ACCESS EXCLUSIVE MODE")
    with ThreadPoolExecutor(len(bodies) + 1) as pool:
        try:
            first = pool.submit(requests.post, url + PREDICT, json=PATIENT, timeout=30,
                                headers={"X-Request-Id": "first"})
            wait_for_waiters(dsn, 1)
            answers = [pool.submit(requests.post, url + PREDICT, json=body, timeout=30,
                                   headers={"X-Request-Id": rid}) for body, rid in zip(bodies, request_ids)]
            time.sleep(0.5)                    # they are queued in the daemon (one lane is busy)
        finally:
            lock.rollback()
            lock.close()
        assert first.result().status_code == 200
        return [a.result() for a in answers]


def test_queued_requests_share_one_statement_and_each_gets_its_own_rows(start_daemon, batch_db):
    d = start_daemon("--open-predict", "--batch-lanes", "1")
    assert requests.post(d.url + PREDICT, json=PATIENT).status_code == 200     # the spec is known now
    _, before = batch_sizes(d.url)
    patients = [dict(PATIENT, age=30 + i, chol=150 + 10 * i) for i in range(12)]
    answers = queue_behind_a_lock(batch_db, d.url, patients, request_ids=[f"q-{i}" for i in range(12)])
    assert [a.status_code for a in answers] == [200] * 12, [a.text for a in answers]
    buckets, after = batch_sizes(d.url)
    # the first request and one batch of the twelve queued behind it
    assert after - before == 2, (before, after, buckets)
    assert buckets[8.0] < buckets[16.0], buckets
    with psycopg.connect(batch_db, autocommit=True) as c:
        for i, a in enumerate(answers):
            body = a.json()
            row = c.execute("SELECT request_id, (features ->> 'age')::int, prediction, "
                            "prediction = ml.predict('heart', features)::text "
                            "FROM ml.predictions WHERE public_id = %s", (body["prediction_id"],)).fetchone()
            # each answer is its own row: its request id, its features, its prediction
            assert row == (f"q-{i}", 30 + i, body["prediction"], True), (i, row, body)
        assert c.execute("SELECT count(*) FROM ml.predictions WHERE request_id LIKE 'q-%'").fetchone()[0] == 12


def test_a_failing_request_does_not_fail_the_others_in_its_batch(start_daemon, batch_db):
    # a row-level failure inside the statement, for some requests only
    with psycopg.connect(batch_db, autocommit=True) as c:
        c.execute("""CREATE FUNCTION pg_temp_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
                     BEGIN
                       IF NEW.request_id LIKE 'bad-%' THEN
                         RAISE EXCEPTION 'refused %', NEW.request_id USING ERRCODE = '22023';
                       END IF;
                       RETURN NEW;
                     END $$""")
        c.execute("CREATE TRIGGER refuse BEFORE INSERT ON ml.predictions FOR EACH ROW EXECUTE FUNCTION pg_temp_refuse()")
    try:
        d = start_daemon("--open-predict", "--batch-lanes", "1")
        assert requests.post(d.url + PREDICT, json=PATIENT).status_code == 200
        ids = [("bad-" if i % 3 == 0 else "good-") + str(i) for i in range(9)]
        answers = queue_behind_a_lock(batch_db, d.url, [PATIENT] * 9, request_ids=ids)
        for rid, a in zip(ids, answers):
            if rid.startswith("bad-"):
                assert a.status_code == 422, (rid, a.status_code, a.text)
                assert f"refused {rid}" in a.json()["detail"]
            else:
                assert a.status_code == 200, (rid, a.status_code, a.text)
        with psycopg.connect(batch_db, autocommit=True) as c:
            logged = {r for (r,) in c.execute(
                "SELECT request_id FROM ml.predictions WHERE request_id ~ '^(bad|good)-'").fetchall()}
        assert logged == {r for r in ids if r.startswith("good-")}
    finally:
        with psycopg.connect(batch_db, autocommit=True) as c:
            c.execute("DROP TRIGGER refuse ON ml.predictions")
            c.execute("DROP FUNCTION pg_temp_refuse()")


def test_a_queued_request_waits_no_longer_than_the_queue_timeout(start_daemon, batch_db):
    d = start_daemon("--open-predict", "--batch-lanes", "1", "--queue-timeout-ms", "300")
    assert requests.post(d.url + PREDICT, json=PATIENT).status_code == 200
    lock = psycopg.connect(batch_db)
    lock.execute("LOCK TABLE ml.predictions IN ACCESS EXCLUSIVE MODE")
    try:
        holder = threading.Thread(target=requests.post, args=(d.url + PREDICT,), kwargs={"json": PATIENT, "timeout": 30})
        holder.start()
        wait_for_waiters(batch_db, 1)
        started = time.monotonic()
        r = requests.post(d.url + PREDICT, json=PATIENT, timeout=10, headers={"X-Request-Id": "timed-out"})
        assert time.monotonic() - started < 3
        assert r.status_code == 503 and int(r.headers["Retry-After"]) >= 1, r.text
    finally:
        lock.rollback()
        lock.close()
    holder.join(30)
    with psycopg.connect(batch_db, autocommit=True) as c:
        assert c.execute("SELECT count(*) FROM ml.predictions WHERE request_id = 'timed-out'").fetchone()[0] == 0


def test_batching_can_be_turned_off(start_daemon, batch_db):
    d = start_daemon("--open-predict", "--batch-max-size", "1", "--batch-lanes", "1")
    assert requests.post(d.url + PREDICT, json=PATIENT).status_code == 200
    answers = queue_behind_a_lock(batch_db, d.url, [PATIENT] * 4, request_ids=[f"off-{i}" for i in range(4)])
    assert [a.status_code for a in answers] == [200] * 4
    buckets, total = batch_sizes(d.url)
    assert buckets[1.0] == total, buckets          # every statement carried one request


def test_settings_are_checked():
    for args, message in ((["--batch-max-size", "0"], "--batch-max-size must be 1...10000"),
                          (["--batch-lanes", "0"], "--batch-lanes must be at least 1"),
                          (["--batch-max-wait-ms", "5000"], "--batch-max-wait-ms must be 0...1000")):
        out = subprocess.run([str(BIN), "serve", "--open-predict", *args], capture_output=True, text=True, timeout=30)
        assert out.returncode != 0 and message in out.stderr, (args, out.returncode, out.stderr)
