"""High availability (issue 14) on a real pg_auto_failover setup: tools/ha.sh.

A monitor, a primary and a synchronous secondary on loopback. The tests score on
the hot standby (same answers as on the primary), then lose the primary machine
(kill -9 of its keeper and postmaster) under a load of SQL clients that log
predictions through libpq's multi-host string, and check that every acknowledged
prediction is there exactly once on the new primary and on the old one once it
rejoined as a standby.
"""
import asyncio
import collections
import json
import os
import subprocess
import threading
import time
import uuid
from pathlib import Path

import psycopg
import pytest
import requests

REPO = Path(__file__).resolve().parent.parent
HA = str(REPO / "tools" / "ha.sh")
HA_DB = "pgscore_ha_test"
HEART = REPO / "data" / "heart" / "processed.cleveland.data"


def ha(*args, timeout=300):
    return subprocess.run([HA, *args], capture_output=True, text=True, timeout=timeout, check=True).stdout


def ha_env():
    env = {}
    for line in ha("env").splitlines():
        key, _, value = line.removeprefix("export ").partition("=")
        env[key] = value.strip("'")
    return env


class Cluster:
    def __init__(self):
        env = ha_env()
        self.ports = [int(p) for p in env["PGPORT"].split(",")]
        self.multi_host = psycopg.conninfo.make_conninfo(
            host=env["PGHOST"], port=env["PGPORT"], user=env["PGUSER"], dbname=HA_DB,
            target_session_attrs="read-write", connect_timeout=2)

    def node(self, port, dbname=HA_DB):
        return psycopg.conninfo.make_conninfo(
            host="127.0.0.1", port=port, user="pgscore", dbname=dbname, connect_timeout=2)

    def role_of(self, port):
        """primary, standby, or down (a lost node refuses connections)."""
        try:
            with psycopg.connect(self.node(port, dbname="pgscore"), autocommit=True) as c:
                return "standby" if c.execute("SELECT pg_is_in_recovery()").fetchone()[0] else "primary"
        except psycopg.OperationalError:
            return "down"

    def primary(self):
        return next(p for p in self.ports if self.role_of(p) == "primary")

    def standby(self):
        return next(p for p in self.ports if self.role_of(p) == "standby")

    def wait_replayed(self, timeout=30):
        """Until the standby has replayed everything the primary wrote so far."""
        # In the database that always exists: the test's own may be replaying its CREATE.
        with psycopg.connect(self.node(self.primary(), dbname="pgscore"), autocommit=True) as p:
            lsn = p.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
        with psycopg.connect(self.node(self.standby(), dbname="pgscore"), autocommit=True) as s:
            deadline = time.monotonic() + timeout
            while not s.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (lsn,)).fetchone()[0]:
                assert time.monotonic() < deadline, "the standby did not replay the primary's WAL"
                time.sleep(0.1)


