"""The monitor under load: a check reads its window (through its index), not the table,
so with ~100k logged predictions and inserts going on it finishes within the daemon's
statement timeout and writes its evaluation. Bounded: a few seconds.
"""
import threading
import time

import psycopg

from conftest import drop_database
from daemon_helpers import make_database

DB = "pgscore_monitor_load"


def test_a_check_finishes_within_the_statement_timeout_under_inserts():
    dsn = make_database(DB)
    try:
        with psycopg.connect(dsn, autocommit=True) as c:
            # ~100k predictions of the deployed version, 2,000 with feedback, and as many of no version
            # (logged after the deployment: the window starts there)
            c.execute("""INSERT INTO ml.predictions (project, version, features, prediction)
                         SELECT 'heart', v, to_jsonb(h) - 'num' - 'sick', (h.num > 0)::text
                           FROM heart_labelled h, generate_series(1, 330) g, (VALUES (1), (NULL)) vs(v)""")
            c.execute("""INSERT INTO ml.feedback (prediction_id, label)
                         SELECT id, prediction FROM ml.predictions WHERE version = 1 ORDER BY id LIMIT 2000""")
            c.execute("ANALYZE ml.predictions")
            c.execute("ANALYZE ml.feedback")
            c.execute("SELECT ml.monitor('heart', window_size => '1 hour', every => '1 second', drift_rows => 100)")

            stop = threading.Event()
            inserted = []

            def load():
                with psycopg.connect(dsn, autocommit=True) as w:
                    while not stop.is_set():
                        w.execute("""INSERT INTO ml.predictions (project, version, features, prediction)
                                     SELECT 'heart', 1, to_jsonb(h) - 'num' - 'sick', 'true'
                                       FROM heart_labelled h LIMIT 200""")
                        inserted.append(200)

            writer = threading.Thread(target=load)
            writer.start()
            try:
                time.sleep(1)
                # as the daemon's pool calls it: under its default statement timeout
                c.execute("SET statement_timeout = 5000")
                start = time.monotonic()
                c.execute("SELECT count(*) FROM ml.run_monitors('load-test')")
                took = time.monotonic() - start
                c.execute("RESET statement_timeout")
                time.sleep(1)
            finally:
                stop.set()
                writer.join()
            assert sum(inserted) > 0, "the insert load ran during the check"
            error, = c.execute("SELECT last_error FROM ml.monitors WHERE project = 'heart'").fetchone()
            assert error is None, error
            n, = c.execute("SELECT n FROM ml.evaluations WHERE project = 'heart' ORDER BY id DESC LIMIT 1").fetchone()
            assert n == 2000
            features = c.execute("SELECT count(*) FROM ml.drift WHERE project = 'heart'").fetchone()[0]
            assert features >= 10, "every feature's drift was measured"
            # the window is read through its index (version and time), not among all the project's rows
            plan = "\n".join(r[0] for r in c.execute(
                "EXPLAIN SELECT pr.features FROM ml.predictions pr WHERE pr.project = 'heart' AND pr.version = 1 "
                "AND pr.created_at > now() - interval '1 hour' AND pr.created_at <= now() "
                "ORDER BY pr.created_at DESC LIMIT 20000"))
            assert "_project_version_created_at_idx" in plan, plan
            print(f"check took {took:.2f} s with {sum(inserted)} rows inserted meanwhile")
    finally:
        drop_database(DB)
