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
  -- a project's latest predictions of any version: the dashboard's volume per hour and
  -- predictions in the last hour (the index above would scan the whole day of a version)
  EXECUTE format('CREATE INDEX ON %s (project, created_at)', partition);
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
