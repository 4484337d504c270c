-- The registry: ml.train on the raw heart file ("?" and all), versions, deployments,
-- predict by project (array and row forms), evaluate, export, scoring triggers, and
-- every bad input with its SQLSTATE.
\getenv helpers PG_ABS_SRCDIR
\set helpers :helpers '/data/helpers.sql'
\set ECHO none
\i :helpers
\set ECHO all
SET client_min_messages = warning;
\getenv srcdir PG_ABS_SRCDIR
\cd :srcdir
CREATE TABLE heart_raw (age float8, sex float8, cp float8, trestbps float8, chol float8, fbs float8,
  restecg float8, thalach float8, exang float8, oldpeak float8, slope float8, ca text, thal text, num int);
\copy heart_raw FROM '../../data/heart/processed.cleveland.data' WITH (FORMAT csv)
CREATE VIEW heart_labelled AS SELECT *, num > 0 AS sick FROM heart_raw;

-- train two algorithms; the first version is deployed, the second only if it scores better
SELECT project, version, algorithm, key_metric, score > 0.7 AS good, deployed,
       metrics ->> 'rows' AS test_rows FROM ml.train('heart', 'heart_labelled', 'sick', exclude => ARRAY['num']);
SELECT project, version, algorithm, deployed = (score > (SELECT score FROM ml.models WHERE version = 1)) AS deployed_iff_better
  FROM ml.train('heart', 'heart_labelled', 'sick', 'naive_bayes', exclude => ARRAY['num']);
-- what a version records
SELECT version, algorithm, label, label_type, train_rows, test_rows, jsonb_array_length(features) AS features,
       split, hyperparams ->> 'l2' AS l2, fingerprint ~ '^303 rows, [0-9a-f]{32}$' AS fingerprint_ok,
       feature_stats -> 'thal' ->> 'null_fraction' > '0' AS thal_has_missing,
       metrics ?& ARRAY['accuracy', 'precision', 'recall', 'f1', 'roc_auc', 'log_loss', 'confusion_matrix'] AS all_metrics,
       duration_ms > 0 AS timed, created_by = current_user AS by_me, pgscore_version
  FROM ml.models ORDER BY version;
-- the preprocessing learned from the data: "?" in ca/thal is a missing value of a numeric column
SELECT c ->> 'name' AS column, c ->> 'kind' AS kind, c -> 'missing' AS missing
  FROM ml.models m, jsonb_array_elements(ml.describe(m.model) -> 'info' -> 'preprocess' -> 'columns') c
 WHERE m.version = 1 AND c ->> 'name' IN ('age', 'ca', 'thal');
-- the same split every time (same seed, same data)
SELECT (ml.train('heart_again', 'heart_labelled', 'sick', exclude => ARRAY['num'])).metrics
     = (SELECT metrics FROM ml.models WHERE version = 1 AND project_id = (SELECT id FROM ml.projects WHERE name = 'heart'))
       AS reproducible;

-- predict by project: raw array form = row form = predict(model, row) = encoded form
SELECT * FROM ml.features('heart') WHERE position IN (1, 12, 13);
SELECT count(*) AS rows,
       count(*) FILTER (WHERE ml.predict('heart', h) = ml.predict(m.model, h)) AS row_form_agrees,
       count(*) FILTER (WHERE ml.predict('heart', ARRAY[age, sex, cp, trestbps, chol, fbs, restecg, thalach, exang,
                                                        oldpeak, slope, ml._numeric_text(ca), ml._numeric_text(thal)])
                              = ml.predict('heart', h)) AS array_form_agrees,
       count(*) FILTER (WHERE ml.predict_encoded('heart', ml.encode(m.model, h)) = ml.predict('heart', h)) AS encoded_form_agrees,
       count(*) FILTER (WHERE ml.predict('heart', h)::boolean = (h.num > 0)) > 240 AS mostly_right
  FROM heart_raw h, ml.models m
 WHERE m.id = (SELECT model_id FROM ml.deployments ORDER BY id DESC LIMIT 1);
-- untyped literals pick the project forms
SELECT ml.predict('heart', ARRAY[0.5, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]) IS NOT NULL AS literal_array,
       ml.predict('heart', h) IS NOT NULL AS row_value,
       ml.predict('heart', '{0.5, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}') = ml.predict('heart', ARRAY[0.5, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]) AS two_untyped_literals,
       ml.predict(m.model, '{0.5, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}') IS NOT NULL AS model_and_untyped_literal
  FROM heart_raw h, ml.models m LIMIT 1;

-- deployments: pin, rollback, best score, history
SELECT ml.deploy('heart', 'version', 2) AS pinned;
SELECT ml.deploy('heart', 'rollback') AS rolled_back_to;
SELECT ml.deploy('heart', 'most_recent') AS most_recent;
SELECT ml.deploy('heart', 'best_score') = (SELECT version FROM ml.models m JOIN ml.projects p ON p.id = m.project_id
                                            WHERE p.name = 'heart' ORDER BY score DESC, version DESC LIMIT 1) AS best;
