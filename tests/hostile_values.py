"""Building blocks for tests that feed hostile values to pgscore (test_hostile_models.py,
test_sql_campaign.py): model values in the layout of Sources/ScoreCore/ModelCodec.swift
with their checksum recomputed, mutations of real models, the SQLSTATE check every
statement goes through, and a database guarded by a sentinel session and the server log
(a crashed backend makes the postmaster reset every session).
"""
import contextlib
import struct

import psycopg

from conftest import watched_database

# ------------------------------------------------------------------ the model format

_POLY = 0xC96C5795D7870F42  # CRC-64/XZ, reflected (Sources/ScoreCore/CRC64.swift)
_TABLE = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ _POLY if _c & 1 else _c >> 1
    _TABLE.append(_c)


def crc64(data: bytes) -> int:
    crc = 0xFFFFFFFFFFFFFFFF
    for b in data:
        crc = _TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFFFFFFFFFF


def assert_crc_is_xz():
    assert crc64(b"123456789") == 0x995DC9BBDF1939FA


def seal(body: bytes, version=1, reserved1=0, reserved2=0) -> bytes:
    """Header (magic, format, reserved, body length, reserved, CRC-64) + body."""
    return b"PGSM" + struct.pack("<HHII", version, reserved1, len(body), reserved2) + struct.pack("<Q", crc64(body)) + body


def reseal(value: bytes) -> bytes:
    """A value whose body was edited, with its length and checksum made right again."""
    if len(value) < 24:
        return value
    return value[:8] + struct.pack("<I", len(value) - 24) + value[12:16] + struct.pack("<Q", crc64(value[24:])) + value[24:]


def section(tag, flags, content: bytes) -> bytes:
    return struct.pack("<HHI", tag, flags, len(content)) + content


def f64s(values) -> bytes:
    return b"".join(struct.pack("<d", v) for v in values)


LINREG, LOGREG, NB, DTREE, FOREST, GBT = 1, 2, 3, 4, 5, 6
FLOAT8, BOOLEAN, INTEGER, TEXT = 0, 1, 2, 3


def model(algorithm, label_kind, d, classes, params: bytes, options=b"{}", info=b"{}", rows=10,
          core_reserved=0, extra_sections=b"", core_tail=b""):
    core = struct.pack("<HBBIQI", algorithm, label_kind, core_reserved, d, rows, len(classes))
    for c in classes:
        c = c.encode() if isinstance(c, str) else c
        core += struct.pack("<I", len(c)) + c
    body = (section(1, 1, core + core_tail) + section(2, 1, params) + section(3, 0, options)
            + section(4, 0, info) + extra_sections)
    return seal(body)


def linreg(d, info=b"{}", coefficients=None, **kw):
    coefficients = coefficients if coefficients is not None else [0.5] * d
    return model(LINREG, FLOAT8, d, [], f64s([0.25]) + f64s(coefficients), info=info, **kw)


def logreg(classes, d=1, label_kind=TEXT):
    rows = 1 if len(classes) == 2 else len(classes)
    params = struct.pack("<I", rows) + f64s([0.0] * rows) + f64s([1.0] * (rows * d))
    return model(LOGREG, label_kind, d, classes, params)


def tree(d, nodes, values, outputs=1, classes=(), label_kind=FLOAT8, algorithm=DTREE, importance=None,
         reserved=0):
    """nodes: (feature, threshold, missing_left, left, right) per node of one tree."""
    leaves = len(values) // outputs
    p = struct.pack("<BBHIIIII", 0, reserved, 0, outputs, outputs, 1, len(nodes), leaves)
    p += f64s([0.0] * outputs)
    p += struct.pack("<ii", 0, 0)
    for f, th, ml, l, r in nodes:
        p += struct.pack("<i", f) + th + struct.pack("<B", ml) + struct.pack("<ii", l, r)
    p += f64s(values)
    p += f64s(importance if importance is not None else [1.0] + [0.0] * (d - 1))
    return model(algorithm, label_kind, d, list(classes), p)


D0 = struct.pack("<d", 0.0)
NAN = struct.pack("<Q", 0x7FF8000000000000)


def th(v):
    return struct.pack("<d", v)


GOOD_TREE = [(0, th(0.5), 0, 1, 2), (1, th(1.5), 1, 3, 4), (-1, D0, 0, 0, -1), (-1, D0, 0, 1, -1), (-1, D0, 0, 2, -1)]


