/*
 * metrics_agg.c -- the aggregate ml.metrics(model, features, label): how well a model
 * does on labelled rows, as jsonb; and ml.label_metrics, the same metrics of predictions
 * already made (the monitor's live metrics). The metrics are computed by the Swift core
 * (Sources/ScoreCore/Metrics.swift); this file keeps the state.
 *
 * Per row the transition function scores the features with the model, through a
 * decoded model handle kept in the state (decoded once per aggregate state), and keeps:
 *  - text label (classifier): the true class index and the K class probabilities
 *    (8*K + 4 bytes a row, in chunks of about 1 MB, up to pgscore.max_training_memory),
 *    and a K x K confusion matrix counted with the class ml.predict answers;
 *  - float8 label (regression): five running sums, whatever the row count.
 * The final function hands all of it to Swift and returns the JSON it writes.
 *
 * Rows whose model, features array or label is NULL are skipped, and so are rows with
 * a NULL element in their features (ml.predict answers NULL for them). No rows: NULL.
 * All rows of one aggregate must use the same model value.
 *
 * Everything lives in the aggregate memory context; the Swift handle is released by a
 * reset callback on that context (normal end, ERROR, or the next group). Partial
 * states combine and (de)serialise, so the aggregate is PARALLEL SAFE.
 */
#include "agg_state.h"
#include "algorithms.h"
#include "pgscore_abi_metrics.h"

#include <math.h>

#include "access/detoast.h"
#include "catalog/pg_type.h"
#include "common/cryptohash.h"
#include "common/sha2.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#define FUNCTION_NAME "ml.metrics"

#define METRICS_CLASSES	1		/* text label, classifier */
#define METRICS_VALUES	2		/* float8 label, regression (also ml.label_metrics' pairs) */
#define METRICS_LABELS	3		/* ml.label_metrics: logged predictions and their labels */

#define HAS_CLASSES(kind) ((kind) != METRICS_VALUES)

typedef struct MetricsState
{
	MemoryContext context;		/* where every part of the state lives */
	int32		kind;			/* METRICS_CLASSES, METRICS_VALUES or METRICS_LABELS */
	int32		classes;		/* K; 0 for regression */
	int32		label_kind;		/* PGSC_LABEL_* of the model */
	int64		rows;			/* rows evaluated */

	/*
	 * Which model value: its length and SHA-256 (a checksum anyone could collide
	 * would let two models mix in one evaluation); states the transition function
	 * made also keep the bytes, so each row compares them with memcmp.
	 */
	Size		model_length;
	uint8		model_digest[PG_SHA256_DIGEST_LENGTH];
	char	   *model_bytes;
	Oid			toast_relid;	/* when the value was last seen out of line */
	Oid			toast_valueid;

	/* the decoded model: only in states the transition function made */
	void	   *handle;
	MemoryContextCallback release;

	/* class labels (text form, not NUL-terminated), class order */
	char	  **labels;
	int32	   *label_lengths;
	int32		last;			/* class of the last row: labels often come in runs */

	/* classifier: confusion matrix and rows (x: K probabilities, y: the true class) */
	int64	   *confusion;		/* K * K, row = truth */
	AggRows		store;
	Size		held_bytes;		/* confusion matrix + chunks */

	/* regression: RegressionSums */
	double	   *sums;

	/* ml.label_metrics: rows logged without (usable) probabilities */
	int64		without_proba;
} MetricsState;

static void
metrics_release(void *arg)
{
	MetricsState *st = (MetricsState *) arg;

	if (st->handle != NULL)
		pgsc_model_release(st->handle);
	st->handle = NULL;
}

/* ---------------------------------------------------------------- state */

