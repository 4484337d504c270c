import Testing
@testable import ScoreCore

/// The preprocessing fit (ml._preprocess_fit): its moments are PostgreSQL's avg and
/// stddev_pop, its decisions those ml.train documents; tests/test_preprocess_fit.py
/// compares it with scikit-learn on real tables.
@Suite struct PreprocessFitTests {
    func fit(_ values: [Double?], textual: Bool = false) -> ColumnFit {
        var f = ColumnFit(options: .init(name: "x", sqlType: "double precision"), textual: textual)
        for v in values { if let v { f.add(number: v) } else { f.addNull() } }
        return f
    }

    func texts(_ values: [String?], max: Int = 200) -> ColumnFit {
        var o = ColumnFit.Options(name: "t", sqlType: "text")
        o.maxCategories = max
        var f = ColumnFit(options: o, textual: true)
        for v in values { if let v { f.add(text: v) } else { f.addNull() } }
        return f
    }

    @Test func meanAndPopulationStandardDeviation() throws {
        let f = fit([1, 2, nil, 3, 4])
        #expect(f.mean == 2.5)
        #expect(abs(f.std - 1.118033988749895) < 1e-15)
        let column = try f.result()["column"]
        #expect(column?["impute"] == .number(2.5))
        #expect(try f.result()["stats"]?["null_fraction"] == .number(0.2))
    }

    @Test func mergedStatesGiveTheSameFit() throws {
        let values: [Double?] = (0..<1000).map { $0 % 17 == 0 ? nil : Double($0 % 31) * 0.37 }
        var a = fit(Array(values[..<400]))
        try a.merge(fit(Array(values[400...])))
        let whole = fit(values)
        // the sums are added in another order: equal to rounding
        #expect(a.rows == whole.rows && a.n == whole.n && abs(a.sx - whole.sx) <= 1e-12 * abs(whole.sx))
        #expect(abs(a.std - whole.std) < 1e-12 && abs(a.mean - whole.mean) < 1e-12)
    }

    @Test func numericTextWithMarkersIsNumeric() throws {
        let f = texts([" 7 ", "1e3", "?", "", "NaN", nil, ".5"])
        #expect(f.isNumeric)
        #expect(f.n == 3)
        #expect(try f.result()["column"]?["kind"] == .string("numeric"))
    }

    @Test func oddSpellingsAreCategories() throws {
        for odd in ["inf", "0x10", "１２"] {
            let f = texts(["1", "2", odd])
            #expect(!f.isNumeric, "\(odd)")
        }
    }

    @Test func constantAndEmptyColumnsAreLeftOut() throws {
        #expect(try fit([3, 3, nil]).result()["dropped"]?["reason"] == .string("constant"))
        #expect(try fit([nil, nil]).result()["dropped"]?["reason"] == .string("always missing"))
        #expect(try texts(["a", "a"]).result()["dropped"]?["reason"] == .string("a single category"))
    }

    @Test func nonFiniteValuesAndTooManyCategoriesAreRefused() {
        #expect(throws: ScoreError.self) { try fit([1, .nan]).result() }
        #expect(throws: ScoreError.self) { try fit([1e308, 1e308]).result() }
        #expect(throws: ScoreError.self) { try texts(["a", "b", "c", "d"], max: 3).result() }
        #expect(texts(["a", "b", "c", "d"], max: 3).categories.count == 4)   // bounded: limit + 1
    }

    func decode(_ bytes: [UInt8]) throws(ScoreError) -> ColumnFit {
        try typed { try bytes.withUnsafeBytes { try ColumnFit(serialized: $0) } }
    }

    @Test func serializedStatesRoundTripAndDamageIsRefused() throws {
        let f = texts(["a", "b", "a", nil, "c"])
        let bytes = f.serialized
        #expect(try decode(bytes) == f)
        for cut in [0, 3, bytes.count - 1] {
            #expect(throws: ScoreError.self) { try decode(Array(bytes[..<cut])) }
        }
        #expect(throws: ScoreError.self) { try decode(bytes + [0]) }
    }
}
