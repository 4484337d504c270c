import Testing
@testable import ScoreCore

@Suite struct NaiveBayesTests {
    static func classMoments(_ rows: [[Double]], dim: Int = 2) -> CenteredMoments {
        var s = MomentsState(dim: dim, full: false)
        for r in rows { s.add(r) }
        return s.centered
    }

    // Class 0: (1,10) (3,14) (2,12): mean (2,12), population variance (2/3, 8/3).
    // Class 1: (6,0) (8,4):          mean (7,2),  population variance (1, 4).
    // All five rows: feature 1 mean 4, variance 34/5 = 6.8; feature 2 mean 8, variance 136/5 = 27.2.
    static let class0: [[Double]] = [[1, 10], [3, 14], [2, 12]]
    static let class1: [[Double]] = [[6, 0], [8, 4]]

    static func options(varSmoothing: Double) -> TrainingOptions {
        var o = TrainingOptions(for: .naiveBayes)
        o.varSmoothing = varSmoothing
        return o
    }

    @Test(arguments: [1e-9, 0.01, 0.5])
    func handMadeData(varSmoothing: Double) throws {
        let p = try NaiveBayes.fit(perClass: [Self.classMoments(Self.class0), Self.classMoments(Self.class1)],
                                   featureCount: 2, options: Self.options(varSmoothing: varSmoothing))
        guard case let .naiveBayes(prior, means, variances) = p else {
            Issue.record("expected naive Bayes parameters")
            return
        }
        let eps = varSmoothing * 27.2
        #expect(allApprox(prior, [0.6, 0.4], 1e-15))
        #expect(allApprox(means[0], [2, 12], 1e-14))
        #expect(allApprox(means[1], [7, 2], 1e-14))
        #expect(allApprox(variances[0], [2.0 / 3 + eps, 8.0 / 3 + eps], 1e-14))
        #expect(allApprox(variances[1], [1 + eps, 4 + eps], 1e-14))
    }

    @Test func defaultSmoothingIsOneBillionth() throws {
        // One class has a zero variance on feature 1: the default smoothing lifts it to
        // 1e-9 × the largest overall variance (here feature 2: values 0,2,10,12 ⇒ 26).
        let c0 = Self.classMoments([[5, 0], [5, 2]])
        let c1 = Self.classMoments([[6, 10], [8, 12]])
        let p = try NaiveBayes.fit(perClass: [c0, c1], featureCount: 2, options: TrainingOptions(for: .naiveBayes))
        guard case let .naiveBayes(_, _, variances) = p else { Issue.record("wrong parameters"); return }
        #expect(approx(variances[0][0], 1e-9 * 26, 1e-12))
        #expect(variances[0][0] > 0)
        #expect(approx(variances[1][0], 1 + 26e-9, 1e-14))
    }

    @Test func threeClassesPriors() throws {
        let cs = [Self.classMoments([[1, 1], [2, 3]]),
                  Self.classMoments([[5, 2], [6, 1], [7, 0], [8, 4]]),
                  Self.classMoments([[0, 9], [1, 8]])]
        let p = try NaiveBayes.fit(perClass: cs, featureCount: 2, options: Self.options(varSmoothing: 1e-9))
        guard case let .naiveBayes(prior, _, _) = p else { Issue.record("wrong parameters"); return }
        #expect(allApprox(prior, [0.25, 0.5, 0.25], 1e-15))
    }

    @Test func oneClassIsUnfit() {
        #expect {
            try NaiveBayes.fit(perClass: [Self.classMoments(Self.class0)], featureCount: 2,
                               options: Self.options(varSmoothing: 1e-9))
        } throws: { error in
            guard let e = error as? ScoreError, case .unfitData = e else { return false }
            return true
        }
    }

    @Test func constantFeaturesAreUnfit() {
        let c0 = Self.classMoments([[1, 2], [1, 2]])
        let c1 = Self.classMoments([[1, 2]])
        #expect {
            try NaiveBayes.fit(perClass: [c0, c1], featureCount: 2, options: Self.options(varSmoothing: 1e-9))
        } throws: { error in
            guard let e = error as? ScoreError, case .unfitData = e else { return false }
            return e.message.contains("every feature is constant")
        }
    }

    @Test func emptyClassIsRejected() {
        let empty = MomentsState(dim: 2, full: false).centered
        #expect {
            try NaiveBayes.fit(perClass: [Self.classMoments(Self.class0), empty], featureCount: 2,
                               options: Self.options(varSmoothing: 1e-9))
        } throws: { error in
            guard let e = error as? ScoreError, case .badValue = e else { return false }
            return true
        }
    }

    @Test
    func zeroSmoothingWithPositiveVariances() throws {
        let p = try NaiveBayes.fit(perClass: [Self.classMoments(Self.class0), Self.classMoments(Self.class1)],
                                   featureCount: 2, options: Self.options(varSmoothing: 0))
        guard case let .naiveBayes(_, _, variances) = p else { Issue.record("wrong parameters"); return }
        #expect(allApprox(variances[0], [2.0 / 3, 8.0 / 3], 1e-14))
        #expect(allApprox(variances[1], [1, 4], 1e-14))
    }

    @Test func zeroSmoothingWithAZeroVarianceIsUnfit() {
        let c0 = Self.classMoments([[5, 0], [5, 2]])
        let c1 = Self.classMoments([[6, 10], [8, 12]])
        #expect {
            try NaiveBayes.fit(perClass: [c0, c1], featureCount: 2, options: Self.options(varSmoothing: 0))
        } throws: { error in
            guard let e = error as? ScoreError, case .unfitData = e else { return false }
            return true
        }
    }
}