@pytest.fixture(scope="module")
def cluster():
    try:
        ha("start")
        ha("wait", "120")
        c = Cluster()
        admin = c.node(c.primary(), dbname="pgscore")
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {HA_DB} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {HA_DB}")
        with psycopg.connect(c.node(c.primary()), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION pgscore")
            conn.execute("""CREATE TABLE heart_raw (age float8, sex float8, cp float8, trestbps float8,
                chol float8, fbs float8, restecg float8, thalach float8, exang float8, oldpeak float8,
                slope float8, ca text, thal text, num int)""")
            with conn.cursor().copy("COPY heart_raw FROM STDIN WITH (FORMAT csv)") as copy:
                copy.write(HEART.read_bytes())
            conn.execute("CREATE VIEW heart_labelled AS SELECT *, num > 0 AS sick FROM heart_raw")
            conn.execute("SELECT ml.train('heart', 'heart_labelled', 'sick', exclude => ARRAY['num'])")
            conn.execute("SELECT ml.train('heart', 'heart_labelled', 'sick', 'naive_bayes', exclude => ARRAY['num'])")
        c.wait_replayed()
        yield c
    finally:
        # Never leave the three servers running, whatever failed above.
        subprocess.run([HA, "stop"], capture_output=True, text=True, timeout=300)


SCORING_QUERIES = [
    "SELECT array_agg(ml.predict('heart', h) ORDER BY ctid) FROM heart_raw h",
    "SELECT array_agg(ml.predict_proba('heart', h) ORDER BY ctid) FROM heart_raw h",
    """SELECT ml.predict_proba('heart', '{"age": 63, "sex": 1, "cp": 1, "trestbps": 145, "chol": 233,
       "fbs": 1, "restecg": 2, "thalach": 150, "exang": 0, "oldpeak": 2.3, "slope": 3,
       "ca": "0.0", "thal": "6.0"}'::jsonb)""",
    "SELECT array_agg(ml.predict(m.model, ml.encode(m.model, h)) ORDER BY h.ctid) "
    "FROM heart_raw h, ml.models m WHERE m.version = 2",
    "SELECT array_agg(ml.describe(model) ORDER BY version) FROM ml.models",
    "SELECT ml.evaluate('heart', 'SELECT * FROM heart_labelled WHERE age > 60')",
    "SELECT ml.evaluate('heart', 'heart_labelled', 2)",
    "SELECT ml.export('heart', format => 'onnx')",
    "SELECT ml.export('heart', 1, 'json')",
    "SELECT array_agg(to_jsonb(v) ORDER BY version) FROM ml.versions v",
    "SELECT array_agg(to_jsonb(o)) FROM ml.project_overview o",
    "SELECT array_agg(to_jsonb(d) ORDER BY deployed_at) FROM ml.deployment_history d",
]


def test_scoring_on_the_standby_gives_the_primarys_answers(cluster):
    answers = {}
    for role, port in (("primary", cluster.primary()), ("standby", cluster.standby())):
        with psycopg.connect(cluster.node(port), autocommit=True) as conn:
            assert conn.execute("SELECT pg_is_in_recovery()").fetchone()[0] == (role == "standby")
            answers[role] = [conn.execute(q).fetchone()[0] for q in SCORING_QUERIES]
    for query, on_primary, on_standby in zip(SCORING_QUERIES, answers["primary"], answers["standby"]):
        assert on_primary is not None, query
        assert on_standby == on_primary, query


def test_a_deployment_is_served_by_the_standby_once_replayed(cluster):
    with psycopg.connect(cluster.node(cluster.primary()), autocommit=True) as conn:
        conn.execute("SELECT ml.deploy('heart', version => 2)")
    cluster.wait_replayed()
    with psycopg.connect(cluster.node(cluster.standby()), autocommit=True) as conn:
        assert conn.execute("SELECT ml.deployed_version('heart')").fetchone()[0] == 2
        # Writing is refused with the standby's own SQLSTATE, not an internal error.
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("SELECT ml.train('heart', 'heart_labelled', 'sick', exclude => ARRAY['num'])")
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("SELECT ml.deploy('heart', 'rollback')")


LOG_PREDICTION = """
INSERT INTO ml.predictions (project, version, features, prediction, probabilities, request_id)
SELECT 'heart', ml.deployed_version('heart'), to_jsonb(h) - 'num',
       ml.predict('heart', h), ml.predict_proba('heart', h), %(request_id)s
  FROM heart_raw h WHERE ctid = (SELECT ctid FROM heart_raw OFFSET %(row)s LIMIT 1)
"""


class PredictionWriter(threading.Thread):
    """A client logging one prediction per transaction through the multi-host string.

    A request id goes with each prediction. When the connection dies before COMMIT
    answered, the outcome is unknown: after reconnecting, the client looks the id up
    and writes it again only if it is not there, so nothing is logged twice.
    """

    def __init__(self, cluster, stop):
        super().__init__(daemon=True)
        self.cluster, self.stop = cluster, stop
        self.acknowledged = []          # (request_id, monotonic time of the commit, server port)
        self.errors = 0

    def run(self):
        conn = None
        pending = None
        n = 0
        while not self.stop.is_set():
            try:
                if conn is None or conn.closed:
                    conn = psycopg.connect(self.cluster.multi_host, autocommit=True)
                    port = conn.info.port
                if pending is not None:
                    if conn.execute("SELECT 1 FROM ml.predictions WHERE request_id = %s", (pending,)).fetchone():
                        self.acknowledged.append((pending, time.monotonic(), port))
                        pending = None
                        continue
                request_id = pending or str(uuid.uuid4())
                pending = request_id
                conn.execute(LOG_PREDICTION, {"request_id": request_id, "row": n % 303})
                self.acknowledged.append((request_id, time.monotonic(), port))
                pending = None
                n += 1
            except psycopg.Error:
                self.errors += 1
                if conn is not None:
                    conn.close()
                conn = None
                time.sleep(0.05)
        if conn is not None:
            conn.close()


def test_losing_the_primary_under_load_loses_no_acknowledged_prediction(cluster):
    old_port = cluster.primary()
    stop = threading.Event()
    writers = [PredictionWriter(cluster, stop) for _ in range(4)]
    for w in writers:
        w.start()
    try:
        time.sleep(3)
        before = sum(len(w.acknowledged) for w in writers)
        assert before > 0, "no prediction was logged before the failure"
        killed_at = time.monotonic()
        killed = ha("crash-primary").strip()
        # Wait for commits on the other node (bounded: the test fails rather than hangs).
        deadline = killed_at + 90
        while time.monotonic() < deadline:
            after = [t for w in writers for (_, t, port) in w.acknowledged if t > killed_at and port != old_port]
            if len(after) >= 20:
                break
            time.sleep(0.2)
        else:
            pytest.fail(f"no commit on a new primary 90 s after killing {killed}")
        time.sleep(1)
    finally:
        stop.set()
        for w in writers:
            w.join(30)
    first_commit = min(t for w in writers for (_, t, port) in w.acknowledged if t > killed_at and port != old_port)
    print(f"\nHA: primary {killed} killed; first commit on the new primary after {first_commit - killed_at:.1f} s; "
          f"{sum(len(w.acknowledged) for w in writers)} predictions acknowledged, "
          f"{sum(w.errors for w in writers)} client errors")

    acknowledged = [rid for w in writers for (rid, _, _) in w.acknowledged]
    new_port = cluster.primary()
    assert new_port != old_port

    def logged(port):
        with psycopg.connect(cluster.node(port), autocommit=True) as conn:
            rows = conn.execute(
                "SELECT request_id, count(*) FROM ml.predictions WHERE request_id = ANY(%s) GROUP BY 1",
                (acknowledged,)).fetchall()
        return dict(rows)

    on_new = logged(new_port)
    assert sorted(set(acknowledged) - set(on_new)) == [], "acknowledged predictions missing on the new primary"
    assert {rid: n for rid, n in on_new.items() if n > 1} == {}, "predictions logged twice"

    # The old primary comes back (its keeper restarted), rewinds and follows the new one.
    ha("start")
    ha("wait", "120")
    assert cluster.role_of(old_port) == "standby"
    cluster.wait_replayed()
    assert logged(old_port) == on_new


def test_readyz_names_the_server_and_refuses_a_standby(cluster, tmp_path):
    from daemon_helpers import Daemon
    import requests

    for port, writable in ((cluster.primary(), True), (cluster.standby(), False)):
        url = f"postgres://pgscore@127.0.0.1:{port}/{HA_DB}?sslmode=disable"
        d = Daemon(tmp_path, env=dict(os.environ, PGSCORE_DATABASE_URL=url))
        try:
            r = requests.get(d.url + "/readyz", timeout=10)
            if writable:
                assert r.status_code == 200, r.text
                assert r.json()["server"] == f"127.0.0.1:{port}" and r.json()["writable"] is True
            else:
                assert r.status_code == 503 and r.headers["Retry-After"]
                assert f"127.0.0.1:{port} is read-only" in r.json()["detail"]
        finally:
            d.stop()


# ---------------------------------------------------------------- the daemon follows the primary

PATIENT = {"age": 63, "sex": 1, "cp": 1, "trestbps": 145, "chol": 233, "fbs": 1, "restecg": 2, "thalach": 150,
           "exang": 0, "oldpeak": 2.3, "slope": 3, "ca": "0.0", "thal": "6.0"}
HEART_PARAMS = {"source": "heart_labelled", "label": "sick", "exclude": ["num"]}


class OpenLoopClient(threading.Thread):
    """POSTs predictions at a fixed rate whatever the answers take (open loop: a slow
    answer does not slow the sending), one connection per request, each with its own
    X-Request-Id; records (sent, answered, status, Retry-After, request id, prediction id)."""

    def __init__(self, port, path, rate, stop):
        super().__init__(daemon=True)
        self.port, self.path, self.rate, self.stop = port, path, rate, stop
        self.results = []
        self.details = []
        self.body = json.dumps(PATIENT).encode()

    async def one(self, request_id):
        sent = time.monotonic()
        status = retry_after = prediction_id = None
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
            writer.write((f"POST {self.path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                          f"X-Request-Id: {request_id}\r\nConnection: close\r\n"
                          f"Content-Length: {len(self.body)}\r\n\r\n").encode() + self.body)
            await writer.drain()
            data = await asyncio.wait_for(reader.read(), 60)
            writer.close()
            head, _, body = data.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split(" ")[1])
            headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
            retry_after = headers.get("retry-after")
            if status == 200:
                prediction_id = json.loads(body)["prediction_id"]
            else:
                self.details.append(json.loads(body).get("detail"))
        except (OSError, asyncio.TimeoutError, ValueError, IndexError):
            status = "error"
        self.results.append((sent, time.monotonic(), status, retry_after, request_id, prediction_id))

    async def main(self):
        tasks = []
        start = time.monotonic()
        n = 0
        while not self.stop.is_set():
            delay = start + n / self.rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(self.one(str(uuid.uuid4()))))
            n += 1
        await asyncio.gather(*tasks)

    def run(self):
        asyncio.run(self.main())


