/*
 * agg_state.c -- see agg_state.h.
 */
#include "agg_state.h"

#include "miscadmin.h"
#include "utils/memutils.h"

MemoryContext
agg_context(FunctionCallInfo fcinfo, const char *function)
{
	MemoryContext context;

	if (!AggCheckCallContext(fcinfo, &context))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s support function called outside an aggregate", function)));
	return context;
}

/* ---------------------------------------------------------------- bytes */

void
agg_put(AggWriter *w, const void *v, Size n)
{
	if (w->out != NULL && n > 0)
		memcpy(w->out + w->size, v, n);
	w->size += n;
}

bytea *
agg_state_bytes(void (*write) (const void *state, AggWriter *w), const void *state,
				const char *function, const char *what)
{
	AggWriter	count = {NULL, 0};
	AggWriter	fill;
	bytea	   *out;

	write(state, &count);
	if (count.size > MaxAllocSize - VARHDRSZ)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s: a parallel worker's %s is %zu MB, over the 1 GB a worker can hand over",
						function, what, count.size >> 20),
				 errhint("Run it with SET max_parallel_workers_per_gather = 0, or on a sample.")));
	out = palloc(VARHDRSZ + count.size);
	SET_VARSIZE(out, VARHDRSZ + count.size);
	fill.out = VARDATA(out);
	fill.size = 0;
	write(state, &fill);
	Assert(fill.size == count.size);
	return out;
}

AggReader
agg_reader(bytea *b, const char *what)
{
	return agg_reader_at(VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b), what);
}

AggReader
agg_reader_at(const char *data, Size len, const char *what)
{
	AggReader	r;

	r.p = data;
	r.end = data + len;
	r.what = what;
	return r;
}

/*
 * Training states also arrive from users (ml.fit_state values): damage is bad input,
 * 22P03, like a damaged model value.
 */
void
agg_state_damaged(const AggReader *r)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
			 errmsg("pgscore: the %s is damaged", r->what),
			 errhint("A state must come unchanged from a pgscore aggregate of the same version.")));
}

void
agg_take(AggReader *r, void *v, Size n)
{
	if (n > (Size) (r->end - r->p))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("pgscore: the %s ends %zu bytes early", r->what, n - (Size) (r->end - r->p)),
				 errhint("A state must come unchanged from a pgscore aggregate of the same version.")));
	memcpy(v, r->p, n);
	r->p += n;
}

/* ---------------------------------------------------------------- rows */

void
agg_rows_init(AggRows *rs, int32 width, bool float_labels)
{
	memset(rs, 0, sizeof(AggRows));
	rs->width = width;
	rs->float_labels = float_labels;
	rs->chunk_rows = Max(1, Min(8192, (1 << 20) / (int) (sizeof(double) * Max(width, 1))));
}

/* The same row count per chunk as uncoded rows: a decoded chunk stays within 1 MB. */
void
agg_rows_init_coded(AggRows *rs, int32 width, bool float_labels)
{
	agg_rows_init(rs, width, float_labels);
	rs->coded = true;
}

/* Bytes of one row's features in a chunk. */
static Size
value_bytes(const AggRows *rs)
{
	return (rs->coded ? sizeof(uint8) : sizeof(double)) * rs->width;
}

Size
agg_rows_row_bytes(const AggRows *rs)
{
	return value_bytes(rs) + (rs->float_labels ? sizeof(double) : sizeof(int32));
}

/* Frees the chunks (not the pointer arrays, which are small). */
void
agg_rows_free(AggRows *rs)
{
	for (int32 c = 0; c < rs->chunks; c++)
	{
		if (rs->x[c])
			pfree(rs->x[c]);
		if (rs->codes[c])
			pfree(rs->codes[c]);
		if (rs->y[c])
			pfree(rs->y[c]);
		if (rs->t[c])
			pfree(rs->t[c]);
	}
	rs->chunks = 0;
}

/* The chunk with room for the next row, opened (after `reserve`) when the last is full. */
int32
agg_rows_room(AggRows *rs, MemoryContext context, AggReserve reserve, void *owner)
{
	int32		c = rs->chunks - 1;

	if (rs->chunks > 0 && rs->rows[c] < rs->chunk_rows)
		return c;
	reserve(owner, agg_rows_row_bytes(rs) * rs->chunk_rows);
	if (rs->chunks == rs->capacity)
	{
		int32		cap = rs->capacity == 0 ? 16 : rs->capacity * 2;

		if (rs->capacity == 0)
		{
			rs->x = MemoryContextAllocZero(context, sizeof(double *) * cap);
			rs->codes = MemoryContextAllocZero(context, sizeof(uint8 *) * cap);
			rs->y = MemoryContextAllocZero(context, sizeof(int32 *) * cap);
			rs->t = MemoryContextAllocZero(context, sizeof(double *) * cap);
			rs->rows = MemoryContextAlloc(context, sizeof(int64) * cap);
		}
		else
		{
			rs->x = repalloc(rs->x, sizeof(double *) * cap);
			rs->codes = repalloc(rs->codes, sizeof(uint8 *) * cap);
			rs->y = repalloc(rs->y, sizeof(int32 *) * cap);
			rs->t = repalloc(rs->t, sizeof(double *) * cap);
			rs->rows = repalloc(rs->rows, sizeof(int64) * cap);
		}
		rs->capacity = cap;
	}
	c = rs->chunks++;
	rs->x[c] = NULL;
	rs->codes[c] = NULL;
	if (rs->coded)
		rs->codes[c] = MemoryContextAlloc(context, value_bytes(rs) * rs->chunk_rows);
	else
		rs->x[c] = MemoryContextAlloc(context, value_bytes(rs) * rs->chunk_rows);
	rs->y[c] = NULL;
	rs->t[c] = NULL;
	if (rs->float_labels)
		rs->t[c] = MemoryContextAlloc(context, sizeof(double) * rs->chunk_rows);
	else
		rs->y[c] = MemoryContextAlloc(context, sizeof(int32) * rs->chunk_rows);
	rs->rows[c] = 0;
	return c;
}

