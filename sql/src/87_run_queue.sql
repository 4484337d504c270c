-- ---------------------------------------------------------------- queueing runs

CREATE FUNCTION ml._queue_run(project text, params jsonb, kind text, reason text, request_id text,
                              requested_by name, search_path text) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  id bigint;
BEGIN
  PERFORM ml._check_project('ml.enqueue_run', project);
  params := ml._check_params('ml.enqueue_run', params);
  IF kind IS NULL OR kind NOT IN ('manual', 'schedule', 'event', 'monitor') THEN
    RAISE EXCEPTION 'ml.enqueue_run: kind must be manual, schedule, event or monitor, got "%"', kind
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  INSERT INTO ml.training_runs (project, params, kind, reason, request_id, requested_by, search_path)
  VALUES (project, params, kind, reason, request_id, requested_by, search_path) RETURNING training_runs.id INTO id;
  PERFORM pg_notify('pgscore_jobs', project);
  RETURN id;
END $$;

CREATE FUNCTION ml.enqueue_run(project text, params jsonb DEFAULT NULL, kind text DEFAULT 'manual',
                               reason text DEFAULT NULL, search_path text DEFAULT current_setting('search_path'))
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  known jsonb;
  who   name := ml._acting_role();
BEGIN
  PERFORM ml._require_train('ml.enqueue_run', project);
  known := ml._known_params(project);
  IF known IS NULL AND params IS NULL THEN
    RAISE EXCEPTION 'ml.enqueue_run: project "%" has no version, run, schedule or event policy to take params from', project
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Pass params, e.g. {"source": "heart_labelled", "label": "sick"}.';
  END IF;
  IF params IS NOT NULL AND jsonb_typeof(params) <> 'object' THEN
    PERFORM ml._check_params('ml.enqueue_run', params);
  END IF;
  -- a source or label named here is checked as the caller; inherited ones were accepted before
  -- (and may be unqualified names of another search_path)
  params := ml._check_source('ml.enqueue_run', ml._check_params('ml.enqueue_run', coalesce(known, '{}') || coalesce(params, '{}')),
                             who, search_path);
  -- the gateway trains (for its API keys) only on what a project admin allowed
  IF ml._is_service(who) AND NOT ml._source_allowed(project, to_regclass(params ->> 'source')) THEN
    RAISE EXCEPTION 'ml.enqueue_run: % is not an allowed training source of project "%"', params ->> 'source', project
      USING ERRCODE = 'insufficient_privilege',
            HINT = format('An admin of the project can allow it: SELECT ml.allow_source(%L, %L).', project, params ->> 'source');
  END IF;
  RETURN ml._queue_run(project, params, kind, reason, NULL, who, search_path);
END $$;
COMMENT ON FUNCTION ml.enqueue_run(text, jsonb, text, text, text) IS
  'Queues a training run for the daemon (NOTIFY pgscore_jobs) and returns its id. params: ml.train''s arguments as JSON ({"source", "label", "algorithm", "hyperparams", "test_fraction", "seed", "exclude", "deploy"}); keys left out (or NULL params) repeat the project''s last succeeded run, else its schedule, else its event policy, else its latest version''s recorded training (source, label, algorithm, hyperparams, split; the source''s other columns excluded) ("deploy" excepted); 22023 when there is none. kind: manual, schedule, event or monitor. Needs the train right on the project. The source is checked now, with the caller''s rights (a query over a temporary table, as a version trained from a Python DataFrame records, is refused: 0A000); the run trains for the caller (requested_by) and reads the source with the rights of the role it belongs to, never the daemon''s.';

-- a failed run's retry, when it has attempts left; its id or NULL
CREATE FUNCTION ml._queue_retry(r ml.training_runs) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  backoff interval;
  id bigint;
BEGIN
  IF r.attempt >= r.max_attempts THEN
    RETURN NULL;
  END IF;
  backoff := coalesce((SELECT s.retry_backoff FROM ml.schedules s WHERE s.id = r.schedule_id), interval '30 seconds');
  INSERT INTO ml.training_runs (project, params, request_id, kind, schedule_id, due_at, attempt, max_attempts,
                                retry_of, not_before, missed, reason, requested_by, search_path)
  VALUES (r.project, r.params, r.request_id, r.kind, r.schedule_id, r.due_at, r.attempt + 1, r.max_attempts,
          r.id, clock_timestamp() + backoff * power(2, r.attempt - 1), r.missed,
          format('retry %s of %s: run %s failed', r.attempt + 1, r.max_attempts, r.id), r.requested_by, r.search_path)
  ON CONFLICT (schedule_id, due_at, attempt) DO NOTHING
  RETURNING training_runs.id INTO id;
  RETURN id;
