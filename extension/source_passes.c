/*
 * source_passes.c -- ml.train's passes over a training source, run as the source's role.
 *
 * ml.train makes no copy of its source: every step (the split's thresholds, the
 * preprocessing statistics, each pass of a fit, the evaluation) is one aggregate
 * statement over the source that returns one row. The trust boundary is the one of
 * ml._read_as (run_as.c): the statement is planned and run as the role the source
 * belongs to, security-restricted (no SET ROLE, no RESET ROLE, no temporary tables).
 * The statement text is built by ml.train alone; the user's part of it is the source
 * subquery ml._source_sql validated.
 *
 * The passes of one ml.train must see the same rows, also in READ COMMITTED while other
 * sessions commit inserts: ml._pass_begin takes one snapshot and every ml._pass runs
 * under it (SPI_execute_snapshot), until ml._pass_end, the end of the transaction, or the
 * abort of the subtransaction that began it.
 *
 * Superuser capabilities like ml._read_as: EXECUTE is granted to no one.
 */
#include "pgscore.h"
#include "run_as.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"

PG_FUNCTION_INFO_V1(ml_pass_begin);
PG_FUNCTION_INFO_V1(ml_pass);
PG_FUNCTION_INFO_V1(ml_pass_end);

/* the passes of the ml.train running now: whose rights, which search_path, which snapshot */
static struct
{
	bool		active;
	Oid			role;
	char	   *search_path;	/* TopMemoryContext */
	Snapshot	snapshot;		/* registered on TopTransactionResourceOwner */
	int			nest_level;
}			passes;

static bool callbacks_registered = false;

static void
forget_passes(bool unregister)
{
	if (!passes.active)
		return;
	if (unregister)
		UnregisterSnapshotFromOwner(passes.snapshot, TopTransactionResourceOwner);
	if (passes.search_path != NULL)
		pfree(passes.search_path);
	passes.search_path = NULL;
	passes.snapshot = NULL;
	passes.active = false;
}

/* at commit the snapshot is given back (else: a leak warning); an abort releases it itself */
static void
passes_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_PRE_COMMIT || event == XACT_EVENT_PARALLEL_PRE_COMMIT ||
		event == XACT_EVENT_PRE_PREPARE)
		forget_passes(true);
	else if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
		forget_passes(false);
}

/* an ml.train that failed inside a caught exception block leaves no passes behind */
static void
passes_subxact_callback(SubXactEvent event, SubTransactionId mySubid, SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB && passes.active && GetCurrentTransactionNestLevel() <= passes.nest_level)
		forget_passes(true);
}

/* ml._pass_begin(role, search_path): the passes that follow run as role, under one snapshot */
Datum
ml_pass_begin(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("ml._pass_begin: the role is required")));
	if (passes.active)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("ml.train: another training is reading its source in this transaction"),
				 errhint("ml.train cannot be called from inside a training source.")));
	if (!callbacks_registered)
	{
		RegisterXactCallback(passes_xact_callback, NULL);
		RegisterSubXactCallback(passes_subxact_callback, NULL);
		callbacks_registered = true;
	}
	passes.role = get_role_oid(NameStr(*PG_GETARG_NAME(0)), false);
	passes.search_path = PG_ARGISNULL(1) ? NULL
		: MemoryContextStrdup(TopMemoryContext, text_to_cstring(PG_GETARG_TEXT_PP(1)));
	passes.snapshot = RegisterSnapshotOnOwner(GetTransactionSnapshot(), TopTransactionResourceOwner);
	passes.nest_level = GetCurrentTransactionNestLevel();
	passes.active = true;
	PG_RETURN_VOID();
}

Datum
ml_pass_end(PG_FUNCTION_ARGS)
{
	forget_passes(true);
	PG_RETURN_VOID();
}

/*
 * ml._pass(query [, VARIADIC args "any"]) -> record
 *
 * Runs query (one SELECT returning one row; $1, $2, ... are args, with their types) as
 * the passes' role under their snapshot, and returns its row as the record the call's
 * column definition list describes (the same number of columns, of the same types).
 */
