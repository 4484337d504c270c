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
	int32		skip = 0;
	int32		status;

	status = pgsc_options_check(algorithm, options, options_len, &skip, err);
	if (status != PGSC_OK)
		pgscore_raise(status, err, function);

	st = (TrainState *) MemoryContextAllocZero(context, sizeof(TrainState));
	st->context = context;
	st->algorithm = algorithm;
	st->skip_null_features = skip == PGSC_NULLS_SKIP;
	st->nulls_missing = skip == PGSC_NULLS_MISSING;
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
			/* about 1 MB of features per chunk */
			st->store.chunk_rows = Max(1, Min(8192, (1 << 20) / (int) (sizeof(double) * features)));
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
static Size row_bytes(const TrainState *st);

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
						   (long long) st->rows, st->features, (int) row_bytes(st)),
				 st->algorithm == PGSC_LOGREG ?
				 errhint("Raise pgscore.max_training_memory, fit in passes that keep no rows (ml.logreg_step; ml.train does so by itself), or train on a sample (TABLESAMPLE).") :
				 errhint("Raise pgscore.max_training_memory, train on a sample (TABLESAMPLE, or ml.train's \"max_rows\"), or use ml.nb_fit, which keeps no rows.")));
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

/* Bytes a row takes in the store. */
static Size
row_bytes(const TrainState *st)
{
	return sizeof(double) * st->features + (keeps_values(st) ? sizeof(double) : sizeof(int32));
}

/* Makes room for one more row: opens a chunk when the last one is full. */
static void
row_store_reserve(TrainState *st, const char *function)
{
	RowStore   *rs = &st->store;
	int32		c = rs->chunks - 1;

	if (rs->chunks == 0 || rs->rows[c] == rs->chunk_rows)
	{
		Size		chunk_bytes = row_bytes(st) * rs->chunk_rows;

		reserve_memory(st, chunk_bytes, true, function);
		if (rs->chunks == rs->capacity)
		{
			int32		cap = rs->capacity == 0 ? 16 : rs->capacity * 2;

			if (rs->capacity == 0)
			{
				rs->x = MemoryContextAlloc(st->context, sizeof(double *) * cap);
				rs->y = MemoryContextAllocZero(st->context, sizeof(int32 *) * cap);
				rs->t = MemoryContextAllocZero(st->context, sizeof(double *) * cap);
				rs->rows = MemoryContextAlloc(st->context, sizeof(int64) * cap);
			}
			else
			{
				rs->x = repalloc(rs->x, sizeof(double *) * cap);
				rs->y = repalloc(rs->y, sizeof(int32 *) * cap);
				rs->t = repalloc(rs->t, sizeof(double *) * cap);
				rs->rows = repalloc(rs->rows, sizeof(int64) * cap);
			}
			rs->capacity = cap;
		}
		c = rs->chunks++;
		rs->x[c] = MemoryContextAlloc(st->context, sizeof(double) * st->features * rs->chunk_rows);
		rs->y[c] = NULL;
		rs->t[c] = NULL;
		if (keeps_values(st))
			rs->t[c] = MemoryContextAlloc(st->context, sizeof(double) * rs->chunk_rows);
		else
			rs->y[c] = MemoryContextAlloc(st->context, sizeof(int32) * rs->chunk_rows);
		rs->rows[c] = 0;
	}
}

void
row_store_append(TrainState *st, const double *x, int32 id, const char *function)
{
	RowStore   *rs = &st->store;
	int32		c;

	row_store_reserve(st, function);
	c = rs->chunks - 1;
	memcpy(rs->x[c] + rs->rows[c] * st->features, x, sizeof(double) * st->features);
	rs->y[c][rs->rows[c]] = id;
	rs->rows[c]++;
}

/* A row with a float label (regression trees). */
void
row_store_append_value(TrainState *st, const double *x, double y, const char *function)
{
	RowStore   *rs = &st->store;
	int32		c;

	row_store_reserve(st, function);
	c = rs->chunks - 1;
	memcpy(rs->x[c] + rs->rows[c] * st->features, x, sizeof(double) * st->features);
	rs->t[c][rs->rows[c]] = y;
	rs->rows[c]++;
}

