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
-- schema-qualified (the daemon's search_path differs). A query naming pg_temp (what a
-- version trained from a pandas DataFrame records: the client's temporary table) reads
-- tables of one session, gone when it ends; the daemon's session never sees them.
CREATE FUNCTION ml._check_source(fn text, params jsonb, requester name, search_path text) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  src text := ml._source_sql(fn, params ->> 'source', search_path);
BEGIN
  IF left(src, 1) <> '(' THEN
    params := params || jsonb_build_object('source', src);
  ELSIF src ~* '\mpg_temp(_[0-9]+)?\s*\.' THEN
    RAISE EXCEPTION '%: the source % reads a temporary table, which a queued or scheduled run cannot read', fn, src
      USING ERRCODE = 'feature_not_supported',
            DETAIL = 'A temporary table lives in one session (a DataFrame sent by the Python client is dropped at the end of its training); runs train in the daemon''s session.',
            HINT = 'Train from a table or view: in Python client.train(..., persist=''schema.table'') writes the DataFrame to a table first; or pass params with a table or view as "source".';
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
                                            -- a query source (as ml._source_sql tells one) has no catalog entry
                                            WHERE a.attrelid = CASE WHEN m.source !~* '^\s*\(?\s*(select|with|values|table)\M'
                                                                    THEN to_regclass(m.source) END
                                              AND a.attnum > 0
                                              AND NOT a.attisdropped AND a.attname <> m.label
                                              AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(m.features) f
                                                               WHERE f ->> 'name' = a.attname)))
       FROM ml.models m JOIN ml.projects p ON p.id = m.project_id
      WHERE p.name = $1 ORDER BY m.version DESC LIMIT 1)) - 'deploy' $$;


REVOKE EXECUTE ON FUNCTION ml._known_params(text),
  ml._check_source(text, jsonb, name, text) FROM PUBLIC;
