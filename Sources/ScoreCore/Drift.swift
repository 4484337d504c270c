#if canImport(Glibc)
import Glibc
#endif

/// Feature drift: how far live values of a feature moved from its training distribution.
public enum Drift {
    /// Population stability index, Σ (a − e) · ln(a / e), between the training shares
    /// `expected` of some bins and the live `observed` counts in the same bins. Shares
    /// below `floor` count as `floor`, so that an empty bin on either side is a large but
    /// finite term (common practice: 1e-4). 0 means the same distribution; above ~0.2 is
    /// usually read as a shift worth a look.
    public static func populationStabilityIndex(expected: [Double], observed: [Double], floor: Double) throws(ScoreError)
        -> Double
    {
        guard expected.count == observed.count, expected.count >= 2 else {
            throw .badShape("expected and observed must have the same number of bins (at least 2), got \(expected.count) and \(observed.count)")
        }
        guard floor > 0, floor < 1 else {
            throw .badValue("the floor for empty bins must be above 0 and below 1, got \(floor)")
        }
        guard expected.allSatisfy({ $0.isFinite && $0 >= 0 }), observed.allSatisfy({ $0.isFinite && $0 >= 0 }) else {
            throw .badValue("shares and counts must be finite and not negative")
        }
        let expectedTotal = expected.reduce(0, +)
        let observedTotal = observed.reduce(0, +)
        guard expectedTotal > 0, observedTotal > 0 else {
            throw .badValue("a distribution with no mass has no shares", hint: "Pass at least one positive share and one positive count.")
        }
        var psi = 0.0
        for (e, o) in zip(expected, observed) {
            let a = Swift.max(o / observedTotal, floor)
            let b = Swift.max(e / expectedTotal, floor)
            psi += (a - b) * log(a / b)
        }
        return psi
    }
}
