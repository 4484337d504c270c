"""The SQL-level campaign: more than 10,000 malformed values, from a fixed seed, through
every entry point that takes them, in batches (a plpgsql helper runs one statement per
value with its own exception block, so a batch of thousands is one round trip):

  models     mutated real models (checksum recomputed) through the cast, ml.describe,
             ml.predict, ml.predict_proba, ml.export_onnx, and deployed (stored past the
             cast) behind ml.predict(project, ...) and ml.export(project, version, format)
  arrays     feature arrays: several dimensions, lower bounds other than 1, NULLs,
             NaN/Infinity, empty, huge lengths
  options    options jsonb of every fit and hyperparams of ml.train
  rows       JSON rows for ml.predict(project, jsonb): nested, huge numbers, strings,
             unicode, \\u0000, duplicate keys, hexadecimal numbers
  sources    ml.train on an empty table, one row, one class, all-NULL columns, 1,001
             columns, 10,000 categories, labels of type numeric/date/jsonb/bytea/bool/interval

Every statement runs under a statement_timeout. Asserted: no crash (sentinel session and
server log, hostile_values.guarded_database), no XX000, no timeout, text results valid
UTF-8 without NUL, probabilities finite and summing to 1, and the documented refusals
(2202E for other array shapes, hexadecimal text is not a number). Counts per family are
printed (pytest -s) and the total is asserted.
"""
import json
import math
import random
import struct

import psycopg
import pytest

from hostile_values import TRAIN_TABLE, guarded_database, mutate, sqlstate, trained_models

DB = "pgscore_campaign"
SEED = 20261203
# the batches' own limit: a value that hangs fails its whole batch
BATCH_TIMEOUT = "60s"
# evaluations per family and statement, and distinct values per family
COUNTS = {}
DISTINCT = {}

HELPER = """
CREATE FUNCTION public.campaign(stmt text, vals text[]) RETURNS TABLE(i int, state text, result text)
LANGUAGE plpgsql AS $$
BEGIN
  FOR k IN 1 .. coalesce(array_length(vals, 1), 0) LOOP
    i := k;
    BEGIN
      EXECUTE stmt INTO result USING vals[k];
      state := 'ok';
    EXCEPTION WHEN OTHERS THEN
      state := SQLSTATE;
      result := SQLERRM;
    END;
    RETURN NEXT;
  END LOOP;
END $$;
"""


def run(conn, family, stmt, values):
    """Runs stmt ($1 = each value as text) for every value; returns [(state, result)].
    None of them may be an internal error, a timeout or text that is not clean."""
    rows = conn.execute("SELECT state, result FROM public.campaign(%s, %s) ORDER BY i", (stmt, values)).fetchall()
    assert len(rows) == len(values)
    for v, (state, result) in zip(values, rows):
        assert state != "XX000", f"{family}: internal error for {v[:200]!r}: {result}"
        assert state != "57014", f"{family}: timeout for {v[:200]!r}"
        assert not state.startswith("58"), f"{family}: system error {result}"
        if result is not None:
            assert "\x00" not in result
    count(family, len(values))
    return rows


def count(family, n):
    COUNTS[family] = COUNTS.get(family, 0) + n
    kind = family.split(":")[0]
    DISTINCT[kind] = max(DISTINCT.get(kind, 0), n)


def check_probabilities(family, rows):
    for state, result in rows:
        if state == "ok" and result is not None:
            p = [float(x) for x in result.strip("{}").split(",")]
            assert all(math.isfinite(x) and 0 <= x <= 1 for x in p), f"{family}: {result}"
            assert abs(sum(p) - 1) <= 1e-9, f"{family}: {result} sums to {sum(p)}"


@pytest.fixture(scope="module")
def db():
    with guarded_database(DB) as dsn:
        with psycopg.connect(dsn, autocommit=True) as c:
            c.execute(HELPER)
            c.execute(TRAIN_TABLE)
            c.execute("CREATE TABLE small AS SELECT * FROM train WHERE id <= 40")
        yield dsn
    print(f"\nSQL campaign: {sum(DISTINCT.values())} distinct values ("
          + ", ".join(f"{k} {v}" for k, v in sorted(DISTINCT.items())) + f"), {sum(COUNTS.values())} evaluations ("
          + ", ".join(f"{k} {v}" for k, v in sorted(COUNTS.items())) + ")")


