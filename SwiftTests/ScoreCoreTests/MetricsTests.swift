import Testing
@testable import ScoreCore

/// Evaluation metrics against values computed by hand (each case shows the arithmetic;
/// scikit-learn 1.9 gives the same numbers).
@Suite struct MetricsTests {
    /// Metrics of rows given as (truth, probabilities); the predicted class is the most
    /// probable one (first on ties), as the host counts it.
    static func evaluate(_ truth: [Int32], _ proba: [[Double]], blockSize: Int = 4096) throws -> ClassificationMetrics {
        let k = proba[0].count
        var confusion = [Int](repeating: 0, count: k * k)
        for (t, p) in zip(truth, proba) {
            var best = 0
            for c in 1..<k where p[c] > p[best] { best = c }
            confusion[Int(t) * k + best] += 1
        }
        let rows = ArrayEvaluationRows(classCount: k, truth: truth, probabilities: proba.flatMap { $0 },
                                       blockSize: blockSize)
        return try ClassificationMetrics(confusion: confusion, rows: rows)
    }

    static func auc(_ pos: [Double], _ neg: [Double]) -> Double? {
        var p = pos, n = neg
        return ClassificationMetrics.rocAUC(positives: &p, negatives: &n)
    }

    // MARK: ROC AUC

    @Test func aucWithTies() {
        // positives 0.4, 0.8, 0.4; negatives 0.1, 0.4, 0.9; 9 pairs:
        // 0.4 → beats 0.1, ties 0.4 (½), loses to 0.9 = 1.5; twice; 0.8 → 2.  (1.5+1.5+2)/9 = 5/9
        #expect(Self.auc([0.4, 0.8, 0.4], [0.1, 0.4, 0.9]) == 5.0 / 9.0)
        // every score equal: each pair is a tie → ½
        #expect(Self.auc([0.3, 0.3], [0.3, 0.3, 0.3]) == 0.5)
        // ties across runs of both: pos 1,1,2 ; neg 1,2,2 → 1: ½ + 0 + 0 (×2) ; 2: 1 + ½ + ½ → (0.5+0.5+2)/9 = 3/9
        #expect(Self.auc([1, 2, 1], [2, 1, 2]) == 3.0 / 9.0)
    }

    @Test func aucPerfectWorstAndUndefined() {
        #expect(Self.auc([0.9, 0.8], [0.1, 0.2, 0.3]) == 1)
        #expect(Self.auc([0.1, 0.2], [0.8, 0.9, 0.3]) == 0)
        #expect(Self.auc([], [0.1]) == nil)
        #expect(Self.auc([0.1], []) == nil)
    }

    @Test func aucMatchesPairCountingOnRandomScores() {
        var g = SplitMix64(seed: 7)
        // coarse scores, so ties are frequent
        let pos = (0..<300).map { _ in (g.uniform(0, 1) * 20).rounded() / 20 + 0.1 }
        let neg = (0..<200).map { _ in (g.uniform(0, 1) * 20).rounded() / 20 }
        var u = 0.0
        for p in pos { for n in neg { u += p > n ? 1 : (p == n ? 0.5 : 0) } }
        #expect(approx(Self.auc(pos, neg)!, u / Double(pos.count * neg.count), 1e-15))
    }

    // MARK: two classes

    @Test func perfectBinaryClassifier() throws {
        let m = try Self.evaluate([0, 1, 1, 0], [[1, 0], [0, 1], [0.2, 0.8], [0.9, 0.1]])
        #expect(m.confusion == [[2, 0], [0, 2]])
        #expect(m.accuracy == 1 && m.precision == 1 && m.recall == 1 && m.f1 == 1)
        #expect(m.rocAUC == 1)
        // −(ln(1−ε) + ln(1−ε) + ln 0.8 + ln 0.9) / 4, ε = 2⁻⁵² (probability 1 is clipped)
        let terms: [Double] = [_log(1 - Double.ulpOfOne), _log(1 - Double.ulpOfOne), _log(0.8), _log(0.9)]
        let expected = -terms.reduce(0, +) / 4
        #expect(approx(m.logLoss ?? .nan, expected, 1e-15))
    }

    @Test func worstBinaryClassifier() throws {
        let m = try Self.evaluate([0, 1, 1, 0], [[0, 1], [1, 0], [1, 0], [0, 1]])
        #expect(m.confusion == [[0, 2], [2, 0]])
        #expect(m.accuracy == 0 && m.precision == 0 && m.recall == 0 && m.f1 == 0)
        #expect(m.rocAUC == 0)
        // every truth probability is 0, clipped to ε: −ln ε = 52 ln 2
        #expect(approx(m.logLoss ?? .nan, 52 * _log(2.0), 1e-15))
    }

