-- ---------------------------------------------------------------- training jobs
-- Scheduled and event-driven training. All state is in tables; `pgscore serve` (any
-- number of replicas) only calls the functions below, each in autocommit mode:
--
--   loop: SELECT * FROM ml.claim_run(worker)      -- zero rows: nothing to do
--         SELECT * FROM ml.execute_run(run.id)    -- same session, right after
--         otherwise wait ml.next_wakeup() seconds or for NOTIFY pgscore_jobs
--
-- A run (ml.training_runs) is queued -> running -> succeeded | failed. Its params are
-- ml.train's arguments as JSON: {"source", "label", "algorithm", "hyperparams",
-- "test_fraction", "seed", "exclude", "deploy"}.
--
-- Exactly once. A schedule slot becomes one run: claim_run locks due schedules FOR
-- UPDATE SKIP LOCKED, inserts the run and moves next_run_at past now() in the same
-- transaction, and UNIQUE (schedule_id, due_at, attempt) refuses a second run of a slot.
-- A queued run is claimed by one session (FOR UPDATE SKIP LOCKED) which then holds a
-- session advisory lock on it, key (1885827939, run id mod 2^31) -- 1885827939 is
-- 'pgsc' in ASCII -- until execute_run or fail_run ends it. A run that stays 'running'
-- while nobody holds its lock lost its daemon (crash, killed connection): the next
-- claim_run anywhere marks it failed and queues its retry.
--
-- Missed slots. While no daemon runs (or a schedule's previous run is still queued or
-- running), its due slots are not queued one by one: the next claim_run queues ONE
-- catch-up run for them. Its due_at is the oldest pending slot (the schedule's
-- next_run_at) and its missed column counts the later slots that also came due up to
-- now(); next_run_at moves to the first slot after now(). A 1-minute schedule whose
-- next_run_at was 10 minutes ago gives one run with missed = 10. A paused schedule
-- queues nothing; resuming it skips the slots it missed. Likewise an event policy has at
-- most one event run queued or running: rows arriving meanwhile wait for the next one.
--
-- Retries. A failed run (an error in ml.train, a cancel, a vanished daemon, fail_run)
-- is retried while attempt < max_attempts: a new queued run with attempt + 1,
-- retry_of = the failed run and not_before = failure time + backoff * 2^(attempt - 1),
-- backoff being the schedule's retry_backoff (30 seconds for other runs). The failed
-- run itself stays in the history.
--
-- Rights. Every run records the role it is for (requested_by: who queued it, or who made
-- its schedule, event policy or monitor) and the search_path its names were written in.
-- ml.execute_run trains for that role: rights are checked and recorded as it
-- (ml._acting_role), and the source is read with the rights of the role it belongs to
-- (ml._source_reader, ml._read_as: never the daemon's). Queue, schedule and event-policy
-- functions are SECURITY DEFINER: they need the train right on the project and check,
-- with the requester's rights, that the source can be read and has the label; the
-- helpers they call are granted to no one.

CREATE TABLE ml.schedules (
    id            bigserial PRIMARY KEY,
    project       text NOT NULL CHECK (project ~ '^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$'),
    every         interval CHECK (every > interval '0'),
    cron          text,
    params        jsonb NOT NULL,
    deploy        text NOT NULL DEFAULT 'project'
                  CHECK (deploy IN ('project', 'best_score', 'most_recent', 'manual')),
    paused        boolean NOT NULL DEFAULT false,
    next_run_at   timestamptz NOT NULL,
    max_attempts  int NOT NULL DEFAULT 3 CHECK (max_attempts >= 1),
    retry_backoff interval NOT NULL DEFAULT '30 seconds' CHECK (retry_backoff >= interval '0'),
    created_by    name NOT NULL DEFAULT session_user,
    search_path   text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CHECK ((every IS NULL) <> (cron IS NULL))
);
CREATE INDEX ON ml.schedules (next_run_at) WHERE NOT paused;
COMMENT ON TABLE ml.schedules IS
  'Periodic retraining (ml.schedule): every interval or at a 5-field cron expression (UTC), ml.train''s params, a deploy override (project = the project''s policy), paused, the next slot, retries (max_attempts, retry_backoff doubling per attempt). Slots missed while no daemon ran collapse into one catch-up run.';

CREATE TABLE ml.training_runs (
    id           bigserial PRIMARY KEY,
    project      text NOT NULL,
    status       text NOT NULL DEFAULT 'queued'
                 CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
    error        text,
    params       jsonb NOT NULL DEFAULT '{}',
    version      int,
    result       jsonb,
    request_id   text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    started_at   timestamptz,
    finished_at  timestamptz,
    kind         text NOT NULL DEFAULT 'manual' CHECK (kind IN ('manual', 'schedule', 'event', 'monitor')),
    schedule_id  bigint REFERENCES ml.schedules ON DELETE SET NULL,
    due_at       timestamptz,
    attempt      int NOT NULL DEFAULT 1 CHECK (attempt >= 1),
    max_attempts int NOT NULL DEFAULT 3 CHECK (max_attempts >= 1),
    retry_of     bigint,
    not_before   timestamptz NOT NULL DEFAULT now(),
    claimed_by   text,
    backend_pid  int,
    rows         bigint,
    deployed     boolean,
    reason       text,
    missed       int NOT NULL DEFAULT 0,
    requested_by name NOT NULL DEFAULT session_user,
    search_path  text,
    UNIQUE (schedule_id, due_at, attempt)
);
CREATE INDEX ON ml.training_runs (project, id);
CREATE INDEX ON ml.training_runs (id) WHERE status IN ('queued', 'running');
COMMENT ON TABLE ml.training_runs IS
  'Training runs: manual (REST gateway, ml.enqueue_run), schedule, event or monitor. ml.train''s params, status (queued, running, succeeded, failed), the error of a failed run, the version it made with ml.train''s result, training rows and whether it deployed; for schedules the slot (due_at) and the slots it covers (missed); attempt / max_attempts / retry_of / not_before for retries; claimed_by and backend_pid of the daemon running it. UNIQUE (schedule_id, due_at, attempt): a slot never runs twice.';
COMMENT ON COLUMN ml.training_runs.missed IS 'schedule slots that came due after due_at and before this run was queued, covered by it instead of running one by one';
COMMENT ON COLUMN ml.training_runs.requested_by IS 'the role the run trains for: its rights on the project and on the source apply, and it is recorded as the version''s trainer';
COMMENT ON COLUMN ml.training_runs.rows IS 'labelled rows ml.train read (training + test rows of the version)';

CREATE TABLE ml.event_policies (
    project    text PRIMARY KEY CHECK (project ~ '^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$'),
    source     regclass NOT NULL,
    params     jsonb NOT NULL,
    after_rows int NOT NULL DEFAULT 100 CHECK (after_rows >= 1),
    quiet      interval CHECK (quiet > interval '0'),
    deploy     text NOT NULL DEFAULT 'project'
               CHECK (deploy IN ('project', 'best_score', 'most_recent', 'manual')),
    created_by name NOT NULL DEFAULT session_user,
    search_path text,
    created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE ml.event_policies IS
  'Event-driven training (ml.train_on_events): rows inserted into source queue ml.training_events; a run is due once they add up to after_rows, or once the last one is older than quiet (when set).';

CREATE TABLE ml.training_events (
    id         bigserial PRIMARY KEY,
    project    text NOT NULL,
    rows       bigint NOT NULL,
    arrived_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    run_id     bigint
);
CREATE INDEX ON ml.training_events (project, id) WHERE run_id IS NULL;
COMMENT ON TABLE ml.training_events IS
  'The durable queue of new labelled rows per project, one row per INSERT or COPY statement into an event policy''s source; run_id is set when a run consumes it.';

-- jobs are user data: pg_dump must carry them
SELECT pg_catalog.pg_extension_config_dump('ml.schedules', '');
SELECT pg_catalog.pg_extension_config_dump('ml.training_runs', '');
SELECT pg_catalog.pg_extension_config_dump('ml.event_policies', '');
SELECT pg_catalog.pg_extension_config_dump('ml.training_events', '');
SELECT pg_catalog.pg_extension_config_dump('ml.schedules_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('ml.training_runs_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('ml.training_events_id_seq', '');

-- ---------------------------------------------------------------- cron expressions
-- minute hour day-of-month month day-of-week, evaluated in UTC, Vixie cron rules: *,
-- a, a-b, lists, steps */n and a-b/n, jan-dec and sun-sat, day of week 0 and 7 =
-- Sunday; when both day fields are restricted a day matching either runs (a field
-- starting with * counts as unrestricted, as in Vixie cron). @hourly, @daily,
-- @midnight, @weekly, @monthly, @yearly and @annually are shorthands.

CREATE TYPE ml._cron AS (minutes int[], hours int[], doms int[], months int[], dows int[],
                         dom_star boolean, dow_star boolean);

CREATE FUNCTION ml._cron_field(expr text, field text, pos int, lo int, hi int, names text[])
RETURNS int[]
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  what  constant text[] := ARRAY['minute', 'hour', 'day of month', 'month', 'day of week'];
  item  text;
  m     text[];
  tok   text;
  ends  int[];
  a     int;
  b     int;
  step  int;
  vals  int[] := '{}';
  fail  text;
BEGIN
  <<items>>
  FOREACH item IN ARRAY string_to_array(lower(field), ',') LOOP
    m := regexp_match(item, '^(\*|[0-9a-z]+)(?:-([0-9a-z]+))?(?:/([0-9]+))?$');
    IF m IS NULL THEN
      fail := format('"%s" is not *, a value, a range a-b or a step */n, a-b/n', item);
      EXIT;
    END IF;
    IF m[1] = '*' AND m[2] IS NOT NULL THEN
      fail := format('"%s": * takes no range', item);
      EXIT;
    END IF;
    IF m[1] <> '*' AND m[2] IS NULL AND m[3] IS NOT NULL THEN
      fail := format('"%s": a step needs * or a range (%s-%s/%s)', item, m[1], hi, m[3]);
      EXIT;
    END IF;
    ends := '{}';
    FOREACH tok IN ARRAY ARRAY[m[1], m[2]] LOOP
      CONTINUE WHEN tok IS NULL OR tok = '*';
      IF tok ~ '^[0-9]{1,4}$' THEN
        a := tok::int;
      ELSIF array_position(names, tok) IS NOT NULL THEN
        a := array_position(names, tok) - 1 + lo;
      ELSE
        fail := format('"%s" is not a number%s', tok,
                       CASE WHEN names IS NOT NULL THEN ' or one of ' || array_to_string(names, ', ') ELSE '' END);
        EXIT items;
      END IF;
      IF a < lo OR a > hi THEN
        fail := format('%s is out of range %s-%s', tok, lo, hi);
        EXIT items;
      END IF;
      ends := ends || a;
    END LOOP;
    IF m[1] = '*' THEN
      a := lo;
      b := CASE WHEN pos = 5 THEN 6 ELSE hi END;
    ELSE
      a := ends[1];
      b := coalesce(ends[2], a);
    END IF;
    IF a > b THEN
      fail := format('range "%s" runs backwards', item);
      EXIT;
    END IF;
    step := coalesce(substr(m[3], 1, 6)::int, 1);
    IF step = 0 THEN
      fail := format('"%s": a step must be at least 1', item);
      EXIT;
    END IF;
    vals := vals || ARRAY(SELECT generate_series(a, b, step));
  END LOOP;
  IF fail IS NULL AND (field = '' OR cardinality(vals) = 0) THEN
    fail := 'empty';
  END IF;
  IF fail IS NOT NULL THEN
    RAISE EXCEPTION 'bad cron expression "%": % field: %', expr, what[pos], fail
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Five fields: minute (0-59) hour (0-23) day-of-month (1-31) month (1-12 or jan-dec) day-of-week (0-7 or sun-sat, 0 and 7 = Sunday); each *, a value, a range a-b, a list a,b, or a step */n or a-b/n.';
  END IF;
  IF pos = 5 THEN
    vals := ARRAY(SELECT CASE WHEN v = 7 THEN 0 ELSE v END FROM unnest(vals) v);
  END IF;
  RETURN ARRAY(SELECT DISTINCT v FROM unnest(vals) v ORDER BY v);
END $$;

CREATE FUNCTION ml._cron_parse(expr text) RETURNS ml._cron
LANGUAGE plpgsql IMMUTABLE STRICT SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  e text := lower(btrim(expr));
  f text[];
  c ml._cron;
BEGIN
  e := CASE e WHEN '@yearly' THEN '0 0 1 1 *' WHEN '@annually' THEN '0 0 1 1 *'
              WHEN '@monthly' THEN '0 0 1 * *' WHEN '@weekly' THEN '0 0 * * 0'
              WHEN '@daily' THEN '0 0 * * *' WHEN '@midnight' THEN '0 0 * * *'
              WHEN '@hourly' THEN '0 * * * *' ELSE e END;
  IF e LIKE '@%' THEN
    RAISE EXCEPTION 'bad cron expression "%": unknown shorthand', expr
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Use @hourly, @daily, @midnight, @weekly, @monthly, @yearly or @annually, or five fields.';
  END IF;
  f := regexp_split_to_array(e, '\s+');
  IF e = '' OR cardinality(f) <> 5 THEN
    RAISE EXCEPTION 'bad cron expression "%": it has % fields, not 5', expr, CASE WHEN e = '' THEN 0 ELSE cardinality(f) END
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Five fields: minute hour day-of-month month day-of-week, e.g. "*/15 * * * *" or "0 3 * * mon-fri".';
  END IF;
  c.minutes := ml._cron_field(expr, f[1], 1, 0, 59, NULL);
  c.hours := ml._cron_field(expr, f[2], 2, 0, 23, NULL);
  c.doms := ml._cron_field(expr, f[3], 3, 1, 31, NULL);
  c.months := ml._cron_field(expr, f[4], 4, 1, 12,
                ARRAY['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec']);
  c.dows := ml._cron_field(expr, f[5], 5, 0, 7, ARRAY['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat']);
  c.dom_star := f[3] LIKE '*%';
  c.dow_star := f[5] LIKE '*%';
  RETURN c;
END $$;

-- whether cron runs on a day (month, and day of month / day of week by Vixie's rule)
CREATE FUNCTION ml._cron_day(c ml._cron, day date) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT SET search_path = pg_catalog, pg_temp AS $$
  SELECT extract(month FROM day)::int = ANY (c.months)
     AND CASE WHEN c.dom_star OR c.dow_star
              THEN extract(day FROM day)::int = ANY (c.doms) AND extract(dow FROM day)::int = ANY (c.dows)
              ELSE extract(day FROM day)::int = ANY (c.doms) OR extract(dow FROM day)::int = ANY (c.dows) END $$;

-- the first matching minute strictly after a time: skips whole months, days and hours
CREATE FUNCTION ml._cron_next(c ml._cron, after timestamptz, expr text) RETURNS timestamptz
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  t    timestamp;
  y    int;
  mo   int;
  d    int;
  h    int;
  mi   int;
  nh   int;
  nm   int;
  last int;
BEGIN
  IF after IS NULL OR NOT isfinite(after) THEN
    RAISE EXCEPTION 'ml.cron_next: the time must be finite, got %', after USING ERRCODE = 'invalid_parameter_value';
  END IF;
  t := date_trunc('minute', after AT TIME ZONE 'UTC') + interval '1 minute';
  y := extract(year FROM t); mo := extract(month FROM t); d := extract(day FROM t);
  h := extract(hour FROM t); mi := extract(minute FROM t);
  last := y + 9;     -- a 29 February comes within 8 years, also around 2100
  LOOP
    IF y > last THEN
      RAISE EXCEPTION 'bad cron expression "%": its day of month and month fields never meet (no such date)', expr
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT mo = ANY (c.months) OR d > extract(day FROM make_date(y, mo, 1) + interval '1 month - 1 day') THEN
      mo := mo + 1; d := 1; h := 0; mi := 0;
      IF mo > 12 THEN mo := 1; y := y + 1; END IF;
      CONTINUE;
    END IF;
    IF NOT ml._cron_day(c, make_date(y, mo, d)) THEN
      d := d + 1; h := 0; mi := 0;
      CONTINUE;
    END IF;
    nh := (SELECT min(x) FROM unnest(c.hours) x WHERE x >= h);
    IF nh IS NULL THEN
      d := d + 1; h := 0; mi := 0;
      CONTINUE;
    END IF;
    IF nh > h THEN h := nh; mi := 0; END IF;
    nm := (SELECT min(x) FROM unnest(c.minutes) x WHERE x >= mi);
    IF nm IS NULL THEN
      h := h + 1; mi := 0;
      CONTINUE;
    END IF;
    RETURN make_timestamptz(y, mo, d, h, nm, 0, 'UTC');
  END LOOP;
END $$;

CREATE FUNCTION ml.cron_next(expr text, after timestamptz DEFAULT now()) RETURNS timestamptz
LANGUAGE sql STABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
  SELECT ml._cron_next(ml._cron_parse(expr), after, expr) $$;
COMMENT ON FUNCTION ml.cron_next(text, timestamptz) IS
  'The first minute strictly after a time that a 5-field cron expression (minute hour day-of-month month day-of-week) matches, in UTC. Vixie cron rules: *, a, a-b, a,b, */n, a-b/n, jan-dec, sun-sat, day of week 0 and 7 = Sunday; when both day fields are restricted either may match. @hourly, @daily, @weekly, @monthly, @yearly too. A bad or never-matching expression is an error 22023.';

-- how many matching minutes lie in (a, b]: a day at a time
CREATE FUNCTION ml._cron_count(c ml._cron, a timestamptz, b timestamptz) RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT SET search_path = pg_catalog, pg_temp AS $$
  WITH bounds AS (SELECT a AT TIME ZONE 'UTC' AS lo, b AT TIME ZONE 'UTC' AS hi)
  SELECT coalesce(sum(CASE WHEN g.day > date_trunc('day', lo) AND g.day < date_trunc('day', hi)
                           THEN cardinality(c.hours)::bigint * cardinality(c.minutes)
                           ELSE (SELECT count(*) FROM unnest(c.hours) hh, unnest(c.minutes) mm
                                  WHERE g.day + make_interval(hours => hh, mins => mm) > lo
                                    AND g.day + make_interval(hours => hh, mins => mm) <= hi) END), 0)::bigint
    FROM bounds, generate_series(date_trunc('day', lo), date_trunc('day', hi), interval '1 day') g(day)
   WHERE hi > lo AND ml._cron_day(c, g.day::date) $$;

-- a schedule's first slot after t, and how many slots lie in (next_run_at, t]
CREATE FUNCTION ml._schedule_slots(s ml.schedules, t timestamptz, OUT next_slot timestamptz, OUT passed int)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  j bigint;
BEGIN
  IF s.next_run_at > t THEN
    next_slot := s.next_run_at;
    passed := 0;
  ELSIF s.cron IS NOT NULL THEN
    passed := least(ml._cron_count(ml._cron_parse(s.cron), s.next_run_at, t), 2147483647);
    next_slot := ml._cron_next(ml._cron_parse(s.cron), t, s.cron);
  ELSE
    -- slots are next_run_at + k * every (k * every, not repeated addition: no drift at month ends)
    j := floor(extract(epoch FROM t - s.next_run_at) / extract(epoch FROM s.every));
    WHILE j > 0 AND s.next_run_at + s.every * j > t LOOP j := j - 1; END LOOP;
    WHILE s.next_run_at + s.every * (j + 1) <= t LOOP j := j + 1; END LOOP;
    passed := least(j, 2147483647);
    next_slot := s.next_run_at + s.every * (j + 1);
  END IF;
END $$;

-- ---------------------------------------------------------------- params and sources

CREATE FUNCTION ml._check_project(fn text, project text) RETURNS void
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF project IS NULL OR project !~ '^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$' THEN
    RAISE EXCEPTION '%: "%" is not a project name', fn, project
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Letters, digits, _ . -, at most 63 characters, not starting with . or -.';
  END IF;
END $$;

CREATE FUNCTION ml._check_deploy(fn text, deploy text, allow_project boolean) RETURNS void
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF deploy IS NULL AND allow_project OR deploy NOT IN ('best_score', 'most_recent', 'manual')
     AND NOT (allow_project AND deploy = 'project') THEN
    RAISE EXCEPTION '%: deploy must be %best_score, most_recent or manual, got "%"', fn,
      CASE WHEN allow_project THEN 'project (the project''s policy), ' ELSE '' END, deploy
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
END $$;

-- ml.train's arguments as JSON: the known keys with the right JSON types
CREATE FUNCTION ml._check_params(fn text, params jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  known constant text[] := ARRAY['source', 'label', 'algorithm', 'hyperparams', 'test_fraction', 'seed', 'exclude', 'deploy'];
  bad   text[];
  k     text;
  want  text;
BEGIN
  IF params IS NULL OR jsonb_typeof(params) <> 'object' THEN
    RAISE EXCEPTION '%: params must be a JSON object of ml.train''s arguments', fn
      USING ERRCODE = 'invalid_parameter_value', HINT = 'Keys: ' || array_to_string(known, ', ') || '.';
  END IF;
  params := jsonb_strip_nulls(params);
  bad := ARRAY(SELECT k2 FROM jsonb_object_keys(params) k2 WHERE k2 <> ALL (known) ORDER BY 1);
  IF cardinality(bad) > 0 THEN
    RAISE EXCEPTION '%: unknown key(s) in params: %', fn, array_to_string(bad, ', ')
      USING ERRCODE = 'invalid_parameter_value', HINT = 'Keys: ' || array_to_string(known, ', ') || '.';
  END IF;
  FOREACH k IN ARRAY known LOOP
    CONTINUE WHEN NOT params ? k;
    want := CASE k WHEN 'hyperparams' THEN 'object' WHEN 'test_fraction' THEN 'number' WHEN 'seed' THEN 'number'
                   WHEN 'exclude' THEN 'array' ELSE 'string' END;
    IF (CASE WHEN jsonb_typeof(params -> k) <> want THEN true
            WHEN k = 'seed' THEN (params ->> k)::numeric <> trunc((params ->> k)::numeric)
                                 OR abs((params ->> k)::numeric) > 2147483647
            WHEN k = 'exclude' THEN EXISTS (SELECT 1 FROM jsonb_array_elements(params -> k) e WHERE jsonb_typeof(e) <> 'string')
            ELSE false END) THEN
      RAISE EXCEPTION '%: params "%" must be %', fn, k,
        CASE k WHEN 'seed' THEN 'an integer' WHEN 'exclude' THEN 'an array of column names'
               WHEN 'hyperparams' THEN 'an object' ELSE 'a ' || want END
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
  END LOOP;
  IF NOT params ? 'source' OR NOT params ? 'label' THEN
    RAISE EXCEPTION '%: params need at least "source" and "label"', fn
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'For example {"source": "heart_labelled", "label": "sick", "exclude": ["num"]}.';
  END IF;
  IF params ? 'deploy' THEN
    PERFORM ml._check_deploy(fn, params ->> 'deploy', false);
  END IF;
  RETURN params;
END $$;

-- the source exists, the requester may read it and it has the label (checked by planning
-- it with the rights of the role it belongs to); a table or view name comes back
-- schema-qualified (the daemon's search_path differs)
CREATE FUNCTION ml._check_source(fn text, params jsonb, requester name, search_path text) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  src text := ml._source_sql(fn, params ->> 'source', search_path);
BEGIN
  IF left(src, 1) <> '(' THEN
    params := params || jsonb_build_object('source', src);
  END IF;
  BEGIN
    PERFORM ml._read_as(ml._source_reader(fn, src, requester), search_path,
                        format('SELECT s.%I FROM %s s', params ->> 'label', src), NULL);
  EXCEPTION WHEN undefined_column THEN
    RAISE EXCEPTION '%: label column "%" is not in the source', fn, params ->> 'label' USING ERRCODE = 'undefined_column';
  END;
  RETURN params;
END $$;

-- the project, if the acting role may train it; a project that does not exist yet is
-- created by the run's ml.train, owned by the requester
CREATE FUNCTION ml._require_train(fn text, project text) RETURNS void
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM ml._check_project(fn, project);
  IF EXISTS (SELECT 1 FROM ml.projects p WHERE p.name = project) THEN
    PERFORM ml._require(fn, project, 'train');
  END IF;
END $$;

-- the params of a project's last succeeded run, else of its schedule or event policy
CREATE FUNCTION ml._known_params(project text) RETURNS jsonb
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT coalesce(
    (SELECT r.params FROM ml.training_runs r WHERE r.project = $1 AND r.status = 'succeeded' ORDER BY r.id DESC LIMIT 1),
    (SELECT s.params FROM ml.schedules s WHERE s.project = $1 ORDER BY s.id DESC LIMIT 1),
    (SELECT e.params FROM ml.event_policies e WHERE e.project = $1),
    -- a project trained only by calling ml.train: its latest version's recorded training;
    -- the source's other columns were left out then (by exclude, or dropped as constant)
    (SELECT jsonb_build_object('source', m.source, 'label', m.label, 'algorithm', m.algorithm,
                               'hyperparams', m.hyperparams, 'test_fraction', m.split -> 'test_fraction',
                               'seed', m.split -> 'seed',
                               'exclude', (SELECT coalesce(jsonb_agg(a.attname ORDER BY a.attnum), '[]')
                                             FROM pg_attribute a
                                            WHERE a.attrelid = to_regclass(m.source) AND a.attnum > 0
                                              AND NOT a.attisdropped AND a.attname <> m.label
                                              AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(m.features) f
                                                               WHERE f ->> 'name' = a.attname)))
       FROM ml.models m JOIN ml.projects p ON p.id = m.project_id
      WHERE p.name = $1 ORDER BY m.version DESC LIMIT 1)) - 'deploy' $$;

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
  'Queues a training run for the daemon (NOTIFY pgscore_jobs) and returns its id. params: ml.train''s arguments as JSON ({"source", "label", "algorithm", "hyperparams", "test_fraction", "seed", "exclude", "deploy"}); keys left out (or NULL params) repeat the project''s last succeeded run, else its schedule, else its event policy, else its latest version''s recorded training (source, label, algorithm, hyperparams, split; the source''s other columns excluded) ("deploy" excepted); 22023 when there is none. kind: manual, schedule, event or monitor. Needs the train right on the project. The source is checked now, with the caller''s rights; the run trains for the caller (requested_by) and reads the source with the rights of the role it belongs to, never the daemon''s.';

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
  'Retrains a project periodically (needs the train right on it; each run trains for the schedule''s creator, with its rights); returns the schedule id. every_or_cron: an interval (''1 hour'', ''30 seconds''; the first run one interval from now) or a 5-field cron expression in UTC (''0 3 * * mon-fri''). params: ml.train''s arguments as JSON, at least source and label. deploy: project (the project''s policy), best_score, most_recent or manual. A failed run is retried up to max_attempts in all, after retry_backoff, doubling. Slots missed while no daemon ran become one catch-up run (ml.training_runs.missed counts them).';

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

-- ---------------------------------------------------------------- event-driven training

-- AFTER INSERT ... FOR EACH STATEMENT with the new rows as a transition table;
-- TG_ARGV: project, and the label column if the table has it (then only labelled rows count)
CREATE FUNCTION ml._queue_training_event() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  n bigint;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM ml.event_policies e WHERE e.project = TG_ARGV[0] AND e.source = TG_RELID) THEN
    RETURN NULL;
  END IF;
  IF TG_ARGV[1] <> '' THEN
    EXECUTE format('SELECT count(*) FROM pgscore_new_rows WHERE %I IS NOT NULL', TG_ARGV[1]) INTO n;
  ELSE
    SELECT count(*) INTO n FROM pgscore_new_rows;
  END IF;
  IF n > 0 THEN
    INSERT INTO ml.training_events (project, rows) VALUES (TG_ARGV[0], n);
    PERFORM pg_notify('pgscore_jobs', TG_ARGV[0]);
  END IF;
  RETURN NULL;
END $$;

CREATE FUNCTION ml._events_trigger_name(project text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT AS $$
  SELECT CASE WHEN length('ml_events_' || project) <= 63 THEN 'ml_events_' || project
              ELSE 'ml_events_' || md5(project) END $$;

CREATE FUNCTION ml._save_event_policy(project text, source regclass, params jsonb, after_rows int,
                                      quiet interval, deploy text, created_by name, search_path text) RETURNS regclass
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  old regclass;
BEGIN
  PERFORM ml._check_project('ml.train_on_events', project);
  PERFORM ml._check_deploy('ml.train_on_events', deploy, true);
  params := ml._check_params('ml.train_on_events', params);
  SELECT e.source INTO old FROM ml.event_policies e WHERE e.project = _save_event_policy.project FOR UPDATE;
  INSERT INTO ml.event_policies AS e (project, source, params, after_rows, quiet, deploy, created_by, search_path)
  VALUES (project, source, params, after_rows, quiet, deploy, created_by, search_path)
  ON CONFLICT ON CONSTRAINT event_policies_pkey DO UPDATE
     SET source = excluded.source, params = excluded.params, after_rows = excluded.after_rows,
         quiet = excluded.quiet, deploy = excluded.deploy, created_by = excluded.created_by,
         search_path = excluded.search_path;
  PERFORM pg_notify('pgscore_jobs', project);
  RETURN old;
END $$;

CREATE FUNCTION ml._delete_event_policy(project text) RETURNS regclass
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  old regclass;
BEGIN
  DELETE FROM ml.event_policies e WHERE e.project = _delete_event_policy.project RETURNING e.source INTO old;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'ml.stop_training_on_events: project "%" has no event policy', project
      USING ERRCODE = 'undefined_object';
  END IF;
  DELETE FROM ml.training_events e WHERE e.project = _delete_event_policy.project AND e.run_id IS NULL;
  RETURN old;
END $$;

CREATE FUNCTION ml.train_on_events(project text, source regclass, params jsonb, after_rows int DEFAULT 100,
                                   quiet interval DEFAULT NULL, deploy text DEFAULT 'project',
                                   search_path text DEFAULT current_setting('search_path')) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  old   regclass;
  label text;
  trg   text := ml._events_trigger_name(project);
  who   name := ml._acting_role();
BEGIN
  PERFORM ml._require_train('ml.train_on_events', project);
  IF NOT has_table_privilege(who, source, 'TRIGGER') THEN
    RAISE EXCEPTION 'ml.train_on_events: role "%" may not create triggers on %', who, source
      USING ERRCODE = 'insufficient_privilege', HINT = 'The table''s owner can grant TRIGGER on it.';
  END IF;
  PERFORM ml._check_deploy('ml.train_on_events', deploy, true);
  IF (SELECT c.relkind FROM pg_catalog.pg_class c WHERE c.oid = source) NOT IN ('r', 'p') THEN
    RAISE EXCEPTION 'ml.train_on_events: % is not a table', source
      USING ERRCODE = 'wrong_object_type', HINT = 'New rows are counted by a trigger on a table; train on a view over it with params.source.';
  END IF;
  IF after_rows IS NULL OR after_rows < 1 THEN
    RAISE EXCEPTION 'ml.train_on_events: after_rows must be at least 1, got %', after_rows USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF quiet <= interval '0' THEN
    RAISE EXCEPTION 'ml.train_on_events: quiet must be positive, got %', quiet USING ERRCODE = 'invalid_parameter_value';
  END IF;
  params := jsonb_build_object('source', source::text) || coalesce(params, '{}');
  params := ml._check_source('ml.train_on_events', ml._check_params('ml.train_on_events', params), who, search_path);
  label := CASE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a WHERE a.attrelid = source
                               AND a.attname = params ->> 'label' AND a.attnum > 0 AND NOT a.attisdropped)
                THEN params ->> 'label' ELSE '' END;
  old := ml._save_event_policy(project, source, params, after_rows, quiet, deploy, who, search_path);
  IF old IS NOT NULL AND old <> source
     AND EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t WHERE t.tgrelid = old AND t.tgname = trg) THEN
    EXECUTE format('DROP TRIGGER %I ON %s', trg, old);
  END IF;
  EXECUTE format('CREATE OR REPLACE TRIGGER %I AFTER INSERT ON %s REFERENCING NEW TABLE AS pgscore_new_rows '
                 'FOR EACH STATEMENT EXECUTE FUNCTION ml._queue_training_event(%L, %L)', trg, source, project, label);
END $$;
COMMENT ON FUNCTION ml.train_on_events(text, regclass, jsonb, int, interval, text, text) IS
  'Retrains a project on new rows (needs the train right on it and TRIGGER on the table; runs train for the policy''s creator, with its rights): a statement trigger on the table queues each INSERT or COPY (its count of labelled rows) in ml.training_events and sends NOTIFY pgscore_jobs; the daemon queues a run once after_rows rows are waiting, or, with quiet set, once rows wait and none came for that long. params: ml.train''s arguments (source defaults to the table, label is needed). Calling it again changes the policy.';

CREATE FUNCTION ml.stop_training_on_events(project text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  old regclass;
  trg text := ml._events_trigger_name(project);
BEGIN
  PERFORM ml._require_train('ml.stop_training_on_events', project);
  old := ml._delete_event_policy(project);
  IF EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t WHERE t.tgrelid = old AND t.tgname = trg) THEN
    EXECUTE format('DROP TRIGGER %I ON %s', trg, old);
  END IF;
END $$;
COMMENT ON FUNCTION ml.stop_training_on_events(text) IS
  'Removes a project''s event policy and its trigger; rows waiting in ml.training_events are dropped.';

CREATE FUNCTION ml.add_records(project text, records jsonb) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  ep      ml.event_policies;
  cols    text[];
  bad     text[];
  label   text;
  missing int;
  n       bigint;
BEGIN
  PERFORM ml._require_train('ml.add_records', project);
  SELECT * INTO ep FROM ml.event_policies e WHERE e.project = add_records.project;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'ml.add_records: project "%" has no event policy', project
      USING ERRCODE = 'undefined_object', HINT = 'ml.train_on_events(project, table, params) names the table new records go to.';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = ep.source) THEN
    RAISE EXCEPTION 'ml.add_records: the table of project "%" no longer exists', project USING ERRCODE = 'undefined_table';
  END IF;
  IF jsonb_typeof(records) = 'object' THEN
    records := jsonb_build_array(records);
  END IF;
  IF records IS NULL OR jsonb_typeof(records) <> 'array'
     OR EXISTS (SELECT 1 FROM jsonb_array_elements(records) r WHERE jsonb_typeof(r) <> 'object') THEN
    RAISE EXCEPTION 'ml.add_records: records must be a JSON object or an array of objects' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF jsonb_array_length(records) = 0 THEN
    RETURN 0;
  END IF;
  cols := ARRAY(SELECT DISTINCT k FROM jsonb_array_elements(records) r, jsonb_object_keys(r) k ORDER BY 1);
  bad := ARRAY(SELECT c FROM unnest(cols) c WHERE NOT EXISTS (
                 SELECT 1 FROM pg_catalog.pg_attribute a WHERE a.attrelid = ep.source AND a.attname = c
                    AND a.attnum > 0 AND NOT a.attisdropped));
  IF cardinality(bad) > 0 THEN
    RAISE EXCEPTION 'ml.add_records: table % has no column(s) %', ep.source, array_to_string(bad, ', ')
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Columns: ' || (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) FROM pg_catalog.pg_attribute a
                                   WHERE a.attrelid = ep.source AND a.attnum > 0 AND NOT a.attisdropped) || '.';
  END IF;
  label := ep.params ->> 'label';
  IF EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a WHERE a.attrelid = ep.source AND a.attname = label
                AND a.attnum > 0 AND NOT a.attisdropped) THEN
    SELECT count(*) INTO missing FROM jsonb_array_elements(records) r WHERE coalesce(r -> label, 'null') = 'null';
    IF missing > 0 THEN
      RAISE EXCEPTION 'ml.add_records: % of % record(s) lack the label "%"', missing, jsonb_array_length(records), label
        USING ERRCODE = 'invalid_parameter_value', HINT = 'Records for training need their label.';
    END IF;
  END IF;
  EXECUTE format('INSERT INTO %s (%s) SELECT %s FROM jsonb_populate_recordset(NULL::%s, $1) r',
                 ep.source, (SELECT string_agg(quote_ident(c), ', ') FROM unnest(cols) c),
                 (SELECT string_agg('r.' || quote_ident(c), ', ') FROM unnest(cols) c), ep.source)
    USING records;
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END $$;
COMMENT ON FUNCTION ml.add_records(text, jsonb) IS
  'Inserts one JSON object or an array of objects into the table of a project''s event policy (keys are column names; every record needs the label) and returns the number of rows; the table''s trigger then queues them for training. Runs with the caller''s rights. What POST /v1/projects/{project}/records calls.';

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

REVOKE EXECUTE ON FUNCTION ml.claim_run(text), ml.execute_run(bigint), ml.fail_run(bigint, text), ml.next_wakeup(),
  ml._begin_run(bigint, text), ml._end_run(bigint, ml.training_result, text, jsonb), ml._queue_retry(ml.training_runs),
  ml._queue_run(text, jsonb, text, text, text, name, text), ml._known_params(text),
  ml._insert_schedule(text, interval, text, jsonb, text, int, interval, timestamptz, name, text),
  ml._save_event_policy(text, regclass, jsonb, int, interval, text, name, text), ml._delete_event_policy(text),
  ml._queue_training_event(), ml._check_source(text, jsonb, name, text),
  ml.enqueue_run(text, jsonb, text, text, text), ml.schedule(text, text, jsonb, text, int, interval, text),
  ml.pause_schedule(bigint), ml.resume_schedule(bigint), ml.drop_schedule(bigint),
  ml.train_on_events(text, regclass, jsonb, int, interval, text, text), ml.stop_training_on_events(text),
  ml.add_records(text, jsonb) FROM PUBLIC;
