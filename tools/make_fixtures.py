#!/usr/bin/env python3
"""Generate the regression-test data sets and scikit-learn reference results.

Run from anywhere (paths are resolved relative to the repository root):

    python3 tools/make_fixtures.py

Writes (deterministically; re-running reproduces the same bytes with the same
numpy / scikit-learn versions):

    sql/regress/data/gen_regression.csv   500 rows, x1..x5,y
    sql/regress/data/gen_multiclass.csv   600 rows, x1..x4,label (alpha|beta|gamma)
    sql/regress/data/fixtures.sql         CREATE TABLE ref(name, value jsonb) + INSERTs
    sql/regress/data/metrics_fixtures.sql CREATE TABLE metrics_ref(name, value jsonb):
                                          scikit-learn metrics of the same reference
                                          models on their training rows (for
                                          sql/regress/sql/metrics.sql)

Input: data/heart/processed.cleveland.data (UCI Cleveland, 303 rows; the 6 rows
with '?' are dropped, file order is kept -> 297 rows).

All fits use the values exactly as they are written in the CSV files (the
generated CSVs are read back before fitting), so the database, which loads the
same files, sees bit-identical float8 inputs.

For every logistic-regression reference the script prints the max abs gradient
of scikit-learn's objective
    C * sum_i logloss_i + 1/2 * ||W||^2       (intercepts not penalized)
at the returned solution, and fails if it is not converged. Linear and ridge
references are checked against an exact rational-arithmetic solution.
"""

import csv
import io
import json
import os
import sys
import warnings
from fractions import Fraction

import numpy as np
import scipy
import sklearn
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.metrics import (accuracy_score, confusion_matrix, log_loss, mean_absolute_error,
                             precision_recall_fscore_support, r2_score, roc_auc_score,
                             root_mean_squared_error)
from sklearn.naive_bayes import GaussianNB

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA_DIR = os.path.join(REPO, "sql", "regress", "data")
HEART = os.path.join(REPO, "data", "heart", "processed.cleveland.data")
SEED = 20240611

HEART_COLS = ["age", "sex", "cp", "trestbps", "chol", "fbs", "restecg",
              "thalach", "exang", "oldpeak", "slope", "ca", "thal", "num"]
# 12 regression features: the 13 predictors without thalach (the label)
LINREG_HEART_FEATURES = ["age", "sex", "cp", "trestbps", "chol", "fbs", "restecg",
                         "exang", "oldpeak", "slope", "ca", "thal"]
# 13 classification features: age..thal in file order
CLASSIF_HEART_FEATURES = HEART_COLS[:13]

# Convergence requirement for logistic references (max abs gradient of the
# C*sum(loss) + ||W||^2/2 objective, divided by max(1, C * n_samples)).
GRAD_LIMIT = 1e-8

warnings.simplefilter("error", ConvergenceWarning)


# ----------------------------------------------------------------- data
def load_heart():
    rows = []
    with open(HEART, newline="") as fh:
        for rec in csv.reader(fh):
            if not rec:
                continue
            if "?" in rec:
                continue
            rows.append([float(v) for v in rec])
    arr = np.array(rows, dtype=np.float64)
    assert arr.shape == (297, 14), arr.shape
    return {c: arr[:, i] for i, c in enumerate(HEART_COLS)}


def fmt6(v):
    s = "%.6f" % v
    if s.startswith("-") and float(s) == 0.0:
        s = s[1:]          # no "-0.000000"
    return s


def write_csv(path, header, rows):
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for r in rows:
        w.writerow(r)
    with open(path, "w", newline="") as fh:
        fh.write(buf.getvalue())


def gen_regression(rng):
    n = 500
    x1 = rng.normal(1000.0, 150.0, n)        # scale ~1000
    x2 = rng.normal(0.02, 0.01, n)           # scale ~0.01
    x3 = rng.uniform(-1.0, 1.0, n)
    x4 = rng.normal(5.0, 2.0, n)
    x5 = rng.exponential(3.0, n)
    X = np.column_stack([x1, x2, x3, x4, x5])
    X = np.array([[float(fmt6(v)) for v in row] for row in X])
    beta = np.array([0.0125, -180.0, 2.5, 0.75, -1.2])
    y = 4.0 + X @ beta + rng.normal(0.0, 0.8, n)
    rows = [[fmt6(v) for v in X[i]] + [fmt6(y[i])] for i in range(n)]
    write_csv(os.path.join(DATA_DIR, "gen_regression.csv"),
              ["x1", "x2", "x3", "x4", "x5", "y"], rows)


