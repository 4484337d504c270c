"""ALTER EXTENSION pgscore UPDATE from every release (the install scripts frozen in
sql/releases/, now 0.1.0 and 0.2.0; 0.1.0 is updated through 0.2.0) gives the schema of a fresh install, keeps the registry, its
models, triggers, schedules, keys and grants, and the old models score as before; the
upgraded database dumps and restores.

Two databases run the same workload (heart models trained and deployed through the
registry, a scoring trigger, a schedule, a monitor, an API key, roles given
ml.grant_predict / ml.grant_train / ml.grant_gateway, a project grant, stored 0.1.0
model values): `old` on the release, then updated; `fresh` on the current version.

The schemas are compared with `pg_dump -s --binary-upgrade`: a plain `pg_dump` leaves
out every object that belongs to an extension (it writes CREATE EXTENSION), while
binary-upgrade mode, which pg_upgrade uses, writes each member and its initial
privileges. It also writes the OIDs, relfilenodes, frozen xids and column LSNs the
objects happen to have, which differ between any two databases, and the placeholders of
dropped columns (kept to hold column numbers, invisible to SQL): those, and the random
\\restrict key, are the only things normalised. pg_dump already orders objects by kind
and name, so nothing is sorted.
"""
import difflib
import json
import os
import pathlib
import re
import struct
import subprocess

import psycopg
import pytest

from conftest import drop_database, dsn, pg_bin

ROOT = pathlib.Path(__file__).resolve().parent.parent
HEART = ROOT / "data" / "heart" / "processed.cleveland.data"
OLD_MODELS = json.loads((ROOT / "tests" / "data" / "models-0.1.0.json").read_text())
RELEASES = sorted(p.name[len("pgscore--"):-len(".sql")] for p in (ROOT / "sql" / "releases").glob("pgscore--*.sql")
                  if "--" not in p.name[len("pgscore--"):])
CURRENT = re.search(r"^default_version = '(.+)'", (ROOT / "extension" / "pgscore.control").read_text(), re.M).group(1)
READER, ANALYST, GATEWAY = "pgscore_upg_reader", "pgscore_upg_analyst", "pgscore_upg_gateway"
OLD_DB, FRESH_DB, RESTORED_DB = "pgscore_upgrade_old", "pgscore_upgrade_fresh", "pgscore_upgrade_restored"
HEART_PARAMS = {"source": "heart_labelled", "label": "sick", "exclude": ["num"]}


def connect(name):
    return psycopg.connect(dsn(name), autocommit=True)


def new_database(name, version=None):
    drop_database(name)
    with connect("postgres") as admin:
        admin.execute(f"CREATE DATABASE {name}")
    with connect(name) as conn:
        conn.execute("CREATE EXTENSION pgscore" + (f" VERSION '{version}'" if version else ""))


def workload(conn):
    """What a user of a release has in a database; the same calls on every version."""
    conn.execute("""CREATE TABLE heart_raw (age float8, sex float8, cp float8, trestbps float8, chol float8,
                      fbs float8, restecg float8, thalach float8, exang float8, oldpeak float8, slope float8,
                      ca text, thal text, num int)""")
    with conn.cursor().copy("COPY heart_raw FROM STDIN WITH (FORMAT csv)") as copy:
        copy.write(HEART.read_bytes())
    conn.execute("CREATE VIEW heart_labelled AS SELECT *, num > 0 AS sick FROM heart_raw")
    conn.execute("SELECT ml.train('heart', 'heart_labelled', 'sick', exclude => ARRAY['num'])")
    conn.execute("""SELECT ml.train('heart_tree', 'heart_labelled', 'sick', 'decision_tree', '{"max_depth": 4}',
                                    exclude => ARRAY['num'])""")
    conn.execute("SELECT ml.deploy('heart', 'best_score'), ml.deploy('heart_tree', 'most_recent')")
    conn.execute("CREATE TABLE vitals (LIKE heart_raw, risk boolean, model_version int)")
    conn.execute("SELECT ml.score_on_insert('vitals', 'heart', 'risk', 'model_version')")
    conn.execute("INSERT INTO vitals SELECT * FROM heart_raw LIMIT 5")
    conn.execute("SELECT ml.schedule('heart', '0 3 * * *', %s, deploy => 'manual')", (json.dumps(HEART_PARAMS),))
    conn.execute("SELECT ml.monitor('heart', window_size => '1 hour', min_labels => 20, max_drop => 0.1)")
    conn.execute("INSERT INTO ml.api_keys (name, scope, key_hash) VALUES ('ci', 'predict', %s)", ("ab" * 32,))
    conn.execute("SELECT ml.grant_predict(%s), ml.grant_train(%s), ml.grant_gateway(%s)", (READER, ANALYST, GATEWAY))
    conn.execute("SELECT ml.grant_project('heart', %s, 'predict')", (READER,))
    conn.execute("CREATE TABLE old_models (name text PRIMARY KEY, model ml.model)")
    for name, m in OLD_MODELS["models"].items():
        conn.execute("INSERT INTO old_models VALUES (%s, %s::bytea::ml.model)", (name, bytes.fromhex(m["model"])))


