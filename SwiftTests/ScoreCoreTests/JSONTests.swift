import Testing
@testable import ScoreCore

@Suite struct JSONTests {
    static func parse(_ s: String) -> JSONValue? { try? JSONValue.parse(s) }

    @Test func parsesStructureInDocumentOrder() throws {
        let v = try JSONValue.parse(#" { "b" : [1, 2.5, -3e2, true, false, null, "x"], "a": {}, "c": [] } "#)
        let expected: JSONValue = .object([
            ("b", .array([.number(1), .number(2.5), .number(-300), .bool(true), .bool(false), .null, .string("x")])),
            ("a", .object([])),
            ("c", .array([])),
        ])
        #expect(v == expected)
        #expect(v["a"] == .object([]))
        #expect(v["zz"] == nil)
        #expect(JSONValue.number(1)["a"] == nil)
        #expect(v.serialized == #"{"b":[1,2.5,-300,true,false,null,"x"],"a":{},"c":[]}"#)
        // Key order matters for equality.
        #expect(JSONValue.object([("a", .null), ("b", .null)]) != .object([("b", .null), ("a", .null)]))
    }

    @Test(arguments: [
        #"{"a":1,"b":[true,false,null],"c":{"d":"e"}}"#,
        #"[0.1,-0.5,1e-300,123456789012,-7,"",{}]"#,
        #""text with \"quotes\", \\ backslash, \n newline, ünïcode ✓ 😀""#,
        #"[[[[[]]]]]"#,
        "null", "true", "-0.25", #""\u0001\u001f""#,
    ])
    func serializedFormRoundTrips(text: String) throws {
        let v = try JSONValue.parse(text)
        #expect(v.serialized == text)
        #expect(try JSONValue.parse(v.serialized) == v)
    }

    @Test func escapes() throws {
        #expect(try JSONValue.parse(#""\"\\\/\b\f\n\r\t""#) == .string("\"\\/\u{08}\u{0C}\n\r\t"))
        #expect(try JSONValue.parse(#""\u0041\u00e9\u00E9\u20AC""#) == .string("Aéé€"))
        // A surrogate pair is one scalar outside the BMP.
        #expect(try JSONValue.parse(#""\uD83D\uDE00""#) == .string("😀"))
        #expect(try JSONValue.parse(#""a\ud834\udd1eb""#) == .string("a𝄞b"))
        // Raw UTF-8 passes through.
        #expect(try JSONValue.parse(#""😀 é""#) == .string("😀 é"))
        // Writing: controls as \u00XX (or their short escapes), the rest as is.
        #expect(JSONValue.string("\u{08}\u{0C}\u{01}\u{1F}").serialized == #""\u0008\u000c\u0001\u001f""#)
        #expect(JSONValue.string("\"\\\n\r\t/😀").serialized == #""\"\\\n\r\t/😀""#)
        // Every control character round trips.
        let controls = String(String.UnicodeScalarView((0..<32).map { Unicode.Scalar(UInt8($0)) }))
        #expect(try JSONValue.parse(JSONValue.string(controls).serialized) == .string(controls))
    }

    @Test(arguments: [
        #""\uD800""#, #""\uD800x""#, #""\uD800\u0041""#, #""\uDC00""#, #""\uDE00\uD83D""#,
        #""\u12G4""#, #""\u12""#, #""\u""#, #""\x""#, #""\"#, #""abc"#, "\"",
    ])
    func rejectsBadStrings(text: String) {
        #expect(throws: JSONParseError.self) { try JSONValue.parse(text) }
    }

    @Test(arguments: Array(0..<32))
    func rejectsRawControlCharacters(code: Int) {
        let text = "\"a" + String(Character(Unicode.Scalar(UInt8(code)))) + "b\""
        #expect(throws: JSONParseError.self) { try JSONValue.parse(text) }
    }

    @Test(arguments: [
        "{} x", "1 2", "[1] ]", "{}{}", "null,", "\"a\"\"b\"", "[1,]", "{\"a\":1,}", "[,1]",
        "{\"a\" 1}", "{a:1}", "{\"a\":}", "[1 2]", "{\"a\":1 \"b\":2}", "", "   ", "[", "{", "{\"a\"",
        "tru", "nul", "falsey", "True", "'a'",
    ])
    func rejectsMalformedText(text: String) {
        #expect(throws: JSONParseError.self) { try JSONValue.parse(text) }
    }

    @Test func rejectsDuplicateKeys() {
        #expect(throws: JSONParseError.self) { try JSONValue.parse(#"{"a":1,"a":2}"#) }
        #expect(throws: JSONParseError.self) { try JSONValue.parse(#"{"x":{"a":1,"b":2,"a":1}}"#) }
        // Same key in different objects is fine; so are keys that differ only by case.
        #expect(Self.parse(#"{"a":{"a":1},"b":{"a":2},"A":3}"#) != nil)
    }

    @Test(arguments: ["-", "1e", "1e+", "1.2.3", "--1", "1-2", "1e5e5", "1e400", "-1e400", "NaN", "Infinity",
                      "-Infinity", "0x10", "1,5", "e5", "- 1"])
    func rejectsBadNumbers(text: String) {
        #expect(throws: JSONParseError.self) { try JSONValue.parse(text) }
    }

    @Test(arguments: ["01", "-01", "00", ".5", "-.5", "1.", "1.e3", "+1"])
    func rejectsNumbersOutsideTheJSONGrammar(text: String) {
        #expect(throws: JSONParseError.self) { try JSONValue.parse(text) }
    }

    @Test func acceptsValidNumbers() throws {
        let cases: [(String, Double)] = [
            ("0", 0), ("-0", 0), ("10", 10), ("-12.5", -12.5), ("1e3", 1000), ("1E3", 1000), ("1e+3", 1000),
            ("2.5e-3", 0.0025), ("0.1", 0.1), ("123456789012345678", 123456789012345680),
            ("1.7976931348623157e308", .greatestFiniteMagnitude), ("5e-324", .leastNonzeroMagnitude),
        ]
        for (text, value) in cases {
            #expect(try JSONValue.parse(text) == .number(value), "\(text)")
        }
    }

    static func nested(_ depth: Int, object: Bool) -> String {
        object ? String(repeating: #"{"a":"#, count: depth - 1) + "{}" + String(repeating: "}", count: depth - 1)
               : String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
    }

    @Test func nestingLimit() {
        #expect(Self.parse(Self.nested(64, object: false)) != nil)
        #expect(Self.parse(Self.nested(64, object: true)) != nil)
        #expect(throws: JSONParseError.self) { try JSONValue.parse(Self.nested(65, object: false)) }
        #expect(throws: JSONParseError.self) { try JSONValue.parse(Self.nested(65, object: true)) }
        // Far deeper input is refused without exhausting the stack.
        #expect(throws: JSONParseError.self) { try JSONValue.parse(String(repeating: "[", count: 200_000)) }
        #expect(throws: JSONParseError.self) { try JSONValue.parse(String(repeating: #"{"a":"#, count: 100_000)) }
        do {
            _ = try JSONValue.parse(Self.nested(65, object: false))
        } catch {
            #expect(error.message.contains("nested too deeply"))
        }
    }

    @Test func errorMessagesGiveThePosition() {
        do {
            _ = try JSONValue.parse(#"{"a": 1} x"#)
            Issue.record("no error")
        } catch {
            #expect(error.message == "invalid JSON at byte 10: unexpected text after the JSON value")
        }
    }

    @Test func formatIntegers() {
        #expect(JSONValue.format(0) == "0")
        #expect(JSONValue.format(-0.0) == "0")
        #expect(JSONValue.format(1) == "1")
        #expect(JSONValue.format(-42) == "-42")
        #expect(JSONValue.format(100) == "100")
        #expect(JSONValue.format(1e14) == "100000000000000")
        #expect(JSONValue.format(999_999_999_999_999) == "999999999999999")
        #expect(JSONValue.format(.nan) == "null")
        #expect(JSONValue.format(.infinity) == "null")
        #expect(JSONValue.number(-.infinity).serialized == "null")
        #expect(JSONValue.format(0.5) == "0.5")
        #expect(JSONValue.format(0.1) == "0.1")
        #expect(JSONValue.format(-2.25) == "-2.25")
    }

    @Test func formatReadsBackExactly() throws {
        var g = SplitMix64(seed: 40)
        var values: [Double] = [1.0 / 3, -2.0 / 3, 0.1 + 0.2, 1e15, 1e16, 2e300, 1e-10, .leastNonzeroMagnitude,
                                .greatestFiniteMagnitude, -.greatestFiniteMagnitude, .leastNormalMagnitude,
                                123456.789, 1e15 + 1, 4503599627370497, 9007199254740992, 9007199254740994]
        for _ in 0..<2000 {
            values.append(Double(bitPattern: g.next()))
            values.append(g.uniform(-1, 1) * Double(sign: .plus, exponent: Int.random(in: -60...60, using: &g), significand: 1))
            values.append(Double(Int.random(in: -1_000_000...1_000_000, using: &g)))
        }
        for v in values where v.isFinite {
            let text = JSONValue.format(v)
            #expect(Double(text) == v, "\(v) → \(text)")
            #expect(try JSONValue.parse(text) == .number(v), "\(text)")
            if v == v.rounded(), abs(v) < 1e15 {
                #expect(!text.contains(".") && !text.contains("e"), "\(text)")
            }
        }
    }

    @Test func typeNames() {
        #expect(JSONValue.null.typeNameWithArticle == "a null")
        #expect(JSONValue.bool(true).typeNameWithArticle == "a boolean")
        #expect(JSONValue.number(1).typeNameWithArticle == "a number")
        #expect(JSONValue.string("").typeNameWithArticle == "a string")
        #expect(JSONValue.array([]).typeNameWithArticle == "an array")
        #expect(JSONValue.object([]).typeNameWithArticle == "an object")
    }
}
