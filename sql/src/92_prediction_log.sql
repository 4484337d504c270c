-- ---------------------------------------------------------------- the prediction log's partitions and retention
-- ml.predictions grows with every answered prediction (2,000/s is 170 million rows a
-- day). It is partitioned by day (UTC) of created_at, so that what reads a recent window
-- (monitors, feedback) touches recent partitions only, and so that retention drops whole
-- partitions instead of deleting rows. pgscore serve calls ml.maintain_prediction_log
-- at start and every few minutes; it makes the partitions of today and the next two days
-- and drops the ones past the retention.

CREATE TABLE ml.prediction_log (
    singleton bool PRIMARY KEY DEFAULT true CHECK (singleton),
    retention interval CHECK (retention > interval '0')
);
COMMENT ON TABLE ml.prediction_log IS
  'Settings of the prediction log (one row, absent until ml.set_retention is called): retention, how long logged predictions and their feedback are kept (NULL: for ever).';
SELECT pg_catalog.pg_extension_config_dump('ml.prediction_log', '');

CREATE FUNCTION ml.set_retention(retention interval) RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
  INSERT INTO ml.prediction_log (retention) VALUES (retention)
  ON CONFLICT (singleton) DO UPDATE SET retention = excluded.retention;
$$;
COMMENT ON FUNCTION ml.set_retention(interval) IS
  'How long ml.predictions (and the feedback on them) is kept: ml.maintain_prediction_log drops the daily partitions wholly older than now() - retention and deletes older rows of the default partition. NULL keeps everything (the default). Needs the right to write ml.prediction_log (its owner, the extension''s installer, or whom it granted).';
REVOKE EXECUTE ON FUNCTION ml.set_retention(interval) FROM PUBLIC;

-- The partition of one UTC day: its name and bounds.
CREATE FUNCTION ml._prediction_partition(day date, OUT name text, OUT lo timestamptz, OUT hi timestamptz)
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT 'predictions_' || to_char(day, 'YYYYMMDD'),
         day::timestamp AT TIME ZONE 'UTC', (day + 1)::timestamp AT TIME ZONE 'UTC';
$$;

CREATE FUNCTION ml.maintain_prediction_log(at timestamptz DEFAULT now(),
                                           OUT created text[], OUT dropped text[], OUT deleted bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  part record;
  keep interval;
  cutoff timestamptz;
  day date;
BEGIN
  created := '{}';
  dropped := '{}';
  deleted := 0;
  -- a later time would let a caller drop what retention still keeps
  IF at > now() + interval '1 minute' THEN
    RAISE EXCEPTION 'ml.maintain_prediction_log: % is in the future', at USING ERRCODE = 'invalid_parameter_value';
  END IF;
  -- attaching and detaching lock ml.predictions: never queue the gateway's inserts for
  -- long (past it: 55P03, and the daemon tries again later)
  PERFORM set_config('lock_timeout', '2s', true);
  -- one maintainer at a time (several daemons may run)
  PERFORM pg_advisory_xact_lock(hashtext('pgscore.maintain_prediction_log'));

  FOR i IN 0..2 LOOP
    day := (at AT TIME ZONE 'UTC')::date + i;
    SELECT * INTO part FROM ml._prediction_partition(day);
    CONTINUE WHEN to_regclass('ml.' || quote_ident(part.name)) IS NOT NULL;
    -- a day that already has rows in the default partition keeps them there (attaching
    -- would fail); retention deletes them in time
    CONTINUE WHEN EXISTS (SELECT 1 FROM ml.predictions_default p WHERE p.created_at >= part.lo AND p.created_at < part.hi);
    EXECUTE format('CREATE TABLE ml.%I PARTITION OF ml.predictions FOR VALUES FROM (%L) TO (%L)',
                   part.name, part.lo, part.hi);
    PERFORM ml._index_prediction_partition(format('ml.%I', part.name)::regclass);
    created := created || part.name;
  END LOOP;

  SELECT l.retention INTO keep FROM ml.prediction_log l;
  IF keep IS NULL THEN
    RETURN;
  END IF;
  cutoff := at - keep;
  DELETE FROM ml.feedback f WHERE f.prediction_created_at < cutoff;
  FOR part IN
    SELECT d.*
      FROM (SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
             WHERE i.inhparent = 'ml.predictions'::regclass AND c.relname ~ '^predictions_[0-9]{8}$'
            OFFSET 0) named,       -- (the name filter first: to_date of another name would fail)
           LATERAL ml._prediction_partition(to_date(substr(named.relname, 13), 'YYYYMMDD')) d
     ORDER BY d.lo
  LOOP
    CONTINUE WHEN part.hi > cutoff;
    EXECUTE format('ALTER TABLE ml.predictions DETACH PARTITION ml.%I', part.name);
    EXECUTE format('DROP TABLE ml.%I', part.name);
    dropped := dropped || part.name;
  END LOOP;
  DELETE FROM ml.predictions_default p WHERE p.created_at < cutoff;
  GET DIAGNOSTICS deleted = ROW_COUNT;
END $$;
COMMENT ON FUNCTION ml.maintain_prediction_log(timestamptz) IS
  'Makes the daily (UTC) partitions of ml.predictions for the day of "at" (default now(), never later) and the two after it, unless the default partition already holds rows of that day; then, under ml.set_retention, deletes the feedback on predictions older than at - retention, drops the partitions wholly older than it and deletes older rows of the default partition. One caller at a time; waits at most 2 s for each of its locks (then 55P03). Returns the partitions made and dropped and the rows deleted. pgscore serve calls it at start and every 10 minutes.';
REVOKE EXECUTE ON FUNCTION ml.maintain_prediction_log(timestamptz) FROM PUBLIC;
