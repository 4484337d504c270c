"""Registry behaviour across sessions and roles, on the real server:
- a deployment is seen by other sessions once committed, never before;
- a predict-only role can score but not train or deploy; a trainer role can do both,
  and reads training data with its own rights."""
import psycopg
import pytest


HEART = "data/heart/processed.cleveland.data"
COLUMNS = "age, sex, cp, trestbps, chol, fbs, restecg, thalach, exang, oldpeak, slope, ca, thal, num"


@pytest.fixture(scope="module")
def heart(database):
    with psycopg.connect(database, autocommit=True) as c:
        c.execute("DROP TABLE IF EXISTS heart_reg")
        c.execute("""CREATE TABLE heart_reg (age float8, sex float8, cp float8, trestbps float8, chol float8,
                       fbs float8, restecg float8, thalach float8, exang float8, oldpeak float8, slope float8,
                       ca text, thal text, num int)""")
        with open(HEART, "rb") as f, c.cursor().copy(f"COPY heart_reg ({COLUMNS}) FROM STDIN WITH (FORMAT csv)") as cp:
            cp.write(f.read())
        c.execute("SELECT ml.train('sessions', 'SELECT *, num > 0 AS sick FROM heart_reg', 'sick', "
                  "exclude => ARRAY['num'], test_fraction => 0)")
        c.execute("SELECT ml.train('sessions', 'SELECT *, num > 0 AS sick FROM heart_reg', 'sick', 'naive_bayes', "
                  "exclude => ARRAY['num'], test_fraction => 0)")
    return database


def deployed(conn):
    return conn.execute("SELECT ml.deployed_version('sessions')").fetchone()[0]


def test_deployment_visible_only_after_commit(heart):
    with psycopg.connect(heart, autocommit=True) as reader, psycopg.connect(heart) as writer:
        before = deployed(reader)
        other = 2 if before == 1 else 1
        writer.execute("SELECT ml.deploy('sessions', 'version', %s)", (other,))
        assert deployed(writer) == other          # the deploying session sees it at once
        assert deployed(reader) == before         # others do not, before commit
        row = "SELECT ml.predict_proba('sessions', h) FROM heart_reg h LIMIT 1"
        p_before = reader.execute(row).fetchone()[0]
        writer.commit()
        assert deployed(reader) == other          # ... and do right after
        p_after = reader.execute(row).fetchone()[0]
        assert p_after != p_before                # the next query scores with the new version


def test_predict_role_scores_but_cannot_train_or_deploy(heart):
    with psycopg.connect(heart, autocommit=True) as admin:
        admin.execute("DROP ROLE IF EXISTS pgscore_app")
        admin.execute("CREATE ROLE pgscore_app LOGIN")
        admin.execute("SELECT ml.grant_predict('pgscore_app')")
        admin.execute("SELECT ml.grant_project('sessions', 'pgscore_app', 'predict')")
        admin.execute("GRANT SELECT ON heart_reg TO pgscore_app")
    try:
        with psycopg.connect(heart + " user=pgscore_app", autocommit=True) as app:
            label = app.execute("SELECT ml.predict('sessions', h) FROM heart_reg h LIMIT 1").fetchone()[0]
            assert label in ("true", "false")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                app.execute("SELECT ml.deploy('sessions', 'rollback')")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                app.execute("SELECT ml.train('sessions', 'heart_reg', 'num')")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                app.execute("INSERT INTO ml.deployments (project_id, model_id, version, strategy) VALUES (1, 1, 1, 'x')")
    finally:
        with psycopg.connect(heart, autocommit=True) as admin:
            admin.execute("REVOKE ALL ON heart_reg FROM pgscore_app")
            admin.execute("DROP OWNED BY pgscore_app")
            admin.execute("DROP ROLE pgscore_app")


def test_trainer_role_trains_and_deploys_with_its_own_rights(heart):
    with psycopg.connect(heart, autocommit=True) as admin:
        admin.execute("DROP ROLE IF EXISTS pgscore_trainer")
        admin.execute("CREATE ROLE pgscore_trainer LOGIN")
        admin.execute("SELECT ml.grant_train('pgscore_trainer')")
        admin.execute("CREATE TABLE IF NOT EXISTS secret_rows AS SELECT 1 AS x, true AS y")
    try:
        with psycopg.connect(heart + " user=pgscore_trainer", autocommit=True) as t:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                t.execute("SELECT ml.train('secret', 'secret_rows', 'y')")   # no rights on the source
        with psycopg.connect(heart, autocommit=True) as admin:
            admin.execute("GRANT SELECT ON heart_reg TO pgscore_trainer")
            admin.execute("SELECT ml.grant_project('sessions', 'pgscore_trainer', 'deploy')")
        with psycopg.connect(heart + " user=pgscore_trainer", autocommit=True) as t:
            v = t.execute("SELECT (ml.train('sessions', 'SELECT *, num > 0 AS sick FROM heart_reg', 'sick', "
                          "exclude => ARRAY['num'], test_fraction => 0)).version").fetchone()[0]
            assert t.execute("SELECT ml.deploy('sessions', 'version', %s)", (v,)).fetchone()[0] == v
            who = t.execute("SELECT deployed_by FROM ml.deployment_history WHERE project = 'sessions' "
                            "ORDER BY deployed_at DESC LIMIT 1").fetchone()[0]
            assert who == "pgscore_trainer"
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                t.execute("DELETE FROM ml.deployments")
    finally:
        with psycopg.connect(heart, autocommit=True) as admin:
            admin.execute("DROP TABLE IF EXISTS secret_rows")
            admin.execute("REVOKE ALL ON heart_reg FROM pgscore_trainer")
            admin.execute("DROP OWNED BY pgscore_trainer")
            admin.execute("DROP ROLE pgscore_trainer")
