-- Tree models: ml.tree_fit, ml.forest_fit, ml.gbt_fit on the UCI heart data (with its
-- missing values), scoring with ml.predict / ml.predict_proba / ml.metrics, GROUP BY
-- and parallel plans equal to serial runs, options and bad input.
\getenv helpers PG_ABS_SRCDIR
\set helpers :helpers '/data/helpers.sql'
\set ECHO none
\i :helpers
\set ECHO all
\getenv srcdir PG_ABS_SRCDIR
-- \copy does not expand psql variables, so work relative to the input dir
\cd :srcdir
CREATE TABLE trees_heart (
    age float8, sex float8, cp float8, trestbps float8, chol float8, fbs float8,
    restecg float8, thalach float8, exang float8, oldpeak float8, slope float8,
    ca float8, thal float8, num int,
    id bigserial);
\copy trees_heart (age, sex, cp, trestbps, chol, fbs, restecg, thalach, exang, oldpeak, slope, ca, thal, num) FROM '../../data/heart/processed.cleveland.data' WITH (FORMAT csv, NULL '?')
-- all 303 rows: 6 have a NULL ca or thal, which the trees take as missing values
CREATE TABLE trees_ht AS
SELECT id, sex, num, num > 0 AS sick, thalach,
       ARRAY[age, sex, cp, trestbps, chol, fbs, restecg, thalach, exang, oldpeak, slope, ca, thal] AS f,
       ARRAY[age, sex, cp, trestbps, chol, fbs, restecg, exang, oldpeak, slope, ca, thal] AS f12
  FROM trees_heart;
SELECT count(*) AS rows, count(*) FILTER (WHERE array_position(f, NULL) IS NOT NULL) AS rows_with_null FROM trees_ht;

-- A small tree, read whole. (scikit-learn's DecisionTreeClassifier(max_depth=2) on the
-- complete rows grows the same splits and importances; trees compare there exactly
-- because every heart feature has fewer than 255 distinct values.)
SELECT jsonb_pretty(ml.describe(ml.tree_fit(f, sick, '{"max_depth": 2}')) - 'options')
  FROM trees_ht WHERE array_position(f, NULL) IS NULL;

-- The three algorithms, classification (boolean, integer with 5 classes) and regression.
CREATE TABLE trees_models AS
SELECT 'tree'::text AS name, ml.tree_fit(f, sick, '{"max_depth": 4}') AS model FROM trees_ht
UNION ALL SELECT 'forest', ml.forest_fit(f, sick, '{"n_trees": 30, "seed": 7}') FROM trees_ht
UNION ALL SELECT 'gbt', ml.gbt_fit(f, sick) FROM trees_ht
UNION ALL SELECT 'gbt_es', ml.gbt_fit(f, sick, '{"n_trees": 500, "early_stopping_rounds": 10, "learning_rate": 0.3}') FROM trees_ht
UNION ALL SELECT 'tree5', ml.tree_fit(f, num, '{"max_depth": 5}') FROM trees_ht
UNION ALL SELECT 'forest5', ml.forest_fit(f, num, '{"n_trees": 30}') FROM trees_ht
UNION ALL SELECT 'gbt5', ml.gbt_fit(f, num, '{"n_trees": 30}') FROM trees_ht
UNION ALL SELECT 'tree_reg', ml.tree_fit(f12, thalach, '{"max_depth": 4}') FROM trees_ht
UNION ALL SELECT 'forest_reg', ml.forest_fit(f12, thalach, '{"n_trees": 30, "min_samples_leaf": 5}') FROM trees_ht
UNION ALL SELECT 'gbt_reg', ml.gbt_fit(f12, thalach, '{"n_trees": 50, "max_depth": 3}') FROM trees_ht;
SELECT name, d ->> 'algorithm' AS algorithm, d ->> 'label_type' AS label_type, d -> 'classes' AS classes,
       (d ->> 'training_rows')::int AS rows, (d ->> 'n_trees')::int AS trees, d -> 'depth' ->> 'max' AS max_depth,
       round((SELECT sum(v::float8) FROM jsonb_array_elements_text(d -> 'feature_importance') v)::numeric, 12) AS importance_sum
  FROM trees_models, ml.describe(model) d ORDER BY name;