SELECT version, strategy, replaced_version FROM ml.deployment_history WHERE project = 'heart';
SELECT project, task, deploy_policy, deployed_version IS NOT NULL AS serving, versions FROM ml.project_overview;
SELECT pg_temp.try($$UPDATE ml.deployments SET version = 1$$);
SELECT pg_temp.try($$DELETE FROM ml.deployments$$);

-- evaluate on new labelled data; export
SELECT (ml.evaluate('heart', 'SELECT * FROM heart_labelled WHERE age > 50')) ->> 'rows' AS evaluated_rows;
SELECT substr(ml.export('heart'), 1, 1) = '\x08'::bytea AS onnx_starts_with_ir_version,
       convert_from(ml.export('heart', 1, 'json'), 'UTF8')::jsonb ->> 'algorithm' AS json_export;

-- scoring trigger: INSERT, multi-row INSERT, COPY, UPDATE of a feature column
CREATE TABLE vitals (id serial, age float8, sex float8, cp float8, trestbps float8, chol float8, fbs float8,
  restecg float8, thalach float8, exang float8, oldpeak float8, slope float8, ca text, thal text,
  risk text, version int);
SELECT ml.score_on_insert('vitals', 'heart', 'risk', 'version');
INSERT INTO vitals (age, sex, cp, trestbps, chol, fbs, restecg, thalach, exang, oldpeak, slope, ca, thal)
SELECT age, sex, cp, trestbps, chol, fbs, restecg, thalach, exang, oldpeak, slope, ca, thal FROM heart_raw LIMIT 10;
\copy vitals (age, sex, cp, trestbps, chol, fbs, restecg, thalach, exang, oldpeak, slope, ca, thal) FROM PROGRAM 'head -n 5 ../../data/heart/processed.cleveland.data | cut -d, -f1-13' WITH (FORMAT csv)
SELECT count(*) AS scored, count(*) FILTER (WHERE risk = ml.predict('heart', v)) AS same_as_predict,
       count(DISTINCT version) AS versions FROM vitals v;
UPDATE vitals SET risk = NULL, chol = chol + 1 WHERE id = 1;
SELECT risk IS NOT NULL AS rescored_on_update FROM vitals WHERE id = 1;
UPDATE vitals SET risk = 'manual' WHERE id = 2;
SELECT risk AS untouched_without_feature_change FROM vitals WHERE id = 2;
SELECT ml.drop_scoring('vitals', 'risk');
INSERT INTO vitals (age) VALUES (50) RETURNING risk IS NULL AS unscored_after_drop;

-- a project with no deployed version: predict errors, the trigger stores NULL
SELECT ml.create_project('later', 'classification', 'manual');
SELECT project, deployed FROM ml.train('later', 'heart_labelled', 'sick', exclude => ARRAY['num']);
SELECT pg_temp.try($$SELECT ml.predict('later', h) FROM heart_raw h$$);
CREATE TABLE later_rows (LIKE heart_raw, risk boolean);
SELECT ml.score_on_insert('later_rows', 'later', 'risk');
INSERT INTO later_rows SELECT * FROM heart_raw LIMIT 3 RETURNING risk IS NULL AS stored_unscored;