/*
 * Appends n rows at once: class rows with label ids `ids` (mapped through map[] when
 * it is given), or regression rows with labels `values`.
 */
static void
row_store_append_block(TrainState *st, const double *x, const int32 *ids, const double *values, int64 n,
					   const int32 *map, const char *function)
{
	RowStore   *rs = &st->store;
	int64		done = 0;

	while (done < n)
	{
		int32		c;
		int64		room,
					take,
					r;

		row_store_reserve(st, function);	/* opens a chunk (and enforces the limit) */
		c = rs->chunks - 1;
		room = rs->chunk_rows - rs->rows[c];
		take = Min(room, n - done);
		memcpy(rs->x[c] + rs->rows[c] * st->features, x + done * st->features,
			   sizeof(double) * st->features * take);
		if (values != NULL)
			memcpy(rs->t[c] + rs->rows[c], values + done, sizeof(double) * take);
		else
			for (r = 0; r < take; r++)
				rs->y[c][rs->rows[c] + r] = map ? map[ids[done + r]] : ids[done + r];
		rs->rows[c] += take;
		done += take;
	}
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
					row_store_append_block(into, from->store.x[c], from->store.y[c], from->store.t[c],
										   from->store.rows[c], map, function);
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

/*
 * Layout (native byte order: partial states only travel between processes of one
 * server): header ints, options, labels, then moments or rows.
 */
typedef struct Cursor
{
	char	   *p;
	const char *end;
} Cursor;

static void
put(Cursor *c, const void *v, Size n)
{
	if (c->p != NULL)
		memcpy(c->p, v, n);
	if (c->p != NULL)
		c->p += n;
}

static Size
serialize_into(const TrainState *st, char *out)
{
	Cursor		c = {out, NULL};
	Size		size = 0;
	int32		len = (int32) strlen(st->options);
	int32		i,
				k;
	int64		total = 0;

#define PUT(v, n) do { put(&c, (v), (n)); size += (n); } while (0)
	PUT(&st->algorithm, sizeof(int32));
	PUT(&st->features, sizeof(int32));
	PUT(&st->labels.kind, sizeof(int32));
	PUT(&st->labels.count, sizeof(int32));
	PUT(&st->rows, sizeof(int64));
	PUT(&st->skip_null_features, sizeof(bool));
	PUT(&len, sizeof(int32));
	PUT(st->options, len);
	for (i = 0; i < st->labels.count; i++)
	{
		if (st->labels.kind == PGSC_LABEL_TEXT)
		{
			PUT(&st->labels.text_lengths[i], sizeof(int32));
			PUT(st->labels.texts[i], st->labels.text_lengths[i]);
		}
		else
			PUT(&st->labels.ints[i], sizeof(int64));
	}
	if (st->features > 0)
	{
		switch (st->algorithm)
		{
			case PGSC_LINREG:
				PUT(st->moments, sizeof(double) * st->block_len);
				break;
			case PGSC_NB:
				PUT(st->moments, sizeof(double) * st->block_len * st->labels.count);
				break;
			case PGSC_LOGREG:
			case PGSC_DTREE:
			case PGSC_FOREST:
			case PGSC_GBT:
				for (k = 0; k < st->store.chunks; k++)
					total += st->store.rows[k];
				PUT(&total, sizeof(int64));
				for (k = 0; k < st->store.chunks; k++)
					PUT(st->store.x[k], sizeof(double) * st->features * st->store.rows[k]);
				for (k = 0; k < st->store.chunks; k++)
				{
					if (keeps_values(st))
						PUT(st->store.t[k], sizeof(double) * st->store.rows[k]);
					else
						PUT(st->store.y[k], sizeof(int32) * st->store.rows[k]);
				}
				break;
			default:
				unknown_algorithm(st->algorithm, "pgscore training state");
		}
	}
#undef PUT
	return size;
}

bytea *
train_state_serialize(const TrainState *st)
{
	Size		size = serialize_into(st, NULL);
	bytea	   *out;

	if (size > MaxAllocSize - VARHDRSZ)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s: a parallel worker's training state is %zu MB, over the 1 GB a worker can hand over",
						algorithm_function(st->algorithm), size >> 20),
				 errhint("Train with SET max_parallel_workers_per_gather = 0, or on a sample.")));
	out = palloc(VARHDRSZ + size);
	SET_VARSIZE(out, VARHDRSZ + size);
	serialize_into(st, VARDATA(out));
	return out;
}

