/*
 * tree_codes.h -- the one-byte codes a tree aggregate keeps a row in.
 *
 * Per feature a dictionary of its distinct values (at most TREE_CODE_VALUES, in the
 * order first seen); a row is one code per feature: the value's place in the
 * dictionary, or TREE_CODE_MISSING for NaN. Decoding gives back the exact values
 * (-0 comes back as 0, which no split tells apart), so the fit sees the rows it would
 * have seen as doubles and grows the same trees. A feature with more distinct values
 * than a byte can name makes the state go back to doubles (train_state.c): bins
 * fixed before all rows are seen would depend on which rows came first, and a
 * parallel plan or shards would then grow different trees.
 */
#ifndef PGSCORE_TREE_CODES_H
#define PGSCORE_TREE_CODES_H

#include "postgres.h"

#define TREE_CODE_VALUES 255
#define TREE_CODE_MISSING 255
#define TREE_CODE_SLOTS 512		/* hash slots per feature: at most half full */

typedef struct TreeCodes
{
	int32		width;
	int32	   *count;			/* distinct values per feature */
	double	   *values;			/* width x TREE_CODE_VALUES */
	int16	   *slots;			/* width x TREE_CODE_SLOTS: a code, or -1 */
} TreeCodes;

/* Bytes tree_codes_init allocates for `width` features. */
extern Size tree_codes_bytes(int32 width);
extern void tree_codes_init(TreeCodes *tc, int32 width, MemoryContext context);
extern void tree_codes_free(TreeCodes *tc);
/* The code of value v of feature j, added if new; -1 when the dictionary is full. */
extern int32 tree_codes_add(TreeCodes *tc, int32 j, double v);
/* One row's codes into out; false (out partly written) when a dictionary is full. */
extern bool tree_codes_encode(TreeCodes *tc, const double *x, uint8 *out);
/* n rows of codes back to values. */
extern void tree_codes_decode(const TreeCodes *tc, const uint8 *codes, int64 n, double *out);

#endif							/* PGSCORE_TREE_CODES_H */
