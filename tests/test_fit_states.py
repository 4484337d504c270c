"""Training states as SQL values (issue 17, part 5): ml.<fit>_state on parts of the rows,
ml.combine_states of the values gives the model of the plain aggregate on all rows
(linear regression and naive Bayes within 1e-9, logistic regression 1e-6, trees the
same bytes); ml.merge_states combines hierarchically; values can be stored and read
back; states of different fits, and values that are no states, are refused.
Damaged states at scale: tests/test_sql_campaign.py (states)."""
import struct

import psycopg
import pytest

from conftest import create_database, drop_database
from fit_states import FITS, ROWS, assert_same_model, call
from hostile_values import sqlstate

DB = "pgscore_fit_states"


@pytest.fixture(scope="module")
def conn():
    dsn = create_database(DB)
    with psycopg.connect(dsn, autocommit=True) as c:
        # heap order = shard order, the order in which combine_states below meets the rows
        c.execute(f"CREATE TABLE points AS SELECT * FROM ({ROWS}) r ORDER BY shard, id")
        yield c
    drop_database(DB)


def model_of(conn, sql):
    return conn.execute(f"SELECT m::bytea, ml.describe(m) FROM ({sql}) q(m)").fetchone()


def assert_models_match(plain, combined, rel, where):
    if rel == 0:
        assert bytes(plain[0]) == bytes(combined[0]), where
    else:
        assert_same_model(plain[1], combined[1], rel, where)


@pytest.mark.parametrize("aggregate,label,options,rel", FITS)
def test_combined_states_give_the_plain_model(conn, aggregate, label, options, rel):
    plain = model_of(conn, f"SELECT {call(aggregate, label, options)} FROM points")
    parts = " UNION ALL ".join(f"(SELECT {call(aggregate, label, options, '_state')} FROM points WHERE shard = {i})"
                               for i in range(3))
    combined = model_of(conn, f"SELECT ml.combine_states(s) FROM ({parts}) p(s)")
    assert_models_match(plain, combined, rel, f"{aggregate}({label})")
    # hierarchically: shards 0 and 1 merged into one state first
    merged = model_of(conn, f"""SELECT ml.combine_states(s) FROM (
        (SELECT ml.merge_states(s) FROM (SELECT {call(aggregate, label, options, '_state')} FROM points
                                         WHERE shard < 2 GROUP BY shard ORDER BY shard) m(s))
        UNION ALL (SELECT {call(aggregate, label, options, '_state')} FROM points WHERE shard = 2)) p(s)""")
    assert_models_match(plain, merged, rel, f"{aggregate}({label}) merged")


def test_states_are_values_that_can_be_stored(conn):
    """A state stored in a table (a night's partial, say) and combined later; NULL
    states (parts without rows) are skipped."""
    conn.execute("DROP TABLE IF EXISTS nightly")
    conn.execute("CREATE TABLE nightly (night int, state ml.fit_state)")
    conn.execute(f"INSERT INTO nightly SELECT shard, {call('nb_fit', 'k', None, '_state')} FROM points GROUP BY shard")
    conn.execute(f"INSERT INTO nightly SELECT 9, {call('nb_fit', 'k', None, '_state')} FROM points WHERE false")
    assert conn.execute("SELECT count(*) FROM nightly WHERE state IS NULL").fetchone()[0] == 1
    plain = model_of(conn, f"SELECT {call('nb_fit', 'k', None)} FROM points")
    combined = model_of(conn, "SELECT ml.combine_states(state ORDER BY night) FROM nightly")
    assert_same_model(plain[1], combined[1], 1e-9, "stored nb")
    # a bytea round trip (COPY, an application) keeps it a state
    again = model_of(conn, "SELECT ml.combine_states(state::bytea::ml.fit_state) FROM nightly")
    assert_same_model(plain[1], again[1], 1e-9, "bytea nb")


def test_parallel_combine_of_many_states(conn):
    """ml.combine_states is parallel safe: states spread over workers give the same model."""
    conn.execute("DROP TABLE IF EXISTS many")
    conn.execute(f"CREATE TABLE many AS SELECT id % 200 AS part, {call('linreg_fit', 'y', None, '_state')} AS s"
                 " FROM points GROUP BY id % 200")
    conn.execute("ALTER TABLE many SET (parallel_workers = 2)")
    plain = model_of(conn, f"SELECT {call('linreg_fit', 'y', None)} FROM points")
    with conn.transaction():
        for setting in ("parallel_setup_cost = 0", "parallel_tuple_cost = 0", "min_parallel_table_scan_size = 0",
                        "max_parallel_workers_per_gather = 2"):
            conn.execute(f"SET LOCAL {setting}")
        plan = "\n".join(r[0] for r in conn.execute("EXPLAIN SELECT ml.combine_states(s) FROM many"))
        assert "Partial Aggregate" in plan, plan
        combined = model_of(conn, "SELECT ml.combine_states(s) FROM many")
    assert_same_model(plain[1], combined[1], 1e-9, "parallel linreg")