    @Test func binaryCounts() throws {
        // truth 1 1 1 0 0 ; predicted 1 0 1 1 0 → tp 2, fn 1, fp 1, tn 1
        let m = try Self.evaluate([1, 1, 1, 0, 0],
                                  [[0.2, 0.8], [0.6, 0.4], [0.3, 0.7], [0.4, 0.6], [0.9, 0.1]])
        #expect(m.confusion == [[1, 1], [1, 2]])
        #expect(m.accuracy == 3.0 / 5.0)
        #expect(m.precision == 2.0 / 3.0)          // tp / (tp + fp)
        #expect(m.recall == 2.0 / 3.0)             // tp / (tp + fn)
        #expect(m.f1 == 4.0 / 6.0)                 // 2tp / (2tp + fp + fn)
        #expect(m.support == [2, 3])
        #expect(m.perClassPrecision == [0.5, 2.0 / 3.0])
        // positives 0.8 0.4 0.7 vs negatives 0.6 0.1: 2 + 1 + 2 = 5 of 6
        #expect(m.rocAUC == 5.0 / 6.0)
        let terms: [Double] = [0.8, 0.4, 0.7, 0.4, 0.9].map(_log)
        let expected = -terms.reduce(0, +) / 5
        #expect(approx(m.logLoss ?? .nan, expected, 1e-15))
    }

    @Test func undefinedBinaryMetricsAreNil() throws {
        // only negatives in the truth, and the positive class never predicted
        let m = try Self.evaluate([0, 0, 0], [[0.9, 0.1], [0.8, 0.2], [0.6, 0.4]])
        #expect(m.accuracy == 1)
        #expect(m.precision == nil)               // 0 / 0
        #expect(m.recall == nil)                  // 0 / 0
        #expect(m.f1 == nil)                      // 2·0 / (0 + 0)
        #expect(m.rocAUC == nil)                  // one class present
        let json = m.json(classes: [.bool(false), .bool(true)]).serialized
        #expect(json.contains("\"precision\":null"))
        #expect(json.contains("\"roc_auc\":null"))
        #expect(!json.contains("nan") && !json.contains("NaN"))
    }

    // MARK: more classes

    /// truth 0 0 1 1 2 2, probabilities below, predicted (argmax) 0 1 1 2 2 1.
    static let threeTruth: [Int32] = [0, 0, 1, 1, 2, 2]
    static let threeProba: [[Double]] = [[0.7, 0.2, 0.1], [0.3, 0.5, 0.2], [0.2, 0.6, 0.2],
                                         [0.1, 0.3, 0.6], [0.1, 0.1, 0.8], [0.3, 0.45, 0.25]]

    @Test func multiclassMacro() throws {
        let m = try Self.evaluate(Self.threeTruth, Self.threeProba, blockSize: 4)
        #expect(m.confusion == [[1, 1, 0], [0, 1, 1], [0, 1, 1]])
        #expect(m.accuracy == 0.5)
        #expect(m.support == [2, 2, 2])
        // predicted counts 1, 3, 2; correct 1, 1, 1
        #expect(m.perClassPrecision == [1, 1.0 / 3.0, 0.5])
        #expect(m.perClassRecall == [0.5, 0.5, 0.5])
        #expect(m.perClassF1 == [2.0 / 3.0, 2.0 / 5.0, 2.0 / 4.0])
        #expect(approx(m.precision!, 11.0 / 18.0, 1e-15))
        #expect(m.recall == 0.5)
        #expect(approx(m.f1!, 47.0 / 90.0, 1e-15))
        // one-vs-rest: class 0: 7.5/8 (0.3 ties 0.3), class 1: 6/8, class 2: 7/8
        #expect(approx(m.rocAUC!, (0.9375 + 0.75 + 0.875) / 3, 1e-15))
        let terms: [Double] = [0.7, 0.3, 0.6, 0.3, 0.8, 0.25].map(_log)
        let expected = -terms.reduce(0, +) / 6
        #expect(approx(m.logLoss ?? .nan, expected, 1e-15))
    }

