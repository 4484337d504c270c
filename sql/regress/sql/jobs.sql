-- Scheduled and event-driven training: cron expressions, schedules, the daemon's calls
-- (claim_run, execute_run, fail_run, next_wakeup), missed slots, retries, the reaper,
-- event policies and add_records, deploy overrides, and the rights of the daemon's role.
-- No time is printed unless it is computed from fixed inputs.
\getenv helpers PG_ABS_SRCDIR
\set helpers :helpers '/data/helpers.sql'
\set ECHO none
\i :helpers
\set ECHO all
SET client_min_messages = warning;
SET TimeZone = 'UTC';

-- ---------------------------------------------------------------- cron_next
SELECT e AS expression, ml.cron_next(e, '2025-01-30 10:17:45+00') AS next
  FROM unnest(ARRAY[
    '* * * * *', '*/15 * * * *', '17 * * * *', '0 * * * *', '0 3 * * *', '0 3 * * mon-fri', '0 3 * * MON-FRI',
    '30 8 1 * *', '0 0 31 * *', '0 0 30 * *', '0 0 29 2 *', '0 0 1 jan *', '0 12 * jan,feb *', '0 0 * feb-mar/1 *',
    '5-10/2 * * * *', '0 9-17/4 * * *', '0,30 6,18 * * *', '0 0 * * 0', '0 0 * * 7', '0 0 * * sun', '0 0 * * 5-7',
    '0 0 1,15 * 1', '0 0 13 * fri', '0 0 */2 * fri', '0 0 1 * */3', '59 23 31 12 *', '0 0 1 */4 *',
    '@hourly', '@daily', '@weekly', '@monthly', '@yearly']) e;
-- strictly after: a time that matches gives the next match; seconds are ignored
SELECT ml.cron_next('0 * * * *', '2025-01-30 10:00:00+00') AS after_match,
       ml.cron_next('0 * * * *', '2025-01-30 09:59:59.999+00') AS just_before,
       ml.cron_next('* * * * *', '2025-12-31 23:59:30+00') AS year_rollover,
       ml.cron_next('0 0 1 * *', '2025-12-31 12:00+00') AS month_rollover,
       ml.cron_next('0 0 29 2 *', '2096-03-01+00') AS leap_day_after_2100,
       ml.cron_next('0 0 31 * *', '2025-04-01+00') AS skips_short_months;
-- in UTC whatever the session's time zone
SET TimeZone = 'America/New_York';
SELECT ml.cron_next('0 3 * * *', '2025-06-01 00:00:00+00') = '2025-06-01 03:00:00+00' AS utc;
SET TimeZone = 'UTC';
-- bad expressions: 22023 naming the field
SELECT e AS expression, pg_temp.try(format('SELECT ml.cron_next(%L, now())', e)) AS error
  FROM unnest(ARRAY['60 * * * *', '* 24 * * *', '* * 0 * *', '* * 32 * *', '* * * 13 *', '* * * * 8', '* * * foo *',
                    '* * * * funday', '*/0 * * * *', '5/10 * * * *', '10-5 * * * *', '*-5 * * * *', '1,,2 * * * *',
                    '* * * *', '* * * * * *', '', '@reboot', '0 0 31 2 *', '0 0 30 2 *', '0 0 31 4,6,9,11 *']) e;

-- ---------------------------------------------------------------- a table to train on
CREATE TABLE tiny AS
SELECT i AS id, ((i % 7) + (i % 3))::float8 AS x1, (i * 37 % 11)::float8 AS x2,
       (i % 7) + (i % 3) + (i * 37 % 11) * 0.3 + (i % 5) > 6 AS y
  FROM generate_series(1, 60) i;

-- ml.train's deploy override
SELECT version, deployed FROM ml.train('direct', 'tiny', 'y', exclude => ARRAY['id']);
SELECT version, deployed FROM ml.train('direct', 'tiny', 'y', exclude => ARRAY['id'], deploy => 'manual');
SELECT version, deployed FROM ml.train('direct', 'tiny', 'y', exclude => ARRAY['id'], deploy => 'most_recent');
SELECT version, strategy, reason FROM ml.deployment_history WHERE project = 'direct';
SELECT pg_temp.try($$SELECT ml.train('direct', 'tiny', 'y', deploy => 'sometimes')$$);

