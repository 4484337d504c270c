/*
 * train_aggs.c -- the training aggregates ml.linreg_fit, ml.logreg_fit, ml.nb_fit and
 * the trees ml.tree_fit, ml.forest_fit, ml.gbt_fit: transition, combine, serial/deserial
 * and final functions (see train_state.h).
 *
 * Rows whose features array or label is NULL are skipped, as SQL aggregates skip
 * NULLs. A NULL element inside the features array is an error, unless the options
 * say {"nulls": "skip"}; for the trees it is a missing value (NaN) unless the options
 * say "error" or "skip", and NaN features are missing values too. No rows at all
 * gives NULL.
 */
#include "train_state.h"
#include "progress.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

int32
label_kind_of(Oid type, const char *function)
{
	switch (type)
	{
		case FLOAT8OID:
			return PGSC_LABEL_FLOAT8;
		case BOOLOID:
			return PGSC_LABEL_BOOLEAN;
		case INT8OID:
		case INT4OID:
		case INT2OID:
			return PGSC_LABEL_INTEGER;
		case TEXTOID:
			return PGSC_LABEL_TEXT;
		default:
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("%s: labels of type %s are not supported", function, format_type_be(type)),
					 errhint("Use boolean, integer or text labels.")));
	}
	return 0;					/* unreachable */
}

/* The label id of argument 2 (the label of every training aggregate). */
int32
label_id(TrainState *st, FunctionCallInfo fcinfo, const char *function)
{
	Datum		d = PG_GETARG_DATUM(2);

	switch (st->labels.kind)
	{
		case PGSC_LABEL_BOOLEAN:
			return label_id_int(st, DatumGetBool(d) ? 1 : 0, function);
		case PGSC_LABEL_INTEGER:
			/* integer and smallint labels exist for the tree aggregates only */
			if (st->label_type == INT4OID)
				return label_id_int(st, DatumGetInt32(d), function);
			if (st->label_type == INT2OID)
				return label_id_int(st, DatumGetInt16(d), function);
			return label_id_int(st, DatumGetInt64(d), function);
		default:
			{
				text	   *t = DatumGetTextPP(d);

				return label_id_text(st, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), function);
			}
	}
}

