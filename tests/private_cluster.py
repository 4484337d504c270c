"""A small PostgreSQL cluster of its own, for what the shared test cluster does not have:
TLS with a self-signed certificate, a Unix socket directory, password (scram) roles,
a pg_hba.conf that takes only TLS over TCP. Run as the OS user `pgscore` when root, as
tools/pgcluster.sh does (PostgreSQL refuses to run as root).
"""
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from conftest import pg_bin

SERVER_USER = "pgscore"
IS_ROOT = os.geteuid() == 0


def as_server(*cmd, **kwargs):
    if IS_ROOT:
        cmd = ("runuser", "-u", SERVER_USER, "--", *cmd)
    kwargs.setdefault("capture_output", True)
    return subprocess.run(cmd, check=True, text=True, cwd="/", **kwargs)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def self_signed(directory, name, cn="localhost"):
    """A self-signed certificate for localhost and 127.0.0.1: (certificate, key) paths."""
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", f"/CN={cn}", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


class PrivateCluster:
    """initdb + ssl=on (self-signed) + a socket directory; `hba` lines replace pg_hba.conf."""

    def __init__(self, hba):
        self.dir = Path(tempfile.mkdtemp(prefix="pgscore-private-", dir="/tmp"))
        try:
            self._start(hba)
        except BaseException:
            self.stop()
            raise

    def _start(self, hba):
        os.chmod(self.dir, 0o755)
        self.data = self.dir / "data"
        self.socket_dir = self.dir / "socket"
        self.socket_dir.mkdir(mode=0o777)
        os.chmod(self.socket_dir, 0o777)       # the server writes it, the tests connect through it
        self.port = free_port()
        self.cert, key = self_signed(self.dir, "server")
        if IS_ROOT:
            uid = pwd.getpwnam(SERVER_USER).pw_uid
            for path in (self.dir, self.socket_dir):
                os.chown(path, uid, -1)
        as_server(pg_bin("initdb"), "-D", str(self.data), "-U", "pgscore", "--auth=trust", "-E", "UTF8", "--no-locale")
        os.chmod(key, 0o644)                   # a copy for the server's user to take
        # the server's key: owned by the server's user, mode 0600 (PostgreSQL refuses others)
        as_server("cp", str(self.cert), str(key), str(self.data))
        as_server("chmod", "0600", str(self.data / "server.key"))
        conf = f"""
listen_addresses = '127.0.0.1'
port = {self.port}
unix_socket_directories = '{self.socket_dir}'
ssl = on
ssl_cert_file = 'server.crt'
ssl_key_file = 'server.key'
password_encryption = 'scram-sha-256'
max_connections = 40
shared_buffers = 32MB
fsync = off
"""
        as_server("sh", "-c", f"cat >> {self.data}/postgresql.conf", input=conf)
        as_server("sh", "-c", f"cat > {self.data}/pg_hba.conf", input="\n".join(hba) + "\n")
        as_server(pg_bin("pg_ctl"), "start", "-D", str(self.data), "-l", str(self.data / "server.log"), "-w", "-t", "60",
                  capture_output=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def psql(self, sql, dbname="postgres"):
        """As the superuser over the socket (trust)."""
        return subprocess.run([pg_bin("psql"), "-X", "-q", "-At", "-h", str(self.socket_dir), "-p", str(self.port),
                               "-U", "pgscore", "-d", dbname, "-v", "ON_ERROR_STOP=1", "-c", sql],
                              check=True, capture_output=True, text=True).stdout.strip()

    def stop(self):
        try:
            if (self.data / "postmaster.pid").exists():
                as_server(pg_bin("pg_ctl"), "stop", "-D", str(self.data), "-m", "immediate", "-w", "-t", "60")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
