-- ---------------------------------------------------------------- scoring

CREATE FUNCTION ml.predict(model ml.model, features float8[]) RETURNS text
    AS 'MODULE_PATHNAME', 'ml_predict_model' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ml.predict(ml.model, float8[]) IS
  'Scores features as they are: for a model an aggregate fitted, its own feature array; for a model ml.train made (one that carries preprocessing), the encoded vector ml.encode(model, row) gives -- raw values go through ml.predict(model, row), ml.predict(project, float8[]) or the jsonb form. Prediction as text: a classifier''s label as its type writes it (''true'', ''3'', ''setosa''; cast back with ::boolean, ::int), a regression''s number (cast with ::float8). NULL if a feature is NULL, except for tree models, which score a NULL as a missing value.';

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