-- ---------------------------------------------------------------- schedules
SELECT ml.schedule('tiny', '1 minute', '{"source": "tiny", "label": "y", "exclude": ["id"]}') AS every_minute;
SELECT ml.schedule('tiny', '0 3 * * mon-fri', '{"source": "tiny", "label": "y", "exclude": ["id"]}', 'manual') AS weekdays;
SELECT schedule, project, expression, deploy, paused, last_status, runs_ok, runs_failed FROM ml.schedule_overview;
SELECT id, next_run_at - created_at = interval '1 minute' AS one_interval_on, params ->> 'source' AS source_qualified
  FROM ml.schedules WHERE every IS NOT NULL;
SELECT next_run_at = ml.cron_next(cron, created_at) AS next_slot FROM ml.schedules WHERE cron IS NOT NULL;
-- bad schedules
SELECT pg_temp.try($$SELECT ml.schedule('tiny', '0 seconds', '{"source": "tiny", "label": "y"}')$$);
SELECT pg_temp.try($$SELECT ml.schedule('tiny', '-1 minute', '{"source": "tiny", "label": "y"}')$$);
SELECT pg_temp.try($$SELECT ml.schedule('tiny', 'every tuesday', '{"source": "tiny", "label": "y"}')$$);
SELECT pg_temp.try($$SELECT ml.schedule('tiny', '0 0 31 2 *', '{"source": "tiny", "label": "y"}')$$);
SELECT pg_temp.try($$SELECT ml.schedule('tiny', '61 * * * *', '{"source": "tiny", "label": "y"}')$$);
SELECT pg_temp.try($$SELECT ml.schedule('tiny', '0 3 * * weekdays', '{"source": "tiny", "label": "y"}')$$);
SELECT pg_temp.try($$SELECT ml.schedule('tiny', NULL, '{"source": "tiny", "label": "y"}')$$);
SELECT pg_temp.try($$SELECT ml.schedule('tiny', '1 hour', '{"source": "tiny"}')$$);
SELECT pg_temp.try($$SELECT ml.schedule('tiny', '1 hour', '{"source": "tiny", "label": "y", "epochs": 3}')$$);
SELECT pg_temp.try($$SELECT ml.schedule('tiny', '1 hour', '{"source": "tiny", "label": "y", "seed": 1.5}')$$);
SELECT pg_temp.try($$SELECT ml.schedule('tiny', '1 hour', '["tiny", "y"]')$$);
SELECT pg_temp.try($$SELECT ml.schedule('tiny', '1 hour', '{"source": "tiny", "label": "y"}', 'sometimes')$$);
SELECT pg_temp.try($$SELECT ml.schedule('tiny', '1 hour', '{"source": "tiny", "label": "y"}', max_attempts => 0)$$);
SELECT pg_temp.try($$SELECT ml.schedule('no such project', '1 hour', '{"source": "tiny", "label": "y"}')$$);
SELECT pg_temp.try($$SELECT ml.schedule('tiny', '1 hour', '{"source": "no_such_table", "label": "y"}')$$);
SELECT pg_temp.try($$SELECT ml.schedule('tiny', '1 hour', '{"source": "tiny", "label": "no_such_column"}')$$);
SELECT pg_temp.try($$SELECT ml.pause_schedule(99)$$), pg_temp.try($$SELECT ml.resume_schedule(99)$$),
       pg_temp.try($$SELECT ml.drop_schedule(99)$$);

-- nothing is due yet
SELECT count(*) AS claimed FROM ml.claim_run('w1');
SELECT ml.next_wakeup() BETWEEN 50 AND 60 AS wakes_up_for_the_next_slot;

-- missed slots collapse: next_run_at 10 minutes ago on a 1-minute schedule is ONE run
-- for the slot 10 minutes ago, covering the 10 slots since (missed = 10)
UPDATE ml.schedules SET next_run_at = now() - interval '10 minutes' WHERE id = 1;
SELECT ml.next_wakeup() AS due_now;
SELECT id AS run FROM ml.claim_run('w1') \gset
SELECT project, kind, status, schedule_id, attempt, missed, claimed_by, backend_pid = pg_backend_pid() AS mine,
       due_at < now() - interval '9 minutes' AS due_at_oldest_slot, reason
  FROM ml.training_runs WHERE id = :run;