END $$;

-- ---------------------------------------------------------------- the daemon's calls

-- the session advisory lock of a run: (1885827939 = 'pgsc', run id mod 2^31)
CREATE FUNCTION ml._run_lock_key(id bigint) RETURNS int
LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT (id % 2147483648)::int $$;

-- whether this session holds a run's advisory lock
CREATE FUNCTION ml._holds_run_lock(id bigint) RETURNS boolean
LANGUAGE sql STABLE STRICT SET search_path = pg_catalog, pg_temp AS $$
  SELECT EXISTS (SELECT 1 FROM pg_locks l
                  WHERE l.locktype = 'advisory' AND l.pid = pg_backend_pid() AND l.granted
                    AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                    AND l.classid = 1885827939::oid AND l.objid = ml._run_lock_key(id)::oid AND l.objsubid = 2) $$;

CREATE FUNCTION ml.claim_run(worker text) RETURNS SETOF ml.training_runs
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  r     ml.training_runs;
  s     ml.schedules;
  ep    ml.event_policies;
  slots record;
  run   bigint;
  n     bigint;
  last  timestamptz;
  passed_over bigint[] := '{}';
BEGIN
  -- (a) runs whose daemon went away: 'running' but nobody holds their advisory lock
  FOR r IN SELECT * FROM ml.training_runs t WHERE t.status = 'running' ORDER BY t.id FOR UPDATE SKIP LOCKED LOOP
    CONTINUE WHEN ml._holds_run_lock(r.id);                      -- claimed by this very session
    CONTINUE WHEN NOT pg_try_advisory_lock(1885827939, ml._run_lock_key(r.id));
    UPDATE ml.training_runs t SET status = 'failed', finished_at = now(),
           error = format('the daemon running it went away (%s, backend pid %s)', coalesce(r.claimed_by, 'unknown worker'),
                          coalesce(r.backend_pid::text, '?'))
     WHERE t.id = r.id RETURNING * INTO r;
    PERFORM ml._queue_retry(r);
    PERFORM pg_advisory_unlock(1885827939, ml._run_lock_key(r.id));
  END LOOP;

  -- (b) due schedule slots: one run per schedule, covering every slot that came due
  FOR s IN SELECT sc.* FROM ml.schedules sc
            WHERE NOT sc.paused AND sc.next_run_at <= now()
              AND NOT EXISTS (SELECT 1 FROM ml.training_runs t
                               WHERE t.schedule_id = sc.id AND t.status IN ('queued', 'running'))
            ORDER BY sc.next_run_at FOR UPDATE OF sc SKIP LOCKED LOOP
    SELECT * INTO slots FROM ml._schedule_slots(s, now());
    INSERT INTO ml.training_runs (project, params, kind, schedule_id, due_at, max_attempts, missed, requested_by,
                                  search_path, reason)
    VALUES (s.project, s.params || CASE WHEN s.deploy = 'project' THEN '{}' ELSE jsonb_build_object('deploy', s.deploy) END,
            'schedule', s.id, s.next_run_at, s.max_attempts, slots.passed, s.created_by, s.search_path,
            format('schedule %s (%s)%s', s.id, coalesce('cron ' || s.cron, 'every ' || s.every::text),
                   CASE WHEN slots.passed > 0 THEN format(', catching up %s missed slot(s)', slots.passed) ELSE '' END))
    ON CONFLICT (schedule_id, due_at, attempt) DO NOTHING;
    UPDATE ml.schedules sc SET next_run_at = slots.next_slot WHERE sc.id = s.id;
  END LOOP;

  -- (c) event policies with enough waiting rows (or quiet long enough): one run each
  FOR ep IN SELECT e.* FROM ml.event_policies e
             WHERE NOT EXISTS (SELECT 1 FROM ml.training_runs t
                                WHERE t.project = e.project AND t.kind = 'event' AND t.status IN ('queued', 'running'))
               AND EXISTS (SELECT 1 FROM ml.training_events v WHERE v.project = e.project AND v.run_id IS NULL)
             ORDER BY e.project FOR UPDATE OF e SKIP LOCKED LOOP
    SELECT sum(v.rows), max(v.arrived_at) INTO n, last
      FROM ml.training_events v WHERE v.project = ep.project AND v.run_id IS NULL;
    CONTINUE WHEN NOT (n >= ep.after_rows OR ep.quiet IS NOT NULL AND last + ep.quiet <= now());
    INSERT INTO ml.training_runs (project, params, kind, requested_by, search_path)
    VALUES (ep.project, ep.params || CASE WHEN ep.deploy = 'project' THEN '{}' ELSE jsonb_build_object('deploy', ep.deploy) END,
            'event', ep.created_by, ep.search_path)
    RETURNING id INTO run;
    WITH consumed AS (
      UPDATE ml.training_events v SET run_id = run WHERE v.project = ep.project AND v.run_id IS NULL RETURNING v.rows)
    SELECT sum(c.rows) INTO n FROM consumed c;
    UPDATE ml.training_runs t
       SET reason = format('%s new row(s)%s', n, CASE WHEN n >= ep.after_rows THEN format(' (after_rows %s)', ep.after_rows)
                                                    ELSE format(' and none for %s (quiet)', ep.quiet) END)
     WHERE t.id = run;
  END LOOP;

  -- (d) the oldest queued run that may start (one row locked at a time: other daemons
  -- skip only the row this one takes)
  LOOP
    SELECT * INTO r FROM ml.training_runs t
     WHERE t.status = 'queued' AND t.not_before <= now() AND t.id <> ALL (passed_over)
     ORDER BY t.id LIMIT 1 FOR UPDATE SKIP LOCKED;
    EXIT WHEN NOT FOUND;
    IF pg_try_advisory_lock(1885827939, ml._run_lock_key(r.id)) THEN
      UPDATE ml.training_runs t SET status = 'running', started_at = now(), claimed_by = worker,
             backend_pid = pg_backend_pid()
       WHERE t.id = r.id RETURNING * INTO r;
      RETURN NEXT r;
      RETURN;
    END IF;
    passed_over := passed_over || r.id;     -- only if run ids 2^31 apart collide on the lock key
  END LOOP;
