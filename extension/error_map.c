/*
 * error_map.c -- a Swift status code and message raised as an ERROR with its SQLSTATE.
 */
#include "pgscore.h"

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
