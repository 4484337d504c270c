/*
 * project_predict.c -- ml.predict(project, ...) and ml.predict_proba(project, ...):
 * score with the project's deployed version (looked up once per query, decoded once
 * per backend), with a float8[] of raw values in the model's column order, a table row,
 * a JSON object of named features, or (the _encoded forms) an already encoded vector.
 */
#include "deployed.h"

#include "utils/builtins.h"
#include "utils/jsonb.h"

/* how argument 1 carries the features */
typedef enum FeatureForm
{
	FORM_VALUES,				/* float8[] of raw values, in the model's column order */
	FORM_ROW,					/* a table row, matched by column name */
	FORM_JSON,					/* a JSON object, matched by key */
	FORM_ENCODED				/* float8[] already encoded (ml.encode), scored as is */
} FeatureForm;

static Datum
predict_project(FunctionCallInfo fcinfo, FeatureForm form, bool proba)
{
	static const char *const names[][2] = {
		{"ml.predict", "ml.predict_proba"}, {"ml.predict", "ml.predict_proba"},
		{"ml.predict", "ml.predict_proba"}, {"ml.predict_encoded", "ml.predict_proba_encoded"},
	};
	const char *function = names[form][proba];
	DeployedModel *dm = deployed_model((DeployedLookup **) &fcinfo->flinfo->fn_extra, fcinfo->flinfo->fn_mcxt, PG_GETARG_TEXT_PP(0), false, function);
	float8		buffer[PGSCORE_MAX_FEATURES];
	char		what[NAMEDATALEN + 64];
	const double *x;
	int			n = (int) dm->sm.info[PGSC_INFO_FEATURES];

	/* a model made without ml.train has no preprocessing: its raw values are its features */
	if (form == FORM_ENCODED || (form == FORM_VALUES && dm->sm.pre == NULL))
	{
		x = scoring_features(&dm->sm, PG_GETARG_DATUM(1), buffer, &n, function);
		if (x == NULL)
			PG_RETURN_NULL();	/* NULL features: unknown, except for tree models (missing values) */
	}
	else
	{
		snprintf(what, sizeof(what), "version %d of project \"%s\"", dm->version,
				 text_to_cstring(PG_GETARG_TEXT_PP(0)));
		if (form == FORM_VALUES)
			x = scoring_encode_values(&dm->sm, PG_GETARG_DATUM(1), buffer, function, what);
		else if (form == FORM_JSON)
			x = scoring_encode_jsonb(&dm->sm, PG_GETARG_JSONB_P(1), buffer, function, what);
		else
			x = scoring_encode_record(&dm->sm, PG_GETARG_HEAPTUPLEHEADER(1), buffer, function, what);
	}
	if (proba)
		PG_RETURN_ARRAYTYPE_P(scoring_proba(&dm->sm, x, n, function));
	return scoring_predict(&dm->sm, x, n, function);
}

#define PROJECT_PREDICT(symbol, form, proba) \
PG_FUNCTION_INFO_V1(symbol); \
Datum symbol(PG_FUNCTION_ARGS) { return predict_project(fcinfo, form, proba); }

PROJECT_PREDICT(ml_predict_project, FORM_VALUES, false)
PROJECT_PREDICT(ml_predict_proba_project, FORM_VALUES, true)
PROJECT_PREDICT(ml_predict_project_row, FORM_ROW, false)
PROJECT_PREDICT(ml_predict_proba_project_row, FORM_ROW, true)
PROJECT_PREDICT(ml_predict_project_jsonb, FORM_JSON, false)
PROJECT_PREDICT(ml_predict_proba_project_jsonb, FORM_JSON, true)
PROJECT_PREDICT(ml_predict_project_encoded, FORM_ENCODED, false)
PROJECT_PREDICT(ml_predict_proba_project_encoded, FORM_ENCODED, true)

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