-- early stopping kept fewer rounds than asked for
SELECT (ml.describe(model) ->> 'rounds')::int < 500 AS stopped_early FROM trees_models WHERE name = 'gbt_es';

-- Training accuracy (classifiers) and R² (regressors) with ml.metrics, which takes the
-- NULL features of tree models as missing values, like training.
SELECT name, round((m ->> 'accuracy')::numeric, 4) AS accuracy, (m ->> 'rows')::int AS rows
  FROM trees_models, LATERAL (SELECT ml.metrics(trees_models.model, trees_ht.f, CASE WHEN trees_models.name LIKE '%5' THEN trees_ht.num::text ELSE trees_ht.sick::text END) AS m
                      FROM trees_ht) s
 WHERE name NOT LIKE '%reg' ORDER BY name;
SELECT name, round((m ->> 'r2')::numeric, 4) AS r2, (m ->> 'rows')::int AS rows
  FROM trees_models, LATERAL (SELECT ml.metrics(trees_models.model, trees_ht.f12, trees_ht.thalach) AS m FROM trees_ht) s
 WHERE name LIKE '%reg' ORDER BY name;

-- predict and predict_proba agree with each other; probabilities sum to 1
SELECT name, bool_and(abs((SELECT sum(p) FROM unnest(ml.predict_proba(model, f)) p) - 1) < 1e-12) AS sums_to_one,
       bool_and(ml.predict(model, f) = (ml.describe(model) -> 'classes' ->> (
                  SELECT (array_position(pr, (SELECT max(x) FROM unnest(pr) x)) - 1) FROM (SELECT ml.predict_proba(model, f) pr) q))) AS argmax
  FROM trees_models, trees_ht WHERE name IN ('tree', 'forest', 'gbt', 'tree5', 'forest5', 'gbt5') GROUP BY name ORDER BY name;
-- a NaN feature is a missing value in ml.predict too; Infinity is an error
SELECT ml.predict(model, ARRAY[63, 1, 1, 145, 233, 1, 2, 150, 0, 2.3, 3, 'NaN', 'NaN']) AS missing_ca_thal,
       ml.predict(model, ARRAY['NaN', 'NaN', 'NaN', 'NaN', 'NaN', 'NaN', 'NaN', 'NaN', 'NaN', 'NaN', 'NaN', 'NaN', 'NaN']::float8[]) AS all_missing
  FROM trees_models WHERE name = 'gbt';
SELECT pg_temp.try($$SELECT ml.predict(model, ARRAY[63, 1, 1, 145, 233, 1, 2, 150, 0, 2.3, 3, 'Infinity', 3]) FROM trees_models WHERE name = 'gbt'$$);
SELECT pg_temp.try($$SELECT ml.predict_proba(model, f12) FROM trees_models, trees_ht WHERE name = 'gbt_reg' LIMIT 1$$);
SELECT ml.predict(model, ARRAY[63, 1, 1, 145, 233, 1, 2, 0, 2.3, 3, 0, 6])::float8 BETWEEN 60 AND 210 AS plausible FROM trees_models WHERE name = 'gbt_reg';

-- Same rows, same options: the same model, whatever the order of the rows.
SELECT (SELECT ml.forest_fit(f, sick, '{"n_trees": 10}') FROM trees_ht)::bytea
     = (SELECT ml.forest_fit(f, sick, '{"n_trees": 10}') FROM (SELECT * FROM trees_ht ORDER BY random()) r)::bytea AS order_independent,
       (SELECT ml.forest_fit(f, sick, '{"n_trees": 10}') FROM trees_ht)::bytea
     = (SELECT ml.forest_fit(f, sick, '{"n_trees": 10, "seed": 1}') FROM trees_ht)::bytea AS same_for_another_seed;

-- GROUP BY: one model per group, each the same as a run over that group alone
CREATE TEMP TABLE per_sex AS
SELECT sex, ml.tree_fit(f, sick) AS tree, ml.forest_fit(f, sick, '{"n_trees": 10}') AS forest,
       ml.gbt_fit(f12, thalach, '{"n_trees": 10}') AS gbt FROM trees_ht GROUP BY sex;
