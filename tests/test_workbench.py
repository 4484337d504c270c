"""The data scientists' workbench (issue 16): the `pgscore` Python package against the
real server, the scikit-learn estimators inside cross_val_score, the daemon serving its
OpenAPI document, and examples/bracelet.ipynb run headless.

Every client answer is compared with the SQL a user would write for the same thing.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import psycopg
import pytest
import requests
import yaml

import pgscore
from pgscore.sklearn import PgscoreClassifier, PgscoreRegressor
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score

from conftest import create_database, drop_database
from daemon_helpers import Daemon, make_database, ROOT

DB = "pgscore_workbench"
HEART = ROOT / "data" / "heart" / "processed.cleveland.data"
NAMES = ["age", "sex", "cp", "trestbps", "chol", "fbs", "restecg", "thalach", "exang", "oldpeak",
         "slope", "ca", "thal", "num"]


def heart_frame():
    """The raw file as pandas reads it: "?" is NaN, so ca and thal are float columns."""
    return pd.read_csv(HEART, header=None, names=NAMES, na_values="?")


@pytest.fixture(scope="module")
def url():
    url = create_database(DB)
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("CREATE TABLE heart (id int, " + ", ".join(
            f"{n} {'bigint' if n == 'num' else 'float8'}" for n in NAMES) + ", sick boolean)")
        df = heart_frame()
        with c.cursor().copy("COPY heart FROM STDIN") as cp:
            for i, row in enumerate(df.itertuples(index=False)):
                values = [None if isinstance(v, float) and np.isnan(v) else v for v in row]
                cp.write_row([i, *values, row.num > 0])
        c.execute("CREATE VIEW heart_labelled AS SELECT " + ", ".join(NAMES) + ", sick FROM heart")
    yield url
    drop_database(DB)


@pytest.fixture
def client(url):
    with pgscore.connect(url) as c:
        yield c


def sql_rows(url, query, params=None):
    with psycopg.connect(url, autocommit=True) as c:
        cur = c.execute(query, params)
        return cur.fetchall() if cur.description else []


def labelled_frame():
    df = heart_frame()
    df["sick"] = df.num > 0
    return df


# ---------------------------------------------------------------- training and the registry

def test_a_dataframe_trains_the_version_the_same_table_trains(client, url):
    df = labelled_frame()
    from_frame = client.train("wb_same", df, "sick", exclude=["num"])
    from_sql = sql_rows(url, "SELECT (r).* FROM (SELECT ml.train('wb_same_sql', 'heart_labelled', 'sick', "
                             "exclude => ARRAY['num']) r) t")[0]
    assert from_frame["version"] == 1 and from_frame["algorithm"] == "logistic_regression"
    # the same rows with the same types: the same split, the same model, the same test metrics
    assert from_frame["metrics"]["confusion_matrix"] == from_sql[6]["confusion_matrix"]
    assert from_frame["score"] == pytest.approx(from_sql[4], abs=1e-12)
    versions = client.versions("wb_same")
    assert list(versions.version) == [1] and bool(versions.deployed[0])
    assert versions.accuracy[0] == pytest.approx(from_frame["score"], abs=1e-12)
    # a table name and a query are sources too
    assert client.train("wb_same", "heart_labelled", "sick", "naive_bayes", exclude=["num"])["version"] == 2
    assert client.train("wb_same", "SELECT * FROM heart_labelled WHERE age > 40", "sick",
                        exclude=["num"], l2=0.5)["version"] == 3
    view = pd.DataFrame(sql_rows(url, "SELECT version, algorithm, train_rows FROM ml.versions "
                                      "WHERE project = 'wb_same' ORDER BY version"),
                        columns=["version", "algorithm", "train_rows"])
    got = client.versions("wb_same")[["version", "algorithm", "train_rows"]]
    pd.testing.assert_frame_equal(got.reset_index(drop=True), view, check_dtype=False)
    assert client.versions("wb_same").hyperparams[2]["l2"] == 0.5


def mixed_frame(n=240, seed=3):
    """NULLs in every column, text categories (object and pandas categorical), booleans,
    nullable integers and an integer label with three classes; a non-default index."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    colour = rng.choice(["red", "green", "blue"], size=n)
    flag = rng.random(n) < 0.5
    label = np.where(x + (colour == "red") * 1.5 - flag * 0.8 > 0.6, 2, np.where(x > -0.5, 1, 0))
    df = pd.DataFrame({
        "x": np.where(rng.random(n) < 0.1, np.nan, x),
        "count": pd.array(np.where(rng.random(n) < 0.1, None, rng.integers(0, 9, n)), dtype="Int64"),
        "colour": np.where(rng.random(n) < 0.1, None, colour).astype(object),
        "size": pd.Categorical(rng.choice(["S", "M", "L"], size=n)),
        "flag": flag,
        "maybe": pd.array(np.where(rng.random(n) < 0.1, None, rng.random(n) < 0.3), dtype="boolean"),
        "label": label,
    }, index=[f"r{i}" for i in rng.permutation(n)])
    return df


