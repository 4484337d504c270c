/*
 * pgscore_abi.h -- the C view of the @_cdecl functions in Sources/PgScoreABI.
 *
 * Hand-written, and checked at build time: extension/Makefile has swiftc print its
 * own prototypes of these functions and compiles them together with this header, so
 * any disagreement fails the build ("conflicting types").
 *
 * Contract: Swift never calls into PostgreSQL. It reads memory the caller owns,
 * returns a PGSC_* status, and on failure writes "message\0hint\0" into the caller's
 * error buffer (PGSC_ERRBUF bytes). The C glue raises the ERROR afterwards.
 * Model handles are Swift objects: release each one exactly once.
 */
#ifndef PGSCORE_ABI_H
#define PGSCORE_ABI_H

#include <stdint.h>

/* status codes (Sources/PgScoreABI/Status.swift) */
#define PGSC_OK				0
#define PGSC_INTERRUPTED	1	/* stop callback said so: run CHECK_FOR_INTERRUPTS, retry */
#define PGSC_BAD_VALUE		2	/* 22023 invalid_parameter_value */
#define PGSC_BAD_SHAPE		3	/* 2202E array_subscript_error */
#define PGSC_UNFIT_DATA		4	/* 22000 data_exception */
#define PGSC_BAD_MODEL		5	/* 22P03 invalid_binary_representation */
#define PGSC_NEWER_FORMAT	6	/* 0A000 feature_not_supported */
#define PGSC_LIMIT			7	/* 54000 program_limit_exceeded */
#define PGSC_OUT_OF_RANGE	8	/* 22003 numeric_value_out_of_range */

#define PGSC_ERRBUF			1024

/*
 * Algorithm ids (the table is ScoreCore/Algorithm.swift): the glue dispatches on these;
 * _PG_init checks each against the Swift table (algorithms.c), and names, aggregates
 * and traits are read from it, never kept here.
 */
#define PGSC_LINREG			1
#define PGSC_LOGREG			2
#define PGSC_NB				3

#define PGSC_ALGORITHM_NAME			0
#define PGSC_ALGORITHM_ALIAS		1
#define PGSC_ALGORITHM_AGGREGATE	2
#define PGSC_TRAIT_CLASSIFICATION	1
#define PGSC_TRAIT_REGRESSION		2
#define PGSC_TRAIT_TREE				4
extern int32_t pgsc_algorithm_next(int32_t after);
extern const char *pgsc_algorithm_text(int32_t id, int32_t field);
extern int32_t pgsc_algorithm_traits(int32_t id);

/* label kinds (ScoreCore/Model.swift) */
#define PGSC_LABEL_FLOAT8	0
#define PGSC_LABEL_BOOLEAN	1
#define PGSC_LABEL_INTEGER	2
#define PGSC_LABEL_TEXT		3

/* Returns 1 when the host wants the computation to stop; must never longjmp. */
typedef int32_t (*pgsc_stop_fn) (void);

/* pgsc_model_info() fills PGSC_INFO_LEN int64 values, indexed thus */
#define PGSC_INFO_ALGORITHM		0
#define PGSC_INFO_LABEL_KIND	1
#define PGSC_INFO_FEATURES		2
#define PGSC_INFO_CLASSES		3
#define PGSC_INFO_ROWS			4
#define PGSC_INFO_LEN			5

/* options: validates a JSON options object for an algorithm */
extern int32_t pgsc_options_check(int32_t algorithm, const char *json, int64_t len,
								  int32_t *skip_null_features, char *err);

/* running moments in a caller-owned buffer of pgsc_moments_length() doubles (zeroed) */
extern int64_t pgsc_moments_length(int64_t dim, int32_t full);
extern int32_t pgsc_moments_add(double *state, int64_t dim, int32_t full,
								const double *x, double tail, int32_t has_tail, char *err);
extern void pgsc_moments_merge(double *into, const double *from, int64_t dim, int32_t full);
extern int64_t pgsc_moments_count(const double *state);

/* training: each produces a model handle */
extern int32_t pgsc_linreg_fit(const double *moments, int64_t features,
							   const char *options, int64_t options_len,
							   void **model, char *err);
extern int32_t pgsc_nb_fit(const double *const *class_moments, int64_t classes, int64_t features,
						   int32_t label_kind, const char *const *labels, const int32_t *label_lengths,
						   const char *options, int64_t options_len,
						   void **model, char *err);
extern int32_t pgsc_logreg_fit(const double *const *chunk_features, const int32_t *const *chunk_labels,
							   const int64_t *chunk_rows, int64_t chunks, int64_t features,
							   const int32_t *class_of_id, int64_t ids,
							   int32_t label_kind, const char *const *labels, const int32_t *label_lengths,
							   int64_t classes, const char *options, int64_t options_len,
							   pgsc_stop_fn stop, void **model, char *err);

/* model values; the first PGSC_MODEL_IDENTITY_SIZE bytes are the header (magic, format,
 * length, CRC-64), checked against the Swift side at load time. The CRC catches
 * accidents, not attackers: caches identify a value by its bytes (or a SHA-256). */
#define PGSC_MODEL_IDENTITY_SIZE	24
extern int64_t pgsc_model_identity_size(void);

/* most features and classes a model may have (ScoreCore/ModelCodec.swift): the only
 * definition; C buffers use these constants, checked against Swift at load time */
#define PGSC_MAX_FEATURES		1000
#define PGSC_MAX_CLASSES		1000
#define PGSC_LIMIT_FEATURES		0
#define PGSC_LIMIT_CLASSES		1
extern int64_t pgsc_model_limit(int32_t which);
extern int32_t pgsc_model_open(const void *bytes, int64_t len, void **model, char *err);
extern void pgsc_model_release(void *model);
extern int64_t pgsc_model_encoded_size(void *model);
extern void pgsc_model_encode(void *model, void *dst);
extern void pgsc_model_info(void *model, int64_t *info);
extern int32_t pgsc_model_class_label(void *model, int64_t index, const char **label, int64_t *len);
extern void pgsc_model_describe(void *model, const char **json, int64_t *len);

/* scoring */
extern int32_t pgsc_predict(void *model, const double *x, int64_t n,
							double *value, int64_t *class_index, char *err);
extern int32_t pgsc_predict_proba(void *model, const double *x, int64_t n,
								  double *out, char *err);

/* preprocessing (ScoreCore/Preprocessor.swift): row -> feature vector */
#define PGSC_VALUE_NULL		0
#define PGSC_VALUE_NUMBER	1
#define PGSC_VALUE_TEXT		2
extern int32_t pgsc_preprocessor_open(const char *json, int64_t len, void **pre, char *err);
extern int32_t pgsc_model_preprocessor(void *model, void **pre, char *err);
extern void pgsc_preprocessor_release(void *pre);
extern int64_t pgsc_preprocessor_columns(void *pre);
extern int64_t pgsc_preprocessor_features(void *pre);
extern const char *pgsc_preprocessor_column(void *pre, int64_t i);
extern const char *pgsc_preprocessor_column_type(void *pre, int64_t i);
extern int32_t pgsc_preprocessor_column_categorical(void *pre, int64_t i);
extern int32_t pgsc_preprocessor_encode(void *pre, const int32_t *kinds, const double *numbers,
										const char *const *texts, const int32_t *lens,
										double *out, char *err);
extern int32_t pgsc_model_with_info(const void *bytes, int64_t len, const char *info, int64_t info_len,
									void **model, char *err);

#endif							/* PGSCORE_ABI_H */
