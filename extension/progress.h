/*
 * progress.h -- progress of long fits (progress.c): ml.fits_in_progress and the NOTICEs
 * of pgscore.progress_every.
 */
#ifndef PGSCORE_PROGRESS_H
#define PGSCORE_PROGRESS_H

extern int	pgscore_progress_every;

extern void progress_define_settings(void);
extern void progress_rows(int32 algorithm, int64 rows, const char *function);
extern void progress_aggregate_done(void);

#endif							/* PGSCORE_PROGRESS_H */
