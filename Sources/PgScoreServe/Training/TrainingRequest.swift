/// What `POST /v1/projects/{project}/train` asks for: the arguments of `ml.train`.
/// The source is a table or view *name*: the gateway never runs SQL text a client sent.
struct TrainingRequest: Sendable, Equatable {
    var source: String
    var label: String
    var algorithm: String?
    /// JSON object text
    var hyperparams: String
    var testFraction: Double
    var seed: Int
    var exclude: [String]

    static var sourcePattern: Regex<(Substring, Substring?)> { #/^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?$/# }

    /// Letters, digits, `_ . -`, not starting with `.` or `-`, at most 63 bytes. A byte
    /// check, not a Regex: a regex literal in a computed property is compiled on each
    /// use, which cost an eighth of the daemon's time per prediction.
    static func isProjectName(_ name: String) -> Bool {
        let bytes = name.utf8
        guard let first = bytes.first, bytes.count <= 63, first != UInt8(ascii: "."), first != UInt8(ascii: "-") else {
            return false
        }
        return bytes.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "-")
        }
    }

    /// The run's parameters as stored in ml.training_runs.params.
    var json: JSONValue {
        .fields(
            ("source", .string(source)), ("label", .string(label)), ("algorithm", .optional(algorithm)),
            ("hyperparams", (try? JSONValue.parse(Array(hyperparams.utf8))) ?? .fields()),
            ("test_fraction", .number(testFraction)), ("seed", .number(Double(seed))),
            ("exclude", .array(exclude.map { .string($0) }))
        )
    }

    init(source: String, label: String, algorithm: String?, hyperparams: String, testFraction: Double, seed: Int, exclude: [String]) {
        self.source = source
        self.label = label
        self.algorithm = algorithm
        self.hyperparams = hyperparams
        self.testFraction = testFraction
        self.seed = seed
        self.exclude = exclude
    }

    /// Reads a request body; `previous`: the parameters of the project's last successful
    /// run, which fill what the body leaves out (so `{}` retrains as before).
    init(body: JSONValue, previous: JSONValue?) throws {
        guard let fields = body.objectValue else {
            throw Problem.validation("the body must be a JSON object of ml.train arguments, got \(body.typeNameWithArticle)")
        }
        let known: Set<String> = ["source", "label", "algorithm", "hyperparams", "test_fraction", "seed", "exclude"]
        let unknown = fields.keys.filter { !known.contains($0) }.sorted()
        if !unknown.isEmpty {
            throw Problem.validation("unknown field(s) \(unknown.joined(separator: ", ")); known: \(known.sorted().joined(separator: ", "))")
        }
        func pick(_ key: String) -> JSONValue? {
            if let value = fields[key], value != .null { return value }
            if let value = previous?[key], value != .null { return value }
            return nil
        }
        guard case .string(let source)? = pick("source") else {
            throw Problem.validation("\"source\" (a table or view name) is required for a project's first training through the gateway",
                                     [("missing", ["source"])])
        }
        guard source.wholeMatch(of: Self.sourcePattern) != nil else {
            throw Problem.validation("\"source\" must be a table or view name (schema.name), got \"\(source)\"; create a view for a query")
        }
        guard case .string(let label)? = pick("label"), !label.isEmpty else {
            throw Problem.validation("\"label\" (the column to predict) is required", [("missing", ["label"])])
        }
        self.source = source
        self.label = label
        switch pick("algorithm") {
        case nil: algorithm = nil
        case .string(let name)?: algorithm = name
        case let other?: throw Problem.validation("\"algorithm\" must be a string, got \(other.typeNameWithArticle)")
        }
        switch pick("hyperparams") {
        case nil: hyperparams = "{}"
        case let value? where value.objectValue != nil: hyperparams = value.serialized
        case let other?: throw Problem.validation("\"hyperparams\" must be an object, got \(other.typeNameWithArticle)")
        }
        switch pick("test_fraction") {
        case nil: testFraction = 0.25
        case .number(let value)? where value >= 0 && value < 1: testFraction = value
        case let other?: throw Problem.validation("\"test_fraction\" must be a number at least 0 and below 1, got \(other.serialized)")
        }
        switch pick("seed") {
        case nil: seed = 42
        case .number(let value)? where value == value.rounded() && abs(value) <= 2_147_483_647: seed = Int(value)
        case let other?: throw Problem.validation("\"seed\" must be an integer, got \(other.serialized)")
        }
        switch pick("exclude") {
        case nil: exclude = []
        case .array(let values)?:
            exclude = try values.map { value in
                guard case .string(let name) = value else {
                    throw Problem.validation("\"exclude\" must be an array of column names")
                }
                return name
            }
        case let other?: throw Problem.validation("\"exclude\" must be an array of column names, got \(other.typeNameWithArticle)")
        }
    }
}
