/*
 * logreg_pass.c -- logistic regression in passes that keep no rows: the aggregate
 * ml.logreg_step(features, label, state) runs one pass over the rows and returns the next
 * fit state (bytea); ml.logreg_start makes the first one, ml.logreg_fit_info tells where a
 * fit is, ml.logreg_model gives the model of a finished one. The driver (ml.train, or any
 * loop) runs passes until the phase is "done". Pass 0 keeps per-class moments (a naive
 * Bayes state, train_state.c); every later pass keeps the loss, gradient and Hessian of
 * one Newton evaluation, 1 + p + p^2 doubles for p parameters, whatever the row count.
 * The math is the Swift core's (ScoreCore/LogisticPasses.swift); this file keeps memory,
 * label ids and the bytes between workers.
 */
#include "train_state.h"
#include "pgscore_abi_logreg_pass.h"
#include "progress.h"

#include <math.h>

#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#define STEP_FUNCTION "ml.logreg_step"

typedef struct LogregPass
{
	MemoryContext context;
	int32		phase;			/* PGSC_PASS_* of the fit state this pass reads */
	int32		features;		/* of the fit (evaluation) or of the first row (moments) */
	int32		classes;		/* of the fit (evaluation passes) */
	bool		skip_nulls;
	bytea	   *fit;			/* the fit state this pass reads */
	void	   *handle;			/* its decoded form; transitions only */
	MemoryContextCallback release;
	TrainState *labels;			/* label ids; in pass 0 also the per-class moments */
	int32	   *class_of_id;	/* evaluation: label id -> class index */
	int64		sum_count;		/* evaluation: 1 + p + p^2 */
	double	   *sums;
	int64		rows;
	/* rows waiting for the core, so it is called once per block, not per row */
	int32		block_rows;
	int32		buffered;
	double	   *xbuf;
	int32	   *cbuf;
} LogregPass;

static void
release_handle(void *arg)
{
	LogregPass *st = (LogregPass *) arg;

	pgsc_logreg_release(st->handle);
	st->handle = NULL;
}

/* What pgsc_logreg_open tells of a fit state. */
typedef struct FitShape
{
	int32		phase;
	int32		skip_nulls;
	int64		features;
	int64		classes;
	int64		sums;
} FitShape;

/* Decodes a fit state into a handle; raises on damaged bytes. */
static void *
open_fit(const bytea *fit, FitShape *shape, const char *function)
{
	void	   *handle = NULL;
	char		err[PGSC_ERRBUF];
	int32		status;

	status = pgsc_logreg_open(VARDATA_ANY(fit), VARSIZE_ANY_EXHDR(fit), &handle, &shape->phase, &shape->features,
							  &shape->classes, &shape->sums, &shape->skip_nulls, err);
	if (status != PGSC_OK)
		pgscore_raise(status, err, function);
	return handle;
}

static const char *
label_kind_name(int32 kind)
{
	switch (kind)
	{
		case PGSC_LABEL_BOOLEAN:
			return "boolean";
		case PGSC_LABEL_INTEGER:
			return "integer";
		case PGSC_LABEL_TEXT:
			return "text";
		default:
			return "numbers";
	}
}

