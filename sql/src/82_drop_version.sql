-- ---------------------------------------------------------------- ml.drop_version
-- Versions nobody used: scikit-learn's cross-validation and grid searches fit (and the
-- estimators register) one version per fold and candidate. A version that was ever
-- deployed, or has logged predictions, evaluations, drift checks or a training run, is
-- history other rows point to and stays.

CREATE FUNCTION ml.drop_version(project text, version int) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  p   ml.projects := ml._require('ml.drop_version', project, 'train');
  mid bigint;
  why text;
BEGIN
  -- locked: a concurrent ml.deploy of it waits, then finds it gone
  SELECT m.id INTO mid FROM ml.models m WHERE m.project_id = p.id AND m.version = drop_version.version FOR UPDATE;
  IF mid IS NULL THEN
    RAISE EXCEPTION 'ml.drop_version: project "%" has no version %', project, coalesce(version::text, 'NULL')
      USING ERRCODE = 'undefined_object';
  END IF;
  why := CASE
    WHEN EXISTS (SELECT 1 FROM ml.deployments d WHERE d.model_id = mid) THEN 'it was deployed'
    WHEN EXISTS (SELECT 1 FROM ml.predictions r WHERE r.project = p.name AND r.version = drop_version.version)
      THEN 'predictions of it are logged (ml.predictions)'
    WHEN EXISTS (SELECT 1 FROM ml.evaluations e WHERE e.project = p.name AND e.version = drop_version.version)
      THEN 'it has evaluations (ml.evaluations)'
    WHEN EXISTS (SELECT 1 FROM ml.drift d WHERE d.project = p.name AND d.version = drop_version.version)
      THEN 'it has drift checks (ml.drift)'
    WHEN EXISTS (SELECT 1 FROM ml.training_runs r WHERE r.project = p.name AND r.version = drop_version.version)
      THEN 'a training run made it (ml.training_runs)'
  END;
  IF why IS NOT NULL THEN
    RAISE EXCEPTION 'ml.drop_version: version % of project "%" is history: %', version, project, why
      USING ERRCODE = 'dependent_objects_still_exist',
            HINT = 'Only versions that were never deployed and that nothing recorded refers to can be dropped.';
  END IF;
  DELETE FROM ml.models m WHERE m.id = mid;
END $$;
COMMENT ON FUNCTION ml.drop_version(text, int) IS
  'Removes a version nothing refers to: never deployed, no logged predictions, evaluations, drift checks or training run (else 2BP01; no such version: 42704). Needs the train right on the project. For the scratch versions of experiments (the Python estimators drop theirs); the number of a dropped newest version is given again by the next ml.train.';
REVOKE EXECUTE ON FUNCTION ml.drop_version(text, int) FROM PUBLIC;