    @Test func multiclassUndefined() throws {
        // class 2 absent from the truth and never predicted: its precision, recall and F1
        // are undefined and left out of the macro averages; one-vs-rest AUC is undefined.
        let m = try Self.evaluate([0, 1, 1], [[0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.5, 0.4, 0.1]])
        #expect(m.confusion == [[1, 0, 0], [1, 1, 0], [0, 0, 0]])
        #expect(m.perClassPrecision == [0.5, 1, nil])
        #expect(m.perClassRecall == [1, 0.5, nil])
        #expect(m.perClassF1 == [2.0 / 3.0, 2.0 / 3.0, nil])
        #expect(m.precision == 0.75)
        #expect(m.recall == 0.75)
        #expect(m.rocAUC == nil)
    }

    @Test func blocksDoNotChangeTheResult() throws {
        var g = SplitMix64(seed: 11)
        var truth: [Int32] = []
        var proba: [[Double]] = []
        for _ in 0..<1000 {
            let a = g.uniform(0, 1), b = g.uniform(0, 1), c = g.uniform(0, 1)
            proba.append([a / (a + b + c), b / (a + b + c), c / (a + b + c)])
            truth.append(Int32(g.next() % 3))
        }
        let one = try Self.evaluate(truth, proba, blockSize: 1000)
        let many = try Self.evaluate(truth, proba, blockSize: 7)
        #expect(one.confusion == many.confusion && one.rocAUC == many.rocAUC)
        #expect(approx(one.logLoss ?? .nan, many.logLoss ?? .nan, 1e-13))
    }

    @Test func inconsistentInputIsRefused() {
        let rows = ArrayEvaluationRows(classCount: 2, truth: [0, 1], probabilities: [0.5, 0.5, 0.5, 0.5])
        #expect(throws: ScoreError.self) { try ClassificationMetrics(confusion: [1, 0, 0, 0], rows: rows) }
        #expect(throws: ScoreError.self) { try ClassificationMetrics(confusion: [1, 0, 1], rows: rows) }
        let bad = ArrayEvaluationRows(classCount: 2, truth: [0, 5], probabilities: [0.5, 0.5, 0.5, 0.5])
        #expect(throws: ScoreError.self) { try ClassificationMetrics(confusion: [1, 0, 0, 1], rows: bad) }
    }

