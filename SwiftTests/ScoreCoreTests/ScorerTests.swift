import Testing
@testable import ScoreCore

@Suite struct ScorerTests {
    static let linear = Model(algorithm: .linearRegression, featureCount: 3, trainingRows: 10, labelKind: .float8,
                              classes: [], parameters: .linear(intercept: 1.5, coefficients: [2, -0.5, 0.25]))
    static let binary = Model(algorithm: .logisticRegression, featureCount: 2, trainingRows: 10, labelKind: .boolean,
                              classes: [Array("false".utf8), Array("true".utf8)],
                              parameters: .logistic(intercepts: [-1], coefficients: [[0.5, 2]]))
    static let three = Model(algorithm: .logisticRegression, featureCount: 2, trainingRows: 10, labelKind: .text,
                             classes: ["a", "b", "c"].map { Array($0.utf8) },
                             parameters: .logistic(intercepts: [0.1, -0.2, 0.1],
                                                   coefficients: [[1, 0], [0, 1], [-1, -1]]))
    static let bayes = Model(algorithm: .naiveBayes, featureCount: 2, trainingRows: 10, labelKind: .integer,
                             classes: ["1", "2"].map { Array($0.utf8) },
                             parameters: .naiveBayes(prior: [0.6, 0.4], means: [[2, 12], [7, 2]],
                                                     variances: [[1, 4], [2, 3]]))

    static func predict(_ m: Model, _ x: [Double]) throws -> Prediction {
        let s = Scorer(m)
        return try x.withUnsafeBufferPointer { try s.predict($0.baseAddress!, count: x.count) }
    }

    static func probabilities(_ m: Model, _ x: [Double]) throws -> [Double] {
        let s = Scorer(m)
        var out = [Double](repeating: -1, count: max(m.classes.count, 2))
        try x.withUnsafeBufferPointer { xp in
            try out.withUnsafeMutableBufferPointer { try s.probabilities(xp.baseAddress!, count: x.count, into: $0.baseAddress!) }
        }
        return out
    }

    /// Gaussian density, written out.
    static func normalPDF(_ x: Double, mean: Double, variance: Double) -> Double {
        _exp(-(x - mean) * (x - mean) / (2 * variance)) / (2 * Double.pi * variance).squareRoot()
    }

    @Test func linearPrediction() throws {
        // 1.5 + 2·1 − 0.5·2 + 0.25·4 = 3.5
        #expect(try Self.predict(Self.linear, [1, 2, 4]) == .value(3.5))
        #expect(try Self.predict(Self.linear, [0, 0, 0]) == .value(1.5))
        let v = try Self.predict(Self.linear, [-1e3, 0.1, 3])
        #expect(v == .value(1.5 - 2e3 - 0.05 + 0.75))
    }

    @Test func binaryLogistic() throws {
        // s = −1 + 0.5·2 + 2·0.25 = 0.5
        #expect(try Self.predict(Self.binary, [2, 0.25]) == .classIndex(1))
        let p = try Self.probabilities(Self.binary, [2, 0.25])
        let p1 = 1 / (1 + _exp(-0.5))
        #expect(approx(p[1], p1, 1e-15))
        #expect(approx(p[0], 1 - p1, 1e-15))
        #expect(approx(p[0] + p[1], 1, 1e-15))
        // s = −1: class 0; s = 0 exactly: class 0 (ties go to the first class), p = ½.
        #expect(try Self.predict(Self.binary, [0, 0]) == .classIndex(0))
        #expect(try Self.predict(Self.binary, [2, 0]) == .classIndex(0))
        #expect(try Self.probabilities(Self.binary, [2, 0]) == [0.5, 0.5])
        // Extreme scores saturate without NaN.
        let low = try Self.probabilities(Self.binary, [0, -500])
        #expect(low[0] == 1 && low[1] >= 0 && low[1] < 1e-300)
        let high = try Self.probabilities(Self.binary, [0, 500])
        #expect(high[1] == 1 && high[0] == 0)
    }

    @Test func threeClassLogistic() throws {
        let x: [Double] = [0.5, 1.5]
        // z = (0.1 + 0.5, −0.2 + 1.5, 0.1 − 2) = (0.6, 1.3, −1.9)
        let e = [0.6, 1.3, -1.9].map { _exp($0) }
        let total = e.reduce(0, +)
        let expected = e.map { $0 / total }
        let p = try Self.probabilities(Self.three, x)
        #expect(allApprox(p, expected, 1e-14))
        #expect(approx(p.reduce(0, +), 1, 1e-15))
        #expect(try Self.predict(Self.three, x) == .classIndex(1))
        #expect(try Self.predict(Self.three, [3, 0]) == .classIndex(0))
        #expect(try Self.predict(Self.three, [-3, -3]) == .classIndex(2))
        // Huge scores do not overflow.
        let big = try Self.probabilities(Self.three, [1000, 0])
        #expect(big.allSatisfy { $0.isFinite })
        #expect(approx(big[0], 1, 1e-15))
    }

