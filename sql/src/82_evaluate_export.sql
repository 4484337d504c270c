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
