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
    /// Trees: a NULL in a feature array is a missing value (the default for trees).
    public var nullsAsMissing = false

    // Trees (decision tree, random forest, gradient boosting).
    /// Trees (random forest), boosting rounds (gradient boosting).
    public var trees = 100
    /// 0: no limit (the default of decision trees and forests; boosting: 6).
    public var maxDepth = 0
    public var minSamplesLeaf = 1
    /// Gradient boosting: least hessian sum in a child (XGBoost min_child_weight).
    public var minChildWeight = 1.0
    public var learningRate = 0.1
    public var subsample = 1.0
    /// Gradient boosting: L2 penalty on leaf weights (XGBoost lambda).
    public var lambda = 1.0
    public var featuresPerSplit = FeatureSubset.auto
    public var seed: UInt64 = 0
    /// Gradient boosting: 0 = no early stopping.
    public var earlyStoppingRounds = 0
    public var validationFraction = 0.1
    /// Bins per feature for split finding (a 256th code is kept for missing values).
    public var maxBins = 255
    /// Largest encoded model training may produce (not an SQL option; tests lower it).
    public var maxModelBytes = TreeEnsemble.maxModelBytes

    public init(for algorithm: Algorithm) {
        l2 = algorithm == .logisticRegression ? 1.0 : 0.0
        if algorithm.isTree { nullsAsMissing = true }
        if algorithm == .gradientBoosting { maxDepth = 6 }
    }

    static func keys(for algorithm: Algorithm) -> [String] {
        switch algorithm {
        case .linearRegression: return ["l2", "intercept", "nulls"]
        case .logisticRegression: return ["l2", "intercept", "max_iter", "tol", "nulls"]
        case .naiveBayes: return ["var_smoothing", "nulls"]
        case .decisionTree:
            return ["max_depth", "min_samples_leaf", "features_per_split", "max_bins", "seed", "nulls"]
        case .randomForest:
            return ["n_trees", "max_depth", "min_samples_leaf", "features_per_split", "max_bins", "seed", "nulls"]
        case .gradientBoosting:
            return ["n_trees", "max_depth", "learning_rate", "subsample", "lambda", "min_child_weight", "min_samples_leaf",
                    "features_per_split", "max_bins", "early_stopping_rounds", "validation_fraction", "seed", "nulls"]
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
                if algorithm.isTree {
                    guard case let .string(s) = v, s == "missing" || s == "error" || s == "skip" else {
                        throw .badValue("option \"nulls\" must be \"missing\", \"error\" or \"skip\", got \(v.serialized)")
                    }
                    o.skipNullFeatures = s == "skip"
                    o.nullsAsMissing = s == "missing"
                } else {
                    guard case let .string(s) = v, s == "error" || s == "skip" else {
                        throw .badValue("option \"nulls\" must be \"error\" or \"skip\", got \(v.serialized)")
                    }
                    o.skipNullFeatures = s == "skip"
                }
            case "n_trees": o.trees = try whole(key, v, from: 1, to: 10_000)
            case "max_depth":
                if case .null = v { o.maxDepth = 0 } else { o.maxDepth = try whole(key, v, from: 1, to: 1000, orNull: true) }
            case "min_samples_leaf": o.minSamplesLeaf = try whole(key, v, from: 1, to: 1 << 30)
            case "min_child_weight": o.minChildWeight = try number(key, v, min: 0)
            case "learning_rate":
                o.learningRate = try number(key, v, min: 0)
                guard o.learningRate > 0, o.learningRate <= 1 else {
                    throw .badValue("option \"learning_rate\" must be greater than 0 and at most 1, got \(JSONValue.format(o.learningRate))")
                }
            case "subsample":
                o.subsample = try number(key, v, min: 0)
                guard o.subsample > 0, o.subsample <= 1 else {
                    throw .badValue("option \"subsample\" must be greater than 0 and at most 1, got \(JSONValue.format(o.subsample))")
                }
            case "lambda": o.lambda = try number(key, v, min: 0)
            case "features_per_split": o.featuresPerSplit = try FeatureSubset.parse(v)
            case "max_bins": o.maxBins = try whole(key, v, from: 2, to: 255)
            case "seed": o.seed = UInt64(try whole(key, v, from: 0, to: 1 << 53))
            case "early_stopping_rounds":
                if case .null = v { o.earlyStoppingRounds = 0 } else {
                    o.earlyStoppingRounds = try whole(key, v, from: 0, to: 10_000, orNull: true)
                }
            case "validation_fraction":
                o.validationFraction = try number(key, v, min: 0)
                guard o.validationFraction > 0, o.validationFraction < 1 else {
                    throw .badValue("option \"validation_fraction\" must be greater than 0 and less than 1, got \(JSONValue.format(o.validationFraction))")
                }
            default: break
            }
        }
        return o
    }

    /// A whole number in from...to.
    static func whole(_ key: String, _ v: JSONValue, from: Int, to: Int, orNull: Bool = false) throws(ScoreError) -> Int {
        let range = "a whole number from \(from) to \(to)\(orNull ? " or null" : "")"
        guard case let .number(d) = v else {
            throw .badValue("option \"\(key)\" must be \(range), got \(v.typeNameWithArticle)")
        }
        guard d == d.rounded(), d >= Double(from), d <= Double(to) else {
            throw .badValue("option \"\(key)\" must be \(range), got \(JSONValue.format(d))")
        }
        return Int(d)
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
            case "nulls": members.append((key, .string(nullsAsMissing ? "missing" : (skipNullFeatures ? "skip" : "error"))))
            case "n_trees": members.append((key, .number(Double(trees))))
            case "max_depth": members.append((key, maxDepth == 0 ? .null : .number(Double(maxDepth))))
            case "min_samples_leaf": members.append((key, .number(Double(minSamplesLeaf))))
            case "min_child_weight": members.append((key, .number(minChildWeight)))
            case "learning_rate": members.append((key, .number(learningRate)))
            case "subsample": members.append((key, .number(subsample)))
            case "lambda": members.append((key, .number(lambda)))
            case "features_per_split": members.append((key, featuresPerSplit.json))
            case "max_bins": members.append((key, .number(Double(maxBins))))
            case "seed": members.append((key, .number(Double(seed))))
            case "early_stopping_rounds": members.append((key, earlyStoppingRounds == 0 ? .null : .number(Double(earlyStoppingRounds))))
            case "validation_fraction": members.append((key, .number(validationFraction)))
            default: break
            }
        }
        return JSONValue.object(members).serialized
    }
}

