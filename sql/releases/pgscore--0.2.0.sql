-- pgscore: machine learning inside PostgreSQL. Schema ml. (Version: default_version in extension/pgscore.control.)
\echo Use "CREATE EXTENSION pgscore" to load this file. \quit
-- ---------------------------------------------------------------- the model type

CREATE TYPE ml.model;

CREATE FUNCTION ml.model_in(cstring) RETURNS ml.model
    AS 'MODULE_PATHNAME', 'ml_model_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ml.model_out(ml.model) RETURNS cstring
    AS 'MODULE_PATHNAME', 'ml_model_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ml.model_recv(internal) RETURNS ml.model
    AS 'MODULE_PATHNAME', 'ml_model_recv' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION ml.model_send(ml.model) RETURNS bytea
    AS 'MODULE_PATHNAME', 'ml_model_send' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE ml.model (
    INPUT = ml.model_in,
    OUTPUT = ml.model_out,
    RECEIVE = ml.model_recv,
    SEND = ml.model_send,
    INTERNALLENGTH = VARIABLE,
    STORAGE = extended
);
COMMENT ON TYPE ml.model IS
  'A trained model: versioned, checksummed bytes. Text form is bytea hex; every input is verified.';

CREATE FUNCTION ml.model_from_bytea(bytea) RETURNS ml.model
    AS 'MODULE_PATHNAME', 'ml_model_from_bytea' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ml.model_from_bytea(bytea) IS
  'Checks that bytes are a pgscore model (checksum, format version) and returns them as ml.model.';
CREATE CAST (bytea AS ml.model) WITH FUNCTION ml.model_from_bytea(bytea);
CREATE CAST (ml.model AS bytea) WITHOUT FUNCTION;

CREATE FUNCTION ml.with_info(model ml.model, info jsonb) RETURNS ml.model
    AS 'MODULE_PATHNAME', 'ml_model_with_info' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ml.with_info(ml.model, jsonb) IS
  'The model with its info JSON replaced (ml.train stores preprocessing and registry facts there; describe() shows it under "info"). A "preprocess" spec must encode exactly the model''s feature count.';
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
-- ---------------------------------------------------------------- progress of long fits
-- Every backend that trains (ml.train, or a training aggregate on its own) reports in
-- its status entry in shared memory, as PostgreSQL's pg_stat_progress_* views do: other
-- sessions see it at once, outside the fit's transaction. pgscore.progress_every = N adds
-- a NOTICE every N passes of ml.train and every N million rows a training aggregate reads.

CREATE FUNCTION ml._progress_begin(algorithm int) RETURNS void
    AS 'MODULE_PATHNAME', 'ml_progress_begin' LANGUAGE C VOLATILE PARALLEL RESTRICTED;
CREATE FUNCTION ml._progress_phase(phase int, pass int, rows bigint DEFAULT NULL, what text DEFAULT NULL) RETURNS void
    AS 'MODULE_PATHNAME', 'ml_progress_phase' LANGUAGE C VOLATILE PARALLEL RESTRICTED;
CREATE FUNCTION ml._progress_end() RETURNS void
    AS 'MODULE_PATHNAME', 'ml_progress_end' LANGUAGE C VOLATILE PARALLEL RESTRICTED;
CREATE FUNCTION ml._fits_in_progress(OUT pid int, OUT algorithm int, OUT phase text, OUT pass int,
                                     OUT rows_read bigint, OUT rows_per_pass bigint, OUT started timestamptz)
RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'ml_fits_in_progress' LANGUAGE C VOLATILE STRICT PARALLEL RESTRICTED;

CREATE VIEW ml.fits_in_progress AS
SELECT f.pid, a.usename AS role, alg.name AS algorithm, f.phase, f.pass, f.rows_read, f.rows_per_pass,
       f.started, clock_timestamp() - f.started AS elapsed, a.query
  FROM ml._fits_in_progress() f
  LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = f.pid
  LEFT JOIN ml.algorithms() alg ON alg.id = f.algorithm;
COMMENT ON VIEW ml.fits_in_progress IS
  'Fits running now, one row per backend (a parallel worker has its own): algorithm, phase (reading the source, statistics, fitting, evaluating), passes finished (a fit in passes runs several), rows read in the current pass (updated every 16384 rows), rows of the last pass, start and elapsed time. Shows the fits of roles the caller has the privileges of, or all with pg_read_all_stats, as pg_stat_activity does.';
-- only ml.train reports phases (the training aggregates report rows from C)
REVOKE EXECUTE ON FUNCTION ml._progress_begin(int), ml._progress_phase(int, int, bigint, text), ml._progress_end() FROM PUBLIC;
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
-- ---------------------------------------------------------------- scoring

CREATE FUNCTION ml.predict(model ml.model, features float8[]) RETURNS text
    AS 'MODULE_PATHNAME', 'ml_predict_model' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ml.predict(ml.model, float8[]) IS
  'Prediction as text: a classifier''s label as its type writes it (''true'', ''3'', ''setosa''; cast back with ::boolean, ::int), a regression''s number (cast with ::float8). NULL if a feature is NULL, except for tree models, which score a NULL as a missing value.';

CREATE FUNCTION ml.predict_proba(model ml.model, features float8[]) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'ml_predict_proba_model' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ml.predict_proba(ml.model, float8[]) IS
  'Class probabilities of a classifier, in the order of ml.describe(model)->''classes''. NULL if a feature is NULL (tree models: a missing value).';

CREATE FUNCTION ml.describe(model ml.model) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'ml_describe_model' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ml.describe(ml.model) IS
  'The model as JSON: algorithm, format_version, features, training_rows, label_type, classes (in order), coefficients or class statistics, options.';

-- Row forms: the row's columns are matched by name to the columns ml.train learned
-- the model from, and its preprocessing (imputation, scaling, categories) is replayed.
CREATE FUNCTION ml.predict(model ml.model, "row" record) RETURNS text
    AS 'MODULE_PATHNAME', 'ml_predict_model_row' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ml.predict(ml.model, record) IS
  'Prediction for a table row (model trained by ml.train): columns are matched by name, missing values imputed, categories encoded as in training.';
CREATE FUNCTION ml.predict_proba(model ml.model, "row" record) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'ml_predict_proba_model_row' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ml.predict_proba(ml.model, record) IS
  'Class probabilities for a table row (model trained by ml.train), in class order.';
CREATE FUNCTION ml.encode(model ml.model, "row" record) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'ml_encode_model_row' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ml.encode(ml.model, record) IS
  'The feature vector the model scores for a row: its preprocessing replayed (numeric columns first, then one 0/1 slot per category).';
CREATE FUNCTION ml.encode(spec jsonb, "row" record) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'ml_encode_spec_row' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ml.encode(jsonb, record) IS
  'Encodes a row with a preprocessing spec ({"columns": [...]}, as stored by ml.train under info.preprocess).';

