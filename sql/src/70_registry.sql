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
    deployed_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    requested_by     text
);
CREATE INDEX ON ml.deployments (project_id, id);
COMMENT ON TABLE ml.deployments IS
  'Append-only history of deployments: the latest row of a project is what serves. Who, when, which strategy, which version it replaced.';
COMMENT ON COLUMN ml.deployments.requested_by IS
  'who asked the service role (deployed_by) to deploy: the name of the API key of pgscore serve''s gateway or dashboard (ml.deploy(..., requested_by)); NULL when the deploying role acted for itself';

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
       d.deployed_by, d.reason, d.requested_by
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
