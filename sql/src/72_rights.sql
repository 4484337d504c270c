-- ---------------------------------------------------------------- who may do what
-- Projects have an owner (the role that created them) and grants: predict < train <
-- deploy < admin, each including the ones before. Superusers, the project's owner (and
-- members of the owner role) and the daemon's roles (ml.grant_gateway: the REST gateway
-- enforces its keys' scopes and projects itself) hold admin. Predict-only roles see only
-- the projects granted to them: row-level security on the registry tables.
--
-- Who acts: ml._acting_role() -- the session's role as SET ROLE left it, or, while the
-- daemon executes a run or a monitor for someone, that someone. Registry records (who
-- trained, who deployed) and every rights check use it; callers never pass a name.
--
-- User SQL (a query source, a view, a table with row-level security, a monitor's labels
-- relation) is evaluated only by ml._read_as and ml._pass, as the role it belongs to, in a
-- security-restricted context (extension/run_as.c, source_passes.c): never as the daemon
-- or the extension's owner.

CREATE FUNCTION ml._acting_role() RETURNS name
    AS 'MODULE_PATHNAME', 'ml_acting_role' LANGUAGE C STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION ml._acting_role() IS
  'The role pgscore records and checks rights for: the session''s role (as SET ROLE left it; SECURITY DEFINER functions do not change it), or the role a daemon-executed run or monitor acts for.';

CREATE FUNCTION ml._set_acting_role(role name) RETURNS void
    AS 'MODULE_PATHNAME', 'ml_set_acting_role' LANGUAGE C VOLATILE;

CREATE FUNCTION ml._read_as(role name, search_path text, query text, target name, arg bigint[] DEFAULT NULL)
RETURNS bigint
    AS 'MODULE_PATHNAME', 'ml_read_as' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ml._read_as(name, text, text, name, bigint[]) IS
  'Internal: plans and runs one SELECT as role (security-restricted: no SET ROLE, no RESET ROLE) and copies its rows into pg_temp.target; target NULL only checks the query can run. Granted to no one.';

CREATE FUNCTION ml._check_select(query text) RETURNS void
    AS 'MODULE_PATHNAME', 'ml_check_select' LANGUAGE C IMMUTABLE STRICT;

-- ml.train's passes over its source (extension/source_passes.c): each step is one
-- aggregate statement run as the source's role, security-restricted as ml._read_as, all
-- of one training under one snapshot
CREATE FUNCTION ml._pass_begin(role name, search_path text) RETURNS void
    AS 'MODULE_PATHNAME', 'ml_pass_begin' LANGUAGE C VOLATILE;
CREATE FUNCTION ml._pass(query text) RETURNS record
    AS 'MODULE_PATHNAME', 'ml_pass' LANGUAGE C VOLATILE;
CREATE FUNCTION ml._pass(query text, VARIADIC args "any") RETURNS record
    AS 'MODULE_PATHNAME', 'ml_pass' LANGUAGE C VOLATILE;
CREATE FUNCTION ml._pass_end() RETURNS void
    AS 'MODULE_PATHNAME', 'ml_pass_end' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ml._pass(text, "any") IS
  'Internal: runs one SELECT returning one row ($1, $2, ... the arguments) as the role of ml._pass_begin (security-restricted: no SET ROLE, no RESET ROLE), under the snapshot ml._pass_begin took; call it in FROM with a column definition list. Granted to no one.';

REVOKE EXECUTE ON FUNCTION ml._set_acting_role(name), ml._read_as(name, text, text, name, bigint[]),
  ml._pass_begin(name, text), ml._pass(text), ml._pass(text, "any"), ml._pass_end() FROM PUBLIC;

CREATE TABLE ml.project_grants (
    project_id int NOT NULL REFERENCES ml.projects ON DELETE CASCADE,
    role       name NOT NULL,
    privilege  text NOT NULL CHECK (privilege IN ('predict', 'train', 'deploy', 'admin')),
    granted_by name NOT NULL,
    granted_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, role)
);
COMMENT ON TABLE ml.project_grants IS
  'ml.grant_project: a role''s right on a project (predict < train < deploy < admin, each including the ones before; role public: everyone). The owner of a project (ml.projects.owner) holds admin without a row here.';

