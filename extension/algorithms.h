/*
 * algorithms.h -- the algorithm table as the glue sees it: names and aggregates read
 * from the Swift core (ScoreCore/Algorithm.swift), an error for an id it does not know.
 */
#ifndef PGSCORE_ALGORITHMS_H
#define PGSCORE_ALGORITHMS_H

#include "pgscore.h"

extern const char *algorithm_name(int32 algorithm);
extern const char *algorithm_function(int32 algorithm);
extern void unknown_algorithm(int32 algorithm, const char *function) pg_attribute_noreturn();
extern void algorithms_check_ids(void);

#endif							/* PGSCORE_ALGORITHMS_H */
