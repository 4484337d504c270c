-- ---------------------------------------------------------------- schedules

CREATE FUNCTION ml._insert_schedule(project text, every interval, cron text, params jsonb, deploy text,
                                    max_attempts int, retry_backoff interval, next_run_at timestamptz,
                                    created_by name, search_path text)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  id bigint;
BEGIN
  PERFORM ml._check_project('ml.schedule', project);
  PERFORM ml._check_deploy('ml.schedule', deploy, true);
  params := ml._check_params('ml.schedule', params);
  IF cron IS NOT NULL THEN
    PERFORM ml._cron_parse(cron);
  END IF;
  INSERT INTO ml.schedules (project, every, cron, params, deploy, max_attempts, retry_backoff, next_run_at,
                            created_by, search_path)
  VALUES (project, every, cron, params, deploy, max_attempts, retry_backoff, next_run_at, created_by, search_path)
  RETURNING schedules.id INTO id;
  PERFORM pg_notify('pgscore_jobs', project);
  RETURN id;
END $$;

CREATE FUNCTION ml.schedule(project text, every_or_cron text, params jsonb, deploy text DEFAULT 'project',
                            max_attempts int DEFAULT 3, retry_backoff interval DEFAULT '30 seconds',
                            search_path text DEFAULT current_setting('search_path'))
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  who   name := ml._acting_role();
  e     text := btrim(every_or_cron);
  every interval;
  cron  text;
  first timestamptz;
BEGIN
  PERFORM ml._require_train('ml.schedule', project);
  PERFORM ml._check_deploy('ml.schedule', deploy, true);
  IF max_attempts IS NULL OR max_attempts < 1 THEN
    RAISE EXCEPTION 'ml.schedule: max_attempts must be at least 1, got %', max_attempts USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF retry_backoff IS NULL OR retry_backoff < interval '0' THEN
    RAISE EXCEPTION 'ml.schedule: retry_backoff must not be negative, got %', retry_backoff USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF e IS NULL THEN
    RAISE EXCEPTION 'ml.schedule: every_or_cron is needed' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  -- cron: @daily..., or five fields whose words are all month or day names ('1 day 2 hours 3'
  -- is an interval); anything else must be an interval
  IF e LIKE '@%' OR cardinality(regexp_split_to_array(e, '\s+')) = 5
     AND NOT EXISTS (SELECT 1 FROM regexp_matches(lower(e), '[a-z]+', 'g') w
                      WHERE w[1] <> ALL (ARRAY['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct',
                                               'nov', 'dec', 'sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'])) THEN
    cron := e;
    first := ml.cron_next(cron, now());     -- a bad or never-matching expression fails here
  ELSE
    BEGIN
      every := e::interval;
    EXCEPTION WHEN invalid_datetime_format OR datetime_field_overflow OR interval_field_overflow THEN
      RAISE EXCEPTION 'ml.schedule: "%" is neither an interval nor a 5-field cron expression', every_or_cron
        USING ERRCODE = 'invalid_parameter_value',
              HINT = 'For example ''1 hour'', ''30 seconds'', ''0 3 * * *'' (03:00 UTC daily) or ''*/15 * * * *''.';
    END;
    IF every <= interval '0' THEN
      RAISE EXCEPTION 'ml.schedule: the interval must be positive, got "%"', every_or_cron
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
    first := now() + every;
  END IF;
  params := ml._check_source('ml.schedule', ml._check_params('ml.schedule', params), who, search_path);
  RETURN ml._insert_schedule(project, every, cron, params, deploy, max_attempts, retry_backoff, first, who, search_path);
END $$;
COMMENT ON FUNCTION ml.schedule(text, text, jsonb, text, int, interval, text) IS
  'Retrains a project periodically (needs the train right on it; each run trains for the schedule''s creator, with its rights); returns the schedule id. every_or_cron: an interval (''1 hour'', ''30 seconds''; the first run one interval from now) or a 5-field cron expression in UTC (''0 3 * * mon-fri''). params: ml.train''s arguments as JSON, at least source and label (a table, view or query; not a query over a temporary table: 0A000). deploy: project (the project''s policy), best_score, most_recent or manual. A failed run is retried up to max_attempts in all, after retry_backoff, doubling. Slots missed while no daemon ran become one catch-up run (ml.training_runs.missed counts them).';

CREATE FUNCTION ml._schedule_row(fn text, id bigint) RETURNS ml.schedules
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  s ml.schedules;
BEGIN
  SELECT * INTO s FROM ml.schedules WHERE schedules.id = _schedule_row.id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION '%: schedule % does not exist', fn, id USING ERRCODE = 'undefined_object';
  END IF;
  PERFORM ml._require_train(fn, s.project);
  RETURN s;
END $$;

CREATE FUNCTION ml.pause_schedule(id bigint) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM ml._schedule_row('ml.pause_schedule', id);
  UPDATE ml.schedules SET paused = true WHERE schedules.id = pause_schedule.id;
END $$;
COMMENT ON FUNCTION ml.pause_schedule(bigint) IS
  'Stops a schedule from queuing runs (runs already queued still run). ml.resume_schedule starts it again.';

CREATE FUNCTION ml.resume_schedule(id bigint) RETURNS timestamptz
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  s ml.schedules;
BEGIN
  s := ml._schedule_row('ml.resume_schedule', id);
  IF NOT s.paused THEN
    RETURN s.next_run_at;
  END IF;
  UPDATE ml.schedules SET paused = false, next_run_at = (ml._schedule_slots(s, now())).next_slot
   WHERE schedules.id = resume_schedule.id RETURNING * INTO s;
  PERFORM pg_notify('pgscore_jobs', s.project);
  RETURN s.next_run_at;
END $$;
COMMENT ON FUNCTION ml.resume_schedule(bigint) IS
  'Restarts a paused schedule; slots that passed meanwhile are skipped (no catch-up run). Returns the next slot (of a schedule not paused: unchanged).';

CREATE FUNCTION ml.drop_schedule(id bigint) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM ml._schedule_row('ml.drop_schedule', id);
  UPDATE ml.training_runs SET status = 'failed', finished_at = now(),
         error = format('cancelled: schedule %s was dropped', drop_schedule.id)
   WHERE schedule_id = drop_schedule.id AND status = 'queued';
  DELETE FROM ml.schedules WHERE schedules.id = drop_schedule.id;
END $$;
COMMENT ON FUNCTION ml.drop_schedule(bigint) IS
  'Deletes a schedule; its queued runs are cancelled (failed), its history stays in ml.training_runs (schedule_id set to NULL).';


REVOKE EXECUTE ON FUNCTION ml._insert_schedule(text, interval, text, jsonb, text, int, interval, timestamptz, name, text),
  ml.schedule(text, text, jsonb, text, int, interval, text), ml.pause_schedule(bigint), ml.resume_schedule(bigint),
  ml.drop_schedule(bigint) FROM PUBLIC;
