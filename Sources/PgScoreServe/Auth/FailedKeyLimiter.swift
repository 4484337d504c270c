import NIOConcurrencyHelpers

/// Counts failed key look-ups (well-formed keys the database does not know) per client
/// address in fixed windows: past `limit` failures in one window, the client's further
/// requests with a key are refused (429) without asking the database, so guessing keys
/// cannot take the pool's connections. `limit` 0: no limit.
final class FailedKeyLimiter: Sendable {
    let limit: Int
    let window: Duration
    private let state = NIOLockedValueBox([String: (start: ContinuousClock.Instant, failures: Int)]())

    init(limit: Int, window: Duration = .seconds(10)) {
        self.limit = limit
        self.window = window
    }

    /// Seconds until the client may try again; nil when it may now.
    func retryAfter(_ client: String, now: ContinuousClock.Instant = .now) -> Int? {
        state.withLockedValue { entries in
            guard limit > 0, let entry = entries[client], entry.failures >= limit else { return nil }
            let left = entry.start + window - now
            guard left > .zero else {
                entries[client] = nil
                return nil
            }
            return max(1, Int(left.components.seconds) + 1)
        }
    }

    func recordFailure(_ client: String, now: ContinuousClock.Instant = .now) {
        guard limit > 0 else { return }
        state.withLockedValue { entries in
            if entries.count > 10_000 {   // bounded memory: forget windows that have ended
                entries = entries.filter { now - $0.value.start < window }
            }
            if let entry = entries[client], now - entry.start < window {
                entries[client] = (entry.start, entry.failures + 1)
            } else {
                entries[client] = (now, 1)
            }
        }
    }
}
