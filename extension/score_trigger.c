/*
 * score_trigger.c -- ml._score_trigger(project, output column [, version column]):
 * a BEFORE INSERT OR UPDATE row trigger (installed by ml.score_on_insert) that writes
 * the deployed version's prediction into the new row in place, for INSERT, multi-row
 * INSERT, COPY and UPDATE. The deployment is looked up once per statement.
 *
 * When the project has no deployed version, the output (and version) columns are set
 * to NULL and the row is stored: a missing model never loses incoming data.
 */
#include "deployed.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

typedef struct TriggerPlan
{
	Oid			tgoid;
	int			output;			/* attnum */
	Oid			output_type;
	FmgrInfo	input;			/* output column's input function (label text -> value) */
	Oid			input_param;
	int32		output_typmod;
	int			version;		/* attnum or 0 */
	DeployedModel *model;		/* NULL: no deployed version */
	Datum	   *class_values;	/* each class label as an output-column value, made once */
	MemoryContext context;		/* the statement-long context the plan lives in */
	DeployedLookup *memo;
} TriggerPlan;

static int
column_of(TupleDesc desc, const char *name, const char *what)
{
	int			attnum = SPI_fnumber(desc, name);

	if (attnum <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("ml score trigger: %s column \"%s\" does not exist", what, name)));
	return attnum;
}

/*
 * The output-column value of a prediction. A classifier has few labels: each is
 * converted by the column type's input function once per statement, not per row.
 */
static Datum
class_value(TriggerPlan *plan, DeployedModel *dm, text *label)
{
	int64		k = dm->sm.info[PGSC_INFO_CLASSES];
	int64		i;

	if (k > 0 && plan->class_values == NULL)
	{
		Datum	   *cv = MemoryContextAlloc(plan->context, sizeof(Datum) * k);
		MemoryContext old = MemoryContextSwitchTo(plan->context);

		for (i = 0; i < k; i++)
			cv[i] = InputFunctionCall(&plan->input, text_to_cstring(dm->sm.labels[i]),
									  plan->input_param, plan->output_typmod);
		MemoryContextSwitchTo(old);
		plan->class_values = cv;
	}
	for (i = 0; i < k; i++)
		if (dm->sm.labels[i] == label)	/* scoring_predict hands back the cached label */
			return plan->class_values[i];
	return InputFunctionCall(&plan->input, text_to_cstring(label), plan->input_param, plan->output_typmod);
}

PG_FUNCTION_INFO_V1(ml_score_trigger);
Datum
ml_score_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	Trigger    *tg;
	TupleDesc	desc;
	HeapTuple	tuple;
	TriggerPlan *plan;
	Datum		values[2];
	bool		nulls[2] = {true, true};
	int			columns[2];
	int			ncols = 1;
	float8		buffer[PGSCORE_MAX_FEATURES];

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "ml._score_trigger: not called as a trigger");
	if (!TRIGGER_FIRED_BEFORE(td->tg_event) || !TRIGGER_FIRED_FOR_ROW(td->tg_event))
		elog(ERROR, "ml._score_trigger: must fire BEFORE ... FOR EACH ROW");
	if (TRIGGER_FIRED_BY_INSERT(td->tg_event))
		tuple = td->tg_trigtuple;
	else if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
		tuple = td->tg_newtuple;
	else
		elog(ERROR, "ml._score_trigger: must fire for INSERT or UPDATE");
	tg = td->tg_trigger;
	desc = RelationGetDescr(td->tg_relation);

	plan = (TriggerPlan *) fcinfo->flinfo->fn_extra;
	if (plan == NULL || plan->tgoid != tg->tgoid)
	{
		Oid			input;

		if (tg->tgnargs < 2 || tg->tgnargs > 3)
			elog(ERROR, "ml._score_trigger: arguments are (project, output column [, version column])");
		plan = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(TriggerPlan));
		plan->tgoid = tg->tgoid;
		plan->context = fcinfo->flinfo->fn_mcxt;
		plan->output = column_of(desc, tg->tgargs[1], "output");
		plan->output_type = TupleDescAttr(desc, plan->output - 1)->atttypid;
		plan->output_typmod = TupleDescAttr(desc, plan->output - 1)->atttypmod;
		getTypeInputInfo(plan->output_type, &input, &plan->input_param);
		fmgr_info_cxt(input, &plan->input, fcinfo->flinfo->fn_mcxt);
		if (tg->tgnargs == 3 && tg->tgargs[2][0] != '\0')
		{
			Oid			vt;

			plan->version = column_of(desc, tg->tgargs[2], "version");
			vt = TupleDescAttr(desc, plan->version - 1)->atttypid;
			if (vt != INT4OID && vt != INT8OID)
				ereport(ERROR,
						(errcode(ERRCODE_DATATYPE_MISMATCH),
						 errmsg("ml score trigger: version column \"%s\" must be integer or bigint", tg->tgargs[2])));
		}
		/* the deployed model, once per statement (fn_extra lives as long) */
		plan->model = deployed_model(&plan->memo, fcinfo->flinfo->fn_mcxt, cstring_to_text(tg->tgargs[0]),
									 true, "ml score trigger");
		fcinfo->flinfo->fn_extra = plan;
	}

	columns[0] = plan->output;
	if (plan->version > 0)
	{
		columns[1] = plan->version;
		ncols = 2;
	}
	if (plan->model != NULL)
	{
		DeployedModel *dm = plan->model;
		text	   *label;

		scoring_encode_tuple(&dm->sm, tuple, desc, RelationGetForm(td->tg_relation)->reltype, buffer,
							 "ml score trigger", "the deployed version");
		label = DatumGetTextPP(scoring_predict(&dm->sm, buffer, (int) dm->sm.info[PGSC_INFO_FEATURES],
											   "ml score trigger"));
		values[0] = class_value(plan, dm, label);
		nulls[0] = false;
		if (plan->version > 0)
		{
			Oid			vt = TupleDescAttr(desc, plan->version - 1)->atttypid;

			values[1] = vt == INT8OID ? Int64GetDatum(dm->version) : Int32GetDatum(dm->version);
			nulls[1] = false;
		}
	}
	tuple = heap_modify_tuple_by_cols(tuple, desc, ncols, columns, values, nulls);
	return PointerGetDatum(tuple);
}
