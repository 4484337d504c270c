/// The algorithm table: the one list of what pgscore can train. Its ids are stored in
/// model values and aggregate states; the C glue reads names, aggregates and tasks
/// through the ABI (pgsc_algorithm_*), and SQL through ml.algorithms(), so ml.train,
/// the aggregates and the codec never keep a list of their own.
public enum Algorithm: UInt16, Sendable, CaseIterable {
    case linearRegression = 1
    case logisticRegression = 2
    case naiveBayes = 3
    case decisionTree = 4
    case randomForest = 5
    case gradientBoosting = 6

    public var name: String {
        switch self {
        case .linearRegression: return "linear_regression"
        case .logisticRegression: return "logistic_regression"
        case .naiveBayes: return "naive_bayes"
        case .decisionTree: return "decision_tree"
        case .randomForest: return "random_forest"
        case .gradientBoosting: return "gradient_boosting"
        }
    }

    /// The short name ml.train accepts too; also the stem of the training aggregate.
    public var alias: String {
        switch self {
        case .linearRegression: return "linreg"
        case .logisticRegression: return "logreg"
        case .naiveBayes: return "nb"
        case .decisionTree: return "tree"
        case .randomForest: return "forest"
        case .gradientBoosting: return "gbt"
        }
    }

    /// The SQL aggregate that trains it.
    public var aggregate: String { "ml.\(alias)_fit" }

    /// Always a classifier (logistic regression, naive Bayes). Tree models can be either:
    /// ask `Model.isClassifier`.
    public var isClassifier: Bool { self == .logisticRegression || self == .naiveBayes }

    /// Always a regressor (linear regression).
    public var isRegressor: Bool { self == .linearRegression }

    /// Decision tree, random forest, gradient boosting: classifiers or regressors.
    public var isTree: Bool { self == .decisionTree || self == .randomForest || self == .gradientBoosting }

    public var fitsClassification: Bool { !isRegressor }
    public var fitsRegression: Bool { !isClassifier }

    /// By name or alias, in any case ("GBT", "naive_bayes"); nil when there is no such algorithm.
    public init?(name: String) {
        let key = String(name.lowercased())
        guard let a = Algorithm.allCases.first(where: { $0.name == key || $0.alias == key }) else { return nil }
        self = a
    }

    /// By stored id; an unknown id is an error, never some other algorithm.
    public init(id: Int) throws(ScoreError) {
        guard id >= 0, id <= Int(UInt16.max), let a = Algorithm(rawValue: UInt16(id)) else {
            throw .badValue("unknown algorithm id \(id)",
                            hint: "Known: " + Algorithm.allCases.map { "\($0.rawValue) \($0.name)" }.joined(separator: ", ") + ".")
        }
        self = a
    }
}