@pytest.fixture
def conn(db):
    with psycopg.connect(db, autocommit=True) as c:
        c.execute(f"SET statement_timeout = '{BATCH_TIMEOUT}'")
        yield c


@pytest.fixture(scope="module")
def models(db):
    with psycopg.connect(db, autocommit=True) as c:
        return trained_models(c)


# ------------------------------------------------------------------ model values

def test_mutated_models_everywhere(conn, models):
    rng = random.Random(SEED)
    seeds = list(models.values())
    values = ["\\x" + mutate(rng, rng.choice(seeds), seeds).hex() for _ in range(4000)]
    raw = "public.hostile_raw($1::bytea, ''::bytea)"
    cast = run(conn, "models: cast", "SELECT ml.describe($1::bytea::ml.model)::text", values)
    for state, _ in cast:
        assert state in {"ok", "22P03", "54000", "0A000"}, state
    accepted = {v for v, (state, _) in zip(values, cast) if state == "ok"}
    feats = "array_fill(0.3::float8, ARRAY[3])"
    for use, stmt in [("describe", f"SELECT ml.describe({raw})::text"),
                      ("predict", f"SELECT ml.predict({raw}, {feats})"),
                      ("export_onnx", f"SELECT length(ml.export_onnx({raw}))::text")]:
        rows = run(conn, f"models: {use}", stmt, values)
        # a value the cast accepts can be described, scored (or its features refused) and exported
        for v, (state, result) in zip(values, rows):
            if v in accepted:
                assert state in {"ok", "2202E", "22003", "22023", "54000"}, f"{use}: {state} {result}"
    check_probabilities("models: predict_proba",
                        run(conn, "models: predict_proba", f"SELECT ml.predict_proba({raw}, {feats})::text", values))
    assert 0 < len(accepted) < len(values)


def test_deployed_crafted_models(conn, models):
    """Stored past the cast (as if damaged on disk) and deployed: the registry's
    ml.predict(project, ...) forms refuse them cleanly or score them."""
    rng = random.Random(SEED + 1)
    seeds = list(models.values())
    conn.execute("SELECT ml.create_project('crafted', 'regression', 'manual')")
    values = [mutate(rng, rng.choice(seeds), seeds) for _ in range(300)]
    for version, value in enumerate(values, start=1):
        conn.execute(
            "INSERT INTO ml.models (project_id, version, algorithm, hyperparams, label, label_type, features, source,"
            " train_rows, test_rows, fingerprint, feature_stats, key_metric, split, duration_ms, pgscore_version, model)"
            " SELECT p.id, %s, 'linear_regression', '{}', 'y', 'float8', '[]', 'crafted', 1, 0, 'x', '{}', 'r2',"
            " '{}', 0, 'test', public.hostile_raw(%s::bytea, ''::bytea) FROM ml.projects p WHERE p.name = 'crafted'",
            (version, value))
        conn.execute("SELECT ml._record_deployment('crafted', %s, 'pinned', 'campaign')", (version,))
        for sql in ["SELECT ml.predict('crafted', ARRAY[0.1, 0.2, 0.3]::float8[])",
                    "SELECT ml.predict_proba('crafted', ARRAY[0.1, 0.2, 0.3]::float8[])",
                    """SELECT ml.predict('crafted', '{"x1": 1, "x2": 2, "x3": 3}'::jsonb)""",
                    f"SELECT length(ml.export('crafted', {version}, 'onnx'))",
                    f"SELECT length(ml.export('crafted', {version}, 'json'))"]:
            sqlstate(conn, sql)
    count("deployed models: predict, predict_proba, jsonb, export onnx and json", len(values))


# ------------------------------------------------------------------ feature arrays