CREATE TABLE ml.service_roles (
    role       name PRIMARY KEY,
    granted_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE ml.service_roles IS
  'Roles that run pgscore serve (ml.grant_gateway): admin on every project, since the gateway enforces its API keys'' scopes itself. Runs they queue read relations only, never queries.';

CREATE TABLE ml.project_sources (
    project_id int REFERENCES ml.projects ON DELETE CASCADE,
    source     regclass NOT NULL,
    allowed_by name NOT NULL,
    allowed_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE NULLS NOT DISTINCT (project_id, source)
);
COMMENT ON TABLE ml.project_sources IS
  'ml.allow_source: the tables and views the gateway may train a project on (POST /v1/projects/{project}/train); project_id NULL: any project. Runs the daemon''s role queues may name only these.';

SELECT pg_catalog.pg_extension_config_dump('ml.project_grants', '');
SELECT pg_catalog.pg_extension_config_dump('ml.project_sources', '');
SELECT pg_catalog.pg_extension_config_dump('ml.service_roles', '');

CREATE FUNCTION ml._right_rank(privilege text) RETURNS int
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT CASE privilege WHEN 'predict' THEN 1 WHEN 'train' THEN 2 WHEN 'deploy' THEN 3 WHEN 'admin' THEN 4 END $$;

-- whether a role exists and is (a member of) another one; false for dropped roles
CREATE FUNCTION ml._member_of(who name, role name) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT CASE WHEN role = 'public' THEN true
              WHEN EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolname = who)
                   AND EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolname = role)
              THEN pg_has_role(who, role, 'MEMBER') ELSE false END $$;

CREATE FUNCTION ml._is_service(who name) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  -- a superuser is a member of every role, but not therefore the gateway
  SELECT NOT EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolname = who AND r.rolsuper)
         AND EXISTS (SELECT 1 FROM ml.service_roles s WHERE ml._member_of(who, s.role)) $$;

-- a role's rank on a project: 0 none, 1 predict, 2 train, 3 deploy, 4 admin
CREATE FUNCTION ml._rank(project_id int, who name) RETURNS int
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT CASE
    WHEN EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolname = who AND r.rolsuper) THEN 4
    WHEN ml._is_service(who) THEN 4
    WHEN EXISTS (SELECT 1 FROM ml.projects p WHERE p.id = project_id AND ml._member_of(who, p.owner)) THEN 4
    ELSE coalesce((SELECT max(ml._right_rank(g.privilege)) FROM ml.project_grants g
                    WHERE g.project_id = _rank.project_id AND ml._member_of(who, g.role)), 0) END $$;

-- the row-level security predicate of the registry tables (who: current_user of the
-- reader): ml._rank >= 1, written out in plpgsql because it runs for every registry row a
-- scoring query reads (plpgsql keeps its plans for the session; a SQL function's are
-- made again for every query: 10x slower scoring for non-superusers, measured)
CREATE FUNCTION ml._may_see(project_id int, who name) RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  RETURN project_id IS NULL
      OR EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolname = who AND r.rolsuper)
      OR EXISTS (SELECT 1 FROM ml.service_roles s JOIN pg_roles r ON r.rolname = s.role
                  WHERE pg_has_role(who, r.oid, 'MEMBER'))
      OR EXISTS (SELECT 1 FROM ml.projects p JOIN pg_roles r ON r.rolname = p.owner
                  WHERE p.id = _may_see.project_id AND pg_has_role(who, r.oid, 'MEMBER'))
      OR EXISTS (SELECT 1 FROM ml.project_grants g LEFT JOIN pg_roles r ON r.rolname = g.role
                  WHERE g.project_id = _may_see.project_id AND (g.role = 'public' OR pg_has_role(who, r.oid, 'MEMBER')));
