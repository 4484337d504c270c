#if canImport(Glibc)
import Glibc
#endif

/// Learning one column's preprocessing from the training rows (what ml.train stores as
/// the spec the `Preprocessor` replays): the mean imputed for a missing value, the
/// standard scaling, whether a text column is numeric text (by the one rule,
/// `NumericText`) or categories, and the category limit. A mergeable state, so the
/// aggregate ml._preprocess_fit runs in parallel workers and partial states combine.
///
/// Memory is bounded whatever the row count: three moments, min and max, and at most
/// `maxCategories` + 1 category counts (past the limit the column is refused anyway, so
/// only the fact that there are more is kept).
///
/// The moments are those of PostgreSQL's own avg(float8) and stddev_pop(float8)
/// (float8_accum and float8_combine: Youngs-Cramer), in the same order of operations, so
/// the spec is the same, bit for bit, as the one the SQL aggregates gave before the fit
/// moved here; exact deciles, which need order statistics, stay a SQL pass
/// (percentile_cont over the values this rule reads; see ml._train_preprocessing).
public struct ColumnFit: Sendable, Equatable {
    /// Texts that mean "missing" in a numeric text column, also ones the training rows
    /// happen not to hold.
    public static let missingMarkers = ["?", "", "NA", "N/A", "NaN", "nan", "null", "NULL", "-"]

    public struct Options: Sendable, Equatable {
        public var name: String
        public var sqlType: String
        /// standard scaling (else center 0, scale 1)
        public var scale = true
        /// missing values stay NaN for the model (trees)
        public var keepMissing = false
        public var unknown = Preprocessor.Unknown.error
        public var maxCategories = 200

        public init(name: String, sqlType: String) {
            self.name = name
            self.sqlType = sqlType
        }
    }

    public var options: Options
    /// values come as text: numeric text or categories; else numbers
    public let textual: Bool
    /// rows seen, NULLs included
    public private(set) var rows: Int64 = 0
    /// SQL NULLs among them
    public private(set) var nulls: Int64 = 0
    /// numeric values: count, sum, sum of squared deviations (PostgreSQL's N, Sx, Sxx)
    public private(set) var n = 0.0, sx = 0.0, sxx = 0.0
    public private(set) var lo = Double.infinity, hi = -Double.infinity
    /// a NaN or infinite value, or sums that overflowed
    public private(set) var nonFinite = false
    /// a text that is neither a number nor a missing marker: the column is categorical
    public private(set) var nonNumeric = false
    /// category counts in first-seen order, at most maxCategories + 1 ...
    public private(set) var categories: [String] = []
    public private(set) var counts: [Int64] = []
    private var index: [String: Int] = [:]
    /// ... and whether there were more
    public private(set) var overflow = false

    public init(options: Options, textual: Bool) {
        self.options = options
        self.textual = textual
    }

    public static func == (a: ColumnFit, b: ColumnFit) -> Bool {
        a.options == b.options && a.textual == b.textual && a.rows == b.rows && a.nulls == b.nulls
            && a.n.bitPattern == b.n.bitPattern && a.sx.bitPattern == b.sx.bitPattern && a.sxx.bitPattern == b.sxx.bitPattern
            && a.lo == b.lo && a.hi == b.hi && a.nonFinite == b.nonFinite && a.nonNumeric == b.nonNumeric
            && a.categories == b.categories && a.counts == b.counts && a.overflow == b.overflow
    }

    // MARK: rows

    public mutating func addNull() {
        rows += 1
        nulls += 1
    }

    public mutating func add(number x: Double) {
        rows += 1
        accumulate(x)
    }

    public mutating func add(text t: String) {
        rows += 1
        count(category: t)
        if let d = NumericText.number(t) {
            accumulate(d)
        } else if !ColumnFit.missingMarkers.contains(t.trimmingSpacesOnly) {
            nonNumeric = true
        }
    }

    /// float8_accum
    private mutating func accumulate(_ x: Double) {
        let n0 = n
        n += 1
        sx += x
        if n0 > 0 {
            let tmp = x * n - sx
            sxx += tmp * tmp / (n * n0)
        } else {
            sxx = x * 0
        }
        if !x.isFinite || !sx.isFinite || !sxx.isFinite { nonFinite = true }
        lo = min(lo, x)
        hi = max(hi, x)
    }

    private mutating func count(category t: String, times: Int64 = 1) {
        if let k = index[t] {
            counts[k] += times
        } else if categories.count <= options.maxCategories {
            index[t] = categories.count
            categories.append(t)
            counts.append(times)
        } else {
            overflow = true
        }
    }