ELEMENTS = ["0.5", "-1", "0", "-0", "1e308", "-1e308", "1e-320", "NaN", "Infinity", "-Infinity", "NULL", "3"]


def random_array(rng):
    dims = rng.choice([1, 1, 1, 2, 3])
    lengths = [rng.choice([0, 1, 2, 3, 3, 3, 4, 1000, 1001, 5000]) if dims == 1 else rng.choice([1, 2, 3])
               for _ in range(dims)]
    lower = [rng.choice([1, 1, 1, 0, 2, -3]) for _ in range(dims)]

    def nest(level):
        if level == dims:
            return rng.choice(ELEMENTS) if rng.random() < 0.2 else "0.25"
        return "{" + ",".join(nest(level + 1) for _ in range(lengths[level])) + "}"
    body = nest(0)
    if lower == [1] * dims or 0 in lengths:
        return body, dims == 1 and lengths[0] > 0
    bounds = "".join(f"[{lo}:{lo + n - 1}]" for lo, n in zip(lower, lengths))
    return bounds + "=" + body, False


def test_feature_arrays(conn, models):
    rng = random.Random(SEED + 2)
    arrays = [random_array(rng) for _ in range(2500)]
    values = [a for a, _ in arrays]
    conn.execute("CREATE TABLE campaign_models AS SELECT %s::bytea::ml.model AS linreg, %s::bytea::ml.model AS logreg,"
                 " %s::bytea::ml.model AS tree, %s::bytea::ml.model AS gbt3",
                 (models["linreg"], models["logreg"], models["tree"], models["gbt3"]))
    conn.execute("SELECT ml.train('arrays', 'SELECT x1, x2, x3, k FROM train', 'k')")
    for name, stmt in [("predict linreg", "SELECT ml.predict(linreg, $1::float8[]) FROM campaign_models"),
                       ("predict tree", "SELECT ml.predict(tree, $1::float8[]) FROM campaign_models"),
                       ("proba logreg", "SELECT ml.predict_proba(logreg, $1::float8[])::text FROM campaign_models"),
                       ("proba gbt3", "SELECT ml.predict_proba(gbt3, $1::float8[])::text FROM campaign_models"),
                       ("project proba", "SELECT ml.predict_proba('arrays', $1::float8[])::text")]:
        rows = run(conn, f"arrays: {name}", stmt, values)
        if name.startswith(("proba", "project proba")):
            check_probabilities(name, rows)
        for (value, plain), (state, result) in zip(arrays, rows):
            # several dimensions or a lower bound other than 1: refused wherever features are taken
            if not plain and state == "ok" and result is not None:
                pytest.fail(f"{name}: {value[:80]} accepted: {result}")
    run(conn, "arrays: metrics", "SELECT ml.metrics(linreg, $1::float8[], 1.0::float8)::text FROM campaign_models",
        values[:500])


# ------------------------------------------------------------------ options

OPTION_KEYS = ["l2", "intercept", "max_iter", "tol", "nulls", "var_smoothing", "max_depth", "min_samples_leaf",
               "features_per_split", "max_bins", "seed", "n_trees", "learning_rate", "subsample", "lambda",
               "min_child_weight", "early_stopping_rounds", "validation_fraction", "scale", "unknown_categories",
               "bogus", ""]
OPTION_VALUES = [0, 1, 2, -1, 0.5, 1.5, 1e308, -1e308, 1e-320, 10001, 2 ** 63, "sqrt", "log2", "1", "", "skip",
                 "error", "missing", "ignore", None, True, False, [], {}, [1, 2], {"a": 1}, "\u00e9\u6f22\U0001F600"]


def random_options(rng):
    o = {}
    for _ in range(rng.randint(0, 4)):
        o[rng.choice(OPTION_KEYS)] = rng.choice(OPTION_VALUES)
    # tree sizes that stay small when valid: the campaign is about refusals, not long fits
    for key in ("n_trees", "max_depth", "max_bins", "max_iter"):
        if isinstance(o.get(key), (int, float)) and not isinstance(o.get(key), bool) and 3 < o[key] <= 10000:
            o[key] = 3
    text = json.dumps(o)
    return rng.choice([text, text, text, "[1]", '"x"', "null", "1e999", '{"l2": 1, "l2": 2}'])