/* Fills a zeroed state: identity, counters, label slots; no rows, no model handle. */
static void
metrics_state_init(MetricsState *st, MemoryContext context, int32 kind, int32 classes,
				   int32 label_kind, Size model_length, const uint8 *digest)
{
	st->context = context;
	st->kind = kind;
	st->classes = HAS_CLASSES(kind) ? classes : 0;
	st->label_kind = label_kind;
	st->model_length = model_length;
	memcpy(st->model_digest, digest, PG_SHA256_DIGEST_LENGTH);
	if (HAS_CLASSES(kind))
	{
		int32		k = st->classes;

		st->labels = MemoryContextAllocZero(context, sizeof(char *) * Max(k, 1));
		st->label_lengths = MemoryContextAllocZero(context, sizeof(int32) * Max(k, 1));
		st->held_bytes = sizeof(int64) * k * k;
		if (st->held_bytes > (Size) pgscore_max_training_memory * 1024 * 1024)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("%s: the confusion matrix of %d classes needs more than pgscore.max_training_memory (%d MB)",
							FUNCTION_NAME, k, pgscore_max_training_memory),
					 errhint("Raise pgscore.max_training_memory.")));
		st->confusion = MemoryContextAllocZero(context, st->held_bytes);
		agg_rows_init(&st->store, k, false);
	}
	else
		st->sums = MemoryContextAllocZero(context, sizeof(double) * pgsc_metrics_sums_length());
}

static MetricsState *
metrics_state_new(MemoryContext context, int32 kind, int32 classes, int32 label_kind,
				  Size model_length, const uint8 *digest)
{
	MetricsState *st = MemoryContextAllocZero(context, sizeof(MetricsState));

	metrics_state_init(st, context, kind, classes, label_kind, model_length, digest);
	return st;
}

/* SHA-256 of a model value's bytes. */
static void
model_digest(const char *data, Size len, uint8 *digest)
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);

	if (ctx == NULL || pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, (const uint8 *) data, len) < 0 ||
		pg_cryptohash_final(ctx, digest, PG_SHA256_DIGEST_LENGTH) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("%s: could not compute the SHA-256 of the model: %s", FUNCTION_NAME,
						ctx ? pg_cryptohash_error(ctx) : "out of memory")));
	pg_cryptohash_free(ctx);
}

static void
metrics_set_label(MetricsState *st, int32 i, const char *bytes, int32 len)
{
	st->labels[i] = MemoryContextAlloc(st->context, Max(len, 1));
	memcpy(st->labels[i], bytes, len);
	st->label_lengths[i] = len;
}

/* The state of the first row: decodes the model (argument 1) and keeps its handle. */
static MetricsState *
metrics_state_open(MemoryContext context, Datum model, int32 kind)
{
	struct varlena *raw = (struct varlena *) DatumGetPointer(model);
	struct varlena *v = pg_detoast_datum_packed(raw);
	Size		len = VARSIZE_ANY_EXHDR(v);
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	char		err[PGSC_ERRBUF];
	int64		info[PGSC_INFO_LEN];
	int32		status;
	bool		classifier;
	const char *algorithm;
	MetricsState *st;
	int64		i;

	/* the handle belongs to the state from the start: any ERROR releases it with the context */
	st = MemoryContextAllocZero(context, sizeof(MetricsState));
	st->release.func = metrics_release;
	st->release.arg = st;
	MemoryContextRegisterResetCallback(context, &st->release);
	status = pgsc_model_open(VARDATA_ANY(v), (int64) len, &st->handle, err);
	if (status != PGSC_OK)
		pgscore_raise(status, err, FUNCTION_NAME);
	pgsc_model_info(st->handle, info);
	/* tree models are classifiers or regressors: the label type tells */
	classifier = info[PGSC_INFO_LABEL_KIND] != PGSC_LABEL_FLOAT8;
	algorithm = algorithm_name((int32) info[PGSC_INFO_ALGORITHM]);
	if (classifier && kind == METRICS_VALUES)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("%s: a float8 label needs a regression model; this model is a classifier (%s)",
						FUNCTION_NAME, algorithm),
				 errhint("To evaluate a classifier pass the label as text, written as the model's classes: ml.metrics(model, features, label::text).")));
	if (!classifier && kind == METRICS_CLASSES)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("%s: a text label needs a classifier; this model is a regression (%s)",
						FUNCTION_NAME, algorithm),
				 errhint("To evaluate a regression model pass the label as float8: ml.metrics(model, features, label::float8).")));
	if (classifier && (info[PGSC_INFO_CLASSES] < 1 || info[PGSC_INFO_CLASSES] > PGSCORE_MAX_CLASSES))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s: the model has " INT64_FORMAT " classes, at most %d are supported",
						FUNCTION_NAME, info[PGSC_INFO_CLASSES], PGSCORE_MAX_CLASSES)));

	model_digest(VARDATA_ANY(v), len, digest);
	metrics_state_init(st, context, kind, (int32) info[PGSC_INFO_CLASSES],
					   (int32) info[PGSC_INFO_LABEL_KIND], len, digest);
	st->model_bytes = MemoryContextAlloc(context, Max(len, 1));
	memcpy(st->model_bytes, VARDATA_ANY(v), len);
	for (i = 0; i < st->classes; i++)
	{
		const char *label;
		int64		label_len;

		if (pgsc_model_class_label(st->handle, i, &label, &label_len) != PGSC_OK)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
					 errmsg("%s: class " INT64_FORMAT " has no label: the model is damaged", FUNCTION_NAME, i)));
		metrics_set_label(st, (int32) i, label, (int32) label_len);
	}
	if (VARATT_IS_EXTERNAL_ONDISK(raw))
	{
		struct varatt_external ext;

		VARATT_EXTERNAL_GET_POINTER(ext, raw);
		st->toast_relid = ext.va_toastrelid;
		st->toast_valueid = ext.va_valueid;
	}
	if (v != raw)
		pfree(v);
	return st;
}

