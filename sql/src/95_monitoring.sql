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
