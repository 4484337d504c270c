"""The trust boundary, attacked as a role given only ml.grant_train would (issue: security).

Each test replays one way a trainer tried to act with someone else's rights and asserts
it is refused with a clear SQLSTATE and leaves no trace: no new API key, no role change,
no forged version, no data copied into a model. The daemon's part is played over SQL by
a role given ml.grant_gateway (what `pgscore serve` connects as), calling the same
functions its job runner calls (ml.claim_run, ml.execute_run, ml.run_monitors).
"""
import psycopg
import pytest

from conftest import create_database, drop_database

DB = "pgscore_security"
ROLES = ("sec_daemon", "sec_trainer", "sec_other", "sec_analyst")

# A function a trainer owns: it tries to become the daemon (RESET ROLE, SET ROLE) and to
# write an admin key, and notes who it ran as; every error is swallowed so that only
# what it managed to do shows.
EVIL = """
CREATE FUNCTION evil() RETURNS int LANGUAGE plpgsql AS $f$
BEGIN
  INSERT INTO seen VALUES (current_user, 'start');
  BEGIN
    RESET ROLE;
    INSERT INTO seen VALUES (current_user, 'after reset');
  EXCEPTION WHEN OTHERS THEN INSERT INTO seen VALUES (current_user, SQLSTATE); END;
  BEGIN
    SET ROLE sec_daemon;
    INSERT INTO seen VALUES (current_user, 'after set role');
  EXCEPTION WHEN OTHERS THEN INSERT INTO seen VALUES (current_user, SQLSTATE); END;
  BEGIN
    INSERT INTO ml.api_keys (name, scope, key_hash) VALUES ('evil', 'admin', repeat('a', 64));
  EXCEPTION WHEN OTHERS THEN INSERT INTO seen VALUES (current_user, SQLSTATE); END;
  BEGIN
    ALTER ROLE sec_trainer SUPERUSER;
  EXCEPTION WHEN OTHERS THEN INSERT INTO seen VALUES (current_user, SQLSTATE); END;
  RETURN 1;
END $f$;
"""

INJECTION = ("SELECT * FROM public.tdata) s; INSERT INTO ml.api_keys (name, scope, key_hash) "
             "VALUES ('evil', 'admin', repeat('b', 64)); SELECT * FROM (SELECT 1 AS y")


def connect(dsn, role=None):
    return psycopg.connect(dsn + (f" user={role}" if role else ""), autocommit=True)


@pytest.fixture(scope="module")
def db():
    dsn = create_database(DB)
    with connect(dsn) as su:
        for r in ROLES:
            su.execute(f"DROP ROLE IF EXISTS {r}")
            su.execute(f"CREATE ROLE {r} LOGIN")
        su.execute("SELECT ml.grant_gateway('sec_daemon')")
        for r in ("sec_trainer", "sec_other"):
            su.execute(f"SELECT ml.grant_train('{r}')")
        su.execute("SELECT ml.grant_predict('sec_analyst')")
        su.execute("GRANT CREATE ON SCHEMA public TO sec_trainer")
        # the superuser's project alpha, on its own table
        su.execute("CREATE TABLE vitals AS SELECT g AS id, (g % 7)::float8 AS x1, (g % 5)::float8 AS x2, "
                   "(g % 7) + (g % 5) > 5 AS y FROM generate_series(1, 200) g")
        su.execute("SELECT ml.train('alpha', 'vitals', 'y', exclude => ARRAY['id'])")
        su.execute("SELECT ml.grant_project('alpha', 'sec_trainer', 'train')")
        su.execute("SELECT ml.grant_project('alpha', 'sec_analyst', 'predict')")
    with connect(dsn, "sec_trainer") as t:
        # the trainer's own project beta, and the traps
        t.execute("CREATE TABLE tdata AS SELECT g AS id, (g % 7)::float8 AS x1, (g % 3)::float8 AS x2, "
                  "(g % 7) > 3 AS y FROM generate_series(1, 200) g")
        t.execute("CREATE TABLE seen (who name, what text)")
        t.execute(EVIL)
        t.execute("CREATE VIEW evil_view AS SELECT t.*, evil() AS e FROM tdata t")
        t.execute("SELECT ml.train('beta', 'tdata', 'y', exclude => ARRAY['id'])")
        # the daemon may read the trap: the owner grants it
        t.execute("GRANT SELECT ON evil_view, tdata TO sec_daemon")
    yield dsn
    with connect(dsn) as su:
        su.execute("DELETE FROM ml.training_runs")
    drop_database(DB)
    with connect(dsn.replace(DB, "postgres")) as su:
        for r in ROLES:
            su.execute(f"DROP ROLE IF EXISTS {r}")


