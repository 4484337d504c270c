"""The preprocessing fit of ml.train is the Swift aggregate ml._preprocess_fit (issue 12):
compared with scikit-learn's SimpleImputer, StandardScaler and OneHotEncoder on the same
rows; the same spec in a parallel plan; partial states that are no states refused
(22P03) without a crash; and the odd numeric texts get one answer in training, the row,
jsonb and array forms of ml.predict, drift's reading of logged features, and the REST
gateway."""
import json
import math

import numpy as np
import psycopg
import pytest
import requests
from sklearn.impute import SimpleImputer
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from conftest import HEART_COLUMNS, load_raw_heart, watched_database
from daemon_helpers import Daemon, create_key

DB = "pgscore_preprocess_fit"
ODD = [" 7 ", "1e3", "1E+3", ".5", "NaN", "inf", "0x10", "１２", "?", ""]
MARKERS = {"?", "", "NA", "N/A", "NaN", "nan", "null", "NULL", "-"}
# what the one rule says about each: a number, a missing marker, or neither (refused)
EXPECTED = {" 7 ": 7.0, "1e3": 1000.0, "1E+3": 1000.0, ".5": 0.5, "NaN": "missing", "inf": "refused",
            "0x10": "refused", "１２": "refused", "?": "missing", "": "missing"}


@pytest.fixture(scope="module")
def db():
    with watched_database(DB) as url:
        with psycopg.connect(url, autocommit=True) as c:
            c.execute("SET client_min_messages = warning")
            load_raw_heart(c, "heart_raw")
            c.execute("""CREATE TABLE mixed AS SELECT g AS id,
                           CASE WHEN g % 7 = 0 THEN NULL ELSE (g % 23) * 1.25 END::float8 AS dose,
                           CASE WHEN g % 11 = 0 THEN NULL ELSE (ARRAY['red', 'green', 'blue', 'grey'])[g % 4 + 1] END AS colour,
                           CASE WHEN g % 13 = 0 THEN NULL ELSE g % 3 = 0 END AS smoker,
                           CASE WHEN g % 5 = 0 THEN '?' ELSE ((g % 9) + 0.5)::text END AS level,
                           g % 2 = 0 AS y
                         FROM generate_series(1, 400) g""")
            c.execute("""CREATE TABLE odd_train AS SELECT CASE WHEN g % 6 = 0 THEN '?' ELSE ((g * 37) % 50)::text END AS dose,
                           (g * 37) % 50 > 20 AS y FROM generate_series(1, 120) g""")
            c.execute("SELECT ml.train('odd', 'odd_train', 'y', 'logistic_regression')")
        yield url


@pytest.fixture
def c(db):
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("SET client_min_messages = warning")
        yield conn


def preprocessing(c, table, label, exclude=("id",)):
    """ml.train's fit over every row of table (not only a training split), read as ml.train
    reads it: in passes (ml._pass) over the source, whose columns pgscore_train_columns has."""
    with c.transaction():
        c.execute("DROP TABLE IF EXISTS pg_temp.pgscore_train_columns")
        c.execute(f"CREATE TEMP TABLE pgscore_train_columns AS SELECT * FROM public.{table} LIMIT 0")
        c.execute("SELECT ml._pass_begin(current_user, NULL)")
        spec = c.execute("SELECT to_jsonb(p) FROM ml._train_preprocessing(%s, %s, true, false, 'error', %s) p",
                         (label, list(exclude), f"public.{table} d WHERE true")).fetchone()[0]
        c.execute("SELECT ml._pass_end()")
    return spec


def columns(spec):
    return {col["name"]: col for col in spec["columns"]}


def numbers(c, sql):
    return np.array([[math.nan if v is None else float(v) for v in row] for row in c.execute(sql).fetchall()])


def test_heart_fit_is_scikit_learns(c):
    pre = preprocessing(c, "heart_raw", "num")
    cols = columns(pre["spec"])
    assert list(cols) == HEART_COLUMNS and {col["kind"] for col in cols.values()} == {"numeric"}
    x = numbers(c, "SELECT " + ", ".join(f"ml._numeric_text({n}::text)" for n in HEART_COLUMNS) + " FROM heart_raw")
    assert np.isnan(x).sum() == 6   # "?" in ca and thal
    imputer = SimpleImputer(strategy="mean").fit(x)
    scaler = StandardScaler().fit(x)
    for k, name in enumerate(HEART_COLUMNS):
        assert cols[name]["impute"] == pytest.approx(imputer.statistics_[k], rel=1e-12, abs=1e-12)
        assert cols[name]["center"] == pytest.approx(scaler.mean_[k], rel=1e-12, abs=1e-12)
        assert cols[name]["scale"] == pytest.approx(scaler.scale_[k], rel=1e-12, abs=1e-12)
    assert cols["ca"]["missing"] == ["?", "", "NA", "N/A", "NaN", "nan", "null", "NULL", "-"]


