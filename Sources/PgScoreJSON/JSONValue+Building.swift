/// Building values in code (responses, tests) and reading objects by key.
extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral,
    ExpressibleByBooleanLiteral, ExpressibleByNilLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
    public init(dictionaryLiteral elements: (String, JSONValue)...) { self = .object(elements) }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .number(Double(value)) }
    public init(floatLiteral value: Double) { self = .number(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(nilLiteral: ()) { self = .null }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }

    /// An object with its keys in this order: `.fields(("a", 1), ("b", "x"))`.
    public static func fields(_ pairs: (String, JSONValue)...) -> JSONValue { .object(pairs) }
    public static func fields(_ pairs: [(String, JSONValue)]) -> JSONValue { .object(pairs) }

    /// A value or null.
    public static func optional(_ value: String?) -> JSONValue { value.map { .string($0) } ?? .null }
    public static func optional(_ value: Double?) -> JSONValue { value.map { .number($0) } ?? .null }
    public static func optional(_ value: Int?) -> JSONValue { value.map { .number(Double($0)) } ?? .null }

    /// An object's members by key (the parser rejects duplicate keys); nil for other values.
    public var objectValue: [String: JSONValue]? {
        guard case .object(let members) = self else { return nil }
        return Dictionary(members, uniquingKeysWith: { _, last in last })
    }
}