END $$;

-- whether the gateway may train project on source for an API key (ml.allow_source)
CREATE FUNCTION ml._source_allowed(project text, source regclass) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT EXISTS (SELECT 1 FROM ml.project_sources s LEFT JOIN ml.projects p ON p.id = s.project_id
                  WHERE (s.project_id IS NULL OR p.name = $1) AND s.source = $2) $$;

-- the project, if the acting role holds the privilege on it; 42704 if it does not exist
-- (or is not visible to the role), 42501 if the role holds less
CREATE FUNCTION ml._require(fn text, project text, privilege text) RETURNS ml.projects
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  p    ml.projects;
  who  name := ml._acting_role();
  rank int;
BEGIN
  SELECT * INTO p FROM ml.projects WHERE name = project;
  rank := CASE WHEN FOUND THEN ml._rank(p.id, who) ELSE 0 END;
  IF NOT FOUND OR rank = 0 THEN
    RAISE EXCEPTION '%: project "%" does not exist', fn, project USING ERRCODE = 'undefined_object';
  END IF;
  IF rank < ml._right_rank(privilege) THEN
    RAISE EXCEPTION '%: role "%" may not % project "%"', fn, who,
      CASE privilege WHEN 'admin' THEN 'administer' ELSE privilege END, project
      USING ERRCODE = 'insufficient_privilege',
            HINT = format('Its owner (%s) or an admin of it can give the right: SELECT ml.grant_project(%L, %L, %L).',
                          p.owner, project, who, privilege);
  END IF;
  RETURN p;
END $$;

CREATE FUNCTION ml.grant_project(project text, role name, privilege text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  p ml.projects := ml._require('ml.grant_project', project, 'admin');
BEGIN
  IF ml._right_rank(privilege) IS NULL THEN
    RAISE EXCEPTION 'ml.grant_project: unknown privilege "%"', privilege
      USING ERRCODE = 'invalid_parameter_value', HINT = 'Use predict, train, deploy or admin.';
  END IF;
  IF role IS NULL OR role <> 'public' AND NOT EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolname = role) THEN
    RAISE EXCEPTION 'ml.grant_project: role "%" does not exist', role USING ERRCODE = 'undefined_object';
  END IF;
  INSERT INTO ml.project_grants AS g (project_id, role, privilege, granted_by)
  VALUES (p.id, grant_project.role, grant_project.privilege, ml._acting_role())
  ON CONFLICT ON CONSTRAINT project_grants_pkey DO UPDATE
     SET privilege = excluded.privilege, granted_by = excluded.granted_by, granted_at = now();
END $$;
COMMENT ON FUNCTION ml.grant_project(text, name, text) IS
  'Gives a role (or public) a right on a project: predict (score, read its versions), train (also train, schedule, train on events, monitor with alert/retrain), deploy (also deploy, roll back, monitors that roll back), admin (also grant, change its policy). Replaces the role''s earlier grant. Needs admin on the project (its owner has it).';

CREATE FUNCTION ml.revoke_project(project text, role name) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  p ml.projects := ml._require('ml.revoke_project', project, 'admin');
BEGIN
  DELETE FROM ml.project_grants g WHERE g.project_id = p.id AND g.role = revoke_project.role;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'ml.revoke_project: role "%" holds no grant on project "%"', role, project
      USING ERRCODE = 'undefined_object';
  END IF;
END $$;
COMMENT ON FUNCTION ml.revoke_project(text, name) IS 'Takes back a role''s grant on a project (the owner keeps admin).';

CREATE FUNCTION ml.allow_source(project text, source regclass) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  who name := ml._acting_role();
  p   ml.projects;
