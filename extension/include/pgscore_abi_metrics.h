/*
 * pgscore_abi_metrics.h -- the C view of Sources/PgScoreABI/MetricsABI.swift:
 * evaluation metrics (ml.metrics). Checked against swiftc's prototypes at build time,
 * like pgscore_abi.h, whose contract applies: Swift never calls PostgreSQL, reads and
 * writes only memory the caller owns, and reports failures as PGSC_* status plus
 * "message\0hint\0" in the caller's PGSC_ERRBUF buffer.
 *
 * Per row, the transition function scores through a model handle (pgsc_model_open)
 * and Swift writes into state the caller owns:
 *  - classifier: the row's class probabilities (classes doubles) into a row slot, and
 *    one count into confusion[truth * classes + predicted], predicted being the class
 *    ml.predict answers;
 *  - regression: running sums, pgsc_metrics_sums_length() doubles, zeroed to start.
 * The final function passes everything back and gets a result handle holding the JSON
 * text: read it with pgsc_metrics_result_text (valid until released), release it once.
 */
#ifndef PGSCORE_ABI_METRICS_H
#define PGSCORE_ABI_METRICS_H

#include <stdint.h>

#include "pgscore_abi.h"

extern int32_t pgsc_metrics_add_class(void *model, const double *x, int64_t n, int32_t truth,
									  double *proba, int64_t *confusion, char *err);
extern int64_t pgsc_metrics_sums_length(void);
extern int32_t pgsc_metrics_add_value(void *model, const double *x, int64_t n, double truth,
									  double *sums, char *err);
extern void pgsc_metrics_merge_sums(double *into, const double *from);

/* chunk c holds chunk_rows[c] rows: truth ids in chunk_truth[c], probabilities
 * (row-major, classes per row) in chunk_proba[c]; labels = class labels' text */
extern int32_t pgsc_metrics_classification(int64_t classes, int32_t label_kind,
										   const char *const *labels, const int32_t *label_lengths,
										   const int64_t *confusion,
										   const int32_t *const *chunk_truth, const double *const *chunk_proba,
										   const int64_t *chunk_rows, int64_t chunks,
										   pgsc_stop_fn stop, void **result, char *err);
extern int32_t pgsc_metrics_regression(const double *sums, void **result, char *err);
/* ml.label_metrics: from a confusion matrix alone, and a logged regression pair */
extern int32_t pgsc_metrics_counts(int64_t classes, int32_t label_kind,
								   const char *const *labels, const int32_t *label_lengths,
								   const int64_t *confusion, void **result, char *err);
extern int32_t pgsc_metrics_add_pair(double prediction, double truth, double *sums, char *err);

/* drift: PSI of observed counts against expected shares over n bins (ml.psi) */
extern int32_t pgsc_psi(const double *expected, const double *observed, int64_t n, double floor,
						double *out, char *err);

extern void pgsc_metrics_result_text(void *result, const char **json, int64_t *len);
extern void pgsc_metrics_result_release(void *result);

#endif							/* PGSCORE_ABI_METRICS_H */
