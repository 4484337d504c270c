-- Monitoring: live evaluation of the deployed version on ground truth over rolling
-- windows, feature drift (PSI) against the training statistics, and the actions
-- (rollback, alert, retrain) with their reasons. Explicit check times ("at"), far in the
-- future so that every prediction is made after its version was deployed.
\getenv helpers PG_ABS_SRCDIR
\set helpers :helpers '/data/helpers.sql'
\set ECHO none
\i :helpers
\set ECHO all
SET client_min_messages = warning;

-- a classifier on two numeric features, the label a rule on them
CREATE TABLE mon_train AS
SELECT i, ((i * 37) % 100) / 10.0::float8 - 5 AS x1, ((i * 61) % 97) / 9.7::float8 - 5 AS x2
  FROM generate_series(1, 200) i;
ALTER TABLE mon_train ADD COLUMN y boolean;
UPDATE mon_train SET y = x1 + 0.5 * x2 > 0;
SELECT version, algorithm, deployed FROM ml.train('mon_cls', 'mon_train', 'y', exclude => ARRAY['i']);
SELECT version, algorithm FROM ml.train('mon_cls', 'mon_train', 'y', 'naive_bayes', exclude => ARRAY['i']);
SELECT ml.deploy('mon_cls', version => 2) AS serving;

-- traffic: n logged predictions of a version, one every 3 s after "start", features as in
-- training (x1 shifted by "shift"), the prediction right; feedback right or wrong
CREATE FUNCTION pg_temp.traffic(project text, version int, start timestamptz, n int,
                                shift float8 DEFAULT 0, wrong boolean DEFAULT false) RETURNS bigint
LANGUAGE sql AS $$
  WITH p AS (
    INSERT INTO ml.predictions (project, version, features, prediction, probabilities, created_at)
    SELECT project, version, jsonb_build_object('x1', ((i * 37) % 100) / 10.0 - 5 + shift, 'x2', ((i * 61) % 97) / 9.7 - 5),
           (((i * 37) % 100) / 10.0 - 5 + 0.5 * (((i * 61) % 97) / 9.7 - 5) > 0)::text,
           CASE WHEN ((i * 37) % 100) / 10.0 - 5 + 0.5 * (((i * 61) % 97) / 9.7 - 5) > 0
                THEN '{0.1, 0.9}'::float8[] ELSE '{0.9, 0.1}' END,
           start + i * interval '3 seconds'
      FROM generate_series(1, n) i
    RETURNING id, prediction),
  f AS (
    INSERT INTO ml.feedback (prediction_id, label)
    SELECT id, CASE WHEN wrong THEN (NOT prediction::boolean)::text ELSE prediction END FROM p ORDER BY id
    RETURNING 1)
  SELECT count(*) FROM f $$;

-- the monitor: 5-minute windows, checked every minute, rolls back when degraded
SELECT ml.monitor('mon_cls', window_size => '5 minutes', every => '1 minute', action => 'rollback');
SELECT project, window_size, min_labels, max_drop, min_score, drift_threshold, drift_rows, action, labels, every
  FROM ml.monitors WHERE project = 'mon_cls';
SELECT ml.monitor('mon_cls', action => 'rollback');    -- "every" defaults to a fifth of the window
SELECT window_size, every FROM ml.monitors WHERE project = 'mon_cls';
SELECT ml.monitor('mon_cls', window_size => '5 minutes', every => '1 minute', action => 'rollback');

-- 00:00-00:05 version 2 is right: evaluated, no drift, no action
SELECT pg_temp.traffic('mon_cls', 2, '2100-01-01 00:00+00', 100);
SELECT * FROM ml.run_monitors('w1', '2100-01-01 00:05+00');
SELECT project, version, metric, value, n, round(baseline::numeric, 3) AS baseline, round(threshold::numeric, 3) AS threshold,
       degraded, metrics ->> 'f1' AS f1, round((metrics ->> 'log_loss')::numeric, 3) AS log_loss
  FROM ml.evaluations WHERE project = 'mon_cls' ORDER BY id;
SELECT project, version, feature, kind, round(psi::numeric, 1) AS psi, n, drifted FROM ml.drift WHERE project = 'mon_cls' ORDER BY id;
-- not due again before 00:06
SELECT count(*) AS actions FROM ml.run_monitors('w1', '2100-01-01 00:05:30+00');
SELECT last_worker, last_error, next_check_at = '2100-01-01 00:06+00' AS next_at_6 FROM ml.monitors WHERE project = 'mon_cls';

