import Logging
import NIOConcurrencyHelpers
import PostgresNIO
import ServiceLifecycle

/// Runs the training queue (`ml.training_runs`): runs asked for through the gateway,
/// due schedules, event-driven retraining and the monitors' retrain actions. All state is
/// in PostgreSQL, so any number of daemons can run this at once: `ml.claim_run` hands a
/// run to exactly one of them (`FOR UPDATE SKIP LOCKED`, a session advisory lock held
/// while it runs) and `ml.execute_run` trains and records the outcome in one transaction,
/// so a run either produced its version or did not, whatever happens to the daemon.
///
/// Training runs on a connection of its own, without a statement timeout and with
/// `client_connection_check_interval`, so that a daemon killed mid-run stops its
/// training within a second (the run is then found and retried by any daemon). The
/// queue is polled at `ml.next_wakeup()` or `pollInterval`, whichever is sooner, and
/// `NOTIFY pgscore_jobs` wakes it at once.
final class JobRunner: Service, Sendable {
    struct Settings: Sendable {
        /// who claims runs: recorded in ml.training_runs.claimed_by
        var worker: String
        /// longest sleep between two looks at the queue
        var pollInterval: Duration
        /// how often ml.run_monitors is called (each monitor has its own period)
        var monitorInterval: Duration
    }

    private let database: Database
    /// the one training connection, waited for at most 30 s
    private let jobDatabase: Database
    private let follower: ServerFollower
    /// which of the follower's pools LISTENs
    private let listenPool: Int
    private let settings: Settings
    private let metrics: GatewayMetrics
    private let logger: Logger
    private let warnings: RateLimitedWarnings
    private let state = NIOLockedValueBox(State())

    private struct State {
        var shuttingDown = false
        var runningBackendPID: Int?
        /// a notification or a local enqueue came while the queue loop slept
        var rung = false
    }

    init(database: Database, jobPool: Int, listenPool: Int, settings: Settings,
         metrics: GatewayMetrics, logger: Logger) {
        self.database = database
        // its own metrics object: the pool gauges at /metrics are the request pool's
        self.jobDatabase = Database(follower: database.follower, pool: jobPool, queueTimeout: .seconds(30), poolSize: 1,
                                    metrics: GatewayMetrics(poolSize: 1))
        self.follower = database.follower
        self.listenPool = listenPool
        self.settings = settings
        self.metrics = metrics
        var logger = logger
        logger[metadataKey: "worker"] = .string(settings.worker)
        self.logger = logger
        self.warnings = RateLimitedWarnings(logger: logger)
    }

    var isAccepting: Bool { !state.withLockedValue { $0.shuttingDown } }

    /// Look at the queue now (a run was just queued by this daemon).
    func wake() { state.withLockedValue { $0.rung = true } }

