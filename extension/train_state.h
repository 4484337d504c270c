/*
 * train_state.h -- the transition state shared by the training aggregates.
 *
 * One state type serves linreg_fit, logreg_fit, nb_fit and the tree aggregates
 * (tree_fit, forest_fit, gbt_fit); the algorithm decides which parts are used. Everything lives in the aggregate memory context, so it is
 * freed with the query, also on ERROR, and hash aggregation can account for it.
 */
#ifndef PGSCORE_TRAIN_STATE_H
#define PGSCORE_TRAIN_STATE_H

#include "agg_state.h"
#include "algorithms.h"
#include "tree_codes.h"

/* Class labels in the order first seen; ids index these arrays. */
typedef struct LabelSet
{
	int32		kind;			/* PGSC_LABEL_* */
	int32		count;
	int32		capacity;
	int32		last;			/* id of the last hit: labels often come in runs */
	int64	   *ints;			/* boolean (0/1) and integer labels */
	char	  **texts;			/* text labels (bytes, not NUL-terminated) */
	int32	   *text_lengths;
} LabelSet;

/*
 * Training rows (logistic regression, trees): class labels are kept as label ids (y),
 * float labels of regression trees as values (t).
 */
typedef struct TrainState
{
	MemoryContext context;		/* where every part of the state lives */
	int32		algorithm;		/* PGSC_LINREG, PGSC_LOGREG, PGSC_NB, PGSC_DTREE, ... */
	int32		features;		/* 0 until the first row with features */
	int64		rows;			/* rows used for training */
	bool		skip_null_features;
	bool		nulls_missing;	/* trees: a NULL element is a missing value (NaN) */
	Oid			label_type;		/* SQL type of the label (transition calls only) */
	char	   *options;		/* JSON text, NUL-terminated ("" = none) */
	LabelSet	labels;
	int64		block_len;		/* doubles per moments block */
	double	   *moments;		/* linreg: 1 block; nb: one block per label id */
	int32		blocks;			/* blocks allocated */
	AggRows		store;			/* trees: coded while every feature has few values */
	TreeCodes	codes;			/* the dictionaries of a coded store */
	Size		row_bytes;		/* memory held by the row store */
	Size		table_bytes;	/* ... by the labels and the moments blocks */
} TrainState;

extern TrainState *train_state_create(MemoryContext context, int32 algorithm, int32 label_kind,
									  const char *options, int options_len, const char *function);
extern void train_state_set_features(TrainState *st, int features, const char *function);
extern int32 label_id_int(TrainState *st, int64 value, const char *function);
extern int32 label_id_text(TrainState *st, const char *bytes, int32 len, const char *function);
extern double *train_state_block(TrainState *st, int32 id);
extern void train_state_check_scratch(const TrainState *st, Size scratch, const char *function);
extern void row_store_append(TrainState *st, const double *x, int32 id, const char *function);
extern void row_store_append_value(TrainState *st, const double *x, double y, const char *function);
extern void train_state_merge(TrainState *into, const TrainState *from, const char *function);
extern bytea *train_state_serialize(const TrainState *st);
extern TrainState *train_state_deserialize(MemoryContext context, bytea *bytes);
/* the same from bytes a user may have made (ml.fit_state): every field checked, 22P03 */
extern TrainState *train_state_read(MemoryContext context, const char *data, Size len);

/* train_aggs.c, shared with fit_state.c */

/* train_aggs.c, shared with the pass fit (logreg_pass.c) */
extern int32 label_kind_of(Oid type, const char *function);
extern int32 label_id(TrainState *st, FunctionCallInfo fcinfo, const char *function);
extern void sorted_classes(const TrainState *st, int32 *order, int32 *class_of,
						   const char **texts, int32 *lengths);
extern bytea *train_model_bytes(void *model, const char *function);

#endif							/* PGSCORE_TRAIN_STATE_H */
