/*
 * predict.c -- ml.predict, ml.predict_proba, ml.encode and ml.describe on a model
 * value, with its features as a float8[] or as a row. The decoded models are cached
 * per call site (model_cache.c).
 */
#include "pgscore.h"
#include "model_cache.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/typcache.h"

PG_FUNCTION_INFO_V1(ml_predict_model);
Datum
ml_predict_model(PG_FUNCTION_ARGS)
{
	ScoringModel *sm = model_for_call(fcinfo, "ml.predict");
	float8		buffer[PGSCORE_MAX_FEATURES];
	int			n;
	const float8 *x = scoring_features(sm, PG_GETARG_DATUM(1), buffer, &n, "ml.predict");

	if (x == NULL)
		PG_RETURN_NULL();		/* NULL features: unknown, except for tree models (missing values) */
	return scoring_predict(sm, x, n, "ml.predict");
}

PG_FUNCTION_INFO_V1(ml_predict_proba_model);
Datum
ml_predict_proba_model(PG_FUNCTION_ARGS)
{
	ScoringModel *sm = model_for_call(fcinfo, "ml.predict_proba");
	float8		buffer[PGSCORE_MAX_FEATURES];
	int			n;
	const float8 *x = scoring_features(sm, PG_GETARG_DATUM(1), buffer, &n, "ml.predict_proba");

	if (x == NULL)
		PG_RETURN_NULL();		/* NULL features: unknown, except for tree models (missing values) */
	PG_RETURN_ARRAYTYPE_P(scoring_proba(sm, x, n, "ml.predict_proba"));
}

PG_FUNCTION_INFO_V1(ml_predict_model_row);
Datum
ml_predict_model_row(PG_FUNCTION_ARGS)
{
	ScoringModel *sm = model_for_call(fcinfo, "ml.predict");
	float8		buffer[PGSCORE_MAX_FEATURES];
	const double *x = scoring_encode_record(sm, PG_GETARG_HEAPTUPLEHEADER(1), buffer, "ml.predict", "the model");

	return scoring_predict(sm, x, (int) sm->info[PGSC_INFO_FEATURES], "ml.predict");
}

PG_FUNCTION_INFO_V1(ml_predict_proba_model_row);
Datum
ml_predict_proba_model_row(PG_FUNCTION_ARGS)
{
	ScoringModel *sm = model_for_call(fcinfo, "ml.predict_proba");
	float8		buffer[PGSCORE_MAX_FEATURES];
	const double *x = scoring_encode_record(sm, PG_GETARG_HEAPTUPLEHEADER(1), buffer, "ml.predict_proba", "the model");

	PG_RETURN_ARRAYTYPE_P(scoring_proba(sm, x, (int) sm->info[PGSC_INFO_FEATURES], "ml.predict_proba"));
}

/* float8[] of the encoded values */
static ArrayType *
float8_array(const double *x, int n)
{
	Size		nbytes = ARR_OVERHEAD_NONULLS(1) + sizeof(float8) * n;
	ArrayType  *result = (ArrayType *) palloc0(nbytes);

	SET_VARSIZE(result, nbytes);
	result->ndim = 1;
	result->dataoffset = 0;
	result->elemtype = FLOAT8OID;
	ARR_DIMS(result)[0] = n;
	ARR_LBOUND(result)[0] = 1;
	memcpy(ARR_DATA_PTR(result), x, sizeof(float8) * n);
	return result;
}

PG_FUNCTION_INFO_V1(ml_encode_model_row);
Datum
ml_encode_model_row(PG_FUNCTION_ARGS)
{
	ScoringModel *sm = model_for_call(fcinfo, "ml.encode");
	float8		buffer[PGSCORE_MAX_FEATURES];
	const double *x = scoring_encode_record(sm, PG_GETARG_HEAPTUPLEHEADER(1), buffer, "ml.encode", "the model");

	PG_RETURN_ARRAYTYPE_P(float8_array(x, (int) sm->info[PGSC_INFO_FEATURES]));
}

