/*
 * train_state.c -- building, merging and (de)serialising the training state.
 * The numbers themselves (moments) are updated by the Swift core; this file only
 * manages memory, label bookkeeping and the bytes that travel between workers.
 */
#include "train_state.h"

#include "miscadmin.h"
#include "utils/memutils.h"

/* Regression trees keep float labels instead of label ids. */
static bool
keeps_values(const TrainState *st)
{
	return PGSC_IS_TREE(st->algorithm) && st->labels.kind == PGSC_LABEL_FLOAT8;
}

TrainState *
train_state_create(MemoryContext context, int32 algorithm, int32 label_kind,
				   const char *options, int options_len, const char *function)
{
	TrainState *st;
	char		err[PGSC_ERRBUF];
	int32		nulls = 0;
	int32		status;

	status = pgsc_options_check(algorithm, options, options_len, &nulls, err);
	if (status != PGSC_OK)
		pgscore_raise(status, err, function);

	st = (TrainState *) MemoryContextAllocZero(context, sizeof(TrainState));
	st->context = context;
	st->algorithm = algorithm;
	st->skip_null_features = nulls == PGSC_NULLS_SKIP;
	st->nulls_missing = nulls == PGSC_NULLS_MISSING;
	st->options = MemoryContextAlloc(context, options_len + 1);
	if (options_len > 0)
		memcpy(st->options, options, options_len);
	st->options[options_len] = '\0';
	st->labels.kind = label_kind;
	return st;
}

void
train_state_set_features(TrainState *st, int features, const char *function)
{
	if (st->features == features)
		return;
	if (st->features != 0)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s: feature arrays differ in length: %d here, %d in earlier rows",
						function, features, st->features),
				 errhint("Every row must have the same number of features.")));
	st->features = features;
	switch (st->algorithm)
	{
		case PGSC_LINREG:
			st->block_len = pgsc_moments_length(features + 1, 1);
			st->moments = MemoryContextAllocZero(st->context, sizeof(double) * st->block_len);
			st->blocks = 1;
			break;
		case PGSC_NB:
			st->block_len = pgsc_moments_length(features, 0);
			break;
		case PGSC_LOGREG:
		case PGSC_DTREE:
		case PGSC_FOREST:
		case PGSC_GBT:
			agg_rows_init(&st->store, features, keeps_values(st));
			break;
		default:
			unknown_algorithm(st->algorithm, function);
	}
}

/*
 * Every part of a state that grows with the data (row store, labels, per-class
 * moments) counts against pgscore.max_training_memory before it is allocated, so a
 * fit stops with 54000 instead of growing the backend without bound.
 */
static void
reserve_memory(TrainState *st, Size more, bool rows, const char *function)
{
	Size		limit = (Size) pgscore_max_training_memory * 1024 * 1024;

	if (st->row_bytes + st->table_bytes + more <= limit)
	{
		if (rows)
			st->row_bytes += more;
		else
			st->table_bytes += more;
		return;
	}
	if (rows)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s: the training rows need more than pgscore.max_training_memory (%d MB)",
						function, pgscore_max_training_memory),
				 errdetail("%lld rows of %d features are held so far; each row takes %d bytes.",
						   (long long) st->rows, st->features, (int) agg_rows_row_bytes(&st->store)),
				 errhint("Raise pgscore.max_training_memory, train on a sample (TABLESAMPLE), or use ml.nb_fit, which keeps no rows.")));
	ereport(ERROR,
			(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
			 errmsg("%s: the per-class tables need more than pgscore.max_training_memory (%d MB)",
					function, pgscore_max_training_memory),
			 errdetail("%d classes of %d features are held so far.", st->labels.count, st->features),
			 errhint("Raise pgscore.max_training_memory, or use a label with fewer values or fewer features.")));
}

/*
 * Scratch a fit allocates at the end (logistic regression's Hessians), checked against
 * what the state already holds; the state itself is not changed (window aggregates
 * call the final function again).
 */
void
train_state_check_scratch(const TrainState *st, Size scratch, const char *function)
{
	Size		limit = (Size) pgscore_max_training_memory * 1024 * 1024;

	if (st->row_bytes + st->table_bytes + scratch > limit)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s: the fit needs %zu MB of scratch next to %zu MB of rows, more than pgscore.max_training_memory (%d MB)",
						function, scratch >> 20, (st->row_bytes + st->table_bytes) >> 20, pgscore_max_training_memory),
				 errhint("Use fewer classes or features, raise pgscore.max_training_memory, or use ml.nb_fit.")));
}

/* ---------------------------------------------------------------- labels */

