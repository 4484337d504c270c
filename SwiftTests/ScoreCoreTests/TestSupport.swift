@testable import ScoreCore

/// Shared helpers for the ScoreCore tests.

/// |a − b| ≤ tol × max(1, |a|, |b|): relative for large values, absolute near zero.
func approx(_ a: Double, _ b: Double, _ tol: Double) -> Bool {
    abs(a - b) <= tol * max(1, abs(a), abs(b))
}

func allApprox(_ a: [Double], _ b: [Double], _ tol: Double) -> Bool {
    a.count == b.count && zip(a, b).allSatisfy { approx($0, $1, tol) }
}

/// A small deterministic generator (SplitMix64), so tests do not depend on the
/// platform's random number generator or on Foundation.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [lo, hi).
    mutating func uniform(_ lo: Double, _ hi: Double) -> Double {
        Double.random(in: lo..<hi, using: &self)
    }
    /// Standard normal by Box–Muller.
    mutating func normal() -> Double {
        let u1 = Double.random(in: Double.ulpOfOne..<1, using: &self)
        let u2 = Double.random(in: 0..<1, using: &self)
        return (-2 * _log(u1)).squareRoot() * _cos(2 * Double.pi * u2)
    }
}

/// A moments state buffer (owned by Swift here; the host owns it in PostgreSQL).
struct MomentsState {
    let layout: MomentsLayout
    var buffer: [Double]

    init(dim: Int, full: Bool) {
        layout = MomentsLayout(dim: dim, full: full)
        buffer = [Double](repeating: 0, count: layout.count)
    }

    mutating func add(_ x: [Double], tail: Double? = nil) {
        let layout = self.layout
        buffer.withUnsafeMutableBufferPointer { p in
            x.withUnsafeBufferPointer { xp in
                layout.add(p.baseAddress!, x: xp.baseAddress!, tail: tail)
            }
        }
    }

    mutating func merge(_ other: MomentsState) {
        let layout = self.layout
        buffer.withUnsafeMutableBufferPointer { p in
            other.buffer.withUnsafeBufferPointer { q in
                layout.merge(into: p.baseAddress!, from: q.baseAddress!)
            }
        }
    }

    var centered: CenteredMoments {
        buffer.withUnsafeBufferPointer { layout.centered($0.baseAddress!) }
    }
}

/// Centered moments computed the textbook two-pass way, independent of MomentsLayout.
func twoPassMoments(_ rows: [[Double]]) -> (mean: [Double], comoment: [Double]) {
    let m = rows.first?.count ?? 0
    let n = Double(rows.count)
    var mean = [Double](repeating: 0, count: m)
    for r in rows { for i in 0..<m { mean[i] += r[i] } }
    for i in 0..<m { mean[i] /= n }
    var co = [Double](repeating: 0, count: m * m)
    for r in rows {
        for i in 0..<m { for j in 0..<m { co[i * m + j] += (r[i] - mean[i]) * (r[j] - mean[j]) } }
    }
    return (mean, co)
}

/// Full centered moments of rows (x…, y) as LinearRegression expects them.
func regressionMoments(_ x: [[Double]], _ y: [Double]) -> CenteredMoments {
    var s = MomentsState(dim: x[0].count + 1, full: true)
    for (row, label) in zip(x, y) { s.add(row, tail: label) }
    return s.centered
}

func sigmoid(_ s: Double) -> Double {
    s >= 0 ? 1 / (1 + _exp(-s)) : _exp(s) / (1 + _exp(s))
}

// Minimal libm access without Foundation.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
@inline(__always) func _exp(_ x: Double) -> Double { exp(x) }
@inline(__always) func _log(_ x: Double) -> Double { log(x) }
@inline(__always) func _cos(_ x: Double) -> Double { cos(x) }
