/*
 * pgscore_abi_trees.h -- the C view of Sources/PgScoreABI/TreeABI.swift: training of
 * tree models (decision tree, random forest, gradient boosting) and what scoring needs
 * to know of them. Checked against swiftc's own prototypes at build time, like
 * pgscore_abi.h.
 */
#ifndef PGSCORE_ABI_TREES_H
#define PGSCORE_ABI_TREES_H

#include <stdint.h>

#include "pgscore_abi.h"

/* algorithms (ScoreCore/Model.swift), after PGSC_LINREG 1, PGSC_LOGREG 2, PGSC_NB 3 */
#define PGSC_DTREE			4
#define PGSC_FOREST			5
#define PGSC_GBT			6

#define PGSC_IS_TREE(a)		((a) >= PGSC_DTREE && (a) <= PGSC_GBT)

/*
 * pgsc_options_check() writes, for tree algorithms, how NULL elements of a features
 * array are taken: 0 error, 1 skip the row, 2 missing value (NaN; the default).
 */
#define PGSC_NULLS_ERROR	0
#define PGSC_NULLS_SKIP		1
#define PGSC_NULLS_MISSING	2

/* Bytes a tree fit allocates next to the rows it reads (an upper bound), counted against
 * pgscore.max_training_memory before the fit. */
extern int64_t pgsc_tree_scratch_bytes(int32_t algorithm, int64_t rows, int64_t features, int64_t classes);

/*
 * Trains a tree model over the rows an aggregate keeps in chunks. Classification
 * (label_kind boolean/integer/text): chunk_labels holds label ids, class_of_id maps
 * them to sorted classes, labels/label_lengths are the class texts. Regression
 * (label_kind float8): chunk_targets holds the labels; chunk_labels and class_of_id
 * may be NULL. NaN features are missing values. Coded rows (chunk_codes not NULL):
 * one byte per feature instead of chunk_features, code c of feature j meaning
 * code_values[j * 255 + c], code 255 missing (extension/tree_codes.h).
 */
extern int32_t pgsc_tree_fit(int32_t algorithm, const double *const *chunk_features,
							 const uint8_t *const *chunk_codes, const double *code_values,
							 const int32_t *const *chunk_labels, const double *const *chunk_targets,
							 const int64_t *chunk_rows, int64_t chunks, int64_t features,
							 const int32_t *class_of_id, int64_t ids,
							 int32_t label_kind, const char *const *labels, const int32_t *label_lengths,
							 int64_t classes, const char *options, int64_t options_len,
							 pgsc_stop_fn stop, void **model, char *err);

/* 1: the model takes NaN (a NULL array element) as a missing feature value (trees) */
extern int32_t pgsc_model_accepts_missing(void *model);

#endif							/* PGSCORE_ABI_TREES_H */
