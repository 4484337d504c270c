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

CREATE AGGREGATE ml.metrics(model ml.model, features float8[], label text) (
    SFUNC = ml._metrics_step, STYPE = internal, FINALFUNC = ml._metrics_final,
    COMBINEFUNC = ml._metrics_combine, SERIALFUNC = ml._metrics_serialize,
    DESERIALFUNC = ml._metrics_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE ml.metrics(model ml.model, features float8[], label float8) (
    SFUNC = ml._metrics_step, STYPE = internal, FINALFUNC = ml._metrics_final,
    COMBINEFUNC = ml._metrics_combine, SERIALFUNC = ml._metrics_serialize,
    DESERIALFUNC = ml._metrics_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE ml.metrics(ml.model, float8[], text) IS
  'Evaluates a classifier on labelled rows (label as text, e.g. label::text; it must be one of the model''s classes): jsonb with rows, classes, accuracy, precision, recall, f1 (two classes: of the second class; more: macro averages), per_class {precision, recall, f1, support}, roc_auc (one-vs-rest macro for more classes), log_loss, confusion_matrix (rows = truth, columns = predicted, class order), as scikit-learn computes them. Undefined values (e.g. roc_auc when the truth holds one class, precision of a class never predicted) are null. Rows with a NULL model, features or label, or a NULL feature, are skipped; no rows give NULL. Keeps 8*classes+4 bytes a row, up to pgscore.max_training_memory.';
COMMENT ON AGGREGATE ml.metrics(ml.model, float8[], float8) IS
  'Evaluates a regression model on labelled rows: jsonb with rows, r2 (null when the label is constant or there is one row), mae, rmse, as scikit-learn computes them. Rows with a NULL model, features or label, or a NULL feature, are skipped; no rows give NULL. Keeps running sums only, so any row count fits.';

CREATE FUNCTION ml.psi(expected float8[], observed float8[], floor float8 DEFAULT 1e-4) RETURNS float8
    AS 'MODULE_PATHNAME', 'ml_psi' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ml.psi(float8[], float8[], float8) IS
  'Population stability index of a feature: the training shares of some bins (expected; normalised to sum 1) against live counts in the same bins (observed): sum((a - e) * ln(a / e)), a share below floor counting as floor. 0: the same distribution; above about 0.2: a shift. What the monitors (ml.monitor) store in ml.drift.';
