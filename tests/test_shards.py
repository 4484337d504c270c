"""Shards through postgres_fdw (issue 17, part 5): the rows split over three PostgreSQL
clusters on loopback, the coordinator (the test cluster) reaches them through
postgres_fdw foreign tables with the server option extensions 'pgscore', so
ml.<fit>_state(...) is shipped and runs on each shard where the rows are; the
coordinator combines the three values. Asserted: EXPLAIN VERBOSE shows the aggregate
in every shard's remote SQL (no rows travel), and the model is the one the
coordinator's own plain aggregate gives on all rows (linear regression and naive
Bayes 1e-9, logistic regression 1e-6, trees the same bytes). Also through a
partitioned table of foreign partitions with partitionwise aggregation."""
import psycopg
import pytest

from conftest import create_database, drop_database
from fit_states import FITS, ROWS, assert_same_model, call
from private_cluster import PrivateCluster

DB = "pgscore_shards"
SHARDS = 3
TRUST = ["local all all trust", "host all all 127.0.0.1/32 trust"]
COLUMNS = "id int, shard int, x1 float8, x2 float8, x3 float8, y float8, k text, b boolean"


@pytest.fixture(scope="module")
def shards():
    clusters = []
    try:
        for i in range(SHARDS):
            c = PrivateCluster(TRUST)
            clusters.append(c)
            c.psql("CREATE DATABASE shard")
            c.psql("CREATE EXTENSION pgscore", dbname="shard")
            c.psql(f"CREATE TABLE points AS SELECT * FROM ({ROWS}) r WHERE shard = {i} ORDER BY id", dbname="shard")
        yield clusters
    finally:
        for c in clusters:
            c.stop()


@pytest.fixture(scope="module")
def coordinator(shards):
    dsn = create_database(DB)
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute("CREATE EXTENSION postgres_fdw")
        for i, shard in enumerate(shards):
            c.execute(f"CREATE SERVER shard{i} FOREIGN DATA WRAPPER postgres_fdw OPTIONS "
                      f"(host '127.0.0.1', port '{shard.port}', dbname 'shard', extensions 'pgscore')")
            c.execute(f"CREATE USER MAPPING FOR CURRENT_USER SERVER shard{i} OPTIONS (user 'pgscore')")
            c.execute(f"CREATE SCHEMA s{i}")
            c.execute(f"IMPORT FOREIGN SCHEMA public LIMIT TO (points) FROM SERVER shard{i} INTO s{i}")
        # one table over the shards: a partition per shard
        c.execute(f"CREATE TABLE points_all ({COLUMNS}) PARTITION BY LIST (shard)")
        for i in range(SHARDS):
            c.execute(f"CREATE FOREIGN TABLE points_all_{i} PARTITION OF points_all FOR VALUES IN ({i}) "
                      f"SERVER shard{i} OPTIONS (table_name 'points')")
        # the same rows on one server, in the order the shards are combined
        c.execute(f"CREATE TABLE local_points AS SELECT * FROM ({ROWS}) r ORDER BY shard, id")
        yield c
    drop_database(DB)


def over_shards(aggregate, label, options):
    parts = " UNION ALL ".join(f"SELECT {call(aggregate, label, options, '_state')} FROM s{i}.points"
                               for i in range(SHARDS))
    return f"SELECT ml.combine_states(s) FROM ({parts}) p(s)"


def model_of(conn, sql):
    return conn.execute(f"SELECT m::bytea, ml.describe(m) FROM ({sql}) q(m)").fetchone()


def remote_sql(conn, sql):
    plan = [r[0].strip() for r in conn.execute(f"EXPLAIN (VERBOSE, COSTS OFF) {sql}")]
    return [line for line in plan if line.startswith("Remote SQL:")]


def test_each_shard_computes_its_state(coordinator):
    remote = remote_sql(coordinator, over_shards("linreg_fit", "y", None))
    assert len(remote) == SHARDS, remote
    for line in remote:
        assert "SELECT ml.linreg_fit_state(ARRAY[x1, x2, x3], y) FROM public.points" in line, line


@pytest.mark.parametrize("aggregate,label,options,rel", FITS)
def test_sharded_model_is_the_one_server_model(coordinator, aggregate, label, options, rel):
    remote = remote_sql(coordinator, over_shards(aggregate, label, options))
    assert len(remote) == SHARDS and all(f"ml.{aggregate}_state(" in line for line in remote), remote
    plain = model_of(coordinator, f"SELECT {call(aggregate, label, options)} FROM local_points")
    sharded = model_of(coordinator, over_shards(aggregate, label, options))
    if rel == 0:
        assert bytes(plain[0]) == bytes(sharded[0])
    else:
        assert_same_model(plain[1], sharded[1], rel, f"{aggregate}({label})")


def test_partitioned_table_of_shards(coordinator):
    """GROUP BY the partition key with partitionwise aggregation: PostgreSQL itself
    pushes one ml.<fit>_state per partition down to its shard."""
    sql = (f"SELECT ml.combine_states(s ORDER BY shard) FROM (SELECT shard, {call('nb_fit', 'k', None, '_state')} s"
           " FROM points_all GROUP BY shard) p")
    with coordinator.transaction():
        coordinator.execute("SET LOCAL enable_partitionwise_aggregate = on")
        remote = remote_sql(coordinator, sql)
        sharded = model_of(coordinator, sql)
    assert len(remote) == SHARDS and all("ml.nb_fit_state(" in line and "GROUP BY" in line for line in remote), remote
    plain = model_of(coordinator, f"SELECT {call('nb_fit', 'k', None)} FROM local_points")
    assert_same_model(plain[1], sharded[1], 1e-9, "partitioned nb")
