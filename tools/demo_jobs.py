#!/usr/bin/env python3
"""The second half of `make demo`, against a running `pgscore serve` (started by
tools/demo_jobs.sh, which passes PGSCORE_URL and an admin key in PGSCORE_KEY) and the
demo database in PGHOST/PGPORT/PGUSER/PGDATABASE, as tools/demo_registry.sql left it:
project "heart" with version 1 (logistic regression) serving, trained on the view
heart_labelled. Bracelet readings come in through the gateway, their ground truth
later; a monitor rolls back a bad version on its own; a schedule retrains every minute.
Query results are printed by psql, so they look like the SQL demo's.
"""
import json
import os
import subprocess
import sys
import time

import psycopg
import requests

URL = os.environ["PGSCORE_URL"]
AUTH = {"Authorization": "Bearer " + os.environ["PGSCORE_KEY"]}
FEATURES = ["age", "sex", "cp", "trestbps", "chol", "fbs", "restecg", "thalach", "exang", "oldpeak", "slope",
            "ca", "thal"]
# what demo_registry.sql trained heart on; the schedule retrains on the same
PARAMS = {"source": "heart_labelled", "label": "sick", "exclude": ["num"]}

db = psycopg.connect(autocommit=True)
http = requests.Session()        # one connection for all readings, as a bracelet's hub would keep


# the monitor's last checks, oldest first: one row per check that found labelled predictions
EVALUATIONS = """SELECT at, version, labelled, accuracy, test_accuracy, threshold, degraded
                   FROM (SELECT window_end, window_end::time(0) AS at, version, n AS labelled,
                                round(value::numeric, 3) AS accuracy, round(baseline::numeric, 3) AS test_accuracy,
                                round(threshold::numeric, 3) AS threshold, degraded
                           FROM ml.evaluation_history WHERE project = 'heart' ORDER BY window_end DESC LIMIT 8) e
                  ORDER BY window_end"""


def section(n, title):
    print(f"\n== {n}. {title} ==", flush=True)


def say(text):
    print("    " + text, flush=True)


def show(sql):
    """Prints a query's result as psql does in the SQL half of the demo."""
    sys.stdout.flush()
    subprocess.run(["psql", "-X", "-q", "-P", "footer=off", "-v", "ON_ERROR_STOP=1", "-c", sql], check=True)


def one(sql, params=()):
    return db.execute(sql, params).fetchone()


