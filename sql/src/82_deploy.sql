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
