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
