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
