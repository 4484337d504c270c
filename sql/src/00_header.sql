-- pgscore: machine learning inside PostgreSQL. Schema ml. (Version: default_version in extension/pgscore.control.)
\echo Use "CREATE EXTENSION pgscore" to load this file. \quit