-- 00:05-00:10 the ground truth turns against version 2: degraded, rolled back to version 1
SELECT pg_temp.traffic('mon_cls', 2, '2100-01-01 00:05+00', 100, wrong => true);
SELECT project, version, action, reason, new_version, run_id, details ->> 'cause' AS cause
  FROM ml.run_monitors('w1', '2100-01-01 00:10+00');
SELECT version, strategy, replaced_version, reason FROM ml.deployment_history WHERE project = 'mon_cls';
SELECT ml.deployed_version('mon_cls') AS serving;
-- the next check judges version 1 on its own predictions (5 so far, too few to judge):
-- no second rollback
SELECT pg_temp.traffic('mon_cls', 1, '2100-01-01 00:10+00', 5);
SELECT count(*) AS actions FROM ml.run_monitors('w1', '2100-01-01 00:11+00');
SELECT version, value, n, degraded FROM ml.evaluations WHERE project = 'mon_cls' AND window_end = '2100-01-01 00:11+00';
SELECT count(*) AS rollbacks FROM ml.deployments d JOIN ml.projects p ON p.id = d.project_id
 WHERE p.name = 'mon_cls' AND d.strategy = 'rollback';

-- 00:11-00:16 version 1 is right, but x1 arrives shifted by 5 standard deviations:
-- drift of x1 only, and drift alone alerts (it does not roll back)
SELECT pg_temp.traffic('mon_cls', 1, '2100-01-01 00:11+00', 100,
                       shift => 5 * (SELECT (feature_stats -> 'x1' ->> 'std')::float8 FROM ml.models m
                                       JOIN ml.projects p ON p.id = m.project_id WHERE p.name = 'mon_cls' AND m.version = 1));
SELECT project, version, action, reason, new_version FROM ml.run_monitors('w1', '2100-01-01 00:16+00');
SELECT version, value, n, degraded FROM ml.evaluations WHERE project = 'mon_cls' AND window_end = '2100-01-01 00:16+00';
SELECT feature, version, kind, round(psi::numeric, 1) AS psi, n, drifted FROM ml.drift_report WHERE project = 'mon_cls';
-- still drifted at 00:21: no second alert
SELECT pg_temp.traffic('mon_cls', 1, '2100-01-01 00:16+00', 100,
                       shift => 5 * (SELECT (feature_stats -> 'x1' ->> 'std')::float8 FROM ml.models m
                                       JOIN ml.projects p ON p.id = m.project_id WHERE p.name = 'mon_cls' AND m.version = 1));
SELECT count(*) AS actions FROM ml.run_monitors('w1', '2100-01-01 00:21+00');
SELECT feature, drifted FROM ml.drift_report WHERE project = 'mon_cls';

-- action alert (no drift checks): version 1 degrades at 00:21-00:26; one alert per episode
SELECT ml.monitor('mon_cls', window_size => '5 minutes', every => '1 minute', action => 'alert', drift_threshold => NULL);
SELECT pg_temp.traffic('mon_cls', 1, '2100-01-01 00:21+00', 100, wrong => true);
SELECT project, version, action, reason FROM ml.run_monitors('w2', '2100-01-01 00:26+00');
SELECT count(*) AS actions FROM ml.run_monitors('w2', '2100-01-01 00:27+00');
SELECT ml.deployed_version('mon_cls') AS still_serving;

-- action retrain: queues a training run of the project with the params of its last run,
-- schedule or event policy, else the deployed version's recorded training (mon_cls was
-- trained by calling ml.train: source, label and algorithm come from ml.models, and the
-- source's columns the version did not read are excluded again)
SELECT ml.monitor('mon_cls', window_size => '5 minutes', every => '1 minute', action => 'retrain', drift_threshold => NULL);
SELECT project, version, action, reason, run_id IS NOT NULL AS queued FROM ml.run_monitors('w2', '2100-01-01 00:28+00');
SELECT r.kind, r.status, r.reason = a.reason AS same_reason, r.params ->> 'source' AS source,
       r.params ->> 'label' AS label, r.params -> 'exclude' AS exclude
  FROM ml.training_runs r JOIN ml.monitor_actions a ON a.run_id = r.id;
-- a schedule's params come first once there is one
SELECT ml.schedule('mon_cls', '1 day', '{"source": "mon_train", "label": "y", "exclude": ["i"], "seed": 7}') IS NOT NULL AS scheduled;
SELECT ml.monitor('mon_cls', window_size => '5 minutes', every => '1 minute', action => 'retrain', drift_threshold => NULL);
SELECT project, version, action, run_id IS NOT NULL AS queued FROM ml.run_monitors('w2', '2100-01-01 00:29+00');
SELECT r.params ->> 'seed' AS seed FROM ml.training_runs r JOIN ml.monitor_actions a ON a.run_id = r.id
 ORDER BY r.id DESC LIMIT 1;

