"""Tree models against scikit-learn, and interrupts of tree training.

* ml.tree_fit on the heart data grows the trees scikit-learn's DecisionTreeClassifier
  and DecisionTreeRegressor grow (same predictions on the training rows, same
  feature importances): every heart feature has fewer than 255 distinct values, so
  the binned split search is exact. (Thresholds may differ: scikit-learn puts them
  halfway between the values present in a node, pgscore halfway between neighbouring
  values of the whole training set.)
* ml.forest_fit and ml.gbt_fit reach the held-out accuracy of scikit-learn's
  RandomForestClassifier and HistGradientBoostingClassifier on the same data.
* statement_timeout stops ml.gbt_fit within 100 ms, also while the Swift core grows
  trees.
"""
import pathlib
import time

import numpy as np
import psycopg
import pytest

from conftest import create_database, drop_database, dsn

import sklearn  # noqa: F401  (installed by tools/install_deps.sh)
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier  # noqa: E402
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor  # noqa: E402

DB = "pgscore_pytest_trees"
HEART = pathlib.Path(__file__).resolve().parent.parent / "data" / "heart" / "processed.cleveland.data"


@pytest.fixture(scope="module")
def db():
    with psycopg.connect(create_database(DB), autocommit=True) as c:
        c.execute("CREATE TABLE heart (id int, f float8[], num int, thalach float8)")
        rows = []
        for i, line in enumerate(HEART.read_text().split()):
            v = [None if x == "?" else float(x) for x in line.split(",")]
            rows.append((i, v[:13], int(v[13]), v[7]))
        with c.cursor().copy("COPY heart (id, f, num, thalach) FROM STDIN") as cp:
            for r in rows:
                cp.write_row(r)
    yield dsn(DB)
    drop_database(DB)


def heart_arrays(c, complete=True):
    where = "WHERE array_position(f, NULL) IS NULL" if complete else ""
    rows = c.execute(f"SELECT f, num, thalach FROM heart {where} ORDER BY id").fetchall()
    x = np.array([[np.nan if v is None else v for v in r[0]] for r in rows])
    return x, np.array([r[1] for r in rows]), np.array([r[2] for r in rows])


# Deeper trees meet splits of equal gain on different features, which scikit-learn
# breaks by a random feature order and pgscore by the lower feature index: there the
# trees may differ, and only their training accuracy is compared.
@pytest.mark.parametrize("depth,exact", [(2, True), (3, True), (4, True), (6, False), (None, False)])
def test_decision_tree_classifier_matches_sklearn(db, depth, exact):
    with psycopg.connect(db) as c:
        x, num, _ = heart_arrays(c)
        opts = '{"max_depth": %s}' % ("null" if depth is None else depth)
        d, pred = c.execute(f"""
            WITH m AS (SELECT ml.tree_fit(f, num > 0, '{opts}') AS m FROM heart WHERE array_position(f, NULL) IS NULL)
            SELECT (SELECT ml.describe(m) FROM m), array_agg(ml.predict(m, f) ORDER BY id)
              FROM m, heart WHERE array_position(f, NULL) IS NULL""").fetchone()
    sk = DecisionTreeClassifier(max_depth=depth, random_state=0).fit(x, num > 0)
    ours = np.array([p == "true" for p in pred])
    if exact:
        assert np.array_equal(ours, sk.predict(x))
        assert d["nodes"] == sk.tree_.node_count
        assert np.allclose(d["feature_importance"], sk.feature_importances_, atol=1e-12)
    else:
        assert abs((ours == (num > 0)).mean() - sk.score(x, num > 0)) <= 0.02


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_decision_tree_regressor_matches_sklearn(db, depth):
    with psycopg.connect(db) as c:
        x, _, thalach = heart_arrays(c)
        x12 = np.delete(x, 7, axis=1)
        d, pred = c.execute(f"""
            WITH m AS (SELECT ml.tree_fit(f[1:7] || f[9:13], thalach, '{{"max_depth": {depth}}}') AS m
                         FROM heart WHERE array_position(f, NULL) IS NULL)
            SELECT (SELECT ml.describe(m) FROM m), array_agg(ml.predict(m, f[1:7] || f[9:13])::float8 ORDER BY id)
              FROM m, heart WHERE array_position(f, NULL) IS NULL""").fetchone()
    sk = DecisionTreeRegressor(max_depth=depth, random_state=0).fit(x12, thalach)
    assert np.allclose(pred, sk.predict(x12), rtol=1e-12)
    assert d["nodes"] == sk.tree_.node_count
    assert np.allclose(d["feature_importance"], sk.feature_importances_, atol=1e-9)


