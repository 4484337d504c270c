import Foundation
import PgScoreJSON

/// The one way text gets into the dashboard's HTML and SVG: everything a user may have
/// chosen (project names, hyperparameters, sources, reasons, errors) goes through
/// ``escape(_:)``; markup is only ever written by this module's own string literals.
enum HTML {
    static func escape(_ text: String) -> String {
        let special: (UInt8) -> Bool = { $0 == 0x26 || $0 == 0x3C || $0 == 0x3E || $0 == 0x22 || $0 == 0x27 }
        guard text.utf8.contains(where: special) else { return text }
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for character in text.unicodeScalars {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(character)
            }
        }
        return out
    }

    /// A number as the pages show it: integers as they are, others with 4 decimals, or 3
    /// significant digits below 0.001 (a tolerance of 1e-10); "—" for none. (The tests
    /// compare the pages with the SQL views rounded alike.)
    static func number(_ value: Double?) -> String {
        guard let value, value.isFinite else { return "—" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        if abs(value) < 0.001 { return String(format: "%.3g", value) }
        return fixed(value, decimals: 4)
    }

    /// `value` with `decimals` digits after the point, rounded half away from zero, as
    /// `%.Nf` writes it for the values a page has (Foundation's String(format:) costs a
    /// page with thousands of numbers tens of milliseconds).
    static func fixed(_ value: Double, decimals: Int) -> String {
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let scaled = (abs(value) * scale).rounded()
        guard value.isFinite, scaled < 9e15 else { return String(format: "%.\(decimals)f", value) }
        let units = Int64(scaled), whole = units / Int64(scale), fraction = units % Int64(scale)
        var digits = String(fraction)
        if digits.count < decimals { digits = String(repeating: "0", count: decimals - digits.count) + digits }
        return (value < 0 && units != 0 ? "-" : "") + String(whole) + (decimals > 0 ? "." + digits : "")
    }

    /// A JSON value as text, escaped: numbers via ``number(_:)``, strings as they are.
    static func value(_ json: JSONValue?) -> String {
        switch json {
        case nil, .null?: return "—"
        case .number(let n)?: return number(n)
        case .string(let s)?: return escape(s)
        case .bool(let b)?: return b ? "yes" : "no"
        case let other?: return escape(other.serialized)
        }
    }

    /// A timestamp from PostgreSQL's JSON ("2026-12-03T13:29:36.123+00:00") shortened to the second, escaped.
    static func time(_ json: JSONValue?) -> String {
        guard case .string(let text)? = json else { return "—" }
        let trimmed = text.replacingOccurrences(of: "T", with: " ")
        return escape(String(trimmed.prefix(19)))
    }

    /// A path segment (project names are letters, digits, _ . -, but escape anyway).
    static func path(_ segment: String) -> String {
        escape(segment.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(["/"])) ?? segment)
    }

    /// `<table>` with a caption, header cells and rows of cells already escaped.
    /// `sortable`: the header cells sort the rows (dashboard.js).
    static func table(caption: String, headers: [String], rows: [[String]], id: String? = nil, sortable: Bool = false,
                      rowAttributes: [String]? = nil) -> String {
        var out = "<table"
        if let id { out += " id=\"\(escape(id))\"" }
        if sortable { out += " class=\"sortable\"" }
        out += "><caption>\(caption)</caption><thead><tr>"
        for header in headers { out += "<th scope=\"col\">\(header)</th>" }
        out += "</tr></thead><tbody>"
        for (index, row) in rows.enumerated() {
            out += "<tr\(rowAttributes.map { " " + $0[index] } ?? "")>"
            for cell in row { out += "<td>\(cell)</td>" }
            out += "</tr>"
        }
        if rows.isEmpty { out += "<tr><td colspan=\"\(max(headers.count, 1))\" class=\"empty\">none yet</td></tr>" }
        return out + "</tbody></table>"
    }
}

extension JSONValue {
    var numberValue: Double? {
        if case .number(let n) = self { return n }
        return nil
    }

    var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    var arrayValue: [JSONValue] {
        if case .array(let items) = self { return items }
        return []
    }

    /// The members of an object, in their order; none for anything else.
    var members: [(String, JSONValue)] {
        if case .object(let members) = self { return members }
        return []
    }
}
