-- ---------------------------------------------------------------- requested_by

-- The daemon deploys as its own role for many API keys: it names the key (the audit
-- trail's "who"). Only a service role (or a superuser, who could write the row anyway)
-- may speak for someone else; any other caller may only name itself, so
-- ml.deployments.requested_by cannot be forged.
CREATE FUNCTION ml._check_requested_by(fn text, requested_by text) RETURNS void
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF requested_by IS NOT NULL AND requested_by IS DISTINCT FROM ml._acting_role()::text
     AND NOT ml._is_service(ml._acting_role())
     AND NOT EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolname = ml._acting_role() AND r.rolsuper) THEN
    RAISE EXCEPTION '%: only a service role (ml.grant_gateway) may pass requested_by for someone else; role "%" passed "%"',
                    fn, ml._acting_role(), requested_by
      USING ERRCODE = 'insufficient_privilege',
            HINT = 'Leave requested_by NULL: ml.deployments records your role as deployed_by.';
  END IF;
END $$;

-- ---------------------------------------------------------------- ml.deploy

CREATE FUNCTION ml.deploy(project text, strategy text DEFAULT 'best_score', version int DEFAULT NULL,
                          requested_by text DEFAULT NULL)
RETURNS int
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  p ml.projects;
  target int;
  cur record;
  why text;
BEGIN
  p := ml._require('ml.deploy', project, 'deploy');
  PERFORM ml._check_requested_by('ml.deploy', requested_by);
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
  RETURN ml._record_deployment(project, target, strategy, why, requested_by);
END $$;
COMMENT ON FUNCTION ml.deploy(text, text, int, text) IS
  'Makes a version serve: strategy best_score (highest key metric on its test split), most_recent, rollback (to the version the current one replaced), or a version number. Needs the deploy right on the project. Appends to ml.deployments (deployed_by: the calling role; requested_by: who asked a service role, such as the name of pgscore serve''s API key -- from any other role only its own name, else 42501) and returns the version.';
