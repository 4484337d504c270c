/*
 * run_as.h -- running user-supplied SQL as the role it belongs to (run_as.c), shared by
 * the copy into a temporary table (ml._read_as) and the passes of ml.train
 * (source_passes.c).
 */
#ifndef PGSCORE_RUN_AS_H
#define PGSCORE_RUN_AS_H

#include "postgres.h"

/* State for running the user's part of the work as another role. */
typedef struct UserPhase
{
	Oid			role;
	const char *search_path;
	Oid			saved_user;
	int			saved_context;
	Oid			saved_acting;
	int			guc_level;
} UserPhase;

extern void check_single_select(const char *sql, const char *function);
extern void enter_user_phase(UserPhase *phase);
extern void leave_user_phase(UserPhase *phase);
extern void abandon_user_phase(UserPhase *phase);

#endif