/* A pass state for fit state `fit` (copied), without a handle. */
static LogregPass *
pass_create(MemoryContext context, const bytea *fit, int32 label_kind, Oid label_type, bool with_handle)
{
	LogregPass *st = MemoryContextAllocZero(context, sizeof(LogregPass));
	FitShape	shape;
	void	   *handle = open_fit(fit, &shape, STEP_FUNCTION);
	int32		phase = shape.phase;

	st->context = context;
	st->phase = phase;
	st->features = (int32) shape.features;
	st->classes = (int32) shape.classes;
	st->skip_nulls = shape.skip_nulls != 0;
	/* always with a 4-byte header: serialize writes it as it is */
	st->fit = MemoryContextAlloc(context, VARHDRSZ + VARSIZE_ANY_EXHDR(fit));
	SET_VARSIZE(st->fit, VARHDRSZ + VARSIZE_ANY_EXHDR(fit));
	memcpy(VARDATA(st->fit), VARDATA_ANY(fit), VARSIZE_ANY_EXHDR(fit));
	if (phase == PGSC_PASS_EVALUATE && label_type != InvalidOid && pgsc_logreg_label_kind(handle) != label_kind)
	{
		int32		first = pgsc_logreg_label_kind(handle);

		pgsc_logreg_release(handle);
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("%s: the labels are %s here, %s in the first pass", STEP_FUNCTION,
						label_kind_name(label_kind), label_kind_name(first)),
				 errhint("Every pass must read the same label column.")));
	}
	if (with_handle)
	{
		st->handle = handle;
		st->release.func = release_handle;
		st->release.arg = st;
		MemoryContextRegisterResetCallback(context, &st->release);
	}
	else
		pgsc_logreg_release(handle);

	if (phase == PGSC_PASS_DONE)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s: this fit is finished", STEP_FUNCTION),
				 errhint("ml.logreg_model(state) gives its model.")));
	st->labels = train_state_create(context, PGSC_NB, label_kind, "", 0, STEP_FUNCTION);
	st->labels->label_type = label_type;
	if (phase == PGSC_PASS_EVALUATE)
	{
		st->sum_count = shape.sums;
		st->sums = MemoryContextAllocZero(context, sizeof(double) * shape.sums);
		st->class_of_id = MemoryContextAlloc(context, sizeof(int32) * st->classes);
		/* about 4 M multiply-adds per call into the core */
		st->block_rows = (int32) Max(1, Min(256, (1 << 22) / shape.sums));
		st->xbuf = MemoryContextAlloc(context, sizeof(double) * st->features * st->block_rows);
		st->cbuf = MemoryContextAlloc(context, sizeof(int32) * st->block_rows);
	}
	return st;
}

static void
flush(LogregPass *st)
{
	char		err[PGSC_ERRBUF];
	int32		status;

	if (st->buffered == 0)
		return;
	Assert(st->handle != NULL);
	status = pgsc_logreg_add(st->handle, st->xbuf, st->cbuf, st->buffered, st->sums, err);
	if (status != PGSC_OK)
		pgscore_raise(status, err, STEP_FUNCTION);
	st->buffered = 0;
}

/* The label as the model stores it, to match label id `id` with a class of the fit. */
static void
label_text(const LabelSet *ls, int32 id, const char **bytes, int32 *len)
{
	switch (ls->kind)
	{
		case PGSC_LABEL_BOOLEAN:
			*bytes = ls->ints[id] ? "true" : "false";
			break;
		case PGSC_LABEL_INTEGER:
			*bytes = psprintf(INT64_FORMAT, ls->ints[id]);
			break;
		default:
			*bytes = ls->texts[id];
			*len = ls->text_lengths[id];
			return;
	}
	*len = strlen(*bytes);
}

/* Class index of label id `id` in an evaluation pass (ids are looked up once). */
static int32
class_of(LogregPass *st, int32 id, int32 known)
{
	const char *bytes;
	int32		len;
	int32		c;

	if (id < known)
		return st->class_of_id[id];
	label_text(&st->labels->labels, id, &bytes, &len);
	for (c = 0; c < st->classes; c++)
	{
		const char *label;
		int64		label_len;

		if (id < st->classes && pgsc_logreg_class(st->handle, c, &label, &label_len) == PGSC_OK &&
			label_len == len && memcmp(label, bytes, len) == 0)
			return st->class_of_id[id] = c;
	}
	ereport(ERROR,
			(errcode(ERRCODE_DATA_EXCEPTION),
			 errmsg("%s: label \"%.*s\" is not one of the %d classes the first pass found", STEP_FUNCTION,
					Min(len, 200), bytes, st->classes),
			 errhint("The rows changed between passes: train from a table nobody writes to meanwhile, or run the passes in one REPEATABLE READ transaction.")));
	return -1;					/* unreachable */
}