def answers(conn):
    """Everything the models say, by project (row form) and by stored value (array form)."""
    by_project = conn.execute("""
        SELECT p.name, array_agg(ml.predict(p.name, h) ORDER BY h.ctid), array_agg(ml.predict_proba(p.name, h) ORDER BY h.ctid)
          FROM heart_raw h, (VALUES ('heart'), ('heart_tree')) p(name) GROUP BY p.name ORDER BY p.name""").fetchall()
    return by_project, stored_answers(conn)


def stored_answers(conn):
    out = {}
    for name, m in OLD_MODELS["models"].items():
        predict, proba = [], []
        for row in OLD_MODELS["rows"]:
            args = {"name": name, "f": row}
            predict.append(conn.execute("SELECT ml.predict(model, %(f)s::float8[]) FROM old_models WHERE name = %(name)s",
                                        args).fetchone()[0])
            if m["proba"] is not None:
                proba.append(conn.execute("SELECT ml.predict_proba(model, %(f)s::float8[]) FROM old_models"
                                          " WHERE name = %(name)s", args).fetchone()[0])
        out[name] = (predict, proba or None)
    return out


def dump(name, *args):
    return subprocess.run([pg_bin("pg_dump"), "-h", os.environ.get("PGHOST", "127.0.0.1"),
                           "-p", os.environ.get("PGPORT", "55432"), "-U", os.environ.get("PGUSER", "pgscore"),
                           *args, name], check=True, capture_output=True, text=True).stdout


def normalised_schema(name):
    text = dump(name, "-s", "--binary-upgrade")
    text = re.sub(r"^\\(un)?restrict \S+$", r"\\\1restrict KEY", text, flags=re.M)
    text = re.sub(r"'\d+'::pg_catalog\.oid", "'OID'::pg_catalog.oid", text)
    text = re.sub(r"(binary_upgrade_create_empty_extension\('pgscore', 'ml', \w+, '[^']*', )'\{[0-9,]*\}'",
                  r"\1'{CONFIG TABLE OIDS}'", text)           # compared by name in test_config_tables_stay_registered
    text = re.sub(r"'\{[0-9A-F/,]*\}'::pg_catalog\.pg_lsn\[\]", "'LSNS'::pg_catalog.pg_lsn[]", text)
    text = re.sub(r"(relfrozenxid|relminmxid) = '\d+'", r"\1 = 'XID'", text)
    text = re.sub(r"^WHERE oid = '\d+';$", "WHERE oid = 'OID';", text, flags=re.M)
    # a column the migration dropped stays in the catalog as a placeholder (binary-upgrade
    # mode recreates it to keep the column numbers); invisible to SQL, so left out
    dropped = r'"\.{8}pg\.dropped\.\d+\.{8}"'
    text = re.sub(r"\n    " + dropped + r" [^\n]*?,(?=\n)", "", text)
    text = re.sub(r",\n    " + dropped + r" [^\n]*(?=\n\);)", "", text)
    text = re.sub(r"\n-- For binary upgrade, recreate dropped column\.\nUPDATE pg_catalog\.pg_attribute\n(?:.*\n){3}"
                  r"ALTER TABLE ONLY [^\n]* DROP COLUMN " + dropped + r";\n", "", text)
    return text