def test_options(conn):
    rng = random.Random(SEED + 3)
    values = [random_options(rng) for _ in range(1800)]
    f = "ARRAY[x1, x2, x3]"
    for name, agg in [("linreg", f"ml.linreg_fit({f}, y, $1::jsonb)"), ("logreg", f"ml.logreg_fit({f}, k, $1::jsonb)"),
                      ("nb", f"ml.nb_fit({f}, k, $1::jsonb)"), ("tree", f"ml.tree_fit({f}, k, $1::jsonb)"),
                      ("forest", f"ml.forest_fit({f}, y, $1::jsonb)"), ("gbt", f"ml.gbt_fit({f}, k, $1::jsonb)")]:
        run(conn, f"options: {name}", f"SELECT length(({agg})::bytea)::text FROM small", values[:300] if name in
            ("forest", "gbt") else values)
    run(conn, "options: ml.train hyperparams",
        "SELECT (ml.train('opts', 'SELECT x1, x2, x3, k FROM small', 'k', 'decision_tree', $1::jsonb)).version::text",
        values[:60])


# ------------------------------------------------------------------ JSON rows

ROW_VALUES = ['1', '-0', '1e308', '1e400', '-1e400', '123456789012345678901234567890', '0.5', 'true', 'false', 'null',
              '"7"', '" 7 "', '"0x10"', '"0x1p3"', '"1e5"', '"NaN"', '"Infinity"', '"inf"', '"?"', '""', '"hi"', '"lo"',
              '"\\u00e9\\u6f22"', '"\\ud83d\\ude00"', '"\\u0000"', '"a\\u0000b"', '[1, 2]', '{"x1": 1}', '[[[]]]',
              '{}', '"' + "x" * 5000 + '"']


def random_row(rng):
    keys = ["x1", "x2", "x3", "k", "X1", "x1 ", "", "\u00e9", "extra"]
    members = [f'{json.dumps(rng.choice(keys))}: {rng.choice(ROW_VALUES)}' for _ in range(rng.randint(0, 6))]
    if rng.random() < 0.1:
        members.append('"x1": 1')  # duplicate keys: jsonb keeps the last
    return "{" + ", ".join(members) + "}" if rng.random() > 0.05 else rng.choice(["[]", "1", '"x"', "null"])


def test_json_rows(conn):
    rng = random.Random(SEED + 4)
    conn.execute("CREATE TABLE rows_src AS SELECT x1, x2::text AS x2, x3, k, y FROM train")
    conn.execute("UPDATE rows_src SET x2 = '?' WHERE x1 > 0.9")
    conn.execute("SELECT ml.train('rows_reg', 'SELECT x1, x2, x3, k, y FROM rows_src', 'y', hyperparams => '{\"l2\": 1}')")
    conn.execute("SELECT ml.train('rows_cls', 'SELECT x1, x2, x3, y, k FROM rows_src', 'k', 'gradient_boosting',"
                 " '{\"n_trees\": 3, \"max_depth\": 2}')")
    values = [random_row(rng) for _ in range(2000)]
    run(conn, "rows: predict", "SELECT ml.predict('rows_reg', $1::jsonb)", values)
    check_probabilities("rows: predict_proba",
                        run(conn, "rows: predict_proba", "SELECT ml.predict_proba('rows_cls', $1::jsonb)::text", values))
    # hexadecimal text is not a number, in a numeric column stored as text
    for text in ["0x10", "0x1p3", " 0X1A "]:
        code = sqlstate(conn, "SELECT ml.predict('rows_reg', %s::jsonb)",
                        (json.dumps({"x1": 0.1, "x2": text, "x3": 0.2, "k": "hi"}),))
        assert code == "22023", f"{text!r}: {code}"


# ------------------------------------------------------------------ training sources

