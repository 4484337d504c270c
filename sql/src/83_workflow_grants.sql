-- ---------------------------------------------------------------- roles

CREATE FUNCTION ml.grant_predict(role name) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('GRANT USAGE ON SCHEMA ml TO %I', role);
  EXECUTE format('GRANT SELECT ON ml.projects, ml.models, ml.deployments, ml.project_grants, ml.project_sources, ml.versions, ml.project_overview, '
                 'ml.deployment_history TO %I', role);
END $$;
COMMENT ON FUNCTION ml.grant_predict(name) IS
  'Lets a role score: ml.predict / ml.predict_proba by project, reading the registry; no training or deployment. It sees only the projects it owns or has a grant on (ml.grant_project).';

CREATE FUNCTION ml.grant_train(role name) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  PERFORM ml.grant_predict(role);
  EXECUTE format('GRANT EXECUTE ON FUNCTION ml.train(text, text, text, text, jsonb, float8, int, text[], text, text), '
                 'ml.deploy(text, text, int, text), ml.drop_version(text, int), ml.evaluate(text, text, int), ml.export(text, int, text), '
                 'ml.score_on_insert(regclass, text, text, text), ml.drop_scoring(regclass, text), '
                 'ml.create_project(text, text, text), ml.set_deploy_policy(text, text), '
                 'ml.grant_project(text, name, text), ml.revoke_project(text, name), '
                 'ml.allow_source(text, regclass), ml.disallow_source(text, regclass) TO %I', role);
  -- schedules, event-driven training and queued runs (84_jobs.sql)
  EXECUTE format('GRANT EXECUTE ON FUNCTION ml.enqueue_run(text, jsonb, text, text, text), '
                 'ml.schedule(text, text, jsonb, text, int, interval, text), ml.pause_schedule(bigint), '
                 'ml.resume_schedule(bigint), ml.drop_schedule(bigint), '
                 'ml.train_on_events(text, regclass, jsonb, int, interval, text, text), ml.stop_training_on_events(text), '
                 'ml.add_records(text, jsonb) TO %I', role);
  -- monitors (95_monitoring.sql); a monitor that rolls back needs the deploy right
  EXECUTE format('GRANT EXECUTE ON FUNCTION ml.monitor(text, interval, int, float8, float8, float8, text, regclass, interval, int, text), '
                 'ml.drop_monitor(text) TO %I', role);
  EXECUTE format('GRANT SELECT ON ml.monitors, ml.evaluations, ml.drift, ml.monitor_actions, ml.evaluation_history, '
                 'ml.drift_report, ml.action_history TO %I', role);
  EXECUTE format('GRANT SELECT ON ml.schedules, ml.training_runs, ml.event_policies, ml.training_events, '
                 'ml.run_history, ml.schedule_overview TO %I', role);
  -- fits running now (24_progress.sql): its own, as pg_stat_activity shows
  EXECUTE format('GRANT SELECT ON ml.fits_in_progress TO %I', role);
END $$;
COMMENT ON FUNCTION ml.grant_train(name) IS
  'Lets a role call the training functions: train, evaluate, export, deploy, drop unused versions, schedule, train on events, queue runs, grant projects. What it may do to a project is decided by its right on it (owner, or ml.grant_project). Training reads the source with the rights of the role the source belongs to, also when the daemon runs it.';

REVOKE EXECUTE ON FUNCTION ml.train(text, text, text, text, jsonb, float8, int, text[], text, text), ml.deploy(text, text, int, text),
  ml.evaluate(text, text, int), ml.export(text, int, text), ml.score_on_insert(regclass, text, text, text),
  ml.drop_scoring(regclass, text), ml.create_project(text, text, text), ml.set_deploy_policy(text, text),
  ml._record_version(text, text, ml.models), ml._record_deployment(text, int, text, text, text), ml._check_requested_by(text, text),
  ml.grant_project(text, name, text), ml.revoke_project(text, name),
  ml.allow_source(text, regclass), ml.disallow_source(text, regclass),
  ml.grant_predict(name), ml.grant_train(name) FROM PUBLIC;
