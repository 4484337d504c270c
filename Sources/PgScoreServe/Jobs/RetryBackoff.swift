import Logging
import NIOConcurrencyHelpers

/// The wait before the next try of a loop that failed: doubles from `initial` up to
/// `cap`, with full jitter (a random wait up to that bound, so that daemons that lost the
/// database together do not come back together); `reset()` after a success.
struct RetryBackoff: Sendable {
    let initial: Duration
    let cap: Duration
    private var failures = 0

    init(initial: Duration = .milliseconds(200), cap: Duration = .seconds(30)) {
        self.initial = initial
        self.cap = cap
    }

    mutating func reset() { failures = 0 }

    /// The next wait (at least a tenth of the bound, so a loop never spins).
    mutating func next() -> Duration {
        let bound = min(initial * (1 << min(failures, 20)), cap)
        failures += 1
        let nanoseconds = max(bound.nanoseconds, 1)
        return .nanoseconds(Int64.random(in: (nanoseconds / 10)...nanoseconds))
    }
}

/// Logs the first of identical warnings (same message, same error) and then at most one
/// summary a minute ("N more in the last minute"), so a loop failing for a long time
/// writes a few lines, not megabytes.
final class RateLimitedWarnings: Sendable {
    private let logger: Logger
    private let interval: Duration
    private let state = NIOLockedValueBox([String: Entry]())

    private struct Entry {
        var windowStart: ContinuousClock.Instant
        var suppressed: Int
    }

    init(logger: Logger, interval: Duration = .seconds(60)) {
        self.logger = logger
        self.interval = interval
    }

    func warning(_ message: String, error: String) {
        let now = ContinuousClock.now
        let key = message + "\u{0}" + error
        let (log, suppressed) = state.withLockedValue { entries -> (Bool, Int) in
            guard var entry = entries[key] else {
                entries[key] = Entry(windowStart: now, suppressed: 0)
                return (true, 0)
            }
            if now - entry.windowStart < interval {
                entry.suppressed += 1
                entries[key] = entry
                return (false, 0)
            }
            let suppressed = entry.suppressed
            entries[key] = Entry(windowStart: now, suppressed: 0)
            return (true, suppressed)
        }
        guard log else { return }
        var metadata: Logger.Metadata = ["error": .string(error)]
        if suppressed > 0 { metadata["repeated"] = "\(suppressed) more in the last minute" }
        logger.warning("\(message)", metadata: metadata)
    }
}