def gen_multiclass(rng):
    n = 600
    names = ["alpha", "beta", "gamma"]
    # unbalanced, overlapping Gaussian classes with per-class scales
    cls = rng.choice(3, size=n, p=[0.45, 0.33, 0.22])
    means = np.array([[0.0, 10.0, 1.0, -2.0],
                      [1.0, 14.0, 1.3, -1.0],
                      [-0.5, 12.0, 0.6, 0.5]])
    scales = np.array([[1.0, 4.0, 0.4, 1.5],
                       [1.2, 3.0, 0.5, 1.0],
                       [0.8, 5.0, 0.3, 2.0]])
    X = means[cls] + rng.normal(size=(n, 4)) * scales[cls]
    rows = [[fmt6(v) for v in X[i]] + [names[cls[i]]] for i in range(n)]
    write_csv(os.path.join(DATA_DIR, "gen_multiclass.csv"),
              ["x1", "x2", "x3", "x4", "label"], rows)


def read_csv(path, label_is_text):
    with open(path, newline="") as fh:
        rd = csv.reader(fh)
        header = next(rd)
        recs = list(rd)
    X = np.array([[float(v) for v in r[:-1]] for r in recs], dtype=np.float64)
    if label_is_text:
        y = np.array([r[-1] for r in recs], dtype=object)
    else:
        y = np.array([float(r[-1]) for r in recs], dtype=np.float64)
    return header, X, y


# ----------------------------------------------------------------- checks
def exact_ridge(X, y, alpha):
    """Exact rational solution of min ||y - b - Xw||^2 + alpha ||w||^2."""
    n, d = X.shape
    Xf = [[Fraction(float(v)) for v in row] for row in X]
    yf = [Fraction(float(v)) for v in y]
    mx = [sum(Xf[i][j] for i in range(n)) / n for j in range(d)]
    my = sum(yf) / n
    Xc = [[Xf[i][j] - mx[j] for j in range(d)] for i in range(n)]
    yc = [v - my for v in yf]
    A = [[sum(Xc[i][a] * Xc[i][b] for i in range(n)) for b in range(d)] for a in range(d)]
    for a in range(d):
        A[a][a] += Fraction(alpha)
    r = [sum(Xc[i][a] * yc[i] for i in range(n)) for a in range(d)]
    # Gauss-Jordan elimination
    M = [A[a] + [r[a]] for a in range(d)]
    for c in range(d):
        p = next(k for k in range(c, d) if M[k][c] != 0)
        M[c], M[p] = M[p], M[c]
        piv = M[c][c]
        M[c] = [v / piv for v in M[c]]
        for k in range(d):
            if k != c and M[k][c] != 0:
                f = M[k][c]
                M[k] = [vk - f * vc for vk, vc in zip(M[k], M[c])]
    w = [M[a][d] for a in range(d)]
    b = my - sum(w[j] * mx[j] for j in range(d))
    return float(b), np.array([float(v) for v in w])


def rel_err(a, b):
    a = np.atleast_1d(np.asarray(a, dtype=np.float64))
    b = np.atleast_1d(np.asarray(b, dtype=np.float64))
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1.0)))


def softmax_rows(Z):
    Z = Z - Z.max(axis=1, keepdims=True)
    E = np.exp(Z)
    return E / E.sum(axis=1, keepdims=True)


