import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import PostgresNIO

/// The daemon's pool of PostgreSQL connections, with a bounded wait for a free one and
/// one deadline per request:
/// - no connection free within `queueTimeout` (or before the request's deadline): the
///   request fails fast with ``PoolUnavailable`` (503) instead of queueing without end;
/// - a connection that has not finished the request's work (statements, COMMIT) by the
///   deadline is abandoned: closed at once (its backend may have stopped answering) and
///   the request fails with ``DeadlineExceeded`` (504); the pool opens a fresh one.
/// Connections that die (a server restart) are replaced by the pool. Behind a multi-host
/// URL the pool is one of ``ServerFollower``'s: an error that says the server went or no
/// longer takes writes sets it looking for the server to use now.
struct Database: Sendable {
    let follower: ServerFollower
    /// which of the follower's pools
    let pool: Int
    let queueTimeout: Duration
    let poolSize: Int
    let metrics: GatewayMetrics
    /// why no connection comes, when it cannot be made (nil: not looked into)
    var diagnosis: ConnectionDiagnosis? = nil

    init(follower: ServerFollower, pool: Int, queueTimeout: Duration, poolSize: Int, metrics: GatewayMetrics) {
        self.follower = follower
        self.pool = pool
        self.queueTimeout = queueTimeout
        self.poolSize = poolSize
        self.metrics = metrics
    }

    /// One fixed client (in-process tests).
    init(client: PostgresClient, queueTimeout: Duration, poolSize: Int, metrics: GatewayMetrics) {
        let url = DatabaseURL(host: "127.0.0.1", port: 1, username: "nobody", password: nil, database: "none", sslMode: .disable)
        self.init(follower: ServerFollower(fixed: [client], url: url, logger: Logger(label: "pgscore")), pool: 0,
                  queueTimeout: queueTimeout, poolSize: poolSize, metrics: metrics)
    }

    /// No connection became free in time.
    struct PoolUnavailable: Error {
        let waited: Duration
        let poolSize: Int
        /// what a direct connection attempt found failed (the pool cannot connect), if recent
        var reason: String? = nil
    }

    /// No pooled connection in time: the error to answer with, and a look at why.
    func unavailable(after waited: Duration) -> PoolUnavailable {
        diagnosis?.poolTimedOut()
        return PoolUnavailable(waited: waited, poolSize: poolSize, reason: diagnosis?.recentFailure)
    }

    /// The pools moved to another server (a failover) while this work ran or waited on the
    /// old one; its connection was closed. Nothing of it is known to be stored.
    struct ServerMoved: Error {}

    /// The request's deadline passed while its connection worked; the connection was closed.
    struct DeadlineExceeded: Error {
        let timeout: Duration
    }

    /// The request's deadline (`--request-timeout` after it arrived), set by the
    /// gateway's middleware for everything the request's task does; nil outside requests
    /// (the job runner, `pgscore keys`), where only `queueTimeout` applies.
    @TaskLocal static var deadline: RequestDeadline?

    struct RequestDeadline: Sendable {
        let instant: ContinuousClock.Instant
        /// the configured timeout, for the message
        let timeout: Duration
    }

