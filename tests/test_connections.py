"""pgscore's connections behave as libpq's: sslmode against a server with a self-signed
certificate, verify-full against the right and a wrong root, a pg_hba.conf that takes only
TLS, a Unix socket directory in PGHOST, passwords from PGPASSFILE. A cluster of its own
(tests/private_cluster.py): the shared one is plain TCP with trust.
"""
import os
import subprocess
import time

import psycopg
import pytest

from daemon_helpers import BIN, Daemon, exit_within, messages, serve
from private_cluster import PrivateCluster, self_signed

DB = "conn"
PASSWORD = "pa:ss\\word"     # a ':' and a '\' to escape in .pgpass


@pytest.fixture(scope="module")
def cluster():
    c = PrivateCluster([
        "local   all  all                       trust",
        "hostssl all  pgscore     127.0.0.1/32  trust",
        "hostssl all  scram_user  127.0.0.1/32  scram-sha-256",
        "host    all  both_user   127.0.0.1/32  trust",
    ])
    try:
        c.psql(f"CREATE DATABASE {DB}")
        c.psql("CREATE EXTENSION pgscore", dbname=DB)
        c.psql("CREATE ROLE scram_user LOGIN PASSWORD 'pa:ss\\word'")
        c.psql("CREATE ROLE both_user LOGIN")
        c.psql("SELECT ml.grant_gateway('both_user')", dbname=DB)
        yield c
    finally:
        c.stop()


def url(cluster, mode, user="pgscore", extra=""):
    return f"postgres://{user}@127.0.0.1:{cluster.port}/{DB}?sslmode={mode}{extra}"


def clean_env(**variables):
    """The environment without any PG*/PGSCORE_* connection setting, plus `variables`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "PGSCORE_"))}
    env.update(variables)
    return env


def daemon_encrypted(cluster, daemon):
    """The daemon's own word (start-up check) and the server's (pg_stat_ssl of its connection)."""
    started = next(e for e in daemon.entries() if e.get("msg") == "pgscore serve listening")
    # the LISTEN connection opens just after the start: wait for it
    deadline = time.monotonic() + 10
    while True:
        rows = cluster.psql("SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) "
                            "WHERE a.application_name = 'pgscore serve (listen)'")
        if rows or time.monotonic() > deadline:
            return started["database_tls"], rows
        time.sleep(0.05)


@pytest.mark.parametrize("mode", ["prefer", "require", "allow"])
def test_prefer_and_require_encrypt_against_a_self_signed_certificate(tmp_path, cluster, mode):
    daemon = Daemon(tmp_path, env=clean_env(PGSCORE_DATABASE_URL=url(cluster, mode)))
    try:
        assert daemon_encrypted(cluster, daemon) == ("true", "t")
    finally:
        daemon.stop()


@pytest.mark.parametrize("mode, encrypted", [("allow", ("false", "f")), ("prefer", ("true", "t"))])
def test_allow_is_plain_and_prefer_is_tls_where_the_server_takes_both(tmp_path, cluster, mode, encrypted):
    """libpq's order: allow tries a plain connection first (TLS only when refused, as the
    hostssl-only role above shows), prefer tries TLS first."""
    daemon = Daemon(tmp_path, env=clean_env(PGSCORE_DATABASE_URL=url(cluster, mode, user="both_user")))
    try:
        assert daemon_encrypted(cluster, daemon) == encrypted
    finally:
        daemon.stop()


def test_the_default_sslmode_is_prefer(tmp_path, cluster):
    env = clean_env(PGHOST="127.0.0.1", PGPORT=str(cluster.port), PGUSER="pgscore", PGDATABASE=DB)
    daemon = Daemon(tmp_path, env=env)
    try:
        assert daemon_encrypted(cluster, daemon) == ("true", "t")
    finally:
        daemon.stop()


@pytest.mark.parametrize("mode", ["verify-full", "verify-ca", "require"])
def test_verify_checks_the_certificate_against_the_root(tmp_path, cluster, mode):
    """require too: with a root CA file libpq's sslmode=require behaves as verify-ca."""
    good = Daemon(tmp_path, env=clean_env(PGSCORE_DATABASE_URL=url(cluster, mode), PGSSLROOTCERT=str(cluster.cert)))
    try:
        assert daemon_encrypted(cluster, good) == ("true", "t")
    finally:
        good.stop()
    wrong, _ = self_signed(tmp_path, f"wrong-{mode}")
    proc, log = serve(tmp_path, "--port", "0", env=clean_env(
        PGSCORE_DATABASE_URL=url(cluster, mode, extra=f"&sslrootcert={wrong}")))
    code, _ = exit_within(proc, 15)
    assert code == 1 and "the TLS handshake with 127.0.0.1" in messages(log), messages(log)


