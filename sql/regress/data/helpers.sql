-- Helpers shared by the regression tests (\i'd with ECHO off; they live in pg_temp).

-- runs a statement and prints "SQLSTATE message [detail] (hint)", or "no error"
CREATE FUNCTION pg_temp.try(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE s text; m text; d text; h text;
BEGIN
  EXECUTE q;
  RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS s = RETURNED_SQLSTATE, m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL,
                          h = PG_EXCEPTION_HINT;
  RETURN s || ' ' || m || CASE WHEN d <> '' THEN ' [' || d || ']' ELSE '' END
           || CASE WHEN h <> '' THEN ' (' || h || ')' ELSE '' END;
END $$;

-- whether the plan of a query has a line matching a pattern
CREATE FUNCTION pg_temp.plan_has(q text, pattern text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE line text;
BEGIN
  FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP
    IF line ~ pattern THEN RETURN true; END IF;
  END LOOP;
  RETURN false;
END $$;