-- a regression project (with a categorical feature) whose ground truth comes from a
-- labels table; rollback is asked for but there is no earlier version: it alerts and says why
CREATE TABLE mon_reg_train AS
SELECT i, ((i * 37) % 100) / 10.0::float8 - 5 AS x1, ((i * 61) % 97) / 9.7::float8 - 5 AS x2,
       (ARRAY['a', 'b', 'c'])[i % 3 + 1] AS grp
  FROM generate_series(1, 200) i;
ALTER TABLE mon_reg_train ADD COLUMN y float8;
UPDATE mon_reg_train SET y = 2 * x1 - x2 + ((i * 13) % 7 - 3) * 0.1;
SELECT version, algorithm, key_metric, round((metrics ->> 'rmse')::numeric, 3) AS test_rmse
  FROM ml.train('mon_reg', 'mon_reg_train', 'y', hyperparams => '{"l2": 0.001}', exclude => ARRAY['i']);
CREATE TABLE mon_truth (prediction_id bigint, label text);
SELECT ml.monitor('mon_reg', window_size => '10 minutes', every => '10 minutes', min_labels => 10,
                  min_score => 0.5, action => 'rollback', labels => 'mon_truth');
WITH p AS (
  INSERT INTO ml.predictions (project, version, features, prediction, created_at)
  SELECT 'mon_reg', 1, jsonb_build_object('x1', x1, 'x2', x2, 'grp', grp), (2 * x1 - x2)::text,
         '2100-01-01 00:00+00'::timestamptz + i * interval '5 seconds'
    FROM mon_reg_train WHERE i <= 100
  RETURNING id, prediction)
INSERT INTO mon_truth SELECT id, (prediction::float8 + 0.1)::text FROM p;
SELECT count(*) AS actions FROM ml.run_monitors('w1', '2100-01-01 00:10+00');
SELECT version, metric, round(value::numeric, 3) AS rmse, round((metrics ->> 'mae')::numeric, 3) AS mae,
       n, round(threshold::numeric, 3) AS threshold, degraded
  FROM ml.evaluations WHERE project = 'mon_reg' ORDER BY id;
SELECT feature, kind, round(psi::numeric, 1) AS psi, n, drifted FROM ml.drift_report WHERE project = 'mon_reg';
-- 00:10-00:20: the truth is 3 higher than predicted, and grp takes values never seen in training
WITH p AS (
  INSERT INTO ml.predictions (project, version, features, prediction, created_at)
  SELECT 'mon_reg', 1, jsonb_build_object('x1', x1, 'x2', x2, 'grp', CASE WHEN i % 2 = 0 THEN 'z' ELSE grp END),
         (2 * x1 - x2)::text,
         '2100-01-01 00:10+00'::timestamptz + i * interval '5 seconds'
    FROM mon_reg_train WHERE i <= 100
  RETURNING id, prediction)
INSERT INTO mon_truth SELECT id, (prediction::float8 + 3)::text FROM p;
-- feedback wins over the labels table: 10 of them say the prediction was right
INSERT INTO ml.feedback (prediction_id, label)
SELECT prediction_id, p.prediction FROM mon_truth t JOIN ml.predictions p ON p.id = t.prediction_id
 WHERE p.created_at > '2100-01-01 00:10+00' ORDER BY p.id LIMIT 10;
SELECT project, version, action, reason, details ->> 'cause' AS cause FROM ml.run_monitors('w1', '2100-01-01 00:20+00');
SELECT feature, kind, round(psi::numeric, 1) AS psi, n, drifted FROM ml.drift_report WHERE project = 'mon_reg';
SELECT version, metric, round(value::numeric, 3) AS rmse, round((metrics ->> 'mae')::numeric, 3) AS mae,
       n, degraded FROM ml.evaluations WHERE project = 'mon_reg' ORDER BY id;

-- dashboards
SELECT project, version, metric, round(value::numeric, 3) AS value, n, degraded FROM ml.evaluation_history
 WHERE project IN ('mon_cls', 'mon_reg');
SELECT project, version, action, reason IS NOT NULL AS has_reason, new_version, run_id IS NOT NULL AS has_run
  FROM ml.action_history WHERE project IN ('mon_cls', 'mon_reg');
