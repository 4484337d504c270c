/*
 * feature_arrays.c -- validating a features array (float8[]) and reading its values.
 */
#include "pgscore.h"

#include "catalog/pg_type.h"
#include "utils/float.h"

/*
 * Validates a features array and returns its values. NULL elements are reported
 * through *has_nulls (callers decide: skip the row, return NULL, or raise).
 *
 * Arrays read from a table usually have a 1-byte varlena header, which the usual
 * PG_GETARG_ARRAYTYPE_P would copy into a fresh palloc'd 4-byte-header array on every
 * row. Here such an array is read in place instead: its payload bytes are those of the
 * 4-byte form shifted by 3, so its values are copied (unaligned) into `buffer`, which
 * must hold PGSCORE_MAX_FEATURES values.
 */
const float8 *
pgscore_features(Datum datum, const char *function, float8 *buffer, int *n, bool *has_nulls)
{
	struct varlena *raw = (struct varlena *) DatumGetPointer(datum);
	ArrayType  *arr;

	if (VARATT_IS_SHORT(raw))
	{
		const char *body = VARDATA_SHORT(raw) - VARHDRSZ;	/* where ArrayType would start */
		int32		ndim,
					dataoffset,
					dim0 = 0,
					lbound0 = 0;
		Oid			elemtype;

		memcpy(&ndim, body + offsetof(ArrayType, ndim), sizeof(int32));
		memcpy(&dataoffset, body + offsetof(ArrayType, dataoffset), sizeof(int32));
		memcpy(&elemtype, body + offsetof(ArrayType, elemtype), sizeof(Oid));
		if (ndim == 1)
		{
			memcpy(&dim0, body + sizeof(ArrayType), sizeof(int32));
			memcpy(&lbound0, body + sizeof(ArrayType) + sizeof(int32), sizeof(int32));
		}
		if (ndim == 1 && lbound0 == 1 && dataoffset == 0 && elemtype == FLOAT8OID &&
			dim0 > 0 && dim0 <= PGSCORE_MAX_FEATURES &&
			ARR_OVERHEAD_NONULLS(1) + sizeof(float8) * dim0 == VARSIZE_SHORT(raw) - VARHDRSZ_SHORT + VARHDRSZ)
		{
			memcpy(buffer, body + ARR_OVERHEAD_NONULLS(1), sizeof(float8) * dim0);
			*n = dim0;
			*has_nulls = false;
			return buffer;
		}
		/* anything unusual: take the general path below */
	}
	arr = DatumGetArrayTypeP(datum);
	if (ARR_ELEMTYPE(arr) != FLOAT8OID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("%s: features must be float8[]", function)));
	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s: features must be a one-dimensional array, got %d dimensions",
						function, ARR_NDIM(arr)),
				 errhint("Pass one row's features as ARRAY[x1, x2, ...].")));
	if (ARR_NDIM(arr) == 1 && ARR_LBOUND(arr)[0] != 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s: features array must start at index 1, got lower bound %d",
						function, ARR_LBOUND(arr)[0]),
				 errhint("Pass one row's features as ARRAY[x1, x2, ...].")));
	*n = ARR_NDIM(arr) == 0 ? 0 : ARR_DIMS(arr)[0];
	if (*n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s: features array is empty", function)));
	if (*n > PGSCORE_MAX_FEATURES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s: %d features, at most %d are supported", function, *n, PGSCORE_MAX_FEATURES)));
	*has_nulls = ARR_HASNULL(arr) && array_contains_nulls(arr);
	return (const float8 *) ARR_DATA_PTR(arr);
}

/*
 * The values of a features array with its NULL elements as NaN (missing values, for
 * tree models), always copied into `buffer` (PGSCORE_MAX_FEATURES values). Validates
 * the array as pgscore_features does.
 */
const float8 *
pgscore_features_missing(Datum datum, const char *function, float8 *buffer, int *n)
{
	bool		has_nulls;
	const float8 *x = pgscore_features(datum, function, buffer, n, &has_nulls);
	ArrayType  *arr;
	bits8	   *bitmap;
	const char *p;
	int			i;

	if (!has_nulls)
	{
		if (x != buffer)
			memcpy(buffer, x, sizeof(float8) * *n);
		return buffer;
	}
	/* rare path: the array is detoasted again to read its null bitmap */
	arr = DatumGetArrayTypeP(datum);
	bitmap = ARR_NULLBITMAP(arr);
	p = ARR_DATA_PTR(arr);
	for (i = 0; i < *n; i++)
	{
		if (bitmap != NULL && (bitmap[i / 8] & (1 << (i % 8))) == 0)
			buffer[i] = get_float8_nan();
		else
		{
			memcpy(&buffer[i], p, sizeof(float8));
			p += sizeof(float8);
		}
	}
	return buffer;
}
