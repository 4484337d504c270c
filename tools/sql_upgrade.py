#!/usr/bin/env python3
"""Assemble pgscore's upgrade script FROM--TO from a hand-written migration and the
current SQL sources (extension/Makefile runs it; see README "Upgrading").

    tools/sql_upgrade.py TO MIGRATION [--after AFTER] SOURCE.sql...  > sql/pgscore--FROM--TO.sql
    tools/sql_upgrade.py --list-one-time SOURCE.sql...  (the statements the upgrade does not re-run)
    tools/sql_upgrade.py --one-time-changes RELEASE.sql SOURCE.sql...
        (those that are new or changed since a release, and the release's that are gone:
         what the migration from that release must carry)

The upgrade script is
  1. the migration (sql/upgrades/FROM--TO.sql), verbatim: everything that exists once
     and cannot be re-run -- tables, columns, indexes, types, casts, policies, data --
     and the DROPs of what changed incompatibly or went away;
  2. every statement of the sources that can be re-run over an existing object, in
     source order: functions, procedures, aggregates, views and triggers (written
     CREATE OR REPLACE here, whatever the source says), COMMENT ON, GRANT, REVOKE,
     ALTER VIEW/FUNCTION, and pg_extension_config_dump (which replaces an existing
     registration).
  3. AFTER (sql/upgrades/FROM--TO.after.sql, optional), verbatim: what needs the new
     functions, such as data rewritten by them or roles re-granted;
  4. INIT_PRIVS_FIXUP below.
So a changed function body needs no migration at all, and the same statements that
build a fresh install define the upgraded objects: the two cannot drift apart silently
(tests/test_upgrade.py compares their pg_dump). Statements of other kinds are skipped
here: the migration must say what to do about them.
"""
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def shown(path):
    """A path as the repository names it (the Makefile passes ../sql/...)."""
    return os.path.relpath(os.path.abspath(path), ROOT)


REPLACEABLE = re.compile(r"CREATE\s+(?:OR\s+REPLACE\s+)?(FUNCTION|PROCEDURE|AGGREGATE|VIEW|TRIGGER)\b", re.I)
RERUNNABLE = re.compile(
    r"(COMMENT\s+ON|GRANT|REVOKE|ALTER\s+(VIEW|FUNCTION|PROCEDURE|AGGREGATE)"
    r"|SELECT\s+(pg_catalog\.)?pg_extension_config_dump\s*\()", re.I)

# PostgreSQL records every GRANT/REVOKE run inside an extension script as the extension's
# initial privileges (pg_init_privs), with the object's whole ACL: re-running a REVOKE
# over a function a user granted to a role, or re-granting roles, would make those
# grants "initial", and pg_dump leaves initial privileges out (they were lost on
# restore). A fresh install records only the owner's and PUBLIC's entries (the install
# script grants nothing to named roles), so keep exactly those.
INIT_PRIVS_FIXUP = """
-- ================================================================ initial privileges
-- (the objects of the extension, and its schema, which is not one of them)
CREATE FUNCTION pg_temp.pgscore_members() RETURNS TABLE (classid oid, objid oid) LANGUAGE sql AS $members$
  SELECT classid, objid FROM pg_catalog.pg_depend
   WHERE refclassid = 'pg_catalog.pg_extension'::regclass AND deptype = 'e'
     AND refobjid = (SELECT oid FROM pg_catalog.pg_extension WHERE extname = 'pgscore')
  UNION ALL
  SELECT 'pg_catalog.pg_namespace'::regclass, extnamespace FROM pg_catalog.pg_extension WHERE extname = 'pgscore'
$members$;
UPDATE pg_catalog.pg_init_privs i
   SET initprivs = ARRAY(SELECT item FROM unnest(i.initprivs) item,
                                LATERAL (SELECT grantee, grantor FROM aclexplode(ARRAY[item]) LIMIT 1) e
                          WHERE e.grantee = 0 OR e.grantee = e.grantor)
 WHERE i.privtype = 'e' AND (i.classoid, i.objoid) IN (SELECT * FROM pg_temp.pgscore_members())
   AND EXISTS (SELECT FROM aclexplode(i.initprivs) e WHERE e.grantee <> 0 AND e.grantee <> e.grantor);
-- an object the install script grants nothing on has no initial privileges at all
DELETE FROM pg_catalog.pg_init_privs i
 WHERE i.privtype = 'e' AND (i.classoid, i.objoid) IN (SELECT * FROM pg_temp.pgscore_members())
   AND ARRAY(SELECT x::text FROM unnest(i.initprivs) x ORDER BY 1) IS NOT DISTINCT FROM
       ARRAY(SELECT x::text FROM unnest(CASE WHEN i.objsubid <> 0 THEN '{}'::aclitem[]
             WHEN i.classoid = 'pg_catalog.pg_proc'::regclass THEN
               (SELECT acldefault('f', proowner) FROM pg_catalog.pg_proc WHERE oid = i.objoid)
             WHEN i.classoid = 'pg_catalog.pg_class'::regclass THEN
               (SELECT acldefault((CASE relkind WHEN 'S' THEN 's' ELSE 'r' END)::"char", relowner) FROM pg_catalog.pg_class WHERE oid = i.objoid)
             WHEN i.classoid = 'pg_catalog.pg_type'::regclass THEN
               (SELECT acldefault('T', typowner) FROM pg_catalog.pg_type WHERE oid = i.objoid)
             WHEN i.classoid = 'pg_catalog.pg_namespace'::regclass THEN
               (SELECT acldefault('n', nspowner) FROM pg_catalog.pg_namespace WHERE oid = i.objoid)
             END) x ORDER BY 1);
DROP FUNCTION pg_temp.pgscore_members();
"""