def test_plain_schema_dump_equals_a_fresh_install(upgraded):
    """What a restore replays: CREATE EXTENSION, then the users' objects and grants."""
    def plain(name):
        return re.sub(r"^\\(un)?restrict \S+$", r"\\\1restrict KEY", dump(name, "-s"), flags=re.M)
    old, fresh = plain(OLD_DB), plain(FRESH_DB)
    assert f"GRANT ALL ON FUNCTION ml.deploy(project text, strategy text, version integer, requested_by text) TO {ANALYST};" in fresh
    diff = list(difflib.unified_diff(fresh.splitlines(), old.splitlines(), "fresh install",
                                     f"{upgraded['version']} updated", n=2, lineterm=""))
    assert not diff, "\n".join(diff[:300])


def config_tables(conn):
    return sorted(conn.execute("""SELECT c::regclass::text, cond FROM pg_extension e,
                                     unnest(e.extconfig, e.extcondition) u(c, cond) WHERE e.extname = 'pgscore'""").fetchall())


@pytest.fixture(scope="module", params=RELEASES)
def upgraded(request):
    version = request.param
    with connect("postgres") as admin:
        for role in (READER, ANALYST, GATEWAY):
            if not admin.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
                admin.execute(f"CREATE ROLE {role}")
    try:
        new_database(OLD_DB, version)
        new_database(FRESH_DB)
        with connect(OLD_DB) as old, connect(FRESH_DB) as fresh:
            assert old.execute("SELECT extversion FROM pg_extension WHERE extname = 'pgscore'").fetchone()[0] == version
            workload(old)
            workload(fresh)
            before = answers(old)
            old_config = config_tables(old)
            old.execute("ALTER EXTENSION pgscore UPDATE")
        yield {"version": version, "before": before, "config_before": old_config}
    finally:
        for name in (OLD_DB, FRESH_DB, RESTORED_DB):
            drop_database(name)
        with connect("postgres") as admin:
            for role in (READER, ANALYST, GATEWAY):
                admin.execute(f"DROP ROLE IF EXISTS {role}")


def test_update_path_is_listed(upgraded):
    with connect(OLD_DB) as conn:
        assert conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'pgscore'").fetchone()[0] == CURRENT
        path = conn.execute("SELECT path FROM pg_extension_update_paths('pgscore') WHERE source = %s AND target = %s",
                            (upgraded["version"], CURRENT)).fetchone()
    assert path is not None and path[0].startswith(upgraded["version"] + "--") and path[0].endswith("--" + CURRENT)


def test_upgraded_schema_equals_a_fresh_install(upgraded):
    old, fresh = normalised_schema(OLD_DB), normalised_schema(FRESH_DB)
    assert "CREATE FUNCTION ml.train(" in fresh and "ALTER EXTENSION pgscore ADD" in fresh   # members are in the dump
    diff = list(difflib.unified_diff(fresh.splitlines(), old.splitlines(), "fresh install",
                                     f"{upgraded['version']} updated", n=2, lineterm=""))
    assert not diff, "the upgrade script misses (or adds) this, see README 'Upgrading':\n" + "\n".join(diff[:300])


def test_config_tables_stay_registered(upgraded):
    with connect(OLD_DB) as old, connect(FRESH_DB) as fresh:
        after = config_tables(old)
        assert after == config_tables(fresh)
    assert set(upgraded["config_before"]) <= set(after)
    assert ("ml.models", "") in after and ("ml.api_keys", "") in after


