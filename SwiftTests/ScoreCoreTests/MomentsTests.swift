import Testing
@testable import ScoreCore

@Suite struct MomentsTests {
    static func rows(_ n: Int, dim: Int, seed: UInt64) -> [[Double]] {
        var g = SplitMix64(seed: seed)
        let scales: [Double] = [1, 1e3, 1e-3, 50, 7]
        let offsets: [Double] = [0, -2e4, 5, 1e6, -3]
        return (0..<n).map { _ in
            (0..<dim).map { j in offsets[j % 5] + scales[j % 5] * g.normal() }
        }
    }

    /// Same count, means within `tol` relative, co-moments within `tol` relative to
    /// √(c_ii c_jj) (the natural scale of an off-diagonal entry).
    static func expectSame(_ a: CenteredMoments, _ b: CenteredMoments, tol: Double,
                           sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(a.count == b.count, sourceLocation: sourceLocation)
        let m = a.mean.count
        #expect(b.mean.count == m, sourceLocation: sourceLocation)
        for i in 0..<m {
            #expect(approx(a.mean[i], b.mean[i], tol), "mean \(i): \(a.mean[i]) vs \(b.mean[i])",
                    sourceLocation: sourceLocation)
        }
        for i in 0..<m {
            for j in 0..<m {
                let scale = (b.comoment[i * m + i] * b.comoment[j * m + j]).squareRoot()
                let diff = abs(a.comoment[i * m + j] - b.comoment[i * m + j])
                #expect(diff <= tol * max(scale, 1e-300),
                        "comoment[\(i),\(j)]: \(a.comoment[i * m + j]) vs \(b.comoment[i * m + j])",
                        sourceLocation: sourceLocation)
            }
        }
    }

    @Test func layoutSizes() {
        #expect(MomentsLayout(dim: 4, full: true).count == 1 + 8 + 10)
        #expect(MomentsLayout(dim: 4, full: false).count == 1 + 8 + 4)
        #expect(MomentsLayout(dim: 1, full: true).count == 4)
    }

    @Test func sequentialMatchesTwoPass() {
        let data = Self.rows(50, dim: 4, seed: 1)
        var s = MomentsState(dim: 4, full: true)
        for r in data { s.add(r) }
        let c = s.centered
        let ref = twoPassMoments(data)
        #expect(c.count == 50)
        let expected = CenteredMoments(count: 50, mean: ref.mean, comoment: ref.comoment)
        Self.expectSame(c, expected, tol: 1e-12)
        for i in 0..<4 {
            #expect(approx(c.variance(i), ref.comoment[i * 4 + i] / 50, 1e-12))
        }
    }

    @Test(arguments: [true, false])
    func mergeAtEverySplitMatchesSequential(full: Bool) {
        let n = 37
        let data = Self.rows(n, dim: 5, seed: 2)
        var all = MomentsState(dim: 5, full: full)
        for r in data { all.add(r) }
        for split in 0...n {
            var a = MomentsState(dim: 5, full: full)
            var b = MomentsState(dim: 5, full: full)
            for r in data[..<split] { a.add(r) }
            for r in data[split...] { b.add(r) }
            // a ← b and, separately, b ← a: both orders give the same result.
            var ab = a
            ab.merge(b)
            var ba = b
            ba.merge(a)
            Self.expectSame(ab.centered, all.centered, tol: 1e-12)
            Self.expectSame(ba.centered, all.centered, tol: 1e-12)
        }
    }

    @Test func threeWayMergeWithEmptyStates() {
        let data = Self.rows(30, dim: 3, seed: 3)
        var all = MomentsState(dim: 3, full: true)
        for r in data { all.add(r) }
        var parts = [MomentsState](repeating: MomentsState(dim: 3, full: true), count: 5)
        // Parts 1 and 3 stay empty.
        for (i, r) in data.enumerated() { parts[[0, 2, 4][i % 3]].add(r) }
        var acc = MomentsState(dim: 3, full: true)
        for p in parts.reversed() { acc.merge(p) }
        Self.expectSame(acc.centered, all.centered, tol: 1e-12)

        var empty = MomentsState(dim: 3, full: true)
        empty.merge(MomentsState(dim: 3, full: true))
        #expect(empty.centered.count == 0)
        #expect(empty.centered.variance(0) == 0)
        #expect(empty.buffer.allSatisfy { $0 == 0 })
    }

    @Test func tailIsTheLastElement() {
        let data = Self.rows(20, dim: 3, seed: 4)
        var withTail = MomentsState(dim: 3, full: true)
        var plain = MomentsState(dim: 3, full: true)
        for r in data {
            withTail.add(Array(r[0..<2]), tail: r[2])
            plain.add(r)
        }
        #expect(withTail.buffer == plain.buffer)
    }

    @Test(arguments: [true, false])
    func stableWithLargeOffset(full: Bool) {
        // x = 1e9 + k/1024 is exact in binary (ulp(1e9) = 2⁻²³), so the exact variance
        // is that of the small parts k/1024, computed here without the offset.
        var g = SplitMix64(seed: 5)
        let n = 1000
        let small: [Double] = (0..<n).map { _ in Double(Int.random(in: -1024...1024, using: &g)) / 1024 }
        let x = small.map { 1e9 + $0 }
        let smallMean = small.reduce(0, +) / Double(n)
        let exactVariance = small.reduce(0) { $0 + ($1 - smallMean) * ($1 - smallMean) } / Double(n)

        // The naive one-pass formula loses everything at this offset.
        let naive = x.reduce(0) { $0 + $1 * $1 } / Double(n) - (x.reduce(0, +) / Double(n)) * (x.reduce(0, +) / Double(n))
        #expect(abs(naive - exactVariance) > 1e-3 * exactVariance)

        var seq = MomentsState(dim: 1, full: full)
        for v in x { seq.add([v]) }
        #expect(approx(seq.centered.variance(0), exactVariance, 1e-6))
        #expect(abs(seq.centered.mean[0] - (1e9 + smallMean)) <= 1e-6)

        // Merged from parts whose shifts differ.
        var a = MomentsState(dim: 1, full: full)
        var b = MomentsState(dim: 1, full: full)
        for v in x[..<(n / 3)] { a.add([v]) }
        for v in x[(n / 3)...] { b.add([v]) }
        a.merge(b)
        #expect(approx(a.centered.variance(0), exactVariance, 1e-6))
    }

    @Test func diagonalLayoutAgreesWithFull() {
        let data = Self.rows(40, dim: 5, seed: 6)
        var full = MomentsState(dim: 5, full: true)
        var diag = MomentsState(dim: 5, full: false)
        for r in data {
            full.add(r)
            diag.add(r)
        }
        let f = full.centered, d = diag.centered
        #expect(f.count == d.count)
        for i in 0..<5 {
            #expect(approx(f.mean[i], d.mean[i], 1e-14))
            #expect(approx(f.comoment[i * 5 + i], d.comoment[i * 5 + i], 1e-13))
            #expect(approx(f.variance(i), d.variance(i), 1e-13))
            for j in 0..<5 where j != i { #expect(d.comoment[i * 5 + j] == 0) }
        }
        // And the full layout's off-diagonal entries are not trivially zero.
        #expect(f.comoment[1] != 0)
    }

    @Test func singleRowHasZeroSpread() {
        var s = MomentsState(dim: 2, full: true)
        s.add([3.5, -1e9])
        let c = s.centered
        #expect(c.count == 1)
        #expect(c.mean == [3.5, -1e9])
        #expect(c.comoment == [0, 0, 0, 0])
    }
}