def test_dataframe_types_nulls_and_integer_labels_round_trip(client, url):
    df = mixed_frame()
    result = client.train("wb_mixed", df, "label", unknown_categories="ignore")
    assert result["algorithm"] == "logistic_regression"        # an integer label with 3 values: classes
    assert result["metrics"]["classes"] == [0, 1, 2]
    features = sql_rows(url, "SELECT features, label_type FROM ml.models m JOIN ml.projects p ON p.id = m.project_id "
                             "WHERE p.name = 'wb_mixed'")[0]
    kinds = {f["name"]: (f["type"], f["kind"]) for f in features[0]}
    assert kinds == {"x": ("double precision", "numeric"), "count": ("bigint", "numeric"),
                     "colour": ("text", "categorical"), "size": ("text", "categorical"),
                     "flag": ("boolean", "numeric"), "maybe": ("boolean", "numeric")}
    assert features[1] == "bigint"

    # the same rows scored by SQL from a real table: same predictions, same probabilities
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("DROP TABLE IF EXISTS mixed")
        c.execute("CREATE TABLE mixed (pos int, x float8, count bigint, colour text, size text, flag boolean, maybe boolean)")
        with c.cursor().copy("COPY mixed FROM STDIN") as cp:
            for pos, r in enumerate(df.itertuples(index=False)):
                cp.write_row([pos, None if np.isnan(r.x) else r.x, None if r.count is pd.NA else int(r.count),
                              r.colour, r.size, bool(r.flag), None if r.maybe is pd.NA else bool(r.maybe)])
        expected = c.execute("SELECT ml.predict('wb_mixed', m), ml.predict_proba('wb_mixed', m) FROM mixed m "
                             "ORDER BY pos").fetchall()
    features_only = df.drop(columns="label")
    predicted = client.predict("wb_mixed", features_only)
    assert list(predicted.index) == list(df.index)              # aligned with the input's index
    assert predicted.name == "label"
    assert [type(v) for v in predicted] == [int] * len(df)     # the label's own type
    assert [str(v) for v in predicted] == [e[0] for e in expected]
    proba = client.predict_proba("wb_mixed", features_only)
    assert list(proba.columns) == [0, 1, 2] and list(proba.index) == list(df.index)
    assert np.abs(proba.to_numpy() - np.array([e[1] for e in expected])).max() < 1e-12
    assert np.allclose(proba.sum(axis=1), 1)
    # a shuffled subset keeps its own order and index
    subset = features_only.iloc[[17, 3, 200, 3]]
    assert list(client.predict("wb_mixed", subset)) == [predicted.iloc[i] for i in (17, 3, 200, 3)]
    assert list(client.predict("wb_mixed", subset).index) == list(subset.index)
    # empty frame, and columns in another order
    assert len(client.predict("wb_mixed", features_only.iloc[:0])) == 0
    assert list(client.predict("wb_mixed", features_only[features_only.columns[::-1]])) == list(predicted)