def test_nulls_categories_and_booleans_are_scikit_learns(c):
    pre = preprocessing(c, "mixed", "y")
    cols = columns(pre["spec"])
    assert {n: col["kind"] for n, col in cols.items()} == {
        "dose": "numeric", "colour": "categorical", "smoker": "numeric", "level": "numeric"}
    x = numbers(c, "SELECT dose, smoker::int, ml._numeric_text(level) FROM mixed")
    imputer, scaler = SimpleImputer(strategy="mean").fit(x), StandardScaler().fit(x)
    for k, name in enumerate(["dose", "smoker", "level"]):
        assert cols[name]["impute"] == pytest.approx(imputer.statistics_[k], rel=1e-12, abs=1e-12)
        assert cols[name]["scale"] == pytest.approx(scaler.scale_[k], rel=1e-12, abs=1e-12)
        assert pre["stats"][name]["null_fraction"] == pytest.approx(np.isnan(x[:, k]).mean(), abs=1e-12)
    colours = [r[0] for r in c.execute("SELECT colour FROM mixed WHERE colour IS NOT NULL").fetchall()]
    encoder = OneHotEncoder().fit(np.array(colours, dtype=object).reshape(-1, 1))
    assert cols["colour"]["categories"] == list(encoder.categories_[0])
    assert pre["feature_names"][-4:] == [f"colour={v}" for v in encoder.categories_[0]]
    frequent = SimpleImputer(strategy="most_frequent").fit(np.array(colours, dtype=object).reshape(-1, 1))
    freqs = pre["stats"]["colour"]["frequencies"]
    assert max(freqs, key=lambda k: (freqs[k], [-ord(ch) for ch in k])) == frequent.statistics_[0]
    assert sum(freqs.values()) == pytest.approx(1, abs=1e-12)


def test_a_parallel_plan_gives_the_same_spec(c):
    c.execute("DROP TABLE IF EXISTS wide")
    c.execute("""CREATE TABLE wide AS SELECT g AS id, sin(g) * 100 AS a, CASE WHEN g % 9 = 0 THEN NULL ELSE g % 17 END::float8 AS b,
                   (ARRAY['p', 'q', 'r'])[g % 3 + 1] AS k, CASE WHEN g % 4 = 0 THEN '?' ELSE (g % 31)::text END AS t,
                   g % 2 = 0 AS y FROM generate_series(1, 60000) g""")
    c.execute("ANALYZE wide")
    fits = ("SELECT ml._preprocess_fit(a, '{\"name\": \"a\"}'), ml._preprocess_fit(b, '{\"name\": \"b\"}'), "
            "ml._preprocess_fit(k, '{\"name\": \"k\"}'), ml._preprocess_fit(t, '{\"name\": \"t\"}') FROM wide")
    serial = c.execute(fits).fetchone()
    serial_pre = preprocessing(c, "wide", "y")
    with c.transaction():
        for setting in ("parallel_setup_cost = 0", "parallel_tuple_cost = 0", "min_parallel_table_scan_size = 0",
                        "max_parallel_workers_per_gather = 2", "force_parallel_mode = on"):
            c.execute(f"SET LOCAL {setting}")
        plan = "\n".join(r[0] for r in c.execute("EXPLAIN " + fits).fetchall())
        assert "Partial Aggregate" in plan, plan
        parallel = c.execute(fits).fetchone()
        parallel_pre = preprocessing(c, "wide", "y")

    def close(a, b):
        if isinstance(a, dict):
            return a.keys() == b.keys() and all(close(a[k], b[k]) for k in a)
        if isinstance(a, list):
            # category order follows the partial states in the aggregate, sorted later
            return len(a) == len(b) and (all(close(x, y) for x, y in zip(a, b)) or sorted(map(json.dumps, a)) == sorted(map(json.dumps, b)))
        if isinstance(a, float) or isinstance(b, float):
            return b == pytest.approx(a, rel=1e-12, abs=1e-12)
        return a == b
    assert all(close(s, p) for s, p in zip(serial, parallel)), (serial, parallel)
    assert close(serial_pre, parallel_pre)
    assert serial_pre["spec"]["columns"][2]["categories"] == parallel_pre["spec"]["columns"][2]["categories"] == ["p", "q", "r"]