BEGIN
  PERFORM ml._source_sql('ml.allow_source', source::text);       -- not pgscore's own tables, not a catalog
  IF NOT has_table_privilege(who, source, 'SELECT') THEN
    RAISE EXCEPTION 'ml.allow_source: role "%" may not read %', who, source USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF project IS NULL THEN
    IF NOT (ml._member_of(who, (SELECT pg_get_userbyid(c.relowner) FROM pg_class c WHERE c.oid = source))
            OR EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolname = who AND r.rolsuper)) THEN
      RAISE EXCEPTION 'ml.allow_source: only the owner of % can allow it for every project', source
        USING ERRCODE = 'insufficient_privilege', HINT = 'Name a project you administer instead.';
    END IF;
  ELSE
    p := ml._require('ml.allow_source', project, 'admin');
  END IF;
  INSERT INTO ml.project_sources (project_id, source, allowed_by) VALUES (p.id, allow_source.source, who)
  ON CONFLICT ON CONSTRAINT project_sources_project_id_source_key DO NOTHING;
END $$;
COMMENT ON FUNCTION ml.allow_source(text, regclass) IS
  'Lets API keys train a project on a table or view (POST /v1/projects/{project}/train names a source; only allowed ones are accepted). Needs admin on the project and SELECT on the source; project NULL: every project, which only the source''s owner (or a superuser) may allow. ml.disallow_source takes it back.';

CREATE FUNCTION ml.disallow_source(project text, source regclass) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  p ml.projects;
BEGIN
  IF project IS NOT NULL THEN
    p := ml._require('ml.disallow_source', project, 'admin');
  ELSIF NOT ml._member_of(ml._acting_role(), (SELECT pg_get_userbyid(c.relowner) FROM pg_class c WHERE c.oid = source))
        AND NOT EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolname = ml._acting_role() AND r.rolsuper) THEN
    RAISE EXCEPTION 'ml.disallow_source: only the owner of % can change what every project may train on', source
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  DELETE FROM ml.project_sources s WHERE s.project_id IS NOT DISTINCT FROM p.id AND s.source = disallow_source.source;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'ml.disallow_source: % is not an allowed source of project "%"', source, project
      USING ERRCODE = 'undefined_object';
  END IF;
END $$;
COMMENT ON FUNCTION ml.disallow_source(text, regclass) IS 'Takes back ml.allow_source.';

-- predict-only roles see only the projects granted to them
ALTER TABLE ml.projects ENABLE ROW LEVEL SECURITY;
ALTER TABLE ml.models ENABLE ROW LEVEL SECURITY;
ALTER TABLE ml.deployments ENABLE ROW LEVEL SECURITY;
ALTER TABLE ml.project_grants ENABLE ROW LEVEL SECURITY;
ALTER TABLE ml.project_sources ENABLE ROW LEVEL SECURITY;
CREATE POLICY visible ON ml.project_sources FOR SELECT USING (ml._may_see(project_id, current_user));
CREATE POLICY visible ON ml.projects FOR SELECT USING (ml._may_see(id, current_user));
CREATE POLICY visible ON ml.models FOR SELECT USING (ml._may_see(project_id, current_user));
CREATE POLICY visible ON ml.deployments FOR SELECT USING (ml._may_see(project_id, current_user));
CREATE POLICY visible ON ml.project_grants FOR SELECT USING (ml._may_see(project_id, current_user));
ALTER VIEW ml.versions SET (security_invoker = true);
ALTER VIEW ml.project_overview SET (security_invoker = true);
ALTER VIEW ml.deployment_history SET (security_invoker = true);

-- ---------------------------------------------------------------- sources