def test_a_frame_of_several_copy_chunks_scores_every_row_in_its_place(client):
    # 60,000 rows: three chunks of the packed COPY, NULLs scattered over many row layouts
    rng = np.random.default_rng(0)
    n = 60_000
    df = pd.DataFrame({"a": np.where(rng.random(n) < 0.05, np.nan, rng.normal(size=n)),
                       "b": rng.choice(["x", "yy", "zzz", None], n)})
    df["y"] = (df.a.fillna(0) + (df.b == "x")) > 0.3
    client.train("wb_chunks", df, "y")
    predicted = client.predict("wb_chunks", df.drop(columns="y"))
    # each row alone, as JSON: no COPY, no temporary table
    expected = client.connection.execute(
        "SELECT ml.predict('wb_chunks', jsonb_build_object('a', a, 'b', b))::boolean "
        "FROM unnest(%s::float8[], %s::text[]) WITH ORDINALITY u(a, b, o) ORDER BY o",
        ([None if np.isnan(v) else v for v in df.a], [None if pd.isna(v) else v for v in df.b])).fetchall()
    assert list(predicted) == [r[0] for r in expected]
    assert 0.3 < predicted.mean() < 0.7


def test_boolean_and_text_labels_come_back_in_their_type(client):
    df = mixed_frame(seed=5)
    df["big"] = df.label == 2
    df["word"] = df.label.map({0: "low", 1: "mid", 2: "high"})
    client.train("wb_bool", df.drop(columns=["label", "word"]), "big", unknown_categories="ignore")
    client.train("wb_text", df.drop(columns=["label", "big"]), "word", "naive_bayes", unknown_categories="ignore")
    assert set(map(type, client.predict("wb_bool", df.drop(columns=["label", "big", "word"])))) == {bool}
    assert set(client.predict("wb_text", df.drop(columns=["label", "big", "word"]))) <= {"low", "mid", "high"}
    assert list(client.predict_proba("wb_text", df.head(2)).columns) == ["high", "low", "mid"]   # byte order
    assert list(client.predict_proba("wb_bool", df.head(2)).columns) == [False, True]


def test_datetimes_and_durations_are_timestamps_and_intervals(client, url):
    df = mixed_frame(seed=9)
    rng = np.random.default_rng(9)
    df["seen"] = pd.Timestamp("2026-01-01") + pd.to_timedelta(rng.integers(0, 10_000, len(df)), unit="min")
    df["seen_utc"] = df.seen.dt.tz_localize("UTC")
    df["worn"] = pd.to_timedelta(rng.integers(0, 600, len(df)), unit="s")
    df.loc[df.index[0], "seen"] = pd.NaT
    client.train("wb_time", df, "label", unknown_categories="ignore")
    kinds = {f["name"]: f["type"] for f in sql_rows(
        url, "SELECT features FROM ml.models m JOIN ml.projects p ON p.id = m.project_id WHERE p.name = 'wb_time'")[0][0]}
    assert (kinds["seen"], kinds["seen_utc"], kinds["worn"]) == (
        "timestamp without time zone", "timestamp with time zone", "interval")
    assert len(client.predict("wb_time", df)) == len(df)


def test_regression_predictions_are_numbers(client, url):
    df = heart_frame().drop(columns="num")
    result = client.train("wb_reg", df, "thalach")
    assert result["key_metric"] == "r2"
    predicted = client.predict("wb_reg", df.drop(columns="thalach"))
    expected = [float(r[0]) for r in sql_rows(url, "SELECT ml.predict('wb_reg', h) FROM heart h ORDER BY id")]
    assert predicted.dtype == float and np.allclose(predicted.to_numpy(), expected, rtol=0, atol=1e-9)


