-- The foundation demo: heart disease data, two classifiers trained by aggregates,
-- predictions beside the true labels. Run by tools/demo.sh (make demo); rerunnable.
\set ON_ERROR_STOP on
\pset footer off
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgscore;

\echo '== 1. Load the UCI heart data (303 rows; "?" marks a missing value) =='
DROP TABLE IF EXISTS heart CASCADE;
CREATE TABLE heart (
    id serial PRIMARY KEY,
    age float8, sex float8, cp float8, trestbps float8, chol float8, fbs float8,
    restecg float8, thalach float8, exang float8, oldpeak float8, slope float8,
    ca float8, thal float8, num int);
\copy heart (age, sex, cp, trestbps, chol, fbs, restecg, thalach, exang, oldpeak, slope, ca, thal, num) FROM 'data/heart/processed.cleveland.data' WITH (FORMAT csv, NULL '?')
-- every fifth patient is held out for testing
CREATE VIEW heart_split AS
SELECT id, CASE WHEN id % 5 = 0 THEN 'test' ELSE 'train' END AS part, num > 0 AS sick,
       ARRAY[age, sex, cp, trestbps, chol, fbs, restecg, thalach, exang, oldpeak, slope, ca, thal] AS features
  FROM heart
 WHERE ca IS NOT NULL AND thal IS NOT NULL;
SELECT part, count(*) AS patients, sum(sick::int) AS sick FROM heart_split GROUP BY part ORDER BY part DESC;

\echo '== 2. Train with the aggregates; the models are ordinary values in a table =='
DROP TABLE IF EXISTS heart_models;
CREATE TABLE heart_models AS
SELECT 'logistic regression' AS name, ml.logreg_fit(features, sick) AS model FROM heart_split WHERE part = 'train'
UNION ALL
SELECT 'naive Bayes', ml.nb_fit(features, sick) FROM heart_split WHERE part = 'train';
SELECT name, d ->> 'algorithm' AS algorithm, d -> 'classes' AS classes, d ->> 'training_rows' AS rows,
       length(model::bytea) AS bytes
  FROM heart_models, ml.describe(model) d;

\echo '== 3. Predictions beside the true labels (first test patients) =='
SELECT s.id, s.sick AS truth,
       ml.predict(lr.model, s.features) AS logistic,
       round((ml.predict_proba(lr.model, s.features))[2]::numeric, 3) AS p_logistic,
       ml.predict(nb.model, s.features) AS bayes,
       round((ml.predict_proba(nb.model, s.features))[2]::numeric, 3) AS p_bayes
  FROM heart_split s, heart_models lr, heart_models nb
 WHERE s.part = 'test' AND lr.name = 'logistic regression' AND nb.name = 'naive Bayes'
 ORDER BY s.id LIMIT 10;

\echo '== 4. Accuracy on the training and the held-out patients =='
SELECT m.name, s.part,
       round(avg((ml.predict(m.model, s.features)::boolean = s.sick)::int), 3) AS accuracy,
       count(*) AS patients
  FROM heart_split s CROSS JOIN heart_models m
 GROUP BY m.name, s.part ORDER BY m.name, s.part DESC;

\echo '== 5. One model per group in one query: by sex =='
SELECT CASE WHEN sex = 1 THEN 'male' ELSE 'female' END AS grp,
       (ml.describe(ml.logreg_fit(ARRAY[age, cp, trestbps, chol, thalach, exang, oldpeak, ca, thal], num > 0))
         ->> 'training_rows')::int AS rows
  FROM heart WHERE ca IS NOT NULL AND thal IS NOT NULL
 GROUP BY sex ORDER BY sex;