def logistic_gradient(X, y, classes, C, coef, intercept):
    """Gradient of C*sum(loss) + 0.5*||coef||^2 at (coef, intercept).

    Binary: sklearn's coef_ has shape (1, d) and models P(classes[1]).
    Multiclass: symmetric softmax with K rows of coefficients.
    """
    if len(classes) == 2:
        z = X @ coef[0] + intercept[0]
        p = 1.0 / (1.0 + np.exp(-z))
        t = (y == classes[1]).astype(np.float64)
        r = p - t
        g_w = C * (X.T @ r) + coef[0]
        g_b = np.array([C * r.sum()])
        return np.concatenate([g_w, g_b])
    P = softmax_rows(X @ coef.T + intercept)
    T = np.zeros_like(P)
    for k, c in enumerate(classes):
        T[:, k] = (y == c)
    R = P - T
    g_W = C * (R.T @ X) + coef
    g_b = C * R.sum(axis=0)
    return np.concatenate([g_W.ravel(), g_b])


# ----------------------------------------------------------------- JSON
def jfloat(v):
    v = float(v)
    if not np.isfinite(v):
        raise ValueError("non-finite value in reference: %r" % v)
    return v


def jlist(a):
    a = np.asarray(a)
    if a.ndim == 1:
        return [jfloat(v) for v in a]
    return [jlist(r) for r in a]


def jlabel(v):
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (np.integer, int)):
        return int(v)
    return str(v)


# ----------------------------------------------------------------- references
def linear_ref(name, X, y, model, alpha):
    model.fit(X, y)
    pred = model.predict(X)
    b_ex, w_ex = exact_ridge(X, y, alpha)
    err = max(rel_err(model.intercept_, b_ex), rel_err(model.coef_, w_ex))
    print("%-17s max rel deviation from exact rational solution: %.3e" % (name, err))
    if err > 1e-10:
        sys.exit("%s: sklearn solution not accurate enough (%.3e)" % (name, err))
    return {
        "intercept": jfloat(model.intercept_),
        "coefficients": jlist(model.coef_),
        "predictions": jlist(pred),
    }


def logistic_ref(name, X, y, C):
    n = X.shape[0]
    results = {}
    for solver, kw in (("newton-cholesky", dict(tol=1e-12, max_iter=1000)),
                       ("lbfgs", dict(tol=1e-12, max_iter=100000))):
        m = LogisticRegression(C=C, solver=solver, **kw)
        try:
            m.fit(X, y)
        except ConvergenceWarning as e:
            print("%-17s %s: %s" % (name, solver, str(e).splitlines()[0]))
            continue
        g = logistic_gradient(X, y, m.classes_, C, m.coef_, m.intercept_)
        gmax = float(np.max(np.abs(g)))
        results[solver] = (m, gmax)
        print("%-17s %-15s n_iter=%-6s max|grad| = %.3e  (/(C*n): %.3e)"
              % (name, solver, int(np.max(m.n_iter_)), gmax, gmax / max(1.0, C * n)))
    m, gmax = min(results.values(), key=lambda t: t[1])
    if gmax / max(1.0, C * n) > GRAD_LIMIT:
        sys.exit("%s: logistic fit not converged (max|grad| %.3e)" % (name, gmax))
    if len(results) == 2:
        a, b = results["newton-cholesky"][0], results["lbfgs"][0]
        d = max(rel_err(a.coef_, b.coef_), rel_err(a.intercept_, b.intercept_))
        print("%-17s newton-cholesky vs lbfgs max rel coef difference: %.3e" % (name, d))
    chosen = [k for k, v in results.items() if v[0] is m][0]
    print("%-17s using %s" % (name, chosen))
    if len(m.classes_) > 2:
        # symmetric softmax: sklearn returns intercepts centred to sum 0
        print("%-17s sum of intercepts = %.3e" % (name, float(np.sum(m.intercept_))))
    proba = m.predict_proba(X)
    pred = m.predict(X)
    margin = np.sort(proba, axis=1)
    margin = float(np.min(margin[:, -1] - margin[:, -2]))
    print("%-17s smallest gap between top-2 class probabilities: %.3e; training accuracy %.4f"
          % (name, margin, float(np.mean(pred == y))))
    return {
        "classes": [jlabel(c) for c in m.classes_],
        "intercepts": jlist(m.intercept_),
        "coefficients": jlist(m.coef_),
        "predicted": [jlabel(v) for v in pred],
        "proba": jlist(proba),
    }


