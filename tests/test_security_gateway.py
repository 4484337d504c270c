"""The gateway's half of the trust boundary, attacked with keys of narrow scope.

The daemon connects as a role given only ml.grant_gateway (not a superuser), as the
README sets it up. Keys are bound to projects and scopes; feedback only from the key
that predicted; pgscore's own tables are never trainable; unknown keys are rate-limited.
"""
import os
import re
import subprocess

import psycopg
import pytest
import requests

from conftest import drop_database
from daemon_helpers import BIN, PATIENT, Daemon, database_url, make_database, run_cli

DB = "pgscore_secgw"
ROLE = "secgw_daemon"
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def key(scope, *projects):
    args = ["keys", "create", "--scope", scope, "--name", f"{scope}-{'-'.join(projects) or 'all'}"]
    for p in projects:
        args += ["--project", p]
    out = run_cli(*args, dbname=DB)
    assert out.returncode == 0, out.stderr
    return {"Authorization": "Bearer " + next(l.split(":", 1)[1].strip() for l in out.stdout.splitlines()
                                               if l.startswith("key:"))}


@pytest.fixture(scope="module")
def db():
    dsn = make_database(DB)
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute(f"DROP ROLE IF EXISTS {ROLE}")
        c.execute(f"CREATE ROLE {ROLE} LOGIN")
        c.execute(f"SELECT ml.grant_gateway('{ROLE}')")
        c.execute(f"GRANT SELECT ON heart_labelled, heart_raw TO {ROLE}")
        c.execute("SELECT ml.train('other', 'heart_labelled', 'sick', exclude => ARRAY['num'])")
    yield dsn
    drop_database(DB)
    with psycopg.connect(dsn.replace(DB, "postgres"), autocommit=True) as c:
        c.execute(f"DROP ROLE IF EXISTS {ROLE}")


@pytest.fixture(scope="module")
def daemon(db, tmp_path_factory):
    d = Daemon(tmp_path_factory.mktemp("secgw"), "--no-jobs", dbname=DB, user=ROLE)
    yield d
    d.stop()


def predict(daemon, project, headers):
    return requests.post(f"{daemon.url}/v1/projects/{project}/predict", json=PATIENT, headers=headers, timeout=10)


def test_a_key_bound_to_a_project_sees_and_scores_only_it(daemon):
    h = key("predict", "heart")
    assert predict(daemon, "heart", h).status_code == 200
    r = predict(daemon, "other", h)
    assert r.status_code == 403 and "may not use project" in r.json()["detail"]
    projects = requests.get(f"{daemon.url}/v1/projects", headers=h, timeout=10).json()["projects"]
    assert [p["project"] for p in projects] == ["heart"]
    assert requests.get(f"{daemon.url}/v1/projects/other/versions", headers=h, timeout=10).status_code == 403


def test_feedback_only_from_the_key_that_predicted(daemon, db):
    mine, theirs, admin = key("predict"), key("predict"), key("admin")
    pid = predict(daemon, "heart", mine).json()["prediction_id"]
    assert UUID.match(pid), pid                      # not a counter anyone can walk
    url = f"{daemon.url}/v1/predictions/{pid}/feedback"
    assert requests.post(url, json={"label": True}, headers=theirs, timeout=10).status_code == 404
    with psycopg.connect(db) as c:
        assert c.execute("SELECT count(*) FROM ml.feedback").fetchone()[0] == 0
    assert requests.post(url, json={"label": True}, headers=mine, timeout=10).status_code == 201
    assert requests.post(url, json={"label": False}, headers=admin, timeout=10).status_code == 201
    # an admin key bound to another project is not an admin of this prediction
    assert requests.post(url, json={"label": False}, headers=key("admin", "other"), timeout=10).status_code == 404


