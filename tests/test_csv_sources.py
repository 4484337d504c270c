"""Training straight from CSV files through contrib's file_fdw (issue: scale, part 4):
one file with the heart data's "?" markers, a directory of files as children of one
table, the rights a trainer needs, and a bad line that stores nothing.

The server reads the files as its own OS user, so they are copied to a world-readable
folder (pytest's tmp_path is private to root).
"""
import os
import shutil
import stat
import tempfile

import psycopg
import pytest

from conftest import create_database, drop_database
from daemon_helpers import HEART

DB = "pgscore_csv_sources"
TRAINER = "csv_trainer"
OUTSIDER = "csv_outsider"
COLUMNS = ("age float8, sex float8, cp float8, trestbps float8, chol float8, fbs float8, restecg float8, "
           "thalach float8, exang float8, oldpeak float8, slope float8, ca float8, thal float8, num int")


def connect(dsn, role=None):
    return psycopg.connect(dsn + (f" user={role}" if role else ""), autocommit=True)


@pytest.fixture(scope="module")
def folder():
    path = tempfile.mkdtemp(prefix="pgscore-csv-")
    os.chmod(path, 0o755)
    lines = HEART.read_text().splitlines(keepends=True)
    files = {"heart.csv": lines}
    # the same rows as three files, the way an export job drops them into a directory
    for i in range(3):
        files[f"part-{i}.csv"] = lines[i::3]
    for name, part in files.items():
        with open(os.path.join(path, name), "w") as f:
            f.writelines(part)
        os.chmod(os.path.join(path, name), stat.S_IRUSR | stat.S_IWUSR | stat.S_IRGRP | stat.S_IROTH)
    yield path
    shutil.rmtree(path)


@pytest.fixture(scope="module")
def db(folder):
    dsn = create_database(DB)
    with connect(dsn) as su:
        for role in (TRAINER, OUTSIDER):
            su.execute(f"DROP ROLE IF EXISTS {role}")
            su.execute(f"CREATE ROLE {role} LOGIN")
            su.execute(f"SELECT ml.grant_train('{role}')")
        su.execute("CREATE EXTENSION file_fdw")
        su.execute("CREATE SERVER csv FOREIGN DATA WRAPPER file_fdw")
        su.execute(f"CREATE FOREIGN TABLE heart_csv ({COLUMNS}) SERVER csv "
                   f"OPTIONS (filename '{folder}/heart.csv', format 'csv', null '?')")
        # a directory of files: foreign children of one (empty) parent; a scan of the
        # parent reads every file
        su.execute(f"CREATE TABLE heart_files ({COLUMNS})")
        for i in range(3):
            su.execute(f"CREATE FOREIGN TABLE heart_file_{i} () INHERITS (heart_files) SERVER csv "
                       f"OPTIONS (filename '{folder}/part-{i}.csv', format 'csv', null '?')")
        # the reference: the same file loaded by COPY into an ordinary table
        su.execute(f"CREATE TABLE heart_copied ({COLUMNS})")
        su.execute(f"COPY heart_copied FROM '{folder}/heart.csv' WITH (FORMAT csv, NULL '?')")
        for name in ("heart_csv", "heart_files", "heart_copied"):
            su.execute(f"CREATE VIEW {name}_labelled AS SELECT *, num > 0 AS sick FROM {name}")
        su.execute("GRANT SELECT ON heart_csv, heart_csv_labelled TO " + TRAINER)
    yield dsn
    drop_database(DB)
    with connect(dsn.replace(DB, "postgres")) as su:
        for role in (TRAINER, OUTSIDER):
            su.execute(f"DROP ROLE IF EXISTS {role}")


def train(conn, project, source, algorithm):
    return conn.execute(
        "SELECT version, metrics FROM ml.train(%s, %s, 'sick', algorithm => %s, exclude => ARRAY['num'])",
        (project, source, algorithm)).fetchone()


def probabilities(conn, project):
    """The project's answers on every row of the copied table, in a fixed order."""
    return conn.execute(
        "SELECT ml.predict_proba(%s, h) FROM heart_copied h ORDER BY age, sex, cp, trestbps, chol, thalach, oldpeak",
        (project,)).fetchall()


def same_metrics(metrics):
    """The metrics with every float, also inside lists and objects (the ROC curve), to 1e-12:
    the rows reach the fit in the source's order, so sums can differ in the last bits."""
    if isinstance(metrics, float):
        return pytest.approx(metrics, rel=1e-12, abs=1e-15)
    if isinstance(metrics, dict):
        return {k: same_metrics(v) for k, v in metrics.items()}
    if isinstance(metrics, list):
        return [same_metrics(v) for v in metrics]
    return metrics


