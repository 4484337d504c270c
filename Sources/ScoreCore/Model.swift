/// The SQL type the labels had when training. A classifier answers with the label
/// written as text exactly as that type writes it ('true', '42', 'setosa').
public enum LabelKind: UInt8, Sendable {
    case float8 = 0
    case boolean = 1
    case integer = 2
    case text = 3

    public var name: String {
        switch self {
        case .float8: return "float8"
        case .boolean: return "boolean"
        case .integer: return "integer"
        case .text: return "text"
        }
    }
}

public enum Parameters: Sendable, Equatable {
    case linear(intercept: Double, coefficients: [Double])
    /// One row for two classes (the score of the second class, as scikit-learn), K rows for K > 2.
    case logistic(intercepts: [Double], coefficients: [[Double]])
    case naiveBayes(prior: [Double], means: [[Double]], variances: [[Double]])
    /// Decision tree, random forest, gradient-boosted trees (Trees/TreeEnsemble.swift).
    case trees(TreeEnsemble)
}

public struct Model: Sendable, Equatable {
    public var algorithm: Algorithm
    public var featureCount: Int
    public var trainingRows: Int
    public var labelKind: LabelKind
    /// Class labels in class order, as the bytes of their text form.
    public var classes: [[UInt8]]
    public var parameters: Parameters
    /// The options training used (defaults filled in), as a JSON object.
    public var options: String
    /// Free-form facts added by higher layers (feature names, preprocessing), a JSON object.
    public var info: String

    public init(algorithm: Algorithm, featureCount: Int, trainingRows: Int, labelKind: LabelKind,
                classes: [[UInt8]], parameters: Parameters, options: String = "{}", info: String = "{}") {
        self.algorithm = algorithm
        self.featureCount = featureCount
        self.trainingRows = trainingRows
        self.labelKind = labelKind
        self.classes = classes
        self.parameters = parameters
        self.options = options
        self.info = info
    }

    /// Whether the model predicts a class (its labels were boolean, integer or text).
    public var isClassifier: Bool { labelKind != .float8 }
}
