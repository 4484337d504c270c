/// How a table row becomes the feature vector a model scores. ml.train learns it from
/// the training rows and stores it in the model's info JSON under "preprocess";
/// predict(project, row), the scoring trigger and the ONNX export replay it.
///
/// The encoded vector holds the numeric columns first (in column order), each as
/// ((value, or the imputed value when missing) − center) / scale — or NaN when missing
/// for a column marked keep_missing (tree models split on missing values) — then for each
/// categorical column one 0/1 slot per category seen in training (in column order).
/// A missing category gives all zeros.
public struct Preprocessor: Sendable, Equatable {
    public enum Kind: String, Sendable {
        case numeric, categorical
    }

    public enum Unknown: String, Sendable {
        /// a category never seen in training is an error
        case error
        /// ... or encodes as all zeros, like a missing one
        case ignore
    }

    public struct Column: Sendable, Equatable {
        public var name: String
        /// The SQL type the column had in training (for messages and export).
        public var sqlType: String
        public var kind: Kind
        public var impute = 0.0
        public var center = 0.0
        public var scale = 1.0
        /// Text values that mean "missing" in a numeric text column ("?", "").
        public var missing: [String] = []
        /// A missing value stays missing (NaN) instead of being imputed: for models that
        /// handle missing values themselves (trees).
        public var keepMissing = false
        public var categories: [String] = []
        public var unknown = Unknown.error

        public init(name: String, sqlType: String, kind: Kind) {
            self.name = name
            self.sqlType = sqlType
            self.kind = kind
        }
    }

    /// A raw value as the host hands it over.
    public enum Value: Sendable {
        case null
        case number(Double)
        case text(String)
    }

    public var columns: [Column]
    /// Column indexes in encoded order: numeric first, then categorical.
    public let numericColumns: [Int]
    public let categoricalColumns: [Int]
    public let featureCount: Int
    /// impute, center and 1/scale of each numeric column, flat: the per-row path reads
    /// only these (copying a Column would retain its strings on every row).
    let numericParameters: [Double]

    public init(columns: [Column]) {
        self.columns = columns
        numericColumns = columns.indices.filter { columns[$0].kind == .numeric }
        categoricalColumns = columns.indices.filter { columns[$0].kind == .categorical }
        featureCount = numericColumns.count + categoricalColumns.reduce(0) { $0 + columns[$1].categories.count }
        numericParameters = numericColumns.flatMap {
            [columns[$0].keepMissing ? .nan : columns[$0].impute, columns[$0].center, 1 / columns[$0].scale]
        }
    }

    public static func == (a: Preprocessor, b: Preprocessor) -> Bool { a.columns == b.columns }

    /// Names of the encoded features: column names, and "column=category" for one-hot slots.
    public var featureNames: [String] {
        numericColumns.map { columns[$0].name }
            + categoricalColumns.flatMap { c in columns[c].categories.map { "\(columns[c].name)=\($0)" } }
    }

    // MARK: encoding

