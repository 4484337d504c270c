"""ONNX export of tree models (decision tree, random forest, gradient boosting) on the
heart data: ONNX Runtime, fed every row (and every row again with each feature in turn
missing, so that NaN takes the learned default direction at every kind of split), gives
the label of ml.predict on every row, the probabilities of ml.predict_proba within 1e-5
and regression values within 1e-4 relative. Models from the aggregates (boolean, text
3-class, integer labels, float8 regression) and from ml.train on the raw file ("?" in
ca and thal reach the trees as NaN: no Imputer in the graph).

Thresholds are written as the largest float32 not above the double threshold; a check
here confirms that every training value falls on the same side of each float32
threshold (after its own float32 rounding) as of the double one."""
import pathlib

import psycopg
import pytest

import numpy as np
import onnxruntime as ort

try:
    import onnx
    from onnx import numpy_helper  # noqa: F401
except ImportError:  # the checker and the threshold check need the format library
    onnx = None

from conftest import load_raw_heart

DATA = pathlib.Path(__file__).resolve().parent.parent / "data" / "heart" / "processed.cleveland.data"
COLUMNS = ["age", "sex", "cp", "trestbps", "chol", "fbs", "restecg", "thalach",
           "exang", "oldpeak", "slope", "ca", "thal"]
F13 = "ARRAY[" + ", ".join(COLUMNS) + "]"
F12 = "ARRAY[" + ", ".join(c for c in COLUMNS if c != "thalach") + "]"
PROBA_TOL = 1e-5
REL_TOL = 1e-4

TEXT3 = "CASE WHEN num = 0 THEN 'none' WHEN num = 1 THEN 'mild' ELSE 'severe' END"
# name: (features, label expression, aggregate call)
MODELS = {
    "tree_bool": (F13, "num > 0", "ml.tree_fit({f}, {y}, '{{\"max_depth\": 6}}')"),
    "forest_bool": (F13, "num > 0", "ml.forest_fit({f}, {y}, '{{\"n_trees\": 40, \"seed\": 3}}')"),
    "gbt_bool": (F13, "num > 0", "ml.gbt_fit({f}, {y})"),
    "tree_text3": (F13, TEXT3, "ml.tree_fit({f}, {y})"),
    "forest_text3": (F13, TEXT3, "ml.forest_fit({f}, {y}, '{{\"n_trees\": 40, \"seed\": 5}}')"),
    "gbt_text3": (F13, TEXT3, "ml.gbt_fit({f}, {y}, '{{\"n_trees\": 60}}')"),
    "forest_int5": (F13, "num::bigint", "ml.forest_fit({f}, {y}, '{{\"n_trees\": 25}}')"),
    "gbt_int2": (F13, "(num > 0)::int::bigint", "ml.gbt_fit({f}, {y}, '{{\"n_trees\": 40, \"max_depth\": 4}}')"),
    "tree_reg": (F12, "thalach", "ml.tree_fit({f}, {y})"),
    "forest_reg": (F12, "thalach", "ml.forest_fit({f}, {y}, '{{\"n_trees\": 30, \"min_samples_leaf\": 3}}')"),
    "gbt_reg": (F12, "thalach", "ml.gbt_fit({f}, {y}, '{{\"n_trees\": 80}}')"),
}
REGRESSORS = {n for n, (_, y, _) in MODELS.items() if y == "thalach"}


@pytest.fixture(scope="module")
def heart(database):
    with psycopg.connect(database, autocommit=True) as c:
        c.execute("DROP TABLE IF EXISTS onnx_trees_heart, onnx_trees_models, onnx_trees_rows CASCADE")
        c.execute("CREATE TABLE onnx_trees_heart (id serial, "
                  + ", ".join(f"{n} float8" for n in COLUMNS) + ", num int)")
        with c.cursor().copy("COPY onnx_trees_heart (" + ", ".join(COLUMNS) + ", num) "
                             "FROM STDIN WITH (FORMAT csv, NULL '?')") as cp:
            cp.write(DATA.read_bytes())
        c.execute("CREATE TABLE onnx_trees_models (name text PRIMARY KEY, features text, model ml.model)")
        for name, (f, y, call) in MODELS.items():
            # every row: the six with a missing ca or thal train as missing values
            c.execute(f"INSERT INTO onnx_trees_models SELECT %s, %s, {call.format(f=f, y=y)} FROM onnx_trees_heart",
                      (name, f))
        # the rows to score: each row as it is (j = 0), then with feature j missing
        c.execute(f"""
            CREATE TABLE onnx_trees_rows AS
            SELECT h.id, j, (SELECT array_agg(CASE WHEN k = j THEN NULL ELSE v END ORDER BY k)
                               FROM unnest({F13}) WITH ORDINALITY u(v, k)) AS f13
              FROM onnx_trees_heart h, generate_series(0, 13) j""")
        yield database


