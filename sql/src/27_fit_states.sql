-- ---------------------------------------------------------------- training states as values
-- The partial state of a training aggregate as an SQL value, the way hll and tdigest
-- hand out theirs: build it where the data is (a shard, a partition, a night's file),
-- ship or store it, and combine the values into the model later. Combining gives the
-- model the plain aggregate gives on all rows.

CREATE DOMAIN ml.fit_state AS bytea;
COMMENT ON DOMAIN ml.fit_state IS
  'A training aggregate''s partial state (ml.<fit>_state, ml.merge_states); ml.combine_states turns states into a model. Binary, in the byte order of the server that built it; every field is checked when it is read.';

CREATE FUNCTION ml._fit_state_final(internal) RETURNS ml.fit_state
    AS 'MODULE_PATHNAME', 'ml_fit_state_final' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION ml._fit_state_add(internal, ml.fit_state) RETURNS internal
    AS 'MODULE_PATHNAME', 'ml_fit_state_add' LANGUAGE C PARALLEL SAFE;

-- ml.<fit>_state for every training aggregate, with its arguments and support
-- functions (only the final function differs), is written by sql/aggregates.awk from
-- sql/src/45_aggregates.table with the aggregate it twins.

CREATE AGGREGATE ml.combine_states(state ml.fit_state) (
    SFUNC = ml._fit_state_add, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.combine_states(ml.fit_state) IS
  'The model from training states (ml.<fit>_state values) of one aggregate with the same options: the model that aggregate gives on all their rows. NULL states are skipped; a damaged state is an error (22P03).';

CREATE AGGREGATE ml.merge_states(state ml.fit_state) (
    SFUNC = ml._fit_state_add, STYPE = internal, FINALFUNC = ml._fit_state_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.merge_states(ml.fit_state) IS
  'Training states combined into one state (hierarchical combining: per node, then per region); ml.combine_states of merged states gives the same model.';
