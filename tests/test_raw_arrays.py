"""ml.predict(project, float8[]) and ml.predict_proba(project, float8[]) take raw values
in the order ml.features(project) lists (issue 12): on every row of the raw heart file
("?" in ca and thal) they answer what the row form answers, for every algorithm; an
array of the wrong length, or a version with a categorical column, is refused with a
message that says what to do; ml.predict_encoded scores what ml.encode gives."""
import psycopg
import pytest

from conftest import HEART_COLUMNS as COLUMNS, load_raw_heart, watched_database

DB = "pgscore_raw_arrays"
ALGORITHMS = ["logistic_regression", "naive_bayes", "decision_tree", "random_forest", "gradient_boosting"]


def raw_array(names):
    """The raw values as a client holds them: "?" is NULL (a missing value), ca/thal numbers."""
    return "ARRAY[" + ", ".join(f"ml._numeric_text(h.{n})" if n in ("ca", "thal") else f"h.{n}" for n in names) + "]::float8[]"


RAW = raw_array(COLUMNS)


@pytest.fixture(scope="module")
def db():
    with watched_database(DB) as url:
        with psycopg.connect(url, autocommit=True) as c:
            c.execute("SET client_min_messages = warning")
            load_raw_heart(c, "heart_raw")
            c.execute("CREATE VIEW heart_labelled AS SELECT *, num > 0 AS sick FROM heart_raw")
            for algorithm in ALGORITHMS:
                c.execute("SELECT ml.train(%s, 'heart_labelled', 'sick', %s, %s, exclude => ARRAY['id', 'num'])",
                          (algorithm, algorithm, '{"n_trees": 10}' if algorithm in ("random_forest", "gradient_boosting") else "{}"))
            c.execute("SELECT ml.train('chol', 'heart_labelled', 'chol', exclude => ARRAY['id', 'sick'])")  # num is a feature
        yield url


@pytest.fixture
def c(db):
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("SET client_min_messages = warning")
        yield conn


def test_features_lists_the_columns_in_array_order(c):
    rows = c.execute("SELECT name, type, position, kind FROM ml.features('logistic_regression')").fetchall()
    assert [r[0] for r in rows] == COLUMNS
    assert [r[2] for r in rows] == list(range(1, 14))
    assert {r[1] for r in rows} == {"double precision", "text"} and {r[3] for r in rows} == {"numeric"}
    assert c.execute("SELECT count(*) FROM ml.features('logistic_regression', 1)").fetchone()[0] == 13


def test_the_issues_first_heart_row_raw(c):
    raw = "ARRAY[63,1,1,145,233,1,2,150,0,2.3,3,0,6]::float8[]"
    array, row = c.execute(f"SELECT ml.predict('logistic_regression', {raw}), ml.predict('logistic_regression', h)"
                           " FROM heart_raw h WHERE id = 1").fetchone()
    assert (array, row) == ("false", "false")
    # the untyped array literal is the same raw form
    assert c.execute("SELECT ml.predict('logistic_regression', '{63,1,1,145,233,1,2,150,0,2.3,3,0,6}')").fetchone()[0] == "false"


@pytest.mark.parametrize("project", ALGORITHMS + ["chol"])
def test_array_form_answers_as_the_row_form_on_every_heart_row(c, project):
    names = [r[0] for r in c.execute("SELECT name FROM ml.features(%s) ORDER BY position", (project,))]
    assert len(names) == 13 and ("chol" in names) == (project != "chol")
    raw = raw_array(names)
    proba = "true" if project == "chol" else f"ml.predict_proba(%(p)s, {raw}) = ml.predict_proba(%(p)s, h)"
    rows = c.execute(f"""SELECT id, ml.predict(%(p)s, {raw}) = ml.predict(%(p)s, h), {proba}
                          FROM heart_raw h ORDER BY id""", {"p": project}).fetchall()
    assert len(rows) == 303
    assert [r[0] for r in rows if not (r[1] and r[2])] == []
    # the six "?" rows went through as NULL elements
    assert c.execute(f"SELECT count(*) FROM heart_raw h WHERE array_position({RAW}, NULL) IS NOT NULL").fetchone()[0] == 6


def test_encoded_arrays_keep_a_name_that_says_so(c):
    same = c.execute("""SELECT count(*) FILTER (WHERE ml.predict_encoded('logistic_regression', ml.encode(m.model, h))
                                                   = ml.predict('logistic_regression', h)
                                              AND ml.predict_proba_encoded('logistic_regression', ml.encode(m.model, h))
                                                   = ml.predict_proba('logistic_regression', h))
                          FROM heart_raw h, ml.models m JOIN ml.projects p ON p.id = m.project_id
                         WHERE p.name = 'logistic_regression'""").fetchone()[0]
    assert same == 303


def error(c, sql):
    with pytest.raises(psycopg.Error) as e:
        c.execute(sql)
    return e.value


def test_a_wrong_length_names_the_expected_count_and_columns(c):
    e = error(c, "SELECT ml.predict('logistic_regression', ARRAY[63, 1]::float8[])")
    assert e.sqlstate == "2202E"
    assert "has 2 values" in e.diag.message_primary and "expects 13" in e.diag.message_primary
    assert "age, sex, cp" in e.diag.message_primary and "ml.features" in e.diag.message_hint
    assert error(c, "SELECT ml.predict_proba('naive_bayes', array_fill(0.0::float8, ARRAY[14]))").sqlstate == "2202E"
    # the encoded form keeps its own check: the model's feature count
    assert error(c, "SELECT ml.predict_encoded('logistic_regression', ARRAY[63, 1]::float8[])").sqlstate == "2202E"
    # NaN is refused by column name, as in a row
    e = error(c, "SELECT ml.predict('logistic_regression', array_fill('NaN'::float8, ARRAY[13]))")
    assert e.sqlstate == "22023" and '"age"' in e.diag.message_primary


def test_a_categorical_version_names_the_row_and_jsonb_forms(c):
    c.execute("CREATE TABLE IF NOT EXISTS colours AS SELECT g::float8 AS x, (ARRAY['red', 'green', 'blue'])[g % 3 + 1] AS colour,"
              " g % 2 = 0 AS y FROM generate_series(1, 60) g")
    c.execute("SELECT ml.train('colours', 'colours', 'y')")
    e = error(c, "SELECT ml.predict('colours', ARRAY[1, 2]::float8[])")
    assert e.sqlstate == "0A000"
    assert '"colour"' in e.diag.message_primary
    assert "row" in e.diag.message_hint and "jsonb" in e.diag.message_hint
    assert error(c, "SELECT ml.predict_proba('colours', ARRAY[1, 2]::float8[])").sqlstate == "0A000"
    # the row and jsonb forms it points to do score
    assert c.execute("""SELECT ml.predict('colours', '{"x": 1, "colour": "red"}'::jsonb) IS NOT NULL""").fetchone()[0]