    @Test(arguments: [[2.5, 10.0], [6.0, 3.0], [4.5, 7.0], [-20.0, 40.0]])
    func naiveBayes(x: [Double]) throws {
        let prior = [0.6, 0.4]
        let means: [[Double]] = [[2, 12], [7, 2]]
        let variances: [[Double]] = [[1, 4], [2, 3]]
        // Joint log-likelihoods, from log densities (stable for far-away points too).
        let joint = (0..<2).map { c in
            (0..<2).reduce(_log(prior[c])) { acc, j in
                acc - 0.5 * _log(2 * Double.pi * variances[c][j])
                    - (x[j] - means[c][j]) * (x[j] - means[c][j]) / (2 * variances[c][j])
            }
        }
        let top = joint.max()!
        let expected = joint.map { _exp($0 - top) }.map { $0 / joint.map { _exp($0 - top) }.reduce(0, +) }
        let p = try Self.probabilities(Self.bayes, x)
        #expect(allApprox(p, expected, 1e-12))
        #expect(approx(p.reduce(0, +), 1, 1e-15))
        #expect(try Self.predict(Self.bayes, x) == .classIndex(joint[1] > joint[0] ? 1 : 0))
    }

    @Test func naiveBayesAgainstDensities() throws {
        // Near the class means the products of densities are well within range.
        let x: [Double] = [4.5, 7]
        let prior = [0.6, 0.4]
        let means: [[Double]] = [[2, 12], [7, 2]]
        let variances: [[Double]] = [[1, 4], [2, 3]]
        let joint = (0..<2).map { c in
            prior[c] * Self.normalPDF(x[0], mean: means[c][0], variance: variances[c][0])
                * Self.normalPDF(x[1], mean: means[c][1], variance: variances[c][1])
        }
        let total = joint.reduce(0, +)
        let p = try Self.probabilities(Self.bayes, x)
        #expect(allApprox(p, joint.map { $0 / total }, 1e-12))
        #expect(p[0] > 0.01 && p[1] > 0.01)   // not a trivially saturated case
    }

    @Test func wrongFeatureCount() {
        for (m, n) in [(Self.linear, 2), (Self.linear, 4), (Self.binary, 3), (Self.three, 1), (Self.bayes, 0)] {
            let x = [Double](repeating: 1, count: max(n, 1))
            #expect {
                let s = Scorer(m)
                _ = try x.withUnsafeBufferPointer { try s.predict($0.baseAddress!, count: n) }
            } throws: { error in
                guard let e = error as? ScoreError, case .badShape = e else { return false }
                return e.message.contains("expects \(m.featureCount) features, got \(n)")
            }
            if m.algorithm.isClassifier {
                #expect {
                    let s = Scorer(m)
                    var out = [Double](repeating: 0, count: 3)
                    try x.withUnsafeBufferPointer { xp in
                        try out.withUnsafeMutableBufferPointer { try s.probabilities(xp.baseAddress!, count: n, into: $0.baseAddress!) }
                    }
                } throws: { error in
                    guard let e = error as? ScoreError, case .badShape = e else { return false }
                    return true
                }
            }
        }
    }

    @Test func nonFiniteFeature() {
        for m in [Self.linear, Self.binary, Self.three, Self.bayes] {
            for bad in [Double.nan, .infinity, -.infinity] {
                var x = [Double](repeating: 0.5, count: m.featureCount)
                x[m.featureCount - 1] = bad
                #expect {
                    try Self.predict(m, x)
                } throws: { error in
                    guard let e = error as? ScoreError, case .badValue = e else { return false }
                    return e.message.contains("feature \(m.featureCount) is \(sqlSpelling(bad))")
                }
                if m.algorithm.isClassifier {
                    #expect {
                        try Self.probabilities(m, x)
                    } throws: { error in
                        guard let e = error as? ScoreError, case .badValue = e else { return false }
                        return true
                    }
                }
            }
        }
    }

    @Test func probabilitiesOfARegressionModel() {
        #expect {
            try Self.probabilities(Self.linear, [1, 2, 3])
        } throws: { error in
            guard let e = error as? ScoreError, case .badValue = e else { return false }
            return e.message.contains("needs a classifier")
        }
    }

    @Test func sqlSpellings() {
        #expect(sqlSpelling(.nan) == "NaN")
        #expect(sqlSpelling(.infinity) == "Infinity")
        #expect(sqlSpelling(-.infinity) == "-Infinity")
        #expect(sqlSpelling(2.5) == "2.5")
        #expect(sqlSpelling(3) == "3")
    }
}
