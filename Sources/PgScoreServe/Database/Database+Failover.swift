import PostgresNIO

extension Database {
    /// The error says the server went away or no longer takes writes (it became a
    /// standby): the same work may succeed on another server of the host list.
    static func isServerLost(_ error: any Error) -> Bool {
        if error is ServerMoved { return true }
        if let commit = error as? CommitFailed {
            // a transaction that ended in ROLLBACK failed on the server, not with it
            return commit.tag == nil && (commit.underlying.map(isServerLost) ?? true)
        }
        if String(describing: Swift.type(of: error)) == "ConnectionPoolError" { return true }
        guard let error = error as? PSQLError else { return false }
        switch error.code {
        case .server:
            let state = error.serverInfo?[.sqlState] ?? ""
            // read_only_sql_transaction, admin_shutdown, crash_shutdown, cannot_connect_now, connection exceptions
            return ["25006", "57P01", "57P02", "57P03"].contains(state) || state.hasPrefix("08")
        case .connectionError, .serverClosedConnection, .uncleanShutdown, .poolClosed:
            return true
        default:
            return false
        }
    }

    /// Runs `work` (told whether an earlier try may have committed) again while it fails
    /// because the server was lost and the daemon follows the primary among several hosts
    /// (``ServerFollower``): after a failover the work goes to the new primary, within the
    /// request's deadline. A pool timeout counts as lost only during a failover
    /// (``ServerFollower/isFailingOver``; else a busy pool is answered 503 at once, as before). Past the deadline: 503
    /// with Retry-After. Outside a request (no deadline), and with one host, no retry.
    func retryingWhileServerLost<T: Sendable>(
        deadline: RequestDeadline?, _ work: @Sendable (_ isRetry: Bool) async throws -> T
    ) async throws -> T {
        var isRetry = false
        while true {
            do {
                return try await work(isRetry)
            } catch {
                guard follower.follows, let deadline,
                      Self.isServerLost(error) || (error is PoolUnavailable && follower.isFailingOver)
                else { throw error }
                guard ContinuousClock.now + .milliseconds(100) < deadline.instant else {
                    throw Problem.unavailable(
                        "the database server was lost and no server that fits target_session_attrs answered within the request's deadline (--request-timeout \(Problem.seconds(deadline.timeout)) s); a failover may be under way (\(Problem.from(database: error)?.detail ?? "\(error)"))",
                        retryAfter: 2)
                }
                isRetry = true
                metrics.failoverRetried()
                await follower.awaitServer(until: deadline.instant)
                try await Task.sleep(for: .milliseconds(50))
            }
        }
    }
}
