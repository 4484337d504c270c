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

-- ml._train_preprocessing reads its rows from a FROM clause (issue 12): new arguments
DROP FUNCTION ml._train_preprocessing(text, text[], boolean, boolean, text);
