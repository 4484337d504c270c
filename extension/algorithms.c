/*
 * algorithms.c -- see algorithms.h; and ml.algorithms(), the table SQL reads.
 */
#include "algorithms.h"

#include "funcapi.h"
#include "utils/builtins.h"

/* An id no C switch knows: a damaged state or a newer core, never some other kernel. */
void
unknown_algorithm(int32 algorithm, const char *function)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("%s: unknown algorithm id %d", function, algorithm),
			 errhint("SELECT * FROM ml.algorithms() lists the algorithms this pgscore knows.")));
}

static const char *
algorithm_text(int32 algorithm, int32 field)
{
	const char *text = pgsc_algorithm_text(algorithm, field);

	if (text == NULL)
		unknown_algorithm(algorithm, "pgscore");
	return text;
}

const char *
algorithm_name(int32 algorithm)
{
	return algorithm_text(algorithm, PGSC_ALGORITHM_NAME);
}

/* The training aggregate ("ml.logreg_fit"): the function name of its messages. */
const char *
algorithm_function(int32 algorithm)
{
	return algorithm_text(algorithm, PGSC_ALGORITHM_AGGREGATE);
}

/*
 * The ids the glue dispatches on must name the algorithms it means: checked once at
 * load, so a renumbered Swift table cannot send rows to another kernel.
 */
void
algorithms_check_ids(void)
{
	static const struct
	{
		int32		id;
		const char *name;
	}			expected[] = {
		{PGSC_LINREG, "linear_regression"}, {PGSC_LOGREG, "logistic_regression"},
		{PGSC_NB, "naive_bayes"}, {PGSC_DTREE, "decision_tree"},
		{PGSC_FOREST, "random_forest"}, {PGSC_GBT, "gradient_boosting"},
	};

	for (int i = 0; i < lengthof(expected); i++)
	{
		const char *name = pgsc_algorithm_text(expected[i].id, PGSC_ALGORITHM_NAME);

		if (name == NULL || strcmp(name, expected[i].name) != 0)
			elog(ERROR, "pgscore: the C glue and the Swift core disagree on algorithm id %d", expected[i].id);
	}
}

/* ml.algorithms(): id, name, alias, aggregate, classification, regression, tree. */
PG_FUNCTION_INFO_V1(ml_algorithms);
Datum
ml_algorithms(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	InitMaterializedSRF(fcinfo, 0);
	for (int32 id = pgsc_algorithm_next(0); id != 0; id = pgsc_algorithm_next(id))
	{
		int32		traits = pgsc_algorithm_traits(id);
		Datum		values[7];
		bool		nulls[7] = {false};

		values[0] = Int32GetDatum(id);
		values[1] = CStringGetTextDatum(algorithm_text(id, PGSC_ALGORITHM_NAME));
		values[2] = CStringGetTextDatum(algorithm_text(id, PGSC_ALGORITHM_ALIAS));
		values[3] = CStringGetTextDatum(algorithm_text(id, PGSC_ALGORITHM_AGGREGATE));
		values[4] = BoolGetDatum((traits & PGSC_TRAIT_CLASSIFICATION) != 0);
		values[5] = BoolGetDatum((traits & PGSC_TRAIT_REGRESSION) != 0);
		values[6] = BoolGetDatum((traits & PGSC_TRAIT_TREE) != 0);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