SELECT next_run_at > now() AND next_run_at <= now() + interval '1 minute' AS next_slot_after_now FROM ml.schedules WHERE id = 1;
-- claimed, so held: another claim (even from this session) neither takes nor reaps it
SELECT count(*) AS claimed FROM ml.claim_run('w1');
SELECT status FROM ml.training_runs WHERE id = :run;
-- execute it
SELECT status, version, rows, deployed, error, result ->> 'algorithm' AS algorithm,
       finished_at >= started_at AS timed
  FROM ml.execute_run(:run);
SELECT run, project, kind, schedule, attempt, status, rows, version, deployed, claimed_by, duration >= '0' AS has_duration
  FROM ml.run_history;
SELECT pg_temp.try(format('SELECT ml.execute_run(%s)', :run)) AS again;
SELECT schedule, last_status, last_run_at IS NOT NULL AS ran, runs_ok, runs_failed FROM ml.schedule_overview WHERE schedule = 1;
-- a slot never runs twice
SELECT split_part(pg_temp.try($$INSERT INTO ml.training_runs (project, schedule_id, due_at)
                                 SELECT project, schedule_id, due_at FROM ml.training_runs WHERE schedule_id = 1$$), ' [', 1) AS error;
-- a schedule with a run still queued or running queues no other; its slots wait and collapse
UPDATE ml.schedules SET next_run_at = now() - interval '2 minutes' WHERE id = 1;
INSERT INTO ml.training_runs (project, params, kind, schedule_id, due_at, not_before)
VALUES ('tiny', '{}', 'schedule', 1, now() - interval '1 hour', now() + interval '1 hour');
SELECT count(*) AS claimed FROM ml.claim_run('w1');
SELECT count(*) AS runs_of_schedule_1 FROM ml.training_runs WHERE schedule_id = 1;
DELETE FROM ml.training_runs WHERE status = 'queued';
SELECT id AS run, missed, coalesce(params ->> 'deploy', 'none') AS deploy_override FROM ml.claim_run('w1') \gset
SELECT :missed AS missed, :'deploy_override' AS deploy_override;
SELECT status, deployed FROM ml.execute_run(:run);

-- pause: a due schedule queues nothing; resume: missed slots are skipped, the next one is after now
UPDATE ml.schedules SET next_run_at = now() - interval '1 hour' WHERE id = 1;
SELECT ml.pause_schedule(1);
SELECT count(*) AS claimed FROM ml.claim_run('w1');
SELECT schedule, paused FROM ml.schedule_overview WHERE schedule = 1;
SELECT ml.resume_schedule(1) > now() AS resumed_in_the_future;
SELECT paused, next_run_at > now() AND next_run_at <= now() + interval '1 minute' AS on_the_grid FROM ml.schedules WHERE id = 1;
SELECT count(*) AS claimed FROM ml.claim_run('w1');
-- a cron schedule's missed slots: 03:00 on weekdays, next_run_at 15 days ago: one run, missed = the weekdays since
UPDATE ml.schedules SET next_run_at = ml.cron_next('0 3 * * mon-fri', now() - interval '15 days') WHERE id = 2;
SELECT (SELECT count(*) FROM generate_series(s.next_run_at + interval '1 day', now(), interval '1 day') d
         WHERE extract(isodow FROM d) < 6) AS weekdays_since
  FROM ml.schedules s WHERE id = 2 \gset
SELECT id AS run FROM ml.claim_run('w1') \gset
SELECT kind, missed = :weekdays_since AS missed_the_weekdays_since, missed BETWEEN 9 AND 11 AS about_two_weeks,
       params ->> 'deploy' AS deploy FROM ml.training_runs WHERE id = :run;
SELECT next_run_at = ml.cron_next('0 3 * * mon-fri', now()) AS next_slot FROM ml.schedules WHERE id = 2;
SELECT status, deployed FROM ml.execute_run(:run);
-- dropping a schedule keeps its runs (schedule_id NULL)
SELECT ml.drop_schedule(2);
SELECT schedule_id, kind FROM ml.training_runs WHERE id = :run;

