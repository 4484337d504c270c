/// The options object a training aggregate takes, validated per algorithm.
public struct TrainingOptions: Sendable, Equatable {
    /// L2 penalty. Linear regression: the ridge alpha (scikit-learn `Ridge(alpha=)`).
    /// Logistic regression: 1/C of scikit-learn's `LogisticRegression(C=)`.
    public var l2: Double
    public var intercept = true
    public var maxIterations = 100
    /// Newton stops when no parameter moves more than tol × max(1, |largest parameter|).
    public var tolerance = 1e-10
    /// Naive Bayes: fraction of the largest feature variance added to every variance.
    public var varSmoothing = 1e-9
    /// Rows whose feature array holds a NULL are skipped instead of raising an error.
    public var skipNullFeatures = false

    public init(for algorithm: Algorithm) {
        l2 = algorithm == .logisticRegression ? 1.0 : 0.0
    }

    static func keys(for algorithm: Algorithm) -> [String] {
        switch algorithm {
        case .linearRegression: return ["l2", "intercept", "nulls"]
        case .logisticRegression: return ["l2", "intercept", "max_iter", "tol", "nulls"]
        case .naiveBayes: return ["var_smoothing", "nulls"]
        }
    }

    /// Parses `text` (a JSON object; empty text means no options).
    public static func parse(_ text: String, for algorithm: Algorithm) throws(ScoreError) -> TrainingOptions {
        var o = TrainingOptions(for: algorithm)
        if text.isEmpty { return o }
        let value: JSONValue
        do { value = try JSONValue.parse(text) } catch { throw .badValue("options: \(error.message)") }
        guard case let .object(members) = value else {
            throw .badValue("options must be a JSON object, got \(value.typeNameWithArticle)",
                            hint: "Write options like '{\"l2\": 0.5}'.")
        }
        let allowed = keys(for: algorithm)
        for (key, v) in members {
            guard allowed.contains(key) else {
                throw .badValue("unknown option \"\(key)\" for \(algorithm.name)",
                                hint: "Valid options: \(allowed.joined(separator: ", ")).")
            }
            switch key {
            case "l2": o.l2 = try number(key, v, min: 0)
            case "intercept": o.intercept = try bool(key, v)
            case "max_iter":
                let d = try number(key, v, min: 1)
                guard d == d.rounded(), d <= 10_000 else {
                    throw .badValue("option \"max_iter\" must be a whole number from 1 to 10000, got \(JSONValue.format(d))")
                }
                o.maxIterations = Int(d)
            case "tol":
                o.tolerance = try number(key, v, min: 0)
                guard o.tolerance > 0 else { throw .badValue("option \"tol\" must be greater than 0") }
            case "var_smoothing": o.varSmoothing = try number(key, v, min: 0)
            case "nulls":
                guard case let .string(s) = v, s == "error" || s == "skip" else {
                    throw .badValue("option \"nulls\" must be \"error\" or \"skip\", got \(v.serialized)")
                }
                o.skipNullFeatures = s == "skip"
            default: break
            }
        }
        return o
    }

    static func number(_ key: String, _ v: JSONValue, min: Double) throws(ScoreError) -> Double {
        guard case let .number(d) = v else {
            throw .badValue("option \"\(key)\" must be a number, got \(v.typeNameWithArticle)")
        }
        guard d >= min else { throw .badValue("option \"\(key)\" must be at least \(JSONValue.format(min)), got \(JSONValue.format(d))") }
        return d
    }

    static func bool(_ key: String, _ v: JSONValue) throws(ScoreError) -> Bool {
        guard case let .bool(b) = v else {
            throw .badValue("option \"\(key)\" must be true or false, got \(v.typeNameWithArticle)")
        }
        return b
    }

    /// The options as used, defaults included: stored in the model and shown by describe().
    public func json(for algorithm: Algorithm) -> String {
        var members: [(String, JSONValue)] = []
        for key in TrainingOptions.keys(for: algorithm) {
            switch key {
            case "l2": members.append((key, .number(l2)))
            case "intercept": members.append((key, .bool(intercept)))
            case "max_iter": members.append((key, .number(Double(maxIterations))))
            case "tol": members.append((key, .number(tolerance)))
            case "var_smoothing": members.append((key, .number(varSmoothing)))
            case "nulls": members.append((key, .string(skipNullFeatures ? "skip" : "error")))
            default: break
            }
        }
        return JSONValue.object(members).serialized
    }
}
