"""What the daemon tests share: the built `pgscore` binary started on a free loopback
port against the private cluster (`Daemon`), a database with the heart data and a
deployed model, API keys made with `pgscore keys`.
"""
import json
import re
import os
import signal
import subprocess
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from conftest import create_database, dsn

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(os.environ.get("PGSCORE_BIN", ROOT / ".build" / "release" / "pgscore"))
HEART = ROOT / "data" / "heart" / "processed.cleveland.data"
GATEWAY_DB = "pgscore_gateway"
COLUMNS = "age, sex, cp, trestbps, chol, fbs, restecg, thalach, exang, oldpeak, slope, ca, thal, num"
FEATURES = ["age", "sex", "cp", "trestbps", "chol", "fbs", "restecg", "thalach", "exang", "oldpeak", "slope", "ca", "thal"]
PATIENT = {"age": 63, "sex": 1, "cp": 1, "trestbps": 145, "chol": 233, "fbs": 1, "restecg": 2, "thalach": 150,
           "exang": 0, "oldpeak": 2.3, "slope": 3, "ca": "0.0", "thal": "6.0"}


def database_url(dbname, user=None):
    return "postgres://{user}@{host}:{port}/{db}?sslmode=disable".format(
        user=user or os.environ.get("PGUSER", "pgscore"), host=os.environ.get("PGHOST", "127.0.0.1"),
        port=os.environ.get("PGPORT", "55432"), db=dbname)


def make_database(name):
    """A database with the extension, the heart data, a labelled view and two versions of 'heart'."""
    with psycopg.connect(create_database(name), autocommit=True) as c:
        c.execute("""CREATE TABLE heart_raw (age float8, sex float8, cp float8, trestbps float8, chol float8,
                       fbs float8, restecg float8, thalach float8, exang float8, oldpeak float8, slope float8,
                       ca text, thal text, num int)""")
        with open(HEART, "rb") as f, c.cursor().copy(f"COPY heart_raw ({COLUMNS}) FROM STDIN WITH (FORMAT csv)") as cp:
            cp.write(f.read())
        c.execute("CREATE VIEW heart_labelled AS SELECT *, num > 0 AS sick FROM heart_raw")
        c.execute("SELECT ml.train('heart', 'heart_labelled', 'sick', exclude => ARRAY['num'])")
        c.execute("SELECT ml.create_project('empty', 'classification')")
        # what API keys may train on (POST /v1/projects/{p}/train)
        c.execute("SELECT ml.allow_source(NULL, 'heart_labelled')")
    return dsn(name)


def run_cli(*args, dbname=GATEWAY_DB):
    env = dict(os.environ, PGSCORE_DATABASE_URL=database_url(dbname))
    return subprocess.run([str(BIN), *args], capture_output=True, text=True, env=env, timeout=60)


def create_key(scope, name="test", dbname=GATEWAY_DB):
    out = run_cli("keys", "create", "--scope", scope, "--name", name, dbname=dbname)
    assert out.returncode == 0, out.stderr
    fields = dict(line.split(":", 1) for line in out.stdout.splitlines() if line.startswith(("id:", "key:")))
    return int(fields["id"].strip()), fields["key"].strip()


class Daemon:
    """`pgscore serve --port 0 ...` with its JSON log in a file; the port is read from the log."""

    def __init__(self, tmp_path, *args, dbname=GATEWAY_DB, user=None, env=None):
        """`env`: the connection's environment instead of PGSCORE_DATABASE_URL (libpq's PG* variables)."""
        if not BIN.exists():
            pytest.fail(f"{BIN} is missing: run `make daemon` first")
        self.log_path = tmp_path / f"pgscore-{time.monotonic_ns()}.log"
        self.log = open(self.log_path, "w")
        if env is None:
            env = dict(os.environ, PGSCORE_DATABASE_URL=database_url(dbname, user))
        self.proc = subprocess.Popen([str(BIN), "serve", "--host", "127.0.0.1", "--port", "0", *args],
                                     stdout=self.log, stderr=subprocess.STDOUT, env=env)
        self.port = self._wait_for_port()
        self.url = f"http://127.0.0.1:{self.port}"

    def _wait_for_port(self):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            for entry in self.entries():
                if entry.get("msg") == "pgscore serve listening":
                    return int(entry["address"].rsplit(":", 1)[1])
            if self.proc.poll() is not None:
                raise AssertionError(f"pgscore serve exited with {self.proc.returncode}:\n{self.log_path.read_text()}")
            time.sleep(0.05)
        raise AssertionError(f"pgscore serve did not start:\n{self.log_path.read_text()}")

    def entries(self):
        out = []
        for line in self.log_path.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
        return out

    def kill(self):
        """SIGKILL: no graceful shutdown, as in a crash."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log.close()

    def stop(self):
        if self.log.closed:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def serve(tmp_path, *args, url=None, env=None):
    """Starts `pgscore serve` (not waiting for it: for a start that fails) with the database
    `url`, or the environment `env`; its log (stdout + stderr) in a file."""
    log_path = tmp_path / f"serve-{time.monotonic_ns()}.log"
    log = open(log_path, "w")
    proc = subprocess.Popen([str(BIN), "serve", "--host", "127.0.0.1", *args], stdout=log, stderr=subprocess.STDOUT,
                            env=env if env is not None else dict(os.environ, PGSCORE_DATABASE_URL=url))
    return proc, log_path


def messages(log_path):
    """The log's lines, JSON decoded into "msg: error" (other lines as they are)."""
    out = []
    for line in log_path.read_text().splitlines():
        try:
            entry = json.loads(line)
            out.append(f"{entry.get('msg')}: {entry.get('error', '')}")
        except ValueError:
            out.append(line)
    return "\n".join(out)


def exit_within(proc, seconds):
    """The exit status, and how long it took; fails (and kills) past `seconds`."""
    start = time.monotonic()
    try:
        code = proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail(f"the process did not exit within {seconds} s")
    return code, time.monotonic() - start


@contextmanager
def daemon_starter(tmp_path, dbname=GATEWAY_DB):
    """`start(*args)` starts a Daemon; all it started are stopped at the end (for a fixture)."""
    started = []

    def start(*args, dbname=dbname):
        daemon = Daemon(tmp_path, *args, dbname=dbname)
        started.append(daemon)
        return daemon

    try:
        yield start, started
    finally:
        for daemon in started:
            daemon.stop()


def batch_sizes(url):
    """{upper bound: cumulative count} of the batch-size histogram, and the count of batches."""
    with urllib.request.urlopen(url + "/metrics", timeout=10) as r:
        text = r.read().decode()
    buckets = {float(le): int(float(n)) for le, n in re.findall(
        r'pgscore_predict_batch_size_requests_bucket\{le="([^"]+)"\} (\S+)', text.replace("+Inf", "inf"))}
    total = int(float(re.search(r"pgscore_predict_batch_size_requests_count (\S+)", text).group(1)))
    return buckets, total
