"""Model values are hostile input: no crafted ml.model value may crash a backend.

The CRC-64 of a model value is no protection (anyone can recompute it), so these tests
build values in Python that follow the layout of Sources/ScoreCore/ModelCodec.swift,
recompute the checksum, and feed them to everything that takes a model: the cast,
ml.describe, ml.predict / ml.predict_proba, ml.export_onnx, ml.metrics, and a deployed
version scored by the trigger, the row, jsonb and array forms. Each must give a clear
SQLSTATE, never XX000 and never a crash. A sentinel connection stays open for the whole
module (a crashed backend makes the postmaster reset every session) and the server log
must not mention a backend terminated by a signal.

To reach the functions with values the cast refuses (as if stored by an older build or
damaged on disk), a superuser-only helper of LANGUAGE internal (byteacat) makes an
ml.model without the cast's check.
"""
import random
import struct

import psycopg
import pytest

from hostile_values import (BOOLEAN, FLOAT8, INTEGER, TRAIN_TABLE, D0, GOOD_TREE, LOGREG, NAN, RAW, TEXT, assert_crc_is_xz, crc64, f64s,
                            guarded_database, linreg, logreg, model, mutate, reseal, seal, section, sqlstate, th,
                            trained_models, tree)

DB = "pgscore_hostile"


def crafted():
    """(name, value, SQLSTATE the cast must give)."""
    dag = [(0, th(0.5), 0, 1, 2), (1, th(1.5), 0, 3, 4), (0, th(0.2), 0, 3, 4), (-1, D0, 0, 0, -1), (-1, D0, 0, 1, -1)]
    orphan = [(0, th(0.5), 0, 1, 2), (-1, D0, 0, 0, -1), (-1, D0, 0, 1, -1), (-1, D0, 0, 2, -1), (-1, D0, 0, 3, -1)]
    back = [(0, th(0.5), 0, 1, 2), (1, th(1.5), 0, 0, 4), (-1, D0, 0, 0, -1), (-1, D0, 0, 1, -1), (-1, D0, 0, 2, -1)]
    far = [(0, th(0.5), 0, 1, 2), (1, th(1.5), 0, 3, 99), (-1, D0, 0, 0, -1), (-1, D0, 0, 1, -1), (-1, D0, 0, 2, -1)]
    nan_threshold = [(0, NAN, 0, 1, 2), (-1, D0, 0, 0, -1), (-1, D0, 0, 1, -1)]
    stump = [(0, th(0.5), 0, 1, 2), (-1, D0, 0, 0, -1), (-1, D0, 0, 1, -1)]
    good = linreg(2)
    core_end = 24 + 8 + 24  # first section header + a core without classes
    return [
        ("dag tree", tree(2, dag, [1.0, 2.0]), "22P03"),
        ("orphan node", tree(2, orphan, [1.0, 2.0, 3.0, 4.0]), "22P03"),
        ("child before parent (cycle)", tree(2, back, [1.0, 2.0, 3.0]), "22P03"),
        ("child out of range", tree(2, far, [1.0, 2.0, 3.0]), "22P03"),
        ("feature index beyond the features", tree(1, GOOD_TREE, [1.0, 2.0, 3.0]), "22P03"),
        ("65537-feature tree", tree(65537, stump, [1.0, 2.0]), "54000"),
        ("4000-feature linear model", linreg(4000), "54000"),
        ("3000 classes", logreg([f"c{i}" for i in range(3000)]), "54000"),
        ("NaN threshold", tree(2, nan_threshold, [1.0, 2.0]), "22P03"),
        ("infinite coefficient", linreg(2, coefficients=[1.0, float("inf")]), "22P03"),
        ("trailing bytes", reseal(good + b"\x00\x01"), "22P03"),
        ("trailing bytes in the core", linreg(2, core_tail=b"\x00"), "22P03"),
        ("section twice", linreg(2, extra_sections=section(4, 0, b"{}")), "22P03"),
        ("unknown optional section", linreg(2, extra_sections=section(9, 0, b"x")), "22P03"),
        ("unknown required section", linreg(2, extra_sections=section(9, 1, b"x")), "0A000"),
        ("non-zero reserved core byte", linreg(2, core_reserved=1), "22P03"),
        ("non-zero reserved header bytes", seal(good[24:], reserved1=1), "22P03"),
        ("non-zero reserved tree byte", tree(2, GOOD_TREE, [1.0, 2.0, 3.0], reserved=1), "22P03"),
        ("invalid UTF-8 label", logreg(["ok", b"\xff\xfe"]), "22P03"),
        ("NUL in a label", logreg(["ok", b"a\x00b"]), "22P03"),
        ("repeated label", logreg(["a", "a"]), "22P03"),
        ("boolean model labelled maybe", logreg(["false", "maybe"], label_kind=BOOLEAN), "22P03"),
        ("integer model labelled 1.5", logreg(["1", "1.5"], label_kind=INTEGER), "22P03"),
        ("info not JSON", linreg(2, info=b"{oops"), "22P03"),
        ("NUL in info", linreg(2, info=b'{"a":"\\u0000"}'), "22P03"),
        ("invalid UTF-8 info", linreg(2, info=b'{"a":"\xc3\x28"}'), "22P03"),
        ("preprocessing for 1 feature, model of 2",
         linreg(2, info=b'{"preprocess":{"columns":[{"name":"a","kind":"numeric"}]}}'), "22P03"),
        ("preprocessing column without a name",
         linreg(2, info=b'{"preprocess":{"columns":[{"name":"a","kind":"numeric"},{"kind":"numeric"}]}}'), "22P03"),
        ("truncated", good[:-3], "22P03"),
        ("truncated and resealed", reseal(good[:core_end + 4]), "22P03"),
        # the algorithm table (ScoreCore/Algorithm.swift) has no id 0 or 7: never scored as some other kernel
        ("algorithm id 0", model(0, FLOAT8, 2, [], f64s([0.25, 0.5, 0.5])), "0A000"),
        ("algorithm id 7", model(7, FLOAT8, 2, [], f64s([0.25, 0.5, 0.5])), "0A000"),
        ("probabilities of a leaf summing to 1.8",
         tree(2, stump, [0.9, 0.9, 0.5, 0.5], outputs=2, classes=["a", "b"], label_kind=TEXT), "22P03"),
    ]


