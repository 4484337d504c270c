-- Every bad input is an ERROR with a fitting SQLSTATE and a message that says what
-- to do; the backend survives (each statement below runs in the same session).
-- pg_temp.try() runs a statement and prints "SQLSTATE message (hint)".
\getenv helpers PG_ABS_SRCDIR
\set helpers :helpers '/data/helpers.sql'
\set ECHO none
\i :helpers
\set ECHO all
\pset tuples_only on
\pset format unaligned
CREATE TEMP TABLE t (f float8[], y float8, b boolean, k bigint, s text);
INSERT INTO t SELECT ARRAY[i, (i * 7) % 11, sin(i)], 2 * i + (i % 3), i % 2 = 0, i % 3, 'c' || (i % 3)
  FROM generate_series(1, 50) i;

-- empty input gives NULL
SELECT ml.linreg_fit(f, y) IS NULL AS empty_linreg, ml.logreg_fit(f, b) IS NULL AS empty_logreg,
       ml.nb_fit(f, s) IS NULL AS empty_nb FROM t WHERE false;
-- rows with a NULL features array or label are skipped
SELECT (ml.describe(ml.linreg_fit(f, y)) ->> 'training_rows')::int AS rows_used
  FROM (SELECT f, y FROM t UNION ALL SELECT NULL, 1 UNION ALL SELECT ARRAY[1,2,3], NULL) u;

-- NULL elements: an error by default, skipped with {"nulls": "skip"}
SELECT pg_temp.try($$SELECT ml.linreg_fit(ARRAY[f[1], NULL, f[3]], y) FROM t$$);
SELECT (ml.describe(ml.linreg_fit(CASE WHEN y > 50 THEN ARRAY[f[1], NULL, f[3]] ELSE f END, y, '{"nulls": "skip"}'))
        ->> 'training_rows')::int AS rows_used FROM t;
-- arrays of differing length
SELECT pg_temp.try($$SELECT ml.logreg_fit(CASE WHEN y > 50 THEN f || 1.0::float8 ELSE f END, b) FROM t$$);
-- multidimensional and empty arrays
SELECT pg_temp.try($$SELECT ml.nb_fit(ARRAY[[1,2],[3,4]]::float8[], true)$$);
SELECT pg_temp.try($$SELECT ml.nb_fit('{}'::float8[], true)$$);
-- NaN and Infinity in features or labels
SELECT pg_temp.try($$SELECT ml.linreg_fit(ARRAY[f[1], 'NaN', f[3]], y) FROM t$$);
SELECT pg_temp.try($$SELECT ml.logreg_fit(ARRAY[f[1], 'Infinity', f[3]], b) FROM t$$);
SELECT pg_temp.try($$SELECT ml.nb_fit(ARRAY[f[1], '-Infinity', f[3]], b) FROM t$$);
SELECT pg_temp.try($$SELECT ml.linreg_fit(f, 'NaN') FROM t$$);
-- one class only
SELECT pg_temp.try($$SELECT ml.logreg_fit(f, true) FROM t$$);
SELECT pg_temp.try($$SELECT ml.nb_fit(f, 'same') FROM t$$);
-- fewer rows than features (without a penalty)
SELECT pg_temp.try($$SELECT ml.linreg_fit(f, y) FROM t WHERE y < 6$$);
SELECT pg_temp.try($$SELECT ml.logreg_fit(f, b, '{"l2": 0}') FROM t WHERE y < 8$$);
-- constant and collinear columns
SELECT pg_temp.try($$SELECT ml.linreg_fit(ARRAY[f[1], 5, f[3]], y) FROM t$$);
SELECT pg_temp.try($$SELECT ml.linreg_fit(ARRAY[f[1], f[2], f[1] * 2 + f[2]], y) FROM t$$);
SELECT pg_temp.try($$SELECT ml.logreg_fit(ARRAY[f[1], 5, f[3]], b, '{"l2": 0}') FROM t$$);
SELECT pg_temp.try($$SELECT ml.nb_fit(ARRAY[1.0::float8, 2.0], b) FROM t$$);
-- with a penalty, the same data give a sound model
SELECT round((ml.describe(ml.linreg_fit(ARRAY[f[1], 5, f[3]], y, '{"l2": 1}')) -> 'coefficients' ->> 1)::numeric, 12) AS constant_column_coefficient FROM t;
-- unknown or ill-typed options
SELECT pg_temp.try($$SELECT ml.linreg_fit(f, y, '{"l3": 1}') FROM t$$);
SELECT pg_temp.try($$SELECT ml.logreg_fit(f, b, '{"l2": "strong"}') FROM t$$);
SELECT pg_temp.try($$SELECT ml.logreg_fit(f, b, '{"l2": -1}') FROM t$$);
SELECT pg_temp.try($$SELECT ml.logreg_fit(f, b, '{"max_iter": 2.5}') FROM t$$);
SELECT pg_temp.try($$SELECT ml.nb_fit(f, b, '[1, 2]') FROM t$$);
SELECT pg_temp.try($$SELECT ml.nb_fit(f, b, '{"nulls": "ignore"}') FROM t$$);
-- separable classes without a penalty
SELECT pg_temp.try($$SELECT ml.logreg_fit(ARRAY[y, f[2]], y > 50, '{"l2": 0}') FROM t$$);
-- a model that cannot converge in max_iter
SELECT pg_temp.try($$SELECT ml.logreg_fit(f, b, '{"max_iter": 1}') FROM t$$);

