/*
 * row_encoder.c -- see row_encoder.h.
 */
#include "row_encoder.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/typcache.h"
#include "utils/fmgrprotos.h"

/*
 * Numbers that SQL writes as text: money, dates, timestamps and intervals. ml.train
 * reads them as numbers (see number_of); a JSON object sends them as strings, which
 * are read with the type's input function. And char(n), whose JSON text is padded. Types are recognised by the name ml.train
 * records (regtype output), never by parsing an arbitrary name from a model value.
 */
static Oid
trained_type(const char *name)
{
	static const struct
	{
		const char *name;
		Oid			type;
	}			known[] = {
		{"money", CASHOID},
		{"date", DATEOID},
		{"timestamp without time zone", TIMESTAMPOID},
		{"timestamp with time zone", TIMESTAMPTZOID},
		{"interval", INTERVALOID},
		{"character", BPCHAROID},
	};

	if (name != NULL)
		for (int k = 0; k < lengthof(known); k++)
			if (strcmp(name, known[k].name) == 0)
				return known[k].type;
	return InvalidOid;
}

RowEncoder *
row_encoder_create(MemoryContext context, void *pre)
{
	RowEncoder *enc = MemoryContextAllocZero(context, sizeof(RowEncoder));
	int			n = (int) pgsc_preprocessor_columns(pre);

	enc->context = context;
	enc->pre = pre;
	enc->columns = n;
	enc->features = (int) pgsc_preprocessor_features(pre);
	enc->attnum = MemoryContextAllocZero(context, sizeof(int) * Max(n, 1));
	enc->atttype = MemoryContextAllocZero(context, sizeof(Oid) * Max(n, 1));
	enc->output = MemoryContextAllocZero(context, sizeof(FmgrInfo) * Max(n, 1));
	enc->kinds = MemoryContextAllocZero(context, sizeof(int32) * Max(n, 1));
	enc->numbers = MemoryContextAllocZero(context, sizeof(double) * Max(n, 1));
	enc->texts = MemoryContextAllocZero(context, sizeof(char *) * Max(n, 1));
	enc->lengths = MemoryContextAllocZero(context, sizeof(int32) * Max(n, 1));
	enc->trained = MemoryContextAllocZero(context, sizeof(Oid) * Max(n, 1));
	enc->categorical = -1;
	for (int i = 0; i < n; i++)
	{
		enc->trained[i] = trained_type(pgsc_preprocessor_column_type(pre, i));
		if (enc->categorical < 0 && pgsc_preprocessor_column_categorical(pre, i) == 1)
			enc->categorical = i;
	}
	enc->rowtype = InvalidOid;
	return enc;
}

/* The preprocessor's column names, for messages. */
static char *
column_list(RowEncoder *enc)
{
	StringInfoData names;
	int			j;

	initStringInfo(&names);
	for (j = 0; j < enc->columns; j++)
		appendStringInfo(&names, "%s%s", j ? ", " : "", pgsc_preprocessor_column(enc->pre, j));
	return names.data;
}

static bool
is_number_type(Oid t)
{
	return t == FLOAT8OID || t == FLOAT4OID || t == INT2OID || t == INT4OID ||
		t == INT8OID || t == NUMERICOID || t == BOOLOID || t == CASHOID ||
		t == DATEOID || t == TIMESTAMPOID || t == TIMESTAMPTZOID || t == INTERVALOID;
}

static bool
is_text_type(Oid t)
{
	return t == TEXTOID || t == VARCHAROID || t == BPCHAROID || t == NAMEOID;
}

/* Matches the preprocessor's columns to the row's attributes by name. */
void
row_encoder_map(RowEncoder *enc, TupleDesc desc, Oid rowtype, int32 rowtypmod, const char *function)
{
	int			i,
				a;

	for (i = 0; i < enc->columns; i++)
	{
		const char *name = pgsc_preprocessor_column(enc->pre, i);
		int			found = 0;

		for (a = 0; a < desc->natts; a++)
		{
			Form_pg_attribute att = TupleDescAttr(desc, a);

			if (!att->attisdropped && strcmp(NameStr(att->attname), name) == 0)
			{
				found = a + 1;
				break;
			}
		}
		if (found == 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("%s: the row has no column \"%s\"", function, name),
					 errdetail("The model was trained on the columns %s.", column_list(enc)),
					 errhint("Pass a row with those column names (extra columns are ignored).")));
		enc->attnum[i] = found;
		enc->atttype[i] = getBaseType(TupleDescAttr(desc, found - 1)->atttypid);
		if (!is_number_type(enc->atttype[i]) && !is_text_type(enc->atttype[i]))
		{
			Oid			out;
			bool		varlena;

			getTypeOutputInfo(enc->atttype[i], &out, &varlena);
			fmgr_info_cxt(out, &enc->output[i], enc->context);
		}
	}
	enc->rowtype = rowtype;
	enc->rowtypmod = rowtypmod;
}

static double
numeric_number(Datum n)
{
	/* NaN and infinities come through, for the preprocessor to refuse by column name */
	return DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow, n));
}

