-- Serial and parallel plans agree (1e-9 relative); GROUP BY gives one model per
-- group equal to a per-group run.
\getenv helpers PG_ABS_SRCDIR
\set helpers :helpers '/data/helpers.sql'
\set ECHO none
\i :helpers
\set ECHO all
CREATE TABLE par AS
SELECT i, g, ARRAY[x1, x2, x3, x4] AS f,
       3 + 1.5 * x1 - 2 * x2 + 0.5 * x3 + x4 + 0.1 * sin(i * 7.0) AS y,
       (x1 + x2 - x3 + 0.3 * sin(i * 3.0)) > 0 AS c,
       (ARRAY['lo', 'mid', 'hi'])[1 + (abs(x1 * 1000)::bigint + i) % 3] AS s
  FROM (SELECT i, i % 4 AS g, sin(i) AS x1, cos(i * 1.3) AS x2, sin(i * 0.7) * 3 AS x3, cos(i * 0.1) AS x4
          FROM generate_series(1, 60000) i) q;
ANALYZE par;

CREATE FUNCTION pg_temp.rel_close(a jsonb, b jsonb, tol float8) RETURNS boolean LANGUAGE sql AS $$
  SELECT bool_and(abs(x.v::float8 - y.v::float8) <= tol * greatest(abs(y.v::float8), 1e-300))
  FROM jsonb_path_query(a, 'strict $.** ? (@.type() == "number")') WITH ORDINALITY x(v, i)
  JOIN jsonb_path_query(b, 'strict $.** ? (@.type() == "number")') WITH ORDINALITY y(v, i) USING (i) $$;

SET max_parallel_workers_per_gather = 0;
CREATE TEMP TABLE serial AS
SELECT ml.describe(ml.linreg_fit(f, y)) - 'options' AS lin, ml.describe(ml.logreg_fit(f, c)) AS lr,
       ml.describe(ml.nb_fit(f, s)) AS nb, ml.describe(ml.logreg_fit(f, s)) AS lr3 FROM par;

SET max_parallel_workers_per_gather = 2;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET parallel_leader_participation = off;
-- the plan really is parallel, with partial aggregation
SELECT pg_temp.plan_has('SELECT ml.logreg_fit(f, c) FROM par', 'Partial Aggregate') AS partial_aggregate,
       pg_temp.plan_has('SELECT ml.logreg_fit(f, c) FROM par', 'Workers Planned: 2') AS two_workers;
CREATE TEMP TABLE parallel AS
SELECT ml.describe(ml.linreg_fit(f, y)) - 'options' AS lin, ml.describe(ml.logreg_fit(f, c)) AS lr,
       ml.describe(ml.nb_fit(f, s)) AS nb, ml.describe(ml.logreg_fit(f, s)) AS lr3 FROM par;
SELECT pg_temp.rel_close(p.lin, s.lin, 1e-9) AS linreg_agrees, pg_temp.rel_close(p.lr, s.lr, 1e-9) AS logreg_agrees,
       pg_temp.rel_close(p.nb, s.nb, 1e-9) AS nb_agrees, pg_temp.rel_close(p.lr3, s.lr3, 1e-9) AS multinomial_agrees,
       p.lr -> 'training_rows' = s.lr -> 'training_rows' AS same_rows
  FROM parallel p, serial s;

-- GROUP BY: one model per group, each equal to a run over that group alone
CREATE TEMP TABLE per_group AS
SELECT g, ml.describe(ml.linreg_fit(f, y)) AS lin, ml.describe(ml.logreg_fit(f, c)) AS lr,
       ml.describe(ml.nb_fit(f, s)) AS nb FROM par GROUP BY g;
SELECT count(*) AS groups,
       bool_and(pg_temp.rel_close(pg.lin, (SELECT ml.describe(ml.linreg_fit(f, y)) FROM par WHERE par.g = pg.g), 1e-9)) AS linreg_groups,
       bool_and(pg_temp.rel_close(pg.lr, (SELECT ml.describe(ml.logreg_fit(f, c)) FROM par WHERE par.g = pg.g), 1e-9)) AS logreg_groups,
       bool_and(pg_temp.rel_close(pg.nb, (SELECT ml.describe(ml.nb_fit(f, s)) FROM par WHERE par.g = pg.g), 1e-9)) AS nb_groups
  FROM per_group pg;
-- with a JOIN and a WHERE
SELECT (ml.describe(ml.nb_fit(p.f, p.s)) ->> 'training_rows')::int AS joined_rows
  FROM par p JOIN (SELECT generate_series(0, 1) AS g) k USING (g) WHERE p.i % 2 = 0;
RESET ALL;
DROP TABLE par;
