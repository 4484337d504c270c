import NIOConcurrencyHelpers

/// Predictions per past hour, per project, as counted once: a project page's volume chart
/// counts only the hours it has not seen complete (in practice the current one), not 24
/// hours of the prediction log (a million rows a week are ~140,000 a day to count).
/// An hour is kept once it is over by the database's clock; predictions are logged with
/// the time they are made, so a past hour's count does not change (rows written later
/// with an old `created_at`, such as a restore, show after a daemon restart).
final class PredictionVolumeCache: Sendable {
    private let hours = NIOLockedValueBox([String: [Double: Double]]())

    /// The hour to count from for `project`: the hour after the last one kept, or 0 (the query
    /// bounds it by the chart's window).
    func countFrom(_ project: String) -> Double {
        hours.withLockedValue { $0[project]?.keys.max().map { $0 + 3600 } ?? 0 }
    }

    /// The chart's hours, from `counted` (hour start → count, for the hours from
    /// ``countFrom(_:)`` on) and the hours kept; keeps the counted hours before `currentHour`
    /// and forgets those older than the chart's 24.
    func merge(_ project: String, counted: [(Double, Double)], currentHour: Double) -> [(hour: Double, count: Double)] {
        let first = currentHour - 23 * 3600
        return hours.withLockedValue { all in
            var kept = all[project] ?? [:]
            let from = kept.keys.max().map { $0 + 3600 } ?? 0
            // hours from `from` to the last complete one were counted: those with no row had none
            var hour = max(from, first)
            while hour < currentHour {
                kept[hour] = 0
                hour += 3600
            }
            var current: Double = 0
            for (start, count) in counted {
                if start < currentHour { kept[start] = count } else { current = count }
            }
            kept = kept.filter { $0.key >= first }
            all[project] = kept
            return kept.sorted { $0.key < $1.key }.map { ($0.key, $0.value) } + [(currentHour, current)]
        }
    }
}
