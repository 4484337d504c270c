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