static Datum
train_step(FunctionCallInfo fcinfo, int32 algorithm)
{
	const char *function = algorithm_function(algorithm);
	MemoryContext context = agg_context(fcinfo, function);
	TrainState *st = PG_ARGISNULL(0) ? NULL : (TrainState *) PG_GETARG_POINTER(0);
	const float8 *x;
	float8		buffer[PGSCORE_MAX_FEATURES];
	int			n;
	bool		has_nulls;
	char		err[PGSC_ERRBUF];
	int32		status = PGSC_OK;

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
	{
		if (st == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(st);
	}
	if (st == NULL)
	{
		char	   *options = "";
		int			len = 0;
		Oid			label_type = get_fn_expr_argtype(fcinfo->flinfo, 2);

		if (PG_NARGS() > 3 && !PG_ARGISNULL(3))
		{
			Jsonb	   *jb = PG_GETARG_JSONB_P(3);

			options = JsonbToCString(NULL, &jb->root, VARSIZE(jb));
			len = strlen(options);
		}
		st = train_state_create(context, algorithm,
								algorithm == PGSC_LINREG ? PGSC_LABEL_FLOAT8 : label_kind_of(label_type, function),
								options, len, function);
		st->label_type = label_type;
	}

	x = pgscore_features(PG_GETARG_DATUM(1), function, buffer, &n, &has_nulls);
	if (has_nulls)
	{
		if (st->skip_null_features)
			PG_RETURN_POINTER(st);
		if (st->nulls_missing)
		{
			x = pgscore_features_missing(PG_GETARG_DATUM(1), function, buffer, &n);
			has_nulls = false;
		}
	}
	if (has_nulls)
	{
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s: a features array contains NULL", function),
				 PGSC_IS_TREE(algorithm) ?
				 errhint("Filter such rows (WHERE ... IS NOT NULL), fill them in (coalesce), or pass the option '{\"nulls\": \"skip\"}' or '{\"nulls\": \"missing\"}' (the default for trees).") :
				 errhint("Filter such rows (WHERE ... IS NOT NULL), fill them in (coalesce), or pass the option '{\"nulls\": \"skip\"}'.")));
	}
	train_state_set_features(st, n, function);

	switch (algorithm)
	{
		case PGSC_LINREG:
			status = pgsc_moments_add(st->moments, n + 1, 1, x, PG_GETARG_FLOAT8(2), 1, err);
			break;
		case PGSC_NB:
			{
				int32		id = label_id(st, fcinfo, function);

				status = pgsc_moments_add(train_state_block(st, id), n, 0, x, 0, 0, err);
			}
			break;
		case PGSC_LOGREG:
			{
				int			j;

				for (j = 0; j < n; j++)
					if (isnan(x[j]) || isinf(x[j]))
						ereport(ERROR,
								(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
								 errmsg("%s: feature %d is %s; features must be finite numbers",
										function, j + 1, isnan(x[j]) ? "NaN" : (x[j] > 0 ? "Infinity" : "-Infinity")),
								 errhint("Filter or replace NaN and Infinity before training.")));
				row_store_append(st, x, label_id(st, fcinfo, function), function);
			}
			break;
		case PGSC_DTREE:
		case PGSC_FOREST:
		case PGSC_GBT:
			{
				int			j;

				/* NaN is a missing value; Infinity has no place in a split */
				for (j = 0; j < n; j++)
					if (isinf(x[j]))
						ereport(ERROR,
								(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
								 errmsg("%s: feature %d is %s; features must be finite numbers or NULL/NaN (missing)",
										function, j + 1, x[j] > 0 ? "Infinity" : "-Infinity"),
								 errhint("Filter or replace Infinity before training.")));
				if (st->labels.kind == PGSC_LABEL_FLOAT8)
				{
					float8		y = PG_GETARG_FLOAT8(2);

					if (isnan(y) || isinf(y))
						ereport(ERROR,
								(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
								 errmsg("%s: a label is %s; labels must be finite numbers",
										function, isnan(y) ? "NaN" : (y > 0 ? "Infinity" : "-Infinity")),
								 errhint("Filter such rows (WHERE label <> 'NaN') before training.")));
					row_store_append_value(st, x, y, function);
				}
				else
					row_store_append(st, x, label_id(st, fcinfo, function), function);
			}
			break;
		default:
			unknown_algorithm(algorithm, function);
	}
	if (status != PGSC_OK)
		pgscore_raise(status, err, function);
	st->rows++;
	progress_rows(algorithm, st->rows, function);
	PG_RETURN_POINTER(st);
}

PG_FUNCTION_INFO_V1(ml_linreg_step);
Datum
ml_linreg_step(PG_FUNCTION_ARGS)
{
	return train_step(fcinfo, PGSC_LINREG);
}

PG_FUNCTION_INFO_V1(ml_logreg_step);
Datum
ml_logreg_step(PG_FUNCTION_ARGS)
{
	return train_step(fcinfo, PGSC_LOGREG);
}

PG_FUNCTION_INFO_V1(ml_nb_step);
Datum
ml_nb_step(PG_FUNCTION_ARGS)
{
	return train_step(fcinfo, PGSC_NB);
}

PG_FUNCTION_INFO_V1(ml_tree_step);
Datum
ml_tree_step(PG_FUNCTION_ARGS)
{
	return train_step(fcinfo, PGSC_DTREE);
}

PG_FUNCTION_INFO_V1(ml_forest_step);
Datum
ml_forest_step(PG_FUNCTION_ARGS)
{
	return train_step(fcinfo, PGSC_FOREST);
}

PG_FUNCTION_INFO_V1(ml_gbt_step);
Datum
ml_gbt_step(PG_FUNCTION_ARGS)
{
	return train_step(fcinfo, PGSC_GBT);
}