    /// Runs `body` on a pooled connection; waits at most `queueTimeout` for one, and never
    /// past the request's deadline (``Database/deadline``) for the connection and `body`.
    ///
    /// The work runs in its own task so that the timers (event-loop timers, cheap: a Swift
    /// `Task.sleep` per request cost a tenth of the daemon's time) can end the request
    /// without waiting for it: a connection whose backend stopped answering is closed,
    /// which fails whatever the work was waiting for.
    func withConnection<T: Sendable>(
        _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        let start = ContinuousClock.now
        let deadline = Self.deadline
        let queueTimeout = deadline.map { min(self.queueTimeout, max($0.instant - start, .zero)) } ?? self.queueTimeout
        let lease = NIOLockedValueBox(Lease<T>())
        metrics.poolRequested()
        let token = NIOLockedValueBox<UInt64?>(nil)
        defer { follower.unregister(token.withLockedValue { $0 }) }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
                lease.withLockedValue { $0.continuation = continuation }
                let generation = self.startWork(lease, start: start, body)
                self.armTimers(lease, start: start, queueTimeout: queueTimeout, deadline: deadline, generation: generation)
                // the pools moving on (a failover) ends this work: it is retried on the new server
                token.withLockedValue { $0 = follower.register(generation: generation) {
                    let (continuation, work, connection) = lease.withLockedValue { $0.finish() }
                    guard let continuation else { return }
                    work?.cancel()
                    let _: EventLoopFuture<Void>? = connection?.close()
                    continuation.resume(throwing: ServerMoved())
                } }
            }
        } onCancel: {
            // the daemon is stopping (its services are cancelled): answer now, drop the connection
            let (wasWaiting, (continuation, work, connection)) = lease.withLockedValue { state in
                if case .waiting = state.phase { return (true, state.finish()) }
                return (false, state.finish())
            }
            if wasWaiting && continuation != nil { metrics.poolGaveUp() }
            work?.cancel()
            let _: EventLoopFuture<Void>? = connection?.close()
            continuation?.resume(throwing: CancellationError())
        }
    }

    /// The work: lease a connection (unless a timer already answered) and run `body`; its
    /// outcome answers the request unless a timer or a cancellation did first.
    private func startWork<T: Sendable>(
        _ lease: NIOLockedValueBox<Lease<T>>, start: ContinuousClock.Instant,
        _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) -> Int {
        let generation = follower.current
        let client = generation.clients[pool]
        let (metrics, follower) = (self.metrics, self.follower)
        let work = Task {
            let result: Result<T, any Error>
            do {
                let value = try await client.withConnection { (connection: PostgresConnection) async throws -> T in
                    let acquired = lease.withLockedValue { state -> Bool in
                        guard case .waiting = state.phase else { return false }
                        state.phase = .acquired(connection)
                        return true
                    }
                    // A timer fired first: the request has already failed.
                    guard acquired else { throw CancellationError() }
                    metrics.poolAcquired(after: ContinuousClock.now - start)
                    defer { metrics.poolReleased() }
                    return try await body(connection)
                }
                result = .success(value)
            } catch {
                if Database.isServerLost(error) { follower.serverLost(generation: generation.number) }
                result = .failure(error)
            }
            let (wasWaiting, continuation, timers) = lease.withLockedValue { state in
                let wasWaiting: Bool
                if case .waiting = state.phase { wasWaiting = true } else { wasWaiting = false }
                let timers = state.timers
                state.timers = []
                return (wasWaiting, state.finish().continuation, timers)
            }
            for timer in timers { timer.cancel() }
            guard let continuation else { return }     // answered already by a timer
            if wasWaiting, case .failure = result { metrics.poolGaveUp() }
            continuation.resume(with: result)
        }
        lease.withLockedValue { $0.work = work }
        return generation.number
    }

    /// The queue timer (no connection in time: 503) and the deadline timer (the
    /// connection did not finish in time: closed, 504).
    private func armTimers<T: Sendable>(
        _ lease: NIOLockedValueBox<Lease<T>>, start: ContinuousClock.Instant, queueTimeout: Duration,
        deadline: RequestDeadline?, generation: Int
    ) {
        let metrics = self.metrics
        let loop = MultiThreadedEventLoopGroup.singleton.any()
        let queueTimer = loop.scheduleTask(in: .nanoseconds(queueTimeout.nanoseconds)) {
            let (continuation, work) = lease.withLockedValue { state -> (CheckedContinuation<T, any Error>?, Task<Void, Never>?) in
                guard case .waiting = state.phase else { return (nil, nil) }
                let (continuation, work, _) = state.finish()
                return (continuation, work)
            }
            guard let continuation else { return }
            work?.cancel()
            metrics.poolTimedOut()
            // (no connection could be made, or every one is busy: a look at the hosts tells)
            self.follower.serverLost(generation: generation)
            continuation.resume(throwing: self.unavailable(after: queueTimeout))
        }
        var timers = [queueTimer]
        if let deadline {
            timers.append(loop.scheduleTask(in: .nanoseconds(max(deadline.instant - start, .zero).nanoseconds)) {
                let (continuation, connection) = lease.withLockedValue { state -> (CheckedContinuation<T, any Error>?, PostgresConnection?) in
                    guard case .acquired = state.phase else { return (nil, nil) }
                    let (continuation, _, connection) = state.finish()
                    return (continuation, connection)
                }
                guard let continuation, let connection else { return }
                // Abandon it: closing fails its pending statement; the pool replaces it.
                let _: EventLoopFuture<Void> = connection.close()
                continuation.resume(throwing: DeadlineExceeded(timeout: deadline.timeout))
            })
        }
        let finished = lease.withLockedValue { state -> Bool in
            if case .done = state.phase { return true }
            state.timers = timers
            return false
        }
        if finished {
            for timer in timers { timer.cancel() }
        }
    }

    /// Runs `body` in a transaction on a pooled connection (``PostgresConnection/transaction(_:)``):
    /// it returns only once the server confirmed the COMMIT. Every write the daemon
    /// acknowledges goes through this.
    func withTransaction<T: Sendable>(
        _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        try await withConnection { connection in
            try await connection.transaction { try await body($0) }
        }
    }

    /// Runs `body`, whose only write is one statement (its reads may come before), in
    /// that statement's implicit transaction, and returns once the server confirmed the
    /// commit: one round trip fewer than ``withTransaction(_:)`` (the predict route's;
    /// measured in the README). The commit of an implicit transaction happens at Sync,
    /// after PostgresNIO handed over the rows (at CommandComplete); it is confirmed by a
    /// second statement on the same connection, which PostgresNIO 1.33.2 sends only after
    /// the first one's ReadyForQuery (one query at a time). A commit that fails sends an
    /// ErrorResponse before that ReadyForQuery: PostgresNIO then closes the connection
    /// (an error after CommandComplete), so the second statement fails (503), or, when
    /// the connection is already closed, is not sent (503); it never succeeds.
    func withSingleWrite<T: Sendable>(
        _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        try await withConnection { connection in
            let value = try await body(connection)
            // (a query written to a closed connection would never be answered: the deadline would end it)
            guard !connection.isClosed else { throw CommitFailed(underlying: nil, tag: nil) }
            do {
                for try await _ in try await connection.execute(ConfirmCommit(), logger: Self.queryLogger) {}
            } catch {
                throw CommitFailed(underlying: error, tag: nil)
            }
            return value
        }
    }

    /// ``withSingleWrite(_:)`` when `body` writes; else (`--read-only`) ``withConnection(_:)``.
    func withPossibleWrite<T: Sendable>(
        writes: Bool, _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        writes ? try await withSingleWrite(body) : try await withConnection(body)
    }

    /// A prepared `SELECT 1`: parsed once per connection.
    private struct ConfirmCommit: PostgresPreparedStatement {
        static let name = "pgscore_confirm_commit"
        static let sql = "SELECT 1"
        typealias Row = Int
        func makeBindings() throws -> PostgresBindings { PostgresBindings() }
        func decodeRow(_ row: PostgresRow) throws -> Int { try row.decode(Int.self) }
    }

    private struct Lease<T: Sendable> {
        enum Phase { case waiting, acquired(PostgresConnection), done }
        var phase = Phase.waiting
        var continuation: CheckedContinuation<T, any Error>?
        var work: Task<Void, Never>?
        var timers: [Scheduled<Void>] = []

        /// Marks the request answered; what was pending, for whoever answers it.
        mutating func finish() -> (continuation: CheckedContinuation<T, any Error>?, work: Task<Void, Never>?, connection: PostgresConnection?) {
            var connection: PostgresConnection?
            if case .acquired(let leased) = phase { connection = leased }
            defer { phase = .done; continuation = nil }
            return (continuation, work, connection)
        }
    }
}

