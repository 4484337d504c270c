/*
 * train_state.c -- building, merging and (de)serialising the training state.
 * The numbers themselves (moments) are updated by the Swift core; this file only
 * manages memory, label bookkeeping and the bytes that travel between workers.
 */
#include "train_state.h"

#include <math.h>
#include <stdarg.h>

#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/memutils.h"

/* Regression trees keep float labels instead of label ids. */
static bool
keeps_values(const TrainState *st)
{
	return PGSC_IS_TREE(st->algorithm) && st->labels.kind == PGSC_LABEL_FLOAT8;
}

static void reserve_memory(TrainState *st, Size more, bool rows, const char *function);

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
			agg_rows_init(&st->store, features, false);
			break;
		case PGSC_DTREE:
		case PGSC_FOREST:
		case PGSC_GBT:
			reserve_memory(st, tree_codes_bytes(features), false, function);
			agg_rows_init_coded(&st->store, features, keeps_values(st));
			tree_codes_init(&st->codes, features, st->context);
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

static void
reserve_rows(void *owner, Size bytes)
{
	TrainState *st = (TrainState *) owner;

	reserve_memory(st, bytes, true, algorithm_function(st->algorithm));
}

/*
 * A coded store back to doubles, when a feature has more distinct values than codes:
 * the rows are decoded chunk by chunk into a new store, each old chunk freed once
 * copied (so at most one chunk is held twice).
 */
static void
uncode(TrainState *st)
{
	AggRows		old = st->store;
	double	   *x = palloc(sizeof(double) * old.width * old.chunk_rows);

	agg_rows_init(&st->store, old.width, old.float_labels);
	for (int32 c = 0; c < old.chunks; c++)
	{
		CHECK_FOR_INTERRUPTS();
		tree_codes_decode(&st->codes, old.codes[c], old.rows[c], x);
		agg_rows_append(&st->store, st->context, x, old.y[c], old.t[c], old.rows[c], NULL, reserve_rows, st);
		pfree(old.codes[c]);
		if (old.y[c])
			pfree(old.y[c]);
		if (old.t[c])
			pfree(old.t[c]);
		st->row_bytes -= agg_rows_row_bytes(&old) * old.chunk_rows;
	}
	pfree(x);
	tree_codes_free(&st->codes);
	st->table_bytes -= tree_codes_bytes(old.width);
}

static void
append_row(TrainState *st, const double *x, const int32 *id, const double *y)
{
	if (st->store.coded)
	{
		uint8		codes[PGSCORE_MAX_FEATURES];

		if (tree_codes_encode(&st->codes, x, codes))
		{
			agg_rows_append_codes(&st->store, st->context, codes, id, y, 1, NULL, reserve_rows, st);
			return;
		}
		uncode(st);
	}
	agg_rows_append(&st->store, st->context, x, id, y, 1, NULL, reserve_rows, st);
}

void
row_store_append(TrainState *st, const double *x, int32 id, const char *function)
{
	append_row(st, x, &id, NULL);
}

/* A row with a float label (regression trees). */
void
row_store_append_value(TrainState *st, const double *x, double y, const char *function)
{
	append_row(st, x, NULL, &y);
}

/*
 * The codes of `from`'s dictionaries in `into`'s (map[j * 256 + code]), added where
 * new; false when one of into's dictionaries is full.
 */
static bool
map_codes(TrainState *into, const TrainState *from, uint8 *map)
{
	for (int32 j = 0; j < from->features; j++)
	{
		for (int32 c = 0; c < from->codes.count[j]; c++)
		{
			int32		to = tree_codes_add(&into->codes, j, from->codes.values[(Size) j * TREE_CODE_VALUES + c]);

			if (to < 0)
				return false;
			map[j * 256 + c] = (uint8) to;
		}
		map[j * 256 + TREE_CODE_MISSING] = TREE_CODE_MISSING;
	}
	return true;
}

/* from's rows appended to into's, label ids through label_map (trees, logistic regression). */
static void
merge_rows(TrainState *into, const TrainState *from, const int32 *label_map)
{
	const AggRows *fs = &from->store;
	int32		d = from->features;
	uint8	   *map = NULL;
	void	   *buffer = NULL;

	if (into->store.coded && fs->coded)
	{
		map = palloc(256 * d);
		if (!map_codes(into, from, map))
		{
			pfree(map);
			map = NULL;
			uncode(into);
		}
	}
	else if (into->store.coded)
		uncode(into);
	if (fs->coded)
		buffer = palloc((map ? sizeof(uint8) : sizeof(double)) * d * fs->chunk_rows);
	for (int32 c = 0; c < fs->chunks; c++)
	{
		CHECK_FOR_INTERRUPTS();
		if (!fs->coded)
			agg_rows_append(&into->store, into->context, fs->x[c], fs->y[c], fs->t[c], fs->rows[c],
							label_map, reserve_rows, into);
		else if (map)
		{
			uint8	   *codes = buffer;

			for (int64 i = 0; i < fs->rows[c] * d; i++)
				codes[i] = map[(i % d) * 256 + fs->codes[c][i]];
			agg_rows_append_codes(&into->store, into->context, codes, fs->y[c], fs->t[c], fs->rows[c],
								  label_map, reserve_rows, into);
		}
		else
		{
			tree_codes_decode(&from->codes, fs->codes[c], fs->rows[c], buffer);
			agg_rows_append(&into->store, into->context, buffer, fs->y[c], fs->t[c], fs->rows[c],
							label_map, reserve_rows, into);
		}
	}
	if (map)
		pfree(map);
	if (buffer)
		pfree(buffer);
}