/// How many features a tree split tries (scikit-learn's max_features).
public enum FeatureSubset: Sendable, Equatable {
    /// The algorithm's default: √d for random forest classification, all otherwise.
    case auto
    /// max(1, ⌊√d⌋)
    case sqrt
    /// max(1, ⌊log₂ d⌋)
    case log2
    /// max(1, ⌊f·d⌋), 0 < f ≤ 1
    case fraction(Double)
    /// a number of features, ≥ 2 (and at most d)
    case count(Int)

    static func parse(_ v: JSONValue) throws(ScoreError) -> FeatureSubset {
        let expected = "option \"features_per_split\" must be a fraction of the features (0 < f ≤ 1), a whole number of features, or \"sqrt\", \"log2\", \"all\", \"auto\""
        switch v {
        case let .string(s):
            switch s {
            case "sqrt": return .sqrt
            case "log2": return .log2
            case "all": return .fraction(1)
            case "auto": return .auto
            default: throw .badValue("\(expected), got \(v.serialized)")
            }
        case let .number(d):
            if d > 0, d <= 1 { return .fraction(d) }
            if d > 1, d == d.rounded(), d <= 1_000_000 { return .count(Int(d)) }
            throw .badValue("\(expected), got \(JSONValue.format(d))")
        default:
            throw .badValue("\(expected), got \(v.typeNameWithArticle)")
        }
    }

    var json: JSONValue {
        switch self {
        case .auto: return .string("auto")
        case .sqrt: return .string("sqrt")
        case .log2: return .string("log2")
        case let .fraction(f): return .number(f)
        case let .count(c): return .number(Double(c))
        }
    }

    /// .auto made explicit.
    func resolved(classification: Bool, algorithm: Algorithm) -> FeatureSubset {
        guard self == .auto else { return self }
        return algorithm == .randomForest && classification ? .sqrt : .fraction(1)
    }

    /// Features per split for d features.
    func count(features d: Int, classification: Bool, algorithm: Algorithm) -> Int {
        switch resolved(classification: classification, algorithm: algorithm) {
        case .auto, .fraction(1): return d
        case .sqrt: return max(1, Int(Double(d).squareRoot()))
        case .log2:
            var c = 0
            while (1 << (c + 1)) <= d { c += 1 }
            return max(1, c)
        case let .fraction(f): return max(1, Int(f * Double(d)))
        case let .count(c): return min(c, d)
        }
    }

    /// Refuses a count above the features the rows have.
    func check(features d: Int) throws(ScoreError) {
        if case let .count(c) = self, c > d {
            throw .badValue("option \"features_per_split\" asks for \(c) features, but the rows have \(d)",
                            hint: "Use at most \(d), or a fraction such as 0.5.")
        }
    }
}