def load(data):
    assert isinstance(data, bytes) and len(data) > 0
    if onnx is not None:
        m = onnx.load_from_string(data)
        onnx.checker.check_model(m, full_check=True)
        assert m.ir_version == 8 and m.producer_name == "pgscore"
        assert {(o.domain, o.version) for o in m.opset_import} == {("", 17), ("ai.onnx.ml", 3)}
    return ort.InferenceSession(data, providers=["CPUExecutionProvider"])


def export(conn, name):
    data = conn.execute("SELECT ml.export_onnx(model) FROM onnx_trees_models WHERE name = %s", (name,)).fetchone()[0]
    return data, load(data)


def features_sql(name):
    # F12 drops thalach (the regression label): the 13-array without its 8th element
    return "r.f13" if MODELS[name][0] == F13 else "r.f13[1:7] || r.f13[9:13]"


def scored_rows(conn, name):
    f = features_sql(name)
    proba = "NULL" if name in REGRESSORS else f"ml.predict_proba(m.model, {f})"
    return conn.execute(f"""
        SELECT {f}, ml.predict(m.model, {f}), {proba}
          FROM onnx_trees_rows r, onnx_trees_models m WHERE m.name = %s ORDER BY r.id, r.j""", (name,)).fetchall()


def as_float32(arrays):
    return np.array([[np.nan if v is None else v for v in a] for a in arrays], dtype=np.float32)


def compare_classifier(session, feeds, rows):
    labels, proba = session.run(["label", "probabilities"], feeds)
    assert proba.shape == (len(rows), len(rows[0][2]))
    got = [str(label).lower() for label in labels]
    want = [r[1] for r in rows]
    wrong = [i for i in range(len(rows)) if got[i] != want[i]]
    assert not wrong, f"{len(wrong)} labels differ, first row {wrong[0]}: onnx {got[wrong[0]]!r}, sql {want[wrong[0]]!r}"
    worst = float(np.max(np.abs(proba.astype(np.float64) - np.array([r[2] for r in rows]))))
    assert worst <= PROBA_TOL, f"largest probability difference {worst:g}"
    return worst


def compare_regressor(session, feeds, rows):
    (y,) = session.run(["variable"], feeds)
    assert y.shape == (len(rows), 1)
    want = np.array([float(r[1]) for r in rows])
    rel = np.abs(y[:, 0].astype(np.float64) - want) / np.maximum(1.0, np.abs(want))
    assert rel.max() <= REL_TOL, f"largest relative difference {rel.max():g} (row {int(rel.argmax())})"
    return float(rel.max())


@pytest.mark.parametrize("name", list(MODELS))
def test_aggregate_models_score_like_predict(heart, conn, name):
    data, session = export(conn, name)
    assert [i.name for i in session.get_inputs()] == ["features"]
    rows = scored_rows(conn, name)
    assert len(rows) == 303 * 14
    x = as_float32([r[0] for r in rows])
    assert np.isnan(x).any(axis=1).sum() >= 303 * 12          # a missing value in (nearly) every copy
    if name in REGRESSORS:
        assert [o.name for o in session.get_outputs()] == ["variable"]
        worst = compare_regressor(session, {"features": x}, rows)
    else:
        assert [o.name for o in session.get_outputs()] == ["label", "probabilities"]
        worst = compare_classifier(session, {"features": x}, rows)
        if MODELS[name][1].endswith("bigint"):
            assert session.run(["label"], {"features": x[:3]})[0].dtype == np.int64
    print(f"{name}: {len(rows)} rows, largest difference {worst:.2e}")


def test_graph_forms(heart, conn):
    """Which operators each kind of model uses (see OnnxExport+Trees.swift)."""
    if onnx is None:
        pytest.skip("needs the onnx package")

    def ops(name):
        return [n.op_type for n in onnx.load_from_string(export(conn, name)[0]).graph.node]

    assert ops("tree_text3") == ["TreeEnsembleClassifier"]
    assert ops("forest_text3") == ["TreeEnsembleClassifier"]
    assert ops("gbt_text3") == ["TreeEnsembleClassifier"]
    assert ops("forest_bool") == ["TreeEnsembleRegressor", "ArgMax", "LabelEncoder"]
    assert ops("gbt_bool") == ["TreeEnsembleRegressor", "Neg", "Concat", "Sigmoid", "ArgMax", "LabelEncoder"]
    assert ops("gbt_reg") == ["TreeEnsembleRegressor"]


def float32_floor(t):
    f = np.float32(t)
    if float(f) > t:
        f = np.nextafter(f, np.float32(-np.inf))
    return f