/* ---------------------------------------------------------------- merge */

static const char *
label_kind_name(int32 kind)
{
	switch (kind)
	{
		case PGSC_LABEL_FLOAT8:
			return "float8";
		case PGSC_LABEL_BOOLEAN:
			return "boolean";
		case PGSC_LABEL_INTEGER:
			return "integer";
		default:
			return "text";
	}
}

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

	/* states of one aggregate always agree; ml.combine_states gets them from users */
	if (into->algorithm != from->algorithm || into->labels.kind != from->labels.kind ||
		strcmp(into->options, from->options) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: cannot combine a state of %s (%s labels, options '%s') with one of %s (%s labels, options '%s')",
						function, algorithm_function(into->algorithm), label_kind_name(into->labels.kind), into->options,
						algorithm_function(from->algorithm), label_kind_name(from->labels.kind), from->options),
				 errhint("Combine states built by the same aggregate with the same options and label type.")));
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

				for (i = 0; i < from->labels.count; i++)
					map[i] = label_map(into, from, i, function);
				merge_rows(into, from, map);
				pfree(map);
			}
			break;
		default:
			unknown_algorithm(into->algorithm, function);
	}
	into->rows += from->rows;
	/* the sums of two valid states can still overflow: as when one state's sums do */
	if (into->algorithm == PGSC_LINREG || into->algorithm == PGSC_NB)
	{
		Size		n = into->block_len * (into->algorithm == PGSC_NB ? into->labels.count : 1);

		for (Size k = 0; k < n; k++)
			if (!isfinite(into->moments[k]))
				ereport(ERROR,
						(errcode(ERRCODE_DATA_EXCEPTION),
						 errmsg("%s: the combined sums overflow double precision", function),
						 errhint("Rescale the features (their squares must stay below 1e308).")));
	}
}

/* ---------------------------------------------------------------- bytes */

/*
 * Layout (native byte order: partial states travel between processes of one server,
 * and as ml.fit_state values between servers of one architecture, fit_state.c):
 * header ints, options, labels, then moments or rows (agg_rows_write); the trees'
 * rows after a flag (1: coded) and, when coded, each feature's dictionary.
 */
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
		case PGSC_DTREE:
		case PGSC_FOREST:
		case PGSC_GBT:
			{
				int32		coded = st->store.coded ? 1 : 0;

				agg_put(w, &coded, sizeof(int32));
				for (int32 j = 0; coded && j < st->features; j++)
				{
					agg_put(w, &st->codes.count[j], sizeof(int32));
					agg_put(w, st->codes.values + (Size) j * TREE_CODE_VALUES, sizeof(double) * st->codes.count[j]);
				}
			}
			/* FALLTHROUGH */
		case PGSC_LOGREG:
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

/*
 * A state that arrives as bytes may come from a user (ml.combine_states takes
 * ml.fit_state values), so every field is checked before it is used: a bad one is
 * 22P03, never an assertion, a Swift trap or an allocation beyond the memory setting.
 */
static void damaged(const char *function, const char *fmt,...) pg_attribute_printf(2, 3) pg_attribute_noreturn();

static void
damaged(const char *function, const char *fmt,...)
{
	char		detail[256];
	va_list		args;

	va_start(args, fmt);
	vsnprintf(detail, sizeof(detail), fmt, args);
	va_end(args);
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
			 errmsg("%s: the training state is damaged: %s", function, detail),
			 errhint("A training state must come unchanged from a pgscore aggregate of the same version.")));
}

static bool
label_kind_allowed(int32 algorithm, int32 kind)
{
	if (algorithm == PGSC_LINREG)
		return kind == PGSC_LABEL_FLOAT8;
	if (PGSC_IS_TREE(algorithm))
		return kind >= PGSC_LABEL_FLOAT8 && kind <= PGSC_LABEL_TEXT;
	return kind >= PGSC_LABEL_BOOLEAN && kind <= PGSC_LABEL_TEXT;
}