def same_rows(rows):
    return [tuple(pytest.approx(v, rel=1e-12, abs=1e-15) for v in row) for row in rows]


@pytest.mark.parametrize("algorithm", ["logistic_regression", "gradient_boosting"])
def test_a_csv_file_trains_the_same_model_as_the_copied_table(db, algorithm):
    with connect(db) as su:
        _, from_copy = train(su, f"copied_{algorithm}", "heart_copied_labelled", algorithm)
        _, from_file = train(su, f"file_{algorithm}", "heart_csv_labelled", algorithm)
        _, from_dir = train(su, f"dir_{algorithm}", "heart_files_labelled", algorithm)
        # the "?" markers arrive as NULLs and are imputed as in the table
        missing = su.execute("SELECT count(*) FROM heart_csv WHERE ca IS NULL OR thal IS NULL").fetchone()[0]
        assert missing == 6
        # the passes read the rows in the order each source gives them: sums of floats
        # (the log loss, the fit) agree to rounding, counts exactly
        assert from_file == same_metrics(from_copy)
        assert from_dir == same_metrics(from_copy)
        reference = probabilities(su, f"copied_{algorithm}")
        assert probabilities(su, f"file_{algorithm}") == same_rows(reference)
        assert probabilities(su, f"dir_{algorithm}") == same_rows(reference)
        rows = su.execute("SELECT train_rows + test_rows FROM ml.versions WHERE project = %s",
                          (f"dir_{algorithm}",)).fetchone()[0]
        assert rows == 303


def test_a_trainer_needs_select_on_the_foreign_table_and_cannot_make_one(db, folder):
    with connect(db, TRAINER) as t:
        version, metrics = train(t, "trainer_file", "heart_csv_labelled", None)
        assert version == 1 and 0.5 < metrics["accuracy"] <= 1
    with connect(db, OUTSIDER) as o:
        with pytest.raises(psycopg.errors.InsufficientPrivilege) as refused:
            train(o, "outsider_file", "heart_csv_labelled", None)
        assert "heart_csv_labelled" in str(refused.value)
        # reading server files is PostgreSQL's own privilege (pg_read_server_files)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            o.execute(f"CREATE FOREIGN TABLE mine ({COLUMNS}) SERVER csv OPTIONS (filename '{folder}/heart.csv')")
    with connect(db) as su:
        assert su.execute("SELECT count(*) FROM ml.versions WHERE project = 'outsider_file'").fetchone()[0] == 0


def test_a_bad_line_names_its_line_and_stores_nothing(db, folder):
    bad = os.path.join(folder, "bad.csv")
    lines = HEART.read_text().splitlines(keepends=True)
    lines[41] = "x" + lines[41]   # "x63.0" is not a number
    with open(bad, "w") as f:
        f.writelines(lines)
    os.chmod(bad, 0o644)
    with connect(db) as su:
        su.execute(f"CREATE FOREIGN TABLE heart_bad ({COLUMNS}) SERVER csv "
                   f"OPTIONS (filename '{bad}', format 'csv', null '?')")
        su.execute("CREATE VIEW heart_bad_labelled AS SELECT *, num > 0 AS sick FROM heart_bad")
        with pytest.raises(psycopg.errors.InvalidTextRepresentation) as error:
            train(su, "bad_file", "heart_bad_labelled", None)
        assert "line 42" in (error.value.diag.context or "")
        assert su.execute("SELECT count(*) FROM ml.projects WHERE name = 'bad_file'").fetchone()[0] == 0
        assert su.execute("SELECT count(*) FROM ml.versions WHERE project = 'bad_file'").fetchone()[0] == 0


def test_the_fit_aggregates_read_a_directory_of_files_in_parallel(db):
    """Parallel Append gives each worker whole files; the partial states combine to the
    serial fit (the same sums in another order: equal to rounding)."""
    fit = "SELECT ml.describe(ml.linreg_fit(ARRAY[age, trestbps, chol], thalach)) FROM heart_files"
    with connect(db) as su:
        serial = su.execute(fit).fetchone()[0]
        su.execute("SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET max_parallel_workers_per_gather = 2")
        plan = "\n".join(r[0] for r in su.execute("EXPLAIN (COSTS OFF) " + fit).fetchall())
        assert "Parallel Append" in plan and "Partial Aggregate" in plan, plan
        parallel = su.execute(fit).fetchone()[0]
    assert parallel["training_rows"] == serial["training_rows"] == 303
    assert parallel["intercept"] == pytest.approx(serial["intercept"], rel=1e-9)
    assert parallel["coefficients"] == pytest.approx(serial["coefficients"], rel=1e-9)