@pytest.mark.parametrize("source", ["ml.predictions", "ml.api_keys", "ml.feedback", "pg_catalog.pg_authid"])
def test_a_train_key_cannot_train_on_pgscores_own_tables(daemon, db, source):
    with psycopg.connect(db) as c:
        runs = c.execute("SELECT count(*) FROM ml.training_runs").fetchone()[0]
    r = requests.post(f"{daemon.url}/v1/projects/heart/train", headers=key("train"),
                      json={"source": source, "label": "project"}, timeout=10)
    assert 400 <= r.status_code < 500, r.text
    with psycopg.connect(db) as c:
        assert c.execute("SELECT count(*) FROM ml.training_runs").fetchone()[0] == runs


def test_runs_and_their_errors_need_scope_train(daemon):
    assert requests.get(f"{daemon.url}/v1/projects/heart/runs", headers=key("predict"), timeout=10).status_code == 403
    assert requests.get(f"{daemon.url}/v1/projects/heart/runs", headers=key("train"), timeout=10).status_code == 200


def test_unknown_keys_are_rate_limited_per_address(db, tmp_path):
    d = Daemon(tmp_path, "--no-jobs", "--failed-key-limit", "5", dbname=DB, user=ROLE)
    try:
        good = key("predict")
        assert predict(d, "heart", good).status_code == 200
        for i in range(5):
            bad = {"Authorization": "Bearer pgs_" + f"{i:02d}" + "x" * 41}
            assert predict(d, "heart", bad).status_code == 401
        r = predict(d, "heart", good)
        assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
    finally:
        d.stop()


def test_https_with_a_certificate_and_key(db, tmp_path):
    cert, private = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(private),
                    "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    d = Daemon(tmp_path, "--no-jobs", "--tls-certificate", str(cert), "--tls-key", str(private), dbname=DB, user=ROLE)
    try:
        url = d.url.replace("http://", "https://")
        r = requests.post(url + "/v1/projects/heart/predict", json=PATIENT, headers=key("predict"),
                          verify=str(cert), timeout=10)
        assert r.status_code == 200, r.text
        with pytest.raises(requests.exceptions.RequestException):      # no clear text on that port
            requests.post(d.url + "/v1/projects/heart/predict", json=PATIENT, headers=key("predict"), timeout=5)
    finally:
        d.stop()


def test_plain_http_beyond_loopback_is_refused(db):
    # 192.0.2.1 (TEST-NET-1) is on no interface: the daemon must refuse before binding
    env = dict(os.environ, PGSCORE_DATABASE_URL=database_url(DB, ROLE))
    out = subprocess.run([str(BIN), "serve", "--host", "192.0.2.1", "--port", "0"], capture_output=True, text=True,
                         env=env, timeout=30)
    assert out.returncode != 0 and "clear text" in out.stderr, out.stderr
    out = subprocess.run([str(BIN), "serve", "--tls-certificate", "/nonexistent.pem", "--tls-key", "/nonexistent.key"],
                         capture_output=True, text=True, env=env, timeout=30)
    assert out.returncode != 0 and "cannot read /nonexistent.pem" in out.stderr, out.stderr


def test_a_train_key_trains_only_on_allowed_sources(daemon, db):
    h = key("train")
    r = requests.post(f"{daemon.url}/v1/projects/heart/train", headers=h,
                      json={"source": "heart_raw", "label": "num"}, timeout=10)
    assert r.status_code == 403 and "ml.allow_source" in r.json()["detail"], r.text
    with psycopg.connect(db, autocommit=True) as c:
        c.execute("SELECT ml.allow_source('heart', 'heart_raw')")
    try:
        r = requests.post(f"{daemon.url}/v1/projects/heart/train", headers=h,
                          json={"source": "heart_raw", "label": "num"}, timeout=10)
        assert r.status_code == 202, r.text
        # allowed for heart only, not for another project
        r = requests.post(f"{daemon.url}/v1/projects/other/train", headers=h,
                          json={"source": "heart_raw", "label": "num"}, timeout=10)
        assert r.status_code == 403
    finally:
        with psycopg.connect(db, autocommit=True) as c:
            c.execute("DELETE FROM ml.training_runs")
            c.execute("SELECT ml.disallow_source('heart', 'heart_raw')")