# ------------------------------------------------------------------ server plumbing

@pytest.fixture(scope="module")
def db():
    with guarded_database(DB) as dsn:
        with psycopg.connect(dsn, autocommit=True) as c:
            c.execute(TRAIN_TABLE)
        yield dsn


@pytest.fixture
def conn(db):
    with psycopg.connect(db, autocommit=True) as c:
        c.execute("SET statement_timeout = '10s'")
        yield c


def every_use(conn, value, d):
    """Feeds a value, bypassing the cast, to every function that takes a model."""
    feats = "ARRAY[" + ",".join(["0.5"] * max(1, min(d, 1000))) + "]::float8[]"
    return {
        "describe": sqlstate(conn, f"SELECT ml.describe({RAW})", (value,)),
        "predict": sqlstate(conn, f"SELECT ml.predict({RAW}, {feats})", (value,)),
        "predict_proba": sqlstate(conn, f"SELECT ml.predict_proba({RAW}, {feats})", (value,)),
        "export_onnx": sqlstate(conn, f"SELECT length(ml.export_onnx({RAW}))", (value,)),
        "metrics_text": sqlstate(conn, f"SELECT ml.metrics({RAW}, {feats}, 'a') FROM generate_series(1, 3)", (value,)),
        "metrics_float": sqlstate(conn, f"SELECT ml.metrics({RAW}, {feats}, 1.5::float8) FROM generate_series(1, 3)", (value,)),
    }


# ------------------------------------------------------------------ tests

def test_crc_matches_the_codec(conn):
    assert_crc_is_xz()
    # a value built here is accepted: the helper follows the real format
    assert sqlstate(conn, "SELECT ml.describe(%s::bytea::ml.model)", (linreg(2),)) is None
    assert sqlstate(conn, "SELECT ml.describe(%s::bytea::ml.model)", (tree(2, GOOD_TREE, [1.0, 2.0, 3.0]),)) is None
    assert conn.execute("SELECT ml.predict(%s::bytea::ml.model, ARRAY[0.2, 2]::float8[])",
                        (tree(2, GOOD_TREE, [1.0, 2.0, 3.0]),)).fetchone()[0] == "3"


