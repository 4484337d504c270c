-- ---------------------------------------------------------------- ml.train
-- Training a version: the source read with its owner's rights, the preprocessing learned
-- from the training rows, a reproducible split, the fit by the algorithm's aggregate
-- (ml.algorithms()), the evaluation on the held-out rows, the record, the deployment.

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

-- ---------------------------------------------------------------- feature values

-- THE numeric-text rule of training, serving, drift monitoring and the gateway's feature
-- check: the Swift NumericText (Sources/PgScoreNumericText). Text is a number when,
-- spaces around it ignored, it is a plain decimal -- optional sign, digits with an
-- optional point, an optional exponent of at most 4 digits -- whose value is 0 or between
-- 1e-307 and 1e308 in magnitude. Hexadecimal ('0x10', '0x1p3'), 'inf', 'nan', '1_000',
-- full-width digits and values out of that range are not numbers.
CREATE FUNCTION ml._numeric_text(value text) RETURNS float8
    AS 'MODULE_PATHNAME', 'ml_numeric_text' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

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

-- the preprocessing learned from the training rows (train_from: "<source> d WHERE <the
-- training rows>", read by ml._pass as the source's role; the columns are those of
-- pg_temp.pgscore_train_columns). Returns the spec the Swift Preprocessor replays, the
-- feature list, the per-feature statistics for drift, the columns left out, and the
-- encoded feature names. The fit itself (means, variances, numeric text or categories,
-- the category limit) is the Swift aggregate ml._preprocess_fit, all columns in one pass
-- over the rows; exact deciles need order statistics, so they are one more pass
-- (percentile_cont over the values the same rule reads: PostgreSQL sorts, spilling to
-- disk, where a sketch in the aggregate would make the drift bins approximate), and the
-- drift bins' shares one pass per numeric column over those cuts.
CREATE FUNCTION ml._train_preprocessing(label text, exclude text[], do_scale boolean, trees boolean, unknown_cat text,
    train_from text, OUT spec jsonb, OUT features jsonb, OUT stats jsonb, OUT dropped jsonb, OUT feature_names text[])
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  rows          text := train_from;
  row_type      regclass := 'pg_temp.pgscore_train_columns'::regclass;
  names         text[];
  types         regtype[];
  families      text[];
  collations    text[];
  exprs         text[] := '{}';
  fits          text[] := '{}';
  results       jsonb[];
  r             jsonb;
  numeric_at    int[] := '{}';
  deciles       jsonb[];
  cats          text[];
  cuts          float8[];
  shares        float8[];
  st            jsonb;
  spec_cols     jsonb := '[]';
  numeric_names text[] := '{}';
  onehot_names  text[] := '{}';
