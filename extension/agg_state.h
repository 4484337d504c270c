/*
 * agg_state.h -- what the training and metrics aggregates share about their states:
 * the aggregate memory context, the bytes a partial state travels in between
 * processes, a chunked store of rows, and the retry loop around a Swift call that
 * stops for an interrupt.
 */
#ifndef PGSCORE_AGG_STATE_H
#define PGSCORE_AGG_STATE_H

#include "pgscore.h"

/* The aggregate's memory context; an error when called outside an aggregate. */
extern MemoryContext agg_context(FunctionCallInfo fcinfo, const char *function);

/*
 * Partial states in native byte order (they travel between processes of one server,
 * and training states as ml.fit_state values between servers of one architecture). A writer with out == NULL only counts, so a state is written twice: once
 * for its size, once into the bytea (agg_state_bytes).
 */
typedef struct AggWriter
{
	char	   *out;
	Size		size;
} AggWriter;

typedef struct AggReader
{
	const char *p;
	const char *end;
	const char *what;			/* "training state", for messages */
} AggReader;

extern void agg_put(AggWriter *w, const void *v, Size n);
extern bytea *agg_state_bytes(void (*write) (const void *state, AggWriter *w), const void *state,
							  const char *function, const char *what);
extern AggReader agg_reader(bytea *b, const char *what);
extern AggReader agg_reader_at(const char *data, Size len, const char *what);
extern void agg_take(AggReader *r, void *v, Size n);
extern void agg_state_damaged(const AggReader *r) pg_attribute_noreturn();

/*
 * Rows in chunks of about 1 MB, so no allocation nears 1 GB: per row `width` doubles
 * (or, coded, `width` one-byte codes: tree_codes.h) and a label, an int32 id (y) or,
 * with float_labels, a double (t).
 */
typedef struct AggRows
{
	int32		width;
	bool		float_labels;
	bool		coded;			/* codes[] instead of x[] */
	int32		chunk_rows;		/* rows per chunk */
	int32		chunks;
	int32		capacity;
	double	  **x;				/* chunk_rows * width values per chunk */
	uint8	  **codes;			/* chunk_rows * width codes per chunk (coded) */
	int32	  **y;
	double	  **t;
	int64	   *rows;			/* rows used in each chunk */
} AggRows;

/* Called with the bytes of a chunk before it is allocated: raises past a limit. */
typedef void (*AggReserve) (void *owner, Size bytes);

extern void agg_rows_init(AggRows *rs, int32 width, bool float_labels);
extern void agg_rows_init_coded(AggRows *rs, int32 width, bool float_labels);
extern Size agg_rows_row_bytes(const AggRows *rs);
extern int32 agg_rows_room(AggRows *rs, MemoryContext context, AggReserve reserve, void *owner);
extern void agg_rows_append(AggRows *rs, MemoryContext context, const double *x, const int32 *ids,
							const double *values, int64 n, const int32 *map, AggReserve reserve, void *owner);
extern void agg_rows_append_codes(AggRows *rs, MemoryContext context, const uint8 *codes, const int32 *ids,
								  const double *values, int64 n, const int32 *map, AggReserve reserve, void *owner);
extern void agg_rows_free(AggRows *rs);
extern int64 agg_rows_total(const AggRows *rs);
extern void agg_rows_write(const AggRows *rs, AggWriter *w);
extern void agg_rows_read(AggRows *rs, AggReader *r, int64 total, int32 ids, MemoryContext context,
						  AggReserve reserve, void *owner);

/*
 * Runs a Swift call that returns PGSC_INTERRUPTED when the host asked it to stop, then
 * CHECK_FOR_INTERRUPTS() with no Swift frame live, and retries (a pending interrupt
 * that does not cancel, such as a config reload, lets the call run again).
 */
extern int32 agg_call_retrying(int32 (*call) (const void *arg, char *err), const void *arg, char *err);

#endif							/* PGSCORE_AGG_STATE_H */