def test_deploy_rollback_and_the_deployment_history(client, url):
    df = labelled_frame()
    client.train("wb_deploy", df, "sick", exclude=["num"], deploy="manual")       # nothing deployed yet
    assert client.deployed_version("wb_deploy") is None
    client.train("wb_deploy", df, "sick", "naive_bayes", exclude=["num"], deploy="manual")
    assert client.deploy("wb_deploy", version=1) == 1
    assert client.deploy("wb_deploy", "most_recent") == 2
    assert client.rollback("wb_deploy") == 1
    history = client.deployments("wb_deploy")
    expected = sql_rows(url, "SELECT version, strategy, replaced_version FROM ml.deployment_history "
                             "WHERE project = 'wb_deploy'")
    assert [tuple(r) for r in history[["version", "strategy", "replaced_version"]].astype(object)
            .where(history[["version", "strategy", "replaced_version"]].notna(), None).itertuples(index=False)] \
        == [tuple(r) for r in expected]
    assert list(history.version) == [1, 2, 1]
    overview = client.projects()
    row = overview[overview.project == "wb_deploy"].iloc[0]
    assert (row.deployed_version, row.deployed_algorithm, row.versions) == sql_rows(
        url, "SELECT deployed_version, deployed_algorithm, versions FROM ml.project_overview "
             "WHERE project = 'wb_deploy'")[0] == (1, "logistic_regression", 2)
    assert list(overview.project) == [r[0] for r in sql_rows(url, "SELECT project FROM ml.project_overview")]
    assert client.project_task("wb_deploy") == "classification" and client.project_task("nothing") is None
    # a pinned version scores even when it is not the deployed one
    rows = df.drop(columns=["num", "sick"]).head(5)
    v2 = sql_rows(url, "SELECT ml.predict(m.model, h)::boolean FROM heart h, ml.models m JOIN ml.projects p "
                       "ON p.id = m.project_id WHERE p.name = 'wb_deploy' AND m.version = 2 ORDER BY h.id LIMIT 5")
    assert list(client.predict("wb_deploy", rows, version=2)) == [r[0] for r in v2]


def test_evaluate_a_dataframe_like_a_table(client, url):
    df = labelled_frame()
    client.train("wb_eval", df, "sick", exclude=["num"])
    older = df[df.age > 60]
    got = client.evaluate("wb_eval", older)
    expected = sql_rows(url, "SELECT ml.evaluate('wb_eval', 'SELECT * FROM heart_labelled WHERE age > 60')")[0][0]
    assert got == expected and got["rows"] == int((df.age > 60).sum())
    assert client.evaluate("wb_eval", "heart_labelled", version=1)["rows"] == len(df)


def test_export_and_onnx_runtime_agree_with_predict_proba(client, url):
    df = labelled_frame()
    df["thal"] = df.thal.map({3.0: "normal", 6.0: "fixed", 7.0: "reversible"})     # a categorical column
    client.train("wb_onnx", df, "sick", exclude=["num"])
    data = client.export("wb_onnx")
    assert data == bytes(sql_rows(url, "SELECT ml.export('wb_onnx')")[0][0])
    assert json.loads(client.export("wb_onnx", format="json"))["version"] == 1
    session = client.onnx_session("wb_onnx")
    inputs = client.onnx_inputs("wb_onnx", df)
    assert set(inputs) == {"numeric", "thal"}
    labels, probabilities = session.run(None, inputs)
    proba = client.predict_proba("wb_onnx", df)
    assert np.abs(np.asarray(probabilities) - proba.to_numpy()).max() < 1e-5
    assert [l == "true" for l in labels] == list(client.predict("wb_onnx", df))