@pytest.fixture
def sentinel(db):
    """A session that must survive every test: a crashed backend resets all of them."""
    with connect(db) as s:
        s.execute("SELECT 1")
        yield s
        assert s.execute("SELECT 1").fetchone()[0] == 1


def no_trace(db):
    with connect(db) as su:
        assert su.execute("SELECT count(*) FROM ml.api_keys").fetchone()[0] == 0
        assert su.execute("SELECT rolsuper FROM pg_roles WHERE rolname = 'sec_trainer'").fetchone()[0] is False
        seen = su.execute("SELECT DISTINCT who FROM seen").fetchall()
        assert all(w == "sec_trainer" for (w,) in seen), seen


def run_all_as_daemon(db):
    """What the daemon's job runner does: claim and execute every queued run."""
    results = []
    with connect(db, "sec_daemon") as d:
        while True:
            run = d.execute("SELECT id FROM ml.claim_run('sec-test')").fetchone()
            if run is None:
                return results
            results.append(d.execute("SELECT status, error, requested_by FROM ml.execute_run(%s)", run).fetchone())


def test_query_sources_that_close_the_parenthesis_are_refused_everywhere(db, sentinel):
    with connect(db, "sec_trainer") as t:
        for call in (
            "SELECT ml.train('beta', %s, 'y')",
            "SELECT ml.enqueue_run('beta', jsonb_build_object('source', %s::text, 'label', 'y'))",
            "SELECT ml.schedule('beta', '1 hour', jsonb_build_object('source', %s::text, 'label', 'y'))",
            "SELECT ml.train_on_events('beta', 'tdata', jsonb_build_object('source', %s::text, 'label', 'y'))",
        ):
            with pytest.raises(psycopg.errors.SyntaxError):
                t.execute(call, (INJECTION,))
        # the helpers behind them are granted to no trainer
        for call in (
            "SELECT ml._queue_run('beta', jsonb_build_object('source', %s::text, 'label', 'y'), 'manual', NULL, NULL, 'pgscore', NULL)",
            "SELECT ml._insert_schedule('beta', '1 hour', NULL, jsonb_build_object('source', %s::text, 'label', 'y'), 'project', 3, '1 s', now(), 'pgscore', NULL)",
            "SELECT ml._save_event_policy('beta', 'tdata', jsonb_build_object('source', %s::text, 'label', 'y'), 1, NULL, 'project', 'pgscore', NULL)",
            "SELECT ml._check_source('x', jsonb_build_object('source', %s::text, 'label', 'y'), 'pgscore', NULL)",
            "SELECT ml._read_as('pgscore', NULL, %s, NULL)",
            "SELECT ml._set_acting_role(%s::name)",
            "SELECT ml._known_params(%s)",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                t.execute(call, (INJECTION if "_set_acting_role" not in call else "pgscore",))
    assert run_all_as_daemon(db) == []
    no_trace(db)


def test_a_view_calling_a_trainers_function_runs_it_with_the_trainers_rights_only(db, sentinel):
    with connect(db) as su:
        su.execute("DELETE FROM ml.training_runs")
    with connect(db, "sec_trainer") as t:
        t.execute("DELETE FROM seen")
        t.execute("SELECT ml.enqueue_run('beta', '{\"source\": \"evil_view\", \"label\": \"y\", \"exclude\": [\"id\", \"e\"]}')")
        sid = t.execute("SELECT ml.schedule('beta', '1 hour', '{\"source\": \"evil_view\", \"label\": \"y\", "
                        "\"exclude\": [\"id\", \"e\"]}')").fetchone()[0]
    with connect(db) as su:   # make the schedule due now
        su.execute("UPDATE ml.schedules SET next_run_at = now() - interval '1 second' WHERE id = %s", (sid,))
    # the daemon queues one too, as the gateway does for a train key (the trainer, admin of
    # beta, allowed her view for it): the view is read as its owner
    with connect(db, "sec_trainer") as t:
        t.execute("SELECT ml.allow_source('beta', 'evil_view')")
    with connect(db, "sec_daemon") as d:
        d.execute("SELECT ml.enqueue_run('beta', '{\"source\": \"public.evil_view\", \"label\": \"y\", \"exclude\": [\"id\", \"e\"]}')")
    results = run_all_as_daemon(db)
    assert len(results) == 3, results
    assert {r[2] for r in results} == {"sec_trainer", "sec_daemon"}
    assert all(status == "succeeded" for status, _, _ in results), results
    with connect(db) as su:
        whats = {w for (w,) in su.execute("SELECT what FROM seen")}
        assert "after reset" not in whats and "after set role" not in whats
        assert "42501" in whats          # RESET ROLE / SET ROLE / the key insert refused
        su.execute("SELECT ml.drop_schedule(%s)", (sid,))
        # who trained: the requester, never a name the caller chose
        trainers = {w for (w,) in su.execute(
            "SELECT m.created_by FROM ml.models m JOIN ml.projects p ON p.id = m.project_id WHERE p.name = 'beta'")}
        assert trainers <= {"sec_trainer", "sec_daemon"}
    no_trace(db)


def test_the_gateways_role_never_runs_query_sources(db, sentinel):
    with connect(db, "sec_daemon") as d:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            d.execute("SELECT ml.enqueue_run('beta', '{\"source\": \"SELECT * FROM public.tdata\", \"label\": \"y\"}')")
    no_trace(db)


def test_a_monitor_labels_view_runs_its_functions_as_the_monitors_creator(db, sentinel):
    with connect(db, "sec_trainer") as t:
        t.execute("DELETE FROM seen")
        t.execute("CREATE VIEW evil_labels AS SELECT 1::bigint AS prediction_id, 'true'::text AS label WHERE evil() = 1")
        t.execute("SELECT ml.monitor('beta', labels => 'evil_labels', every => '1 second')")
    with connect(db) as su:
        su.execute("INSERT INTO ml.predictions (project, version, features, prediction) "
                   "SELECT 'beta', ml.deployed_version('beta'), '{}', 'true'")
    with connect(db, "sec_daemon") as d:
        d.execute("SELECT * FROM ml.run_monitors('sec-test', now() + interval '1 minute')").fetchall()
    with connect(db) as su:
        assert su.execute("SELECT last_error FROM ml.monitors WHERE project = 'beta'").fetchone()[0] is None
        assert su.execute("SELECT count(*) FROM seen WHERE what = 'start'").fetchone()[0] >= 1
    with connect(db, "sec_trainer") as t:
        t.execute("SELECT ml.drop_monitor('beta')")
    no_trace(db)


@pytest.mark.parametrize("source", ["ml.predictions", "ml.api_keys", "ml.feedback", "pg_catalog.pg_authid",
                                    "information_schema.tables"])
def test_pgscores_own_tables_and_catalogs_are_never_training_sources(db, sentinel, source):
    for role in ("sec_daemon", "sec_trainer", None):
        with connect(db, role) as c:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                c.execute("SELECT ml.enqueue_run('beta', jsonb_build_object('source', %s::text, 'label', 'project'))",
                          (source,))
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                c.execute("SELECT ml.train('beta', %s, 'project')", (source,))
    no_trace(db)


def test_registry_records_cannot_be_forged(db, sentinel):
    with connect(db, "sec_trainer") as t:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            t.execute("SELECT ml._record_version('alpha', 'classification', (SELECT m FROM ml.models m LIMIT 1))")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            t.execute("SELECT ml._record_deployment('alpha', 1, 'version', 'forged')")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            t.execute("INSERT INTO ml.models SELECT * FROM ml.models LIMIT 1")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            t.execute("UPDATE ml.models SET score = 1e9")
        # training alpha (a train right) records the trainer and the score pgscore computed
        r = t.execute("SELECT version, score FROM ml.train('alpha', 'tdata', 'y', exclude => ARRAY['id'], "
                      "deploy => 'manual')").fetchone()
        row = t.execute("SELECT created_by, score FROM ml.versions WHERE project = 'alpha' AND version = %s",
                        (r[0],)).fetchone()
        assert row == ("sec_trainer", r[1]) and 0 <= r[1] <= 1
        # ... but not deploying it: that needs the deploy right
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            t.execute("SELECT ml.deploy('alpha', 'most_recent')")
        # SET ROLE to another role is not a way to sign as it: a trainer is a member of no one
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            t.execute("SET ROLE pgscore")
    with connect(db) as su:
        su.execute("SELECT ml.grant_project('alpha', 'sec_trainer', 'deploy')")
    with connect(db, "sec_trainer") as t:
        t.execute("SELECT ml.deploy('alpha', 'most_recent')")
        assert t.execute("SELECT deployed_by, requested_by FROM ml.deployment_history WHERE project = 'alpha' "
                         "ORDER BY deployed_at DESC LIMIT 1").fetchone() == ("sec_trainer", None)
        # who asked (requested_by) is the daemon's to say: anyone else may name only itself
        before = t.execute("SELECT count(*) FROM ml.deployments").fetchone()[0]
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="only a service role"):
            t.execute("SELECT ml.deploy('alpha', 'most_recent', requested_by => 'key of the CEO')")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            t.execute("SELECT ml.deploy('alpha', 'rollback', NULL, 'sec_daemon')")
        assert t.execute("SELECT count(*) FROM ml.deployments").fetchone()[0] == before
        t.execute("SELECT ml.deploy('alpha', 'most_recent', requested_by => 'sec_trainer')")
    with connect(db, "sec_daemon") as d:
        d.execute("SELECT ml.deploy('alpha', 'most_recent', requested_by => 'ci key')")
        assert d.execute("SELECT deployed_by, requested_by FROM ml.deployment_history WHERE project = 'alpha' "
                         "ORDER BY deployed_at DESC LIMIT 1").fetchone() == ("sec_daemon", "ci key")
    with connect(db) as su:
        su.execute("SELECT ml.grant_project('alpha', 'sec_trainer', 'train')")
    no_trace(db)


