/*
 * pgscore.c -- module entry point, settings, and the helpers every glue file uses:
 * raising a Swift error as an ERROR, the interrupt probe Swift polls, and the
 * validation of feature arrays.
 */
#include "pgscore.h"
#include "progress.h"
#include "algorithms.h"

#include <limits.h>

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/float.h"
#include "utils/guc.h"

PG_MODULE_MAGIC;

int			pgscore_max_training_memory = 2048;

void		_PG_init(void);

void
_PG_init(void)
{
	DefineCustomIntVariable("pgscore.max_training_memory",
							"Memory a training or metrics aggregate may use to keep rows (logistic regression and ml.metrics keep them).",
							"Training fails with a clear error beyond it. Each row of d features takes 8*d + 4 bytes. Only superusers may change it.",
							&pgscore_max_training_memory,
							2048, 1, INT_MAX / 2,
							PGC_SUSET, GUC_UNIT_MB,
							NULL, NULL, NULL);
	progress_define_settings();
	MarkGUCPrefixReserved("pgscore");
	if (pgsc_model_identity_size() != PGSC_MODEL_IDENTITY_SIZE)
		elog(ERROR, "pgscore: the C glue and the Swift core disagree on the model header size");
	if (pgsc_model_limit(PGSC_LIMIT_FEATURES) != PGSC_MAX_FEATURES ||
		pgsc_model_limit(PGSC_LIMIT_CLASSES) != PGSC_MAX_CLASSES)
		elog(ERROR, "pgscore: the C glue and the Swift core disagree on the model limits");
	algorithms_check_ids();
}

/*
 * Called from Swift loops: must never longjmp, so it only reads the flags.
 * When it says yes, Swift returns PGSC_INTERRUPTED and the caller runs
 * CHECK_FOR_INTERRUPTS() with no Swift frame on the stack.
 */
int32_t
pgscore_stop_requested(void)
{
	return (INTERRUPTS_PENDING_CONDITION() && INTERRUPTS_CAN_BE_PROCESSED()) ? 1 : 0;
}

static int
sqlstate_for(int32 status)
{
	switch (status)
	{
		case PGSC_BAD_VALUE:
			return ERRCODE_INVALID_PARAMETER_VALUE;
		case PGSC_BAD_SHAPE:
			return ERRCODE_ARRAY_SUBSCRIPT_ERROR;
		case PGSC_UNFIT_DATA:
			return ERRCODE_DATA_EXCEPTION;
		case PGSC_BAD_MODEL:
			return ERRCODE_INVALID_BINARY_REPRESENTATION;
		case PGSC_NEWER_FORMAT:
			return ERRCODE_FEATURE_NOT_SUPPORTED;
		case PGSC_LIMIT:
			return ERRCODE_PROGRAM_LIMIT_EXCEEDED;
		case PGSC_OUT_OF_RANGE:
			return ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE;
		default:
			/* no Swift status maps here; still a data error, never an internal one */
			return ERRCODE_DATA_EXCEPTION;
	}
}

/* errbuf holds "message\0hint\0" as written by Sources/PgScoreABI/Status.swift. */
void
pgscore_raise(int32 status, const char *errbuf, const char *function)
{
	char		message[PGSC_ERRBUF];
	const char *hint;

	memcpy(message, errbuf, PGSC_ERRBUF);
	message[PGSC_ERRBUF - 1] = '\0';
	hint = message + strlen(message) + 1;
	if (hint >= message + PGSC_ERRBUF)
		hint = "";
	ereport(ERROR,
			(errcode(sqlstate_for(status)),
			 errmsg("%s: %s", function, message[0] ? message : "failed"),
			 hint[0] ? errhint("%s", hint) : 0));
}

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