def test_float32_thresholds_keep_the_training_partition(heart, conn):
    """Every split: the float32 threshold is the largest float32 <= the double one, and
    each training value (rounded to float32 as it is fed) goes the same way."""
    if onnx is None:
        pytest.skip("needs the onnx package")
    values = {}
    for i, c in enumerate(COLUMNS):
        values[i] = np.array([v for (v,) in conn.execute(
            f"SELECT DISTINCT {c} FROM onnx_trees_heart WHERE {c} IS NOT NULL")], dtype=np.float64)
    f12 = [i for i, c in enumerate(COLUMNS) if c != "thalach"]
    checked = 0
    for name in MODELS:
        d = conn.execute("SELECT ml.describe(model) FROM onnx_trees_models WHERE name = %s", (name,)).fetchone()[0]
        if "trees" not in d:
            continue                                   # too large to be listed
        node = next(n for n in onnx.load_from_string(export(conn, name)[0]).graph.node if n.op_type.startswith("TreeEnsemble"))
        attrs = {a.name: a for a in node.attribute}
        modes = [m.decode() for m in attrs["nodes_modes"].strings]
        onnx_values = list(attrs["nodes_values"].floats)
        onnx_features = list(attrs["nodes_featureids"].ints)
        described = [n for t in d["trees"] for n in t["nodes"]]
        assert len(described) == len(modes)
        for n, mode, f, feature in zip(described, modes, onnx_values, onnx_features):
            if "leaf" in n:
                assert mode == "LEAF"
                continue
            assert mode == "BRANCH_LEQ" and feature == n["feature"] - 1
            t = float(n["threshold"])
            column = feature if MODELS[name][0] == F13 else f12[feature]
            if t > float(np.finfo(np.float32).max):
                assert f == np.inf                     # the "missing vs everything" split
                continue
            assert np.float32(f) == float32_floor(t)
            v = values[column]
            assert np.array_equal(v.astype(np.float32) <= np.float32(f), v <= t), f"{name}: split at {t}"
            checked += 1
    print(f"{checked} float32 thresholds checked against every training value")
    assert checked > 100


# ------------------------------------------------------------------ ml.train (raw file)

@pytest.fixture(scope="module")
def project(heart):
    with psycopg.connect(heart, autocommit=True) as c:
        load_raw_heart(c, "onnx_trees_raw")
        # cp as a categorical text column: the graph one-hot encodes it after the numbers
        c.execute("""CREATE VIEW onnx_trees_labelled AS
                     SELECT *, num > 0 AS sick,
                            (ARRAY['typical', 'atypical', 'nonanginal', 'asymptomatic'])[cp::int] AS pain
                       FROM onnx_trees_raw""")
        c.execute("""SELECT ml.train('onnx_trees', 'onnx_trees_labelled', 'sick', 'gradient_boosting',
                                     exclude => ARRAY['id', 'num', 'cp'])""")
        c.execute("""SELECT ml.train('onnx_trees', 'onnx_trees_labelled', 'sick', 'random_forest',
                                     '{"n_trees": 40}', exclude => ARRAY['id', 'num', 'cp'])""")
    return heart


NUMERIC = [c for c in COLUMNS if c != "cp"]


@pytest.mark.parametrize("version", [1, 2])
def test_trained_versions_score_like_predict(project, version):
    with psycopg.connect(project, autocommit=True) as c:
        algorithm = c.execute("""SELECT m.algorithm FROM ml.models m JOIN ml.projects p ON p.id = m.project_id
                                  WHERE p.name = 'onnx_trees' AND m.version = %s""", (version,)).fetchone()[0]
        assert algorithm == ["gradient_boosting", "random_forest"][version - 1]
        c.execute("SELECT ml.deploy('onnx_trees', version => %s)", (version,))
        data = c.execute("SELECT ml.export('onnx_trees', %s, 'onnx')", (version,)).fetchone()[0]
        rows = c.execute(f"""SELECT {', '.join(NUMERIC)}, pain, ml.predict('onnx_trees', r), ml.predict_proba('onnx_trees', r)
                              FROM onnx_trees_labelled r ORDER BY id""").fetchall()
    session = load(data)
    assert [i.name for i in session.get_inputs()] == ["numeric", "pain"]
    if onnx is not None:
        ops = [n.op_type for n in onnx.load_from_string(data).graph.node]
        assert "Imputer" not in ops and "Scaler" not in ops, ops    # NaN reaches the trees
        assert ops[:3] == ["OneHotEncoder", "Reshape", "Concat"]

    def number(v):
        if v is None:
            return np.nan
        if isinstance(v, str):
            return np.nan if v.strip() == "?" else float(v)
        return float(v)

    x = np.array([[number(v) for v in r[:len(NUMERIC)]] for r in rows], dtype=np.float32)
    assert np.isnan(x).sum() == 6                      # the six "?" of the file
    feeds = {"numeric": x, "pain": np.array([[r[len(NUMERIC)]] for r in rows], dtype=object)}
    worst = compare_classifier(session, feeds, [(None, r[-2], r[-1]) for r in rows])
    print(f"ml.train version {version} ({algorithm}): {len(rows)} rows, largest difference {worst:.2e}")