def nb_ref(name, X, y):
    m = GaussianNB()
    m.fit(X, y)
    proba = m.predict_proba(X)
    pred = m.predict(X)
    margin = np.sort(proba, axis=1)
    margin = float(np.min(margin[:, -1] - margin[:, -2]))
    print("%-17s smallest gap between top-2 class probabilities: %.3e; training accuracy %.4f"
          % (name, margin, float(np.mean(pred == y))))
    return {
        "classes": [jlabel(c) for c in m.classes_],
        "class_prior": jlist(m.class_prior_),
        "means": jlist(m.theta_),
        "variances": jlist(m.var_),
        "predicted": [jlabel(v) for v in pred],
        "proba": jlist(proba),
    }


# ----------------------------------------------------------------- metrics
def jmetric(v):
    """A metric value as JSON: None (null) for an undefined (nan) metric."""
    v = float(v)
    return None if np.isnan(v) else jfloat(v)


def classification_metrics(y, ref):
    """scikit-learn metrics of a reference classifier on its training rows, from the
    predictions and probabilities the reference already holds (ml.metrics' layout)."""
    classes = ref["classes"]
    labels = np.array(classes, dtype=object if isinstance(classes[0], str) else None)
    y = np.asarray(y)
    pred = np.array(ref["predicted"], dtype=labels.dtype)
    proba = np.array(ref["proba"], dtype=np.float64)
    binary = len(classes) == 2
    # undefined (0/0) precision and recall are null and left out of macro averages
    p, r, f, _ = precision_recall_fscore_support(
        y, pred, labels=labels, zero_division=np.nan,
        average="binary" if binary else "macro", pos_label=labels[1] if binary else 1)
    pc, rc, fc, sc = precision_recall_fscore_support(
        y, pred, labels=labels, zero_division=np.nan, average=None)
    if binary:
        auc = roc_auc_score(y == labels[1], proba[:, 1])
    else:
        auc = roc_auc_score(y, proba, multi_class="ovr", average="macro", labels=labels)
    return {
        "rows": int(len(y)),
        "classes": classes,
        "accuracy": jfloat(accuracy_score(y, pred)),
        "precision": jmetric(p),
        "recall": jmetric(r),
        "f1": jmetric(f),
        "per_class": {
            "precision": [jmetric(v) for v in pc],
            "recall": [jmetric(v) for v in rc],
            "f1": [jmetric(v) for v in fc],
            "support": [int(v) for v in sc],
        },
        "roc_auc": jmetric(auc),
        "log_loss": jfloat(log_loss(y, proba, labels=labels)),
        "confusion_matrix": confusion_matrix(y, pred, labels=labels).tolist(),
    }


def regression_metrics(y, ref):
    pred = np.array(ref["predictions"], dtype=np.float64)
    return {
        "rows": int(len(y)),
        "r2": jfloat(r2_score(y, pred)),
        "mae": jfloat(mean_absolute_error(y, pred)),
        "rmse": jfloat(root_mean_squared_error(y, pred)),
    }


