/*
 * pgscore.c -- module entry point: the setting, and the checks that the C glue and the
 * Swift core were built for each other. The helpers every glue file uses live in
 * error_map.c (a Swift status as an ERROR), interrupts.c (the probe Swift polls) and
 * feature_arrays.c (validating feature arrays).
 */
#include "pgscore.h"
#include "progress.h"
#include "algorithms.h"

#include <limits.h>

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
