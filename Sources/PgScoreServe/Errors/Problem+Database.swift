import PostgresNIO

extension Problem {
    /// The answer for an error from the database or the pool. An error PostgreSQL raised
    /// is mapped by its SQLSTATE; its message (and hint) is the detail, since pgscore's
    /// messages say what went wrong and what to do.
    static func from(database error: any Error) -> Problem? {
        if let unavailable = error as? Database.PoolUnavailable {
            let ms = unavailable.waited.components.seconds * 1000 + unavailable.waited.components.attoseconds / 1_000_000_000_000_000
            if let reason = unavailable.reason {
                return .unavailable("no database connection became free within \(ms) ms: new connections fail: \(reason)")
            }
            return .unavailable(
                "no database connection became free within \(ms) ms: the database is unreachable or all \(unavailable.poolSize) pooled connections are busy")
        }
        if error is Database.ServerMoved {
            return .unavailable("the database server changed (a failover) while the request ran; nothing of it is known to be stored; try again")
        }
        if let deadline = error as? Database.DeadlineExceeded {
            return .deadline(
                "the request did not finish within its deadline (--request-timeout \(Self.seconds(deadline.timeout)) s): the database stopped answering; its connection was closed")
        }
        if let commit = error as? Database.CommitFailed {
            var reason = commit.tag.map { "the transaction ended with \($0)" } ?? "COMMIT failed"
            if let underlying = commit.underlying {
                reason += ": " + (from(database: underlying)?.detail ?? "\(underlying)")
            }
            return .unavailable("the database did not commit the request, nothing of it is acknowledged (\(reason))")
        }
        // the pool's own errors (circuit breaker open, shut down); its module is not a product we import
        if String(describing: Swift.type(of: error)) == "ConnectionPoolError" {
            return .unavailable("the database connection failed (\(error)); try again")
        }
        guard let error = error as? PSQLError else { return nil }
        switch error.code {
        case .server:
            return from(sqlState: error.serverInfo?[.sqlState] ?? "XX000",
                        message: error.serverInfo?[.message] ?? "database error",
                        hint: error.serverInfo?[.hint])
        case .queryCancelled:
            return .timeout("the statement was cancelled")
        case .connectionError, .serverClosedConnection, .clientClosedConnection, .uncleanShutdown, .poolClosed,
             .sslUnsupported, .failedToAddSSLHandler:
            return .unavailable("the database connection failed (\(error.code)); try again")
        default:
            return .internalError("database client error: \(error.code)")
        }
    }

    static func seconds(_ duration: Duration) -> String {
        JSONValue.format(Double(duration.nanoseconds) / 1e9)
    }

    /// HTTP status for an SQLSTATE raised by the ml schema's functions.
    static func from(sqlState: String, message: String, hint: String?) -> Problem {
        let detail = hint.map { "\(message). \($0)" } ?? message
        switch sqlState {
        case "42704":                       // undefined_object: no such project or version
            return .notFound(detail)
        case "55000":                       // object_not_in_prerequisite_state: nothing deployed, nothing to roll back
            return .conflict(detail)
        case "23503":                       // foreign_key_violation: feedback for an unknown prediction
            return .notFound(detail)
        case "57014":                       // query_canceled: statement_timeout
            return .timeout("the statement ran longer than the statement timeout: \(detail)")
        case "42501":                       // insufficient_privilege: a right on a project or a source
            return .forbidden(detail)
        case "42703", "42P01", "42804", "42601":  // undefined column/table, datatype mismatch, a bad query source
            return .validation(detail)
        case _ where sqlState.hasPrefix("22"), _ where sqlState.hasPrefix("54"):
            return .validation(detail)      // data exceptions, limits: bad features, bad options
        case _ where sqlState.hasPrefix("23"):
            return .conflict(detail)
        case _ where sqlState.hasPrefix("08"), _ where sqlState.hasPrefix("53"),
             "57P01", "57P02", "57P03", "40001", "40P01", "25006":
            return .unavailable("the database cannot serve now: \(detail)")
        default:
            return .internalError("database error \(sqlState): \(detail)")
        }
    }
}