static void
different_models(const MetricsState *st)
{
	if (st->kind == METRICS_LABELS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ml.label_metrics: the rows of one evaluation use different class lists"),
				 errhint("Evaluate one version per aggregate: GROUP BY the version, or filter to one.")));
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("%s: the rows of one evaluation use different models", FUNCTION_NAME),
			 errhint("Evaluate one model per aggregate: GROUP BY the model (or its name), or filter to one model.")));
}

/* Is argument `model` the value the state was made for? (cheap for the usual cases) */
static void
metrics_check_model(MetricsState *st, Datum model)
{
	struct varlena *raw = (struct varlena *) DatumGetPointer(model);
	struct varlena *v;
	bool		external = VARATT_IS_EXTERNAL_ONDISK(raw);
	struct varatt_external ext = {0};
	bool		same;

	if (external)
	{
		VARATT_EXTERNAL_GET_POINTER(ext, raw);
		if (OidIsValid(st->toast_valueid) && ext.va_valueid == st->toast_valueid &&
			ext.va_toastrelid == st->toast_relid)
			return;
		v = pg_detoast_datum_packed(raw);
	}
	else
		v = VARATT_IS_EXTENDED(raw) && !VARATT_IS_SHORT(raw) ? pg_detoast_datum_packed(raw) : raw;
	same = VARSIZE_ANY_EXHDR(v) == st->model_length;
	if (same && st->model_bytes != NULL)
		same = memcmp(VARDATA_ANY(v), st->model_bytes, st->model_length) == 0;
	else if (same)
	{
		uint8		digest[PG_SHA256_DIGEST_LENGTH];

		model_digest(VARDATA_ANY(v), st->model_length, digest);
		same = memcmp(digest, st->model_digest, PG_SHA256_DIGEST_LENGTH) == 0;
	}
	if (v != raw)
		pfree(v);
	if (!same)
		different_models(st);
	if (external)
	{
		st->toast_relid = ext.va_toastrelid;
		st->toast_valueid = ext.va_valueid;
	}
}

static void
metrics_check_same(const MetricsState *a, const MetricsState *b)
{
	if (a->kind != b->kind || a->classes != b->classes || a->model_length != b->model_length ||
		memcmp(a->model_digest, b->model_digest, PG_SHA256_DIGEST_LENGTH) != 0)
		different_models(a);
}

/* ---------------------------------------------------------------- labels */

static int32
metrics_class_of(MetricsState *st, text *label)
{
	const char *bytes = VARDATA_ANY(label);
	int32		len = VARSIZE_ANY_EXHDR(label);
	int32		i;
	StringInfoData classes;

#define LABEL_EQ(j) (st->label_lengths[j] == len && memcmp(st->labels[j], bytes, len) == 0)
	if (LABEL_EQ(st->last))
		return st->last;
	for (i = 0; i < st->classes; i++)
		if (LABEL_EQ(i))
			return st->last = i;
#undef LABEL_EQ

	initStringInfo(&classes);
	for (i = 0; i < st->classes && i < 20; i++)
		appendStringInfo(&classes, "%s\"%.*s\"", i > 0 ? ", " : "",
						 Min(st->label_lengths[i], 100), st->labels[i]);
	if (st->classes > 20)
		appendStringInfo(&classes, ", ... (%d in all)", st->classes);
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("%s: label \"%.*s\" is not one of the model's classes",
					st->kind == METRICS_LABELS ? "ml.label_metrics" : FUNCTION_NAME, Min(len, 100), bytes),
			 errdetail("The model's classes are %s.", classes.data),
			 errhint("Labels are compared, as text, with the classes the model was trained on (a boolean as true/false, an integer as its digits). Filter out rows of other classes.")));
	return -1;					/* unreachable */
}