def test_verify_full_checks_the_host_name(tmp_path, cluster):
    """The certificate names localhost and 127.0.0.1, not 127.0.0.2 (still this machine)."""
    proc, log = serve(tmp_path, "--port", "0", env=clean_env(
        PGSCORE_DATABASE_URL=f"postgres://pgscore@127.0.0.2:{cluster.port}/{DB}?sslmode=verify-full",
        PGSSLROOTCERT=str(cluster.cert)))
    code, _ = exit_within(proc, 15)
    text = messages(log)
    # the server listens on 127.0.0.1 only: either the name check or the refused connection ends it
    assert code == 1 and ("TLS handshake" in text or "cannot connect to 127.0.0.2" in text), text


def test_disable_against_a_tls_only_server_says_so(tmp_path, cluster):
    proc, log = serve(tmp_path, "--port", "0", env=clean_env(PGSCORE_DATABASE_URL=url(cluster, "disable")))
    code, _ = exit_within(proc, 15)
    text = messages(log)
    assert code == 1 and "no pg_hba.conf entry" in text and "no encryption" in text, text


def test_a_socket_directory_in_pghost(tmp_path, cluster):
    env = clean_env(PGHOST=str(cluster.socket_dir), PGPORT=str(cluster.port), PGUSER="pgscore", PGDATABASE=DB)
    daemon = Daemon(tmp_path, env=env)
    try:
        # a Unix-socket session has no client address (the LISTEN connection opens just after the start)
        deadline = time.monotonic() + 10
        sql = ("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pgscore serve (listen)' "
               "AND client_addr IS NULL AND client_port = -1")
        while cluster.psql(sql) != "1" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert cluster.psql(sql) == "1"
    finally:
        daemon.stop()
    out = subprocess.run([str(BIN), "keys", "create", "--scope", "predict", "--name", "socket"],
                         capture_output=True, text=True, env=env, timeout=30)
    assert out.returncode == 0, out.stderr
    assert cluster.psql("SELECT count(*) FROM ml.api_keys WHERE name = 'socket'", dbname=DB) == "1"


def test_pgpass_supplies_the_password_and_a_readable_one_is_ignored(tmp_path, cluster):
    passfile = tmp_path / "pgpass"
    passfile.write_text(f"# comment\nother:1:*:*:nothing\n"
                        f"127.0.0.1:{cluster.port}:*:scram_user:pa\\:ss\\\\word\n")
    os.chmod(passfile, 0o600)
    env = clean_env(PGSCORE_DATABASE_URL=url(cluster, "require", user="scram_user"), PGPASSFILE=str(passfile))
    daemon = Daemon(tmp_path, "--no-jobs", env=env)
    daemon.stop()
    assert daemon.proc.returncode == 0
    os.chmod(passfile, 0o644)
    proc, log = serve(tmp_path, "--port", "0", "--no-jobs", env=env)
    code, _ = exit_within(proc, 15)
    text = messages(log)
    assert code == 1 and "has group or world access" in text, text
    assert "listening" not in text
    # the right password through psycopg too: the role really has it (the test is not vacuous)
    with psycopg.connect(host="127.0.0.1", port=cluster.port, dbname=DB, user="scram_user",
                         password=PASSWORD, sslmode="require") as c:
        assert c.execute("SELECT current_user").fetchone()[0] == "scram_user"
