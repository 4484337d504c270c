"""One metrics definition (issue 12): a version's test metrics (ml.metrics, scoring the
rows) and its live metrics (ml.label_metrics over logged predictions, what the monitor
records in ml.evaluations) are the same Swift code. Both are compared with scikit-learn
on the same pairs: accuracy, F1 (binary of the second class; macro for more classes),
log loss (probabilities clipped at 2^-52), ROC AUC, and R2 / MAE / RMSE."""
import math
import random

import numpy as np
import psycopg
import pytest
from sklearn import metrics as sk

from conftest import HEART_COLUMNS, load_raw_heart, watched_database

DB = "pgscore_label_metrics"
F = "ARRAY[" + ", ".join(f"coalesce(ml._numeric_text({c}), 0)" if c in ("ca", "thal") else c for c in HEART_COLUMNS) + "]"


@pytest.fixture(scope="module")
def db():
    with watched_database(DB) as url:
        with psycopg.connect(url, autocommit=True) as c:
            load_raw_heart(c, "heart")
            c.execute(f"""CREATE TABLE models AS SELECT
                            ml.logreg_fit({F}, num > 0) AS two,
                            ml.nb_fit({F}, num) AS five,
                            ml.linreg_fit(ARRAY[age, trestbps], chol) AS lin FROM heart""")
        yield url


@pytest.fixture
def c(db):
    with psycopg.connect(db, autocommit=True) as conn:
        yield conn


def classes_of(c, model):
    return [str(v).lower() if isinstance(v, bool) else str(v)
            for v in c.execute(f"SELECT ml.describe({model}) -> 'classes' FROM models").fetchone()[0]]


@pytest.mark.parametrize("model,label", [("two", "(num > 0)::text"), ("five", "num::text")])
def test_test_and_live_classification_metrics_are_one_definition(c, model, label):
    classes = classes_of(c, model)
    test, live = c.execute(f"""
        WITH s AS (SELECT {F} AS f, {label} AS truth, ml.predict(m.{model}, {F}) AS predicted,
                          ml.predict_proba(m.{model}, {F}) AS p, m.{model} AS model FROM heart, models m)
        SELECT ml.metrics(model, f, truth), ml.label_metrics(%s, predicted, truth, p) FROM s""", (classes,)).fetchone()
    # the same numbers; ml.label_metrics names the classes as text, as it got them
    assert [str(v).lower() for v in test.pop("classes")] == live.pop("classes")
    test.pop("positive_class", None), live.pop("positive_class", None)
    for curve in test["roc"]:
        curve["class"] = str(curve["class"]).lower()
    assert test == live
    rows = c.execute(f"SELECT {label}, ml.predict(m.{model}, {F}), ml.predict_proba(m.{model}, {F}) FROM heart, models m").fetchall()
    truth = [r[0] for r in rows]
    predicted = [r[1] for r in rows]
    proba = np.array([r[2] for r in rows])
    assert live["rows"] == 303
    assert live["accuracy"] == pytest.approx(sk.accuracy_score(truth, predicted), abs=1e-12)
    if len(classes) == 2:
        f1 = sk.f1_score(truth, predicted, pos_label=classes[1])
        auc = sk.roc_auc_score([t == classes[1] for t in truth], proba[:, 1])
    else:
        f1 = sk.f1_score(truth, predicted, labels=classes, average="macro", zero_division=np.nan)
        auc = None     # a class with no positives would make one-vs-rest undefined; checked below when defined
    assert live["f1"] == pytest.approx(f1, abs=1e-12)
    assert live["log_loss"] == pytest.approx(sk.log_loss(truth, proba, labels=classes), abs=1e-9)
    if auc is not None:
        assert live["roc_auc"] == pytest.approx(auc, abs=1e-12)


def test_log_loss_is_clipped_at_machine_epsilon_as_scikit_learn(c):
    rng = random.Random(12)
    pairs = []
    for _ in range(200):
        truth = rng.choice(["a", "b", "c"])
        p = [rng.random() for _ in range(3)]
        if rng.random() < 0.1:
            p[["a", "b", "c"].index(truth)] = 0.0      # a confident miss: clipped, not infinite
        s = sum(p)
        p = [v / s for v in p]
        pairs.append((truth, ["a", "b", "c"][int(np.argmax(p))], p))
    got = c.execute("SELECT ml.label_metrics(ARRAY['a', 'b', 'c'], p, t, q::float8[]) FROM unnest(%s::text[], %s::text[], %s::text[]) u(t, p, q)",
                    ([t for t, _, _ in pairs], [p for _, p, _ in pairs],
                     ["{" + ",".join(repr(v) for v in q) + "}" for _, _, q in pairs])).fetchone()[0]
    truth = [t for t, _, _ in pairs]
    proba = np.array([q for _, _, q in pairs])
    assert got["log_loss"] == pytest.approx(sk.log_loss(truth, proba, labels=["a", "b", "c"]), rel=1e-12)
    assert any(q[["a", "b", "c"].index(t)] == 0.0 for t, _, q in pairs)
    assert got["log_loss"] < -math.log(2.0 ** -52)   # finite: the zeros were clipped
    assert got["f1"] == pytest.approx(sk.f1_score(truth, [p for _, p, _ in pairs], average="macro"), abs=1e-12)
    assert got["roc_auc"] == pytest.approx(sk.roc_auc_score(truth, proba, multi_class="ovr", labels=["a", "b", "c"]), abs=1e-12)