SELECT project, version, predictions, labelled, round(accuracy::numeric, 3) AS accuracy,
       round(rmse::numeric, 3) AS rmse FROM ml.live_accuracy WHERE project IN ('mon_cls', 'mon_reg');

-- bad arguments
SELECT pg_temp.try($$SELECT ml.monitor('nope')$$);
SELECT pg_temp.try($$SELECT ml.monitor('mon_cls', action => 'explode')$$);
SELECT pg_temp.try($$SELECT ml.monitor('mon_cls', window_size => '0')$$);
SELECT pg_temp.try($$SELECT ml.monitor('mon_cls', window_size => '-1 minute')$$);
SELECT pg_temp.try($$SELECT ml.monitor('mon_cls', every => '0')$$);
SELECT pg_temp.try($$SELECT ml.monitor('mon_cls', min_labels => 0)$$);
SELECT pg_temp.try($$SELECT ml.monitor('mon_cls', max_drop => -0.1)$$);
SELECT pg_temp.try($$SELECT ml.monitor('mon_cls', drift_threshold => 0)$$);
CREATE TABLE mon_bad_labels (id bigint, truth text);
CREATE TABLE mon_text_ids (prediction_id text, label text);
SELECT pg_temp.try($$SELECT ml.monitor('mon_cls', labels => 'mon_bad_labels')$$);
SELECT pg_temp.try($$SELECT ml.monitor('mon_cls', labels => 'mon_text_ids')$$);
SELECT pg_temp.try($$SELECT ml.monitor('mon_cls', labels => 'no_such_table')$$);
SELECT pg_temp.try($$SELECT ml.drop_monitor('nope')$$);
SELECT pg_temp.try($$SELECT ml.run_monitors(at => NULL)$$);
SELECT ml.drop_monitor('mon_reg');
SELECT pg_temp.try($$SELECT ml.drop_monitor('mon_reg')$$);
SELECT project FROM ml.monitors WHERE project IN ('mon_cls', 'mon_reg');

-- rights: only granted roles run monitors; pg_dump carries the monitoring tables
SELECT has_function_privilege('public', 'ml.run_monitors(text, timestamptz)', 'EXECUTE') AS public_runs,
       has_function_privilege('public', 'ml.monitor(text, interval, int, float8, float8, float8, text, regclass, interval, int, text)', 'EXECUTE') AS public_configures;
DROP ROLE IF EXISTS regress_mon_gateway;
CREATE ROLE regress_mon_gateway;
SELECT ml.grant_gateway('regress_mon_gateway');
SELECT has_function_privilege('regress_mon_gateway', 'ml.run_monitors(text, timestamptz)', 'EXECUTE') AS runs,
       has_function_privilege('regress_mon_gateway', 'ml.monitor(text, interval, int, float8, float8, float8, text, regclass, interval, int, text)', 'EXECUTE') AS configures,
       has_table_privilege('regress_mon_gateway', 'ml.evaluation_history', 'SELECT') AS reads_history,
       has_table_privilege('regress_mon_gateway', 'ml.monitor_actions', 'INSERT') AS writes_actions;
DROP OWNED BY regress_mon_gateway;
DROP ROLE regress_mon_gateway;
SELECT c::regclass AS dumped FROM pg_extension e, unnest(e.extconfig) c
 WHERE e.extname = 'pgscore' AND c::regclass::text ~ '^ml\.(monitors|evaluations|drift|monitor_actions)' ORDER BY 1::text;

-- ml.psi, the index the monitors store (computed in the Swift core)
SELECT round(ml.psi('{0.25, 0.25, 0.5}', '{10, 10, 20}')::numeric, 12) AS same,
       round(ml.psi('{0.5, 0.5}', '{80, 20}')::numeric, 6) AS shifted,
       round((0.3 * ln(1.6) - 0.3 * ln(0.4))::numeric, 6) AS by_hand,
       round(ml.psi('{1, 0}', '{0, 5}')::numeric, 3) AS unseen_bin;
SELECT pg_temp.try($$SELECT ml.psi('{0.5, 0.5}', '{1}')$$);
SELECT pg_temp.try($$SELECT ml.psi('{0.5, 0.5}', '{0, 0}')$$);
SELECT pg_temp.try($$SELECT ml.psi('{0.5, -0.5}', '{1, 1}')$$);
SELECT pg_temp.try($$SELECT ml.psi('{0.5, NULL}', '{1, 1}')$$);
SELECT pg_temp.try($$SELECT ml.psi('{0.5, 0.5}', '{1, 1}', 0)$$);