    /// float8_combine for the moments; category counts added up.
    public mutating func merge(_ other: ColumnFit) throws(ScoreError) {
        guard other.textual == textual, other.options == options else {
            throw .badValue("preprocessing fit states of different columns cannot be combined")
        }
        rows += other.rows
        nulls += other.nulls
        if n == 0 {
            (n, sx, sxx) = (other.n, other.sx, other.sxx)
        } else if other.n > 0 {
            let n1 = n, n2 = other.n
            let total = n1 + n2
            let tmp = sx / n1 - other.sx / n2
            sx += other.sx
            sxx = sxx + other.sxx + n1 * n2 * tmp * tmp / total
            n = total
        }
        if !sx.isFinite || !sxx.isFinite { nonFinite = true }
        lo = min(lo, other.lo)
        hi = max(hi, other.hi)
        nonFinite = nonFinite || other.nonFinite
        nonNumeric = nonNumeric || other.nonNumeric
        overflow = overflow || other.overflow
        for (k, c) in other.categories.enumerated() { count(category: c, times: other.counts[k]) }
    }

    // MARK: the result

    /// numeric text when some text is a number and every other one a missing marker
    public var isNumeric: Bool { !textual || (n > 0 && !nonNumeric) }
    public var mean: Double { sx / n }
    /// stddev_pop
    public var std: Double { sxx <= 0 ? 0 : (sxx / n).squareRoot() }

    /// The column's part of the spec, its feature entry and drift statistics, or why it
    /// is left out: {"column", "feature", "stats"} or {"dropped"}. Categories come in
    /// first-seen order: their order in the spec is the column's collation, which only
    /// the host knows (ml._train_preprocessing sorts them).
    public func result() throws(ScoreError) -> JSONValue {
        let o = options
        func dropped(_ reason: String) -> JSONValue {
            .object([("dropped", .object([("column", .string(o.name)), ("reason", .string(reason))]))])
        }
        if isNumeric {
            if nonFinite {
                throw .unfitData("column \"\(o.name)\" holds NaN, Infinity or values too large to average; features must be finite numbers",
                                 hint: "Filter those rows out or turn them into NULL (a missing value) in a query source.")
            }
            if n == 0 { return dropped("always missing") }
            if std == 0 { return dropped("constant") }
            let missing: [JSONValue] = textual ? ColumnFit.missingMarkers.map { .string($0) } : []
            let column: JSONValue = .object([
                ("name", .string(o.name)), ("type", .string(o.sqlType)), ("kind", .string("numeric")),
                ("impute", .number(mean)), ("center", .number(o.scale ? mean : 0)), ("scale", .number(o.scale ? std : 1)),
                ("keep_missing", .bool(o.keepMissing)), ("missing", .array(missing)),
            ])
            let stats: JSONValue = .object([
                ("kind", .string("numeric")), ("mean", .number(mean)), ("std", .number(std)), ("min", .number(lo)),
                ("max", .number(hi)), ("null_fraction", .number(Double(rows - Int64(n)) / Double(max(rows, 1)))),
            ])
            return .object([("column", column), ("feature", feature("numeric")), ("stats", stats)])
        }
        if categories.isEmpty { return dropped("always missing") }
        if categories.count < 2 { return dropped("a single category") }
        if overflow || categories.count > o.maxCategories {
            throw .limit("column \"\(o.name)\" has more than \(o.maxCategories) categories; at most \(o.maxCategories) are encoded",
                         hint: "Exclude it (exclude => ARRAY['\(o.name)']) or group its values.")
        }
        let seen = Double(rows - nulls)
        let column: JSONValue = .object([
            ("name", .string(o.name)), ("type", .string(o.sqlType)), ("kind", .string("categorical")),
            ("categories", .array(categories.map { .string($0) })), ("unknown", .string(o.unknown.rawValue)),
        ])
        let frequencies: JSONValue = .object(categories.indices.map { (categories[$0], .number(Double(counts[$0]) / seen)) })
        return .object([("column", column), ("feature", feature("categorical")),
                        ("stats", .object([("kind", .string("categorical")), ("frequencies", frequencies)]))])
    }

    private func feature(_ kind: String) -> JSONValue {
        .object([("name", .string(options.name)), ("type", .string(options.sqlType)), ("kind", .string(kind))])
    }
}

// MARK: options and partial states

