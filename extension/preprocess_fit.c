/*
 * preprocess_fit.c -- the aggregate ml._preprocess_fit(value, options): one column's
 * preprocessing learned from the training rows (imputation mean, standard scaling,
 * numeric text or categories and their limit), computed by the Swift core
 * (Sources/ScoreCore/PreprocessFit.swift); and ml._numeric_text, the one numeric-text
 * rule (Sources/PgScoreNumericText) for SQL.
 *
 * The state is a Swift handle released by a reset callback on the context it was made
 * in (the aggregate context, or the short-lived one of a deserialised partial state).
 * Partial states travel as the bytes Swift writes; bytes that are no state (they can
 * come from anyone through ml._preprocess_fit_result) are refused as damaged, 22P03.
 */
#include "agg_state.h"
#include "pgscore_abi_metrics.h"
#include "pgscore_abi_prepfit.h"

#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#define FUNCTION_NAME "ml.train"

typedef struct PrepFitState
{
	void	   *fit;
	MemoryContextCallback release;
} PrepFitState;

static void
prepfit_release(void *arg)
{
	PrepFitState *st = (PrepFitState *) arg;

	pgsc_prepfit_release(st->fit);
	st->fit = NULL;
}

/* Wraps a Swift handle in a state that lives (and is released) with context. */
static PrepFitState *
prepfit_wrap(MemoryContext context, void *fit)
{
	PrepFitState *st = MemoryContextAllocZero(context, sizeof(PrepFitState));

	st->fit = fit;
	st->release.func = prepfit_release;
	st->release.arg = st;
	MemoryContextRegisterResetCallback(context, &st->release);
	return st;
}

static PrepFitState *
prepfit_state(FunctionCallInfo fcinfo, bool textual)
{
	MemoryContext context = agg_context(fcinfo, "ml._preprocess_fit");
	char		err[PGSC_ERRBUF];
	char	   *options;
	void	   *fit;
	int32		status;

	if (!PG_ARGISNULL(0))
		return (PrepFitState *) PG_GETARG_POINTER(0);
	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("ml._preprocess_fit: options must not be NULL")));
	options = JsonbToCString(NULL, &PG_GETARG_JSONB_P(2)->root, VARSIZE_ANY_EXHDR(PG_GETARG_JSONB_P(2)));
	status = pgsc_prepfit_open(options, strlen(options), textual ? 1 : 0, &fit, err);
	if (status != PGSC_OK)
		pgscore_raise(status, err, "ml._preprocess_fit");
	return prepfit_wrap(context, fit);
}

PG_FUNCTION_INFO_V1(ml_preprocess_fit_step_number);
Datum
ml_preprocess_fit_step_number(PG_FUNCTION_ARGS)
{
	PrepFitState *st = prepfit_state(fcinfo, false);

	if (PG_ARGISNULL(1))
		pgsc_prepfit_add_null(st->fit);
	else
		pgsc_prepfit_add_number(st->fit, PG_GETARG_FLOAT8(1));
	PG_RETURN_POINTER(st);
}

PG_FUNCTION_INFO_V1(ml_preprocess_fit_step_text);
Datum
ml_preprocess_fit_step_text(PG_FUNCTION_ARGS)
{
	PrepFitState *st = prepfit_state(fcinfo, true);

	if (PG_ARGISNULL(1))
		pgsc_prepfit_add_null(st->fit);
	else
	{
		text	   *t = PG_GETARG_TEXT_PP(1);

		pgsc_prepfit_add_text(st->fit, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
	}
	PG_RETURN_POINTER(st);
}

/* A partial state from bytes, in the current memory context. */
static PrepFitState *
prepfit_from_bytes(bytea *b)
{
	char		err[PGSC_ERRBUF];
	void	   *fit;
	int32		status = pgsc_prepfit_deserialize(VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b), &fit, err);

	if (status != PGSC_OK)
		pgscore_raise(status, err, "ml._preprocess_fit");
	return prepfit_wrap(CurrentMemoryContext, fit);
}

static void
write_state(const void *state, AggWriter *w)
{
	void	   *fit = ((const PrepFitState *) state)->fit;

	if (w->out == NULL)
		w->size += pgsc_prepfit_serialize(fit, NULL, 0);
	else
		w->size += pgsc_prepfit_serialize(fit, (uint8_t *) w->out + w->size, INT64_MAX);
}