/* A number as ml.train reads it: money as numeric, date/time as epoch seconds. */
static double
number_of(Oid t, Datum d)
{
	switch (t)
	{
		case CASHOID:
			return numeric_number(DirectFunctionCall1(cash_numeric, d));
		case DATEOID:
			return numeric_number(DirectFunctionCall2(extract_date, CStringGetTextDatum("epoch"), d));
		case TIMESTAMPOID:
			return numeric_number(DirectFunctionCall2(extract_timestamp, CStringGetTextDatum("epoch"), d));
		case TIMESTAMPTZOID:
			return numeric_number(DirectFunctionCall2(extract_timestamptz, CStringGetTextDatum("epoch"), d));
		case INTERVALOID:
			return numeric_number(DirectFunctionCall2(extract_interval, CStringGetTextDatum("epoch"), d));
		case FLOAT8OID:
			return DatumGetFloat8(d);
		case FLOAT4OID:
			return DatumGetFloat4(d);
		case INT2OID:
			return DatumGetInt16(d);
		case INT4OID:
			return DatumGetInt32(d);
		case INT8OID:
			return (double) DatumGetInt64(d);
		case BOOLOID:
			return DatumGetBool(d) ? 1.0 : 0.0;
		default:				/* NUMERICOID */
			return numeric_number(d);
	}
}

static void
encode_values(RowEncoder *enc, double *out, const char *function)
{
	char		err[PGSC_ERRBUF];
	int32		status;

	status = pgsc_preprocessor_encode(enc->pre, enc->kinds, enc->numbers, enc->texts, enc->lengths, out, err);
	if (status != PGSC_OK)
		pgscore_raise(status, err, function);
}

void
row_encoder_encode(RowEncoder *enc, HeapTuple tuple, TupleDesc desc, double *out, const char *function)
{
	int			i;

	for (i = 0; i < enc->columns; i++)
	{
		bool		isnull;
		Datum		d = heap_getattr(tuple, enc->attnum[i], desc, &isnull);
		Oid			t = enc->atttype[i];

		enc->texts[i] = NULL;
		enc->lengths[i] = 0;
		if (isnull)
			enc->kinds[i] = PGSC_VALUE_NULL;
		else if (is_number_type(t))
		{
			enc->kinds[i] = PGSC_VALUE_NUMBER;
			enc->numbers[i] = number_of(t, d);
		}
		else if (is_text_type(t) && t != NAMEOID)
		{
			text	   *txt = DatumGetTextPP(d);

			enc->kinds[i] = PGSC_VALUE_TEXT;
			enc->texts[i] = VARDATA_ANY(txt);
			/* char(n) without its padding, as its ::text cast in ml.train gives it */
			enc->lengths[i] = t == BPCHAROID ? bpchartruelen(VARDATA_ANY(txt), VARSIZE_ANY_EXHDR(txt))
				: VARSIZE_ANY_EXHDR(txt);
		}
		else
		{
			char	   *s = t == NAMEOID ? NameStr(*DatumGetName(d)) : OutputFunctionCall(&enc->output[i], d);

			enc->kinds[i] = PGSC_VALUE_TEXT;
			enc->texts[i] = s;
			enc->lengths[i] = strlen(s);
		}
	}
	encode_values(enc, out, function);
}

/*
 * A composite Datum (a row passed to a function). If encoding raises, the tuple
 * descriptor reference is released by the aborting transaction's resource owner.
 */
void
row_encoder_encode_record(RowEncoder *enc, HeapTupleHeader rec, double *out, const char *function)
{
	TupleDesc	desc = lookup_rowtype_tupdesc(HeapTupleHeaderGetTypeId(rec), HeapTupleHeaderGetTypMod(rec));

	row_encoder_encode_record_desc(enc, rec, desc, out, function);
	ReleaseTupleDesc(desc);
}

void
row_encoder_encode_record_desc(RowEncoder *enc, HeapTupleHeader rec, TupleDesc desc, double *out,
							   const char *function)
{
	Oid			rowtype = HeapTupleHeaderGetTypeId(rec);
	int32		rowtypmod = HeapTupleHeaderGetTypMod(rec);
	HeapTupleData tuple;

	if (enc->rowtype != rowtype || enc->rowtypmod != rowtypmod)
		row_encoder_map(enc, desc, rowtype, rowtypmod, function);
	tuple.t_len = HeapTupleHeaderGetDatumLength(rec);
	ItemPointerSetInvalid(&(tuple.t_self));
	tuple.t_tableOid = InvalidOid;
	tuple.t_data = rec;
	row_encoder_encode(enc, &tuple, desc, out, function);
}

/*
 * A JSON object of named features (what the REST gateway receives): keys are matched
 * to the model's columns like a row's attributes, with the values jsonb_to_record would
 * give: numbers and booleans as numbers, strings as text (numeric text and categories
 * are the preprocessor's business), null as a missing value. Extra keys are ignored;
 * every missing key is named in one error.
 */