BEGIN
  features := '[]';
  stats := '{}';
  dropped := '[]';
  SELECT coalesce(array_agg(a.attname::text ORDER BY a.attnum), '{}'), array_agg(a.atttypid::regtype ORDER BY a.attnum),
         array_agg(ml._feature_family(a.atttypid) ORDER BY a.attnum),
         array_agg(coalesce(nullif(a.attcollation, 0), 100)::regcollation::text ORDER BY a.attnum)
    INTO names, types, families, collations
    FROM pg_attribute a
   WHERE a.attrelid = row_type AND a.attnum > 0 AND NOT a.attisdropped
     AND a.attname <> label AND a.attname <> 'pgscore_test__' AND a.attname <> ALL (exclude);
  FOR i IN 1 .. cardinality(names) LOOP
    IF families[i] IS NULL THEN
      RAISE EXCEPTION 'ml.train: column "%" is of type %, which is not a feature type', names[i], types[i]
        USING ERRCODE = 'datatype_mismatch',
              HINT = 'Features are numbers, money, booleans, text, enums, dates, timestamps and intervals; '
                     'exclude it (exclude => ARRAY[' || quote_literal(names[i]) || ']) or convert it in a query.';
    END IF;
    -- the value the fit reads (numeric text: ml._numeric_text's, the same Swift rule)
    exprs := exprs || CASE families[i]
      WHEN 'number' THEN format('d.%I::float8', names[i])
      WHEN 'money' THEN format('d.%I::numeric::float8', names[i])
      WHEN 'boolean' THEN format('d.%I::int::float8', names[i])
      -- epoch seconds (an interval: its length); 'infinity' gives a non-finite value, refused by the fit
      WHEN 'datetime' THEN format('extract(epoch FROM d.%I)::float8', names[i])
      ELSE format('ml._numeric_text(d.%I::text)', names[i]) END;
    fits := fits || format('ml._preprocess_fit(%s, %L::jsonb)',
      CASE WHEN families[i] = 'text' THEN format('d.%I::text', names[i]) ELSE exprs[i] END,
      jsonb_build_object('name', names[i], 'type', types[i]::text, 'scale', do_scale, 'keep_missing', trees,
                         'unknown', unknown_cat));
  END LOOP;
  IF cardinality(fits) > 0 THEN
    BEGIN
      SELECT q.r INTO results FROM ml._pass(format('SELECT ARRAY[%s]::jsonb[] FROM %s', array_to_string(fits, ', '), rows)) AS q(r jsonb[]);
    EXCEPTION WHEN numeric_value_out_of_range THEN
      -- a number beyond float8 (numeric 1e400): the column that holds it, by name
      FOR i IN 1 .. cardinality(fits) LOOP
        BEGIN
          PERFORM FROM ml._pass(format('SELECT %s FROM %s', fits[i], rows)) AS q(r jsonb);
        EXCEPTION WHEN numeric_value_out_of_range THEN
          RAISE EXCEPTION 'ml.train: column "%" holds NaN, Infinity or values too large to average; features must be finite numbers', names[i]
            USING ERRCODE = 'data_exception',
                  HINT = 'Filter those rows out or turn them into NULL (a missing value) in a query source.';
        END;
      END LOOP;
      RAISE;
    END;
  END IF;
  FOR i IN 1 .. cardinality(fits) LOOP
    IF results[i] IS NULL OR results[i] ? 'dropped' THEN
      dropped := dropped || coalesce(results[i] -> 'dropped', jsonb_build_object('column', names[i], 'reason', 'always missing'));
    ELSIF results[i] #>> '{column,kind}' = 'numeric' THEN
      numeric_at := numeric_at || i;
    END IF;
  END LOOP;
  IF cardinality(numeric_at) > 0 THEN
    SELECT q.d INTO deciles
      FROM ml._pass(format('SELECT ARRAY[%s] FROM %s',
                   (SELECT string_agg(format('to_jsonb(percentile_cont(ARRAY[0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9]) WITHIN GROUP (ORDER BY %s))',
                                             exprs[i]), ', ' ORDER BY o)
                      FROM unnest(numeric_at) WITH ORDINALITY u(i, o)), rows)) AS q(d jsonb[]);
  END IF;
  FOR i IN 1 .. cardinality(fits) LOOP
    r := results[i];
    CONTINUE WHEN r IS NULL OR r ? 'dropped';
    st := r -> 'stats';
    IF r #>> '{column,kind}' = 'numeric' THEN
      numeric_names := numeric_names || names[i];
      -- the share of training values in each bin [c_i, c_i+1) between the distinct deciles
      -- (width_bucket's bins): what drift monitoring compares live traffic with; exact,
      -- where shares guessed from decile ranks are wrong for rounded or discrete values
      cuts := ARRAY(SELECT DISTINCT c::float8 FROM jsonb_array_elements_text(deciles[array_position(numeric_at, i)]) c ORDER BY 1);
      SELECT q.s INTO shares FROM ml._pass(format($q$SELECT array_agg(coalesce(b.cnt, 0)::float8 / greatest(t.n, 1) ORDER BY j)
                         FROM generate_series(0, cardinality($1)) j
                         CROSS JOIN (SELECT count(*) AS n FROM (SELECT %1$s AS v FROM %2$s) q WHERE v IS NOT NULL) t
                         LEFT JOIN (SELECT width_bucket(v, $1) AS bucket, count(*) AS cnt
                                      FROM (SELECT %1$s AS v FROM %2$s) q
                                     WHERE v IS NOT NULL GROUP BY 1) b ON b.bucket = j$q$, exprs[i], rows), cuts)
        AS q(s float8[]);
      st := st || jsonb_build_object('deciles', deciles[array_position(numeric_at, i)],
                                     'bins', jsonb_build_object('cuts', to_jsonb(cuts), 'shares', to_jsonb(shares)));
      spec_cols := spec_cols || (r -> 'column');
    ELSE
      -- the categories in the column's collation, which the Swift fit does not know
      EXECUTE format('SELECT ARRAY(SELECT c FROM jsonb_array_elements_text($1) c ORDER BY c COLLATE %s)', collations[i])
        INTO cats USING r #> '{column,categories}';
      onehot_names := onehot_names || ARRAY(SELECT names[i] || '=' || c FROM unnest(cats) c);
      spec_cols := spec_cols || jsonb_set(r -> 'column', '{categories}', to_jsonb(cats));
    END IF;
    stats := stats || jsonb_build_object(names[i], st);
    features := features || (r -> 'feature');
  END LOOP;
  IF jsonb_array_length(spec_cols) = 0 THEN
    RAISE EXCEPTION 'ml.train: no usable feature columns (every column is the label, excluded, constant or empty)'
      USING ERRCODE = 'data_exception', DETAIL = 'Dropped: ' || dropped::text;
  END IF;
  IF jsonb_array_length(dropped) > 0 THEN
    RAISE NOTICE 'ml.train: columns left out: %', dropped;
  END IF;
  spec := jsonb_build_object('columns', spec_cols);
  feature_names := numeric_names || onehot_names;
END $$;

-- one pass over the labelled rows of the source (labelled: "<source> d WHERE <label
-- given>"): the test metrics of a model on the held-out rows (test_pred; NULL without
-- any), the row counts, and the fingerprint of the rows with their side of the split
-- (order-independent: a sum of row hashes); a category only the held-out rows hold is
-- scored as unseen (all zeros), so whether a table trains does not depend on where the
-- split falls
CREATE FUNCTION ml._train_evaluate(model ml.model, spec jsonb, task text, label text, label_expr text,
                                   labelled text, test_pred text,
                                   OUT metrics jsonb, OUT n_rows bigint, OUT n_test bigint, OUT fingerprint text)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  eval_spec jsonb;
BEGIN
  eval_spec := jsonb_build_object('columns', (SELECT jsonb_agg(CASE WHEN c ->> 'kind' = 'categorical'
                                                                 THEN c || '{"unknown": "ignore"}' ELSE c END ORDER BY o)
                                               FROM jsonb_array_elements(spec -> 'columns') WITH ORDINALITY e(c, o)));
  SELECT * INTO metrics, n_rows, n_test, fingerprint
    FROM ml._pass(format($q$SELECT ml.metrics($1, ml.encode($2, d.*), %1$s) FILTER (WHERE %2$s), count(*),
                                   count(*) FILTER (WHERE %2$s),
                                   count(*) || ' rows, ' || md5(coalesce(sum(hashtextextended(ROW(d.*, %2$s)::text, 0)::numeric), 0)::text)
                              FROM %3$s$q$,
                         CASE task WHEN 'regression' THEN label_expr ELSE format('d.%I::text', label) END, test_pred, labelled),
                  model, eval_spec) AS q(metrics jsonb, n_rows bigint, n_test bigint, fingerprint text);
  IF n_test = 0 THEN
    metrics := NULL;
  END IF;
END $$;

-- deploys a new version by the project's policy, or by ml.train's deploy override;
-- true when it did
CREATE FUNCTION ml._train_deploy(project text, version int, key text, score float8, deploy text)
RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  proj           ml.projects;
  policy         text;
  has_deployed   boolean;
  deployed_score float8;
  deploy_it      boolean;
BEGIN
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
    PERFORM ml._record_deployment(project, version,
              CASE policy WHEN 'most_recent' THEN 'most_recent' ELSE 'best_score' END,
              CASE WHEN has_deployed IS NULL THEN 'first version of the project'
                   WHEN deploy = 'most_recent' THEN 'deploy => most_recent'
                   WHEN policy = 'most_recent' THEN 'policy most_recent'
                   ELSE format('%s %s beats the deployed %s', key, round(score::numeric, 4), round(deployed_score::numeric, 4)) END);
  END IF;
  RETURN deploy_it;
END $$;
REVOKE EXECUTE ON FUNCTION ml._train_preprocessing(text, text[], boolean, boolean, text, text),
  ml._train_evaluate(ml.model, jsonb, text, text, text, text, text), ml._train_deploy(text, int, text, float8, text) FROM PUBLIC;


-- the task of a new version: the project's, else from the label's type (integers with at
-- most 20 values are classes in the source, "<source> d")
CREATE FUNCTION ml._train_task(project text, label text, label_type regtype, label_cat "char", source_from text)
RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  proj      ml.projects;
  n_classes bigint;
  task      text;
BEGIN
  SELECT * INTO proj FROM ml.projects p WHERE p.name = project;
  IF FOUND THEN
    task := proj.task;
  ELSIF label_cat IN ('B', 'S') THEN
    task := 'classification';
  ELSIF label_type IN ('smallint'::regtype, 'integer'::regtype, 'bigint'::regtype) THEN
    SELECT q.n INTO n_classes FROM ml._pass(format('SELECT count(DISTINCT d.%I) FROM %s', label, source_from)) AS q(n bigint);
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
  RETURN task;
END $$;

-- The reproducible split (stratified by label for classification), applied on the fly:
-- per class, the round(n x test_fraction) rows with the smallest hashes of their content
-- and the seed are the test rows. One pass counts the classes, one finds each class's
-- threshold hash (an ordered-set aggregate over 8-byte hashes: PostgreSQL sorts those,
-- spilling if need be, never the rows); test_pred is then a per-row predicate on d (the
-- source's row): its hash is at most its class's threshold. Rows identical in content
-- hash alike and fall on the same side (the copies at a threshold go to whichever side
-- leaves the class's test count nearer the exact one, so n_test may differ from it by
-- such copies; ml._train_evaluate counts them).
CREATE FUNCTION ml._train_split(labelled text, label text, label_type regtype, task text, test_fraction float8, seed int,
                                OUT n_total bigint, OUT n_test bigint, OUT n_classes bigint, OUT test_pred text)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  grp     text := CASE WHEN task = 'classification' THEN format('d.%I', label) ELSE 'true' END;
  classes text[];
  ns      bigint[];
  ks      bigint[];
  hs      bigint[];
  fracs   text := '';
  bound   text := '';
  below   bigint[];
  at      bigint[];
  all_classes text[];
  k_i     bigint;
  i       int;
BEGIN
  SELECT * INTO classes, ns, ks
    FROM ml._pass(format('SELECT array_agg(c::text ORDER BY c), array_agg(n ORDER BY c), array_agg(round(n * %s)::bigint ORDER BY c)
                            FROM (SELECT %s AS c, count(*) AS n FROM %s GROUP BY 1) q', test_fraction, grp, labelled))
      AS q(classes text[], ns bigint[], ks bigint[]);
  n_total := coalesce((SELECT sum(n) FROM unnest(ns) n), 0);
  IF n_total = 0 THEN
    RAISE EXCEPTION 'ml.train: the source has no rows with a label'
      USING ERRCODE = 'data_exception', HINT = 'Check the source and that "' || label || '" is filled in.';
  END IF;
  IF task = 'classification' THEN
    n_classes := cardinality(classes);
    IF n_classes < 2 THEN
      RAISE EXCEPTION 'ml.train: label "%" has only one class in the source; a classifier needs at least two', label
        USING ERRCODE = 'data_exception';
    END IF;
  END IF;
  n_test := (SELECT sum(k) FROM unnest(ks) k);
  IF n_test = 0 THEN
    test_pred := 'false';
    RETURN;
  END IF;
  -- (k - 0.5) / n: percentile_disc's ceil(fraction x n) is the k-th hash, whatever the rounding;
  -- the hashes are computed below the sort (OFFSET 0), so only (class, hash) pairs are sorted
  FOR i IN 1 .. cardinality(classes) LOOP
    IF ks[i] > 0 THEN
      fracs := fracs || format(' WHEN %s THEN %s', CASE WHEN task = 'classification' THEN format('%L::%s', classes[i], label_type) ELSE 'true' END,
                               (ks[i] - 0.5) / ns[i]);
    END IF;
  END LOOP;
  all_classes := classes;
  SELECT * INTO classes, hs
    FROM ml._pass(format('SELECT array_agg(c::text ORDER BY c), array_agg(t ORDER BY c)
                            FROM (SELECT c, percentile_disc(CASE c%2$s END::float8) WITHIN GROUP (ORDER BY h) AS t
                                    FROM (SELECT %1$s AS c, hashtextextended((d.*)::text, $1) AS h FROM %3$s OFFSET 0) r
                                   WHERE CASE c%2$s END IS NOT NULL GROUP BY 1) q', grp, fracs, labelled), seed)
      AS q(classes text[], hs bigint[]);
  FOR i IN 1 .. cardinality(classes) LOOP
    bound := bound || format(' WHEN %s THEN %s', CASE WHEN task = 'classification' THEN format('%L::%s', classes[i], label_type) ELSE 'true' END, hs[i]);
  END LOOP;
  -- copies of the row at a threshold (rows identical in content hash alike) go together:
  -- to the test rows when that brings the class's test count nearer to k than leaving
  -- them out does, else to the training rows (so a class made of copies of one row is
  -- not held out whole); one more pass over the hashes counts them
  SELECT * INTO below, at
    FROM ml._pass(format('SELECT array_agg(lt ORDER BY c), array_agg(eq ORDER BY c)
                            FROM (SELECT c, count(*) FILTER (WHERE h < CASE c%2$s END) AS lt, count(*) FILTER (WHERE h = CASE c%2$s END) AS eq
                                    FROM (SELECT %1$s AS c, hashtextextended((d.*)::text, $1) AS h FROM %3$s OFFSET 0) r
                                   WHERE CASE c%2$s END IS NOT NULL GROUP BY 1) q', grp, bound, labelled), seed)
      AS q(below bigint[], at bigint[]);
  bound := '';
  FOR i IN 1 .. cardinality(classes) LOOP
    k_i := ks[array_position(all_classes, classes[i])];
    bound := bound || format(' WHEN %s THEN hashtextextended((d.*)::text, %s) %s %s',
                             CASE WHEN task = 'classification' THEN format('%L::%s', classes[i], label_type) ELSE 'true' END, seed,
                             CASE WHEN abs(below[i] + at[i] - k_i) <= abs(below[i] - k_i) THEN '<=' ELSE '<' END, hs[i]);
  END LOOP;
  test_pred := format('coalesce(CASE %s%s END, false)', grp, bound);
END $$;
REVOKE EXECUTE ON FUNCTION ml._train_task(text, text, regtype, "char", text),
  ml._train_split(text, text, regtype, text, float8, int) FROM PUBLIC;

-- The fit on the training rows: logistic regression in memory while the rows fit under
-- pgscore.max_training_memory (the aggregate keeps 8 x features + 4 bytes a row and four
-- p x p Hessians), in passes that keep no rows beyond it (or when asked: "fit"); a tree
-- beyond the memory setting on a reproducible sample (the training rows with the smallest
-- hashes of their content and the seed, "max_rows" of them -- a threshold hash found by a
-- pass that keeps max_rows hashes, then a predicate; copies of the row at the threshold
-- come along --; without max_rows, as many as take half of the setting: the aggregate
-- keeps a byte a value when no column is numeric (one-hot columns have two values), else
-- 8 (a numeric column may have more than 255 values), plus the label, and the fit's
-- scratch a byte a value and ~72 a row). The rows are train_from ("<source> d WHERE
-- <training rows>"), read by ml._pass. Returns the model, how it was fitted
-- (ml.models.fit) and the rows used (counted by the fit's pass).
CREATE FUNCTION ml._train_fit(algo text, agg text, trees boolean, label_expr text, spec jsonb, opts jsonb,
                              fit_choice text, max_rows bigint, n_train bigint, n_features int, n_classes bigint, seed int,
                              train_from text, OUT model ml.model, OUT fit jsonb, OUT rows_used bigint)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  fit_state  bytea;
  fit_bytes  float8;
  tree_row   float8;
  fit_limit  float8 := (SELECT st.setting::float8 FROM pg_settings st WHERE st.name = 'pgscore.max_training_memory') * 1048576;
  threshold  bigint;
BEGIN
  IF algo = 'logistic_regression' THEN
    fit_bytes := n_train::float8 * (8 * n_features + 4)
                 + 32 * ((n_features + 1) * CASE WHEN n_classes > 2 THEN n_classes ELSE 1 END)::float8 ^ 2;
  END IF;
  PERFORM ml._progress_phase(3, 0);
  IF algo = 'logistic_regression' AND (fit_choice = 'passes' OR (fit_choice = 'auto' AND fit_bytes > 0.9 * fit_limit)) THEN
    fit_state := ml.logreg_start(opts);
    LOOP
      SELECT * INTO fit_state, rows_used
        FROM ml._pass(format('SELECT ml.logreg_step(ml.encode($1, d.*), %s, $2), count(*) FROM %s', label_expr, train_from),
                      spec, fit_state) AS q(state bytea, n bigint);
      PERFORM ml._progress_phase(3, (ml.logreg_fit_info(fit_state) ->> 'passes')::int, n_train,
                                 'logistic regression: ' || (ml.logreg_fit_info(fit_state) - 'features' - 'classes')::text);
      EXIT WHEN ml.logreg_fit_info(fit_state) ->> 'phase' = 'done';
    END LOOP;
    model := ml.logreg_model(fit_state);
    fit := jsonb_build_object('fit', 'passes', 'passes', (ml.logreg_fit_info(fit_state) ->> 'passes')::int,
                              'memory_in_memory_fit', fit_bytes, 'max_training_memory', fit_limit);
    RETURN;
  END IF;
  IF trees THEN
    -- a row: one byte a feature while every feature has at most 255 values (one-hot
    -- columns always), else 8, plus the label; the fit's scratch (boosting's the most): a byte a feature and ~72
    tree_row := CASE WHEN jsonb_path_exists(spec, '$.columns[*] ? (@.kind == "numeric")')
                     THEN 8 * n_features ELSE n_features END + 8 + n_features + 72;
    IF max_rows IS NULL AND n_train::float8 * tree_row > 0.5 * fit_limit THEN
      max_rows := floor(0.5 * fit_limit / tree_row);
      RAISE NOTICE 'ml.train: % training rows need more than half of pgscore.max_training_memory; training on a sample of % rows (hyperparameter "max_rows")',
        n_train, max_rows;
    END IF;
    IF max_rows < n_train THEN
      -- the hash of the row as a training row (its content and "false", not a test row)
      SELECT q.h INTO threshold
        FROM ml._pass(format('SELECT (SELECT h FROM (SELECT hashtextextended(ROW(d.*, false)::text, $1) AS h FROM %s OFFSET 0) q
                                       ORDER BY h OFFSET $2 - 1 LIMIT 1)', train_from), seed + 1, max_rows) AS q(h bigint);
      IF threshold IS NOT NULL THEN
        train_from := format('%s AND hashtextextended(ROW(d.*, false)::text, %s) <= %s', train_from, seed + 1, threshold);
      END IF;
    END IF;
  END IF;
  SELECT * INTO model, rows_used
    FROM ml._pass(format('SELECT %s(ml.encode($1, d.*), %s, $2), count(*) FROM %s', agg, label_expr, train_from), spec, opts)
      AS q(model ml.model, n bigint);
  fit := CASE WHEN algo IN ('linear_regression', 'naive_bayes') THEN '{"fit": "sums", "passes": 1}'::jsonb
              ELSE jsonb_build_object('fit', 'memory', 'passes', 1) END;
  IF trees THEN
    fit := fit || jsonb_build_object('max_rows', max_rows, 'sampled', max_rows IS NOT NULL AND max_rows < n_train,
                                     'rows', rows_used);
  END IF;
  IF algo = 'logistic_regression' THEN
    fit := fit || jsonb_build_object('memory_in_memory_fit', fit_bytes, 'max_training_memory', fit_limit);
  END IF;
END $$;
REVOKE EXECUTE ON FUNCTION ml._train_fit(text, text, boolean, text, jsonb, jsonb, text, bigint, bigint, int, bigint, int, text) FROM PUBLIC;

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
  user_src     text;
  src_from     text;
  labelled     text;
  test_pred    text;
  evaluated    record;
  label_type   regtype;
  label_cat    "char";
  label_expr   text;
  task         text;
  algo         text;
  agg          text;
  fits         boolean;
  opts         jsonb;
  do_scale     boolean;
  trees        boolean;
  unknown_cat  text := coalesce(hyperparams ->> 'unknown_categories', 'error');
  fit_choice   text := coalesce(hyperparams ->> 'fit', 'auto');
  max_rows     bigint;
  fitted       record;
  pre          record;
  n_total      bigint;
  n_test       bigint;
  n_classes    bigint;
  bad          text[];
  spec         jsonb;
  model        ml.model;
  metrics      jsonb;
  key          text;
  score        float8;
  fingerprint  text;
  v            ml.models;
  deploy_it    boolean := false;
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

  -- the source (a query, or a table or view name in the caller's search_path) is never
  -- copied: its columns come from a read of no rows into a temporary table, and every
  -- later step is one aggregate pass over it (ml._pass), run with the rights of the role it
  -- belongs to, all under one snapshot
  user_src := ml._source_sql('ml.train', source, search_path);
  PERFORM ml._progress_begin(coalesce((SELECT a.id FROM ml.algorithms() a WHERE lower(algorithm) IN (a.name, a.alias)), 0));
  IF to_regclass('pg_temp.pgscore_train_columns') IS NOT NULL THEN DROP TABLE pg_temp.pgscore_train_columns; END IF;
  PERFORM ml._read_as(ml._source_reader('ml.train', user_src, who), search_path,
                      format('SELECT * FROM %s s LIMIT 0', user_src), 'pgscore_train_columns');
  PERFORM ml._pass_begin(ml._source_reader('ml.train', user_src, who), search_path);
  src_from := user_src || ' d';
  SELECT a.atttypid::regtype, t.typcategory INTO label_type, label_cat
    FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
   WHERE a.attrelid = 'pg_temp.pgscore_train_columns'::regclass AND a.attname = label
     AND a.attnum > 0 AND NOT a.attisdropped;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'ml.train: label column "%" is not in the source', label
      USING ERRCODE = 'undefined_column',
            HINT = 'Columns: ' || (SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute
                                   WHERE attrelid = 'pg_temp.pgscore_train_columns'::regclass AND attnum > 0 AND NOT attisdropped);
  END IF;
  IF EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = 'pg_temp.pgscore_train_columns'::regclass
               AND a.attname = 'pgscore_test__' AND a.attnum > 0 AND NOT a.attisdropped) THEN
    RAISE EXCEPTION 'ml.train: the source has a column named "pgscore_test__", the one name ml.train reserves (its train/test split)'
      USING ERRCODE = 'duplicate_column', HINT = 'Rename that column in a query source.';
  END IF;
  SELECT array_agg(e) INTO bad FROM unnest(exclude) e
   WHERE NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = 'pg_temp.pgscore_train_columns'::regclass
                        AND a.attname = e AND a.attnum > 0 AND NOT a.attisdropped);
  IF bad IS NOT NULL THEN
    RAISE EXCEPTION 'ml.train: excluded column(s) % are not in the source', array_to_string(bad, ', ')
      USING ERRCODE = 'undefined_column';
  END IF;

  -- the task: the project's, or from the label's type
  task := ml._train_task(project, label, label_type, label_cat, src_from);
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

  -- the labelled rows, with a reproducible split
  labelled := format('%s WHERE d.%I IS NOT NULL', src_from, label);
  SELECT * INTO n_total, n_test, n_classes, test_pred
    FROM ml._train_split(labelled, label, label_type, task, test_fraction, seed);
  PERFORM ml._progress_phase(2, 0, n_total);

  -- preprocessing, learned from the training rows only
  SELECT * INTO pre FROM ml._train_preprocessing(label, exclude, do_scale, trees, unknown_cat,
                                                 format('%s AND NOT %s', labelled, test_pred));
  spec := pre.spec;
  -- one-hot categories sum to 1 like the intercept: a least-squares fit on them has no
  -- unique solution, so without an l2 of its own a linear regression gets a tiny ridge
  -- (1e-6 x training rows; the slots are 0/1 and the numbers scaled, so it shrinks by ~1e-6)
  IF algo = 'linear_regression' AND jsonb_path_exists(spec, '$.columns[*] ? (@.kind == "categorical")') AND NOT opts ? 'l2' THEN
    opts := opts || jsonb_build_object('l2', 1e-6 * (n_total - n_test));
  END IF;

  -- train on the training rows
  SELECT * INTO fitted FROM ml._train_fit(algo, agg, trees, label_expr, spec, opts, fit_choice, max_rows,
                                          n_total - n_test, cardinality(pre.feature_names), n_classes, seed,
                                          format('%s AND NOT %s', labelled, test_pred));
  model := fitted.model;
  model := ml.with_info(model, jsonb_build_object('preprocess', spec, 'project', project, 'label', label,
             'label_type', label_type::text, 'task', task,
             'feature_names', to_jsonb(pre.feature_names)));

  -- evaluate on the held-out rows
  PERFORM ml._progress_phase(4, coalesce((fitted.fit ->> 'passes')::int, 1), n_test);
  key := CASE task WHEN 'regression' THEN 'r2' ELSE 'accuracy' END;
  evaluated := ml._train_evaluate(model, spec, task, label, label_expr, labelled, test_pred);
  PERFORM ml._pass_end();
  metrics := evaluated.metrics;
  n_test := evaluated.n_test;
  score := (metrics ->> key)::float8;
  fingerprint := evaluated.fingerprint;

  v.algorithm := algo;
  v.hyperparams := (ml.describe(model) -> 'options') || jsonb_build_object('scale', do_scale, 'unknown_categories', unknown_cat)
                   || CASE WHEN algo = 'logistic_regression' THEN jsonb_build_object('fit', fit_choice) ELSE '{}' END
                   || CASE WHEN trees AND hyperparams ? 'max_rows' THEN jsonb_build_object('max_rows', max_rows) ELSE '{}' END;
  v.label := label;
  v.label_type := label_type::text;
  v.features := pre.features;
  -- a table or view is recorded schema-qualified, as resolved now: a retrain by the daemon
  -- (ml.enqueue_run falls back on this) must read the same relation from any search_path
  v.source := CASE WHEN left(user_src, 1) = '(' THEN source ELSE user_src END;
  v.train_rows := fitted.rows_used;
  v.test_rows := n_test;
  v.fingerprint := fingerprint;
  v.feature_stats := pre.stats || jsonb_build_object('_dropped', pre.dropped);
  v.metrics := metrics;
  v.key_metric := key;
  v.score := score;
  v.split := jsonb_build_object('test_fraction', test_fraction, 'seed', seed,
                                'stratified', task = 'classification');
  v.duration_ms := extract(epoch FROM clock_timestamp() - started) * 1000;
  v.pgscore_version := (SELECT extversion FROM pg_extension WHERE extname = 'pgscore');
  v.model := model;
  v.fit := fitted.fit;
  v := ml._record_version(project, task, v);
  DROP TABLE pg_temp.pgscore_train_columns;

  deploy_it := ml._train_deploy(project, v.version, key, score, deploy);

  PERFORM ml._progress_end();
  result := (project, v.version, algo, key, score, deploy_it, metrics);
  RETURN result;
END $$;
COMMENT ON FUNCTION ml.train(text, text, text, text, jsonb, float8, int, text[], text, text) IS
  'Trains a new version of a project from a table, view or query (names resolved in search_path, by default the caller''s; never copied: read in aggregate passes under one snapshot, with the rights of the role the source belongs to: the caller for a query or its own relations, a view''s owner for another role''s view; never pgscore''s own tables or system catalogs). Needs the train right on an existing project; a new project is owned by the caller. Records who trained and the metrics it computed itself. Learns preprocessing (mean imputation, standard scaling, numeric text with "?" as missing by the rule of ml._numeric_text, money as numeric, dates/timestamps as epoch seconds, intervals as seconds, one-hot categories for text, char, varchar and enums; other types refused), splits reproducibly (by a hash of each row''s content and the seed, on the fly; stratified for classification), evaluates on the test part, records the version and deploys it by the project''s policy, or by deploy (best_score | most_recent | manual) for this call. hyperparams: the algorithm''s options plus "scale" (true), "unknown_categories" ("error" | "ignore") and, for logistic regression, "fit" ("auto": in memory while the rows fit under pgscore.max_training_memory, else in passes that keep no rows; "memory"; "passes"), for the trees "max_rows" (a reproducible sample by hash; chosen by itself beyond half of pgscore.max_training_memory); ml.models.fit records how it was fitted.';