def started_daemon(tmp_path, url, *args):
    from daemon_helpers import Daemon
    return Daemon(tmp_path, *args, env=dict(os.environ, PGSCORE_DATABASE_URL=url))


def ha_url(cluster, attrs="read-write"):
    ports = cluster.ports
    return (f"postgres://pgscore@127.0.0.1:{ports[0]},127.0.0.1:{ports[1]}/{HA_DB}"
            f"?sslmode=disable&target_session_attrs={attrs}")


def finished_runs(node, schedule):
    """Pauses the schedule and waits for its last runs; then its runs (slot, attempt, status, error, missed)."""
    with psycopg.connect(node, autocommit=True) as conn:
        conn.execute("SELECT ml.pause_schedule(%s)", (schedule,))
        deadline = time.monotonic() + 60
        while conn.execute("SELECT count(*) FROM ml.training_runs WHERE schedule_id = %s AND "
                           "status IN ('queued', 'running')", (schedule,)).fetchone()[0]:
            assert time.monotonic() < deadline, "the schedule's last runs did not end"
            time.sleep(0.2)
        return conn.execute("SELECT due_at, attempt, status, error, missed FROM ml.training_runs WHERE schedule_id = %s "
                            "ORDER BY due_at, attempt", (schedule,)).fetchall()


