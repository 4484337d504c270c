/*
 * progress.c -- what a long fit reports while it runs: the view ml.fits_in_progress
 * (rows read, pass, phase, start time of every backend that trains) and, behind the
 * setting pgscore.progress_every, a NOTICE every N passes and every N million rows.
 *
 * The numbers live where PostgreSQL's own progress views (pg_stat_progress_*) keep
 * theirs: the backend's status entry in shared memory, written with
 * pgstat_progress_update_param, so other sessions see them at once and outside the
 * fit's transaction, and an error resets them (AbortTransaction ends the command). The
 * command id is one PostgreSQL does not use, so its own views never show our fits.
 */
#include "pgscore.h"

#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/backend_progress.h"
#include "utils/backend_status.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "progress.h"

/* far from PostgreSQL's PROGRESS_COMMAND_* (0..6 in 15) */
#define PGSCORE_PROGRESS_COMMAND	((ProgressCommandType) 0x5053)

#define PARAM_ALGORITHM		0
#define PARAM_PHASE			1
#define PARAM_PASS			2
#define PARAM_ROWS			3
#define PARAM_STARTED		4
#define PARAM_PASS_ROWS		5	/* rows the last finished pass read */

int			pgscore_progress_every = 0;

/* a fit started by a training aggregate itself (not ml.train): the final function ends it */
static bool started_by_aggregate = false;

static const char *const phase_names[] = {"", "reading", "statistics", "fitting", "evaluating"};

void
progress_define_settings(void)
{
	DefineCustomIntVariable("pgscore.progress_every",
							"Every this many passes, and million rows read by a training aggregate, a fit reports a NOTICE (0: never).",
							"ml.fits_in_progress shows every fit as it runs, whatever this says.",
							&pgscore_progress_every,
							0, 0, 1000000,
							PGC_USERSET, 0,
							NULL, NULL, NULL);
}

static bool
reporting(void)
{
	return MyBEEntry != NULL && MyBEEntry->st_progress_command == PGSCORE_PROGRESS_COMMAND;
}

static void
begin(int32 algorithm)
{
	pgstat_progress_start_command(PGSCORE_PROGRESS_COMMAND, InvalidOid);
	pgstat_progress_update_param(PARAM_ALGORITHM, algorithm);
	pgstat_progress_update_param(PARAM_STARTED, GetCurrentTimestamp());
}

/* Called by training transitions with the rows they read so far. */
void
progress_rows(int32 algorithm, int64 rows, const char *function)
{
	if ((rows & 0x3FFF) == 1)
	{
		if (!reporting())
		{
			begin(algorithm);
			pgstat_progress_update_param(PARAM_PHASE, 3);
			started_by_aggregate = true;
		}
	}
	if ((rows & 0x3FFF) == 0 && reporting())
		pgstat_progress_update_param(PARAM_ROWS, rows);
	if (pgscore_progress_every > 0 && rows % ((int64) pgscore_progress_every * 1000000) == 0)
		ereport(NOTICE,
				(errmsg("%s: " INT64_FORMAT " million rows read", function, rows / 1000000)));
}

/* Called by the final functions of training aggregates. */
void
progress_aggregate_done(void)
{
	if (started_by_aggregate && reporting())
		pgstat_progress_end_command();
	started_by_aggregate = false;
}

/* Starts reporting (phase "reading"); once started, only names the algorithm. */
PG_FUNCTION_INFO_V1(ml_progress_begin);
Datum
ml_progress_begin(PG_FUNCTION_ARGS)
{
	if (reporting() && !started_by_aggregate)
	{
		pgstat_progress_update_param(PARAM_ALGORITHM, PG_GETARG_INT32(0));
		PG_RETURN_VOID();
	}
	begin(PG_GETARG_INT32(0));
	pgstat_progress_update_param(PARAM_PHASE, 1);
	started_by_aggregate = false;
	PG_RETURN_VOID();
}

/* phase: 1 reading, 2 statistics, 3 fitting, 4 evaluating; pass: passes finished;
 * rows: rows of the last pass (NULL: unchanged). */
PG_FUNCTION_INFO_V1(ml_progress_phase);
Datum
ml_progress_phase(PG_FUNCTION_ARGS)
{
	int32		phase = PG_GETARG_INT32(0);
	int32		pass = PG_GETARG_INT32(1);

	if (phase < 1 || phase >= (int32) lengthof(phase_names))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ml._progress_phase: unknown phase %d", phase)));
	if (!reporting())
		PG_RETURN_VOID();
	pgstat_progress_update_param(PARAM_PHASE, phase);
	pgstat_progress_update_param(PARAM_PASS, pass);
	pgstat_progress_update_param(PARAM_ROWS, 0);
	if (!PG_ARGISNULL(2))
		pgstat_progress_update_param(PARAM_PASS_ROWS, PG_GETARG_INT64(2));
	if (pgscore_progress_every > 0 && phase == 3 && pass > 0 && pass % pgscore_progress_every == 0)
		ereport(NOTICE,
				(errmsg("ml.train: pass %d done (%s)", pass,
						PG_ARGISNULL(3) ? "fitting" : text_to_cstring(PG_GETARG_TEXT_PP(3)))));
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(ml_progress_end);
Datum
ml_progress_end(PG_FUNCTION_ARGS)
{
	if (reporting())
		pgstat_progress_end_command();
	started_by_aggregate = false;
	PG_RETURN_VOID();
}

/* Every backend's fit that the caller may see (its own roles', or all with pg_read_all_stats). */
PG_FUNCTION_INFO_V1(ml_fits_in_progress);
Datum
ml_fits_in_progress(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			n = pgstat_fetch_stat_numbackends();
	bool		all = has_privs_of_role(GetUserId(), ROLE_PG_READ_ALL_STATS);
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	for (i = 1; i <= n; i++)
	{
		LocalPgBackendStatus *local = pgstat_fetch_stat_local_beentry(i);
		PgBackendStatus *be;
		Datum		values[7];
		bool		nulls[7] = {0};
		int64		phase;

		if (local == NULL)
			continue;
		be = &local->backendStatus;
		if (be->st_progress_command != PGSCORE_PROGRESS_COMMAND)
			continue;
		if (!all && !has_privs_of_role(GetUserId(), be->st_userid))
			continue;
		phase = be->st_progress_param[PARAM_PHASE];
		values[0] = Int32GetDatum(be->st_procpid);
		values[1] = Int32GetDatum((int32) be->st_progress_param[PARAM_ALGORITHM]);
		values[2] = CStringGetTextDatum(phase >= 1 && phase < (int64) lengthof(phase_names) ? phase_names[phase] : "");
		values[3] = Int32GetDatum((int32) be->st_progress_param[PARAM_PASS]);
		values[4] = Int64GetDatum(be->st_progress_param[PARAM_ROWS]);
		values[5] = Int64GetDatum(be->st_progress_param[PARAM_PASS_ROWS]);
		values[6] = TimestampTzGetDatum((TimestampTz) be->st_progress_param[PARAM_STARTED]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
