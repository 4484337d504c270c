/*
 * predict.c -- ml.predict, ml.predict_proba, ml.encode and ml.describe on a model
 * value, with its features as a float8[] or as a row.
 *
 * Decoding a model costs far more than scoring a row, so each call site keeps the
 * decoded models (ScoringModel) it has seen in fn_extra, a few at a time, and reuses
 * them while the model value is the same. They are released when the query's memory
 * goes away.
 */
#include "pgscore.h"
#include "scoring_model.h"

#include "access/detoast.h"
#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

/* A query may score with several models at once (a join with a models table). */
#define MODEL_CACHE_SLOTS 8

typedef struct CachedModel
{
	ScoringModel sm;			/* sm.model NULL when the slot is empty */
	uint64		last_used;
	/* identity of the cached value */
	Oid			toast_relid;	/* for values stored out of line */
	Oid			toast_valueid;
	Size		length;
	char	   *bytes;			/* a copy of the whole value (inline uncompressed values) */
	char	   *compressed;		/* the compressed bytes, for values stored compressed inline */
	Size		compressed_length;
} CachedModel;

typedef struct ModelCache
{
	MemoryContext context;
	uint64		clock;
	int			last;			/* slot of the last hit: checked first */
	CachedModel slots[MODEL_CACHE_SLOTS];
	MemoryContextCallback release;
} ModelCache;

/* Runs when the query's memory goes away (normally or on ERROR). */
static void
model_cache_release(void *arg)
{
	ModelCache *mc = (ModelCache *) arg;
	int			i;

	/* the slots' memory contexts are children of the one going away */
	for (i = 0; i < MODEL_CACHE_SLOTS; i++)
	{
		if (mc->slots[i].sm.model != NULL)
			pgsc_model_release(mc->slots[i].sm.model);
		if (mc->slots[i].sm.pre != NULL)
			pgsc_preprocessor_release(mc->slots[i].sm.pre);
	}
}

static ModelCache *
model_cache_for(FunctionCallInfo fcinfo)
{
	ModelCache *mc = (ModelCache *) fcinfo->flinfo->fn_extra;

	if (mc == NULL)
	{
		mc = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(ModelCache));
		mc->context = fcinfo->flinfo->fn_mcxt;
		mc->release.func = model_cache_release;
		mc->release.arg = mc;
		MemoryContextRegisterResetCallback(mc->context, &mc->release);
		fcinfo->flinfo->fn_extra = mc;
	}
	return mc;
}

/*
 * The decoded model for argument 0: a cached one when it is the same value (same
 * TOAST pointer, same compressed bytes, or the same bytes: length and memcmp against
 * a stored copy; never a checksum, which anyone can collide), else decoded into the
 * least recently used slot.
 */
static ScoringModel *
model_for_call(FunctionCallInfo fcinfo, const char *function)
{
	ModelCache *mc = model_cache_for(fcinfo);
	struct varlena *raw = (struct varlena *) PG_GETARG_POINTER(0);
	struct varlena *v = NULL;
	struct varatt_external ext = {0};
	bool		external = VARATT_IS_EXTERNAL_ONDISK(raw);
	CachedModel *victim = &mc->slots[0];
	int			i;

	/*
	 * A model stored compressed inline (a few kB with its preprocessing) is recognised
	 * by its compressed bytes, so that a constant model is not decompressed per row.
	 */
	bool		compressed = !external && VARATT_IS_COMPRESSED(raw);

	if (external)
		VARATT_EXTERNAL_GET_POINTER(ext, raw);
	else if (!compressed)
		v = VARATT_IS_EXTENDED(raw) && !VARATT_IS_SHORT(raw) ? pg_detoast_datum_packed(raw) : raw;
	mc->clock++;
	for (i = 0; i < MODEL_CACHE_SLOTS; i++)
	{
		int			slot = (mc->last + i) % MODEL_CACHE_SLOTS;
		CachedModel *cm = &mc->slots[slot];
		bool		same;

		if (cm->sm.model == NULL)
		{
			victim = cm;
			continue;
		}
		if (external)
			same = cm->toast_valueid == ext.va_valueid && cm->toast_relid == ext.va_toastrelid;
		else if (compressed)
			same = cm->compressed != NULL && cm->compressed_length == VARSIZE_4B(raw) &&
				memcmp(cm->compressed, raw, cm->compressed_length) == 0;
		else
			same = cm->toast_valueid == InvalidOid && cm->compressed == NULL && cm->bytes != NULL &&
				VARSIZE_ANY_EXHDR(v) == cm->length &&
				memcmp(VARDATA_ANY(v), cm->bytes, cm->length) == 0;
		if (same)
		{
			cm->last_used = mc->clock;
			mc->last = slot;
			return &cm->sm;
		}
		if (victim->sm.model != NULL && cm->last_used < victim->last_used)
			victim = cm;
	}
	if (external || compressed)
		v = pg_detoast_datum_packed(raw);
	scoring_model_close(&victim->sm);
	if (victim->compressed != NULL)
		pfree(victim->compressed);
	victim->compressed = NULL;
	if (victim->bytes != NULL)
		pfree(victim->bytes);
	victim->bytes = NULL;
	if (compressed)
	{
		victim->compressed_length = VARSIZE_4B(raw);
		victim->compressed = MemoryContextAlloc(mc->context, victim->compressed_length);
		memcpy(victim->compressed, raw, victim->compressed_length);
	}
	scoring_model_open(&victim->sm, mc->context, VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v), function);
	victim->length = VARSIZE_ANY_EXHDR(v);
	if (!external && !compressed)
	{
		victim->bytes = MemoryContextAlloc(mc->context, Max(victim->length, 1));
		memcpy(victim->bytes, VARDATA_ANY(v), victim->length);
	}
	victim->toast_relid = external ? ext.va_toastrelid : InvalidOid;
	victim->toast_valueid = external ? ext.va_valueid : InvalidOid;
	victim->last_used = mc->clock;
	mc->last = victim - mc->slots;
	return &victim->sm;
}

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
 * by ml.train before a model exists. The parsed spec is kept while the same spec
 * value comes back (a constant of the query).
 */
typedef struct SpecCache
{
	void	   *pre;
	char	   *spec;			/* copy of the jsonb bytes */
	Size		length;
	RowEncoder *encoder;
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
	Jsonb	   *spec = PG_GETARG_JSONB_P(0);
	Size		len = VARSIZE(spec);
	SpecCache  *sc = (SpecCache *) fcinfo->flinfo->fn_extra;
	float8		buffer[PGSCORE_MAX_FEATURES];

	if (sc == NULL)
	{
		sc = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(SpecCache));
		sc->release.func = spec_cache_release;
		sc->release.arg = sc;
		MemoryContextRegisterResetCallback(fcinfo->flinfo->fn_mcxt, &sc->release);
		fcinfo->flinfo->fn_extra = sc;
	}
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
	row_encoder_encode_record(sc->encoder, PG_GETARG_HEAPTUPLEHEADER(1), buffer, "ml.encode");
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
