/*
 * scoring_model.c -- see scoring_model.h.
 */
#include "scoring_model.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/memutils.h"

void
scoring_model_open(ScoringModel *sm, MemoryContext parent, const char *data, Size len,
				   const char *function)
{
	char		err[PGSC_ERRBUF];
	void	   *model = NULL;
	void	   *pre = NULL;
	int32		status;
	int64		i;
	MemoryContext context = AllocSetContextCreate(parent, "pgscore model", ALLOCSET_SMALL_SIZES);
	MemoryContext old;

	status = pgsc_model_open(data, (int64) len, &model, err);
	if (status == PGSC_OK)
	{
		status = pgsc_model_preprocessor(model, &pre, err);
		if (status != PGSC_OK)
			pgsc_model_release(model);
	}
	if (status != PGSC_OK)
	{
		MemoryContextDelete(context);
		pgscore_raise(status, err, function);
	}
	sm->context = context;
	sm->model = model;
	sm->pre = pre;
	sm->encoder = NULL;
	pgsc_model_info(model, sm->info);
	old = MemoryContextSwitchTo(context);
	sm->labels = palloc(sizeof(text *) * Max(sm->info[PGSC_INFO_CLASSES], 1));
	for (i = 0; i < sm->info[PGSC_INFO_CLASSES]; i++)
	{
		const char *label;
		int64		label_len;

		(void) pgsc_model_class_label(model, i, &label, &label_len);
		sm->labels[i] = cstring_to_text_with_len(label, (int) label_len);
	}
	MemoryContextSwitchTo(old);
}

void
scoring_model_close(ScoringModel *sm)
{
	if (sm->model != NULL)
		pgsc_model_release(sm->model);
	if (sm->pre != NULL)
		pgsc_preprocessor_release(sm->pre);
	if (sm->context != NULL)
		MemoryContextDelete(sm->context);
	memset(sm, 0, sizeof(ScoringModel));
}

/*
 * The values of a features array for this model, in `buffer` or in place. A NULL
 * element is a missing value (NaN) for models that take them (trees); for the others
 * the prediction is unknown and this returns NULL.
 */
const double *
scoring_features(ScoringModel *sm, Datum features, double *buffer, int *n, const char *function)
{
	bool		has_nulls;
	const double *x = pgscore_features(features, function, buffer, n, &has_nulls);

	if (!has_nulls)
		return x;
	if (!pgsc_model_accepts_missing(sm->model))
		return NULL;
	return pgscore_features_missing(features, function, buffer, n);
}

/* The prediction as text: the class label, or the regression value. */
Datum
scoring_predict(ScoringModel *sm, const double *x, int n, const char *function)
{
	double		value;
	int64		cls;
	char		err[PGSC_ERRBUF];
	int32		status;

	status = pgsc_predict(sm->model, x, n, &value, &cls, err);
	if (status != PGSC_OK)
		pgscore_raise(status, err, function);
	if (cls < 0)
	{
		if (isnan(value) || isinf(value))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("%s: the prediction is not a finite number", function)));
		return PointerGetDatum(cstring_to_text(float8out_internal(value)));
	}
	if (cls >= sm->info[PGSC_INFO_CLASSES])
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("%s: class index " INT64_FORMAT " out of range: the model is damaged", function, cls)));
	/* read-only and alive while the model is cached, like a pointer into a tuple */
	return PointerGetDatum(sm->labels[cls]);
}

ArrayType *
scoring_proba(ScoringModel *sm, const double *x, int n, const char *function)
{
	int			k = (int) sm->info[PGSC_INFO_CLASSES];
	Size		nbytes = ARR_OVERHEAD_NONULLS(1) + sizeof(float8) * Max(k, 1);
	ArrayType  *result = (ArrayType *) palloc0(nbytes);
	char		err[PGSC_ERRBUF];
	int32		status;

	SET_VARSIZE(result, nbytes);
	result->ndim = 1;
	result->dataoffset = 0;
	result->elemtype = FLOAT8OID;
	ARR_DIMS(result)[0] = k;
	ARR_LBOUND(result)[0] = 1;
	status = pgsc_predict_proba(sm->model, x, n, (double *) ARR_DATA_PTR(result), err);
	if (status != PGSC_OK)
		pgscore_raise(status, err, function);
	return result;
}

RowEncoder *
scoring_encoder(ScoringModel *sm, const char *function, const char *what)
{
	if (sm->pre == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s: %s has no column names: it was trained by an aggregate on feature arrays",
						function, what),
				 errhint("Score it with a float8[] of features, or train it with ml.train to score rows.")));
	if (sm->encoder == NULL)
		sm->encoder = row_encoder_create(sm->context, sm->pre);
	return sm->encoder;
}

/*
 * The encoder, for a vector that fits a PGSCORE_MAX_FEATURES buffer: every path that
 * encodes a row or a JSON object (row and jsonb forms of ml.predict, the trigger) goes
 * through here. The decoder already refuses models of more features; this keeps the
 * buffer safe whatever happens upstream.
 */
static RowEncoder *
buffer_encoder(ScoringModel *sm, const char *function, const char *what)
{
	RowEncoder *enc = scoring_encoder(sm, function, what);

	if (enc->features < 0 || enc->features > PGSCORE_MAX_FEATURES ||
		enc->features != sm->info[PGSC_INFO_FEATURES])
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s: %s encodes %d features, at most %d are supported", function, what,
						enc->features, PGSCORE_MAX_FEATURES)));
	return enc;
}

/* Encodes a table row (the trigger's new tuple) like scoring_encode_record. */
const double *
scoring_encode_tuple(ScoringModel *sm, HeapTuple tuple, TupleDesc desc, Oid rowtype, double *buffer,
					 const char *function, const char *what)
{
	RowEncoder *enc = buffer_encoder(sm, function, what);

	if (enc->rowtype != rowtype)
		row_encoder_map(enc, desc, rowtype, -1, function);
	row_encoder_encode(enc, tuple, desc, buffer, function);
	return buffer;
}

/* Encodes a row with the model's preprocessing into buffer (PGSCORE_MAX_FEATURES). */
const double *
scoring_encode_record(ScoringModel *sm, HeapTupleHeader rec, double *buffer, const char *function,
					  const char *what)
{
	row_encoder_encode_record(buffer_encoder(sm, function, what), rec, buffer, function);
	return buffer;
}

/* Encodes a JSON object of named features like a row (see row_encoder_encode_jsonb). */
const double *
scoring_encode_jsonb(ScoringModel *sm, Jsonb *object, double *buffer, const char *function,
					 const char *what)
{
	row_encoder_encode_jsonb(buffer_encoder(sm, function, what), object, buffer, function);
	return buffer;
}

/* Encodes a float8[] of raw values in column order (see row_encoder_encode_values). */
const double *
scoring_encode_values(ScoringModel *sm, Datum values, double *buffer, const char *function,
					  const char *what)
{
	row_encoder_encode_values(buffer_encoder(sm, function, what), values, buffer, function, what);
	return buffer;
}
