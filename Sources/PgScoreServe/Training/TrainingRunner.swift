import Logging
import NIOConcurrencyHelpers
import PostgresNIO
import ServiceLifecycle

/// Runs `ml.train` for `POST /v1/projects/{project}/train`, one run at a time, on its own
/// connection (its own one-connection client, without a statement timeout), so training
/// never takes a connection from the requests' pool. Each run's state is kept in
/// `ml.training_runs`, written through the requests' pool.
///
/// On graceful shutdown it takes no more runs; a run in progress is cancelled
/// (`pg_cancel_backend`) and recorded as failed, as are runs still queued.
final class TrainingRunner: Service, Sendable {
    struct Job: Sendable {
        let runID: Int
        let project: String
        let request: TrainingRequest
    }

    private let database: Database
    /// The one-connection training client, with a bounded wait for its connection.
    private let trainingDatabase: Database
    private let metrics: GatewayMetrics
    private let logger: Logger
    private let stream: AsyncStream<Job>
    private let continuation: AsyncStream<Job>.Continuation
    private let state = NIOLockedValueBox(State())

    private struct State {
        var accepting = true
        var shuttingDown = false
        var runningBackendPID: Int?
    }

    init(database: Database, trainingClient: PostgresClient, metrics: GatewayMetrics, logger: Logger) {
        self.database = database
        // its own metrics object: the pool gauges at /metrics are the request pool's
        self.trainingDatabase = Database(client: trainingClient, queueTimeout: .seconds(30), poolSize: 1,
                                         metrics: GatewayMetrics(poolSize: 1))
        self.metrics = metrics
        self.logger = logger
        (stream, continuation) = AsyncStream.makeStream(of: Job.self)
    }

    /// Queues a run already recorded in ml.training_runs; false when shutting down.
    func submit(_ job: Job) -> Bool {
        let accepted = state.withLockedValue { $0.accepting }
        guard accepted else { return false }
        if case .enqueued = continuation.yield(job) { return true }
        return false
    }

    var isAccepting: Bool { state.withLockedValue { $0.accepting } }

    func run() async throws {
        await withGracefulShutdownHandler {
            for await job in stream {
                if state.withLockedValue({ $0.shuttingDown }) {
                    await finish(job, failure: "the daemon shut down before the run started")
                    continue
                }
                await execute(job)
            }
        } onGracefulShutdown: {
            let pid = self.state.withLockedValue { state -> Int? in
                state.accepting = false
                state.shuttingDown = true
                return state.runningBackendPID
            }
            self.continuation.finish()
            if pid != nil {
                // Again each second while the run lasts: a cancel that reaches the backend
                // before ml.train's statement does is lost.
                Task {
                    while let pid = self.state.withLockedValue({ $0.runningBackendPID }) {
                        self.logger.info("cancelling the training run in progress", metadata: ["backend_pid": "\(pid)"])
                        do {
                            try await self.cancelBackend(pid)
                        } catch {
                            self.logger.warning("could not cancel the training run", metadata: ["error": "\(String(reflecting: error))"])
                        }
                        try? await Task.sleep(for: .seconds(1))
                    }
                }
            }
        }
    }

    private func cancelBackend(_ pid: Int) async throws {
        let cancelled = try await database.withConnection { connection in
            try await connection.firstRow("SELECT pg_cancel_backend(\(pid)::int)", as: Bool.self)
        }
        logger.info("training run cancelled", metadata: ["backend_pid": "\(pid)", "signalled": "\(cancelled ?? false)"])
    }

    private func execute(_ job: Job) async {
        var logger = logger
        logger[metadataKey: "run_id"] = "\(job.runID)"
        logger[metadataKey: "project"] = "\(job.project)"
        do {
            try await database.withConnection { connection in
                try await connection.execute(
                    "UPDATE ml.training_runs SET status = 'running', started_at = now() WHERE id = \(job.runID)")
            }
            logger.info("training started")
            let request = job.request
            let (version, result) = try await trainingDatabase.withConnection { connection -> (Int, String) in
                let pid = try await connection.firstRow("SELECT pg_backend_pid()", as: Int.self)
                let cancelled = self.state.withLockedValue { state -> Bool in
                    state.runningBackendPID = pid
                    return state.shuttingDown
                }
                defer { self.state.withLockedValue { $0.runningBackendPID = nil } }
                if cancelled { throw CancellationError() }
                let row = try await connection.firstRow(
                    """
                    SELECT t.version, to_jsonb(t)::text
                      FROM ml.train(\(job.project), \(request.source), \(request.label), \(request.algorithm),
                                    \(request.hyperparams)::jsonb, \(request.testFraction)::float8, \(request.seed)::int,
                                    \(request.exclude)::text[]) t
                    """, as: (Int, String).self)
                if let (version, result) = row { return (version, result) }
                throw Problem.internalError("ml.train returned no row")
            }
            try await database.withConnection { connection in
                try await connection.execute(
                    """
                    UPDATE ml.training_runs SET status = 'succeeded', version = \(version), result = \(result)::jsonb,
                           finished_at = now() WHERE id = \(job.runID)
                    """)
            }
            metrics.recordTrainingRun(status: "succeeded")
            logger.info("training succeeded", metadata: ["version": "\(version)"])
        } catch {
            let message: String
            if state.withLockedValue({ $0.shuttingDown }) {
                message = "cancelled: the daemon shut down during the run"
            } else if let problem = Problem.from(database: error) {
                message = problem.detail
            } else if let problem = error as? Problem {
                message = problem.detail
            } else {
                message = String(reflecting: error)
            }
            logger.warning("training failed", metadata: ["error": "\(message)"])
            await finish(job, failure: message)
        }
    }

    private func finish(_ job: Job, failure message: String) async {
        do {
            try await database.withConnection { connection in
                try await connection.execute(
                    """
                    UPDATE ml.training_runs SET status = 'failed', error = \(message), finished_at = now()
                     WHERE id = \(job.runID)
                    """)
            }
            metrics.recordTrainingRun(status: "failed")
        } catch {
            logger.error("could not record the failure of a training run", metadata: [
                "run_id": "\(job.runID)", "error": "\(String(reflecting: error))",
            ])
        }
    }
}
