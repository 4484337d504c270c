/*
 * fit_state.c -- training states as SQL values (ml.fit_state), the way hll and tdigest
 * hand out theirs: ml.<fit>_state(...) ends a training aggregate with its partial state
 * instead of a model, ml.merge_states combines states into one state, and
 * ml.combine_states combines them into the model the plain aggregate would give.
 * Any engine that runs an aggregate where the data is and ships a value (postgres_fdw,
 * a COPY of the values, an application) can so train over servers: linear regression
 * and naive Bayes ship sums, logistic regression and the trees (which keep their rows
 * today) ship the rows inside the state.
 *
 * A value is a header (magic, format) and the bytes train_state_serialize writes,
 * which are native byte order: the magic read back swapped names the problem.
 */
#include "train_state.h"

#include "utils/memutils.h"

#define FIT_STATE_MAGIC		0x70675354	/* "pgST" */
#define FIT_STATE_SWAPPED	0x54536770
/* raise when train_state_serialize's layout changes */
#define FIT_STATE_FORMAT	1

typedef struct FitStateHeader
{
	uint32		magic;
	uint32		format;
} FitStateHeader;

/* Final function of ml.<fit>_state and ml.merge_states; leaves the state as it is. */
PG_FUNCTION_INFO_V1(ml_fit_state_final);
Datum
ml_fit_state_final(PG_FUNCTION_ARGS)
{
	FitStateHeader header = {FIT_STATE_MAGIC, FIT_STATE_FORMAT};
	bytea	   *payload;
	bytea	   *out;
	Size		len;

	(void) agg_context(fcinfo, "ml.fit_state final");
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	payload = train_state_serialize((const TrainState *) PG_GETARG_POINTER(0));
	len = VARSIZE(payload) - VARHDRSZ;
	if (len + sizeof(header) > MaxAllocSize - VARHDRSZ)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("ml.fit_state: the training state takes %zu MB, more than a value can hold", len >> 20)));
	out = palloc(VARHDRSZ + sizeof(header) + len);
	SET_VARSIZE(out, VARHDRSZ + sizeof(header) + len);
	memcpy(VARDATA(out), &header, sizeof(header));
	memcpy(VARDATA(out) + sizeof(header), VARDATA(payload), len);
	pfree(payload);
	PG_RETURN_BYTEA_P(out);
}

static TrainState *
fit_state_read(MemoryContext context, bytea *value)
{
	const char *data = VARDATA_ANY(value);
	Size		len = VARSIZE_ANY_EXHDR(value);
	FitStateHeader header;

	if (len < sizeof(header))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("ml.combine_states: a value of %zu bytes is no training state", len),
				 errhint("Training states come from the ml.<fit>_state aggregates, e.g. ml.linreg_fit_state(features, label).")));
	memcpy(&header, data, sizeof(header));
	if (header.magic == FIT_STATE_SWAPPED)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("ml.combine_states: the training state was written on a server of the other byte order"),
				 errhint("Combine states on servers of one architecture; the rows themselves can be moved instead.")));
	if (header.magic != FIT_STATE_MAGIC)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("ml.combine_states: the value is no training state (it does not start as one)"),
				 errhint("Training states come from the ml.<fit>_state aggregates, e.g. ml.linreg_fit_state(features, label).")));
	if (header.format != FIT_STATE_FORMAT)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("ml.combine_states: the training state has format %u, this pgscore reads format %d",
						header.format, FIT_STATE_FORMAT),
				 errhint("Build the states with the same pgscore version on every server.")));
	return train_state_read(context, data + sizeof(header), len - sizeof(header));
}

/*
 * Transition of ml.combine_states and ml.merge_states: the first value becomes the
 * state; later ones are read into a scratch context, merged, and freed, so a state of
 * rows (logistic regression, trees) is held once, not twice.
 */
PG_FUNCTION_INFO_V1(ml_fit_state_add);
Datum
ml_fit_state_add(PG_FUNCTION_ARGS)
{
	MemoryContext context = agg_context(fcinfo, "ml.combine_states");
	TrainState *st = PG_ARGISNULL(0) ? NULL : (TrainState *) PG_GETARG_POINTER(0);
	MemoryContext scratch,
				old;
	TrainState *more;

	if (PG_ARGISNULL(1))
	{
		if (st == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(st);
	}
	if (st == NULL)
		PG_RETURN_POINTER(fit_state_read(context, PG_GETARG_BYTEA_PP(1)));

	scratch = AllocSetContextCreate(CurrentMemoryContext, "pgscore fit state", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(scratch);
	more = fit_state_read(scratch, PG_GETARG_BYTEA_PP(1));
	MemoryContextSwitchTo(old);
	train_state_merge(st, more, "ml.combine_states");
	MemoryContextDelete(scratch);
	PG_RETURN_POINTER(st);
}
