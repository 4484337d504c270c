-- A model value lives in an ordinary column: stored, copied, read back as text and
-- through binary COPY, and scored after the round trip (pg_dump/pg_restore use the
-- same text and binary forms; tests/test_dump_restore.py runs the real tools).
CREATE TABLE stored_models (name text PRIMARY KEY, model ml.model NOT NULL);
INSERT INTO stored_models
SELECT 'demo', ml.logreg_fit(ARRAY[x, x * x], x > 0.3)
  FROM (SELECT sin(i) AS x FROM generate_series(1, 500) i) q;
CREATE TABLE copied (LIKE stored_models);
COPY stored_models TO '/dev/null';
INSERT INTO copied SELECT name, model::text::ml.model FROM stored_models;
SELECT c.model::bytea = s.model::bytea AS identical,
       ml.predict(c.model, ARRAY[0.5, 0.25]) AS prediction,
       ml.describe(c.model) ->> 'algorithm' AS algorithm
  FROM copied c JOIN stored_models s USING (name);
DROP TABLE copied, stored_models;
