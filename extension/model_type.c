/*
 * model_type.c -- the ml.model type: a model value as bytes (the format lives in
 * Sources/ScoreCore/ModelCodec.swift). Text form is bytea's hex form, so pg_dump and
 * COPY carry it; every way in (text, binary, cast from bytea) is checked by decoding,
 * so a truncated, damaged or foreign value is refused where it enters.
 */
#include "pgscore.h"

#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

void
pgscore_check_model_bytes(const char *data, Size len, const char *function)
{
	char		err[PGSC_ERRBUF];
	void	   *handle = NULL;
	int32		status;

	status = pgsc_model_open(data, (int64) len, &handle, err);
	if (status != PGSC_OK)
		pgscore_raise(status, err, function);
	pgsc_model_release(handle);
}

static Datum
checked_model(bytea *b, const char *function)
{
	pgscore_check_model_bytes(VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b), function);
	PG_RETURN_BYTEA_P(b);
}

PG_FUNCTION_INFO_V1(ml_model_in);
Datum
ml_model_in(PG_FUNCTION_ARGS)
{
	Datum		b = DirectFunctionCall1(byteain, PG_GETARG_DATUM(0));

	return checked_model(DatumGetByteaPP(b), "ml.model input");
}

PG_FUNCTION_INFO_V1(ml_model_out);
Datum
ml_model_out(PG_FUNCTION_ARGS)
{
	return DirectFunctionCall1(byteaout, PG_GETARG_DATUM(0));
}

PG_FUNCTION_INFO_V1(ml_model_recv);
Datum
ml_model_recv(PG_FUNCTION_ARGS)
{
	Datum		b = DirectFunctionCall1(bytearecv, PG_GETARG_DATUM(0));

	return checked_model(DatumGetByteaPP(b), "ml.model input");
}

PG_FUNCTION_INFO_V1(ml_model_send);
Datum
ml_model_send(PG_FUNCTION_ARGS)
{
	return DirectFunctionCall1(byteasend, PG_GETARG_DATUM(0));
}

PG_FUNCTION_INFO_V1(ml_model_from_bytea);
Datum
ml_model_from_bytea(PG_FUNCTION_ARGS)
{
	return checked_model(PG_GETARG_BYTEA_PP(0), "ml.model");
}

/* ml.with_info(model, info jsonb): the model with its info JSON replaced. */
PG_FUNCTION_INFO_V1(ml_model_with_info);
Datum
ml_model_with_info(PG_FUNCTION_ARGS)
{
	bytea	   *m = PG_GETARG_BYTEA_PP(0);
	Jsonb	   *info = PG_GETARG_JSONB_P(1);
	char	   *text = JsonbToCString(NULL, &info->root, VARSIZE(info));
	char		err[PGSC_ERRBUF];
	void	   *handle = NULL;
	int32		status;
	int64		size;
	bytea	   *out;

	status = pgsc_model_with_info(VARDATA_ANY(m), VARSIZE_ANY_EXHDR(m), text, strlen(text), &handle, err);
	if (status != PGSC_OK)
		pgscore_raise(status, err, "ml.with_info");
	size = pgsc_model_encoded_size(handle);
	out = (size <= (int64) (MaxAllocSize - VARHDRSZ)) ?
		palloc_extended(VARHDRSZ + size, MCXT_ALLOC_NO_OOM) : NULL;
	if (out == NULL)
	{
		pgsc_model_release(handle);
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("ml.with_info: the model takes %lld bytes, more than can be stored", (long long) size)));
	}
	SET_VARSIZE(out, VARHDRSZ + size);
	pgsc_model_encode(handle, VARDATA(out));
	pgsc_model_release(handle);
	PG_RETURN_BYTEA_P(out);
}