static int32
label_add(TrainState *st, const char *function)
{
	LabelSet   *ls = &st->labels;

	if (ls->count >= PGSCORE_MAX_CLASSES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s: more than %d distinct labels", function, PGSCORE_MAX_CLASSES),
				 errhint("A classifier needs a label with few values; for a continuous label use ml.linreg_fit.")));
	if (ls->count == ls->capacity)
	{
		int32		cap = ls->capacity == 0 ? 8 : ls->capacity * 2;

		reserve_memory(st, (sizeof(int64) + sizeof(char *) + sizeof(int32)) * (cap - ls->capacity), false, function);
		if (ls->capacity == 0)
		{
			ls->ints = MemoryContextAlloc(st->context, sizeof(int64) * cap);
			ls->texts = MemoryContextAlloc(st->context, sizeof(char *) * cap);
			ls->text_lengths = MemoryContextAlloc(st->context, sizeof(int32) * cap);
		}
		else
		{
			ls->ints = repalloc(ls->ints, sizeof(int64) * cap);
			ls->texts = repalloc(ls->texts, sizeof(char *) * cap);
			ls->text_lengths = repalloc(ls->text_lengths, sizeof(int32) * cap);
		}
		ls->capacity = cap;
	}
	ls->ints[ls->count] = 0;
	ls->texts[ls->count] = NULL;
	ls->text_lengths[ls->count] = 0;
	return ls->count++;
}

int32
label_id_int(TrainState *st, int64 value, const char *function)
{
	LabelSet   *ls = &st->labels;
	int32		i;

	if (ls->count > 0 && ls->ints[ls->last] == value)
		return ls->last;
	for (i = 0; i < ls->count; i++)
		if (ls->ints[i] == value)
			return ls->last = i;
	i = label_add(st, function);
	ls->ints[i] = value;
	return ls->last = i;
}

int32
label_id_text(TrainState *st, const char *bytes, int32 len, const char *function)
{
	LabelSet   *ls = &st->labels;
	int32		i;

#define TEXT_EQ(j) (ls->text_lengths[j] == len && memcmp(ls->texts[j], bytes, len) == 0)
	if (ls->count > 0 && TEXT_EQ(ls->last))
		return ls->last;
	for (i = 0; i < ls->count; i++)
		if (TEXT_EQ(i))
			return ls->last = i;
#undef TEXT_EQ
	reserve_memory(st, Max(len, 1), false, function);
	i = label_add(st, function);
	ls->texts[i] = MemoryContextAlloc(st->context, Max(len, 1));
	memcpy(ls->texts[i], bytes, len);
	ls->text_lengths[i] = len;
	return ls->last = i;
}

/* The moments block of a label id (naive Bayes), allocated zeroed on first use. */
double *
train_state_block(TrainState *st, int32 id)
{
	if (id >= st->blocks)
	{
		int32		want = Max(id + 1, st->blocks * 2);
		Size		bytes = sizeof(double) * st->block_len * want;

		/* twice: the fit reads each block into its own per-class means and variances */
		reserve_memory(st, 2 * sizeof(double) * st->block_len * (want - st->blocks), false,
					   algorithm_function(st->algorithm));

		if (st->moments == NULL)
			st->moments = MemoryContextAllocZero(st->context, bytes);
		else
		{
			st->moments = repalloc(st->moments, bytes);
			memset(st->moments + st->block_len * st->blocks, 0,
				   sizeof(double) * st->block_len * (want - st->blocks));
		}
		st->blocks = want;
	}
	return st->moments + st->block_len * id;
}

/* ---------------------------------------------------------------- rows */

static void
reserve_rows(void *owner, Size bytes)
{
	TrainState *st = (TrainState *) owner;

	reserve_memory(st, bytes, true, algorithm_function(st->algorithm));
}

void
row_store_append(TrainState *st, const double *x, int32 id, const char *function)
{
	agg_rows_append(&st->store, st->context, x, &id, NULL, 1, NULL, reserve_rows, st);
}

/* A row with a float label (regression trees). */
void
row_store_append_value(TrainState *st, const double *x, double y, const char *function)
{
	agg_rows_append(&st->store, st->context, x, NULL, &y, 1, NULL, reserve_rows, st);
}

/* ---------------------------------------------------------------- merge */

/* Label id in `into` for label `id` of `from`, added if new. */
static int32
label_map(TrainState *into, const TrainState *from, int32 id, const char *function)
{
	if (from->labels.kind == PGSC_LABEL_TEXT)
		return label_id_text(into, from->labels.texts[id], from->labels.text_lengths[id], function);
	return label_id_int(into, from->labels.ints[id], function);
}