    @Test func stopIsHonoured() {
        let rows = ArrayEvaluationRows(classCount: 2, truth: [0, 1], probabilities: [0.5, 0.5, 0.5, 0.5])
        #expect(throws: ScoreError.interrupted) {
            try ClassificationMetrics(confusion: [1, 0, 1, 0], rows: rows, stop: { true })
        }
    }

    @Test func jsonShape() throws {
        let m = try Self.evaluate(Self.threeTruth, Self.threeProba)
        let j = m.json(classes: ["a", "b", "c"].map { .string($0) })
        #expect(j["rows"] == .number(6))
        #expect(j["average"] == .string("macro"))
        #expect(j["classes"] == .array([.string("a"), .string("b"), .string("c")]))
        #expect(j["confusion_matrix"] == .array([[1, 1, 0], [0, 1, 1], [0, 1, 1]].map { .array($0.map { .number($0) }) }))
        #expect(j["per_class"]?["support"] == .array([.number(2), .number(2), .number(2)]))
        let b = try Self.evaluate([0, 1], [[0.6, 0.4], [0.3, 0.7]])
        let jb = b.json(classes: [LabelKind.boolean.json(Array("false".utf8)), LabelKind.boolean.json(Array("true".utf8))])
        #expect(jb["positive_class"] == .bool(true))
        #expect(jb["average"] == .string("binary"))
        #expect(LabelKind.integer.json(Array("42".utf8)) == .number(42))
    }

    // MARK: regression

    @Test func regressionByHand() throws {
        // errors 0.5, −0.5, 0, −1: MAE 2/4, MSE 1.5/4; mean 2.875, Σ(y−ȳ)² = 29.1875
        let m = try RegressionMetrics(predictions: [2.5, 0, 2, 8], truth: [3, -0.5, 2, 7])
        #expect(m.rows == 4)
        #expect(m.mae == 0.5)
        #expect(approx(m.rmse, 0.375.squareRoot(), 1e-15))
        #expect(approx(m.r2!, 1 - 1.5 / 29.1875, 1e-15))
    }

    @Test func regressionPerfectAndUndefined() throws {
        let perfect = try RegressionMetrics(predictions: [1, 2, 3], truth: [1, 2, 3])
        #expect(perfect.r2 == 1 && perfect.mae == 0 && perfect.rmse == 0)
        let constant = try RegressionMetrics(predictions: [1, 2, 3], truth: [2, 2, 2])
        #expect(constant.r2 == nil)
        #expect(approx(constant.mae, 2.0 / 3.0, 1e-15))
        #expect(try RegressionMetrics(predictions: [1], truth: [4]).r2 == nil)
        #expect(constant.json.serialized.contains("\"r2\":null"))
        #expect(throws: ScoreError.self) { try RegressionMetrics(predictions: [], truth: []) }
    }

    @Test func regressionSumsMerge() throws {
        var g = SplitMix64(seed: 3)
        let truth = (0..<500).map { _ in 1e6 + 3 * g.normal() }    // large mean, small spread
        let pred = truth.map { $0 + g.normal() }
        var whole = [Double](repeating: 0, count: RegressionSums.count)
        var a = whole, b = whole
        for i in 0..<500 {
            RegressionSums.add(&whole, prediction: pred[i], truth: truth[i])
            if i % 3 == 0 { RegressionSums.add(&a, prediction: pred[i], truth: truth[i]) } else {
                RegressionSums.add(&b, prediction: pred[i], truth: truth[i])
            }
        }
        var empty = [Double](repeating: 0, count: RegressionSums.count)
        RegressionSums.merge(into: &empty, from: a)
        RegressionSums.merge(into: &empty, from: b)
        let merged = try empty.withUnsafeBufferPointer { try RegressionMetrics(sums: $0.baseAddress!) }
        let direct = try RegressionMetrics(predictions: pred, truth: truth)
        #expect(merged.rows == 500)
        #expect(approx(merged.r2!, direct.r2!, 1e-12))
        #expect(approx(merged.mae, direct.mae, 1e-12) && approx(merged.rmse, direct.rmse, 1e-12))
        // two-pass reference for R²
        let mean = truth.reduce(0, +) / 500
        let sst = truth.reduce(0) { $0 + ($1 - mean) * ($1 - mean) }
        let sse = zip(truth, pred).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
        #expect(approx(direct.r2!, 1 - sse / sst, 1e-10))
    }

    // MARK: scoring for evaluation

    @Test func classifyAgreesWithPredictAndProbabilities() throws {
        var g = SplitMix64(seed: 5)
        for model in [ScorerTests.binary, ScorerTests.three, ScorerTests.bayes] {
            let s = Scorer(model)
            let k = model.classes.count
            for i in 0..<2000 {
                // a few rows right on the decision boundary of the binary model (score 0)
                let x: [Double] = i < 3 ? [2 - 4 * Double(i), 0.5 * Double(i)] : [g.uniform(-8, 8), g.uniform(-8, 14)]
                var p = [Double](repeating: -1, count: k)
                var q = [Double](repeating: -2, count: k)
                let c = try x.withUnsafeBufferPointer { xp in
                    try p.withUnsafeMutableBufferPointer { try s.classify(xp.baseAddress!, count: 2, probabilities: $0.baseAddress!) }
                }
                try x.withUnsafeBufferPointer { xp in
                    try q.withUnsafeMutableBufferPointer { try s.probabilities(xp.baseAddress!, count: 2, into: $0.baseAddress!) }
                }
                #expect(p == q)
                #expect(try ScorerTests.predict(model, x) == .classIndex(c))
            }
        }
    }

    @Test func classifyRefusesWhatPredictRefuses() {
        let s = Scorer(ScorerTests.three)
        var out = [Double](repeating: 0, count: 3)
        let short: [Double] = [1]
        #expect(throws: ScoreError.self) {
            try short.withUnsafeBufferPointer { xp in
                try out.withUnsafeMutableBufferPointer { try s.classify(xp.baseAddress!, count: 1, probabilities: $0.baseAddress!) }
            }
        }
        let nan: [Double] = [1, .nan]
        #expect(throws: ScoreError.self) {
            try nan.withUnsafeBufferPointer { xp in
                try out.withUnsafeMutableBufferPointer { try s.classify(xp.baseAddress!, count: 2, probabilities: $0.baseAddress!) }
            }
        }
        let lin = Scorer(ScorerTests.linear)
        let x: [Double] = [1, 2, 3]
        #expect(throws: ScoreError.self) {
            try x.withUnsafeBufferPointer { xp in
                try out.withUnsafeMutableBufferPointer { try lin.classify(xp.baseAddress!, count: 3, probabilities: $0.baseAddress!) }
            }
        }
    }
}
