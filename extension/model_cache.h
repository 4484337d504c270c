/*
 * model_cache.h -- the per-call-site cache of decoded models (model_cache.c).
 */
#ifndef PGSCORE_MODEL_CACHE_H
#define PGSCORE_MODEL_CACHE_H

#include "scoring_model.h"

/* The decoded model of argument 0 of this call, from the call site's cache. */
extern ScoringModel *model_for_call(FunctionCallInfo fcinfo, const char *function);

#endif							/* PGSCORE_MODEL_CACHE_H */