@pytest.mark.parametrize("name,value,code", crafted(), ids=[c[0] for c in crafted()])
def test_crafted_value_is_refused_everywhere(conn, name, value, code):
    assert sqlstate(conn, "SELECT %s::bytea::ml.model", (value,)) == code
    assert sqlstate(conn, "SELECT ml.describe(%s::bytea::ml.model)", (value,)) == code
    # every function decodes again, with the same answer
    for use, got in every_use(conn, value, 2).items():
        assert got == code, f"{use}: {got}"


def test_arrays_of_other_shapes_are_refused(conn):
    m = linreg(2)
    for arr in ["'{{1,2},{3,4}}'::float8[]", "'[0:1]={1,2}'::float8[]", "'[2:3]={1,2}'::float8[]"]:
        assert sqlstate(conn, f"SELECT ml.predict(%s::bytea::ml.model, {arr})", (m,)) == "2202E", arr
        assert sqlstate(conn, f"SELECT ml.predict_proba({RAW}, {arr})", (logreg(['a', 'b'], d=2),)) == "2202E", arr
    # also when read from a table (short varlena headers take another path)
    conn.execute("CREATE TEMP TABLE shapes (x float8[])")
    conn.execute("INSERT INTO shapes VALUES ('[0:1]={1,2}'), ('{{1,2}}'), ('{1,2}')")
    assert sqlstate(conn, "SELECT ml.predict(%s::bytea::ml.model, x) FROM shapes", (m,)) == "2202E"
    assert sqlstate(conn, "SELECT ml.metrics(%s::bytea::ml.model, x, 1.0::float8) FROM shapes", (m,)) == "2202E"
    assert sqlstate(conn, "SELECT ml.predict(%s::bytea::ml.model, x) FROM shapes WHERE x = '{1,2}'", (m,)) is None


def test_overflowing_predictions_are_out_of_range(conn):
    m = linreg(2, coefficients=[1e308, 1e308])
    assert sqlstate(conn, "SELECT ml.predict(%s::bytea::ml.model, ARRAY[10, 10]::float8[])", (m,)) == "22003"
    assert sqlstate(conn, "SELECT ml.metrics(%s::bytea::ml.model, ARRAY[10, 10]::float8[], 1.0::float8)", (m,)) == "22003"
    three = model(LOGREG, TEXT, 1, ["a", "b", "c"], struct.pack("<I", 3) + f64s([0, 0, 0]) + f64s([1e308, -1e308, 0]))
    assert sqlstate(conn, "SELECT ml.predict_proba(%s::bytea::ml.model, ARRAY[1e10]::float8[])", (three,)) == "22003"
    assert sqlstate(conn, "SELECT ml.predict(%s::bytea::ml.model, ARRAY[1e10]::float8[])", (three,)) == "22003"


def test_max_training_memory_is_superuser_only(conn):
    conn.execute("DROP ROLE IF EXISTS hostile_user")
    conn.execute("CREATE ROLE hostile_user")
    conn.execute("SELECT ml.describe(%s::bytea::ml.model)", (linreg(2),))   # the module is loaded
    try:
        conn.execute("SET ROLE hostile_user")
        assert sqlstate(conn, "SET pgscore.max_training_memory = '100GB'") == "42501"
        conn.execute("RESET ROLE")
        assert conn.execute("SHOW pgscore.max_training_memory").fetchone()[0] == "2GB"
    finally:
        conn.execute("RESET ROLE")
        conn.execute("DROP ROLE hostile_user")


def one_hot_model(columns, categories):
    """A linear model over `columns` categorical columns of `categories` categories each."""
    import json
    spec = {"preprocess": {"columns": [
        {"name": f"c{i}", "type": "text", "kind": "categorical",
         "categories": [f"v{j}" for j in range(categories)], "unknown": "ignore"} for i in range(columns)]}}
    d = columns * categories
    return linreg(d, info=json.dumps(spec).encode(), coefficients=[0.001 * (j % 7) for j in range(d)])


