/*
 * run_as.c -- reading user-supplied SQL with the rights of the role it belongs to.
 *
 * The trust boundary of pgscore (README, "Who may do what"): a training source (a
 * query, a view, a table) or a monitor's labels relation supplied by one role is only
 * ever evaluated with that role's rights, never with those of the daemon or of the
 * extension's owner. SET ROLE cannot give that guarantee: code running after it (a
 * function called by a view) could RESET ROLE and be the daemon again. So the switch is
 * made here, the way PostgreSQL itself runs maintenance code as a table's owner:
 * SetUserIdAndSecContext with SECURITY_RESTRICTED_OPERATION, under which SET ROLE,
 * RESET ROLE, SET SESSION AUTHORIZATION, temporary tables and deferred triggers are
 * refused. Only the planning of the user's query and the fetching of its rows happen as
 * that role; here the rows are copied into a temporary table of the caller (the
 * SECURITY DEFINER registry code), which then works on plain values; ml.train's passes
 * (source_passes.c) instead run one aggregate statement each the same way.
 *
 * These functions are a superuser capability: EXECUTE is granted to no one; only the
 * extension's own SECURITY DEFINER functions call them.
 */
#include "pgscore.h"
#include "run_as.h"

#include "access/heapam.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "parser/parser.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

PG_FUNCTION_INFO_V1(ml_read_as);
PG_FUNCTION_INFO_V1(ml_acting_role);
PG_FUNCTION_INFO_V1(ml_set_acting_role);
PG_FUNCTION_INFO_V1(ml_check_select);

/*
 * The role pgscore acts for: set by ml._set_acting_role for a run the daemon executes
 * for someone (and while a source is read as someone); otherwise the session's role as
 * SET ROLE left it (GetOuterUserId: a SECURITY DEFINER function does not change it).
 */
static Oid	acting_role = InvalidOid;
static bool callback_registered = false;

static void
reset_acting_role(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_PREPARE)
		acting_role = InvalidOid;
}

static Oid
current_acting_role(void)
{
	return OidIsValid(acting_role) ? acting_role : GetOuterUserId();
}

Datum
ml_acting_role(PG_FUNCTION_ARGS)
{
	char	   *name = GetUserNameFromId(current_acting_role(), false);

	PG_RETURN_DATUM(DirectFunctionCall1(namein, CStringGetDatum(name)));
}

Datum
ml_set_acting_role(PG_FUNCTION_ARGS)
{
	if (!callback_registered)
	{
		RegisterXactCallback(reset_acting_role, NULL);
		callback_registered = true;
	}
	acting_role = PG_ARGISNULL(0) ? InvalidOid
		: get_role_oid(NameStr(*PG_GETARG_NAME(0)), false);
	PG_RETURN_VOID();
}

/* A query is one SELECT (or VALUES, TABLE, WITH ... SELECT) and changes nothing. */
void
check_single_select(const char *sql, const char *function)
{
	List	   *raw = raw_parser(sql, RAW_PARSE_DEFAULT);
	RawStmt    *stmt;
	SelectStmt *select;
	ListCell   *lc;

	if (list_length(raw) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("%s: the source must be one query, it holds %d statements", function, list_length(raw)),
				 errhint("Pass a table or view name, or a single SELECT, WITH ... SELECT, VALUES or TABLE query.")));
	stmt = linitial_node(RawStmt, raw);
	if (!IsA(stmt->stmt, SelectStmt))
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("%s: the source must be a query (SELECT, WITH, VALUES or TABLE)", function)));
	select = (SelectStmt *) stmt->stmt;
	if (select->intoClause != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("%s: the source must not be SELECT ... INTO", function)));
	if (select->withClause != NULL)
		foreach(lc, select->withClause->ctes)
		{
			CommonTableExpr *cte = lfirst_node(CommonTableExpr, lc);

			if (!IsA(cte->ctequery, SelectStmt))
				ereport(ERROR,
						(errcode(ERRCODE_SYNTAX_ERROR),
						 errmsg("%s: the source must not change data (WITH \"%s\" AS (INSERT/UPDATE/DELETE ...))",
								function, cte->ctename)));
		}
}

