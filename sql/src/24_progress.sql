-- ---------------------------------------------------------------- progress of long fits
-- Every backend that trains (ml.train, or a training aggregate on its own) reports in
-- its status entry in shared memory, as PostgreSQL's pg_stat_progress_* views do: other
-- sessions see it at once, outside the fit's transaction. pgscore.progress_every = N adds
-- a NOTICE every N passes of ml.train and every N million rows a training aggregate reads.

CREATE FUNCTION ml._progress_begin(algorithm int) RETURNS void
    AS 'MODULE_PATHNAME', 'ml_progress_begin' LANGUAGE C VOLATILE PARALLEL RESTRICTED;
CREATE FUNCTION ml._progress_phase(phase int, pass int, rows bigint DEFAULT NULL, what text DEFAULT NULL) RETURNS void
    AS 'MODULE_PATHNAME', 'ml_progress_phase' LANGUAGE C VOLATILE PARALLEL RESTRICTED;
CREATE FUNCTION ml._progress_end() RETURNS void
    AS 'MODULE_PATHNAME', 'ml_progress_end' LANGUAGE C VOLATILE PARALLEL RESTRICTED;
CREATE FUNCTION ml._fits_in_progress(OUT pid int, OUT algorithm int, OUT phase text, OUT pass int,
                                     OUT rows_read bigint, OUT rows_per_pass bigint, OUT started timestamptz)
RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'ml_fits_in_progress' LANGUAGE C VOLATILE STRICT PARALLEL RESTRICTED;

CREATE VIEW ml.fits_in_progress AS
SELECT f.pid, a.usename AS role, alg.name AS algorithm, f.phase, f.pass, f.rows_read, f.rows_per_pass,
       f.started, clock_timestamp() - f.started AS elapsed, a.query
  FROM ml._fits_in_progress() f
  LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = f.pid
  LEFT JOIN ml.algorithms() alg ON alg.id = f.algorithm;
COMMENT ON VIEW ml.fits_in_progress IS
  'Fits running now, one row per backend (a parallel worker has its own): algorithm, phase (reading the source, statistics, fitting, evaluating), passes finished (a fit in passes runs several), rows read in the current pass (updated every 16384 rows), rows of the last pass, start and elapsed time. Shows the fits of roles the caller has the privileges of, or all with pg_read_all_stats, as pg_stat_activity does.';
-- only ml.train reports phases (the training aggregates report rows from C)
REVOKE EXECUTE ON FUNCTION ml._progress_begin(int), ml._progress_phase(int, int, bigint, text), ml._progress_end() FROM PUBLIC;
