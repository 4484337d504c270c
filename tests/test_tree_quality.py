"""Tree models as accurate as scikit-learn and XGBoost.

The reference numbers come from tools/make_tree_references.py (scikit-learn and
XGBoost, committed in tests/data/tree_references.json with the hyperparameters they
used); this test needs neither library. pgscore trains with the same
hyperparameters ("pgscore_options" next to each reference):

* heart (303 rows, missing values kept): the same 5 stratified folds as the
  reference (the fold of every row is in the JSON). Mean held-out accuracy and ROC
  AUC of ml.tree_fit, ml.forest_fit and ml.gbt_fit must each reach the reference of
  DecisionTreeClassifier, RandomForestClassifier and XGBClassifier minus 0.01. The
  forest, on both sides, is averaged over the same number of seeds.
* Friedman #1 (tests/data/friedman1.csv.gz, 80,000 training rows, 20,000 test
  rows): the test R^2 of ml.gbt_fit (100 trees, depth 6, learning rate 0.1) must be
  within 0.01 of XGBRegressor's.

Run with -s (or -rA) to see pgscore's numbers next to the references.
"""
import gzip
import json
import pathlib

import psycopg
import pytest

from conftest import create_database, drop_database

DB = "pgscore_pytest_tree_quality"
ROOT = pathlib.Path(__file__).resolve().parent.parent
HEART = ROOT / "data" / "heart" / "processed.cleveland.data"
REFS = json.loads((ROOT / "tests" / "data" / "tree_references.json").read_text())
FRIEDMAN = ROOT / "tests" / "data" / "friedman1.csv.gz"
TOLERANCE = 0.01


@pytest.fixture(scope="module")
def db():
    yield create_database(DB)
    drop_database(DB)


def roc_auc(labels, scores):
    """Area under the ROC curve (Mann-Whitney U with average ranks for ties), as
    scikit-learn's roc_auc_score."""
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    ranks = [0.0] * len(scores)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and scores[order[j + 1]] == scores[order[i]]:
            j += 1
        for q in range(i, j + 1):
            ranks[order[q]] = (i + j) / 2 + 1
        i = j + 1
    pos = sum(1 for y in labels if y)
    neg = len(labels) - pos
    rank_sum = sum(r for r, y in zip(ranks, labels) if y)
    return (rank_sum - pos * (pos + 1) / 2) / (pos * neg)


def mean(v):
    return sum(v) / len(v)