def wait_for(what, timeout, probe):
    """Polls probe() until it returns something true; every wait of the demo is bounded."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.2)
    sys.exit(f"demo_jobs.py: timed out after {timeout:.0f} s waiting for {what}")


def predict(readings):
    answers = []
    for features in readings:
        r = http.post(f"{URL}/v1/projects/heart/predict", json=features, timeout=10)
        if r.status_code != 200:
            sys.exit(f"demo_jobs.py: POST /v1/projects/heart/predict answered {r.status_code}: {r.text}")
        answers.append(r.json())
    return answers


def feedback(answers, truths):
    for answer, truth in zip(answers, truths):
        r = http.post(f"{URL}/v1/predictions/{answer['prediction_id']}/feedback", json={"label": truth}, timeout=10)
        if r.status_code != 201:
            sys.exit(f"demo_jobs.py: POST /v1/predictions/{answer['prediction_id']}/feedback answered "
                     f"{r.status_code}: {r.text}")


def print_answers(readings, answers, count):
    for features, a in list(zip(readings, answers))[:count]:
        say(f"age {features['age']:.0f}, chol {features['chol']:.0f}, thalach {features['thalach']:.0f} -> "
            f"risk {a['prediction']:5} (p {a['probabilities']['true']:.3f}), version {a['version']}, "
            f"prediction_id {a['prediction_id']}")


# the heart file's patients in file order, as readings (the model's feature names) and the truth
rows = db.execute(f"SELECT {', '.join(FEATURES)}, num > 0 FROM heart_raw ORDER BY ctid").fetchall()
readings = [dict(zip(FEATURES, row[:-1])) for row in rows]
truths = [row[-1] for row in rows]
# 100 readings for version 1, 60 for the bad version, 30 after the rollback. Feedback goes
# out in reading order, so a check sees a prefix of each batch: on every prefix of 20 or
# more (min_labels) version 1 stays at 0.72 or above (threshold 0.666) and the bad
# version at 0.15 or below (threshold 0.679), so the story does not depend on when the
# daemon's checks happen.
good, bad, after = slice(0, 100), slice(100, 160), slice(160, 190)

section(13, "A monitor watches the serving version's live accuracy (the daemon checks every 2 s)")
db.execute("SELECT ml.monitor('heart', window_size => '30 seconds', min_labels => 20, max_drop => 0.15, "
           "action => 'rollback', every => '2 seconds')")
show("SELECT project, window_size, min_labels, max_drop, action, every FROM ml.monitors")

section(14, "Readings stream in through the gateway: POST /v1/projects/heart/predict, one per reading")
started = time.monotonic()
answers = predict(readings[good])
print_answers(readings[good], answers, 5)
say(f"... {len(answers)} readings in {time.monotonic() - started:.1f} s, served by version(s) "
    f"{sorted({a['version'] for a in answers})}; each logged in ml.predictions")

section(15, "Ground truth arrives later: POST /v1/predictions/{id}/feedback; accuracy over time")
feedback(answers, truths[good])
say(f"{len(answers)} true labels sent; the monitor evaluates the last 30 s of version 1's predictions")
wait_for("the monitor to evaluate the 100 labelled readings", 15,
         lambda: one("SELECT 1 FROM ml.evaluations WHERE project = 'heart' AND n = %s", (len(answers),)))
show(EVALUATIONS)

section(16, "A bad version ships: an upstream bug inverts the labels, and its test split cannot tell")
good_version = one("SELECT ml.deployed_version('heart')")[0]
MISLABELLED = "CREATE VIEW heart_mislabelled AS SELECT *, num = 0 AS sick FROM heart_raw"
say(MISLABELLED + "   -- meant: num > 0")
db.execute(MISLABELLED)
show("""SELECT version, algorithm, round(score::numeric, 3) AS test_accuracy, deployed
          FROM ml.train('heart', 'heart_mislabelled', 'sick', algorithm => 'naive_bayes',
                        exclude => ARRAY['num'], deploy => 'most_recent')""")
bad_version = one("SELECT ml.deployed_version('heart')")[0]
answers = predict(readings[bad])
print_answers(readings[bad], answers, 3)
say(f"... {len(answers)} readings served by version(s) {sorted({a['version'] for a in answers})}; "
    "now their true labels")
feedback(answers, truths[bad])

section(17, "The monitor catches it within one window and rolls back on its own")
started = time.monotonic()
wait_for(f"the monitor to roll back version {bad_version}", 20,
         lambda: one("SELECT 1 FROM ml.monitor_actions WHERE project = 'heart' AND action = 'rollback'"))
(serving,) = one("SELECT ml.deployed_version('heart')")
if serving != good_version:
    sys.exit(f"demo_jobs.py: the monitor rolled back to version {serving}, not to version {good_version}")
say(f"rolled back to version {serving} {time.monotonic() - started:.1f} s after the last label")
show("""SELECT created_at::time(0) AS at, version, action, new_version, reason
          FROM ml.action_history WHERE project = 'heart'""")
show("""SELECT deployed_at::time(0) AS at, version, strategy, replaced_version, deployed_by, reason
          FROM ml.deployment_history WHERE project = 'heart' ORDER BY deployed_at DESC LIMIT 3""")
r = http.get(f"{URL}/v1/projects/heart/actions", headers=AUTH, timeout=10)
if r.status_code != 200:
    sys.exit(f"demo_jobs.py: GET /v1/projects/heart/actions answered {r.status_code}: {r.text}")
say("GET /v1/projects/heart/actions (with the key):")
for action in r.json()["actions"]:
    say("  " + json.dumps({k: action.get(k) for k in ("action", "version", "new_version", "reason")}))
answers = predict(readings[after])
feedback(answers, truths[after])
say(f"the next {len(answers)} readings are served by version(s) {sorted({a['version'] for a in answers})} again; "
    "accuracy over time:")
wait_for("the monitor to evaluate the readings after the rollback", 15,
         lambda: one("""SELECT 1 FROM ml.evaluations WHERE project = 'heart' AND n = %s AND window_start >=
                          (SELECT max(deployed_at) FROM ml.deployment_history WHERE project = 'heart')""",
                     (len(answers),)))
show(EVALUATIONS)
show("SELECT project, version, predictions, labelled, round(accuracy::numeric, 3) AS accuracy FROM ml.live_accuracy")

section(18, "Retraining on a schedule: every minute here (cron, UTC), deploying only a better version")
SCHEDULE = f"SELECT ml.schedule('heart', '* * * * *', '{json.dumps(PARAMS)}', deploy => 'best_score')"
say(SCHEDULE)
(schedule,) = one(SCHEDULE)
show("""SELECT schedule, project, expression, deploy, paused, next_run_at::time(0) AS next_run, runs_ok
          FROM ml.schedule_overview""")
wait_s = one("SELECT extract(epoch FROM next_run_at - now())::float8 FROM ml.schedules WHERE id = %s", (schedule,))[0]
say(f"waiting {max(wait_s, 0):.0f} s for the first slot; the daemon claims it and runs ml.train ...")
wait_for("the schedule's first run to end", max(wait_s, 0) + 45,
         lambda: one("SELECT 1 FROM ml.training_runs WHERE schedule_id = %s AND status IN ('succeeded', 'failed')",
                     (schedule,)))
show(f"""SELECT run, kind, schedule, due_at::time(0) AS slot, status, duration, rows, version, deployed, claimed_by, error
           FROM ml.run_history WHERE schedule = {schedule}""")
status, deployed = one("SELECT status, deployed FROM ml.training_runs WHERE schedule_id = %s ORDER BY id LIMIT 1",
                       (schedule,))
if status != "succeeded":
    sys.exit("demo_jobs.py: the scheduled run failed (see its error above)")
say("a retrain on unchanged data does not beat the serving version, so best_score keeps it" if not deployed
    else "the retrained version beat the serving one and was deployed (best_score)")
# a demo database should not retrain every minute whenever someone starts a daemon on it
db.execute("SELECT ml.pause_schedule(%s)", (schedule,))
say(f"schedule {schedule} paused (SELECT ml.resume_schedule({schedule}) starts it again)")