def statements(text):
    """Split SQL text into (leading comments and blanks, statement) pairs at top-level
    semicolons; quotes, dollar quotes and comments are respected. psql meta-commands
    (a line starting with a backslash) are dropped."""
    out, start, i, n = [], 0, 0, len(text)
    while i < n:
        c = text[i]
        if c == "-" and text.startswith("--", i):
            j = text.find("\n", i)
            i = n if j < 0 else j + 1
        elif c == "/" and text.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if text.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif text.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
        elif c == "'":
            escapes = i > 0 and text[i - 1] in "eE" and (i < 2 or not (text[i - 2].isalnum() or text[i - 2] == "_"))
            i += 1
            while i < n:
                if escapes and text[i] == "\\":
                    i += 2
                elif text[i] == "'":
                    if text.startswith("''", i):
                        i += 2
                    else:
                        break
                else:
                    i += 1
            i += 1
        elif c == '"':
            j = text.find('"', i + 1)
            i = n if j < 0 else j + 1
        elif c == "$" and not (i > 0 and (text[i - 1].isalnum() or text[i - 1] == "_")):
            m = re.match(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$", text[i:])
            if m:
                j = text.find(m.group(0), i + len(m.group(0)))
                if j < 0:
                    raise SystemExit(f"unterminated dollar quote {m.group(0)}")
                i = j + len(m.group(0))
            else:
                i += 1
        elif c == "\\" and (i == 0 or text[i - 1] == "\n"):
            j = text.find("\n", i)
            text = text[:i] + ("" if j < 0 else text[j + 1:])
            n = len(text)
        elif c == ";":
            out.append(text[start:i + 1])
            start = i = i + 1
        else:
            i += 1
    if text[start:].strip() and not re.fullmatch(r"(\s|--[^\n]*\n?)*", text[start:]):
        raise SystemExit("the SQL ends without a semicolon: " + text[start:][:200])
    return [split_leading(s) for s in out]


def split_leading(stmt):
    """(comments and blank lines before the statement, the statement itself)."""
    m = re.match(r"((?:\s+|--[^\n]*\n)*)", stmt)
    return stmt[:m.end()], stmt[m.end():]


def rerunnable(body):
    """The statement as the upgrade runs it, or None if it runs once (migration)."""
    m = REPLACEABLE.match(body)
    if m:
        return f"CREATE OR REPLACE {m.group(1).upper()}" + body[m.end():]
    if RERUNNABLE.match(body):
        return body
    return None


def read_sources(paths):
    for path in paths:
        if path.endswith(".table"):
            # the aggregates table: its statements as sql/aggregates.awk writes them
            text = subprocess.run(["awk", "-f", os.path.join(ROOT, "sql", "aggregates.awk"), path],
                                  check=True, capture_output=True, text=True).stdout
        else:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        yield path, statements(text)


def read_checked(path):
    with open(path, encoding="utf-8") as f:
        sql = f.read()
    statements(sql)                    # fails early on an unterminated quote
    return sql


def one_time(stmts):
    return [" ".join(body.split()) for _, body in stmts if rerunnable(body) is None]


def main(argv):
    if argv[:1] == ["--one-time-changes"]:
        with open(argv[1], encoding="utf-8") as f:
            released = one_time(statements(f.read()))
        current = [(shown(path), stmt) for path, stmts in read_sources(argv[2:]) for stmt in one_time(stmts)]
        for path, stmt in current:
            if stmt not in released:
                print(f"+ {path}: {stmt[:150]}")
        now = {stmt for _, stmt in current}
        for stmt in released:
            if stmt not in now:
                print(f"- {shown(argv[1])}: {stmt[:150]}")
        return
    if argv[:1] == ["--list-one-time"]:
        for path, stmts in read_sources(argv[1:]):
            for _, body in stmts:
                if rerunnable(body) is None:
                    print(f"{shown(path)}: {' '.join(body.split())[:110]}")
        return
    if len(argv) < 3:
        raise SystemExit(__doc__)
    version, migration, sources = argv[0], argv[1], argv[2:]
    after = None
    if sources[:1] == ["--after"]:
        after, sources = sources[1], sources[2:]
    migration_sql = read_checked(migration)
    after_sql = read_checked(after) if after else None
    print(f"-- pgscore upgrade to {version}, generated by tools/sql_upgrade.py: do not edit.")
    print(f"-- 1. the migration {shown(migration)}; 2. the re-runnable statements of sql/src;"
          f" 3. {shown(after) if after else 'no .after.sql'}; 4. the initial-privileges fix.")
    print(f'\\echo Use "ALTER EXTENSION pgscore UPDATE TO \'{version}\'" to load this file. \\quit')
    print()
    print(f"-- ================================================================ {shown(migration)}")
    print(migration_sql.rstrip("\n"))
    for path, stmts in read_sources(sources):
        print(f"\n-- ================================================================ {shown(path)}")
        for leading, body in stmts:
            sql = rerunnable(body)
            if sql is not None:
                print(leading.rstrip(" ") + sql)
    if after_sql is not None:
        print(f"\n-- ================================================================ {shown(after)}")
        print(after_sql.rstrip("\n"))
    print(INIT_PRIVS_FIXUP.rstrip("\n"))


if __name__ == "__main__":
    main(sys.argv[1:])
