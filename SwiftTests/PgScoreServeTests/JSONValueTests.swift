import Testing

@testable import PgScoreServe

@Suite struct JSONValueTests {
    @Test func parsesEveryKindOfValue() throws {
        let value = try JSONValue.parse(Array(#"{"a": 1.5, "b": "x", "c": true, "d": null, "e": [1, "2"], "f": {}}"#.utf8))
        #expect(value["a"] == .number(1.5))
        #expect(value["b"] == .string("x"))
        #expect(value["c"] == .bool(true))
        #expect(value["d"] == .null)
        #expect(value["e"] == .array([.number(1), .string("2")]))
        #expect(value["f"] == .object([]))
    }

    @Test func booleansAreNotNumbers() throws {
        #expect(try JSONValue.parse(Array("[true, 1, 0]".utf8)) == .array([.bool(true), .number(1), .number(0)]))
    }

    @Test func rejectsMalformedJSON() {
        #expect(throws: JSONParseError.self) { try JSONValue.parse(Array("{\"a\": ".utf8)) }
        #expect(throws: JSONParseError.self) { try JSONValue.parse(Array("nope".utf8)) }
    }

    @Test func rejectsInvalidUTF8InsteadOfReplacingIt() throws {
        #expect(throws: JSONParseError.self) { try JSONValue.parse([0x22, 0xC3, 0x28, 0x22]) }
        #expect(try JSONValue.parse(Array(#""caf\u00e9 \"x\" é""#.utf8)) == .string("café \"x\" é"))
    }

    @Test func writesOrderedObjectsCompactly() {
        let value = JSONValue.fields(("z", 1), ("a", [true, nil]), ("m", "q\"\\\n\u{1}"))
        #expect(value.serialized == #"{"z":1,"a":[true,null],"m":"q\"\\\n\u0001"}"#)
    }

    @Test(arguments: [(63.0, "63"), (2.3, "2.3"), (-0.5, "-0.5"), (1e-7, "1e-07"), (Double.nan, "null")])
    func formatsNumbers(value: Double, text: String) {
        #expect(JSONValue.format(value) == text)
    }

    @Test func roundTripsThroughText() throws {
        let original: JSONValue = ["age": 63, "thal": "6.0", "ca": nil, "list": [1, 2.5]]
        #expect(try JSONValue.parse(Array(original.serialized.utf8)) == original)
    }
}