void
train_state_merge(TrainState *into, const TrainState *from, const char *function)
{
	int32		i;

	if (from->features == 0)
	{
		into->rows += from->rows;
		return;
	}
	train_state_set_features(into, from->features, function);
	switch (into->algorithm)
	{
		case PGSC_LINREG:
			pgsc_moments_merge(into->moments, from->moments, into->features + 1, 1);
			break;
		case PGSC_NB:
			for (i = 0; i < from->labels.count; i++)
			{
				int32		id = label_map(into, from, i, function);

				pgsc_moments_merge(train_state_block(into, id),
								   from->moments + from->block_len * i, into->features, 0);
			}
			break;
		case PGSC_LOGREG:
		case PGSC_DTREE:
		case PGSC_FOREST:
		case PGSC_GBT:
			{
				int32	   *map = palloc(sizeof(int32) * Max(from->labels.count, 1));
				int32		c;

				for (i = 0; i < from->labels.count; i++)
					map[i] = label_map(into, from, i, function);
				for (c = 0; c < from->store.chunks; c++)
				{
					CHECK_FOR_INTERRUPTS();
					agg_rows_append(&into->store, into->context, from->store.x[c], from->store.y[c],
									from->store.t[c], from->store.rows[c], map, reserve_rows, into);
				}
				pfree(map);
			}
			break;
		default:
			unknown_algorithm(into->algorithm, function);
	}
	into->rows += from->rows;
}

/* ---------------------------------------------------------------- bytes */

/* Layout: header ints, options, labels, then moments or rows (agg_rows_write). */
static void
write_state(const void *state, AggWriter *w)
{
	const TrainState *st = (const TrainState *) state;
	int32		len = (int32) strlen(st->options);

	agg_put(w, &st->algorithm, sizeof(int32));
	agg_put(w, &st->features, sizeof(int32));
	agg_put(w, &st->labels.kind, sizeof(int32));
	agg_put(w, &st->labels.count, sizeof(int32));
	agg_put(w, &st->rows, sizeof(int64));
	agg_put(w, &len, sizeof(int32));
	agg_put(w, st->options, len);
	for (int32 i = 0; i < st->labels.count; i++)
	{
		if (st->labels.kind == PGSC_LABEL_TEXT)
		{
			agg_put(w, &st->labels.text_lengths[i], sizeof(int32));
			agg_put(w, st->labels.texts[i], st->labels.text_lengths[i]);
		}
		else
			agg_put(w, &st->labels.ints[i], sizeof(int64));
	}
	if (st->features == 0)
		return;
	switch (st->algorithm)
	{
		case PGSC_LINREG:
			agg_put(w, st->moments, sizeof(double) * st->block_len);
			break;
		case PGSC_NB:
			agg_put(w, st->moments, sizeof(double) * st->block_len * st->labels.count);
			break;
		case PGSC_LOGREG:
		case PGSC_DTREE:
		case PGSC_FOREST:
		case PGSC_GBT:
			agg_rows_write(&st->store, w);
			break;
		default:
			unknown_algorithm(st->algorithm, "pgscore training state");
	}
}

bytea *
train_state_serialize(const TrainState *st)
{
	return agg_state_bytes(write_state, st, algorithm_function(st->algorithm), "training state");
}

TrainState *
train_state_deserialize(MemoryContext context, bytea *bytes)
{
	AggReader	r = agg_reader(bytes, "training state");
	int32		algorithm,
				features,
				kind,
				count,
				olen,
				i;
	int64		rows;
	char	   *options;
	const char *function;
	TrainState *st;
	MemoryContext old;

	agg_take(&r, &algorithm, sizeof(int32));
	agg_take(&r, &features, sizeof(int32));
	agg_take(&r, &kind, sizeof(int32));
	agg_take(&r, &count, sizeof(int32));
	agg_take(&r, &rows, sizeof(int64));
	agg_take(&r, &olen, sizeof(int32));
	if (olen < 0 || olen > r.end - r.p || features < 0 || features > PGSCORE_MAX_FEATURES ||
		count < 0 || count > PGSCORE_MAX_CLASSES)
		agg_state_damaged(&r);
	function = algorithm_function(algorithm);
	options = palloc(olen + 1);
	agg_take(&r, options, olen);
	options[olen] = '\0';

	st = train_state_create(context, algorithm, kind, options, olen, function);
	st->rows = rows;
	old = MemoryContextSwitchTo(context);
	for (i = 0; i < count; i++)
	{
		if (kind == PGSC_LABEL_TEXT)
		{
			int32		n;

			agg_take(&r, &n, sizeof(int32));
			if (n < 0 || n > r.end - r.p)
				agg_state_damaged(&r);
			label_id_text(st, r.p, n, function);
			r.p += n;
		}
		else
		{
			int64		v;

			agg_take(&r, &v, sizeof(int64));
			label_id_int(st, v, function);
		}
	}
	MemoryContextSwitchTo(old);
	if (features == 0)
		return st;
	train_state_set_features(st, features, function);
	switch (algorithm)
	{
		case PGSC_LINREG:
			agg_take(&r, st->moments, sizeof(double) * st->block_len);
			break;
		case PGSC_NB:
			if (count > 0)
				agg_take(&r, train_state_block(st, count - 1) - st->block_len * (count - 1),
						 sizeof(double) * st->block_len * count);
			break;
		case PGSC_LOGREG:
		case PGSC_DTREE:
		case PGSC_FOREST:
		case PGSC_GBT:
			agg_rows_read(&st->store, &r, -1, count, context, reserve_rows, st);
			break;
		default:
			unknown_algorithm(algorithm, function);
	}
	return st;
}
