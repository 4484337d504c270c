import Testing
@testable import ScoreCore

/// The serving side of the one numeric-text rule; tests/test_real_tables.py checks that
/// SQL's ml._numeric_text and serving agree on the same spellings.
@Suite struct NumericTextTests {
    @Test func plainDecimalsAreNumbers() {
        #expect(NumericText.number("12") == 12)
        #expect(NumericText.number(" 12 ") == 12)
        #expect(NumericText.number("-3.5e2") == -350)
        #expect(NumericText.number(".5") == 0.5)
        #expect(NumericText.number("5.") == 5)
        #expect(NumericText.number("+1E+3") == 1000)
        #expect(NumericText.number("0e999") == 0)
        #expect(NumericText.number("1e308") == 1e308)
    }

    @Test func whatDoubleAloneWouldTakeIsNot() {
        for text in ["0x10", "0x1p3", "inf", "-inf", "nan", "Infinity", "1_000", "", " ", ".", "e5", "1e", "1e+",
                     "\t7", "7\n", "1e12345", "1e309", "-1e309", "1e-308", "1e-400", "１２"] {
            #expect(NumericText.number(text) == nil, "\(text)")
        }
    }

    @Test func choleskyStopsWhenAsked() {
        let n = 40
        var a = [Double](repeating: 0, count: n * n)
        for i in 0..<n { a[i * n + i] = 1 }
        #expect(throws: Cholesky.Failure.interrupted) {
            _ = try Cholesky.solve(a, [Double](repeating: 1, count: n), n: n, stop: { true })
        }
    }
}
