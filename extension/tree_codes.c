/*
 * tree_codes.c -- see tree_codes.h.
 */
#include "tree_codes.h"

#include <math.h>

#include "utils/memutils.h"

Size
tree_codes_bytes(int32 width)
{
	return (Size) width * (sizeof(int32) + sizeof(double) * TREE_CODE_VALUES + sizeof(int16) * TREE_CODE_SLOTS);
}

void
tree_codes_init(TreeCodes *tc, int32 width, MemoryContext context)
{
	tc->width = width;
	tc->count = MemoryContextAllocZero(context, sizeof(int32) * Max(width, 1));
	tc->values = MemoryContextAlloc(context, sizeof(double) * TREE_CODE_VALUES * Max(width, 1));
	tc->slots = MemoryContextAlloc(context, sizeof(int16) * TREE_CODE_SLOTS * Max(width, 1));
	memset(tc->slots, 0xff, sizeof(int16) * TREE_CODE_SLOTS * Max(width, 1));
}

void
tree_codes_free(TreeCodes *tc)
{
	if (tc->count == NULL)
		return;
	pfree(tc->count);
	pfree(tc->values);
	pfree(tc->slots);
	tc->count = NULL;
	tc->values = NULL;
	tc->slots = NULL;
}

/* The bits of a value, one for both zeros (they split alike). */
static inline uint64
value_bits(double v)
{
	uint64		b;

	if (v == 0)
		return 0;
	memcpy(&b, &v, sizeof(b));
	return b;
}

static inline uint32
slot_of(uint64 b)
{
	b ^= b >> 33;
	b *= UINT64CONST(0xff51afd7ed558ccd);
	b ^= b >> 33;
	return (uint32) b & (TREE_CODE_SLOTS - 1);
}

int32
tree_codes_add(TreeCodes *tc, int32 j, double v)
{
	int16	   *slots = tc->slots + (Size) j * TREE_CODE_SLOTS;
	double	   *values = tc->values + (Size) j * TREE_CODE_VALUES;
	uint64		b = value_bits(v);
	uint32		s = slot_of(b);

	if (v == 0)
		v = 0;					/* -0 */
	for (;;)
	{
		int16		code = slots[s];

		if (code < 0)
			break;
		if (value_bits(values[code]) == b)
			return code;
		s = (s + 1) & (TREE_CODE_SLOTS - 1);
	}
	if (tc->count[j] == TREE_CODE_VALUES)
		return -1;
	values[tc->count[j]] = v;
	slots[s] = (int16) tc->count[j];
	return tc->count[j]++;
}

bool
tree_codes_encode(TreeCodes *tc, const double *x, uint8 *out)
{
	for (int32 j = 0; j < tc->width; j++)
	{
		int32		code;

		if (isnan(x[j]))
		{
			out[j] = TREE_CODE_MISSING;
			continue;
		}
		code = tree_codes_add(tc, j, x[j]);
		if (code < 0)
			return false;
		out[j] = (uint8) code;
	}
	return true;
}

void
tree_codes_decode(const TreeCodes *tc, const uint8 *codes, int64 n, double *out)
{
	int32		d = tc->width;

	for (int64 r = 0; r < n; r++)
		for (int32 j = 0; j < d; j++)
		{
			uint8		c = codes[r * d + j];

			out[r * d + j] = c == TREE_CODE_MISSING ? NAN : tc->values[(Size) j * TREE_CODE_VALUES + c];
		}
}