/*
 * Moments blocks of `rows` rows in all: finite numbers, each count a whole number of
 * at least one row (the Swift core converts counts to Int), the counts adding up.
 */
static void
check_moments(const TrainState *st, int32 blocks, int64 rows, const char *function)
{
	double		sum = 0;

	for (int32 b = 0; b < blocks; b++)
	{
		const double *m = st->moments + st->block_len * b;

		for (int64 i = 0; i < st->block_len; i++)
			if (!isfinite(m[i]))
				damaged(function, "sum %lld of block %d is not a finite number", (long long) i, b);
		if (m[0] < 1 || m[0] > (double) rows || m[0] != floor(m[0]))
			damaged(function, "block %d counts %g rows of %lld", b, m[0], (long long) rows);
		sum += m[0];
	}
	if (sum != (double) rows)
		damaged(function, "the blocks count %.0f rows, the header %lld", sum, (long long) rows);
}

/*
 * The rows read into the store: feature values the transition function would have
 * accepted, finite float labels, and every label id with a row (a label is only ever
 * added with one).
 */
static void
check_rows(const TrainState *st, int32 count, const char *function)
{
	const AggRows *rs = &st->store;
	bool	   *seen = palloc0(sizeof(bool) * Max(count, 1));
	int64		row = 0;

	for (int32 c = 0; c < rs->chunks; c++)
		for (int64 r = 0; r < rs->rows[c]; r++, row++)
		{
			for (int32 j = 0; rs->coded && j < rs->width; j++)
			{
				uint8		code = rs->codes[c][r * rs->width + j];

				if (code != TREE_CODE_MISSING && code >= st->codes.count[j])
					damaged(function, "row %lld holds code %d of feature %d, which has %d values", (long long) row,
							code, j + 1, st->codes.count[j]);
			}
			for (int32 j = 0; !rs->coded && j < rs->width; j++)
			{
				double		v = rs->x[c][r * rs->width + j];

				if (isinf(v) || (isnan(v) && !PGSC_IS_TREE(st->algorithm)))
					damaged(function, "row %lld holds a feature that is %s", (long long) row,
							isnan(v) ? "NaN" : "infinite");
			}
			if (rs->float_labels)
			{
				if (!isfinite(rs->t[c][r]))
					damaged(function, "the label of row %lld is not a finite number", (long long) row);
			}
			else
				seen[rs->y[c][r]] = true;
		}
	for (int32 i = 0; !rs->float_labels && i < count; i++)
		if (!seen[i])
			damaged(function, "label %d has no rows", i);
	pfree(seen);
}

/* The trees' flag and dictionaries (write_state); an uncoded state drops its codes. */
static void
read_codes(TrainState *st, AggReader *r, const char *function)
{
	int32		coded;

	agg_take(r, &coded, sizeof(int32));
	if (coded != 0 && coded != 1)
		damaged(function, "the rows' coding flag is %d", coded);
	if (!coded)
	{
		uncode(st);
		return;
	}
	for (int32 j = 0; j < st->features; j++)
	{
		int32		count;

		agg_take(r, &count, sizeof(int32));
		if (count < 0 || count > TREE_CODE_VALUES)
			damaged(function, "feature %d has %d coded values (at most %d)", j + 1, count, TREE_CODE_VALUES);
		for (int32 c = 0; c < count; c++)
		{
			double		v;

			agg_take(r, &v, sizeof(double));
			if (!isfinite(v))
				damaged(function, "coded value %d of feature %d is not a finite number", c, j + 1);
			if (tree_codes_add(&st->codes, j, v) != c)
				damaged(function, "coded value %d of feature %d repeats an earlier one", c, j + 1);
		}
	}
}

TrainState *
train_state_deserialize(MemoryContext context, bytea *bytes)
{
	return train_state_read(context, VARDATA_ANY(bytes), VARSIZE_ANY_EXHDR(bytes));
}