END $$;
COMMENT ON FUNCTION ml.claim_run(text) IS
  'The daemon''s scheduler step (autocommit): fails runs whose daemon went away (running, advisory lock free) and queues their retries; queues one run per due schedule (missed slots collapse into it) and per event policy whose rows are due; then claims the oldest queued run whose not_before has come: status running, claimed_by worker, backend_pid, and a session advisory lock (1885827939, run id mod 2^31) held until ml.execute_run or ml.fail_run. Zero rows when there is nothing to run, else that one run.';

-- execute_run's bookkeeping, as the extension owner
CREATE FUNCTION ml._begin_run(run bigint, fn text) RETURNS ml.training_runs
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  r ml.training_runs;
BEGIN
  SELECT * INTO r FROM ml.training_runs t WHERE t.id = run FOR UPDATE;   -- held while training: reapers skip it
  IF NOT FOUND THEN
    RAISE EXCEPTION '%: run % does not exist', fn, run USING ERRCODE = 'undefined_object';
  END IF;
  IF r.status <> 'running' OR r.backend_pid IS DISTINCT FROM pg_backend_pid() OR NOT ml._holds_run_lock(run) THEN
    RAISE EXCEPTION '%: run % is not claimed by this session (status %)', fn, run, r.status
      USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = 'Claim it with ml.claim_run on the same connection first.';
  END IF;
  RETURN r;
END $$;

CREATE FUNCTION ml._end_run(run bigint, res ml.training_result, error text, details jsonb) RETURNS ml.training_runs
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  r ml.training_runs;
BEGIN
  PERFORM ml._begin_run(run, 'ml.execute_run');     -- still claimed by this session
  IF error IS NULL THEN
    UPDATE ml.training_runs t
       SET status = 'succeeded', finished_at = clock_timestamp(), version = res.version, result = to_jsonb(res),
           deployed = res.deployed,
           rows = (SELECT m.train_rows + m.test_rows FROM ml.models m JOIN ml.projects p ON p.id = m.project_id
                    WHERE p.name = res.project AND m.version = res.version)
     WHERE t.id = run RETURNING * INTO r;
  ELSE
    UPDATE ml.training_runs t SET status = 'failed', finished_at = clock_timestamp(), error = _end_run.error, result = details
     WHERE t.id = run RETURNING * INTO r;
    PERFORM ml._queue_retry(r);
  END IF;
  PERFORM pg_advisory_unlock(1885827939, ml._run_lock_key(run));
  PERFORM pg_notify('pgscore_jobs', r.project);
  RETURN r;
END $$;