-- bad input
SELECT pg_temp.try($$SELECT ml.predict('nope', ARRAY[1.0])$$);
SELECT pg_temp.try($$SELECT ml.deploy('nope')$$);
SELECT pg_temp.try($$SELECT ml.train('x', 'heart_labelled', 'no_such_label')$$);
SELECT pg_temp.try($$SELECT ml.train('x', 'heart_labelled', 'sick', exclude => ARRAY['no_such_column'])$$);
SELECT pg_temp.try($$SELECT ml.train('x', 'no_such_table', 'sick')$$);
SELECT pg_temp.try($$SELECT ml.train('x', 'SELECT * FROM heart_labelled WHERE false', 'sick')$$);
SELECT pg_temp.try($$SELECT ml.train('x', 'SELECT * FROM heart_labelled WHERE num = 0', 'sick', exclude => ARRAY['num'])$$);
SELECT pg_temp.try($$SELECT ml.train('x', 'heart_labelled', 'sick', 'random_forest_9000')$$);
-- the one algorithm table (the Swift core's): ml.train takes a name or an alias
SELECT * FROM ml.algorithms();
SELECT pg_temp.try($$SELECT ml.train('x', 'heart_labelled', 'sick', 'LINREG')$$);
SELECT pg_temp.try($$SELECT ml.train('x', 'heart_labelled', 'sick', hyperparams => '{"l2": "lots"}')$$);
SELECT pg_temp.try($$SELECT ml.predict('heart', ROW(63.0, 1.0))$$);
SELECT pg_temp.try($$SELECT ml.predict('heart', ARRAY[1.0, 2.0])$$);
SELECT pg_temp.try($$SELECT ml.predict_encoded('heart', ARRAY[1.0, 2.0])$$);
-- the JSON form (what the REST gateway runs): the same answers as the row form; null is
-- a missing value, extra keys are ignored; a missing key, a non-object, a nested value fail
SELECT count(*) AS rows,
       count(*) FILTER (WHERE ml.predict('heart', to_jsonb(h)) = ml.predict('heart', h)) AS json_form_agrees,
       count(*) FILTER (WHERE ml.predict_proba('heart', to_jsonb(h) || '{"extra": [1]}') = ml.predict_proba('heart', h)) AS extra_keys_ignored
  FROM heart_raw h;
SELECT ml.predict('heart', to_jsonb(h) || '{"chol": null}') IS NOT NULL AS null_is_missing FROM heart_raw h LIMIT 1;
SELECT pg_temp.try($$SELECT ml.predict('heart', '{"age": 63}'::jsonb)$$);
SELECT pg_temp.try($$SELECT ml.predict('heart', '[63, 1]'::jsonb)$$);
SELECT pg_temp.try($$SELECT ml.predict('heart', '"63"'::jsonb)$$);
SELECT pg_temp.try($$SELECT ml.predict_proba('heart', (SELECT to_jsonb(h) || '{"sex": {"m": 1}}' FROM heart_raw h LIMIT 1))$$);
SELECT pg_temp.try($$SELECT ml.predict('heart', (SELECT to_jsonb(h) || '{"age": "old"}' FROM heart_raw h LIMIT 1))$$);
SELECT pg_temp.try($$SELECT ml.deploy('heart', 'version', 99)$$);
SELECT pg_temp.try($$SELECT ml.deploy('heart_again', 'rollback')$$);
SELECT pg_temp.try($$SELECT ml.deploy('heart', 'sideways')$$);
SELECT pg_temp.try($$SELECT ml.export('heart', 99)$$);
SELECT pg_temp.try($$SELECT ml.export('heart', 1, 'pmml')$$);
SELECT pg_temp.try($$SELECT ml.evaluate('heart', 'SELECT age FROM heart_labelled')$$);
SELECT pg_temp.try($$SELECT ml.score_on_insert('heart_raw', 'heart', 'no_such_column')$$);
-- a category never seen in training
CREATE TABLE colours AS SELECT i::float8 AS x, (ARRAY['red', 'green'])[1 + i % 2] AS colour, i % 3 = 0 AS y
  FROM generate_series(1, 60) i;
SELECT deployed FROM ml.train('colours', 'colours', 'y', test_fraction => 0);
SELECT pg_temp.try($$SELECT ml.predict('colours', c) FROM (SELECT 1.0::float8 AS x, 'blue' AS colour) c$$);
SELECT ml.predict('colours', c) IS NOT NULL AS known_category FROM (SELECT 1.0::float8 AS x, 'red' AS colour) c;
-- a float8[] cannot carry a category: the raw array form says which forms can
SELECT * FROM ml.features('colours');
SELECT pg_temp.try($$SELECT ml.predict('colours', ARRAY[1.0, 2.0])$$);
SELECT version FROM ml.train('colours', 'colours', 'y', hyperparams => '{"unknown_categories": "ignore"}', test_fraction => 0);
SELECT ml.deploy('colours', 'most_recent');
SELECT ml.predict('colours', c) IS NOT NULL AS unknown_ignored FROM (SELECT 1.0::float8 AS x, 'blue' AS colour) c;
RESET client_min_messages;

-- tree algorithms through ml.train: no scaling, missing values left to the trees
SELECT algorithm, score > 0.7 AS good
  FROM ml.train('heart_trees', 'heart_labelled', 'sick', 'gradient_boosting', exclude => ARRAY['num']);
SELECT algorithm, score > 0.7 AS good
  FROM ml.train('heart_trees', 'heart_labelled', 'sick', 'random_forest', exclude => ARRAY['num']);
SELECT c ->> 'name' AS column, c ->> 'keep_missing' AS keep_missing, c ->> 'scale' AS scale
  FROM ml.models m JOIN ml.projects p ON p.id = m.project_id,
       jsonb_array_elements(ml.describe(m.model) -> 'info' -> 'preprocess' -> 'columns') c
 WHERE p.name = 'heart_trees' AND m.version = 1 AND c ->> 'name' IN ('age', 'ca');
SELECT (ml.encode(m.model, h))[12] = 'NaN' AS ca_missing_stays_missing, ml.predict('heart_trees', h) IS NOT NULL AS scored
  FROM heart_raw h, ml.models m JOIN ml.projects p ON p.id = m.project_id
 WHERE p.name = 'heart_trees' AND m.version = 1 AND h.ca = '?' LIMIT 1;
