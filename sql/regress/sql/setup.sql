-- The extension installs into schema ml, and every SQL-visible function has a comment.
CREATE EXTENSION IF NOT EXISTS pgscore;
SELECT extname, extversion, nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
 WHERE extname = 'pgscore';
-- functions and aggregates without a comment (internal helpers start with "_" or "model_")
SELECT p.oid::regprocedure AS missing_comment
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'ml' AND p.proname !~ '^(_|model_(in|out|recv|send)$)'
   AND obj_description(p.oid, 'pg_proc') IS NULL
 ORDER BY 1;
