/*
 * predict.c -- ml.predict, ml.predict_proba and ml.describe on a model value.
 *
 * Decoding a model costs far more than scoring a row, so each call site keeps the
 * decoded models (Swift handles) it has seen in fn_extra, a few at a time, and reuses
 * them while the model value is the same. The handles are released when the query's
 * memory goes away.
 */
#include "pgscore.h"

#include "access/detoast.h"
#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

/* A query may score with several models at once (a join with a models table). */
#define MODEL_CACHE_SLOTS 8

typedef struct CachedModel
{
	void	   *handle;			/* Swift model, NULL when the slot is empty */
	uint64		last_used;
	/* identity of the cached value */
	Oid			toast_relid;	/* for values stored out of line */
	Oid			toast_valueid;
	Size		length;
	char		header[PGSC_MODEL_IDENTITY_SIZE];	/* first bytes of the value */
	int64		info[PGSC_INFO_LEN];
	text	  **labels;			/* class labels as text, class order */
} CachedModel;

typedef struct ModelCache
{
	MemoryContext context;
	uint64		clock;
	int			last;			/* slot of the last hit: checked first */
	CachedModel slots[MODEL_CACHE_SLOTS];
	MemoryContextCallback release;
} ModelCache;

static void
cached_model_clear(CachedModel *cm)
{
	int64		i;

	if (cm->handle != NULL)
		pgsc_model_release(cm->handle);
	cm->handle = NULL;
	if (cm->labels != NULL)
	{
		for (i = 0; i < cm->info[PGSC_INFO_CLASSES]; i++)
			pfree(cm->labels[i]);
		pfree(cm->labels);
		cm->labels = NULL;
	}
}

