-- ---------------------------------------------------------------- views

CREATE VIEW ml.run_history AS
SELECT r.id AS run, r.project, r.kind, r.schedule_id AS schedule, r.due_at, r.attempt, r.status,
       r.started_at, r.finished_at, r.finished_at - r.started_at AS duration, r.rows, r.version,
       r.deployed, r.error, r.claimed_by, r.reason
  FROM ml.training_runs r
 ORDER BY r.id;
COMMENT ON VIEW ml.run_history IS
  'Every training run, oldest first: kind (manual, schedule, event, monitor), schedule and slot, attempt, status, times and duration, training rows, the version made and whether it was deployed, the error, the daemon that ran it and why it ran.';

CREATE VIEW ml.schedule_overview AS
SELECT s.id AS schedule, s.project, coalesce(s.cron, 'every ' || s.every::text) AS expression, s.deploy,
       s.paused, s.next_run_at, last.status AS last_status,
       coalesce(last.finished_at, last.started_at, last.created_at) AS last_run_at,
       (SELECT count(*) FROM ml.training_runs t WHERE t.schedule_id = s.id AND t.status = 'succeeded') AS runs_ok,
       (SELECT count(*) FROM ml.training_runs t WHERE t.schedule_id = s.id AND t.status = 'failed') AS runs_failed
  FROM ml.schedules s
  LEFT JOIN LATERAL (SELECT t.status, t.created_at, t.started_at, t.finished_at FROM ml.training_runs t
                      WHERE t.schedule_id = s.id ORDER BY t.id DESC LIMIT 1) last ON true
 ORDER BY s.id;
COMMENT ON VIEW ml.schedule_overview IS
  'Schedules at a glance: project, cron expression or interval, deploy, paused, next slot, the last run''s status and time, succeeded and failed runs.';
