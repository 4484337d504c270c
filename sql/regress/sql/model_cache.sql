-- ml.predict keeps decoded models per call site (8 at a time). A query that switches
-- between more models than that, row by row, still scores every row with the right
-- model: checked against the linear formula written out from ml.describe().
CREATE TEMP TABLE rows_ AS
SELECT i, i % 12 AS g, ARRAY[sin(i), cos(i * 0.5)] AS f
  FROM generate_series(1, 6000) i;
CREATE TEMP TABLE per_group AS
SELECT g, ml.logreg_fit(f, sin(i * 1.7) + 0.05 * g > 0) AS m FROM rows_ GROUP BY g;
CREATE TEMP TABLE coef AS
SELECT g, (d -> 'intercepts' ->> 0)::float8 AS b,
       (d -> 'coefficients' -> 0 ->> 0)::float8 AS w1, (d -> 'coefficients' -> 0 ->> 1)::float8 AS w2
  FROM per_group, ml.describe(m) d;
-- rows ordered so that the model changes on every row
SELECT count(*) AS scored,
       count(*) FILTER (WHERE ml.predict(p.m, r.f)::boolean <> (c.b + c.w1 * r.f[1] + c.w2 * r.f[2] > 0)) AS wrong
  FROM (SELECT * FROM rows_ ORDER BY i) r JOIN per_group p USING (g) JOIN coef c USING (g);