static bytea *
prepfit_bytes(const PrepFitState *st)
{
	return agg_state_bytes(write_state, st, "ml._preprocess_fit", "preprocessing fit state");
}

PG_FUNCTION_INFO_V1(ml_preprocess_fit_combine);
Datum
ml_preprocess_fit_combine(PG_FUNCTION_ARGS)
{
	MemoryContext context = agg_context(fcinfo, "ml._preprocess_fit combine");
	PrepFitState *a = PG_ARGISNULL(0) ? NULL : (PrepFitState *) PG_GETARG_POINTER(0);
	PrepFitState *b = PG_ARGISNULL(1) ? NULL : (PrepFitState *) PG_GETARG_POINTER(1);
	char		err[PGSC_ERRBUF];
	int32		status;

	if (b == NULL)
	{
		if (a == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(a);
	}
	if (a == NULL)
	{
		/* b may live in a shorter-lived context: a copy of it in ours */
		MemoryContext old = MemoryContextSwitchTo(context);

		a = prepfit_from_bytes(prepfit_bytes(b));
		MemoryContextSwitchTo(old);
		PG_RETURN_POINTER(a);
	}
	status = pgsc_prepfit_merge(a->fit, b->fit, err);
	if (status != PGSC_OK)
		pgscore_raise(status, err, "ml._preprocess_fit");
	PG_RETURN_POINTER(a);
}

PG_FUNCTION_INFO_V1(ml_preprocess_fit_serialize);
Datum
ml_preprocess_fit_serialize(PG_FUNCTION_ARGS)
{
	(void) agg_context(fcinfo, "ml._preprocess_fit serialize");
	PG_RETURN_BYTEA_P(prepfit_bytes((PrepFitState *) PG_GETARG_POINTER(0)));
}

PG_FUNCTION_INFO_V1(ml_preprocess_fit_deserialize);
Datum
ml_preprocess_fit_deserialize(PG_FUNCTION_ARGS)
{
	(void) agg_context(fcinfo, "ml._preprocess_fit deserialize");
	PG_RETURN_POINTER(prepfit_from_bytes(PG_GETARG_BYTEA_PP(0)));
}

/* The column's result: {"column", "feature", "stats"} or {"dropped"}. */
static Datum
prepfit_result(const PrepFitState *st)
{
	char		err[PGSC_ERRBUF];
	void	   *result;
	const char *json;
	int64		len;
	char	   *copy;
	int32		status = pgsc_prepfit_result(st->fit, &result, err);

	if (status != PGSC_OK)
		pgscore_raise(status, err, FUNCTION_NAME);
	pgsc_metrics_result_text(result, &json, &len);
	copy = palloc(len + 1);
	memcpy(copy, json, len);
	copy[len] = '\0';
	pgsc_metrics_result_release(result);
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(copy));
}

PG_FUNCTION_INFO_V1(ml_preprocess_fit_final);
Datum
ml_preprocess_fit_final(PG_FUNCTION_ARGS)
{
	(void) agg_context(fcinfo, "ml._preprocess_fit final");
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	return prepfit_result((PrepFitState *) PG_GETARG_POINTER(0));
}

/* ml._preprocess_fit_state: the partial state as bytes (ml._preprocess_fit_result reads them) */
PG_FUNCTION_INFO_V1(ml_preprocess_fit_bytes);
Datum
ml_preprocess_fit_bytes(PG_FUNCTION_ARGS)
{
	(void) agg_context(fcinfo, "ml._preprocess_fit_state final");
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	PG_RETURN_BYTEA_P(prepfit_bytes((PrepFitState *) PG_GETARG_POINTER(0)));
}

PG_FUNCTION_INFO_V1(ml_preprocess_fit_result);
Datum
ml_preprocess_fit_result(PG_FUNCTION_ARGS)
{
	return prepfit_result(prepfit_from_bytes(PG_GETARG_BYTEA_PP(0)));
}

PG_FUNCTION_INFO_V1(ml_numeric_text);
Datum
ml_numeric_text(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	double		value;

	if (!pgsc_numeric_text(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), &value))
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(value);
}
