#!/usr/bin/env python3
"""Regenerates the fuzzers' seed corpus from real models: trains one model of each
algorithm on the heart data with the installed extension (the aggregates, and ml.train
for models with a preprocessing spec), then writes

  fuzz/corpus/model/<name>.pgsm       the model bytes (model::bytea)
  fuzz/corpus/json/<name>.json        ml.describe of each model, and JSON edge cases
  fuzz/corpus/preprocess/<name>.json  the info JSON of the ml.train models

Needs a server with the extension (PG* environment, e.g. eval "$(tools/pgcluster.sh env)");
works in a scratch database it drops at the end.
"""
import os
import pathlib

import psycopg

HERE = pathlib.Path(__file__).resolve().parent
DATA = HERE.parent / "data" / "heart" / "processed.cleveland.data"
DB = "pgscore_fuzz_corpus"
FEATS = "ARRAY[age, sex, cp, trestbps, chol, fbs, restecg, thalach, exang, oldpeak, slope]"

AGGREGATES = {
    "linreg": f"ml.linreg_fit({FEATS}, chol)",
    "logreg_binary": f"ml.logreg_fit({FEATS}, num > 0)",
    "logreg_multi": f"ml.logreg_fit({FEATS}, num)",
    "naive_bayes": f"ml.nb_fit({FEATS}, num::text)",
    "tree_class": f"ml.tree_fit({FEATS}, num > 0, '{{\"max_depth\": 4}}')",
    "tree_regression": f"ml.tree_fit({FEATS}, thalach::float8, '{{\"max_depth\": 3}}')",
    "forest": f"ml.forest_fit({FEATS}, num, '{{\"n_trees\": 3, \"max_depth\": 3}}')",
    "gbt_binary": f"ml.gbt_fit({FEATS}, num > 0, '{{\"n_trees\": 3, \"max_depth\": 2}}')",
    "gbt_multi": f"ml.gbt_fit({FEATS}, num, '{{\"n_trees\": 2, \"max_depth\": 2}}')",
    "gbt_regression": f"ml.gbt_fit({FEATS}, oldpeak, '{{\"n_trees\": 3, \"max_depth\": 2}}')",
}
# small trees: short seeds keep the fuzzer fast
TRAINED = {"logistic_regression": "{}", "naive_bayes": "{}", "decision_tree": '{"max_depth": 3}',
           "random_forest": '{"n_trees": 3, "max_depth": 3}', "gradient_boosting": '{"n_trees": 3, "max_depth": 2}'}
JSON_EDGES = {
    "edge_unicode": '{"k\\u00e9": ["\\ud83d\\ude00", "\\n\\t", -0.0, 1e308, 5e-324]}',
    "edge_nested": "[[[[[[[[{}]]]]]]]]",
    "edge_literals": '{"a": true, "b": false, "c": null, "d": 12345678901234567890}',
}


def dsn(dbname):
    return psycopg.conninfo.make_conninfo(host=os.environ.get("PGHOST", "127.0.0.1"),
                                          port=os.environ.get("PGPORT", "55432"),
                                          user=os.environ.get("PGUSER", "pgscore"), dbname=dbname)


def write(kind, name, data: bytes):
    d = HERE / "corpus" / kind
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data)


def main():
    with psycopg.connect(dsn("postgres"), autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {DB}")
    try:
        with psycopg.connect(dsn(DB), autocommit=True) as c:
            c.execute("CREATE EXTENSION pgscore")
            c.execute("CREATE TABLE heart (age float8, sex float8, cp float8, trestbps float8, chol float8, fbs float8,"
                      " restecg float8, thalach float8, exang float8, oldpeak float8, slope float8, ca text, thal text, num int)")
            with c.cursor().copy("COPY heart FROM STDIN WITH (FORMAT csv)") as cp:
                cp.write(DATA.read_bytes())
            c.execute("CREATE VIEW heart_labelled AS SELECT *, num > 0 AS sick FROM heart")
            for name, agg in AGGREGATES.items():
                m, d = c.execute(f"SELECT m::bytea, ml.describe(m)::text FROM (SELECT {agg} FROM heart) s(m)").fetchone()
                write("model", f"{name}.pgsm", bytes(m))
                write("json", f"describe_{name}.json", d.encode())
            for algo, hyperparams in TRAINED.items():
                c.execute("SELECT ml.train(%s, 'heart_labelled', 'sick', %s, %s::jsonb, exclude => ARRAY['num'])",
                          (f"fuzz_{algo}", algo, hyperparams))
                m, d = c.execute("SELECT m.model::bytea, ml.describe(m.model)::text FROM ml.models m"
                                 " JOIN ml.projects p ON p.id = m.project_id WHERE p.name = %s", (f"fuzz_{algo}",)).fetchone()
                info = c.execute("SELECT (ml.describe(%s::bytea::ml.model)->'info')::text", (m,)).fetchone()[0]
                write("model", f"train_{algo}.pgsm", bytes(m))
                write("json", f"describe_train_{algo}.json", d.encode())
                write("preprocess", f"{algo}.json", info.encode())
        for name, text in JSON_EDGES.items():
            write("json", f"{name}.json", text.encode())
    finally:
        with psycopg.connect(dsn("postgres"), autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")


if __name__ == "__main__":
    main()
