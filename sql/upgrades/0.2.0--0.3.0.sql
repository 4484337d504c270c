-- Migration 0.2.0 -> 0.3.0: what the upgrade must do once, before every function, view,
-- aggregate, trigger, comment, grant and config-dump registration of sql/src is re-run
-- (tools/sql_upgrade.py writes CREATE OR REPLACE for them). Put here, in this order:
--   1. DROPs of what 0.3.0 no longer has, or changes in a way CREATE OR REPLACE refuses
--      (a function's return type, argument names or defaults, an aggregate's arguments,
--      a view losing or reordering columns), with the aggregates and views that use them;
--   2. new tables, types, casts, indexes, policies, ENABLE ROW LEVEL SECURITY
--      (a new table's GRANTs, COMMENTs and pg_extension_config_dump need not be repeated:
--      the re-run part does them from sql/src);
--   3. ALTER TABLE ... ADD COLUMN (new columns go at the end, as in sql/src), data changes.
-- `make -s -C extension one-time-sql` lists the one-time statements of sql/src that changed;
-- tests/test_upgrade.py (make test-upgrade) fails if the upgraded schema differs from a fresh install.

-- ml.train streams its source (no temporary copy): its helpers take the FROM clause of
-- their passes as a new argument
DROP FUNCTION ml._train_preprocessing(text, text[], boolean, boolean, text);
DROP FUNCTION ml._train_evaluate(ml.model, jsonb, text, text, text);
DROP FUNCTION ml._train_task(text, text, regtype, "char");
DROP FUNCTION ml._train_split(text, text, float8, int);
DROP FUNCTION ml._train_fit(text, text, boolean, text, jsonb, jsonb, text, bigint, bigint, int, bigint, int);

-- 1. ml.deploy and ml._record_deployment take requested_by (the API key behind the daemon)
--    (the roles ml.grant_train gave ml.deploy to are found again by ml.train in .after.sql)
DROP FUNCTION ml.deploy(text, text, int);
DROP FUNCTION ml._record_deployment(text, int, text, text);

-- 3. who asked the daemon to deploy
ALTER TABLE ml.deployments ADD COLUMN requested_by text;

-- 3. the prediction log's partitions get the index by (project, created_at) that
--    ml._index_prediction_partition now makes for new ones
DO $$
DECLARE
  part regclass;
BEGIN
  FOR part IN SELECT i.inhrelid::regclass FROM pg_catalog.pg_inherits i WHERE i.inhparent = 'ml.predictions'::regclass LOOP
    EXECUTE format('CREATE INDEX ON %s (project, created_at)', part);
  END LOOP;
END $$;