-- An untyped literal ('{1,2,3}') could be an array or a row: these text forms settle
-- it for the array, so ml.predict(m, '{...}') is never ambiguous.
CREATE FUNCTION ml.predict(model ml.model, features text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$ SELECT ml.predict(model, features::float8[]) $$;
COMMENT ON FUNCTION ml.predict(ml.model, text) IS
  'ml.predict with the features written as an array literal (''{63, 1, 145}''), for untyped parameters.';
CREATE FUNCTION ml.predict_proba(model ml.model, features text) RETURNS float8[]
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$ SELECT ml.predict_proba(model, features::float8[]) $$;
COMMENT ON FUNCTION ml.predict_proba(ml.model, text) IS
  'ml.predict_proba with the features written as an array literal, for untyped parameters.';
-- ---------------------------------------------------------------- evaluation metrics
-- ml.metrics(model, features, label): scores every row with the model (as ml.predict
-- and ml.predict_proba do) and compares with the label. A text label evaluates a
-- classifier, a float8 label a regression model. Partial states combine, so parallel
-- plans and GROUP BY work.

CREATE FUNCTION ml._metrics_step(internal, ml.model, float8[], text) RETURNS internal
    AS 'MODULE_PATHNAME', 'ml_metrics_step_class' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION ml._metrics_step(internal, ml.model, float8[], float8) RETURNS internal
    AS 'MODULE_PATHNAME', 'ml_metrics_step_value' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION ml._metrics_combine(internal, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'ml_metrics_combine' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION ml._metrics_serialize(internal) RETURNS bytea
    AS 'MODULE_PATHNAME', 'ml_metrics_serialize' LANGUAGE C STRICT PARALLEL SAFE;
CREATE FUNCTION ml._metrics_deserialize(bytea, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'ml_metrics_deserialize' LANGUAGE C STRICT PARALLEL SAFE;
CREATE FUNCTION ml._metrics_final(internal) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'ml_metrics_final' LANGUAGE C PARALLEL SAFE;
-- ml.label_metrics: the same state and final function over predictions already made
-- (the monitor's window): the class list, the prediction, the label, the probabilities
CREATE FUNCTION ml._label_metrics_step(internal, text[], text, text, float8[]) RETURNS internal
    AS 'MODULE_PATHNAME', 'ml_label_metrics_step_class' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION ml._label_metrics_step(internal, float8, float8) RETURNS internal
    AS 'MODULE_PATHNAME', 'ml_label_metrics_step_value' LANGUAGE C PARALLEL SAFE;
-- the aggregates ml.metrics and ml.label_metrics themselves: 45_aggregates.table

CREATE FUNCTION ml.psi(expected float8[], observed float8[], floor float8 DEFAULT 1e-4) RETURNS float8
    AS 'MODULE_PATHNAME', 'ml_psi' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ml.psi(float8[], float8[], float8) IS
  'Population stability index of a feature: the training shares of some bins (expected; normalised to sum 1) against live counts in the same bins (observed): sum((a - e) * ln(a / e)), a share below floor counting as floor. 0: the same distribution; above about 0.2: a shift. What the monitors (ml.monitor) store in ml.drift.';
CREATE AGGREGATE ml.linreg_fit(features float8[], label float8) (
    SFUNC = ml._linreg_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.linreg_fit(float8[], float8) IS
  'Least-squares linear regression with intercept (scikit-learn LinearRegression; Ridge with l2). Rows with a NULL features array or label are skipped; no rows give NULL. Keeps sums only, so any row count fits.';
CREATE AGGREGATE ml.linreg_fit_state(features float8[], label float8) (
    SFUNC = ml._linreg_step, STYPE = internal, FINALFUNC = ml._fit_state_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.linreg_fit_state(float8[], float8) IS
  'The partial state of ml.linreg_fit(float8[], float8) on these rows, as an ml.fit_state value; ml.combine_states of the states of all parts gives the model ml.linreg_fit gives on all rows.';
CREATE AGGREGATE ml.linreg_fit(features float8[], label float8, options jsonb) (
    SFUNC = ml._linreg_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.linreg_fit(float8[], float8, jsonb) IS
  'Least-squares linear regression with intercept (scikit-learn LinearRegression; Ridge with l2). Rows with a NULL features array or label are skipped; no rows give NULL. Keeps sums only, so any row count fits. Options: l2 (ridge alpha, as scikit-learn Ridge; default 0), intercept (default true), nulls ("error" or "skip" rows whose features hold a NULL).';
CREATE AGGREGATE ml.linreg_fit_state(features float8[], label float8, options jsonb) (
    SFUNC = ml._linreg_step, STYPE = internal, FINALFUNC = ml._fit_state_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.linreg_fit_state(float8[], float8, jsonb) IS
  'The partial state of ml.linreg_fit(float8[], float8, jsonb) on these rows, as an ml.fit_state value; ml.combine_states of the states of all parts gives the model ml.linreg_fit gives on all rows.';
CREATE AGGREGATE ml.logreg_fit(features float8[], label boolean) (
    SFUNC = ml._logreg_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.logreg_fit(float8[], boolean) IS
  'Logistic regression, L2 penalty l2 = 1 (scikit-learn LogisticRegression C=1): two classes sigmoid, more softmax; ml.predict answers with the label as text. Keeps the rows in memory: 8*features+4 bytes a row, up to pgscore.max_training_memory; ml.logreg_step fits the same model in passes that keep no rows (ml.train does so by itself beyond the memory setting).';
CREATE AGGREGATE ml.logreg_fit_state(features float8[], label boolean) (
    SFUNC = ml._logreg_step, STYPE = internal, FINALFUNC = ml._fit_state_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.logreg_fit_state(float8[], boolean) IS
  'The partial state of ml.logreg_fit(float8[], boolean) on these rows, as an ml.fit_state value; ml.combine_states of the states of all parts gives the model ml.logreg_fit gives on all rows.';
CREATE AGGREGATE ml.logreg_fit(features float8[], label boolean, options jsonb) (
    SFUNC = ml._logreg_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.logreg_fit(float8[], boolean, jsonb) IS
  'Logistic regression, L2 penalty l2 = 1 (scikit-learn LogisticRegression C=1): two classes sigmoid, more softmax; ml.predict answers with the label as text. Keeps the rows in memory: 8*features+4 bytes a row, up to pgscore.max_training_memory; ml.logreg_step fits the same model in passes that keep no rows (ml.train does so by itself beyond the memory setting). Options: l2 (= 1/C of scikit-learn; default 1), intercept (true), max_iter (100), tol (1e-10), nulls ("error" | "skip").';
CREATE AGGREGATE ml.logreg_fit_state(features float8[], label boolean, options jsonb) (
    SFUNC = ml._logreg_step, STYPE = internal, FINALFUNC = ml._fit_state_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.logreg_fit_state(float8[], boolean, jsonb) IS
  'The partial state of ml.logreg_fit(float8[], boolean, jsonb) on these rows, as an ml.fit_state value; ml.combine_states of the states of all parts gives the model ml.logreg_fit gives on all rows.';
CREATE AGGREGATE ml.logreg_fit(features float8[], label bigint) (
    SFUNC = ml._logreg_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.logreg_fit(float8[], bigint) IS
  'Logistic regression, L2 penalty l2 = 1 (scikit-learn LogisticRegression C=1): two classes sigmoid, more softmax; ml.predict answers with the label as text. Keeps the rows in memory: 8*features+4 bytes a row, up to pgscore.max_training_memory; ml.logreg_step fits the same model in passes that keep no rows (ml.train does so by itself beyond the memory setting).';
CREATE AGGREGATE ml.logreg_fit_state(features float8[], label bigint) (
    SFUNC = ml._logreg_step, STYPE = internal, FINALFUNC = ml._fit_state_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.logreg_fit_state(float8[], bigint) IS
  'The partial state of ml.logreg_fit(float8[], bigint) on these rows, as an ml.fit_state value; ml.combine_states of the states of all parts gives the model ml.logreg_fit gives on all rows.';
CREATE AGGREGATE ml.logreg_fit(features float8[], label bigint, options jsonb) (
    SFUNC = ml._logreg_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.logreg_fit(float8[], bigint, jsonb) IS
  'Logistic regression, L2 penalty l2 = 1 (scikit-learn LogisticRegression C=1): two classes sigmoid, more softmax; ml.predict answers with the label as text. Keeps the rows in memory: 8*features+4 bytes a row, up to pgscore.max_training_memory; ml.logreg_step fits the same model in passes that keep no rows (ml.train does so by itself beyond the memory setting). Options: l2 (= 1/C of scikit-learn; default 1), intercept (true), max_iter (100), tol (1e-10), nulls ("error" | "skip").';
CREATE AGGREGATE ml.logreg_fit_state(features float8[], label bigint, options jsonb) (
    SFUNC = ml._logreg_step, STYPE = internal, FINALFUNC = ml._fit_state_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.logreg_fit_state(float8[], bigint, jsonb) IS
  'The partial state of ml.logreg_fit(float8[], bigint, jsonb) on these rows, as an ml.fit_state value; ml.combine_states of the states of all parts gives the model ml.logreg_fit gives on all rows.';
CREATE AGGREGATE ml.logreg_fit(features float8[], label text) (
    SFUNC = ml._logreg_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.logreg_fit(float8[], text) IS
  'Logistic regression, L2 penalty l2 = 1 (scikit-learn LogisticRegression C=1): two classes sigmoid, more softmax; ml.predict answers with the label as text. Keeps the rows in memory: 8*features+4 bytes a row, up to pgscore.max_training_memory; ml.logreg_step fits the same model in passes that keep no rows (ml.train does so by itself beyond the memory setting).';
CREATE AGGREGATE ml.logreg_fit_state(features float8[], label text) (
    SFUNC = ml._logreg_step, STYPE = internal, FINALFUNC = ml._fit_state_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.logreg_fit_state(float8[], text) IS
  'The partial state of ml.logreg_fit(float8[], text) on these rows, as an ml.fit_state value; ml.combine_states of the states of all parts gives the model ml.logreg_fit gives on all rows.';
CREATE AGGREGATE ml.logreg_fit(features float8[], label text, options jsonb) (
    SFUNC = ml._logreg_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.logreg_fit(float8[], text, jsonb) IS
  'Logistic regression, L2 penalty l2 = 1 (scikit-learn LogisticRegression C=1): two classes sigmoid, more softmax; ml.predict answers with the label as text. Keeps the rows in memory: 8*features+4 bytes a row, up to pgscore.max_training_memory; ml.logreg_step fits the same model in passes that keep no rows (ml.train does so by itself beyond the memory setting). Options: l2 (= 1/C of scikit-learn; default 1), intercept (true), max_iter (100), tol (1e-10), nulls ("error" | "skip").';
CREATE AGGREGATE ml.logreg_fit_state(features float8[], label text, options jsonb) (
    SFUNC = ml._logreg_step, STYPE = internal, FINALFUNC = ml._fit_state_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.logreg_fit_state(float8[], text, jsonb) IS
  'The partial state of ml.logreg_fit(float8[], text, jsonb) on these rows, as an ml.fit_state value; ml.combine_states of the states of all parts gives the model ml.logreg_fit gives on all rows.';
CREATE AGGREGATE ml.nb_fit(features float8[], label boolean) (
    SFUNC = ml._nb_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.nb_fit(float8[], boolean) IS
  'Gaussian naive Bayes (scikit-learn GaussianNB), any number of classes; ml.predict answers with the label as text. Keeps per-class sums only, so any row count fits.';
CREATE AGGREGATE ml.nb_fit_state(features float8[], label boolean) (
    SFUNC = ml._nb_step, STYPE = internal, FINALFUNC = ml._fit_state_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.nb_fit_state(float8[], boolean) IS
  'The partial state of ml.nb_fit(float8[], boolean) on these rows, as an ml.fit_state value; ml.combine_states of the states of all parts gives the model ml.nb_fit gives on all rows.';
CREATE AGGREGATE ml.nb_fit(features float8[], label boolean, options jsonb) (
    SFUNC = ml._nb_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.nb_fit(float8[], boolean, jsonb) IS
  'Gaussian naive Bayes (scikit-learn GaussianNB), any number of classes; ml.predict answers with the label as text. Keeps per-class sums only, so any row count fits. Options: var_smoothing (default 1e-9, as scikit-learn), nulls ("error" | "skip").';
CREATE AGGREGATE ml.nb_fit_state(features float8[], label boolean, options jsonb) (
    SFUNC = ml._nb_step, STYPE = internal, FINALFUNC = ml._fit_state_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.nb_fit_state(float8[], boolean, jsonb) IS
  'The partial state of ml.nb_fit(float8[], boolean, jsonb) on these rows, as an ml.fit_state value; ml.combine_states of the states of all parts gives the model ml.nb_fit gives on all rows.';
CREATE AGGREGATE ml.nb_fit(features float8[], label bigint) (
    SFUNC = ml._nb_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.nb_fit(float8[], bigint) IS
  'Gaussian naive Bayes (scikit-learn GaussianNB), any number of classes; ml.predict answers with the label as text. Keeps per-class sums only, so any row count fits.';
CREATE AGGREGATE ml.nb_fit_state(features float8[], label bigint) (
    SFUNC = ml._nb_step, STYPE = internal, FINALFUNC = ml._fit_state_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.nb_fit_state(float8[], bigint) IS
  'The partial state of ml.nb_fit(float8[], bigint) on these rows, as an ml.fit_state value; ml.combine_states of the states of all parts gives the model ml.nb_fit gives on all rows.';
CREATE AGGREGATE ml.nb_fit(features float8[], label bigint, options jsonb) (
    SFUNC = ml._nb_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.nb_fit(float8[], bigint, jsonb) IS
  'Gaussian naive Bayes (scikit-learn GaussianNB), any number of classes; ml.predict answers with the label as text. Keeps per-class sums only, so any row count fits. Options: var_smoothing (default 1e-9, as scikit-learn), nulls ("error" | "skip").';
CREATE AGGREGATE ml.nb_fit_state(features float8[], label bigint, options jsonb) (
    SFUNC = ml._nb_step, STYPE = internal, FINALFUNC = ml._fit_state_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.nb_fit_state(float8[], bigint, jsonb) IS
  'The partial state of ml.nb_fit(float8[], bigint, jsonb) on these rows, as an ml.fit_state value; ml.combine_states of the states of all parts gives the model ml.nb_fit gives on all rows.';
CREATE AGGREGATE ml.nb_fit(features float8[], label text) (
    SFUNC = ml._nb_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.nb_fit(float8[], text) IS
  'Gaussian naive Bayes (scikit-learn GaussianNB), any number of classes; ml.predict answers with the label as text. Keeps per-class sums only, so any row count fits.';
CREATE AGGREGATE ml.nb_fit_state(features float8[], label text) (
    SFUNC = ml._nb_step, STYPE = internal, FINALFUNC = ml._fit_state_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.nb_fit_state(float8[], text) IS
  'The partial state of ml.nb_fit(float8[], text) on these rows, as an ml.fit_state value; ml.combine_states of the states of all parts gives the model ml.nb_fit gives on all rows.';
CREATE AGGREGATE ml.nb_fit(features float8[], label text, options jsonb) (
    SFUNC = ml._nb_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.nb_fit(float8[], text, jsonb) IS
  'Gaussian naive Bayes (scikit-learn GaussianNB), any number of classes; ml.predict answers with the label as text. Keeps per-class sums only, so any row count fits. Options: var_smoothing (default 1e-9, as scikit-learn), nulls ("error" | "skip").';
CREATE AGGREGATE ml.nb_fit_state(features float8[], label text, options jsonb) (
    SFUNC = ml._nb_step, STYPE = internal, FINALFUNC = ml._fit_state_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.nb_fit_state(float8[], text, jsonb) IS
  'The partial state of ml.nb_fit(float8[], text, jsonb) on these rows, as an ml.fit_state value; ml.combine_states of the states of all parts gives the model ml.nb_fit gives on all rows.';
CREATE AGGREGATE ml.tree_fit(features float8[], label boolean) (
    SFUNC = ml._tree_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.tree_fit(float8[], boolean) IS
  'A CART decision tree (scikit-learn DecisionTreeClassifier/Regressor): Gini impurity for classes (boolean, integer or text labels; ml.predict answers with the label as text), squared error for a float8 label. NULL or NaN features are missing values; keeps the rows in memory up to pgscore.max_training_memory.';
CREATE AGGREGATE ml.tree_fit_state(features float8[], label boolean) (
    SFUNC = ml._tree_step, STYPE = internal, FINALFUNC = ml._fit_state_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.tree_fit_state(float8[], boolean) IS
  'The partial state of ml.tree_fit(float8[], boolean) on these rows, as an ml.fit_state value; ml.combine_states of the states of all parts gives the model ml.tree_fit gives on all rows.';
CREATE AGGREGATE ml.tree_fit(features float8[], label boolean, options jsonb) (
    SFUNC = ml._tree_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.tree_fit(float8[], boolean, jsonb) IS
  'A CART decision tree (scikit-learn DecisionTreeClassifier/Regressor): Gini impurity for classes (boolean, integer or text labels; ml.predict answers with the label as text), squared error for a float8 label. NULL or NaN features are missing values; keeps the rows in memory up to pgscore.max_training_memory. Options: max_depth (null = unlimited), min_samples_leaf (1), features_per_split (1 = all; a fraction, a count, "sqrt" or "log2"), max_bins (255), seed (0), nulls ("missing" | "error" | "skip").';
CREATE AGGREGATE ml.tree_fit_state(features float8[], label boolean, options jsonb) (
    SFUNC = ml._tree_step, STYPE = internal, FINALFUNC = ml._fit_state_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.tree_fit_state(float8[], boolean, jsonb) IS
  'The partial state of ml.tree_fit(float8[], boolean, jsonb) on these rows, as an ml.fit_state value; ml.combine_states of the states of all parts gives the model ml.tree_fit gives on all rows.';
CREATE AGGREGATE ml.tree_fit(features float8[], label smallint) (
    SFUNC = ml._tree_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.tree_fit(float8[], smallint) IS
  'A CART decision tree (scikit-learn DecisionTreeClassifier/Regressor): Gini impurity for classes (boolean, integer or text labels; ml.predict answers with the label as text), squared error for a float8 label. NULL or NaN features are missing values; keeps the rows in memory up to pgscore.max_training_memory.';
CREATE AGGREGATE ml.tree_fit_state(features float8[], label smallint) (
    SFUNC = ml._tree_step, STYPE = internal, FINALFUNC = ml._fit_state_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.tree_fit_state(float8[], smallint) IS
  'The partial state of ml.tree_fit(float8[], smallint) on these rows, as an ml.fit_state value; ml.combine_states of the states of all parts gives the model ml.tree_fit gives on all rows.';
CREATE AGGREGATE ml.tree_fit(features float8[], label smallint, options jsonb) (
    SFUNC = ml._tree_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.tree_fit(float8[], smallint, jsonb) IS
  'A CART decision tree (scikit-learn DecisionTreeClassifier/Regressor): Gini impurity for classes (boolean, integer or text labels; ml.predict answers with the label as text), squared error for a float8 label. NULL or NaN features are missing values; keeps the rows in memory up to pgscore.max_training_memory. Options: max_depth (null = unlimited), min_samples_leaf (1), features_per_split (1 = all; a fraction, a count, "sqrt" or "log2"), max_bins (255), seed (0), nulls ("missing" | "error" | "skip").';
CREATE AGGREGATE ml.tree_fit_state(features float8[], label smallint, options jsonb) (
    SFUNC = ml._tree_step, STYPE = internal, FINALFUNC = ml._fit_state_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.tree_fit_state(float8[], smallint, jsonb) IS
  'The partial state of ml.tree_fit(float8[], smallint, jsonb) on these rows, as an ml.fit_state value; ml.combine_states of the states of all parts gives the model ml.tree_fit gives on all rows.';
CREATE AGGREGATE ml.tree_fit(features float8[], label integer) (
    SFUNC = ml._tree_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.tree_fit(float8[], integer) IS
  'A CART decision tree (scikit-learn DecisionTreeClassifier/Regressor): Gini impurity for classes (boolean, integer or text labels; ml.predict answers with the label as text), squared error for a float8 label. NULL or NaN features are missing values; keeps the rows in memory up to pgscore.max_training_memory.';
CREATE AGGREGATE ml.tree_fit_state(features float8[], label integer) (
    SFUNC = ml._tree_step, STYPE = internal, FINALFUNC = ml._fit_state_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.tree_fit_state(float8[], integer) IS
  'The partial state of ml.tree_fit(float8[], integer) on these rows, as an ml.fit_state value; ml.combine_states of the states of all parts gives the model ml.tree_fit gives on all rows.';
CREATE AGGREGATE ml.tree_fit(features float8[], label integer, options jsonb) (
    SFUNC = ml._tree_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.tree_fit(float8[], integer, jsonb) IS
  'A CART decision tree (scikit-learn DecisionTreeClassifier/Regressor): Gini impurity for classes (boolean, integer or text labels; ml.predict answers with the label as text), squared error for a float8 label. NULL or NaN features are missing values; keeps the rows in memory up to pgscore.max_training_memory. Options: max_depth (null = unlimited), min_samples_leaf (1), features_per_split (1 = all; a fraction, a count, "sqrt" or "log2"), max_bins (255), seed (0), nulls ("missing" | "error" | "skip").';
CREATE AGGREGATE ml.tree_fit_state(features float8[], label integer, options jsonb) (
    SFUNC = ml._tree_step, STYPE = internal, FINALFUNC = ml._fit_state_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.tree_fit_state(float8[], integer, jsonb) IS
  'The partial state of ml.tree_fit(float8[], integer, jsonb) on these rows, as an ml.fit_state value; ml.combine_states of the states of all parts gives the model ml.tree_fit gives on all rows.';
CREATE AGGREGATE ml.tree_fit(features float8[], label bigint) (
    SFUNC = ml._tree_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.tree_fit(float8[], bigint) IS
  'A CART decision tree (scikit-learn DecisionTreeClassifier/Regressor): Gini impurity for classes (boolean, integer or text labels; ml.predict answers with the label as text), squared error for a float8 label. NULL or NaN features are missing values; keeps the rows in memory up to pgscore.max_training_memory.';
CREATE AGGREGATE ml.tree_fit_state(features float8[], label bigint) (
    SFUNC = ml._tree_step, STYPE = internal, FINALFUNC = ml._fit_state_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.tree_fit_state(float8[], bigint) IS
  'The partial state of ml.tree_fit(float8[], bigint) on these rows, as an ml.fit_state value; ml.combine_states of the states of all parts gives the model ml.tree_fit gives on all rows.';
CREATE AGGREGATE ml.tree_fit(features float8[], label bigint, options jsonb) (
    SFUNC = ml._tree_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.tree_fit(float8[], bigint, jsonb) IS
  'A CART decision tree (scikit-learn DecisionTreeClassifier/Regressor): Gini impurity for classes (boolean, integer or text labels; ml.predict answers with the label as text), squared error for a float8 label. NULL or NaN features are missing values; keeps the rows in memory up to pgscore.max_training_memory. Options: max_depth (null = unlimited), min_samples_leaf (1), features_per_split (1 = all; a fraction, a count, "sqrt" or "log2"), max_bins (255), seed (0), nulls ("missing" | "error" | "skip").';
CREATE AGGREGATE ml.tree_fit_state(features float8[], label bigint, options jsonb) (
    SFUNC = ml._tree_step, STYPE = internal, FINALFUNC = ml._fit_state_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.tree_fit_state(float8[], bigint, jsonb) IS
  'The partial state of ml.tree_fit(float8[], bigint, jsonb) on these rows, as an ml.fit_state value; ml.combine_states of the states of all parts gives the model ml.tree_fit gives on all rows.';
CREATE AGGREGATE ml.tree_fit(features float8[], label text) (
    SFUNC = ml._tree_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.tree_fit(float8[], text) IS
  'A CART decision tree (scikit-learn DecisionTreeClassifier/Regressor): Gini impurity for classes (boolean, integer or text labels; ml.predict answers with the label as text), squared error for a float8 label. NULL or NaN features are missing values; keeps the rows in memory up to pgscore.max_training_memory.';
CREATE AGGREGATE ml.tree_fit_state(features float8[], label text) (
    SFUNC = ml._tree_step, STYPE = internal, FINALFUNC = ml._fit_state_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.tree_fit_state(float8[], text) IS
  'The partial state of ml.tree_fit(float8[], text) on these rows, as an ml.fit_state value; ml.combine_states of the states of all parts gives the model ml.tree_fit gives on all rows.';
CREATE AGGREGATE ml.tree_fit(features float8[], label text, options jsonb) (
    SFUNC = ml._tree_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.tree_fit(float8[], text, jsonb) IS
  'A CART decision tree (scikit-learn DecisionTreeClassifier/Regressor): Gini impurity for classes (boolean, integer or text labels; ml.predict answers with the label as text), squared error for a float8 label. NULL or NaN features are missing values; keeps the rows in memory up to pgscore.max_training_memory. Options: max_depth (null = unlimited), min_samples_leaf (1), features_per_split (1 = all; a fraction, a count, "sqrt" or "log2"), max_bins (255), seed (0), nulls ("missing" | "error" | "skip").';
CREATE AGGREGATE ml.tree_fit_state(features float8[], label text, options jsonb) (
    SFUNC = ml._tree_step, STYPE = internal, FINALFUNC = ml._fit_state_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.tree_fit_state(float8[], text, jsonb) IS
  'The partial state of ml.tree_fit(float8[], text, jsonb) on these rows, as an ml.fit_state value; ml.combine_states of the states of all parts gives the model ml.tree_fit gives on all rows.';
CREATE AGGREGATE ml.tree_fit(features float8[], label float8) (
    SFUNC = ml._tree_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.tree_fit(float8[], float8) IS
  'A CART decision tree (scikit-learn DecisionTreeClassifier/Regressor): Gini impurity for classes (boolean, integer or text labels; ml.predict answers with the label as text), squared error for a float8 label. NULL or NaN features are missing values; keeps the rows in memory up to pgscore.max_training_memory.';
CREATE AGGREGATE ml.tree_fit_state(features float8[], label float8) (
    SFUNC = ml._tree_step, STYPE = internal, FINALFUNC = ml._fit_state_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.tree_fit_state(float8[], float8) IS
  'The partial state of ml.tree_fit(float8[], float8) on these rows, as an ml.fit_state value; ml.combine_states of the states of all parts gives the model ml.tree_fit gives on all rows.';
CREATE AGGREGATE ml.tree_fit(features float8[], label float8, options jsonb) (
    SFUNC = ml._tree_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.tree_fit(float8[], float8, jsonb) IS
  'A CART decision tree (scikit-learn DecisionTreeClassifier/Regressor): Gini impurity for classes (boolean, integer or text labels; ml.predict answers with the label as text), squared error for a float8 label. NULL or NaN features are missing values; keeps the rows in memory up to pgscore.max_training_memory. Options: max_depth (null = unlimited), min_samples_leaf (1), features_per_split (1 = all; a fraction, a count, "sqrt" or "log2"), max_bins (255), seed (0), nulls ("missing" | "error" | "skip").';
CREATE AGGREGATE ml.tree_fit_state(features float8[], label float8, options jsonb) (
    SFUNC = ml._tree_step, STYPE = internal, FINALFUNC = ml._fit_state_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.tree_fit_state(float8[], float8, jsonb) IS
  'The partial state of ml.tree_fit(float8[], float8, jsonb) on these rows, as an ml.fit_state value; ml.combine_states of the states of all parts gives the model ml.tree_fit gives on all rows.';
CREATE AGGREGATE ml.forest_fit(features float8[], label boolean) (
    SFUNC = ml._forest_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.forest_fit(float8[], boolean) IS
  'A random forest (scikit-learn RandomForestClassifier/Regressor): 100 trees on bootstrap samples, fully grown, averaging probabilities or values; each split tries sqrt(d) features (classification: boolean, integer or text labels) or all d (regression: a float8 label). NULL or NaN features are missing values; keeps the rows in memory up to pgscore.max_training_memory.';
CREATE AGGREGATE ml.forest_fit_state(features float8[], label boolean) (
    SFUNC = ml._forest_step, STYPE = internal, FINALFUNC = ml._fit_state_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.forest_fit_state(float8[], boolean) IS
  'The partial state of ml.forest_fit(float8[], boolean) on these rows, as an ml.fit_state value; ml.combine_states of the states of all parts gives the model ml.forest_fit gives on all rows.';
CREATE AGGREGATE ml.forest_fit(features float8[], label boolean, options jsonb) (
    SFUNC = ml._forest_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.forest_fit(float8[], boolean, jsonb) IS
  'A random forest (scikit-learn RandomForestClassifier/Regressor): 100 trees on bootstrap samples, fully grown, averaging probabilities or values; each split tries sqrt(d) features (classification: boolean, integer or text labels) or all d (regression: a float8 label). NULL or NaN features are missing values; keeps the rows in memory up to pgscore.max_training_memory. Options: n_trees (100), max_depth (null = unlimited), min_samples_leaf (1), features_per_split ("sqrt" for classes, 1 = all for numbers; a fraction, a count, "sqrt", "log2"), max_bins (255), seed (0), nulls ("missing" | "error" | "skip").';
CREATE AGGREGATE ml.forest_fit_state(features float8[], label boolean, options jsonb) (
    SFUNC = ml._forest_step, STYPE = internal, FINALFUNC = ml._fit_state_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.forest_fit_state(float8[], boolean, jsonb) IS
  'The partial state of ml.forest_fit(float8[], boolean, jsonb) on these rows, as an ml.fit_state value; ml.combine_states of the states of all parts gives the model ml.forest_fit gives on all rows.';
CREATE AGGREGATE ml.forest_fit(features float8[], label smallint) (
    SFUNC = ml._forest_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.forest_fit(float8[], smallint) IS
  'A random forest (scikit-learn RandomForestClassifier/Regressor): 100 trees on bootstrap samples, fully grown, averaging probabilities or values; each split tries sqrt(d) features (classification: boolean, integer or text labels) or all d (regression: a float8 label). NULL or NaN features are missing values; keeps the rows in memory up to pgscore.max_training_memory.';
CREATE AGGREGATE ml.forest_fit_state(features float8[], label smallint) (
    SFUNC = ml._forest_step, STYPE = internal, FINALFUNC = ml._fit_state_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.forest_fit_state(float8[], smallint) IS
  'The partial state of ml.forest_fit(float8[], smallint) on these rows, as an ml.fit_state value; ml.combine_states of the states of all parts gives the model ml.forest_fit gives on all rows.';
CREATE AGGREGATE ml.forest_fit(features float8[], label smallint, options jsonb) (
    SFUNC = ml._forest_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.forest_fit(float8[], smallint, jsonb) IS
  'A random forest (scikit-learn RandomForestClassifier/Regressor): 100 trees on bootstrap samples, fully grown, averaging probabilities or values; each split tries sqrt(d) features (classification: boolean, integer or text labels) or all d (regression: a float8 label). NULL or NaN features are missing values; keeps the rows in memory up to pgscore.max_training_memory. Options: n_trees (100), max_depth (null = unlimited), min_samples_leaf (1), features_per_split ("sqrt" for classes, 1 = all for numbers; a fraction, a count, "sqrt", "log2"), max_bins (255), seed (0), nulls ("missing" | "error" | "skip").';
CREATE AGGREGATE ml.forest_fit_state(features float8[], label smallint, options jsonb) (
    SFUNC = ml._forest_step, STYPE = internal, FINALFUNC = ml._fit_state_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.forest_fit_state(float8[], smallint, jsonb) IS
  'The partial state of ml.forest_fit(float8[], smallint, jsonb) on these rows, as an ml.fit_state value; ml.combine_states of the states of all parts gives the model ml.forest_fit gives on all rows.';
CREATE AGGREGATE ml.forest_fit(features float8[], label integer) (
    SFUNC = ml._forest_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.forest_fit(float8[], integer) IS
  'A random forest (scikit-learn RandomForestClassifier/Regressor): 100 trees on bootstrap samples, fully grown, averaging probabilities or values; each split tries sqrt(d) features (classification: boolean, integer or text labels) or all d (regression: a float8 label). NULL or NaN features are missing values; keeps the rows in memory up to pgscore.max_training_memory.';
CREATE AGGREGATE ml.forest_fit_state(features float8[], label integer) (
    SFUNC = ml._forest_step, STYPE = internal, FINALFUNC = ml._fit_state_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.forest_fit_state(float8[], integer) IS
  'The partial state of ml.forest_fit(float8[], integer) on these rows, as an ml.fit_state value; ml.combine_states of the states of all parts gives the model ml.forest_fit gives on all rows.';
CREATE AGGREGATE ml.forest_fit(features float8[], label integer, options jsonb) (
    SFUNC = ml._forest_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.forest_fit(float8[], integer, jsonb) IS
  'A random forest (scikit-learn RandomForestClassifier/Regressor): 100 trees on bootstrap samples, fully grown, averaging probabilities or values; each split tries sqrt(d) features (classification: boolean, integer or text labels) or all d (regression: a float8 label). NULL or NaN features are missing values; keeps the rows in memory up to pgscore.max_training_memory. Options: n_trees (100), max_depth (null = unlimited), min_samples_leaf (1), features_per_split ("sqrt" for classes, 1 = all for numbers; a fraction, a count, "sqrt", "log2"), max_bins (255), seed (0), nulls ("missing" | "error" | "skip").';
CREATE AGGREGATE ml.forest_fit_state(features float8[], label integer, options jsonb) (
    SFUNC = ml._forest_step, STYPE = internal, FINALFUNC = ml._fit_state_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.forest_fit_state(float8[], integer, jsonb) IS
  'The partial state of ml.forest_fit(float8[], integer, jsonb) on these rows, as an ml.fit_state value; ml.combine_states of the states of all parts gives the model ml.forest_fit gives on all rows.';
CREATE AGGREGATE ml.forest_fit(features float8[], label bigint) (
    SFUNC = ml._forest_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.forest_fit(float8[], bigint) IS
  'A random forest (scikit-learn RandomForestClassifier/Regressor): 100 trees on bootstrap samples, fully grown, averaging probabilities or values; each split tries sqrt(d) features (classification: boolean, integer or text labels) or all d (regression: a float8 label). NULL or NaN features are missing values; keeps the rows in memory up to pgscore.max_training_memory.';
CREATE AGGREGATE ml.forest_fit_state(features float8[], label bigint) (
    SFUNC = ml._forest_step, STYPE = internal, FINALFUNC = ml._fit_state_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.forest_fit_state(float8[], bigint) IS
  'The partial state of ml.forest_fit(float8[], bigint) on these rows, as an ml.fit_state value; ml.combine_states of the states of all parts gives the model ml.forest_fit gives on all rows.';
CREATE AGGREGATE ml.forest_fit(features float8[], label bigint, options jsonb) (
    SFUNC = ml._forest_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.forest_fit(float8[], bigint, jsonb) IS
  'A random forest (scikit-learn RandomForestClassifier/Regressor): 100 trees on bootstrap samples, fully grown, averaging probabilities or values; each split tries sqrt(d) features (classification: boolean, integer or text labels) or all d (regression: a float8 label). NULL or NaN features are missing values; keeps the rows in memory up to pgscore.max_training_memory. Options: n_trees (100), max_depth (null = unlimited), min_samples_leaf (1), features_per_split ("sqrt" for classes, 1 = all for numbers; a fraction, a count, "sqrt", "log2"), max_bins (255), seed (0), nulls ("missing" | "error" | "skip").';
CREATE AGGREGATE ml.forest_fit_state(features float8[], label bigint, options jsonb) (
    SFUNC = ml._forest_step, STYPE = internal, FINALFUNC = ml._fit_state_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.forest_fit_state(float8[], bigint, jsonb) IS
  'The partial state of ml.forest_fit(float8[], bigint, jsonb) on these rows, as an ml.fit_state value; ml.combine_states of the states of all parts gives the model ml.forest_fit gives on all rows.';
CREATE AGGREGATE ml.forest_fit(features float8[], label text) (
    SFUNC = ml._forest_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.forest_fit(float8[], text) IS
  'A random forest (scikit-learn RandomForestClassifier/Regressor): 100 trees on bootstrap samples, fully grown, averaging probabilities or values; each split tries sqrt(d) features (classification: boolean, integer or text labels) or all d (regression: a float8 label). NULL or NaN features are missing values; keeps the rows in memory up to pgscore.max_training_memory.';
CREATE AGGREGATE ml.forest_fit_state(features float8[], label text) (
    SFUNC = ml._forest_step, STYPE = internal, FINALFUNC = ml._fit_state_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.forest_fit_state(float8[], text) IS
  'The partial state of ml.forest_fit(float8[], text) on these rows, as an ml.fit_state value; ml.combine_states of the states of all parts gives the model ml.forest_fit gives on all rows.';
CREATE AGGREGATE ml.forest_fit(features float8[], label text, options jsonb) (
    SFUNC = ml._forest_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.forest_fit(float8[], text, jsonb) IS
  'A random forest (scikit-learn RandomForestClassifier/Regressor): 100 trees on bootstrap samples, fully grown, averaging probabilities or values; each split tries sqrt(d) features (classification: boolean, integer or text labels) or all d (regression: a float8 label). NULL or NaN features are missing values; keeps the rows in memory up to pgscore.max_training_memory. Options: n_trees (100), max_depth (null = unlimited), min_samples_leaf (1), features_per_split ("sqrt" for classes, 1 = all for numbers; a fraction, a count, "sqrt", "log2"), max_bins (255), seed (0), nulls ("missing" | "error" | "skip").';
CREATE AGGREGATE ml.forest_fit_state(features float8[], label text, options jsonb) (
    SFUNC = ml._forest_step, STYPE = internal, FINALFUNC = ml._fit_state_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.forest_fit_state(float8[], text, jsonb) IS
  'The partial state of ml.forest_fit(float8[], text, jsonb) on these rows, as an ml.fit_state value; ml.combine_states of the states of all parts gives the model ml.forest_fit gives on all rows.';
CREATE AGGREGATE ml.forest_fit(features float8[], label float8) (
    SFUNC = ml._forest_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.forest_fit(float8[], float8) IS
  'A random forest (scikit-learn RandomForestClassifier/Regressor): 100 trees on bootstrap samples, fully grown, averaging probabilities or values; each split tries sqrt(d) features (classification: boolean, integer or text labels) or all d (regression: a float8 label). NULL or NaN features are missing values; keeps the rows in memory up to pgscore.max_training_memory.';
CREATE AGGREGATE ml.forest_fit_state(features float8[], label float8) (
    SFUNC = ml._forest_step, STYPE = internal, FINALFUNC = ml._fit_state_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.forest_fit_state(float8[], float8) IS
  'The partial state of ml.forest_fit(float8[], float8) on these rows, as an ml.fit_state value; ml.combine_states of the states of all parts gives the model ml.forest_fit gives on all rows.';
CREATE AGGREGATE ml.forest_fit(features float8[], label float8, options jsonb) (
    SFUNC = ml._forest_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.forest_fit(float8[], float8, jsonb) IS
  'A random forest (scikit-learn RandomForestClassifier/Regressor): 100 trees on bootstrap samples, fully grown, averaging probabilities or values; each split tries sqrt(d) features (classification: boolean, integer or text labels) or all d (regression: a float8 label). NULL or NaN features are missing values; keeps the rows in memory up to pgscore.max_training_memory. Options: n_trees (100), max_depth (null = unlimited), min_samples_leaf (1), features_per_split ("sqrt" for classes, 1 = all for numbers; a fraction, a count, "sqrt", "log2"), max_bins (255), seed (0), nulls ("missing" | "error" | "skip").';
CREATE AGGREGATE ml.forest_fit_state(features float8[], label float8, options jsonb) (
    SFUNC = ml._forest_step, STYPE = internal, FINALFUNC = ml._fit_state_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.forest_fit_state(float8[], float8, jsonb) IS
  'The partial state of ml.forest_fit(float8[], float8, jsonb) on these rows, as an ml.fit_state value; ml.combine_states of the states of all parts gives the model ml.forest_fit gives on all rows.';
CREATE AGGREGATE ml.gbt_fit(features float8[], label boolean) (
    SFUNC = ml._gbt_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.gbt_fit(float8[], boolean) IS
  'Gradient-boosted trees (XGBoost hist-style, Newton leaves -G/(H+lambda)): logistic loss for two classes, softmax (one tree per class per round) for more, squared error for a float8 label; 100 rounds of depth 6, learning rate 0.1. NULL or NaN features are missing values; keeps the rows in memory up to pgscore.max_training_memory.';
CREATE AGGREGATE ml.gbt_fit_state(features float8[], label boolean) (
    SFUNC = ml._gbt_step, STYPE = internal, FINALFUNC = ml._fit_state_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.gbt_fit_state(float8[], boolean) IS
  'The partial state of ml.gbt_fit(float8[], boolean) on these rows, as an ml.fit_state value; ml.combine_states of the states of all parts gives the model ml.gbt_fit gives on all rows.';
CREATE AGGREGATE ml.gbt_fit(features float8[], label boolean, options jsonb) (
    SFUNC = ml._gbt_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.gbt_fit(float8[], boolean, jsonb) IS
  'Gradient-boosted trees (XGBoost hist-style, Newton leaves -G/(H+lambda)): logistic loss for two classes, softmax (one tree per class per round) for more, squared error for a float8 label; 100 rounds of depth 6, learning rate 0.1. NULL or NaN features are missing values; keeps the rows in memory up to pgscore.max_training_memory. Options: n_trees (100 rounds), max_depth (6), learning_rate (0.1), subsample (1), lambda (1), min_child_weight (1), min_samples_leaf (1), features_per_split (1 = all), max_bins (255), early_stopping_rounds (null = off), validation_fraction (0.1), seed (0), nulls ("missing" | "error" | "skip").';
CREATE AGGREGATE ml.gbt_fit_state(features float8[], label boolean, options jsonb) (
    SFUNC = ml._gbt_step, STYPE = internal, FINALFUNC = ml._fit_state_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.gbt_fit_state(float8[], boolean, jsonb) IS
  'The partial state of ml.gbt_fit(float8[], boolean, jsonb) on these rows, as an ml.fit_state value; ml.combine_states of the states of all parts gives the model ml.gbt_fit gives on all rows.';
CREATE AGGREGATE ml.gbt_fit(features float8[], label smallint) (
    SFUNC = ml._gbt_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.gbt_fit(float8[], smallint) IS
  'Gradient-boosted trees (XGBoost hist-style, Newton leaves -G/(H+lambda)): logistic loss for two classes, softmax (one tree per class per round) for more, squared error for a float8 label; 100 rounds of depth 6, learning rate 0.1. NULL or NaN features are missing values; keeps the rows in memory up to pgscore.max_training_memory.';
CREATE AGGREGATE ml.gbt_fit_state(features float8[], label smallint) (
    SFUNC = ml._gbt_step, STYPE = internal, FINALFUNC = ml._fit_state_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.gbt_fit_state(float8[], smallint) IS
  'The partial state of ml.gbt_fit(float8[], smallint) on these rows, as an ml.fit_state value; ml.combine_states of the states of all parts gives the model ml.gbt_fit gives on all rows.';
CREATE AGGREGATE ml.gbt_fit(features float8[], label smallint, options jsonb) (
    SFUNC = ml._gbt_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.gbt_fit(float8[], smallint, jsonb) IS
  'Gradient-boosted trees (XGBoost hist-style, Newton leaves -G/(H+lambda)): logistic loss for two classes, softmax (one tree per class per round) for more, squared error for a float8 label; 100 rounds of depth 6, learning rate 0.1. NULL or NaN features are missing values; keeps the rows in memory up to pgscore.max_training_memory. Options: n_trees (100 rounds), max_depth (6), learning_rate (0.1), subsample (1), lambda (1), min_child_weight (1), min_samples_leaf (1), features_per_split (1 = all), max_bins (255), early_stopping_rounds (null = off), validation_fraction (0.1), seed (0), nulls ("missing" | "error" | "skip").';
CREATE AGGREGATE ml.gbt_fit_state(features float8[], label smallint, options jsonb) (
    SFUNC = ml._gbt_step, STYPE = internal, FINALFUNC = ml._fit_state_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.gbt_fit_state(float8[], smallint, jsonb) IS
  'The partial state of ml.gbt_fit(float8[], smallint, jsonb) on these rows, as an ml.fit_state value; ml.combine_states of the states of all parts gives the model ml.gbt_fit gives on all rows.';
CREATE AGGREGATE ml.gbt_fit(features float8[], label integer) (
    SFUNC = ml._gbt_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.gbt_fit(float8[], integer) IS
  'Gradient-boosted trees (XGBoost hist-style, Newton leaves -G/(H+lambda)): logistic loss for two classes, softmax (one tree per class per round) for more, squared error for a float8 label; 100 rounds of depth 6, learning rate 0.1. NULL or NaN features are missing values; keeps the rows in memory up to pgscore.max_training_memory.';
CREATE AGGREGATE ml.gbt_fit_state(features float8[], label integer) (
    SFUNC = ml._gbt_step, STYPE = internal, FINALFUNC = ml._fit_state_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.gbt_fit_state(float8[], integer) IS
  'The partial state of ml.gbt_fit(float8[], integer) on these rows, as an ml.fit_state value; ml.combine_states of the states of all parts gives the model ml.gbt_fit gives on all rows.';
CREATE AGGREGATE ml.gbt_fit(features float8[], label integer, options jsonb) (
    SFUNC = ml._gbt_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.gbt_fit(float8[], integer, jsonb) IS
  'Gradient-boosted trees (XGBoost hist-style, Newton leaves -G/(H+lambda)): logistic loss for two classes, softmax (one tree per class per round) for more, squared error for a float8 label; 100 rounds of depth 6, learning rate 0.1. NULL or NaN features are missing values; keeps the rows in memory up to pgscore.max_training_memory. Options: n_trees (100 rounds), max_depth (6), learning_rate (0.1), subsample (1), lambda (1), min_child_weight (1), min_samples_leaf (1), features_per_split (1 = all), max_bins (255), early_stopping_rounds (null = off), validation_fraction (0.1), seed (0), nulls ("missing" | "error" | "skip").';
CREATE AGGREGATE ml.gbt_fit_state(features float8[], label integer, options jsonb) (
    SFUNC = ml._gbt_step, STYPE = internal, FINALFUNC = ml._fit_state_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.gbt_fit_state(float8[], integer, jsonb) IS
  'The partial state of ml.gbt_fit(float8[], integer, jsonb) on these rows, as an ml.fit_state value; ml.combine_states of the states of all parts gives the model ml.gbt_fit gives on all rows.';
CREATE AGGREGATE ml.gbt_fit(features float8[], label bigint) (
    SFUNC = ml._gbt_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.gbt_fit(float8[], bigint) IS
  'Gradient-boosted trees (XGBoost hist-style, Newton leaves -G/(H+lambda)): logistic loss for two classes, softmax (one tree per class per round) for more, squared error for a float8 label; 100 rounds of depth 6, learning rate 0.1. NULL or NaN features are missing values; keeps the rows in memory up to pgscore.max_training_memory.';
CREATE AGGREGATE ml.gbt_fit_state(features float8[], label bigint) (
    SFUNC = ml._gbt_step, STYPE = internal, FINALFUNC = ml._fit_state_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.gbt_fit_state(float8[], bigint) IS
  'The partial state of ml.gbt_fit(float8[], bigint) on these rows, as an ml.fit_state value; ml.combine_states of the states of all parts gives the model ml.gbt_fit gives on all rows.';
CREATE AGGREGATE ml.gbt_fit(features float8[], label bigint, options jsonb) (
    SFUNC = ml._gbt_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.gbt_fit(float8[], bigint, jsonb) IS
  'Gradient-boosted trees (XGBoost hist-style, Newton leaves -G/(H+lambda)): logistic loss for two classes, softmax (one tree per class per round) for more, squared error for a float8 label; 100 rounds of depth 6, learning rate 0.1. NULL or NaN features are missing values; keeps the rows in memory up to pgscore.max_training_memory. Options: n_trees (100 rounds), max_depth (6), learning_rate (0.1), subsample (1), lambda (1), min_child_weight (1), min_samples_leaf (1), features_per_split (1 = all), max_bins (255), early_stopping_rounds (null = off), validation_fraction (0.1), seed (0), nulls ("missing" | "error" | "skip").';
CREATE AGGREGATE ml.gbt_fit_state(features float8[], label bigint, options jsonb) (
    SFUNC = ml._gbt_step, STYPE = internal, FINALFUNC = ml._fit_state_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.gbt_fit_state(float8[], bigint, jsonb) IS
  'The partial state of ml.gbt_fit(float8[], bigint, jsonb) on these rows, as an ml.fit_state value; ml.combine_states of the states of all parts gives the model ml.gbt_fit gives on all rows.';
CREATE AGGREGATE ml.gbt_fit(features float8[], label text) (
    SFUNC = ml._gbt_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.gbt_fit(float8[], text) IS
  'Gradient-boosted trees (XGBoost hist-style, Newton leaves -G/(H+lambda)): logistic loss for two classes, softmax (one tree per class per round) for more, squared error for a float8 label; 100 rounds of depth 6, learning rate 0.1. NULL or NaN features are missing values; keeps the rows in memory up to pgscore.max_training_memory.';
CREATE AGGREGATE ml.gbt_fit_state(features float8[], label text) (
    SFUNC = ml._gbt_step, STYPE = internal, FINALFUNC = ml._fit_state_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.gbt_fit_state(float8[], text) IS
  'The partial state of ml.gbt_fit(float8[], text) on these rows, as an ml.fit_state value; ml.combine_states of the states of all parts gives the model ml.gbt_fit gives on all rows.';
CREATE AGGREGATE ml.gbt_fit(features float8[], label text, options jsonb) (
    SFUNC = ml._gbt_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.gbt_fit(float8[], text, jsonb) IS
  'Gradient-boosted trees (XGBoost hist-style, Newton leaves -G/(H+lambda)): logistic loss for two classes, softmax (one tree per class per round) for more, squared error for a float8 label; 100 rounds of depth 6, learning rate 0.1. NULL or NaN features are missing values; keeps the rows in memory up to pgscore.max_training_memory. Options: n_trees (100 rounds), max_depth (6), learning_rate (0.1), subsample (1), lambda (1), min_child_weight (1), min_samples_leaf (1), features_per_split (1 = all), max_bins (255), early_stopping_rounds (null = off), validation_fraction (0.1), seed (0), nulls ("missing" | "error" | "skip").';
CREATE AGGREGATE ml.gbt_fit_state(features float8[], label text, options jsonb) (
    SFUNC = ml._gbt_step, STYPE = internal, FINALFUNC = ml._fit_state_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.gbt_fit_state(float8[], text, jsonb) IS
  'The partial state of ml.gbt_fit(float8[], text, jsonb) on these rows, as an ml.fit_state value; ml.combine_states of the states of all parts gives the model ml.gbt_fit gives on all rows.';
CREATE AGGREGATE ml.gbt_fit(features float8[], label float8) (
    SFUNC = ml._gbt_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.gbt_fit(float8[], float8) IS
  'Gradient-boosted trees (XGBoost hist-style, Newton leaves -G/(H+lambda)): logistic loss for two classes, softmax (one tree per class per round) for more, squared error for a float8 label; 100 rounds of depth 6, learning rate 0.1. NULL or NaN features are missing values; keeps the rows in memory up to pgscore.max_training_memory.';
CREATE AGGREGATE ml.gbt_fit_state(features float8[], label float8) (
    SFUNC = ml._gbt_step, STYPE = internal, FINALFUNC = ml._fit_state_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.gbt_fit_state(float8[], float8) IS
  'The partial state of ml.gbt_fit(float8[], float8) on these rows, as an ml.fit_state value; ml.combine_states of the states of all parts gives the model ml.gbt_fit gives on all rows.';
CREATE AGGREGATE ml.gbt_fit(features float8[], label float8, options jsonb) (
    SFUNC = ml._gbt_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.gbt_fit(float8[], float8, jsonb) IS
  'Gradient-boosted trees (XGBoost hist-style, Newton leaves -G/(H+lambda)): logistic loss for two classes, softmax (one tree per class per round) for more, squared error for a float8 label; 100 rounds of depth 6, learning rate 0.1. NULL or NaN features are missing values; keeps the rows in memory up to pgscore.max_training_memory. Options: n_trees (100 rounds), max_depth (6), learning_rate (0.1), subsample (1), lambda (1), min_child_weight (1), min_samples_leaf (1), features_per_split (1 = all), max_bins (255), early_stopping_rounds (null = off), validation_fraction (0.1), seed (0), nulls ("missing" | "error" | "skip").';
CREATE AGGREGATE ml.gbt_fit_state(features float8[], label float8, options jsonb) (
    SFUNC = ml._gbt_step, STYPE = internal, FINALFUNC = ml._fit_state_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.gbt_fit_state(float8[], float8, jsonb) IS
  'The partial state of ml.gbt_fit(float8[], float8, jsonb) on these rows, as an ml.fit_state value; ml.combine_states of the states of all parts gives the model ml.gbt_fit gives on all rows.';
CREATE AGGREGATE ml.metrics(model ml.model, features float8[], label text) (
    SFUNC = ml._metrics_step, STYPE = internal, FINALFUNC = ml._metrics_final,
    COMBINEFUNC = ml._metrics_combine, SERIALFUNC = ml._metrics_serialize,
    DESERIALFUNC = ml._metrics_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.metrics(ml.model, float8[], text) IS
  'Evaluates a classifier on labelled rows (label as text, e.g. label::text; it must be one of the model''s classes): jsonb with rows, classes, accuracy, precision, recall, f1 (two classes: of the second class; more: macro averages), per_class {precision, recall, f1, support}, roc_auc (one-vs-rest macro for more classes), log_loss, confusion_matrix (rows = truth, columns = predicted, class order), as scikit-learn computes them. Undefined values (e.g. roc_auc when the truth holds one class, precision of a class never predicted) are null. Rows with a NULL model, features or label, or a NULL feature, are skipped; no rows give NULL. Keeps 8*classes+4 bytes a row, up to pgscore.max_training_memory.';
CREATE AGGREGATE ml.metrics(model ml.model, features float8[], label float8) (
    SFUNC = ml._metrics_step, STYPE = internal, FINALFUNC = ml._metrics_final,
    COMBINEFUNC = ml._metrics_combine, SERIALFUNC = ml._metrics_serialize,
    DESERIALFUNC = ml._metrics_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.metrics(ml.model, float8[], float8) IS
  'Evaluates a regression model on labelled rows: jsonb with rows, r2 (null when the label is constant or there is one row), mae, rmse, as scikit-learn computes them. Rows with a NULL model, features or label, or a NULL feature, are skipped; no rows give NULL. Keeps running sums only, so any row count fits.';
CREATE AGGREGATE ml.label_metrics(classes text[], prediction text, label text, probabilities float8[]) (
    SFUNC = ml._label_metrics_step, STYPE = internal, FINALFUNC = ml._metrics_final,
    COMBINEFUNC = ml._metrics_combine, SERIALFUNC = ml._metrics_serialize,
    DESERIALFUNC = ml._metrics_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.label_metrics(text[], text, text, float8[]) IS
  'The metrics of predictions already made, as ml.metrics computes them (the same Swift code): classes are the model''s classes in order (ml.describe(model) -> ''classes''), prediction and label as text (each must be one of them), probabilities as ml.predict_proba gave them (class order). jsonb with rows, accuracy, precision, recall, f1 (two classes: of the second class; more: macro averages), per_class, confusion_matrix, and, when every row has probabilities, roc_auc and log_loss (clipped to [2^-52, 1 - 2^-52], as scikit-learn). What the monitors record as a version''s live metrics. Rows with a NULL classes, prediction or label are skipped; no rows give NULL.';
CREATE AGGREGATE ml.label_metrics(prediction float8, label float8) (
    SFUNC = ml._label_metrics_step, STYPE = internal, FINALFUNC = ml._metrics_final,
    COMBINEFUNC = ml._metrics_combine, SERIALFUNC = ml._metrics_serialize,
    DESERIALFUNC = ml._metrics_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.label_metrics(float8, float8) IS
  'The regression metrics of predictions already made, as ml.metrics computes them: jsonb with rows, r2 (null when the label is constant or there is one row), mae, rmse. Rows with a NULL prediction or label are skipped; no rows give NULL.';

-- ---------------------------------------------------------------- export

CREATE FUNCTION ml.export_onnx(model ml.model) RETURNS bytea
    AS 'MODULE_PATHNAME', 'ml_export_onnx' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ml.export_onnx(ml.model) IS
  'The model as a standard ONNX file (IR 8, opsets ai.onnx 17 and ai.onnx.ml 3), for ONNX Runtime and other ONNX tools. Input: "features" float [N, features]; or, for a model with a "preprocess" spec, "numeric" float [N, numeric columns] (NaN = missing) and one string [N, 1] input per categorical column, named after it (an unseen category encodes as all zeros). Output: "variable" [N, 1] for regression; "label" [N] and "probabilities" [N, classes] for classifiers. Tree models use the ai.onnx.ml TreeEnsemble operators; NaN (missing) follows each split''s learned direction and is not imputed. Computes in float32: probabilities agree with ml.predict_proba to about 1e-5.';
-- ---------------------------------------------------------------- the registry
-- Projects, their versions (trained, evaluated models) and an append-only history of
-- deployments. ml.predict(project, ...) and the scoring trigger use the latest
-- deployment of a project.

CREATE TABLE ml.projects (
    id            serial PRIMARY KEY,
    name          text NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$'),
    task          text NOT NULL CHECK (task IN ('classification', 'regression')),
    deploy_policy text NOT NULL DEFAULT 'best_score'
                  CHECK (deploy_policy IN ('best_score', 'most_recent', 'manual')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    created_by    name NOT NULL DEFAULT session_user,
    owner         name NOT NULL DEFAULT session_user
);
COMMENT ON COLUMN ml.projects.owner IS
  'the role that created the project (or was given it): admin on it, with its members; others need ml.grant_project';
COMMENT ON TABLE ml.projects IS
  'A named model slot ("heart"). deploy_policy decides whether ml.train deploys its new version: best_score (if it beats the deployed one on the key metric), most_recent (always) or manual (never). Rows are visible to the roles with a right on the project (row-level security).';

CREATE TABLE ml.models (
    id              bigserial PRIMARY KEY,
    project_id      int NOT NULL REFERENCES ml.projects,
    version         int NOT NULL,
    algorithm       text NOT NULL,
    hyperparams     jsonb NOT NULL,
    label           text NOT NULL,
    label_type      text NOT NULL,
    features        jsonb NOT NULL,
    source          text NOT NULL,
    train_rows      bigint NOT NULL,
    test_rows       bigint NOT NULL,
    fingerprint     text NOT NULL,
    feature_stats   jsonb NOT NULL,
    metrics         jsonb,
    key_metric      text NOT NULL,
    score           float8,
    split           jsonb NOT NULL,
    duration_ms     float8 NOT NULL,
    created_by      name NOT NULL DEFAULT current_user,
    created_at      timestamptz NOT NULL DEFAULT now(),
    pgscore_version text NOT NULL,
    model           ml.model NOT NULL,
    fit             jsonb,
    UNIQUE (project_id, version)
);
COMMENT ON TABLE ml.models IS
  'Every version ml.train made: the model with its preprocessing, hyperparameters, features, label, source, row counts, data fingerprint, feature statistics (for drift), test metrics, duration, user, time, extension version, and how it was fitted (fit: {"fit": "memory" | "passes" | "sums", "passes": n, ...}). Rows are never changed.';

CREATE TABLE ml.deployments (
    id               bigserial PRIMARY KEY,
    project_id       int NOT NULL REFERENCES ml.projects,
    model_id         bigint NOT NULL REFERENCES ml.models,
    version          int NOT NULL,
    strategy         text NOT NULL,
    replaced_version int,
    reason           text,
    deployed_by      name NOT NULL DEFAULT current_user,
    deployed_at      timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX ON ml.deployments (project_id, id);
COMMENT ON TABLE ml.deployments IS
  'Append-only history of deployments: the latest row of a project is what serves. Who, when, which strategy, which version it replaced.';

CREATE FUNCTION ml._refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% is append-only: rows are never updated or deleted', TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege',
          HINT = 'Deploy another version with ml.deploy; history stays.';
END $$;
CREATE TRIGGER append_only BEFORE UPDATE OR DELETE ON ml.deployments
    FOR EACH ROW EXECUTE FUNCTION ml._refuse_change();
CREATE TRIGGER append_only BEFORE UPDATE ON ml.models
    FOR EACH ROW EXECUTE FUNCTION ml._refuse_change();

-- registry rows are user data: pg_dump must carry them
SELECT pg_catalog.pg_extension_config_dump('ml.projects', '');
SELECT pg_catalog.pg_extension_config_dump('ml.models', '');
SELECT pg_catalog.pg_extension_config_dump('ml.deployments', '');
SELECT pg_catalog.pg_extension_config_dump('ml.projects_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('ml.models_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('ml.deployments_id_seq', '');

-- ---------------------------------------------------------------- views

CREATE VIEW ml.deployment_history AS
SELECT p.name AS project, d.deployed_at, d.version, d.strategy, d.replaced_version,
       d.deployed_by, d.reason
  FROM ml.deployments d JOIN ml.projects p ON p.id = d.project_id
 ORDER BY p.name, d.id;
COMMENT ON VIEW ml.deployment_history IS 'Every deployment, oldest first per project.';

CREATE VIEW ml.versions AS
SELECT p.name AS project, m.version, m.algorithm,
       (m.version = cur.version) IS TRUE AS deployed,
       m.key_metric, m.score,
       (m.metrics ->> 'accuracy')::float8 AS accuracy, (m.metrics ->> 'f1')::float8 AS f1,
       (m.metrics ->> 'roc_auc')::float8 AS roc_auc, (m.metrics ->> 'log_loss')::float8 AS log_loss,
       (m.metrics ->> 'r2')::float8 AS r2, (m.metrics ->> 'rmse')::float8 AS rmse,
       m.train_rows, m.test_rows, m.hyperparams, m.duration_ms, m.created_by, m.created_at, m.fit
  FROM ml.models m JOIN ml.projects p ON p.id = m.project_id
  LEFT JOIN LATERAL (SELECT d.version FROM ml.deployments d WHERE d.project_id = p.id
                      ORDER BY d.id DESC LIMIT 1) cur ON true
 ORDER BY p.name, m.version;
COMMENT ON VIEW ml.versions IS 'All versions of all projects with their test metrics side by side.';

CREATE VIEW ml.project_overview AS
SELECT p.name AS project, p.task, p.deploy_policy,
       cur.version AS deployed_version, m.algorithm AS deployed_algorithm,
       m.key_metric, m.score AS deployed_score, cur.deployed_at,
       (SELECT count(*) FROM ml.models v WHERE v.project_id = p.id) AS versions,
       (SELECT max(v.created_at) FROM ml.models v WHERE v.project_id = p.id) AS last_trained
  FROM ml.projects p
  LEFT JOIN LATERAL (SELECT d.version, d.model_id, d.deployed_at FROM ml.deployments d
                      WHERE d.project_id = p.id ORDER BY d.id DESC LIMIT 1) cur ON true
  LEFT JOIN ml.models m ON m.id = cur.model_id
 ORDER BY p.name;
COMMENT ON VIEW ml.project_overview IS 'Projects at a glance: deployed version, its algorithm and key metric.';

-- ---------------------------------------------------------------- scoring by project

CREATE FUNCTION ml.predict(project text, features float8[]) RETURNS text
    AS 'MODULE_PATHNAME', 'ml_predict_project' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ml.predict(text, float8[]) IS
  'Prediction of the project''s deployed version for raw values in the order of its columns (ml.features(project)), NULL for a missing value; imputation and scaling replayed as for a row. A version with a categorical column refuses it (0A000): use the row or jsonb form. STABLE: the deployment is looked up once per query; a new one is seen once committed.';
CREATE FUNCTION ml.predict(project text, "row" record) RETURNS text
    AS 'MODULE_PATHNAME', 'ml_predict_project_row' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ml.predict(text, record) IS
  'Prediction of the project''s deployed version for a table row: columns matched by name, preprocessing replayed.';
CREATE FUNCTION ml.predict_proba(project text, features float8[]) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'ml_predict_proba_project' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ml.predict_proba(text, float8[]) IS
  'Class probabilities of the project''s deployed version for raw values in the order of ml.features(project).';
CREATE FUNCTION ml.predict_encoded(project text, features float8[]) RETURNS text
    AS 'MODULE_PATHNAME', 'ml_predict_project_encoded' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ml.predict_encoded(text, float8[]) IS
  'Prediction of the project''s deployed version for an already encoded feature vector (as ml.encode gives: imputed, scaled, one-hot), scored as is.';
CREATE FUNCTION ml.predict_proba_encoded(project text, features float8[]) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'ml_predict_proba_project_encoded' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ml.predict_proba_encoded(text, float8[]) IS
  'Class probabilities of the project''s deployed version for an already encoded feature vector.';
CREATE FUNCTION ml.predict_proba(project text, "row" record) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'ml_predict_proba_project_row' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ml.predict_proba(text, record) IS
  'Class probabilities of the project''s deployed version for a table row.';
CREATE FUNCTION ml.predict(project text, features jsonb) RETURNS text
    AS 'MODULE_PATHNAME', 'ml_predict_project_jsonb' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ml.predict(text, jsonb) IS
  'Prediction of the project''s deployed version for a JSON object of named features (''{"age": 63, "thal": "6"}''::jsonb), encoded like a row: numbers, numeric text, categories, null for a missing value; extra keys ignored, a missing key is an error (42703). What the REST gateway runs.';
CREATE FUNCTION ml.predict_proba(project text, features jsonb) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'ml_predict_proba_project_jsonb' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ml.predict_proba(text, jsonb) IS
  'Class probabilities of the project''s deployed version for a JSON object of named features.';
CREATE FUNCTION ml.predict(project text, features text) RETURNS text
    LANGUAGE sql STABLE STRICT PARALLEL SAFE AS $$ SELECT ml.predict(project, features::float8[]) $$;
COMMENT ON FUNCTION ml.predict(text, text) IS
  'ml.predict(project, ...) with the raw values written as an array literal (''{63, 1, 145}''): untyped literals are never ambiguous.';
CREATE FUNCTION ml.predict_proba(project text, features text) RETURNS float8[]
    LANGUAGE sql STABLE STRICT PARALLEL SAFE AS $$ SELECT ml.predict_proba(project, features::float8[]) $$;
COMMENT ON FUNCTION ml.predict_proba(text, text) IS
  'ml.predict_proba(project, ...) with the features written as an array literal.';
CREATE FUNCTION ml.deployed_version(project text) RETURNS int
    AS 'MODULE_PATHNAME', 'ml_deployed_version' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ml.deployed_version(text) IS
  'The version ml.predict(project, ...) uses now; NULL if none is deployed; an error for an unknown project.';

-- the model's own spec, so the list is the one the array form of ml.predict checks against
CREATE FUNCTION ml.features(project text, version int DEFAULT NULL)
RETURNS TABLE (name text, type text, "position" int, kind text)
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
  v int := coalesce(version, ml.deployed_version(project));
  m ml.model;
BEGIN
  IF v IS NULL THEN
    RAISE EXCEPTION 'ml.features: project "%" has no deployed version', project
      USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'Name a version: ml.features(project, version).';
  END IF;
  SELECT mo.model INTO m FROM ml.models mo JOIN ml.projects p ON p.id = mo.project_id
   WHERE p.name = project AND mo.version = v;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'ml.features: project "%" has no version %', project, v
      USING ERRCODE = 'undefined_object', HINT = 'SELECT * FROM ml.versions lists them.';
  END IF;
  RETURN QUERY
    SELECT c.col ->> 'name', c.col ->> 'type', c.ord::int, c.col ->> 'kind'
      FROM jsonb_array_elements(coalesce(ml.describe(m) -> 'info' -> 'preprocess' -> 'columns', '[]')) WITH ORDINALITY c(col, ord)
     ORDER BY c.ord;
END $$;
COMMENT ON FUNCTION ml.features(text, int) IS
  'The columns a version (default: the deployed one) was trained on, in the order ml.predict(project, float8[]) takes their raw values: name, SQL type in training, position (1-based), kind (numeric, or categorical: one-hot encoded, which only the row and jsonb forms can carry). Empty for a model made without ml.train (its array is its features).';
-- ---------------------------------------------------------------- who may do what
-- Projects have an owner (the role that created them) and grants: predict < train <
-- deploy < admin, each including the ones before. Superusers, the project's owner (and
-- members of the owner role) and the daemon's roles (ml.grant_gateway: the REST gateway
-- enforces its keys' scopes and projects itself) hold admin. Predict-only roles see only
-- the projects granted to them: row-level security on the registry tables.
--
-- Who acts: ml._acting_role() -- the session's role as SET ROLE left it, or, while the
-- daemon executes a run or a monitor for someone, that someone. Registry records (who
-- trained, who deployed) and every rights check use it; callers never pass a name.
--
-- User SQL (a query source, a view, a table with row-level security, a monitor's labels
-- relation) is evaluated only by ml._read_as, as the role it belongs to, in a
-- security-restricted context (extension/run_as.c): never as the daemon or the
-- extension's owner.

CREATE FUNCTION ml._acting_role() RETURNS name
    AS 'MODULE_PATHNAME', 'ml_acting_role' LANGUAGE C STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION ml._acting_role() IS
  'The role pgscore records and checks rights for: the session''s role (as SET ROLE left it; SECURITY DEFINER functions do not change it), or the role a daemon-executed run or monitor acts for.';

CREATE FUNCTION ml._set_acting_role(role name) RETURNS void
    AS 'MODULE_PATHNAME', 'ml_set_acting_role' LANGUAGE C VOLATILE;

CREATE FUNCTION ml._read_as(role name, search_path text, query text, target name, arg bigint[] DEFAULT NULL)
RETURNS bigint
    AS 'MODULE_PATHNAME', 'ml_read_as' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ml._read_as(name, text, text, name, bigint[]) IS
  'Internal: plans and runs one SELECT as role (security-restricted: no SET ROLE, no RESET ROLE) and copies its rows into pg_temp.target; target NULL only checks the query can run. Granted to no one.';

CREATE FUNCTION ml._check_select(query text) RETURNS void
    AS 'MODULE_PATHNAME', 'ml_check_select' LANGUAGE C IMMUTABLE STRICT;

REVOKE EXECUTE ON FUNCTION ml._set_acting_role(name), ml._read_as(name, text, text, name, bigint[]) FROM PUBLIC;

CREATE TABLE ml.project_grants (
    project_id int NOT NULL REFERENCES ml.projects ON DELETE CASCADE,
    role       name NOT NULL,
    privilege  text NOT NULL CHECK (privilege IN ('predict', 'train', 'deploy', 'admin')),
    granted_by name NOT NULL,
    granted_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, role)
);
COMMENT ON TABLE ml.project_grants IS
  'ml.grant_project: a role''s right on a project (predict < train < deploy < admin, each including the ones before; role public: everyone). The owner of a project (ml.projects.owner) holds admin without a row here.';

CREATE TABLE ml.service_roles (
    role       name PRIMARY KEY,
    granted_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE ml.service_roles IS
  'Roles that run pgscore serve (ml.grant_gateway): admin on every project, since the gateway enforces its API keys'' scopes itself. Runs they queue read relations only, never queries.';

CREATE TABLE ml.project_sources (
    project_id int REFERENCES ml.projects ON DELETE CASCADE,
    source     regclass NOT NULL,
    allowed_by name NOT NULL,
    allowed_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE NULLS NOT DISTINCT (project_id, source)
);
COMMENT ON TABLE ml.project_sources IS
  'ml.allow_source: the tables and views the gateway may train a project on (POST /v1/projects/{project}/train); project_id NULL: any project. Runs the daemon''s role queues may name only these.';

SELECT pg_catalog.pg_extension_config_dump('ml.project_grants', '');
SELECT pg_catalog.pg_extension_config_dump('ml.project_sources', '');
SELECT pg_catalog.pg_extension_config_dump('ml.service_roles', '');

CREATE FUNCTION ml._right_rank(privilege text) RETURNS int
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT CASE privilege WHEN 'predict' THEN 1 WHEN 'train' THEN 2 WHEN 'deploy' THEN 3 WHEN 'admin' THEN 4 END $$;

-- whether a role exists and is (a member of) another one; false for dropped roles
CREATE FUNCTION ml._member_of(who name, role name) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT CASE WHEN role = 'public' THEN true
              WHEN EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolname = who)
                   AND EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolname = role)
              THEN pg_has_role(who, role, 'MEMBER') ELSE false END $$;

CREATE FUNCTION ml._is_service(who name) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  -- a superuser is a member of every role, but not therefore the gateway
  SELECT NOT EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolname = who AND r.rolsuper)
         AND EXISTS (SELECT 1 FROM ml.service_roles s WHERE ml._member_of(who, s.role)) $$;

-- a role's rank on a project: 0 none, 1 predict, 2 train, 3 deploy, 4 admin
CREATE FUNCTION ml._rank(project_id int, who name) RETURNS int
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT CASE
    WHEN EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolname = who AND r.rolsuper) THEN 4
    WHEN ml._is_service(who) THEN 4
    WHEN EXISTS (SELECT 1 FROM ml.projects p WHERE p.id = project_id AND ml._member_of(who, p.owner)) THEN 4
    ELSE coalesce((SELECT max(ml._right_rank(g.privilege)) FROM ml.project_grants g
                    WHERE g.project_id = _rank.project_id AND ml._member_of(who, g.role)), 0) END $$;

-- the row-level security predicate of the registry tables (who: current_user of the
-- reader): ml._rank >= 1, written out in plpgsql because it runs for every registry row a
-- scoring query reads (plpgsql keeps its plans for the session; a SQL function's are
-- made again for every query: 10x slower scoring for non-superusers, measured)
CREATE FUNCTION ml._may_see(project_id int, who name) RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  RETURN project_id IS NULL
      OR EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolname = who AND r.rolsuper)
      OR EXISTS (SELECT 1 FROM ml.service_roles s JOIN pg_roles r ON r.rolname = s.role
                  WHERE pg_has_role(who, r.oid, 'MEMBER'))
      OR EXISTS (SELECT 1 FROM ml.projects p JOIN pg_roles r ON r.rolname = p.owner
                  WHERE p.id = _may_see.project_id AND pg_has_role(who, r.oid, 'MEMBER'))
      OR EXISTS (SELECT 1 FROM ml.project_grants g LEFT JOIN pg_roles r ON r.rolname = g.role
                  WHERE g.project_id = _may_see.project_id AND (g.role = 'public' OR pg_has_role(who, r.oid, 'MEMBER')));
END $$;

-- whether the gateway may train project on source for an API key (ml.allow_source)
CREATE FUNCTION ml._source_allowed(project text, source regclass) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT EXISTS (SELECT 1 FROM ml.project_sources s LEFT JOIN ml.projects p ON p.id = s.project_id
                  WHERE (s.project_id IS NULL OR p.name = $1) AND s.source = $2) $$;

-- the project, if the acting role holds the privilege on it; 42704 if it does not exist
-- (or is not visible to the role), 42501 if the role holds less
CREATE FUNCTION ml._require(fn text, project text, privilege text) RETURNS ml.projects
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  p    ml.projects;
  who  name := ml._acting_role();
  rank int;
BEGIN
  SELECT * INTO p FROM ml.projects WHERE name = project;
  rank := CASE WHEN FOUND THEN ml._rank(p.id, who) ELSE 0 END;
  IF NOT FOUND OR rank = 0 THEN
    RAISE EXCEPTION '%: project "%" does not exist', fn, project USING ERRCODE = 'undefined_object';
  END IF;
  IF rank < ml._right_rank(privilege) THEN
    RAISE EXCEPTION '%: role "%" may not % project "%"', fn, who,
      CASE privilege WHEN 'admin' THEN 'administer' ELSE privilege END, project
      USING ERRCODE = 'insufficient_privilege',
            HINT = format('Its owner (%s) or an admin of it can give the right: SELECT ml.grant_project(%L, %L, %L).',
                          p.owner, project, who, privilege);
  END IF;
  RETURN p;
END $$;

CREATE FUNCTION ml.grant_project(project text, role name, privilege text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  p ml.projects := ml._require('ml.grant_project', project, 'admin');
BEGIN
  IF ml._right_rank(privilege) IS NULL THEN
    RAISE EXCEPTION 'ml.grant_project: unknown privilege "%"', privilege
      USING ERRCODE = 'invalid_parameter_value', HINT = 'Use predict, train, deploy or admin.';
  END IF;
  IF role IS NULL OR role <> 'public' AND NOT EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolname = role) THEN
    RAISE EXCEPTION 'ml.grant_project: role "%" does not exist', role USING ERRCODE = 'undefined_object';
  END IF;
  INSERT INTO ml.project_grants AS g (project_id, role, privilege, granted_by)
  VALUES (p.id, grant_project.role, grant_project.privilege, ml._acting_role())
  ON CONFLICT ON CONSTRAINT project_grants_pkey DO UPDATE
     SET privilege = excluded.privilege, granted_by = excluded.granted_by, granted_at = now();
END $$;
COMMENT ON FUNCTION ml.grant_project(text, name, text) IS
  'Gives a role (or public) a right on a project: predict (score, read its versions), train (also train, schedule, train on events, monitor with alert/retrain), deploy (also deploy, roll back, monitors that roll back), admin (also grant, change its policy). Replaces the role''s earlier grant. Needs admin on the project (its owner has it).';

CREATE FUNCTION ml.revoke_project(project text, role name) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  p ml.projects := ml._require('ml.revoke_project', project, 'admin');
BEGIN
  DELETE FROM ml.project_grants g WHERE g.project_id = p.id AND g.role = revoke_project.role;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'ml.revoke_project: role "%" holds no grant on project "%"', role, project
      USING ERRCODE = 'undefined_object';
  END IF;
END $$;
COMMENT ON FUNCTION ml.revoke_project(text, name) IS 'Takes back a role''s grant on a project (the owner keeps admin).';

CREATE FUNCTION ml.allow_source(project text, source regclass) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  who name := ml._acting_role();
  p   ml.projects;
BEGIN
  PERFORM ml._source_sql('ml.allow_source', source::text);       -- not pgscore's own tables, not a catalog
  IF NOT has_table_privilege(who, source, 'SELECT') THEN
    RAISE EXCEPTION 'ml.allow_source: role "%" may not read %', who, source USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF project IS NULL THEN
    IF NOT (ml._member_of(who, (SELECT pg_get_userbyid(c.relowner) FROM pg_class c WHERE c.oid = source))
            OR EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolname = who AND r.rolsuper)) THEN
      RAISE EXCEPTION 'ml.allow_source: only the owner of % can allow it for every project', source
        USING ERRCODE = 'insufficient_privilege', HINT = 'Name a project you administer instead.';
    END IF;
  ELSE
    p := ml._require('ml.allow_source', project, 'admin');
  END IF;
  INSERT INTO ml.project_sources (project_id, source, allowed_by) VALUES (p.id, allow_source.source, who)
  ON CONFLICT ON CONSTRAINT project_sources_project_id_source_key DO NOTHING;
END $$;
COMMENT ON FUNCTION ml.allow_source(text, regclass) IS
  'Lets API keys train a project on a table or view (POST /v1/projects/{project}/train names a source; only allowed ones are accepted). Needs admin on the project and SELECT on the source; project NULL: every project, which only the source''s owner (or a superuser) may allow. ml.disallow_source takes it back.';

CREATE FUNCTION ml.disallow_source(project text, source regclass) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  p ml.projects;
BEGIN
  IF project IS NOT NULL THEN
    p := ml._require('ml.disallow_source', project, 'admin');
  ELSIF NOT ml._member_of(ml._acting_role(), (SELECT pg_get_userbyid(c.relowner) FROM pg_class c WHERE c.oid = source))
        AND NOT EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolname = ml._acting_role() AND r.rolsuper) THEN
    RAISE EXCEPTION 'ml.disallow_source: only the owner of % can change what every project may train on', source
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  DELETE FROM ml.project_sources s WHERE s.project_id IS NOT DISTINCT FROM p.id AND s.source = disallow_source.source;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'ml.disallow_source: % is not an allowed source of project "%"', source, project
      USING ERRCODE = 'undefined_object';
  END IF;
END $$;
COMMENT ON FUNCTION ml.disallow_source(text, regclass) IS 'Takes back ml.allow_source.';

-- predict-only roles see only the projects granted to them
ALTER TABLE ml.projects ENABLE ROW LEVEL SECURITY;
ALTER TABLE ml.models ENABLE ROW LEVEL SECURITY;
ALTER TABLE ml.deployments ENABLE ROW LEVEL SECURITY;
ALTER TABLE ml.project_grants ENABLE ROW LEVEL SECURITY;
ALTER TABLE ml.project_sources ENABLE ROW LEVEL SECURITY;
CREATE POLICY visible ON ml.project_sources FOR SELECT USING (ml._may_see(project_id, current_user));
CREATE POLICY visible ON ml.projects FOR SELECT USING (ml._may_see(id, current_user));
CREATE POLICY visible ON ml.models FOR SELECT USING (ml._may_see(project_id, current_user));
CREATE POLICY visible ON ml.deployments FOR SELECT USING (ml._may_see(project_id, current_user));
CREATE POLICY visible ON ml.project_grants FOR SELECT USING (ml._may_see(project_id, current_user));
ALTER VIEW ml.versions SET (security_invoker = true);
ALTER VIEW ml.project_overview SET (security_invoker = true);
ALTER VIEW ml.deployment_history SET (security_invoker = true);

-- ---------------------------------------------------------------- sources

-- The FROM item for a source: a query in parentheses (one SELECT, checked), or a table or
-- view name resolved in search_path (the caller's: given, or the current one) and written
-- schema-qualified, so that the same relation is read from any search_path later. A
-- relation in pg_catalog, information_schema, ml, a TOAST or a temporary schema is never
-- a source: pgscore's own tables (predictions, feedback, keys) are not training data.
CREATE FUNCTION ml._source_sql(fn text, source text, search_path text DEFAULT NULL) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
  rel     regclass;
  src     text;
  nsp     text;
  temp    boolean;
  outer_path text := pg_catalog.current_setting('search_path');
BEGIN
  IF source ~* '^\s*\(?\s*(select|with|values|table)\M' THEN
    PERFORM ml._check_select(source);
    RETURN '(' || source || ')';
  END IF;
  IF search_path IS NOT NULL THEN
    PERFORM pg_catalog.set_config('search_path', search_path, true);
  END IF;
  rel := pg_catalog.to_regclass(source);
  IF search_path IS NOT NULL THEN
    PERFORM pg_catalog.set_config('search_path', outer_path, true);
  END IF;
  SELECT format('%I.%I', n.nspname, c.relname), n.nspname, c.relpersistence = 't' INTO src, nsp, temp
    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
   WHERE c.oid = rel;
  IF src IS NULL THEN
    RAISE EXCEPTION '%: source "%" is not a table, a view or a query', fn, source
      USING ERRCODE = 'undefined_table',
            HINT = 'Pass a table or view name, or a query starting with SELECT, WITH, VALUES or TABLE.';
  END IF;
  IF nsp IN ('pg_catalog', 'information_schema', 'ml') OR nsp LIKE 'pg\_toast%' OR temp THEN
    RAISE EXCEPTION '%: % cannot be a training source', fn, src
      USING ERRCODE = 'insufficient_privilege',
            HINT = 'pgscore''s own tables and system catalogs are not training data; temporary tables do not outlive the session. Train on a table or view of your own (a view over ml.predictions joined with ml.feedback, for example).';
  END IF;
  RETURN src;
END $$;

-- The role a source is read as, for a run on behalf of requester (checked: the
-- requester may read it). A query runs as its author, the requester; so does a table or
-- view the requester owns. A view of another role runs as its owner (as PostgreSQL
-- reads a view's tables as the owner, its functions then run with the owner's rights
-- too, not the requester's, the daemon's or the extension's). A table of another role
-- is read as its owner, which sees the same rows, unless row-level security is on:
-- then as the requester (its policies decide), which a daemon role may not do.
CREATE FUNCTION ml._source_reader(fn text, src text, requester name) RETURNS name
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  c pg_class;
  owner name;
BEGIN
  IF left(src, 1) = '(' THEN
    IF ml._is_service(requester) THEN
      RAISE EXCEPTION '%: a run queued by the gateway''s role "%" reads tables and views only, not queries', fn, requester
        USING ERRCODE = 'insufficient_privilege', HINT = 'Create a view and name it as the source.';
    END IF;
    RETURN requester;
  END IF;
  SELECT * INTO c FROM pg_class WHERE oid = src::regclass;
  owner := pg_get_userbyid(c.relowner);
  IF NOT has_table_privilege(requester, c.oid, 'SELECT') THEN
    RAISE EXCEPTION '%: role "%" may not read %', fn, requester, src USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF ml._member_of(requester, owner) THEN
    RETURN requester;
  END IF;
  IF c.relkind = 'v' THEN
    IF coalesce('security_invoker=true' = ANY (c.reloptions) OR 'security_invoker=on' = ANY (c.reloptions), false) THEN
      RAISE EXCEPTION '%: % is a security_invoker view of role "%"; it would run its functions with the rights of "%"',
        fn, src, owner, requester
        USING ERRCODE = 'insufficient_privilege', HINT = 'Train on a view of your own, or one without security_invoker.';
    END IF;
    RETURN owner;
  END IF;
  IF c.relrowsecurity THEN
    IF ml._is_service(requester) THEN
      RAISE EXCEPTION '%: % has row-level security policies of role "%"; the gateway''s role does not evaluate them',
        fn, src, owner USING ERRCODE = 'insufficient_privilege',
        HINT = 'Train on a view owned by a role that may read the table.';
    END IF;
    RETURN requester;
  END IF;
  RETURN owner;
END $$;

REVOKE EXECUTE ON FUNCTION ml._source_reader(text, text, name), ml._is_service(name), ml._rank(int, name) FROM PUBLIC;
-- ---------------------------------------------------------------- projects and the registry's writers
-- The workflows (81_train.sql, 82_deploy.sql, 82_evaluate_export.sql,
-- 83_scoring_triggers.sql; their grants in 83_workflow_grants.sql): ml.train and ml.deploy
-- are SECURITY DEFINER: they check the acting role's right on the project (72_rights.sql),
-- compute what they record themselves (metrics, score, who) and write the registry through
-- the helpers below; ml.train evaluates the source only through ml._read_as, with the
-- rights of the role the source belongs to. The helpers that write the registry are
-- granted to no one.

-- writes one version; creates the project on first use, owned by the acting role
CREATE FUNCTION ml._record_version(project text, task text, v ml.models)
RETURNS ml.models
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  p ml.projects;
  r ml.models;
  trained_by name := ml._acting_role();
BEGIN
  INSERT INTO ml.projects (name, task, created_by, owner) VALUES (project, task, trained_by, trained_by)
    ON CONFLICT (name) DO NOTHING;
  SELECT * INTO p FROM ml.projects WHERE name = project FOR UPDATE;   -- serialises version numbers
  IF p.task <> task THEN
    RAISE EXCEPTION 'ml.train: project "%" is a % project; this label makes a % model', project, p.task, task
      USING ERRCODE = 'datatype_mismatch';
  END IF;
  v.id := nextval('ml.models_id_seq');
  v.project_id := p.id;
  v.version := coalesce((SELECT max(m.version) FROM ml.models m WHERE m.project_id = p.id), 0) + 1;
  v.created_by := trained_by;
  v.created_at := now();
  INSERT INTO ml.models SELECT v.* RETURNING * INTO r;
  RETURN r;
END $$;

CREATE FUNCTION ml._record_deployment(project text, version int, strategy text, reason text)
RETURNS int
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  p ml.projects;
  m ml.models;
  current_version int;
BEGIN
  SELECT * INTO p FROM ml.projects WHERE name = project FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'ml.deploy: project "%" does not exist', project USING ERRCODE = 'undefined_object';
  END IF;
  SELECT * INTO m FROM ml.models WHERE project_id = p.id AND ml.models.version = _record_deployment.version;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'ml.deploy: project "%" has no version %', project, version
      USING ERRCODE = 'undefined_object',
            HINT = 'SELECT version FROM ml.versions WHERE project = ' || quote_literal(project) || ' lists them.';
  END IF;
  SELECT d.version INTO current_version FROM ml.deployments d WHERE d.project_id = p.id ORDER BY d.id DESC LIMIT 1;
  INSERT INTO ml.deployments (project_id, model_id, version, strategy, replaced_version, reason, deployed_by)
  VALUES (p.id, m.id, m.version, strategy, current_version, reason, ml._acting_role());
  RETURN m.version;
END $$;

CREATE FUNCTION ml.create_project(name text, task text, deploy_policy text DEFAULT 'best_score')
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  INSERT INTO ml.projects (name, task, deploy_policy, created_by, owner)
  VALUES (name, task, deploy_policy, ml._acting_role(), ml._acting_role());
END $$;
COMMENT ON FUNCTION ml.create_project(text, text, text) IS
  'Creates a project ahead of training, owned by the calling role: task classification or regression, deploy policy best_score | most_recent | manual. ml.train creates one with the defaults when missing.';

CREATE FUNCTION ml.set_deploy_policy(project text, deploy_policy text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM ml._require('ml.set_deploy_policy', project, 'admin');
  UPDATE ml.projects SET deploy_policy = set_deploy_policy.deploy_policy WHERE name = project;
END $$;
COMMENT ON FUNCTION ml.set_deploy_policy(text, text) IS
  'Whether ml.train deploys its new version: best_score (when it beats the deployed one), most_recent (always) or manual (never).';
-- ---------------------------------------------------------------- ml.train
-- Training a version: the source read with its owner's rights, the preprocessing learned
-- from the training rows, a reproducible split, the fit by the algorithm's aggregate
-- (ml.algorithms()), the evaluation on the held-out rows, the record, the deployment.

CREATE TYPE ml.training_result AS (
    project    text,
    version    int,
    algorithm  text,
    key_metric text,
    score      float8,
    deployed   boolean,
    metrics    jsonb
);

CREATE FUNCTION ml._algorithm_name(algorithm text, task text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT a.name FROM ml.algorithms() a
   WHERE lower(coalesce(algorithm, CASE task WHEN 'regression' THEN 'linear_regression'
                                             ELSE 'logistic_regression' END)) IN (a.name, a.alias) $$;

-- ---------------------------------------------------------------- feature values

-- THE numeric-text rule (training, serving in Preprocessor.swift, drift monitoring): text
-- is a number when, spaces around it ignored, it is a plain decimal -- optional sign,
-- digits with an optional point, an optional exponent of at most 4 digits -- whose value
-- is 0 or between 1e-307 and 1e308 in magnitude. Hexadecimal ('0x10', '0x1p3'), 'inf',
-- 'nan', '1_000' and values out of that range are not numbers.
CREATE FUNCTION ml._numeric_text(value text) RETURNS float8
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
  SELECT CASE WHEN v = 0 OR abs(v) BETWEEN 1e-307 AND 1e308 THEN v::float8 END
    FROM (SELECT CASE WHEN btrim(value) ~ '^[-+]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][-+]?[0-9]{1,4})?$'
                      THEN btrim(value)::numeric END AS v) q $$;

-- How ml.train reads a column of this type (domains: their base type): 'number',
-- 'money' (as numeric), 'boolean' (0/1), 'text' (categories, or numbers when the text
-- is numeric), 'datetime' (epoch seconds: date, timestamp, timestamptz; interval: its
-- length in seconds), or NULL: not a feature type (arrays, json, geometry, ...).
CREATE FUNCTION ml._feature_family(type regtype) RETURNS text
LANGUAGE sql STABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
  WITH RECURSIVE base(oid, typbasetype, typtype, depth) AS (
    SELECT t.oid, t.typbasetype, t.typtype, 0 FROM pg_type t WHERE t.oid = type
    UNION ALL
    SELECT t.oid, t.typbasetype, t.typtype, b.depth + 1 FROM pg_type t JOIN base b ON t.oid = b.typbasetype
     WHERE b.typtype = 'd' AND b.depth < 32)
  SELECT CASE
           WHEN b.oid IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype, 'float4'::regtype,
                          'float8'::regtype, 'numeric'::regtype) THEN 'number'
           WHEN b.oid = 'money'::regtype THEN 'money'
           WHEN b.oid = 'bool'::regtype THEN 'boolean'
           WHEN b.oid IN ('text'::regtype, 'varchar'::regtype, 'bpchar'::regtype, 'name'::regtype) OR b.typtype = 'e' THEN 'text'
           WHEN b.oid IN ('date'::regtype, 'timestamp'::regtype, 'timestamptz'::regtype, 'interval'::regtype) THEN 'datetime'
         END
    FROM base b WHERE b.typtype <> 'd' $$;

-- the preprocessing learned from the training rows of pg_temp.pgscore_train_data: the
-- spec the Swift Preprocessor replays, the feature list, the per-feature statistics for
-- drift, the columns left out, and the encoded feature names
CREATE FUNCTION ml._train_preprocessing(label text, exclude text[], do_scale boolean, trees boolean, unknown_cat text,
    OUT spec jsonb, OUT features jsonb, OUT stats jsonb, OUT dropped jsonb, OUT feature_names text[])
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  markers      constant text[] := ARRAY['?', '', 'NA', 'N/A', 'NaN', 'nan', 'null', 'NULL', '-'];
  col          record;
  expr         text;
  s            record;
  cats         text[];
  cuts         float8[];
  shares       float8[];
  spec_cols    jsonb := '[]';
  numeric_names text[] := '{}';
  onehot_names text[] := '{}';
BEGIN
  features := '[]';
  stats := '{}';
  dropped := '[]';
  FOR col IN
    SELECT a.attname::text AS name, a.atttypid::regtype AS type, ml._feature_family(a.atttypid) AS family
      FROM pg_attribute a
     WHERE a.attrelid = 'pg_temp.pgscore_train_data'::regclass AND a.attnum > 0 AND NOT a.attisdropped
       AND a.attname <> label AND a.attname <> 'pgscore_test__' AND a.attname <> ALL (exclude)
     ORDER BY a.attnum
  LOOP
    expr := NULL;
    IF col.family IS NULL THEN
      RAISE EXCEPTION 'ml.train: column "%" is of type %, which is not a feature type', col.name, col.type
        USING ERRCODE = 'datatype_mismatch',
              HINT = 'Features are numbers, money, booleans, text, enums, dates, timestamps and intervals; '
                     'exclude it (exclude => ARRAY[' || quote_literal(col.name) || ']) or convert it in a query.';
    ELSIF col.family = 'number' THEN
      expr := format('d.%I::float8', col.name);
    ELSIF col.family = 'money' THEN
      expr := format('d.%I::numeric::float8', col.name);
    ELSIF col.family = 'boolean' THEN
      expr := format('d.%I::int::float8', col.name);
    ELSIF col.family = 'datetime' THEN
      -- epoch seconds (an interval: its length); 'infinity' gives a non-finite value, refused below
      expr := format('extract(epoch FROM d.%I)::float8', col.name);
    ELSE
      -- numeric text ("63.0", with "?" for missing) is numeric, by the rule of ml._numeric_text
      EXECUTE format($q$SELECT array_agg(DISTINCT btrim(d.%1$I::text)) FILTER (WHERE ml._numeric_text(d.%1$I::text) IS NULL),
                              count(*) FILTER (WHERE ml._numeric_text(d.%1$I::text) IS NOT NULL)
                         FROM pg_temp.pgscore_train_data d WHERE NOT pgscore_test__$q$, col.name)
        INTO s;
      IF s.count > 0 AND (s.array_agg IS NULL OR s.array_agg <@ markers) THEN
        expr := format('ml._numeric_text(d.%I::text)', col.name);
        -- every usual marker counts as missing, also ones the training rows happen not to hold
        cats := markers;
      END IF;
    END IF;
    IF expr IS NOT NULL THEN
      BEGIN
        EXECUTE format($q$SELECT avg(v) AS mean, stddev_pop(v) AS sd, min(v) AS lo, max(v) AS hi,
                                count(*) FILTER (WHERE v IS NULL)::float8 / greatest(count(*), 1) AS null_fraction,
                                percentile_cont(ARRAY[0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9]) WITHIN GROUP (ORDER BY v) AS deciles
                           FROM (SELECT %s AS v FROM pg_temp.pgscore_train_data d WHERE NOT pgscore_test__) q$q$, expr)
          INTO s;
      EXCEPTION WHEN numeric_value_out_of_range THEN
        SELECT 'Infinity'::float8 AS mean, 'Infinity'::float8 AS sd INTO s;   -- refused just below
      END;
      IF s.mean = 'NaN' OR s.mean IN ('Infinity', '-Infinity') OR s.sd IN ('NaN', 'Infinity') THEN
        RAISE EXCEPTION 'ml.train: column "%" holds NaN, Infinity or values too large to average; features must be finite numbers', col.name
          USING ERRCODE = 'data_exception',
                HINT = 'Filter those rows out or turn them into NULL (a missing value) in a query source.';
      END IF;
      IF s.mean IS NULL OR coalesce(s.sd, 0) = 0 THEN
        dropped := dropped || jsonb_build_object('column', col.name, 'reason',
                     CASE WHEN s.mean IS NULL THEN 'always missing' ELSE 'constant' END);
        CONTINUE;
      END IF;
      spec_cols := spec_cols || jsonb_build_object('name', col.name, 'type', col.type::text, 'kind', 'numeric',
                     'impute', s.mean, 'center', CASE WHEN do_scale THEN s.mean ELSE 0 END,
                     'scale', CASE WHEN do_scale THEN s.sd ELSE 1 END, 'keep_missing', trees,
                     'missing', CASE WHEN col.family = 'text' THEN to_jsonb(cats) ELSE '[]'::jsonb END);
      numeric_names := numeric_names || col.name;
      -- the share of training values in each bin [c_i, c_i+1) between the distinct deciles
      -- (width_bucket's bins): what drift monitoring compares live traffic with; exact,
      -- where shares guessed from decile ranks are wrong for rounded or discrete values
      cuts := ARRAY(SELECT DISTINCT c FROM unnest(s.deciles) c ORDER BY c);
      EXECUTE format($q$SELECT array_agg(coalesce(b.cnt, 0)::float8 / greatest(t.n, 1) ORDER BY j)
                         FROM generate_series(0, cardinality($1)) j
                         CROSS JOIN (SELECT count(*) AS n FROM (SELECT %1$s AS v FROM pg_temp.pgscore_train_data d
                                                                  WHERE NOT pgscore_test__) q WHERE v IS NOT NULL) t
                         LEFT JOIN (SELECT width_bucket(v, $1) AS bucket, count(*) AS cnt
                                      FROM (SELECT %1$s AS v FROM pg_temp.pgscore_train_data d WHERE NOT pgscore_test__) q
                                     WHERE v IS NOT NULL GROUP BY 1) b ON b.bucket = j$q$, expr)
        INTO shares USING cuts;
      stats := stats || jsonb_build_object(col.name, jsonb_build_object('kind', 'numeric', 'mean', s.mean,
                     'std', s.sd, 'min', s.lo, 'max', s.hi, 'null_fraction', s.null_fraction, 'deciles', to_jsonb(s.deciles),
                     'bins', jsonb_build_object('cuts', to_jsonb(cuts), 'shares', to_jsonb(shares))));
    ELSE
      EXECUTE format($q$SELECT array_agg(v ORDER BY v) AS cats, jsonb_object_agg(v, f) AS freq,
                              max(nulls) AS nulls
                         FROM (SELECT d.%1$I::text AS v, count(*)::float8 / sum(count(*)) OVER () AS f,
                                      0 AS nulls
                                 FROM pg_temp.pgscore_train_data d WHERE NOT pgscore_test__ AND d.%1$I IS NOT NULL
                                GROUP BY 1) q$q$, col.name)
        INTO s;
      IF s.cats IS NULL OR cardinality(s.cats) < 2 THEN
        dropped := dropped || jsonb_build_object('column', col.name, 'reason',
                     CASE WHEN s.cats IS NULL THEN 'always missing' ELSE 'a single category' END);
        CONTINUE;
      END IF;
      IF cardinality(s.cats) > 200 THEN
        RAISE EXCEPTION 'ml.train: column "%" has % categories; at most 200 are encoded', col.name, cardinality(s.cats)
          USING ERRCODE = 'program_limit_exceeded',
                HINT = 'Exclude it (exclude => ARRAY[''' || col.name || ''']) or group its values.';
      END IF;
      spec_cols := spec_cols || jsonb_build_object('name', col.name, 'type', col.type::text, 'kind', 'categorical',
                     'categories', to_jsonb(s.cats), 'unknown', unknown_cat);
      onehot_names := onehot_names || ARRAY(SELECT col.name || '=' || c FROM unnest(s.cats) c);
      stats := stats || jsonb_build_object(col.name, jsonb_build_object('kind', 'categorical', 'frequencies', s.freq));
    END IF;
    features := features || jsonb_build_object('name', col.name, 'type', col.type::text,
                  'kind', CASE WHEN expr IS NOT NULL THEN 'numeric' ELSE 'categorical' END);
  END LOOP;
  IF jsonb_array_length(spec_cols) = 0 THEN
    RAISE EXCEPTION 'ml.train: no usable feature columns (every column is the label, excluded, constant or empty)'
      USING ERRCODE = 'data_exception', DETAIL = 'Dropped: ' || dropped::text;
  END IF;
  IF jsonb_array_length(dropped) > 0 THEN
    RAISE NOTICE 'ml.train: columns left out: %', dropped;
  END IF;
  spec := jsonb_build_object('columns', spec_cols);
  feature_names := numeric_names || onehot_names;
END $$;

-- the test metrics of a model on the held-out rows of pg_temp.pgscore_train_data (NULL
-- without any); a category only the held-out rows hold is scored as unseen (all zeros),
-- so whether a table trains does not depend on where the split falls
CREATE FUNCTION ml._train_evaluate(model ml.model, spec jsonb, task text, label text, label_expr text)
RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  eval_spec jsonb;
  metrics   jsonb;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_temp.pgscore_train_data d WHERE d.pgscore_test__) THEN
    RETURN NULL;
  END IF;
  eval_spec := jsonb_build_object('columns', (SELECT jsonb_agg(CASE WHEN c ->> 'kind' = 'categorical'
                                                                 THEN c || '{"unknown": "ignore"}' ELSE c END ORDER BY o)
                                               FROM jsonb_array_elements(spec -> 'columns') WITH ORDINALITY e(c, o)));
  EXECUTE format('SELECT ml.metrics($1, ml.encode($2, d.*), %s) FROM pg_temp.pgscore_train_data d WHERE d.pgscore_test__',
                 CASE task WHEN 'regression' THEN label_expr ELSE format('d.%I::text', label) END)
    INTO metrics USING model, eval_spec;
  RETURN metrics;
END $$;

-- deploys a new version by the project's policy, or by ml.train's deploy override;
-- true when it did
CREATE FUNCTION ml._train_deploy(project text, version int, key text, score float8, deploy text)
RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  proj           ml.projects;
  policy         text;
  has_deployed   boolean;
  deployed_score float8;
  deploy_it      boolean;
BEGIN
  SELECT * INTO proj FROM ml.projects p WHERE p.name = project;
  policy := coalesce(deploy, proj.deploy_policy);
  SELECT true, m.score INTO has_deployed, deployed_score
    FROM ml.deployments d JOIN ml.models m ON m.id = d.model_id
   WHERE d.project_id = proj.id ORDER BY d.id DESC LIMIT 1;
  deploy_it := CASE policy
                 WHEN 'most_recent' THEN true
                 WHEN 'best_score' THEN has_deployed IS NULL
                                        OR (score IS NOT NULL AND (deployed_score IS NULL OR score > deployed_score))
                 ELSE false END;
  IF deploy_it THEN
    PERFORM ml._record_deployment(project, version,
              CASE policy WHEN 'most_recent' THEN 'most_recent' ELSE 'best_score' END,
              CASE WHEN has_deployed IS NULL THEN 'first version of the project'
                   WHEN deploy = 'most_recent' THEN 'deploy => most_recent'
                   WHEN policy = 'most_recent' THEN 'policy most_recent'
                   ELSE format('%s %s beats the deployed %s', key, round(score::numeric, 4), round(deployed_score::numeric, 4)) END);
  END IF;
  RETURN deploy_it;
END $$;
REVOKE EXECUTE ON FUNCTION ml._train_preprocessing(text, text[], boolean, boolean, text),
  ml._train_evaluate(ml.model, jsonb, text, text, text), ml._train_deploy(text, int, text, float8, text) FROM PUBLIC;


-- the task of a new version: the project's, else from the label's type (integers with at
-- most 20 values are classes); pg_temp.pgscore_train_raw holds the source
CREATE FUNCTION ml._train_task(project text, label text, label_type regtype, label_cat "char")
RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  proj      ml.projects;
  n_classes bigint;
  task      text;
BEGIN
  SELECT * INTO proj FROM ml.projects p WHERE p.name = project;
  IF FOUND THEN
    task := proj.task;
  ELSIF label_cat IN ('B', 'S') THEN
    task := 'classification';
  ELSIF label_type IN ('smallint'::regtype, 'integer'::regtype, 'bigint'::regtype) THEN
    EXECUTE format('SELECT count(DISTINCT s.%I) FROM pg_temp.pgscore_train_raw s', label) INTO n_classes;
    task := CASE WHEN n_classes <= 20 THEN 'classification' ELSE 'regression' END;
  ELSIF label_cat = 'N' THEN
    task := 'regression';
  ELSE
    task := 'classification';
  END IF;
  IF task = 'regression' AND label_cat <> 'N' THEN
    RAISE EXCEPTION 'ml.train: project "%" is a regression project but label "%" is of type %', project, label, label_type
      USING ERRCODE = 'datatype_mismatch';
  END IF;
  RETURN task;
END $$;

-- pg_temp.pgscore_train_raw's labelled rows as pg_temp.pgscore_train_data with a
-- reproducible split (stratified by label for classification): each row's place comes
-- from a hash of its content and the seed
CREATE FUNCTION ml._train_split(label text, task text, test_fraction float8, seed int,
                                OUT n_total bigint, OUT n_test bigint, OUT n_classes bigint)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  EXECUTE format($q$
    CREATE TEMP TABLE pgscore_train_data AS
    SELECT s.*, (row_number() OVER w) <= round(count(*) OVER g * %s) AS pgscore_test__
      FROM %s s WHERE s.%I IS NOT NULL
    WINDOW g AS (PARTITION BY %s), w AS (PARTITION BY %s ORDER BY hashtextextended((s.*)::text, %s), (s.*)::text)$q$,
    test_fraction, 'pg_temp.pgscore_train_raw', label,
    CASE WHEN task = 'classification' THEN format('s.%I', label) ELSE 'true' END,
    CASE WHEN task = 'classification' THEN format('s.%I', label) ELSE 'true' END, seed);
  DROP TABLE pg_temp.pgscore_train_raw;
  SELECT count(*), count(*) FILTER (WHERE pgscore_test__) INTO n_total, n_test FROM pg_temp.pgscore_train_data;
  IF n_total = 0 THEN
    RAISE EXCEPTION 'ml.train: the source has no rows with a label'
      USING ERRCODE = 'data_exception', HINT = 'Check the source and that "' || label || '" is filled in.';
  END IF;
  IF task = 'classification' THEN
    EXECUTE format('SELECT count(DISTINCT d.%I) FROM pg_temp.pgscore_train_data d', label) INTO n_classes;
    IF n_classes < 2 THEN
      RAISE EXCEPTION 'ml.train: label "%" has only one class in the source; a classifier needs at least two', label
        USING ERRCODE = 'data_exception';
    END IF;
  END IF;
END $$;
REVOKE EXECUTE ON FUNCTION ml._train_task(text, text, regtype, "char"), ml._train_split(text, text, float8, int) FROM PUBLIC;

-- The fit on the training rows: logistic regression in memory while the rows fit under
-- pgscore.max_training_memory (the aggregate keeps 8 x features + 4 bytes a row and four
-- p x p Hessians), in passes that keep no rows beyond it (or when asked: "fit"); a tree
-- beyond the memory setting on a reproducible sample (the training rows with the smallest
-- hashes of their content and the seed, "max_rows" of them; without max_rows, as many as
-- take half of the setting at 8 bytes a value plus the label, and the fit's scratch about
-- as much again). Returns the model, how it was fitted (ml.models.fit) and the rows used.
CREATE FUNCTION ml._train_fit(algo text, agg text, trees boolean, label_expr text, spec jsonb, opts jsonb,
                              fit_choice text, max_rows bigint, n_train bigint, n_features int, n_classes bigint, seed int,
                              OUT model ml.model, OUT fit jsonb, OUT rows_used bigint)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  fit_state  bytea;
  fit_bytes  float8;
  fit_limit  float8 := (SELECT st.setting::float8 FROM pg_settings st WHERE st.name = 'pgscore.max_training_memory') * 1048576;
  train_from text := 'pg_temp.pgscore_train_data d WHERE NOT d.pgscore_test__';
BEGIN
  IF algo = 'logistic_regression' THEN
    fit_bytes := n_train::float8 * (8 * n_features + 4)
                 + 32 * ((n_features + 1) * CASE WHEN n_classes > 2 THEN n_classes ELSE 1 END)::float8 ^ 2;
  END IF;
  PERFORM ml._progress_phase(3, 0);
  IF algo = 'logistic_regression' AND (fit_choice = 'passes' OR (fit_choice = 'auto' AND fit_bytes > 0.9 * fit_limit)) THEN
    fit_state := ml.logreg_start(opts);
    LOOP
      EXECUTE format('SELECT ml.logreg_step(ml.encode($1, d.*), %s, $2) FROM %s', label_expr, train_from)
        INTO fit_state USING spec, fit_state;
      PERFORM ml._progress_phase(3, (ml.logreg_fit_info(fit_state) ->> 'passes')::int, n_train,
                                 'logistic regression: ' || (ml.logreg_fit_info(fit_state) - 'features' - 'classes')::text);
      EXIT WHEN ml.logreg_fit_info(fit_state) ->> 'phase' = 'done';
    END LOOP;
    model := ml.logreg_model(fit_state);
    fit := jsonb_build_object('fit', 'passes', 'passes', (ml.logreg_fit_info(fit_state) ->> 'passes')::int,
                              'memory_in_memory_fit', fit_bytes, 'max_training_memory', fit_limit);
    rows_used := n_train;
    RETURN;
  END IF;
  IF trees THEN
    IF max_rows IS NULL AND n_train::float8 * 2 * (8 * n_features + 12) > 0.5 * fit_limit THEN
      max_rows := floor(0.5 * fit_limit / (2 * (8 * n_features + 12)));
      RAISE NOTICE 'ml.train: % training rows need more than half of pgscore.max_training_memory; training on a sample of % rows (hyperparameter "max_rows")',
        n_train, max_rows;
    END IF;
    IF max_rows < n_train THEN
      train_from := format('(SELECT * FROM pg_temp.pgscore_train_data s WHERE NOT s.pgscore_test__
                               ORDER BY hashtextextended((s.*)::text, %s), (s.*)::text LIMIT %s) d', seed + 1, max_rows);
    END IF;
  END IF;
  EXECUTE format('SELECT %s(ml.encode($1, d.*), %s, $2) FROM %s', agg, label_expr, train_from)
    INTO model USING spec, opts;
  rows_used := least(coalesce(max_rows, n_train), n_train);
  fit := CASE WHEN algo IN ('linear_regression', 'naive_bayes') THEN '{"fit": "sums", "passes": 1}'::jsonb
              ELSE jsonb_build_object('fit', 'memory', 'passes', 1) END;
  IF trees THEN
    fit := fit || jsonb_build_object('max_rows', max_rows, 'sampled', max_rows IS NOT NULL AND max_rows < n_train,
                                     'rows', rows_used);
  END IF;
  IF algo = 'logistic_regression' THEN
    fit := fit || jsonb_build_object('memory_in_memory_fit', fit_bytes, 'max_training_memory', fit_limit);
  END IF;
END $$;
REVOKE EXECUTE ON FUNCTION ml._train_fit(text, text, boolean, text, jsonb, jsonb, text, bigint, bigint, int, bigint, int) FROM PUBLIC;

CREATE FUNCTION ml.train(
    project       text,
    source        text,
    label         text,
    algorithm     text DEFAULT NULL,
    hyperparams   jsonb DEFAULT '{}',
    test_fraction float8 DEFAULT 0.25,
    seed          int DEFAULT 42,
    exclude       text[] DEFAULT '{}',
    deploy        text DEFAULT NULL,
    search_path   text DEFAULT current_setting('search_path'))
RETURNS ml.training_result
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  started      timestamptz := clock_timestamp();
  who          name := ml._acting_role();
  user_src     text;
  label_type   regtype;
  label_cat    "char";
  label_expr   text;
  task         text;
  algo         text;
  agg          text;
  fits         boolean;
  opts         jsonb;
  do_scale     boolean;
  trees        boolean;
  unknown_cat  text := coalesce(hyperparams ->> 'unknown_categories', 'error');
  fit_choice   text := coalesce(hyperparams ->> 'fit', 'auto');
  max_rows     bigint;
  fitted       record;
  pre          record;
  n_total      bigint;
  n_test       bigint;
  n_classes    bigint;
  bad          text[];
  spec         jsonb;
  model        ml.model;
  metrics      jsonb;
  key          text;
  score        float8;
  fingerprint  text;
  v            ml.models;
  deploy_it    boolean := false;
  result       ml.training_result;
BEGIN
  IF deploy IS NOT NULL AND deploy NOT IN ('best_score', 'most_recent', 'manual') THEN
    RAISE EXCEPTION 'ml.train: deploy must be best_score, most_recent or manual (or NULL for the project''s policy), got "%"', deploy
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF test_fraction IS NULL OR test_fraction < 0 OR test_fraction >= 1 THEN
    RAISE EXCEPTION 'ml.train: test_fraction must be at least 0 and below 1, got %', test_fraction
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF unknown_cat NOT IN ('error', 'ignore') THEN
    RAISE EXCEPTION 'ml.train: "unknown_categories" must be "error" or "ignore", got "%"', unknown_cat
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF fit_choice NOT IN ('auto', 'memory', 'passes') THEN
    RAISE EXCEPTION 'ml.train: "fit" must be "auto", "memory" or "passes", got "%"', fit_choice
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF hyperparams ? 'max_rows' AND (jsonb_typeof(hyperparams -> 'max_rows') <> 'number'
                                   OR (hyperparams ->> 'max_rows')::numeric < 1
                                   OR (hyperparams ->> 'max_rows')::numeric <> trunc((hyperparams ->> 'max_rows')::numeric)
                                   OR (hyperparams ->> 'max_rows')::numeric > 9e18) THEN
    RAISE EXCEPTION 'ml.train: "max_rows" must be a whole number of at least 1, got %', hyperparams -> 'max_rows'
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  max_rows := (hyperparams ->> 'max_rows')::bigint;
  opts := coalesce(hyperparams, '{}') - 'scale' - 'unknown_categories' - 'fit' - 'max_rows';

  IF EXISTS (SELECT 1 FROM ml.projects p WHERE p.name = project) THEN
    PERFORM ml._require('ml.train', project, 'train');
  ELSE
    PERFORM ml._check_project('ml.train', project);
  END IF;

  -- the source (a query, or a table or view name in the caller's search_path), read once
  -- into a temporary table with the rights of the role it belongs to; from here on only
  -- plain values are read
  user_src := ml._source_sql('ml.train', source, search_path);
  PERFORM ml._progress_begin(coalesce((SELECT a.id FROM ml.algorithms() a WHERE lower(algorithm) IN (a.name, a.alias)), 0));
  IF to_regclass('pg_temp.pgscore_train_raw') IS NOT NULL THEN DROP TABLE pg_temp.pgscore_train_raw; END IF;
  IF to_regclass('pg_temp.pgscore_train_data') IS NOT NULL THEN DROP TABLE pg_temp.pgscore_train_data; END IF;
  PERFORM ml._read_as(ml._source_reader('ml.train', user_src, who), search_path,
                      format('SELECT * FROM %s s', user_src), 'pgscore_train_raw');
  SELECT a.atttypid::regtype, t.typcategory INTO label_type, label_cat
    FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
   WHERE a.attrelid = 'pg_temp.pgscore_train_raw'::regclass AND a.attname = label
     AND a.attnum > 0 AND NOT a.attisdropped;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'ml.train: label column "%" is not in the source', label
      USING ERRCODE = 'undefined_column',
            HINT = 'Columns: ' || (SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute
                                   WHERE attrelid = 'pg_temp.pgscore_train_raw'::regclass AND attnum > 0 AND NOT attisdropped);
  END IF;
  IF EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = 'pg_temp.pgscore_train_raw'::regclass
               AND a.attname = 'pgscore_test__' AND a.attnum > 0 AND NOT a.attisdropped) THEN
    RAISE EXCEPTION 'ml.train: the source has a column named "pgscore_test__", the one name ml.train reserves (its train/test split)'
      USING ERRCODE = 'duplicate_column', HINT = 'Rename that column in a query source.';
  END IF;
  SELECT array_agg(e) INTO bad FROM unnest(exclude) e
   WHERE NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = 'pg_temp.pgscore_train_raw'::regclass
                        AND a.attname = e AND a.attnum > 0 AND NOT a.attisdropped);
  IF bad IS NOT NULL THEN
    RAISE EXCEPTION 'ml.train: excluded column(s) % are not in the source', array_to_string(bad, ', ')
      USING ERRCODE = 'undefined_column';
  END IF;

  -- the task: the project's, or from the label's type
  task := ml._train_task(project, label, label_type, label_cat);
  label_expr := CASE
    WHEN task = 'regression' THEN format('d.%I::float8', label)
    WHEN label_type = 'boolean'::regtype THEN format('d.%I', label)
    WHEN label_type IN ('smallint'::regtype, 'integer'::regtype, 'bigint'::regtype) THEN format('d.%I::bigint', label)
    ELSE format('d.%I::text', label) END;
  algo := ml._algorithm_name(algorithm, task);
  IF algo IS NULL THEN
    RAISE EXCEPTION 'ml.train: unknown algorithm "%"', algorithm
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Use ' || (SELECT string_agg(a.name || ' (' || a.alias || ')', ', ' ORDER BY a.id) FROM ml.algorithms() a) || '.';
  END IF;
  SELECT a.aggregate, a.tree, CASE task WHEN 'regression' THEN a.regression ELSE a.classification END
    INTO agg, trees, fits FROM ml.algorithms() a WHERE a.name = algo;
  PERFORM ml._progress_begin((SELECT a.id FROM ml.algorithms() a WHERE a.name = algo));
  IF NOT fits THEN
    RAISE EXCEPTION 'ml.train: % does not fit a % project', algo, task USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF max_rows IS NOT NULL AND NOT trees THEN
    RAISE EXCEPTION 'ml.train: "max_rows" is for the tree algorithms; % keeps no rows or fits in passes', algo
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF fit_choice = 'passes' AND algo <> 'logistic_regression' THEN
    RAISE EXCEPTION 'ml.train: "fit": "passes" is for logistic_regression; % fits in one pass or in memory', algo
      USING ERRCODE = 'invalid_parameter_value', HINT = 'Leave "fit" out (auto).';
  END IF;
  -- trees split on raw values and learn where missing values go: no scaling, no imputation
  do_scale := coalesce((hyperparams ->> 'scale')::boolean, NOT trees);

  -- the data, with a reproducible split
  SELECT * INTO n_total, n_test, n_classes FROM ml._train_split(label, task, test_fraction, seed);
  PERFORM ml._progress_phase(2, 0, n_total);

  -- preprocessing, learned from the training rows only
  SELECT * INTO pre FROM ml._train_preprocessing(label, exclude, do_scale, trees, unknown_cat);
  spec := pre.spec;
  -- one-hot categories sum to 1 like the intercept: a least-squares fit on them has no
  -- unique solution, so without an l2 of its own a linear regression gets a tiny ridge
  -- (1e-6 x training rows; the slots are 0/1 and the numbers scaled, so it shrinks by ~1e-6)
  IF algo = 'linear_regression' AND jsonb_path_exists(spec, '$.columns[*] ? (@.kind == "categorical")') AND NOT opts ? 'l2' THEN
    opts := opts || jsonb_build_object('l2', 1e-6 * (n_total - n_test));
  END IF;

  -- train on the training rows
  SELECT * INTO fitted FROM ml._train_fit(algo, agg, trees, label_expr, spec, opts, fit_choice, max_rows,
                                          n_total - n_test, cardinality(pre.feature_names), n_classes, seed);
  model := fitted.model;
  model := ml.with_info(model, jsonb_build_object('preprocess', spec, 'project', project, 'label', label,
             'label_type', label_type::text, 'task', task,
             'feature_names', to_jsonb(pre.feature_names)));

  -- evaluate on the held-out rows
  PERFORM ml._progress_phase(4, coalesce((fitted.fit ->> 'passes')::int, 1), n_test);
  key := CASE task WHEN 'regression' THEN 'r2' ELSE 'accuracy' END;
  metrics := ml._train_evaluate(model, spec, task, label, label_expr);
  score := (metrics ->> key)::float8;

  SELECT count(*) || ' rows, ' || md5(coalesce(sum(hashtextextended((d.*)::text, 0)::numeric), 0)::text)
    INTO fingerprint FROM pg_temp.pgscore_train_data d;

  v.algorithm := algo;
  v.hyperparams := (ml.describe(model) -> 'options') || jsonb_build_object('scale', do_scale, 'unknown_categories', unknown_cat)
                   || CASE WHEN algo = 'logistic_regression' THEN jsonb_build_object('fit', fit_choice) ELSE '{}' END
                   || CASE WHEN trees AND hyperparams ? 'max_rows' THEN jsonb_build_object('max_rows', max_rows) ELSE '{}' END;
  v.label := label;
  v.label_type := label_type::text;
  v.features := pre.features;
  -- a table or view is recorded schema-qualified, as resolved now: a retrain by the daemon
  -- (ml.enqueue_run falls back on this) must read the same relation from any search_path
  v.source := CASE WHEN left(user_src, 1) = '(' THEN source ELSE user_src END;
  v.train_rows := fitted.rows_used;
  v.test_rows := n_test;
  v.fingerprint := fingerprint;
  v.feature_stats := pre.stats || jsonb_build_object('_dropped', pre.dropped);
  v.metrics := metrics;
  v.key_metric := key;
  v.score := score;
  v.split := jsonb_build_object('test_fraction', test_fraction, 'seed', seed,
                                'stratified', task = 'classification');
  v.duration_ms := extract(epoch FROM clock_timestamp() - started) * 1000;
  v.pgscore_version := (SELECT extversion FROM pg_extension WHERE extname = 'pgscore');
  v.model := model;
  v.fit := fitted.fit;
  v := ml._record_version(project, task, v);
  DROP TABLE pg_temp.pgscore_train_data;

  deploy_it := ml._train_deploy(project, v.version, key, score, deploy);

  PERFORM ml._progress_end();
  result := (project, v.version, algo, key, score, deploy_it, metrics);
  RETURN result;
END $$;
COMMENT ON FUNCTION ml.train(text, text, text, text, jsonb, float8, int, text[], text, text) IS
  'Trains a new version of a project from a table, view or query (names resolved in search_path, by default the caller''s; read with the rights of the role the source belongs to: the caller for a query or its own relations, a view''s owner for another role''s view; never pgscore''s own tables or system catalogs). Needs the train right on an existing project; a new project is owned by the caller. Records who trained and the metrics it computed itself. Learns preprocessing (mean imputation, standard scaling, numeric text with "?" as missing by the rule of ml._numeric_text, money as numeric, dates/timestamps as epoch seconds, intervals as seconds, one-hot categories for text, char, varchar and enums; other types refused), splits reproducibly (seed; stratified for classification), evaluates on the test part, records the version and deploys it by the project''s policy, or by deploy (best_score | most_recent | manual) for this call. hyperparams: the algorithm''s options plus "scale" (true), "unknown_categories" ("error" | "ignore") and, for logistic regression, "fit" ("auto": in memory while the rows fit under pgscore.max_training_memory, else in passes that keep no rows; "memory"; "passes"), for the trees "max_rows" (a reproducible sample by hash; chosen by itself beyond half of pgscore.max_training_memory); ml.models.fit records how it was fitted.';
-- ---------------------------------------------------------------- ml.deploy

CREATE FUNCTION ml.deploy(project text, strategy text DEFAULT 'best_score', version int DEFAULT NULL)
RETURNS int
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  p ml.projects;
  target int;
  cur record;
  why text;
BEGIN
  p := ml._require('ml.deploy', project, 'deploy');
  IF version IS NOT NULL AND strategy IN ('best_score', 'version') THEN
    strategy := 'version';
  END IF;
  SELECT d.version, d.model_id INTO cur FROM ml.deployments d WHERE d.project_id = p.id ORDER BY d.id DESC LIMIT 1;
  CASE strategy
    WHEN 'best_score' THEN
      SELECT m.version INTO target FROM ml.models m WHERE m.project_id = p.id AND m.score IS NOT NULL
       ORDER BY m.score DESC, m.version DESC LIMIT 1;
      why := 'highest ' || (SELECT key_metric FROM ml.models m WHERE m.project_id = p.id LIMIT 1);
    WHEN 'most_recent' THEN
      SELECT max(m.version) INTO target FROM ml.models m WHERE m.project_id = p.id;
      why := 'newest version';
    WHEN 'rollback' THEN
      IF cur IS NULL OR cur.version IS NULL THEN
        RAISE EXCEPTION 'ml.deploy: project "%" has no deployment to roll back', project
          USING ERRCODE = 'object_not_in_prerequisite_state';
      END IF;
      -- the version that the current one replaced when it was deployed (rollbacks are undone in order)
      SELECT d.replaced_version INTO target FROM ml.deployments d
       WHERE d.project_id = p.id AND d.version = cur.version AND d.strategy <> 'rollback'
         AND d.replaced_version IS DISTINCT FROM d.version     -- a redeploy of the same version
       ORDER BY d.id DESC LIMIT 1;
      IF target IS NULL THEN
        RAISE EXCEPTION 'ml.deploy: project "%" has no earlier version to roll back to', project
          USING ERRCODE = 'object_not_in_prerequisite_state',
                HINT = 'Version ' || cur.version || ' was the first one deployed.';
      END IF;
      why := 'rollback from version ' || cur.version;
    WHEN 'version' THEN
      IF version IS NULL THEN
        RAISE EXCEPTION 'ml.deploy: strategy "version" needs a version' USING ERRCODE = 'invalid_parameter_value';
      END IF;
      target := version;
      why := 'pinned version';
    ELSE
      RAISE EXCEPTION 'ml.deploy: unknown strategy "%"', strategy
        USING ERRCODE = 'invalid_parameter_value',
              HINT = 'Use best_score, most_recent, rollback, or a version number.';
  END CASE;
  IF target IS NULL THEN
    RAISE EXCEPTION 'ml.deploy: project "%" has no version to deploy', project
      USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'Train one with ml.train.';
  END IF;
  RETURN ml._record_deployment(project, target, strategy, why);
END $$;
COMMENT ON FUNCTION ml.deploy(text, text, int) IS
  'Makes a version serve: strategy best_score (highest key metric on its test split), most_recent, rollback (to the version the current one replaced), or a version number. Needs the deploy right on the project. Appends to ml.deployments (deployed_by: the calling role) and returns the version.';
-- ---------------------------------------------------------------- evaluate, export

CREATE FUNCTION ml._version_model(project text, version int, fn text) RETURNS ml.models
LANGUAGE plpgsql STABLE AS $$
DECLARE
  m ml.models;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM ml.projects WHERE name = project) THEN
    RAISE EXCEPTION '%: project "%" does not exist', fn, project USING ERRCODE = 'undefined_object';
  END IF;
  IF version IS NULL THEN
    version := ml.deployed_version(project);
    IF version IS NULL THEN
      RAISE EXCEPTION '%: project "%" has no deployed version; name a version', fn, project
        USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
  END IF;
  SELECT mm.* INTO m FROM ml.models mm JOIN ml.projects p ON p.id = mm.project_id
   WHERE p.name = project AND mm.version = _version_model.version;
  IF NOT FOUND THEN
    RAISE EXCEPTION '%: project "%" has no version %', fn, project, version USING ERRCODE = 'undefined_object';
  END IF;
  RETURN m;
END $$;

CREATE FUNCTION ml.evaluate(project text, source text, version int DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  m ml.models;
  src text;
  result jsonb;
  task text;
BEGIN
  m := ml._version_model(project, version, 'ml.evaluate');
  src := ml._source_sql('ml.evaluate', source);
  task := (SELECT p.task FROM ml.projects p WHERE p.name = project);
  BEGIN
    EXECUTE format('SELECT s.%I FROM %s s LIMIT 0', m.label, src);
  EXCEPTION WHEN undefined_column THEN
    RAISE EXCEPTION 'ml.evaluate: the source has no label column "%"', m.label
      USING ERRCODE = 'undefined_column', HINT = 'Version ' || m.version || ' of "' || project || '" was trained to predict "' || m.label || '".';
  END;
  EXECUTE format('SELECT ml.metrics($1, ml.encode($1, s.*), s.%I::%s) FROM %s s WHERE s.%I IS NOT NULL',
                 m.label, CASE task WHEN 'regression' THEN 'float8' ELSE 'text' END, src, m.label)
    INTO result USING m.model;
  RETURN result || jsonb_build_object('project', project, 'version', m.version);
END $$;
COMMENT ON FUNCTION ml.evaluate(text, text, int) IS
  'The test metrics of a version (default: the deployed one) on new labelled rows from a table, view or query.';

CREATE FUNCTION ml.export(project text, version int DEFAULT NULL, format text DEFAULT 'onnx') RETURNS bytea
LANGUAGE plpgsql AS $$
DECLARE
  m ml.models;
BEGIN
  IF format NOT IN ('onnx', 'json') THEN
    RAISE EXCEPTION 'ml.export: unknown format "%"', format
      USING ERRCODE = 'invalid_parameter_value', HINT = 'Use onnx or json.';
  END IF;
  m := ml._version_model(project, version, 'ml.export');
  IF format = 'onnx' THEN
    RETURN ml.export_onnx(m.model);
  END IF;
  RETURN convert_to(jsonb_pretty(jsonb_build_object(
           'project', project, 'version', m.version, 'algorithm', m.algorithm,
           'label', m.label, 'features', m.features, 'metrics', m.metrics,
           'trained_at', m.created_at, 'model', ml.describe(m.model))), 'UTF8');
END $$;
COMMENT ON FUNCTION ml.export(text, int, text) IS
  'A version (default: the deployed one) as a file: ''onnx'' (ONNX-ML graph with the preprocessing) or ''json'' (coefficients, preprocessing, metrics).';
-- ---------------------------------------------------------------- scoring triggers

CREATE FUNCTION ml._score_trigger() RETURNS trigger
    AS 'MODULE_PATHNAME', 'ml_score_trigger' LANGUAGE C;

CREATE FUNCTION ml.score_on_insert(tbl regclass, project text, output_column text,
                                   version_column text DEFAULT NULL) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  trigger_name text := 'ml_score_' || output_column;
  spec_columns text[];
  missing text[];
  v int;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM ml.projects WHERE name = project) THEN
    RAISE EXCEPTION 'ml.score_on_insert: project "%" does not exist', project USING ERRCODE = 'undefined_object';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = tbl AND attname = output_column AND attnum > 0 AND NOT attisdropped) THEN
    RAISE EXCEPTION 'ml.score_on_insert: table % has no column "%"', tbl, output_column USING ERRCODE = 'undefined_column';
  END IF;
  IF version_column IS NOT NULL AND NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = tbl AND attname = version_column
                                                  AND attnum > 0 AND NOT attisdropped AND atttypid IN ('int4'::regtype, 'int8'::regtype)) THEN
    RAISE EXCEPTION 'ml.score_on_insert: table % has no integer column "%"', tbl, version_column USING ERRCODE = 'undefined_column';
  END IF;
  v := ml.deployed_version(project);
  IF v IS NOT NULL THEN
    SELECT array_agg(c ->> 'name') INTO spec_columns
      FROM ml.models m JOIN ml.projects p ON p.id = m.project_id,
           jsonb_array_elements(ml.describe(m.model) -> 'info' -> 'preprocess' -> 'columns') c
     WHERE p.name = project AND m.version = v;
    SELECT array_agg(c) INTO missing FROM unnest(spec_columns) c
     WHERE NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = tbl AND attname = c AND attnum > 0 AND NOT attisdropped);
    IF missing IS NOT NULL THEN
      RAISE EXCEPTION 'ml.score_on_insert: table % lacks column(s) % that version % of "%" reads', tbl,
        array_to_string(missing, ', '), v, project USING ERRCODE = 'undefined_column';
    END IF;
  END IF;
  EXECUTE format('CREATE OR REPLACE TRIGGER %I BEFORE INSERT OR UPDATE%s ON %s FOR EACH ROW EXECUTE FUNCTION ml._score_trigger(%L, %L, %L)',
                 trigger_name,
                 CASE WHEN spec_columns IS NULL THEN '' ELSE ' OF ' || (SELECT string_agg(quote_ident(c), ', ') FROM unnest(spec_columns) c) END,
                 tbl, project, output_column, coalesce(version_column, ''));
  RETURN trigger_name;
END $$;
COMMENT ON FUNCTION ml.score_on_insert(regclass, text, text, text) IS
  'Installs a C trigger that writes the deployed version''s prediction (and optionally its version number) into each new row, for INSERT, COPY and UPDATE of the feature columns. Without a deployed version the columns are set to NULL and rows are still stored. Rerun after deploying a model with other columns. Returns the trigger name.';

CREATE FUNCTION ml.drop_scoring(tbl regclass, output_column text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = tbl AND tgname = 'ml_score_' || output_column) THEN
    RAISE EXCEPTION 'ml.drop_scoring: table % has no scoring trigger for "%"', tbl, output_column
      USING ERRCODE = 'undefined_object';
  END IF;
  EXECUTE format('DROP TRIGGER %I ON %s', 'ml_score_' || output_column, tbl);
END $$;
COMMENT ON FUNCTION ml.drop_scoring(regclass, text) IS 'Removes the scoring trigger ml.score_on_insert installed for that output column.';
-- ---------------------------------------------------------------- roles

CREATE FUNCTION ml.grant_predict(role name) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('GRANT USAGE ON SCHEMA ml TO %I', role);
  EXECUTE format('GRANT SELECT ON ml.projects, ml.models, ml.deployments, ml.project_grants, ml.project_sources, ml.versions, ml.project_overview, '
                 'ml.deployment_history TO %I', role);
END $$;
COMMENT ON FUNCTION ml.grant_predict(name) IS
  'Lets a role score: ml.predict / ml.predict_proba by project, reading the registry; no training or deployment. It sees only the projects it owns or has a grant on (ml.grant_project).';

CREATE FUNCTION ml.grant_train(role name) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  PERFORM ml.grant_predict(role);
  EXECUTE format('GRANT EXECUTE ON FUNCTION ml.train(text, text, text, text, jsonb, float8, int, text[], text, text), '
                 'ml.deploy(text, text, int), ml.evaluate(text, text, int), ml.export(text, int, text), '
                 'ml.score_on_insert(regclass, text, text, text), ml.drop_scoring(regclass, text), '
                 'ml.create_project(text, text, text), ml.set_deploy_policy(text, text), '
                 'ml.grant_project(text, name, text), ml.revoke_project(text, name), '
                 'ml.allow_source(text, regclass), ml.disallow_source(text, regclass) TO %I', role);
  -- schedules, event-driven training and queued runs (84_jobs.sql)
  EXECUTE format('GRANT EXECUTE ON FUNCTION ml.enqueue_run(text, jsonb, text, text, text), '
                 'ml.schedule(text, text, jsonb, text, int, interval, text), ml.pause_schedule(bigint), '
                 'ml.resume_schedule(bigint), ml.drop_schedule(bigint), '
                 'ml.train_on_events(text, regclass, jsonb, int, interval, text, text), ml.stop_training_on_events(text), '
                 'ml.add_records(text, jsonb) TO %I', role);
  -- monitors (95_monitoring.sql); a monitor that rolls back needs the deploy right
  EXECUTE format('GRANT EXECUTE ON FUNCTION ml.monitor(text, interval, int, float8, float8, float8, text, regclass, interval, int, text), '
                 'ml.drop_monitor(text) TO %I', role);
  EXECUTE format('GRANT SELECT ON ml.monitors, ml.evaluations, ml.drift, ml.monitor_actions, ml.evaluation_history, '
                 'ml.drift_report, ml.action_history TO %I', role);
  EXECUTE format('GRANT SELECT ON ml.schedules, ml.training_runs, ml.event_policies, ml.training_events, '
                 'ml.run_history, ml.schedule_overview TO %I', role);
  -- fits running now (24_progress.sql): its own, as pg_stat_activity shows
  EXECUTE format('GRANT SELECT ON ml.fits_in_progress TO %I', role);
END $$;
COMMENT ON FUNCTION ml.grant_train(name) IS
  'Lets a role call the training functions: train, evaluate, export, deploy, schedule, train on events, queue runs, grant projects. What it may do to a project is decided by its right on it (owner, or ml.grant_project). Training reads the source with the rights of the role the source belongs to, also when the daemon runs it.';

REVOKE EXECUTE ON FUNCTION ml.train(text, text, text, text, jsonb, float8, int, text[], text, text), ml.deploy(text, text, int),
  ml.evaluate(text, text, int), ml.export(text, int, text), ml.score_on_insert(regclass, text, text, text),
  ml.drop_scoring(regclass, text), ml.create_project(text, text, text), ml.set_deploy_policy(text, text),
  ml._record_version(text, text, ml.models), ml._record_deployment(text, int, text, text),
  ml.grant_project(text, name, text), ml.revoke_project(text, name),
  ml.allow_source(text, regclass), ml.disallow_source(text, regclass),
  ml.grant_predict(name), ml.grant_train(name) FROM PUBLIC;
-- ---------------------------------------------------------------- training jobs
-- Scheduled and event-driven training. All state is in tables; `pgscore serve` (any
-- number of replicas) only calls the functions below, each in autocommit mode:
--
--   loop: SELECT * FROM ml.claim_run(worker)      -- zero rows: nothing to do
--         SELECT * FROM ml.execute_run(run.id)    -- same session, right after
--         otherwise wait ml.next_wakeup() seconds or for NOTIFY pgscore_jobs
--
-- A run (ml.training_runs) is queued -> running -> succeeded | failed. Its params are
-- ml.train's arguments as JSON: {"source", "label", "algorithm", "hyperparams",
-- "test_fraction", "seed", "exclude", "deploy"}.
--
-- Exactly once. A schedule slot becomes one run: claim_run locks due schedules FOR
-- UPDATE SKIP LOCKED, inserts the run and moves next_run_at past now() in the same
-- transaction, and UNIQUE (schedule_id, due_at, attempt) refuses a second run of a slot.
-- A queued run is claimed by one session (FOR UPDATE SKIP LOCKED) which then holds a
-- session advisory lock on it, key (1885827939, run id mod 2^31) -- 1885827939 is
-- 'pgsc' in ASCII -- until execute_run or fail_run ends it. A run that stays 'running'
-- while nobody holds its lock lost its daemon (crash, killed connection): the next
-- claim_run anywhere marks it failed and queues its retry.
--
-- Missed slots. While no daemon runs (or a schedule's previous run is still queued or
-- running), its due slots are not queued one by one: the next claim_run queues ONE
-- catch-up run for them. Its due_at is the oldest pending slot (the schedule's
-- next_run_at) and its missed column counts the later slots that also came due up to
-- now(); next_run_at moves to the first slot after now(). A 1-minute schedule whose
-- next_run_at was 10 minutes ago gives one run with missed = 10. A paused schedule
-- queues nothing; resuming it skips the slots it missed. Likewise an event policy has at
-- most one event run queued or running: rows arriving meanwhile wait for the next one.
--
-- Retries. A failed run (an error in ml.train, a cancel, a vanished daemon, fail_run)
-- is retried while attempt < max_attempts: a new queued run with attempt + 1,
-- retry_of = the failed run and not_before = failure time + backoff * 2^(attempt - 1),
-- backoff being the schedule's retry_backoff (30 seconds for other runs). The failed
-- run itself stays in the history.
--
-- Rights. Every run records the role it is for (requested_by: who queued it, or who made
-- its schedule, event policy or monitor) and the search_path its names were written in.
-- ml.execute_run trains for that role: rights are checked and recorded as it
-- (ml._acting_role), and the source is read with the rights of the role it belongs to
-- (ml._source_reader, ml._read_as: never the daemon's). Queue, schedule and event-policy
-- functions are SECURITY DEFINER: they need the train right on the project and check,
-- with the requester's rights, that the source can be read and has the label; the
-- helpers they call are granted to no one.

CREATE TABLE ml.schedules (
    id            bigserial PRIMARY KEY,
    project       text NOT NULL CHECK (project ~ '^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$'),
    every         interval CHECK (every > interval '0'),
    cron          text,
    params        jsonb NOT NULL,
    deploy        text NOT NULL DEFAULT 'project'
                  CHECK (deploy IN ('project', 'best_score', 'most_recent', 'manual')),
    paused        boolean NOT NULL DEFAULT false,
    next_run_at   timestamptz NOT NULL,
    max_attempts  int NOT NULL DEFAULT 3 CHECK (max_attempts >= 1),
    retry_backoff interval NOT NULL DEFAULT '30 seconds' CHECK (retry_backoff >= interval '0'),
    created_by    name NOT NULL DEFAULT session_user,
    search_path   text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CHECK ((every IS NULL) <> (cron IS NULL))
);
CREATE INDEX ON ml.schedules (next_run_at) WHERE NOT paused;
COMMENT ON TABLE ml.schedules IS
  'Periodic retraining (ml.schedule): every interval or at a 5-field cron expression (UTC), ml.train''s params, a deploy override (project = the project''s policy), paused, the next slot, retries (max_attempts, retry_backoff doubling per attempt). Slots missed while no daemon ran collapse into one catch-up run.';

CREATE TABLE ml.training_runs (
    id           bigserial PRIMARY KEY,
    project      text NOT NULL,
    status       text NOT NULL DEFAULT 'queued'
                 CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
    error        text,
    params       jsonb NOT NULL DEFAULT '{}',
    version      int,
    result       jsonb,
    request_id   text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    started_at   timestamptz,
    finished_at  timestamptz,
    kind         text NOT NULL DEFAULT 'manual' CHECK (kind IN ('manual', 'schedule', 'event', 'monitor')),
    schedule_id  bigint REFERENCES ml.schedules ON DELETE SET NULL,
    due_at       timestamptz,
    attempt      int NOT NULL DEFAULT 1 CHECK (attempt >= 1),
    max_attempts int NOT NULL DEFAULT 3 CHECK (max_attempts >= 1),
    retry_of     bigint,
    not_before   timestamptz NOT NULL DEFAULT now(),
    claimed_by   text,
    backend_pid  int,
    rows         bigint,
    deployed     boolean,
    reason       text,
    missed       int NOT NULL DEFAULT 0,
    requested_by name NOT NULL DEFAULT session_user,
    search_path  text,
    UNIQUE (schedule_id, due_at, attempt)
);
CREATE INDEX ON ml.training_runs (project, id);
CREATE INDEX ON ml.training_runs (id) WHERE status IN ('queued', 'running');
COMMENT ON TABLE ml.training_runs IS
  'Training runs: manual (REST gateway, ml.enqueue_run), schedule, event or monitor. ml.train''s params, status (queued, running, succeeded, failed), the error of a failed run, the version it made with ml.train''s result, training rows and whether it deployed; for schedules the slot (due_at) and the slots it covers (missed); attempt / max_attempts / retry_of / not_before for retries; claimed_by and backend_pid of the daemon running it. UNIQUE (schedule_id, due_at, attempt): a slot never runs twice.';
COMMENT ON COLUMN ml.training_runs.missed IS 'schedule slots that came due after due_at and before this run was queued, covered by it instead of running one by one';
COMMENT ON COLUMN ml.training_runs.requested_by IS 'the role the run trains for: its rights on the project and on the source apply, and it is recorded as the version''s trainer';
COMMENT ON COLUMN ml.training_runs.rows IS 'labelled rows ml.train read (training + test rows of the version)';

CREATE TABLE ml.event_policies (
    project    text PRIMARY KEY CHECK (project ~ '^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$'),
    source     regclass NOT NULL,
    params     jsonb NOT NULL,
    after_rows int NOT NULL DEFAULT 100 CHECK (after_rows >= 1),
    quiet      interval CHECK (quiet > interval '0'),
    deploy     text NOT NULL DEFAULT 'project'
               CHECK (deploy IN ('project', 'best_score', 'most_recent', 'manual')),
    created_by name NOT NULL DEFAULT session_user,
    search_path text,
    created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE ml.event_policies IS
  'Event-driven training (ml.train_on_events): rows inserted into source queue ml.training_events; a run is due once they add up to after_rows, or once the last one is older than quiet (when set).';

CREATE TABLE ml.training_events (
    id         bigserial PRIMARY KEY,
    project    text NOT NULL,
    rows       bigint NOT NULL,
    arrived_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    run_id     bigint
);
CREATE INDEX ON ml.training_events (project, id) WHERE run_id IS NULL;
COMMENT ON TABLE ml.training_events IS
  'The durable queue of new labelled rows per project, one row per INSERT or COPY statement into an event policy''s source; run_id is set when a run consumes it.';

-- jobs are user data: pg_dump must carry them
SELECT pg_catalog.pg_extension_config_dump('ml.schedules', '');
SELECT pg_catalog.pg_extension_config_dump('ml.training_runs', '');
SELECT pg_catalog.pg_extension_config_dump('ml.event_policies', '');
SELECT pg_catalog.pg_extension_config_dump('ml.training_events', '');
SELECT pg_catalog.pg_extension_config_dump('ml.schedules_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('ml.training_runs_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('ml.training_events_id_seq', '');
-- ---------------------------------------------------------------- cron expressions
-- minute hour day-of-month month day-of-week, evaluated in UTC, Vixie cron rules: *,
-- a, a-b, lists, steps */n and a-b/n, jan-dec and sun-sat, day of week 0 and 7 =
-- Sunday; when both day fields are restricted a day matching either runs (a field
-- starting with * counts as unrestricted, as in Vixie cron). @hourly, @daily,
-- @midnight, @weekly, @monthly, @yearly and @annually are shorthands.

CREATE TYPE ml._cron AS (minutes int[], hours int[], doms int[], months int[], dows int[],
                         dom_star boolean, dow_star boolean);

CREATE FUNCTION ml._cron_field(expr text, field text, pos int, lo int, hi int, names text[])
RETURNS int[]
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  what  constant text[] := ARRAY['minute', 'hour', 'day of month', 'month', 'day of week'];
  item  text;
  m     text[];
  tok   text;
  ends  int[];
  a     int;
  b     int;
  step  int;
  vals  int[] := '{}';
  fail  text;
BEGIN
  <<items>>
  FOREACH item IN ARRAY string_to_array(lower(field), ',') LOOP
    m := regexp_match(item, '^(\*|[0-9a-z]+)(?:-([0-9a-z]+))?(?:/([0-9]+))?$');
    IF m IS NULL THEN
      fail := format('"%s" is not *, a value, a range a-b or a step */n, a-b/n', item);
      EXIT;
    END IF;
    IF m[1] = '*' AND m[2] IS NOT NULL THEN
      fail := format('"%s": * takes no range', item);
      EXIT;
    END IF;
    IF m[1] <> '*' AND m[2] IS NULL AND m[3] IS NOT NULL THEN
      fail := format('"%s": a step needs * or a range (%s-%s/%s)', item, m[1], hi, m[3]);
      EXIT;
    END IF;
    ends := '{}';
    FOREACH tok IN ARRAY ARRAY[m[1], m[2]] LOOP
      CONTINUE WHEN tok IS NULL OR tok = '*';
      IF tok ~ '^[0-9]{1,4}$' THEN
        a := tok::int;
      ELSIF array_position(names, tok) IS NOT NULL THEN
        a := array_position(names, tok) - 1 + lo;
      ELSE
        fail := format('"%s" is not a number%s', tok,
                       CASE WHEN names IS NOT NULL THEN ' or one of ' || array_to_string(names, ', ') ELSE '' END);
        EXIT items;
      END IF;
      IF a < lo OR a > hi THEN
        fail := format('%s is out of range %s-%s', tok, lo, hi);
        EXIT items;
      END IF;
      ends := ends || a;
    END LOOP;
    IF m[1] = '*' THEN
      a := lo;
      b := CASE WHEN pos = 5 THEN 6 ELSE hi END;
    ELSE
      a := ends[1];
      b := coalesce(ends[2], a);
    END IF;
    IF a > b THEN
      fail := format('range "%s" runs backwards', item);
      EXIT;
    END IF;
    step := coalesce(substr(m[3], 1, 6)::int, 1);
    IF step = 0 THEN
      fail := format('"%s": a step must be at least 1', item);
      EXIT;
    END IF;
    vals := vals || ARRAY(SELECT generate_series(a, b, step));
  END LOOP;
  IF fail IS NULL AND (field = '' OR cardinality(vals) = 0) THEN
    fail := 'empty';
  END IF;
  IF fail IS NOT NULL THEN
    RAISE EXCEPTION 'bad cron expression "%": % field: %', expr, what[pos], fail
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Five fields: minute (0-59) hour (0-23) day-of-month (1-31) month (1-12 or jan-dec) day-of-week (0-7 or sun-sat, 0 and 7 = Sunday); each *, a value, a range a-b, a list a,b, or a step */n or a-b/n.';
  END IF;
  IF pos = 5 THEN
    vals := ARRAY(SELECT CASE WHEN v = 7 THEN 0 ELSE v END FROM unnest(vals) v);
  END IF;
  RETURN ARRAY(SELECT DISTINCT v FROM unnest(vals) v ORDER BY v);
END $$;

CREATE FUNCTION ml._cron_parse(expr text) RETURNS ml._cron
LANGUAGE plpgsql IMMUTABLE STRICT SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  e text := lower(btrim(expr));
  f text[];
  c ml._cron;
BEGIN
  e := CASE e WHEN '@yearly' THEN '0 0 1 1 *' WHEN '@annually' THEN '0 0 1 1 *'
              WHEN '@monthly' THEN '0 0 1 * *' WHEN '@weekly' THEN '0 0 * * 0'
              WHEN '@daily' THEN '0 0 * * *' WHEN '@midnight' THEN '0 0 * * *'
              WHEN '@hourly' THEN '0 * * * *' ELSE e END;
  IF e LIKE '@%' THEN
    RAISE EXCEPTION 'bad cron expression "%": unknown shorthand', expr
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Use @hourly, @daily, @midnight, @weekly, @monthly, @yearly or @annually, or five fields.';
  END IF;
  f := regexp_split_to_array(e, '\s+');
  IF e = '' OR cardinality(f) <> 5 THEN
    RAISE EXCEPTION 'bad cron expression "%": it has % fields, not 5', expr, CASE WHEN e = '' THEN 0 ELSE cardinality(f) END
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Five fields: minute hour day-of-month month day-of-week, e.g. "*/15 * * * *" or "0 3 * * mon-fri".';
  END IF;
  c.minutes := ml._cron_field(expr, f[1], 1, 0, 59, NULL);
  c.hours := ml._cron_field(expr, f[2], 2, 0, 23, NULL);
  c.doms := ml._cron_field(expr, f[3], 3, 1, 31, NULL);
  c.months := ml._cron_field(expr, f[4], 4, 1, 12,
                ARRAY['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec']);
  c.dows := ml._cron_field(expr, f[5], 5, 0, 7, ARRAY['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat']);
  c.dom_star := f[3] LIKE '*%';
  c.dow_star := f[5] LIKE '*%';
  RETURN c;
END $$;

-- whether cron runs on a day (month, and day of month / day of week by Vixie's rule)
CREATE FUNCTION ml._cron_day(c ml._cron, day date) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT SET search_path = pg_catalog, pg_temp AS $$
  SELECT extract(month FROM day)::int = ANY (c.months)
     AND CASE WHEN c.dom_star OR c.dow_star
              THEN extract(day FROM day)::int = ANY (c.doms) AND extract(dow FROM day)::int = ANY (c.dows)
              ELSE extract(day FROM day)::int = ANY (c.doms) OR extract(dow FROM day)::int = ANY (c.dows) END $$;

-- the first matching minute strictly after a time: skips whole months, days and hours
CREATE FUNCTION ml._cron_next(c ml._cron, after timestamptz, expr text) RETURNS timestamptz
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  t    timestamp;
  y    int;
  mo   int;
  d    int;
  h    int;
  mi   int;
  nh   int;
  nm   int;
  last int;
BEGIN
  IF after IS NULL OR NOT isfinite(after) THEN
    RAISE EXCEPTION 'ml.cron_next: the time must be finite, got %', after USING ERRCODE = 'invalid_parameter_value';
  END IF;
  t := date_trunc('minute', after AT TIME ZONE 'UTC') + interval '1 minute';
  y := extract(year FROM t); mo := extract(month FROM t); d := extract(day FROM t);
  h := extract(hour FROM t); mi := extract(minute FROM t);
  last := y + 9;     -- a 29 February comes within 8 years, also around 2100
  LOOP
    IF y > last THEN
      RAISE EXCEPTION 'bad cron expression "%": its day of month and month fields never meet (no such date)', expr
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT mo = ANY (c.months) OR d > extract(day FROM make_date(y, mo, 1) + interval '1 month - 1 day') THEN
      mo := mo + 1; d := 1; h := 0; mi := 0;
      IF mo > 12 THEN mo := 1; y := y + 1; END IF;
      CONTINUE;
    END IF;
    IF NOT ml._cron_day(c, make_date(y, mo, d)) THEN
      d := d + 1; h := 0; mi := 0;
      CONTINUE;
    END IF;
    nh := (SELECT min(x) FROM unnest(c.hours) x WHERE x >= h);
    IF nh IS NULL THEN
      d := d + 1; h := 0; mi := 0;
      CONTINUE;
    END IF;
    IF nh > h THEN h := nh; mi := 0; END IF;
    nm := (SELECT min(x) FROM unnest(c.minutes) x WHERE x >= mi);
    IF nm IS NULL THEN
      h := h + 1; mi := 0;
      CONTINUE;
    END IF;
    RETURN make_timestamptz(y, mo, d, h, nm, 0, 'UTC');
  END LOOP;
END $$;

CREATE FUNCTION ml.cron_next(expr text, after timestamptz DEFAULT now()) RETURNS timestamptz
LANGUAGE sql STABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
  SELECT ml._cron_next(ml._cron_parse(expr), after, expr) $$;
COMMENT ON FUNCTION ml.cron_next(text, timestamptz) IS
  'The first minute strictly after a time that a 5-field cron expression (minute hour day-of-month month day-of-week) matches, in UTC. Vixie cron rules: *, a, a-b, a,b, */n, a-b/n, jan-dec, sun-sat, day of week 0 and 7 = Sunday; when both day fields are restricted either may match. @hourly, @daily, @weekly, @monthly, @yearly too. A bad or never-matching expression is an error 22023.';

-- how many matching minutes lie in (a, b]: a day at a time
CREATE FUNCTION ml._cron_count(c ml._cron, a timestamptz, b timestamptz) RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT SET search_path = pg_catalog, pg_temp AS $$
  WITH bounds AS (SELECT a AT TIME ZONE 'UTC' AS lo, b AT TIME ZONE 'UTC' AS hi)
  SELECT coalesce(sum(CASE WHEN g.day > date_trunc('day', lo) AND g.day < date_trunc('day', hi)
                           THEN cardinality(c.hours)::bigint * cardinality(c.minutes)
                           ELSE (SELECT count(*) FROM unnest(c.hours) hh, unnest(c.minutes) mm
                                  WHERE g.day + make_interval(hours => hh, mins => mm) > lo
                                    AND g.day + make_interval(hours => hh, mins => mm) <= hi) END), 0)::bigint
    FROM bounds, generate_series(date_trunc('day', lo), date_trunc('day', hi), interval '1 day') g(day)
   WHERE hi > lo AND ml._cron_day(c, g.day::date) $$;

-- a schedule's first slot after t, and how many slots lie in (next_run_at, t]
CREATE FUNCTION ml._schedule_slots(s ml.schedules, t timestamptz, OUT next_slot timestamptz, OUT passed int)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  j bigint;
BEGIN
  IF s.next_run_at > t THEN
    next_slot := s.next_run_at;
    passed := 0;
  ELSIF s.cron IS NOT NULL THEN
    passed := least(ml._cron_count(ml._cron_parse(s.cron), s.next_run_at, t), 2147483647);
    next_slot := ml._cron_next(ml._cron_parse(s.cron), t, s.cron);
  ELSE
    -- slots are next_run_at + k * every (k * every, not repeated addition: no drift at month ends)
    j := floor(extract(epoch FROM t - s.next_run_at) / extract(epoch FROM s.every));
    WHILE j > 0 AND s.next_run_at + s.every * j > t LOOP j := j - 1; END LOOP;
    WHILE s.next_run_at + s.every * (j + 1) <= t LOOP j := j + 1; END LOOP;
    passed := least(j, 2147483647);
    next_slot := s.next_run_at + s.every * (j + 1);
  END IF;
END $$;
-- ---------------------------------------------------------------- params and sources

CREATE FUNCTION ml._check_project(fn text, project text) RETURNS void
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF project IS NULL OR project !~ '^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$' THEN
    RAISE EXCEPTION '%: "%" is not a project name', fn, project
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Letters, digits, _ . -, at most 63 characters, not starting with . or -.';
  END IF;
END $$;

CREATE FUNCTION ml._check_deploy(fn text, deploy text, allow_project boolean) RETURNS void
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF deploy IS NULL AND allow_project OR deploy NOT IN ('best_score', 'most_recent', 'manual')
     AND NOT (allow_project AND deploy = 'project') THEN
    RAISE EXCEPTION '%: deploy must be %best_score, most_recent or manual, got "%"', fn,
      CASE WHEN allow_project THEN 'project (the project''s policy), ' ELSE '' END, deploy
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
END $$;

-- ml.train's arguments as JSON: the known keys with the right JSON types
CREATE FUNCTION ml._check_params(fn text, params jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  known constant text[] := ARRAY['source', 'label', 'algorithm', 'hyperparams', 'test_fraction', 'seed', 'exclude', 'deploy'];
  bad   text[];
  k     text;
  want  text;
BEGIN
  IF params IS NULL OR jsonb_typeof(params) <> 'object' THEN
    RAISE EXCEPTION '%: params must be a JSON object of ml.train''s arguments', fn
      USING ERRCODE = 'invalid_parameter_value', HINT = 'Keys: ' || array_to_string(known, ', ') || '.';
  END IF;
  params := jsonb_strip_nulls(params);
  bad := ARRAY(SELECT k2 FROM jsonb_object_keys(params) k2 WHERE k2 <> ALL (known) ORDER BY 1);
  IF cardinality(bad) > 0 THEN
    RAISE EXCEPTION '%: unknown key(s) in params: %', fn, array_to_string(bad, ', ')
      USING ERRCODE = 'invalid_parameter_value', HINT = 'Keys: ' || array_to_string(known, ', ') || '.';
  END IF;
  FOREACH k IN ARRAY known LOOP
    CONTINUE WHEN NOT params ? k;
    want := CASE k WHEN 'hyperparams' THEN 'object' WHEN 'test_fraction' THEN 'number' WHEN 'seed' THEN 'number'
                   WHEN 'exclude' THEN 'array' ELSE 'string' END;
    IF (CASE WHEN jsonb_typeof(params -> k) <> want THEN true
            WHEN k = 'seed' THEN (params ->> k)::numeric <> trunc((params ->> k)::numeric)
                                 OR abs((params ->> k)::numeric) > 2147483647
            WHEN k = 'exclude' THEN EXISTS (SELECT 1 FROM jsonb_array_elements(params -> k) e WHERE jsonb_typeof(e) <> 'string')
            ELSE false END) THEN
      RAISE EXCEPTION '%: params "%" must be %', fn, k,
        CASE k WHEN 'seed' THEN 'an integer' WHEN 'exclude' THEN 'an array of column names'
               WHEN 'hyperparams' THEN 'an object' ELSE 'a ' || want END
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
  END LOOP;
  IF NOT params ? 'source' OR NOT params ? 'label' THEN
    RAISE EXCEPTION '%: params need at least "source" and "label"', fn
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'For example {"source": "heart_labelled", "label": "sick", "exclude": ["num"]}.';
  END IF;
  IF params ? 'deploy' THEN
    PERFORM ml._check_deploy(fn, params ->> 'deploy', false);
  END IF;
  RETURN params;
END $$;

-- the source exists, the requester may read it and it has the label (checked by planning
-- it with the rights of the role it belongs to); a table or view name comes back
-- schema-qualified (the daemon's search_path differs)
CREATE FUNCTION ml._check_source(fn text, params jsonb, requester name, search_path text) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  src text := ml._source_sql(fn, params ->> 'source', search_path);
BEGIN
  IF left(src, 1) <> '(' THEN
    params := params || jsonb_build_object('source', src);
  END IF;
  BEGIN
    PERFORM ml._read_as(ml._source_reader(fn, src, requester), search_path,
                        format('SELECT s.%I FROM %s s', params ->> 'label', src), NULL);
  EXCEPTION WHEN undefined_column THEN
    RAISE EXCEPTION '%: label column "%" is not in the source', fn, params ->> 'label' USING ERRCODE = 'undefined_column';
  END;
  RETURN params;
END $$;

-- the project, if the acting role may train it; a project that does not exist yet is
-- created by the run's ml.train, owned by the requester
CREATE FUNCTION ml._require_train(fn text, project text) RETURNS void
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM ml._check_project(fn, project);
  IF EXISTS (SELECT 1 FROM ml.projects p WHERE p.name = project) THEN
    PERFORM ml._require(fn, project, 'train');
  END IF;
END $$;

-- the params of a project's last succeeded run, else of its schedule or event policy
CREATE FUNCTION ml._known_params(project text) RETURNS jsonb
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT coalesce(
    (SELECT r.params FROM ml.training_runs r WHERE r.project = $1 AND r.status = 'succeeded' ORDER BY r.id DESC LIMIT 1),
    (SELECT s.params FROM ml.schedules s WHERE s.project = $1 ORDER BY s.id DESC LIMIT 1),
    (SELECT e.params FROM ml.event_policies e WHERE e.project = $1),
    -- a project trained only by calling ml.train: its latest version's recorded training;
    -- the source's other columns were left out then (by exclude, or dropped as constant)
    (SELECT jsonb_build_object('source', m.source, 'label', m.label, 'algorithm', m.algorithm,
                               'hyperparams', m.hyperparams, 'test_fraction', m.split -> 'test_fraction',
                               'seed', m.split -> 'seed',
                               'exclude', (SELECT coalesce(jsonb_agg(a.attname ORDER BY a.attnum), '[]')
                                             FROM pg_attribute a
                                            WHERE a.attrelid = to_regclass(m.source) AND a.attnum > 0
                                              AND NOT a.attisdropped AND a.attname <> m.label
                                              AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(m.features) f
                                                               WHERE f ->> 'name' = a.attname)))
       FROM ml.models m JOIN ml.projects p ON p.id = m.project_id
      WHERE p.name = $1 ORDER BY m.version DESC LIMIT 1)) - 'deploy' $$;


REVOKE EXECUTE ON FUNCTION ml._known_params(text),
  ml._check_source(text, jsonb, name, text) FROM PUBLIC;
-- ---------------------------------------------------------------- queueing runs

CREATE FUNCTION ml._queue_run(project text, params jsonb, kind text, reason text, request_id text,
                              requested_by name, search_path text) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  id bigint;
BEGIN
  PERFORM ml._check_project('ml.enqueue_run', project);
  params := ml._check_params('ml.enqueue_run', params);
  IF kind IS NULL OR kind NOT IN ('manual', 'schedule', 'event', 'monitor') THEN
    RAISE EXCEPTION 'ml.enqueue_run: kind must be manual, schedule, event or monitor, got "%"', kind
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  INSERT INTO ml.training_runs (project, params, kind, reason, request_id, requested_by, search_path)
  VALUES (project, params, kind, reason, request_id, requested_by, search_path) RETURNING training_runs.id INTO id;
  PERFORM pg_notify('pgscore_jobs', project);
  RETURN id;
END $$;

CREATE FUNCTION ml.enqueue_run(project text, params jsonb DEFAULT NULL, kind text DEFAULT 'manual',
                               reason text DEFAULT NULL, search_path text DEFAULT current_setting('search_path'))
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  known jsonb;
  who   name := ml._acting_role();
BEGIN
  PERFORM ml._require_train('ml.enqueue_run', project);
  known := ml._known_params(project);
  IF known IS NULL AND params IS NULL THEN
    RAISE EXCEPTION 'ml.enqueue_run: project "%" has no version, run, schedule or event policy to take params from', project
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Pass params, e.g. {"source": "heart_labelled", "label": "sick"}.';
  END IF;
  IF params IS NOT NULL AND jsonb_typeof(params) <> 'object' THEN
    PERFORM ml._check_params('ml.enqueue_run', params);
  END IF;
  -- a source or label named here is checked as the caller; inherited ones were accepted before
  -- (and may be unqualified names of another search_path)
  params := ml._check_source('ml.enqueue_run', ml._check_params('ml.enqueue_run', coalesce(known, '{}') || coalesce(params, '{}')),
                             who, search_path);
  -- the gateway trains (for its API keys) only on what a project admin allowed
  IF ml._is_service(who) AND NOT ml._source_allowed(project, to_regclass(params ->> 'source')) THEN
    RAISE EXCEPTION 'ml.enqueue_run: % is not an allowed training source of project "%"', params ->> 'source', project
      USING ERRCODE = 'insufficient_privilege',
            HINT = format('An admin of the project can allow it: SELECT ml.allow_source(%L, %L).', project, params ->> 'source');
  END IF;
  RETURN ml._queue_run(project, params, kind, reason, NULL, who, search_path);
END $$;
COMMENT ON FUNCTION ml.enqueue_run(text, jsonb, text, text, text) IS
  'Queues a training run for the daemon (NOTIFY pgscore_jobs) and returns its id. params: ml.train''s arguments as JSON ({"source", "label", "algorithm", "hyperparams", "test_fraction", "seed", "exclude", "deploy"}); keys left out (or NULL params) repeat the project''s last succeeded run, else its schedule, else its event policy, else its latest version''s recorded training (source, label, algorithm, hyperparams, split; the source''s other columns excluded) ("deploy" excepted); 22023 when there is none. kind: manual, schedule, event or monitor. Needs the train right on the project. The source is checked now, with the caller''s rights; the run trains for the caller (requested_by) and reads the source with the rights of the role it belongs to, never the daemon''s.';

-- a failed run's retry, when it has attempts left; its id or NULL
CREATE FUNCTION ml._queue_retry(r ml.training_runs) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  backoff interval;
  id bigint;
BEGIN
  IF r.attempt >= r.max_attempts THEN
    RETURN NULL;
  END IF;
  backoff := coalesce((SELECT s.retry_backoff FROM ml.schedules s WHERE s.id = r.schedule_id), interval '30 seconds');
  INSERT INTO ml.training_runs (project, params, request_id, kind, schedule_id, due_at, attempt, max_attempts,
                                retry_of, not_before, missed, reason, requested_by, search_path)
  VALUES (r.project, r.params, r.request_id, r.kind, r.schedule_id, r.due_at, r.attempt + 1, r.max_attempts,
          r.id, clock_timestamp() + backoff * power(2, r.attempt - 1), r.missed,
          format('retry %s of %s: run %s failed', r.attempt + 1, r.max_attempts, r.id), r.requested_by, r.search_path)
  ON CONFLICT (schedule_id, due_at, attempt) DO NOTHING
  RETURNING training_runs.id INTO id;
  RETURN id;
END $$;

-- ---------------------------------------------------------------- the daemon's calls

-- the session advisory lock of a run: (1885827939 = 'pgsc', run id mod 2^31)
CREATE FUNCTION ml._run_lock_key(id bigint) RETURNS int
LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT (id % 2147483648)::int $$;

-- whether this session holds a run's advisory lock
CREATE FUNCTION ml._holds_run_lock(id bigint) RETURNS boolean
LANGUAGE sql STABLE STRICT SET search_path = pg_catalog, pg_temp AS $$
  SELECT EXISTS (SELECT 1 FROM pg_locks l
                  WHERE l.locktype = 'advisory' AND l.pid = pg_backend_pid() AND l.granted
                    AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                    AND l.classid = 1885827939::oid AND l.objid = ml._run_lock_key(id)::oid AND l.objsubid = 2) $$;

CREATE FUNCTION ml.claim_run(worker text) RETURNS SETOF ml.training_runs
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  r     ml.training_runs;
  s     ml.schedules;
  ep    ml.event_policies;
  slots record;
  run   bigint;
  n     bigint;
  last  timestamptz;
  passed_over bigint[] := '{}';
BEGIN
  -- (a) runs whose daemon went away: 'running' but nobody holds their advisory lock
  FOR r IN SELECT * FROM ml.training_runs t WHERE t.status = 'running' ORDER BY t.id FOR UPDATE SKIP LOCKED LOOP
    CONTINUE WHEN ml._holds_run_lock(r.id);                      -- claimed by this very session
    CONTINUE WHEN NOT pg_try_advisory_lock(1885827939, ml._run_lock_key(r.id));
    UPDATE ml.training_runs t SET status = 'failed', finished_at = now(),
           error = format('the daemon running it went away (%s, backend pid %s)', coalesce(r.claimed_by, 'unknown worker'),
                          coalesce(r.backend_pid::text, '?'))
     WHERE t.id = r.id RETURNING * INTO r;
    PERFORM ml._queue_retry(r);
    PERFORM pg_advisory_unlock(1885827939, ml._run_lock_key(r.id));
  END LOOP;

  -- (b) due schedule slots: one run per schedule, covering every slot that came due
  FOR s IN SELECT sc.* FROM ml.schedules sc
            WHERE NOT sc.paused AND sc.next_run_at <= now()
              AND NOT EXISTS (SELECT 1 FROM ml.training_runs t
                               WHERE t.schedule_id = sc.id AND t.status IN ('queued', 'running'))
            ORDER BY sc.next_run_at FOR UPDATE OF sc SKIP LOCKED LOOP
    SELECT * INTO slots FROM ml._schedule_slots(s, now());
    INSERT INTO ml.training_runs (project, params, kind, schedule_id, due_at, max_attempts, missed, requested_by,
                                  search_path, reason)
    VALUES (s.project, s.params || CASE WHEN s.deploy = 'project' THEN '{}' ELSE jsonb_build_object('deploy', s.deploy) END,
            'schedule', s.id, s.next_run_at, s.max_attempts, slots.passed, s.created_by, s.search_path,
            format('schedule %s (%s)%s', s.id, coalesce('cron ' || s.cron, 'every ' || s.every::text),
                   CASE WHEN slots.passed > 0 THEN format(', catching up %s missed slot(s)', slots.passed) ELSE '' END))
    ON CONFLICT (schedule_id, due_at, attempt) DO NOTHING;
    UPDATE ml.schedules sc SET next_run_at = slots.next_slot WHERE sc.id = s.id;
  END LOOP;

  -- (c) event policies with enough waiting rows (or quiet long enough): one run each
  FOR ep IN SELECT e.* FROM ml.event_policies e
             WHERE NOT EXISTS (SELECT 1 FROM ml.training_runs t
                                WHERE t.project = e.project AND t.kind = 'event' AND t.status IN ('queued', 'running'))
               AND EXISTS (SELECT 1 FROM ml.training_events v WHERE v.project = e.project AND v.run_id IS NULL)
             ORDER BY e.project FOR UPDATE OF e SKIP LOCKED LOOP
    SELECT sum(v.rows), max(v.arrived_at) INTO n, last
      FROM ml.training_events v WHERE v.project = ep.project AND v.run_id IS NULL;
    CONTINUE WHEN NOT (n >= ep.after_rows OR ep.quiet IS NOT NULL AND last + ep.quiet <= now());
    INSERT INTO ml.training_runs (project, params, kind, requested_by, search_path)
    VALUES (ep.project, ep.params || CASE WHEN ep.deploy = 'project' THEN '{}' ELSE jsonb_build_object('deploy', ep.deploy) END,
            'event', ep.created_by, ep.search_path)
    RETURNING id INTO run;
    WITH consumed AS (
      UPDATE ml.training_events v SET run_id = run WHERE v.project = ep.project AND v.run_id IS NULL RETURNING v.rows)
    SELECT sum(c.rows) INTO n FROM consumed c;
    UPDATE ml.training_runs t
       SET reason = format('%s new row(s)%s', n, CASE WHEN n >= ep.after_rows THEN format(' (after_rows %s)', ep.after_rows)
                                                    ELSE format(' and none for %s (quiet)', ep.quiet) END)
     WHERE t.id = run;
  END LOOP;

  -- (d) the oldest queued run that may start (one row locked at a time: other daemons
  -- skip only the row this one takes)
  LOOP
    SELECT * INTO r FROM ml.training_runs t
     WHERE t.status = 'queued' AND t.not_before <= now() AND t.id <> ALL (passed_over)
     ORDER BY t.id LIMIT 1 FOR UPDATE SKIP LOCKED;
    EXIT WHEN NOT FOUND;
    IF pg_try_advisory_lock(1885827939, ml._run_lock_key(r.id)) THEN
      UPDATE ml.training_runs t SET status = 'running', started_at = now(), claimed_by = worker,
             backend_pid = pg_backend_pid()
       WHERE t.id = r.id RETURNING * INTO r;
      RETURN NEXT r;
      RETURN;
    END IF;
    passed_over := passed_over || r.id;     -- only if run ids 2^31 apart collide on the lock key
  END LOOP;
END $$;
COMMENT ON FUNCTION ml.claim_run(text) IS
  'The daemon''s scheduler step (autocommit): fails runs whose daemon went away (running, advisory lock free) and queues their retries; queues one run per due schedule (missed slots collapse into it) and per event policy whose rows are due; then claims the oldest queued run whose not_before has come: status running, claimed_by worker, backend_pid, and a session advisory lock (1885827939, run id mod 2^31) held until ml.execute_run or ml.fail_run. Zero rows when there is nothing to run, else that one run.';

-- execute_run's bookkeeping, as the extension owner
CREATE FUNCTION ml._begin_run(run bigint, fn text) RETURNS ml.training_runs
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  r ml.training_runs;
BEGIN
  SELECT * INTO r FROM ml.training_runs t WHERE t.id = run FOR UPDATE;   -- held while training: reapers skip it
  IF NOT FOUND THEN
    RAISE EXCEPTION '%: run % does not exist', fn, run USING ERRCODE = 'undefined_object';
  END IF;
  IF r.status <> 'running' OR r.backend_pid IS DISTINCT FROM pg_backend_pid() OR NOT ml._holds_run_lock(run) THEN
    RAISE EXCEPTION '%: run % is not claimed by this session (status %)', fn, run, r.status
      USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = 'Claim it with ml.claim_run on the same connection first.';
  END IF;
  RETURN r;
END $$;

CREATE FUNCTION ml._end_run(run bigint, res ml.training_result, error text, details jsonb) RETURNS ml.training_runs
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  r ml.training_runs;
BEGIN
  PERFORM ml._begin_run(run, 'ml.execute_run');     -- still claimed by this session
  IF error IS NULL THEN
    UPDATE ml.training_runs t
       SET status = 'succeeded', finished_at = clock_timestamp(), version = res.version, result = to_jsonb(res),
           deployed = res.deployed,
           rows = (SELECT m.train_rows + m.test_rows FROM ml.models m JOIN ml.projects p ON p.id = m.project_id
                    WHERE p.name = res.project AND m.version = res.version)
     WHERE t.id = run RETURNING * INTO r;
  ELSE
    UPDATE ml.training_runs t SET status = 'failed', finished_at = clock_timestamp(), error = _end_run.error, result = details
     WHERE t.id = run RETURNING * INTO r;
    PERFORM ml._queue_retry(r);
  END IF;
  PERFORM pg_advisory_unlock(1885827939, ml._run_lock_key(run));
  PERFORM pg_notify('pgscore_jobs', r.project);
  RETURN r;
END $$;

-- trains for the run's requester: ml.train checks and records that role and reads the
-- source with the rights of the role it belongs to, in the search_path of the request
CREATE FUNCTION ml.execute_run(run_id bigint) RETURNS ml.training_runs
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  r   ml.training_runs;
  p   jsonb;
  res ml.training_result;
  st  text;
  msg text;
  det text;
  hnt text;
BEGIN
  r := ml._begin_run(run_id, 'ml.execute_run');
  p := r.params;
  BEGIN
    PERFORM ml._set_acting_role(r.requested_by);
    res := ml.train(r.project, p ->> 'source', p ->> 'label', p ->> 'algorithm',
                    coalesce(p -> 'hyperparams', '{}'), coalesce((p ->> 'test_fraction')::float8, 0.25),
                    coalesce((p ->> 'seed')::int, 42),
                    coalesce(ARRAY(SELECT jsonb_array_elements_text(p -> 'exclude')), '{}'), p ->> 'deploy',
                    coalesce(r.search_path, '"$user", public'));
    PERFORM ml._set_acting_role(NULL);
  EXCEPTION WHEN query_canceled OR OTHERS THEN
    -- the subtransaction is rolled back: no version, no deployment
    PERFORM ml._set_acting_role(NULL);
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
    RETURN ml._end_run(run_id, NULL, msg,
             jsonb_strip_nulls(jsonb_build_object('sqlstate', st, 'detail', nullif(det, ''), 'hint', nullif(hnt, ''))));
  END;
  RETURN ml._end_run(run_id, res, NULL, NULL);
END $$;
COMMENT ON FUNCTION ml.execute_run(bigint) IS
  'Runs a run claimed by this session (ml.claim_run, same connection; else 55000): ml.train with its params, for its requester (requested_by): that role''s rights on the project, the source read with the rights of the role it belongs to, never the daemon''s. Success: status succeeded, version, result, rows, deployed. Any error, also a cancel or statement_timeout: no version is left, the run is failed with the error (result holds sqlstate, detail, hint) and a retry is queued while attempts remain. Releases the run''s advisory lock and sends NOTIFY pgscore_jobs.';

CREATE FUNCTION ml.fail_run(run_id bigint, reason text) RETURNS ml.training_runs
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM ml._begin_run(run_id, 'ml.fail_run');
  RETURN ml._end_run(run_id, NULL, coalesce(reason, 'failed by the daemon'), NULL);
END $$;
COMMENT ON FUNCTION ml.fail_run(bigint, text) IS
  'Records that a run claimed by this session could not run (e.g. the daemon is shutting down): failed with reason as its error, a retry queued while attempts remain, advisory lock released.';

CREATE FUNCTION ml.next_wakeup() RETURNS float8
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT greatest(0, least(60, min(extract(epoch FROM w.at - now()))))::float8
    FROM (SELECT sc.next_run_at AS at FROM ml.schedules sc
           WHERE NOT sc.paused
             AND NOT EXISTS (SELECT 1 FROM ml.training_runs t WHERE t.schedule_id = sc.id AND t.status IN ('queued', 'running'))
          UNION ALL
          SELECT t.not_before FROM ml.training_runs t WHERE t.status = 'queued'
          UNION ALL
          SELECT CASE WHEN sum(v.rows) >= e.after_rows THEN now() ELSE max(v.arrived_at) + e.quiet END
            FROM ml.event_policies e JOIN ml.training_events v ON v.project = e.project AND v.run_id IS NULL
           WHERE NOT EXISTS (SELECT 1 FROM ml.training_runs t
                              WHERE t.project = e.project AND t.kind = 'event' AND t.status IN ('queued', 'running'))
           GROUP BY e.project, e.after_rows, e.quiet
          UNION ALL
          SELECT now() + interval '60 seconds') w $$;
COMMENT ON FUNCTION ml.next_wakeup() IS
  'Seconds until ml.claim_run may have something to do: the next schedule slot, a retry''s not_before, an event policy''s quiet deadline; 0 if something is due now, at most 60. The daemon sleeps that long or until NOTIFY pgscore_jobs.';


REVOKE EXECUTE ON FUNCTION ml._queue_run(text, jsonb, text, text, text, name, text), ml.enqueue_run(text, jsonb, text, text, text),
  ml._queue_retry(ml.training_runs), ml.claim_run(text), ml.execute_run(bigint), ml.fail_run(bigint, text),
  ml.next_wakeup(), ml._begin_run(bigint, text), ml._end_run(bigint, ml.training_result, text, jsonb) FROM PUBLIC;
-- ---------------------------------------------------------------- schedules

CREATE FUNCTION ml._insert_schedule(project text, every interval, cron text, params jsonb, deploy text,
                                    max_attempts int, retry_backoff interval, next_run_at timestamptz,
                                    created_by name, search_path text)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  id bigint;
BEGIN
  PERFORM ml._check_project('ml.schedule', project);
  PERFORM ml._check_deploy('ml.schedule', deploy, true);
  params := ml._check_params('ml.schedule', params);
  IF cron IS NOT NULL THEN
    PERFORM ml._cron_parse(cron);
  END IF;
  INSERT INTO ml.schedules (project, every, cron, params, deploy, max_attempts, retry_backoff, next_run_at,
                            created_by, search_path)
  VALUES (project, every, cron, params, deploy, max_attempts, retry_backoff, next_run_at, created_by, search_path)
  RETURNING schedules.id INTO id;
  PERFORM pg_notify('pgscore_jobs', project);
  RETURN id;
END $$;

CREATE FUNCTION ml.schedule(project text, every_or_cron text, params jsonb, deploy text DEFAULT 'project',
                            max_attempts int DEFAULT 3, retry_backoff interval DEFAULT '30 seconds',
                            search_path text DEFAULT current_setting('search_path'))
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  who   name := ml._acting_role();
  e     text := btrim(every_or_cron);
  every interval;
  cron  text;
  first timestamptz;
BEGIN
  PERFORM ml._require_train('ml.schedule', project);
  PERFORM ml._check_deploy('ml.schedule', deploy, true);
  IF max_attempts IS NULL OR max_attempts < 1 THEN
    RAISE EXCEPTION 'ml.schedule: max_attempts must be at least 1, got %', max_attempts USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF retry_backoff IS NULL OR retry_backoff < interval '0' THEN
    RAISE EXCEPTION 'ml.schedule: retry_backoff must not be negative, got %', retry_backoff USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF e IS NULL THEN
    RAISE EXCEPTION 'ml.schedule: every_or_cron is needed' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  -- cron: @daily..., or five fields whose words are all month or day names ('1 day 2 hours 3'
  -- is an interval); anything else must be an interval
  IF e LIKE '@%' OR cardinality(regexp_split_to_array(e, '\s+')) = 5
     AND NOT EXISTS (SELECT 1 FROM regexp_matches(lower(e), '[a-z]+', 'g') w
                      WHERE w[1] <> ALL (ARRAY['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct',
                                               'nov', 'dec', 'sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'])) THEN
    cron := e;
    first := ml.cron_next(cron, now());     -- a bad or never-matching expression fails here
  ELSE
    BEGIN
      every := e::interval;
    EXCEPTION WHEN invalid_datetime_format OR datetime_field_overflow OR interval_field_overflow THEN
      RAISE EXCEPTION 'ml.schedule: "%" is neither an interval nor a 5-field cron expression', every_or_cron
        USING ERRCODE = 'invalid_parameter_value',
              HINT = 'For example ''1 hour'', ''30 seconds'', ''0 3 * * *'' (03:00 UTC daily) or ''*/15 * * * *''.';
    END;
    IF every <= interval '0' THEN
      RAISE EXCEPTION 'ml.schedule: the interval must be positive, got "%"', every_or_cron
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
    first := now() + every;
  END IF;
  params := ml._check_source('ml.schedule', ml._check_params('ml.schedule', params), who, search_path);
  RETURN ml._insert_schedule(project, every, cron, params, deploy, max_attempts, retry_backoff, first, who, search_path);
END $$;
COMMENT ON FUNCTION ml.schedule(text, text, jsonb, text, int, interval, text) IS
  'Retrains a project periodically (needs the train right on it; each run trains for the schedule''s creator, with its rights); returns the schedule id. every_or_cron: an interval (''1 hour'', ''30 seconds''; the first run one interval from now) or a 5-field cron expression in UTC (''0 3 * * mon-fri''). params: ml.train''s arguments as JSON, at least source and label. deploy: project (the project''s policy), best_score, most_recent or manual. A failed run is retried up to max_attempts in all, after retry_backoff, doubling. Slots missed while no daemon ran become one catch-up run (ml.training_runs.missed counts them).';

CREATE FUNCTION ml._schedule_row(fn text, id bigint) RETURNS ml.schedules
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  s ml.schedules;
BEGIN
  SELECT * INTO s FROM ml.schedules WHERE schedules.id = _schedule_row.id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION '%: schedule % does not exist', fn, id USING ERRCODE = 'undefined_object';
  END IF;
  PERFORM ml._require_train(fn, s.project);
  RETURN s;
END $$;

CREATE FUNCTION ml.pause_schedule(id bigint) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM ml._schedule_row('ml.pause_schedule', id);
  UPDATE ml.schedules SET paused = true WHERE schedules.id = pause_schedule.id;
END $$;
COMMENT ON FUNCTION ml.pause_schedule(bigint) IS
  'Stops a schedule from queuing runs (runs already queued still run). ml.resume_schedule starts it again.';

CREATE FUNCTION ml.resume_schedule(id bigint) RETURNS timestamptz
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  s ml.schedules;
BEGIN
  s := ml._schedule_row('ml.resume_schedule', id);
  IF NOT s.paused THEN
    RETURN s.next_run_at;
  END IF;
  UPDATE ml.schedules SET paused = false, next_run_at = (ml._schedule_slots(s, now())).next_slot
   WHERE schedules.id = resume_schedule.id RETURNING * INTO s;
  PERFORM pg_notify('pgscore_jobs', s.project);
  RETURN s.next_run_at;
END $$;
COMMENT ON FUNCTION ml.resume_schedule(bigint) IS
  'Restarts a paused schedule; slots that passed meanwhile are skipped (no catch-up run). Returns the next slot (of a schedule not paused: unchanged).';

CREATE FUNCTION ml.drop_schedule(id bigint) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM ml._schedule_row('ml.drop_schedule', id);
  UPDATE ml.training_runs SET status = 'failed', finished_at = now(),
         error = format('cancelled: schedule %s was dropped', drop_schedule.id)
   WHERE schedule_id = drop_schedule.id AND status = 'queued';
  DELETE FROM ml.schedules WHERE schedules.id = drop_schedule.id;
END $$;
COMMENT ON FUNCTION ml.drop_schedule(bigint) IS
  'Deletes a schedule; its queued runs are cancelled (failed), its history stays in ml.training_runs (schedule_id set to NULL).';


REVOKE EXECUTE ON FUNCTION ml._insert_schedule(text, interval, text, jsonb, text, int, interval, timestamptz, name, text),
  ml.schedule(text, text, jsonb, text, int, interval, text), ml.pause_schedule(bigint), ml.resume_schedule(bigint),
  ml.drop_schedule(bigint) FROM PUBLIC;
-- ---------------------------------------------------------------- event-driven training

-- AFTER INSERT ... FOR EACH STATEMENT with the new rows as a transition table;
-- TG_ARGV: project, and the label column if the table has it (then only labelled rows count)
CREATE FUNCTION ml._queue_training_event() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  n bigint;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM ml.event_policies e WHERE e.project = TG_ARGV[0] AND e.source = TG_RELID) THEN
    RETURN NULL;
  END IF;
  IF TG_ARGV[1] <> '' THEN
    EXECUTE format('SELECT count(*) FROM pgscore_new_rows WHERE %I IS NOT NULL', TG_ARGV[1]) INTO n;
  ELSE
    SELECT count(*) INTO n FROM pgscore_new_rows;
  END IF;
  IF n > 0 THEN
    INSERT INTO ml.training_events (project, rows) VALUES (TG_ARGV[0], n);
    PERFORM pg_notify('pgscore_jobs', TG_ARGV[0]);
  END IF;
  RETURN NULL;
END $$;

CREATE FUNCTION ml._events_trigger_name(project text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT AS $$
  SELECT CASE WHEN length('ml_events_' || project) <= 63 THEN 'ml_events_' || project
              ELSE 'ml_events_' || md5(project) END $$;

CREATE FUNCTION ml._save_event_policy(project text, source regclass, params jsonb, after_rows int,
                                      quiet interval, deploy text, created_by name, search_path text) RETURNS regclass
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  old regclass;
BEGIN
  PERFORM ml._check_project('ml.train_on_events', project);
  PERFORM ml._check_deploy('ml.train_on_events', deploy, true);
  params := ml._check_params('ml.train_on_events', params);
  SELECT e.source INTO old FROM ml.event_policies e WHERE e.project = _save_event_policy.project FOR UPDATE;
  INSERT INTO ml.event_policies AS e (project, source, params, after_rows, quiet, deploy, created_by, search_path)
  VALUES (project, source, params, after_rows, quiet, deploy, created_by, search_path)
  ON CONFLICT ON CONSTRAINT event_policies_pkey DO UPDATE
     SET source = excluded.source, params = excluded.params, after_rows = excluded.after_rows,
         quiet = excluded.quiet, deploy = excluded.deploy, created_by = excluded.created_by,
         search_path = excluded.search_path;
  PERFORM pg_notify('pgscore_jobs', project);
  RETURN old;
END $$;

CREATE FUNCTION ml._delete_event_policy(project text) RETURNS regclass
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  old regclass;
BEGIN
  DELETE FROM ml.event_policies e WHERE e.project = _delete_event_policy.project RETURNING e.source INTO old;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'ml.stop_training_on_events: project "%" has no event policy', project
      USING ERRCODE = 'undefined_object';
  END IF;
  DELETE FROM ml.training_events e WHERE e.project = _delete_event_policy.project AND e.run_id IS NULL;
  RETURN old;
END $$;

CREATE FUNCTION ml.train_on_events(project text, source regclass, params jsonb, after_rows int DEFAULT 100,
                                   quiet interval DEFAULT NULL, deploy text DEFAULT 'project',
                                   search_path text DEFAULT current_setting('search_path')) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  old   regclass;
  label text;
  trg   text := ml._events_trigger_name(project);
  who   name := ml._acting_role();
BEGIN
  PERFORM ml._require_train('ml.train_on_events', project);
  IF NOT has_table_privilege(who, source, 'TRIGGER') THEN
    RAISE EXCEPTION 'ml.train_on_events: role "%" may not create triggers on %', who, source
      USING ERRCODE = 'insufficient_privilege', HINT = 'The table''s owner can grant TRIGGER on it.';
  END IF;
  PERFORM ml._check_deploy('ml.train_on_events', deploy, true);
  IF (SELECT c.relkind FROM pg_catalog.pg_class c WHERE c.oid = source) NOT IN ('r', 'p') THEN
    RAISE EXCEPTION 'ml.train_on_events: % is not a table', source
      USING ERRCODE = 'wrong_object_type', HINT = 'New rows are counted by a trigger on a table; train on a view over it with params.source.';
  END IF;
  IF after_rows IS NULL OR after_rows < 1 THEN
    RAISE EXCEPTION 'ml.train_on_events: after_rows must be at least 1, got %', after_rows USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF quiet <= interval '0' THEN
    RAISE EXCEPTION 'ml.train_on_events: quiet must be positive, got %', quiet USING ERRCODE = 'invalid_parameter_value';
  END IF;
  params := jsonb_build_object('source', source::text) || coalesce(params, '{}');
  params := ml._check_source('ml.train_on_events', ml._check_params('ml.train_on_events', params), who, search_path);
  label := CASE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a WHERE a.attrelid = source
                               AND a.attname = params ->> 'label' AND a.attnum > 0 AND NOT a.attisdropped)
                THEN params ->> 'label' ELSE '' END;
  old := ml._save_event_policy(project, source, params, after_rows, quiet, deploy, who, search_path);
  IF old IS NOT NULL AND old <> source
     AND EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t WHERE t.tgrelid = old AND t.tgname = trg) THEN
    EXECUTE format('DROP TRIGGER %I ON %s', trg, old);
  END IF;
  EXECUTE format('CREATE OR REPLACE TRIGGER %I AFTER INSERT ON %s REFERENCING NEW TABLE AS pgscore_new_rows '
                 'FOR EACH STATEMENT EXECUTE FUNCTION ml._queue_training_event(%L, %L)', trg, source, project, label);
END $$;
COMMENT ON FUNCTION ml.train_on_events(text, regclass, jsonb, int, interval, text, text) IS
  'Retrains a project on new rows (needs the train right on it and TRIGGER on the table; runs train for the policy''s creator, with its rights): a statement trigger on the table queues each INSERT or COPY (its count of labelled rows) in ml.training_events and sends NOTIFY pgscore_jobs; the daemon queues a run once after_rows rows are waiting, or, with quiet set, once rows wait and none came for that long. params: ml.train''s arguments (source defaults to the table, label is needed). Calling it again changes the policy.';

CREATE FUNCTION ml.stop_training_on_events(project text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  old regclass;
  trg text := ml._events_trigger_name(project);
BEGIN
  PERFORM ml._require_train('ml.stop_training_on_events', project);
  old := ml._delete_event_policy(project);
  IF EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t WHERE t.tgrelid = old AND t.tgname = trg) THEN
    EXECUTE format('DROP TRIGGER %I ON %s', trg, old);
  END IF;
END $$;
COMMENT ON FUNCTION ml.stop_training_on_events(text) IS
  'Removes a project''s event policy and its trigger; rows waiting in ml.training_events are dropped.';

CREATE FUNCTION ml.add_records(project text, records jsonb) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  ep      ml.event_policies;
  cols    text[];
  bad     text[];
  label   text;
  missing int;
  n       bigint;
BEGIN
  PERFORM ml._require_train('ml.add_records', project);
  SELECT * INTO ep FROM ml.event_policies e WHERE e.project = add_records.project;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'ml.add_records: project "%" has no event policy', project
      USING ERRCODE = 'undefined_object', HINT = 'ml.train_on_events(project, table, params) names the table new records go to.';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = ep.source) THEN
    RAISE EXCEPTION 'ml.add_records: the table of project "%" no longer exists', project USING ERRCODE = 'undefined_table';
  END IF;
  IF jsonb_typeof(records) = 'object' THEN
    records := jsonb_build_array(records);
  END IF;
  IF records IS NULL OR jsonb_typeof(records) <> 'array'
     OR EXISTS (SELECT 1 FROM jsonb_array_elements(records) r WHERE jsonb_typeof(r) <> 'object') THEN
    RAISE EXCEPTION 'ml.add_records: records must be a JSON object or an array of objects' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF jsonb_array_length(records) = 0 THEN
    RETURN 0;
  END IF;
  cols := ARRAY(SELECT DISTINCT k FROM jsonb_array_elements(records) r, jsonb_object_keys(r) k ORDER BY 1);
  bad := ARRAY(SELECT c FROM unnest(cols) c WHERE NOT EXISTS (
                 SELECT 1 FROM pg_catalog.pg_attribute a WHERE a.attrelid = ep.source AND a.attname = c
                    AND a.attnum > 0 AND NOT a.attisdropped));
  IF cardinality(bad) > 0 THEN
    RAISE EXCEPTION 'ml.add_records: table % has no column(s) %', ep.source, array_to_string(bad, ', ')
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Columns: ' || (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) FROM pg_catalog.pg_attribute a
                                   WHERE a.attrelid = ep.source AND a.attnum > 0 AND NOT a.attisdropped) || '.';
  END IF;
  label := ep.params ->> 'label';
  IF EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a WHERE a.attrelid = ep.source AND a.attname = label
                AND a.attnum > 0 AND NOT a.attisdropped) THEN
    SELECT count(*) INTO missing FROM jsonb_array_elements(records) r WHERE coalesce(r -> label, 'null') = 'null';
    IF missing > 0 THEN
      RAISE EXCEPTION 'ml.add_records: % of % record(s) lack the label "%"', missing, jsonb_array_length(records), label
        USING ERRCODE = 'invalid_parameter_value', HINT = 'Records for training need their label.';
    END IF;
  END IF;
  EXECUTE format('INSERT INTO %s (%s) SELECT %s FROM jsonb_populate_recordset(NULL::%s, $1) r',
                 ep.source, (SELECT string_agg(quote_ident(c), ', ') FROM unnest(cols) c),
                 (SELECT string_agg('r.' || quote_ident(c), ', ') FROM unnest(cols) c), ep.source)
    USING records;
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END $$;
COMMENT ON FUNCTION ml.add_records(text, jsonb) IS
  'Inserts one JSON object or an array of objects into the table of a project''s event policy (keys are column names; every record needs the label) and returns the number of rows; the table''s trigger then queues them for training. Runs with the caller''s rights. What POST /v1/projects/{project}/records calls.';


REVOKE EXECUTE ON FUNCTION ml._queue_training_event(), ml._save_event_policy(text, regclass, jsonb, int, interval, text, name, text),
  ml._delete_event_policy(text), ml.train_on_events(text, regclass, jsonb, int, interval, text, text),
  ml.stop_training_on_events(text), ml.add_records(text, jsonb) FROM PUBLIC;
-- ---------------------------------------------------------------- views

CREATE VIEW ml.run_history AS
SELECT r.id AS run, r.project, r.kind, r.schedule_id AS schedule, r.due_at, r.attempt, r.status,
       r.started_at, r.finished_at, r.finished_at - r.started_at AS duration, r.rows, r.version,
       r.deployed, r.error, r.claimed_by, r.reason
  FROM ml.training_runs r
 ORDER BY r.id;
COMMENT ON VIEW ml.run_history IS
  'Every training run, oldest first: kind (manual, schedule, event, monitor), schedule and slot, attempt, status, times and duration, training rows, the version made and whether it was deployed, the error, the daemon that ran it and why it ran.';

CREATE VIEW ml.schedule_overview AS
SELECT s.id AS schedule, s.project, coalesce(s.cron, 'every ' || s.every::text) AS expression, s.deploy,
       s.paused, s.next_run_at, last.status AS last_status,
       coalesce(last.finished_at, last.started_at, last.created_at) AS last_run_at,
       (SELECT count(*) FROM ml.training_runs t WHERE t.schedule_id = s.id AND t.status = 'succeeded') AS runs_ok,
       (SELECT count(*) FROM ml.training_runs t WHERE t.schedule_id = s.id AND t.status = 'failed') AS runs_failed
  FROM ml.schedules s
  LEFT JOIN LATERAL (SELECT t.status, t.created_at, t.started_at, t.finished_at FROM ml.training_runs t
                      WHERE t.schedule_id = s.id ORDER BY t.id DESC LIMIT 1) last ON true
 ORDER BY s.id;
COMMENT ON VIEW ml.schedule_overview IS
  'Schedules at a glance: project, cron expression or interval, deploy, paused, next slot, the last run''s status and time, succeeded and failed runs.';
-- ---------------------------------------------------------------- the REST gateway's tables
-- What `pgscore serve` records: every prediction it answered (written in the same
-- statement that scores, before the response is sent), ground truth sent back for them,
-- training runs it started, and its API keys (hashed). The daemon speaks SQL only; these
-- tables are also plain SQL for analysts: join predictions with feedback to measure
-- live accuracy, or train on them.

CREATE TABLE ml.predictions (
    id            bigserial,
    project       text NOT NULL,
    version       int,
    features      jsonb NOT NULL,
    prediction    text,
    probabilities float8[],
    request_id    text,
    latency_ms    float8,
    created_at    timestamptz NOT NULL DEFAULT now(),
    public_id     uuid NOT NULL DEFAULT gen_random_uuid(),
    key_id        bigint
) PARTITION BY RANGE (created_at);
-- Rows outside the daily partitions ml.maintain_prediction_log makes (before it first
-- ran, or when it has not run for days) land here; the partitions are made ahead, so
-- this one stays small and retention deletes from it row by row.
CREATE TABLE ml.predictions_default PARTITION OF ml.predictions DEFAULT;

-- The indexes are each partition's own, not the partitioned table's: pg_restore creates
-- the partitioned table with the extension, and attaching a restored partition to it
-- would make copies of partitioned indexes before the dump's own CREATE INDEX of that
-- partition runs (it would then fail). So there is no primary key across partitions
-- (ids come from one sequence; each partition's are unique) and ml.feedback's link to
-- its prediction is checked by a trigger, not a foreign key.
CREATE FUNCTION ml._index_prediction_partition(partition regclass) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  EXECUTE format('ALTER TABLE %s ADD PRIMARY KEY (id)', partition);
  EXECUTE format('CREATE UNIQUE INDEX ON %s (public_id)', partition);
  -- a monitor's window: the deployed version's latest predictions (95_monitoring.sql)
  EXECUTE format('CREATE INDEX ON %s (project, version, created_at)', partition);
END $$;
SELECT ml._index_prediction_partition('ml.predictions_default');
COMMENT ON COLUMN ml.predictions.public_id IS
  'the id the gateway answers with (prediction_id) and feedback names: random, so that nobody can send feedback for predictions that are not theirs by counting';
COMMENT ON COLUMN ml.predictions.key_id IS 'the API key that asked (NULL under --open-predict): only it, or an admin key, may send feedback';
COMMENT ON TABLE ml.predictions IS
  'Every prediction the REST gateway answered: project, version used, the features as sent (JSON), the prediction (as ml.predict gives it), class probabilities (in the order of the model''s classes), the request id and the latency up to scoring. Written in the statement that scores, so no answer is sent that is not logged. Partitioned by day of created_at (ml.maintain_prediction_log, run by pgscore serve, makes the partitions and drops those past ml.set_retention).';

CREATE TABLE ml.feedback (
    id                    bigserial PRIMARY KEY,
    prediction_id         bigint NOT NULL,
    prediction_created_at timestamptz NOT NULL,
    label                 text NOT NULL,
    created_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON ml.feedback (prediction_id);
CREATE INDEX ON ml.feedback (prediction_created_at);
COMMENT ON TABLE ml.feedback IS
  'Ground truth for a logged prediction, as text written the way ml.predict writes labels (''true'', ''3'', ''yes''): compare with ml.predictions.prediction for live accuracy. prediction_created_at (when the prediction was logged: retention deletes feedback with its prediction''s partition) is filled in when omitted.';

-- The foreign key a partitioned ml.predictions cannot have (see above), for rows
-- written without the prediction's time (INSERT INTO ml.feedback (prediction_id, label)):
-- the prediction must be logged (else 23503); its time is filled in. Rows that carry
-- the time (the gateway's, pg_restore's COPY, which may come before the predictions')
-- are taken as they are.
CREATE FUNCTION ml._feedback_prediction_time() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF NEW.prediction_created_at IS NULL THEN
    NEW.prediction_created_at := (SELECT p.created_at FROM ml.predictions p WHERE p.id = NEW.prediction_id);
    IF NEW.prediction_created_at IS NULL THEN
      RAISE EXCEPTION 'prediction % is not in ml.predictions', NEW.prediction_id USING ERRCODE = 'foreign_key_violation';
    END IF;
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER prediction_time BEFORE INSERT ON ml.feedback
  FOR EACH ROW EXECUTE FUNCTION ml._feedback_prediction_time();

-- ml.training_runs (runs the gateway starts, and scheduled and event-driven ones) is in 84_jobs_tables.sql.

CREATE TABLE ml.api_keys (
    id         bigserial PRIMARY KEY,
    name       text NOT NULL,
    scope      text NOT NULL CHECK (scope IN ('predict', 'train', 'admin')),
    key_hash   text NOT NULL UNIQUE CHECK (key_hash ~ '^[0-9a-f]{64}$'),
    projects   text[] CHECK (cardinality(projects) > 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);
COMMENT ON TABLE ml.api_keys IS
  'API keys of the REST gateway (pgscore keys create | list | revoke). Only the SHA-256 of a key is kept (hex). Scopes nest: predict (score, feedback, read the registry) < train (train, runs, export) < admin (deploy, roll back).';
COMMENT ON COLUMN ml.api_keys.projects IS 'the projects the key may use (pgscore keys create --project); NULL: every project';
COMMENT ON COLUMN ml.api_keys.key_hash IS 'hex SHA-256 of the key; the key itself is shown once, when it is created';

-- gateway rows are user data: pg_dump must carry them
SELECT pg_catalog.pg_extension_config_dump('ml.predictions', '');
SELECT pg_catalog.pg_extension_config_dump('ml.predictions_default', '');
SELECT pg_catalog.pg_extension_config_dump('ml.feedback', '');
SELECT pg_catalog.pg_extension_config_dump('ml.api_keys', '');
SELECT pg_catalog.pg_extension_config_dump('ml.predictions_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('ml.feedback_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('ml.api_keys_id_seq', '');

-- ---------------------------------------------------------------- the gateway's role

CREATE FUNCTION ml.grant_gateway(role name) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  PERFORM ml.grant_train(role);
  -- admin on every project: the gateway checks its keys' scopes itself
  INSERT INTO ml.service_roles (role) VALUES (role) ON CONFLICT DO NOTHING;
  EXECUTE format('GRANT SELECT, INSERT ON ml.predictions, ml.feedback TO %I', role);
  EXECUTE format('GRANT EXECUTE ON FUNCTION ml.maintain_prediction_log(timestamptz) TO %I', role);
  EXECUTE format('GRANT SELECT ON ml.prediction_log TO %I', role);
  -- runs are queued through ml.enqueue_run only: a row written directly could name
  -- another requester
  EXECUTE format('GRANT SELECT, UPDATE (request_id) ON ml.training_runs TO %I', role);
  EXECUTE format('GRANT SELECT, INSERT, UPDATE ON ml.api_keys TO %I', role);
  EXECUTE format('GRANT USAGE ON SEQUENCE ml.predictions_id_seq, ml.feedback_id_seq, '
                 'ml.training_runs_id_seq, ml.api_keys_id_seq TO %I', role);
  -- the scheduler and event-driven training (87_run_queue.sql); ml.grant_train gave the rest
  EXECUTE format('GRANT EXECUTE ON FUNCTION ml.claim_run(text), ml.execute_run(bigint), ml.fail_run(bigint, text), '
                 'ml.next_wakeup(), ml._begin_run(bigint, text), '
                 'ml._end_run(bigint, ml.training_result, text, jsonb) TO %I', role);
  -- monitoring (95_monitoring.sql): configure monitors, run them, read their results
  EXECUTE format('GRANT SELECT ON ml.monitors, ml.evaluations, ml.drift, ml.monitor_actions, ml.evaluation_history, '
                 'ml.drift_report, ml.action_history, ml.live_accuracy TO %I', role);
  EXECUTE format('GRANT EXECUTE ON FUNCTION ml.run_monitors(text, timestamptz), ml.drop_monitor(text), '
                 'ml.monitor(text, interval, int, float8, float8, float8, text, regclass, interval, int, text) TO %I', role);
END $$;
COMMENT ON FUNCTION ml.grant_gateway(name) IS
  'Lets a role run `pgscore serve`: what ml.grant_train gives (score, train, deploy, export) plus writing the gateway''s tables (predictions, feedback, training runs, API keys) and running scheduled and event-driven training (ml.claim_run, ml.execute_run, ml.fail_run, ml.next_wakeup). It holds admin on every project (ml.service_roles); runs queued through the gateway train for this role and may read tables and views only (not queries, not pgscore''s own tables).';

REVOKE EXECUTE ON FUNCTION ml.grant_gateway(name) FROM PUBLIC;
-- ---------------------------------------------------------------- the prediction log's partitions and retention
-- ml.predictions grows with every answered prediction (2,000/s is 170 million rows a
-- day). It is partitioned by day (UTC) of created_at, so that what reads a recent window
-- (monitors, feedback) touches recent partitions only, and so that retention drops whole
-- partitions instead of deleting rows. pgscore serve calls ml.maintain_prediction_log
-- at start and every few minutes; it makes the partitions of today and the next two days
-- and drops the ones past the retention.

CREATE TABLE ml.prediction_log (
    singleton bool PRIMARY KEY DEFAULT true CHECK (singleton),
    retention interval CHECK (retention > interval '0')
);
COMMENT ON TABLE ml.prediction_log IS
  'Settings of the prediction log (one row, absent until ml.set_retention is called): retention, how long logged predictions and their feedback are kept (NULL: for ever).';
SELECT pg_catalog.pg_extension_config_dump('ml.prediction_log', '');

CREATE FUNCTION ml.set_retention(retention interval) RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
  INSERT INTO ml.prediction_log (retention) VALUES (retention)
  ON CONFLICT (singleton) DO UPDATE SET retention = excluded.retention;
$$;
COMMENT ON FUNCTION ml.set_retention(interval) IS
  'How long ml.predictions (and the feedback on them) is kept: ml.maintain_prediction_log drops the daily partitions wholly older than now() - retention and deletes older rows of the default partition. NULL keeps everything (the default). Needs the right to write ml.prediction_log (its owner, the extension''s installer, or whom it granted).';
REVOKE EXECUTE ON FUNCTION ml.set_retention(interval) FROM PUBLIC;

-- The partition of one UTC day: its name and bounds.
CREATE FUNCTION ml._prediction_partition(day date, OUT name text, OUT lo timestamptz, OUT hi timestamptz)
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT 'predictions_' || to_char(day, 'YYYYMMDD'),
         day::timestamp AT TIME ZONE 'UTC', (day + 1)::timestamp AT TIME ZONE 'UTC';
$$;

CREATE FUNCTION ml.maintain_prediction_log(at timestamptz DEFAULT now(),
                                           OUT created text[], OUT dropped text[], OUT deleted bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  part record;
  keep interval;
  cutoff timestamptz;
  day date;
BEGIN
  created := '{}';
  dropped := '{}';
  deleted := 0;
  -- a later time would let a caller drop what retention still keeps
  IF at > now() + interval '1 minute' THEN
    RAISE EXCEPTION 'ml.maintain_prediction_log: % is in the future', at USING ERRCODE = 'invalid_parameter_value';
  END IF;
  -- attaching and detaching lock ml.predictions: never queue the gateway's inserts for
  -- long (past it: 55P03, and the daemon tries again later)
  PERFORM set_config('lock_timeout', '2s', true);
  -- one maintainer at a time (several daemons may run)
  PERFORM pg_advisory_xact_lock(hashtext('pgscore.maintain_prediction_log'));

  FOR i IN 0..2 LOOP
    day := (at AT TIME ZONE 'UTC')::date + i;
    SELECT * INTO part FROM ml._prediction_partition(day);
    CONTINUE WHEN to_regclass('ml.' || quote_ident(part.name)) IS NOT NULL;
    -- a day that already has rows in the default partition keeps them there (attaching
    -- would fail); retention deletes them in time
    CONTINUE WHEN EXISTS (SELECT 1 FROM ml.predictions_default p WHERE p.created_at >= part.lo AND p.created_at < part.hi);
    EXECUTE format('CREATE TABLE ml.%I PARTITION OF ml.predictions FOR VALUES FROM (%L) TO (%L)',
                   part.name, part.lo, part.hi);
    PERFORM ml._index_prediction_partition(format('ml.%I', part.name)::regclass);
    created := created || part.name;
  END LOOP;

  SELECT l.retention INTO keep FROM ml.prediction_log l;
  IF keep IS NULL THEN
    RETURN;
  END IF;
  cutoff := at - keep;
  DELETE FROM ml.feedback f WHERE f.prediction_created_at < cutoff;
  FOR part IN
    SELECT d.*
      FROM (SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
             WHERE i.inhparent = 'ml.predictions'::regclass AND c.relname ~ '^predictions_[0-9]{8}$'
            OFFSET 0) named,       -- (the name filter first: to_date of another name would fail)
           LATERAL ml._prediction_partition(to_date(substr(named.relname, 13), 'YYYYMMDD')) d
     ORDER BY d.lo
  LOOP
    CONTINUE WHEN part.hi > cutoff;
    EXECUTE format('ALTER TABLE ml.predictions DETACH PARTITION ml.%I', part.name);
    EXECUTE format('DROP TABLE ml.%I', part.name);
    dropped := dropped || part.name;
  END LOOP;
  DELETE FROM ml.predictions_default p WHERE p.created_at < cutoff;
  GET DIAGNOSTICS deleted = ROW_COUNT;
END $$;
COMMENT ON FUNCTION ml.maintain_prediction_log(timestamptz) IS
  'Makes the daily (UTC) partitions of ml.predictions for the day of "at" (default now(), never later) and the two after it, unless the default partition already holds rows of that day; then, under ml.set_retention, deletes the feedback on predictions older than at - retention, drops the partitions wholly older than it and deletes older rows of the default partition. One caller at a time; waits at most 2 s for each of its locks (then 55P03). Returns the partitions made and dropped and the rows deleted. pgscore serve calls it at start and every 10 minutes.';
REVOKE EXECUTE ON FUNCTION ml.maintain_prediction_log(timestamptz) FROM PUBLIC;
-- ---------------------------------------------------------------- monitoring
-- Autonomous monitoring of deployed versions. ml.monitor(project, ...) configures a
-- project's monitor; `pgscore serve` (any number of replicas) calls ml.run_monitors(),
-- which claims the monitors that are due and, for each, over the window (at - window, at]:
--   * evaluates the deployed version on its own logged predictions (ml.predictions made
--     by that version since it was deployed) that have ground truth (the latest
--     ml.feedback row of a prediction, else the monitor's labels table): one
--     ml.evaluations row per check (accuracy for classification, RMSE for regression),
--     its metrics computed by ml.label_metrics, the Swift code of ml.metrics;
--   * measures feature drift: PSI (ml.psi, computed by the Swift core) between the
--     training distribution stored with the version (shares of numeric features in bins
--     between their deciles, frequencies of categories; both measured by ml.train) and
--     the features of the window's latest predictions (at most 5,000, see
--     ml._drift_sample_rows): one ml.drift row per feature;
--   * acts once per version and episode when the version is degraded (the configured
--     action: alert, retrain or rollback) or its features drifted (alert): one
--     ml.monitor_actions row with its reason, and a NOTIFY on channel pgscore_alerts.
-- This file comes after 90_gateway.sql: its views read ml.predictions and ml.feedback.
--
-- A check's work is bounded by its window, not by the table: the window's predictions of
-- the deployed version are found through the index below (not among every version's rows
-- of the project), the drift of all features is measured on one sample read once (the
-- window's latest ml._drift_sample_rows predictions), and the feedback of a prediction is
-- one index probe. tests/test_monitor_load.py checks a check under an insert load.

CREATE TABLE ml.monitors (
    project          text PRIMARY KEY REFERENCES ml.projects (name) ON UPDATE CASCADE ON DELETE CASCADE,
    window_size      interval NOT NULL CHECK (window_size > interval '0'),
    min_labels       int NOT NULL CHECK (min_labels >= 1),
    max_drop         float8 NOT NULL CHECK (max_drop >= 0),
    min_score        float8,
    drift_threshold  float8 CHECK (drift_threshold > 0),
    drift_rows       int NOT NULL CHECK (drift_rows >= 1),
    action           text NOT NULL CHECK (action IN ('alert', 'retrain', 'rollback')),
    labels           regclass,
    search_path      text,
    every            interval NOT NULL CHECK (every > interval '0'),
    next_check_at    timestamptz NOT NULL DEFAULT now(),
    last_checked_at  timestamptz,
    last_worker      text,
    last_error       text,
    degraded_version int,
    drifted_version  int,
    created_by       name NOT NULL DEFAULT current_user,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON ml.monitors (next_check_at);
-- (the monitor's window reads ml.predictions through each partition's (project, version,
-- created_at) index: ml._index_prediction_partition in 90_gateway.sql)

-- the most predictions of a window a drift check reads (the latest ones; at least drift_rows)
CREATE FUNCTION ml._drift_sample_rows() RETURNS int
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT 5000 $$;
COMMENT ON TABLE ml.monitors IS
  'One monitor per project (ml.monitor sets it): window, thresholds, action (alert | retrain | rollback), optional labels table, how often to check (every) and when next (next_check_at). degraded_version / drifted_version: the version whose degradation / drift was already acted on, until a check finds it healthy again or another version serves.';
COMMENT ON COLUMN ml.monitors.labels IS
  'optional table or view (prediction_id bigint, label text) with ground truth, used for predictions without ml.feedback';
COMMENT ON COLUMN ml.monitors.last_error IS 'the error of the last check, NULL when it succeeded';

CREATE TABLE ml.evaluations (
    id           bigserial PRIMARY KEY,
    project      text NOT NULL,
    version      int NOT NULL,
    window_start timestamptz NOT NULL,
    window_end   timestamptz NOT NULL,
    metric       text NOT NULL,
    value        float8,
    n            bigint NOT NULL,
    baseline     float8,
    threshold    float8,
    degraded     boolean,
    metrics      jsonb NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON ml.evaluations (project, window_end);
COMMENT ON TABLE ml.evaluations IS
  'Time series of live evaluations: one row per monitor check with labelled predictions. metric is accuracy (classification) or rmse (regression), value its value on the n labelled predictions of the deployed version in (window_start, window_end], baseline the version''s test score, threshold the limit that makes it degraded; degraded is NULL when n < min_labels. metrics: every metric computed by ml.label_metrics, the code of the version''s test metrics (accuracy, f1 (two classes: of the second class; more: macro), log_loss when every prediction was logged with probabilities, unknown_labels: labels that are none of the classes, left out / rmse, mae, r2).';

CREATE TABLE ml.drift (
    id           bigserial PRIMARY KEY,
    project      text NOT NULL,
    version      int NOT NULL,
    window_start timestamptz NOT NULL,
    window_end   timestamptz NOT NULL,
    feature      text NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('numeric', 'categorical')),
    psi          float8 NOT NULL,
    n            bigint NOT NULL,
    threshold    float8 NOT NULL,
    drifted      boolean NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON ml.drift (project, feature, window_end);
COMMENT ON TABLE ml.drift IS
  'Feature drift per monitor check and feature: population stability index between the training data of the deployed version (the bins between the distinct training deciles of a numeric feature, with the training shares ml.train measured, the categories of a categorical one) and the n values of the feature in the window''s predictions; drifted when psi > threshold.';

CREATE TABLE ml.monitor_actions (
    id          bigserial PRIMARY KEY,
    project     text NOT NULL,
    version     int NOT NULL,
    action      text NOT NULL CHECK (action IN ('alert', 'retrain', 'rollback')),
    reason      text NOT NULL,
    details     jsonb NOT NULL DEFAULT '{}',
    run_id      bigint,
    new_version int,
    worker      text,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON ml.monitor_actions (project, id);
COMMENT ON TABLE ml.monitor_actions IS
  'What the monitors did and why: alert (only this row and a NOTIFY on pgscore_alerts), retrain (run_id: the queued run) or rollback (new_version: the version deployed instead, also in ml.deployments). version is the version judged; details has the cause (degraded, drift), the configured action, the evaluation and the drifted features.';

-- monitoring rows are user data: pg_dump must carry them
SELECT pg_catalog.pg_extension_config_dump('ml.monitors', '');
SELECT pg_catalog.pg_extension_config_dump('ml.evaluations', '');
SELECT pg_catalog.pg_extension_config_dump('ml.drift', '');
SELECT pg_catalog.pg_extension_config_dump('ml.monitor_actions', '');
SELECT pg_catalog.pg_extension_config_dump('ml.evaluations_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('ml.drift_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('ml.monitor_actions_id_seq', '');

-- ---------------------------------------------------------------- helpers

-- a label as ml.predict writes it for that label type ('t', 'yes', '1' -> 'true'; '3.0' -> '3')
CREATE FUNCTION ml._label_text(label text, label_type text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
  SELECT CASE
    WHEN label_type = 'boolean' THEN
      CASE WHEN lower(btrim(label)) IN ('t', 'true', 'y', 'yes', 'on', '1') THEN 'true'
           WHEN lower(btrim(label)) IN ('f', 'false', 'n', 'no', 'off', '0') THEN 'false'
           ELSE label END
    WHEN label_type IN ('smallint', 'integer', 'bigint') AND btrim(label) ~ '^[-+]?[0-9]{1,30}([.]0*)?$' THEN
      trim_scale(btrim(label)::numeric)::text
    ELSE label END $$;

-- a number from text, NULL when it is not one ('?', 'NaN', 'Infinity', '', '0x10'):
-- the one numeric-text rule of training and serving (ml._numeric_text)
CREATE FUNCTION ml._text_float(value text) RETURNS float8
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
  SELECT ml._numeric_text(value) $$;

-- a numeric feature from the JSON a prediction was sent with: numbers, numeric text, booleans (1/0)
CREATE FUNCTION ml._json_float(value jsonb) RETURNS float8
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
  SELECT CASE jsonb_typeof(value)
           WHEN 'number' THEN (value #>> '{}')::float8
           WHEN 'string' THEN ml._text_float(value #>> '{}')
           WHEN 'boolean' THEN CASE WHEN value = 'true'::jsonb THEN 1 ELSE 0 END
         END $$;

-- an interval for reasons, the same under every IntervalStyle ('5 min', '90 s', '2 h', '1 d')
CREATE FUNCTION ml._interval_text(i interval) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
  SELECT CASE WHEN s % 86400 = 0 THEN (s / 86400)::bigint || ' d'
              WHEN s % 3600 = 0 THEN (s / 3600)::bigint || ' h'
              WHEN s % 60 = 0 THEN (s / 60)::bigint || ' min'
              ELSE trim_scale(s) || ' s' END
    FROM (SELECT extract(epoch FROM i) AS s) q $$;

-- the version ml.deploy(project, 'rollback') goes back to (the same rule): the version the
-- current one replaced when it was deployed; NULL when there is none
CREATE FUNCTION ml._rollback_target(project_id int, current_version int) RETURNS int
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT d.replaced_version FROM ml.deployments d
   WHERE d.project_id = _rollback_target.project_id AND d.version = current_version AND d.strategy <> 'rollback'
     AND d.replaced_version IS DISTINCT FROM d.version
   ORDER BY d.id DESC LIMIT 1 $$;

-- ---------------------------------------------------------------- configuration

CREATE FUNCTION ml._save_monitor(m ml.monitors) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  INSERT INTO ml.monitors (project, window_size, min_labels, max_drop, min_score, drift_threshold, drift_rows,
                           action, labels, search_path, every, next_check_at, created_by)
  VALUES (m.project, m.window_size, m.min_labels, m.max_drop, m.min_score, m.drift_threshold, m.drift_rows,
          m.action, m.labels, m.search_path, m.every, now(), m.created_by)
  ON CONFLICT (project) DO UPDATE
     SET window_size = excluded.window_size, min_labels = excluded.min_labels, max_drop = excluded.max_drop,
         min_score = excluded.min_score, drift_threshold = excluded.drift_threshold,
         drift_rows = excluded.drift_rows, action = excluded.action, labels = excluded.labels,
         search_path = excluded.search_path, created_by = excluded.created_by,
         every = excluded.every, next_check_at = now(), last_error = NULL,
         -- a new configuration starts new episodes
         degraded_version = NULL, drifted_version = NULL, updated_at = now();
END $$;

CREATE FUNCTION ml.monitor(
    project         text,
    window_size     interval DEFAULT '5 minutes',
    min_labels      int DEFAULT 20,
    max_drop        float8 DEFAULT 0.1,
    min_score       float8 DEFAULT NULL,
    drift_threshold float8 DEFAULT 0.2,
    action          text DEFAULT 'alert',
    labels          regclass DEFAULT NULL,
    every           interval DEFAULT NULL,
    drift_rows      int DEFAULT 100,
    search_path     text DEFAULT current_setting('search_path'))
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  m ml.monitors;
  missing text[];
  who name := ml._acting_role();
BEGIN
  IF action IS NULL OR action NOT IN ('alert', 'retrain', 'rollback') THEN
    RAISE EXCEPTION 'ml.monitor: unknown action "%"', action
      USING ERRCODE = 'invalid_parameter_value', HINT = 'Use alert, retrain or rollback.';
  END IF;
  PERFORM ml._require('ml.monitor', project, CASE action WHEN 'rollback' THEN 'deploy' ELSE 'train' END);
  IF window_size IS NULL OR window_size <= interval '0' THEN
    RAISE EXCEPTION 'ml.monitor: the window must be a positive interval, got %', coalesce(window_size::text, 'NULL')
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF every IS NOT NULL AND every <= interval '0' THEN
    RAISE EXCEPTION 'ml.monitor: "every" must be a positive interval, got %', every
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF min_labels IS NULL OR min_labels < 1 THEN
    RAISE EXCEPTION 'ml.monitor: min_labels must be at least 1, got %', coalesce(min_labels::text, 'NULL')
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF max_drop IS NULL OR max_drop < 0 OR max_drop = 'NaN' THEN
    RAISE EXCEPTION 'ml.monitor: max_drop must be at least 0, got %', coalesce(max_drop::text, 'NULL')
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF drift_threshold <= 0 OR drift_threshold = 'NaN' THEN
    RAISE EXCEPTION 'ml.monitor: drift_threshold must be positive (or NULL: no drift checks), got %', drift_threshold
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF drift_rows IS NULL OR drift_rows < 1 THEN
    RAISE EXCEPTION 'ml.monitor: drift_rows must be at least 1, got %', coalesce(drift_rows::text, 'NULL')
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF labels IS NOT NULL THEN
    IF (SELECT c.relkind FROM pg_class c WHERE c.oid = labels) NOT IN ('r', 'v', 'm', 'p', 'f') THEN
      RAISE EXCEPTION 'ml.monitor: % is not a table or a view', labels USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT array_agg(c ORDER BY c) INTO missing FROM unnest(ARRAY['label', 'prediction_id']) c
     WHERE NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = labels AND a.attname = c
                          AND a.attnum > 0 AND NOT a.attisdropped);
    IF missing IS NOT NULL THEN
      RAISE EXCEPTION 'ml.monitor: labels table % has no column(s) %', labels, array_to_string(missing, ', ')
        USING ERRCODE = 'undefined_column', HINT = 'It needs columns prediction_id (an ml.predictions id) and label (text).';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = labels AND a.attname = 'prediction_id'
                      AND a.atttypid IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype)) THEN
      RAISE EXCEPTION 'ml.monitor: column prediction_id of % must be an integer, not %', labels,
        (SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a WHERE a.attrelid = labels AND a.attname = 'prediction_id')
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- the monitor reads it with the rights of the role it belongs to, for the caller
    PERFORM ml._read_as(ml._source_reader('ml.monitor', labels::text, who), monitor.search_path,
                        format('SELECT l.prediction_id, l.label::text FROM %s l', labels), NULL);
  END IF;
  m.project := project;
  m.window_size := window_size;
  m.min_labels := min_labels;
  m.max_drop := max_drop;
  m.min_score := min_score;
  m.drift_threshold := drift_threshold;
  m.drift_rows := drift_rows;
  m.action := action;
  m.labels := labels;
  m.every := coalesce(every, greatest(window_size / 5, interval '1 second'));
  m.created_by := who;
  m.search_path := monitor.search_path;
  PERFORM ml._save_monitor(m);
END $$;
COMMENT ON FUNCTION ml.monitor(text, interval, int, float8, float8, float8, text, regclass, interval, int, text) IS
  'Creates or replaces the monitor of a project. Every "every" (default window_size / 5, at least 1 s) ml.run_monitors evaluates the deployed version on its labelled predictions of the last window_size (ml.feedback, plus the optional labels table (prediction_id, label)) and measures feature drift (PSI). Degraded (with at least min_labels labels): accuracy below the test accuracy - max_drop or below min_score; RMSE above the test RMSE * (1 + max_drop) or R2 below min_score. Drifted: a feature''s PSI above drift_threshold (NULL: no drift checks) on at least drift_rows values (of the window''s latest predictions, at most greatest(drift_rows, ml._drift_sample_rows()) = 5000 by default). On degradation it does action (alert, retrain: ml.enqueue_run, rollback: ml.deploy''s rollback), once per version and episode; drift alone alerts.';

CREATE FUNCTION ml.drop_monitor(project text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM ml._require('ml.drop_monitor', project, 'train');
  DELETE FROM ml.monitors m WHERE m.project = drop_monitor.project;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'ml.drop_monitor: project "%" has no monitor', project USING ERRCODE = 'undefined_object';
  END IF;
END $$;
COMMENT ON FUNCTION ml.drop_monitor(text) IS
  'Removes the monitor of a project; its evaluations, drift measurements and actions stay.';

-- ---------------------------------------------------------------- one check

CREATE FUNCTION ml._check_monitor(mon ml.monitors, check_at timestamptz, worker text)
RETURNS SETOF ml.monitor_actions
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  eps        constant float8 := 1e-4;
  p          ml.projects;
  dep        record;
  m          ml.models;
  wstart     timestamptz;
  labels_ok  boolean;
  preds      text;
  classes    text[];
  r          record;
  metric     text;
  value      float8;
  baseline   float8;
  threshold  float8;
  degraded   boolean;
  metrics    jsonb;
  why        text[] := '{}';
  eval_id    bigint;
  f          record;
  sample     jsonb[];
  cuts       float8[];
  train_shares        float8[];
  psi        float8;
  n          bigint;
  drift_checked boolean := false;
  drifted    jsonb := '[]';
  act        ml.monitor_actions;
  cause      text;
  chosen     text;
  target     int;
  reason     text;
  note       text;
BEGIN
  SELECT * INTO p FROM ml.projects WHERE name = mon.project;
  SELECT d.version, d.model_id, d.deployed_at INTO dep
    FROM ml.deployments d WHERE d.project_id = p.id ORDER BY d.id DESC LIMIT 1;
  IF dep.version IS NULL THEN
    RETURN;                                -- nothing serves: nothing to watch
  END IF;
  SELECT * INTO m FROM ml.models WHERE id = dep.model_id;
  -- episodes belong to a version: another version serving starts afresh
  IF mon.degraded_version IS DISTINCT FROM dep.version THEN mon.degraded_version := NULL; END IF;
  IF mon.drifted_version IS DISTINCT FROM dep.version THEN mon.drifted_version := NULL; END IF;

  -- the deployed version's own predictions in the window
  wstart := greatest(check_at - mon.window_size, dep.deployed_at);
  labels_ok := mon.labels IS NOT NULL AND EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = mon.labels);
  IF mon.labels IS NOT NULL AND NOT labels_ok THEN
    RAISE WARNING 'ml.run_monitors: the labels table of project "%" (oid %) no longer exists', mon.project, mon.labels::oid;
  END IF;
  -- the labels relation is user SQL: read with the rights of the role it belongs to, for
  -- the monitor's creator, only for this window's predictions
  IF labels_ok THEN
    IF to_regclass('pg_temp.pgscore_monitor_labels') IS NOT NULL THEN DROP TABLE pg_temp.pgscore_monitor_labels; END IF;
    PERFORM ml._read_as(ml._source_reader('ml.run_monitors', mon.labels::oid::regclass::text, mon.created_by), mon.search_path,
              format('SELECT l.prediction_id::bigint AS prediction_id, l.label::text AS label FROM %s l '
                     'WHERE l.label IS NOT NULL AND l.prediction_id = ANY ($1)', mon.labels::oid::regclass),
              'pgscore_monitor_labels',
              ARRAY(SELECT pr.id FROM ml.predictions pr WHERE pr.project = mon.project AND pr.version = dep.version
                       AND pr.created_at > wstart AND pr.created_at <= check_at));
  END IF;
  preds := format($q$
    SELECT pr.id, pr.prediction, pr.probabilities, coalesce(fb.label, %s) AS label
      FROM ml.predictions pr
      %s JOIN LATERAL (SELECT f.label FROM ml.feedback f WHERE f.prediction_id = pr.id
                          ORDER BY f.id DESC LIMIT 1) fb ON true
      %s
     WHERE pr.project = $1 AND pr.version = $2 AND pr.created_at > $3 AND pr.created_at <= $4$q$,
    CASE WHEN labels_ok THEN 'lt.label' ELSE 'NULL' END,
    -- without a labels table only predictions with feedback count: an inner join
    CASE WHEN labels_ok THEN 'LEFT' ELSE '' END,
    CASE WHEN labels_ok THEN 'LEFT JOIN LATERAL (SELECT l.label FROM pg_temp.pgscore_monitor_labels l WHERE l.prediction_id = pr.id '
                             'ORDER BY 1 LIMIT 1) lt ON true'
         ELSE '' END);

  -- ---- evaluation
  IF p.task = 'classification' THEN
    SELECT array_agg(c #>> '{}' ORDER BY o) INTO classes
      FROM jsonb_array_elements(coalesce(m.metrics -> 'classes', ml.describe(m.model) -> 'classes')) WITH ORDINALITY AS e(c, o);
    -- the metrics are ml.metrics' own (Swift core), over the window's labelled predictions;
    -- a label that is none of the version's classes cannot be scored: counted apart
    EXECUTE format($q$
      WITH l AS (SELECT ml._label_text(x.prediction, $5) AS predicted, ml._label_text(x.label, $5) AS truth,
                        x.probabilities
                   FROM (%s) x WHERE x.label IS NOT NULL AND x.prediction IS NOT NULL),
           k AS (SELECT l.*, l.truth = ANY ($6) AND l.predicted = ANY ($6) AS known FROM l)
      SELECT s.n, s.unknown, s.m, (s.m ->> 'accuracy')::float8 AS accuracy
        FROM (SELECT count(*) FILTER (WHERE known) AS n, count(*) FILTER (WHERE NOT known) AS unknown,
                     ml.label_metrics($6, predicted, truth, probabilities) FILTER (WHERE known) AS m
                FROM k) s$q$, preds)
      INTO r USING mon.project, dep.version, wstart, check_at, m.label_type, classes;
    metric := 'accuracy';
    value := r.accuracy;
    baseline := (m.metrics ->> 'accuracy')::float8;
    threshold := greatest(baseline - mon.max_drop, mon.min_score);
    metrics := jsonb_strip_nulls(jsonb_build_object('accuracy', r.m -> 'accuracy', 'f1', r.m -> 'f1',
                 'log_loss', r.m -> 'log_loss', 'unknown_labels', nullif(r.unknown, 0)));
    IF r.n >= mon.min_labels AND value IS NOT NULL THEN
      degraded := coalesce(value < threshold, false);
      IF value < baseline - mon.max_drop THEN
        why := why || format('accuracy %s is below the test accuracy %s - %s', round(value::numeric, 3),
                             round(baseline::numeric, 3), mon.max_drop);
      END IF;
      IF value < mon.min_score THEN
        why := why || format('accuracy %s is below min_score %s', round(value::numeric, 3), mon.min_score);
      END IF;
    END IF;
  ELSE
    EXECUTE format($q$
      WITH l AS (SELECT ml._text_float(x.prediction) AS predicted, ml._text_float(x.label) AS truth
                   FROM (%s) x WHERE x.label IS NOT NULL),
           v AS (SELECT * FROM l WHERE predicted IS NOT NULL AND truth IS NOT NULL)
      SELECT s.n, (s.m ->> 'rmse')::float8 AS rmse, (s.m ->> 'mae')::float8 AS mae, (s.m ->> 'r2')::float8 AS r2
        FROM (SELECT count(*) AS n, ml.label_metrics(predicted, truth) AS m FROM v) s$q$, preds)
      INTO r USING mon.project, dep.version, wstart, check_at;
    metric := 'rmse';
    value := r.rmse;
    baseline := (m.metrics ->> 'rmse')::float8;
    threshold := baseline * (1 + mon.max_drop);
    metrics := jsonb_strip_nulls(jsonb_build_object('rmse', r.rmse, 'mae', r.mae, 'r2', r.r2));
    IF r.n >= mon.min_labels AND value IS NOT NULL THEN
      degraded := coalesce(value > threshold, false) OR coalesce(r.r2 < mon.min_score, false);
      IF value > threshold THEN
        why := why || format('rmse %s is above the test rmse %s * (1 + %s)', round(value::numeric, 3),
                             round(baseline::numeric, 3), mon.max_drop);
      END IF;
      IF r.r2 < mon.min_score THEN
        why := why || format('r2 %s is below min_score %s', round(r.r2::numeric, 3), mon.min_score);
      END IF;
    END IF;
  END IF;
  IF r.n >= 1 THEN
    INSERT INTO ml.evaluations (project, version, window_start, window_end, metric, value, n, baseline,
                                threshold, degraded, metrics)
    VALUES (mon.project, dep.version, wstart, check_at, metric, value, r.n, baseline, threshold, degraded, metrics)
    RETURNING id INTO eval_id;
  END IF;

  -- ---- drift: PSI per feature, training distribution vs the window's predictions
  IF mon.drift_threshold IS NOT NULL THEN
    -- one read of the window for every feature: its latest predictions' features
    sample := ARRAY(SELECT pr.features FROM ml.predictions pr
                     WHERE pr.project = mon.project AND pr.version = dep.version
                       AND pr.created_at > wstart AND pr.created_at <= check_at
                     ORDER BY pr.created_at DESC
                     LIMIT greatest(mon.drift_rows, ml._drift_sample_rows()));
    FOR f IN SELECT s.key AS name, s.value AS stats FROM jsonb_each(m.feature_stats) s
              WHERE jsonb_typeof(s.value) = 'object' AND s.value ->> 'kind' IN ('numeric', 'categorical')
              ORDER BY s.key
    LOOP
      psi := NULL;
      IF f.stats ->> 'kind' = 'numeric' THEN
        CONTINUE WHEN jsonb_typeof(f.stats -> 'bins' -> 'cuts') IS DISTINCT FROM 'array';
        -- the bins ml.train measured: [c_i, c_i+1) between the distinct training deciles
        -- (width_bucket's), with the exact share of training values in each
        cuts := ARRAY(SELECT c::float8 FROM jsonb_array_elements_text(f.stats -> 'bins' -> 'cuts') WITH ORDINALITY c(c, k)
                       ORDER BY k);
        train_shares := ARRAY(SELECT e::float8 FROM jsonb_array_elements_text(f.stats -> 'bins' -> 'shares') WITH ORDINALITY e(e, k)
                      ORDER BY k);
        CONTINUE WHEN cardinality(train_shares) <> cardinality(cuts) + 1;
        -- (a JSON number is read here: ml._json_float's call costs more than the read)
        WITH v AS (SELECT CASE WHEN jsonb_typeof(s.features -> f.name) = 'number' THEN (s.features -> f.name)::float8
                               ELSE ml._json_float(s.features -> f.name) END AS x
                     FROM unnest(sample) AS s(features)),
             obs AS (SELECT width_bucket(v.x, cuts) AS bin, count(*) AS cnt
                       FROM v WHERE v.x IS NOT NULL GROUP BY 1),
             bins AS (SELECT j AS bin, train_shares[j + 1] AS e FROM generate_series(0, cardinality(cuts)) j)
        SELECT sum(coalesce(obs.cnt, 0)),
               CASE WHEN sum(coalesce(obs.cnt, 0)) > 0
                    THEN ml.psi(array_agg(bins.e ORDER BY bins.bin), array_agg(coalesce(obs.cnt, 0)::float8 ORDER BY bins.bin), eps) END
          INTO n, psi
          FROM bins LEFT JOIN obs ON obs.bin = bins.bin;
      ELSE
        CONTINUE WHEN jsonb_typeof(f.stats -> 'frequencies') IS DISTINCT FROM 'object';
        -- one bin per training category, one for categories never seen in training
        WITH v AS (SELECT s.features ->> f.name AS x FROM unnest(sample) AS s(features)),
             obs AS (SELECT CASE WHEN f.stats -> 'frequencies' ? v.x THEN v.x END AS cat, count(*) AS cnt
                       FROM v WHERE v.x IS NOT NULL GROUP BY 1),
             bins AS (SELECT e.key AS cat, e.value::float8 AS e FROM jsonb_each_text(f.stats -> 'frequencies') e
                      UNION ALL SELECT NULL, 0)
        SELECT sum(coalesce(obs.cnt, 0)),
               CASE WHEN sum(coalesce(obs.cnt, 0)) > 0
                    THEN ml.psi(array_agg(bins.e ORDER BY bins.cat NULLS LAST),
                                array_agg(coalesce(obs.cnt, 0)::float8 ORDER BY bins.cat NULLS LAST), eps) END
          INTO n, psi
          FROM bins LEFT JOIN obs ON obs.cat IS NOT DISTINCT FROM bins.cat;
      END IF;
      CONTINUE WHEN n < mon.drift_rows OR psi IS NULL;
      drift_checked := true;
      INSERT INTO ml.drift (project, version, window_start, window_end, feature, kind, psi, n, threshold, drifted)
      VALUES (mon.project, dep.version, wstart, check_at, f.name, f.stats ->> 'kind', psi, n, mon.drift_threshold,
              psi > mon.drift_threshold);
      IF psi > mon.drift_threshold THEN
        drifted := drifted || jsonb_build_object('feature', f.name, 'psi', round(psi::numeric, 3), 'n', n);
      END IF;
    END LOOP;
  END IF;

  -- ---- actions: once per version and episode
  IF degraded IS TRUE AND mon.degraded_version IS NULL THEN
    cause := CASE WHEN jsonb_array_length(drifted) > 0 THEN 'degraded and drift' ELSE 'degraded' END;
    chosen := mon.action;
  ELSIF jsonb_array_length(drifted) > 0 AND mon.drifted_version IS NULL THEN
    cause := 'drift';
    chosen := 'alert';                     -- the data moved, the model may still be right: tell someone
  END IF;
  -- a healthy check ends an episode (too few labels or rows decide nothing)
  IF degraded IS FALSE THEN mon.degraded_version := NULL; END IF;
  IF drift_checked AND jsonb_array_length(drifted) = 0 THEN mon.drifted_version := NULL; END IF;

  IF cause IS NOT NULL THEN
    IF cause <> 'drift' THEN
      reason := format('version %s: %s on %s labelled predictions in the last %s', dep.version,
                       array_to_string(why, ' and '), r.n, ml._interval_text(mon.window_size));
    ELSE
      reason := format('version %s:', dep.version);
    END IF;
    IF jsonb_array_length(drifted) > 0 THEN
      reason := reason || CASE WHEN cause = 'drift' THEN ' ' ELSE '; ' END || 'drift in '
                || (SELECT string_agg(format('%s (PSI %s > %s)', d ->> 'feature', round((d ->> 'psi')::numeric, 2),
                                              mon.drift_threshold), ', ' ORDER BY d ->> 'feature')
                      FROM jsonb_array_elements(drifted) d)
                || format(' over the last %s', ml._interval_text(mon.window_size));
    END IF;
    IF chosen = 'rollback' THEN
      target := ml._rollback_target(p.id, dep.version);
      IF target IS NULL THEN
        chosen := 'alert';
        note := 'rollback impossible: no earlier version';
      ELSE
        act.new_version := ml._record_deployment(mon.project, target, 'rollback',
                             format('monitor rollback from %s', reason));
      END IF;
    ELSIF chosen = 'retrain' THEN
      BEGIN
        act.run_id := ml.enqueue_run(mon.project, NULL, 'monitor', reason);
      EXCEPTION WHEN OTHERS THEN
        chosen := 'alert';
        note := 'retrain impossible: ' || SQLERRM;
      END;
    END IF;
    IF note IS NOT NULL THEN
      reason := reason || ' (' || note || ')';
    END IF;
    act.id := nextval('ml.monitor_actions_id_seq');
    act.project := mon.project;
    act.version := dep.version;
    act.action := chosen;
    act.reason := reason;
    act.details := jsonb_strip_nulls(jsonb_build_object('cause', cause, 'configured_action', mon.action,
                     'evaluation_id', eval_id, 'metric', metric, 'value', value, 'n', r.n, 'baseline', baseline,
                     'threshold', threshold,
                     'drifted', CASE WHEN jsonb_array_length(drifted) > 0 THEN drifted END,
                     'window', ml._interval_text(mon.window_size)));
    act.worker := worker;
    act.created_at := now();
    INSERT INTO ml.monitor_actions SELECT act.*;
    PERFORM pg_notify('pgscore_alerts', json_build_object('id', act.id, 'project', act.project,
              'version', act.version, 'action', act.action, 'reason', left(act.reason, 2000),
              'run_id', act.run_id, 'new_version', act.new_version)::text);
    IF cause <> 'drift' THEN mon.degraded_version := dep.version; END IF;
    IF jsonb_array_length(drifted) > 0 THEN mon.drifted_version := dep.version; END IF;
    RETURN NEXT act;
  END IF;

  UPDATE ml.monitors SET degraded_version = mon.degraded_version, drifted_version = mon.drifted_version
   WHERE project = mon.project;
END $$;

-- ---------------------------------------------------------------- the daemon's entry point

CREATE FUNCTION ml.run_monitors(worker text DEFAULT NULL, at timestamptz DEFAULT now())
RETURNS SETOF ml.monitor_actions
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  check_at constant timestamptz := run_monitors.at;
  mon ml.monitors;
  act ml.monitor_actions;
  err text;
BEGIN
  IF check_at IS NULL THEN
    RAISE EXCEPTION 'ml.run_monitors: "at" must not be NULL' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  LOOP
    -- one due monitor at a time; monitors another replica is checking are skipped
    SELECT * INTO mon FROM ml.monitors m WHERE m.next_check_at <= check_at
     ORDER BY m.next_check_at, m.project LIMIT 1 FOR UPDATE SKIP LOCKED;
    EXIT WHEN NOT FOUND;
    err := NULL;
    BEGIN
      -- the monitor acts for its creator: its rights, its name on a rollback or a retrain
      PERFORM ml._set_acting_role(mon.created_by);
      FOR act IN SELECT * FROM ml._check_monitor(mon, check_at, worker) LOOP
        RETURN NEXT act;
      END LOOP;
      PERFORM ml._set_acting_role(NULL);
      IF to_regclass('pg_temp.pgscore_monitor_labels') IS NOT NULL THEN DROP TABLE pg_temp.pgscore_monitor_labels; END IF;
    EXCEPTION WHEN OTHERS THEN
      PERFORM ml._set_acting_role(NULL);
      GET STACKED DIAGNOSTICS err = MESSAGE_TEXT;
      err := SQLSTATE || ' ' || err;
      RAISE WARNING 'ml.run_monitors: the check of project "%" failed: %', mon.project, err;
    END;
    UPDATE ml.monitors m SET next_check_at = check_at + m.every, last_checked_at = check_at,
                             last_worker = worker, last_error = err
     WHERE m.project = mon.project;
  END LOOP;
END $$;
COMMENT ON FUNCTION ml.run_monitors(text, timestamptz) IS
  'Runs the monitors that are due (next_check_at <= at): for each, evaluates the deployed version over (at - window, at] on its own labelled predictions (ml.evaluations), measures feature drift (ml.drift), acts on degradation or drift (ml.monitor_actions, NOTIFY pgscore_alerts) and schedules the next check at at + every. Returns the actions taken. Safe to call from any number of workers at once: monitors are claimed with FOR UPDATE SKIP LOCKED; a failing check is recorded in ml.monitors.last_error and does not stop the others.';

-- ---------------------------------------------------------------- views

CREATE VIEW ml.evaluation_history AS
SELECT e.project, e.version, e.window_start, e.window_end, e.metric, e.value, e.n, e.baseline,
       e.threshold, e.degraded, e.metrics
  FROM ml.evaluations e
 ORDER BY e.project, e.window_end, e.id;
COMMENT ON VIEW ml.evaluation_history IS
  'Live evaluations over time, per project: the deployed version''s metric on each window next to its test score.';

CREATE VIEW ml.drift_report AS
SELECT DISTINCT ON (d.project, d.feature)
       d.project, d.feature, d.version, d.kind, d.psi, d.n, d.threshold, d.drifted, d.window_start, d.window_end
  FROM ml.drift d
 ORDER BY d.project, d.feature, d.window_end DESC, d.id DESC;
COMMENT ON VIEW ml.drift_report IS 'The latest drift measurement of each feature of each project.';

CREATE VIEW ml.action_history AS
SELECT a.project, a.created_at, a.version, a.action, a.reason, a.run_id, a.new_version, a.worker, a.details
  FROM ml.monitor_actions a
 ORDER BY a.project, a.id;
COMMENT ON VIEW ml.action_history IS 'Every monitor action (alert, retrain, rollback) with its reason, oldest first per project.';

CREATE VIEW ml.live_accuracy AS
SELECT pr.project, pr.version, count(*) AS predictions, count(fb.label) AS labelled,
       (avg((ml._label_text(pr.prediction, m.label_type) = ml._label_text(fb.label, m.label_type))::int)
          FILTER (WHERE p.task = 'classification'))::float8 AS accuracy,
       sqrt(avg((ml._text_float(pr.prediction) - ml._text_float(fb.label)) ^ 2)
          FILTER (WHERE p.task = 'regression')) AS rmse,
       avg(abs(ml._text_float(pr.prediction) - ml._text_float(fb.label)))
          FILTER (WHERE p.task = 'regression') AS mae,
       min(pr.created_at) AS first_prediction, max(pr.created_at) AS last_prediction
  FROM ml.predictions pr
  JOIN ml.projects p ON p.name = pr.project
  LEFT JOIN ml.models m ON m.project_id = p.id AND m.version = pr.version
  LEFT JOIN LATERAL (SELECT f.label FROM ml.feedback f WHERE f.prediction_id = pr.id
                      ORDER BY f.id DESC LIMIT 1) fb ON true
 GROUP BY pr.project, pr.version
 ORDER BY pr.project, pr.version;
COMMENT ON VIEW ml.live_accuracy IS
  'Per project and version, over all logged predictions: how many, how many have feedback (the latest ml.feedback row of each), and on those the accuracy (classification) or rmse and mae (regression).';

-- ---------------------------------------------------------------- rights

REVOKE EXECUTE ON FUNCTION ml.monitor(text, interval, int, float8, float8, float8, text, regclass, interval, int, text),
  ml._save_monitor(ml.monitors), ml.drop_monitor(text), ml._check_monitor(ml.monitors, timestamptz, text),
  ml.run_monitors(text, timestamptz) FROM PUBLIC;