def main():
    os.makedirs(DATA_DIR, exist_ok=True)
    rng = np.random.default_rng(SEED)
    gen_regression(rng)
    gen_multiclass(rng)

    heart = load_heart()
    Xh_lin = np.column_stack([heart[c] for c in LINREG_HEART_FEATURES])
    yh_lin = heart["thalach"]
    Xh_cls = np.column_stack([heart[c] for c in CLASSIF_HEART_FEATURES])
    yh_cls = heart["num"] > 0

    _, Xg, yg = read_csv(os.path.join(DATA_DIR, "gen_regression.csv"), False)
    _, Xm, ym = read_csv(os.path.join(DATA_DIR, "gen_multiclass.csv"), True)
    assert Xg.shape == (500, 5) and Xm.shape == (600, 4)
    print("gen_multiclass class counts:",
          {c: int(np.sum(ym == c)) for c in sorted(set(ym))})

    refs = {}
    refs["linreg_heart"] = linear_ref("linreg_heart", Xh_lin, yh_lin, LinearRegression(), 0)
    refs["ridge_heart"] = linear_ref("ridge_heart", Xh_lin, yh_lin, Ridge(alpha=10.0), 10)
    refs["linreg_gen"] = linear_ref("linreg_gen", Xg, yg, LinearRegression(), 0)
    refs["logreg_heart"] = logistic_ref("logreg_heart", Xh_cls, yh_cls, 1.0)
    refs["logreg_heart_c01"] = logistic_ref("logreg_heart_c01", Xh_cls, yh_cls, 0.1)
    refs["logreg_multi"] = logistic_ref("logreg_multi", Xm, ym, 1.0)
    refs["nb_heart"] = nb_ref("nb_heart", Xh_cls, yh_cls)
    refs["nb_multi"] = nb_ref("nb_multi", Xm, ym)

    assert refs["logreg_heart"]["classes"] == [False, True]
    assert refs["logreg_multi"]["classes"] == ["alpha", "beta", "gamma"]

    out = []
    out.append("-- Generated by tools/make_fixtures.py -- do not edit by hand.")
    out.append("-- scikit-learn %s, numpy %s, scipy %s, Python %s."
               % (sklearn.__version__, np.__version__, scipy.__version__,
                  sys.version.split()[0]))
    out.append("-- Reference results for sql/regress/sql/correctness.sql; one row per reference,")
    out.append("-- value = JSON (floats written with Python repr, i.e. round-trip exact).")
    out.append("CREATE TABLE ref (name text PRIMARY KEY, value jsonb NOT NULL);")
    for name, val in refs.items():
        js = json.dumps(val, allow_nan=False, separators=(",", ":"))
        assert "'" not in js
        out.append("INSERT INTO ref VALUES ('%s', '%s');" % (name, js))
    with open(os.path.join(DATA_DIR, "fixtures.sql"), "w", newline="") as fh:
        fh.write("\n".join(out) + "\n")
    print("wrote %s (%d references)" % (os.path.join(DATA_DIR, "fixtures.sql"), len(refs)))

    metrics = {
        "linreg_heart": regression_metrics(yh_lin, refs["linreg_heart"]),
        "ridge_heart": regression_metrics(yh_lin, refs["ridge_heart"]),
        "linreg_gen": regression_metrics(yg, refs["linreg_gen"]),
        "logreg_heart": classification_metrics(yh_cls, refs["logreg_heart"]),
        "logreg_heart_c01": classification_metrics(yh_cls, refs["logreg_heart_c01"]),
        "logreg_multi": classification_metrics(ym, refs["logreg_multi"]),
        "nb_heart": classification_metrics(yh_cls, refs["nb_heart"]),
        "nb_multi": classification_metrics(ym, refs["nb_multi"]),
    }
    out = []
    out.append("-- Generated by tools/make_fixtures.py -- do not edit by hand.")
    out.append("-- scikit-learn %s, numpy %s, scipy %s, Python %s."
               % (sklearn.__version__, np.__version__, scipy.__version__,
                  sys.version.split()[0]))
    out.append("-- Reference metrics for sql/regress/sql/metrics.sql: scikit-learn's metrics of")
    out.append("-- the reference models of fixtures.sql on their training rows, from the")
    out.append("-- reference predictions and probabilities (binary: pos_label = classes[1];")
    out.append("-- more classes: macro averages, roc_auc one-vs-rest; zero_division = nan -> null).")
    out.append("CREATE TABLE metrics_ref (name text PRIMARY KEY, value jsonb NOT NULL);")
    for name, val in metrics.items():
        js = json.dumps(val, allow_nan=False, separators=(",", ":"))
        assert "'" not in js
        out.append("INSERT INTO metrics_ref VALUES ('%s', '%s');" % (name, js))
        if "accuracy" in val:
            print("%-17s accuracy %.4f  f1 %.4f  roc_auc %.4f  log_loss %.4f"
                  % (name, val["accuracy"], val["f1"], val["roc_auc"], val["log_loss"]))
        else:
            print("%-17s r2 %.4f  mae %.4f  rmse %.4f" % (name, val["r2"], val["mae"], val["rmse"]))
    with open(os.path.join(DATA_DIR, "metrics_fixtures.sql"), "w", newline="") as fh:
        fh.write("\n".join(out) + "\n")
    print("wrote %s (%d references)" % (os.path.join(DATA_DIR, "metrics_fixtures.sql"), len(metrics)))


if __name__ == "__main__":
    main()
