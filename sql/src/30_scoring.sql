-- ---------------------------------------------------------------- scoring

CREATE FUNCTION ml.predict(model ml.model, features float8[]) RETURNS text
    AS 'MODULE_PATHNAME', 'ml_predict_model' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ml.predict(ml.model, float8[]) IS
  'Prediction as text: a classifier''s label as its type writes it (''true'', ''3'', ''setosa''; cast back with ::boolean, ::int), a regression''s number (cast with ::float8). NULL if a feature is NULL.';

CREATE FUNCTION ml.predict_proba(model ml.model, features float8[]) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'ml_predict_proba_model' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ml.predict_proba(ml.model, float8[]) IS
  'Class probabilities of a classifier, in the order of ml.describe(model)->''classes''. NULL if a feature is NULL.';

CREATE FUNCTION ml.describe(model ml.model) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'ml_describe_model' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ml.describe(ml.model) IS
  'The model as JSON: algorithm, format_version, features, training_rows, label_type, classes (in order), coefficients or class statistics, options.';
