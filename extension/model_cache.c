/*
 * model_cache.c -- the decoded models of one call site of ml.predict(model, ...).
 *
 * Decoding a model costs far more than scoring a row, so each call site keeps the
 * decoded models (ScoringModel) it has seen in fn_extra, a few at a time, and reuses
 * them while the model value is the same. They are released when the query's memory
 * goes away.
 */
#include "model_cache.h"

#include "access/detoast.h"
#include "utils/memutils.h"

/* A query may score with several models at once (a join with a models table). */
#define MODEL_CACHE_SLOTS 8

typedef struct CachedModel
{
	ScoringModel sm;			/* sm.model NULL when the slot is empty */
	uint64		last_used;
	/* identity of the cached value */
	Oid			toast_relid;	/* for values stored out of line */
	Oid			toast_valueid;
	Size		length;
	char	   *bytes;			/* a copy of the whole value (inline uncompressed values) */
	char	   *compressed;		/* the compressed bytes, for values stored compressed inline */
	Size		compressed_length;
} CachedModel;

typedef struct ModelCache
{
	MemoryContext context;
	uint64		clock;
	int			last;			/* slot of the last hit: checked first */
	CachedModel slots[MODEL_CACHE_SLOTS];
	MemoryContextCallback release;
} ModelCache;

/* Runs when the query's memory goes away (normally or on ERROR). */
static void
model_cache_release(void *arg)
{
	ModelCache *mc = (ModelCache *) arg;
	int			i;

	/* the slots' memory contexts are children of the one going away */
	for (i = 0; i < MODEL_CACHE_SLOTS; i++)
	{
		if (mc->slots[i].sm.model != NULL)
			pgsc_model_release(mc->slots[i].sm.model);
		if (mc->slots[i].sm.pre != NULL)
			pgsc_preprocessor_release(mc->slots[i].sm.pre);
	}
}

static ModelCache *
model_cache_for(FunctionCallInfo fcinfo)
{
	ModelCache *mc = (ModelCache *) fcinfo->flinfo->fn_extra;

	if (mc == NULL)
	{
		mc = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(ModelCache));
		mc->context = fcinfo->flinfo->fn_mcxt;
		mc->release.func = model_cache_release;
		mc->release.arg = mc;
		MemoryContextRegisterResetCallback(mc->context, &mc->release);
		fcinfo->flinfo->fn_extra = mc;
	}
	return mc;
}

/*
 * The decoded model for argument 0: a cached one when it is the same value (same
 * TOAST pointer, same compressed bytes, or the same bytes: length and memcmp against
 * a stored copy; never a checksum, which anyone can collide), else decoded into the
 * least recently used slot.
 */
ScoringModel *
model_for_call(FunctionCallInfo fcinfo, const char *function)
{
	ModelCache *mc = model_cache_for(fcinfo);
	struct varlena *raw = (struct varlena *) PG_GETARG_POINTER(0);
	struct varlena *v = NULL;
	struct varatt_external ext = {0};
	bool		external = VARATT_IS_EXTERNAL_ONDISK(raw);
	CachedModel *victim = &mc->slots[0];
	int			i;

	/*
	 * A model stored compressed inline (a few kB with its preprocessing) is recognised
	 * by its compressed bytes, so that a constant model is not decompressed per row.
	 */
	bool		compressed = !external && VARATT_IS_COMPRESSED(raw);

	if (external)
		VARATT_EXTERNAL_GET_POINTER(ext, raw);
	else if (!compressed)
		v = VARATT_IS_EXTENDED(raw) && !VARATT_IS_SHORT(raw) ? pg_detoast_datum_packed(raw) : raw;
	mc->clock++;
	for (i = 0; i < MODEL_CACHE_SLOTS; i++)
	{
		int			slot = (mc->last + i) % MODEL_CACHE_SLOTS;
		CachedModel *cm = &mc->slots[slot];
		bool		same;

		if (cm->sm.model == NULL)
		{
			victim = cm;
			continue;
		}
		if (external)
			same = cm->toast_valueid == ext.va_valueid && cm->toast_relid == ext.va_toastrelid;
		else if (compressed)
			same = cm->compressed != NULL && cm->compressed_length == VARSIZE_4B(raw) &&
				memcmp(cm->compressed, raw, cm->compressed_length) == 0;
		else
			same = cm->toast_valueid == InvalidOid && cm->compressed == NULL && cm->bytes != NULL &&
				VARSIZE_ANY_EXHDR(v) == cm->length &&
				memcmp(VARDATA_ANY(v), cm->bytes, cm->length) == 0;
		if (same)
		{
			cm->last_used = mc->clock;
			mc->last = slot;
			return &cm->sm;
		}
		if (victim->sm.model != NULL && cm->last_used < victim->last_used)
			victim = cm;
	}
	if (external || compressed)
		v = pg_detoast_datum_packed(raw);
	scoring_model_close(&victim->sm);
	if (victim->compressed != NULL)
		pfree(victim->compressed);
	victim->compressed = NULL;
	if (victim->bytes != NULL)
		pfree(victim->bytes);
	victim->bytes = NULL;
	if (compressed)
	{
		victim->compressed_length = VARSIZE_4B(raw);
		victim->compressed = MemoryContextAlloc(mc->context, victim->compressed_length);
		memcpy(victim->compressed, raw, victim->compressed_length);
	}
	scoring_model_open(&victim->sm, mc->context, VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v), function);
	victim->length = VARSIZE_ANY_EXHDR(v);
	if (!external && !compressed)
	{
		victim->bytes = MemoryContextAlloc(mc->context, Max(victim->length, 1));
		memcpy(victim->bytes, VARDATA_ANY(v), victim->length);
	}
	victim->toast_relid = external ? ext.va_toastrelid : InvalidOid;
	victim->toast_valueid = external ? ext.va_valueid : InvalidOid;
	victim->last_used = mc->clock;
	mc->last = victim - mc->slots;
	return &victim->sm;
}
