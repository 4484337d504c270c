import Testing
@testable import ScoreCore

@Suite struct LinearRegressionTests {
    static func features(_ n: Int, _ d: Int, seed: UInt64) -> [[Double]] {
        var g = SplitMix64(seed: seed)
        return (0..<n).map { _ in (0..<d).map { j in Double(j + 1) * g.uniform(-5, 5) + Double(j) } }
    }

    static func options(l2: Double = 0, intercept: Bool = true) -> TrainingOptions {
        var o = TrainingOptions(for: .linearRegression)
        o.l2 = l2
        o.intercept = intercept
        return o
    }

    static func unpack(_ p: Parameters) throws -> (Double, [Double]) {
        guard case let .linear(b, w) = p else {
            Issue.record("expected linear parameters, got \(p)")
            throw ScoreError.badValue("wrong parameters")
        }
        return (b, w)
    }

    @Test func recoversNoiseFreeCoefficients() throws {
        let x = Self.features(25, 2, seed: 10)
        let y = x.map { 3 + 2 * $0[0] - $0[1] }
        let (b, w) = try Self.unpack(try LinearRegression.fit(regressionMoments(x, y), featureCount: 2, options: Self.options()))
        #expect(abs(b - 3) < 1e-10)
        #expect(abs(w[0] - 2) < 1e-10)
        #expect(abs(w[1] + 1) < 1e-10)
    }

    @Test func recoversCoefficientsWithLargeOffsets() throws {
        // Features far from zero: the centered moments keep the fit exact.
        let x = Self.features(30, 3, seed: 11).map { [$0[0] + 1e6, $0[1] - 3e5, $0[2]] }
        let y = x.map { -7 + 0.5 * $0[0] + 4 * $0[1] - 2 * $0[2] }
        let (b, w) = try Self.unpack(try LinearRegression.fit(regressionMoments(x, y), featureCount: 3, options: Self.options()))
        #expect(allApprox(w, [0.5, 4, -2], 1e-9))
        #expect(abs(b - (-7)) < 1e-6 * 1e6)   // intercept sits 1e6 away from the data
        #expect(abs(b - (-7)) < 1e-3)
    }

    @Test func withoutIntercept() throws {
        let x = Self.features(20, 2, seed: 12)
        let y = x.map { 2 * $0[0] - $0[1] }
        let (b, w) = try Self.unpack(try LinearRegression.fit(regressionMoments(x, y), featureCount: 2,
                                                              options: Self.options(intercept: false)))
        #expect(b == 0)
        #expect(allApprox(w, [2, -1], 1e-10))

        // Data with a true intercept fitted through the origin: the least-squares answer of
        // the uncentered normal equations, solved here by Cramer's rule.
        let y2 = x.map { 5 + 2 * $0[0] - $0[1] }
        var s11 = 0.0, s12 = 0.0, s22 = 0.0, s1y = 0.0, s2y = 0.0
        for (r, v) in zip(x, y2) {
            s11 += r[0] * r[0]; s12 += r[0] * r[1]; s22 += r[1] * r[1]
            s1y += r[0] * v; s2y += r[1] * v
        }
        let det = s11 * s22 - s12 * s12
        let expected = [(s1y * s22 - s12 * s2y) / det, (s11 * s2y - s12 * s1y) / det]
        let (b2, w2) = try Self.unpack(try LinearRegression.fit(regressionMoments(x, y2), featureCount: 2,
                                                                options: Self.options(intercept: false)))
        #expect(b2 == 0)
        #expect(allApprox(w2, expected, 1e-10))
    }

    @Test(arguments: [0.5, 3.0, 100.0])
    func ridgeMatchesClosedFormForOneFeature(alpha: Double) throws {
        let x: [Double] = [1, 2, 4, 7, 8, 11, 12]
        let y: [Double] = [2.1, 3.9, 9.2, 13.8, 16.1, 23.5, 24.0]
        let n = Double(x.count)
        let xm = x.reduce(0, +) / n, ym = y.reduce(0, +) / n
        var sxx = 0.0, sxy = 0.0
        for (a, b) in zip(x, y) {
            sxx += (a - xm) * (a - xm)
            sxy += (a - xm) * (b - ym)
        }
        let w = sxy / (sxx + alpha)
        let ols = sxy / sxx
        let (b, coef) = try Self.unpack(try LinearRegression.fit(regressionMoments(x.map { [$0] }, y), featureCount: 1,
                                                                 options: Self.options(l2: alpha)))
        #expect(approx(coef[0], w, 1e-12))
        #expect(approx(b, ym - w * xm, 1e-12))
        #expect(abs(coef[0]) < abs(ols))
    }

