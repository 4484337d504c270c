/*
 * pgscore_abi_logreg_pass.h -- the C view of Sources/PgScoreABI/LogisticPassABI.swift:
 * logistic regression fitted in passes (ScoreCore/LogisticPasses.swift). A fit state is
 * bytes that go from one pass to the next; a handle is its decoded form. Checked against
 * swiftc's own prototypes at build time, like pgscore_abi.h.
 */
#ifndef PGSCORE_ABI_LOGREG_PASS_H
#define PGSCORE_ABI_LOGREG_PASS_H

#include <stdint.h>

#include "pgscore_abi.h"

/* phases of a fit state */
#define PGSC_PASS_MOMENTS	0	/* pass 0: per-class moments (standardisation, classes) */
#define PGSC_PASS_EVALUATE	1	/* one Newton evaluation: loss, gradient, Hessian */
#define PGSC_PASS_DONE		2

extern int32_t pgsc_logreg_start(const char *options, int64_t len, void **handle, char *err);
extern int32_t pgsc_logreg_open(const void *bytes, int64_t len, void **handle, int32_t *phase,
								int64_t *features, int64_t *classes, int64_t *sums,
								int32_t *skip_nulls, char *err);
extern void pgsc_logreg_release(void *handle);
extern int32_t pgsc_logreg_label_kind(void *handle);
extern int32_t pgsc_logreg_class(void *handle, int64_t index, const char **label, int64_t *len);
extern int32_t pgsc_logreg_add(void *handle, const double *x, const int32_t *classes, int64_t rows,
							   double *sums, char *err);
extern int32_t pgsc_logreg_after_moments(void *handle, const double *const *class_moments, int64_t classes,
										 int64_t features, int32_t kind, const char *const *labels,
										 const int32_t *label_lengths, void **next, char *err);
extern int32_t pgsc_logreg_after_evaluation(void *handle, const double *sums, int64_t count, int64_t rows,
											int32_t (*stop) (void), void **next, char *err);
extern void pgsc_logreg_bytes(void *handle, const void **bytes, int64_t *len);
extern void pgsc_logreg_info(void *handle, const void **json, int64_t *len);
extern int32_t pgsc_logreg_model(void *handle, void **model, char *err);

#endif							/* PGSCORE_ABI_LOGREG_PASS_H */