TrainState *
train_state_read(MemoryContext context, const char *data, Size len)
{
	AggReader	r = agg_reader_at(data, len, "training state");
	int32		algorithm,
				features,
				kind,
				count,
				olen;
	int64		rows;
	char	   *options;
	const char *function;
	TrainState *st;
	MemoryContext old;

	agg_take(&r, &algorithm, sizeof(int32));
	if (pgsc_algorithm_text(algorithm, PGSC_ALGORITHM_AGGREGATE) == NULL)
		damaged("pgscore", "unknown algorithm id %d", algorithm);
	function = algorithm_function(algorithm);
	agg_take(&r, &features, sizeof(int32));
	agg_take(&r, &kind, sizeof(int32));
	agg_take(&r, &count, sizeof(int32));
	agg_take(&r, &rows, sizeof(int64));
	agg_take(&r, &olen, sizeof(int32));
	if (features < 0 || features > PGSCORE_MAX_FEATURES)
		damaged(function, "%d features (at most %d)", features, PGSCORE_MAX_FEATURES);
	if (!label_kind_allowed(algorithm, kind))
		damaged(function, "label kind %d does not fit this algorithm", kind);
	if (count < 0 || count > PGSCORE_MAX_CLASSES || (kind == PGSC_LABEL_FLOAT8 && count != 0))
		damaged(function, "%d labels", count);
	/* counts travel as doubles in the sums and become Swift Ints: exact below 2^53 */
	if (rows < 0 || rows > (INT64CONST(1) << 53) || (features == 0 && (rows != 0 || count != 0)) ||
		(kind != PGSC_LABEL_FLOAT8 && rows > 0 && count == 0))
		damaged(function, "%lld rows of %d features and %d labels", (long long) rows, features, count);
	if (olen < 0 || olen > r.end - r.p)
		damaged(function, "options of %d bytes", olen);
	if (memchr(r.p, '\0', olen) != NULL || !pg_verifymbstr(r.p, olen, true))
		damaged(function, "the options are no text of the database's encoding");
	options = palloc(olen + 1);
	agg_take(&r, options, olen);
	options[olen] = '\0';
	{
		char		err[PGSC_ERRBUF];
		int32		nulls = 0;

		if (pgsc_options_check(algorithm, options, olen, &nulls, err) != PGSC_OK)
			damaged(function, "its options are invalid (%s)", err);
	}

	st = train_state_create(context, algorithm, kind, options, olen, function);
	st->rows = rows;
	old = MemoryContextSwitchTo(context);
	for (int32 i = 0; i < count; i++)
	{
		if (kind == PGSC_LABEL_TEXT)
		{
			int32		n;

			agg_take(&r, &n, sizeof(int32));
			if (n < 0 || n > r.end - r.p)
				damaged(function, "label %d has %d bytes", i, n);
			/* it becomes text that ml.predict returns */
			if (memchr(r.p, '\0', n) != NULL || !pg_verifymbstr(r.p, n, true))
				damaged(function, "label %d is no text of the database's encoding", i);
			label_id_text(st, r.p, n, function);
			r.p += n;
		}
		else
		{
			int64		v;

			agg_take(&r, &v, sizeof(int64));
			if (kind == PGSC_LABEL_BOOLEAN && v != 0 && v != 1)
				damaged(function, "boolean label %d is %lld", i, (long long) v);
			label_id_int(st, v, function);
		}
		if (st->labels.count != i + 1)
			damaged(function, "label %d repeats an earlier one", i);
	}
	MemoryContextSwitchTo(old);
	if (features == 0)
	{
		if (r.p != r.end)
			damaged(function, "%zu bytes follow the end", (Size) (r.end - r.p));
		return st;
	}
	/* the sums' exact size, before any of it is allocated */
	if (algorithm == PGSC_LINREG || algorithm == PGSC_NB)
	{
		Size		want = sizeof(double) * (algorithm == PGSC_LINREG ?
											 pgsc_moments_length(features + 1, 1) :
											 pgsc_moments_length(features, 0) * count);

		if (want != (Size) (r.end - r.p))
			damaged(function, "%zu bytes of sums expected, %zu found", want, (Size) (r.end - r.p));
	}
	train_state_set_features(st, features, function);
	switch (algorithm)
	{
		case PGSC_LINREG:
			agg_take(&r, st->moments, sizeof(double) * st->block_len);
			check_moments(st, 1, rows, function);
			break;
		case PGSC_NB:
			if (count > 0)
				agg_take(&r, train_state_block(st, count - 1) - st->block_len * (count - 1),
						 sizeof(double) * st->block_len * count);
			check_moments(st, count, rows, function);
			break;
		case PGSC_DTREE:
		case PGSC_FOREST:
		case PGSC_GBT:
			read_codes(st, &r, function);
			/* FALLTHROUGH */
		case PGSC_LOGREG:
			{
				Size		limit = (Size) pgscore_max_training_memory * 1024 * 1024;

				/* an aligned copy and the row store: twice the rows, checked first */
				if ((Size) (r.end - r.p) > limit / 2)
					ereport(ERROR,
							(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
							 errmsg("%s: a training state of %lld rows needs %zu MB to be read, more than pgscore.max_training_memory (%d MB)",
									function, (long long) rows, (2 * (Size) (r.end - r.p)) >> 20, pgscore_max_training_memory),
							 errhint("Raise pgscore.max_training_memory, or build smaller states.")));
				agg_rows_read(&st->store, &r, rows, count, context, reserve_rows, st);
				check_rows(st, count, function);
			}
			break;
		default:
			unknown_algorithm(algorithm, function);
	}
	if (r.p != r.end)
		damaged(function, "%zu bytes follow the end", (Size) (r.end - r.p));
	return st;
}
