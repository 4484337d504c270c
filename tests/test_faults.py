"""Acknowledged means committed, and no request without a deadline: the built daemon
over real HTTP against the private cluster while the database misbehaves (no mocks,
loopback only, the whole file in about two minutes).

- a constraint trigger deferred to COMMIT that raises: predictions, feedback and train
  requests are never answered 200/201/202, and nothing of them is stored;
- the daemon's backends stopped with SIGSTOP: 503/504 within the deadline, served again
  on fresh connections, and after SIGCONT; SIGTERM ends the daemon within its drain
  timeout while such a request is open;
- pg_terminate_backend of the daemon's connections: served again;
- slow and idle clients cut off at the header, body and idle timeouts, connections
  beyond --max-connections answered 503;
- the postmaster killed with kill -9 three times under load (tools/faults.py): every
  prediction id answered 200 is in ml.predictions, none twice, the daemon never died
  of a signal, no request outlived its deadline.
"""
import os
import select
import signal
import socket
import sys
import threading
import time

import psycopg
import pytest
import requests

from conftest import drop_database
from daemon_helpers import PATIENT, ROOT, batch_sizes, create_key, daemon_starter, make_database

sys.path.insert(0, str(ROOT / "tools"))
import faults  # noqa: E402

FAULTS_DB = "pgscore_faults"
PREDICT = "/v1/projects/heart/predict"


@pytest.fixture(scope="module")
def faults_db():
    yield make_database(FAULTS_DB)
    drop_database(FAULTS_DB)


@pytest.fixture
def start_daemon(tmp_path, faults_db):
    with daemon_starter(tmp_path, FAULTS_DB) as (start, started):
        yield start
    for daemon in started:
        # whatever happened, the daemon never died of a signal
        assert daemon.proc.returncode >= 0, daemon.log_path.read_text()[-3000:]


def problem(r, *statuses):
    assert r.status_code in statuses, (r.status_code, r.text)
    assert r.headers["Content-Type"] == "application/problem+json"
    body = r.json()
    assert body["status"] == r.status_code and body["type"].startswith("urn:pgscore:problem:")
    return body


def backends(dsn, application="pgscore serve"):
    with psycopg.connect(dsn, autocommit=True) as c:
        return [pid for (pid,) in c.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s AND datname = current_database()",
            (application,))]


# ---------------------------------------------------------------- a COMMIT that fails

def test_a_failed_commit_is_never_acknowledged(start_daemon, faults_db):
    train_key = create_key("train", "faults", dbname=FAULTS_DB)[1]
    d = start_daemon("--open-predict", "--no-jobs")
    ok = requests.post(d.url + PREDICT, json=PATIENT, timeout=10)
    assert ok.status_code == 200
    prediction = ok.json()["prediction_id"]
    with psycopg.connect(faults_db, autocommit=True) as c:
        c.execute("CREATE TABLE fail_at_commit (enabled bool NOT NULL)")
        c.execute("INSERT INTO fail_at_commit VALUES (true)")
        c.execute("""CREATE FUNCTION fail_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
                     BEGIN
                       IF (SELECT enabled FROM public.fail_at_commit) THEN
                         RAISE EXCEPTION 'refused at commit (test trigger on %)', TG_TABLE_NAME;
                       END IF;
                       RETURN NULL;
                     END $$""")
        for table in ("ml.predictions", "ml.feedback", "ml.training_runs"):
            c.execute(f"""CREATE CONSTRAINT TRIGGER fail_at_commit AFTER INSERT ON {table}
                          DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION fail_at_commit()""")
        runs_before = c.execute("SELECT count(*) FROM ml.training_runs").fetchone()[0]
    try:
        for body in (PATIENT, {"instances": [PATIENT, PATIENT]}):
            r = requests.post(d.url + PREDICT, json=body, headers={"X-Request-Id": "refused-at-commit"}, timeout=10)
            assert "COMMIT" in problem(r, 503)["detail"] or "commit" in r.json()["detail"]
        r = requests.post(f"{d.url}/v1/predictions/{prediction}/feedback", json={"label": "true"}, timeout=10)
        problem(r, 503)
        r = requests.post(d.url + "/v1/projects/heart/train", headers={"Authorization": f"Bearer {train_key}"},
                          json={"source": "heart_labelled", "label": "sick", "exclude": ["num"]}, timeout=10)
        problem(r, 503)
        with psycopg.connect(faults_db, autocommit=True) as c:
            assert c.execute("SELECT count(*) FROM ml.predictions WHERE request_id = 'refused-at-commit'").fetchone()[0] == 0
            assert c.execute("SELECT count(*) FROM ml.feedback f JOIN ml.predictions p ON p.id = f.prediction_id "
                             "WHERE p.public_id = %s", (prediction,)).fetchone()[0] == 0
            assert c.execute("SELECT count(*) FROM ml.training_runs").fetchone()[0] == runs_before
    finally:
        with psycopg.connect(faults_db, autocommit=True) as c:
            c.execute("UPDATE fail_at_commit SET enabled = false")
    # the same connections serve again
    for _ in range(3):
        r = requests.post(d.url + PREDICT, json=PATIENT, headers={"X-Request-Id": "after-commit-fault"}, timeout=10)
        assert r.status_code == 200, r.text
    with psycopg.connect(faults_db, autocommit=True) as c:
        assert c.execute("SELECT count(*) FROM ml.predictions WHERE request_id = 'after-commit-fault'").fetchone()[0] == 3
        for table in ("ml.predictions", "ml.feedback", "ml.training_runs"):
            c.execute(f"DROP TRIGGER fail_at_commit ON {table}")


