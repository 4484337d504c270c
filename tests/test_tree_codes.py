"""One-byte rows for the tree aggregates (issue 17, part 2): while every feature has at
most 255 distinct values a tree state keeps a row as one code a feature plus the label
(not 8 bytes a feature), in memory and in its serialized form (parallel workers,
ml.<fit>_state values); the trees are those of the same rows kept as doubles. A
feature with more values turns the state back into doubles, at any point (a row, a
combine of shards): same trees. A code beyond its dictionary is a damaged state."""
import struct

import psycopg
import pytest

from conftest import create_database, drop_database
from hostile_values import sqlstate

DB = "pgscore_tree_codes"
N = 30000
# eight features of few values each (one NULL in 50: missing), -0 next to 0, a text label
FEATURES = ("ARRAY[(g % 7)::float8, (g % 100) / 4.0, CASE WHEN g % 50 = 0 THEN NULL ELSE (g % 3)::float8 END,"
            " CASE WHEN g % 2 = 0 THEN -0.0::float8 ELSE (g % 5)::float8 END, (g % 13)::float8,"
            " (g % 17) * 1.5, (g % 19)::float8, (g % 255)::float8]")
LABEL = "CASE WHEN (g % 7) + (g % 13) > 9 + (g % 3) THEN 'hi' WHEN g % 5 = 0 THEN 'mid' ELSE 'lo' END"


@pytest.fixture(scope="module")
def conn():
    dsn = create_database(DB)
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute(f"CREATE TABLE rows AS SELECT g, g % 3 AS shard, {FEATURES} AS x, {LABEL} AS k,"
                  f" ((g % 7) * 0.5 + (g % 13) * 0.25)::float8 AS y FROM generate_series(1, {N}) g")
        c.execute("ANALYZE rows")
        yield c
    drop_database(DB)


def state_bytes(conn, sql):
    return len(conn.execute(f"SELECT ({sql})::bytea").fetchone()[0])


def test_a_row_takes_a_byte_a_feature(conn):
    """The serialized state of 30,000 rows of 8 features: 8 bytes of codes and a 4-byte
    label id a row (the dictionaries a few kB), against 68 bytes a row when one
    feature has more than 255 values."""
    conn.execute("SET max_parallel_workers_per_gather = 0")
    coded = state_bytes(conn, "SELECT ml.tree_fit_state(x, k) FROM rows")
    wide = state_bytes(conn, "SELECT ml.tree_fit_state(x || g::float8, k) FROM rows")
    print(f"tree state bytes per row: coded {coded / N:.2f} (8 features), doubles {wide / N:.2f} (9 features)")
    assert 12 * N <= coded < 12 * N + 8 * 255 * 8 + 4096
    assert wide >= (8 * 9 + 4) * N
    conn.execute("RESET max_parallel_workers_per_gather")


def model(conn, sql, params=()):
    return bytes(conn.execute(f"SELECT ({sql})::bytea", params or None).fetchone()[0])


def as_doubles(state):
    """A coded tree state rewritten as the state of the same rows kept as doubles (the
    form a state takes once a feature has more than 255 values): header, options, text
    labels, then flag 0 and the decoded rows."""
    at = 8
    _, d, kind, count, _, olen = struct.unpack_from("<iiiiqi", state, at)
    at += 28 + olen
    for _ in range(count):
        at += 4 + struct.unpack_from("<i", state, at)[0] if kind == 3 else 8
    head = state[:at]
    assert struct.unpack_from("<i", state, at)[0] == 1, "not a coded state"
    at += 4
    values = []
    for _ in range(d):
        m = struct.unpack_from("<i", state, at)[0]
        values.append(struct.unpack_from(f"<{m}d", state, at + 4))
        at += 4 + 8 * m
    n = struct.unpack_from("<q", state, at)[0]
    codes = state[at + 8:at + 8 + n * d]
    labels = state[at + 8 + n * d:]
    decoded = [float("nan") if c == 255 else values[i % d][c] for i, c in enumerate(codes)]
    return head + struct.pack("<iq", 0, n) + struct.pack(f"<{n * d}d", *decoded) + labels, (at, d, values)


FITS = [("tree_fit", "k", '{"max_depth": 5}'),
        ("gbt_fit", "y", '{"n_trees": 3, "max_depth": 3}'),
        ("forest_fit", "k", '{"n_trees": 3, "max_depth": 4}')]


@pytest.mark.parametrize("fit,label,options", FITS)
def test_coded_rows_grow_the_trees_of_the_same_rows_as_doubles(conn, fit, label, options):
    """The model of the coded rows is the model of the same rows as doubles (a state
    rewritten so), of shards combined (coded, doubles and coded again: the combine
    turns the rest into doubles), and of a parallel plan."""
    coded = model(conn, f"SELECT ml.{fit}(x, {label}, '{options}') FROM rows")
    state = model(conn, f"SELECT ml.{fit}_state(x, {label}, '{options}') FROM rows")
    doubles, _ = as_doubles(state)
    assert len(doubles) > 4 * len(state)
    assert model(conn, "SELECT ml.combine_states(%s::ml.fit_state)", (doubles,)) == coded
    shards = [model(conn, f"SELECT ml.{fit}_state(x, {label}, '{options}') FROM rows WHERE shard = %s", (i,))
              for i in range(3)]
    shards[1] = as_doubles(shards[1])[0]
    assert model(conn, "SELECT ml.combine_states(s ORDER BY i) FROM unnest(%s::ml.fit_state[]) WITH ORDINALITY u(s, i)",
                 (shards,)) == coded
    with conn.transaction():
        for setting in ("parallel_setup_cost", "parallel_tuple_cost", "min_parallel_table_scan_size"):
            conn.execute(f"SET LOCAL {setting} = 0")
        conn.execute("SET LOCAL max_parallel_workers_per_gather = 2")
        plan = "\n".join(r[0] for r in conn.execute(f"EXPLAIN SELECT ml.{fit}(x, {label}, '{options}') FROM rows"))
        assert "Partial Aggregate" in plan, plan
        assert model(conn, f"SELECT ml.{fit}(x, {label}, '{options}') FROM rows") == coded


def test_a_feature_past_255_values_turns_the_rows_into_doubles(conn):
    """Shards with at most 255 values of a feature each but 300 together: the combine
    goes back to doubles and gives the model of all rows, which went back to doubles
    at its 256th value."""
    x = "ARRAY[(g % 300)::float8, (g % 7)::float8]"
    plain = model(conn, f"SELECT ml.tree_fit({x}, k, '{{\"max_depth\": 6}}') FROM rows")
    parts = " UNION ALL ".join(f"(SELECT ml.tree_fit_state({x}, k, '{{\"max_depth\": 6}}') FROM rows"
                               f" WHERE g % 300 {cond})" for cond in ("< 200", ">= 200"))
    assert model(conn, f"SELECT ml.combine_states(s) FROM ({parts}) p(s)") == plain


def test_a_code_beyond_its_dictionary_is_a_damaged_state(conn):
    state = bytearray(model(conn, "SELECT ml.tree_fit_state(x, k) FROM rows WHERE g < 100"))
    _, (at, d, values) = as_doubles(bytes(state))
    codes = at + 8
    state[codes] = len(values[0])      # one past the last value of feature 1
    assert sqlstate(conn, "SELECT ml.combine_states(%s::ml.fit_state)", (bytes(state),)) == "22P03"
    state[codes] = 255                 # missing: fine
    assert sqlstate(conn, "SELECT ml.combine_states(%s::ml.fit_state)", (bytes(state),)) is None