def deploy(conn, project, value):
    conn.execute("SELECT ml.create_project(%s, 'regression', 'manual')", (project,))
    conn.execute(
        "INSERT INTO ml.models (project_id, version, algorithm, hyperparams, label, label_type, features, source,"
        " train_rows, test_rows, fingerprint, feature_stats, key_metric, split, duration_ms, pgscore_version, model)"
        f" SELECT p.id, 1, 'linear_regression', '{{}}', 'y', 'float8', '[]', 'crafted', 1, 0, 'x', '{{}}', 'r2',"
        f" '{{}}', 0, 'test', {RAW} FROM ml.projects p WHERE p.name = %s", (value, project))
    conn.execute("SELECT ml._record_deployment(%s, 1, 'pinned', 'hostile test')", (project,))


def test_deployed_4000_feature_model_never_overflows(conn):
    value = one_hot_model(4, 1000)   # 4 categorical columns of 1000 categories: 4000 features
    assert sqlstate(conn, "SELECT %s::bytea::ml.model", (value,)) == "54000"
    deploy(conn, "wide", value)      # stored past the cast, as if damaged on disk
    conn.execute("CREATE TABLE wide_rows (c0 text, c1 text, c2 text, c3 text, out float8)")
    conn.execute("CREATE TRIGGER score BEFORE INSERT ON wide_rows FOR EACH ROW"
                 " EXECUTE FUNCTION ml._score_trigger('wide', 'out')")
    assert sqlstate(conn, "INSERT INTO wide_rows VALUES ('v1', 'v2', 'v3', 'v999')") == "54000"
    conn.execute("DROP TRIGGER score ON wide_rows")
    conn.execute("INSERT INTO wide_rows VALUES ('v1', 'v2', 'v3', 'v999')")
    assert sqlstate(conn, "SELECT ml.predict('wide', w) FROM wide_rows w") == "54000"
    assert sqlstate(conn, "SELECT ml.predict_proba('wide', w) FROM wide_rows w") == "54000"
    assert sqlstate(conn, """SELECT ml.predict('wide', '{"c0":"v1","c1":"v2","c2":"v3","c3":"v4"}'::jsonb)""") == "54000"
    assert sqlstate(conn, "SELECT ml.predict_encoded('wide', array_fill(0.0::float8, ARRAY[1000]))") == "54000"
    assert sqlstate(conn, "SELECT ml.predict_encoded('wide', array_fill(0.0::float8, ARRAY[4000]))") == "54000"
    # raw values too: the width is refused before the columns are looked at
    assert sqlstate(conn, "SELECT ml.predict('wide', array_fill(0.0::float8, ARRAY[4]))") == "54000"
    assert sqlstate(conn, "SELECT ml.score_on_insert('wide_rows', 'wide', 'out')") == "54000"


def test_deployed_model_at_the_feature_limit_scores_everywhere(conn):
    value = one_hot_model(1, 1000)   # exactly 1000 features
    assert sqlstate(conn, "SELECT %s::bytea::ml.model", (value,)) is None
    deploy(conn, "edge", value)
    conn.execute("CREATE TABLE edge_rows (c0 text, out float8)")
    conn.execute("SELECT ml.score_on_insert('edge_rows', 'edge', 'out')")
    conn.execute("INSERT INTO edge_rows (c0) VALUES ('v13'), ('v999'), (NULL), ('never seen')")
    got = [r[0] for r in conn.execute("SELECT out FROM edge_rows ORDER BY c0 NULLS LAST")]
    assert got == [0.25, 0.25 + 0.001 * (13 % 7), 0.25 + 0.001 * (999 % 7), 0.25]
    row = conn.execute("SELECT ml.predict('edge', e)::float8 FROM edge_rows e WHERE c0 = 'v13'").fetchone()[0]
    js = conn.execute("""SELECT ml.predict('edge', '{"c0":"v13"}'::jsonb)::float8""").fetchone()[0]
    arr = conn.execute("SELECT ml.predict_encoded('edge', array_fill(0.0::float8, ARRAY[1000]))::float8").fetchone()[0]
    assert (row, js, arr) == (got[1], got[1], 0.25)