PG_FUNCTION_INFO_V1(ml_logreg_pass_step);
Datum
ml_logreg_pass_step(PG_FUNCTION_ARGS)
{
	MemoryContext context = agg_context(fcinfo, STEP_FUNCTION);
	LogregPass *st = PG_ARGISNULL(0) ? NULL : (LogregPass *) PG_GETARG_POINTER(0);
	float8		buffer[PGSCORE_MAX_FEATURES];
	const float8 *x;
	bool		has_nulls;
	int			n,
				j;

	if (st == NULL)
	{
		Oid			label_type = get_fn_expr_argtype(fcinfo->flinfo, 2);

		if (PG_ARGISNULL(3))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s: the fit state is NULL", STEP_FUNCTION),
					 errhint("Start with ml.logreg_start(options); a pass over no rows returns NULL.")));
		st = pass_create(context, PG_GETARG_BYTEA_PP(3), label_kind_of(label_type, STEP_FUNCTION),
						 label_type, true);
	}
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
		PG_RETURN_POINTER(st);

	x = pgscore_features(PG_GETARG_DATUM(1), STEP_FUNCTION, buffer, &n, &has_nulls);
	if (has_nulls)
	{
		if (st->skip_nulls)
			PG_RETURN_POINTER(st);
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s: a features array contains NULL", STEP_FUNCTION),
				 errhint("Filter such rows (WHERE ... IS NOT NULL), fill them in (coalesce), or start with the option '{\"nulls\": \"skip\"}'.")));
	}
	for (j = 0; j < n; j++)
		if (isnan(x[j]) || isinf(x[j]))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s: feature %d is %s; features must be finite numbers",
							STEP_FUNCTION, j + 1, isnan(x[j]) ? "NaN" : (x[j] > 0 ? "Infinity" : "-Infinity")),
					 errhint("Filter or replace NaN and Infinity before training.")));

	if (st->phase == PGSC_PASS_MOMENTS)
	{
		char		err[PGSC_ERRBUF];
		int32		status;
		int32		id;

		train_state_set_features(st->labels, n, STEP_FUNCTION);
		st->features = n;
		id = label_id(st->labels, fcinfo, STEP_FUNCTION);
		status = pgsc_moments_add(train_state_block(st->labels, id), n, 0, x, 0, 0, err);
		if (status != PGSC_OK)
			pgscore_raise(status, err, STEP_FUNCTION);
		/* the moments state counts its rows like ml.nb_fit's (its bytes are checked by that count) */
		st->labels->rows++;
	}
	else
	{
		int32		known = st->labels->labels.count;
		int32		id;

		if (n != st->features)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("%s: a features array has %d values; the fit has %d features", STEP_FUNCTION, n, st->features),
					 errhint("Every pass must read the same rows with the same features.")));
		id = label_id(st->labels, fcinfo, STEP_FUNCTION);
		memcpy(st->xbuf + (Size) st->buffered * n, x, sizeof(double) * n);
		st->cbuf[st->buffered++] = class_of(st, id, known);
		if (st->buffered == st->block_rows)
			flush(st);
	}
	st->rows++;
	progress_rows(PGSC_LOGREG, st->rows, STEP_FUNCTION);
	PG_RETURN_POINTER(st);
}

