-- ---------------------------------------------------------------- logistic regression in passes
-- A fit that keeps no rows (MADlib's IRLS shape): each pass is one aggregate over the rows
-- whose state is O(p^2) doubles for p parameters, whatever the row count, and returns the
-- next fit state; a driver loops until the phase is "done" (ml.train does, when the rows
-- would not fit in pgscore.max_training_memory):
--
--   state := ml.logreg_start('{"l2": 1}');
--   LOOP
--     SELECT ml.logreg_step(features, label, state) INTO state FROM t;
--     EXIT WHEN ml.logreg_fit_info(state) ->> 'phase' = 'done';
--   END LOOP;
--   model := ml.logreg_model(state);
--
-- Pass 1 counts the classes and the feature moments; every later pass is one evaluation of
-- the Newton search ml.logreg_fit runs in memory, at the same points, so both give the same
-- coefficients (to rounding). Every pass must see the same rows.

CREATE FUNCTION ml.logreg_start(options jsonb DEFAULT '{}') RETURNS bytea
    AS 'MODULE_PATHNAME', 'ml_logreg_start' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION ml.logreg_start(jsonb) IS
  'The first fit state of a logistic regression in passes (ml.logreg_step); options as ml.logreg_fit: l2 (1), intercept (true), max_iter (100), tol (1e-10), nulls ("error" | "skip").';
CREATE FUNCTION ml.logreg_fit_info(state bytea) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'ml_logreg_fit_info' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ml.logreg_fit_info(bytea) IS
  'Where a fit in passes is: phase (moments, evaluate, done), passes run, Newton iteration, rows, features, classes, loss.';
CREATE FUNCTION ml.logreg_model(state bytea) RETURNS ml.model
    AS 'MODULE_PATHNAME', 'ml_logreg_model' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ml.logreg_model(bytea) IS
  'The model of a finished fit in passes (phase done); the same model ml.logreg_fit gives on those rows.';

CREATE FUNCTION ml._logreg_pass_step(internal, float8[], anyelement, bytea) RETURNS internal
    AS 'MODULE_PATHNAME', 'ml_logreg_pass_step' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION ml._logreg_pass_combine(internal, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'ml_logreg_pass_combine' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION ml._logreg_pass_serialize(internal) RETURNS bytea
    AS 'MODULE_PATHNAME', 'ml_logreg_pass_serialize' LANGUAGE C STRICT PARALLEL SAFE;
CREATE FUNCTION ml._logreg_pass_deserialize(bytea, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'ml_logreg_pass_deserialize' LANGUAGE C STRICT PARALLEL SAFE;
CREATE FUNCTION ml._logreg_pass_final(internal) RETURNS bytea
    AS 'MODULE_PATHNAME', 'ml_logreg_pass_final' LANGUAGE C PARALLEL SAFE;

CREATE AGGREGATE ml.logreg_step(features float8[], label boolean, state bytea) (
    SFUNC = ml._logreg_pass_step, STYPE = internal, FINALFUNC = ml._logreg_pass_final,
    COMBINEFUNC = ml._logreg_pass_combine, SERIALFUNC = ml._logreg_pass_serialize,
    DESERIALFUNC = ml._logreg_pass_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE ml.logreg_step(features float8[], label bigint, state bytea) (
    SFUNC = ml._logreg_pass_step, STYPE = internal, FINALFUNC = ml._logreg_pass_final,
    COMBINEFUNC = ml._logreg_pass_combine, SERIALFUNC = ml._logreg_pass_serialize,
    DESERIALFUNC = ml._logreg_pass_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE ml.logreg_step(features float8[], label text, state bytea) (
    SFUNC = ml._logreg_pass_step, STYPE = internal, FINALFUNC = ml._logreg_pass_final,
    COMBINEFUNC = ml._logreg_pass_combine, SERIALFUNC = ml._logreg_pass_serialize,
    DESERIALFUNC = ml._logreg_pass_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.logreg_step(float8[], boolean, bytea) IS
  'One pass of a logistic regression that keeps no rows: reads the fit state (the same value on every row; from ml.logreg_start or the previous pass) and returns the next one. Memory: 8 x (1 + p + p^2) bytes for p = classes x (features + 1) parameters (one score row for two classes). A pass over no rows gives NULL.';
COMMENT ON AGGREGATE ml.logreg_step(float8[], bigint, bytea) IS
  'One pass of a logistic regression on integer labels that keeps no rows (see ml.logreg_step(float8[], boolean, bytea)).';
COMMENT ON AGGREGATE ml.logreg_step(float8[], text, bytea) IS
  'One pass of a logistic regression on text labels that keeps no rows (see ml.logreg_step(float8[], boolean, bytea)).';
