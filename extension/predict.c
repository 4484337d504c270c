/*
 * predict.c -- ml.predict, ml.predict_proba and ml.describe on a model value.
 *
 * Decoding a model costs far more than scoring a row, so each call site keeps the
 * decoded model (a Swift handle) in fn_extra and reuses it while the model value is
 * the same: same TOAST pointer, or same length and header (which holds the CRC-64 of
 * the whole body). The handle is released when the query's memory goes away.
 */
#include "pgscore.h"

#include "access/detoast.h"
#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

typedef struct ModelCache
{
	void	   *handle;			/* Swift model, NULL when empty */
	/* identity of the cached value */
	Oid			toast_relid;	/* for values stored out of line */
	Oid			toast_valueid;
	Size		length;
	char	   *header;			/* first pgscore_model_identity_size bytes */
	int64		info[PGSC_INFO_LEN];
	text	  **labels;			/* class labels as text, class order */
	MemoryContextCallback release;
} ModelCache;

static void
model_cache_release(void *arg)
{
	ModelCache *mc = (ModelCache *) arg;

	if (mc->handle != NULL)
		pgsc_model_release(mc->handle);
	mc->handle = NULL;
}

static ModelCache *
model_cache_slot(FunctionCallInfo fcinfo)
{
	ModelCache *mc = (ModelCache *) fcinfo->flinfo->fn_extra;

	if (mc == NULL)
	{
		mc = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(ModelCache));
		mc->header = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, pgscore_model_identity_size);
		mc->release.func = model_cache_release;
		mc->release.arg = mc;
		MemoryContextRegisterResetCallback(fcinfo->flinfo->fn_mcxt, &mc->release);
		fcinfo->flinfo->fn_extra = mc;
	}
	return mc;
}

static void
model_cache_fill(FunctionCallInfo fcinfo, ModelCache *mc, struct varlena *v, const char *function)
{
	char		err[PGSC_ERRBUF];
	void	   *handle = NULL;
	int32		status;
	int64		i;
	Size		len = VARSIZE_ANY_EXHDR(v);

	model_cache_release(mc);
	status = pgsc_model_open(VARDATA_ANY(v), (int64) len, &handle, err);
	if (status != PGSC_OK)
		pgscore_raise(status, err, function);
	mc->handle = handle;
	mc->length = len;
	memcpy(mc->header, VARDATA_ANY(v), Min(len, (Size) pgscore_model_identity_size));
	pgsc_model_info(handle, mc->info);
	mc->labels = MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, sizeof(text *) * Max(mc->info[PGSC_INFO_CLASSES], 1));
	for (i = 0; i < mc->info[PGSC_INFO_CLASSES]; i++)
	{
		const char *label;
		int64		label_len;
		MemoryContext old;

		(void) pgsc_model_class_label(handle, i, &label, &label_len);
		old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
		mc->labels[i] = cstring_to_text_with_len(label, (int) label_len);
		MemoryContextSwitchTo(old);
	}
}

/* The decoded model for argument 0, from the cache when it is the same value. */
static ModelCache *
model_for_call(FunctionCallInfo fcinfo, const char *function)
{
	ModelCache *mc = model_cache_slot(fcinfo);
	struct varlena *raw = (struct varlena *) PG_GETARG_POINTER(0);
	struct varlena *v;

	if (VARATT_IS_EXTERNAL_ONDISK(raw))
	{
		struct varatt_external ext;

		VARATT_EXTERNAL_GET_POINTER(ext, raw);
		if (mc->handle != NULL && mc->toast_valueid == ext.va_valueid && mc->toast_relid == ext.va_toastrelid)
			return mc;
		v = pg_detoast_datum_packed(raw);
		model_cache_fill(fcinfo, mc, v, function);
		mc->toast_relid = ext.va_toastrelid;
		mc->toast_valueid = ext.va_valueid;
		return mc;
	}
	v = pg_detoast_datum_packed(raw);
	if (mc->handle != NULL && mc->toast_valueid == InvalidOid &&
		VARSIZE_ANY_EXHDR(v) == mc->length &&
		memcmp(VARDATA_ANY(v), mc->header, Min(mc->length, (Size) pgscore_model_identity_size)) == 0)
		return mc;
	model_cache_fill(fcinfo, mc, v, function);
	mc->toast_relid = InvalidOid;
	mc->toast_valueid = InvalidOid;
	return mc;
}

PG_FUNCTION_INFO_V1(ml_predict_model);
Datum
ml_predict_model(PG_FUNCTION_ARGS)
{
	ModelCache *mc = model_for_call(fcinfo, "ml.predict");
	const float8 *x;
	int			n;
	bool		has_nulls;
	double		value;
	int64		cls;
	char		err[PGSC_ERRBUF];
	int32		status;

	x = pgscore_features(PG_GETARG_ARRAYTYPE_P(1), "ml.predict", &n, &has_nulls);
	if (has_nulls)
		PG_RETURN_NULL();		/* a row with an unknown feature has an unknown prediction */
	status = pgsc_predict(mc->handle, x, n, &value, &cls, err);
	if (status != PGSC_OK)
		pgscore_raise(status, err, "ml.predict");
	if (cls < 0)
		PG_RETURN_TEXT_P(cstring_to_text(float8out_internal(value)));
	if (cls >= mc->info[PGSC_INFO_CLASSES])
		elog(ERROR, "ml.predict: class index " INT64_FORMAT " out of range", cls);
	PG_RETURN_TEXT_P(DatumGetTextPCopy(PointerGetDatum(mc->labels[cls])));
}

PG_FUNCTION_INFO_V1(ml_predict_proba_model);
Datum
ml_predict_proba_model(PG_FUNCTION_ARGS)
{
	ModelCache *mc = model_for_call(fcinfo, "ml.predict_proba");
	const float8 *x;
	int			n;
	int			k = (int) mc->info[PGSC_INFO_CLASSES];
	bool		has_nulls;
	char		err[PGSC_ERRBUF];
	int32		status;
	ArrayType  *result;
	Size		nbytes;

	x = pgscore_features(PG_GETARG_ARRAYTYPE_P(1), "ml.predict_proba", &n, &has_nulls);
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
	ModelCache *mc = model_for_call(fcinfo, "ml.describe");
	const char *json;
	int64		len;

	pgsc_model_describe(mc->handle, &json, &len);
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(pnstrdup(json, len)));
}