# ---------------------------------------------------------------- a backend that stops answering

def test_a_stopped_backend_is_abandoned_at_the_deadline(start_daemon, faults_db):
    d = start_daemon("--open-predict", "--no-jobs", "--request-timeout", "2", "--pool-size", "2")
    assert requests.post(d.url + PREDICT, json=PATIENT, timeout=10).status_code == 200
    stopped = backends(faults_db)
    assert stopped
    try:
        for pid in stopped:
            os.kill(pid, signal.SIGSTOP)
        statuses = []
        for _ in range(6):
            started = time.monotonic()
            r = requests.post(d.url + PREDICT, json=PATIENT, timeout=10)
            assert time.monotonic() - started < 3.0, "a request outlived its deadline"
            statuses.append(r.status_code)
            if r.status_code != 200:
                problem(r, 503, 504)
            else:
                break
        # the stopped connection was abandoned (504), a fresh one serves
        assert statuses[0] in (503, 504) and statuses[-1] == 200, statuses
    finally:
        for pid in stopped:
            os.kill(pid, signal.SIGCONT)
    for _ in range(5):
        assert requests.post(d.url + PREDICT, json=PATIENT, timeout=10).status_code == 200
    assert requests.get(d.url + "/readyz", timeout=10).status_code == 200


def test_sigterm_ends_the_daemon_within_the_drain_timeout_while_a_backend_is_stopped(start_daemon, faults_db):
    d = start_daemon("--open-predict", "--no-jobs", "--request-timeout", "60", "--drain-timeout", "2",
                     "--pool-size", "1")
    assert requests.post(d.url + PREDICT, json=PATIENT, timeout=10).status_code == 200
    stopped = backends(faults_db)
    results = {}
    try:
        for pid in stopped:
            os.kill(pid, signal.SIGSTOP)

        def open_request():
            try:
                results["r"] = requests.post(d.url + PREDICT, json=PATIENT, timeout=30)
            except requests.exceptions.RequestException as e:
                results["r"] = e

        t = threading.Thread(target=open_request)
        t.start()
        time.sleep(0.5)
        started = time.monotonic()
        d.proc.send_signal(signal.SIGTERM)
        code = d.proc.wait(timeout=10)
        assert time.monotonic() - started < 4, "SIGTERM did not end the daemon within its drain timeout"
        assert code == 0
        t.join(10)
        r = results["r"]
        # answered 503 when the drain timeout cut it off, or the connection was closed
        assert isinstance(r, requests.exceptions.ConnectionError) or r.status_code == 503
    finally:
        for pid in stopped:
            os.kill(pid, signal.SIGCONT)


