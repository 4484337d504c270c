#!/usr/bin/env python3
"""Fault run: `pgscore serve` under load from a few client threads while PostgreSQL's
postmaster is killed with kill -9 and restarted, again and again; then every prediction
answered 200 is looked up in ml.predictions. Prints the counts the README quotes:

  requests, acknowledged (200 with a prediction id), lost (acknowledged, not stored),
  duplicates (an id answered twice), daemon deaths (the daemon died of a signal),
  hung (a request open past its deadline: the client gave up first).

Usage (the private cluster and the built daemon; loopback only):
  eval "$(tools/pgcluster.sh env)"; make daemon
  tools/faults.py [--cycles 10] [--clients 6] [--load-seconds 3] [--request-timeout 3]

tests/test_faults.py runs the same with 3 cycles.
"""
import argparse
import itertools
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg
import requests

ROOT = Path(__file__).resolve().parent.parent
CLUSTER = str(ROOT / "tools" / "pgcluster.sh")
sys.path.insert(0, str(ROOT / "tests"))

from daemon_helpers import PATIENT  # noqa: E402


def datadir():
    out = subprocess.run([CLUSTER, "status"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.startswith("datadir:"):
            return Path(line.split(":", 1)[1].strip())
    raise RuntimeError("tools/pgcluster.sh status names no data dir:\n" + out)


def children(pid):
    """Pids whose parent is `pid` (from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces, so split after the last ')'
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry))
    return found


def alive(pid):
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def crash_postgres(data=None, timeout=15):
    """kill -9 of the postmaster; waits for its children to notice and exit (kill -9 of
    any still there after 10 s), then `tools/pgcluster.sh start` (crash recovery)."""
    data = data or datadir()
    pid = int((data / "postmaster.pid").read_text().split()[0])
    kids = children(pid)
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (alive(pid) or any(alive(k) for k in kids)):
        time.sleep(0.05)
    for k in kids:
        if alive(k):
            os.kill(k, signal.SIGKILL)
    # pg_ctl (and the next postmaster) take a pid that still exists, even as a zombie,
    # for a running server: wait until init has reaped it
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        time.sleep(0.05)
    if os.path.exists(f"/proc/{pid}"):
        # still a zombie: dead, no shared memory attached, like every child checked above
        (data / "postmaster.pid").unlink(missing_ok=True)
    deadline = time.monotonic() + timeout
    while True:
        out = subprocess.run([CLUSTER, "start"], capture_output=True, text=True)
        if out.returncode == 0:
            return
        if time.monotonic() > deadline:
            raise RuntimeError("PostgreSQL did not restart:\n" + out.stdout + out.stderr)
        time.sleep(0.5)


class Load:
    """`clients` threads posting predictions (each with its own X-Request-Id) until stopped."""

    def __init__(self, url, clients, client_timeout):
        self.url = url + "/v1/projects/heart/predict"
        self.client_timeout = client_timeout
        self.results = []          # (request_id, status or exception name, prediction_id, seconds)
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.counter = itertools.count()
        self.threads = [threading.Thread(target=self._client, args=(i,), daemon=True) for i in range(clients)]

    def _client(self, n):
        session = requests.Session()
        while not self.stopping.is_set():
            rid = f"fault-{n}-{next(self.counter)}"
            started = time.monotonic()
            try:
                r = session.post(self.url, json=PATIENT, headers={"X-Request-Id": rid}, timeout=self.client_timeout)
                pid = r.json().get("prediction_id") if r.status_code == 200 else None
                outcome = r.status_code
            except requests.exceptions.Timeout:
                outcome, pid = "hung", None
            except requests.exceptions.RequestException as e:
                outcome, pid = type(e).__name__, None
                session = requests.Session()
                time.sleep(0.05)
            with self.lock:
                self.results.append((rid, outcome, pid, time.monotonic() - started))
            if outcome != 200:
                time.sleep(0.02)

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def acknowledged(self):
        with self.lock:
            return sum(1 for r in self.results if r[1] == 200)

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join(self.client_timeout + 5)


def wait_for_acknowledgements(load, more, timeout):
    target = load.acknowledged() + more
    deadline = time.monotonic() + timeout
    while load.acknowledged() < target:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def crash_run(url, dsn, cycles=3, clients=4, load_seconds=2.0, request_timeout=3.0, daemon_proc=None):
    """Load, kill -9 the postmaster, restart, `cycles` times; the counts."""
    load = Load(url, clients, client_timeout=request_timeout + 3).start()
    data = datadir()
    recovered = []
    try:
        for _ in range(cycles):
            time.sleep(load_seconds)
            crash_postgres(data)
            started = time.monotonic()
            ok = wait_for_acknowledgements(load, 20, timeout=30)
            recovered.append(time.monotonic() - started if ok else None)
        time.sleep(load_seconds)
    finally:
        load.stop()
    answered = [(rid, pid) for rid, outcome, pid, _ in load.results if outcome == 200]
    ids = [pid for _, pid in answered]
    stored = {}
    with psycopg.connect(dsn, autocommit=True) as c:
        for i in range(0, len(ids), 5000):
            for pid, rid in c.execute("SELECT public_id::text, request_id FROM ml.predictions WHERE public_id = ANY(%s::uuid[])",
                                      (ids[i:i + 5000],)):
                stored[pid] = rid
    statuses = {}
    for _, outcome, _, _ in load.results:
        statuses[str(outcome)] = statuses.get(str(outcome), 0) + 1
    deaths = 0
    if daemon_proc is not None and daemon_proc.poll() is not None and daemon_proc.returncode < 0:
        deaths = 1
    return {
        "requests": len(load.results),
        "acknowledged": len(answered),
        "lost": sum(1 for rid, pid in answered if stored.get(pid) != rid),
        "duplicates": len(ids) - len(set(ids)),
        "daemon_deaths": deaths,
        "hung": statuses.get("hung", 0),
        "slowest_s": round(max((r[3] for r in load.results), default=0), 2),
        "statuses": statuses,
        "recovery_s": [round(r, 2) if r is not None else None for r in recovered],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cycles", type=int, default=10)
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--load-seconds", type=float, default=3.0)
    parser.add_argument("--request-timeout", type=float, default=3.0)
    args = parser.parse_args()

    from conftest import drop_database
    from daemon_helpers import Daemon, make_database

    name = "pgscore_faults_run"
    dsn = make_database(name)
    daemon = Daemon(Path(tempfile.mkdtemp(prefix="pgscore-faults-")), "--open-predict", "--no-jobs",
                    "--request-timeout", str(args.request_timeout), dbname=name)
    try:
        counts = crash_run(daemon.url, dsn, cycles=args.cycles, clients=args.clients,
                           load_seconds=args.load_seconds, request_timeout=args.request_timeout,
                           daemon_proc=daemon.proc)
        alive_after = daemon.proc.poll() is None
        started = time.monotonic()
        daemon.proc.send_signal(signal.SIGTERM)
        code = daemon.proc.wait(timeout=30)
        counts["sigterm_exit"] = f"{code} after {time.monotonic() - started:.2f} s"
        if not alive_after or code < 0:
            counts["daemon_deaths"] = 1
    finally:
        daemon.stop()
        drop_database(name)
    print(f"fault run: {args.cycles} kill -9 of the postmaster, {args.clients} clients, "
          f"--request-timeout {args.request_timeout} s")
    for key in ("requests", "acknowledged", "lost", "duplicates", "daemon_deaths", "hung", "slowest_s",
                "statuses", "recovery_s", "sigterm_exit"):
        print(f"  {key:14} {counts[key]}")
    bad = counts["lost"] or counts["duplicates"] or counts["daemon_deaths"] or counts["hung"]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
