#!/usr/bin/env python3
"""Reference accuracy of scikit-learn and XGBoost tree models, for tests/test_tree_quality.py.

Run from anywhere (paths are resolved relative to the repository root):

    python3 tools/make_tree_references.py

Needs numpy, scikit-learn and xgboost (tools/install_deps.sh --fixtures). Writes,
deterministically (the same numpy / scikit-learn / xgboost versions reproduce the
same bytes), and prints the numbers:

    tests/data/tree_references.json   hyperparameters, fold ids and reference scores
    tests/data/friedman1.csv.gz       the Friedman #1 data (x1..x10, y, test)

Heart (data/heart/processed.cleveland.data, UCI Cleveland): all 303 rows, the 13
predictors as features ('?' is a missing value: NaN, which scikit-learn >= 1.4 trees
and forests and XGBoost take natively), label num > 0. 5-fold stratified cross
validation with a fixed seed; the fold of every row (file order) goes into the JSON,
so the SQL side trains and tests on the same rows. Per model: the mean over the folds
of the held-out accuracy and ROC AUC, and the per-fold values.

    DecisionTreeClassifier(max_depth=5, min_samples_leaf=5)       ~ ml.tree_fit
    RandomForestClassifier(n_estimators=100, max_features="sqrt") ~ ml.forest_fit
    XGBClassifier(n_estimators=100, max_depth=3, learning_rate=0.1,
                  tree_method="hist")                              ~ ml.gbt_fit

The forest is the mean over several random_state values (one seed of a 100-tree
forest on 242 rows moves the CV accuracy by about a point): the test trains pgscore's
forest with as many seeds.

Friedman #1: sklearn.datasets.make_friedman1(n_samples=100_000, noise=1.0,
random_state=0), 10 features, values rounded to 6 decimals (the reference is
computed on the rounded data, the data the test loads); an 80/20 split from
train_test_split(random_state=0), stored as the `test` column (0/1). Reference: the
test R^2 of XGBRegressor(n_estimators=100, max_depth=6, learning_rate=0.1,
tree_method="hist").
"""

import csv
import gzip
import io
import json
import os
import platform

import numpy as np
import sklearn
import xgboost
from sklearn.datasets import make_friedman1
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import accuracy_score, r2_score, roc_auc_score
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.tree import DecisionTreeClassifier
from xgboost import XGBClassifier, XGBRegressor

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HEART = os.path.join(REPO, "data", "heart", "processed.cleveland.data")
OUT_DIR = os.path.join(REPO, "tests", "data")
OUT_JSON = os.path.join(OUT_DIR, "tree_references.json")
OUT_FRIEDMAN = os.path.join(OUT_DIR, "friedman1.csv.gz")

CV_SEED = 42
N_FOLDS = 5
FOREST_SEEDS = [0, 1, 2, 3, 4]

# Comparable hyperparameters: the scikit-learn / XGBoost arguments and the pgscore
# options that mean the same thing. Everything not listed is the library default
# (pgscore: TrainingOptions; XGBoost: lambda 1, min_child_weight 1, subsample 1,
# max_bin 256 ~ pgscore max_bins 255 + a missing-value bin).
HEART_MODELS = {
    "decision_tree": {
        "reference": "DecisionTreeClassifier",
        "params": {"max_depth": 5, "min_samples_leaf": 5, "random_state": 0},
        "pgscore_aggregate": "ml.tree_fit",
        "pgscore_options": {"max_depth": 5, "min_samples_leaf": 5},
    },
    "random_forest": {
        "reference": "RandomForestClassifier",
        "params": {"n_estimators": 100, "max_features": "sqrt", "max_depth": None,
                   "min_samples_leaf": 1, "bootstrap": True, "n_jobs": 1},
        "seeds": FOREST_SEEDS,
        "pgscore_aggregate": "ml.forest_fit",
        "pgscore_options": {"n_trees": 100, "features_per_split": "sqrt", "max_depth": None,
                            "min_samples_leaf": 1},
    },
    "gradient_boosting": {
        "reference": "XGBClassifier",
        "params": {"n_estimators": 100, "max_depth": 3, "learning_rate": 0.1, "reg_lambda": 1.0,
                   "min_child_weight": 1.0, "subsample": 1.0, "tree_method": "hist",
                   "max_bin": 256, "n_jobs": 1, "random_state": 0},
        "pgscore_aggregate": "ml.gbt_fit",
        "pgscore_options": {"n_trees": 100, "max_depth": 3, "learning_rate": 0.1, "lambda": 1.0,
                            "min_child_weight": 1.0, "subsample": 1.0},
    },
}

FRIEDMAN = {
    "generator": "sklearn.datasets.make_friedman1(n_samples=100_000, n_features=10, noise=1.0, random_state=0)",
    "rounding": 6,
    "split": "sklearn.model_selection.train_test_split(test_size=0.2, random_state=0)",
    "reference": "XGBRegressor",
    "params": {"n_estimators": 100, "max_depth": 6, "learning_rate": 0.1, "reg_lambda": 1.0,
               "min_child_weight": 1.0, "subsample": 1.0, "tree_method": "hist", "max_bin": 256,
               "n_jobs": 1, "random_state": 0},
    "pgscore_aggregate": "ml.gbt_fit",
    "pgscore_options": {"n_trees": 100, "max_depth": 6, "learning_rate": 0.1, "lambda": 1.0,
                        "min_child_weight": 1.0, "subsample": 1.0},
}


