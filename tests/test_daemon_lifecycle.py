"""pgscore serve's life cycle: what cannot work ends the process at once, with one
message and a non-zero status (a taken port, a refused role, a missing database or
extension); signals always end it; a loop that keeps failing backs off and says so once.
Real processes, real sockets, the private cluster.
"""
import os
import signal
import socket
import subprocess
import time
from contextlib import contextmanager

import psycopg
import pytest

from conftest import create_database, drop_database, dsn
from daemon_helpers import BIN, Daemon, database_url, exit_within, messages, serve

DB = "pgscore_lifecycle"


@pytest.fixture(scope="module")
def db():
    create_database(DB)
    yield DB
    drop_database(DB)


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_a_taken_port_ends_the_process_with_a_message_naming_it(tmp_path, db):
    with listening_socket() as port:
        proc, log = serve(tmp_path, "--port", str(port), url=database_url(db))
        code, took = exit_within(proc, 10)
    assert code != 0
    text = messages(log)
    assert f"cannot listen on 127.0.0.1:{port}" in text and "Address already in use" in text, text
    assert took < 5
    # no retry loop: a few lines, not megabytes
    assert len(log.read_text()) < 4000, text


def test_sigterm_after_a_failed_start_ends_the_process(tmp_path, db):
    """SIGTERM while the start fails, and while the database does not answer at all."""
    with listening_socket() as port:
        proc, _ = serve(tmp_path, "--port", str(port), url=database_url(db))
        time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        code, took = exit_within(proc, 5)
    assert code != 0
    # a "server" that accepts TCP but never answers: the start-up check waits for it
    with listening_socket() as silent:
        proc, log = serve(tmp_path, "--port", "0", "--drain-timeout", "2", url=silent_url(silent))
        time.sleep(1)
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        code, took = exit_within(proc, 3)
    assert code != 0
    # left alone, the silent server is given up on after the connect timeout, with a message
    with listening_socket() as silent:
        proc, log = serve(tmp_path, "--port", "0", url=silent_url(silent))
        code, took = exit_within(proc, 15)
    assert code != 0 and "cannot connect to 127.0.0.1" in messages(log), messages(log)


def silent_url(port):
    return f"postgres://pgscore@127.0.0.1:{port}/x?sslmode=disable"


@contextmanager
def listening_socket():
    """A loopback port taken: it accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        yield s.getsockname()[1]


@pytest.mark.parametrize("case", ["unknown role", "missing database", "missing extension", "refused port"])
def test_a_database_that_cannot_serve_ends_the_start(tmp_path, db, case):
    port = os.environ.get("PGPORT", "55432")
    url, expected = {
        "unknown role": (database_url(db, user="no_such_role"), 'role "no_such_role" does not exist'),
        "missing database": (database_url("no_such_database"), 'database "no_such_database" does not exist'),
        "missing extension": (database_url("postgres"), "the pgscore extension is not installed in database postgres"),
        "refused port": ("postgres://pgscore@127.0.0.1:1/x?sslmode=disable", "cannot connect to 127.0.0.1:1"),
    }[case]
    proc, log = serve(tmp_path, "--port", "0", url=url)
    code, took = exit_within(proc, 10)
    text = messages(log)
    assert code == 1 and expected in text, text
    assert "listening" not in text and "no database connection became free" not in text
    assert took < 5 and port


def test_keys_says_what_failed(db):
    out = subprocess.run([str(BIN), "keys", "list"], capture_output=True, text=True, timeout=30,
                         env=dict(os.environ, PGSCORE_DATABASE_URL=database_url("no_such_database")))
    assert out.returncode != 0
    assert 'database "no_such_database" does not exist' in out.stderr, out.stderr


def test_sigterm_and_sigint_end_a_running_daemon(tmp_path, db):
    for sig in (signal.SIGTERM, signal.SIGINT):
        daemon = Daemon(tmp_path, "--drain-timeout", "3", dbname=db)
        daemon.proc.send_signal(sig)
        code, took = exit_within(daemon.proc, 6)
        daemon.log.close()
        assert code == 0, daemon.log_path.read_text()


def test_a_failing_loop_backs_off_and_warns_once(tmp_path, db):
    """ml.run_monitors failing at each of 100 checks a second: one warning, no spin; back in order once it works."""
    daemon = Daemon(tmp_path, "--monitor-interval-ms", "10", dbname=db)
    try:
        with psycopg.connect(dsn(db), autocommit=True) as c:
            c.execute("ALTER FUNCTION ml.run_monitors(text, timestamptz) RENAME TO run_monitors_away")
            try:
                before = cpu_seconds(daemon.proc.pid)
                time.sleep(4)
                used = cpu_seconds(daemon.proc.pid) - before
            finally:
                c.execute("ALTER FUNCTION ml.run_monitors_away(text, timestamptz) RENAME TO run_monitors")
        warnings = [e for e in daemon.entries() if e.get("msg") == "monitors could not run"]
        assert len(warnings) == 1, warnings
        assert "run_monitors" in warnings[0]["error"]
        assert used < 1.0, f"{used} s of CPU in 4 s"
        assert daemon.proc.poll() is None
    finally:
        daemon.stop()
