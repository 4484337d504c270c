/*
 * deployed.c -- see deployed.h.
 */
#include "deployed.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#define BACKEND_CACHE_SIZE 32
#define QUERY_MEMO_SIZE 8

static DeployedModel *backend_cache[BACKEND_CACHE_SIZE];
static uint64 backend_clock;
static SPIPlanPtr lookup_plan;

typedef struct MemoEntry
{
	char	   *project;
	DeployedModel *model;		/* NULL: no deployed version */
} MemoEntry;

struct DeployedLookup
{
	int			used;
	MemoEntry	entries[QUERY_MEMO_SIZE];
	MemoryContextCallback unpin;
};

static void
unpin_all(void *arg)
{
	DeployedLookup *memo = (DeployedLookup *) arg;
	int			i;

	for (i = 0; i < memo->used; i++)
		if (memo->entries[i].model != NULL)
			memo->entries[i].model->pins--;
}

/* Finds or decodes the backend-wide entry for a model row. */
static DeployedModel *
backend_entry(int64 model_id, int64 row_version, int32 version, Datum model, const char *function)
{
	DeployedModel *victim = NULL;
	int			free_slot = -1;
	int			i;
	struct varlena *v;
	ScoringModel sm;

	backend_clock++;
	for (i = 0; i < BACKEND_CACHE_SIZE; i++)
	{
		DeployedModel *e = backend_cache[i];

		if (e == NULL)
		{
			if (free_slot < 0)
				free_slot = i;
			continue;
		}
		if (e->database == MyDatabaseId && e->model_id == model_id && e->row_version == row_version)
		{
			e->last_used = backend_clock;
			return e;
		}
		if (e->pins == 0 && (victim == NULL || e->last_used < victim->last_used))
			victim = e;
	}
	if (free_slot < 0)
	{
		if (victim == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("%s: more than %d deployed models in use at once", function, BACKEND_CACHE_SIZE)));
		for (i = 0; i < BACKEND_CACHE_SIZE; i++)
			if (backend_cache[i] == victim)
				free_slot = i;
		scoring_model_close(&victim->sm);
		pfree(victim);
		backend_cache[free_slot] = NULL;
	}
	v = pg_detoast_datum_packed((struct varlena *) DatumGetPointer(model));
	scoring_model_open(&sm, TopMemoryContext, VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v), function);
	victim = MemoryContextAllocZero(TopMemoryContext, sizeof(DeployedModel));
	victim->sm = sm;
	victim->database = MyDatabaseId;
	victim->model_id = model_id;
	victim->row_version = row_version;
	victim->version = version;
	victim->last_used = backend_clock;
	backend_cache[free_slot] = victim;
	return victim;
}

/* One SPI query: the project's latest deployment and its model. */
static DeployedModel *
lookup(const char *project, bool *project_exists, const char *function)
{
	Datum		arg = CStringGetTextDatum(project);
	DeployedModel *result = NULL;
	int			ret;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "%s: SPI_connect failed", function);
	if (lookup_plan == NULL)
	{
		Oid			argtypes[1] = {TEXTOID};
		SPIPlanPtr	plan = SPI_prepare(
									   "SELECT m.id, m.xmin::text::bigint, m.version, m.model"
									   "  FROM ml.projects p"
									   "  LEFT JOIN LATERAL (SELECT d.model_id FROM ml.deployments d"
									   "                      WHERE d.project_id = p.id ORDER BY d.id DESC LIMIT 1) d ON true"
									   "  LEFT JOIN ml.models m ON m.id = d.model_id"
									   " WHERE p.name = $1", 1, argtypes);

		if (plan == NULL)
			elog(ERROR, "%s: could not prepare the deployment lookup: %s", function,
				 SPI_result_code_string(SPI_result));
		SPI_keepplan(plan);
		lookup_plan = plan;
	}
	ret = SPI_execute_plan(lookup_plan, &arg, NULL, true, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "%s: deployment lookup failed: %s", function, SPI_result_code_string(ret));
	*project_exists = SPI_processed > 0;
	if (SPI_processed > 0)
	{
		HeapTuple	row = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		Datum		id = SPI_getbinval(row, desc, 1, &isnull);

		if (!isnull)
		{
			bool		n2,
						n3,
						n4;
			int64		xmin = DatumGetInt64(SPI_getbinval(row, desc, 2, &n2));
			int32		version = DatumGetInt32(SPI_getbinval(row, desc, 3, &n3));
			Datum		model = SPI_getbinval(row, desc, 4, &n4);

			result = backend_entry(DatumGetInt64(id), xmin, version, model, function);
		}
	}
	SPI_finish();
	return result;
}

DeployedModel *
deployed_model(DeployedLookup **slot, MemoryContext context, text *project, bool missing_ok,
			   const char *function)
{
	DeployedLookup *memo = *slot;
	char	   *name = text_to_cstring(project);
	bool		exists;
	DeployedModel *dm;
	int			i;

	if (memo == NULL)
	{
		memo = MemoryContextAllocZero(context, sizeof(DeployedLookup));
		memo->unpin.func = unpin_all;
		memo->unpin.arg = memo;
		MemoryContextRegisterResetCallback(context, &memo->unpin);
		*slot = memo;
	}
	for (i = 0; i < memo->used; i++)
		if (strcmp(memo->entries[i].project, name) == 0)
		{
			dm = memo->entries[i].model;
			goto found;
		}

	dm = lookup(name, &exists, function);
	if (!exists)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("%s: project \"%s\" does not exist", function, name),
				 errhint("ml.train creates a project; SELECT name FROM ml.projects lists them.")));
	if (memo->used < QUERY_MEMO_SIZE)
	{
		MemoEntry  *e = &memo->entries[memo->used++];

		e->project = MemoryContextStrdup(context, name);
		e->model = dm;
		if (dm != NULL)
			dm->pins++;
	}
found:
	if (dm == NULL && !missing_ok)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s: project \"%s\" has no deployed version", function, name),
				 errhint("Deploy one with ml.deploy('%s', 'best_score').", name)));
	return dm;
}
