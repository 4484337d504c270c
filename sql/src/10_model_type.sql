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