def test_runs_evaluations_and_drift_are_the_registry_views(client, url):
    df = labelled_frame()
    # from the view, not a DataFrame: a run retrains from the recorded source, and a
    # DataFrame's temporary table is gone
    client.train("wb_watch", "heart_labelled", "sick", exclude=["num"])
    sql_rows(url, "SELECT ml.enqueue_run('wb_watch')")
    runs = client.runs("wb_watch")
    assert list(runs.status) == ["queued"] and list(runs.kind) == ["manual"]
    assert len(runs) == sql_rows(url, "SELECT count(*) FROM ml.run_history WHERE project = 'wb_watch'")[0][0]

    # new readings whose cholesterol drifted, logged as the gateway logs them
    readings = df.drop(columns=["num", "sick"]).copy()
    readings["chol"] = readings.chol + 150
    logged = client.log_predictions("wb_watch", readings)
    assert list(logged) == list(client.predict("wb_watch", readings))
    ids = [r[0] for r in sql_rows(url, "SELECT id FROM ml.predictions WHERE project = 'wb_watch' ORDER BY id")]
    assert len(ids) == len(readings)
    with psycopg.connect(url, autocommit=True) as c:
        with c.cursor() as cur:
            cur.executemany("INSERT INTO ml.feedback (prediction_id, label) VALUES (%s, %s)",
                            [(i, "true" if s else "false") for i, s in zip(ids, df.sick)])
    client.monitor("wb_watch", window_size="1 hour", min_labels=20, drift_threshold=0.2)
    client.run_monitors()
    drift = client.drift("wb_watch")
    expected = sql_rows(url, "SELECT feature, psi, drifted FROM ml.drift_report WHERE project = 'wb_watch' ORDER BY feature")
    assert [tuple(r) for r in drift[["feature", "psi", "drifted"]].itertuples(index=False)] == [tuple(r) for r in expected]
    assert set(drift.feature[drift.drifted]) == {"chol"}
    evaluations = client.evaluations("wb_watch")
    assert len(evaluations) == 1 and evaluations.n[0] == len(df)
    live = sql_rows(url, "SELECT value FROM ml.evaluation_history WHERE project = 'wb_watch'")[0][0]
    assert evaluations.value[0] == live


def test_server_errors_carry_sqlstate_hint_and_detail(client):
    df = labelled_frame()
    with pytest.raises(pgscore.Error) as e:
        client.train("wb_err", df, "missing_label")
    assert e.value.sqlstate == "42703" and "age" in e.value.hint
    with pytest.raises(pgscore.Error) as e:
        client.train("wb_err", df, "sick", algorithm="deep_learning")
    assert e.value.sqlstate == "22023" and "naive_bayes" in e.value.hint
    with pytest.raises(pgscore.Error) as e:
        client.train("wb_err", df, "sick", exclude=["num"], l2=-1)
    assert e.value.sqlstate == "22023"
    with pytest.raises(pgscore.Error) as e:
        client.train("wb_err", df[["sick"]].assign(c=1.0), "sick")
    assert e.value.sqlstate == "22000" and "constant" in e.value.detail
    inf = df.copy()
    inf.loc[3, "chol"] = np.inf
    with pytest.raises(pgscore.Error) as e:
        client.train("wb_err", inf, "sick", exclude=["num"])
    assert e.value.sqlstate == "22000" and "chol" in str(e.value)
    client.train("wb_err", df, "sick", exclude=["num"])
    with pytest.raises(pgscore.Error) as e:
        client.predict("wb_err", df.drop(columns=["chol"]))
    assert e.value.sqlstate == "42703" and "chol" in str(e.value)
    with pytest.raises(pgscore.Error) as e:
        client.deploy("wb_err", version=9)
    assert e.value.sqlstate == "42704" and "ml.versions" in e.value.hint
    with pytest.raises(pgscore.Error) as e:
        client.rollback("wb_err")
    assert e.value.sqlstate == "55000" and "first" in e.value.hint
    with pytest.raises(pgscore.Error) as e:
        client.predict("no_such_project", df)
    assert e.value.sqlstate == "42704"
    with pytest.raises(pgscore.Error) as e:
        client.export("wb_err", format="pickle")
    assert e.value.sqlstate == "22023" and "onnx" in e.value.hint
    # the client refuses what it cannot send, naming the column
    with pytest.raises(TypeError, match="'bag'"):
        client.predict("wb_err", df.assign(bag=[[1, 2]] * len(df)))
    # the connection is usable after every error
    assert len(client.predict("wb_err", df)) == len(df)


