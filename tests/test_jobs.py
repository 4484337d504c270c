"""The daemon's jobs, end to end with real daemons on the private cluster: schedules run
each slot exactly once across replicas, a killed daemon's run is failed and retried
with no half-written version, rows that arrive while no daemon runs are trained on
once one starts, and the monitors catch a degradation (rolling back) and a drifted
feature. The daemon is built by `make daemon` (make test does it first).
"""
import json
import os
import time

import psycopg
import pytest
import requests

from conftest import drop_database
from daemon_helpers import FEATURES, Daemon, create_key, make_database

JOBS_DB = "pgscore_jobs"
HEART_PARAMS = {"source": "heart_labelled", "label": "sick", "exclude": ["num"]}


@pytest.fixture(scope="module")
def jobs_db():
    yield make_database(JOBS_DB)
    if not os.environ.get("PGSCORE_KEEP_TEST_DB"):
        drop_database(JOBS_DB)


@pytest.fixture(scope="module")
def auth(jobs_db):
    """Headers with a train-scope key (records, runs, monitors' views)."""
    return {"Authorization": "Bearer " + create_key("train", "jobs tests", dbname=JOBS_DB)[1]}


@pytest.fixture
def daemons(tmp_path, jobs_db):
    started = []

    def start(*args):
        d = Daemon(tmp_path, "--open-predict", "--jobs-poll-ms", "200", "--monitor-interval-ms", "200", *args,
                   dbname=JOBS_DB)
        started.append(d)
        return d

    yield start
    for d in started:
        d.stop()


def wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def query(dsn, sql, params=()):
    with psycopg.connect(dsn, autocommit=True) as c:
        cur = c.execute(sql, params)
        return cur.fetchall() if cur.description else []


def idle(dsn, project):
    return query(dsn, "SELECT count(*) = 0 FROM ml.training_runs WHERE project = %s AND status IN ('queued', 'running')",
                 (project,))[0][0]


# ---------------------------------------------------------------- schedules

def test_two_replicas_run_each_schedule_slot_exactly_once(daemons, jobs_db, auth):
    a = daemons("--worker-id", "replica-a")
    b = daemons("--worker-id", "replica-b")
    (schedule,), = query(jobs_db, "SELECT ml.schedule('every_second', '1 second', %s, deploy => 'manual')",
                         (json.dumps(HEART_PARAMS),))
    time.sleep(30)
    query(jobs_db, "SELECT ml.pause_schedule(%s)", (schedule,))
    wait_until(lambda: idle(jobs_db, "every_second"), 30, "the last runs to end")

    runs = query(jobs_db, """SELECT id, due_at, attempt, status, missed, version, claimed_by, error
                               FROM ml.training_runs WHERE schedule_id = %s ORDER BY due_at""", (schedule,))
    assert all(r[3] == "succeeded" for r in runs), [r for r in runs if r[3] != "succeeded"]
    slots = [r[1] for r in runs]
    assert len(slots) == len(set(slots)), "a slot ran twice"
    covered = sum(1 + r[4] for r in runs)           # a catch-up run covers the slots it missed
    assert 28 <= covered <= 32, (covered, len(runs))
    assert len(runs) >= 20, "most slots should run on time, not as catch-ups"
    # every run trained exactly once: one version per run, no other version
    versions = [r[5] for r in runs]
    (made,), = query(jobs_db, "SELECT count(*) FROM ml.models m JOIN ml.projects p ON p.id = m.project_id "
                              "WHERE p.name = 'every_second'")
    assert made == len(runs) and len(set(versions)) == len(runs)
    assert {r[6] for r in runs} == {"replica-a", "replica-b"}, "both replicas take runs"
    # the schedule as the REST gateway shows it
    r = requests.get(a.url + "/v1/projects/every_second/schedules", headers=auth)
    assert r.status_code == 200 and r.json()["schedules"][0]["paused"] is True
    r = requests.get(b.url + "/v1/projects/every_second/runs?limit=5", headers=auth)
    assert r.status_code == 200 and len(r.json()["runs"]) == 5
    assert all(run["status"] == "succeeded" for run in r.json()["runs"])