-- trains for the run's requester: ml.train checks and records that role and reads the
-- source with the rights of the role it belongs to, in the search_path of the request
CREATE FUNCTION ml.execute_run(run_id bigint) RETURNS ml.training_runs
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  r   ml.training_runs;
  p   jsonb;
  res ml.training_result;
  st  text;
  msg text;
  det text;
  hnt text;
BEGIN
  r := ml._begin_run(run_id, 'ml.execute_run');
  p := r.params;
  BEGIN
    PERFORM ml._set_acting_role(r.requested_by);
    res := ml.train(r.project, p ->> 'source', p ->> 'label', p ->> 'algorithm',
                    coalesce(p -> 'hyperparams', '{}'), coalesce((p ->> 'test_fraction')::float8, 0.25),
                    coalesce((p ->> 'seed')::int, 42),
                    coalesce(ARRAY(SELECT jsonb_array_elements_text(p -> 'exclude')), '{}'), p ->> 'deploy',
                    coalesce(r.search_path, '"$user", public'));
    PERFORM ml._set_acting_role(NULL);
  EXCEPTION WHEN query_canceled OR OTHERS THEN
    -- the subtransaction is rolled back: no version, no deployment
    PERFORM ml._set_acting_role(NULL);
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
    RETURN ml._end_run(run_id, NULL, msg,
             jsonb_strip_nulls(jsonb_build_object('sqlstate', st, 'detail', nullif(det, ''), 'hint', nullif(hnt, ''))));
  END;
  RETURN ml._end_run(run_id, res, NULL, NULL);
END $$;
COMMENT ON FUNCTION ml.execute_run(bigint) IS
  'Runs a run claimed by this session (ml.claim_run, same connection; else 55000): ml.train with its params, for its requester (requested_by): that role''s rights on the project, the source read with the rights of the role it belongs to, never the daemon''s. Success: status succeeded, version, result, rows, deployed. Any error, also a cancel or statement_timeout: no version is left, the run is failed with the error (result holds sqlstate, detail, hint) and a retry is queued while attempts remain. Releases the run''s advisory lock and sends NOTIFY pgscore_jobs.';

CREATE FUNCTION ml.fail_run(run_id bigint, reason text) RETURNS ml.training_runs
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM ml._begin_run(run_id, 'ml.fail_run');
  RETURN ml._end_run(run_id, NULL, coalesce(reason, 'failed by the daemon'), NULL);
END $$;
COMMENT ON FUNCTION ml.fail_run(bigint, text) IS
  'Records that a run claimed by this session could not run (e.g. the daemon is shutting down): failed with reason as its error, a retry queued while attempts remain, advisory lock released.';

CREATE FUNCTION ml.next_wakeup() RETURNS float8
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT greatest(0, least(60, min(extract(epoch FROM w.at - now()))))::float8
    FROM (SELECT sc.next_run_at AS at FROM ml.schedules sc
           WHERE NOT sc.paused
             AND NOT EXISTS (SELECT 1 FROM ml.training_runs t WHERE t.schedule_id = sc.id AND t.status IN ('queued', 'running'))
          UNION ALL
          SELECT t.not_before FROM ml.training_runs t WHERE t.status = 'queued'
          UNION ALL
          SELECT CASE WHEN sum(v.rows) >= e.after_rows THEN now() ELSE max(v.arrived_at) + e.quiet END
            FROM ml.event_policies e JOIN ml.training_events v ON v.project = e.project AND v.run_id IS NULL
           WHERE NOT EXISTS (SELECT 1 FROM ml.training_runs t
                              WHERE t.project = e.project AND t.kind = 'event' AND t.status IN ('queued', 'running'))
           GROUP BY e.project, e.after_rows, e.quiet
          UNION ALL
          SELECT now() + interval '60 seconds') w $$;
COMMENT ON FUNCTION ml.next_wakeup() IS
  'Seconds until ml.claim_run may have something to do: the next schedule slot, a retry''s not_before, an event policy''s quiet deadline; 0 if something is due now, at most 60. The daemon sleeps that long or until NOTIFY pgscore_jobs.';


REVOKE EXECUTE ON FUNCTION ml._queue_run(text, jsonb, text, text, text, name, text), ml.enqueue_run(text, jsonb, text, text, text),
  ml._queue_retry(ml.training_runs), ml.claim_run(text), ml.execute_run(bigint), ml.fail_run(bigint, text),
  ml.next_wakeup(), ml._begin_run(bigint, text), ml._end_run(bigint, ml.training_result, text, jsonb) FROM PUBLIC;