void
enter_user_phase(UserPhase *phase)
{
	GetUserIdAndSecContext(&phase->saved_user, &phase->saved_context);
	phase->saved_acting = acting_role;
	phase->guc_level = NewGUCNestLevel();
	if (phase->search_path != NULL)
		(void) set_config_option("search_path", phase->search_path, PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
	SetUserIdAndSecContext(phase->role,
						   phase->saved_context | SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
	acting_role = phase->role;
}

void
leave_user_phase(UserPhase *phase)
{
	SetUserIdAndSecContext(phase->saved_user, phase->saved_context);
	acting_role = phase->saved_acting;
	AtEOXact_GUC(false, phase->guc_level);
}

/* after an error in the user phase: the caller's identity back (the GUCs unwind with the error) */
void
abandon_user_phase(UserPhase *phase)
{
	SetUserIdAndSecContext(phase->saved_user, phase->saved_context);
	acting_role = phase->saved_acting;
}

/* "CREATE TEMP TABLE pg_temp.target (columns of desc)", every type fully qualified. */
static char *
create_statement(const char *target, TupleDesc desc)
{
	StringInfoData sql;
	int			i;

	initStringInfo(&sql);
	appendStringInfo(&sql, "CREATE TEMP TABLE %s (", quote_identifier(target));
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		appendStringInfo(&sql, "%s%s %s", i > 0 ? ", " : "", quote_identifier(NameStr(att->attname)),
						 format_type_extended(att->atttypid, att->atttypmod,
											  FORMAT_TYPE_TYPEMOD_GIVEN | FORMAT_TYPE_FORCE_QUALIFY));
	}
	appendStringInfoString(&sql, ")");
	return sql.data;
}

/*
 * ml._read_as(role, search_path, query, target, arg) -> bigint
 *
 * Plans and runs query (one SELECT; $1 is arg when given) as role, with search_path,
 * in a security-restricted context, and copies its rows into a new temporary table
 * pg_temp.target of the caller; returns the row count. target NULL: only plan and
 * start the query (the role can read it, the columns exist) and return 0.
 */
Datum
ml_read_as(PG_FUNCTION_ARGS)
{
	const char *function = "ml._read_as";
	UserPhase	phase;
	char	   *sql;
	char	   *target;
	Oid			argtype = INT8ARRAYOID;
	Datum		argvalue = (Datum) 0;
	SPIPlanPtr	plan;
	Portal		portal;
	TupleDesc	desc;
	Relation	rel = NULL;
	volatile int64 rows = 0;
	volatile bool in_user_phase = false;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(2))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("%s: role and query are required", function)));
	phase.role = get_role_oid(NameStr(*PG_GETARG_NAME(0)), false);
	phase.search_path = PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1));
	sql = text_to_cstring(PG_GETARG_TEXT_PP(2));
	target = PG_ARGISNULL(3) ? NULL : pstrdup(NameStr(*PG_GETARG_NAME(3)));
	if (!PG_ARGISNULL(4))
		argvalue = PG_GETARG_DATUM(4);
	check_single_select(sql, function);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "%s: SPI_connect failed", function);
	PG_TRY();
	{
		enter_user_phase(&phase);
		in_user_phase = true;
		plan = SPI_prepare(sql, PG_ARGISNULL(4) ? 0 : 1, &argtype);
		if (plan == NULL)
			elog(ERROR, "%s: SPI_prepare failed: %s", function, SPI_result_code_string(SPI_result));
		portal = SPI_cursor_open(NULL, plan, &argvalue, PG_ARGISNULL(4) ? NULL : " ", false);
		desc = CreateTupleDescCopy(portal->tupDesc);
		leave_user_phase(&phase);
		in_user_phase = false;

		if (target != NULL)
		{
			if (SPI_execute(create_statement(target, desc), false, 0) != SPI_OK_UTILITY)
				elog(ERROR, "%s: could not create the temporary table", function);
			rel = table_open(get_relname_relid(target, LookupExplicitNamespace("pg_temp", false)),
							 RowExclusiveLock);
			for (;;)
			{
				uint64		i;

				CHECK_FOR_INTERRUPTS();
				enter_user_phase(&phase);
				in_user_phase = true;
				SPI_cursor_fetch(portal, true, 1000);
				leave_user_phase(&phase);
				in_user_phase = false;
				if (SPI_processed == 0)
					break;
				for (i = 0; i < SPI_processed; i++)
					simple_heap_insert(rel, SPI_tuptable->vals[i]);
				rows += SPI_processed;
				SPI_freetuptable(SPI_tuptable);
			}
			table_close(rel, NoLock);
			CommandCounterIncrement();
		}
		SPI_cursor_close(portal);
	}
	PG_CATCH();
	{
		if (in_user_phase)
			abandon_user_phase(&phase);
		PG_RE_THROW();
	}
	PG_END_TRY();
	SPI_finish();
	PG_RETURN_INT64(rows);
}

/*
 * ml._check_select(query) -> void: the query is one SELECT that changes nothing
 * (syntax only; nothing is planned or run).
 */
Datum
ml_check_select(PG_FUNCTION_ARGS)
{
	check_single_select(text_to_cstring(PG_GETARG_TEXT_PP(0)), "ml.train");
	PG_RETURN_VOID();
}