def test_terminated_connections_are_replaced(start_daemon, faults_db):
    d = start_daemon("--open-predict", "--no-jobs")
    threads = [threading.Thread(target=lambda: requests.post(d.url + PREDICT, json=PATIENT, timeout=10)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with psycopg.connect(faults_db, autocommit=True) as c:
        killed = c.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                           "WHERE application_name = 'pgscore serve' AND datname = current_database()").fetchone()[0]
    assert killed >= 1
    statuses = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        r = requests.post(d.url + PREDICT, json=PATIENT, timeout=10)
        statuses.append(r.status_code)
        if r.status_code == 200 and statuses.count(200) >= 3:
            break
    assert set(statuses) <= {200, 503} and statuses[-1] == 200, statuses


# ---------------------------------------------------------------- slow clients

def wait_closed(sock, timeout):
    """Seconds until the server closed the socket (or answered); the bytes it sent."""
    started = time.monotonic()
    data = b""
    sock.settimeout(timeout)
    try:
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    except (socket.timeout, ConnectionResetError):
        pass
    return time.monotonic() - started, data


def test_slow_and_idle_clients_are_cut_off(start_daemon):
    d = start_daemon("--open-predict", "--no-jobs", "--header-timeout", "1", "--body-timeout", "1",
                     "--idle-timeout", "2", "--max-connections", "4")
    # headers one byte at a time, 5 a second: cut off at the header timeout with a 408
    s = socket.create_connection(("127.0.0.1", d.port))
    request = f"POST {PREDICT} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Slow: ".encode() + b"a" * 100
    started = time.monotonic()
    answer = b""
    for byte in request:
        try:
            s.send(bytes([byte]))
        except OSError:
            break
        readable, _, _ = select.select([s], [], [], 0.2)
        if readable:
            _, answer = wait_closed(s, 2)
            break
    elapsed = time.monotonic() - started
    s.close()
    assert 0.9 < elapsed < 2.5, elapsed
    assert answer.startswith(b"HTTP/1.1 408"), answer

    # headers complete, the body never comes: closed at the body timeout
    s = socket.create_connection(("127.0.0.1", d.port))
    s.sendall(f"POST {PREDICT} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 50\r\n\r\n{{".encode())
    elapsed, _ = wait_closed(s, 10)
    s.close()
    assert 0.9 < elapsed < 3, elapsed

    # an idle keep-alive connection: closed at the idle timeout, after a request was served
    s = socket.create_connection(("127.0.0.1", d.port))
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(0.3)
    assert s.recv(4096).startswith(b"HTTP/1.1 200")
    elapsed, _ = wait_closed(s, 10)
    s.close()
    assert 1.5 < elapsed < 4, elapsed

    # four open connections: the fifth is answered 503 and closed
    held = [socket.create_connection(("127.0.0.1", d.port)) for _ in range(4)]
    time.sleep(0.2)
    extra = socket.create_connection(("127.0.0.1", d.port))
    elapsed, answer = wait_closed(extra, 5)
    extra.close()
    assert answer.startswith(b"HTTP/1.1 503") and b"max-connections" in answer, answer
    for h in held:
        h.close()
    time.sleep(0.2)
    assert requests.get(d.url + "/healthz", timeout=5).status_code == 200


# ---------------------------------------------------------------- the server crashing

def test_kill_9_of_the_postmaster_under_load_loses_no_acknowledged_prediction(start_daemon, faults_db):
    d = start_daemon("--open-predict", "--no-jobs", "--request-timeout", "3", "--pool-size", "4")
    counts = faults.crash_run(d.url, faults_db, cycles=3, clients=4, load_seconds=2.0, request_timeout=3.0,
                              daemon_proc=d.proc)
    print("fault counts:", counts)
    assert d.proc.poll() is None, "the daemon died"
    assert counts["acknowledged"] > 100, counts
    assert all(r is not None for r in counts["recovery_s"]), counts       # served again after each restart
    assert counts["lost"] == 0, counts
    assert counts["duplicates"] == 0, counts
    assert counts["hung"] == 0, counts
    assert set(counts["statuses"]) <= {"200", "503", "504"}, counts
    buckets, batches = batch_sizes(d.url)
    assert buckets[1.0] < batches, buckets       # crashes hit shared statements (group commit) too
    # and it still stops cleanly, quickly
    started = time.monotonic()
    d.proc.send_signal(signal.SIGTERM)
    assert d.proc.wait(timeout=15) == 0
    assert time.monotonic() - started < 3