Datum
ml_pass(PG_FUNCTION_ARGS)
{
	const char *function = "ml._pass";
	UserPhase	phase;
	char	   *sql;
	int			nargs = PG_NARGS() - 1;
	Oid		   *argtypes;
	Datum	   *values;
	char	   *nulls;
	TupleDesc	expected;
	MemoryContext caller_cxt = CurrentMemoryContext;
	HeapTuple	result = NULL;
	volatile bool in_user_phase = false;
	int			i;

	if (!passes.active)
		ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						errmsg("%s: no passes begun (ml._pass_begin)", function)));
	if (PG_ARGISNULL(0))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("%s: the query is required", function)));
	if (get_call_result_type(fcinfo, NULL, &expected) != TYPEFUNC_COMPOSITE)
		ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						errmsg("%s: call it in FROM with a column definition list", function)));
	if (nargs > 0 && get_fn_expr_variadic(fcinfo->flinfo))
		ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						errmsg("%s: pass the arguments one by one, not as a VARIADIC array", function)));
	sql = text_to_cstring(PG_GETARG_TEXT_PP(0));
	check_single_select(sql, "ml.train");

	argtypes = palloc(sizeof(Oid) * Max(nargs, 1));
	values = palloc(sizeof(Datum) * Max(nargs, 1));
	nulls = palloc(Max(nargs, 1) + 1);
	for (i = 0; i < nargs; i++)
	{
		argtypes[i] = get_fn_expr_argtype(fcinfo->flinfo, i + 1);
		if (!OidIsValid(argtypes[i]) || argtypes[i] == UNKNOWNOID)
			ereport(ERROR, (errcode(ERRCODE_INDETERMINATE_DATATYPE),
							errmsg("%s: argument %d has no type; cast it", function, i + 1)));
		nulls[i] = PG_ARGISNULL(i + 1) ? 'n' : ' ';
		values[i] = PG_ARGISNULL(i + 1) ? (Datum) 0 : PG_GETARG_DATUM(i + 1);
	}
	nulls[nargs] = '\0';

	phase.role = passes.role;
	phase.search_path = passes.search_path;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "%s: SPI_connect failed", function);
	PG_TRY();
	{
		SPIPlanPtr	plan;
		int			rc;
		TupleDesc	got;
		Datum	   *row;
		bool	   *isnull;

		enter_user_phase(&phase);
		in_user_phase = true;
		plan = SPI_prepare_cursor(sql, nargs, argtypes, CURSOR_OPT_PARALLEL_OK);
		if (plan == NULL)
			elog(ERROR, "%s: SPI_prepare failed: %s", function, SPI_result_code_string(SPI_result));
		rc = SPI_execute_snapshot(plan, values, nulls, passes.snapshot, InvalidSnapshot, false, false, 2);
		leave_user_phase(&phase);
		in_user_phase = false;

		if (rc != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "%s: the query must return one row, it returned " UINT64_FORMAT, function, SPI_processed);
		got = SPI_tuptable->tupdesc;
		if (got->natts != expected->natts)
			elog(ERROR, "%s: the query returns %d columns, the call expects %d", function, got->natts, expected->natts);
		for (i = 0; i < got->natts; i++)
			if (TupleDescAttr(got, i)->atttypid != TupleDescAttr(expected, i)->atttypid)
				elog(ERROR, "%s: column %d of the query is %s, the call expects %s", function, i + 1,
					 format_type_be(TupleDescAttr(got, i)->atttypid), format_type_be(TupleDescAttr(expected, i)->atttypid));
		row = palloc(sizeof(Datum) * got->natts);
		isnull = palloc(sizeof(bool) * got->natts);
		heap_deform_tuple(SPI_tuptable->vals[0], got, row, isnull);
		{
			MemoryContext spi_cxt = MemoryContextSwitchTo(caller_cxt);

			result = heap_form_tuple(BlessTupleDesc(expected), row, isnull);
			MemoryContextSwitchTo(spi_cxt);
		}
	}
	PG_CATCH();
	{
		if (in_user_phase)
			abandon_user_phase(&phase);
		PG_RE_THROW();
	}
	PG_END_TRY();
	SPI_finish();
	PG_RETURN_DATUM(HeapTupleGetDatum(result));
}
