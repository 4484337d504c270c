-- ---------------------------------------------------------------- projects and the registry's writers
-- The workflows (81_train.sql, 82_deploy.sql, 82_evaluate_export.sql,
-- 83_scoring_triggers.sql; their grants in 83_workflow_grants.sql): ml.train and ml.deploy
-- are SECURITY DEFINER: they check the acting role's right on the project (72_rights.sql),
-- compute what they record themselves (metrics, score, who) and write the registry through
-- the helpers below; ml.train evaluates the source only through ml._read_as (its columns)
-- and ml._pass (its passes), with the rights of the role the source belongs to. The helpers that write the registry are
-- granted to no one.

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

CREATE FUNCTION ml._record_deployment(project text, version int, strategy text, reason text,
                                      requested_by text DEFAULT NULL)
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
  INSERT INTO ml.deployments (project_id, model_id, version, strategy, replaced_version, reason, deployed_by, requested_by)
  VALUES (p.id, m.id, m.version, strategy, current_version, reason, ml._acting_role(), requested_by);
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