    func run() async throws {
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await self.runMonitors() }
                group.addTask { await self.maintainPredictionLog() }
                group.addTask { await self.listen() }
                // At shutdown the queue loop ends once the run in progress is recorded
                // (cancelled, failed, retry queued); only then are the others stopped.
                // Cancelling it earlier would drop the connection mid-run.
                await self.runQueue()
                group.cancelAll()
            }
        } onGracefulShutdown: {
            let pid = self.state.withLockedValue { state -> Int? in
                state.shuttingDown = true
                return state.runningBackendPID
            }
            if pid != nil { Task { await self.cancelRunningTraining() } }
        }
    }

    // MARK: the queue

    /// Ends at shutdown and when the runner is cancelled (another service failed): a
    /// cancellation is never retried.
    private func runQueue() async {
        var backoff = RetryBackoff()
        while isAccepting && !Task.isCancelled {
            do {
                if try await claimAndExecute() { backoff.reset(); continue }
                let due = try await database.withConnection { connection in
                    try await connection.firstRow("SELECT ml.next_wakeup()", as: Double?.self)
                }
                backoff.reset()
                let seconds = min(max((due ?? nil) ?? 60, 0), settings.pollInterval / .seconds(1))
                if seconds > 0 { await sleep(upTo: .milliseconds(Int64(seconds * 1000))) }
            } catch {
                if Self.isCancellation(error) { return }
                warnings.warning("the training queue could not be read; trying again", error: Self.describe(error))
                await sleep(upTo: backoff.next())
            }
        }
    }

    /// Claims one due run and trains it; false when nothing was due.
    private func claimAndExecute() async throws -> Bool {
        try await jobDatabase.withConnection { connection -> Bool in
            // each change of a run's state is committed (and confirmed) before it is acted on
            let claimed = try await connection.transaction {
                try await $0.firstRow(
                    "SELECT id, project, kind, attempt, backend_pid FROM ml.claim_run(\(self.settings.worker))",
                    as: (Int, String, String, Int, Int).self)
            }
            guard let (runID, project, kind, attempt, pid) = claimed else { return false }
            var logger = self.logger
            logger[metadataKey: "run_id"] = "\(runID)"
            logger[metadataKey: "project"] = .string(project)
            let stopping = self.state.withLockedValue { state -> Bool in
                state.runningBackendPID = pid
                return state.shuttingDown
            }
            defer { self.state.withLockedValue { $0.runningBackendPID = nil } }
            if stopping {
                try await connection.transaction {
                    try await $0.execute("SELECT ml.fail_run(\(runID)::bigint, 'the daemon shut down before the run started')")
                }
                return true
            }
            logger.info("training run started", metadata: ["kind": .string(kind), "attempt": "\(attempt)"])
            do {
                let outcome = try await connection.transaction {
                    try await $0.firstRow(
                        "SELECT status, error, version, deployed FROM ml.execute_run(\(runID)::bigint)",
                        as: (String, String?, Int?, Bool?).self)
                }
                let status = outcome?.0 ?? "failed"
                self.metrics.recordTrainingRun(status: status)
                if status == "succeeded" {
                    logger.info("training run succeeded", metadata: [
                        "version": "\(outcome?.2 ?? 0)", "deployed": "\(outcome?.3 ?? false)",
                    ])
                } else {
                    logger.warning("training run failed", metadata: ["error": .string(outcome?.1 ?? "unknown")])
                }
            } catch {
                // ml.execute_run records every failure itself; this is the connection
                // failing under it. Record what we can and free the run's lock.
                logger.warning("training run interrupted", metadata: ["error": "\(Self.describe(error))"])
                try? await connection.execute(
                    "SELECT ml.fail_run(\(runID)::bigint, \("the daemon lost the run: " + Self.describe(error)))")
                try? await connection.execute("SELECT pg_advisory_unlock_all()")
                throw error
            }
            return true
        }
    }

    /// Cancels the statement of the run in progress (shutdown): ml.execute_run records
    /// it as failed and queues its retry, for this daemon or another.
    private func cancelRunningTraining() async {
        // Again each second while the run lasts: a cancel that reaches the backend before
        // ml.execute_run's statement does is lost.
        while let pid = state.withLockedValue({ $0.runningBackendPID }) {
            logger.info("cancelling the training run in progress", metadata: ["backend_pid": "\(pid)"])
            do {
                _ = try await database.withConnection { connection in
                    try await connection.firstRow("SELECT pg_cancel_backend(\(pid)::int)", as: Bool.self)
                }
            } catch {
                logger.warning("could not cancel the training run", metadata: ["error": "\(Self.describe(error))"])
            }
            try? await Task.sleep(for: .seconds(1))
        }
    }

    // MARK: monitoring

    private func runMonitors() async {
        var backoff = RetryBackoff(initial: settings.monitorInterval)
        while !Task.isCancelled && isAccepting {
            var wait = settings.monitorInterval
            do {
                let actions = try await database.withTransaction { connection in
                    try await connection.firstRow(
                        "SELECT count(*)::int FROM ml.run_monitors(\(self.settings.worker))", as: Int.self)
                }
                if let actions, actions > 0 {
                    logger.notice("monitors acted", metadata: ["actions": "\(actions)"])
                }
                backoff.reset()
            } catch {
                if Self.isCancellation(error) { return }
                warnings.warning("monitors could not run", error: Self.describe(error))
                wait = max(wait, backoff.next())
            }
            try? await Task.sleep(for: wait)
        }
    }

    /// `ml.maintain_prediction_log()` at start and every 10 minutes (after a failure,
    /// again in a minute): the daily partitions of ml.predictions are made two days
    /// ahead, and those past `ml.set_retention` dropped.
    private func maintainPredictionLog() async {
        while !Task.isCancelled && isAccepting {
            var pause = Duration.seconds(600)
            do {
                let changed = try await database.withTransaction { connection in
                    try await connection.firstRow(
                        "SELECT array_to_string(created, ' '), array_to_string(dropped, ' '), deleted FROM ml.maintain_prediction_log()",
                        as: (String?, String?, Int?).self)
                }
                if let (created, dropped, deleted) = changed,
                   !(created ?? "").isEmpty || !(dropped ?? "").isEmpty || (deleted ?? 0) > 0 {
                    logger.notice("prediction log maintained", metadata: [
                        "created": .string(created ?? ""), "dropped": .string(dropped ?? ""), "deleted": "\(deleted ?? 0)"])
                }
            } catch {
                if Self.isCancellation(error) { return }
                warnings.warning("the prediction log could not be maintained", error: Self.describe(error))
                pause = .seconds(60)
            }
            try? await Task.sleep(for: pause)
        }
    }

    // MARK: wake-ups

    /// LISTEN pgscore_jobs on a connection of its own; a notification only rings the
    /// doorbell (the queue table is the truth), so a lost one costs one poll interval.
    private func listen() async {
        var backoff = RetryBackoff(initial: .seconds(1))
        while !Task.isCancelled && isAccepting {
            // (the current server's: after a failover, the new primary's)
            let generation = follower.current
            do {
                try await generation.clients[listenPool].withConnection { connection in
                    for try await _ in try await connection.listen("pgscore_jobs") {
                        self.wake()
                    }
                }
            } catch {
                if Task.isCancelled || !isAccepting { return }
                if Database.isServerLost(error) { follower.serverLost(generation: generation.number) }
                logger.debug("LISTEN pgscore_jobs failed; trying again", metadata: ["error": "\(Self.describe(error))"])
            }
            try? await Task.sleep(for: backoff.next())
        }
    }

    /// Sleeps until `duration` has passed, a wake-up came or the daemon stops; looks at
    /// the flag every 50 ms (simpler than racing a sleep with a continuation, and cheap).
    /// The pools moving to a new server (a failover) also wakes it: the backoff of the
    /// outage must not delay the work on the new primary.
    private func sleep(upTo duration: Duration) async {
        let clock = ContinuousClock()
        let deadline = clock.now + duration
        let generation = follower.current.number
        while clock.now < deadline && isAccepting && !Task.isCancelled && follower.current.number == generation {
            if state.withLockedValue({ state -> Bool in
                defer { state.rung = false }
                return state.rung
            }) { return }
            try? await Task.sleep(for: min(.milliseconds(50), deadline - clock.now))
        }
    }

    /// The runner is being cancelled: the error is that, or came from it.
    static func isCancellation(_ error: any Error) -> Bool {
        error is CancellationError || Task.isCancelled
    }

    static func describe(_ error: any Error) -> String {
        if let problem = Problem.from(database: error) { return problem.detail }
        if let problem = error as? Problem { return problem.detail }
        return String(reflecting: error)
    }
}
