/*
 * project_predict.c -- ml.predict(project, ...) and ml.predict_proba(project, ...):
 * score with the project's deployed version (looked up once per query, decoded once
 * per backend), with a float8[] of encoded features, a table row or a JSON object of
 * named features.
 */
#include "deployed.h"

#include "utils/builtins.h"
#include "utils/jsonb.h"

/* argument 1 as a row (is_json false) or a JSON object, encoded by the model's columns */
static const double *
named_features(DeployedModel *dm, FunctionCallInfo fcinfo, bool is_json, double *buffer, const char *function)
{
	char		what[NAMEDATALEN + 64];

	snprintf(what, sizeof(what), "version %d of project \"%s\"", dm->version,
			 text_to_cstring(PG_GETARG_TEXT_PP(0)));
	if (is_json)
		return scoring_encode_jsonb(&dm->sm, PG_GETARG_JSONB_P(1), buffer, function, what);
	return scoring_encode_record(&dm->sm, PG_GETARG_HEAPTUPLEHEADER(1), buffer, function, what);
}

static Datum
predict_named(FunctionCallInfo fcinfo, bool is_json, bool proba)
{
	const char *function = proba ? "ml.predict_proba" : "ml.predict";
	DeployedModel *dm = deployed_model((DeployedLookup **) &fcinfo->flinfo->fn_extra, fcinfo->flinfo->fn_mcxt, PG_GETARG_TEXT_PP(0), false, function);
	float8		buffer[PGSCORE_MAX_FEATURES];
	const double *x = named_features(dm, fcinfo, is_json, buffer, function);
	int			n = (int) dm->sm.info[PGSC_INFO_FEATURES];

	if (proba)
		PG_RETURN_ARRAYTYPE_P(scoring_proba(&dm->sm, x, n, function));
	return scoring_predict(&dm->sm, x, n, function);
}

PG_FUNCTION_INFO_V1(ml_predict_project);
Datum
ml_predict_project(PG_FUNCTION_ARGS)
{
	DeployedModel *dm = deployed_model((DeployedLookup **) &fcinfo->flinfo->fn_extra, fcinfo->flinfo->fn_mcxt, PG_GETARG_TEXT_PP(0), false, "ml.predict");
	float8		buffer[PGSCORE_MAX_FEATURES];
	int			n;
	const float8 *x = scoring_features(&dm->sm, PG_GETARG_DATUM(1), buffer, &n, "ml.predict");

	if (x == NULL)
		PG_RETURN_NULL();		/* NULL features: unknown, except for tree models (missing values) */
	return scoring_predict(&dm->sm, x, n, "ml.predict");
}

PG_FUNCTION_INFO_V1(ml_predict_proba_project);
Datum
ml_predict_proba_project(PG_FUNCTION_ARGS)
{
	DeployedModel *dm = deployed_model((DeployedLookup **) &fcinfo->flinfo->fn_extra, fcinfo->flinfo->fn_mcxt, PG_GETARG_TEXT_PP(0), false, "ml.predict_proba");
	float8		buffer[PGSCORE_MAX_FEATURES];
	int			n;
	const float8 *x = scoring_features(&dm->sm, PG_GETARG_DATUM(1), buffer, &n, "ml.predict_proba");

	if (x == NULL)
		PG_RETURN_NULL();		/* NULL features: unknown, except for tree models (missing values) */
	PG_RETURN_ARRAYTYPE_P(scoring_proba(&dm->sm, x, n, "ml.predict_proba"));
}

PG_FUNCTION_INFO_V1(ml_predict_project_row);
Datum
ml_predict_project_row(PG_FUNCTION_ARGS)
{
	return predict_named(fcinfo, false, false);
}

PG_FUNCTION_INFO_V1(ml_predict_proba_project_row);
Datum
ml_predict_proba_project_row(PG_FUNCTION_ARGS)
{
	return predict_named(fcinfo, false, true);
}

PG_FUNCTION_INFO_V1(ml_predict_project_jsonb);
Datum
ml_predict_project_jsonb(PG_FUNCTION_ARGS)
{
	return predict_named(fcinfo, true, false);
}

PG_FUNCTION_INFO_V1(ml_predict_proba_project_jsonb);
Datum
ml_predict_proba_project_jsonb(PG_FUNCTION_ARGS)
{
	return predict_named(fcinfo, true, true);
}

/* ml.deployed_version(project): the version predict(project, ...) uses now, or NULL. */
PG_FUNCTION_INFO_V1(ml_deployed_version);
Datum
ml_deployed_version(PG_FUNCTION_ARGS)
{
	DeployedModel *dm = deployed_model((DeployedLookup **) &fcinfo->flinfo->fn_extra, fcinfo->flinfo->fn_mcxt, PG_GETARG_TEXT_PP(0), true, "ml.deployed_version");

	if (dm == NULL)
		PG_RETURN_NULL();
	PG_RETURN_INT32(dm->version);
}