-- ---------------------------------------------------------------- failures and retries
CREATE TABLE doomed AS SELECT * FROM tiny;
SELECT ml.enqueue_run('doomed', '{"source": "doomed", "label": "y", "exclude": ["id"]}', reason => 'by hand') AS run \gset
DROP TABLE doomed;
SELECT id = :run AS same, kind, status, attempt, reason FROM ml.claim_run('w1');
SELECT status, error, result ->> 'sqlstate' AS sqlstate, version, finished_at IS NOT NULL AS finished
  FROM ml.execute_run(:run);
SELECT count(*) AS versions_left FROM ml.models m JOIN ml.projects p ON p.id = m.project_id WHERE p.name = 'doomed';
SELECT status, attempt, max_attempts, retry_of = :run AS retry_of, not_before > now() + interval '25 seconds' AS backoff_30s, reason
  FROM ml.training_runs WHERE retry_of = :run;
SELECT count(*) AS claimed_too_early FROM ml.claim_run('w1');
SELECT ml.next_wakeup() BETWEEN 20 AND 30 AS wakes_up_for_the_retry;
-- second attempt fails too: the third waits twice as long; the third is the last
UPDATE ml.training_runs SET not_before = now() WHERE retry_of = :run;
SELECT id AS run, attempt FROM ml.claim_run('w1') \gset
SELECT :attempt AS attempt, status FROM ml.execute_run(:run);
SELECT attempt, retry_of = :run AS retry_of,
       round(extract(epoch FROM not_before - (SELECT finished_at FROM ml.training_runs WHERE id = :run))) AS backoff_s
  FROM ml.training_runs WHERE retry_of = :run;
UPDATE ml.training_runs SET not_before = now() WHERE retry_of = :run;
SELECT id AS run, attempt FROM ml.claim_run('w1') \gset
SELECT :attempt AS attempt, status FROM ml.execute_run(:run);
SELECT count(*) AS no_fourth_attempt FROM ml.training_runs WHERE retry_of = :run;
SELECT h.attempt, h.status, h.error, r.retry_of IS NOT NULL AS retry FROM ml.run_history h JOIN ml.training_runs r ON r.id = h.run
 WHERE h.project = 'doomed' ORDER BY h.run;

-- a cancel (here statement_timeout) is caught too: failed, no version, retried
SELECT ml.enqueue_run('slow', '{"source": "SELECT t.* FROM tiny t, pg_sleep(2)", "label": "y", "exclude": ["id"]}') AS run \gset
SELECT id = :run AS same FROM ml.claim_run('w1');
SET statement_timeout = '200ms';
SELECT status, error, result ->> 'sqlstate' AS sqlstate FROM ml.execute_run(:run);
RESET statement_timeout;
SELECT count(*) AS versions FROM ml.models m JOIN ml.projects p ON p.id = m.project_id WHERE p.name = 'slow';
SELECT attempt, status FROM ml.training_runs WHERE retry_of = :run;
DELETE FROM ml.training_runs WHERE status = 'queued';

-- fail_run: the daemon gives a claimed run back
SELECT ml.enqueue_run('tiny') AS run \gset
SELECT id = :run AS same, params ->> 'source' AS source_from_last_run, params ? 'deploy' AS has_deploy FROM ml.claim_run('w1');
SELECT status, error FROM ml.fail_run(:run, 'the daemon is shutting down');
SELECT id AS retry, attempt, status FROM ml.training_runs WHERE retry_of = :run \gset
SELECT :attempt AS attempt, :'status' AS status;
-- execute_run and fail_run need a run claimed by this session
SELECT pg_temp.try(format('SELECT ml.execute_run(%s)', :retry)) AS queued_not_claimed;
SELECT pg_temp.try(format('SELECT ml.fail_run(%s, ''x'')', :retry)) AS fail_not_claimed;
SELECT pg_temp.try($$SELECT ml.execute_run(999)$$) AS unknown_run;
UPDATE ml.training_runs SET status = 'running', backend_pid = pg_backend_pid() WHERE id = :retry;
SELECT pg_temp.try(format('SELECT ml.execute_run(%s)', :retry)) AS running_without_the_lock;

