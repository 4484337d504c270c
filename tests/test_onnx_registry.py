"""ml.export(project) of versions made by ml.train on the raw heart file ("?" in ca
and thal): ONNX Runtime, fed the raw columns (NaN for "?"), gives the labels of
ml.predict('heart', row) on every row and its probabilities within 1e-5."""
import psycopg
import pytest

import numpy as np
import onnxruntime as ort

from conftest import HEART_COLUMNS as COLUMNS, load_raw_heart


@pytest.fixture(scope="module")
def project(database):
    with psycopg.connect(database, autocommit=True) as c:
        load_raw_heart(c, "onnx_raw")
        c.execute("CREATE VIEW onnx_labelled AS SELECT *, num > 0 AS sick FROM onnx_raw")
        c.execute("SELECT ml.train('onnx_heart', 'onnx_labelled', 'sick', 'logistic_regression', exclude => ARRAY['id', 'num'])")
        c.execute("SELECT ml.train('onnx_heart', 'onnx_labelled', 'sick', 'naive_bayes', exclude => ARRAY['id', 'num'])")
    return database


@pytest.mark.parametrize("version", [1, 2])
def test_exported_versions_score_like_predict(project, version):
    with psycopg.connect(project, autocommit=True) as c:
        c.execute("SELECT ml.deploy('onnx_heart', version => %s)", (version,))
        data = c.execute("SELECT ml.export('onnx_heart', %s, 'onnx')", (version,)).fetchone()[0]
        rows = c.execute(f"""SELECT {', '.join(COLUMNS)}, ml.predict('onnx_heart', r), ml.predict_proba('onnx_heart', r)
                              FROM onnx_raw r ORDER BY id""").fetchall()
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    assert names == ["numeric"], names            # all 13 columns are numeric (ca, thal as numeric text)

    def number(v):
        if v is None:
            return np.nan
        if isinstance(v, str):
            return np.nan if v.strip() == "?" else float(v)
        return float(v)

    x = np.array([[number(v) for v in row[:13]] for row in rows], dtype=np.float32)
    assert np.isnan(x).sum() == 6                 # the six "?" of the file
    labels, probas = session.run(None, {"numeric": x})
    probas = np.array([[p[k] for k in sorted(p)] for p in probas]) if isinstance(probas[0], dict) else np.asarray(probas)
    expected_labels = [row[13] for row in rows]
    expected_probas = np.array([row[14] for row in rows])
    assert [str(l) for l in labels] == expected_labels
    assert np.max(np.abs(probas - expected_probas)) < 1e-5