def test_a_query_source_runs_with_the_callers_rights(client, url):
    sql_rows(url, "DROP ROLE IF EXISTS wb_analyst")
    sql_rows(url, "CREATE ROLE wb_analyst LOGIN")
    sql_rows(url, "SELECT ml.grant_train('wb_analyst')")
    sql_rows(url, "CREATE TABLE IF NOT EXISTS wb_secret (x float8, y boolean)")
    analyst = psycopg.conninfo.make_conninfo(url, user="wb_analyst")
    with pgscore.connect(analyst) as c:
        with pytest.raises(pgscore.Error) as e:
            c.train("wb_rights", "SELECT * FROM wb_secret", "y")
        assert e.value.sqlstate == "42501"
        # a DataFrame of its own trains
        assert c.train("wb_rights", labelled_frame(), "sick", exclude=["num"])["version"] == 1


def test_a_dataframe_trained_project_is_retrained_by_runs_once_persisted_to_a_table(client, url):
    df = labelled_frame()
    # without persist the version's source is the client's temporary table, gone now
    client.train("wb_temp_only", df, "sick", exclude=["num"])
    source = sql_rows(url, "SELECT m.source FROM ml.models m JOIN ml.projects p ON p.id = m.project_id WHERE p.name = 'wb_temp_only'")[0][0]
    assert "pg_temp" in source
    for query, params in [("SELECT ml.enqueue_run('wb_temp_only')", None),
                          ("SELECT ml.schedule('wb_temp_only', '1 hour', %s)",
                           (json.dumps({"source": source.strip("()"), "label": "sick"}),))]:
        with pytest.raises(psycopg.errors.FeatureNotSupported) as e:
            sql_rows(url, query, params)
        assert "temporary table" in e.value.diag.message_primary and "persist=" in e.value.diag.message_hint
    # with persist the frame is a table first: a queued run retrains from it
    client.train("wb_persisted", df, "sick", exclude=["num"], persist="public.wb_frame")
    assert sql_rows(url, "SELECT count(*) FROM public.wb_frame") == [(len(df),)]
    assert sql_rows(url, "SELECT m.source FROM ml.models m JOIN ml.projects p ON p.id = m.project_id "
                         "WHERE p.name = 'wb_persisted'") == [("public.wb_frame",)]
    run = sql_rows(url, "SELECT ml.enqueue_run('wb_persisted')")[0][0]
    with psycopg.connect(url, autocommit=True) as worker:
        claimed = [r[0] for r in iter(lambda: worker.execute("SELECT id FROM ml.claim_run('wb-test')").fetchone(), None)
                   for _ in [worker.execute("SELECT ml.execute_run(%s)", r)]]
    assert run in claimed
    assert sql_rows(url, "SELECT status, version FROM ml.training_runs WHERE id = %s", (run,)) == [("succeeded", 2)]
    # the run trained on the same rows, from the table
    versions = sql_rows(url, "SELECT m.version, m.source, m.train_rows, m.fingerprint FROM ml.models m "
                             "JOIN ml.projects p ON p.id = m.project_id WHERE p.name = 'wb_persisted' ORDER BY 1")
    assert [v[:2] for v in versions] == [(1, "public.wb_frame"), (2, "public.wb_frame")]
    assert versions[0][2:] == versions[1][2:]
    # the table is never overwritten unless asked
    with pytest.raises(pgscore.Error) as e:
        client.train("wb_persisted", df, "sick", exclude=["num"], persist="public.wb_frame")
    assert e.value.sqlstate == "42P07"
    client.train("wb_persisted", df.iloc[:100], "sick", exclude=["num"], persist="public.wb_frame", if_exists="append")
    assert sql_rows(url, "SELECT count(*) FROM public.wb_frame") == [(len(df) + 100,)]
    client.train("wb_persisted", df.iloc[:150], "sick", exclude=["num"], persist=("public", "wb_frame"), if_exists="replace")
    assert sql_rows(url, "SELECT count(*) FROM public.wb_frame") == [(150,)]
    with pytest.raises(ValueError, match="already a table"):
        client.train("wb_persisted", "public.wb_frame", "sick", persist="public.other")