-- the reaper: the retry is 'running' but nobody holds its advisory lock (its daemon died)
UPDATE ml.training_runs SET claimed_by = 'ghost', backend_pid = 0 WHERE id = :retry;
SELECT count(*) AS claimed FROM ml.claim_run('w2');
SELECT status, error, finished_at IS NOT NULL AS finished FROM ml.training_runs WHERE id = :retry;
SELECT attempt, status, not_before > now() AS later FROM ml.training_runs WHERE retry_of = :retry;
SELECT count(*) AS locks_left FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid();
DELETE FROM ml.training_runs WHERE status = 'queued';

-- enqueue_run
SELECT pg_temp.try($$SELECT ml.enqueue_run('never_trained')$$);
SELECT pg_temp.try($$SELECT ml.enqueue_run('tiny', '{"label": "no_such_column"}')$$);
SELECT pg_temp.try($$SELECT ml.enqueue_run('tiny', kind => 'cosmic')$$);
SELECT pg_temp.try($$SELECT ml.enqueue_run('tiny', '[1]')$$);
SELECT ml.enqueue_run('tiny', '{"algorithm": "naive_bayes"}', 'monitor', 'accuracy dropped') AS run \gset
SELECT params, kind, reason, status FROM ml.training_runs WHERE id = :run;
DELETE FROM ml.training_runs WHERE status = 'queued';

-- ---------------------------------------------------------------- event-driven training
SELECT ml.drop_schedule(1);
CREATE TABLE readings (id serial, x1 float8, x2 float8, y boolean);
SELECT ml.train_on_events('readings', 'readings', '{"label": "y", "exclude": ["id"]}', after_rows => 50);
SELECT project, source, params, after_rows, quiet, deploy FROM ml.event_policies;
SELECT tgname, tgtype FROM pg_trigger WHERE tgrelid = 'readings'::regclass;
INSERT INTO readings (x1, x2, y) SELECT x1, x2, y FROM tiny WHERE id <= 30;
INSERT INTO readings (x1, x2, y) SELECT x1, x2, NULL FROM tiny WHERE id <= 5;   -- unlabelled rows do not count
INSERT INTO readings (x1, x2, y) SELECT x1, x2, y FROM tiny WHERE false;        -- nor do empty statements
SELECT id, project, rows, run_id FROM ml.training_events ORDER BY id;
SELECT count(*) AS claimed FROM ml.claim_run('w1');
INSERT INTO readings (x1, x2, y) SELECT x1, x2, y FROM tiny WHERE id > 30;
SELECT id AS run FROM ml.claim_run('w1') \gset
SELECT project, kind, reason, params ->> 'source' AS source FROM ml.training_runs WHERE id = :run;
SELECT id, rows, run_id = :run AS consumed FROM ml.training_events ORDER BY id;
SELECT status, rows, deployed FROM ml.execute_run(:run);
-- quiet: a few rows and none since for longer than quiet
SELECT ml.train_on_events('readings', 'readings', '{"label": "y", "exclude": ["id"]}', after_rows => 50,
                          quiet => '1 hour', deploy => 'manual');
SELECT ml.add_records('readings', '{"x1": 1, "x2": 2, "y": true}') AS one,
       ml.add_records('readings', '[{"x1": 3, "x2": 4, "y": false}, {"x1": 5, "y": true}]') AS two,
       ml.add_records('readings', '[]') AS none;