SELECT count(*) AS groups,
       bool_and(tree::bytea = (SELECT ml.tree_fit(f, sick)::bytea FROM trees_ht WHERE trees_ht.sex = p.sex)) AS trees_equal,
       bool_and(forest::bytea = (SELECT ml.forest_fit(f, sick, '{"n_trees": 10}')::bytea FROM trees_ht WHERE trees_ht.sex = p.sex)) AS forests_equal,
       bool_and(gbt::bytea = (SELECT ml.gbt_fit(f12, thalach, '{"n_trees": 10}')::bytea FROM trees_ht WHERE trees_ht.sex = p.sex)) AS gbts_equal
  FROM per_sex p;

-- Parallel plans give the same models as serial ones, bit for bit (training sorts the
-- rows canonically), with missing values, text labels and float8 labels.
CREATE TABLE trees_par AS
SELECT i, ARRAY[x1, CASE WHEN i % 17 = 0 THEN NULL ELSE x2 END, x3, round(x4 * 4)] AS f,
       3 * x1 * x1 - 2 * x2 + CASE WHEN x3 > 0 THEN 1 ELSE 0 END + 0.1 * sin(i * 7.0) AS y,
       (ARRAY['lo', 'mid', 'hi'])[1 + (abs(x1 * 1000)::bigint + i) % 3] AS s,
       x1 + x2 * x3 > 0 AS c
  FROM (SELECT i, sin(i) AS x1, cos(i * 1.3) AS x2, sin(i * 0.7) * 3 AS x3, cos(i * 0.1) AS x4
          FROM generate_series(1, 20000) i) q;
ANALYZE trees_par;
SET max_parallel_workers_per_gather = 0;
CREATE TEMP TABLE tserial AS
SELECT ml.tree_fit(f, c, '{"max_depth": 8}')::bytea AS tree, ml.forest_fit(f, s, '{"n_trees": 5, "max_depth": 8}')::bytea AS forest,
       ml.gbt_fit(f, y, '{"n_trees": 10, "subsample": 0.8}')::bytea AS gbt, ml.gbt_fit(f, s, '{"n_trees": 5}')::bytea AS gbt3
  FROM trees_par;
SET max_parallel_workers_per_gather = 2;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET parallel_leader_participation = off;
SELECT pg_temp.plan_has('SELECT ml.gbt_fit(f, y) FROM trees_par', 'Partial Aggregate') AS partial_aggregate,
       pg_temp.plan_has('SELECT ml.gbt_fit(f, y) FROM trees_par', 'Workers Planned: 2') AS two_workers;
CREATE TEMP TABLE tparallel AS
SELECT ml.tree_fit(f, c, '{"max_depth": 8}')::bytea AS tree, ml.forest_fit(f, s, '{"n_trees": 5, "max_depth": 8}')::bytea AS forest,
       ml.gbt_fit(f, y, '{"n_trees": 10, "subsample": 0.8}')::bytea AS gbt, ml.gbt_fit(f, s, '{"n_trees": 5}')::bytea AS gbt3
  FROM trees_par;
SELECT p.tree = s.tree AS tree_equal, p.forest = s.forest AS forest_equal, p.gbt = s.gbt AS gbt_equal,
       p.gbt3 = s.gbt3 AS softmax_equal
  FROM tparallel p, tserial s;
RESET ALL;

-- Label types: integer and smallint labels train classifiers (not regressions), numeric a regression.
SELECT ml.describe(ml.tree_fit(f, num::int)) ->> 'label_type' AS int_label,
       ml.describe(ml.tree_fit(f, num::smallint)) ->> 'label_type' AS smallint_label,
       ml.describe(ml.tree_fit(f, num::numeric)) ->> 'label_type' AS numeric_label,
       ml.describe(ml.tree_fit(f, 'c' || num)) -> 'classes' AS text_classes
  FROM trees_ht;

-- NULL elements: missing values by default, or skipped, or an error, as the options say
SELECT (ml.describe(ml.gbt_fit(f, sick, '{"n_trees": 2}')) ->> 'training_rows')::int AS missing_rows,
       (ml.describe(ml.gbt_fit(f, sick, '{"n_trees": 2, "nulls": "skip"}')) ->> 'training_rows')::int AS skipped_rows
  FROM trees_ht;
