-- After the re-run of sql/src (0.2.0 -> 0.3.0): what needs the new functions.

-- Roles given ml.grant_predict / ml.grant_train / ml.grant_gateway get what those
-- functions give now (a new version's functions and tables included). The roles are
-- found by a right each of them gives; granting twice changes nothing.
SELECT ml.grant_predict(r.rolname)
  FROM pg_catalog.pg_class c, aclexplode(c.relacl) a JOIN pg_catalog.pg_roles r ON r.oid = a.grantee
 WHERE c.oid = 'ml.versions'::regclass AND a.privilege_type = 'SELECT' AND a.grantee <> c.relowner;
SELECT ml.grant_train(r.rolname)
  FROM pg_catalog.pg_proc p, aclexplode(p.proacl) a JOIN pg_catalog.pg_roles r ON r.oid = a.grantee
 WHERE p.pronamespace = 'ml'::regnamespace AND p.proname IN ('deploy', 'train') AND a.privilege_type = 'EXECUTE'
   AND a.grantee <> p.proowner
 GROUP BY r.rolname;
SELECT ml.grant_gateway(s.role) FROM ml.service_roles s JOIN pg_catalog.pg_roles r ON r.rolname = s.role;