-- The FROM item for a source: a query in parentheses (one SELECT, checked), or a table or
-- view name resolved in search_path (the caller's: given, or the current one) and written
-- schema-qualified, so that the same relation is read from any search_path later. A
-- relation in pg_catalog, information_schema, ml, a TOAST or a temporary schema is never
-- a source: pgscore's own tables (predictions, feedback, keys) are not training data.
CREATE FUNCTION ml._source_sql(fn text, source text, search_path text DEFAULT NULL) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
  rel     regclass;
  src     text;
  nsp     text;
  temp    boolean;
  outer_path text := pg_catalog.current_setting('search_path');
BEGIN
  IF source ~* '^\s*\(?\s*(select|with|values|table)\M' THEN
    PERFORM ml._check_select(source);
    RETURN '(' || source || ')';
  END IF;
  IF search_path IS NOT NULL THEN
    PERFORM pg_catalog.set_config('search_path', search_path, true);
  END IF;
  rel := pg_catalog.to_regclass(source);
  IF search_path IS NOT NULL THEN
    PERFORM pg_catalog.set_config('search_path', outer_path, true);
  END IF;
  SELECT format('%I.%I', n.nspname, c.relname), n.nspname, c.relpersistence = 't' INTO src, nsp, temp
    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
   WHERE c.oid = rel;
  IF src IS NULL THEN
    RAISE EXCEPTION '%: source "%" is not a table, a view or a query', fn, source
      USING ERRCODE = 'undefined_table',
            HINT = 'Pass a table or view name, or a query starting with SELECT, WITH, VALUES or TABLE.';
  END IF;
  IF nsp IN ('pg_catalog', 'information_schema', 'ml') OR nsp LIKE 'pg\_toast%' OR temp THEN
    RAISE EXCEPTION '%: % cannot be a training source', fn, src
      USING ERRCODE = 'insufficient_privilege',
            HINT = 'pgscore''s own tables and system catalogs are not training data; temporary tables do not outlive the session. Train on a table or view of your own (a view over ml.predictions joined with ml.feedback, for example).';
  END IF;
  RETURN src;
END $$;

-- The role a source is read as, for a run on behalf of requester (checked: the
-- requester may read it). A query runs as its author, the requester; so does a table or
-- view the requester owns. A view of another role runs as its owner (as PostgreSQL
-- reads a view's tables as the owner, its functions then run with the owner's rights
-- too, not the requester's, the daemon's or the extension's). A table of another role
-- is read as its owner, which sees the same rows, unless row-level security is on:
-- then as the requester (its policies decide), which a daemon role may not do.
CREATE FUNCTION ml._source_reader(fn text, src text, requester name) RETURNS name
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  c pg_class;
  owner name;
BEGIN
  IF left(src, 1) = '(' THEN
    IF ml._is_service(requester) THEN
      RAISE EXCEPTION '%: a run queued by the gateway''s role "%" reads tables and views only, not queries', fn, requester
        USING ERRCODE = 'insufficient_privilege', HINT = 'Create a view and name it as the source.';
    END IF;
    RETURN requester;
  END IF;
  SELECT * INTO c FROM pg_class WHERE oid = src::regclass;
  owner := pg_get_userbyid(c.relowner);
  IF NOT has_table_privilege(requester, c.oid, 'SELECT') THEN
    RAISE EXCEPTION '%: role "%" may not read %', fn, requester, src USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF ml._member_of(requester, owner) THEN
    RETURN requester;
  END IF;
  IF c.relkind = 'v' THEN
    IF coalesce('security_invoker=true' = ANY (c.reloptions) OR 'security_invoker=on' = ANY (c.reloptions), false) THEN
      RAISE EXCEPTION '%: % is a security_invoker view of role "%"; it would run its functions with the rights of "%"',
        fn, src, owner, requester
        USING ERRCODE = 'insufficient_privilege', HINT = 'Train on a view of your own, or one without security_invoker.';
    END IF;
    RETURN owner;
  END IF;
  IF c.relrowsecurity THEN
    IF ml._is_service(requester) THEN
      RAISE EXCEPTION '%: % has row-level security policies of role "%"; the gateway''s role does not evaluate them',
        fn, src, owner USING ERRCODE = 'insufficient_privilege',
        HINT = 'Train on a view owned by a role that may read the table.';
    END IF;
    RETURN requester;
  END IF;
  RETURN owner;
END $$;

REVOKE EXECUTE ON FUNCTION ml._source_reader(text, text, name), ml._is_service(name), ml._rank(int, name) FROM PUBLIC;
