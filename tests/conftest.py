"""Shared fixtures: a fresh database with the extension on the private cluster.

make test exports PGHOST/PGPORT/PGUSER from tools/pgcluster.sh; these tests talk to
that real server (no mocks) and drop their database at the end.
"""
import contextlib
import os
import subprocess

import psycopg
import pytest

TEST_DB = "pgscore_pytest"


def dsn(dbname):
    return psycopg.conninfo.make_conninfo(
        host=os.environ.get("PGHOST", "127.0.0.1"),
        port=os.environ.get("PGPORT", "55432"),
        user=os.environ.get("PGUSER", "pgscore"),
        dbname=dbname,
    )


def create_database(name):
    """A fresh database `name` with the extension (dropped first if left over); its DSN."""
    with psycopg.connect(dsn("postgres"), autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {name}")
    with psycopg.connect(dsn(name), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION pgscore")
    return dsn(name)


def drop_database(name):
    with psycopg.connect(dsn("postgres"), autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="session")
def database():
    yield create_database(TEST_DB)
    drop_database(TEST_DB)


@pytest.fixture
def conn(database):
    with psycopg.connect(database, autocommit=True) as c:
        yield c


HEART_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "heart", "processed.cleveland.data")
HEART_COLUMNS = ["age", "sex", "cp", "trestbps", "chol", "fbs", "restecg", "thalach",
                 "exang", "oldpeak", "slope", "ca", "thal"]


def load_raw_heart(conn, table):
    """The raw heart file as `table` (id serial, the 13 features, num): "?" stays text in
    ca and thal, as a new user's \\copy would leave it."""
    conn.execute(f"DROP TABLE IF EXISTS {table} CASCADE")
    conn.execute(f"CREATE TABLE {table} (id serial, " + ", ".join(
        f"{n} {'text' if n in ('ca', 'thal') else 'float8'}" for n in HEART_COLUMNS) + ", num int)")
    with open(HEART_FILE, "rb") as f, conn.cursor().copy(
            f"COPY {table} ({', '.join(HEART_COLUMNS)}, num) FROM STDIN WITH (FORMAT csv)") as cp:
        cp.write(f.read())


def backend_rss_anon_kb(conn):
    """Private (anonymous) resident memory of this connection's backend, in kB."""
    pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    raise RuntimeError("RssAnon not found")


def pg_bin(tool):
    bindir = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True).stdout.strip()
    return os.path.join(bindir, tool)


# ------------------------------------------------------------------ server log (crash detection)

def server_log():
    out = subprocess.run([os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools", "pgcluster.sh"), "status"],
                         capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.startswith("log:"):
            return line.split(":", 1)[1].strip()
    return None


def log_size(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def log_since(path, offset):
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


@contextlib.contextmanager
def watched_database(name):
    """A fresh database `name` (yields its DSN) watched for crashes: a sentinel session
    must survive and the server log must not report a backend terminated by a signal."""
    log = server_log()
    start = log_size(log) if log else 0
    url = create_database(name)
    sentinel = psycopg.connect(url, autocommit=True)
    pid = sentinel.execute("SELECT pg_backend_pid()").fetchone()[0]
    yield url
    assert sentinel.execute("SELECT pg_backend_pid()").fetchone()[0] == pid, "a backend crashed"
    sentinel.close()
    if log:
        text = log_since(log, start)
        assert "terminated by signal" not in text, text[-3000:]
        assert "server process" not in text or "was terminated" not in text, text[-3000:]
    drop_database(name)