extension Database {
    /// PostgresNIO logs each query at debug level through this.
    static let queryLogger = Logger(label: "pgscore.sql")

    /// The COMMIT of a write did not happen (it raised, the connection failed during it,
    /// or the transaction had already failed): nothing of the request was stored, or it
    /// is not known to be. Answered 503, never 200.
    struct CommitFailed: Error {
        let underlying: (any Error)?
        let tag: String?
    }
}

extension PostgresConnection {
    /// BEGIN, `body`, COMMIT on this connection; returns once the server answered the
    /// COMMIT with CommandComplete "COMMIT". A transaction-control statement is committed
    /// by the server before its CommandComplete is sent (in the extended protocol too,
    /// unlike a plain statement, whose implicit transaction commits only at Sync, after
    /// the rows were handed over), so nothing is acknowledged that is not committed, with
    /// the WAL flushed under synchronous_commit on. An error in `body` rolls back; a
    /// connection whose ROLLBACK fails is closed, never returned to the pool mid-transaction.
    func transaction<T>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        try await self.execute("BEGIN")
        let value: T
        do {
            value = try await body(self)
        } catch {
            // (a query written to a closed connection is never answered in PostgresNIO
            // 1.33.2: its promise is dropped with the failed write)
            if !self.isClosed {
                do {
                    try await self.execute("ROLLBACK")
                } catch {
                    try? await self.close()
                }
            }
            throw error
        }
        let tag: String
        do {
            // the future API: it hands over the command tag once the rows are read
            // (PostgresNIO 1.33.2's execute(_:) of a prepared statement without rows traps
            // reading it: "commandTag may only be called if all rows have been consumed")
            let commit: EventLoopFuture<PostgresQueryResult> = self.query("COMMIT", logger: Database.queryLogger)
            tag = try await commit.get().metadata.command
        } catch {
            // a failed COMMIT ends the transaction; the connection is idle (or closed)
            throw Database.CommitFailed(underlying: error, tag: nil)
        }
        // "ROLLBACK": the transaction had failed (an error `body` did not pass on)
        guard tag == "COMMIT" else { throw Database.CommitFailed(underlying: nil, tag: tag) }
        return value
    }

    /// Runs a statement and reads its result to the end: an error raised while the
    /// statement runs surfaces here, and the connection is idle again when it returns.
    func execute(_ query: PostgresQuery) async throws {
        let rows = try await self.query(query, logger: Database.queryLogger)
        for try await _ in rows {}
    }

    /// The first row of a statement's result (read to its end), decoded.
    func firstRow<each Column: PostgresDecodable>(
        _ query: PostgresQuery, as types: (repeat each Column).Type
    ) async throws -> (repeat each Column)? {
        let rows = try await self.query(query, logger: Database.queryLogger)
        var first: (repeat each Column)?
        for try await row in rows.decode((repeat each Column).self) where first == nil {
            first = row
        }
        return first
    }
}

extension Duration {
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