    @Test func ridgeShrinksMonotonically() throws {
        let x = Self.features(15, 3, seed: 13)
        var g = SplitMix64(seed: 14)
        let y = x.map { 1 + 3 * $0[0] - 2 * $0[1] + 0.5 * $0[2] + 0.1 * g.normal() }
        var previous = Double.infinity
        for alpha in [0.0, 0.1, 1, 10, 100, 1000] {
            let (_, w) = try Self.unpack(try LinearRegression.fit(regressionMoments(x, y), featureCount: 3,
                                                                  options: Self.options(l2: alpha)))
            let norm = w.reduce(0) { $0 + $1 * $1 }.squareRoot()
            #expect(norm < previous)
            previous = norm
            // Normal equations (XcᵀXc + αI) w = Xcᵀyc, checked with a two-pass computation.
            let ref = twoPassMoments(zip(x, y).map { $0 + [$1] })
            for i in 0..<3 {
                var lhs = alpha * w[i]
                for j in 0..<3 { lhs += ref.comoment[i * 4 + j] * w[j] }
                #expect(approx(lhs, ref.comoment[i * 4 + 3], 1e-9))
            }
        }
    }

    @Test func tooFewRows() throws {
        let x = [[1.0, 2.0], [2.0, 1.0]]
        let y = [1.0, 2.0]
        #expect {
            try LinearRegression.fit(regressionMoments(x, y), featureCount: 2, options: Self.options())
        } throws: { error in
            guard let e = error as? ScoreError, case .unfitData = e else { return false }
            return e.message.contains("at least 3 rows")
        }
        // Without an intercept two rows suffice for two features.
        let (b, w) = try Self.unpack(try LinearRegression.fit(regressionMoments(x, [4, 5]), featureCount: 2,
                                                              options: Self.options(intercept: false)))
        // [[1,2],[2,1]] w = (4,5) ⇒ w = (2, 1).
        #expect(b == 0)
        #expect(allApprox(w, [2, 1], 1e-12))
        // A ridge penalty makes it solvable with an intercept too.
        _ = try LinearRegression.fit(regressionMoments(x, y), featureCount: 2, options: Self.options(l2: 1))
    }

    @Test func constantColumn() {
        let x = Self.features(10, 3, seed: 15).map { [$0[0], 4.25, $0[2]] }
        let y = x.map { $0[0] + $0[2] }
        #expect {
            try LinearRegression.fit(regressionMoments(x, y), featureCount: 3, options: Self.options())
        } throws: { error in
            guard let e = error as? ScoreError, case .unfitData = e else { return false }
            return e.message.contains("feature 2 is constant")
        }
    }

    @Test func zeroColumnWithoutIntercept() {
        let x = Self.features(10, 2, seed: 16).map { [0, $0[1]] }
        let y = x.map { $0[1] }
        #expect {
            try LinearRegression.fit(regressionMoments(x, y), featureCount: 2, options: Self.options(intercept: false))
        } throws: { error in
            guard let e = error as? ScoreError, case .unfitData = e else { return false }
            return e.message.contains("feature 1 is constant zero")
        }
    }

    @Test func collinearColumn() throws {
        let x = Self.features(12, 2, seed: 17).map { [$0[0], $0[1], $0[0] + 2 * $0[1]] }
        let y = x.map { 1 + $0[0] - $0[1] }
        #expect {
            try LinearRegression.fit(regressionMoments(x, y), featureCount: 3, options: Self.options())
        } throws: { error in
            guard let e = error as? ScoreError, case .unfitData = e else { return false }
            return e.message.contains("feature 3 is collinear")
        }
        // A ridge penalty resolves it: finite coefficients, the collinear direction shared.
        let (_, w) = try Self.unpack(try LinearRegression.fit(regressionMoments(x, y), featureCount: 3,
                                                              options: Self.options(l2: 1)))
        #expect(w.allSatisfy { $0.isFinite })
    }

    @Test func wrongMomentDimension() {
        let x = Self.features(10, 2, seed: 18)
        let y = x.map { $0[0] }
        #expect {
            try LinearRegression.fit(regressionMoments(x, y), featureCount: 3, options: Self.options())
        } throws: { error in
            guard let e = error as? ScoreError, case .badShape = e else { return false }
            return true
        }
    }
}