def synthetic(n, seed):
    g = np.random.default_rng(seed)
    x = g.normal(size=(n, 6))
    s = 1.5 * x[:, 0] - x[:, 1] + x[:, 2] * x[:, 3] + np.sin(2 * x[:, 4])
    y = g.random(n) < 1 / (1 + np.exp(-2 * s))
    return x, y


def test_ensembles_as_good_as_sklearn(db):
    xt, yt = synthetic(4000, 1)
    xv, yv = synthetic(4000, 2)
    with psycopg.connect(db, autocommit=True) as c:
        c.execute("CREATE TEMP TABLE tr (f float8[], y boolean)")
        c.execute("CREATE TEMP TABLE va (i int, f float8[], y boolean)")
        with c.cursor().copy("COPY tr FROM STDIN") as cp:
            for f, y in zip(xt.tolist(), yt.tolist()):
                cp.write_row((f, y))
        with c.cursor().copy("COPY va FROM STDIN") as cp:
            for i, (f, y) in enumerate(zip(xv.tolist(), yv.tolist())):
                cp.write_row((i, f, y))
        ours = {}
        for name, agg in [("forest", "ml.forest_fit(f, y)"), ("gbt", "ml.gbt_fit(f, y)")]:
            ours[name] = c.execute(f"""
                WITH m AS (SELECT {agg} AS m FROM tr)
                SELECT avg((ml.predict(m, f)::boolean = y)::int) FROM m, va""").fetchone()[0]
    rf = RandomForestClassifier(n_estimators=100, random_state=0).fit(xt, yt).score(xv, yv)
    hgb = HistGradientBoostingClassifier(max_iter=100, learning_rate=0.1, max_depth=6, random_state=0,
                                         early_stopping=False).fit(xt, yt).score(xv, yv)
    assert ours["forest"] > rf - 0.02, (ours, rf)
    assert ours["gbt"] > hgb - 0.02, (ours, hgb)


def test_statement_timeout_stops_boosting(db):
    with psycopg.connect(db, autocommit=True) as c:
        c.execute("""CREATE TABLE IF NOT EXISTS boost_rows AS
            SELECT ARRAY[sin(i), cos(i), sin(i * 0.3), cos(i * 0.7), sin(i * 1.1), cos(i * 1.7)] AS f,
                   sin(i) + cos(i * 0.7) * sin(i * 1.1) > 0 AS c
              FROM generate_series(1, 200000) i""")
        c.execute("SET max_parallel_workers_per_gather = 0")
        start = time.monotonic()
        c.execute("SELECT count(f) FROM boost_rows")
        scan = time.monotonic() - start
        full = float("inf")   # the fastest of two runs: a timeout at a fraction of it lands before the end
        for _ in range(2):
            start = time.monotonic()
            c.execute("SELECT ml.gbt_fit(f, c, '{\"n_trees\": 200}') FROM boost_rows")
            full = min(full, time.monotonic() - start)
        assert full > 1.0, f"training must last long enough to interrupt (took {full:.2f}s)"
        for fraction in (0.5, 0.75):
            timeout_ms = int(full * fraction * 1000)
            assert timeout_ms / 1000 > scan   # inside the fit, not the scan
            c.execute(f"SET statement_timeout = {timeout_ms}")
            start = time.monotonic()
            with pytest.raises(psycopg.errors.QueryCanceled):
                c.execute("SELECT ml.gbt_fit(f, c, '{\"n_trees\": 200}') FROM boost_rows")
            late = time.monotonic() - start - timeout_ms / 1000
            assert late < 0.100, f"stopped {late * 1000:.0f} ms after the timeout"
            c.execute("RESET statement_timeout")
        c.execute("SELECT 1")
