import Logging
import NIOConcurrencyHelpers
import PostgresNIO

/// Why the pool gets no connection. A pool that cannot connect only times out: the
/// server's refusal (a role no longer allowed to log in, a dropped database, a rotated
/// certificate) stays inside PostgresNIO. When a request finds no connection in time, one
/// direct connection (``DirectConnection``) is tried, at most every few seconds, and
/// what it says failed is kept for the answers and logged once per change.
final class ConnectionDiagnosis: Sendable {
    /// the server the pools are on now
    private let url: @Sendable () -> DatabaseURL
    private let logger: Logger
    private let state = NIOLockedValueBox(State())

    private struct State {
        var checking = false
        var lastCheck: ContinuousClock.Instant?
        /// the last direct attempt's failure and when it was seen; nil when it connected
        var failure: (message: String, at: ContinuousClock.Instant)?
    }

    /// how often a direct connection may be tried, and how long its finding is told
    static let interval: Duration = .seconds(5)
    static let validity: Duration = .seconds(30)

    init(url: @escaping @Sendable () -> DatabaseURL, logger: Logger) {
        self.url = url
        self.logger = logger
    }

    /// What the last direct attempt found failed, if it is recent.
    var recentFailure: String? {
        state.withLockedValue { state in
            guard let failure = state.failure, ContinuousClock.now - failure.at < Self.validity else { return nil }
            return failure.message
        }
    }

    /// A request got no pooled connection in time: look why (in the background).
    func poolTimedOut() {
        let start = state.withLockedValue { state -> Bool in
            if state.checking { return false }
            if let last = state.lastCheck, ContinuousClock.now - last < Self.interval { return false }
            state.checking = true
            state.lastCheck = .now
            return true
        }
        guard start else { return }
        let (url, logger) = (self.url(), self.logger)
        Task {
            var message: String?
            do {
                try await DirectConnection.with(url, applicationName: "pgscore serve (diagnosis)", logger: logger) { connection in
                    try await connection.execute("SELECT 1")
                }
            } catch {
                message = "\(error)"
            }
            let changed = state.withLockedValue { state -> Bool in
                state.checking = false
                let changed = state.failure?.message != message
                state.failure = message.map { ($0, ContinuousClock.now) }
                return changed
            }
            if changed, let message {
                logger.warning("the pool gets no database connection", metadata: ["error": .string(message)])
            } else if changed {
                logger.notice("a direct database connection succeeds again")
            }
        }
    }
}
