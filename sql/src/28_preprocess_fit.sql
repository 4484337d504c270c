-- ---------------------------------------------------------------- preprocessing fit
-- ml._preprocess_fit(value, options): one column's preprocessing learned from the
-- training rows by the Swift core (Sources/ScoreCore/PreprocessFit.swift): the mean
-- imputed, the standard scaling, numeric text or categories and their limit.
-- ml._train_preprocessing runs one per column, all in one pass. A float8 value is a
-- number (NULL: missing), a text value numeric text or a category. Partial states
-- combine in Swift, so parallel plans work; ml._preprocess_fit_state gives a partial
-- state as bytes and ml._preprocess_fit_result reads one (bytes that are no state: 22P03).

CREATE FUNCTION ml._preprocess_fit_step(internal, float8, jsonb) RETURNS internal
    AS 'MODULE_PATHNAME', 'ml_preprocess_fit_step_number' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION ml._preprocess_fit_step(internal, text, jsonb) RETURNS internal
    AS 'MODULE_PATHNAME', 'ml_preprocess_fit_step_text' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION ml._preprocess_fit_combine(internal, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'ml_preprocess_fit_combine' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION ml._preprocess_fit_serialize(internal) RETURNS bytea
    AS 'MODULE_PATHNAME', 'ml_preprocess_fit_serialize' LANGUAGE C STRICT PARALLEL SAFE;
CREATE FUNCTION ml._preprocess_fit_deserialize(bytea, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'ml_preprocess_fit_deserialize' LANGUAGE C STRICT PARALLEL SAFE;
CREATE FUNCTION ml._preprocess_fit_final(internal) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'ml_preprocess_fit_final' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION ml._preprocess_fit_bytes(internal) RETURNS bytea
    AS 'MODULE_PATHNAME', 'ml_preprocess_fit_bytes' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION ml._preprocess_fit_result(state bytea) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'ml_preprocess_fit_result' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ml._preprocess_fit_result(bytea) IS
  'The preprocessing of one column from a partial state of ml._preprocess_fit_state: {"column": its spec, "feature", "stats"} or {"dropped": why it is left out}. Bytes that are no state are refused (22P03).';

CREATE AGGREGATE ml._preprocess_fit(value float8, options jsonb) (
    SFUNC = ml._preprocess_fit_step, STYPE = internal, FINALFUNC = ml._preprocess_fit_final,
    COMBINEFUNC = ml._preprocess_fit_combine, SERIALFUNC = ml._preprocess_fit_serialize,
    DESERIALFUNC = ml._preprocess_fit_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE ml._preprocess_fit(value text, options jsonb) (
    SFUNC = ml._preprocess_fit_step, STYPE = internal, FINALFUNC = ml._preprocess_fit_final,
    COMBINEFUNC = ml._preprocess_fit_combine, SERIALFUNC = ml._preprocess_fit_serialize,
    DESERIALFUNC = ml._preprocess_fit_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE ml._preprocess_fit_state(value float8, options jsonb) (
    SFUNC = ml._preprocess_fit_step, STYPE = internal, FINALFUNC = ml._preprocess_fit_bytes,
    COMBINEFUNC = ml._preprocess_fit_combine, SERIALFUNC = ml._preprocess_fit_serialize,
    DESERIALFUNC = ml._preprocess_fit_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE ml._preprocess_fit_state(value text, options jsonb) (
    SFUNC = ml._preprocess_fit_step, STYPE = internal, FINALFUNC = ml._preprocess_fit_bytes,
    COMBINEFUNC = ml._preprocess_fit_combine, SERIALFUNC = ml._preprocess_fit_serialize,
    DESERIALFUNC = ml._preprocess_fit_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml._preprocess_fit(float8, jsonb) IS
  'One numeric column''s preprocessing learned from its values (NULL: missing): imputation mean, standard scaling (options: name, type, scale, keep_missing, unknown, max_categories). What ml.train runs.';
COMMENT ON AGGREGATE ml._preprocess_fit(text, jsonb) IS
  'One text column''s preprocessing learned from its values: numeric text (by ml._numeric_text''s rule, the usual markers such as "?" missing) or categories (at most max_categories, default 200). What ml.train runs.';
COMMENT ON AGGREGATE ml._preprocess_fit_state(float8, jsonb) IS
  'The partial state of ml._preprocess_fit(float8, jsonb) as bytes, for ml._preprocess_fit_result.';
COMMENT ON AGGREGATE ml._preprocess_fit_state(text, jsonb) IS
  'The partial state of ml._preprocess_fit(text, jsonb) as bytes, for ml._preprocess_fit_result.';