static void
take(Cursor *c, void *v, Size n)
{
	if (n > (Size) (c->end - c->p))
		elog(ERROR, "pgscore: training state is truncated");
	memcpy(v, c->p, n);
	c->p += n;
}

TrainState *
train_state_deserialize(MemoryContext context, const char *data, Size len)
{
	Cursor		c = {(char *) data, data + len};
	int32		algorithm,
				features,
				kind,
				count,
				olen,
				i;
	int64		rows;
	bool		skip;
	char	   *options;
	TrainState *st;
	MemoryContext old;

	take(&c, &algorithm, sizeof(int32));
	take(&c, &features, sizeof(int32));
	take(&c, &kind, sizeof(int32));
	take(&c, &count, sizeof(int32));
	take(&c, &rows, sizeof(int64));
	take(&c, &skip, sizeof(bool));
	take(&c, &olen, sizeof(int32));
	if (olen < 0 || olen > len || features < 0 || features > PGSCORE_MAX_FEATURES ||
		count < 0 || count > PGSCORE_MAX_CLASSES)
		elog(ERROR, "pgscore: training state is damaged");
	options = palloc(olen + 1);
	take(&c, options, olen);
	options[olen] = '\0';

	st = train_state_create(context, algorithm, kind, options, olen, algorithm_function(algorithm));
	st->rows = rows;
	old = MemoryContextSwitchTo(context);
	for (i = 0; i < count; i++)
	{
		if (kind == PGSC_LABEL_TEXT)
		{
			int32		n;
			char	   *bytes;

			take(&c, &n, sizeof(int32));
			if (n < 0 || n > c.end - c.p)
				elog(ERROR, "pgscore: training state is damaged");
			bytes = c.p;
			c.p += n;
			label_id_text(st, bytes, n, algorithm_function(algorithm));
		}
		else
		{
			int64		v;

			take(&c, &v, sizeof(int64));
			label_id_int(st, v, algorithm_function(algorithm));
		}
	}
	MemoryContextSwitchTo(old);
	if (features > 0)
	{
		train_state_set_features(st, features, algorithm_function(algorithm));
		switch (algorithm)
		{
			case PGSC_LINREG:
				take(&c, st->moments, sizeof(double) * st->block_len);
				break;
			case PGSC_NB:
				if (count > 0)
					take(&c, train_state_block(st, count - 1) - st->block_len * (count - 1),
						 sizeof(double) * st->block_len * count);
				break;
			case PGSC_LOGREG:
			case PGSC_DTREE:
			case PGSC_FOREST:
			case PGSC_GBT:
				{
					int64		total,
								r;
					const double *xs;
					int32	   *ys = NULL;
					double	   *ts = NULL;
					Size		label_size = keeps_values(st) ? sizeof(double) : sizeof(int32);

					take(&c, &total, sizeof(int64));
					if (total < 0 || (Size) total * (sizeof(double) * features + label_size) != (Size) (c.end - c.p))
						elog(ERROR, "pgscore: training state is damaged");
					/* the bytea payload is only int-aligned: copy before use */
					xs = (const double *) palloc(sizeof(double) * features * Max(total, 1));
					memcpy((void *) xs, c.p, sizeof(double) * features * total);
					if (keeps_values(st))
					{
						ts = palloc(sizeof(double) * Max(total, 1));
						memcpy(ts, c.p + sizeof(double) * features * total, sizeof(double) * total);
					}
					else
					{
						ys = palloc(sizeof(int32) * Max(total, 1));
						memcpy(ys, c.p + sizeof(double) * features * total, sizeof(int32) * total);
						for (r = 0; r < total; r++)
							if (ys[r] < 0 || ys[r] >= count)
								elog(ERROR, "pgscore: training state is damaged");
					}
					row_store_append_block(st, xs, ys, ts, total, NULL, algorithm_function(algorithm));
					pfree((void *) xs);
					if (ys)
						pfree(ys);
					if (ts)
						pfree(ts);
				}
				break;
			default:
				unknown_algorithm(algorithm, "pgscore training state");
		}
	}
	return st;
}
