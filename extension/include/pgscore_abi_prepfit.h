/*
 * pgscore_abi_prepfit.h -- the C view of Sources/PgScoreABI/PreprocessFitABI.swift:
 * one column's preprocessing fit (ml._preprocess_fit) and the numeric-text rule
 * (ml._numeric_text). Checked against swiftc's prototypes at build time, like
 * pgscore_abi.h, whose contract applies.
 *
 * A fit handle is a Swift object the caller releases once (pgsc_prepfit_release);
 * its result is a JSON result handle of pgscore_abi_metrics.h.
 */
#ifndef PGSCORE_ABI_PREPFIT_H
#define PGSCORE_ABI_PREPFIT_H

#include <stdint.h>

extern int32_t pgsc_prepfit_open(const char *options, int64_t len, int32_t textual, void **out, char *err);
extern void pgsc_prepfit_release(void *fit);
extern void pgsc_prepfit_add_null(void *fit);
extern void pgsc_prepfit_add_number(void *fit, double x);
extern void pgsc_prepfit_add_text(void *fit, const char *text, int64_t len);
extern int32_t pgsc_prepfit_merge(void *into, void *from, char *err);
extern int64_t pgsc_prepfit_serialize(void *fit, uint8_t *out, int64_t cap);
extern int32_t pgsc_prepfit_deserialize(const void *bytes, int64_t len, void **out, char *err);
extern int32_t pgsc_prepfit_result(void *fit, void **result, char *err);
extern int32_t pgsc_numeric_text(const char *text, int64_t len, double *value);

#endif							/* PGSCORE_ABI_PREPFIT_H */