def sqlstate(conn, sql, params=()):
    """None when the statement succeeds, else its SQLSTATE (never XX000)."""
    try:
        cur = conn.execute(sql, params)
        rows = cur.fetchall() if cur.description is not None else []
    except psycopg.Error as e:
        assert e.sqlstate is not None, f"{sql}: connection lost? {e}"
        assert e.sqlstate != "XX000", f"{sql}: internal error {e}"
        assert not e.sqlstate.startswith("58"), f"{sql}: system error {e}"
        return e.sqlstate
    for row in rows:
        for v in row:
            if isinstance(v, str):
                assert "\x00" not in v
    return None


RAW = "public.hostile_raw(%s::bytea, ''::bytea)"


# 300 rows: three features, a 3-class text label k and a float label y (trained_models)
TRAIN_TABLE = ("CREATE TABLE train AS SELECT g AS id, sin(g) AS x1, cos(g * 1.3) AS x2, sin(g * 0.7) * 3 AS x3,"
               " CASE WHEN sin(g) + cos(g * 1.3) > 0.3 THEN 'hi' WHEN sin(g) > -0.2 THEN 'mid' ELSE 'lo' END AS k,"
               " 2 * sin(g) - cos(g * 1.3) + 0.1 * sin(g * 17) AS y FROM generate_series(1, 300) g")


def trained_models(conn):
    feats = "ARRAY[x1, x2, x3]"
    queries = {
        "linreg": f"SELECT ml.linreg_fit({feats}, y) FROM train",
        "logreg": f"SELECT ml.logreg_fit({feats}, k) FROM train",
        "nb": f"SELECT ml.nb_fit({feats}, k) FROM train",
        "tree": f"SELECT ml.tree_fit({feats}, k, '{{\"max_depth\": 4}}') FROM train",
        "forest": f"SELECT ml.forest_fit({feats}, k, '{{\"n_trees\": 4, \"max_depth\": 3}}') FROM train",
        "gbt": f"SELECT ml.gbt_fit({feats}, y, '{{\"n_trees\": 4, \"max_depth\": 3}}') FROM train",
        "gbt3": f"SELECT ml.gbt_fit({feats}, k, '{{\"n_trees\": 3, \"max_depth\": 2}}') FROM train",
    }
    out = {}
    for name, q in queries.items():
        out[name] = bytes(conn.execute(f"SELECT m::bytea FROM ({q}) s(m)").fetchone()[0])
    spec = ('{"preprocess":{"columns":[{"name":"x1","kind":"numeric","center":0.1,"scale":2},'
            '{"name":"x2","kind":"numeric"},{"name":"x3","kind":"numeric","keep_missing":true}]}}')
    out["gbt_pre"] = bytes(conn.execute("SELECT ml.with_info(%s::bytea::ml.model, %s::jsonb)::bytea",
                                        (out["gbt"], spec)).fetchone()[0])
    return out


def mutate(rng, value, seeds, start=24, seal=True):
    """1 to 3 edits from byte `start` on (24: past a model's header); `seal` recomputes
    a model's checksum so the damage reaches the decoder."""
    b = bytearray(value)
    for _ in range(rng.randint(1, 3)):
        at = rng.randrange(start, max(len(b), start + 1))
        op = rng.randrange(6)
        if op == 0 and at < len(b):
            b[at] ^= 1 << rng.randrange(8)
        elif op == 1 and at < len(b):
            b[at] = rng.randrange(256)
        elif op == 2:
            del b[at:]
        elif op == 3:
            other = rng.choice(seeds)
            start = rng.randrange(len(other))
            b[at:at] = other[start:start + rng.randrange(64)]
        elif op == 4 and at + 4 <= len(b):
            b[at:at + 4] = struct.pack("<I", rng.choice([0, 1, 2, 3, 0xFFFF, 0x10001, 0x7FFFFFFF, 0xFFFFFFFF, 1000, 1001]))
        else:
            del b[at:at + rng.randrange(16)]
    return reseal(bytes(b)) if seal else bytes(b)




@contextlib.contextmanager
def guarded_database(name):
    """A fresh database with the extension and the superuser-only hostile_raw helper
    (an ml.model without the cast's check, as if stored by an older build or damaged on
    disk), watched for crashes (conftest.watched_database)."""
    with watched_database(name) as dsn:
        with psycopg.connect(dsn, autocommit=True) as c:
            c.execute("CREATE FUNCTION public.hostile_raw(bytea, bytea) RETURNS ml.model"
                      " LANGUAGE internal IMMUTABLE STRICT AS 'byteacat'")
        yield dsn
