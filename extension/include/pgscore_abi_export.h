/*
 * pgscore_abi_export.h -- the C view of Sources/PgScoreABI/ExportABI.swift: a model
 * as an ONNX file. Same contract as pgscore_abi.h (checked against swiftc's own
 * prototypes at build time; Swift never calls PostgreSQL).
 *
 * pgsc_model_export_onnx() gives an export handle owning the bytes: read the size,
 * copy them into memory the caller owns, then release the handle exactly once.
 */
#ifndef PGSCORE_ABI_EXPORT_H
#define PGSCORE_ABI_EXPORT_H

#include <stdint.h>

extern int32_t pgsc_model_export_onnx(void *model, void **bytes, char *err);
extern int64_t pgsc_export_size(void *bytes);
extern void pgsc_export_copy(void *bytes, void *dst);
extern void pgsc_export_release(void *bytes);

#endif							/* PGSCORE_ABI_EXPORT_H */