def dumps(v, indent=0):
    """JSON with one member a line, lists of numbers on one line."""
    pad = " " * (indent + 1)
    if isinstance(v, dict):
        inner = ",\n".join(f"{pad}{json.dumps(k)}: {dumps(x, indent + 1)}" for k, x in v.items())
        return "{\n" + inner + "\n" + " " * indent + "}"
    if isinstance(v, list) and any(isinstance(x, (dict, list)) for x in v):
        return "[\n" + ",\n".join(pad + dumps(x, indent + 1) for x in v) + "\n" + " " * indent + "]"
    return json.dumps(v)


def r6(v):
    return round(float(v), 6)


def load_heart():
    rows = []
    with open(HEART) as f:
        for line in f:
            line = line.strip()
            if line:
                rows.append([np.nan if v == "?" else float(v) for v in line.split(",")])
    a = np.array(rows)
    assert a.shape == (303, 14), a.shape
    return a[:, :13], a[:, 13] > 0


def make_model(name, seed=None):
    spec = HEART_MODELS[name]
    params = dict(spec["params"])
    if seed is not None:
        params["random_state"] = seed
    return {"DecisionTreeClassifier": DecisionTreeClassifier,
            "RandomForestClassifier": RandomForestClassifier,
            "XGBClassifier": XGBClassifier}[spec["reference"]](**params)


def heart_references():
    x, y = load_heart()
    folds = np.empty(len(y), dtype=int)
    skf = StratifiedKFold(n_splits=N_FOLDS, shuffle=True, random_state=CV_SEED)
    for k, (_, test) in enumerate(skf.split(x, y)):
        folds[test] = k
    out = {
        "data": "data/heart/processed.cleveland.data: 303 rows, features = the 13 predictors "
                "('?' = missing, NaN / NULL), label = num > 0",
        "cv": f"StratifiedKFold(n_splits={N_FOLDS}, shuffle=True, random_state={CV_SEED})",
        "fold": folds.tolist(),
        "models": {},
    }
    for name, spec in HEART_MODELS.items():
        seeds = spec.get("seeds", [None])
        acc = np.zeros((len(seeds), N_FOLDS))
        auc = np.zeros((len(seeds), N_FOLDS))
        for si, seed in enumerate(seeds):
            for k in range(N_FOLDS):
                tr, te = folds != k, folds == k
                m = make_model(name, seed).fit(x[tr], y[tr])
                p = m.predict_proba(x[te])[:, 1]
                acc[si, k] = accuracy_score(y[te], m.predict(x[te]))
                auc[si, k] = roc_auc_score(y[te], p)
        fold_acc = acc.mean(axis=0)
        fold_auc = auc.mean(axis=0)
        entry = {k: v for k, v in spec.items()}
        entry.update({
            "accuracy": r6(fold_acc.mean()),
            "roc_auc": r6(fold_auc.mean()),
            "fold_accuracy": [r6(v) for v in fold_acc],
            "fold_roc_auc": [r6(v) for v in fold_auc],
        })
        if len(seeds) > 1:
            entry["seed_accuracy"] = [r6(v) for v in acc.mean(axis=1)]
            entry["seed_roc_auc"] = [r6(v) for v in auc.mean(axis=1)]
        out["models"][name] = entry
        print(f"heart {name:<18} {spec['reference']:<23} accuracy {fold_acc.mean():.4f}  "
              f"roc_auc {fold_auc.mean():.4f}   folds acc {np.round(fold_acc, 3).tolist()}")
    return out


def friedman_reference():
    x, y = make_friedman1(n_samples=100_000, n_features=10, noise=1.0, random_state=0)
    x = np.round(x, 6)
    y = np.round(y, 6)
    idx = np.arange(len(y))
    _, test_idx = train_test_split(idx, test_size=0.2, random_state=0)
    is_test = np.zeros(len(y), dtype=int)
    is_test[test_idx] = 1

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([f"x{i}" for i in range(1, 11)] + ["y", "test"])
    for row, t, lab in zip(x, is_test, y):
        w.writerow(["%.6f" % v for v in row] + ["%.6f" % lab, t])
    data = buf.getvalue().encode()
    # mtime=0 and no file name: the same bytes every run
    with open(OUT_FRIEDMAN, "wb") as f:
        with gzip.GzipFile(filename="", mode="wb", fileobj=f, compresslevel=9, mtime=0) as gz:
            gz.write(data)

    # the reference is computed on the data as the test reads it back
    back = np.loadtxt(io.StringIO(data.decode()), delimiter=",", skiprows=1)
    xb, yb, tb = back[:, :10], back[:, 10], back[:, 11].astype(bool)
    assert np.array_equal(xb, x) and np.array_equal(yb, y) and np.array_equal(tb, is_test == 1)
    m = XGBRegressor(**FRIEDMAN["params"]).fit(xb[~tb], yb[~tb])
    r2 = r2_score(yb[tb], m.predict(xb[tb]))
    out = dict(FRIEDMAN)
    out.update({"rows": int(len(yb)), "train_rows": int((~tb).sum()), "test_rows": int(tb.sum()),
                "file": "tests/data/friedman1.csv.gz", "test_r2": r6(r2)})
    print(f"friedman1 XGBRegressor test r2 {r2:.4f}  ({os.path.getsize(OUT_FRIEDMAN) / 1e6:.2f} MB gz)")
    return out


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    refs = {
        "generated_by": "tools/make_tree_references.py",
        "versions": {"python": platform.python_version(), "numpy": np.__version__,
                     "scikit-learn": sklearn.__version__, "xgboost": xgboost.__version__},
        "heart": heart_references(),
        "friedman1": friedman_reference(),
    }
    with open(OUT_JSON, "w") as f:
        f.write(dumps(refs) + "\n")
    print(f"wrote {os.path.relpath(OUT_JSON, REPO)} and {os.path.relpath(OUT_FRIEDMAN, REPO)}")


if __name__ == "__main__":
    main()
