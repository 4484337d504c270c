/*
 * pgscore.h -- what the C glue files share.
 *
 * The glue is the only code that includes postgres.h: it turns Datums into plain
 * pointers for the Swift core (pgscore_abi.h) and Swift status codes into ERRORs.
 */
#ifndef PGSCORE_H
#define PGSCORE_H

#include "postgres.h"
#include "fmgr.h"
#include "utils/array.h"

#include "pgscore_abi.h"
#include "pgscore_abi_trees.h"

/* Upper bounds that keep every buffer size far from overflow and MaxAllocSize: the
 * model decoder's limits (pgscore_abi.h), so no decoded model exceeds a buffer. */
#define PGSCORE_MAX_FEATURES	PGSC_MAX_FEATURES
#define PGSCORE_MAX_CLASSES		PGSC_MAX_CLASSES

/* GUC pgscore.max_training_memory, in MB: rows an aggregate may keep in memory. */
extern int	pgscore_max_training_memory;

extern void pgscore_raise(int32 status, const char *errbuf, const char *function) pg_attribute_noreturn();
extern int32_t pgscore_stop_requested(void);
extern const float8 *pgscore_features(Datum datum, const char *function, float8 *buffer,
									   int *n, bool *has_nulls);
extern const float8 *pgscore_features_missing(Datum datum, const char *function, float8 *buffer, int *n);

/* model_type.c */
extern void pgscore_check_model_bytes(const char *data, Size len, const char *function);

#endif							/* PGSCORE_H */