SELECT id, rows, run_id FROM ml.training_events WHERE run_id IS NULL ORDER BY id;
SELECT count(*) AS claimed FROM ml.claim_run('w1');
SELECT ml.next_wakeup() AS capped_at_60;
UPDATE ml.training_events SET arrived_at = now() - interval '2 hours' WHERE run_id IS NULL;
SELECT ml.next_wakeup() AS due_now;
SELECT id AS run FROM ml.claim_run('w1') \gset
SELECT kind, reason, params ->> 'deploy' AS deploy FROM ml.training_runs WHERE id = :run;
SELECT status, rows, deployed FROM ml.execute_run(:run);
SELECT x1, x2, y FROM readings WHERE id > 65 ORDER BY id;
-- add_records errors
SELECT pg_temp.try($$SELECT ml.add_records('readings', '{"x1": 1, "colour": "red", "size": 3, "y": true}')$$);
SELECT pg_temp.try($$SELECT ml.add_records('readings', '[{"x1": 1, "y": true}, {"x1": 2}, {"x1": 3, "y": null}]')$$);
SELECT pg_temp.try($$SELECT ml.add_records('readings', '{"x1": "lots", "y": true}')$$);
SELECT pg_temp.try($$SELECT ml.add_records('readings', '"x1"')$$);
SELECT pg_temp.try($$SELECT ml.add_records('readings', '[1, 2]')$$);
SELECT pg_temp.try($$SELECT ml.add_records('tiny', '{"x1": 1}')$$);
-- bad policies
SELECT pg_temp.try($$SELECT ml.train_on_events('readings', 'readings', '{}')$$);
SELECT pg_temp.try($$SELECT ml.train_on_events('readings', 'readings', '{"label": "y"}', after_rows => 0)$$);
SELECT pg_temp.try($$SELECT ml.train_on_events('readings', 'readings', '{"label": "y"}', quiet => '-1 hour')$$);
SELECT pg_temp.try($$SELECT ml.train_on_events('readings', 'readings', '{"label": "y"}', deploy => 'never')$$);
CREATE VIEW readings_view AS SELECT * FROM readings;
SELECT pg_temp.try($$SELECT ml.train_on_events('readings', 'readings_view', '{"label": "y"}')$$);
-- a view as the training source of a table's events
SELECT ml.train_on_events('readings', 'readings', '{"source": "readings_view", "label": "y", "exclude": ["id"]}');
SELECT params ->> 'source' AS source FROM ml.event_policies;
-- stop
SELECT ml.stop_training_on_events('readings');
SELECT count(*) AS triggers FROM pg_trigger WHERE tgrelid = 'readings'::regclass;
SELECT count(*) AS policies FROM ml.event_policies;
INSERT INTO readings (x1, x2, y) VALUES (1, 2, true);
SELECT count(*) AS waiting FROM ml.training_events WHERE run_id IS NULL;
SELECT pg_temp.try($$SELECT ml.stop_training_on_events('readings')$$);
SELECT pg_temp.try($$SELECT ml.add_records('readings', '{"x1": 1}')$$);

-- ---------------------------------------------------------------- the daemon's role
DROP ROLE IF EXISTS regress_jobs_daemon;
CREATE ROLE regress_jobs_daemon;
SELECT ml.grant_gateway('regress_jobs_daemon');
GRANT SELECT ON tiny TO regress_jobs_daemon;
CREATE TABLE secret AS SELECT * FROM tiny;
SELECT ml.enqueue_run('tiny', '{"source": "tiny", "label": "y", "exclude": ["id"]}') IS NOT NULL AS readable,
       ml.enqueue_run('secret', '{"source": "secret", "label": "y", "exclude": ["id"]}') IS NOT NULL AS unreadable;
SET ROLE regress_jobs_daemon;
-- a role with ml.grant_gateway cannot queue a source it cannot read ...
SELECT pg_temp.try($$SELECT ml.schedule('secret', '1 hour', '{"source": "secret", "label": "y"}')$$);
-- ... and its runs train for the role that queued them (here the superuser: both succeed),
-- not with the daemon's rights
SELECT id AS run, project, claimed_by FROM ml.claim_run('daemon') \gset
SELECT :'project' AS project, :'claimed_by' AS claimed_by;
SELECT status, version, rows FROM ml.execute_run(:run);
SELECT id AS run, project FROM ml.claim_run('daemon') \gset
SELECT :'project' AS project;
SELECT status, error, result ->> 'sqlstate' AS sqlstate FROM ml.execute_run(:run);
RESET ROLE;
DELETE FROM ml.training_runs WHERE status = 'queued';
DROP OWNED BY regress_jobs_daemon;
DROP ROLE regress_jobs_daemon;
-- only the daemon's role may claim
CREATE ROLE regress_jobs_nobody;
SET ROLE regress_jobs_nobody;
SELECT pg_temp.try($$SELECT ml.claim_run('x')$$);
RESET ROLE;
DROP ROLE regress_jobs_nobody;

SELECT count(*) AS locks_left FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid();
SELECT ml.next_wakeup() <= 60 AS capped;
RESET client_min_messages;
