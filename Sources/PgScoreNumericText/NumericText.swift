/// The one numeric-text rule, in a target of its own so that the core (training's fit,
/// the encoder, drift binning through ml._numeric_text) and the daemon's feature check
/// share it without the daemon linking any ML code: spaces around it ignored, text is a number when it is a plain decimal -- an optional
/// sign, digits with an optional point, an optional exponent of at most 4 digits -- whose
/// value is 0 or between 1e-307 and 1e308 in magnitude. Swift's `Double()` alone would
/// also take hexadecimal ("0x10", "0x1p3"), "inf", "nan" and "infinity", which SQL's
/// numeric input refuses, so training and serving would disagree about a column.
public enum NumericText {
    public static func number(_ text: String) -> Double? {
        let t = text.trimmingSpacesOnly
        var u = Substring(t).utf8[...]
        if let f = u.first, f == UInt8(ascii: "+") || f == UInt8(ascii: "-") { u = u.dropFirst() }
        let isDigit = { (c: UInt8) in c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }
        var mantissaDigits = 0, nonzero = false
        while let c = u.first, isDigit(c) { mantissaDigits += 1; nonzero = nonzero || c != UInt8(ascii: "0"); u = u.dropFirst() }
        if u.first == UInt8(ascii: ".") {
            u = u.dropFirst()
            while let c = u.first, isDigit(c) { mantissaDigits += 1; nonzero = nonzero || c != UInt8(ascii: "0"); u = u.dropFirst() }
        }
        guard mantissaDigits > 0 else { return nil }
        if let e = u.first, e == UInt8(ascii: "e") || e == UInt8(ascii: "E") {
            u = u.dropFirst()
            if let s = u.first, s == UInt8(ascii: "+") || s == UInt8(ascii: "-") { u = u.dropFirst() }
            var exponentDigits = 0
            while let c = u.first, isDigit(c) { exponentDigits += 1; u = u.dropFirst() }
            guard (1...4).contains(exponentDigits) else { return nil }
        }
        guard u.isEmpty, let d = Double(t) else { return nil }
        if !nonzero { return 0 }
        let m = abs(d)
        // the decimal value, not its rounding, must lie in range: 1e-308 rounds to a
        // subnormal double but is out of range, like SQL's numeric comparison says
        guard m >= 1e-307, m <= 1e308 else { return nil }
        return d
    }
}

extension String {
    /// btrim(text) of SQL: spaces only, not tabs.
    public var trimmingSpacesOnly: String {
        var s = Substring(self)
        while s.first == " " { s.removeFirst() }
        while s.last == " " { s.removeLast() }
        return String(s)
    }
}