extension ColumnFit.Options {
    /// {"name", "type", "scale", "keep_missing", "unknown", "max_categories"}
    public init(json: JSONValue) throws(ScoreError) {
        guard case let .string(name)? = json["name"], !name.isEmpty else {
            throw .badValue("preprocessing fit options need the column's \"name\"")
        }
        var type = "unknown"
        if case let .string(t)? = json["type"] { type = t }
        self.init(name: name, sqlType: type)
        if let v = json["scale"] {
            guard case let .bool(b) = v else { throw .badValue("preprocessing fit option \"scale\" must be true or false") }
            scale = b
        }
        if let v = json["keep_missing"] {
            guard case let .bool(b) = v else { throw .badValue("preprocessing fit option \"keep_missing\" must be true or false") }
            keepMissing = b
        }
        if let v = json["unknown"] {
            guard case let .string(u) = v, let unknown = Preprocessor.Unknown(rawValue: u) else {
                throw .badValue("preprocessing fit option \"unknown\" must be \"error\" or \"ignore\"")
            }
            self.unknown = unknown
        }
        if let v = json["max_categories"] {
            guard case let .number(d) = v, d >= 1, d <= 100_000, d == d.rounded() else {
                throw .badValue("preprocessing fit option \"max_categories\" must be a whole number from 1 to 100000")
            }
            maxCategories = Int(d)
        }
    }

    var json: JSONValue {
        .object([("name", .string(name)), ("type", .string(sqlType)), ("scale", .bool(scale)),
                 ("keep_missing", .bool(keepMissing)), ("unknown", .string(unknown.rawValue)),
                 ("max_categories", .number(Double(maxCategories)))])
    }
}

extension ColumnFit {
    private static let magic: UInt32 = 0x5046_4954   // "PFIT"

    /// A partial state as bytes (ModelCodec's little-endian fields).
    public var serialized: [UInt8] {
        var w = ByteWriter()
        w.u32(ColumnFit.magic)
        w.bytes(Array(options.json.serialized.utf8))
        w.u8(textual ? 1 : 0)
        w.u64(UInt64(bitPattern: rows))
        w.u64(UInt64(bitPattern: nulls))
        for d in [n, sx, sxx, lo, hi] { w.u64(d.bitPattern) }
        w.u8((nonFinite ? 1 : 0) | (nonNumeric ? 2 : 0) | (overflow ? 4 : 0))
        w.u32(UInt32(categories.count))
        for (k, c) in categories.enumerated() {
            w.bytes(Array(c.utf8))
            w.u64(UInt64(bitPattern: counts[k]))
        }
        return w.data
    }

    /// Reads bytes `serialized` wrote; they arrive as a bytea anyone can pass, so every
    /// field is checked.
    public init(serialized bytes: UnsafeRawBufferPointer) throws(ScoreError) {
        var r = ByteReader(bytes, from: 0, to: bytes.count)
        guard try r.u32() == ColumnFit.magic else { throw ColumnFit.damaged }
        guard let optionsValue = try? JSONValue.parse(String(decoding: try r.bytes(), as: UTF8.self)),
              let options = try? Options(json: optionsValue) else { throw ColumnFit.damaged }
        let textual = try r.u8()
        guard textual <= 1 else { throw ColumnFit.damaged }
        self.init(options: options, textual: textual == 1)
        rows = Int64(bitPattern: try r.u64())
        nulls = Int64(bitPattern: try r.u64())
        var d: [Double] = []
        for _ in 0..<5 { d.append(Double(bitPattern: try r.u64())) }
        (n, sx, sxx, lo, hi) = (d[0], d[1], d[2], d[3], d[4])
        let flags = try r.u8()
        guard flags < 8 else { throw ColumnFit.damaged }
        (nonFinite, nonNumeric, overflow) = (flags & 1 != 0, flags & 2 != 0, flags & 4 != 0)
        let k = Int(try r.u32())
        guard rows >= 0, nulls >= 0, nulls <= rows, k <= options.maxCategories + 1, textual == 1 || k == 0 else {
            throw ColumnFit.damaged
        }
        var counted: Int64 = 0
        for _ in 0..<k {
            let raw = try r.bytes()
            guard let c = String(validating: raw, as: UTF8.self), !raw.contains(0), index[c] == nil else { throw ColumnFit.damaged }
            let times = Int64(bitPattern: try r.u64())
            guard times > 0, times <= rows - nulls - counted else { throw ColumnFit.damaged }
            counted += times
            index[c] = categories.count
            categories.append(c)
            counts.append(times)
        }
        // the moments as accumulate() leaves them: a whole count of at most the non-NULL
        // rows, and without any value nothing else
        guard r.atEnd, n >= 0, n == n.rounded(), n <= Double(rows - nulls),
              n > 0 || (sx == 0 && sxx == 0 && lo == .infinity && hi == -.infinity),
              nonFinite || (sx.isFinite && sxx.isFinite && sxx >= 0 && (n == 0 || lo <= hi)) else {
            throw ColumnFit.damaged
        }
    }

    static var damaged: ScoreError { .badModel("the preprocessing fit state is damaged") }
}