def test_a_trainer_of_one_project_cannot_touch_another(db, sentinel):
    with connect(db, "sec_trainer") as t:
        sid = t.execute("SELECT ml.schedule('beta', '1 hour', '{\"source\": \"tdata\", \"label\": \"y\"}')").fetchone()[0]
        t.execute("SELECT ml.monitor('beta')")
    with connect(db, "sec_other") as o:
        # beta is not even visible to sec_other
        assert o.execute("SELECT count(*) FROM ml.project_overview WHERE project = 'beta'").fetchone()[0] == 0
        for call in ("SELECT ml.deploy('beta', 'rollback')", "SELECT ml.train('beta', 'vitals', 'y')",
                     "SELECT ml.schedule('beta', '1 hour', '{\"source\": \"x\", \"label\": \"y\"}')",
                     f"SELECT ml.pause_schedule({sid})", f"SELECT ml.drop_schedule({sid})",
                     "SELECT ml.drop_monitor('beta')", "SELECT ml.monitor('beta', action => 'rollback')",
                     "SELECT ml.stop_training_on_events('beta')", "SELECT ml.set_deploy_policy('beta', 'manual')",
                     "SELECT ml.grant_project('beta', 'sec_other', 'admin')",
                     "SELECT ml.enqueue_run('beta')"):
            with pytest.raises(psycopg.errors.UndefinedObject):
                o.execute(call)
    with connect(db) as su:
        assert su.execute("SELECT paused FROM ml.schedules WHERE id = %s", (sid,)).fetchone()[0] is False
        assert su.execute("SELECT count(*) FROM ml.monitors WHERE project = 'beta'").fetchone()[0] == 1
    with connect(db, "sec_trainer") as t:
        t.execute(f"SELECT ml.drop_schedule({sid})")
        t.execute("SELECT ml.drop_monitor('beta')")


def test_a_predict_role_sees_and_scores_only_its_projects(db, sentinel):
    with connect(db) as su:
        su.execute("GRANT SELECT ON vitals, tdata TO sec_analyst")
    with connect(db, "sec_analyst") as a:
        assert [p for (p,) in a.execute("SELECT project FROM ml.project_overview")] == ["alpha"]
        assert {p for (p,) in a.execute("SELECT DISTINCT project FROM ml.versions")} == {"alpha"}
        assert a.execute("SELECT ml.predict('alpha', v) FROM vitals v LIMIT 1").fetchone()[0] in ("true", "false")
        with pytest.raises(psycopg.errors.UndefinedObject):
            a.execute("SELECT ml.predict('beta', t) FROM tdata t LIMIT 1")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            a.execute("SELECT ml.deploy('alpha', 'rollback')")
