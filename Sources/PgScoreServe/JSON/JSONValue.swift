import Foundation

/// Any JSON document: what request bodies are parsed into (features of any shape) and
/// what responses are written from, with object keys in the order given.
enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    /// Parsed objects: key order is not kept.
    case object([String: JSONValue])
    /// Objects built for responses: written in this order.
    case orderedObject([Field])

    struct Field: Sendable, Equatable {
        let key: String
        let value: JSONValue
    }

    struct ParseError: Error, CustomStringConvertible {
        let description: String
    }

    /// Parses a request body.
    static func parse(_ bytes: [UInt8]) throws -> JSONValue {
        do {
            return try JSONDecoder().decode(JSONValue.self, from: Data(bytes))
        } catch let error as DecodingError {
            throw ParseError(description: Self.describe(error))
        } catch {
            throw ParseError(description: "the body is not valid JSON")
        }
    }

    private static func describe(_ error: DecodingError) -> String {
        switch error {
        case .dataCorrupted(let context):
            if let underlying = context.underlyingError {
                return "the body is not valid JSON: \(underlying.localizedDescription)"
            }
            return "the body is not valid JSON: \(context.debugDescription)"
        default:
            return "the body is not valid JSON"
        }
    }

    var objectValue: [String: JSONValue]? {
        switch self {
        case .object(let fields): return fields
        case .orderedObject(let fields):
            return Dictionary(fields.map { ($0.key, $0.value) }, uniquingKeysWith: { _, last in last })
        default: return nil
        }
    }

    subscript(key: String) -> JSONValue? { objectValue?[key] }

    /// The JSON type's name, for error messages.
    var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .number: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object, .orderedObject: "an object"
        }
    }
}

extension JSONValue: Decodable {
    init(from decoder: any Decoder) throws {
        if var array = try? decoder.unkeyedContainer() {
            var values: [JSONValue] = []
            if let count = array.count { values.reserveCapacity(count) }
            while !array.isAtEnd { values.append(try array.decode(JSONValue.self)) }
            self = .array(values)
            return
        }
        if let object = try? decoder.container(keyedBy: AnyKey.self) {
            var fields: [String: JSONValue] = [:]
            for key in object.allKeys {
                fields[key.stringValue] = try object.decode(JSONValue.self, forKey: key)
            }
            self = .object(fields)
            return
        }
        let single = try decoder.singleValueContainer()
        if single.decodeNil() {
            self = .null
        } else if let bool = try? single.decode(Bool.self) {
            self = .bool(bool)
        } else if let number = try? single.decode(Double.self) {
            self = .number(number)
        } else {
            self = .string(try single.decode(String.self))
        }
    }

    private struct AnyKey: CodingKey {
        let stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
}

extension JSONValue {
    /// Compact JSON text.
    var serialized: String {
        var out = ""
        write(to: &out)
        return out
    }

    func write(to out: inout String) {
        switch self {
        case .null: out += "null"
        case .bool(let value): out += value ? "true" : "false"
        case .number(let value): out += Self.format(value)
        case .string(let value): Self.writeString(value, to: &out)
        case .array(let values):
            out += "["
            for (index, value) in values.enumerated() {
                if index > 0 { out += "," }
                value.write(to: &out)
            }
            out += "]"
        case .object(let fields):
            writeFields(fields.sorted { $0.key < $1.key }.map { Field(key: $0.key, value: $0.value) }, to: &out)
        case .orderedObject(let fields):
            writeFields(fields, to: &out)
        }
    }

    private func writeFields(_ fields: [Field], to out: inout String) {
        out += "{"
        for (index, field) in fields.enumerated() {
            if index > 0 { out += "," }
            Self.writeString(field.key, to: &out)
            out += ":"
            field.value.write(to: &out)
        }
        out += "}"
    }

    static func format(_ value: Double) -> String {
        guard value.isFinite else { return "null" }
        if value == value.rounded(), abs(value) < 9.007_199_254_740_992e15 {
            return String(Int64(value))
        }
        return "\(value)"
    }

    static func writeString(_ value: String, to out: inout String) {
        out += "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral,
    ExpressibleByBooleanLiteral, ExpressibleByNilLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
    init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }

    init(stringLiteral value: String) { self = .string(value) }
    init(integerLiteral value: Int) { self = .number(Double(value)) }
    init(floatLiteral value: Double) { self = .number(value) }
    init(booleanLiteral value: Bool) { self = .bool(value) }
    init(nilLiteral: ()) { self = .null }
    init(arrayLiteral elements: JSONValue...) { self = .array(elements) }

    /// An ordered object: `.fields(("a", 1), ("b", "x"))`.
    static func fields(_ pairs: (String, JSONValue)...) -> JSONValue {
        .orderedObject(pairs.map { Field(key: $0.0, value: $0.1) })
    }

    static func fields(_ pairs: [(String, JSONValue)]) -> JSONValue {
        .orderedObject(pairs.map { Field(key: $0.0, value: $0.1) })
    }

    /// A value or null.
    static func optional(_ value: String?) -> JSONValue { value.map { .string($0) } ?? .null }
    static func optional(_ value: Double?) -> JSONValue { value.map { .number($0) } ?? .null }
    static func optional(_ value: Int?) -> JSONValue { value.map { .number(Double($0)) } ?? .null }
}
