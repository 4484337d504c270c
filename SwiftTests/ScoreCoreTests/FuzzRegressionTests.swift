import Testing
@testable import ScoreCore

/// Cases the fuzzers (fuzz/) found; each input is also kept under fuzz/regressions/
/// and replayed by `make test`'s fuzz step.
@Suite struct FuzzRegressionTests {
    static func probabilities(_ m: Model, _ x: [Double]) throws -> [Double] {
        let s = Scorer(try ModelCodec.decode(ModelCodec.encode(m)))
        let out = UnsafeMutablePointer<Double>.allocate(capacity: m.classes.count)
        defer { out.deallocate() }
        let row = UnsafeMutablePointer<Double>.allocate(capacity: x.count)
        defer { row.deallocate() }
        row.initialize(from: x, count: x.count)
        try s.probabilities(row, count: x.count, into: out)
        return Array(UnsafeBufferPointer(start: out, count: m.classes.count))
    }

    /// fuzz/regressions/model/softmax-tied-huge-scores: two classes tied at a score near
    /// 1e308 got probability 1 each (top + log(sum) rounded back to top).
    @Test func tiedHugeScoresStillSumToOne() throws {
        let m = Model(algorithm: .logisticRegression, featureCount: 1, trainingRows: 3, labelKind: .text,
                      classes: ["a", "b", "c"].map { Array($0.utf8) },
                      parameters: .logistic(intercepts: [1e308, 1e308, 0], coefficients: [[0], [0], [0]]))
        let p = try Self.probabilities(m, [1])
        #expect(p == [0.5, 0.5, 0])
    }

    /// The same for boosted trees with one score per class (their own softmax).
    @Test func boostedTreesWithTiedHugeScoresSumToOne() throws {
        let e = TreeEnsemble(combine: .sum, outputs: 1, scores: 3, base: [1e308, 1e308, 0],
                             treeStart: [0], treeScore: [0],
                             feature: [0, -1, -1], threshold: [0.5, 0, 0], missingLeft: [false, false, false],
                             left: [1, 0, 1], right: [2, -1, -1], values: [0, 0], importance: [1])
        let m = Model(algorithm: .gradientBoosting, featureCount: 1, trainingRows: 3, labelKind: .text,
                      classes: ["a", "b", "c"].map { Array($0.utf8) }, parameters: .trees(e))
        let p = try Self.probabilities(m, [1])
        #expect(p == [0.5, 0.5, 0])
    }
}

/// Found by tests/test_sql_campaign.py: a numeric column given as text accepted "0x10"
/// (Double(String) reads hexadecimal) while ml.train's rule is decimal only; the rule is
/// NumericText.number now (NumericTextTests).
@Suite struct HexadecimalTextTests {
    @Test func hexadecimalIsNotANumber() {
        for bad in ["0x10", "0x1p3", "0X1A", "1.2.3", "--1", "1 2"] {
            #expect(NumericText.number(bad) == nil, "\(bad)")
        }
    }
}

/// fuzz/regressions/preprocess/standardised-overflow.json (PreprocessFuzz): a column
/// centred at 1e308 with scale 1e-300 encoded 7 as -Infinity; now 22003 (out of range).
@Suite struct PreprocessOverflowTests {
    @Test func standardisingBeyondFloat8IsOutOfRange() throws {
        let spec = try Preprocessor(json: try JSONValue.parse(
            #"{"columns":[{"name":"a","kind":"numeric","center":1e308,"scale":1e-300}]}"#))
        var out = [Double](repeating: 0, count: 1)
        #expect(throws: ScoreError.self) {
            try typed { try out.withUnsafeMutableBufferPointer { try spec.encode({ _ in .number(7) }, into: $0.baseAddress!) } }
        }
        let near = try Preprocessor(json: try JSONValue.parse(#"{"columns":[{"name":"a","kind":"numeric","center":7,"scale":1e-300}]}"#))
        try typed { try out.withUnsafeMutableBufferPointer { try near.encode({ _ in .number(7) }, into: $0.baseAddress!) } }
        #expect(out == [0])
    }
}
