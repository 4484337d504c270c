-- ---------------------------------------------------------------- tree models
-- Decision tree, random forest and gradient-boosted trees. Like ml.logreg_fit they keep
-- the rows in memory (8*features + 4 bytes a row, 8*features + 8 for a float8 label)
-- up to pgscore.max_training_memory, and share its transition state, so partial
-- states combine (parallel plans, GROUP BY). Training sorts the rows canonically, so
-- a parallel plan gives the same model as a serial one, and a seed gives the same
-- model every time.
--
-- The label type chooses the task: boolean, smallint, integer, bigint or text labels
-- train a classifier; a float8 label (or numeric, which casts to it) a regressor.
-- smallint and integer have their own signatures so that an integer label column is
-- never taken for a number to regress.
--
-- A NULL element of a features array, or NaN, is a missing value: each split learns
-- which way missing values go. Infinity is an error. ml.predict takes NULL/NaN
-- features of tree models the same way.

CREATE FUNCTION ml._tree_step(internal, float8[], anyelement) RETURNS internal
    AS 'MODULE_PATHNAME', 'ml_tree_step' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION ml._tree_step(internal, float8[], anyelement, jsonb) RETURNS internal
    AS 'MODULE_PATHNAME', 'ml_tree_step' LANGUAGE C PARALLEL SAFE;

CREATE FUNCTION ml._forest_step(internal, float8[], anyelement) RETURNS internal
    AS 'MODULE_PATHNAME', 'ml_forest_step' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION ml._forest_step(internal, float8[], anyelement, jsonb) RETURNS internal
    AS 'MODULE_PATHNAME', 'ml_forest_step' LANGUAGE C PARALLEL SAFE;

CREATE FUNCTION ml._gbt_step(internal, float8[], anyelement) RETURNS internal
    AS 'MODULE_PATHNAME', 'ml_gbt_step' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION ml._gbt_step(internal, float8[], anyelement, jsonb) RETURNS internal
    AS 'MODULE_PATHNAME', 'ml_gbt_step' LANGUAGE C PARALLEL SAFE;
-- the aggregates themselves: 45_aggregates.table
