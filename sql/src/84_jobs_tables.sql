-- ---------------------------------------------------------------- training jobs
-- Scheduled and event-driven training. All state is in tables; `pgscore serve` (any
-- number of replicas) only calls the functions below, each in autocommit mode:
--
--   loop: SELECT * FROM ml.claim_run(worker)      -- zero rows: nothing to do
--         SELECT * FROM ml.execute_run(run.id)    -- same session, right after
--         otherwise wait ml.next_wakeup() seconds or for NOTIFY pgscore_jobs
--
-- A run (ml.training_runs) is queued -> running -> succeeded | failed. Its params are
-- ml.train's arguments as JSON: {"source", "label", "algorithm", "hyperparams",
-- "test_fraction", "seed", "exclude", "deploy"}.
--
-- Exactly once. A schedule slot becomes one run: claim_run locks due schedules FOR
-- UPDATE SKIP LOCKED, inserts the run and moves next_run_at past now() in the same
-- transaction, and UNIQUE (schedule_id, due_at, attempt) refuses a second run of a slot.
-- A queued run is claimed by one session (FOR UPDATE SKIP LOCKED) which then holds a
-- session advisory lock on it, key (1885827939, run id mod 2^31) -- 1885827939 is
-- 'pgsc' in ASCII -- until execute_run or fail_run ends it. A run that stays 'running'
-- while nobody holds its lock lost its daemon (crash, killed connection): the next
-- claim_run anywhere marks it failed and queues its retry.
--
-- Missed slots. While no daemon runs (or a schedule's previous run is still queued or
-- running), its due slots are not queued one by one: the next claim_run queues ONE
-- catch-up run for them. Its due_at is the oldest pending slot (the schedule's
-- next_run_at) and its missed column counts the later slots that also came due up to
-- now(); next_run_at moves to the first slot after now(). A 1-minute schedule whose
-- next_run_at was 10 minutes ago gives one run with missed = 10. A paused schedule
-- queues nothing; resuming it skips the slots it missed. Likewise an event policy has at
-- most one event run queued or running: rows arriving meanwhile wait for the next one.
--
-- Retries. A failed run (an error in ml.train, a cancel, a vanished daemon, fail_run)
-- is retried while attempt < max_attempts: a new queued run with attempt + 1,
-- retry_of = the failed run and not_before = failure time + backoff * 2^(attempt - 1),
-- backoff being the schedule's retry_backoff (30 seconds for other runs). The failed
-- run itself stays in the history.
--
-- Rights. Every run records the role it is for (requested_by: who queued it, or who made
-- its schedule, event policy or monitor) and the search_path its names were written in.
-- ml.execute_run trains for that role: rights are checked and recorded as it
-- (ml._acting_role), and the source is read with the rights of the role it belongs to
-- (ml._source_reader, ml._read_as: never the daemon's). Queue, schedule and event-policy
-- functions are SECURITY DEFINER: they need the train right on the project and check,
-- with the requester's rights, that the source can be read and has the label; the
-- helpers they call are granted to no one.

CREATE TABLE ml.schedules (
    id            bigserial PRIMARY KEY,
    project       text NOT NULL CHECK (project ~ '^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$'),
    every         interval CHECK (every > interval '0'),
    cron          text,
    params        jsonb NOT NULL,
    deploy        text NOT NULL DEFAULT 'project'
                  CHECK (deploy IN ('project', 'best_score', 'most_recent', 'manual')),
    paused        boolean NOT NULL DEFAULT false,
    next_run_at   timestamptz NOT NULL,
    max_attempts  int NOT NULL DEFAULT 3 CHECK (max_attempts >= 1),
    retry_backoff interval NOT NULL DEFAULT '30 seconds' CHECK (retry_backoff >= interval '0'),
    created_by    name NOT NULL DEFAULT session_user,
    search_path   text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CHECK ((every IS NULL) <> (cron IS NULL))
);
CREATE INDEX ON ml.schedules (next_run_at) WHERE NOT paused;
COMMENT ON TABLE ml.schedules IS
  'Periodic retraining (ml.schedule): every interval or at a 5-field cron expression (UTC), ml.train''s params, a deploy override (project = the project''s policy), paused, the next slot, retries (max_attempts, retry_backoff doubling per attempt). Slots missed while no daemon ran collapse into one catch-up run.';

CREATE TABLE ml.training_runs (
    id           bigserial PRIMARY KEY,
    project      text NOT NULL,
    status       text NOT NULL DEFAULT 'queued'
                 CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
    error        text,
    params       jsonb NOT NULL DEFAULT '{}',
    version      int,
    result       jsonb,
    request_id   text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    started_at   timestamptz,
    finished_at  timestamptz,
    kind         text NOT NULL DEFAULT 'manual' CHECK (kind IN ('manual', 'schedule', 'event', 'monitor')),
    schedule_id  bigint REFERENCES ml.schedules ON DELETE SET NULL,
    due_at       timestamptz,
    attempt      int NOT NULL DEFAULT 1 CHECK (attempt >= 1),
    max_attempts int NOT NULL DEFAULT 3 CHECK (max_attempts >= 1),
    retry_of     bigint,
    not_before   timestamptz NOT NULL DEFAULT now(),
    claimed_by   text,
    backend_pid  int,
    rows         bigint,
    deployed     boolean,
    reason       text,
    missed       int NOT NULL DEFAULT 0,
    requested_by name NOT NULL DEFAULT session_user,
    search_path  text,
    UNIQUE (schedule_id, due_at, attempt)
);
CREATE INDEX ON ml.training_runs (project, id);
CREATE INDEX ON ml.training_runs (id) WHERE status IN ('queued', 'running');
COMMENT ON TABLE ml.training_runs IS
  'Training runs: manual (REST gateway, ml.enqueue_run), schedule, event or monitor. ml.train''s params, status (queued, running, succeeded, failed), the error of a failed run, the version it made with ml.train''s result, training rows and whether it deployed; for schedules the slot (due_at) and the slots it covers (missed); attempt / max_attempts / retry_of / not_before for retries; claimed_by and backend_pid of the daemon running it. UNIQUE (schedule_id, due_at, attempt): a slot never runs twice.';
COMMENT ON COLUMN ml.training_runs.missed IS 'schedule slots that came due after due_at and before this run was queued, covered by it instead of running one by one';
COMMENT ON COLUMN ml.training_runs.requested_by IS 'the role the run trains for: its rights on the project and on the source apply, and it is recorded as the version''s trainer';
COMMENT ON COLUMN ml.training_runs.rows IS 'labelled rows ml.train read (training + test rows of the version)';

CREATE TABLE ml.event_policies (
    project    text PRIMARY KEY CHECK (project ~ '^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$'),
    source     regclass NOT NULL,
    params     jsonb NOT NULL,
    after_rows int NOT NULL DEFAULT 100 CHECK (after_rows >= 1),
    quiet      interval CHECK (quiet > interval '0'),
    deploy     text NOT NULL DEFAULT 'project'
               CHECK (deploy IN ('project', 'best_score', 'most_recent', 'manual')),
    created_by name NOT NULL DEFAULT session_user,
    search_path text,
    created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE ml.event_policies IS
  'Event-driven training (ml.train_on_events): rows inserted into source queue ml.training_events; a run is due once they add up to after_rows, or once the last one is older than quiet (when set).';

CREATE TABLE ml.training_events (
    id         bigserial PRIMARY KEY,
    project    text NOT NULL,
    rows       bigint NOT NULL,
    arrived_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    run_id     bigint
);
CREATE INDEX ON ml.training_events (project, id) WHERE run_id IS NULL;
COMMENT ON TABLE ml.training_events IS
  'The durable queue of new labelled rows per project, one row per INSERT or COPY statement into an event policy''s source; run_id is set when a run consumes it.';

-- jobs are user data: pg_dump must carry them
SELECT pg_catalog.pg_extension_config_dump('ml.schedules', '');
SELECT pg_catalog.pg_extension_config_dump('ml.training_runs', '');
SELECT pg_catalog.pg_extension_config_dump('ml.event_policies', '');
SELECT pg_catalog.pg_extension_config_dump('ml.training_events', '');
SELECT pg_catalog.pg_extension_config_dump('ml.schedules_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('ml.training_runs_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('ml.training_events_id_seq', '');