def test_old_models_score_the_same(upgraded):
    with connect(OLD_DB) as conn:
        assert answers(conn) == upgraded["before"]
        assert stored_answers(conn) == {n: (m["predict"], m["proba"]) for n, m in OLD_MODELS["models"].items()}
        # the scoring trigger installed by the release still scores new rows, as the row form does
        conn.execute("INSERT INTO vitals SELECT * FROM heart_raw OFFSET 5 LIMIT 20")
        wrong = conn.execute("""SELECT count(*) FROM vitals v
                                 WHERE v.risk IS DISTINCT FROM ml.predict('heart', v)::boolean OR v.model_version IS NULL""").fetchone()[0]
        assert wrong == 0 and conn.execute("SELECT count(*) FROM vitals").fetchone()[0] == 25
        # and training still works on the updated registry
        conn.execute("SELECT ml.train('heart', 'heart_labelled', 'sick', 'naive_bayes', exclude => ARRAY['num'])")
        assert conn.execute("SELECT count(*) FROM ml.versions WHERE project = 'heart'").fetchone()[0] == 2


def test_model_format_version_check_is_kept(upgraded):
    with connect(OLD_DB) as conn:
        for name, m in OLD_MODELS["models"].items():
            value = bytes.fromhex(m["model"])
            assert struct.unpack_from("<H", value, 4)[0] == 1, name          # a format-1 value, as 0.1.0 wrote
            conn.execute("SELECT ml.describe(%s::bytea::ml.model)", (value,))
            newer = value[:4] + struct.pack("<H", 0xFFFF) + value[6:]    # the checksum covers the body only
            with pytest.raises(psycopg.Error) as e:
                conn.execute("SELECT %s::bytea::ml.model", (newer,))
            assert e.value.sqlstate == "0A000", (name, e.value)
            assert "version" in str(e.value), str(e.value)


def test_upgraded_database_dumps_and_restores(upgraded, tmp_path):
    archive = tmp_path / "upgraded.dump"
    dump(OLD_DB, "-Fc", "-f", str(archive))
    drop_database(RESTORED_DB)
    with connect("postgres") as admin:
        admin.execute(f"CREATE DATABASE {RESTORED_DB}")
    subprocess.run([pg_bin("pg_restore"), "-h", os.environ.get("PGHOST", "127.0.0.1"), "-p", os.environ.get("PGPORT", "55432"),
                    "-U", os.environ.get("PGUSER", "pgscore"), "--exit-on-error", "-d", RESTORED_DB, str(archive)],
                   check=True, capture_output=True, text=True)
    registry = """SELECT (SELECT extversion FROM pg_extension WHERE extname = 'pgscore'),
                         (SELECT array_agg(project || ' v' || version ORDER BY project, version) FROM ml.versions),
                         (SELECT array_agg(project || ' ' || version ORDER BY project, deployed_at) FROM ml.deployment_history),
                         (SELECT array_agg(cron) FROM ml.schedules), (SELECT array_agg(name) FROM ml.api_keys),
                         (SELECT array_agg(project) FROM ml.monitors), (SELECT count(*) FROM vitals)"""
    rights = f"""SELECT has_function_privilege('{ANALYST}', 'ml.deploy(text, text, int, text)', 'EXECUTE'),
                        has_function_privilege('{GATEWAY}', 'ml.claim_run(text)', 'EXECUTE'),
                        has_table_privilege('{READER}', 'ml.versions', 'SELECT'),
                        has_function_privilege('{READER}', 'ml.deploy(text, text, int, text)', 'EXECUTE')"""
    with connect(OLD_DB) as old, connect(RESTORED_DB) as restored:
        assert restored.execute(registry).fetchone() == old.execute(registry).fetchone()
        assert restored.execute(rights).fetchone() == (True, True, True, False)
        assert answers(restored) == answers(old)
        assert config_tables(restored) == config_tables(old)


def test_released_scripts_find_their_c_functions():
    """Until ALTER EXTENSION UPDATE runs, a released script's SQL calls the new pgscore.so."""
    libdir = subprocess.run([pg_bin("pg_config"), "--pkglibdir"], check=True, capture_output=True, text=True).stdout.strip()
    exported = set(subprocess.run(["nm", "-D", "--defined-only", "--format=posix", os.path.join(libdir, "pgscore.so")],
                                  check=True, capture_output=True, text=True).stdout.split())
    for script in sorted((ROOT / "sql" / "releases").glob("pgscore--*.sql")):
        named = set(re.findall(r"'MODULE_PATHNAME',\s*'(\w+)'", script.read_text()))
        assert named and not named - exported, (script.name, sorted(named - exported))