PG_FUNCTION_INFO_V1(ml_logreg_pass_combine);
Datum
ml_logreg_pass_combine(PG_FUNCTION_ARGS)
{
	MemoryContext context = agg_context(fcinfo, STEP_FUNCTION);
	LogregPass *a = PG_ARGISNULL(0) ? NULL : (LogregPass *) PG_GETARG_POINTER(0);
	LogregPass *b = PG_ARGISNULL(1) ? NULL : (LogregPass *) PG_GETARG_POINTER(1);
	int64		i;

	if (b == NULL)
	{
		if (a == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(a);
	}
	flush(b);
	if (a == NULL)
		a = pass_create(context, b->fit, b->labels->labels.kind, b->labels->label_type, false);
	flush(a);
	if (VARSIZE(a->fit) != VARSIZE(b->fit) || memcmp(a->fit, b->fit, VARSIZE(a->fit)) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: partial passes read different fit states", STEP_FUNCTION)));
	if (a->phase == PGSC_PASS_MOMENTS)
	{
		train_state_merge(a->labels, b->labels, STEP_FUNCTION);
		a->features = a->labels->features;
	}
	else
		for (i = 0; i < a->sum_count; i++)
			a->sums[i] += b->sums[i];
	a->rows += b->rows;
	PG_RETURN_POINTER(a);
}

/*
 * Bytes between processes of one server (native byte order): the fit state, rows, then
 * the naive Bayes state of pass 0 or the sums of an evaluation pass.
 */
PG_FUNCTION_INFO_V1(ml_logreg_pass_serialize);
Datum
ml_logreg_pass_serialize(PG_FUNCTION_ARGS)
{
	LogregPass *st;
	bytea	   *labels = NULL;
	Size		size;
	bytea	   *out;
	char	   *p;

	(void) agg_context(fcinfo, STEP_FUNCTION);
	st = (LogregPass *) PG_GETARG_POINTER(0);
	flush(st);
	size = VARSIZE(st->fit) + sizeof(int64);
	if (st->phase == PGSC_PASS_MOMENTS)
	{
		labels = train_state_serialize(st->labels);
		size += VARSIZE(labels);
	}
	else
		size += sizeof(double) * st->sum_count;
	out = palloc(VARHDRSZ + size);
	SET_VARSIZE(out, VARHDRSZ + size);
	p = VARDATA(out);
	memcpy(p, st->fit, VARSIZE(st->fit));
	p += VARSIZE(st->fit);
	memcpy(p, &st->rows, sizeof(int64));
	p += sizeof(int64);
	if (labels)
		memcpy(p, labels, VARSIZE(labels));
	else
		memcpy(p, st->sums, sizeof(double) * st->sum_count);
	PG_RETURN_BYTEA_P(out);
}

PG_FUNCTION_INFO_V1(ml_logreg_pass_deserialize);
Datum
ml_logreg_pass_deserialize(PG_FUNCTION_ARGS)
{
	bytea	   *in;
	const char *p,
			   *end;
	bytea	   *fit;
	LogregPass *st;
	Size		fit_size;

	(void) agg_context(fcinfo, STEP_FUNCTION);
	in = PG_GETARG_BYTEA_PP(0);
	p = VARDATA_ANY(in);
	end = p + VARSIZE_ANY_EXHDR(in);
	if (end - p < VARHDRSZ)
		elog(ERROR, "pgscore: pass state is truncated");
	/* the payload is only int-aligned: copy the header out before reading it */
	{
		int32		header;

		memcpy(&header, p, sizeof(int32));
		fit_size = VARSIZE_4B(&header);
	}
	if (fit_size < VARHDRSZ || fit_size + sizeof(int64) > (Size) (end - p))
		elog(ERROR, "pgscore: pass state is damaged");
	fit = palloc(fit_size);
	memcpy(fit, p, fit_size);
	p += fit_size;
	st = pass_create(CurrentMemoryContext, fit, PGSC_LABEL_BOOLEAN, InvalidOid, false);
	memcpy(&st->rows, p, sizeof(int64));
	p += sizeof(int64);
	if (st->phase == PGSC_PASS_MOMENTS)
	{
		int32		header;

		if (end - p < VARHDRSZ)
			elog(ERROR, "pgscore: pass state is damaged");
		memcpy(&header, p, sizeof(int32));
		if (VARSIZE_4B(&header) != (Size) (end - p))
			elog(ERROR, "pgscore: pass state is damaged");
		st->labels = train_state_read(CurrentMemoryContext, p + VARHDRSZ, end - p - VARHDRSZ);
		st->features = st->labels->features;
	}
	else
	{
		if ((Size) (end - p) != sizeof(double) * st->sum_count)
			elog(ERROR, "pgscore: pass state is damaged");
		memcpy(st->sums, p, sizeof(double) * st->sum_count);
	}
	PG_RETURN_POINTER(st);
}

/* Copies a handle's fit state into a bytea and releases the handle. */
static bytea *
fit_bytes(void *handle)
{
	const void *bytes;
	int64		len;
	bytea	   *out;

	pgsc_logreg_bytes(handle, &bytes, &len);
	out = palloc(VARHDRSZ + len);
	SET_VARSIZE(out, VARHDRSZ + len);
	memcpy(VARDATA(out), bytes, len);
	pgsc_logreg_release(handle);
	return out;
}

/* Must not change what the state means: window aggregates call it again (flush only moves
 * buffered rows into the sums). */
PG_FUNCTION_INFO_V1(ml_logreg_pass_final);
Datum
ml_logreg_pass_final(PG_FUNCTION_ARGS)
{
	LogregPass *st;
	void	   *handle,
			   *next = NULL;
	FitShape	shape;
	int32		status;
	char		err[PGSC_ERRBUF];

	(void) agg_context(fcinfo, STEP_FUNCTION);
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	st = (LogregPass *) PG_GETARG_POINTER(0);
	flush(st);
	progress_aggregate_done();
	if (st->phase == PGSC_PASS_MOMENTS && st->labels->features == 0)
		PG_RETURN_NULL();		/* no row had a label and features */

	handle = open_fit(st->fit, &shape, STEP_FUNCTION);
	if (st->phase == PGSC_PASS_MOMENTS)
	{
		const TrainState *ls = st->labels;
		int32		k = ls->labels.count;
		int32	   *order = palloc(sizeof(int32) * Max(k, 1));
		int32	   *class_id = palloc(sizeof(int32) * Max(k, 1));
		const char **texts = palloc(sizeof(char *) * Max(k, 1));
		int32	   *lengths = palloc(sizeof(int32) * Max(k, 1));
		const double **blocks = palloc(sizeof(double *) * Max(k, 1));
		int32		i;

		sorted_classes(ls, order, class_id, texts, lengths);
		for (i = 0; i < k; i++)
			blocks[i] = ls->moments + ls->block_len * order[i];
		status = pgsc_logreg_after_moments(handle, blocks, k, ls->features, ls->labels.kind,
										   texts, lengths, &next, err);
	}
	else
	{
		for (;;)
		{
			status = pgsc_logreg_after_evaluation(handle, st->sums, st->sum_count, st->rows,
												  pgscore_stop_requested, &next, err);
			if (status != PGSC_INTERRUPTED)
				break;
			CHECK_FOR_INTERRUPTS();	/* no Swift frame is live: safe to longjmp */
		}
	}
	pgsc_logreg_release(handle);
	if (status != PGSC_OK)
		pgscore_raise(status, err, STEP_FUNCTION);
	PG_RETURN_BYTEA_P(fit_bytes(next));
}

/* ---------------------------------------------------------------- the fit state */

PG_FUNCTION_INFO_V1(ml_logreg_start);
Datum
ml_logreg_start(PG_FUNCTION_ARGS)
{
	char	   *options = "";
	void	   *handle = NULL;
	char		err[PGSC_ERRBUF];
	int32		status;

	if (!PG_ARGISNULL(0))
	{
		Jsonb	   *jb = PG_GETARG_JSONB_P(0);

		options = JsonbToCString(NULL, &jb->root, VARSIZE(jb));
	}
	status = pgsc_logreg_start(options, strlen(options), &handle, err);
	if (status != PGSC_OK)
		pgscore_raise(status, err, "ml.logreg_start");
	PG_RETURN_BYTEA_P(fit_bytes(handle));
}

PG_FUNCTION_INFO_V1(ml_logreg_fit_info);
Datum
ml_logreg_fit_info(PG_FUNCTION_ARGS)
{
	FitShape	shape;
	int64		len;
	void	   *handle = open_fit(PG_GETARG_BYTEA_PP(0), &shape, "ml.logreg_fit_info");
	const void *json;
	char	   *text;

	pgsc_logreg_info(handle, &json, &len);
	text = pnstrdup(json, len);
	pgsc_logreg_release(handle);
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(text)));
}

PG_FUNCTION_INFO_V1(ml_logreg_model);
Datum
ml_logreg_model(PG_FUNCTION_ARGS)
{
	FitShape	shape;
	int32		status;
	void	   *handle = open_fit(PG_GETARG_BYTEA_PP(0), &shape, "ml.logreg_model");
	void	   *model = NULL;
	char		err[PGSC_ERRBUF];

	status = pgsc_logreg_model(handle, &model, err);
	pgsc_logreg_release(handle);
	if (status != PGSC_OK)
		pgscore_raise(status, err, "ml.logreg_model");
	PG_RETURN_BYTEA_P(train_model_bytes(model, "ml.logreg_model"));
}
