import Testing
@testable import ScoreCore

#if canImport(Glibc)
import Glibc
#endif

/// The population stability index against values worked out by hand.
@Suite struct DriftTests {
    @Test func sameDistributionIsZero() throws {
        let psi = try Drift.populationStabilityIndex(expected: [0.25, 0.25, 0.5], observed: [10, 10, 20], floor: 1e-4)
        #expect(abs(psi) < 1e-15)
    }

    @Test func knownShift() throws {
        // expected 50/50, observed 80/20: (0.8-0.5)ln(0.8/0.5) + (0.2-0.5)ln(0.2/0.5)
        let psi = try Drift.populationStabilityIndex(expected: [0.5, 0.5], observed: [80, 20], floor: 1e-4)
        #expect(abs(psi - (0.3 * log(1.6) + (-0.3) * log(0.4))) < 1e-12)
    }

    @Test func emptyBinsCountAsTheFloor() throws {
        // everything observed in a bin training never saw: large but finite
        let psi = try Drift.populationStabilityIndex(expected: [1, 0], observed: [0, 5], floor: 1e-4)
        #expect(abs(psi - 2 * (1 - 1e-4) * log(1e4)) < 1e-9)
    }

    @Test func expectedSharesAreNormalised() throws {
        let a = try Drift.populationStabilityIndex(expected: [2, 6], observed: [3, 5], floor: 1e-4)
        let b = try Drift.populationStabilityIndex(expected: [0.25, 0.75], observed: [3, 5], floor: 1e-4)
        #expect(abs(a - b) < 1e-15)
    }

    @Test func refusesWhatHasNoAnswer() {
        #expect(throws: ScoreError.self) { try Drift.populationStabilityIndex(expected: [0.5, 0.5], observed: [1], floor: 1e-4) }
        #expect(throws: ScoreError.self) { try Drift.populationStabilityIndex(expected: [0.5, 0.5], observed: [0, 0], floor: 1e-4) }
        #expect(throws: ScoreError.self) { try Drift.populationStabilityIndex(expected: [0.5, -0.5], observed: [1, 1], floor: 1e-4) }
        #expect(throws: ScoreError.self) { try Drift.populationStabilityIndex(expected: [0.5, 0.5], observed: [1, .nan], floor: 1e-4) }
        #expect(throws: ScoreError.self) { try Drift.populationStabilityIndex(expected: [0.5, 0.5], observed: [1, 1], floor: 0) }
    }
}