    /// Encodes one row; `value(i)` gives the raw value of columns[i].
    public func encode(_ value: (Int) -> Value, into out: UnsafeMutablePointer<Double>) throws(ScoreError) {
        var slot = 0
        for (n, i) in numericColumns.enumerated() {
            var x = numericParameters[3 * n]
            switch value(i) {
            case .null: break
            case let .number(d):
                guard d.isFinite else {
                    throw .badValue("column \"\(columns[i].name)\" is \(sqlSpelling(d)); features must be finite numbers")
                }
                x = d
            case let .text(t):
                let c = columns[i]
                if !c.missing.contains(t.trimmingSpacesOnly) {
                    guard let d = NumericText.number(t) else {
                        throw .badValue("column \"\(c.name)\" holds \"\(t)\", which is not a number",
                                        hint: c.missing.isEmpty ? "" : "Missing values may be written as \(c.missing.map { "\"\($0)\"" }.joined(separator: ", ")).")
                    }
                    x = d
                }
            }
            let encoded = (x - numericParameters[3 * n + 1]) * numericParameters[3 * n + 2]
            // a finite value far from center, over a tiny scale, overflows: NaN only for a kept missing value
            guard encoded.isFinite || x.isNaN else {
                throw .outOfRange("column \"\(columns[i].name)\" = \(JSONValue.format(x)) standardises to a number beyond float8")
            }
            out[slot] = encoded
            slot += 1
        }
        for i in categoricalColumns {
            let c = columns[i]
            for k in 0..<c.categories.count { out[slot + k] = 0 }
            var category: String?
            switch value(i) {
            case .null: category = nil
            case let .number(d): category = JSONValue.format(d)
            case let .text(t): category = t
            }
            if let category {
                if let k = c.categories.firstIndex(of: category) {
                    out[slot + k] = 1
                } else if c.unknown == .error {
                    let known = c.categories.prefix(10).map { "\"\($0)\"" }.joined(separator: ", ")
                    throw .badValue("column \"\(c.name)\" holds \"\(category)\", a category not seen in training",
                                    hint: "Known: \(known)\(c.categories.count > 10 ? ", ..." : ""). Retrain, or train with {\"unknown_categories\": \"ignore\"}.")
                }
            }
            slot += c.categories.count
        }
    }

    // MARK: JSON form

    public init(json: JSONValue) throws(ScoreError) {
        guard case let .array(items)? = json["columns"] else {
            throw .badModel("preprocessing spec lacks its \"columns\" array")
        }
        guard items.count <= ModelCodec.maxFeatures else {
            throw .limit("preprocessing has \(items.count) columns, at most \(ModelCodec.maxFeatures) are supported")
        }
        var cols: [Column] = []
        var names = Set<String>()
        for item in items {
            guard case let .string(name)? = item["name"], case let .string(kindText)? = item["kind"],
                  let kind = Kind(rawValue: kindText) else {
                throw .badModel("preprocessing column lacks a name or a known kind")
            }
            guard !name.isEmpty, !name.utf8.contains(0), names.insert(name).inserted else {
                throw .badModel("preprocessing column names must be distinct, non-empty text")
            }
            var c = Column(name: name, sqlType: { if case let .string(t)? = item["type"] { return t }; return "unknown" }(), kind: kind)
            func number(_ key: String, _ fallback: Double) throws(ScoreError) -> Double {
                guard let v = item[key] else { return fallback }
                guard case let .number(d) = v, d.isFinite else { throw .badModel("preprocessing \"\(key)\" of \"\(name)\" is not a number") }
                return d
            }
            func strings(_ key: String) throws(ScoreError) -> [String] {
                guard let v = item[key] else { return [] }
                guard case let .array(a) = v else { throw .badModel("preprocessing \"\(key)\" of \"\(name)\" is not an array") }
                var out: [String] = []
                for e in a {
                    guard case let .string(s) = e else { throw .badModel("preprocessing \"\(key)\" of \"\(name)\" holds a non-string") }
                    out.append(s)
                }
                return out
            }
            c.impute = try number("impute", 0)
            c.center = try number("center", 0)
            c.scale = try number("scale", 1)
            guard c.scale != 0, (1 / c.scale).isFinite else { throw .badModel("preprocessing scale of \"\(name)\" is 0 or too small") }
            c.missing = try strings("missing")
            if case let .bool(keep)? = item["keep_missing"] { c.keepMissing = keep }
            c.categories = try strings("categories")
            if case let .string(u)? = item["unknown"], let unknown = Unknown(rawValue: u) { c.unknown = unknown }
            cols.append(c)
        }
        self.init(columns: cols)
    }

    public var json: JSONValue {
        .object([("columns", .array(columns.map { c in
            var m: [(String, JSONValue)] = [("name", .string(c.name)), ("type", .string(c.sqlType)), ("kind", .string(c.kind.rawValue))]
            switch c.kind {
            case .numeric:
                m += [("impute", .number(c.impute)), ("center", .number(c.center)), ("scale", .number(c.scale)),
                      ("missing", .array(c.missing.map { .string($0) }))]
                if c.keepMissing { m.append(("keep_missing", .bool(true))) }
            case .categorical:
                m += [("categories", .array(c.categories.map { .string($0) })), ("unknown", .string(c.unknown.rawValue))]
            }
            return .object(m)
        }))])
    }
}

extension Model {
    /// The preprocessing stored by ml.train, if any.
    public func preprocessor() throws(ScoreError) -> Preprocessor? {
        guard let info = try? JSONValue.parse(self.info), let spec = info["preprocess"] else { return nil }
        let p = try Preprocessor(json: spec)
        guard p.featureCount == featureCount else {
            throw .badModel("preprocessing encodes \(p.featureCount) features but the model has \(featureCount)")
        }
        return p
    }
}