PG_FUNCTION_INFO_V1(ml_train_combine);
Datum
ml_train_combine(PG_FUNCTION_ARGS)
{
	MemoryContext context = agg_context(fcinfo, "ml training combine");
	TrainState *a = PG_ARGISNULL(0) ? NULL : (TrainState *) PG_GETARG_POINTER(0);
	TrainState *b = PG_ARGISNULL(1) ? NULL : (TrainState *) PG_GETARG_POINTER(1);

	if (b == NULL)
	{
		if (a == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(a);
	}
	if (a == NULL)
	{
		/* b may live in a shorter-lived context: copy it into ours */
		a = train_state_create(context, b->algorithm, b->labels.kind, b->options,
							   strlen(b->options), algorithm_function(b->algorithm));
	}
	train_state_merge(a, b, algorithm_function(a->algorithm));
	PG_RETURN_POINTER(a);
}

PG_FUNCTION_INFO_V1(ml_train_serialize);
Datum
ml_train_serialize(PG_FUNCTION_ARGS)
{
	(void) agg_context(fcinfo, "ml training serialize");
	PG_RETURN_BYTEA_P(train_state_serialize((TrainState *) PG_GETARG_POINTER(0)));
}

PG_FUNCTION_INFO_V1(ml_train_deserialize);
Datum
ml_train_deserialize(PG_FUNCTION_ARGS)
{
	bytea	   *b;

	(void) agg_context(fcinfo, "ml training deserialize");
	b = PG_GETARG_BYTEA_PP(0);
	PG_RETURN_POINTER(train_state_deserialize(CurrentMemoryContext, b));
}

/* ---------------------------------------------------------------- final */

static const TrainState *sort_state;	/* qsort has no context argument */

static int
label_cmp(const void *pa, const void *pb)
{
	int32		a = *(const int32 *) pa;
	int32		b = *(const int32 *) pb;
	const LabelSet *ls = &sort_state->labels;

	if (ls->kind == PGSC_LABEL_TEXT)
	{
		int			la = ls->text_lengths[a];
		int			lb = ls->text_lengths[b];
		int			c = memcmp(ls->texts[a], ls->texts[b], Min(la, lb));

		return c != 0 ? c : (la > lb) - (la < lb);
	}
	return (ls->ints[a] > ls->ints[b]) - (ls->ints[a] < ls->ints[b]);
}

/*
 * Classes in sorted order: false < true, numeric order, byte order for text (as
 * scikit-learn's classes_). Fills order[pos] = id, class_of[id] = pos, and the
 * label texts the model stores.
 */
void
sorted_classes(const TrainState *st, int32 *order, int32 *class_of,
			   const char **texts, int32 *lengths)
{
	int32		k = st->labels.count;
	int32		i;

	for (i = 0; i < k; i++)
		order[i] = i;
	sort_state = st;
	qsort(order, k, sizeof(int32), label_cmp);
	sort_state = NULL;
	for (i = 0; i < k; i++)
	{
		int32		id = order[i];

		class_of[id] = i;
		switch (st->labels.kind)
		{
			case PGSC_LABEL_BOOLEAN:
				texts[i] = st->labels.ints[id] ? "true" : "false";
				break;
			case PGSC_LABEL_INTEGER:
				texts[i] = psprintf(INT64_FORMAT, st->labels.ints[id]);
				break;
			default:
				texts[i] = st->labels.texts[id];
				lengths[i] = st->labels.text_lengths[id];
				continue;
		}
		lengths[i] = strlen(texts[i]);
	}
}

typedef struct FitCall
{
	const TrainState *st;
	void	   *model;
} FitCall;

static int32
fit(const void *arg, char *err)
{
	const TrainState *st = ((const FitCall *) arg)->st;
	void	  **model = &((FitCall *) arg)->model;
	int32		k = st->labels.count;
	int32	   *order = palloc(sizeof(int32) * Max(k, 1));
	int32	   *class_of = palloc(sizeof(int32) * Max(k, 1));
	const char **texts = palloc(sizeof(char *) * Max(k, 1));
	int32	   *lengths = palloc(sizeof(int32) * Max(k, 1));
	int64		olen = strlen(st->options);

	sorted_classes(st, order, class_of, texts, lengths);
	switch (st->algorithm)
	{
		case PGSC_LINREG:
			return pgsc_linreg_fit(st->moments, st->features, st->options, olen, model, err);
		case PGSC_NB:
			{
				const double **blocks = palloc(sizeof(double *) * Max(k, 1));
				int32		i;

				for (i = 0; i < k; i++)
					blocks[i] = st->moments + st->block_len * order[i];
				return pgsc_nb_fit(blocks, k, st->features, st->labels.kind, texts, lengths,
								   st->options, olen, model, err);
			}
		case PGSC_DTREE:
		case PGSC_FOREST:
		case PGSC_GBT:
			train_state_check_scratch(st, (Size) pgsc_tree_scratch_bytes(st->algorithm, st->rows, st->features, k),
									  algorithm_function(st->algorithm));
			return pgsc_tree_fit(st->algorithm, (const double *const *) st->store.x,
								 st->store.coded ? (const uint8 *const *) st->store.codes : NULL,
								 st->store.coded ? st->codes.values : NULL,
								 (const int32 *const *) st->store.y, (const double *const *) st->store.t,
								 st->store.rows, st->store.chunks, st->features,
								 class_of, k, st->labels.kind, texts, lengths, k,
								 st->options, olen, pgscore_stop_requested, model, err);
		case PGSC_LOGREG:
			{
				/* p parameters: a p x p Hessian per evaluation, a trial one, the
				 * damped copy and the Cholesky factor */
				Size		p = (Size) (st->features + 1) * (k > 2 ? k : 1);

				train_state_check_scratch(st, 4 * p * p * sizeof(double), "ml.logreg_fit");
			}
			return pgsc_logreg_fit((const double *const *) st->store.x, (const int32 *const *) st->store.y,
								   st->store.rows, st->store.chunks, st->features,
								   class_of, k, st->labels.kind, texts, lengths, k,
								   st->options, olen, pgscore_stop_requested, model, err);
		default:
			unknown_algorithm(st->algorithm, "pgscore training final");
	}
}

/* Must not modify the state: window aggregates call it again. */
PG_FUNCTION_INFO_V1(ml_train_final);
Datum
ml_train_final(PG_FUNCTION_ARGS)
{
	const TrainState *st;
	const char *function;
	FitCall		call = {NULL, NULL};
	void	   *model;
	char		err[PGSC_ERRBUF];
	int32		status;

	(void) agg_context(fcinfo, "ml training final");
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	st = (const TrainState *) PG_GETARG_POINTER(0);
	if (st->rows == 0 || st->features == 0)
		PG_RETURN_NULL();
	function = algorithm_function(st->algorithm);
	progress_aggregate_done();

	call.st = st;
	status = agg_call_retrying(fit, &call, err);
	if (status != PGSC_OK)
		pgscore_raise(status, err, function);
	model = call.model;
	PG_RETURN_BYTEA_P(train_model_bytes(model, function));
}

/* An ml.model value from a model handle, which it releases. */
bytea *
train_model_bytes(void *model, const char *function)
{
	int64		size = pgsc_model_encoded_size(model);
	bytea	   *out;

	out = (size <= (int64) (MaxAllocSize - VARHDRSZ)) ?
		palloc_extended(VARHDRSZ + size, MCXT_ALLOC_NO_OOM) : NULL;
	if (out == NULL)
	{
		pgsc_model_release(model);
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s: the model takes %lld bytes, more than can be stored", function, (long long) size)));
	}
	SET_VARSIZE(out, VARHDRSZ + size);
	pgsc_model_encode(model, VARDATA(out));
	pgsc_model_release(model);
	return out;
}
