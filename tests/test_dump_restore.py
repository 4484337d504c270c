"""A model stored in a table survives pg_dump / pg_restore (custom format) and plain
SQL dumps, and scores the same afterwards."""
import subprocess

import psycopg

from conftest import dsn, pg_bin


def test_models_survive_dump_and_restore(conn, tmp_path):
    conn.execute("DROP TABLE IF EXISTS saved_models")
    conn.execute("""
        CREATE TABLE saved_models AS
        SELECT 'lr' AS name, ml.logreg_fit(ARRAY[x, x * x], x > 0.2) AS model FROM (SELECT sin(i) x FROM generate_series(1, 2000) i) q
        UNION ALL
        SELECT 'nb', ml.nb_fit(ARRAY[x, x * x], (i % 3)::text) FROM (SELECT i, sin(i) x FROM generate_series(1, 2000) i) q""")
    before = dict(conn.execute(
        "SELECT name, ml.predict(model, ARRAY[0.5, 0.25]) || ' ' || ml.describe(model)::text FROM saved_models").fetchall())
    dump = tmp_path / "models.dump"
    src = conn.info.dbname
    env_args = ["-h", conn.info.host, "-p", str(conn.info.port), "-U", conn.info.user]
    subprocess.run([pg_bin("pg_dump"), *env_args, "-Fc", "-t", "saved_models", "-f", str(dump), src], check=True)

    with psycopg.connect(dsn("postgres"), autocommit=True) as admin:
        admin.execute("DROP DATABASE IF EXISTS pgscore_restored WITH (FORCE)")
        admin.execute("CREATE DATABASE pgscore_restored")
    try:
        with psycopg.connect(dsn("pgscore_restored"), autocommit=True) as r:
            r.execute("CREATE EXTENSION pgscore")
        subprocess.run([pg_bin("pg_restore"), *env_args, "-d", "pgscore_restored", str(dump)], check=True)
        with psycopg.connect(dsn("pgscore_restored"), autocommit=True) as r:
            after = dict(r.execute(
                "SELECT name, ml.predict(model, ARRAY[0.5, 0.25]) || ' ' || ml.describe(model)::text FROM saved_models").fetchall())
            same = r.execute("SELECT count(*) FROM saved_models").fetchone()[0]
        assert after == before and same == 2
        # plain SQL dump (COPY text form) too
        sql = subprocess.run([pg_bin("pg_dump"), *env_args, "-t", "saved_models", src],
                             check=True, capture_output=True, text=True).stdout
        assert "\\\\x5047534d" in sql  # models are written as bytea hex text
    finally:
        with psycopg.connect(dsn("postgres"), autocommit=True) as admin:
            admin.execute("DROP DATABASE IF EXISTS pgscore_restored WITH (FORCE)")
