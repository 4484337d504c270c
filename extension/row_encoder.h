/*
 * row_encoder.h -- turning a table row into a model's feature vector: the row's
 * columns are matched by name to the columns the model was trained on, converted to
 * numbers or text, and handed to the Swift preprocessor (impute, scale, one-hot).
 * A JSON object is matched by its keys, a float8[] of raw values by position.
 */
#ifndef PGSCORE_ROW_ENCODER_H
#define PGSCORE_ROW_ENCODER_H

#include "pgscore.h"

#include "access/htup.h"
#include "access/tupdesc.h"
#include "utils/jsonb.h"

typedef struct RowEncoder
{
	MemoryContext context;		/* where the encoder lives */
	void	   *pre;			/* Swift preprocessor handle (owned by whoever made it) */
	int			columns;		/* columns the preprocessor reads */
	int			features;		/* length of the encoded vector */
	Oid		   *trained;		/* column i's type in training when JSON text must be
								 * read with its input function (money, date/time) */
	int			categorical;	/* first one-hot encoded column, or -1: a float8[] of
								 * raw values cannot carry a category */
	/* mapping onto one row type, rebuilt when the row type changes */
	Oid			rowtype;
	int32		rowtypmod;
	int		   *attnum;			/* column i -> attribute number in the row */
	Oid		   *atttype;
	FmgrInfo   *output;			/* text output functions for other types */
	/* per-row scratch */
	int32	   *kinds;
	double	   *numbers;
	const char **texts;
	int32	   *lengths;
} RowEncoder;

extern RowEncoder *row_encoder_create(MemoryContext context, void *pre);
extern void row_encoder_map(RowEncoder *enc, TupleDesc desc, Oid rowtype, int32 rowtypmod,
							const char *function);
extern void row_encoder_encode(RowEncoder *enc, HeapTuple tuple, TupleDesc desc, double *out,
							   const char *function);
extern void row_encoder_encode_record(RowEncoder *enc, HeapTupleHeader rec, double *out,
									  const char *function);
/* the same with the record's descriptor at hand (a caller that keeps it for a query) */
extern void row_encoder_encode_record_desc(RowEncoder *enc, HeapTupleHeader rec, TupleDesc desc,
										   double *out, const char *function);
extern void row_encoder_encode_jsonb(RowEncoder *enc, Jsonb *object, double *out,
									 const char *function);
extern void row_encoder_encode_values(RowEncoder *enc, Datum values, double *out,
									  const char *function, const char *what);

#endif							/* PGSCORE_ROW_ENCODER_H */