-- model values: truncated, corrupted, foreign, newer format
CREATE TEMP TABLE m AS SELECT ml.logreg_fit(f, b) AS lr, ml.linreg_fit(f, y) AS lin FROM t;
SELECT pg_temp.try($$SELECT substr(lr::bytea, 1, 30)::ml.model FROM m$$);
SELECT pg_temp.try($$SELECT overlay(lr::bytea PLACING '\xff'::bytea FROM 60 FOR 1)::ml.model FROM m$$);
SELECT pg_temp.try($$SELECT '\x89504e470d0a1a0a0000000d49484452'::bytea::ml.model$$);
SELECT pg_temp.try($$SELECT '\x0102'::ml.model$$);
SELECT pg_temp.try($$SELECT overlay(lr::bytea PLACING '\x02'::bytea FROM 5 FOR 1)::ml.model FROM m$$);
-- a valid value round-trips through text and bytea
SELECT lr::text::ml.model::bytea = lr::bytea AS text_roundtrip, lr::bytea::ml.model::bytea = lr::bytea AS bytea_roundtrip FROM m;

-- scoring: wrong length, NaN, NULL, regression proba
SELECT pg_temp.try($$SELECT ml.predict(lr, ARRAY[1.0, 2.0]) FROM m$$);
SELECT pg_temp.try($$SELECT ml.predict(lr, ARRAY[1.0, 'NaN', 3.0]) FROM m$$);
SELECT ml.predict(lr, ARRAY[1.0, NULL, 3.0]) IS NULL AS null_feature_gives_null FROM m;
SELECT pg_temp.try($$SELECT ml.predict_proba(lin, ARRAY[1.0, 2.0, 3.0]) FROM m$$);
SELECT pg_temp.try($$SELECT ml.predict(lr, ARRAY[[1.0, 2.0, 3.0]]) FROM m$$);
-- labels come back as written; proba follows describe's class order
SELECT ml.predict(ml.logreg_fit(f, k), ARRAY[25.0, 3, 0.5]) ~ '^[0-2]$' AS integer_label,
       ml.describe(ml.nb_fit(f, s)) -> 'classes' AS text_classes,
       ml.describe(ml.logreg_fit(f, b)) -> 'classes' AS boolean_classes,
       array_length(ml.predict_proba(ml.nb_fit(f, s), ARRAY[25.0, 3, 0.5]), 1) AS proba_len FROM t;
-- the session is still alive
SELECT 'alive' AS backend;
