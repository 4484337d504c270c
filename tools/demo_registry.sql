-- The bracelet story: projects, versions, deployment, a table that scores itself,
-- rollback. Run by tools/demo.sh after tools/demo.sql (which loaded the heart table).
\set ON_ERROR_STOP on
\pset footer off
SET client_min_messages = warning;

\echo '== 6. The registry: train two algorithms on the raw heart file, "?" and all =='
DROP TABLE IF EXISTS heart_raw;
CREATE TABLE heart_raw (age float8, sex float8, cp float8, trestbps float8, chol float8, fbs float8,
  restecg float8, thalach float8, exang float8, oldpeak float8, slope float8, ca text, thal text, num int);
\copy heart_raw FROM 'data/heart/processed.cleveland.data' WITH (FORMAT csv)
CREATE VIEW heart_labelled AS SELECT *, num > 0 AS sick FROM heart_raw;
SELECT project, version, algorithm, round(score::numeric, 3) AS accuracy, deployed
  FROM ml.train('heart', 'heart_labelled', 'sick', 'logistic_regression', exclude => ARRAY['num']);
SELECT project, version, algorithm, round(score::numeric, 3) AS accuracy, deployed
  FROM ml.train('heart', 'heart_labelled', 'sick', 'naive_bayes', exclude => ARRAY['num']);

\echo '== 7. Versions side by side; the better one serves (policy best_score) =='
SELECT version, algorithm, deployed, round(accuracy::numeric, 3) AS accuracy, round(f1::numeric, 3) AS f1,
       round(roc_auc::numeric, 3) AS roc_auc, round(log_loss::numeric, 3) AS log_loss, train_rows, test_rows
  FROM ml.versions WHERE project = 'heart';
SELECT ml.deploy('heart', 'best_score') AS deployed_version;

\echo '== 8. A table of bracelet readings that scores itself on INSERT =='
DROP TABLE IF EXISTS vitals;
CREATE TABLE vitals (
    id serial PRIMARY KEY, at timestamptz DEFAULT now(),
    age float8, sex float8, cp float8, trestbps float8, chol float8, fbs float8, restecg float8,
    thalach float8, exang float8, oldpeak float8, slope float8, ca text, thal text,
    risk boolean, model_version int);
SELECT ml.score_on_insert('vitals', 'heart', 'risk', 'model_version') AS trigger;
INSERT INTO vitals (age, sex, cp, trestbps, chol, fbs, restecg, thalach, exang, oldpeak, slope, ca, thal) VALUES
  (63, 1, 1, 145, 233, 1, 2, 150, 0, 2.3, 3, '0', '6'),
  (67, 1, 4, 160, 286, 0, 2, 108, 1, 1.5, 2, '3', '3'),
  (41, 0, 2, 130, 204, 0, 2, 172, 0, 1.4, 1, '?', '3'),
  (58, 1, 4, 150, 270, 0, 2, 111, 1, 0.8, 1, '0', '7');
SELECT id, age, chol, thalach, ca, risk, model_version,
       round((ml.predict_proba('heart', v))[2]::numeric, 3) AS p_risk
  FROM vitals v ORDER BY id;
-- the same first reading as raw numbers, in the order ml.features lists (NULL = missing)
SELECT string_agg(name, ', ' ORDER BY position) AS array_order FROM ml.features('heart');
SELECT ml.predict('heart', ARRAY[63, 1, 1, 145, 233, 1, 2, 150, 0, 2.3, 3, 0, 6]) AS risk_from_array,
       round((ml.predict_proba('heart', ARRAY[63, 1, 1, 145, 233, 1, 2, 150, 0, 2.3, 3, 0, 6]))[2]::numeric, 3) AS p_risk;

\echo '== 9. An operator tries the naive Bayes version in production; readings now carry version 2 =='
SELECT ml.deploy('heart', version => 2) AS now_serving;
INSERT INTO vitals (age, sex, cp, trestbps, chol, fbs, restecg, thalach, exang, oldpeak, slope, ca, thal)
VALUES (52, 1, 3, 172, 199, 1, 0, 162, 0, 0.5, 1, '0', '7');
SELECT id, risk, model_version FROM vitals ORDER BY id DESC LIMIT 2;

\echo '== 10. ... and rolls back: the next readings are scored by version 1 again =='
SELECT ml.deploy('heart', 'rollback') AS now_serving;
INSERT INTO vitals (age, sex, cp, trestbps, chol, fbs, restecg, thalach, exang, oldpeak, slope, ca, thal)
VALUES (57, 0, 4, 140, 241, 0, 0, 123, 1, 0.2, 2, '0', '7');
SELECT id, risk, model_version FROM vitals ORDER BY id DESC LIMIT 3;
SELECT deployed_at::time(0) AS at, version, strategy, replaced_version, deployed_by, reason
  FROM ml.deployment_history WHERE project = 'heart';
SELECT project, deployed_version, deployed_algorithm, key_metric, round(deployed_score::numeric, 3) AS score, versions
  FROM ml.project_overview;