def test_training_sources(conn):
    conn.execute("CREATE TABLE src_empty (x float8, y float8)")
    conn.execute("CREATE TABLE src_one AS SELECT 1.0::float8 AS x, 2.0::float8 AS y")
    conn.execute("CREATE TABLE src_one_class AS SELECT g::float8 AS x, true AS y FROM generate_series(1, 50) g")
    conn.execute("CREATE TABLE src_nulls AS SELECT NULL::float8 AS x, NULL::text AS t, g::float8 AS y"
                 " FROM generate_series(1, 50) g")
    conn.execute("CREATE TABLE src_all_null AS SELECT NULL::float8 AS x, NULL::float8 AS y FROM generate_series(1, 50)")
    cols = ", ".join(f"(g * {i % 13 + 1}) % 17 + {i} * 0.001 AS c{i}" for i in range(1001))
    conn.execute(f"CREATE TABLE src_wide AS SELECT {cols}, g % 2 = 0 AS y FROM generate_series(1, 30) g")
    conn.execute("CREATE TABLE src_categories AS SELECT 'cat' || g AS c, g % 3 AS n, g::float8 AS x, g % 2 = 0 AS y"
                 " FROM generate_series(1, 10000) g")
    labels = {"numeric": "(g % 5)::numeric", "date": "date '2020-01-01' + g % 4", "jsonb": "jsonb_build_object('a', g % 3)",
              "bytea": "decode(to_hex(g % 3 + 16), 'hex')", "bool": "g % 2 = 0", "interval": "make_interval(days => g % 3)",
              "float8_nan": "CASE WHEN g = 7 THEN 'NaN'::float8 ELSE g::float8 END",
              "float8_inf": "CASE WHEN g = 7 THEN 'Infinity'::float8 ELSE g::float8 END",
              "text_nul_free": "'l' || g % 3"}
    for name, expr in labels.items():
        conn.execute(f"CREATE TABLE src_label_{name} AS SELECT sin(g) AS x1, cos(g) AS x2, {expr} AS y"
                     " FROM generate_series(1, 60) g")
    cases = [("src_empty", "y", None), ("src_one", "y", None), ("src_one_class", "y", None), ("src_nulls", "y", None),
             ("src_all_null", "y", None), ("src_wide", "y", None), ("src_categories", "y", None),
             ("src_categories", "c", None), ("SELECT x, y FROM src_one WHERE false", "y", None),
             ("src_one_class", "y", "decision_tree"), ("src_nulls", "y", "gradient_boosting")]
    cases += [(f"src_label_{name}", "y", None) for name in labels]
    cases += [(f"src_label_{name}", "y", "random_forest") for name in ("numeric", "date", "bool")]
    outcomes = {}
    for i, (source, label, algorithm) in enumerate(cases):
        conn.execute("SET statement_timeout = '60s'")
        code = sqlstate(conn, "SELECT * FROM ml.train(%s, %s, %s, %s, '{\"n_trees\": 3}'::jsonb)"
                        if algorithm in ("random_forest", "gradient_boosting") else
                        "SELECT * FROM ml.train(%s, %s, %s, %s)", (f"src{i}", source, label, algorithm))
        assert code != "57014", f"{source}: timeout"
        outcomes[f"{source}/{label}/{algorithm or 'default'}"] = code or "ok"
    count("sources: ml.train", len(cases))
    print("\nml.train sources: " + ", ".join(f"{k}={v}" for k, v in outcomes.items()))
    # the documented outcomes
    assert outcomes["src_empty/y/default"] != "ok"
    assert outcomes["src_one_class/y/default"] != "ok"
    assert outcomes["src_wide/y/default"] == "54000"


# ------------------------------------------------------------------ training states