/* Runs when the query's memory goes away (normally or on ERROR). */
static void
model_cache_release(void *arg)
{
	ModelCache *mc = (ModelCache *) arg;
	int			i;

	for (i = 0; i < MODEL_CACHE_SLOTS; i++)
		if (mc->slots[i].handle != NULL)
			pgsc_model_release(mc->slots[i].handle);
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

static void
cached_model_fill(ModelCache *mc, CachedModel *cm, struct varlena *v, const char *function)
{
	char		err[PGSC_ERRBUF];
	void	   *handle = NULL;
	int32		status;
	int64		i;
	Size		len = VARSIZE_ANY_EXHDR(v);
	MemoryContext old;

	cached_model_clear(cm);
	status = pgsc_model_open(VARDATA_ANY(v), (int64) len, &handle, err);
	if (status != PGSC_OK)
		pgscore_raise(status, err, function);
	cm->handle = handle;
	cm->length = len;
	memcpy(cm->header, VARDATA_ANY(v), Min(len, (Size) PGSC_MODEL_IDENTITY_SIZE));
	pgsc_model_info(handle, cm->info);
	old = MemoryContextSwitchTo(mc->context);
	cm->labels = palloc(sizeof(text *) * Max(cm->info[PGSC_INFO_CLASSES], 1));
	for (i = 0; i < cm->info[PGSC_INFO_CLASSES]; i++)
	{
		const char *label;
		int64		label_len;

		(void) pgsc_model_class_label(handle, i, &label, &label_len);
		cm->labels[i] = cstring_to_text_with_len(label, (int) label_len);
	}
	MemoryContextSwitchTo(old);
}

/*
 * The decoded model for argument 0: a cached one when it is the same value (same
 * TOAST pointer, or same length and header, which holds the CRC-64 of the body),
 * else decoded into the least recently used slot.
 */
static CachedModel *
model_for_call(FunctionCallInfo fcinfo, const char *function)
{
	ModelCache *mc = model_cache_for(fcinfo);
	struct varlena *raw = (struct varlena *) PG_GETARG_POINTER(0);
	struct varlena *v = NULL;
	struct varatt_external ext = {0};
	bool		external = VARATT_IS_EXTERNAL_ONDISK(raw);
	CachedModel *victim = &mc->slots[0];
	int			i;

	if (external)
		VARATT_EXTERNAL_GET_POINTER(ext, raw);
	else
		v = VARATT_IS_EXTENDED(raw) && !VARATT_IS_SHORT(raw) ? pg_detoast_datum_packed(raw) : raw;
	mc->clock++;
	for (i = 0; i < MODEL_CACHE_SLOTS; i++)
	{
		int			slot = (mc->last + i) % MODEL_CACHE_SLOTS;
		CachedModel *cm = &mc->slots[slot];
		bool		same;

		if (cm->handle == NULL)
		{
			victim = cm;
			continue;
		}
		if (external)
			same = cm->toast_valueid == ext.va_valueid && cm->toast_relid == ext.va_toastrelid;
		else
			same = cm->toast_valueid == InvalidOid && VARSIZE_ANY_EXHDR(v) == cm->length &&
				cm->length >= PGSC_MODEL_IDENTITY_SIZE &&
				memcmp(VARDATA_ANY(v), cm->header, PGSC_MODEL_IDENTITY_SIZE) == 0;
		if (same)
		{
			cm->last_used = mc->clock;
			mc->last = slot;
			return cm;
		}
		if (victim->handle != NULL && cm->last_used < victim->last_used)
			victim = cm;
	}
	if (external)
		v = pg_detoast_datum_packed(raw);
	cached_model_fill(mc, victim, v, function);
	victim->toast_relid = external ? ext.va_toastrelid : InvalidOid;
	victim->toast_valueid = external ? ext.va_valueid : InvalidOid;
	victim->last_used = mc->clock;
	mc->last = victim - mc->slots;
	return victim;
}

PG_FUNCTION_INFO_V1(ml_predict_model);
Datum
ml_predict_model(PG_FUNCTION_ARGS)
{
	CachedModel *mc = model_for_call(fcinfo, "ml.predict");
	const float8 *x;
	float8		buffer[PGSCORE_MAX_FEATURES];
	int			n;
	bool		has_nulls;
	double		value;
	int64		cls;
	char		err[PGSC_ERRBUF];
	int32		status;

	x = pgscore_features(PG_GETARG_DATUM(1), "ml.predict", buffer, &n, &has_nulls);
	if (has_nulls)
		PG_RETURN_NULL();		/* a row with an unknown feature has an unknown prediction */
	status = pgsc_predict(mc->handle, x, n, &value, &cls, err);
	if (status != PGSC_OK)
		pgscore_raise(status, err, "ml.predict");
	if (cls < 0)
		PG_RETURN_TEXT_P(cstring_to_text(float8out_internal(value)));
	if (cls >= mc->info[PGSC_INFO_CLASSES])
		elog(ERROR, "ml.predict: class index " INT64_FORMAT " out of range", cls);
	/* read-only and alive until the query ends, like a pointer into a tuple */
	PG_RETURN_TEXT_P(mc->labels[cls]);
}

PG_FUNCTION_INFO_V1(ml_predict_proba_model);
Datum
ml_predict_proba_model(PG_FUNCTION_ARGS)
{
	CachedModel *mc = model_for_call(fcinfo, "ml.predict_proba");
	const float8 *x;
	float8		buffer[PGSCORE_MAX_FEATURES];
	int			n;
	int			k = (int) mc->info[PGSC_INFO_CLASSES];
	bool		has_nulls;
	char		err[PGSC_ERRBUF];
	int32		status;
	ArrayType  *result;
	Size		nbytes;

	x = pgscore_features(PG_GETARG_DATUM(1), "ml.predict_proba", buffer, &n, &has_nulls);
	if (has_nulls)
		PG_RETURN_NULL();
	nbytes = ARR_OVERHEAD_NONULLS(1) + sizeof(float8) * Max(k, 1);
	result = (ArrayType *) palloc0(nbytes);
	SET_VARSIZE(result, nbytes);
	result->ndim = 1;
	result->dataoffset = 0;
	result->elemtype = FLOAT8OID;
	ARR_DIMS(result)[0] = k;
	ARR_LBOUND(result)[0] = 1;
	status = pgsc_predict_proba(mc->handle, x, n, (double *) ARR_DATA_PTR(result), err);
	if (status != PGSC_OK)
		pgscore_raise(status, err, "ml.predict_proba");
	PG_RETURN_ARRAYTYPE_P(result);
}

PG_FUNCTION_INFO_V1(ml_describe_model);
Datum
ml_describe_model(PG_FUNCTION_ARGS)
{
	CachedModel *mc = model_for_call(fcinfo, "ml.describe");
	const char *json;
	int64		len;

	pgsc_model_describe(mc->handle, &json, &len);
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(pnstrdup(json, len)));
}
