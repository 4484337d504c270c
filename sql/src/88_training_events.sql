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


REVOKE EXECUTE ON FUNCTION ml._queue_training_event(), ml._save_event_policy(text, regclass, jsonb, int, interval, text, name, text),
  ml._delete_event_policy(text), ml.train_on_events(text, regclass, jsonb, int, interval, text, text),
  ml.stop_training_on_events(text), ml.add_records(text, jsonb) FROM PUBLIC;