def test_mutation_campaign(conn):
    """About 3,000 mutated values of real models, checksum recomputed: each is refused
    cleanly or works everywhere; none crashes or gives XX000."""
    models = trained_models(conn)
    seeds = list(models.values())
    rng = random.Random(20261203)
    accepted = refused = 0
    allowed = {"22P03", "54000", "0A000", "22023", "2202E", "22003", "42804", "22000", "0A000", "42883"}
    for i in range(3000):
        value = mutate(rng, rng.choice(seeds), seeds)
        code = sqlstate(conn, "SELECT %s::bytea::ml.model", (value,))
        if code is not None:
            assert code in {"22P03", "54000", "0A000"}, code
            refused += 1
            # the functions decode on their own: same refusal, no crash (a sample: all take the same path)
            if i % 10 == 0:
                assert sqlstate(conn, f"SELECT ml.predict({RAW}, ARRAY[0.1, 0.2, 0.3]::float8[])", (value,)) == code
            continue
        accepted += 1
        described = conn.execute("SELECT ml.describe(%s::bytea::ml.model)", (value,)).fetchone()[0]
        d = int(described["features"])
        for use, got in every_use(conn, value, d).items():
            assert got is None or got in allowed, f"{use}: {got}"
        # a value the cast accepts must also describe, score (or refuse the features cleanly) and export
        assert sqlstate(conn, f"SELECT ml.predict({RAW}, %s::float8[])", (value, [0.3] * d)) in (None, "22003", "22023")
    print(f"mutation campaign: {accepted} accepted, {refused} refused")
    assert accepted + refused == 3000
    assert accepted > 0 and refused > 0


def crc_twin(value: bytes, target: bytes) -> bytes:
    """`value` with low mantissa bits of its three coefficients changed so that its
    CRC-64 (hence its whole 24-byte header) equals `target`'s: CRC is affine over
    GF(2), so 96 free bits solve the 64 equations."""
    assert len(value) == len(target)
    body = bytearray(value[24:])
    coef = body.index(f64s([0.25])) + 8       # the intercept, then the coefficients
    bits = [(coef + k // 32 * 8) * 8 + k % 32 for k in range(96)]
    base = crc64(bytes(body))

    def flipped(bit):
        b = bytearray(body)
        b[bit // 8] ^= 1 << (bit % 8)
        return crc64(bytes(b)) ^ base

    want = struct.unpack("<Q", target[16:24])[0] ^ base
    rows = [(flipped(bit), 1 << k) for k, bit in enumerate(bits)]   # (crc delta, which bits)
    chosen = 0
    for pos in range(63, -1, -1):                                   # Gaussian elimination
        pivot = next((r for r in rows if r[0] >> pos & 1), None)
        if pivot is None:
            continue
        rows = [r if not r[0] >> pos & 1 or r is pivot else (r[0] ^ pivot[0], r[1] ^ pivot[1]) for r in rows]
        rows.remove(pivot)
        if want >> pos & 1:
            want ^= pivot[0]
            chosen ^= pivot[1]
    assert want == 0, "no solution"
    for k, bit in enumerate(bits):
        if chosen >> k & 1:
            body[bit // 8] ^= 1 << (bit % 8)
    return seal(bytes(body))


def test_models_with_the_same_crc_are_not_confused(conn):
    a = linreg(3, coefficients=[1.0, 2.0, 3.0])
    b = crc_twin(linreg(3, coefficients=[5.0, 6.0, 7.0]), a)
    assert a[:24] == b[:24] and a != b          # same length and checksum, other model
    conn.execute("CREATE TEMP TABLE twins (id int, m ml.model)")
    conn.execute("INSERT INTO twins VALUES (1, %s::bytea::ml.model), (2, %s::bytea::ml.model),"
                 " (3, %s::bytea::ml.model), (4, %s::bytea::ml.model)", (a, b, a, b))
    got = [float(r[0]) for r in conn.execute("SELECT ml.predict(m, ARRAY[1, 1, 1]::float8[]) FROM twins ORDER BY id")]
    assert got[0] == got[2] == 6.25 and got[1] == got[3] and abs(got[1] - 18.25) < 1e-6
    assert sqlstate(conn, "SELECT ml.metrics(m, ARRAY[1, 1, 1]::float8[], 1.0::float8) FROM twins") == "22023"