def test_states_that_are_no_states_are_refused(c, db):
    state = bytes(c.execute("SELECT ml._preprocess_fit_state(colour, '{\"name\": \"colour\"}') FROM mixed").fetchone()[0])
    assert c.execute("SELECT ml._preprocess_fit_result(%s) #>> '{column,kind}'", (state,)).fetchone()[0] == "categorical"
    number_state = bytes(c.execute("SELECT ml._preprocess_fit_state(dose, '{\"name\": \"dose\"}') FROM mixed").fetchone()[0])
    hostile = [b"", b"\x00", state[:4], state[:-1], state + b"\x00", b"\xff" * len(state)]
    # a category count larger than the rows, a row count below the NULLs, a negative count
    grown = bytearray(state)
    grown[-8:] = (2**62).to_bytes(8, "little")
    hostile.append(bytes(grown))
    at = 4 + 4 + int.from_bytes(number_state[4:8], "little") + 1  # magic, options, textual flag: rows
    for rows in (-1, 0):
        bad = bytearray(number_state)
        bad[at:at + 8] = rows.to_bytes(8, "little", signed=True)
        hostile.append(bytes(bad))
    nan_count = bytearray(number_state)
    nan_count[at + 16:at + 24] = np.float64("nan").tobytes()
    hostile.append(bytes(nan_count))
    for value in hostile:
        with pytest.raises(psycopg.Error) as e:
            c.execute("SELECT ml._preprocess_fit_result(%s)", (value,))
        assert e.value.sqlstate == "22P03", (value, e.value)
    # the support functions refuse to run outside an aggregate
    with pytest.raises(psycopg.Error) as e:
        c.execute("SELECT ml._preprocess_fit_serialize(NULL::internal)")
    assert c.execute("SELECT 1").fetchone()[0] == 1


def predict_forms(c, text):
    """ml.predict's row, jsonb and array forms for dose = text: answers or SQLSTATEs."""
    out = []
    for sql in ("SELECT (ml.predict_proba('odd', r))[2] FROM (SELECT %s::text AS dose) r",
                "SELECT (ml.predict_proba('odd', jsonb_build_object('dose', %s::text)))[2]",
                "SELECT (ml.predict_proba('odd', ARRAY[ml._numeric_text(%s)]))[2]"):
        try:
            out.append(c.execute(sql, (text,)).fetchone()[0])
        except psycopg.Error as e:
            out.append(e.sqlstate)
    return out


@pytest.mark.parametrize("text", ODD)
def test_odd_numeric_text_has_one_answer_everywhere(c, text):
    expected = EXPECTED[text]
    # the rule itself, as drift reads logged features
    number = c.execute("SELECT ml._numeric_text(%s)", (text,)).fetchone()[0]
    drift = c.execute("SELECT ml._json_float(to_jsonb(%s::text))", (text,)).fetchone()[0]
    assert number == drift == (expected if isinstance(expected, float) else None)
    assert (text.strip(" ") in MARKERS) == (expected == "missing")
    # training: a text column of numbers and this text is numeric unless the text is neither
    c.execute("DROP TABLE IF EXISTS odd_one")
    c.execute("CREATE TABLE odd_one AS SELECT CASE WHEN g %% 10 = 0 THEN %s ELSE (g %% 13)::text END AS v, g %% 2 = 0 AS y "
              "FROM generate_series(1, 60) g", (text,))
    kind = preprocessing(c, "odd_one", "y", exclude=())["features"][0]["kind"]
    assert kind == ("categorical" if expected == "refused" else "numeric")
    # serving: a number scores as that number, a marker as missing, anything else is refused
    row, jsonb, array = predict_forms(c, text)
    if expected == "refused":
        assert row == jsonb == "22023", (row, jsonb)
        assert array == predict_forms(c, None)[2]   # the array form has no text: NULL is missing
    else:
        same = predict_forms(c, None if expected == "missing" else repr(expected))
        assert row == pytest.approx(same[0], abs=1e-15) and jsonb == pytest.approx(same[0], abs=1e-15)
        assert array == pytest.approx(same[0], abs=1e-15)


def test_the_gateway_refuses_what_sql_refuses(db, tmp_path):
    _, key = create_key("predict", "odd texts", dbname=DB)
    daemon = Daemon(tmp_path, "--no-jobs", dbname=DB)
    try:
        with psycopg.connect(db, autocommit=True) as c:
            for text in ODD:
                sql = predict_forms(c, text)[1]
                r = requests.post(daemon.url + "/v1/projects/odd/predict", json={"dose": text},
                                  headers={"Authorization": f"Bearer {key}"})
                if sql == "22023":
                    assert r.status_code == 422, (text, r.text)
                    assert "dose" in r.json()["detail"]
                else:
                    assert r.status_code == 200, (text, r.text)
                    assert r.json()["probabilities"]["true"] == pytest.approx(sql, abs=1e-12), text
    finally:
        daemon.stop()
