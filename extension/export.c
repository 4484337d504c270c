/*
 * export.c -- ml.export_onnx(model): the model as a standard ONNX file (bytea).
 * The graph is built in Swift (Sources/ScoreCore/OnnxExport.swift); this glue only
 * decodes the model value and copies the bytes out.
 */
#include "pgscore.h"

#include "utils/memutils.h"

#include "pgscore_abi_export.h"

PG_FUNCTION_INFO_V1(ml_export_onnx);
Datum
ml_export_onnx(PG_FUNCTION_ARGS)
{
	bytea	   *m = PG_GETARG_BYTEA_PP(0);
	char		err[PGSC_ERRBUF];
	void	   *model = NULL;
	void	   *onnx = NULL;
	int32		status;
	int64		size;
	bytea	   *out;

	status = pgsc_model_open(VARDATA_ANY(m), (int64) VARSIZE_ANY_EXHDR(m), &model, err);
	if (status != PGSC_OK)
		pgscore_raise(status, err, "ml.export_onnx");
	status = pgsc_model_export_onnx(model, &onnx, err);
	pgsc_model_release(model);
	if (status != PGSC_OK)
		pgscore_raise(status, err, "ml.export_onnx");

	/* no ERROR may escape while we hold the Swift handle: allocate without raising */
	size = pgsc_export_size(onnx);
	out = (size <= (int64) (MaxAllocSize - VARHDRSZ)) ?
		palloc_extended(VARHDRSZ + size, MCXT_ALLOC_NO_OOM) : NULL;
	if (out == NULL)
	{
		pgsc_export_release(onnx);
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("ml.export_onnx: the ONNX file takes %lld bytes, more than a bytea can hold",
						(long long) size)));
	}
	SET_VARSIZE(out, VARHDRSZ + size);
	pgsc_export_copy(onnx, VARDATA(out));
	pgsc_export_release(onnx);
	PG_RETURN_BYTEA_P(out);
}