/* ---------------------------------------------------------------- rows */

static void
reserve_rows(void *owner, Size bytes)
{
	MetricsState *st = (MetricsState *) owner;

	if (st->held_bytes + bytes > (Size) pgscore_max_training_memory * 1024 * 1024)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s: the evaluated rows need more than pgscore.max_training_memory (%d MB)",
						FUNCTION_NAME, pgscore_max_training_memory),
				 errdetail("%lld rows of %d classes are held so far; each row takes %d bytes (8 per class + 4).",
						   (long long) st->rows, st->classes, (int) (8 * st->classes + 4)),
				 errhint("Raise pgscore.max_training_memory, or evaluate on a sample (TABLESAMPLE).")));
	st->held_bytes += bytes;
}

/* ---------------------------------------------------------------- transition */

static Datum
metrics_step(FunctionCallInfo fcinfo, int32 kind)
{
	MemoryContext context = agg_context(fcinfo, FUNCTION_NAME);
	MetricsState *st = PG_ARGISNULL(0) ? NULL : (MetricsState *) PG_GETARG_POINTER(0);
	const float8 *x;
	float8		buffer[PGSCORE_MAX_FEATURES];
	int			n;
	bool		has_nulls;
	char		err[PGSC_ERRBUF];
	int32		status;

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
	{
		if (st == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(st);
	}
	x = pgscore_features(PG_GETARG_DATUM(2), FUNCTION_NAME, buffer, &n, &has_nulls);
	if (st == NULL)
		st = metrics_state_open(context, PG_GETARG_DATUM(1), kind);
	else
	{
		metrics_check_model(st, PG_GETARG_DATUM(1));
		if (st->handle == NULL)
			elog(ERROR, "%s: transition state has no model", FUNCTION_NAME);
	}
	if (has_nulls)
	{
		/* as ml.predict: tree models take NULL features as missing, others skip the row */
		if (!pgsc_model_accepts_missing(st->handle))
			PG_RETURN_POINTER(st);
		x = pgscore_features_missing(PG_GETARG_DATUM(2), FUNCTION_NAME, buffer, &n);
	}

	if (kind == METRICS_CLASSES)
	{
		int32		truth = metrics_class_of(st, PG_GETARG_TEXT_PP(3));
		AggRows    *rs = &st->store;
		int32		c = agg_rows_room(rs, st->context, reserve_rows, st);
		double	   *slot = rs->x[c] + rs->rows[c] * st->classes;

		status = pgsc_metrics_add_class(st->handle, x, n, truth, slot, st->confusion, err);
		if (status != PGSC_OK)
			pgscore_raise(status, err, FUNCTION_NAME);
		rs->y[c][rs->rows[c]] = truth;
		rs->rows[c]++;
	}
	else
	{
		status = pgsc_metrics_add_value(st->handle, x, n, PG_GETARG_FLOAT8(3), st->sums, err);
		if (status != PGSC_OK)
			pgscore_raise(status, err, FUNCTION_NAME);
	}
	st->rows++;
	PG_RETURN_POINTER(st);
}

PG_FUNCTION_INFO_V1(ml_metrics_step_class);
Datum
ml_metrics_step_class(PG_FUNCTION_ARGS)
{
	return metrics_step(fcinfo, METRICS_CLASSES);
}

PG_FUNCTION_INFO_V1(ml_metrics_step_value);
Datum
ml_metrics_step_value(PG_FUNCTION_ARGS)
{
	return metrics_step(fcinfo, METRICS_VALUES);
}

/* ---------------------------------------------------------------- ml.label_metrics */

/*
 * ml.label_metrics(classes, prediction, label, probabilities): the metrics of labelled
 * predictions already made (what the monitor reads from ml.predictions), computed by
 * the same Swift code as ml.metrics. The class list plays the model's part: every row
 * must bring the same one (its bytes are compared like a model value's).
 */
static MetricsState *
labels_state_open(MemoryContext context, Datum classes_datum)
{
	struct varlena *v = pg_detoast_datum_packed((struct varlena *) DatumGetPointer(classes_datum));
	ArrayType  *arr = DatumGetArrayTypeP(classes_datum);
	Size		len = VARSIZE_ANY_EXHDR(v);
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	Datum	   *elems;
	bool	   *nulls;
	int			k;
	MetricsState *st;

	if (ARR_NDIM(arr) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("ml.label_metrics: classes must be a one-dimensional text array")));
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &k);
	if (k < 1 || k > PGSCORE_MAX_CLASSES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("ml.label_metrics: %d classes, from 1 to %d are supported", k, PGSCORE_MAX_CLASSES)));
	model_digest(VARDATA_ANY(v), len, digest);
	st = metrics_state_new(context, METRICS_LABELS, k, PGSC_LABEL_TEXT, len, digest);
	st->model_bytes = MemoryContextAlloc(context, Max(len, 1));
	memcpy(st->model_bytes, VARDATA_ANY(v), len);
	for (int i = 0; i < k; i++)
	{
		text	   *t;

		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("ml.label_metrics: class %d is NULL", i + 1)));
		t = DatumGetTextPP(elems[i]);
		metrics_set_label(st, i, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
		for (int j = 0; j < i; j++)
			if (st->label_lengths[j] == st->label_lengths[i] &&
				memcmp(st->labels[j], st->labels[i], st->label_lengths[i]) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("ml.label_metrics: class \"%.*s\" is listed twice", Min(st->label_lengths[i], 100), st->labels[i])));
	}
	return st;
}