def test_the_daemon_follows_the_new_primary_losing_and_doubling_no_prediction(cluster, tmp_path):
    old_port = cluster.primary()
    with psycopg.connect(cluster.node(old_port), autocommit=True) as conn:
        (schedule,), = conn.execute(
            "SELECT ml.schedule('ha_every_second', '1 second', %s, deploy => 'manual', retry_backoff => '1 second')",
            (json.dumps(HEART_PARAMS),)).fetchone(),
    daemon = started_daemon(tmp_path, ha_url(cluster), "--open-predict", "--request-timeout", "20",
                            "--max-connections", "8000", "--jobs-poll-ms", "200")
    stop = threading.Event()
    client = OpenLoopClient(daemon.port, "/v1/projects/heart/predict", 500, stop)
    try:
        ready = requests.get(daemon.url + "/readyz", timeout=10).json()
        assert ready["server"] == f"127.0.0.1:{old_port}" and ready["writable"] is True
        client.start()
        time.sleep(4)
        assert sum(1 for r in client.results if r[2] == 200) > 0, "no prediction answered before the failure"
        killed_at = time.monotonic()
        killed = ha("crash-primary").strip()
        killed_done = time.monotonic()
        # bounded: fails rather than hangs when no new primary answers
        deadline = killed_at + 60
        while time.monotonic() < deadline:
            if sum(1 for r in client.results if r[2] == 200 and r[1] > killed_done) >= 200:
                break
            time.sleep(0.2)
        else:
            pytest.fail(f"no prediction answered 60 s after killing {killed}")
        time.sleep(6)       # schedule slots on the new primary too
    finally:
        stop.set()
        client.join(90)
    try:
        ready = requests.get(daemon.url + "/readyz", timeout=10).json()
        new_port = cluster.primary()
        assert new_port != old_port and ready["server"] == f"127.0.0.1:{new_port}" and ready["writable"] is True
        runs = finished_runs(cluster.node(new_port), schedule)
    finally:
        daemon.stop()
    results = client.results
    # the outage: the longest time without a 200 after the kill (backends of the killed
    # postmaster may still answer for a moment)
    answered = sorted(r[1] for r in results if r[2] == 200 and r[1] > killed_at)
    first_200 = max(zip(answered, answered[1:]), key=lambda pair: pair[1] - pair[0])[1]
    statuses = {}
    for r in results:
        statuses[r[2]] = statuses.get(r[2], 0) + 1
    elapsed = max(r[0] for r in results) - min(r[0] for r in results)
    print(f"\nHA daemon: primary {killed} killed; first 200 from the new primary after {first_200 - killed_at:.1f} s; "
          f"{len(results)} predictions sent at {len(results) / elapsed:.0f}/s: {statuses}; "
          f"503s sent {sorted({round(r[0] - killed_at) for r in results if r[2] == 503})} s after the kill; "
          f"{collections.Counter(client.details).most_common(3)}")
    assert set(statuses) <= {200, 503}, statuses
    assert all(r[3] for r in results if r[2] == 503), "a 503 without Retry-After"

    ok = [r for r in results if r[2] == 200]
    with psycopg.connect(cluster.node(new_port), autocommit=True) as conn:
        logged = dict(conn.execute(
            "SELECT request_id, count(*) FROM ml.predictions WHERE request_id = ANY(%s) GROUP BY 1",
            ([r[4] for r in results],)).fetchall())
        ids = dict(conn.execute(
            "SELECT request_id, public_id::text FROM ml.predictions WHERE request_id = ANY(%s)",
            ([r[4] for r in ok],)).fetchall())
    assert [r[4] for r in ok if r[4] not in logged] == [], "acknowledged predictions missing"
    assert {rid: n for rid, n in logged.items() if n > 1} == {}, "predictions logged twice"
    assert [r for r in ok if ids[r[4]] != r[5]] == [], "a 200 answered with another prediction_id than logged"

    # every schedule slot ran once; a run the failover cut off failed and its retry succeeded
    succeeded = [r[0] for r in runs if r[2] == "succeeded"]
    retried = [r for r in runs if r[2] == "failed"]
    # a catch-up run covers the slots missed while no primary was reachable
    covered = sum(1 + r[4] for r in runs if r[2] == "succeeded")
    print(f"HA daemon: {len(runs)} schedule runs, {len(set(succeeded))} slots run, {covered} covered, "
          f"{len(retried)} failed and retried: {[r[3] for r in retried]}")
    assert len(succeeded) == len(set(succeeded)), "a slot succeeded twice"
    assert set(succeeded) == {r[0] for r in runs}, [r for r in runs if r[0] not in succeeded]
    assert all(r[1] == 2 for r in runs if r[2] == "succeeded" and (r[0], 1, "failed") in {x[:3] for x in runs})
    assert len(set(succeeded)) >= 5 and covered >= 15

    # the old primary rejoins as a standby, for the tests after this one
    ha("start")
    ha("wait", "120")
    assert cluster.role_of(old_port) == "standby"


