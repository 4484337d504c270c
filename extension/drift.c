/*
 * drift.c -- ml.psi(expected, observed): the population stability index, computed by
 * the Swift core (Drift.populationStabilityIndex); the monitors call it per feature.
 */
#include "pgscore.h"
#include "pgscore_abi_metrics.h"

#include "utils/array.h"

PG_FUNCTION_INFO_V1(ml_psi);
Datum
ml_psi(PG_FUNCTION_ARGS)
{
	float8		expected_buf[PGSCORE_MAX_FEATURES];
	float8		observed_buf[PGSCORE_MAX_FEATURES];
	bool		nulls;
	int			n_expected,
				n_observed;
	const float8 *expected = pgscore_features(PG_GETARG_DATUM(0), "ml.psi", expected_buf, &n_expected, &nulls);
	const float8 *observed;
	char		err[PGSC_ERRBUF];
	double		psi;
	int32		status;

	if (nulls)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("ml.psi: expected shares must not be NULL")));
	observed = pgscore_features(PG_GETARG_DATUM(1), "ml.psi", observed_buf, &n_observed, &nulls);
	if (nulls)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("ml.psi: observed counts must not be NULL")));
	if (n_expected != n_observed)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("ml.psi: %d expected shares but %d observed counts: one of each per bin",
						n_expected, n_observed)));
	status = pgsc_psi(expected, observed, n_expected, PG_GETARG_FLOAT8(2), &psi, err);
	if (status != PGSC_OK)
		pgscore_raise(status, err, "ml.psi");
	PG_RETURN_FLOAT8(psi);
}
