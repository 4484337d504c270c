/*
 * deployed.h -- the deployed version of a project, looked up in ml.deployments with
 * the caller's snapshot (so a deployment is seen once committed, never before) and
 * decoded once per backend and model version.
 */
#ifndef PGSCORE_DEPLOYED_H
#define PGSCORE_DEPLOYED_H

#include "pgscore.h"
#include "scoring_model.h"

typedef struct DeployedModel
{
	Oid			database;
	int64		model_id;
	int64		row_version;	/* xmin of the ml.models row: ids restart if the extension is recreated */
	int32		version;
	int			pins;			/* queries using it now; only unpinned entries are evicted */
	uint64		last_used;
	ScoringModel sm;
} DeployedModel;

/* Per-query memo of project -> deployed model, kept in fn_extra. */
typedef struct DeployedLookup DeployedLookup;

/*
 * The deployed model of `project`, looked up once per query: *memo (a call site's
 * slot, living in `context` for the query) remembers the answer. Returns NULL when
 * the project has no deployed version and missing_ok; raises otherwise. Raises for
 * an unknown project.
 */
extern DeployedModel *deployed_model(DeployedLookup **memo, MemoryContext context, text *project,
									 bool missing_ok, const char *function);

#endif							/* PGSCORE_DEPLOYED_H */
