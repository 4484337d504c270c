import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import PostgresNIO

/// The daemon's pool of PostgreSQL connections, with a bounded wait for a free one:
/// when the database is down or every connection is busy for longer than
/// `queueTimeout`, a request fails fast with ``PoolUnavailable`` (503) instead of queueing
/// without end. Connections that die (a server restart) are replaced by the pool.
struct Database: Sendable {
    let client: PostgresClient
    let queueTimeout: Duration
    let poolSize: Int
    let metrics: GatewayMetrics

    /// No connection became free in time.
    struct PoolUnavailable: Error {
        let waited: Duration
        let poolSize: Int
    }

    /// Runs `body` on a pooled connection; waits at most `queueTimeout` for one.
    ///
    /// The wait runs in its own task so that the timer (an event-loop timer, cheap: a
    /// Swift `Task.sleep` per request cost a tenth of the daemon's time) can cancel it
    /// without cancelling the request's task, which still has to write its answer.
    func withConnection<T: Sendable>(
        _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        let clock = ContinuousClock()
        let start = clock.now
        let lease = NIOLockedValueBox(LeaseState.waiting)
        let client = self.client
        let metrics = self.metrics
        metrics.poolRequested()

        let work = Task {
            try await client.withConnection { connection in
                let acquired = lease.withLockedValue { state -> Bool in
                    guard state == .waiting else { return false }
                    state = .acquired
                    return true
                }
                // The timer fired first: the request has already failed.
                guard acquired else { throw CancellationError() }
                metrics.poolAcquired(after: clock.now - start)
                defer { metrics.poolReleased() }
                return try await body(connection)
            }
        }
        let timer = MultiThreadedEventLoopGroup.singleton.any().scheduleTask(in: .nanoseconds(queueTimeout.nanoseconds)) {
            let expired = lease.withLockedValue { state -> Bool in
                guard state == .waiting else { return false }
                state = .expired
                return true
            }
            if expired { work.cancel() }
        }
        defer { timer.cancel() }
        do {
            return try await withTaskCancellationHandler {
                try await work.value
            } onCancel: {
                work.cancel()
            }
        } catch {
            let outcome = lease.withLockedValue { state -> LeaseState in
                // failed before a connection came (the pool closed, the request was cancelled)
                if state == .waiting { state = .expired; return .waiting }
                return state
            }
            switch outcome {
            case .waiting:
                metrics.poolGaveUp()
            case .expired:
                metrics.poolTimedOut()
                throw PoolUnavailable(waited: queueTimeout, poolSize: poolSize)
            case .acquired:
                break
            }
            throw error
        }
    }

    private enum LeaseState { case waiting, acquired, expired }
}

extension Database {
    /// PostgresNIO logs each query at debug level through this.
    static let queryLogger = Logger(label: "pgscore.sql")
}

extension PostgresConnection {
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