def test_predictions_logged_without_probabilities_have_no_log_loss(c):
    got = c.execute("""SELECT ml.label_metrics(ARRAY['false', 'true'], p, t, CASE WHEN i > 1 THEN ARRAY[0.5, 0.5] END)
                         FROM (VALUES (1, 'true', 'true'), (2, 'false', 'true'), (3, 'false', 'false')) v(i, p, t)""").fetchone()[0]
    assert got["log_loss"] is None and got["roc_auc"] is None
    assert got["accuracy"] == pytest.approx(2 / 3) and got["f1"] == pytest.approx(2 / 3)


def test_test_and_live_regression_metrics_are_one_definition(c):
    test, live = c.execute("""SELECT ml.metrics(m.lin, ARRAY[age, trestbps], chol),
                                     ml.label_metrics(ml.predict(m.lin, ARRAY[age, trestbps])::float8, chol)
                                FROM heart, models m""").fetchone()
    assert test == live
    rows = c.execute("SELECT chol, ml.predict(m.lin, ARRAY[age, trestbps])::float8 FROM heart, models m").fetchall()
    y = [r[0] for r in rows]
    p = [r[1] for r in rows]
    assert live["r2"] == pytest.approx(sk.r2_score(y, p), abs=1e-9)
    assert live["mae"] == pytest.approx(sk.mean_absolute_error(y, p), rel=1e-12)
    assert live["rmse"] == pytest.approx(math.sqrt(sk.mean_squared_error(y, p)), rel=1e-12)


def test_bad_input_is_refused_with_a_sqlstate(c):
    def state(sql):
        try:
            c.execute(sql)
        except psycopg.Error as e:
            return e.sqlstate
        return None
    assert state("SELECT ml.label_metrics(ARRAY['a', 'b'], 'a', 'z', NULL)") == "22023"            # not a class
    assert state("SELECT ml.label_metrics(ARRAY['a', 'a'], 'a', 'a', NULL)") == "22023"            # listed twice
    assert state("SELECT ml.label_metrics(ARRAY['a', NULL], 'a', 'a', NULL)") == "22004"
    assert state("SELECT ml.label_metrics(c, 'a', 'a', NULL) FROM (VALUES (ARRAY['a', 'b']), (ARRAY['a', 'c'])) v(c)") == "22023"
    assert state("SELECT ml.label_metrics('NaN'::float8, 1.0::float8)") == "22023"
    assert c.execute("SELECT ml.label_metrics(NULL::float8, 1.0::float8)").fetchone()[0] is None


def test_the_monitor_records_the_same_metrics(c):
    """A window of logged predictions with feedback: ml.evaluations holds what
    ml.label_metrics and scikit-learn say of the same pairs."""
    c.execute("DROP TABLE IF EXISTS mon_rows")
    c.execute("CREATE TABLE mon_rows AS SELECT g, (g % 3)::text AS k, g * 0.1 AS x FROM generate_series(1, 90) g")
    c.execute("SELECT ml.train('mon_three', 'mon_rows', 'k', exclude => ARRAY['g'])")
    classes = classes_of(c, "(SELECT model FROM ml.models m JOIN ml.projects p ON p.id = m.project_id WHERE p.name = 'mon_three')")
    rng = random.Random(5)
    logged = []
    for i in range(60):
        p = [rng.random() + 0.01 for _ in classes]
        s = sum(p)
        p = [v / s for v in p]
        logged.append((classes[int(np.argmax(p))], p, rng.choice(classes)))
    for i, (pred, p, truth) in enumerate(logged):
        pid = c.execute("""INSERT INTO ml.predictions (project, version, features, prediction, probabilities, created_at)
                           VALUES ('mon_three', 1, '{"x": 1}', %s, %s, '2100-01-01 00:00+00'::timestamptz + %s * interval '1 second')
                           RETURNING id""", (pred, p, i)).fetchone()[0]
        c.execute("INSERT INTO ml.feedback (prediction_id, label) VALUES (%s, %s)", (pid, truth))
    c.execute("SELECT ml.monitor('mon_three', window_size => '5 minutes', every => '1 minute')")
    c.execute("SELECT * FROM ml.run_monitors('w', '2100-01-01 00:04+00')")
    value, n, recorded = c.execute("SELECT value, n, metrics FROM ml.evaluations WHERE project = 'mon_three'").fetchone()
    truth = [t for _, _, t in logged]
    predicted = [p for p, _, _ in logged]
    proba = np.array([q for _, q, _ in logged])
    assert n == 60
    assert value == pytest.approx(sk.accuracy_score(truth, predicted), abs=1e-12)
    assert recorded["f1"] == pytest.approx(sk.f1_score(truth, predicted, labels=classes, average="macro", zero_division=np.nan), abs=1e-12)
    assert recorded["log_loss"] == pytest.approx(sk.log_loss(truth, proba, labels=classes), abs=1e-9)
    live = c.execute("SELECT ml.label_metrics(%s, p, t, NULL) FROM unnest(%s::text[], %s::text[]) u(p, t)",
                     (classes, predicted, truth)).fetchone()[0]
    assert (recorded["accuracy"], recorded["f1"]) == (live["accuracy"], live["f1"])