void
row_encoder_encode_jsonb(RowEncoder *enc, Jsonb *object, double *out, const char *function)
{
	StringInfoData missing;
	int			i;

	if (!JB_ROOT_IS_OBJECT(object) || JB_ROOT_IS_SCALAR(object))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: features must be a JSON object of named values", function),
				 errhint("For example '{\"%s\": ...}'.", enc->columns > 0 ? pgsc_preprocessor_column(enc->pre, 0) : "x")));
	initStringInfo(&missing);
	for (i = 0; i < enc->columns; i++)
	{
		const char *name = pgsc_preprocessor_column(enc->pre, i);
		JsonbValue	found;
		JsonbValue *v = getKeyJsonValueFromContainer(&object->root, name, strlen(name), &found);

		enc->texts[i] = NULL;
		enc->lengths[i] = 0;
		enc->kinds[i] = PGSC_VALUE_NULL;
		if (v == NULL)
		{
			appendStringInfo(&missing, "%s\"%s\"", missing.len ? ", " : "", name);
			continue;
		}
		switch (v->type)
		{
			case jbvNull:
				break;
			case jbvNumeric:
				enc->kinds[i] = PGSC_VALUE_NUMBER;
				enc->numbers[i] = DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow,
																	 NumericGetDatum(v->val.numeric)));
				break;
			case jbvBool:
				enc->kinds[i] = PGSC_VALUE_NUMBER;
				enc->numbers[i] = v->val.boolean ? 1.0 : 0.0;
				break;
			case jbvString:
				if (OidIsValid(enc->trained[i]) && enc->trained[i] != BPCHAROID)
				{
					Oid			input,
								ioparam;
					char	   *s = pnstrdup(v->val.string.val, v->val.string.len);

					getTypeInputInfo(enc->trained[i], &input, &ioparam);
					enc->kinds[i] = PGSC_VALUE_NUMBER;
					enc->numbers[i] = number_of(enc->trained[i], OidInputFunctionCall(input, s, ioparam, -1));
					break;
				}
				enc->kinds[i] = PGSC_VALUE_TEXT;
				enc->texts[i] = v->val.string.val;
				enc->lengths[i] = enc->trained[i] == BPCHAROID ? bpchartruelen(v->val.string.val, v->val.string.len)
					: v->val.string.len;
				break;
			default:
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("%s: feature \"%s\" must be a number, a string, a boolean or null, not a JSON %s",
								function, name, v->type == jbvBinary && JsonContainerIsArray(v->val.binary.data) ? "array" : "object")));
		}
	}
	if (missing.len > 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("%s: the features lack %s", function, missing.data),
				 errdetail("The model was trained on the columns %s.", column_list(enc)),
				 errhint("Send every feature (null for an unknown value; extra keys are ignored).")));
	encode_values(enc, out, function);
}

/*
 * A float8[] of raw values, one per column in the model's column order (what
 * ml.features lists): a NULL element is a missing value, imputed (or kept missing for
 * trees) exactly as a NULL column of a row. Only for models whose columns are all
 * numbers: a category has no float8 spelling, and guessing one would score silently
 * wrong.
 */
void
row_encoder_encode_values(RowEncoder *enc, Datum values, double *out, const char *function, const char *what)
{
	float8		buffer[PGSCORE_MAX_FEATURES];
	bool		has_nulls;
	int			n;
	const float8 *x;
	bool	   *nulls = NULL;

	if (enc->categorical >= 0)
	{
		const char *name = pgsc_preprocessor_column(enc->pre, enc->categorical);

		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s: %s has the categorical column \"%s\" (%s): a float8[] of raw values cannot carry it",
						function, what, name, pgsc_preprocessor_column_type(enc->pre, enc->categorical)),
				 errdetail("The model was trained on the columns %s.", column_list(enc)),
				 errhint("Pass a row (ml.predict(project, t) FROM t) or a jsonb object (ml.predict(project, '{\"%s\": ...}'::jsonb)); "
						 "ml.predict_encoded takes an already encoded vector (ml.encode).", name)));
	}
	x = pgscore_features(values, function, buffer, &n, &has_nulls);
	if (n != enc->columns)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s: the features array has %d values, %s expects %d: %s",
						function, n, what, enc->columns, column_list(enc)),
				 errhint("Pass the raw values in that order (ml.features(project) lists them, NULL for a missing value); "
						 "ml.predict_encoded takes an already encoded vector (ml.encode).")));
	if (has_nulls)
	{
		Datum	   *elems;

		deconstruct_array(DatumGetArrayTypeP(values), FLOAT8OID, sizeof(float8), FLOAT8PASSBYVAL,
						  TYPALIGN_DOUBLE, &elems, &nulls, &n);
		for (int i = 0; i < n; i++)
			buffer[i] = nulls[i] ? 0 : DatumGetFloat8(elems[i]);
		x = buffer;
	}
	for (int i = 0; i < enc->columns; i++)
	{
		enc->texts[i] = NULL;
		enc->lengths[i] = 0;
		enc->kinds[i] = nulls != NULL && nulls[i] ? PGSC_VALUE_NULL : PGSC_VALUE_NUMBER;
		enc->numbers[i] = x[i];
	}
	encode_values(enc, out, function);
}
