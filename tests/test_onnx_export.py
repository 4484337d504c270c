"""ml.export_onnx: the exported file, run by ONNX Runtime, scores like ml.predict and
ml.predict_proba on every row of the heart data (float32: probabilities within 1e-5,
regression values within 1e-4 relative), with and without a preprocessing spec."""
import json
import math
import pathlib

import psycopg
import pytest

import numpy as np
import onnxruntime as ort

try:
    import onnx
except ImportError:  # the format library only adds the checker; scoring needs only onnxruntime
    onnx = None

DATA = pathlib.Path(__file__).resolve().parent.parent / "data" / "heart" / "processed.cleveland.data"
COLUMNS = ["age", "sex", "cp", "trestbps", "chol", "fbs", "restecg", "thalach",
           "exang", "oldpeak", "slope", "ca", "thal"]
FEATURES = "ARRAY[" + ", ".join(COLUMNS) + "]"
PROBA_TOL = 1e-5
# Where float32 cannot tell the two best classes apart, the label may honestly differ.
TIE = 1e-5


@pytest.fixture(scope="module")
def heart(database):
    with psycopg.connect(database, autocommit=True) as c:
        c.execute("DROP TABLE IF EXISTS onnx_heart, onnx_models")
        c.execute("CREATE TABLE onnx_heart (id serial, "
                  + ", ".join(f"{n} float8" for n in COLUMNS) + ", num int)")
        with c.cursor().copy("COPY onnx_heart (" + ", ".join(COLUMNS) + ", num) "
                             "FROM STDIN WITH (FORMAT csv, NULL '?')") as cp:
            cp.write(DATA.read_bytes())
        c.execute("CREATE TABLE onnx_models (name text PRIMARY KEY, model ml.model)")
        complete = "FROM onnx_heart WHERE ca IS NOT NULL AND thal IS NOT NULL"
        c.execute(f"""
            INSERT INTO onnx_models
            SELECT 'logreg_bool', ml.logreg_fit({FEATURES}, num > 0) {complete}
            UNION ALL
            SELECT 'logreg_text3', ml.logreg_fit({FEATURES},
                   CASE WHEN num = 0 THEN 'none' WHEN num = 1 THEN 'mild' ELSE 'severe' END) {complete}
            UNION ALL
            SELECT 'nb_bool', ml.nb_fit({FEATURES}, num > 0) {complete}
            UNION ALL
            SELECT 'nb_int5', ml.nb_fit({FEATURES}, num::bigint) {complete}
            UNION ALL
            SELECT 'linreg', ml.linreg_fit(ARRAY[age, sex, cp, trestbps, chol, fbs, restecg,
                                                 exang, oldpeak, slope, ca, thal], thalach) {complete}""")
        yield database


def export(conn, name):
    data = conn.execute("SELECT ml.export_onnx(model) FROM onnx_models WHERE name = %s", (name,)).fetchone()[0]
    assert isinstance(data, bytes) and len(data) > 0
    if onnx is not None:
        m = onnx.load_from_string(data)
        onnx.checker.check_model(m, full_check=True)
        assert m.ir_version == 8 and m.producer_name == "pgscore"
        assert {(o.domain, o.version) for o in m.opset_import} == {("", 17), ("ai.onnx.ml", 3)}
    return ort.InferenceSession(data, providers=["CPUExecutionProvider"])


def rows_with_sql_scores(conn, name, features=FEATURES, where="ca IS NOT NULL AND thal IS NOT NULL"):
    return conn.execute(f"""
        SELECT {features}, ml.predict(m.model, {features}),
               CASE WHEN ml.describe(m.model)->>'algorithm' <> 'linear_regression'
                    THEN ml.predict_proba(m.model, {features}) END
        FROM onnx_heart, onnx_models m WHERE m.name = %s AND {where} ORDER BY id""", (name,)).fetchall()


def check_classifier(session, feeds, rows):
    labels, proba = session.run(["label", "probabilities"], feeds)
    assert proba.shape == (len(rows), len(rows[0][2]))
    assert len(labels) == len(rows)
    worst = 0.0
    near_ties = 0
    for i, (_, sql_label, sql_proba) in enumerate(rows):
        diff = max(abs(float(a) - b) for a, b in zip(proba[i], sql_proba))
        worst = max(worst, diff)
        top = sorted(sql_proba)[-2:]
        if top[1] - top[0] < TIE:
            near_ties += 1
            continue
        assert str(labels[i]) == sql_label, f"row {i}: onnx {labels[i]!r}, ml.predict {sql_label!r}"
    assert worst <= PROBA_TOL, f"largest probability difference {worst:g}"
    assert near_ties <= 1
    return worst


@pytest.mark.parametrize("name", ["logreg_bool", "logreg_text3", "nb_bool", "nb_int5"])
def test_classifier_scores_like_predict(heart, conn, name):
    session = export(conn, name)
    assert [i.name for i in session.get_inputs()] == ["features"]
    assert [o.name for o in session.get_outputs()] == ["label", "probabilities"]
    rows = rows_with_sql_scores(conn, name)
    assert len(rows) == 297
    x = np.array([r[0] for r in rows], dtype=np.float32)
    check_classifier(session, {"features": x}, rows)
    classes = conn.execute("SELECT ml.describe(model)->'classes' FROM onnx_models WHERE name = %s", (name,)).fetchone()[0]
    labels = session.run(["label"], {"features": x})[0]
    if name == "nb_int5":  # integer labels come out as int64
        assert labels.dtype == np.int64 and set(labels.tolist()) <= set(classes)
    else:
        assert {str(c).lower() for c in classes} >= set(labels.tolist())


