-- pgscore 0.1.0: machine learning inside PostgreSQL. Schema ml.
\echo Use "CREATE EXTENSION pgscore" to load this file. \quit