def test_a_read_only_gateway_scores_on_the_standby_and_logs_nothing(cluster, tmp_path):
    standby = cluster.standby()
    # the multi-host URL with target_session_attrs=standby picks the standby, wherever it is listed
    daemon = started_daemon(tmp_path, ha_url(cluster, "standby"), "--read-only", "--open-predict")
    writer = started_daemon(tmp_path, ha_url(cluster), "--open-predict", "--no-jobs")
    try:
        ready = requests.get(daemon.url + "/readyz", timeout=10)
        assert ready.status_code == 200, ready.text
        assert ready.json()["server"] == f"127.0.0.1:{standby}"
        assert ready.json()["writable"] is False and ready.json()["read_only"] is True
        with psycopg.connect(cluster.node(cluster.primary()), autocommit=True) as conn:
            before = conn.execute("SELECT count(*) FROM ml.predictions").fetchone()[0]
        path = "/v1/projects/heart/predict"
        batch = {"instances": [PATIENT, dict(PATIENT, age=40, chol=180), dict(PATIENT, cp=4, thalach=100)]}
        read_only = requests.post(daemon.url + path, json=batch, timeout=10)
        logged = requests.post(writer.url + path, json=batch, timeout=10)
        assert read_only.status_code == 200 and logged.status_code == 200, (read_only.text, logged.text)
        # the same answers, without a prediction id (nothing is logged to give feedback on)
        assert [{k: v for k, v in p.items() if k != "prediction_id"} for p in logged.json()["predictions"]] == \
            read_only.json()["predictions"]
        single = requests.post(daemon.url + path, json=PATIENT, timeout=10)
        assert single.status_code == 200 and "prediction_id" not in single.json() and "probabilities" in single.json()

        # what writes is refused, naming the flag
        for route, body in (("/v1/projects/heart/train", {"source": "heart_labelled", "label": "sick"}),
                            ("/v1/projects/heart/deploy", {"version": 1}),
                            ("/v1/projects/heart/records", {"rows": [PATIENT]}),
                            (f"/v1/predictions/{uuid.uuid4()}/feedback", {"label": "true"})):
            r = requests.post(daemon.url + route, json=body, timeout=10)
            assert r.status_code == 405 and "--read-only" in r.json()["detail"], (route, r.status_code, r.text)
        assert requests.get(daemon.url + "/v1/projects/heart/versions", timeout=10).status_code in (200, 401)
        cluster.wait_replayed()
        with psycopg.connect(cluster.node(cluster.primary()), autocommit=True) as conn:
            after = conn.execute("SELECT count(*) FROM ml.predictions").fetchone()[0]
        assert after == before + 3, "the read-only gateway logged predictions (or the writer did not)"
    finally:
        daemon.stop()
        writer.stop()
