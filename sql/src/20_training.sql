-- ---------------------------------------------------------------- training aggregates
-- One transition state (internal) for all algorithms; partial states combine, so
-- parallel plans and GROUP BY work.

-- the algorithm table is the Swift core's (ScoreCore/Algorithm.swift): ml.train reads it here
CREATE FUNCTION ml.algorithms(OUT id int, OUT name text, OUT alias text, OUT aggregate text,
                              OUT classification boolean, OUT regression boolean, OUT tree boolean)
RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'ml_algorithms' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 6;
COMMENT ON FUNCTION ml.algorithms() IS
  'The algorithms pgscore trains: id (stored in model values), name and alias (both accepted by ml.train), the training aggregate, the tasks it fits, and whether it is a tree model (learns missing values, no scaling).';

CREATE FUNCTION ml._linreg_step(internal, float8[], float8) RETURNS internal
    AS 'MODULE_PATHNAME', 'ml_linreg_step' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION ml._linreg_step(internal, float8[], float8, jsonb) RETURNS internal
    AS 'MODULE_PATHNAME', 'ml_linreg_step' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION ml._logreg_step(internal, float8[], anyelement) RETURNS internal
    AS 'MODULE_PATHNAME', 'ml_logreg_step' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION ml._logreg_step(internal, float8[], anyelement, jsonb) RETURNS internal
    AS 'MODULE_PATHNAME', 'ml_logreg_step' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION ml._nb_step(internal, float8[], anyelement) RETURNS internal
    AS 'MODULE_PATHNAME', 'ml_nb_step' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION ml._nb_step(internal, float8[], anyelement, jsonb) RETURNS internal
    AS 'MODULE_PATHNAME', 'ml_nb_step' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION ml._train_combine(internal, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'ml_train_combine' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION ml._train_serialize(internal) RETURNS bytea
    AS 'MODULE_PATHNAME', 'ml_train_serialize' LANGUAGE C STRICT PARALLEL SAFE;
CREATE FUNCTION ml._train_deserialize(bytea, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'ml_train_deserialize' LANGUAGE C STRICT PARALLEL SAFE;
CREATE FUNCTION ml._train_final(internal) RETURNS ml.model
    AS 'MODULE_PATHNAME', 'ml_train_final' LANGUAGE C PARALLEL SAFE;
-- the aggregates themselves: 45_aggregates.table