/*
 * Appends n rows: their features `x` (value_bytes each: doubles, or codes in a coded
 * store) and either label ids `ids` (mapped through map[] when it is given) or float
 * labels `values`.
 */
static void
append_rows(AggRows *rs, MemoryContext context, const char *x, const int32 *ids,
			const double *values, int64 n, const int32 *map, AggReserve reserve, void *owner)
{
	int64		done = 0;
	Size		width = value_bytes(rs);

	while (done < n)
	{
		int32		c = agg_rows_room(rs, context, reserve, owner);
		int64		take = Min(rs->chunk_rows - rs->rows[c], n - done);
		char	   *to = rs->coded ? (char *) rs->codes[c] : (char *) rs->x[c];

		memcpy(to + rs->rows[c] * width, x + done * width, width * take);
		if (rs->float_labels)
			memcpy(rs->t[c] + rs->rows[c], values + done, sizeof(double) * take);
		else if (map == NULL)
			memcpy(rs->y[c] + rs->rows[c], ids + done, sizeof(int32) * take);
		else
			for (int64 r = 0; r < take; r++)
				rs->y[c][rs->rows[c] + r] = map[ids[done + r]];
		rs->rows[c] += take;
		done += take;
	}
}

void
agg_rows_append(AggRows *rs, MemoryContext context, const double *x, const int32 *ids,
				const double *values, int64 n, const int32 *map, AggReserve reserve, void *owner)
{
	Assert(!rs->coded);
	append_rows(rs, context, (const char *) x, ids, values, n, map, reserve, owner);
}

void
agg_rows_append_codes(AggRows *rs, MemoryContext context, const uint8 *codes, const int32 *ids,
					  const double *values, int64 n, const int32 *map, AggReserve reserve, void *owner)
{
	Assert(rs->coded);
	append_rows(rs, context, (const char *) codes, ids, values, n, map, reserve, owner);
}

int64
agg_rows_total(const AggRows *rs)
{
	int64		total = 0;

	for (int32 c = 0; c < rs->chunks; c++)
		total += rs->rows[c];
	return total;
}

/* The row count, all values, then all labels. */
void
agg_rows_write(const AggRows *rs, AggWriter *w)
{
	int64		total = agg_rows_total(rs);

	agg_put(w, &total, sizeof(int64));
	for (int32 c = 0; c < rs->chunks; c++)
		agg_put(w, rs->coded ? (const void *) rs->codes[c] : (const void *) rs->x[c], value_bytes(rs) * rs->rows[c]);
	for (int32 c = 0; c < rs->chunks; c++)
	{
		if (rs->float_labels)
			agg_put(w, rs->t[c], sizeof(double) * rs->rows[c]);
		else
			agg_put(w, rs->y[c], sizeof(int32) * rs->rows[c]);
	}
}

/*
 * Reads what agg_rows_write wrote, which must be the rest of the state; `total`, when
 * not negative, is the row count the state's header promised. Label ids must be below
 * `ids`.
 */
void
agg_rows_read(AggRows *rs, AggReader *r, int64 total, int32 ids, MemoryContext context,
			  AggReserve reserve, void *owner)
{
	int64		n;
	Size		label_size = rs->float_labels ? sizeof(double) : sizeof(int32);
	char	   *xs;
	int32	   *ys = NULL;
	double	   *ts = NULL;

	agg_take(r, &n, sizeof(int64));
	if (n < 0 || (total >= 0 && n != total) ||
		(Size) n * (value_bytes(rs) + label_size) != (Size) (r->end - r->p))
		agg_state_damaged(r);
	/* the bytea payload is only int-aligned: copy before use */
	xs = palloc(value_bytes(rs) * Max(n, 1));
	agg_take(r, xs, value_bytes(rs) * n);
	if (rs->float_labels)
	{
		ts = palloc(sizeof(double) * Max(n, 1));
		agg_take(r, ts, sizeof(double) * n);
	}
	else
	{
		ys = palloc(sizeof(int32) * Max(n, 1));
		agg_take(r, ys, sizeof(int32) * n);
		for (int64 i = 0; i < n; i++)
			if (ys[i] < 0 || ys[i] >= ids)
				agg_state_damaged(r);
	}
	append_rows(rs, context, xs, ys, ts, n, NULL, reserve, owner);
	pfree(xs);
	if (ys)
		pfree(ys);
	if (ts)
		pfree(ts);
}

/* ---------------------------------------------------------------- interrupts */

int32
agg_call_retrying(int32 (*call) (const void *arg, char *err), const void *arg, char *err)
{
	int32		status;

	for (;;)
	{
		status = call(arg, err);
		if (status != PGSC_INTERRUPTED)
			return status;
		CHECK_FOR_INTERRUPTS();	/* no Swift frame is live: safe to longjmp */
	}
}