@pytest.mark.parametrize("a,b,expected", [
    # different algorithms, label types, options
    (call("linreg_fit", "y", None, "_state"), call("nb_fit", "k", None, "_state"), "22023"),
    (call("nb_fit", "k", None, "_state"), call("nb_fit", "b", None, "_state"), "22023"),
    (call("linreg_fit", "y", None, "_state"), call("linreg_fit", "y", '{"l2": 1}', "_state"), "22023"),
    # different feature counts
    (call("linreg_fit", "y", None, "_state"), "ml.linreg_fit_state(ARRAY[x1], y)", "2202E"),
])
def test_states_of_different_fits_are_refused(conn, a, b, expected):
    sql = f"SELECT ml.combine_states(s) FROM (SELECT {a} FROM points UNION ALL SELECT {b} FROM points) q(s)"
    assert sqlstate(conn, sql) == expected


# too short, the other byte order, another magic, another format, a header without a state
@pytest.mark.parametrize("value", ["\\x", "\\x00", "\\x7067535401000000", "\\x0000000001000000",
                                   "\\x5453677002000000", "\\x5453677001000000"])
def test_values_that_are_no_states_are_refused(conn, value):
    assert sqlstate(conn, "SELECT ml.combine_states(%s::bytea::ml.fit_state)", (value,)) == "22P03"


def test_reading_a_state_is_bounded_by_the_memory_setting(conn):
    """A state of rows (trees, logistic regression) is read only within
    pgscore.max_training_memory: 54000 beyond it, as the aggregate itself would stop."""
    conn.execute("DROP TABLE IF EXISTS big_state")
    conn.execute("CREATE TABLE big_state AS SELECT ml.tree_fit_state(ARRAY[sin(g), cos(g), g], g % 2 = 0) AS s"
                 " FROM generate_series(1, 60000) g")
    assert conn.execute("SELECT length(s) FROM big_state").fetchone()[0] > 1_600_000
    with conn.transaction():
        conn.execute("SET LOCAL pgscore.max_training_memory = '1MB'")
        assert sqlstate(conn, "SELECT ml.combine_states(s) FROM big_state") == "54000"
    assert sqlstate(conn, "SELECT ml.combine_states(s) FROM big_state") is None


def test_crafted_counts_are_refused(conn):
    """A linear regression state whose row count is 2^63 - 1 and whose sums count 2^63
    rows: consistent with each other, but no count a fit can convert (it would trap in
    the Swift core and take the backend with it). Refused as damaged."""
    state = bytearray(conn.execute(f"SELECT {call('linreg_fit', 'y', None, '_state')}::bytea FROM points")
                      .fetchone()[0])
    # header (8), algorithm, features, label kind, labels (4 each), rows (8), options length (4)
    assert struct.unpack_from("<q", state, 24)[0] == 1200 and struct.unpack_from("<i", state, 32)[0] == 0
    struct.pack_into("<q", state, 24, 2**63 - 1)
    struct.pack_into("<d", state, 36, float(2**63))
    assert sqlstate(conn, "SELECT ml.combine_states(%s::ml.fit_state)", (bytes(state),)) == "22P03"


@pytest.mark.parametrize("label", [b"h\x00", b"\xff\xfe"])
def test_labels_that_are_no_text_are_refused(conn, label):
    """A text label in a state becomes the text ml.predict answers: a NUL byte or bytes
    that are not UTF-8 make the state damaged, not a model that returns broken text."""
    state = bytearray(conn.execute(f"SELECT {call('nb_fit', 'k', None, '_state')}::bytea FROM points")
                      .fetchone()[0])
    # the first label follows the header and the empty options: its length, then its bytes
    at = 36
    n = struct.unpack_from("<i", state, at)[0]
    assert bytes(state[at + 4:at + 4 + n]) in (b"hi", b"mid", b"lo"), bytes(state[:48])
    state[at + 4:at + 6] = label
    assert sqlstate(conn, "SELECT ml.combine_states(%s::ml.fit_state)", (bytes(state),)) == "22P03"