\pset tuples_only on
\pset format unaligned
SELECT pg_temp.try($$SELECT ml.tree_fit(f, sick, '{"nulls": "error"}') FROM trees_ht$$);
-- bad options
SELECT pg_temp.try($$SELECT ml.tree_fit(f, sick, '{"n_trees": 5}') FROM trees_ht$$);
SELECT pg_temp.try($$SELECT ml.forest_fit(f, sick, '{"n_trees": 0}') FROM trees_ht$$);
SELECT pg_temp.try($$SELECT ml.gbt_fit(f, sick, '{"learning_rate": 2}') FROM trees_ht$$);
SELECT pg_temp.try($$SELECT ml.gbt_fit(f, sick, '{"max_depth": 2.5}') FROM trees_ht$$);
SELECT pg_temp.try($$SELECT ml.gbt_fit(f, sick, '{"subsample": 0}') FROM trees_ht$$);
SELECT pg_temp.try($$SELECT ml.gbt_fit(f, sick, '{"lambda": -1}') FROM trees_ht$$);
SELECT pg_temp.try($$SELECT ml.gbt_fit(f, sick, '{"max_bins": 1000}') FROM trees_ht$$);
SELECT pg_temp.try($$SELECT ml.forest_fit(f, sick, '{"features_per_split": "half"}') FROM trees_ht$$);
SELECT pg_temp.try($$SELECT ml.forest_fit(f, sick, '{"features_per_split": 20}') FROM trees_ht$$);
SELECT pg_temp.try($$SELECT ml.forest_fit(f, sick, '{"nulls": "zero"}') FROM trees_ht$$);
SELECT pg_temp.try($$SELECT ml.gbt_fit(f, sick, '{"early_stopping_rounds": 5, "validation_fraction": 1.5}') FROM trees_ht$$);
SELECT pg_temp.try($$SELECT ml.gbt_fit(f, sick, '[1]') FROM trees_ht$$);
-- bad data
SELECT pg_temp.try($$SELECT ml.tree_fit(ARRAY[1, 'Infinity']::float8[], true) FROM generate_series(1, 3)$$);
SELECT pg_temp.try($$SELECT ml.tree_fit(ARRAY[1, 2], 'NaN'::float8) FROM generate_series(1, 3)$$);
SELECT pg_temp.try($$SELECT ml.forest_fit(f, true) FROM trees_ht$$);
SELECT pg_temp.try($$SELECT ml.gbt_fit(ARRAY[i, i], i % 2 = 0, '{"early_stopping_rounds": 3}') FROM generate_series(1, 2) i$$);
SELECT pg_temp.try($$SELECT ml.tree_fit(CASE WHEN id = 5 THEN f || 1.0::float8 ELSE f END, sick) FROM trees_ht$$);
\pset tuples_only off
\pset format aligned
-- no rows: NULL; constant features: one leaf
SELECT ml.tree_fit(f, sick) IS NULL AS empty FROM trees_ht WHERE false;
SELECT ml.describe(ml.tree_fit(ARRAY[1, 1], i % 2 = 0)) -> 'nodes' AS nodes,
       ml.predict_proba(ml.tree_fit(ARRAY[1, 1], i % 2 = 0), ARRAY[1, 1]) AS proba
  FROM generate_series(1, 4) i;
-- ONNX export: ModelProto (ir_version 8 first) with a tree ensemble operator, the
-- classifier for more than two classes, the regressor (plus standard operators) for two
-- classes and for regression (tests/test_onnx_trees.py scores the files with ONNX Runtime)
SELECT name, substr(o, 1, 2) = '\x0808'::bytea AS ir8,
       position('TreeEnsembleClassifier'::bytea IN o) > 0 AS classifier,
       position('TreeEnsembleRegressor'::bytea IN o) > 0 AS regressor
  FROM trees_models, ml.export_onnx(model) o ORDER BY name;
DROP TABLE trees_heart, trees_ht, trees_models, trees_par;
