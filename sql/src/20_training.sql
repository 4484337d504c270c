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

CREATE AGGREGATE ml.linreg_fit(features float8[], label float8) (
    SFUNC = ml._linreg_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE ml.linreg_fit(features float8[], label float8, options jsonb) (
    SFUNC = ml._linreg_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.linreg_fit(float8[], float8) IS
  'Least-squares linear regression with intercept (scikit-learn LinearRegression). Rows with a NULL features array or label are skipped; no rows give NULL.';
COMMENT ON AGGREGATE ml.linreg_fit(float8[], float8, jsonb) IS
  'Linear regression with options: l2 (ridge alpha, as scikit-learn Ridge; default 0), intercept (default true), nulls ("error" or "skip" rows whose features hold a NULL).';

-- Labels: boolean, bigint (any integer type) or text. The model keeps them and
-- ml.predict answers with the label written as text.
CREATE AGGREGATE ml.logreg_fit(features float8[], label boolean) (
    SFUNC = ml._logreg_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE ml.logreg_fit(features float8[], label bigint) (
    SFUNC = ml._logreg_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE ml.logreg_fit(features float8[], label text) (
    SFUNC = ml._logreg_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE ml.logreg_fit(features float8[], label boolean, options jsonb) (
    SFUNC = ml._logreg_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE ml.logreg_fit(features float8[], label bigint, options jsonb) (
    SFUNC = ml._logreg_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE ml.logreg_fit(features float8[], label text, options jsonb) (
    SFUNC = ml._logreg_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.logreg_fit(float8[], boolean) IS
  'Logistic regression, L2 penalty l2 = 1 (scikit-learn LogisticRegression C=1). Keeps the rows in memory: 8*features+4 bytes a row, up to pgscore.max_training_memory; ml.logreg_step fits the same model in passes that keep no rows.';
COMMENT ON AGGREGATE ml.logreg_fit(float8[], bigint) IS
  'Logistic regression on integer labels (two classes: sigmoid; more: softmax). Keeps rows in memory up to pgscore.max_training_memory.';
COMMENT ON AGGREGATE ml.logreg_fit(float8[], text) IS
  'Logistic regression on text labels (two classes: sigmoid; more: softmax). Keeps rows in memory up to pgscore.max_training_memory.';
COMMENT ON AGGREGATE ml.logreg_fit(float8[], boolean, jsonb) IS
  'Logistic regression with options: l2 (= 1/C of scikit-learn; default 1), intercept (true), max_iter (100), tol (1e-10), nulls ("error" | "skip").';
COMMENT ON AGGREGATE ml.logreg_fit(float8[], bigint, jsonb) IS
  'Logistic regression with options: l2 (= 1/C of scikit-learn; default 1), intercept (true), max_iter (100), tol (1e-10), nulls ("error" | "skip").';
COMMENT ON AGGREGATE ml.logreg_fit(float8[], text, jsonb) IS
  'Logistic regression with options: l2 (= 1/C of scikit-learn; default 1), intercept (true), max_iter (100), tol (1e-10), nulls ("error" | "skip").';

CREATE AGGREGATE ml.nb_fit(features float8[], label boolean) (
    SFUNC = ml._nb_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE ml.nb_fit(features float8[], label bigint) (
    SFUNC = ml._nb_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE ml.nb_fit(features float8[], label text) (
    SFUNC = ml._nb_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE ml.nb_fit(features float8[], label boolean, options jsonb) (
    SFUNC = ml._nb_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE ml.nb_fit(features float8[], label bigint, options jsonb) (
    SFUNC = ml._nb_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE ml.nb_fit(features float8[], label text, options jsonb) (
    SFUNC = ml._nb_step, STYPE = internal, FINALFUNC = ml._train_final,
    COMBINEFUNC = ml._train_combine, SERIALFUNC = ml._train_serialize,
    DESERIALFUNC = ml._train_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.nb_fit(float8[], boolean) IS
  'Gaussian naive Bayes (scikit-learn GaussianNB). Keeps per-class sums only, so any row count fits.';
COMMENT ON AGGREGATE ml.nb_fit(float8[], bigint) IS
  'Gaussian naive Bayes on integer labels, any number of classes. Keeps per-class sums only.';
COMMENT ON AGGREGATE ml.nb_fit(float8[], text) IS
  'Gaussian naive Bayes on text labels, any number of classes. Keeps per-class sums only.';
COMMENT ON AGGREGATE ml.nb_fit(float8[], boolean, jsonb) IS
  'Gaussian naive Bayes with options: var_smoothing (default 1e-9, as scikit-learn), nulls ("error" | "skip").';
COMMENT ON AGGREGATE ml.nb_fit(float8[], bigint, jsonb) IS
  'Gaussian naive Bayes with options: var_smoothing (default 1e-9, as scikit-learn), nulls ("error" | "skip").';
COMMENT ON AGGREGATE ml.nb_fit(float8[], text, jsonb) IS
  'Gaussian naive Bayes with options: var_smoothing (default 1e-9, as scikit-learn), nulls ("error" | "skip").';
