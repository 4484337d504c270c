
-- ---------------------------------------------------------------- export

CREATE FUNCTION ml.export_onnx(model ml.model) RETURNS bytea
    AS 'MODULE_PATHNAME', 'ml_export_onnx' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ml.export_onnx(ml.model) IS
  'The model as a standard ONNX file (IR 8, opsets ai.onnx 17 and ai.onnx.ml 3), for ONNX Runtime and other ONNX tools. Input: "features" float [N, features]; or, for a model with a "preprocess" spec, "numeric" float [N, numeric columns] (NaN = missing) and one string [N, 1] input per categorical column, named after it (an unseen category encodes as all zeros). Output: "variable" [N, 1] for regression; "label" [N] and "probabilities" [N, classes] for classifiers. Tree models use the ai.onnx.ml TreeEnsemble operators; NaN (missing) follows each split''s learned direction and is not imputed. Computes in float32: probabilities agree with ml.predict_proba to about 1e-5.';