@pytest.fixture(scope="module")
def heart_scores(db):
    """Per model: pgscore's mean held-out accuracy and ROC AUC over the reference folds."""
    ref = REFS["heart"]
    folds = ref["fold"]
    lines = [ln for ln in HEART.read_text().splitlines() if ln.strip()]
    assert len(lines) == len(folds) == 303
    with psycopg.connect(db, autocommit=True) as c:
        c.execute("CREATE TABLE heart (id int, fold int, f float8[], y boolean)")
        with c.cursor().copy("COPY heart FROM STDIN") as cp:
            for i, (line, fold) in enumerate(zip(lines, folds)):
                v = [None if x == "?" else float(x) for x in line.split(",")]
                cp.write_row((i, fold, v[:13], v[13] > 0))
        c.execute("SET max_parallel_workers_per_gather = 0")
        out = {}
        for name, spec in ref["models"].items():
            n_folds = len(spec["fold_accuracy"])
            seeds = spec.get("seeds", [None])
            acc = [[0.0] * n_folds for _ in seeds]
            auc = [[0.0] * n_folds for _ in seeds]
            for si, seed in enumerate(seeds):
                opts = dict(spec["pgscore_options"])
                if seed is not None:
                    opts["seed"] = seed
                for k in range(n_folds):
                    classes, truth, pred, proba = c.execute(f"""
                        WITH m AS (SELECT {spec['pgscore_aggregate']}(f, y, %s::jsonb) AS m
                                     FROM heart WHERE fold <> %s)
                        SELECT (SELECT ml.describe(m)->'classes' FROM m),
                               array_agg(y ORDER BY id),
                               array_agg(ml.predict(m, f) ORDER BY id),
                               array_agg(ml.predict_proba(m, f) ORDER BY id)
                          FROM m, heart WHERE fold = %s""", (json.dumps(opts), k, k)).fetchone()
                    positive = classes.index(True)   # describe's classes of a boolean label: [false, true]
                    acc[si][k] = mean([(p == "true") == t for p, t in zip(pred, truth)])
                    auc[si][k] = roc_auc(truth, [p[positive] for p in proba])
            fold_acc = [mean([a[k] for a in acc]) for k in range(n_folds)]
            fold_auc = [mean([a[k] for a in auc]) for k in range(n_folds)]
            out[name] = {"accuracy": mean(fold_acc), "roc_auc": mean(fold_auc),
                         "fold_accuracy": fold_acc, "fold_roc_auc": fold_auc}
            print(f"\nheart {name:<18} pgscore accuracy {mean(fold_acc):.4f} roc_auc {mean(fold_auc):.4f}"
                  f"   {spec['reference']}: accuracy {spec['accuracy']:.4f} roc_auc {spec['roc_auc']:.4f}"
                  f"   folds acc {[round(v, 3) for v in fold_acc]} vs {[round(v, 3) for v in spec['fold_accuracy']]}")
    return out


@pytest.mark.parametrize("name", list(REFS["heart"]["models"]))
@pytest.mark.parametrize("metric", ["accuracy", "roc_auc"])
def test_heart_cv_as_good_as_reference(heart_scores, name, metric):
    spec = REFS["heart"]["models"][name]
    ours, ref = heart_scores[name][metric], spec[metric]
    assert ours >= ref - TOLERANCE, (
        f"{spec['pgscore_aggregate']} {spec['pgscore_options']}: mean {metric} {ours:.4f} < "
        f"{spec['reference']} {ref:.4f} - {TOLERANCE}; per fold {heart_scores[name]['fold_' + metric]} "
        f"vs {spec['fold_' + metric]}")


def test_friedman1_gbt_r2_as_xgboost(db):
    ref = REFS["friedman1"]
    cols = [f"x{i}" for i in range(1, 11)]
    with psycopg.connect(db, autocommit=True) as c:
        c.execute(f"CREATE TABLE friedman_csv ({', '.join(x + ' float8' for x in cols)}, y float8, test int)")
        with c.cursor().copy("COPY friedman_csv FROM STDIN WITH (FORMAT csv, HEADER)") as cp:
            with gzip.open(FRIEDMAN, "rb") as f:
                while chunk := f.read(1 << 20):
                    cp.write(chunk)
        c.execute(f"""CREATE TABLE friedman AS
                      SELECT ARRAY[{', '.join(cols)}] AS f, y, test = 1 AS test FROM friedman_csv""")
        rows, train = c.execute("SELECT count(*), count(*) FILTER (WHERE NOT test) FROM friedman").fetchone()
        assert (rows, train) == (ref["rows"], ref["train_rows"])
        c.execute("SET max_parallel_workers_per_gather = 0")
        r2 = c.execute("""
            WITH m AS (SELECT ml.gbt_fit(f, y, %s::jsonb) AS m FROM friedman WHERE NOT test)
            SELECT (ml.metrics(m, f, y)->>'r2')::float8 FROM m, friedman WHERE test""",
                       (json.dumps(ref["pgscore_options"]),)).fetchone()[0]
    print(f"\nfriedman1 ml.gbt_fit {ref['pgscore_options']}: test r2 {r2:.6f}   XGBRegressor {ref['test_r2']:.6f}")
    assert abs(r2 - ref["test_r2"]) <= TOLERANCE, (r2, ref["test_r2"])