/*
 * ml.encode(spec jsonb, row): the training-time twin of ml.encode(model, row), used
 * by ml.train before a model exists, once a row in every pass. The parsed spec is kept
 * while the same spec value comes back (compared once when it is a constant or a
 * parameter of the query), and so is a copy of the rows' descriptor (a row type cannot
 * change while a query reads it): a lookup in the type cache a row was a third of the
 * call.
 */
typedef struct SpecCache
{
	void	   *pre;
	char	   *spec;			/* copy of the jsonb bytes */
	Size		length;
	bool		stable;			/* the spec argument cannot change within the query */
	RowEncoder *encoder;
	Oid			rowtype;		/* of desc */
	int32		rowtypmod;
	TupleDesc	desc;
	MemoryContextCallback release;
} SpecCache;

static void
spec_cache_release(void *arg)
{
	SpecCache  *sc = (SpecCache *) arg;

	if (sc->pre != NULL)
		pgsc_preprocessor_release(sc->pre);
	sc->pre = NULL;
}

PG_FUNCTION_INFO_V1(ml_encode_spec_row);
Datum
ml_encode_spec_row(PG_FUNCTION_ARGS)
{
	SpecCache  *sc = (SpecCache *) fcinfo->flinfo->fn_extra;
	HeapTupleHeader rec = PG_GETARG_HEAPTUPLEHEADER(1);
	float8		buffer[PGSCORE_MAX_FEATURES];
	Jsonb	   *spec;
	Size		len;

	if (sc == NULL)
	{
		sc = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(SpecCache));
		sc->release.func = spec_cache_release;
		sc->release.arg = sc;
		sc->stable = get_fn_expr_arg_stable(fcinfo->flinfo, 0);
		MemoryContextRegisterResetCallback(fcinfo->flinfo->fn_mcxt, &sc->release);
		fcinfo->flinfo->fn_extra = sc;
	}
	if (sc->pre != NULL && sc->stable)
		goto encode;
	spec = PG_GETARG_JSONB_P(0);
	len = VARSIZE(spec);
	if (sc->pre == NULL || sc->length != len || memcmp(sc->spec, spec, len) != 0)
	{
		char	   *json = JsonbToCString(NULL, &spec->root, len);
		char		err[PGSC_ERRBUF];
		void	   *pre = NULL;
		int32		status = pgsc_preprocessor_open(json, strlen(json), &pre, err);

		if (status != PGSC_OK)
			pgscore_raise(status, err, "ml.encode");
		spec_cache_release(sc);
		sc->pre = pre;
		if (sc->spec != NULL)
			pfree(sc->spec);
		sc->spec = MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, len);
		memcpy(sc->spec, spec, len);
		sc->length = len;
		sc->encoder = row_encoder_create(fcinfo->flinfo->fn_mcxt, pre);
		if (sc->encoder->features > PGSCORE_MAX_FEATURES)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("ml.encode: the columns encode to %d features, at most %d are supported",
							sc->encoder->features, PGSCORE_MAX_FEATURES)));
	}
encode:
	if (sc->desc == NULL || sc->rowtype != HeapTupleHeaderGetTypeId(rec) ||
		sc->rowtypmod != HeapTupleHeaderGetTypMod(rec))
	{
		TupleDesc	desc = lookup_rowtype_tupdesc(HeapTupleHeaderGetTypeId(rec), HeapTupleHeaderGetTypMod(rec));
		MemoryContext old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);

		if (sc->desc != NULL)
			FreeTupleDesc(sc->desc);
		sc->desc = CreateTupleDescCopy(desc);
		MemoryContextSwitchTo(old);
		ReleaseTupleDesc(desc);
		sc->rowtype = HeapTupleHeaderGetTypeId(rec);
		sc->rowtypmod = HeapTupleHeaderGetTypMod(rec);
	}
	row_encoder_encode_record_desc(sc->encoder, rec, sc->desc, buffer, "ml.encode");
	PG_RETURN_ARRAYTYPE_P(float8_array(buffer, sc->encoder->features));
}

PG_FUNCTION_INFO_V1(ml_describe_model);
Datum
ml_describe_model(PG_FUNCTION_ARGS)
{
	ScoringModel *sm = model_for_call(fcinfo, "ml.describe");
	const char *json;
	int64		len;

	pgsc_model_describe(sm->model, &json, &len);
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(pnstrdup(json, len)));
}
