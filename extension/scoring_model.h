/*
 * scoring_model.h -- a decoded model ready to score: the Swift model handle, its
 * preprocessing (when ml.train made it), class labels as text, and a row encoder.
 * Used by the per-query cache of ml.predict(model, ...) and the per-backend cache of
 * deployed project versions.
 */
#ifndef PGSCORE_SCORING_MODEL_H
#define PGSCORE_SCORING_MODEL_H

#include "pgscore.h"
#include "row_encoder.h"

typedef struct ScoringModel
{
	MemoryContext context;		/* owns labels and encoder; NULL when closed */
	void	   *model;			/* Swift model handle */
	void	   *pre;			/* Swift preprocessor handle, or NULL */
	int64		info[PGSC_INFO_LEN];
	text	  **labels;			/* class labels, class order */
	RowEncoder *encoder;		/* made on first row-form use */
} ScoringModel;

extern void scoring_model_open(ScoringModel *sm, MemoryContext parent, const char *data, Size len,
							   const char *function);
extern void scoring_model_close(ScoringModel *sm);
extern const double *scoring_features(ScoringModel *sm, Datum features, double *buffer, int *n,
									  const char *function);
extern Datum scoring_predict(ScoringModel *sm, const double *x, int n, const char *function);
extern ArrayType *scoring_proba(ScoringModel *sm, const double *x, int n, const char *function);
extern const double *scoring_encode_record(ScoringModel *sm, HeapTupleHeader rec, double *buffer,
										   const char *function, const char *what);
extern const double *scoring_encode_tuple(ScoringModel *sm, HeapTuple tuple, TupleDesc desc, Oid rowtype,
										 double *buffer, const char *function, const char *what);
extern const double *scoring_encode_jsonb(ScoringModel *sm, Jsonb *object, double *buffer,
										 const char *function, const char *what);
extern const double *scoring_encode_values(ScoringModel *sm, Datum values, double *buffer,
										  const char *function, const char *what);
extern RowEncoder *scoring_encoder(ScoringModel *sm, const char *function, const char *what);

#endif							/* PGSCORE_SCORING_MODEL_H */