def test_binary_probabilities_are_one_minus_p_then_p(heart, conn):
    session = export(conn, "logreg_bool")
    rows = rows_with_sql_scores(conn, "logreg_bool")
    x = np.array([r[0] for r in rows], dtype=np.float32)
    proba = session.run(["probabilities"], {"features": x})[0]
    assert np.allclose(proba.sum(axis=1), 1, atol=1e-6)
    # column 1 is P(true): ml.predict says 'true' exactly where it is above 1/2
    assert all((p[1] > 0.5) == (r[1] == "true") for p, r in zip(proba, rows))


def test_regression_scores_like_predict(heart, conn):
    session = export(conn, "linreg")
    assert [o.name for o in session.get_outputs()] == ["variable"]
    features = "ARRAY[age, sex, cp, trestbps, chol, fbs, restecg, exang, oldpeak, slope, ca, thal]"
    rows = rows_with_sql_scores(conn, "linreg", features)
    x = np.array([r[0] for r in rows], dtype=np.float32)
    (y,) = session.run(["variable"], {"features": x})
    assert y.shape == (len(rows), 1)
    for i, (_, sql_value, _) in enumerate(rows):
        want = float(sql_value)
        assert abs(float(y[i, 0]) - want) <= 1e-4 * max(1.0, abs(want)), f"row {i}"


# ------------------------------------------------------------ preprocessing spec

NUMERIC = ["age", "trestbps", "chol", "thalach", "oldpeak", "ca"]
CATEGORICAL = {"cp": ["1", "2", "3", "4"], "thal": ["3", "6", "7"]}


def spec_for(conn):
    columns = []
    for n in NUMERIC:
        mean, sd = conn.execute(f"SELECT avg({n}), stddev_pop({n}) FROM onnx_heart").fetchone()
        columns.append({"name": n, "type": "float8", "kind": "numeric", "impute": mean,
                        "center": mean, "scale": sd, "missing": []})
    for n, cats in CATEGORICAL.items():
        columns.append({"name": n, "type": "float8", "kind": "categorical", "categories": cats,
                        "unknown": "ignore"})
    return {"columns": columns}


def encoded_sql(spec):
    """The SQL array expression that encodes a row exactly as Preprocessor.encode does."""
    parts = []
    for c in spec["columns"]:
        if c["kind"] == "numeric":
            parts.append(f"(coalesce({c['name']}, {c['impute']!r}) - {c['center']!r}) / {c['scale']!r}")
    for c in spec["columns"]:
        if c["kind"] == "categorical":
            for cat in c["categories"]:
                parts.append(f"CASE WHEN {c['name']} = {cat} THEN 1 ELSE 0 END")
    return "ARRAY[" + ", ".join(parts) + "]::float8[]"


def category_text(v):
    return "" if v is None else str(int(v))  # as Preprocessor formats numbers; "" = missing


def test_preprocessing_graph_takes_raw_columns(heart, conn):
    spec = spec_for(conn)
    enc = encoded_sql(spec)
    conn.execute("DELETE FROM onnx_models WHERE name LIKE 'pre_%'")
    conn.execute(f"""
        INSERT INTO onnx_models
        SELECT 'pre_logreg', ml.with_info(ml.logreg_fit({enc}, num > 0), %(info)s::jsonb) FROM onnx_heart
        UNION ALL
        SELECT 'pre_nb', ml.with_info(ml.nb_fit({enc}, num::bigint), %(info)s::jsonb) FROM onnx_heart
        UNION ALL
        SELECT 'pre_linreg', ml.with_info(ml.linreg_fit({enc}, slope, '{{"l2": 1}}'), %(info)s::jsonb) FROM onnx_heart""",
                 {"info": json.dumps({"preprocess": spec})})
    raw = conn.execute(f"SELECT {', '.join(NUMERIC)}, cp, thal FROM onnx_heart ORDER BY id").fetchall()
    assert len(raw) == 303  # rows with a missing ca or thal included
    numeric = np.array([[math.nan if v is None else v for v in r[:len(NUMERIC)]] for r in raw], dtype=np.float32)
    assert np.isnan(numeric).sum() == 4
    feeds = {"numeric": numeric,
             "cp": np.array([[category_text(r[-2])] for r in raw], dtype=object),
             "thal": np.array([[category_text(r[-1])] for r in raw], dtype=object)}
    assert sum(1 for r in raw if r[-1] is None) == 2

    for name in ["pre_logreg", "pre_nb"]:
        session = export(conn, name)
        assert [i.name for i in session.get_inputs()] == ["numeric", "cp", "thal"]
        rows = rows_with_sql_scores(conn, name, enc, where="true")
        check_classifier(session, feeds, rows)

    session = export(conn, "pre_linreg")
    rows = rows_with_sql_scores(conn, "pre_linreg", enc, where="true")
    (y,) = session.run(["variable"], feeds)
    for i, (_, sql_value, _) in enumerate(rows):
        want = float(sql_value)
        assert abs(float(y[i, 0]) - want) <= 1e-4 * max(1.0, abs(want)), f"row {i}"


def test_export_refuses_colliding_names(heart, conn):
    info = {"preprocess": {"columns": [
        {"name": "label", "type": "text", "kind": "categorical", "categories": ["a", "b"]}]}}
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="ml.export_onnx: cannot export to ONNX"):
        conn.execute("SELECT ml.export_onnx(ml.with_info(ml.nb_fit(ARRAY[x, 1 - x]::float8[], x > 0.5), %s::jsonb)) "
                     "FROM (VALUES (0.1), (0.9), (0.8), (0.2), (0.3), (0.7)) v(x)", (json.dumps(info),))
    assert conn.execute("SELECT ml.export_onnx(NULL)").fetchone()[0] is None