# ---------------------------------------------------------------- scikit-learn

def test_cross_val_score_gives_the_folds_scores_of_training_each_fold_by_sql(url):
    df = heart_frame()
    X, y = df.drop(columns="num"), df.num > 0
    folds = list(KFold(5, shuffle=True, random_state=0).split(X))
    before = sql_rows(url, "SELECT count(*) FROM ml.models")
    scores = cross_val_score(PgscoreClassifier(url, "logistic_regression", project="wb_cv"), X, y,
                             cv=folds, scoring="accuracy")
    # each fit dropped its version again (keep_versions=False): nothing left behind
    assert sql_rows(url, "SELECT count(*) FROM ml.models") == before
    assert sql_rows(url, "SELECT count(*) FROM ml.versions WHERE project = 'wb_cv'") == [(0,)]
    by_sql = []
    with psycopg.connect(url, autocommit=True) as c:
        for k, (train, test) in enumerate(folds):
            ids = ",".join(map(str, train))
            source = f"SELECT {', '.join(NAMES[:-1])}, num > 0 AS sick FROM heart WHERE id = ANY('{{{ids}}}'::int[])"
            c.execute("SELECT ml.train(%s, %s, 'sick', test_fraction => 0)", (f"wb_fold_{k}", source))
            by_sql.append(c.execute("SELECT avg((ml.predict(%s, h)::boolean = (h.num > 0))::int)::float8 FROM heart h "
                                    "WHERE h.id = ANY(%s)", (f"wb_fold_{k}", list(map(int, test)))).fetchone()[0])
    assert list(scores) == pytest.approx(by_sql, abs=1e-12)
    assert 0.75 < np.mean(scores) < 0.95
    # keep_versions=True: each fit's version stays, none deployed, and scores the same
    kept = cross_val_score(PgscoreClassifier(url, "logistic_regression", project="wb_cv", keep_versions=True), X, y,
                           cv=folds, scoring="accuracy")
    assert list(kept) == list(scores)
    versions = sql_rows(url, "SELECT count(*), count(*) FILTER (WHERE deployed) FROM ml.versions WHERE project = 'wb_cv'")
    assert versions == [(5, 0)]


def test_drop_version_removes_only_unused_versions_for_a_role_that_may_train(client, url):
    df = labelled_frame()
    client.create_project("wb_drop", "classification", "manual")
    for _ in range(3):
        client.train("wb_drop", df, "sick", exclude=["num"])
    client.deploy("wb_drop", version=1)
    client.deploy("wb_drop", version=2)
    client.rollback("wb_drop")                                     # 2 was deployed once: history
    for version in (1, 2):
        with pytest.raises(pgscore.Error) as e:
            client.drop_version("wb_drop", version)
        assert e.value.sqlstate == "2BP01" and "deployed" in e.value.message and e.value.hint
    with pytest.raises(pgscore.Error) as e:
        client.drop_version("wb_drop", 7)
    assert e.value.sqlstate == "42704"
    sql_rows(url, "DROP ROLE IF EXISTS wb_scorer")
    sql_rows(url, "CREATE ROLE wb_scorer LOGIN")
    try:
        sql_rows(url, "SELECT ml.grant_train('wb_scorer')")
        sql_rows(url, "SELECT ml.grant_project('wb_drop', 'wb_scorer', 'predict')")
        with pgscore.connect(psycopg.conninfo.make_conninfo(url, user="wb_scorer")) as scorer:
            with pytest.raises(pgscore.Error) as e:
                scorer.drop_version("wb_drop", 3)
            assert e.value.sqlstate == "42501"
        assert sql_rows(url, "SELECT array_agg(version ORDER BY version) FROM ml.versions WHERE project = 'wb_drop'") == [([1, 2, 3],)]
        client.drop_version("wb_drop", 3)
        assert sql_rows(url, "SELECT array_agg(version ORDER BY version) FROM ml.versions WHERE project = 'wb_drop'") == [([1, 2],)]
    finally:
        sql_rows(url, "DROP OWNED BY wb_scorer")
        sql_rows(url, "DROP ROLE wb_scorer")