/* The probabilities of a row when they are K finite numbers; NULL otherwise. */
static const double *
usable_probabilities(const MetricsState *st, ArrayType *arr)
{
	const double *p;

	if (ARR_NDIM(arr) != 1 || ARR_DIMS(arr)[0] != st->classes || ARR_HASNULL(arr) ||
		ARR_ELEMTYPE(arr) != FLOAT8OID)
		return NULL;
	p = (const double *) ARR_DATA_PTR(arr);
	for (int i = 0; i < st->classes; i++)
		if (isnan(p[i]) || isinf(p[i]))
			return NULL;
	return p;
}

PG_FUNCTION_INFO_V1(ml_label_metrics_step_class);
Datum
ml_label_metrics_step_class(PG_FUNCTION_ARGS)
{
	MemoryContext context = agg_context(fcinfo, "ml.label_metrics");
	MetricsState *st = PG_ARGISNULL(0) ? NULL : (MetricsState *) PG_GETARG_POINTER(0);
	int32		truth,
				predicted;
	const double *p = NULL;

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
	{
		if (st == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(st);
	}
	if (st == NULL)
		st = labels_state_open(context, PG_GETARG_DATUM(1));
	else
		metrics_check_model(st, PG_GETARG_DATUM(1));
	truth = metrics_class_of(st, PG_GETARG_TEXT_PP(3));
	predicted = metrics_class_of(st, PG_GETARG_TEXT_PP(2));
	if (!PG_ARGISNULL(4))
		p = usable_probabilities(st, PG_GETARG_ARRAYTYPE_P(4));
	st->confusion[(int64) truth * st->classes + predicted]++;
	if (p != NULL)
		agg_rows_append(&st->store, st->context, p, &truth, NULL, 1, NULL, reserve_rows, st);
	else
		st->without_proba++;
	st->rows++;
	PG_RETURN_POINTER(st);
}

PG_FUNCTION_INFO_V1(ml_label_metrics_step_value);
Datum
ml_label_metrics_step_value(PG_FUNCTION_ARGS)
{
	MemoryContext context = agg_context(fcinfo, "ml.label_metrics");
	MetricsState *st = PG_ARGISNULL(0) ? NULL : (MetricsState *) PG_GETARG_POINTER(0);
	char		err[PGSC_ERRBUF];
	int32		status;

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
	{
		if (st == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(st);
	}
	if (st == NULL)
	{
		uint8		none[PG_SHA256_DIGEST_LENGTH] = {0};

		st = metrics_state_new(context, METRICS_VALUES, 0, PGSC_LABEL_FLOAT8, 0, none);
	}
	status = pgsc_metrics_add_pair(PG_GETARG_FLOAT8(1), PG_GETARG_FLOAT8(2), st->sums, err);
	if (status != PGSC_OK)
		pgscore_raise(status, err, "ml.label_metrics");
	st->rows++;
	PG_RETURN_POINTER(st);
}

/* ---------------------------------------------------------------- combine */

static void
metrics_merge(MetricsState *into, const MetricsState *from)
{
	int64		i;
	int32		c;

	metrics_check_same(into, from);
	into->without_proba += from->without_proba;
	if (HAS_CLASSES(into->kind))
	{
		for (i = 0; i < (int64) into->classes * into->classes; i++)
			into->confusion[i] += from->confusion[i];
		for (c = 0; c < from->store.chunks; c++)
		{
			CHECK_FOR_INTERRUPTS();
			agg_rows_append(&into->store, into->context, from->store.x[c], from->store.y[c], NULL,
							from->store.rows[c], NULL, reserve_rows, into);
		}
	}
	else
		pgsc_metrics_merge_sums(into->sums, from->sums);
	into->rows += from->rows;
}

PG_FUNCTION_INFO_V1(ml_metrics_combine);
Datum
ml_metrics_combine(PG_FUNCTION_ARGS)
{
	MemoryContext context = agg_context(fcinfo, "ml.metrics combine");
	MetricsState *a = PG_ARGISNULL(0) ? NULL : (MetricsState *) PG_GETARG_POINTER(0);
	MetricsState *b = PG_ARGISNULL(1) ? NULL : (MetricsState *) PG_GETARG_POINTER(1);
	int32		i;

	if (b == NULL)
	{
		if (a == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(a);
	}
	if (a == NULL)
	{
		/* b may live in a shorter-lived context: copy it into ours */
		a = metrics_state_new(context, b->kind, b->classes, b->label_kind, b->model_length, b->model_digest);
		for (i = 0; i < b->classes; i++)
			metrics_set_label(a, i, b->labels[i], b->label_lengths[i]);
	}
	metrics_merge(a, b);
	PG_RETURN_POINTER(a);
}

/* ---------------------------------------------------------------- bytes */

/*
 * Layout: kind, classes, label kind (int32), rows, model length (int64), model
 * SHA-256; then per class its label (int32 length, bytes); then either the confusion
 * matrix (K*K int64), the rows without probabilities (int64) and the rows
 * (agg_rows_write), or the regression sums (double).
 */
static void
write_state(const void *state, AggWriter *w)
{
	const MetricsState *st = (const MetricsState *) state;
	int64		length = (int64) st->model_length;

	agg_put(w, &st->kind, sizeof(int32));
	agg_put(w, &st->classes, sizeof(int32));
	agg_put(w, &st->label_kind, sizeof(int32));
	agg_put(w, &st->rows, sizeof(int64));
	agg_put(w, &length, sizeof(int64));
	agg_put(w, st->model_digest, PG_SHA256_DIGEST_LENGTH);
	for (int32 i = 0; i < st->classes; i++)
	{
		agg_put(w, &st->label_lengths[i], sizeof(int32));
		agg_put(w, st->labels[i], st->label_lengths[i]);
	}
	if (HAS_CLASSES(st->kind))
	{
		agg_put(w, st->confusion, sizeof(int64) * st->classes * st->classes);
		agg_put(w, &st->without_proba, sizeof(int64));
		agg_rows_write(&st->store, w);
	}
	else
		agg_put(w, st->sums, sizeof(double) * pgsc_metrics_sums_length());
}

PG_FUNCTION_INFO_V1(ml_metrics_serialize);
Datum
ml_metrics_serialize(PG_FUNCTION_ARGS)
{
	(void) agg_context(fcinfo, "ml.metrics serialize");
	PG_RETURN_BYTEA_P(agg_state_bytes(write_state, PG_GETARG_POINTER(0), FUNCTION_NAME, "evaluation state"));
}

PG_FUNCTION_INFO_V1(ml_metrics_deserialize);
Datum
ml_metrics_deserialize(PG_FUNCTION_ARGS)
{
	AggReader	r;
	int32		kind,
				classes,
				label_kind,
				i;
	int64		rows,
				length;
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	MetricsState *st;

	(void) agg_context(fcinfo, "ml.metrics deserialize");
	r = agg_reader(PG_GETARG_BYTEA_PP(0), "evaluation state");
	agg_take(&r, &kind, sizeof(int32));
	agg_take(&r, &classes, sizeof(int32));
	agg_take(&r, &label_kind, sizeof(int32));
	agg_take(&r, &rows, sizeof(int64));
	agg_take(&r, &length, sizeof(int64));
	agg_take(&r, digest, PG_SHA256_DIGEST_LENGTH);
	if ((kind != METRICS_CLASSES && kind != METRICS_VALUES && kind != METRICS_LABELS) || rows < 0 || length < 0 ||
		(HAS_CLASSES(kind) && (classes < 1 || classes > PGSCORE_MAX_CLASSES)))
		agg_state_damaged(&r);
	st = metrics_state_new(CurrentMemoryContext, kind, classes, label_kind, (Size) length, digest);
	st->rows = rows;
	for (i = 0; i < st->classes; i++)
	{
		int32		n;

		agg_take(&r, &n, sizeof(int32));
		if (n < 0 || n > r.end - r.p)
			agg_state_damaged(&r);
		metrics_set_label(st, i, r.p, n);
		r.p += n;
	}
	if (HAS_CLASSES(kind))
	{
		agg_take(&r, st->confusion, sizeof(int64) * classes * classes);
		agg_take(&r, &st->without_proba, sizeof(int64));
		if (st->without_proba < 0 || st->without_proba > rows)
			agg_state_damaged(&r);
		agg_rows_read(&st->store, &r, rows - st->without_proba, classes, st->context, reserve_rows, st);
	}
	else
		agg_take(&r, st->sums, sizeof(double) * pgsc_metrics_sums_length());
	if (r.p != r.end)
		agg_state_damaged(&r);
	PG_RETURN_POINTER(st);
}

/* ---------------------------------------------------------------- final */

typedef struct FinalCall
{
	const MetricsState *st;
	void	   *result;
} FinalCall;

static int32
compute(const void *arg, char *err)
{
	const MetricsState *st = ((const FinalCall *) arg)->st;
	void	  **result = &((FinalCall *) arg)->result;

	if (st->kind == METRICS_LABELS && st->without_proba > 0)
		return pgsc_metrics_counts(st->classes, st->label_kind, (const char *const *) st->labels,
								   st->label_lengths, st->confusion, result, err);
	if (HAS_CLASSES(st->kind))
		return pgsc_metrics_classification(st->classes, st->label_kind,
										   (const char *const *) st->labels, st->label_lengths,
										   st->confusion,
										   (const int32_t *const *) st->store.y,
										   (const double *const *) st->store.x,
										   st->store.rows, st->store.chunks,
										   pgscore_stop_requested, result, err);
	return pgsc_metrics_regression(st->sums, result, err);
}

/* Must not modify the state: window aggregates call it again. */
PG_FUNCTION_INFO_V1(ml_metrics_final);
Datum
ml_metrics_final(PG_FUNCTION_ARGS)
{
	FinalCall	call = {NULL, NULL};
	void	   *result;
	char		err[PGSC_ERRBUF];
	int32		status;
	const char *json;
	int64		len;
	char	   *copy;

	(void) agg_context(fcinfo, "ml.metrics final");
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	call.st = (const MetricsState *) PG_GETARG_POINTER(0);
	if (call.st->rows == 0)
		PG_RETURN_NULL();
	status = agg_call_retrying(compute, &call, err);
	if (status != PGSC_OK)
		pgscore_raise(status, err, FUNCTION_NAME);
	result = call.result;

	pgsc_metrics_result_text(result, &json, &len);
	copy = (len < (int64) MaxAllocSize) ? palloc_extended(len + 1, MCXT_ALLOC_NO_OOM) : NULL;
	if (copy != NULL)
	{
		memcpy(copy, json, len);
		copy[len] = '\0';
	}
	pgsc_metrics_result_release(result);
	if (copy == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("%s: out of memory for a result of %lld bytes", FUNCTION_NAME, (long long) len)));
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(copy));
}
