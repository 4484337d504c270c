-- ---------------------------------------------------------------- workflows
-- ml.train / ml.deploy / ml.evaluate / ml.export / ml.score_on_insert.
-- ml.train and ml.deploy are SECURITY DEFINER: they check the acting role's right on
-- the project (72_rights.sql), compute what they record themselves (metrics, score, who)
-- and write the registry; ml.train evaluates the source only through ml._read_as, with
-- the rights of the role the source belongs to. The helpers that write the registry are
-- granted to no one.

CREATE TYPE ml.training_result AS (
    project    text,
    version    int,
    algorithm  text,
    key_metric text,
    score      float8,
    deployed   boolean,
    metrics    jsonb
);

CREATE FUNCTION ml._algorithm_name(algorithm text, task text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT a.name FROM ml.algorithms() a
   WHERE lower(coalesce(algorithm, CASE task WHEN 'regression' THEN 'linear_regression'
                                             ELSE 'logistic_regression' END)) IN (a.name, a.alias) $$;

-- writes one version; creates the project on first use, owned by the acting role
CREATE FUNCTION ml._record_version(project text, task text, v ml.models)
RETURNS ml.models
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  p ml.projects;
  r ml.models;
  trained_by name := ml._acting_role();
BEGIN
  INSERT INTO ml.projects (name, task, created_by, owner) VALUES (project, task, trained_by, trained_by)
    ON CONFLICT (name) DO NOTHING;
  SELECT * INTO p FROM ml.projects WHERE name = project FOR UPDATE;   -- serialises version numbers
  IF p.task <> task THEN
    RAISE EXCEPTION 'ml.train: project "%" is a % project; this label makes a % model', project, p.task, task
      USING ERRCODE = 'datatype_mismatch';
  END IF;
  v.id := nextval('ml.models_id_seq');
  v.project_id := p.id;
  v.version := coalesce((SELECT max(m.version) FROM ml.models m WHERE m.project_id = p.id), 0) + 1;
  v.created_by := trained_by;
  v.created_at := now();
  INSERT INTO ml.models SELECT v.* RETURNING * INTO r;
  RETURN r;
END $$;

CREATE FUNCTION ml._record_deployment(project text, version int, strategy text, reason text)
RETURNS int
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  p ml.projects;
  m ml.models;
  current_version int;
BEGIN
  SELECT * INTO p FROM ml.projects WHERE name = project FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'ml.deploy: project "%" does not exist', project USING ERRCODE = 'undefined_object';
  END IF;
  SELECT * INTO m FROM ml.models WHERE project_id = p.id AND ml.models.version = _record_deployment.version;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'ml.deploy: project "%" has no version %', project, version
      USING ERRCODE = 'undefined_object',
            HINT = 'SELECT version FROM ml.versions WHERE project = ' || quote_literal(project) || ' lists them.';
  END IF;
  SELECT d.version INTO current_version FROM ml.deployments d WHERE d.project_id = p.id ORDER BY d.id DESC LIMIT 1;
  INSERT INTO ml.deployments (project_id, model_id, version, strategy, replaced_version, reason, deployed_by)
  VALUES (p.id, m.id, m.version, strategy, current_version, reason, ml._acting_role());
  RETURN m.version;
END $$;

CREATE FUNCTION ml.create_project(name text, task text, deploy_policy text DEFAULT 'best_score')
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  INSERT INTO ml.projects (name, task, deploy_policy, created_by, owner)
  VALUES (name, task, deploy_policy, ml._acting_role(), ml._acting_role());
END $$;
COMMENT ON FUNCTION ml.create_project(text, text, text) IS
  'Creates a project ahead of training, owned by the calling role: task classification or regression, deploy policy best_score | most_recent | manual. ml.train creates one with the defaults when missing.';

CREATE FUNCTION ml.set_deploy_policy(project text, deploy_policy text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM ml._require('ml.set_deploy_policy', project, 'admin');
  UPDATE ml.projects SET deploy_policy = set_deploy_policy.deploy_policy WHERE name = project;
END $$;
COMMENT ON FUNCTION ml.set_deploy_policy(text, text) IS
  'Whether ml.train deploys its new version: best_score (when it beats the deployed one), most_recent (always) or manual (never).';

-- ---------------------------------------------------------------- feature values

-- THE numeric-text rule (training, serving in Preprocessor.swift, drift monitoring): text
-- is a number when, spaces around it ignored, it is a plain decimal -- optional sign,
-- digits with an optional point, an optional exponent of at most 4 digits -- whose value
-- is 0 or between 1e-307 and 1e308 in magnitude. Hexadecimal ('0x10', '0x1p3'), 'inf',
-- 'nan', '1_000' and values out of that range are not numbers.
CREATE FUNCTION ml._numeric_text(value text) RETURNS float8
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
  SELECT CASE WHEN v = 0 OR abs(v) BETWEEN 1e-307 AND 1e308 THEN v::float8 END
    FROM (SELECT CASE WHEN btrim(value) ~ '^[-+]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][-+]?[0-9]{1,4})?$'
                      THEN btrim(value)::numeric END AS v) q $$;

-- How ml.train reads a column of this type (domains: their base type): 'number',
-- 'money' (as numeric), 'boolean' (0/1), 'text' (categories, or numbers when the text
-- is numeric), 'datetime' (epoch seconds: date, timestamp, timestamptz; interval: its
-- length in seconds), or NULL: not a feature type (arrays, json, geometry, ...).
CREATE FUNCTION ml._feature_family(type regtype) RETURNS text
LANGUAGE sql STABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
  WITH RECURSIVE base(oid, typbasetype, typtype, depth) AS (
    SELECT t.oid, t.typbasetype, t.typtype, 0 FROM pg_type t WHERE t.oid = type
    UNION ALL
    SELECT t.oid, t.typbasetype, t.typtype, b.depth + 1 FROM pg_type t JOIN base b ON t.oid = b.typbasetype
     WHERE b.typtype = 'd' AND b.depth < 32)
  SELECT CASE
           WHEN b.oid IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype, 'float4'::regtype,
                          'float8'::regtype, 'numeric'::regtype) THEN 'number'
           WHEN b.oid = 'money'::regtype THEN 'money'
           WHEN b.oid = 'bool'::regtype THEN 'boolean'
           WHEN b.oid IN ('text'::regtype, 'varchar'::regtype, 'bpchar'::regtype, 'name'::regtype) OR b.typtype = 'e' THEN 'text'
           WHEN b.oid IN ('date'::regtype, 'timestamp'::regtype, 'timestamptz'::regtype, 'interval'::regtype) THEN 'datetime'
         END
    FROM base b WHERE b.typtype <> 'd' $$;

-- ---------------------------------------------------------------- ml.train

CREATE FUNCTION ml.train(
    project       text,
    source        text,
    label         text,
    algorithm     text DEFAULT NULL,
    hyperparams   jsonb DEFAULT '{}',
    test_fraction float8 DEFAULT 0.25,
    seed          int DEFAULT 42,
    exclude       text[] DEFAULT '{}',
    deploy        text DEFAULT NULL,
    search_path   text DEFAULT current_setting('search_path'))
RETURNS ml.training_result
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  started      timestamptz := clock_timestamp();
  who          name := ml._acting_role();
  src          text;
  user_src     text;
  markers      constant text[] := ARRAY['?', '', 'NA', 'N/A', 'NaN', 'nan', 'null', 'NULL', '-'];
  col          record;
  label_type   regtype;
  label_cat    "char";
  label_expr   text;
  family       text;
  eval_spec    jsonb;
  task         text;
  proj         ml.projects;
  algo         text;
  agg          text;
  fits         boolean;
  opts         jsonb;
  do_scale     boolean;
  trees        boolean;
  unknown_cat  text := coalesce(hyperparams ->> 'unknown_categories', 'error');
  fit_choice   text := coalesce(hyperparams ->> 'fit', 'auto');
  fit_how      jsonb;
  fit_state    bytea;
  fit_bytes    float8;
  fit_limit    float8;
  n_features   int;
  max_rows     bigint;
  train_from   text := 'pg_temp.pgscore_train_data d WHERE NOT d.pgscore_test__';
  spec_cols    jsonb := '[]';
  numeric_names text[] := '{}';
  cuts         float8[];
  shares       float8[];
  onehot_names text[] := '{}';
  features     jsonb := '[]';
  stats        jsonb := '{}';
  dropped      jsonb := '[]';
  n_total      bigint;
  n_test       bigint;
  n_classes    bigint;
  expr         text;
  s            record;
  cats         text[];
  bad          text[];
  spec         jsonb;
  model        ml.model;
  metrics      jsonb;
  key          text;
  score        float8;
  fingerprint  text;
  v            ml.models;
  deployed_score float8;
  has_deployed boolean;
  deploy_it    boolean := false;
  policy       text;
  result       ml.training_result;
BEGIN
  IF deploy IS NOT NULL AND deploy NOT IN ('best_score', 'most_recent', 'manual') THEN
    RAISE EXCEPTION 'ml.train: deploy must be best_score, most_recent or manual (or NULL for the project''s policy), got "%"', deploy
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF test_fraction IS NULL OR test_fraction < 0 OR test_fraction >= 1 THEN
    RAISE EXCEPTION 'ml.train: test_fraction must be at least 0 and below 1, got %', test_fraction
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF unknown_cat NOT IN ('error', 'ignore') THEN
    RAISE EXCEPTION 'ml.train: "unknown_categories" must be "error" or "ignore", got "%"', unknown_cat
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF fit_choice NOT IN ('auto', 'memory', 'passes') THEN
    RAISE EXCEPTION 'ml.train: "fit" must be "auto", "memory" or "passes", got "%"', fit_choice
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF hyperparams ? 'max_rows' AND (jsonb_typeof(hyperparams -> 'max_rows') <> 'number'
                                   OR (hyperparams ->> 'max_rows')::numeric < 1
                                   OR (hyperparams ->> 'max_rows')::numeric <> trunc((hyperparams ->> 'max_rows')::numeric)
                                   OR (hyperparams ->> 'max_rows')::numeric > 9e18) THEN
    RAISE EXCEPTION 'ml.train: "max_rows" must be a whole number of at least 1, got %', hyperparams -> 'max_rows'
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  max_rows := (hyperparams ->> 'max_rows')::bigint;
  opts := coalesce(hyperparams, '{}') - 'scale' - 'unknown_categories' - 'fit' - 'max_rows';

  IF EXISTS (SELECT 1 FROM ml.projects p WHERE p.name = project) THEN
    PERFORM ml._require('ml.train', project, 'train');
  ELSE
    PERFORM ml._check_project('ml.train', project);
  END IF;

  -- the source (a query, or a table or view name in the caller's search_path), read once
  -- into a temporary table with the rights of the role it belongs to; from here on only
  -- plain values are read
  user_src := ml._source_sql('ml.train', source, search_path);
  PERFORM ml._progress_begin(coalesce((SELECT a.id FROM ml.algorithms() a WHERE lower(algorithm) IN (a.name, a.alias)), 0));
  IF to_regclass('pg_temp.pgscore_train_raw') IS NOT NULL THEN DROP TABLE pg_temp.pgscore_train_raw; END IF;
  IF to_regclass('pg_temp.pgscore_train_data') IS NOT NULL THEN DROP TABLE pg_temp.pgscore_train_data; END IF;
  PERFORM ml._read_as(ml._source_reader('ml.train', user_src, who), search_path,
                      format('SELECT * FROM %s s', user_src), 'pgscore_train_raw');
  src := 'pg_temp.pgscore_train_raw';
  SELECT a.atttypid::regtype, t.typcategory INTO label_type, label_cat
    FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
   WHERE a.attrelid = 'pg_temp.pgscore_train_raw'::regclass AND a.attname = label
     AND a.attnum > 0 AND NOT a.attisdropped;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'ml.train: label column "%" is not in the source', label
      USING ERRCODE = 'undefined_column',
            HINT = 'Columns: ' || (SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute
                                   WHERE attrelid = 'pg_temp.pgscore_train_raw'::regclass AND attnum > 0 AND NOT attisdropped);
  END IF;
  IF EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = 'pg_temp.pgscore_train_raw'::regclass
               AND a.attname = 'pgscore_test__' AND a.attnum > 0 AND NOT a.attisdropped) THEN
    RAISE EXCEPTION 'ml.train: the source has a column named "pgscore_test__", the one name ml.train reserves (its train/test split)'
      USING ERRCODE = 'duplicate_column', HINT = 'Rename that column in a query source.';
  END IF;
  SELECT array_agg(e) INTO bad FROM unnest(exclude) e
   WHERE NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = 'pg_temp.pgscore_train_raw'::regclass
                        AND a.attname = e AND a.attnum > 0 AND NOT a.attisdropped);
  IF bad IS NOT NULL THEN
    RAISE EXCEPTION 'ml.train: excluded column(s) % are not in the source', array_to_string(bad, ', ')
      USING ERRCODE = 'undefined_column';
  END IF;

  -- the task: the project's, or from the label's type
  SELECT * INTO proj FROM ml.projects p WHERE p.name = project;
  IF FOUND THEN
    task := proj.task;
  ELSIF label_cat IN ('B', 'S') THEN
    task := 'classification';
  ELSIF label_type IN ('smallint'::regtype, 'integer'::regtype, 'bigint'::regtype) THEN
    EXECUTE format('SELECT count(DISTINCT s.%I) FROM %s s', label, src) INTO n_classes;
    task := CASE WHEN n_classes <= 20 THEN 'classification' ELSE 'regression' END;
  ELSIF label_cat = 'N' THEN
    task := 'regression';
  ELSE
    task := 'classification';
  END IF;
  IF task = 'regression' AND label_cat <> 'N' THEN
    RAISE EXCEPTION 'ml.train: project "%" is a regression project but label "%" is of type %', project, label, label_type
      USING ERRCODE = 'datatype_mismatch';
  END IF;
  label_expr := CASE
    WHEN task = 'regression' THEN format('d.%I::float8', label)
    WHEN label_type = 'boolean'::regtype THEN format('d.%I', label)
    WHEN label_type IN ('smallint'::regtype, 'integer'::regtype, 'bigint'::regtype) THEN format('d.%I::bigint', label)
    ELSE format('d.%I::text', label) END;
  algo := ml._algorithm_name(algorithm, task);
  IF algo IS NULL THEN
    RAISE EXCEPTION 'ml.train: unknown algorithm "%"', algorithm
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Use ' || (SELECT string_agg(a.name || ' (' || a.alias || ')', ', ' ORDER BY a.id) FROM ml.algorithms() a) || '.';
  END IF;
  SELECT a.aggregate, a.tree, CASE task WHEN 'regression' THEN a.regression ELSE a.classification END
    INTO agg, trees, fits FROM ml.algorithms() a WHERE a.name = algo;
  PERFORM ml._progress_begin((SELECT a.id FROM ml.algorithms() a WHERE a.name = algo));
  IF NOT fits THEN
    RAISE EXCEPTION 'ml.train: % does not fit a % project', algo, task USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF max_rows IS NOT NULL AND NOT trees THEN
    RAISE EXCEPTION 'ml.train: "max_rows" is for the tree algorithms; % keeps no rows or fits in passes', algo
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF fit_choice = 'passes' AND algo <> 'logistic_regression' THEN
    RAISE EXCEPTION 'ml.train: "fit": "passes" is for logistic_regression; % fits in one pass or in memory', algo
      USING ERRCODE = 'invalid_parameter_value', HINT = 'Leave "fit" out (auto).';
  END IF;
  -- trees split on raw values and learn where missing values go: no scaling, no imputation
  do_scale := coalesce((hyperparams ->> 'scale')::boolean, NOT trees);

  -- the data, with a reproducible split (stratified by label for classification):
  -- each row's place comes from a hash of its content and the seed
  EXECUTE format($q$
    CREATE TEMP TABLE pgscore_train_data AS
    SELECT s.*, (row_number() OVER w) <= round(count(*) OVER g * %s) AS pgscore_test__
      FROM %s s WHERE s.%I IS NOT NULL
    WINDOW g AS (PARTITION BY %s), w AS (PARTITION BY %s ORDER BY hashtextextended((s.*)::text, %s), (s.*)::text)$q$,
    test_fraction, src, label,
    CASE WHEN task = 'classification' THEN format('s.%I', label) ELSE 'true' END,
    CASE WHEN task = 'classification' THEN format('s.%I', label) ELSE 'true' END, seed);
  DROP TABLE pg_temp.pgscore_train_raw;
  SELECT count(*), count(*) FILTER (WHERE pgscore_test__) INTO n_total, n_test FROM pg_temp.pgscore_train_data;
  PERFORM ml._progress_phase(2, 0, n_total);
  IF n_total = 0 THEN
    RAISE EXCEPTION 'ml.train: the source has no rows with a label'
      USING ERRCODE = 'data_exception', HINT = 'Check the source and that "' || label || '" is filled in.';
  END IF;
  IF task = 'classification' THEN
    EXECUTE format('SELECT count(DISTINCT d.%I) FROM pg_temp.pgscore_train_data d', label) INTO n_classes;
    IF n_classes < 2 THEN
      RAISE EXCEPTION 'ml.train: label "%" has only one class in the source; a classifier needs at least two', label
        USING ERRCODE = 'data_exception';
    END IF;
  END IF;

  -- preprocessing, learned from the training rows only
  FOR col IN
    SELECT a.attname::text AS name, a.atttypid::regtype AS type, ml._feature_family(a.atttypid) AS family
      FROM pg_attribute a
     WHERE a.attrelid = 'pg_temp.pgscore_train_data'::regclass AND a.attnum > 0 AND NOT a.attisdropped
       AND a.attname <> label AND a.attname <> 'pgscore_test__' AND a.attname <> ALL (exclude)
     ORDER BY a.attnum
  LOOP
    expr := NULL;
    IF col.family IS NULL THEN
      RAISE EXCEPTION 'ml.train: column "%" is of type %, which is not a feature type', col.name, col.type
        USING ERRCODE = 'datatype_mismatch',
              HINT = 'Features are numbers, money, booleans, text, enums, dates, timestamps and intervals; '
                     'exclude it (exclude => ARRAY[' || quote_literal(col.name) || ']) or convert it in a query.';
    ELSIF col.family = 'number' THEN
      expr := format('d.%I::float8', col.name);
    ELSIF col.family = 'money' THEN
      expr := format('d.%I::numeric::float8', col.name);
    ELSIF col.family = 'boolean' THEN
      expr := format('d.%I::int::float8', col.name);
    ELSIF col.family = 'datetime' THEN
      -- epoch seconds (an interval: its length); 'infinity' gives a non-finite value, refused below
      expr := format('extract(epoch FROM d.%I)::float8', col.name);
    ELSE
      -- numeric text ("63.0", with "?" for missing) is numeric, by the rule of ml._numeric_text
      EXECUTE format($q$SELECT array_agg(DISTINCT btrim(d.%1$I::text)) FILTER (WHERE ml._numeric_text(d.%1$I::text) IS NULL),
                              count(*) FILTER (WHERE ml._numeric_text(d.%1$I::text) IS NOT NULL)
                         FROM pg_temp.pgscore_train_data d WHERE NOT pgscore_test__$q$, col.name)
        INTO s;
      IF s.count > 0 AND (s.array_agg IS NULL OR s.array_agg <@ markers) THEN
        expr := format('ml._numeric_text(d.%I::text)', col.name);
        -- every usual marker counts as missing, also ones the training rows happen not to hold
        cats := markers;
      END IF;
    END IF;
    IF expr IS NOT NULL THEN
      BEGIN
        EXECUTE format($q$SELECT avg(v) AS mean, stddev_pop(v) AS sd, min(v) AS lo, max(v) AS hi,
                                count(*) FILTER (WHERE v IS NULL)::float8 / greatest(count(*), 1) AS null_fraction,
                                percentile_cont(ARRAY[0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9]) WITHIN GROUP (ORDER BY v) AS deciles
                           FROM (SELECT %s AS v FROM pg_temp.pgscore_train_data d WHERE NOT pgscore_test__) q$q$, expr)
          INTO s;
      EXCEPTION WHEN numeric_value_out_of_range THEN
        SELECT 'Infinity'::float8 AS mean, 'Infinity'::float8 AS sd INTO s;   -- refused just below
      END;
      IF s.mean = 'NaN' OR s.mean IN ('Infinity', '-Infinity') OR s.sd IN ('NaN', 'Infinity') THEN
        RAISE EXCEPTION 'ml.train: column "%" holds NaN, Infinity or values too large to average; features must be finite numbers', col.name
          USING ERRCODE = 'data_exception',
                HINT = 'Filter those rows out or turn them into NULL (a missing value) in a query source.';
      END IF;
      IF s.mean IS NULL OR coalesce(s.sd, 0) = 0 THEN
        dropped := dropped || jsonb_build_object('column', col.name, 'reason',
                     CASE WHEN s.mean IS NULL THEN 'always missing' ELSE 'constant' END);
        CONTINUE;
      END IF;
      spec_cols := spec_cols || jsonb_build_object('name', col.name, 'type', col.type::text, 'kind', 'numeric',
                     'impute', s.mean, 'center', CASE WHEN do_scale THEN s.mean ELSE 0 END,
                     'scale', CASE WHEN do_scale THEN s.sd ELSE 1 END, 'keep_missing', trees,
                     'missing', CASE WHEN col.family = 'text' THEN to_jsonb(cats) ELSE '[]'::jsonb END);
      numeric_names := numeric_names || col.name;
      -- the share of training values in each bin [c_i, c_i+1) between the distinct deciles
      -- (width_bucket's bins): what drift monitoring compares live traffic with; exact,
      -- where shares guessed from decile ranks are wrong for rounded or discrete values
      cuts := ARRAY(SELECT DISTINCT c FROM unnest(s.deciles) c ORDER BY c);
      EXECUTE format($q$SELECT array_agg(coalesce(b.cnt, 0)::float8 / greatest(t.n, 1) ORDER BY j)
                         FROM generate_series(0, cardinality($1)) j
                         CROSS JOIN (SELECT count(*) AS n FROM (SELECT %1$s AS v FROM pg_temp.pgscore_train_data d
                                                                  WHERE NOT pgscore_test__) q WHERE v IS NOT NULL) t
                         LEFT JOIN (SELECT width_bucket(v, $1) AS bucket, count(*) AS cnt
                                      FROM (SELECT %1$s AS v FROM pg_temp.pgscore_train_data d WHERE NOT pgscore_test__) q
                                     WHERE v IS NOT NULL GROUP BY 1) b ON b.bucket = j$q$, expr)
        INTO shares USING cuts;
      stats := stats || jsonb_build_object(col.name, jsonb_build_object('kind', 'numeric', 'mean', s.mean,
                     'std', s.sd, 'min', s.lo, 'max', s.hi, 'null_fraction', s.null_fraction, 'deciles', to_jsonb(s.deciles),
                     'bins', jsonb_build_object('cuts', to_jsonb(cuts), 'shares', to_jsonb(shares))));
    ELSE
      EXECUTE format($q$SELECT array_agg(v ORDER BY v) AS cats, jsonb_object_agg(v, f) AS freq,
                              max(nulls) AS nulls
                         FROM (SELECT d.%1$I::text AS v, count(*)::float8 / sum(count(*)) OVER () AS f,
                                      0 AS nulls
                                 FROM pg_temp.pgscore_train_data d WHERE NOT pgscore_test__ AND d.%1$I IS NOT NULL
                                GROUP BY 1) q$q$, col.name)
        INTO s;
      IF s.cats IS NULL OR cardinality(s.cats) < 2 THEN
        dropped := dropped || jsonb_build_object('column', col.name, 'reason',
                     CASE WHEN s.cats IS NULL THEN 'always missing' ELSE 'a single category' END);
        CONTINUE;
      END IF;
      IF cardinality(s.cats) > 200 THEN
        RAISE EXCEPTION 'ml.train: column "%" has % categories; at most 200 are encoded', col.name, cardinality(s.cats)
          USING ERRCODE = 'program_limit_exceeded',
                HINT = 'Exclude it (exclude => ARRAY[''' || col.name || ''']) or group its values.';
      END IF;
      spec_cols := spec_cols || jsonb_build_object('name', col.name, 'type', col.type::text, 'kind', 'categorical',
                     'categories', to_jsonb(s.cats), 'unknown', unknown_cat);
      onehot_names := onehot_names || ARRAY(SELECT col.name || '=' || c FROM unnest(s.cats) c);
      stats := stats || jsonb_build_object(col.name, jsonb_build_object('kind', 'categorical', 'frequencies', s.freq));
    END IF;
    features := features || jsonb_build_object('name', col.name, 'type', col.type::text,
                  'kind', CASE WHEN expr IS NOT NULL THEN 'numeric' ELSE 'categorical' END);
  END LOOP;
  IF jsonb_array_length(spec_cols) = 0 THEN
    RAISE EXCEPTION 'ml.train: no usable feature columns (every column is the label, excluded, constant or empty)'
      USING ERRCODE = 'data_exception', DETAIL = 'Dropped: ' || dropped::text;
  END IF;
  IF jsonb_array_length(dropped) > 0 THEN
    RAISE NOTICE 'ml.train: columns left out: %', dropped;
  END IF;
  spec := jsonb_build_object('columns', spec_cols);
  -- one-hot categories sum to 1 like the intercept: a least-squares fit on them has no
  -- unique solution, so without an l2 of its own a linear regression gets a tiny ridge
  -- (1e-6 x training rows; the slots are 0/1 and the numbers scaled, so it shrinks by ~1e-6)
  IF algo = 'linear_regression' AND cardinality(onehot_names) > 0 AND NOT opts ? 'l2' THEN
    opts := opts || jsonb_build_object('l2', 1e-6 * (n_total - n_test));
  END IF;

  -- train on the training rows: logistic regression in memory while the rows fit under
  -- pgscore.max_training_memory (the aggregate keeps 8 x features + 4 bytes a row and
  -- four p x p Hessians), in passes that keep no rows beyond it (or when asked)
  n_features := cardinality(numeric_names) + cardinality(onehot_names);
  IF algo = 'logistic_regression' THEN
    fit_bytes := (n_total - n_test)::float8 * (8 * n_features + 4)
                 + 32 * ((n_features + 1) * CASE WHEN n_classes > 2 THEN n_classes ELSE 1 END)::float8 ^ 2;
    fit_limit := (SELECT st.setting::float8 FROM pg_settings st WHERE st.name = 'pgscore.max_training_memory') * 1048576;
  END IF;
  IF algo = 'logistic_regression' AND (fit_choice = 'passes' OR (fit_choice = 'auto' AND fit_bytes > 0.9 * fit_limit)) THEN
    fit_state := ml.logreg_start(opts);
    PERFORM ml._progress_phase(3, 0);
    LOOP
      EXECUTE format('SELECT ml.logreg_step(ml.encode($1, d.*), %s, $2) FROM pg_temp.pgscore_train_data d WHERE NOT d.pgscore_test__',
                     label_expr)
        INTO fit_state USING spec, fit_state;
      PERFORM ml._progress_phase(3, (ml.logreg_fit_info(fit_state) ->> 'passes')::int, n_total - n_test,
                                 'logistic regression: ' || (ml.logreg_fit_info(fit_state) - 'features' - 'classes')::text);
      EXIT WHEN ml.logreg_fit_info(fit_state) ->> 'phase' = 'done';
    END LOOP;
    model := ml.logreg_model(fit_state);
    fit_how := jsonb_build_object('fit', 'passes', 'passes', (ml.logreg_fit_info(fit_state) ->> 'passes')::int,
                                  'memory_in_memory_fit', fit_bytes, 'max_training_memory', fit_limit);
  ELSE
    PERFORM ml._progress_phase(3, 0);
    IF trees THEN
      -- beyond the memory setting a tree fit trains on a reproducible sample: the training
      -- rows with the smallest hashes (of their content and the seed), max_rows of them;
      -- without max_rows, as many as take half of pgscore.max_training_memory at 8 bytes a
      -- value plus the label and the fit's scratch (about as much again)
      fit_limit := (SELECT st.setting::float8 FROM pg_settings st WHERE st.name = 'pgscore.max_training_memory') * 1048576;
      IF max_rows IS NULL AND (n_total - n_test)::float8 * 2 * (8 * n_features + 12) > 0.5 * fit_limit THEN
        max_rows := floor(0.5 * fit_limit / (2 * (8 * n_features + 12)));
        RAISE NOTICE 'ml.train: % training rows need more than half of pgscore.max_training_memory; training on a sample of % rows (hyperparameter "max_rows")',
          n_total - n_test, max_rows;
      END IF;
      IF max_rows < n_total - n_test THEN
        train_from := format('(SELECT * FROM pg_temp.pgscore_train_data s WHERE NOT s.pgscore_test__
                                 ORDER BY hashtextextended((s.*)::text, %s), (s.*)::text LIMIT %s) d', seed + 1, max_rows);
      END IF;
    END IF;
    EXECUTE format('SELECT %s(ml.encode($1, d.*), %s, $2) FROM %s', agg, label_expr, train_from)
      INTO model USING spec, opts;
    fit_how := CASE WHEN algo IN ('linear_regression', 'naive_bayes') THEN '{"fit": "sums", "passes": 1}'::jsonb
                    ELSE jsonb_build_object('fit', 'memory', 'passes', 1) END;
    IF trees THEN
      fit_how := fit_how || jsonb_build_object('max_rows', max_rows,
                                               'sampled', max_rows IS NOT NULL AND max_rows < n_total - n_test,
                                               'rows', least(coalesce(max_rows, n_total - n_test), n_total - n_test));
    END IF;
    IF algo = 'logistic_regression' THEN
      fit_how := fit_how || jsonb_build_object('memory_in_memory_fit', fit_bytes, 'max_training_memory', fit_limit);
    END IF;
  END IF;
  model := ml.with_info(model, jsonb_build_object('preprocess', spec, 'project', project, 'label', label,
             'label_type', label_type::text, 'task', task,
             'feature_names', to_jsonb(numeric_names || onehot_names)));

  -- evaluate on the held-out rows
  PERFORM ml._progress_phase(4, coalesce((fit_how ->> 'passes')::int, 1), n_test);
  key := CASE task WHEN 'regression' THEN 'r2' ELSE 'accuracy' END;
  IF n_test > 0 THEN
    -- a category only the held-out rows hold is scored as unseen (all zeros), so whether
    -- a table trains does not depend on where the split falls
    eval_spec := jsonb_build_object('columns', (SELECT jsonb_agg(CASE WHEN c ->> 'kind' = 'categorical'
                                                                   THEN c || '{"unknown": "ignore"}' ELSE c END ORDER BY o)
                                                 FROM jsonb_array_elements(spec_cols) WITH ORDINALITY e(c, o)));
    EXECUTE format('SELECT ml.metrics($1, ml.encode($2, d.*), %s) FROM pg_temp.pgscore_train_data d WHERE d.pgscore_test__',
                   CASE task WHEN 'regression' THEN label_expr ELSE format('d.%I::text', label) END)
      INTO metrics USING model, eval_spec;
    score := (metrics ->> key)::float8;
  END IF;

  SELECT count(*) || ' rows, ' || md5(coalesce(sum(hashtextextended((d.*)::text, 0)::numeric), 0)::text)
    INTO fingerprint FROM pg_temp.pgscore_train_data d;

  v.algorithm := algo;
  v.hyperparams := (ml.describe(model) -> 'options') || jsonb_build_object('scale', do_scale, 'unknown_categories', unknown_cat)
                   || CASE WHEN algo = 'logistic_regression' THEN jsonb_build_object('fit', fit_choice) ELSE '{}' END
                   || CASE WHEN trees AND hyperparams ? 'max_rows' THEN jsonb_build_object('max_rows', max_rows) ELSE '{}' END;
  v.label := label;
  v.label_type := label_type::text;
  v.features := features;
  -- a table or view is recorded schema-qualified, as resolved now: a retrain by the daemon
  -- (ml.enqueue_run falls back on this) must read the same relation from any search_path
  v.source := CASE WHEN left(user_src, 1) = '(' THEN source ELSE user_src END;
  v.train_rows := least(coalesce(max_rows, n_total - n_test), n_total - n_test);
  v.test_rows := n_test;
  v.fingerprint := fingerprint;
  v.feature_stats := stats || jsonb_build_object('_dropped', dropped);
  v.metrics := metrics;
  v.key_metric := key;
  v.score := score;
  v.split := jsonb_build_object('test_fraction', test_fraction, 'seed', seed,
                                'stratified', task = 'classification');
  v.duration_ms := extract(epoch FROM clock_timestamp() - started) * 1000;
  v.pgscore_version := (SELECT extversion FROM pg_extension WHERE extname = 'pgscore');
  v.model := model;
  v.fit := fit_how;
  v := ml._record_version(project, task, v);
  DROP TABLE pg_temp.pgscore_train_data;

  -- deploy by the project's policy, or by this call's override
  SELECT * INTO proj FROM ml.projects p WHERE p.name = project;
  policy := coalesce(deploy, proj.deploy_policy);
  SELECT true, m.score INTO has_deployed, deployed_score
    FROM ml.deployments d JOIN ml.models m ON m.id = d.model_id
   WHERE d.project_id = proj.id ORDER BY d.id DESC LIMIT 1;
  deploy_it := CASE policy
                 WHEN 'most_recent' THEN true
                 WHEN 'best_score' THEN has_deployed IS NULL
                                        OR (score IS NOT NULL AND (deployed_score IS NULL OR score > deployed_score))
                 ELSE false END;
  IF deploy_it THEN
    PERFORM ml._record_deployment(project, v.version,
              CASE policy WHEN 'most_recent' THEN 'most_recent' ELSE 'best_score' END,
              CASE WHEN has_deployed IS NULL THEN 'first version of the project'
                   WHEN deploy = 'most_recent' THEN 'deploy => most_recent'
                   WHEN policy = 'most_recent' THEN 'policy most_recent'
                   ELSE format('%s %s beats the deployed %s', key, round(score::numeric, 4), round(deployed_score::numeric, 4)) END);
  END IF;

  PERFORM ml._progress_end();
  result := (project, v.version, algo, key, score, deploy_it, metrics);
  RETURN result;
END $$;
COMMENT ON FUNCTION ml.train(text, text, text, text, jsonb, float8, int, text[], text, text) IS
  'Trains a new version of a project from a table, view or query (names resolved in search_path, by default the caller''s; read with the rights of the role the source belongs to: the caller for a query or its own relations, a view''s owner for another role''s view; never pgscore''s own tables or system catalogs). Needs the train right on an existing project; a new project is owned by the caller. Records who trained and the metrics it computed itself. Learns preprocessing (mean imputation, standard scaling, numeric text with "?" as missing by the rule of ml._numeric_text, money as numeric, dates/timestamps as epoch seconds, intervals as seconds, one-hot categories for text, char, varchar and enums; other types refused), splits reproducibly (seed; stratified for classification), evaluates on the test part, records the version and deploys it by the project''s policy, or by deploy (best_score | most_recent | manual) for this call. hyperparams: the algorithm''s options plus "scale" (true), "unknown_categories" ("error" | "ignore") and, for logistic regression, "fit" ("auto": in memory while the rows fit under pgscore.max_training_memory, else in passes that keep no rows; "memory"; "passes"), for the trees "max_rows" (a reproducible sample by hash; chosen by itself beyond half of pgscore.max_training_memory); ml.models.fit records how it was fitted.';

-- ---------------------------------------------------------------- ml.deploy

CREATE FUNCTION ml.deploy(project text, strategy text DEFAULT 'best_score', version int DEFAULT NULL)
RETURNS int
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  p ml.projects;
  target int;
  cur record;
  why text;
BEGIN
  p := ml._require('ml.deploy', project, 'deploy');
  IF version IS NOT NULL AND strategy IN ('best_score', 'version') THEN
    strategy := 'version';
  END IF;
  SELECT d.version, d.model_id INTO cur FROM ml.deployments d WHERE d.project_id = p.id ORDER BY d.id DESC LIMIT 1;
  CASE strategy
    WHEN 'best_score' THEN
      SELECT m.version INTO target FROM ml.models m WHERE m.project_id = p.id AND m.score IS NOT NULL
       ORDER BY m.score DESC, m.version DESC LIMIT 1;
      why := 'highest ' || (SELECT key_metric FROM ml.models m WHERE m.project_id = p.id LIMIT 1);
    WHEN 'most_recent' THEN
      SELECT max(m.version) INTO target FROM ml.models m WHERE m.project_id = p.id;
      why := 'newest version';
    WHEN 'rollback' THEN
      IF cur IS NULL OR cur.version IS NULL THEN
        RAISE EXCEPTION 'ml.deploy: project "%" has no deployment to roll back', project
          USING ERRCODE = 'object_not_in_prerequisite_state';
      END IF;
      -- the version that the current one replaced when it was deployed (rollbacks are undone in order)
      SELECT d.replaced_version INTO target FROM ml.deployments d
       WHERE d.project_id = p.id AND d.version = cur.version AND d.strategy <> 'rollback'
         AND d.replaced_version IS DISTINCT FROM d.version     -- a redeploy of the same version
       ORDER BY d.id DESC LIMIT 1;
      IF target IS NULL THEN
        RAISE EXCEPTION 'ml.deploy: project "%" has no earlier version to roll back to', project
          USING ERRCODE = 'object_not_in_prerequisite_state',
                HINT = 'Version ' || cur.version || ' was the first one deployed.';
      END IF;
      why := 'rollback from version ' || cur.version;
    WHEN 'version' THEN
      IF version IS NULL THEN
        RAISE EXCEPTION 'ml.deploy: strategy "version" needs a version' USING ERRCODE = 'invalid_parameter_value';
      END IF;
      target := version;
      why := 'pinned version';
    ELSE
      RAISE EXCEPTION 'ml.deploy: unknown strategy "%"', strategy
        USING ERRCODE = 'invalid_parameter_value',
              HINT = 'Use best_score, most_recent, rollback, or a version number.';
  END CASE;
  IF target IS NULL THEN
    RAISE EXCEPTION 'ml.deploy: project "%" has no version to deploy', project
      USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'Train one with ml.train.';
  END IF;
  RETURN ml._record_deployment(project, target, strategy, why);
END $$;
COMMENT ON FUNCTION ml.deploy(text, text, int) IS
  'Makes a version serve: strategy best_score (highest key metric on its test split), most_recent, rollback (to the version the current one replaced), or a version number. Needs the deploy right on the project. Appends to ml.deployments (deployed_by: the calling role) and returns the version.';

-- ---------------------------------------------------------------- evaluate, export

CREATE FUNCTION ml._version_model(project text, version int, fn text) RETURNS ml.models
LANGUAGE plpgsql STABLE AS $$
DECLARE
  m ml.models;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM ml.projects WHERE name = project) THEN
    RAISE EXCEPTION '%: project "%" does not exist', fn, project USING ERRCODE = 'undefined_object';
  END IF;
  IF version IS NULL THEN
    version := ml.deployed_version(project);
    IF version IS NULL THEN
      RAISE EXCEPTION '%: project "%" has no deployed version; name a version', fn, project
        USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
  END IF;
  SELECT mm.* INTO m FROM ml.models mm JOIN ml.projects p ON p.id = mm.project_id
   WHERE p.name = project AND mm.version = _version_model.version;
  IF NOT FOUND THEN
    RAISE EXCEPTION '%: project "%" has no version %', fn, project, version USING ERRCODE = 'undefined_object';
  END IF;
  RETURN m;
END $$;

CREATE FUNCTION ml.evaluate(project text, source text, version int DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  m ml.models;
  src text;
  result jsonb;
  task text;
BEGIN
  m := ml._version_model(project, version, 'ml.evaluate');
  src := ml._source_sql('ml.evaluate', source);
  task := (SELECT p.task FROM ml.projects p WHERE p.name = project);
  BEGIN
    EXECUTE format('SELECT s.%I FROM %s s LIMIT 0', m.label, src);
  EXCEPTION WHEN undefined_column THEN
    RAISE EXCEPTION 'ml.evaluate: the source has no label column "%"', m.label
      USING ERRCODE = 'undefined_column', HINT = 'Version ' || m.version || ' of "' || project || '" was trained to predict "' || m.label || '".';
  END;
  EXECUTE format('SELECT ml.metrics($1, ml.encode($1, s.*), s.%I::%s) FROM %s s WHERE s.%I IS NOT NULL',
                 m.label, CASE task WHEN 'regression' THEN 'float8' ELSE 'text' END, src, m.label)
    INTO result USING m.model;
  RETURN result || jsonb_build_object('project', project, 'version', m.version);
END $$;
COMMENT ON FUNCTION ml.evaluate(text, text, int) IS
  'The test metrics of a version (default: the deployed one) on new labelled rows from a table, view or query.';

CREATE FUNCTION ml.export(project text, version int DEFAULT NULL, format text DEFAULT 'onnx') RETURNS bytea
LANGUAGE plpgsql AS $$
DECLARE
  m ml.models;
BEGIN
  IF format NOT IN ('onnx', 'json') THEN
    RAISE EXCEPTION 'ml.export: unknown format "%"', format
      USING ERRCODE = 'invalid_parameter_value', HINT = 'Use onnx or json.';
  END IF;
  m := ml._version_model(project, version, 'ml.export');
  IF format = 'onnx' THEN
    RETURN ml.export_onnx(m.model);
  END IF;
  RETURN convert_to(jsonb_pretty(jsonb_build_object(
           'project', project, 'version', m.version, 'algorithm', m.algorithm,
           'label', m.label, 'features', m.features, 'metrics', m.metrics,
           'trained_at', m.created_at, 'model', ml.describe(m.model))), 'UTF8');
END $$;
COMMENT ON FUNCTION ml.export(text, int, text) IS
  'A version (default: the deployed one) as a file: ''onnx'' (ONNX-ML graph with the preprocessing) or ''json'' (coefficients, preprocessing, metrics).';

-- ---------------------------------------------------------------- scoring triggers

CREATE FUNCTION ml._score_trigger() RETURNS trigger
    AS 'MODULE_PATHNAME', 'ml_score_trigger' LANGUAGE C;

CREATE FUNCTION ml.score_on_insert(tbl regclass, project text, output_column text,
                                   version_column text DEFAULT NULL) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  trigger_name text := 'ml_score_' || output_column;
  spec_columns text[];
  missing text[];
  v int;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM ml.projects WHERE name = project) THEN
    RAISE EXCEPTION 'ml.score_on_insert: project "%" does not exist', project USING ERRCODE = 'undefined_object';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = tbl AND attname = output_column AND attnum > 0 AND NOT attisdropped) THEN
    RAISE EXCEPTION 'ml.score_on_insert: table % has no column "%"', tbl, output_column USING ERRCODE = 'undefined_column';
  END IF;
  IF version_column IS NOT NULL AND NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = tbl AND attname = version_column
                                                  AND attnum > 0 AND NOT attisdropped AND atttypid IN ('int4'::regtype, 'int8'::regtype)) THEN
    RAISE EXCEPTION 'ml.score_on_insert: table % has no integer column "%"', tbl, version_column USING ERRCODE = 'undefined_column';
  END IF;
  v := ml.deployed_version(project);
  IF v IS NOT NULL THEN
    SELECT array_agg(c ->> 'name') INTO spec_columns
      FROM ml.models m JOIN ml.projects p ON p.id = m.project_id,
           jsonb_array_elements(ml.describe(m.model) -> 'info' -> 'preprocess' -> 'columns') c
     WHERE p.name = project AND m.version = v;
    SELECT array_agg(c) INTO missing FROM unnest(spec_columns) c
     WHERE NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = tbl AND attname = c AND attnum > 0 AND NOT attisdropped);
    IF missing IS NOT NULL THEN
      RAISE EXCEPTION 'ml.score_on_insert: table % lacks column(s) % that version % of "%" reads', tbl,
        array_to_string(missing, ', '), v, project USING ERRCODE = 'undefined_column';
    END IF;
  END IF;
  EXECUTE format('CREATE OR REPLACE TRIGGER %I BEFORE INSERT OR UPDATE%s ON %s FOR EACH ROW EXECUTE FUNCTION ml._score_trigger(%L, %L, %L)',
                 trigger_name,
                 CASE WHEN spec_columns IS NULL THEN '' ELSE ' OF ' || (SELECT string_agg(quote_ident(c), ', ') FROM unnest(spec_columns) c) END,
                 tbl, project, output_column, coalesce(version_column, ''));
  RETURN trigger_name;
END $$;
COMMENT ON FUNCTION ml.score_on_insert(regclass, text, text, text) IS
  'Installs a C trigger that writes the deployed version''s prediction (and optionally its version number) into each new row, for INSERT, COPY and UPDATE of the feature columns. Without a deployed version the columns are set to NULL and rows are still stored. Rerun after deploying a model with other columns. Returns the trigger name.';

CREATE FUNCTION ml.drop_scoring(tbl regclass, output_column text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = tbl AND tgname = 'ml_score_' || output_column) THEN
    RAISE EXCEPTION 'ml.drop_scoring: table % has no scoring trigger for "%"', tbl, output_column
      USING ERRCODE = 'undefined_object';
  END IF;
  EXECUTE format('DROP TRIGGER %I ON %s', 'ml_score_' || output_column, tbl);
END $$;
COMMENT ON FUNCTION ml.drop_scoring(regclass, text) IS 'Removes the scoring trigger ml.score_on_insert installed for that output column.';

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
                 'ml.deploy(text, text, int), ml.evaluate(text, text, int), ml.export(text, int, text), '
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
  'Lets a role call the training functions: train, evaluate, export, deploy, schedule, train on events, queue runs, grant projects. What it may do to a project is decided by its right on it (owner, or ml.grant_project). Training reads the source with the rights of the role the source belongs to, also when the daemon runs it.';

REVOKE EXECUTE ON FUNCTION ml.train(text, text, text, text, jsonb, float8, int, text[], text, text), ml.deploy(text, text, int),
  ml.evaluate(text, text, int), ml.export(text, int, text), ml.score_on_insert(regclass, text, text, text),
  ml.drop_scoring(regclass, text), ml.create_project(text, text, text), ml.set_deploy_policy(text, text),
  ml._record_version(text, text, ml.models), ml._record_deployment(text, int, text, text),
  ml.grant_project(text, name, text), ml.revoke_project(text, name),
  ml.allow_source(text, regclass), ml.disallow_source(text, regclass),
  ml.grant_predict(name), ml.grant_train(name) FROM PUBLIC;