def test_the_estimators_clone_search_and_score(url):
    df = heart_frame()
    X, y = df.drop(columns="num"), df.num
    estimator = PgscoreClassifier(url, hyperparams={"l2": 1})
    assert clone(estimator).get_params() == estimator.get_params()
    assert estimator.set_params(algorithm="naive_bayes").algorithm == "naive_bayes"
    search = GridSearchCV(PgscoreClassifier(url, project="wb_grid"),
                          {"algorithm": ["logistic_regression", "naive_bayes"]}, cv=3).fit(X, y)
    means = search.cv_results_["mean_test_score"]
    assert search.best_params_["algorithm"] == ["logistic_regression", "naive_bayes"][int(np.argmax(means))]
    best = search.best_estimator_
    assert list(best.classes_) == [0, 1, 2, 3, 4]                  # five integer classes
    proba = best.predict_proba(X)
    assert proba.shape == (len(X), 5) and np.allclose(proba.sum(axis=1), 1)
    assert set(best.predict(X)) <= set(range(5))
    assert best.score(X, y) == pytest.approx(np.mean(best.predict(X) == y.to_numpy()))
    # arrays without column names train and score too
    plain = PgscoreClassifier(url, project="wb_grid").fit(X.to_numpy(), (y > 0).to_numpy())
    assert plain.predict(X.to_numpy()).dtype == bool
    # regression: R² as scikit-learn computes it
    regressor = PgscoreRegressor(url, project="wb_regressor").fit(X.drop(columns="thalach"), X.thalach)
    predicted = regressor.predict(X.drop(columns="thalach"))
    r2 = 1 - ((X.thalach - predicted) ** 2).sum() / ((X.thalach - X.thalach.mean()) ** 2).sum()
    assert regressor.score(X.drop(columns="thalach"), X.thalach) == pytest.approx(r2, abs=1e-12)
    with pytest.raises(ValueError, match="classification project"):
        PgscoreRegressor(url, project="wb_grid").fit(X.drop(columns="thalach"), X.thalach)


# ---------------------------------------------------------------- the OpenAPI document

def test_openapi_json_is_the_yaml_document():
    out = subprocess.run([sys.executable, str(ROOT / "tools" / "openapi_json.py"), "--check"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert json.loads((ROOT / "openapi.json").read_text()) == yaml.safe_load((ROOT / "openapi.yaml").read_text())


def test_the_daemon_serves_its_openapi_document(tmp_path):
    name = "pgscore_openapi"
    make_database(name)
    daemon = Daemon(tmp_path, dbname=name)
    try:
        r = requests.get(daemon.url + "/openapi.yaml")            # no key needed
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/yaml")
        assert r.content == (ROOT / "openapi.yaml").read_bytes()
        r = requests.get(daemon.url + "/openapi.json")
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
        assert r.json() == yaml.safe_load((ROOT / "openapi.yaml").read_text())
        assert {"/openapi.yaml", "/openapi.json"} <= set(r.json()["paths"])
    finally:
        daemon.stop()
        drop_database(name)


# ---------------------------------------------------------------- the notebook

def test_the_bracelet_notebook_runs_headless():
    import nbformat
    from nbclient import NotebookClient

    name = "pgscore_notebook"
    url = create_database(name)
    try:
        notebook = nbformat.read(ROOT / "examples" / "bracelet.ipynb", as_version=4)
        assert all(not c.get("outputs") for c in notebook.cells if c.cell_type == "code"), "commit it without outputs"
        env = {"PGSCORE_DSN": url, "MPLBACKEND": "Agg"}
        old = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            NotebookClient(notebook, timeout=300, kernel_name="python3",
                           resources={"metadata": {"path": str(ROOT / "examples")}}).execute()
        finally:
            for k, v in old.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
    finally:
        drop_database(name)