def sklearn_curve(truth, scores):
    """roc_curve's points, its first threshold (+inf) as None, as ml.metrics stores them."""
    fpr, tpr, thresholds = sk.roc_curve(truth, scores)
    return list(fpr), list(tpr), [None if math.isinf(t) else float(t) for t in thresholds]


@pytest.mark.parametrize("model,label,rows", [("two", "(num > 0)::text", "id % 5 = 0"), ("five", "num::text", "id % 3 = 0"),
                                              ("two", "(num > 0)::text", "true")])
def test_the_stored_roc_curve_is_sklearn_roc_curve(c, model, label, rows):
    """ml.metrics' roc: sklearn.metrics.roc_curve's points (binary: of the positive class;
    more: each class against the rest), whose trapezoids make roc_auc."""
    classes = classes_of(c, model)
    metrics, = c.execute(f"SELECT ml.metrics(m.{model}, {F}, {label}) FROM heart, models m WHERE {rows}").fetchone()
    got = c.execute(f"SELECT {label}, ml.predict_proba(m.{model}, {F}) FROM heart, models m WHERE {rows}").fetchall()
    truth = [t for t, _ in got]
    proba = np.array([p for _, p in got])
    curves = metrics["roc"]
    wanted = [1] if len(classes) == 2 else [i for i, k in enumerate(classes) if 0 < truth.count(k) < len(truth)]
    assert [str(curve["class"]).lower() for curve in curves] == [classes[i] for i in wanted]
    areas = []
    for curve, i in zip(curves, wanted):
        fpr, tpr, thresholds = sklearn_curve([t == classes[i] for t in truth], proba[:, i])
        assert len(curve["fpr"]) == len(curve["tpr"]) == len(curve["thresholds"]) <= 101
        assert not curve["thinned"] and len(fpr) <= 101
        assert curve["fpr"] == pytest.approx(fpr, abs=1e-15) and curve["tpr"] == pytest.approx(tpr, abs=1e-15)
        assert curve["thresholds"][0] is None and curve["thresholds"][1:] == thresholds[1:]
        area = sk.auc(curve["fpr"], curve["tpr"])
        assert area == pytest.approx(sk.roc_auc_score([t == classes[i] for t in truth], proba[:, i]), abs=1e-9)
        areas.append(area)
    assert sum(areas) / len(areas) == pytest.approx(metrics["roc_auc"], abs=1e-9)


def test_a_long_roc_curve_keeps_101_of_sklearns_points(c):
    """2,000 rows of random scores: sklearn's curve has hundreds of corners; the stored
    one keeps 101 of them, its ends included, and says it was thinned."""
    rng = random.Random(7)
    rows = [(rng.choice(["a", "b"]), rng.random()) for _ in range(2000)]
    m, = c.execute("SELECT ml.label_metrics(ARRAY['a', 'b'], 'a', t, ARRAY[1 - p, p]) FROM unnest(%s::text[], %s::float8[]) u(t, p)",
                   ([t for t, _ in rows], [p for _, p in rows])).fetchone()
    curve, = m["roc"]
    fpr, tpr, _ = sklearn_curve([t == "b" for t, _ in rows], [p for _, p in rows])
    assert len(fpr) > 101 and curve["thinned"] and len(curve["fpr"]) == 101
    points = set(zip(fpr, tpr))
    assert all(p in points for p in zip(curve["fpr"], curve["tpr"]))
    assert (curve["fpr"][0], curve["tpr"][0], curve["fpr"][-1], curve["tpr"][-1]) == (0, 0, 1, 1)
    assert curve["fpr"] == sorted(curve["fpr"]) and curve["tpr"] == sorted(curve["tpr"])


def test_metrics_without_probabilities_have_no_roc_curve(c):
    m, = c.execute("SELECT ml.label_metrics(ARRAY['a', 'b'], p, t, NULL::float8[]) FROM (VALUES ('a', 'a'), ('b', 'a'), ('b', 'b')) v(p, t)").fetchone()
    assert "roc" not in m and m["roc_auc"] is None