STATE_SEEDS = {
    "linreg": "ml.linreg_fit_state(ARRAY[x1, x2, x3], y, '{\"l2\": 0.5}')",
    "logreg": "ml.logreg_fit_state(ARRAY[x1, x2, x3], k)",
    "nb": "ml.nb_fit_state(ARRAY[x1, x2, x3], k)",
    "nb_bool": "ml.nb_fit_state(ARRAY[x1, x2, x3], y > 0)",
    "tree": "ml.tree_fit_state(ARRAY[x1, x2, x3], k, '{\"max_depth\": 3}')",
    "tree_float": "ml.tree_fit_state(ARRAY[x1, x2, x3], y)",
    "forest": "ml.forest_fit_state(ARRAY[x1, x2, x3], id, '{\"n_trees\": 2}')",
    "gbt": "ml.gbt_fit_state(ARRAY[x1, NULL, x3], y, '{\"n_trees\": 2}')",
}


def test_damaged_states(conn):
    """ml.fit_state values are user input: mutated states of every fit through
    ml.combine_states and ml.merge_states are refused with 22P03 (or the fit's own
    documented errors), never XX000 or a crash."""
    rng = random.Random(SEED + 17)
    seeds = [bytes(conn.execute(f"SELECT {q}::bytea FROM small").fetchone()[0]) for q in STATE_SEEDS.values()]
    # mostly past the 8-byte header (the state itself), sometimes the header too
    values = ["\\x" + mutate(rng, rng.choice(seeds), seeds, start=rng.choice([0, 8, 8, 8, 24]), seal=False).hex()
              for _ in range(3000)]
    combined = run(conn, "states: combine_states",
                   "SELECT ml.describe(ml.combine_states(s))::text FROM (VALUES ($1::bytea::ml.fit_state)) v(s)", values)
    states = {state for state, _ in combined}
    # 22000 and 22023: a state whose sums are valid numbers but no fit (collinear features)
    assert states <= {"ok", "22P03", "54000", "22000", "22023", "2202E", "22003"}, states
    assert "22P03" in states and "ok" in states, states
    merged = run(conn, "states: merge_states",
                 "SELECT ml.describe(ml.combine_states(m))::text FROM"
                 " (SELECT ml.merge_states(s) FROM (VALUES ($1::bytea::ml.fit_state), ($1::bytea::ml.fit_state)) v(s)) q(m)",
                 values)
    for (a, _), (b, result) in zip(combined, merged):
        # a state read once is read twice: merging it with itself changes no verdict on its bytes
        assert (a == "22P03") == (b == "22P03"), (a, b, result)


def test_state_fields(conn):
    """Every 4- and 8-byte field position of each seed state (past the 8-byte header, up
    to 160 bytes) set to boundary values, as integers and as doubles: the same
    verdicts as the random mutations allow."""
    seeds = [bytes(conn.execute(f"SELECT {q}::bytea FROM small").fetchone()[0]) for q in STATE_SEEDS.values()]
    ints = [0, 1, -1, 2, 255, 1000, 1001, 2**31 - 1, -2**31]
    longs = [0, -1, 2**53, 2**53 + 1, 2**62, 2**63 - 1]
    doubles = [float("nan"), float("inf"), -float("inf"), -1.0, 0.5, 1e308, float(2**63), 0.0]
    values = set()
    for seed in seeds:
        for at in range(8, min(len(seed), 160)):
            for v in ints:
                b = bytearray(seed)
                b[at:at + 4] = struct.pack("<i", v)
                values.add(bytes(b))
            if at % 4 == 0:
                for fmt, vs in (("<q", longs), ("<d", doubles)):
                    for v in vs:
                        b = bytearray(seed)
                        b[at:at + 8] = struct.pack(fmt, v)
                        values.add(bytes(b))
    values = ["\\x" + v.hex() for v in sorted(values)]
    rows = run(conn, "states: fields",
               "SELECT ml.describe(ml.combine_states(s))::text FROM (VALUES ($1::bytea::ml.fit_state)) v(s)", values)
    states = {state for state, _ in rows}
    assert states <= {"ok", "22P03", "54000", "22000", "22023", "2202E", "22003"}, states


def test_campaign_size(db):
    """Runs last in the module: the campaign fed at least 10,000 distinct values."""
    assert sum(DISTINCT.values()) >= 10_000, DISTINCT