def test_a_daemon_killed_during_training_leaves_a_failed_run_that_is_retried(daemons, jobs_db, tmp_path):
    (schedule,), = query(jobs_db, """SELECT ml.schedule('killed', '1 hour', %s, deploy => 'most_recent',
                                                       retry_backoff => '1 second')""", (json.dumps(HEART_PARAMS),))
    lock = psycopg.connect(jobs_db)
    lock.execute("LOCK TABLE heart_raw IN ACCESS EXCLUSIVE MODE")        # ml.train waits on it
    try:
        first = daemons("--worker-id", "doomed")
        query(jobs_db, "UPDATE ml.schedules SET next_run_at = now() WHERE id = %s", (schedule,))
        query(jobs_db, "NOTIFY pgscore_jobs")
        run_id, pid = wait_until(
            lambda: (query(jobs_db, "SELECT id, backend_pid FROM ml.training_runs WHERE schedule_id = %s "
                                    "AND status = 'running'", (schedule,)) or [None])[0],
            20, "the scheduled run to start")
        first.kill()
        # the server notices the vanished client (client_connection_check_interval) and
        # aborts the training before it could commit anything
        wait_until(lambda: not query(jobs_db, "SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)),
                   10, "the killed daemon's training backend to end")
    finally:
        lock.rollback()
        lock.close()
    daemons("--worker-id", "survivor")
    retry = wait_until(
        lambda: (query(jobs_db, "SELECT id, status, attempt, claimed_by, version FROM ml.training_runs "
                                "WHERE retry_of = %s AND status = 'succeeded'", (run_id,)) or [None])[0],
        30, "the retry to succeed")
    assert retry[2] == 2 and retry[3] == "survivor"
    status, error = query(jobs_db, "SELECT status, error FROM ml.training_runs WHERE id = %s", (run_id,))[0]
    assert status == "failed" and "went away" in error
    # no half-written version: the retry's is the only one
    assert query(jobs_db, "SELECT array_agg(m.version) FROM ml.models m JOIN ml.projects p ON p.id = m.project_id "
                          "WHERE p.name = 'killed'")[0][0] == [retry[4]]


# ---------------------------------------------------------------- event-driven training

def test_rows_sent_while_no_daemon_runs_are_trained_once_one_starts(daemons, jobs_db, auth):
    with psycopg.connect(jobs_db, autocommit=True) as c:
        c.execute(f"CREATE TABLE readings AS SELECT {', '.join(FEATURES)}, num > 0 AS sick FROM heart_raw WITH NO DATA")
        c.execute("SELECT ml.train_on_events('readings', 'readings', '{\"label\": \"sick\"}', after_rows => 100)")
        c.execute(f"INSERT INTO readings SELECT {', '.join(FEATURES)}, num > 0 FROM heart_raw ORDER BY ctid LIMIT 150")
        assert c.execute("SELECT sum(rows) FROM ml.training_events WHERE project = 'readings' AND run_id IS NULL"
                         ).fetchone()[0] == 150
        assert c.execute("SELECT count(*) FROM ml.training_runs WHERE project = 'readings'").fetchone()[0] == 0
        rest = c.execute(f"SELECT {', '.join(FEATURES)}, num > 0 AS sick FROM heart_raw ORDER BY ctid OFFSET 150"
                         ).fetchall()
    d = daemons()
    first = wait_until(lambda: query(jobs_db, "SELECT id, rows FROM ml.training_runs WHERE project = 'readings' "
                                              "AND kind = 'event' AND status = 'succeeded'"), 30, "the event run")
    assert [row[1] for row in first] == [150]

    # more labelled records through the gateway: a second run on all of them
    records = [dict(zip(FEATURES + ["sick"], row)) for row in rest]
    r = requests.post(d.url + "/v1/projects/readings/records", json={"records": records}, headers=auth)
    assert r.status_code == 202 and r.json()["accepted"] == len(rest)
    runs = wait_until(lambda: (lambda rows: rows if len(rows) == 2 else None)(
        query(jobs_db, "SELECT rows FROM ml.training_runs WHERE project = 'readings' AND status = 'succeeded' "
                       "ORDER BY id")), 30, "the second event run")
    assert runs[1][0] == 150 + len(rest)
    # a record the table cannot take is a 422 and stores nothing
    r = requests.post(d.url + "/v1/projects/readings/records", json=[{"age": 50, "no_such_column": 1}], headers=auth)
    assert r.status_code == 422 and "no_such_column" in r.json()["detail"]
    r = requests.post(d.url + "/v1/projects/nobody/records", json=[{"age": 50}], headers=auth)
    assert r.status_code == 404


# ---------------------------------------------------------------- monitoring

def predict(url, rows):
    ids = []
    for features in rows:
        r = requests.post(url + "/v1/projects/heart/predict", json=features)
        assert r.status_code == 200, r.text
        ids.append((r.json()["prediction_id"], r.json()["prediction"]))
    return ids


def test_a_degradation_is_caught_within_one_window_and_rolled_back(daemons, jobs_db, auth):
    with psycopg.connect(jobs_db, autocommit=True) as c:
        c.execute("SELECT ml.train('heart', 'heart_labelled', 'sick', exclude => ARRAY['num'], "
                  "algorithm => 'random_forest', deploy => 'most_recent')")
        assert c.execute("SELECT ml.deployed_version('heart')").fetchone()[0] == 2
        c.execute("SELECT ml.monitor('heart', window_size => '8 seconds', min_labels => 20, max_drop => 0.15, "
                  "action => 'rollback', every => '1 second', drift_threshold => NULL)")
        rows = c.execute(f"SELECT {', '.join(FEATURES)}, num > 0 FROM heart_raw ORDER BY ctid LIMIT 80").fetchall()
    d = daemons()
    patients = [dict(zip(FEATURES, row[:-1])) for row in rows]
    truth = [row[-1] for row in rows]

    # ground truth as it happens: the model is right most of the time
    for (pid, _), label in zip(predict(d.url, patients[:40]), truth[:40]):
        assert requests.post(f"{d.url}/v1/predictions/{pid}/feedback", json={"label": label}).status_code == 201
    wait_until(lambda: query(jobs_db, "SELECT 1 FROM ml.evaluations WHERE project = 'heart' AND version = 2 "
                                      "AND degraded = false"), 10, "a healthy evaluation")

    # then the labels flip: the deployed version is now wrong
    for (pid, _), label in zip(predict(d.url, patients[40:]), truth[40:]):
        requests.post(f"{d.url}/v1/predictions/{pid}/feedback", json={"label": not label})
    flipped_at = time.monotonic()
    action = wait_until(lambda: query(jobs_db, "SELECT action, version, new_version, reason FROM ml.monitor_actions "
                                               "WHERE project = 'heart'"), 8, "the monitor's rollback")
    assert time.monotonic() - flipped_at <= 8, "caught within one window"
    assert action == [("rollback", 2, 1, action[0][3])] and "accuracy" in action[0][3]
    assert query(jobs_db, "SELECT ml.deployed_version('heart')")[0][0] == 1
    strategy, reason = query(jobs_db, "SELECT strategy, reason FROM ml.deployment_history "
                                      "WHERE project = 'heart' ORDER BY deployed_at DESC LIMIT 1")[0]
    assert strategy == "rollback" and "monitor" in reason
    # once: the next checks judge version 1 on its own predictions, not again version 2
    time.sleep(2)
    assert query(jobs_db, "SELECT count(*) FROM ml.monitor_actions WHERE project = 'heart'")[0][0] == 1
    # the gateway shows the time series and the action
    r = requests.get(d.url + "/v1/projects/heart/evaluations", headers=auth)
    assert r.status_code == 200 and any(e["degraded"] for e in r.json()["evaluations"])
    r = requests.get(d.url + "/v1/projects/heart/actions", headers=auth)
    assert r.status_code == 200 and r.json()["actions"][0]["action"] == "rollback"
    query(jobs_db, "SELECT ml.drop_monitor('heart')")


def test_drift_is_reported_for_the_drifted_feature_only(daemons, jobs_db, auth):
    with psycopg.connect(jobs_db, autocommit=True) as c:
        c.execute("SELECT ml.deploy('heart', version => 1)")
        c.execute("SELECT ml.monitor('heart', window_size => '1 minute', action => 'alert', every => '1 second', "
                  "drift_rows => 100)")
        mean, sd = c.execute("SELECT avg(chol), stddev_pop(chol) FROM heart_raw").fetchone()
        rows = c.execute(f"SELECT {', '.join(FEATURES)} FROM heart_raw ORDER BY ctid").fetchall()
    d = daemons()
    shifted = []
    for row in rows:
        features = dict(zip(FEATURES, row))
        features["chol"] = features["chol"] + 5 * sd         # far outside the training range
        shifted.append(features)
    predict(d.url, shifted)
    drift = wait_until(lambda: query(jobs_db, "SELECT feature, drifted FROM ml.drift_report WHERE project = 'heart' "
                                              "AND version = 1 ORDER BY feature"), 10, "a drift report")
    drifted = {feature for feature, flag in drift if flag}
    assert drifted == {"chol"}, drift
    assert len(drift) >= 10, "every feature is measured"
    alert = wait_until(lambda: query(jobs_db, "SELECT action, reason FROM ml.monitor_actions WHERE project = 'heart' "
                                              "AND version = 1"), 5, "the drift alert")
    assert alert[0][0] == "alert" and "chol" in alert[0][1]
    r = requests.get(d.url + "/v1/projects/heart/drift", headers=auth)
    assert r.status_code == 200
    assert {f["feature"] for f in r.json()["drift"] if f["drifted"]} == {"chol"}
    query(jobs_db, "SELECT ml.drop_monitor('heart')")


@pytest.fixture
def gateway_role(jobs_db):
    """A login role given only ml.grant_gateway and SELECT on the training data."""
    role = "pgscore_test_gateway"
    with psycopg.connect(jobs_db, autocommit=True) as c:
        c.execute(f"DROP ROLE IF EXISTS {role}")
        c.execute(f"CREATE ROLE {role} LOGIN")
        c.execute("SELECT ml.grant_gateway(%s)", (role,))
        c.execute(f"GRANT SELECT ON heart_raw, heart_labelled TO {role}")
    yield role
    with psycopg.connect(jobs_db, autocommit=True) as c:
        c.execute(f"DROP OWNED BY {role}")
        c.execute(f"DROP ROLE {role}")


def test_a_daemon_running_as_a_gateway_role_runs_the_jobs(gateway_role, tmp_path, jobs_db, auth):
    """Not a superuser: what ml.grant_gateway gives is enough to train, schedule and monitor."""
    d = Daemon(tmp_path, "--jobs-poll-ms", "200", "--monitor-interval-ms", "200", "--worker-id", "as-role",
               dbname=JOBS_DB, user=gateway_role)
    try:
        r = requests.post(d.url + "/v1/projects/as_role/train", json=HEART_PARAMS, headers=auth)
        assert r.status_code == 202, r.text
        run = int(r.json()["run_id"])
        (schedule,), = query(jobs_db, "SELECT ml.schedule('as_role', '1 hour', %s)", (json.dumps(HEART_PARAMS),))
        query(jobs_db, "UPDATE ml.schedules SET next_run_at = now() WHERE id = %s", (schedule,))
        runs = wait_until(lambda: (lambda rows: rows if len(rows) == 2 else None)(
            query(jobs_db, "SELECT id, kind, claimed_by, version FROM ml.training_runs WHERE project = 'as_role' "
                           "AND status = 'succeeded' ORDER BY id")), 30, "both runs")
        assert [(kind, by) for _, kind, by, _ in runs] == [("manual", "as-role"), ("schedule", "as-role")]
        assert runs[0][0] == run
        query(jobs_db, "SELECT ml.monitor('as_role', window_size => '1 minute', every => '1 second')")
        wait_until(lambda: query(jobs_db, "SELECT 1 FROM ml.monitors WHERE project = 'as_role' "
                                          "AND last_checked_at IS NOT NULL AND last_error IS NULL"),
                   10, "a monitor check by the role")
        assert not [e for e in d.entries() if e.get("level") in ("warning", "error")], \
            [e for e in d.entries() if e.get("level") in ("warning", "error")]
        query(jobs_db, "SELECT ml.drop_monitor('as_role')")
        query(jobs_db, "SELECT ml.drop_schedule(%s)", (schedule,))
    finally:
        d.stop()


def test_job_endpoints_errors(daemons, auth):
    d = daemons()
    assert requests.get(d.url + "/v1/projects/nobody/runs", headers=auth).status_code == 404
    r = requests.get(d.url + "/v1/projects/heart/runs?limit=0", headers=auth)
    assert r.status_code == 400 and r.headers["Content-Type"] == "application/problem+json"
    r = requests.post(d.url + "/v1/projects/heart/records", data="[1,", headers=auth)
    assert r.status_code == 400
